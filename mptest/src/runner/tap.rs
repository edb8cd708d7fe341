//! What the run reports passes through here on its way to the reporters: each finished
//! test's duration and outcome kept for the timings file, ignored tests reported in their
//! turn, and — one test at a time — starts said in libtest's order.

use std::cell::RefCell;
use std::collections::VecDeque;

use super::timings;
use crate::registry;
use crate::reporter::{Event, Outcome, Reporter, TestResult};

/// Passes events on to the output's reporter and the files' ones (JUnit, `--logfile`), and
/// keeps each finished test's duration and outcome for the timings file. Reports each ignored
/// test where libtest does, when its turn comes: after the tests before it ended. One test at
/// a time, a test is said to start once the one before it ended (a worker starts the test
/// handed to it ahead at once), as libtest says it.
pub(super) struct Tap<'r> {
    inner: &'r mut dyn Reporter,
    files: Vec<Box<dyn Reporter>>,
    measured: &'r RefCell<Vec<timings::Measured>>,
    /// Ignored tests not reported yet, each with the number of tests that run before it, the
    /// next one last.
    ignored: Vec<(usize, usize)>,
    tests: &'r [(String, &'static registry::TestDef)],
    /// Tests that ran and ended (not those ignored, not an attempt to be retried).
    ended: usize,
    /// One worker: tests start one after another.
    one_at_a_time: bool,
    /// Attempts said to have started and not yet ended.
    running: usize,
    /// Starts not said yet (one at a time): name and attempt.
    held: VecDeque<(String, u32)>,
    /// The last start said.
    current: Option<(String, u32)>,
}

impl<'r> Tap<'r> {
    /// A tap on `inner` and `files`, keeping durations in `measured`; `ignored`: where each
    /// ignored test stands (see [`super::plan::interleave`]); `one_at_a_time`: one worker.
    pub(super) fn new(
        inner: &'r mut dyn Reporter,
        files: Vec<Box<dyn Reporter>>,
        measured: &'r RefCell<Vec<timings::Measured>>,
        mut ignored: Vec<(usize, usize)>,
        tests: &'r [(String, &'static registry::TestDef)],
        one_at_a_time: bool,
    ) -> Self {
        ignored.reverse();
        Tap {
            inner,
            files,
            measured,
            ignored,
            tests,
            ended: 0,
            one_at_a_time,
            running: 0,
            held: VecDeque::new(),
            current: None,
        }
    }

    fn pass_on(&mut self, event: &Event<'_>) {
        self.inner.report(event);
        for file in &mut self.files {
            file.report(event);
        }
    }

    /// Reports the ignored tests whose turn came once `ended` tests ended (all, for `None`).
    fn ignored_after(&mut self, ended: Option<usize>) {
        while let Some(&(i, before)) = self.ignored.last() {
            if ended.is_some_and(|ended| before > ended) {
                return;
            }
            self.ignored.pop();
            let (name, def) = &self.tests[i];
            let result = TestResult {
                name: name.clone(),
                outcome: Outcome::Ignored {
                    reason: def.ignored_because().filter(|r| !r.is_empty()),
                },
                duration: Default::default(),
                output: None,
                leftovers: vec![],
                logs: vec![],
            };
            // libtest announces ignored tests too.
            self.pass_on(&Event::TestStarted { name, attempt: 1 });
            self.pass_on(&Event::TestFinished { result: &result });
        }
    }

    /// An attempt ended: the next one held back starts.
    fn attempt_ended(&mut self) {
        self.running = self.running.saturating_sub(1);
        if let Some((name, attempt)) = self.held.pop_front() {
            self.running += 1;
            self.pass_on(&Event::TestStarted { name: &name, attempt });
            self.current = Some((name, attempt));
        }
    }
}

