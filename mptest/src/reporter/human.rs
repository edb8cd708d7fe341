//! libtest's human output: `test name ... ok` lines (pretty) or one character a test (terse),
//! then the failures with their output, then the closing `test result:` line.

use std::io::Write;

use super::{Event, FailureKind, Outcome, Reporter, Summary, TestResult};

const GREEN: &str = "\x1b[32m";
const RED: &str = "\x1b[31m";
const YELLOW: &str = "\x1b[33m";
const RESET: &str = "\x1b[0m";

/// Terse mode wraps its row of characters as libtest's does (its `QUIET_MODE_MAX_COLUMN`).
const TERSE_WIDTH: usize = 88;

/// The pretty and terse reporter.
pub(crate) struct Human<W: Write> {
    out: W,
    terse: bool,
    color: bool,
    show_output: bool,
    test_count: usize,
    done: usize,
    /// Characters in terse mode's current row.
    column: usize,
    /// Tests libtest marks ` - should panic` (should_panic, not ignored).
    should_panic: std::collections::HashSet<String>,
    /// The seed of libtest's shuffle, said in the `running N tests` line as libtest says it.
    shuffle_seed: Option<u64>,
    failures: Vec<TestResult>,
    successes_with_output: Vec<TestResult>,
    /// Failed attempts of retried tests, with their attempt number and the attempts allowed.
    failed_attempts: Vec<(TestResult, u32, u32)>,
    /// Tests that passed on a retry.
    flaky: Vec<TestResult>,
    /// Notes that would break terse mode's row of characters; printed after it.
    deferred_notes: Vec<String>,
    /// Tests that left processes running, with how many.
    leaked: Vec<(String, usize)>,
    /// Every finished test's time, for the slowest.
    times: Vec<(String, std::time::Duration)>,
    /// One test at a time: `test name ... ` is said when it starts, as libtest says it, so
    /// that what a test prints uncaptured, or a test that hangs, shows under its name.
    name_at_start: bool,
    /// The test whose `test name ... ` is said and whose result is not.
    open: Option<String>,
}

impl<W: Write> Human<W> {
    pub(crate) fn new(out: W, terse: bool, color: bool, show_output: bool) -> Self {
        Human {
            out,
            terse,
            color,
            show_output,
            test_count: 0,
            done: 0,
            column: 0,
            should_panic: Default::default(),
            shuffle_seed: None,
            failures: Vec::new(),
            successes_with_output: Vec::new(),
            failed_attempts: Vec::new(),
            flaky: Vec::new(),
            deferred_notes: Vec::new(),
            leaked: Vec::new(),
            times: Vec::new(),
            name_at_start: false,
            open: None,
        }
    }

    /// One test at a time: say a test's name when it starts (see `name_at_start`).
    pub(crate) fn name_at_start(mut self, yes: bool) -> Self {
        self.name_at_start = yes;
        self
    }

    /// `test name ... `, with libtest's ` - should panic` mark.
    fn name_part(&self, name: &str) -> String {
        let mode = if self.should_panic.contains(name) {
            " - should panic"
        } else {
            ""
        };
        format!("test {name}{mode} ... ")
    }

    /// What comes before `name`'s result: nothing when its name is said already, else its
    /// name (on a line of its own when another test's is open).
    fn before_result(&mut self, name: &str) -> String {
        match self.open.take() {
            Some(open) if open == name => String::new(),
            Some(_) => format!("\n{}", self.name_part(name)),
            None => self.name_part(name),
        }
    }

    /// What libtest adds to the lines it prints: ` - should panic` after these tests' names, and
    /// the shuffle's seed.
    pub(crate) fn with_libtest_marks(
        mut self,
        should_panic: std::collections::HashSet<String>,
        shuffle_seed: Option<u64>,
    ) -> Self {
        self.should_panic = should_panic;
        self.shuffle_seed = shuffle_seed;
        self
    }

    fn paint(&self, color: &str, text: &str) -> String {
        if self.color {
            format!("{color}{text}{RESET}")
        } else {
            text.to_string()
        }
    }

