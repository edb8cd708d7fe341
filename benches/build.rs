//! Writes the benchmark suite: 1000 trivial tests and 100 tests that sleep 20 ms, as
//! `#[test]` for libtest (and nextest) and as `#[mp_test]` for mptest.

use std::fmt::Write;

fn suite(attribute: &str) -> String {
    let mut code = String::new();
    for i in 0..1000 {
        let _ = writeln!(
            code,
            "#[{attribute}] fn trivial_{i:04}() {{ assert!(std::hint::black_box({i}) < 1000); }}"
        );
    }
    for i in 0..100 {
        let _ = writeln!(
            code,
            "#[{attribute}] fn sleeps_{i:03}() {{ std::thread::sleep(std::time::Duration::from_millis(20)); }}"
        );
    }
    code
}

/// The makespan benchmark's suite: 200 tests of known, uneven lengths — 180 short (5 ms), 17
/// medium (100 ms) and 3 long (400 ms) — the long ones declared last, the worst place for them.
fn uneven_suite() -> String {
    let mut code = String::new();
    let lengths = std::iter::repeat_n(5, 180)
        .chain(std::iter::repeat_n(100, 17))
        .chain(std::iter::repeat_n(400, 3));
    for (i, ms) in lengths.enumerate() {
        let _ = writeln!(
            code,
            "#[mptest::mp_test] fn t{i:03}_{ms}ms() {{ std::thread::sleep(std::time::Duration::from_millis({ms})); }}"
        );
    }
    code
}

/// `count` trivial tests: the scale benchmark's suite (10 000) and the fixed-cost one's.
fn trivial_suite(attribute: &str, count: usize) -> String {
    let mut code = String::new();
    for i in 0..count {
        let _ = writeln!(
            code,
            "#[{attribute}] fn trivial_{i:05}() {{ assert!(std::hint::black_box({i}) < {count}); }}"
        );
    }
    code
}

fn main() {
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    std::fs::write(out.join("libtest_tests.rs"), suite("test")).expect("write the libtest suite");
    std::fs::write(out.join("mptest_tests.rs"), suite("mptest::mp_test")).expect("write the mptest suite");
    std::fs::write(out.join("uneven_tests.rs"), uneven_suite()).expect("write the uneven suite");
    for (name, count) in [("10k", 10_000), ("100", 100), ("200", 200)] {
        std::fs::write(
            out.join(format!("libtest_{name}_tests.rs")),
            trivial_suite("test", count),
        )
        .expect("write a libtest suite of trivial tests");
        std::fs::write(
            out.join(format!("mptest_{name}_tests.rs")),
            trivial_suite("mptest::mp_test", count),
        )
        .expect("write an mptest suite of trivial tests");
    }
    for (file, attribute) in [
        ("tokio_libtest_1k_tests.rs", "tokio::test"),
        ("tokio_mptest_1k_tests.rs", "mptest::mp_test"),
    ] {
        let mut code = String::new();
        for i in 0..1000 {
            let _ = writeln!(
                code,
                "#[{attribute}] async fn trivial_{i:04}() {{ assert!(std::hint::black_box({i}) < 1000); }}"
            );
        }
        std::fs::write(out.join(file), code).expect("write an async suite");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
