use mptest::prelude::*;

#[mp_test]
fn returns_a_number() -> u32 {
    4
}

mptest::main!();
