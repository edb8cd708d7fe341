//! The captured-output benchmark's suite under mptest: the same test as `libtest_print.rs`.

use mptest::test;

#[test]
fn writes_a_million_lines() {
    for i in 0..1_000_000u32 {
        eprintln!("line {i} of what the test says");
    }
}

mptest::main!();
