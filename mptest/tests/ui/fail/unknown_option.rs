use mptest::prelude::*;

#[mp_test(timeot = "5s")]
fn typo() {}

mptest::main!();
