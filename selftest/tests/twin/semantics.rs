// The same tests under libtest (`tests/twin_libtest.rs`) and under mptest after
// `use mptest::test;` (`tests/twin_mptest.rs`): each asserts what libtest gives a test, and each
// passes under both harnesses. (Included by both files: no inner attributes here.)

mod panics {
    use super::test;

    #[test]
    #[should_panic(expected = "boom")]
    fn judged_from_a_str_payload_that_no_hook_saw() {
        std::panic::resume_unwind(Box::new("boom"));
    }

    #[test]
    #[should_panic(expected = "boom")]
    fn judged_from_a_string_payload_that_no_hook_saw() {
        std::panic::resume_unwind(Box::new(String::from("a boom here")));
    }

    #[test]
    #[should_panic(expected = "in the thread")]
    fn judged_from_a_panic_rethrown_from_a_joined_thread() {
        let err = std::thread::spawn(|| panic!("boom in the thread"))
            .join()
            .unwrap_err();
        std::panic::resume_unwind(err);
    }

    #[test]
    #[should_panic(expected = "the second")]
    fn judged_from_what_unwound_not_from_the_last_panic_seen() {
        let _ = std::panic::catch_unwind(|| panic!("the first"));
        std::panic::resume_unwind(Box::new("the second"));
    }

    #[test]
    #[should_panic(expected = "under a hook of its own")]
    fn judged_the_same_under_a_hook_the_test_set() {
        std::panic::set_hook(Box::new(|_| {}));
        let panicked = std::panic::catch_unwind(|| panic!("under a hook of its own"));
        // std's hook back (the hook is the process's), then the panic goes on.
        let _ = std::panic::take_hook();
        std::panic::resume_unwind(panicked.unwrap_err());
    }

    #[test]
    fn a_panic_in_another_thread_is_not_the_tests() {
        let other = std::thread::spawn(|| panic!("not the test's own"));
        assert!(other.join().is_err());
    }
}

// Attributes that `cfg_attr`s stack up (as proc-macro2's tests do) count as rustc counts them:
// the last `#[should_panic]`, the first `#[ignore]` (rustc warns of the others).
#[allow(unused_attributes)]
mod repeated_attributes {
    use super::test;

    #[test]
    #[cfg_attr(all(), should_panic(expected = "not this text"))]
    #[cfg_attr(all(), should_panic(expected = "boom"))]
    fn the_last_should_panic_counts() {
        panic!("boom");
    }

    #[cfg_attr(all(), ignore = "the first")]
    #[cfg_attr(all(), ignore = "the second")]
    #[test]
    fn ignored_by_either() {
        panic!("an ignored test is not run");
    }
}

mod threads {
    use super::test;
    use std::cell::Cell;

    #[test]
    fn each_test_runs_on_a_thread_named_after_it() {
        assert_eq!(
            std::thread::current().name(),
            Some("threads::each_test_runs_on_a_thread_named_after_it")
        );
    }

    thread_local! {
        static USED: Cell<bool> = const { Cell::new(false) };
    }

    // Tests a macro writes (as `quickcheck!` does) are tests too; and a thread-local starts
    // fresh in each: there are more of these than workers, so some share a process.
    macro_rules! fresh_thread_locals {
        ($($name:ident)*) => {$(
            #[test]
            fn $name() {
                USED.with(|used| {
                    assert!(!used.get(), "a thread-local kept its value from an earlier test");
                    used.set(true);
                });
            }
        )*};
    }

    fresh_thread_locals!(fresh_1 fresh_2 fresh_3 fresh_4 fresh_5 fresh_6);
}

mod world {
    use super::test;

    /// Set when a test re-runs this binary to look at one of these tests alone.
    pub(super) const RERUN: &str = "TWIN_RERUN";

    #[test]
    fn the_first_argument_is_the_binary() {
        let arg0 = std::env::args().next().expect("an argument 0");
        let exe = std::env::current_exe().unwrap();
        assert_eq!(
            std::fs::canonicalize(&arg0).unwrap(),
            std::fs::canonicalize(exe).unwrap(),
            "{arg0}"
        );
    }

