//! What the runner tells reporters. The runner never prints; it emits these.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::capture::CapturedOutput;

/// How a test failed inside its worker (the worker itself still ran).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum FailureKind {
    /// It panicked (and was not `should_panic`).
    Panicked,
    /// It returned `Err`.
    ReturnedError,
    /// `should_panic` was not met: no panic, or a panic without the expected text.
    ShouldPanic,
    /// It passed, but left processes running, and `--leak-result fail` makes that a failure.
    LeftProcesses,
    /// It passed only on a retry, and `--flaky-result fail` makes that a failure.
    Flaky,
    /// A fixture it needs could not be set up.
    Fixture,
    /// It passed, but took longer than its critical time, and `--ensure-time` makes that a
    /// failure.
    TimeLimit,
}

impl FailureKind {
    /// A short word for machine readers: `panicked`, `returned_error`, `should_panic`,
    /// `left_processes`, `flaky`, `fixture`, `time_limit`.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Panicked => "panicked",
            FailureKind::ReturnedError => "returned_error",
            FailureKind::ShouldPanic => "should_panic",
            FailureKind::LeftProcesses => "left_processes",
            FailureKind::Flaky => "flaky",
            FailureKind::Fixture => "fixture",
            FailureKind::TimeLimit => "time_limit",
        }
    }
}

/// How a test ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// It passed on its first run.
    Passed,
    /// It failed, then passed on a retry: attempt `passed_on` of its runs.
    Flaky {
        /// 1-based attempt that passed.
        passed_on: u32,
    },
    /// It panicked, returned `Err`, or did not panic as `should_panic` asked.
    Failed {
        /// What went wrong.
        message: String,
        /// Which way it failed.
        kind: FailureKind,
    },
    /// Its worker died under it: a signal, an abort, `process::exit`, a broken channel.
    Crashed {
        /// The cause, in words ("killed by signal SIGSEGV (segmentation fault)").
        cause: String,
    },
    /// The run was interrupted (Ctrl-C, SIGTERM, `--run-timeout`) while it ran; its processes
    /// were ended. Counted as a failure, apart from crashes.
    Interrupted {
        /// Why: "interrupted by SIGINT (interrupt)", "ended by --run-timeout after 5s".
        why: String,
    },
    /// It ran past its timeout and its worker's processes were ended.
    TimedOut {
        /// The timeout it had.
        after: Duration,
    },
    /// It was not run.
    Ignored {
        /// The reason given in `ignore = "..."`, if any.
        reason: Option<String>,
    },
}

impl Outcome {
    /// Passed or flaky.
    pub fn is_success(&self) -> bool {
        matches!(self, Outcome::Passed | Outcome::Flaky { .. })
    }

    /// Failed, crashed, interrupted or timed out.
    pub fn is_failure(&self) -> bool {
        matches!(
            self,
            Outcome::Failed { .. }
                | Outcome::Crashed { .. }
                | Outcome::Interrupted { .. }
                | Outcome::TimedOut { .. }
        )
    }

    /// A short word for machine readers: passed, flaky, failed, crashed, interrupted, timed-out,
    /// ignored.
    pub fn kind(&self) -> &'static str {
        match self {
            Outcome::Passed => "passed",
            Outcome::Flaky { .. } => "flaky",
            Outcome::Failed { .. } => "failed",
            Outcome::Crashed { .. } => "crashed",
            Outcome::Interrupted { .. } => "interrupted",
            Outcome::TimedOut { .. } => "timed-out",
            Outcome::Ignored { .. } => "ignored",
        }
    }

    /// The failure explained in one line or more, for reports; `None` for successes.
    pub fn explanation(&self) -> Option<String> {
        match self {
            Outcome::Failed { message, .. } => Some(message.clone()),
            Outcome::Crashed { cause } => Some(format!("crashed: {cause}")),
            Outcome::Interrupted { why } => Some(format!("{why} while it ran; its processes were ended")),
            Outcome::TimedOut { after } => Some(format!(
                "timed out after {}; its processes were ended",
                humantime::format_duration(*after)
            )),
            _ => None,
        }
    }
}

/// One finished test.
#[derive(Debug, Clone)]
pub struct TestResult {
    /// The test's name.
    pub name: String,
    /// How it ended.
    pub outcome: Outcome,
    /// How long it ran (zero for ignored tests).
    pub duration: Duration,
    /// What it and the processes it started wrote (`None` when not captured).
    pub output: Option<CapturedOutput>,
    /// Processes it left running, which were ended ("1234 (sleep)").
    pub leftovers: Vec<String>,
    /// The `log`/`tracing` records of its processes ([`mod@crate::logs`]); none when its own process
    /// crashed (they are in its output).
    pub logs: Vec<crate::logs::LogRecord>,
}

/// The counts of a run, as libtest's closing line gives them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Passed and flaky tests.
    pub passed: usize,
    /// Of those, the tests that passed only on a retry.
    pub flaky: usize,
    /// Failed, crashed and timed-out tests.
    pub failed: usize,
    /// Ignored tests.
    pub ignored: usize,
    /// Tests left out by filters.
    pub filtered_out: usize,
    /// Wall time of the run.
    pub duration: Duration,
    /// A problem that ended the run early, if any.
    pub fatal: Option<String>,
    /// The tests that did not run because of it (an interruption, a worker that could not be
    /// started), by name.
    pub not_run: Vec<String>,
    /// Fixture teardowns that failed.
    pub teardown_failures: usize,
    /// CPU time (user + system) the coordinator itself used, not its workers.
    pub coordinator_cpu: Duration,
    /// The coordinator's peak resident memory, in KiB.
    pub coordinator_max_rss_kib: u64,
}

impl Summary {
    /// True when every selected test passed and nothing ended the run early.
    pub fn ok(&self) -> bool {
        self.failed == 0 && self.fatal.is_none() && self.teardown_failures == 0
    }
}

/// Something that happened in the run.
#[derive(Debug)]
#[non_exhaustive]
pub enum Event<'a> {
    /// The run starts with this many tests (ignored ones included, as libtest counts).
    RunStarted {
        /// Tests that will be reported.
        test_count: usize,
    },
    /// A test was handed to a worker.
    TestStarted {
        /// Its name.
        name: &'a str,
        /// 1 for its first run, 2 for its first retry, ...
        attempt: u32,
    },
    /// A test is still running after a multiple of the slow period.
    TestSlow {
        /// Its name.
        name: &'a str,
        /// How long it has run.
        elapsed: Duration,
    },
    /// A test failed and will run again.
    TestRetrying {
        /// The failed attempt.
        result: &'a TestResult,
        /// The attempt that failed (1-based).
        attempt: u32,
        /// All attempts allowed.
        of: u32,
    },
    /// A test ended.
    TestFinished {
        /// How.
        result: &'a TestResult,
    },
    /// A fixture was set up or torn down.
    Fixture {
        /// What happened.
        event: &'a crate::fixtures::FixtureEvent,
        /// Where: `worker 2`, `the fixture host`.
        process: &'a str,
    },
    /// Something worth saying that belongs to no test.
    Notice {
        /// The text.
        message: &'a str,
    },
    /// The run ended.
    RunFinished {
        /// Its counts.
        summary: &'a Summary,
    },
}
