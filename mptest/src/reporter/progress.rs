//! A live progress display on an interactive terminal: a bar of tests done out of all with the
//! failures so far, and a line per running test with its elapsed time, redrawn ten times a
//! second. It draws on stderr; the reporter's own lines go above it (the display is erased
//! while they are written, then drawn again below them), so the output stays libtest's.
//!
//! Written here, not with indicatif: one bar and a few lines are this module, and indicatif
//! brought five crates into every user's build.

use std::io::Write;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::{Event, Reporter};

/// How often the display is redrawn while nothing happens (elapsed times move on).
const TICK: Duration = Duration::from_millis(100);
const BAR_WIDTH: usize = 30;

/// What the display shows, and how many lines of it are on the screen.
#[derive(Default)]
struct Screen {
    total: usize,
    done: usize,
    failures: usize,
    started: Option<Instant>,
    running: Vec<(String, Instant)>,
    /// Lines drawn last time (erased before the next drawing).
    drawn: usize,
    /// The run ended: the ticker stops.
    ended: bool,
}

impl Screen {
    /// Erases what was drawn: up as many lines, and clear to the end of the screen.
    fn erase(&mut self, out: &mut impl Write) {
        if self.drawn > 0 {
            let _ = write!(out, "\x1b[{}A\x1b[J", self.drawn);
            self.drawn = 0;
        }
    }

    fn draw(&mut self, out: &mut impl Write) {
        self.erase(out);
        let Some(started) = self.started else {
            return; // no bar before the run starts (its length is not known yet)
        };
        let width = terminal_width();
        let filled = (BAR_WIDTH * self.done).checked_div(self.total).unwrap_or(0);
        let bar = match BAR_WIDTH - filled {
            0 => "=".repeat(BAR_WIDTH),
            rest => format!("{}>{}", "=".repeat(filled), " ".repeat(rest - 1)),
        };
        let mut lines = vec![format!(
            "{:>5} [{bar}] {}/{} tests done, {} failed",
            short_time(started.elapsed()),
            self.done,
            self.total,
            self.failures
        )];
        for (name, since) in &self.running {
            lines.push(format!("  {:>4} {name}", short_time(since.elapsed())));
        }
        for line in &lines {
            // One screen line each (a wrapped line would throw off the erasing).
            let cut: String = line.chars().take(width.saturating_sub(1)).collect();
            let _ = writeln!(out, "{cut}");
        }
        let _ = out.flush();
        self.drawn = lines.len();
    }
}

/// `12s`, `3m 4s`.
fn short_time(d: Duration) -> String {
    let s = d.as_secs();
    if s < 60 {
        format!("{s}s")
    } else {
        format!("{}m {}s", s / 60, s % 60)
    }
}

/// Columns of the terminal on stderr (80 if it cannot be asked).
fn terminal_width() -> usize {
    // SAFETY: TIOCGWINSZ fills a winsize we own.
    let mut size: libc::winsize = unsafe { std::mem::zeroed() };
    let ok = unsafe { libc::ioctl(libc::STDERR_FILENO, libc::TIOCGWINSZ, &mut size) } == 0;
    if ok && size.ws_col > 0 {
        usize::from(size.ws_col)
    } else {
        80
    }
}

type Shared = Arc<(Mutex<Screen>, Condvar)>;

/// The live display, and the reporter whose lines go above it.
pub(crate) struct Progress<'r> {
    inner: &'r mut dyn Reporter,
    screen: Shared,
    ticker: Option<std::thread::JoinHandle<()>>,
}

impl<'r> Progress<'r> {
    pub(crate) fn new(inner: &'r mut dyn Reporter) -> Self {
        let screen: Shared = Arc::default();
        let ticking = screen.clone();
        let ticker = std::thread::Builder::new()
            .name("mptest-progress".into())
            .spawn(move || {
                let (lock, wake) = &*ticking;
                let mut screen = lock.lock().unwrap_or_else(PoisonError::into_inner);
                while !screen.ended {
                    screen = wake
                        .wait_timeout(screen, TICK)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0;
                    if !screen.ended {
                        screen.draw(&mut std::io::stderr().lock());
                    }
                }
            })
            .ok();
        Progress { inner, screen, ticker }
    }

    fn end(&mut self) {
        let (lock, wake) = &*self.screen;
        lock.lock().unwrap_or_else(PoisonError::into_inner).ended = true;
        wake.notify_all();
        if let Some(ticker) = self.ticker.take() {
            let _ = ticker.join();
        }
    }
}

impl Drop for Progress<'_> {
    fn drop(&mut self) {
        self.end();
    }
}

impl Reporter for Progress<'_> {
    fn report(&mut self, event: &Event<'_>) {
        let (lock, _) = &*self.screen;
        let mut screen = lock.lock().unwrap_or_else(PoisonError::into_inner);
        let mut err = std::io::stderr().lock();
        // The reporter's lines go above the display.
        screen.erase(&mut err);
        self.inner.report(event);
        let _ = std::io::stdout().flush();
        match event {
            Event::RunStarted { test_count } => {
                screen.total = *test_count;
                screen.started = Some(Instant::now());
            }
            Event::TestStarted { name, .. } => {
                screen.running.retain(|(running, _)| running != name);
                screen.running.push((name.to_string(), Instant::now()));
            }
            Event::TestRetrying { result, .. } | Event::TestFinished { result } => {
                screen.running.retain(|(running, _)| *running != result.name);
                if matches!(event, Event::TestFinished { .. }) {
                    screen.done += 1;
                    if result.outcome.is_failure() {
                        screen.failures += 1;
                    }
                }
            }
            Event::RunFinished { .. } => {
                screen.ended = true;
                return;
            }
            _ => {}
        }
        screen.draw(&mut err);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_a_bar_and_running_tests_and_erases_them_again() {
        let mut screen = Screen {
            total: 4,
            done: 2,
            failures: 1,
            started: Some(Instant::now()),
            running: vec![("a::slow".into(), Instant::now())],
            ..Screen::default()
        };
        let mut out = Vec::new();
        screen.draw(&mut out);
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("[===============>              ] 2/4 tests done, 1 failed\n"), "{text}");
        assert!(text.contains("    0s a::slow\n"), "{text}");
        let mut out = Vec::new();
        screen.erase(&mut out);
        assert_eq!(out, b"\x1b[2A\x1b[J");
        // Nothing before the run starts: no 0/0 bar.
        let mut fresh = Screen::default();
        let mut out = Vec::new();
        fresh.draw(&mut out);
        assert!(out.is_empty());
    }
}
