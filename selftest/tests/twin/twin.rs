// libtest's twin of the fixture's `twin` module: the same tests under `#[test]`. Compiled by
// `tests/harness.rs` with `rustc --test` and run for its JSON, to hold mptest's against it.
mod twin {
    #[test]
    fn passes() {
        println!("hello from passes");
    }

    #[test]
    fn fails() {
        println!("before");
        panic!("boom");
    }

    #[test]
    fn returns_err() -> Result<(), String> {
        Err("no such device".into())
    }

    #[test]
    fn returns_a_failing_exit_code() -> std::process::ExitCode {
        std::process::ExitCode::from(3)
    }

    #[test]
    fn returns_a_passing_exit_code() -> std::process::ExitCode {
        std::process::ExitCode::SUCCESS
    }

    #[test]
    fn returns_err_inside_ok() -> Result<Result<(), String>, String> {
        Ok(Err("inner".into()))
    }

    #[test]
    #[ignore]
    fn ignored() {}

    #[test]
    #[ignore = "needs a lab"]
    fn ignored_with_reason() {}

    #[test]
    #[should_panic(expected = "this text")]
    fn panics_with_other_text() {
        panic!("other")
    }

    #[test]
    #[should_panic(expected = "this text")]
    fn panics_with_a_string_payload_without_the_text() {
        std::panic::resume_unwind(Box::new(String::from("other")))
    }

    #[test]
    #[should_panic(expected = "this text")]
    fn panics_with_a_payload_that_is_not_text() {
        std::panic::resume_unwind(Box::new(42u32))
    }

    #[test]
    #[should_panic]
    fn does_not_panic() {}
}
