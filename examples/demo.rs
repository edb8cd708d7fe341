//! The demonstration suite: what a newcomer runs first.
//!
//! ```text
//! cargo run -p examples --example demo                  # the passing tests
//! cargo run -p examples --example demo -- --ignored     # the failure kinds, one of each
//! cargo test -p examples                                # the same suite under cargo test
//! cargo nextest run -p examples                         # and under nextest
//! ```
//!
//! Every test runs in a worker process, so the failure demos — a panic, an abort, a segfault,
//! `process::exit`, a hang — each cost one test and are reported precisely.

// `forgets_a_background_process` leaks on purpose, to show how leftovers are reported.
#![allow(clippy::zombie_processes)]

use std::io::Write;
use std::process::Command;
use std::time::Duration;

use mptest::prelude::*;

/// The simplest test: it runs in a worker process, not in the `cargo test` process.
#[mp_test]
fn arithmetic() {
    assert_eq!(std::hint::black_box(2) + 2, 4);
}

/// Tests may return `Result`; an `Err` fails the test with its `Debug` form.
#[mp_test]
fn reads_the_current_directory() -> Result<(), std::io::Error> {
    let dir = std::env::current_dir()?;
    assert!(dir.is_absolute());
    Ok(())
}

/// What processes started by a test print is captured into that test's report
/// (see it with `-- --show-output`).
#[mp_test]
fn talks_to_a_child_process() {
    println!("asking a child process for its greeting");
    let out = Command::new("sh")
        .args(["-c", "echo hello from pid $$; echo a warning >&2"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("hello from pid"));
}

/// `should_panic` with the text the panic must contain.
#[mp_test(should_panic = "divide by zero")]
fn division_by_zero_panics() {
    let zero = std::hint::black_box(0);
    let _ = 1 / zero;
}

/// A timeout guards a test that might hang; this one finishes well within it.
#[mp_test(timeout = "10s")]
fn finishes_in_time() {
    std::thread::sleep(Duration::from_millis(50));
}

/// A test that forgets a background process: the harness ends it and names it in the report.
#[mp_test]
fn forgets_a_background_process() {
    Command::new("sleep").arg("600").spawn().unwrap();
}

/// Tests of one group run one after another in the same worker process.
mod shared_worker {
    use super::*;

    #[mp_test(group = "same-process")]
    fn first() {
        println!("group member in pid {}", std::process::id());
    }

    #[mp_test(group = "same-process")]
    fn second() {
        println!("group member in pid {}", std::process::id());
    }
}

/// One test of each failure kind, ignored so the default run is green.
/// Run them with `cargo run -p examples --example demo -- --ignored`.
mod failures {
    use super::*;

    #[mp_test(ignore = "failure demo")]
    fn panics() {
        println!("the output of a failed test is shown with it");
        assert_eq!(1 + 1, 3, "arithmetic is broken");
    }

    #[mp_test(ignore = "failure demo")]
    fn returns_an_error() -> Result<(), String> {
        Err("the device did not answer".into())
    }

    #[mp_test(ignore = "failure demo")]
    fn aborts() {
        eprintln!("output written before an abort is kept");
        std::process::abort();
    }

    #[mp_test(ignore = "failure demo")]
    fn segfaults() {
        let _ = std::io::stdout().flush();
        // SAFETY: none; this demonstrates how a segfault is reported.
        unsafe { std::ptr::null_mut::<u8>().write_volatile(7) };
    }

    #[mp_test(ignore = "failure demo")]
    fn exits_the_process() {
        println!("a test that calls exit(0) did not pass: it never finished");
        std::process::exit(0);
    }

    #[mp_test(ignore = "failure demo", timeout = "500ms")]
    fn hangs() {
        println!("waiting forever...");
        loop {
            std::thread::park();
        }
    }

    #[mp_test(ignore = "failure demo", should_panic = "expected text")]
    fn panics_with_the_wrong_message() {
        panic!("some other text");
    }
}

mptest::main!();
