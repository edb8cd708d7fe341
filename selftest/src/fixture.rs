//! A suite with every outcome kind, run by `tests/harness.rs` through the real harness.
//! Its failing tests are the point: they are never run by `cargo test` directly (this is a
//! bin target, not a test target).

// Leaking processes is what the `leak` tests are for.
#![allow(clippy::zombie_processes)]

use std::io::Write;
use std::process::Command;

use mptest::prelude::*;

mod pass {
    use super::*;

    #[mp_test]
    fn plain() {
        assert_eq!(std::hint::black_box(2) + 2, 4);
    }

    #[mp_test]
    fn result_ok() -> Result<(), String> {
        Ok(())
    }

    #[mp_test]
    fn prints_from_a_child_process() {
        println!("parent says hi");
        let status = Command::new("sh")
            .args(["-c", "echo child says hi; echo child err >&2"])
            .status()
            .unwrap();
        assert!(status.success());
    }

    #[mp_test(should_panic)]
    fn should_panic_any() {
        panic!("whatever");
    }

    #[mp_test(should_panic = "expected text")]
    fn should_panic_with_text() {
        panic!("the expected text is here");
    }

    #[mp_test(ignore = "needs a lab")]
    fn ignored_with_reason() {
        panic!("ignored tests do not run by default");
    }

    #[mp_test(ignore)]
    fn ignored_plain() {}

    #[mp_test(timeout = "30s")]
    fn with_generous_timeout() {}
}

/// `ignore_if`: ignored unless the environment has what the test needs, decided when the run
/// starts.
mod decided_at_run_time {
    use super::*;

    fn lab_missing() -> Option<String> {
        std::env::var_os("FIXTURE_LAB")
            .is_none()
            .then(|| "FIXTURE_LAB is not set".to_string())
    }

    #[mp_test(ignore_if = lab_missing)]
    fn needs_the_lab() {
        assert_eq!(
            std::env::var("FIXTURE_LAB").as_deref(),
            Ok("here"),
            "ran without the lab"
        );
    }
}

mod fail {
    use super::*;

    #[mp_test]
    fn panics() {
        println!("output before the panic");
        panic!("the answer was {}", 41);
    }

    #[mp_test]
    fn returns_err() -> Result<(), String> {
        Err("no such device".into())
    }

    #[mp_test(should_panic)]
    fn does_not_panic() {}

    #[mp_test(should_panic = "this text")]
    fn panics_with_other_text() {
        panic!("that text");
    }
}

/// Output staged in memory (see `mptest::stage`): a forked worker's bursts of writes, which
/// must reach the report whole and in order however the test ends.
mod staged {
    use super::*;
    use std::os::fd::AsRawFd;

    /// Staged in this worker (a forked one; every worker is re-executed in a portable build).
    /// The thread that writes staged output out as it comes is held: what the test writes
    /// stays staged until the rule under test writes it out.
    fn expect_staged(yes: bool) {
        assert_eq!(mptest::__private::output_staged(), yes && !cfg!(mptest_portable));
        mptest::__private::hold_flusher(true);
    }

    /// 2 000 lines, each in several writes, faster than any gap between them.
    fn burst(what: &str) {
        for i in 0..2000 {
            eprintln!("{what} line {i}");
        }
    }

    /// More than the ring holds (256 KiB), a line larger than a quarter of it in the middle,
    /// and the end still staged when the process dies: the ring fills, wraps and is written
    /// out by the test's own thread, and the coordinator passes on what was left across the
    /// ring's end.
    #[mp_test]
    fn fills_the_ring_and_aborts() {
        expect_staged(true);
        for i in 0..30_000 {
            eprintln!("ring line {i}");
            if i == 15_000 {
                eprintln!("{}", "y".repeat(100_000));
            }
        }
        std::process::abort();
    }

    #[mp_test]
    fn aborts_after_a_burst() {
        expect_staged(true);
        burst("abort");
        std::process::abort();
    }

