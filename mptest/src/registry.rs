//! The link-time registry of tests.
//!
//! `#[mp_test]` adds a `TestDef` to the `TESTS` distributed slice. We use `linkme` rather
//! than `inventory`: linkme gathers the entries in a linker section, so the list exists before
//! `main` without any constructor code running — the role check stays the first thing the
//! binary executes, in the coordinator and in every re-exec'd worker alike, and both see the
//! very same slice in the very same order.

use std::fmt::Debug;
use std::time::Duration;

#[doc(hidden)]
pub use linkme;

/// Every `#[mp_test]` of the binary, in link order (sorted by name when listed).
#[linkme::distributed_slice]
#[doc(hidden)]
pub static TESTS: [TestDef];

/// What `should_panic` asks of a test.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShouldPanic {
    /// The test must not panic.
    No,
    /// The test must panic.
    Yes,
    /// The test must panic with a message containing this text.
    WithMessage(&'static str),
}

/// One registered test, as the macro writes it. Not for hand use: write `#[mp_test]`.
#[doc(hidden)]
#[derive(Debug)]
pub struct TestDef {
    /// `module_path!()` where the test was declared (starts with the crate name).
    pub module_path: &'static str,
    /// The function's name.
    pub fn_name: &'static str,
    /// The source file (`file!()`), line and column of the function's name.
    pub file: &'static str,
    /// See `file`.
    pub line: u32,
    /// See `file`.
    pub column: u32,
    /// Calls the function and turns its return value into a result.
    pub run: fn() -> Result<(), String>,
    /// `timeout = "..."`.
    pub timeout: Option<Duration>,
    /// `ignore` / `ignore = "why"`: `Some(reason)`, the reason possibly empty.
    pub ignore: Option<&'static str>,
    /// `ignore_if = path`: ignored when `path()` returns `Some(reason)` (asked in the
    /// coordinator when the run starts).
    pub ignore_if: Option<fn() -> Option<String>>,
    /// `should_panic`.
    pub should_panic: ShouldPanic,
    /// `retries = N`: how many more times a failing test is run.
    pub retries: u32,
    /// `group = "name"`: tests of one group run one after another in the same worker.
    pub group: Option<&'static str>,
    /// `serial`: runs while no other test runs.
    pub serial: bool,
    /// The fixtures its parameters name.
    pub fixtures: &'static [fn() -> &'static crate::fixtures::FixtureDecl],
}

impl TestDef {
    /// The name libtest would give the test: module path without the crate, then the function.
    pub fn name(&self) -> String {
        match self.module_path.split_once("::") {
            Some((_crate, rest)) => format!("{rest}::{}", self.fn_name),
            None => self.fn_name.to_string(),
        }
    }

    /// Why the test is ignored in this run, if it is: its `ignore` reason (possibly empty), else
    /// what its `ignore_if` function says now.
    pub(crate) fn ignored_because(&self) -> Option<String> {
        match (self.ignore, self.ignore_if) {
            (Some(reason), _) => Some(reason.to_string()),
            (None, Some(check)) => check(),
            (None, None) => None,
        }
    }
}

/// What an `#[mp_test]` function may return: what libtest takes (a `Termination`) — `()`,
/// `ExitCode`, `Result<T, E: Debug>` of one of them, `Infallible`.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`#[mp_test]` functions must return `()`, `ExitCode` or `Result<T, E>` with `E: Debug` of one of them, not `{Self}`"
)]
pub trait IntoTestResult {
    /// As libtest's `assert_test_result` on std's `Termination::report`: what an `Err` says is
    /// printed to stderr (`Error: ...`, in the test's output); `Err` carries it for reports.
    fn into_test_result(self) -> Result<(), String>;
}

impl IntoTestResult for () {
    fn into_test_result(self) -> Result<(), String> {
        Ok(())
    }
}

impl IntoTestResult for std::process::ExitCode {
    fn into_test_result(self) -> Result<(), String> {
        if self == std::process::ExitCode::SUCCESS {
            return Ok(());
        }
        // `ExitCode` says its number to no one on stable; it is one of a byte's values on Unix.
        let code = (0..=u8::MAX).find(|&code| std::process::ExitCode::from(code) == self);
        let code = code.map_or_else(|| "?".to_string(), |code| code.to_string());
        Err(format!(
            "the test returned a termination value with a non-zero status code ({code}) which indicates a failure"
        ))
    }
}

impl IntoTestResult for std::convert::Infallible {
    fn into_test_result(self) -> Result<(), String> {
        match self {}
    }
}

impl<T: IntoTestResult, E: Debug> IntoTestResult for Result<T, E> {
    fn into_test_result(self) -> Result<(), String> {
        match self {
            Ok(value) => value.into_test_result(),
            Err(e) => {
                let text = format!("Error: {e:?}");
                eprintln!("{text}");
                Err(text)
            }
        }
    }
}

/// The registered tests sorted by name, as libtest orders them.
pub(crate) fn sorted_tests() -> Vec<(String, &'static TestDef)> {
    let mut tests: Vec<_> = TESTS.iter().map(|t| (t.name(), t)).collect();
    tests.sort_by(|a, b| a.0.cmp(&b.0));
    tests
}

/// A plain test's registration, for mptest's own unit tests: `module_path::fn_name`, declared
/// at `suite.rs:line`.
#[cfg(test)]
pub(crate) fn test_def(module_path: &'static str, fn_name: &'static str, line: u32) -> TestDef {
    TestDef {
        module_path,
        fn_name,
        file: "suite.rs",
        line,
        column: 4,
        run: || Ok(()),
        timeout: None,
        ignore: None,
        ignore_if: None,
        should_panic: ShouldPanic::No,
        retries: 0,
        group: None,
        serial: false,
        fixtures: &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def(module_path: &'static str) -> TestDef {
        test_def(module_path, "f", 1)
    }

    #[test]
    fn names_drop_the_crate_like_libtest() {
        assert_eq!(def("suite").name(), "f");
        assert_eq!(def("suite::net::tcp").name(), "net::tcp::f");
    }

    #[test]
    fn results_carry_the_debug_form_of_the_error() {
        assert_eq!(().into_test_result(), Ok(()));
        let r: Result<(), &str> = Err("boom");
        assert_eq!(r.into_test_result(), Err("Error: \"boom\"".to_string()));
        use std::process::ExitCode;
        assert_eq!(ExitCode::SUCCESS.into_test_result(), Ok(()));
        assert_eq!(
            ExitCode::from(2).into_test_result(),
            Err("the test returned a termination value with a non-zero status code (2) which indicates a failure".into())
        );
        let nested: Result<Result<(), &str>, &str> = Ok(Err("inner"));
        assert_eq!(nested.into_test_result(), Err("Error: \"inner\"".to_string()));
        let exit: Result<ExitCode, &str> = Ok(ExitCode::SUCCESS);
        assert_eq!(exit.into_test_result(), Ok(()));
    }
}
