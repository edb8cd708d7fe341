//! One worker of the pool as the scheduler keeps it: its state, the timers of the test it runs,
//! and the pairing of each test's result with its output (they come on different paths).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::work::WorkSender;
use nix::sys::signal::Signal;

use super::dispatch::Job;
use crate::capture::{self, CapturedOutput, SharedBuffer};
use crate::protocol::Report;
use crate::reporter::Outcome;

/// Between SIGTERM and SIGKILL when a test times out.
pub(crate) const KILL_GRACE: Duration = Duration::from_secs(1);
/// How long a worker whose channel closed may take to exit by itself before it is killed.
pub(crate) const CHANNEL_CLOSE_GRACE: Duration = Duration::from_millis(500);
/// How long to wait for a dead worker's output pipe to close (something may hold it open).
pub(crate) const OUTPUT_GRACE: Duration = Duration::from_secs(2);

/// Why a running test is being ended.
#[derive(Debug)]
pub(crate) enum Ending {
    TimedOut { sigkill_at: Option<Instant> },
    ChannelClosed { kill_at: Instant },
    Broken { cause: String },
}

/// The test a worker runs.
#[derive(Debug)]
pub(crate) struct Running {
    pub(crate) job: Job,
    pub(crate) started: Instant,
    pub(crate) deadline: Option<Instant>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) next_slow: Option<Instant>,
    pub(crate) ending: Option<Ending>,
}

/// What a running test's timers call for at a moment.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Due {
    /// It crossed a slow threshold: how long it has run (the threshold, as libtest words it).
    pub(crate) slow: Option<Duration>,
    /// A signal for its worker's process group.
    pub(crate) signal: Option<Signal>,
}

impl Running {
    /// `job` starts at `now`, with its timeout and the period of slow reports.
    pub(crate) fn start(job: Job, now: Instant, timeout: Option<Duration>, slow_period: Duration) -> Self {
        Running {
            job,
            started: now,
            // A deadline past what an Instant can hold is no deadline.
            deadline: timeout.and_then(|t| now.checked_add(t)),
            timeout,
            next_slow: now.checked_add(slow_period),
            ending: None,
        }
    }

    /// When a timer of this test next fires.
    pub(crate) fn next_timer(&self) -> Option<Instant> {
        let ending = match &self.ending {
            None => self.deadline,
            Some(Ending::TimedOut { sigkill_at }) => *sigkill_at,
            Some(Ending::ChannelClosed { kill_at }) => Some(*kill_at),
            Some(Ending::Broken { .. }) => None,
        };
        [self.next_slow, ending].into_iter().flatten().min()
    }

    /// Fires what is due at `now`: a slow report, and the signals that end a test past its
    /// deadline (SIGTERM, SIGKILL [`KILL_GRACE`] later) or whose worker closed its channel.
    pub(crate) fn fire(&mut self, now: Instant, slow_period: Duration) -> Due {
        let mut due = Due::default();
        if let Some(slow) = self.next_slow.filter(|&t| now >= t) {
            due.slow = Some(slow - self.started);
            self.next_slow = slow.checked_add(slow_period);
        }
        match &mut self.ending {
            None if self.deadline.is_some_and(|d| now >= d) => {
                due.signal = Some(Signal::SIGTERM);
                self.ending = Some(Ending::TimedOut {
                    sigkill_at: Some(now + KILL_GRACE),
                });
            }
            Some(Ending::TimedOut { sigkill_at }) if sigkill_at.is_some_and(|t| now >= t) => {
                due.signal = Some(Signal::SIGKILL);
                *sigkill_at = None;
            }
            Some(Ending::ChannelClosed { kill_at }) if now >= *kill_at => {
                due.signal = Some(Signal::SIGKILL);
                self.ending = Some(Ending::Broken {
                    cause: "the worker closed its channel to the coordinator while the test ran".into(),
                });
            }
            _ => {}
        }
        due
    }

    /// The worker closed its channel: it gets [`CHANNEL_CLOSE_GRACE`] to exit by itself.
    pub(crate) fn channel_closed(&mut self, now: Instant) {
        if self.ending.is_none() {
            self.ending = Some(Ending::ChannelClosed {
                kill_at: now + CHANNEL_CLOSE_GRACE,
            });
        }
    }