    #[mp_test]
    fn killed_after_a_burst() {
        expect_staged(true);
        burst("kill");
        // SAFETY: kill(2) of this process.
        unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
    }

    #[mp_test]
    fn exits_after_a_burst() {
        expect_staged(true);
        burst("exit");
        print!("and no newline");
        std::process::exit(3);
    }

    #[mp_test]
    fn a_child_prints_after_a_burst() {
        expect_staged(true);
        burst("parent");
        let status = Command::new("sh").args(["-c", "echo child line"]).status();
        assert!(status.is_ok_and(|s| s.success()));
        panic!("to show the output");
    }

    #[mp_test]
    fn a_forked_child_prints_after_a_burst() {
        use std::os::unix::process::CommandExt;
        expect_staged(true);
        burst("parent");
        let mut command = Command::new("sh");
        command.args(["-c", "echo child line"]);
        // SAFETY: the copy only writes (async-signal-safe) before it executes `sh`. A
        // `pre_exec` has std fork, where `posix_spawn` would have been used.
        unsafe {
            command.pre_exec(|| {
                // A burst of its own, which a copy still armed would stage.
                for said in [&b"in the copy\n"[..], b"and again\n", b"and once more\n"] {
                    libc::write(2, said.as_ptr().cast(), said.len());
                }
                Ok(())
            });
        }
        assert!(command.status().is_ok_and(|s| s.success()));
        panic!("to show the output");
    }

    #[mp_test]
    fn moves_stderr_to_a_file_and_back() {
        expect_staged(true);
        burst("before");
        let path = std::env::temp_dir().join(format!("mptest-staged-{}", std::process::id()));
        let file = std::fs::File::create(&path).expect("a file");
        // SAFETY: dup, dup2 and close of descriptors this test owns or restores.
        let saved = unsafe { libc::dup(2) };
        assert!(saved >= 0 && unsafe { libc::dup2(file.as_raw_fd(), 2) } == 2);
        for i in 0..100 {
            eprintln!("into the file {i}");
        }
        // SAFETY: as above.
        unsafe {
            libc::dup2(saved, 2);
            libc::close(saved);
        }
        let text = std::fs::read_to_string(&path);
        let _ = std::fs::remove_file(&path);
        assert_eq!(text.expect("the file").lines().count(), 100);
        // Until the next test finds fd 1 and 2 back on the pipe, nothing is staged.
        expect_staged(false);
        burst("after");
        panic!("to show the output");
    }

    #[mp_test]
    fn staged_again_after_a_test_moved_stderr() {
        expect_staged(true);
    }
}

mod crash {
    use super::*;

    #[mp_test]
    fn aborts() {
        println!("about to abort");
        let _ = std::io::stdout().flush();
        std::process::abort();
    }

    #[mp_test]
    fn segfaults() {
        eprintln!("about to segfault");
        // SAFETY: not safe at all; this test exists to crash its process.
        unsafe { std::ptr::null_mut::<u64>().write_volatile(1) };
    }

    #[mp_test]
    fn exits_zero() {
        println!("calling exit(0)");
        std::process::exit(0);
    }

    #[mp_test]
    fn exits_three() {
        std::process::exit(3);
    }

    #[mp_test]
    fn kills_itself() {
        let _ = Command::new("sh").args(["-c", "kill -9 $PPID"]).status();
    }

    #[mp_test]
    fn sends_garbage() {
        mptest::__private::fault::send_garbage();
        hang();
    }

    #[mp_test]
    fn sends_truncated() {
        mptest::__private::fault::send_truncated();
        hang();
    }

    #[mp_test]
    fn closes_channel() {
        mptest::__private::fault::close_channel();
    }
}

/// Blocks until the process is killed (every use is ended by the coordinator or a timeout).
fn hang() {
    loop {
        std::thread::park();
    }
}

mod hang {
    use super::*;

    #[mp_test(timeout = "300ms")]
    fn forever() {
        println!("going to sleep");
        hang();
    }

