//! libtest's `--logfile PATH`: one line per finished test, in libtest's words — `ok NAME`,
//! `failed NAME`, `failed: MESSAGE NAME` (a `should_panic` not met, or what libtest cannot
//! have: a crash, a timeout), `failed (time limit exceeded) NAME`, `ignored NAME`,
//! `ignored: REASON NAME` — followed by ` <0.012s>` with `--report-time`.

use std::io::Write;

use super::{Event, FailureKind, Outcome, Reporter, TestResult};

/// Writes the log as results come.
pub(crate) struct Logfile<W: Write> {
    out: W,
    report_time: bool,
}

impl<W: Write> Logfile<W> {
    pub(crate) fn new(out: W, report_time: bool) -> Self {
        Logfile { out, report_time }
    }

    fn line(&self, result: &TestResult) -> String {
        let status = match &result.outcome {
            Outcome::Passed | Outcome::Flaky { .. } => "ok".to_string(),
            Outcome::Failed {
                kind: FailureKind::TimeLimit,
                ..
            } => "failed (time limit exceeded)".to_string(),
            Outcome::Failed {
                kind: FailureKind::ShouldPanic,
                message,
            } => format!("failed: {message}"),
            Outcome::Failed { .. } => "failed".to_string(),
            Outcome::Ignored { reason: None } => "ignored".to_string(),
            Outcome::Ignored { reason: Some(reason) } => format!("ignored: {reason}"),
            other => format!("failed: {}", other.explanation().unwrap_or_default()),
        };
        let time = match (&result.outcome, self.report_time) {
            (Outcome::Ignored { .. }, _) | (_, false) => String::new(),
            (_, true) => format!(" <{:.3}s>", result.duration.as_secs_f64()),
        };
        format!("{status} {}{time}\n", result.name)
    }
}

impl<W: Write> Reporter for Logfile<W> {
    fn report(&mut self, event: &Event<'_>) {
        match event {
            Event::TestFinished { result } => {
                let line = self.line(result);
                let _ = self.out.write_all(line.as_bytes());
            }
            Event::RunFinished { .. } => {
                let _ = self.out.flush();
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_libtests_lines() {
        let result = |name: &str, outcome: Outcome| TestResult {
            name: name.into(),
            outcome,
            duration: std::time::Duration::from_millis(12),
            output: None,
            leftovers: Vec::new(),
            logs: Vec::new(),
        };
        let mut log = Logfile::new(Vec::new(), false);
        for r in [
            result("a", Outcome::Passed),
            result(
                "b",
                Outcome::Failed {
                    kind: FailureKind::Panicked,
                    message: "boom".into(),
                },
            ),
            result(
                "c",
                Outcome::Failed {
                    kind: FailureKind::ShouldPanic,
                    message: "no panic".into(),
                },
            ),
            result(
                "d",
                Outcome::Ignored {
                    reason: Some("lab".into()),
                },
            ),
        ] {
            log.report(&Event::TestFinished { result: &r });
        }
        assert_eq!(
            String::from_utf8(log.out).unwrap(),
            "ok a\nfailed b\nfailed: no panic c\nignored: lab d\n"
        );
        let mut timed = Logfile::new(Vec::new(), true);
        timed.report(&Event::TestFinished {
            result: &result("a", Outcome::Passed),
        });
        assert_eq!(String::from_utf8(timed.out).unwrap(), "ok a <0.012s>\n");
    }
}
