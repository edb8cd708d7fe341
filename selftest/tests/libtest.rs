//! `mptest::spawn` and `Manager` from ordinary `#[test]` functions under libtest's harness: the
//! child and the manager take their roles before `main`, so libtest never runs again in them.
//! Also: a binary whose own constructor spawns before mptest's role is taken fails fast.

mod util;

use std::process::Command;
use std::time::{Duration, Instant};

#[test]
fn spawn_returns_the_childs_value_from_a_plain_test() {
    let me = std::process::id();
    let child = mptest::spawn(me, |parent: u32| {
        let ppid = std::fs::read_to_string("/proc/self/stat").unwrap();
        let ppid: u32 = ppid
            .rsplit(')')
            .next()
            .unwrap()
            .split_whitespace()
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        (ppid == parent, std::process::id())
    });
    let (child_of_this_test, pid) = child.join().unwrap();
    assert!(child_of_this_test);
    assert_ne!(pid, me);
}

#[test]
fn a_manager_serves_a_plain_test_and_its_children() {
    let mgr = mptest::Manager::start().unwrap();
    let total = mgr.value(0u32).unwrap();
    let children: Vec<_> = (1..=3)
        .map(|n| {
            mptest::spawn((total.clone(), n), |(t, n): (mptest::SharedValue<u32>, u32)| {
                t.update(|v| v + 1).unwrap();
                n
            })
        })
        .collect();
    let sum: u32 = children.into_iter().map(|c| c.join().unwrap()).sum();
    assert_eq!(sum, 6);
    assert_eq!(total.get().unwrap(), 3);
    mgr.shutdown();
}

#[test]
fn a_child_that_panics_reports_it_to_a_plain_test() {
    let err = mptest::spawn::<_, ()>((), |()| panic!("boom in the child"))
        .join()
        .unwrap_err();
    assert!(err.is_panic(), "{err:?}");
    assert!(err.to_string().contains("boom in the child"), "{err}");
}

/// ipc-channel returns EINTR as an error; a signal arriving while a test waits for its child
/// must not look like a broken channel.
#[test]
fn a_signal_while_joining_is_not_a_broken_channel() {
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;
    let caught = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGUSR1, caught.clone()).unwrap();
    let (tid_tx, tid_rx) = std::sync::mpsc::channel();
    let joiner = std::thread::spawn(move || {
        // SAFETY: gettid has no preconditions.
        tid_tx.send(unsafe { libc::gettid() }).unwrap();
        mptest::spawn((), |()| {
            // Simulated work, long enough to be interrupted many times.
            std::thread::sleep(Duration::from_millis(300));
            7u8
        })
        .join()
    });
    let tid = tid_rx.recv().unwrap();
    let pid = std::process::id() as libc::pid_t;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !joiner.is_finished() && Instant::now() < deadline {
        // SAFETY: signals the joining thread of this very process.
        unsafe { libc::syscall(libc::SYS_tgkill, pid, tid, libc::SIGUSR1) };
        // Pacing of the signals, not a wait for the child: the join is what is waited on.
        std::thread::sleep(Duration::from_millis(2));
    }
    assert_eq!(joiner.join().unwrap(), Ok(7));
    assert!(
        caught.load(std::sync::atomic::Ordering::SeqCst),
        "no signal arrived"
    );
}

#[test]
fn a_binary_that_spawns_before_the_role_is_taken_fails_fast_without_a_storm() {
    let dirs = util::RunDirs::new();
    let log = dirs.scratch.join("pids");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_early_spawn"));
    dirs.apply(&mut cmd);
    cmd.env("EARLY_SPAWN_LOG", &log);
    let started = Instant::now();
    let out = util::output_within(cmd, Duration::from_secs(30));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let processes = std::fs::read_to_string(&log).unwrap().lines().count();
    assert_eq!(
        processes, 2,
        "one parent and one refusing child\n{stdout}\n{stderr}"
    );
    assert!(
        stderr.contains("mptest::spawn refused in process")
            && stderr.contains("started as an mptest child")
            && stderr.contains("call mptest::init() first thing in `main`"),
        "{stderr}"
    );
    assert!(
        stdout.contains("the child failed: the child process exited with code 2"),
        "{stdout}"
    );
    assert!(
        stdout.contains("early_spawn: main"),
        "the parent goes on: {stdout}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert!(dirs.left_in_tmp().is_empty(), "{:?}", dirs.left_in_tmp());
}