    #[mp_test(timeout = "300ms")]
    fn ignores_sigterm() {
        // Ignoring SIGTERM leaves SIGKILL after the grace period to end it.
        // SAFETY: setting a signal disposition to SIG_IGN.
        unsafe {
            libc_signal_ignore(15);
        }
        hang();
    }

    #[mp_test]
    fn forever_without_own_timeout() {
        hang();
    }

    /// The worker leaves the process group the coordinator signals: the timeout still ends it.
    #[mp_test(timeout = "300ms")]
    fn forever_in_a_session_of_its_own() {
        // SAFETY: setsid has no preconditions.
        let session = unsafe { libc::setsid() };
        assert!(session > 0, "setsid: {}", std::io::Error::last_os_error());
        hang();
    }

    extern "C" {
        #[link_name = "signal"]
        fn c_signal(signum: i32, handler: usize) -> usize;
    }

    unsafe fn libc_signal_ignore(signum: i32) {
        // SIG_IGN is 1.
        c_signal(signum, 1);
    }
}

mod leak {
    use super::*;

    #[mp_test]
    fn background_child() {
        Command::new("sleep").arg("1000").spawn().unwrap();
    }

    #[mp_test]
    fn setsid_daemon() {
        // Double fork with a new session: the classic daemon that escapes its process group.
        // The test ends once the daemon's `sleep` exists (it says so through a FIFO), so the
        // leftover is there to be found, not still being forked.
        let fifo = scratch_dir().join(format!(
            "daemon-{}",
            std::env::var("FIXTURE_RUN_ID").unwrap_or_default()
        ));
        assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
        let status = Command::new("sh")
            .args([
                "-c",
                "setsid sh -c 'sleep 1000 & echo up > \"$1\"; exit 0' sh \"$1\" & read up < \"$1\"; wait",
                "sh",
            ])
            .arg(&fifo)
            .status()
            .unwrap();
        let _ = std::fs::remove_file(&fifo);
        assert!(status.success());
    }

    #[mp_test(timeout = "300ms")]
    fn daemon_then_hang() {
        use std::os::unix::ffi::OsStrExt;
        use std::os::unix::process::CommandExt;
        // Where the daemon says its pid, once it is one (in a session of its own): the
        // timeout may come first under load, before there is a daemon to find — the harness
        // then finds none said and none left over.
        let said = scratch_dir().join(format!(
            "daemon-pid-{}",
            std::env::var("FIXTURE_RUN_ID").unwrap_or_default()
        ));
        let said = std::ffi::CString::new(said.as_os_str().as_bytes()).unwrap();
        let mut daemon = Command::new("sleep");
        daemon.arg("1000");
        // In a session of its own before `spawn` returns (the `setsid` program would leave
        // that until it runs: a timeout that came first, under load, killed it in our group
        // and left no daemon to find).
        // SAFETY: setsid, getpid, open, write and close are async-signal-safe; the closure
        // touches nothing else (the path and the digits are on its own stack).
        unsafe {
            daemon.pre_exec(move || {
                if libc::setsid() == -1 {
                    return Err(std::io::Error::last_os_error());
                }
                let mut digits = [0u8; 12];
                let mut at = digits.len();
                let mut pid = libc::getpid() as u32;
                loop {
                    at -= 1;
                    digits[at] = b'0' + (pid % 10) as u8;
                    pid /= 10;
                    if pid == 0 {
                        break;
                    }
                }
                let fd = libc::open(
                    said.as_ptr(),
                    libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC,
                    0o600,
                );
                if fd >= 0 {
                    libc::write(fd, digits[at..].as_ptr().cast(), digits.len() - at);
                    libc::close(fd);
                }
                Ok(())
            });
        }
        daemon.spawn().unwrap();
        hang();
    }
}

/// A child kept in a static for a later test: mptest ends it with the test that started it,
/// and the later test's failure says so.
mod kept {
    use super::*;

    static KEPT: std::sync::Mutex<Option<std::process::Child>> = std::sync::Mutex::new(None);

