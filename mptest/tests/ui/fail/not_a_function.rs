use mptest::prelude::*;

#[mp_test]
struct NotATest;

mptest::main!();
