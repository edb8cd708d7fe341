//! What one attempt of a test comes to: the run's policies (`--leak-result`, `--ensure-time`,
//! retries, `--flaky-result`) applied to the outcome the worker (or its death) gave, and
//! whether the test runs again. Pure: the scheduler reports what this decides.

use std::time::Duration;

use crate::cli::{FlakyResult, LeakResult, Options};
use crate::registry::TestDef;
use crate::reporter::{FailureKind, Outcome, Summary};

/// How many times a test may run: its own `retries` wins over `--retries`.
pub(crate) fn attempts(def: &TestDef, options: &Options) -> u32 {
    let retries = if def.retries > 0 {
        def.retries
    } else {
        options.retries
    };
    retries + 1
}

/// One attempt's outcome after the policies that judge a single attempt: processes left
/// running under `--leak-result fail`, `--ensure-time` limits, and a pass after a failure
/// (flaky).
pub(crate) fn judge_attempt(
    outcome: Outcome,
    attempt: u32,
    duration: Duration,
    leftovers: &[String],
    def: &TestDef,
    options: &Options,
) -> Outcome {
    let passed = matches!(outcome, Outcome::Passed | Outcome::Flaky { .. });
    // `--ensure-time`: past its critical time, a test that passed fails.
    let over_time = match passed {
        true => options
            .ensure_time
            .and_then(|limits| limits.exceeded(def.file, duration)),
        false => None,
    };
    match outcome {
        _ if passed && !leftovers.is_empty() && options.leak_result == LeakResult::Fail => Outcome::Failed {
            message: format!(
                "it left {} process(es) running ({}), and --leak-result fail makes that a failure",
                leftovers.len(),
                leftovers.join(", ")
            ),
            kind: FailureKind::LeftProcesses,
        },
        _ if passed && over_time.is_some() => Outcome::Failed {
            message: over_time.unwrap_or_default(),
            kind: FailureKind::TimeLimit,
        },
        Outcome::Passed if attempt > 1 => Outcome::Flaky { passed_on: attempt },
        other => other,
    }
}

/// Whether a judged attempt runs again: it failed, attempts are left, and the run goes on.
pub(crate) fn runs_again(outcome: &Outcome, attempt: u32, attempts: u32, run_goes_on: bool) -> bool {
    outcome.is_failure() && attempt < attempts && run_goes_on
}

/// The test's final outcome from its last attempt's: `--flaky-result fail` fails a flaky test.
pub(crate) fn final_outcome(outcome: Outcome, attempts: u32, options: &Options) -> Outcome {
    match outcome {
        Outcome::Flaky { passed_on } if options.flaky_result == FlakyResult::Fail => Outcome::Failed {
            message: format!(
                "it failed, then passed on attempt {passed_on} of {attempts}; --flaky-result fail makes that a failure"
            ),
            kind: FailureKind::Flaky,
        },
        other => other,
    }
}

/// A note for a test of a group that failed under cargo-nextest: a group's tests share a
/// process under `cargo test`, not there, and the failure may be a test counting on what
/// another of its group left.
pub(crate) fn group_note(name: &str, outcome: &Outcome, def: &TestDef, options: &Options) -> Option<String> {
    let group = def.group.filter(|_| options.under_nextest && outcome.is_failure())?;
    Some(format!(
        "{name} is in group \"{group}\", and under cargo-nextest every test runs in a process of its \
         own: the tests of a group share no process (statics, group fixtures); run them with \
         `cargo test`"
    ))
}