    #[mp_test(group = "kept")]
    fn a_starts_a_child_for_later() {
        *KEPT.lock().unwrap() = Some(Command::new("sleep").arg("1000").spawn().unwrap());
    }

    #[mp_test(group = "kept")]
    fn b_waits_for_the_kept_child() {
        let mut child = KEPT.lock().unwrap().take().expect("the first test's child");
        child.wait().expect("the kept child");
    }
}

mod spawned {
    use super::*;

    #[mp_test]
    fn child_output_is_captured() {
        let value = mptest::spawn(3u32, |n| {
            println!("child {} says hi", std::process::id());
            eprintln!("child stderr line");
            n * 2
        })
        .join()
        .unwrap();
        panic!("fail with {value} so the output is shown");
    }

    #[mp_test]
    fn forgets_a_child() {
        let child = mptest::spawn::<_, ()>((), |()| loop {
            std::thread::park();
        });
        println!("forgot child {}", child.pid());
        drop(child);
    }

    /// `kill` right after `spawn`, before the child connected: its endpoint must go too.
    #[mp_test]
    fn killed_at_once_leaves_no_endpoint() {
        let run_dir = mptest::__private::run_dir().expect("workers know the run directory");
        // This process's endpoints are named `<pid>-<n>`; other workers' come and go, and
        // an earlier test's may still be going (a child it left is ended and its endpoint
        // removed as that test ends): what counts is that none is new.
        let mine = format!("{}-", std::process::id());
        let entries = || -> std::collections::HashSet<String> {
            std::fs::read_dir(run_dir)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|name| name.starts_with(&mine))
                .collect()
        };
        let before = entries();
        for _ in 0..10 {
            let mut child = mptest::spawn((), |()| 1u8);
            child.kill().unwrap();
            assert!(child.join().unwrap_err().is_crash());
        }
        let left: Vec<String> = entries().difference(&before).cloned().collect();
        assert!(
            left.is_empty(),
            "endpoints of killed children were left behind: {left:?}"
        );
    }
}

/// An auxiliary's output lands in the report of the test that runs, under the aux's name.
mod aux_output {
    use super::*;
    use mptest::aux::{AuxResult, Auxiliary};

    pub struct Talker;

    #[mptest::aux]
    impl Auxiliary for Talker {
        type Config = ();
        type Command = String;
        type Response = ();
        type Message = ();

        fn new(_: ()) -> AuxResult<Self> {
            Ok(Talker)
        }

        fn run_command(&self, text: String) -> AuxResult<()> {
            println!("{text}");
            eprintln!("err: {text}");
            Ok(())
        }
    }

    #[mp_test]
    fn is_in_the_report() {
        let talker = mptest::aux::start::<Talker>(()).unwrap();
        talker
            .run_command("hello from the aux".into(), std::time::Duration::from_secs(10))
            .unwrap();
        talker.stop().unwrap();
        println!("the test's own line");
    }
}

/// A test slow enough to be named among the slowest.
mod slowest {
    use super::*;

    #[mp_test]
    fn a_second_and_more() {
        std::thread::sleep(std::time::Duration::from_millis(1100)); // simulated work
    }
}

/// Tests of known, different lengths, declared shortest first; their names in a third order.
mod ordering {
    use super::*;

    #[mp_test]
    fn c_short() {}

    #[mp_test]
    fn a_medium() {
        std::thread::sleep(std::time::Duration::from_millis(100)); // simulated work
    }

    #[mp_test]
    fn b_long() {
        std::thread::sleep(std::time::Duration::from_millis(300)); // simulated work
    }
}

/// Log records from the test's processes, in its report.
mod logging {
    use super::*;

    #[mp_test]
    fn child_logs_then_the_test_fails() {
        mptest::spawn((), |()| {
            log::debug!(target: "fixture::child", "a detail");
            log::info!(target: "fixture::child", "from the child");
            tracing::warn!(target: "fixture::child", "a tracing event");
        })
        .join()
        .unwrap();
        log::error!(target: "fixture::test", "from the test itself");
        panic!("failing on purpose");
    }

