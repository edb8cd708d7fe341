use mptest::prelude::*;

#[mp_test(timeout = "5 parsecs")]
fn far() {}

#[mp_test(timeout = 5)]
fn not_a_string() {}

mptest::main!();