    #[test]
    #[allow(clippy::extra_unused_lifetimes)] // the lifetime is the point
    fn a_test_may_be_generic_over_lifetimes<'a>() {
        let nothing: Option<&'a str> = None;
        assert!(nothing.is_none());
    }

    #[test]
    fn a_test_may_install_its_own_logger() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        struct Counting(AtomicUsize);
        impl log::Log for Counting {
            fn enabled(&self, _: &log::Metadata) -> bool {
                true
            }
            fn log(&self, _: &log::Record) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
            fn flush(&self) {}
        }
        static LOGGER: Counting = Counting(AtomicUsize::new(0));
        log::set_logger(&LOGGER).expect("no logger was installed before the test's own");
        log::set_max_level(log::LevelFilter::Info);
        log::info!("to the test's own logger");
        assert_eq!(LOGGER.0.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_test_may_start_a_session_of_its_own() {
        // cargo-nextest makes each test process a process group's leader, where setsid fails
        // under libtest too; `cargo test` does not.
        // SAFETY: getpgrp and getpid have no preconditions.
        if std::env::var_os("NEXTEST_RUN_ID").is_some() && unsafe { libc::getpgrp() == libc::getpid() } {
            return;
        }
        // SAFETY: setsid has no preconditions; it fails (EPERM) in a process group's leader.
        let session = unsafe { libc::setsid() };
        assert!(session > 0, "setsid: {}", std::io::Error::last_os_error());
    }

    #[test]
    fn keeps_a_guard_in_a_thread_local() {
        struct Guard;
        impl Drop for Guard {
            fn drop(&mut self) {
                if std::env::var_os(RERUN).is_some() {
                    eprintln!("the thread-local guard was dropped");
                }
            }
        }
        thread_local! {
            static GUARD: std::cell::RefCell<Option<Guard>> = const { std::cell::RefCell::new(None) };
        }
        GUARD.with(|g| *g.borrow_mut() = Some(Guard));
    }

    #[test]
    fn recurses_deeply() {
        // 4 MiB and more, deeper than std's 2 MiB default stack: only when re-run with
        // RUST_MIN_STACK.
        if std::env::var_os(RERUN).is_none() {
            return;
        }
        fn deep(n: u32) -> u64 {
            let frame = std::hint::black_box([n as u8; 1024]);
            if n == 0 {
                return u64::from(frame[0]);
            }
            deep(n - 1) + u64::from(std::hint::black_box(frame)[1])
        }
        assert!(deep(4 * 1024) > 0);
    }
}

mod reruns {
    use super::test;
    use std::process::{Command, Stdio};
    use std::time::Duration;
    use wait_timeout::ChildExt;

    /// This very binary again, found as libtest lets a test find it (`args().next()`), with
    /// `args`; its output, once it ended (at most a minute).
    fn rerun(args: &[&str], env: &[(&str, &str)]) -> (bool, String) {
        let exe = std::env::args().next().expect("an argument 0");
        let dir = std::env::temp_dir().join(format!(
            "twin-rerun-{}-{}",
            std::process::id(),
            args.join(" ").replace(['/', ' ', ':'], "_")
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let out = dir.join("out");
        let file = std::fs::File::create(&out).unwrap();
        let mut child = Command::new(exe)
            .args(args)
            .env(super::world::RERUN, "1")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .unwrap();
        let status = match child.wait_timeout(Duration::from_secs(60)).unwrap() {
            Some(status) => status,
            None => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the re-run did not end within a minute");
            }
        };
        let text = std::fs::read_to_string(&out).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        (status.success(), text)
    }

    #[test]
    fn tests_a_macro_writes_are_listed() {
        let (ok, list) = rerun(&["--list"], &[]);
        assert!(ok, "{list}");
        for n in 1..=6 {
            assert!(list.contains(&format!("threads::fresh_{n}: test")), "{list}");
        }
    }

    #[test]
    fn thread_locals_are_dropped_when_the_test_ends() {
        let (ok, out) = rerun(
            &["--exact", "world::keeps_a_guard_in_a_thread_local", "--nocapture", "--test-threads", "1"],
            &[],
        );
        assert!(ok, "{out}");
        assert!(out.contains("1 passed"), "{out}");
        assert!(out.contains("the thread-local guard was dropped"), "{out}");
    }

    #[test]
    fn rust_min_stack_is_honoured() {
        let (ok, out) = rerun(
            &["--exact", "world::recurses_deeply"],
            &[("RUST_MIN_STACK", "67108864")],
        );
        assert!(ok, "{out}");
        assert!(out.contains("1 passed"), "{out}");
    }
}

// A test may be called `main`, at the root too (tempfile's suite has one), beside the target's
// own `main`. It is told by its name.
#[test]
fn main() {
    assert_eq!(std::thread::current().name(), Some("main"));
}

// A raw identifier names the test without its `r#` (flume's suite has `fn r#async_recv`), but
// a keyword's keeps it.
#[test]
fn r#raw_named() {
    assert_eq!(std::thread::current().name(), Some("raw_named"));
}

#[test]
fn r#match() {
    assert_eq!(std::thread::current().name(), Some("r#match"));
}
