use mptest::prelude::*;

#[mp_test]
fn takes_an_argument(port: u16) {
    let _ = port;
}

mptest::main!();