    /// The outcome of this test when its worker died with `exit` described so; `succeeded` when
    /// it exited with code 0 in a run of this one test — the test called `std::process::exit(0)`
    /// (rusty-fork's child does, after running the test's body), which libtest's run then ends
    /// with, successfully: the test passed.
    pub(crate) fn outcome_at_death(self, exit: String, succeeded: bool) -> Outcome {
        match self.ending {
            Some(Ending::TimedOut { .. }) => Outcome::TimedOut {
                after: self.timeout.unwrap_or_default(),
            },
            Some(Ending::Broken { cause }) => Outcome::Crashed { cause },
            Some(Ending::ChannelClosed { .. }) | None if succeeded => Outcome::Passed,
            Some(Ending::ChannelClosed { .. }) | None => Outcome::Crashed { cause: exit },
        }
    }
}

#[derive(Debug)]
pub(crate) enum State {
    Starting,
    Idle,
    Busy(Running),
    Exiting,
    /// Exited; waiting for the output pipe to close before reporting the test it killed.
    Dying {
        job: Option<(Job, Outcome, Duration)>,
        since: Instant,
        start_failure: Option<String>,
    },
    Dead,
}

impl State {
    /// Starting, idle or busy: counts as a worker of the pool.
    pub(crate) fn takes_work(&self) -> bool {
        matches!(self, State::Starting | State::Idle | State::Busy(_))
    }

    /// The process is gone (only its output may still be awaited).
    pub(crate) fn has_exited(&self) -> bool {
        matches!(self, State::Dead | State::Dying { .. })
    }
}

/// One worker.
pub(crate) struct Slot {
    /// The worker's process that is our child: the root of its tree of processes.
    pub(crate) pid: i32,
    /// The worker itself: `pid` for a forked worker; a re-executed one is its anchor's child
    /// (see `launch::anchor`), known from its hello.
    pub(crate) worker: i32,
    /// Its process group, which what its tests start inherits: one signal ends them all.
    pub(crate) group: i32,
    pub(crate) state: State,
    pub(crate) tasks: Option<WorkSender>,
    pub(crate) buffer: Option<SharedBuffer>,
    /// Tests whose `Done` came before their output.
    pub(crate) reports: VecDeque<(Job, Report)>,
    /// Outputs that came before their `Done`.
    pub(crate) outputs: VecDeque<CapturedOutput>,
    /// What came after the last end marker, when the pipe closed before the exit was seen.
    pub(crate) closed_rest: Option<CapturedOutput>,
    /// Processes found after the worker died, named in the report of the test it ran.
    pub(crate) strays: Vec<String>,
    /// What was below the worker when it was told to end (a timeout, a misbehaving worker):
    /// its test's processes, which its death leaves to us. Until its exit is taken, another
    /// worker's search for strays leaves them alone — two tests that time out together each
    /// get their own.
    pub(crate) tree: Vec<i32>,
    /// The tests handed out ahead, in order, while this worker runs another: each starts the
    /// moment the one before it ends, without a round trip to us. Not started until that one's
    /// `Done` comes, so a crash is always the running test's; these go back to the queue.
    pub(crate) ahead: VecDeque<Job>,
    /// `Exit` was sent behind its last tests (see `Scheduler::send_exit_ahead`): it is handed
    /// nothing more, and goes when they are done.
    pub(crate) exit_sent: bool,
    /// How long its last finished test ran, as we saw it: what its next one may take, when the
    /// timings of earlier runs do not say (see `Scheduler::short`).
    pub(crate) last_took: Option<Duration>,
    /// What the worker said, by the way it came, kept back until it may be taken in the
    /// order it was said (see [`crate::protocol::Told`]): from the output pipe (outputs and
    /// reports), and from the channel.
    pub(crate) piped: VecDeque<Piped>,
    pub(crate) told: VecDeque<(u64, super::WorkerEvent)>,
    /// Messages of the channel taken so far.
    pub(crate) heard: u64,
    /// Reports of the pipe taken so far.
    pub(crate) taken: u64,
}

