//! cargo-nextest runs an mptest suite through its custom-harness contract: the examples crate
//! passes, and its crashing demo is reported as failed.
//!
//! Builds into its own directory inside the target directory this test was built in (so
//! `CARGO_TARGET_DIR` is honoured), without debug info to keep it small: the `cargo test`
//! running us holds the lock on the main build directory.

use std::path::PathBuf;
use std::process::{Command, Output};

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// `<target>/nextest-selftest`, where `<target>` holds `<profile>/deps/<this test binary>`.
fn nextest_target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("this test's path");
    let target = exe
        .ancestors()
        .nth(3)
        .expect("a binary inside <target>/<profile>/deps");
    target.join("nextest-selftest")
}

fn cargo_nextest(args: &[&str]) -> Output {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    Command::new(cargo)
        .arg("nextest")
        .args(args)
        .current_dir(workspace())
        .env("CARGO_TARGET_DIR", nextest_target_dir())
        .env("CARGO_PROFILE_DEV_DEBUG", "0")
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("run cargo nextest")
}

#[test]
fn nextest_runs_the_examples_and_reports_a_crash_as_failed() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let installed = Command::new(cargo)
        .args(["nextest", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !installed {
        assert!(
            std::env::var_os("CI").is_none(),
            "cargo-nextest is missing on CI: .ci/run must install it"
        );
        eprintln!("SKIPPED: cargo-nextest is not installed here");
        return;
    }
    // No retry: the examples assert nothing that load can change (the accelerated-clock
    // example only that no switch comes early; exact times are asserted in manual time).
    let passing = cargo_nextest(&["run", "-p", "examples", "--no-fail-fast"]);
    let text = String::from_utf8_lossy(&passing.stderr);
    assert!(
        passing.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&passing.stdout)
    );
    assert!(text.contains("19 tests run: 19 passed"), "{text}");

    let crashing = cargo_nextest(&[
        "run",
        "-p",
        "examples",
        "--run-ignored",
        "only",
        "-E",
        "test(segfaults)",
    ]);
    let text =
        String::from_utf8_lossy(&crashing.stderr).into_owned() + &String::from_utf8_lossy(&crashing.stdout);
    assert_eq!(crashing.status.code(), Some(100), "{text}");
    assert!(
        text.contains("FAIL") && text.contains("failures::segfaults"),
        "{text}"
    );
    assert!(text.contains("SIGSEGV"), "{text}");
}