    /// The word after `test name ... `.
    fn status(&self, outcome: &Outcome) -> String {
        match outcome {
            Outcome::Passed => self.paint(GREEN, "ok"),
            Outcome::Flaky { passed_on } => {
                format!(
                    "{} (flaky: passed on attempt {passed_on})",
                    self.paint(GREEN, "ok")
                )
            }
            Outcome::Failed {
                kind: FailureKind::TimeLimit,
                ..
            } => format!("{} (time limit exceeded)", self.paint(RED, "FAILED")),
            Outcome::Failed { .. } => self.paint(RED, "FAILED"),
            Outcome::Crashed { cause } => format!("{} (crashed: {cause})", self.paint(RED, "FAILED")),
            Outcome::Interrupted { why } => format!("{} ({why})", self.paint(RED, "FAILED")),
            Outcome::TimedOut { after } => format!(
                "{} (timed out after {})",
                self.paint(RED, "FAILED"),
                humantime::format_duration(*after)
            ),
            Outcome::Ignored { reason: None } => self.paint(YELLOW, "ignored"),
            Outcome::Ignored { reason: Some(r) } => format!("{}, {r}", self.paint(YELLOW, "ignored")),
        }
    }

    fn terse_char(&self, outcome: &Outcome) -> String {
        match outcome {
            Outcome::Passed | Outcome::Flaky { .. } => ".".into(),
            Outcome::Ignored { .. } => self.paint(YELLOW, "i"),
            _ => self.paint(RED, "F"),
        }
    }

    /// Terse mode's ` done/total` at the end of a row.
    fn end_terse_row(&mut self) -> String {
        self.column = 0;
        format!(" {}/{}\n", self.done, self.test_count)
    }

    fn finished(&mut self, result: &TestResult) {
        let line = if self.terse && result.outcome.is_failure() {
            // libtest names a failure on a line of its own, after the row so far.
            let row = if self.column != 0 {
                self.end_terse_row()
            } else {
                String::new()
            };
            self.done += 1;
            format!("{row}{} --- {}\n", result.name, self.paint(RED, "FAILED"))
        } else if self.terse {
            self.done += 1;
            self.column += 1;
            let mut s = self.terse_char(&result.outcome);
            if self.column % TERSE_WIDTH == TERSE_WIDTH - 1 {
                s.push_str(&self.end_terse_row());
            }
            s
        } else {
            self.done += 1;
            let name = self.before_result(&result.name);
            format!("{name}{}\n", self.status(&result.outcome))
        };
        let _ = self.out.write_all(line.as_bytes());
        if !matches!(result.outcome, Outcome::Ignored { .. }) {
            self.times.push((result.name.clone(), result.duration));
        }
        if !result.leftovers.is_empty() {
            self.leaked.push((result.name.clone(), result.leftovers.len()));
            let note = format!(
                "{} left {} process(es) running, which were ended: {}",
                result.name,
                result.leftovers.len(),
                result.leftovers.join(", ")
            );
            self.note(note);
        }
        let _ = self.out.flush();
        if matches!(result.outcome, Outcome::Flaky { .. }) {
            self.flaky.push(result.clone());
        }
        if result.outcome.is_failure() {
            self.failures.push(result.clone());
        } else if self.show_output && result.output.as_ref().is_some_and(|o| !o.is_empty()) {
            self.successes_with_output.push(result.clone());
        }
    }

    /// A `note: ...` line; in terse mode kept until the row of characters is done.
    fn note(&mut self, text: String) {
        if self.terse {
            self.deferred_notes.push(text);
        } else {
            // A test's open `test name ... ` line ends; its result says its name again.
            if self.open.take().is_some() {
                let _ = writeln!(self.out);
            }
            let _ = writeln!(self.out, "note: {text}");
        }
    }

