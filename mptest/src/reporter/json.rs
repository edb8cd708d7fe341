//! libtest's JSON events (`--format json`), one object a line, plus an `mptest` field where
//! mptest knows more than libtest (crashed, timed out, flaky, leftovers).

use std::io::Write;

use serde_json::{json, Value};

use super::{Event, Outcome, Reporter};

/// The JSON reporter.
pub(crate) struct Json<W: Write> {
    out: W,
    show_output: bool,
}

impl<W: Write> Json<W> {
    pub(crate) fn new(out: W, show_output: bool) -> Self {
        Json { out, show_output }
    }

    fn emit(&mut self, value: Value) {
        let _ = writeln!(self.out, "{value}");
        let _ = self.out.flush();
    }
}

impl<W: Write> Reporter for Json<W> {
    fn report(&mut self, event: &Event<'_>) {
        let value = match event {
            Event::RunStarted { test_count } => {
                json!({ "type": "suite", "event": "started", "test_count": test_count })
            }
            Event::TestStarted { name } => json!({ "type": "test", "event": "started", "name": name }),
            // libtest's event for a test past its 60 s warning.
            Event::TestSlow { name, .. } => json!({ "type": "test", "event": "timeout", "name": name }),
            Event::TestRetrying { .. } => return,
            Event::TestFinished { result } => {
                let mut v = match &result.outcome {
                    Outcome::Ignored { reason } => {
                        let mut v = json!({ "type": "test", "event": "ignored", "name": result.name });
                        if let Some(reason) = reason {
                            v["message"] = json!(reason);
                        }
                        v
                    }
                    outcome => {
                        let event = if outcome.is_success() { "ok" } else { "failed" };
                        let mut v = json!({
                            "type": "test",
                            "event": event,
                            "name": result.name,
                            "exec_time": result.duration.as_secs_f64(),
                        });
                        let mut stdout = result.output.as_ref().map(|o| o.to_text()).unwrap_or_default();
                        if let Some(text) = outcome.explanation() {
                            if !stdout.contains(&text) {
                                stdout.push_str(&text);
                                stdout.push('\n');
                            }
                            v["message"] = json!(text);
                        }
                        // As libtest: a passed test's output only with --show-output.
                        if !stdout.is_empty() && (!outcome.is_success() || self.show_output) {
                            v["stdout"] = json!(stdout);
                        }
                        v
                    }
                };
                v["mptest"] = json!({ "outcome": result.outcome.kind(), "leftovers": result.leftovers });
                if let Some(out) = &result.output {
                    v["mptest"]["output_bytes"] = json!(out.total_bytes());
                    v["mptest"]["output_cut_bytes"] = json!(out.cut_bytes());
                }
                v
            }
            Event::Notice { message } => json!({ "type": "mptest", "event": "notice", "message": message }),
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
                v
            }
        };
        self.emit(value);
    }
}
