use mptest::prelude::*;

#[mptest::fixture]
async fn slow() -> u32 {
    1
}

#[mp_test]
fn uses(slow: &u32) {
    assert_eq!(*slow, 1);
}

mptest::main!();