    /// The failed attempts of the test `name` before its last one.
    fn earlier_attempts(&self, name: &str) -> Vec<(TestResult, u32, u32)> {
        self.failed_attempts
            .iter()
            .filter(|(r, _, _)| r.name == name)
            .cloned()
            .collect()
    }

    /// Whether `r`'s block would hold anything: output, or words on what went wrong (a panic's
    /// are in its output). libtest prints no block for a test that printed nothing.
    fn has_block(r: &TestResult) -> bool {
        let printed = r.output.as_ref().is_some_and(|o| !o.is_empty());
        let explained = match &r.outcome {
            Outcome::Failed {
                kind: FailureKind::Panicked | FailureKind::ReturnedError,
                ..
            } => false,
            Outcome::Failed {
                kind: FailureKind::ShouldPanic,
                ..
            } => true,
            outcome => outcome.explanation().is_some(),
        };
        printed || explained
    }

    /// One `---- name stdout ----` block: the output, then what went wrong. None for a test
    /// that printed nothing and needs no words (with `--nocapture`, say).
    fn block(&mut self, header: &str, r: &TestResult) {
        if !Self::has_block(r) {
            return;
        }
        let _ = writeln!(self.out, "---- {header} ----");
        if let Some(output) = &r.output {
            let _ = self.out.write_all(output.to_text().as_bytes());
        }
        match &r.outcome {
            // A panic's message is already in the output, printed by the panic hook; an `Err`'s
            // by the test's return (as std's `Termination::report` does under libtest), and a
            // failing `ExitCode` has no words under libtest.
            Outcome::Failed {
                kind: FailureKind::Panicked | FailureKind::ReturnedError,
                ..
            } => {}
            // libtest's words for a `should_panic` not met: a note, and no blank line after.
            Outcome::Failed {
                kind: FailureKind::ShouldPanic,
                message,
            } => {
                let _ = writeln!(self.out, "note: {message}");
                return;
            }
            outcome => {
                if let Some(text) = outcome.explanation() {
                    let _ = writeln!(self.out, "{text}");
                }
            }
        }
        let _ = writeln!(self.out);
    }

    /// `---- name stdout ----` sections (a retried test's earlier attempts first), then the
    /// list of names.
    fn section(&mut self, title: &str, results: &[TestResult]) {
        // As libtest: the blank line before the blocks only when there is a block.
        let _ = writeln!(self.out, "\n{title}:");
        let any_block = results.iter().any(|r| {
            Self::has_block(r) || self.earlier_attempts(&r.name).iter().any(|(a, _, _)| Self::has_block(a))
        });
        if any_block {
            let _ = writeln!(self.out);
        }
        for r in results {
            let earlier = self.earlier_attempts(&r.name);
            for (attempt, n, of) in &earlier {
                self.block(
                    &format!("{} stdout (attempt {n} of {of}, failed)", r.name),
                    attempt,
                );
            }
            let header = match earlier.last() {
                Some((_, n, of)) => format!("{} stdout (attempt {} of {of})", r.name, n + 1),
                None => format!("{} stdout", r.name),
            };
            self.block(&header, r);
        }
        let _ = writeln!(self.out, "\n{title}:");
        for r in results {
            match &r.outcome {
                Outcome::Crashed { cause } => {
                    let _ = writeln!(self.out, "    {} (crashed: {cause})", r.name);
                }
                Outcome::Interrupted { why } => {
                    let _ = writeln!(self.out, "    {} ({why})", r.name);
                }
                Outcome::TimedOut { after } => {
                    let _ = writeln!(
                        self.out,
                        "    {} (timed out after {})",
                        r.name,
                        humantime::format_duration(*after)
                    );
                }
                _ => {
                    let _ = writeln!(self.out, "    {}", r.name);
                }
            }
        }
    }

