use mptest::prelude::*;

#[mp_test]
fn names_no_fixture(nothing_called_so: &u16) {
    let _ = nothing_called_so;
}

mptest::main!();
