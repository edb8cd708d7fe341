//! libtest's JSON events (`--format json`), one object a line, field for field as libtest
//! writes them for the same suite, plus an `mptest` field where mptest knows more than libtest
//! (crashed, timed out, flaky, leftovers, output size, duration). What libtest has no event for
//! — a failed attempt of a retried test, a notice — is an event of `"type": "mptest"`, which
//! libtest's readers pass over.

use std::io::Write;

use super::json_text::Json as Value;

use super::{Event, FailureKind, Outcome, Reporter, TestResult};

/// The JSON reporter.
pub(crate) struct Json<W: Write> {
    out: W,
    show_output: bool,
    /// `--report-time`: libtest's `exec_time` on test events.
    report_time: bool,
}

impl<W: Write> Json<W> {
    pub(crate) fn new(out: W, show_output: bool, report_time: bool) -> Self {
        Json {
            out,
            show_output,
            report_time,
        }
    }

    fn emit(&mut self, value: Value) {
        let _ = writeln!(self.out, "{value}");
        let _ = self.out.flush();
    }

    /// A finished test (or attempt) as libtest's `ok` / `failed` / `ignored` event.
    fn test_event(&self, result: &TestResult) -> Value {
        let mut v = match &result.outcome {
            Outcome::Ignored { reason } => {
                let mut v = Value::object([
                    ("type", "test".into()),
                    ("name", result.name.as_str().into()),
                    ("event", "ignored".into()),
                ]);
                if let Some(reason) = reason {
                    v.set("message", reason.as_str());
                }
                v
            }
            outcome => {
                let event = if outcome.is_success() { "ok" } else { "failed" };
                let mut v = Value::object([
                    ("type", "test".into()),
                    ("name", result.name.as_str().into()),
                    ("event", event.into()),
                ]);
                if self.report_time {
                    v.set("exec_time", result.duration.as_secs_f64());
                }
                let mut stdout = result.output.as_ref().map(|o| o.to_text()).unwrap_or_default();
                // libtest's `message` is the reason a `should_panic` test failed; a panic or an
                // `Err` is in the output (a failing `ExitCode` nowhere). A crash or a timeout, which libtest cannot have, gets
                // both: the reason in the output and as the message.
                let explanation = outcome.explanation();
                match outcome {
                    Outcome::Failed {
                        kind: FailureKind::ShouldPanic,
                        message,
                    } => v.set("message", message),
                    Outcome::Failed {
                        kind: FailureKind::Panicked | FailureKind::ReturnedError,
                        ..
                    } => {}
                    _ => {
                        if let Some(text) = &explanation {
                            if !stdout.contains(text.as_str()) {
                                stdout.push_str(text);
                                stdout.push('\n');
                            }
                            if !matches!(outcome, Outcome::Failed { .. }) {
                                v.set("message", text);
                            }
                        }
                    }
                }
                // As libtest: a passed test's output only with --show-output.
                if !stdout.is_empty() && (!outcome.is_success() || self.show_output) {
                    v.set("stdout", stdout);
                }
                v
            }
        };
        let mut mptest = Value::object([
            ("outcome", result.outcome.kind().into()),
            ("leftovers", result.leftovers.clone().into()),
            ("exec_time", result.duration.as_secs_f64().into()),
        ]);
        if let Some(text) = result.outcome.explanation() {
            mptest.set("message", text);
        }
        if let Outcome::Failed { kind, .. } = &result.outcome {
            mptest.set("failure_kind", kind.as_str());
        }
        if !result.logs.is_empty() {
            let logs = result
                .logs
                .iter()
                .map(|r| {
                    Value::object([
                        ("level", r.level.as_str().into()),
                        ("target", r.target.as_str().into()),
                        ("message", r.message.as_str().into()),
                        ("role", r.role.as_str().into()),
                        ("pid", r.pid.into()),
                        (
                            "at",
                            r.at.duration_since(std::time::UNIX_EPOCH)
                                .map_or(0.0, |d| d.as_secs_f64())
                                .into(),
                        ),
                    ])
                })
                .collect::<Vec<_>>();
            mptest.set("logs", logs);
        }
        if let Outcome::Flaky { passed_on } = result.outcome {
            mptest.set("passed_on_attempt", passed_on);
        }
        if let Some(out) = &result.output {
            mptest.set("output_bytes", out.total_bytes());
            mptest.set("output_cut_bytes", out.cut_bytes());
        }
        v.set("mptest", mptest);
        v
    }
}