    /// Tests that passed on a retry: what their failed attempts printed and why they failed
    /// (not under `-q`, where a passed test prints nothing), then their names.
    fn flaky_section(&mut self, flaky: &[TestResult]) {
        let blocks: Vec<(String, TestResult)> = match self.terse {
            true => Vec::new(),
            false => flaky
                .iter()
                .flat_map(|r| {
                    self.earlier_attempts(&r.name).into_iter().map(|(attempt, n, of)| {
                        (format!("{} stdout (attempt {n} of {of}, failed)", r.name), attempt)
                    })
                })
                .filter(|(_, attempt)| Self::has_block(attempt))
                .collect(),
        };
        // The blocks under a header of their own, as libtest's failures; none, no header.
        if !blocks.is_empty() {
            let _ = writeln!(self.out, "\nflaky:\n");
            for (header, attempt) in &blocks {
                self.block(header, attempt);
            }
        }
        let _ = writeln!(self.out, "\nflaky:");
        for r in flaky {
            if let Outcome::Flaky { passed_on } = r.outcome {
                let _ = writeln!(self.out, "    {} (passed on attempt {passed_on})", r.name);
            }
        }
    }

    fn closing(&mut self, summary: &Summary) {
        if self.open.take().is_some() {
            let _ = writeln!(self.out);
        }
        // libtest ends an unfinished row with the closing line's own line break; notes kept
        // from terse mode's row need one of their own.
        let notes = std::mem::take(&mut self.deferred_notes);
        if self.terse && self.column != 0 && !notes.is_empty() {
            let _ = writeln!(self.out);
        }
        for note in notes {
            let _ = writeln!(self.out, "note: {note}");
        }
        let mut successes = std::mem::take(&mut self.successes_with_output);
        successes.sort_by(|a, b| a.name.cmp(&b.name));
        if !successes.is_empty() {
            self.section("successes", &successes);
        }
        let mut flaky = std::mem::take(&mut self.flaky);
        flaky.sort_by(|a, b| a.name.cmp(&b.name));
        if !flaky.is_empty() {
            self.flaky_section(&flaky);
        }
        let mut failures = std::mem::take(&mut self.failures);
        failures.sort_by(|a, b| a.name.cmp(&b.name));
        if !failures.is_empty() {
            self.section("failures", &failures);
        }
        // What mptest adds stays out of terse mode's few lines.
        if !self.terse {
            self.run_summary(&failures);
        }
        if let Some(fatal) = &summary.fatal {
            let _ = writeln!(self.out, "\nerror: {fatal}");
        }
        if summary.teardown_failures > 0 {
            let _ = writeln!(
                self.out,
                "\nerror: {} fixture teardown(s) failed (see the notes above)",
                summary.teardown_failures
            );
        }
        let verdict = if summary.ok() {
            self.paint(GREEN, "ok")
        } else {
            self.paint(RED, "FAILED")
        };
        if summary.flaky > 0 {
            // On a line of its own: the `test result:` line stays libtest's, for its readers.
            let _ = writeln!(
                self.out,
                "\n{} of the passed test(s) flaky: passed only on a retry",
                summary.flaky
            );
        }
        let _ = writeln!(
            self.out,
            "\ntest result: {verdict}. {} passed; {} failed; {} ignored; 0 measured; {} filtered out; finished in {:.2}s\n",
            summary.passed,
            summary.failed,
            summary.ignored,
            summary.filtered_out,
            summary.duration.as_secs_f64()
        );
        let _ = self.out.flush();
    }
}

