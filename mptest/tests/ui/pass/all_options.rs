use mptest::prelude::*;

#[mp_test]
fn plain() {}

#[mp_test(timeout = "1m 30s", retries = 2, group = "db", serial)]
fn result() -> Result<(), std::io::Error> {
    Ok(())
}

#[mp_test(ignore, should_panic)]
fn ignored_should_panic() {
    panic!()
}

#[mp_test(ignore = "needs hardware", should_panic = "boom")]
fn with_reasons() {
    panic!("boom")
}

fn no_hardware() -> Option<String> {
    Some("no hardware here".into())
}

#[mp_test(ignore_if = no_hardware)]
fn decided_at_run_time() {}

#[mp_test(ignore_if = self::no_hardware, timeout = "5s")]
fn by_path() {}

#[mp_test(should_panic(expected = "boom"))]
fn libtest_spelling() {
    panic!("boom")
}

mod nested {
    #[mptest::mp_test]
    pub fn in_a_module() {}
}

mptest::main!();