impl<W: Write> Reporter for Json<W> {
    fn report(&mut self, event: &Event<'_>) {
        let value = match event {
            Event::RunStarted { test_count } => Value::object([
                ("type", "suite".into()),
                ("event", "started".into()),
                ("test_count", (*test_count).into()),
            ]),
            Event::TestStarted { name, attempt: 1 } => Value::object([
                ("type", "test".into()),
                ("event", "started".into()),
                ("name", (*name).into()),
            ]),
            // libtest starts a test once; a retry is mptest's.
            Event::TestStarted { name, attempt } => Value::object([
                ("type", "mptest".into()),
                ("event", "retry_started".into()),
                ("name", (*name).into()),
                ("attempt", (*attempt).into()),
            ]),
            // libtest's event for a test past its 60 s warning.
            Event::TestSlow { name, .. } => Value::object([
                ("type", "test".into()),
                ("event", "timeout".into()),
                ("name", (*name).into()),
            ]),
            Event::TestRetrying { result, attempt, of } => {
                let mut v = self.test_event(result);
                v.set("type", "mptest");
                v.set("event", "attempt_failed");
                v.set("attempt", *attempt);
                v.set("of", *of);
                if let Some(text) = result.outcome.explanation() {
                    v.set("message", text);
                }
                v
            }
            Event::TestFinished { result } => self.test_event(result),
            Event::Notice { message } => Value::object([
                ("type", "mptest".into()),
                ("event", "notice".into()),
                ("message", (*message).into()),
            ]),
            Event::Fixture { event, process } => Value::object([
                ("type", "mptest".into()),
                ("event", "fixture".into()),
                ("fixture", event.fixture.as_str().into()),
                ("scope", event.scope.as_str().into()),
                (
                    "phase",
                    match event.phase {
                        crate::fixtures::Phase::Setup => "setup",
                        crate::fixtures::Phase::Teardown => "teardown",
                    }
                    .into(),
                ),
                ("process", (*process).into()),
                ("ok", event.failure.is_none().into()),
                ("message", event.failure.clone().into()),
                ("output", event.output.as_str().into()),
                ("exec_time", (event.duration_ns as f64 / 1e9).into()),
            ]),
            Event::RunFinished { summary } => {
                let mut v = Value::object([
                    ("type", "suite".into()),
                    ("event", if summary.ok() { "ok" } else { "failed" }.into()),
                    ("passed", summary.passed.into()),
                    ("failed", summary.failed.into()),
                    ("ignored", summary.ignored.into()),
                    ("measured", 0u32.into()),
                    ("filtered_out", summary.filtered_out.into()),
                    ("exec_time", summary.duration.as_secs_f64().into()),
                ]);
                if let Some(fatal) = &summary.fatal {
                    v.set("message", fatal);
                }
                let coordinator = Value::object([
                    ("cpu_s", summary.coordinator_cpu.as_secs_f64().into()),
                    ("max_rss_kib", summary.coordinator_max_rss_kib.into()),
                ]);
                v.set(
                    "mptest",
                    Value::object([
                        ("flaky", summary.flaky.into()),
                        ("teardown_failures", summary.teardown_failures.into()),
                        ("coordinator", coordinator),
                    ]),
                );
                v
            }
        };
        self.emit(value);
    }
}