impl<W: Write> Human<W> {
    /// Beyond libtest's lines, where there is something to say: failures by kind, tests that
    /// leaked processes, and the slowest tests (when one took a second or more). A clean, quick
    /// run prints exactly what libtest prints.
    fn run_summary(&mut self, failures: &[TestResult]) {
        let mut lines = Vec::new();
        let mut kinds: Vec<(&str, usize)> = Vec::new();
        for failure in failures {
            let kind = match &failure.outcome {
                Outcome::Failed { kind, .. } => match kind {
                    crate::reporter::FailureKind::Panicked => "panicked",
                    crate::reporter::FailureKind::ReturnedError => "returned Err",
                    crate::reporter::FailureKind::ShouldPanic => "should_panic not met",
                    crate::reporter::FailureKind::LeftProcesses => "left processes (--leak-result fail)",
                    crate::reporter::FailureKind::Flaky => "flaky (--flaky-result fail)",
                    crate::reporter::FailureKind::Fixture => "fixture setup failed",
                    crate::reporter::FailureKind::TimeLimit => "time limit exceeded (--ensure-time)",
                },
                Outcome::Crashed { .. } => "crashed",
                Outcome::Interrupted { .. } => "interrupted",
                Outcome::TimedOut { .. } => "timed out",
                _ => "other",
            };
            match kinds.iter_mut().find(|(k, _)| *k == kind) {
                Some((_, n)) => *n += 1,
                None => kinds.push((kind, 1)),
            }
        }
        if !kinds.is_empty() {
            let by_kind: Vec<String> = kinds.iter().map(|(k, n)| format!("{n} {k}")).collect();
            lines.push(format!("    failed: {}", by_kind.join(", ")));
        }
        if !self.leaked.is_empty() {
            let leaked: Vec<String> = self.leaked.iter().map(|(t, n)| format!("{t} ({n})")).collect();
            lines.push(format!("    left processes running: {}", leaked.join(", ")));
        }
        self.times.sort_by_key(|t| std::cmp::Reverse(t.1));
        if self.times.first().is_some_and(|(_, d)| d.as_secs() >= 1) {
            let slowest: Vec<String> = self
                .times
                .iter()
                .take(5)
                .map(|(t, d)| format!("{t} ({:.2}s)", d.as_secs_f64()))
                .collect();
            lines.push(format!("    slowest: {}", slowest.join(", ")));
        }
        if !lines.is_empty() {
            let _ = writeln!(self.out, "\nsummary:\n{}", lines.join("\n"));
        }
    }
}

/// What to say about a fixture's teardown: its failure, or its output; nothing when it went
/// quietly.
fn fixture_note(event: &crate::fixtures::FixtureEvent, process: &str) -> Option<String> {
    let output = event.output.trim_end();
    let mut text = match &event.failure {
        Some(failure) => format!(
            "fixture `{}` ({} scope, in {process}): teardown FAILED: {failure}",
            event.fixture,
            event.scope.as_str()
        ),
        None if output.is_empty() => return None,
        None => format!(
            "fixture `{}` ({} scope, in {process}) torn down",
            event.fixture,
            event.scope.as_str()
        ),
    };
    if !output.is_empty() {
        text.push_str(&format!("; its output:\n{output}"));
    }
    Some(text)
}

/// "60 seconds", "1 second", or "200ms" below a second.
fn seconds(elapsed: std::time::Duration) -> String {
    match elapsed.as_secs() {
        1 => "1 second".into(),
        n if n > 1 => format!("{n} seconds"),
        _ => humantime::format_duration(std::time::Duration::from_millis(elapsed.as_millis() as u64))
            .to_string(),
    }
}

