use mptest::prelude::*;

// One mistake, one error: the tests that use the fixture do not fail as well.
#[mptest::fixture(scope = "sesion")]
fn db() -> u32 {
    1
}

#[mp_test]
fn uses_it(db: &u32) {
    assert_eq!(*db, 1);
}

#[mp_test]
fn uses_it_too(db: &u32) {
    assert_eq!(*db, 1);
}

mptest::main!();
