use mptest::prelude::*;

#[mp_test]
async fn not_async() {}

mptest::main!();