/// What came in the output pipe, kept back.
#[derive(Debug)]
pub(crate) enum Piped {
    Output(CapturedOutput),
    Reported {
        output: CapturedOutput,
        report: Report,
        sent_before: u64,
    },
}

/// What the scheduler may take now, in the order the worker said it.
#[derive(Debug)]
pub(crate) enum Released {
    Piped(Piped),
    Told(super::WorkerEvent),
}

impl Slot {
    /// The next thing the worker said that the scheduler may take now: an output, a report of
    /// the pipe once the channel messages sent before it are taken, a message of the channel
    /// once the reports carried before it are (everything in order when `all`: the worker is
    /// gone, and what was said is all in).
    pub(crate) fn next_released(&mut self, all: bool) -> Option<Released> {
        let piped_ready = match self.piped.front() {
            Some(Piped::Output(_)) => true,
            Some(Piped::Reported { sent_before, .. }) => *sent_before <= self.heard,
            None => false,
        };
        if piped_ready {
            let piped = self.piped.pop_front()?;
            if matches!(piped, Piped::Reported { .. }) {
                self.taken += 1;
            }
            return Some(Released::Piped(piped));
        }
        let told_ready = self
            .told
            .front()
            .is_some_and(|(carried_before, _)| *carried_before <= self.taken);
        if told_ready || (all && self.piped.is_empty()) {
            let (_, event) = self.told.pop_front()?;
            self.heard += 1;
            return Some(Released::Told(event));
        }
        // Stuck only while the other way's messages are still coming; at the end (what did
        // not come never will), the pipe's first.
        match all {
            true => self.piped.pop_front().map(Released::Piped),
            false => None,
        }
    }

    /// A worker just started, its output captured in `buffer` (`None`: not captured).
    pub(crate) fn new(pid: i32, group: i32, buffer: Option<SharedBuffer>) -> Self {
        Slot {
            pid,
            worker: pid,
            group,
            state: State::Starting,
            tasks: None,
            buffer,
            piped: VecDeque::new(),
            told: VecDeque::new(),
            heard: 0,
            taken: 0,
            reports: VecDeque::new(),
            outputs: VecDeque::new(),
            closed_rest: None,
            strays: Vec::new(),
            tree: Vec::new(),
            ahead: VecDeque::new(),
            exit_sent: false,
            last_took: None,
        }
    }

