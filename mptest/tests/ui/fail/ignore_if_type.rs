use mptest::prelude::*;

fn not_a_check() -> bool {
    true
}

#[mp_test(ignore_if = not_a_check)]
fn wrong_type() {}

#[mp_test(ignore_if = "not_a_check")]
fn a_string() {}

mptest::main!();
