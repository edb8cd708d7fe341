use mptest::prelude::*;

#[mptest::fixture(scope = "session")]
fn bad_scope() -> u32 {
    1
}

#[mptest::fixture]
fn returns_nothing() {}

#[mptest::fixture]
fn port() -> u16 {
    8080
}

#[mp_test]
fn needs_a_mutable_fixture(port: &mut u16) {
    let _ = port;
}

mptest::main!();
