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

fn main() {
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    std::fs::write(out.join("libtest_tests.rs"), suite("test")).expect("write the libtest suite");
    std::fs::write(out.join("mptest_tests.rs"), suite("mptest::mp_test")).expect("write the mptest suite");
    println!("cargo:rerun-if-changed=build.rs");
}
