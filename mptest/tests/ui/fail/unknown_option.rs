use mptest::prelude::*;

#[mp_test(tiemout = "5s")]
fn typo() {}

#[mp_test(flavor = "multi_thread")]
fn stranger() {}

#[mptest::fixture(scop = "run")]
fn fixture_option_typo() -> u32 {
    1
}

mptest::main!();