    #[mp_test]
    fn the_test_process_crashes_right_after_logging() {
        // mptest's logger comes into a worker when its test first asks for it (or starts a
        // process of mptest's); before, a test may install its own, as under libtest.
        assert!(mptest::logs().is_empty());
        log::error!(target: "fixture::test", "last words of the worker");
        std::process::abort();
    }
}

/// Reports that take both ways to the coordinator, one after the other: a failure message too
/// long for one atomic write of the output pipe goes on the channel, a passing test's report
/// in the pipe. Each must be taken as its own test's, in order.
mod report_ways {
    use super::*;

    fn fail_at_length() -> Result<(), String> {
        Err("a reason this long does not fit the output pipe's record. ".repeat(100))
    }

    #[mp_test]
    fn a1_channel() -> Result<(), String> {
        fail_at_length()
    }
    #[mp_test]
    fn a2_pipe() {}
    #[mp_test]
    fn b1_channel() -> Result<(), String> {
        fail_at_length()
    }
    #[mp_test]
    fn b2_pipe() {}
    #[mp_test]
    fn c1_channel() -> Result<(), String> {
        fail_at_length()
    }
    #[mp_test]
    fn c2_pipe() {}
    #[mp_test]
    fn d1_channel() -> Result<(), String> {
        fail_at_length()
    }
    #[mp_test]
    fn d2_pipe() {}
}

/// The same tests as `tests/twin/twin.rs` under libtest, to compare the JSON events.
mod twin {
    use super::*;

    #[mp_test]
    fn passes() {
        println!("hello from passes");
    }

    #[mp_test]
    fn fails() {
        println!("before");
        panic!("boom");
    }

    #[mp_test]
    fn returns_err() -> Result<(), String> {
        Err("no such device".into())
    }

    #[mp_test]
    fn returns_a_failing_exit_code() -> std::process::ExitCode {
        std::process::ExitCode::from(3)
    }

    #[mp_test]
    fn returns_a_passing_exit_code() -> std::process::ExitCode {
        std::process::ExitCode::SUCCESS
    }

    #[mp_test]
    fn returns_err_inside_ok() -> Result<Result<(), String>, String> {
        Ok(Err("inner".into()))
    }

    #[mp_test]
    #[ignore]
    fn ignored() {}

    #[mp_test]
    #[ignore = "needs a lab"]
    fn ignored_with_reason() {}

    #[mp_test]
    #[should_panic(expected = "this text")]
    fn panics_with_other_text() {
        panic!("other")
    }

    #[mp_test]
    #[should_panic(expected = "this text")]
    fn panics_with_a_string_payload_without_the_text() {
        std::panic::resume_unwind(Box::new(String::from("other")))
    }

    #[mp_test]
    #[should_panic(expected = "this text")]
    fn panics_with_a_payload_that_is_not_text() {
        std::panic::resume_unwind(Box::new(42u32))
    }

    #[mp_test]
    #[should_panic]
    fn does_not_panic() {}
}

/// A group whose worker dies under its first member: the second runs in a new worker, and the
/// run says so.
mod fragile_group {
    use super::*;

    #[mp_test(group = "fragile")]
    fn a_crashes() {
        std::process::abort();
    }

    #[mp_test(group = "fragile")]
    fn b_goes_on() {}
}

/// libtest's own attributes, written next to `#[mp_test]` by habit, mean what they mean there.
mod habits {
    use super::*;

    #[mp_test]
    #[ignore]
    fn libtest_ignore() {
        panic!("an ignored test ran");
    }

    #[mp_test]
    #[ignore = "needs the lab"]
    fn libtest_ignore_with_reason() {}

    #[ignore]
    #[mp_test]
    fn ignore_written_first() {
        panic!("an ignored test ran");
    }

    #[mp_test]
    #[should_panic(expected = "boom")]
    fn should_panic_with_the_text() {
        panic!("boom at last");
    }

