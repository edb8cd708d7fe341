//! libtest's JSON events (`--format json`), one object a line, field for field as libtest
//! writes them for the same suite, plus an `mptest` field where mptest knows more than libtest
//! (crashed, timed out, flaky, leftovers, output size, duration). What libtest has no event for
//! — a failed attempt of a retried test, a notice — is an event of `"type": "mptest"`, which
//! libtest's readers pass over.

use std::io::Write;

use serde_json::{json, Value};

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
                let mut v = json!({ "type": "test", "name": result.name, "event": "ignored" });
                if let Some(reason) = reason {
                    v["message"] = json!(reason);
                }
                v
            }
            outcome => {
                let event = if outcome.is_success() { "ok" } else { "failed" };
                let mut v = json!({ "type": "test", "name": result.name, "event": event });
                if self.report_time {
                    v["exec_time"] = json!(result.duration.as_secs_f64());
                }
                let mut stdout = result.output.as_ref().map(|o| o.to_text()).unwrap_or_default();
                // libtest's `message` is the reason a `should_panic` test failed; a panic or an
                // `Err` is in the output. A crash or a timeout, which libtest cannot have, gets
                // both: the reason in the output and as the message.
                let explanation = outcome.explanation();
                match outcome {
                    Outcome::Failed {
                        kind: FailureKind::ShouldPanic,
                        message,
                    } => v["message"] = json!(message),
                    Outcome::Failed {
                        kind: FailureKind::Panicked,
                        ..
                    } => {}
                    _ => {
                        if let Some(text) = &explanation {
                            if !stdout.contains(text.as_str()) {
                                stdout.push_str(text);
                                stdout.push('\n');
                            }
                            if !matches!(outcome, Outcome::Failed { .. }) {
                                v["message"] = json!(text);
                            }
                        }
                    }
                }
                // As libtest: a passed test's output only with --show-output.
                if !stdout.is_empty() && (!outcome.is_success() || self.show_output) {
                    v["stdout"] = json!(stdout);
                }
                v
            }
        };
        v["mptest"] = json!({
            "outcome": result.outcome.kind(),
            "leftovers": result.leftovers,
            "exec_time": result.duration.as_secs_f64(),
        });
        if let Some(text) = result.outcome.explanation() {
            v["mptest"]["message"] = json!(text);
        }
        if let Outcome::Failed { kind, .. } = &result.outcome {
            v["mptest"]["failure_kind"] = json!(kind.as_str());
        }
        if !result.logs.is_empty() {
            v["mptest"]["logs"] = json!(result
                .logs
                .iter()
                .map(|r| json!({
                    "level": r.level.as_str(),
                    "target": r.target,
                    "message": r.message,
                    "role": r.role,
                    "pid": r.pid,
                    "at": r.at.duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64()),
                }))
                .collect::<Vec<_>>());
        }
        if let Outcome::Flaky { passed_on } = result.outcome {
            v["mptest"]["passed_on_attempt"] = json!(passed_on);
        }
        if let Some(out) = &result.output {
            v["mptest"]["output_bytes"] = json!(out.total_bytes());
            v["mptest"]["output_cut_bytes"] = json!(out.cut_bytes());
        }
        v
    }
}

impl<W: Write> Reporter for Json<W> {
    fn report(&mut self, event: &Event<'_>) {
        let value = match event {
            Event::RunStarted { test_count } => {
                json!({ "type": "suite", "event": "started", "test_count": test_count })
            }
            Event::TestStarted { name, attempt: 1 } => {
                json!({ "type": "test", "event": "started", "name": name })
            }
            // libtest starts a test once; a retry is mptest's.
            Event::TestStarted { name, attempt } => {
                json!({ "type": "mptest", "event": "retry_started", "name": name, "attempt": attempt })
            }
            // libtest's event for a test past its 60 s warning.
            Event::TestSlow { name, .. } => json!({ "type": "test", "event": "timeout", "name": name }),
            Event::TestRetrying { result, attempt, of } => {
                let mut v = self.test_event(result);
                v["type"] = json!("mptest");
                v["event"] = json!("attempt_failed");
                v["attempt"] = json!(attempt);
                v["of"] = json!(of);
                if let Some(text) = result.outcome.explanation() {
                    v["message"] = json!(text);
                }
                v
            }
            Event::TestFinished { result } => self.test_event(result),
            Event::Notice { message } => json!({ "type": "mptest", "event": "notice", "message": message }),
            Event::Fixture { event, process } => json!({
                "type": "mptest",
                "event": "fixture",
                "fixture": event.fixture,
                "scope": event.scope.as_str(),
                "phase": match event.phase {
                    crate::fixtures::Phase::Setup => "setup",
                    crate::fixtures::Phase::Teardown => "teardown",
                },
                "process": process,
                "ok": event.failure.is_none(),
                "message": event.failure,
                "output": event.output,
                "exec_time": event.duration_ns as f64 / 1e9,
            }),
            Event::RunFinished { summary } => {
                let mut v = json!({
                    "type": "suite",
                    "event": if summary.ok() { "ok" } else { "failed" },
                    "passed": summary.passed,
                    "failed": summary.failed,
                    "ignored": summary.ignored,
                    "measured": 0,
                    "filtered_out": summary.filtered_out,
                    "exec_time": summary.duration.as_secs_f64(),
                });
                if let Some(fatal) = &summary.fatal {
                    v["message"] = json!(fatal);
                }
                v["mptest"] = json!({
                    "flaky": summary.flaky,
                    "teardown_failures": summary.teardown_failures,
                    "coordinator": {
                        "cpu_s": summary.coordinator_cpu.as_secs_f64(),
                        "max_rss_kib": summary.coordinator_max_rss_kib,
                    },
                });
                v
            }
        };
        self.emit(value);
    }
}
