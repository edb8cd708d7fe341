//! The converter on a crate of libtest tests: every test has the same outcome under mptest
//! after the conversion as under libtest before it, macro-written tests included; a
//! feature-gated file gets `required-features`; a file gated otherwise has each item gated (one whose cfg is false here runs no test);
//! `#[tokio::test]`s of every flavor become async `#[mp_test]`s with the same outcomes; a
//! target of the 2015 edition names mptest with `extern crate`; a `#![no_std]` file works;
//! `cfg(test)` holds as under libtest; test-case's cases and test-log's tests run as mptest
//! tests; rstest's cases (modules with `use super::*;`) and its
//! async cases on `#[tokio::test]` run.
//!
//! Builds in `<target>/nextest-selftest` with the settings of selftest's README test, so
//! mptest's dependencies are built once for both (the `cargo test` running us holds the lock
//! on the main build directory).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use wait_timeout::ChildExt;

const FILES: &[(&str, &str)] = &[
    (
        "Cargo.toml",
        "[package]\nname = \"sample\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[workspace]\n\n[features]\nslow = []\n\n[dev-dependencies]\ntokio = { version = \"1.39\", features = [\"macros\", \"rt\", \"rt-multi-thread\", \"time\", \"test-util\"] }\nrstest = { version = \"0.23\", default-features = false }\ntest-case = \"3\"\ntest-log = \"0.2\"\nenv_logger = \"0.11\"\nlog = \"0.4\"\n\n[[test]]\nname = \"old_edition\"\nedition = \"2015\"\n\n[[test]]\nname = \"own_main\"\nharness = false\n",
    ),
    ("src/lib.rs", "pub fn double(n: u32) -> u32 { n * 2 }\n"),
    (
        "tests/basic.rs",
        r#"//! A suite as crates have them.
#![allow(dead_code)]

use std::cell::Cell;

// As quickcheck! does: a macro that writes #[test]s where it is called.
macro_rules! props {
    ($($name:ident: $e:expr;)*) => {$(
        #[test]
        fn $name() {
            assert!($e);
        }
    )*};
}

props! {
    prop_holds: sample::double(2) == 4;
    prop_fails: sample::double(2) == 5;
}

#[test]
fn passes() {}

#[test]
fn fails() {
    assert_eq!(1, 2);
}

#[test]
#[should_panic(expected = "boom")]
fn panics() {
    std::panic::resume_unwind(Box::new("boom"));
}

#[test]
#[ignore]
fn ignored() {}

#[test]
fn named_thread() {
    assert_eq!(std::thread::current().name(), Some("named_thread"));
}

mod inner {
    use super::*;

    #[test]
    fn nested() {
        assert_eq!(Cell::new(3).get(), 3);
    }
}

// As nix's suite does: a macro that writes a module of tests, with `use super::*;`.
macro_rules! module_of_tests {
    ($name:ident) => {
        mod $name {
            use super::*;

            #[test]
            fn in_a_macro_module() {
                assert_eq!(Cell::new(4).get(), 4);
            }
        }
    };
}

module_of_tests!(generated);

// cargo sets `cfg(test)` for a target libtest runs (cfg-if's own suite tests this).
#[cfg(test)]
fn cfg_test() -> bool {
    true
}
#[cfg(not(test))]
fn cfg_test() -> bool {
    false
}

#[test]
fn sees_cfg_test() {
    assert!(cfg_test());
}
"#,
    ),
    // rstest writes each case into a module that does `use super::*;`, and takes an attribute
    // whose path ends in `test` for the test attribute of async cases.
    (
        "tests/cases.rs",
        r#"use rstest::rstest;

#[rstest]
#[case(1, 2)]
#[case(2, 4)]
#[case(3, 7)]
fn doubles(#[case] n: u32, #[case] twice: u32) {
    assert_eq!(sample::double(n), twice);
}

#[rstest]
#[tokio::test]
async fn async_values(#[values(1, 2)] n: u32) {
    tokio::task::yield_now().await;
    assert!(n > 0);
}
"#,
    ),
    (
        "tests/async_io.rs",
        r#"//! `#[tokio::test]`s of every flavor and argument.
use std::time::Duration;

#[tokio::test]
async fn awaits() {
    tokio::time::sleep(Duration::from_millis(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_two_workers() {
    assert_eq!(tokio::runtime::Handle::current().metrics().num_workers(), 2);
}

#[tokio::test(start_paused = true)]
async fn paused() {
    let start = tokio::time::Instant::now();
    tokio::time::sleep(Duration::from_secs(3600)).await;
    assert!(start.elapsed() >= Duration::from_secs(3600));
}

#[tokio::test]
async fn awaited_task_fails() {
    tokio::spawn(async { panic!("the task failed") }).await.unwrap();
}

#[tokio::test]
#[should_panic(expected = "boom")]
async fn panics_as_expected() {
    tokio::task::yield_now().await;
    panic!("boom");
}

#[tokio::test]
async fn returns_err() -> Result<(), String> {
    Err("no".into())
}

#[tokio::test]
async fn on_the_tests_thread() {
    assert_eq!(std::thread::current().name(), Some("on_the_tests_thread"));
}
"#,
    ),
    // test-case writes `#[::core::prelude::v1::test]` in a `#[cfg(test)]` module: the
    // converter takes its attributes from mptest.
    (
        "tests/table.rs",
        r#"use test_case::{test_case, test_matrix};

#[test_case(1 => 2)]
#[test_case(2 => 5 ; "wrong")]
#[test_case(3 => ignore 6)]
fn double(n: u32) -> u32 {
    sample::double(n)
}

#[test_case::test_case(0 => panics "zero")]
fn divides(n: u32) -> u32 {
    assert!(n != 0, "zero");
    12 / n
}

#[test_matrix([1, 2], [3, 4])]
fn sums(a: u32, b: u32) {
    assert!(a + b < 6);
}
"#,
    ),
    // test-log writes libtest's `#[test]` by its full path, unless given another attribute.
    (
        "tests/logged.rs",
        "#[test_log::test]\nfn logs() {\n    log::info!(\"logged\");\n}\n\n#[test_log::test(tokio::test)]\nasync fn logs_async() {\n    tokio::task::yield_now().await;\n    assert_eq!(1, 2);\n}\n",
    ),
    (
        "tests/logged_by_import.rs",
        "use test_log::test;\n\n#[test]\nfn imported() {}\n\n#[test]\n#[should_panic(expected = \"no\")]\nfn imported_panics() {\n    panic!(\"no\");\n}\n",
    ),
    // A main of its own (libtest-mimic's, say): left as it is.
    ("tests/own_main.rs", "#[test]\nfn not_libtests() {}\n\nfn main() {\n    println!(\"its own runner\");\n}\n"),
    ("tests/gated.rs", "#![cfg(feature = \"slow\")]\n\n#[test]\nfn slow_one() {}\n"),
    ("tests/unix_only.rs", "#![cfg(unix)]\n\n#[test]\nfn on_unix() {}\n"),
    // False here: under libtest the target runs no test; converted, it must still compile.
    ("tests/windows_only.rs", "#![cfg(windows)]\n\nuse std::os::windows::fs::MetadataExt;\n\n#[test]\nfn on_windows() {}\n"),
    // The 2015 edition: a `use` path starts at the crate's root, where only `extern crate` puts mptest.
    (
        "tests/old_edition.rs",
        "mod inner;\n\n#[test]\nfn in_2015() {}\n\n#[test]\n#[should_panic(expected = \"old\")]\nfn panics_in_2015() {\n    panic!(\"old\");\n}\n",
    ),
    ("tests/inner/mod.rs", "#[test]\nfn in_a_module_of_2015() {}\n"),
    // `#![no_std]` (itertools' `test_core`): no `::std` at the root, which mptest's macros
    // must not name.
    (
        "tests/without_std.rs",
        "#![no_std]\n\n#[test]\nfn in_no_std() {\n    assert_eq!(core::cmp::max(1, 2), 2);\n}\n\n#[test]\n#[should_panic(expected = \"none\")]\nfn panics_in_no_std() {\n    panic!(\"none\");\n}\n",
    ),
    ("tests/common/mod.rs", "pub fn helper() -> u32 { 1 }\n"),
    // A helper that is a target of its own too (cargo finds it), with no test: other targets
    // take it by `#[path]`, and it stays as it is (tower's `tests/support.rs`).
    ("tests/support.rs", "pub fn support() -> u32 {\n    2\n}\n"),
    // A file in a folder of its own that no target names: compiled by none, its test runs
    // nowhere, before as after.
    ("tests/orphan/lone.rs", "#[test]\nfn lone() {}\n"),
    (
        "tests/it/main.rs",
        "mod net;\n#[path = \"../support.rs\"]\nmod support;\n\n#[test]\nfn in_main() {\n    assert_eq!(support::support(), 2);\n}\n",
    ),
    ("tests/it/net.rs", "#[test]\nfn connects() {}\n\n#[test]\nfn refuses() {\n    panic!(\"refused\");\n}\n"),
];

fn cargo_test(dir: &Path, args: &[&str]) -> (String, Vec<String>) {
    let exe = std::env::current_exe().unwrap();
    let target = exe.ancestors().nth(3).unwrap().join("nextest-selftest");
    let mut child = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["test", "--all-features", "--no-fail-fast"])
        .args(args)
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", target)
        .env("CARGO_PROFILE_DEV_DEBUG", "0")
        .env("RUST_BACKTRACE", "0")
        .env_remove("RUST_TEST_THREADS")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || std::io::read_to_string(stdout).unwrap_or_default());
    let err = std::thread::spawn(move || std::io::read_to_string(stderr).unwrap_or_default());
    if child.wait_timeout(Duration::from_secs(600)).unwrap().is_none() {
        let _ = child.kill();
        let _ = child.wait();
        panic!("cargo test did not end within 10 minutes");
    }
    let text = out.join().unwrap() + &err.join().unwrap();
    let mut results: Vec<String> = text
        .lines()
        .filter(|l| l.starts_with("test ") && l.contains(" ... "))
        .map(|l| l.replace(" - should panic", ""))
        .collect();
    results.sort();
    (text, results)
}

fn convert(dir: &Path) -> String {
    let mptest = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .join("mptest");
    let out = Command::new(env!("CARGO_BIN_EXE_mptest-convert"))
        .arg(dir)
        .args(["--mptest-path", mptest.to_str().unwrap()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    text
}

#[test]
fn every_test_has_libtests_outcome_after_the_conversion() {
    let dir: PathBuf = std::env::temp_dir().join(format!("mptest-convert-{}", std::process::id()));
    for (path, text) in FILES {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    let all = ["--", "--test-threads", "1"];
    let (before_text, before) = cargo_test(&dir, &all);
    assert!(
        before.contains(&"test prop_fails ... FAILED".to_string()),
        "{before_text}"
    );
    assert_eq!(before.len(), 44, "{before_text}");
    assert!(
        before.contains(&"test doubles::case_3 ... FAILED".to_string()),
        "{before_text}"
    );
    assert!(
        before.contains(&"test returns_err ... FAILED".to_string()),
        "{before_text}"
    );

    let report = convert(&dir);
    assert!(
        report.contains("tests/basic.rs: converted; target basic has harness = false"),
        "{report}"
    );
    assert!(
        report.contains(
            "tests/gated.rs: converted; target gated has harness = false (required-features = [\"slow\"])"
        ),
        "{report}"
    );
    for (file, predicate) in [("unix_only", "unix"), ("windows_only", "windows")] {
        assert!(
            report.contains(&format!(
                "tests/{file}.rs: converted; target {file} has harness = false; its #![cfg({predicate})] now gates each item"
            )),
            "{report}"
        );
    }
    assert!(
        report.contains("tests/basic.rs: `test` in 2 cfg predicate(s) made `all()` (true)"),
        "{report}"
    );
    assert!(
        report.contains("tests/async_io.rs: 7 #[tokio::test] made #[mptest::test] async tests"),
        "{report}"
    );
    assert!(
        report.contains("tests/table.rs: test-case's attributes taken from mptest in 2 place(s)"),
        "{report}"
    );
    assert!(
        report.contains("tests/logged.rs: 2 #[test_log::test] given mptest's test attribute")
            && report.contains("tests/logged_by_import.rs: 2 #[test_log::test] given"),
        "{report}"
    );
    assert!(
        report.contains(
            "tests/own_main.rs: target own_main has harness = false and a main of its own; left as it is"
        ),
        "{report}"
    );
    let unchanged = |file: &str| {
        let written = FILES
            .iter()
            .find(|(path, _)| *path == file)
            .map(|(_, text)| *text);
        assert_eq!(
            std::fs::read_to_string(dir.join(file)).ok().as_deref(),
            written,
            "{file}"
        );
    };
    unchanged("tests/own_main.rs");
    unchanged("tests/support.rs");
    unchanged("tests/orphan/lone.rs");
    // One import at a target's root serves its module files too.
    unchanged("tests/it/net.rs");
    let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
    assert!(
        manifest.contains("features = [\"tokio\", \"test-case\"] }"),
        "{manifest}"
    );
    // A workspace of its own: mptest's code is compiled optimized in its test builds.
    assert!(
        manifest.contains("\n[profile.dev.package.mptest]\nopt-level = 3\ndebug = \"line-tables-only\"\n"),
        "{manifest}"
    );
    let basic = std::fs::read_to_string(dir.join("tests/basic.rs")).unwrap();
    assert!(
        basic.contains("\n#[macro_use(test)] extern crate mptest;\n")
            && basic.ends_with("mptest::main!();\n"),
        "{basic}"
    );

    let (after_text, after) = cargo_test(&dir, &all);
    assert_eq!(before, after, "{after_text}");
    // Under mptest now: its own flags are taken (libtest would refuse `--order`).
    for target in [
        "basic",
        "it",
        "gated",
        "async_io",
        "old_edition",
        "without_std",
        "cases",
    ] {
        let (text, ran) = cargo_test(&dir, &["--test", target, "--", "--order", "declared"]);
        assert!(
            !ran.is_empty() && text.contains("test result: "),
            "{target}: {text}"
        );
        assert!(!text.contains("Unrecognized option"), "{target}: {text}");
    }
    // Converting again changes nothing.
    let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
    convert(&dir);
    assert_eq!(std::fs::read_to_string(dir.join("Cargo.toml")).unwrap(), manifest);
    assert_eq!(
        std::fs::read_to_string(dir.join("tests/basic.rs")).unwrap(),
        basic
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