impl Reporter for Tap<'_> {
    fn report(&mut self, event: &Event<'_>) {
        match event {
            Event::TestStarted { name, attempt } if self.one_at_a_time && self.running > 0 => {
                // Said again (its worker went away as it was sent): once is enough.
                if self.current.as_ref() != Some(&(name.to_string(), *attempt)) {
                    self.held.push_back((name.to_string(), *attempt));
                }
                return;
            }
            Event::TestStarted { name, attempt } => {
                self.running += 1;
                self.current = Some((name.to_string(), *attempt));
            }
            Event::RunFinished { .. } => {
                self.ignored_after(None);
                while !self.held.is_empty() {
                    self.attempt_ended();
                }
            }
            _ => {}
        }
        self.pass_on(event);
        match event {
            Event::RunStarted { .. } => self.ignored_after(Some(0)),
            Event::TestRetrying { .. } => self.attempt_ended(),
            Event::TestFinished { result } if !matches!(result.outcome, Outcome::Ignored { .. }) => {
                // An interrupted test's time says nothing of how long it takes.
                let interrupted = matches!(result.outcome, Outcome::Interrupted { .. });
                self.measured.borrow_mut().push(timings::Measured {
                    name: result.name.clone(),
                    seconds: (!interrupted).then_some(result.duration.as_secs_f64()),
                    failed: result.outcome.is_failure(),
                });
                self.ended += 1;
                self.ignored_after(Some(self.ended));
                self.attempt_ended();
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reporter::Summary;

    /// What reached the reporter: `start a`, `end a`, `ignored b`.
    struct Said(Vec<String>);

    impl Reporter for Said {
        fn report(&mut self, event: &Event<'_>) {
            match event {
                Event::TestStarted { name, .. } => self.0.push(format!("start {name}")),
                Event::TestFinished { result } => match result.outcome {
                    Outcome::Ignored { .. } => self.0.push(format!("ignored {}", result.name)),
                    _ => self.0.push(format!("end {}", result.name)),
                },
                _ => {}
            }
        }
    }

    fn passed(name: &str) -> TestResult {
        TestResult {
            name: name.into(),
            outcome: Outcome::Passed,
            duration: Default::default(),
            output: None,
            leftovers: vec![],
            logs: vec![],
        }
    }

    /// Tests a, c and d run; b, ignored, stands after a. One worker: d, handed out ahead,
    /// starts (for the scheduler) before c's result comes.
    #[test]
    fn one_at_a_time_starts_wait_for_the_end_before_and_an_ignored_test_comes_in_its_turn() {
        let defs: &'static [registry::TestDef] = Box::leak(Box::new([
            registry::test_def("suite", "a", 1),
            registry::test_def("suite", "b", 2),
        ]));
        let tests: Vec<(String, &'static registry::TestDef)> =
            vec![("a".into(), &defs[0]), ("b".into(), &defs[1])];
        let (mut said, measured) = (Said(Vec::new()), RefCell::new(Vec::new()));
        let mut tap = Tap::new(&mut said, Vec::new(), &measured, vec![(1, 1)], &tests, true);
        tap.report(&Event::RunStarted { test_count: 4 });
        tap.report(&Event::TestStarted { name: "a", attempt: 1 });
        tap.report(&Event::TestFinished { result: &passed("a") });
        tap.report(&Event::TestStarted { name: "c", attempt: 1 });
        tap.report(&Event::TestStarted { name: "d", attempt: 1 });
        tap.report(&Event::TestFinished { result: &passed("c") });
        tap.report(&Event::TestFinished { result: &passed("d") });
        tap.report(&Event::RunFinished { summary: &Summary::default() });
        drop(tap);
        assert_eq!(
            said.0,
            ["start a", "end a", "start b", "ignored b", "start c", "end c", "start d", "end d"]
        );
        let kept: Vec<String> = measured.borrow().iter().map(|m| m.name.clone()).collect();
        assert_eq!(kept, ["a", "c", "d"], "the ignored test has no duration to keep");
    }
}