impl<W: Write> Reporter for Human<W> {
    fn report(&mut self, event: &Event<'_>) {
        match event {
            Event::RunStarted { test_count } => {
                self.test_count = *test_count;
                let plural = if *test_count == 1 { "" } else { "s" };
                let seed = match self.shuffle_seed {
                    Some(seed) => format!(" (shuffle seed: {seed})"),
                    None => String::new(),
                };
                let _ = writeln!(self.out, "\nrunning {test_count} test{plural}{seed}");
            }
            Event::TestStarted { name, .. } if self.name_at_start && !self.terse => {
                // (Another's open line, which cannot be one at a time, ends first.)
                if self.open.take().is_some() {
                    let _ = writeln!(self.out);
                }
                let part = self.name_part(name);
                let _ = write!(self.out, "{part}");
                let _ = self.out.flush();
                self.open = Some(name.to_string());
            }
            Event::TestStarted { .. } => {}
            Event::TestSlow { name, elapsed } => {
                let _ = writeln!(
                    self.out,
                    "test {name} has been running for over {}",
                    seconds(*elapsed)
                );
            }
            Event::TestRetrying { result, attempt, of } => {
                // Terse mode keeps its row: the attempt shows in the failures or flaky section.
                if !self.terse {
                    let name = self.before_result(&result.name);
                    let _ = writeln!(
                        self.out,
                        "{name}{} (attempt {attempt} of {of}; retrying)",
                        self.status(&result.outcome)
                    );
                }
                self.failed_attempts.push(((*result).clone(), *attempt, *of));
            }
            Event::TestFinished { result } => self.finished(result),
            Event::Notice { message } => self.note(message.to_string()),
            Event::Fixture { event, process } => {
                // A setup shows in its test's output (and a failed one fails the tests); a
                // teardown has no test, so it is said here when there is something to say.
                if event.phase == crate::fixtures::Phase::Teardown {
                    if let Some(text) = fixture_note(event, process) {
                        self.note(text);
                    }
                }
            }
            Event::RunFinished { summary } => self.closing(summary),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn result(name: &str, outcome: Outcome) -> TestResult {
        TestResult {
            name: name.into(),
            outcome,
            duration: Duration::ZERO,
            output: None,
            leftovers: vec![],
            logs: vec![],
        }
    }

    #[test]
    fn one_at_a_time_a_test_s_name_is_said_when_it_starts() {
        let mut out = Vec::new();
        let mut r = Human::new(&mut out, false, false, false).name_at_start(true);
        r.report(&Event::RunStarted { test_count: 2 });
        r.report(&Event::TestStarted { name: "a", attempt: 1 });
        r.report(&Event::TestFinished {
            result: &result("a", Outcome::Passed),
        });
        r.report(&Event::TestStarted { name: "b", attempt: 1 });
        // A note of mptest's ends the open line; the result says the name again.
        r.report(&Event::Notice { message: "worker 1 start hooks ran" });
        r.report(&Event::TestFinished {
            result: &result("b", Outcome::Passed),
        });
        drop(r);
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "\nrunning 2 tests\ntest a ... ok\ntest b ... \nnote: worker 1 start hooks ran\ntest b ... ok\n"
        );
    }

    #[test]
    fn slow_notices_say_second_or_seconds() {
        assert_eq!(seconds(Duration::from_millis(1500)), "1 second");
        assert_eq!(seconds(Duration::from_secs(60)), "60 seconds");
        assert_eq!(seconds(Duration::from_millis(200)), "200ms");
    }

    #[test]
    fn prints_libtest_lines_and_names_crashes_in_the_failure_list() {
        let mut out = Vec::new();
        let mut r = Human::new(&mut out, false, false, false);
        r.report(&Event::RunStarted { test_count: 3 });
        r.report(&Event::TestFinished {
            result: &result("a", Outcome::Passed),
        });
        let crash = Outcome::Crashed {
            cause: "killed by signal SIGSEGV (segmentation fault)".into(),
        };
        r.report(&Event::TestFinished {
            result: &result("b", crash),
        });
        r.report(&Event::TestFinished {
            result: &result(
                "c",
                Outcome::Ignored {
                    reason: Some("slow".into()),
                },
            ),
        });
        let summary = Summary {
            passed: 1,
            failed: 1,
            ignored: 1,
            filtered_out: 2,
            ..Summary::default()
        };
        r.report(&Event::RunFinished { summary: &summary });
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("\nrunning 3 tests\n"), "{text}");
        assert!(text.contains("test a ... ok\n"), "{text}");
        assert!(
            text.contains("test b ... FAILED (crashed: killed by signal SIGSEGV"),
            "{text}"
        );
        assert!(text.contains("test c ... ignored, slow\n"), "{text}");
        assert!(
            text.contains("failures:\n    b (crashed: killed by signal SIGSEGV"),
            "{text}"
        );
        assert!(text.contains(
            "test result: FAILED. 1 passed; 1 failed; 1 ignored; 0 measured; 2 filtered out; finished in 0.00s"
        ));
    }
}