    #[mp_test]
    #[should_panic(expected = "boom")]
    fn should_panic_with_other_text() {
        panic!("bang");
    }

    #[mp_test]
    #[should_panic]
    fn should_panic_without_panicking() {}
}

mod refusal {
    use super::*;

    /// A stranger's connection is refused; the manager's report lands in this test's output.
    #[mp_test]
    fn is_reported() {
        let mgr = mptest::Manager::start().unwrap();
        let value = mgr.value(1u8).unwrap();
        let stranger = value.proxy().with_secret("wrong");
        let err = stranger.call(mptest::shared::ValueCall::Get).unwrap_err();
        mgr.shutdown();
        panic!("client saw: {err}");
    }
}

mod interrupt {
    use super::*;

    /// Says which processes it runs in, then waits to be interrupted.
    #[mp_test]
    fn announces_then_waits() {
        // Says when it runs its closure: named by then (`/proc/PID/comm`).
        let spawned = mptest::spawn::<_, ()>((), |()| {
            println!("child {} runs", std::process::id());
            loop {
                std::thread::park();
            }
        });
        let manager = mptest::Manager::start().unwrap();
        println!("roles {} {}", spawned.pid(), manager.pid().unwrap());
        println!("output before the interrupt");
        let child = Command::new("sleep").arg("1000").spawn().unwrap();
        println!("worker {} child {}", std::process::id(), child.id());
        hang();
    }
}

mod output {
    use super::*;

    #[mp_test]
    fn huge() {
        let line = [b'x'; 1023];
        let mut out = std::io::stdout().lock();
        out.write_all(b"first line\n").unwrap();
        // 100 MiB.
        for _ in 0..(100 * 1024) {
            out.write_all(&line).unwrap();
            out.write_all(b"\n").unwrap();
        }
        out.write_all(b"last line\n").unwrap();
        panic!("fail so the output is shown");
    }

    #[mp_test]
    fn interleaved() {
        print!("one ");
        let _ = std::io::stdout().flush();
        eprint!("two ");
        println!("three");
        panic!("show it");
    }
}

mod slow {
    use super::*;

    #[mp_test]
    fn half_second() {
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
}

mod flaky {
    use super::*;

    /// Fails on its first attempt and passes on its second: the marker file tells them apart.
    #[mp_test(retries = 2)]
    fn passes_second_time() {
        let marker = scratch_dir().join(format!(
            "flaky-{}",
            std::env::var("FIXTURE_RUN_ID").unwrap_or_default()
        ));
        if std::fs::read(&marker).is_err() {
            std::fs::write(&marker, b"1").unwrap();
            panic!("first attempt fails");
        }
        let _ = std::fs::remove_file(marker);
    }

    #[mp_test(retries = 1)]
    fn always_fails() {
        panic!("every time");
    }
}

mod serial {
    use super::*;

    fn pause() {
        // Simulated work, long enough for the scheduler's choices to show in the event order.
        std::thread::sleep(std::time::Duration::from_millis(150));
    }

    #[mp_test]
    fn a_before() {
        pause();
    }

    #[mp_test(serial)]
    fn m_alone() {
        pause();
    }

    #[mp_test]
    fn z_after_1() {
        pause();
    }

    #[mp_test]
    fn z_after_2() {
        pause();
    }
}

/// serial_test's `#[serial]` below and above `#[mp_test]`: its lock is the worker's own, so
/// mptest runs such a test alone (`serial`), as it would overlap no other `#[serial]` test
/// under libtest.
mod serial_test_crate {
    use super::*;

    fn pause() {
        // Simulated work, long enough for the scheduler's choices to show in the event order.
        std::thread::sleep(std::time::Duration::from_millis(150));
    }

    #[mp_test]
    fn a_first() {
        pause();
    }

    #[mp_test]
    #[serial_test::serial]
    fn m_below() {
        pause();
    }

    #[serial_test::serial]
    #[mp_test]
    fn n_above() {
        pause();
    }

