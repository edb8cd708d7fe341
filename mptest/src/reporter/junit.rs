//! JUnit XML (Jenkins' flavour, through `quick-junit`): one `testsuite` for this binary, a
//! `testcase` per test with its time; a failure's kind (`failed`, `crashed`, `timed-out`) as
//! its `type` and its explanation as `message`; `system-out` with the output of every process
//! of the test and `system-err` with their log records; failed attempts of a retried test as
//! `flakyFailure` (it passed in the end) or `rerunFailure` (it did not). Written when the run
//! ends — also an interrupted one.

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestRerun, TestSuite};

use super::{Event, Outcome, Reporter, TestResult};

/// Collects the run's results and writes them to `path` (stdout when `None`: libtest's
/// `--format junit`) at its end.
pub(crate) struct Junit {
    path: Option<PathBuf>,
    suite: TestSuite,
    /// Failed attempts of tests still being retried, by name.
    reruns: HashMap<String, Vec<TestRerun>>,
}

impl Junit {
    pub(crate) fn new(path: Option<PathBuf>, suite_name: &str) -> Self {
        Junit {
            path,
            suite: TestSuite::new(suite_name),
            reruns: HashMap::new(),
        }
    }

    fn output(result: &TestResult) -> (String, String) {
        let out = result.output.as_ref().map(|o| o.to_text()).unwrap_or_default();
        let logs = result.logs.iter().map(|r| format!("{r}\n")).collect();
        (out, logs)
    }

    fn failure_kind(outcome: &Outcome) -> NonSuccessKind {
        match outcome {
            // The test's assertion failed: a failure. It crashed or hung: an error.
            Outcome::Failed { .. } => NonSuccessKind::Failure,
            _ => NonSuccessKind::Error,
        }
    }

    fn rerun(result: &TestResult) -> TestRerun {
        let mut rerun = TestRerun::new(Self::failure_kind(&result.outcome));
        let (out, logs) = Self::output(result);
        rerun
            .set_time(result.duration)
            .set_type(result.outcome.kind())
            .set_message(result.outcome.explanation().unwrap_or_default())
            .set_system_out(out)
            .set_system_err(logs);
        rerun
    }

    fn finished(&mut self, result: &TestResult) {
        let reruns = self.reruns.remove(&result.name).unwrap_or_default();
        let status = match &result.outcome {
            Outcome::Passed | Outcome::Flaky { .. } => TestCaseStatus::Success { flaky_runs: reruns },
            Outcome::Ignored { reason } => {
                let mut status = TestCaseStatus::skipped();
                if let Some(reason) = reason {
                    status.set_message(reason.as_str());
                }
                status
            }
            outcome => {
                let mut status = TestCaseStatus::non_success(Self::failure_kind(outcome));
                status
                    .set_type(outcome.kind())
                    .set_message(outcome.explanation().unwrap_or_default())
                    .add_reruns(reruns);
                status
            }
        };
        let mut case = TestCase::new(result.name.as_str(), status);
        let (out, logs) = Self::output(result);
        case.set_classname(self.suite.name.as_str())
            .set_time(result.duration);
        if !out.is_empty() {
            case.set_system_out(out);
        }
        if !logs.is_empty() {
            case.set_system_err(logs);
        }
        if !result.leftovers.is_empty() {
            case.add_property(("mptest.leftovers", result.leftovers.join(", ").as_str()));
        }
        self.suite.add_test_case(case);
    }

    /// A fixture's setup or teardown, as a test case of its own (`fixture::setup::<name>`),
    /// so a report reader sees when and where it ran, what it printed and whether it failed.
    fn fixture(&mut self, event: &crate::fixtures::FixtureEvent, process: &str) {
        let phase = match event.phase {
            crate::fixtures::Phase::Setup => "setup",
            crate::fixtures::Phase::Teardown => "teardown",
        };
        let status = match &event.failure {
            None => TestCaseStatus::success(),
            Some(failure) => {
                let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
                status
                    .set_type(format!("fixture-{phase}"))
                    .set_message(failure.as_str());
                status
            }
        };
        let mut case = TestCase::new(format!("fixture::{phase}::{}", event.fixture), status);
        case.set_classname(format!("{}::fixtures", self.suite.name.as_str()))
            .set_time(std::time::Duration::from_nanos(event.duration_ns))
            .add_property(("mptest.fixture.scope", event.scope.as_str()))
            .add_property(("mptest.fixture.process", process));
        if !event.output.is_empty() {
            case.set_system_out(event.output.as_str());
        }
        self.suite.add_test_case(case);
    }

    /// Tests the run never got to (interrupted, or no worker could be started): errors, so a
    /// report reader sees the run was not whole and which tests it lacks.
    fn not_run(&mut self, summary: &super::Summary) {
        let why = summary.fatal.as_deref().unwrap_or("the run ended early");
        for name in &summary.not_run {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Error);
            status
                .set_type("not-run")
                .set_message(format!("did not run: {why}"));
            let mut case = TestCase::new(name.as_str(), status);
            case.set_classname(self.suite.name.as_str());
            self.suite.add_test_case(case);
        }
    }

    fn write(&mut self, duration: std::time::Duration) {
        let mut report = Report::new("mptest");
        self.suite.set_time(duration);
        report.set_time(duration).add_test_suite(self.suite.clone());
        let written = match &self.path {
            Some(path) => std::fs::File::create(path)
                .map_err(|e| e.to_string())
                .and_then(|file| {
                    report
                        .serialize(std::io::BufWriter::new(file))
                        .map_err(|e| e.to_string())
                }),
            None => {
                let mut out = std::io::stdout().lock();
                report.serialize(&mut out).map_err(|e| e.to_string()).map(|()| {
                    let _ = writeln!(out);
                })
            }
        };
        if let Err(err) = written {
            let place = self
                .path
                .as_ref()
                .map_or("to stdout".into(), |p| p.display().to_string());
            eprintln!("mptest: cannot write the JUnit report {place}: {err}");
        }
    }
}

impl Reporter for Junit {
    fn report(&mut self, event: &Event<'_>) {
        match event {
            Event::TestRetrying { result, .. } => {
                self.reruns
                    .entry(result.name.clone())
                    .or_default()
                    .push(Self::rerun(result));
            }
            Event::TestFinished { result } => self.finished(result),
            Event::Fixture { event, process } => self.fixture(event, process),
            Event::RunFinished { summary } => {
                self.not_run(summary);
                self.write(summary.duration)
            }
            _ => {}
        }
    }
}
