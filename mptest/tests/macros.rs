//! `#[mp_test]`'s compile errors point at the offending tokens; its accepted forms compile.

#[test]
fn mp_test_accepts_and_rejects() {
    let cases = trybuild::TestCases::new();
    cases.pass("tests/ui/pass/*.rs");
    cases.compile_fail("tests/ui/fail/*.rs");
}
