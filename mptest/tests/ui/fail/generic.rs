use mptest::prelude::*;

#[mp_test]
fn generic<T: Default>() {
    let _ = T::default();
}

mptest::main!();
