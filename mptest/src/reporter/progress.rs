//! A live progress display on an interactive terminal (indicatif): a bar of tests done out of
//! all with the failures so far, and a line per running test with its elapsed time. It draws
//! on stderr; the reporter's own lines go above it (the display steps aside while they are
//! written), so the output stays libtest's.

use std::collections::HashMap;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::{Event, Reporter};

/// The live display, and the reporter whose lines go above it.
pub(crate) struct Progress<'r> {
    inner: &'r mut dyn Reporter,
    multi: MultiProgress,
    bar: ProgressBar,
    running: HashMap<String, ProgressBar>,
    failures: usize,
}

impl<'r> Progress<'r> {
    pub(crate) fn new(inner: &'r mut dyn Reporter) -> Self {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(10));
        let bar = multi.add(ProgressBar::new(0));
        bar.set_style(
            ProgressStyle::with_template("{elapsed:>5} [{bar:30}] {pos}/{len} tests done, {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.set_message("0 failed");
        Progress {
            inner,
            multi,
            bar,
            running: HashMap::new(),
            failures: 0,
        }
    }

    fn running_line(&self, name: &str) -> ProgressBar {
        let line = self.multi.add(ProgressBar::new_spinner());
        line.set_style(
            ProgressStyle::with_template("  {spinner} {elapsed:>4} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        line.set_message(name.to_string());
        line.enable_steady_tick(Duration::from_millis(100));
        line
    }
}

impl Reporter for Progress<'_> {
    fn report(&mut self, event: &Event<'_>) {
        if let Event::RunStarted { test_count } = event {
            self.bar.set_length(*test_count as u64);
        }
        // The reporter's lines go above the display.
        let inner = &mut *self.inner;
        self.multi.suspend(|| inner.report(event));
        match event {
            Event::RunStarted { .. } => self.bar.enable_steady_tick(Duration::from_millis(100)),
            Event::TestStarted { name, .. } => {
                let line = self.running_line(name);
                if let Some(old) = self.running.insert(name.to_string(), line) {
                    old.finish_and_clear();
                }
            }
            Event::TestRetrying { result, .. } | Event::TestFinished { result } => {
                if let Some(line) = self.running.remove(&result.name) {
                    line.finish_and_clear();
                    self.multi.remove(&line);
                }
                if matches!(event, Event::TestFinished { .. }) {
                    self.bar.inc(1);
                    if result.outcome.is_failure() {
                        self.failures += 1;
                        self.bar.set_message(format!("{} failed", self.failures));
                    }
                }
            }
            Event::RunFinished { .. } => {
                for line in self.running.values() {
                    line.finish_and_clear();
                }
                self.bar.finish_and_clear();
                let _ = self.multi.clear();
            }
            _ => {}
        }
    }
}