    /// Sends `signal` to the worker's process group, and to the worker itself, which a test
    /// may have taken out of the group (`setsid()`; a worker is no group's leader, see
    /// `launch::fork` and `launch::anchor`).
    pub(crate) fn signal(&self, signal: nix::sys::signal::Signal) {
        crate::procs::signal_group(self.group, signal);
        if self.worker != self.group && self.worker > 1 {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.worker), signal);
        }
    }

    /// Ends the worker as [`Slot::signal`] does, noting first what is below it (see `tree`).
    pub(crate) fn signal_ending(&mut self, signal: nix::sys::signal::Signal) {
        let all = crate::procs::all_processes();
        for p in crate::procs::descendants(self.pid, &all, &[]) {
            if !self.tree.contains(&p.pid) {
                self.tree.push(p.pid);
            }
        }
        self.signal(signal);
    }

    /// Whether a test given to this worker is still to be reported: one it runs (or died
    /// running), one handed out ahead — a starting worker's first test too, which it runs once
    /// it says hello — or a result that waits for its output.
    pub(crate) fn has_unreported_test(&self) -> bool {
        !self.reports.is_empty()
            || !self.ahead.is_empty()
            || matches!(self.state, State::Busy(_) | State::Dying { job: Some(_), .. })
    }

    /// When a timer of this worker next fires.
    pub(crate) fn next_timer(&self) -> Option<Instant> {
        match &self.state {
            State::Busy(r) => r.next_timer(),
            State::Dying { since, .. } => Some(*since + OUTPUT_GRACE),
            _ => None,
        }
    }

    /// The oldest test whose result and output have both come (its output is `None` when the
    /// worker's output is not captured).
    pub(crate) fn next_paired(&mut self) -> Option<(Job, Report, Option<CapturedOutput>)> {
        let output = match &self.buffer {
            None => None,
            Some(_) if !self.reports.is_empty() && !self.outputs.is_empty() => self.outputs.pop_front(),
            Some(_) => return None,
        };
        let (job, report) = self.reports.pop_front()?;
        Some((job, report, output))
    }

    /// All a dead worker wrote that no report took: outputs cut at an end marker but never
    /// paired (the test ended as it was being killed), then what came after the last marker.
    pub(crate) fn unpaired_output(&mut self) -> Option<CapturedOutput> {
        let rest = match (self.closed_rest.take(), &self.buffer) {
            (Some(rest), _) => Some(rest),
            (None, Some(buffer)) => Some(capture::take_shared(buffer)),
            (None, None) => None,
        };
        self.outputs.drain(..).rev().fold(rest, |later, earlier| match later {
            Some(later) => Some(earlier.followed_by(later)),
            None => Some(earlier),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const JOB: Job = Job {
        test: 0,
        attempt: 1,
        message: None,
    };
    const MINUTE: Duration = Duration::from_secs(60);

    #[test]
    fn what_came_two_ways_is_taken_in_the_order_it_was_said() {
        use super::super::WorkerEvent;
        let report = |index| Report {
            index,
            failure: None,
            duration_ns: 0,
            leftovers: vec![],
            logs: vec![],
            fixtures: vec![],
        };
        let reported = |index, sent_before| Piped::Reported {
            output: CapturedOutput::default(),
            report: report(index),
            sent_before,
        };
        let next = |slot: &mut Slot, all| match slot.next_released(all) {
            Some(Released::Piped(Piped::Reported { report, .. })) => format!("pipe #{}", report.index),
            Some(Released::Piped(Piped::Output(_))) => "output".to_string(),
            Some(Released::Told(WorkerEvent::Done(report))) => format!("channel #{}", report.index),
            Some(Released::Told(other)) => format!("channel {other:?}"),
            None => "nothing".to_string(),
        };
        // The worker said: hello, test 1's report (channel: too long), test 2's (pipe), test
        // 3's (channel), test 4's (pipe). The pipe's came first, then the channel's.
        let mut slot = Slot::new(1, 1, None);
        slot.piped.push_back(reported(2, 2));
        slot.piped.push_back(Piped::Output(CapturedOutput::default()));
        slot.piped.push_back(reported(4, 3));
        assert_eq!(next(&mut slot, false), "nothing");
        slot.told.push_back((0, WorkerEvent::Connected(None, None)));
        slot.told.push_back((0, WorkerEvent::Done(report(1))));
        slot.told.push_back((1, WorkerEvent::Done(report(3))));
        let order: Vec<String> = std::iter::from_fn(|| Some(next(&mut slot, false)))
            .take_while(|n| n != "nothing")
            .collect();
        assert_eq!(order, ["channel Connected(None, None)", "channel #1", "pipe #2", "output", "channel #3", "pipe #4"]);
        // A channel message waits for the pipe's reports carried before it, until the end.
        slot.told.push_back((5, WorkerEvent::Done(report(9))));
        assert_eq!(next(&mut slot, false), "nothing");
        assert_eq!(next(&mut slot, true), "channel #9");
    }

    #[test]
    fn a_test_past_its_deadline_gets_sigterm_then_sigkill_after_the_grace() {
        let t0 = Instant::now();
        let mut running = Running::start(JOB, t0, Some(Duration::from_secs(5)), MINUTE);
        assert_eq!(running.next_timer(), Some(t0 + Duration::from_secs(5)));
        assert_eq!(running.fire(t0 + Duration::from_secs(4), MINUTE), Due::default());
        let t5 = t0 + Duration::from_secs(5);
        assert_eq!(running.fire(t5, MINUTE).signal, Some(Signal::SIGTERM));
        assert_eq!(running.next_timer(), Some(t5 + KILL_GRACE));
        assert_eq!(running.fire(t5 + KILL_GRACE, MINUTE).signal, Some(Signal::SIGKILL));
        // Once: then only the slow timer is left.
        assert_eq!(running.next_timer(), Some(t0 + MINUTE));
        assert_eq!(
            running.outcome_at_death("killed".into(), true),
            Outcome::TimedOut {
                after: Duration::from_secs(5)
            }
        );
    }

    #[test]
    fn a_slow_test_is_reported_once_per_period_at_the_threshold_it_crossed() {
        let t0 = Instant::now();
        let mut running = Running::start(JOB, t0, None, MINUTE);
        let late = t0 + MINUTE + Duration::from_secs(3);
        assert_eq!(running.fire(late, MINUTE).slow, Some(MINUTE));
        assert_eq!(running.fire(late, MINUTE).slow, None);
        assert_eq!(running.fire(t0 + 2 * MINUTE, MINUTE).slow, Some(2 * MINUTE));
    }

    #[test]
    fn a_worker_that_closes_its_channel_is_killed_after_a_grace_and_the_test_is_crashed() {
        let t0 = Instant::now();
        let mut running = Running::start(JOB, t0, None, MINUTE);
        running.channel_closed(t0);
        assert_eq!(running.next_timer(), Some(t0 + CHANNEL_CLOSE_GRACE));
        assert_eq!(running.fire(t0 + CHANNEL_CLOSE_GRACE, MINUTE).signal, Some(Signal::SIGKILL));
        assert!(matches!(
            running.outcome_at_death("killed by signal SIGKILL".into(), false),
            Outcome::Crashed { cause } if cause.contains("closed its channel")
        ));
    }

    #[test]
    fn a_crash_without_an_ending_is_described_by_the_exit() {
        let running = Running::start(JOB, Instant::now(), None, MINUTE);
        assert_eq!(
            running.outcome_at_death("killed by signal SIGSEGV".into(), false),
            Outcome::Crashed {
                cause: "killed by signal SIGSEGV".into()
            }
        );
    }

    fn text(written: &str) -> CapturedOutput {
        let mut buffer = crate::capture::OutputBuffer::default();
        buffer.push(written.as_bytes());
        buffer.take()
    }

    fn report(index: u32) -> Report {
        Report {
            index,
            duration_ns: 0,
            failure: None,
            leftovers: Vec::new(),
            logs: Vec::new(),
            fixtures: Vec::new(),
        }
    }

    #[test]
    fn results_and_outputs_pair_in_order_whichever_comes_first() {
        let mut slot = Slot::new(1, 1, Some(SharedBuffer::default()));
        slot.reports.push_back((JOB, report(7)));
        assert!(slot.next_paired().is_none(), "its output has not come");
        slot.outputs.push_back(text("first\n"));
        slot.outputs.push_back(text("second\n"));
        let (_, first, output) = slot.next_paired().expect("paired");
        assert_eq!((first.index, output.map(|o| o.to_text())), (7, Some("first\n".into())));
        assert!(slot.next_paired().is_none(), "the second output waits for its result");
        slot.reports.push_back((JOB, report(8)));
        assert_eq!(slot.next_paired().map(|(_, r, _)| r.index), Some(8));
    }

    #[test]
    fn a_starting_worker_sent_its_first_test_has_a_test_to_report() {
        let mut slot = Slot::new(1, 1, Some(SharedBuffer::default()));
        assert!(!slot.has_unreported_test());
        // Sent before its hello: the run is not over until it reports it.
        slot.ahead.push_back(JOB);
        assert!(slot.has_unreported_test());
        slot.ahead.clear();
        slot.reports.push_back((JOB, report(7)));
        assert!(slot.has_unreported_test(), "its result waits for its output");
        slot.reports.clear();
        slot.state = State::Idle;
        assert!(!slot.has_unreported_test());
    }

    #[test]
    fn without_capture_a_result_needs_no_output() {
        let mut slot = Slot::new(1, 1, None);
        slot.reports.push_back((JOB, report(7)));
        assert!(matches!(slot.next_paired(), Some((_, _, None))));
    }

    #[test]
    fn a_dead_workers_unpaired_output_comes_in_the_order_it_was_written() {
        let mut slot = Slot::new(1, 1, Some(SharedBuffer::default()));
        slot.outputs.push_back(text("cut at a marker\n"));
        slot.closed_rest = Some(text("after it\n"));
        let text = slot.unpaired_output().map(|o| o.to_text());
        assert_eq!(text.as_deref(), Some("cut at a marker\nafter it\n"));
    }
}
