//! `#[mp_test]`'s compile errors point at the offending tokens; its accepted forms compile.

#[test]
fn mp_test_accepts_and_rejects() {
    // trybuild's own project takes no profile from ours: without debug info its builds leave a
    // third of the space in target/tests/ (the cargo it runs inherits this environment).
    std::env::set_var("CARGO_PROFILE_DEV_DEBUG", "0");
    let cases = trybuild::TestCases::new();
    cases.pass("tests/ui/pass/*.rs");
    cases.compile_fail("tests/ui/fail/*.rs");
    // Async tests and fixtures: with the `tokio` feature they compile (and their runtime
    // options are checked); without it, each is one error that names the feature.
    if cfg!(feature = "tokio") {
        cases.pass("tests/ui/with_tokio/pass_*.rs");
        cases.compile_fail("tests/ui/with_tokio/runtime_options.rs");
    } else {
        cases.compile_fail("tests/ui/without_tokio/*.rs");
    }
}