    #[mp_test]
    fn z_last() {
        pause();
    }
}

mod grouped {
    use super::*;

    fn pid_file(name: &str) -> std::path::PathBuf {
        scratch_dir().join(format!(
            "group-{}-{name}",
            std::env::var("FIXTURE_RUN_ID").unwrap_or_default()
        ))
    }

    #[mp_test(group = "shared")]
    fn a_records_pid() {
        std::fs::write(pid_file("a"), std::process::id().to_string()).unwrap();
    }

    #[mp_test(group = "shared")]
    fn b_same_pid() {
        let a = std::fs::read_to_string(pid_file("a")).unwrap();
        assert_eq!(
            a,
            std::process::id().to_string(),
            "group members ran in different workers"
        );
    }
}

mod taken_back {
    use super::*;
    use std::io::Read;
    use std::os::fd::AsRawFd;
    use std::time::{Duration, Instant};

    /// The FIFO the harness made for this module (the tests do nothing without it).
    fn fifo() -> Option<std::path::PathBuf> {
        std::env::var_os("FIXTURE_FIFO").map(Into::into)
    }

    fn say(byte: u8) {
        if let Some(fifo) = fifo() {
            // Opens once `a_waits_for_the_others` has it open, which the first test of its
            // worker has from the start.
            let mut pipe = std::fs::OpenOptions::new().write(true).open(fifo).unwrap();
            pipe.write_all(&[byte]).unwrap();
        }
    }

    /// First on its worker, and `b_sent_behind_it` sent there behind it: waits until `b`, `c`
    /// and `d` each wrote their letter into the FIFO — `b` can only if it is taken back for
    /// the other worker, idle once it ran `c` and `d`.
    #[mp_test]
    fn a_waits_for_the_others() {
        let Some(fifo) = fifo() else { return };
        // Read and write: the FIFO keeps a writer, so no end of file comes between the others.
        let mut pipe = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(fifo)
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut letters = Vec::new();
        while letters.len() < 3 {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "only {:?} ran while this test waited: a test waited behind it while the other worker idled",
                String::from_utf8_lossy(&letters)
            );
            let mut poll = libc::pollfd {
                fd: pipe.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            let ready = unsafe { libc::poll(&mut poll, 1, left.as_millis().min(1000) as i32) };
            if ready > 0 {
                let mut buf = [0u8; 8];
                let n = pipe.read(&mut buf).unwrap();
                letters.extend_from_slice(&buf[..n]);
            }
        }
        letters.sort_unstable();
        assert_eq!(letters, b"bcd");
    }

    // Bounded: after `a_waits_for_the_others` gave up, no reader would ever open the FIFO.
    #[mp_test(timeout = "30s")]
    fn b_sent_behind_it() {
        say(b'b');
    }

    #[mp_test(timeout = "30s")]
    fn c() {
        say(b'c');
    }

    #[mp_test(timeout = "30s")]
    fn d() {
        say(b'd');
    }
}

mod forked {
    use mptest::prelude::*;
    use std::os::fd::AsRawFd;

    /// The pipes this process holds that `exec` would have closed (close-on-exec), but for its
    /// own work pipe: a copy of the coordinator would hold its ends of the other workers' output
    /// and work pipes.
    fn close_on_exec_pipes() -> Vec<String> {
        let own = mptest::__private::work_pipe_fd().map(|fd| fd.to_string());
        std::fs::read_dir("/proc/self/fd")
            .unwrap()
            .flatten()
            .filter(|fd| Some(fd.file_name().to_string_lossy().into_owned()) != own)
            .filter_map(|fd| {
                let target = std::fs::read_link(fd.path()).ok()?.to_string_lossy().into_owned();
                let name = fd.file_name().to_string_lossy().into_owned();
                let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{name}")).ok()?;
                let flags = info
                    .lines()
                    .find_map(|l| l.strip_prefix("flags:"))?
                    .trim()
                    .to_string();
                let cloexec = u32::from_str_radix(&flags, 8).ok()? & 0o2000000 != 0;
                (target.starts_with("pipe:") && cloexec).then(|| format!("fd {name}: {target}"))
            })
            .collect()
    }