/// Counts a test's final outcome in the run's summary.
pub(crate) fn count(summary: &mut Summary, outcome: &Outcome, attempt: u32) {
    if outcome.is_success() {
        summary.passed += 1;
        if attempt > 1 {
            summary.flaky += 1;
        }
    } else {
        summary.failed += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(args: &[&str]) -> Options {
        Options::parse(args.iter().map(|s| s.to_string())).expect("valid arguments")
    }

    fn def(retries: u32) -> TestDef {
        TestDef {
            retries,
            ..crate::registry::test_def("suite", "t", 1)
        }
    }

    fn failed() -> Outcome {
        Outcome::Failed {
            message: "boom".into(),
            kind: FailureKind::Panicked,
        }
    }

    #[test]
    fn a_tests_own_retries_win_over_the_command_line() {
        assert_eq!(attempts(&def(0), &options(&[])), 1);
        assert_eq!(attempts(&def(0), &options(&["--retries", "2"])), 3);
        assert_eq!(attempts(&def(4), &options(&["--retries", "2"])), 5);
    }

    #[test]
    fn leftovers_fail_a_pass_only_under_leak_result_fail() {
        let left = ["sleep (pid 7)".to_string()];
        let d = def(0);
        let lenient = judge_attempt(Outcome::Passed, 1, Duration::ZERO, &left, &d, &options(&[]));
        assert_eq!(lenient, Outcome::Passed);
        let strict = options(&["--leak-result", "fail"]);
        let judged = judge_attempt(Outcome::Passed, 1, Duration::ZERO, &left, &d, &strict);
        assert!(
            matches!(&judged, Outcome::Failed { kind: FailureKind::LeftProcesses, message } if message.contains("sleep (pid 7)")),
            "{judged:?}"
        );
        // A failure stays the failure it was.
        assert_eq!(judge_attempt(failed(), 1, Duration::ZERO, &left, &d, &strict), failed());
    }

    #[test]
    fn a_pass_on_a_later_attempt_is_flaky_and_fails_only_under_flaky_result_fail() {
        let d = def(2);
        let o = options(&[]);
        let judged = judge_attempt(Outcome::Passed, 2, Duration::ZERO, &[], &d, &o);
        assert_eq!(judged, Outcome::Flaky { passed_on: 2 });
        assert_eq!(final_outcome(judged.clone(), 3, &o), judged);
        let strict = options(&["--flaky-result", "fail"]);
        assert!(matches!(
            final_outcome(judged, 3, &strict),
            Outcome::Failed {
                kind: FailureKind::Flaky,
                ..
            }
        ));
    }

    #[test]
    fn a_group_tests_failure_under_nextest_says_groups_share_no_process_there() {
        let grouped = TestDef {
            group: Some("db"),
            ..def(0)
        };
        let mut nextest = options(&[]);
        nextest.under_nextest = true;
        let note = group_note("suite::t", &failed(), &grouped, &nextest).expect("a note");
        assert!(note.starts_with("suite::t is in group \"db\""), "{note}");
        // Not under cargo test, not for a pass, not for a test of no group.
        assert_eq!(group_note("suite::t", &failed(), &grouped, &options(&[])), None);
        assert_eq!(group_note("suite::t", &Outcome::Passed, &grouped, &nextest), None);
        assert_eq!(group_note("suite::t", &failed(), &def(0), &nextest), None);
    }

    #[test]
    fn ensure_time_fails_a_slow_pass() {
        let o = options(&["--ensure-time"]);
        let d = def(0);
        // An integration test (tests/…) is critical past 120 s by libtest's default.
        let d = TestDef {
            file: "tests/slow.rs",
            ..d
        };
        let fast = judge_attempt(Outcome::Passed, 1, Duration::from_secs(1), &[], &d, &o);
        assert_eq!(fast, Outcome::Passed);
        let slow = judge_attempt(Outcome::Passed, 1, Duration::from_secs(3600), &[], &d, &o);
        assert!(matches!(slow, Outcome::Failed { kind: FailureKind::TimeLimit, .. }), "{slow:?}");
    }

    #[test]
    fn only_a_failure_with_attempts_left_in_a_run_that_goes_on_runs_again() {
        assert!(runs_again(&failed(), 1, 2, true));
        assert!(!runs_again(&failed(), 2, 2, true));
        assert!(!runs_again(&failed(), 1, 2, false));
        assert!(!runs_again(&Outcome::Passed, 1, 2, true));
    }

    #[test]
    fn the_summary_counts_flaky_passes_among_the_passed() {
        let mut summary = Summary::default();
        count(&mut summary, &Outcome::Passed, 1);
        count(&mut summary, &Outcome::Flaky { passed_on: 2 }, 2);
        count(&mut summary, &failed(), 3);
        assert_eq!((summary.passed, summary.flaky, summary.failed), (2, 1, 1));
    }
}
