use mptest::prelude::*;

#[mp_test(should_panic)]
fn returns_result() -> Result<(), String> {
    Ok(())
}

mptest::main!();