    /// Both tests wait for each other (so they run at once, in two workers: the second forked
    /// one among them), each through a FIFO of its own, the other writing one byte into it.
    fn meet(me: &str, other: &str) {
        let dir = super::scratch_dir();
        let fifo = |name: &str| {
            let path = dir.join(format!("forked-{name}"));
            let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
            // SAFETY: mkfifo with a valid path; EEXIST when the other test made it first.
            unsafe { libc::mkfifo(c.as_ptr(), 0o600) };
            // Read and write: opening never blocks, and what is written stays while we hold it.
            std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(path)
                .unwrap()
        };
        let inbox = fifo(me);
        let mut outbox = fifo(other);
        std::io::Write::write_all(&mut outbox, b"!").unwrap();
        let mut poll = libc::pollfd {
            fd: inbox.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one pollfd of ours, an open descriptor.
        let ready = unsafe { libc::poll(&mut poll, 1, 10_000) };
        assert_eq!(ready, 1, "{other} did not come within 10 s");
        // The other one opened it before it wrote: it is done with the name.
        let _ = std::fs::remove_file(dir.join(format!("forked-{me}")));
    }

    /// A process's or thread's `Cpus_allowed_list` (`/proc/<path>/status`).
    fn cpus_of(path: &str) -> String {
        let status = std::fs::read_to_string(format!("/proc/{path}/status")).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
            .unwrap()
            .trim()
            .to_string()
    }

    fn check() {
        let leaked = close_on_exec_pipes();
        assert!(
            leaked.is_empty(),
            "this worker holds pipes exec would have closed: {leaked:?}"
        );
        // mptest starts a forked worker on one CPU of its own (see `mptest::cpus`): the test,
        // and the worker, have the run's CPUs again (the parent: the coordinator, or a
        // re-executed worker's anchor, which has them).
        let run = cpus_of(&std::os::unix::process::parent_id().to_string());
        assert_eq!(cpus_of("thread-self"), run, "the test's CPUs");
        assert_eq!(cpus_of("self"), run, "the worker's main thread's CPUs");
    }

    #[mp_test]
    fn meets_b_and_holds_no_pipe_of_the_coordinators() {
        meet("a", "b");
        check();
    }

    #[mp_test]
    fn meets_a_and_holds_no_pipe_of_the_coordinators() {
        meet("b", "a");
        check();
    }
}

/// Where the fixture's tests keep marker files: beside the run's temporary directory, which
/// the harness checks mptest leaves empty.
fn scratch_dir() -> std::path::PathBuf {
    std::env::var_os("FIXTURE_SCRATCH").map_or_else(std::env::temp_dir, Into::into)
}

fn main() {
    // Each process that runs this `main` (the coordinator, re-executed workers) says so.
    if let Some(log) = std::env::var_os("FIXTURE_MAIN_LOG") {
        use std::io::Write;
        let line = format!("main {}\n", std::process::id());
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(log)
            .unwrap();
        file.write_all(line.as_bytes()).unwrap();
    }
    // Simulates a binary whose start-up fails in every process but the first: the worker
    // processes inherit FIXTURE_CHILD and exit before mptest gets to run.
    if std::env::var_os("FIXTURE_BROKEN_START").is_some() {
        if std::env::var_os("FIXTURE_CHILD").is_some() {
            eprintln!("fixture: start-up failure in a worker");
            std::process::exit(3);
        }
        std::env::set_var("FIXTURE_CHILD", "1");
        // Re-executed workers, which run this `main` again.
        mptest::run()
    }
    // Nothing else ran before: as `mptest::main!()` does, so the first workers are forked (and
    // the harness's tests check what they do, crashes and timeouts included); the ones that
    // replace them are re-executed.
    mptest::__private::run_main()
}
