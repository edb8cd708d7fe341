//! The captured-output benchmark's suite under libtest: one test that writes a million lines
//! with `eprintln!`.

#[test]
fn writes_a_million_lines() {
    for i in 0..1_000_000u32 {
        eprintln!("line {i} of what the test says");
    }
}
