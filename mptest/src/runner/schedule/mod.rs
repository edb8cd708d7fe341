//! The coordinator's loop: hands tests to idle workers, turns what the workers' threads see
//! into one outcome per test, enforces timeouts, and replaces workers that die.
//!
//! Everything arrives as a [`WorkerEvent`] on one channel, so the loop is the only owner of
//! the state and never blocks on a worker: timers are the `recv_timeout` of that channel.

use std::collections::HashMap;
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::time::{Duration, Instant};

use ipc_channel::ipc::OpaqueIpcSender;
use nix::sys::signal::Signal;

use super::dispatch::{Job, Pool, Queue};
use super::fixture_host::{self, RunFixtures, HOST_SLOT};
use super::slot::{Ending, Piped, Released, Running, Slot, State, OUTPUT_GRACE};
use super::verdict;
use super::event::WorkerEvent;
use super::inbox::Inbox;
use crate::signals::Signals;
use super::worker_process;
use crate::capture::{self, CapturedOutput};
use crate::cli::Options;
use crate::fixtures::FixtureEvent;
use crate::procs;
use crate::protocol::{Report, ToWorker};
use crate::work::WorkSender;
use crate::registry::TestDef;
use crate::reporter::{Event, Outcome, Reporter, Summary, TestResult};


mod shutdown;

/// How many tests a busy worker may have handed out ahead while the queue is long.
const AHEAD: usize = 4;

/// A test shorter than this may have tests handed out behind it: a round trip to us (tens of
/// µs) would be a good part of its time. Behind a longer one they could wait while another
/// worker idles, so its worker asks for its next test when it is done, as libtest's threads do.
const SHORT: Duration = Duration::from_millis(5);

/// Whose the first interrupt is, heard in the inbox.
pub(crate) const INTERRUPT_SLOT: usize = usize::MAX;

/// How many workers a run of `tests` tests keeps.
pub(crate) fn workers_wanted(options: &Options, tests: usize) -> usize {
    options.threads(tests)
}

/// Runs the selected tests; returns the run's counts.
pub(crate) struct Scheduler<'a> {
    tests: &'a [(String, &'static TestDef)],
    options: &'a Options,
    reporter: &'a mut dyn Reporter,
    queue: Queue,
    slots: Vec<Slot>,
    /// Where everything is heard: other threads' events, the workers' output pipes.
    inbox: Inbox,
    summary: Summary,
    workers_wanted: usize,
    /// The run is of one test (nextest's way, rusty-fork's child): a test that ends its process
    /// with `exit(0)` passed, as libtest (and nextest) would say of the process; among several,
    /// it crashed (libtest would end the whole run there, the rest unrun, with code 0).
    one_test: bool,
    interrupted: Option<i32>,
    /// When `--run-timeout` ends the run, and whether it has.
    run_deadline: Option<Instant>,
    run_timed_out: bool,
    /// Workers started so far (the first `workers_wanted` are not restarts).
    started_workers: usize,
    /// The first workers, forked before the coordinator had threads; taken in order.
    forked: std::collections::VecDeque<worker_process::Forked>,
    /// Work done while the workers exit at the end of an orderly run (see
    /// [`Scheduler::while_workers_exit`]).
    while_workers_exit: Option<Box<dyn FnOnce() + 'a>>,
    /// Workers started whose channel and exit are not watched yet (see
    /// [`worker_process::Watcher`]): watched once they were handed their tests.
    unwatched: Vec<worker_process::Watcher>,
    /// Each test's index in the registry (what a worker is sent), found once for the run.
    registry_index: Vec<u32>,
    run_fixtures: RunFixtures,
    /// How long each test ran in earlier runs, by test index, where the timings say: empty
    /// when they were not read.
    expected: Vec<Option<Duration>>,
}

/// Where `def` is in the registry (`u32::MAX`: not there): from its address, each test being
/// an element of the one slice — no map of every test to build before the first is sent.
fn registry_index_of(def: &TestDef) -> u32 {
    let tests = crate::registry::TESTS;
    let offset = (def as *const TestDef as usize).wrapping_sub(tests.as_ptr() as usize);
    let index = offset / std::mem::size_of::<TestDef>().max(1);
    match tests.get(index) {
        Some(found) if std::ptr::eq(found, def) => index as u32,
        _ => u32::MAX,
    }
}

impl<'a> Scheduler<'a> {
    pub(crate) fn new(
        tests: &'a [(String, &'static TestDef)],
        run: &[usize],
        options: &'a Options,
        reporter: &'a mut dyn Reporter,
        forked: Vec<worker_process::Forked>,
    ) -> Result<Self, crate::error::Error> {
        let inbox = Inbox::new().map_err(crate::error::Error::WorkerSpawn)?;
        let registry_index = tests.iter().map(|(_, def)| registry_index_of(def)).collect();
        let needed_by = tests
            .iter()
            .map(|(_, def)| crate::fixtures::run_fixtures_of(def.fixtures))
            .collect();
        Ok(Scheduler {
            run_fixtures: RunFixtures::new(needed_by, run),
            tests,
            options,
            reporter,
            queue: Queue::new(run),
            slots: Vec::new(),
            inbox,
            summary: Summary::default(),
            workers_wanted: workers_wanted(options, run.len()),
            one_test: run.len() == 1,
            interrupted: None,
            run_deadline: options.run_timeout.and_then(|t| Instant::now().checked_add(t)),
            run_timed_out: false,
            started_workers: 0,
            forked: forked.into(),
            while_workers_exit: None,
            unwatched: Vec::new(),
            registry_index,
            expected: Vec::new(),
        })
    }

    /// How long each test ran in earlier runs, by name (see [`Self::short`]).
    pub(crate) fn expecting(mut self, seconds: &HashMap<String, f64>) -> Self {
        if !seconds.is_empty() {
            self.expected = self
                .tests
                .iter()
                .map(|(name, _)| seconds.get(name).and_then(|s| Duration::try_from_secs_f64(*s).ok()))
                .collect();
        }
        self
    }

    /// Whether `job` is expected to be shorter than [`SHORT`] on worker `id`: by its time in
    /// earlier runs, else by what the worker's last test took; `None` when neither is known.
    fn short(&self, id: usize, job: &Job) -> Option<bool> {
        self.expected
            .get(job.test)
            .copied()
            .flatten()
            .or(self.slots[id].last_took)
            .map(|took| took < SHORT)
    }

    /// `work` is done while the workers exit at the end of a run in which every test ran to its
    /// result (nothing is reported after it then): it takes its time in parallel with theirs,
    /// not after it. Not done otherwise.
    pub(crate) fn while_workers_exit(mut self, work: impl FnOnce() + 'a) -> Self {
        self.while_workers_exit = Some(Box::new(work));
        self
    }

    /// Hears interrupts in the inbox (see [`Inbox::hear_signals`]): the first ends the run in
    /// order; `then` takes the signals after it.
    pub(crate) fn hear_interrupts(mut self, signals: Signals, then: Box<dyn FnOnce(Signals)>) -> Self {
        self.inbox.hear_signals(INTERRUPT_SLOT, signals, then);
        self
    }

    /// Runs every pending test to an outcome, then ends the workers.
    pub(crate) fn run(mut self) -> Summary {
        if !self.queue.is_empty() {
            for _ in 0..self.workers_wanted {
                if !self.spawn_worker() {
                    break;
                }
            }
            while self.summary.fatal.is_none()
                && self.interrupted.is_none()
                && !self.run_timed_out
                && !self.all_done()
            {
                self.dispatch();
                // Dispatching may have found the run cannot go on (no worker could be started):
                // there may be nothing left to wait for.
                if self.summary.fatal.is_some() {
                    break;
                }
                self.watch_started();
                self.wait_for_event();
                self.check_timers();
            }
        }
        self.watch_started();
        self.shut_down();
        self.summary
    }

    /// Starts watching the workers started since the last time.
    fn watch_started(&mut self) {
        for watcher in std::mem::take(&mut self.unwatched) {
            if let Err(err) = watcher.start(&mut self.inbox) {
                self.summary.fatal.get_or_insert(err.to_string());
            }
        }
    }

    fn all_done(&self) -> bool {
        self.queue.is_empty() && !self.slots.iter().any(Slot::has_unreported_test)
    }

    fn spawn_worker(&mut self) -> bool {
        let restarts = self.started_workers.saturating_sub(self.workers_wanted);
        if let Some(max) = self.options.max_worker_restarts {
            if restarts >= max as usize && self.started_workers >= self.workers_wanted {
                self.summary.fatal = Some(format!(
                    "{restarts} worker process(es) died and were replaced; --max-worker-restarts {max} stops the run here"
                ));
                return false;
            }
        }
        self.started_workers += 1;
        let id = self.slots.len();
        let forked = self.forked.pop_front();
        match worker_process::spawn(id, self.options.capture, forked) {
            Ok(worker) => {
                let buffer = worker.output.as_ref().map(|output| output.buffer.clone());
                if let Some(output) = worker.output {
                    if let Err(err) = self.inbox.read_output(id, output.pipe, &output.sentinel, output.buffer) {
                        self.summary.fatal = Some(format!("cannot read a worker's output: {err}"));
                        return false;
                    }
                }
                let mut slot = Slot::new(worker.pid, worker.group, buffer);
                slot.tasks = worker.tasks;
                self.slots.push(slot);
                self.unwatched.push(worker.watcher);
                true
            }
            Err(err) => {
                self.summary.fatal = Some(err.to_string());
                false
            }
        }
    }

    fn is_live(&self, id: usize) -> bool {
        self.slots.get(id).is_some_and(|s| s.state.takes_work())
    }

    /// The next job an idle worker may take (see [`Queue::pick`]).
    fn next_job_for(&self, id: usize) -> Option<usize> {
        // A test counts until it is reported (its result can wait for its output).
        let serial = |job: &Job| self.tests[job.test].1.serial;
        // A starting worker handed its first test counts as busy with it.
        let pool = Pool {
            busy: self
                .slots
                .iter()
                .filter(|s| matches!(s.state, State::Busy(_)) || !s.ahead.is_empty())
                .count(),
            serial_unfinished: self.slots.iter().any(|s| {
                matches!(&s.state, State::Busy(r) if serial(&r.job))
                    || s.ahead.iter().any(serial)
                    || s.reports.iter().any(|(job, _)| serial(job))
            }),
            unreported: self.slots.iter().any(|s| !s.reports.is_empty()),
        };
        self.queue.pick(id, &pool, self.tests, |worker| self.is_live(worker))
    }

    fn dispatch(&mut self) {
        for id in 0..self.slots.len() {
            if !matches!(self.slots[id].state, State::Idle) || self.slots[id].exit_sent {
                continue;
            }
            if let Some(job) = self.hand_out(id) {
                self.start_running(id, job);
            }
        }
        self.take_back_for_idle();
        // Workers busy with a test get their next one ahead, while there is more work than
        // workers (near the end, a test waiting behind a long one would leave a worker idle).
        for id in 0..self.slots.len() {
            while self.may_hand_out_ahead(id) {
                match self.hand_out(id) {
                    Some(job) => self.slots[id].ahead.push_back(job),
                    None => break,
                }
            }
        }
        self.send_exit_ahead();
        self.keep_workers();
    }

    /// Once every test is handed out, a worker whose tests cannot be run again (no retry left)
    /// is sent `Exit` behind them: it exits the moment its last test ends, without waiting for
    /// us to hear of it and answer — the end of every run, and the whole of a one-test run
    /// under cargo-nextest, one round trip shorter. A test a dead worker leaves to run again
    /// goes to a new worker.
    fn send_exit_ahead(&mut self) {
        // Not while a test waiting in a worker may still be taken back for another one.
        if !self.queue.is_empty() || self.options.fail_fast || self.slots.iter().any(|s| s.ahead.iter().any(|j| j.message.is_some())) {
            return;
        }
        for slot in &mut self.slots {
            let last = match &slot.state {
                State::Busy(running) if running.ending.is_none() => Some(running.job),
                State::Starting => None,
                _ => continue,
            };
            let final_attempts = last.iter().chain(&slot.ahead).all(|job| {
                job.attempt >= verdict::attempts(self.tests[job.test].1, self.options)
            });
            if slot.exit_sent || !final_attempts || (last.is_none() && slot.ahead.is_empty()) {
                continue;
            }
            if let Some(tasks) = &slot.tasks {
                slot.exit_sent = tasks.send(ToWorker::Exit).is_ok();
            }
        }
    }

    /// Gives idle workers, when the queue is empty, the tests still waiting behind another
    /// worker's test: taken back from the end of the longest wait (see [`crate::claims`]), as
    /// libtest's idle threads would have taken them.
    fn take_back_for_idle(&mut self) {
        for id in 0..self.slots.len() {
            if !self.queue.is_empty() {
                return;
            }
            let slot = &self.slots[id];
            if !matches!(slot.state, State::Idle) || slot.exit_sent || slot.tasks.is_none() {
                continue;
            }
            let Some(job) = self.take_back_one(id) else {
                return;
            };
            self.queue.push_front(job);
            if let Some(job) = self.hand_out(id) {
                self.start_running(id, job);
            }
        }
    }

    /// Takes back the last test waiting in the worker (not `idle`) that has the most waiting;
    /// `None` when there is none to take, or that worker started it already. A group's test
    /// stays with its group's worker, a serial test where it is.
    fn take_back_one(&mut self, idle: usize) -> Option<Job> {
        let takeable = |slot: &Slot| {
            // A starting worker starts with the first test it was sent.
            let first = usize::from(matches!(slot.state, State::Starting));
            slot.ahead.len() > first
                && slot.ahead.back().is_some_and(|job| {
                    let def = self.tests[job.test].1;
                    job.message.is_some() && def.group.is_none() && !def.serial
                })
        };
        let holder = (0..self.slots.len())
            .filter(|&h| h != idle && takeable(&self.slots[h]))
            .max_by_key(|&h| self.slots[h].ahead.len())?;
        let slot = &mut self.slots[holder];
        let job = *slot.ahead.back()?;
        let taken = slot.tasks.as_ref().is_some_and(|t| t.take_back(job.message.unwrap_or_default()));
        if !taken {
            return None;
        }
        slot.ahead.pop_back();
        Some(Job { message: None, ..job })
    }

    /// Whether busy worker `id` gets another test ahead: one while there are more tests than
    /// workers; up to [`AHEAD`] while there are that many for every worker — tests shorter than
    /// a round trip to us then run back to back, and near the end each worker has at most one
    /// queued. None behind a test expected to be long ([`SHORT`]): it would wait there while
    /// another worker idles; one only behind a test of which nothing is known yet.
    fn may_hand_out_ahead(&self, id: usize) -> bool {
        if self.in_step() {
            return false;
        }
        let slot = &self.slots[id];
        // Nothing waits behind a test that is expected to be long; more than one only behind
        // tests known to be short.
        let running = match &slot.state {
            State::Busy(r) => Some(&r.job),
            _ => None,
        };
        let mut unknown = false;
        for job in running.into_iter().chain(&slot.ahead) {
            match self.short(id, job) {
                Some(false) => return false,
                None => unknown = true,
                Some(true) => {}
            }
        }
        let depth = if self.queue.len() > self.workers_wanted * AHEAD && !unknown {
            AHEAD
        } else {
            1
        };
        if matches!(slot.state, State::Starting) {
            // A forked worker can be sent its first test before it says hello (its channel was
            // made before it): it finds the test waiting, and the next ones behind it as a
            // busy worker does, so it goes on while we are still busy starting the run. Its
            // timers start with the hello, the first test's run.
            let first = slot.ahead.is_empty() && !self.queue.is_empty();
            let behind = !self.options.fail_fast
                && self.queue.len() > self.workers_wanted
                && slot.ahead.len() < 1 + depth;
            return slot.tasks.is_some() && (first || behind);
        }
        let busy = matches!(&slot.state, State::Busy(r) if r.ending.is_none());
        busy && !slot.exit_sent
            && !self.options.fail_fast
            && self.queue.len() > self.workers_wanted
            && slot.ahead.len() < depth
    }

    /// Takes the next job worker `id` may run and sends it; `None` when there is none for it
    /// (or the worker is going away).
    fn hand_out(&mut self, id: usize) -> Option<Job> {
        let pos = self.next_job_for(id)?;
        let job = self.queue.take(pos)?;
        let (name, def) = &self.tests[job.test];
        let message = ToWorker::Run {
            index: self.registry_index[job.test],
            name: name.clone(),
        };
        if self.in_step() {
            self.reporter.report(&Event::TestStarted {
                name,
                attempt: job.attempt,
            });
        }
        let sent = self.slots[id].tasks.as_ref().map(|t| t.send(message));
        let Some(Ok(number)) = sent else {
            // The worker is going away; its exit event will come. Keep the job.
            self.queue.push_front(job);
            if matches!(self.slots[id].state, State::Idle) {
                self.slots[id].state = State::Exiting;
            }
            return None;
        };
        let job = Job { message: number, ..job };
        if let Some(moved) = self.queue.assign(def, id) {
            let message = format!(
                "group \"{}\": its worker process died in {}; the group's other tests go on in a \
                 new worker process ({}), without what the old one held",
                moved.group, moved.lost_in, self.slots[id].pid
            );
            self.reporter.report(&Event::Notice { message: &message });
        }
        Some(job)
    }

    /// Worker `id` starts `job` now: its timers start.
    fn start_running(&mut self, id: usize, job: Job) {
        let (name, def) = &self.tests[job.test];
        let now = Instant::now();
        let timeout = def.timeout.or(self.options.timeout);
        self.slots[id].state = State::Busy(Running::start(job, now, timeout, self.options.slow_period));
        if !self.in_step() {
            self.reporter.report(&Event::TestStarted {
                name,
                attempt: job.attempt,
            });
        }
    }

    /// Uncaptured output, one test at a time: a test is handed out only when the one before it
    /// was reported, and said to start before it is sent, so that what it prints comes after
    /// its `test name ... `, as under libtest (`--nocapture --test-threads 1`, the usual way
    /// to watch a suite's output in order). Not under cargo-nextest, which runs one test per
    /// process uncaptured and shows its output apart: there the first test waits in the
    /// worker before its hello, a round trip less.
    fn in_step(&self) -> bool {
        !self.options.capture && self.workers_wanted == 1 && !self.options.under_nextest
    }

    /// Replaces dead workers while there is work for them; ends idle ones when there is none.
    fn keep_workers(&mut self) {
        // Told to exit behind its last test, which is done: it is going.
        for slot in &mut self.slots {
            if matches!(slot.state, State::Idle) && slot.exit_sent {
                slot.state = State::Exiting;
            }
        }
        let live = self.slots.iter().filter(|s| s.state.takes_work()).count();
        if !self.queue.is_empty() && live < self.workers_wanted && self.summary.fatal.is_none() {
            for _ in live..self.workers_wanted.min(live + self.queue.len()) {
                if !self.spawn_worker() {
                    return;
                }
            }
        }
        if self.queue.is_empty() {
            for slot in &mut self.slots {
                if matches!(slot.state, State::Idle) {
                    if let Some(tasks) = &slot.tasks {
                        let _ = tasks.send(ToWorker::Exit);
                    }
                    slot.state = State::Exiting;
                }
            }
        }
    }

    fn next_timer(&self) -> Option<Instant> {
        let slots = self.slots.iter().filter_map(Slot::next_timer);
        self.run_deadline.into_iter().chain(slots).min()
    }

    fn wait_for_event(&mut self) {
        if let Some((id, event)) = self.inbox.recv_until(self.next_timer()) {
            self.handle(id, event);
        }
        // Take whatever else was read already before looking at timers again.
        while let Some((id, event)) = self.inbox.take_read() {
            self.handle(id, event);
        }
    }

    fn handle(&mut self, id: usize, event: WorkerEvent) {
        if id == INTERRUPT_SLOT {
            if let WorkerEvent::Exited(status) = event {
                self.interrupted = Some(status.signal().unwrap_or(2));
            }
            return;
        }
        if id == HOST_SLOT {
            self.on_host_event(event);
            return;
        }
        if id >= self.slots.len() {
            return;
        }
        let slot = &mut self.slots[id];
        match event {
            WorkerEvent::Output(out) => slot.piped.push_back(Piped::Output(out)),
            WorkerEvent::Reported {
                output,
                report,
                sent_before,
            } => slot.piped.push_back(Piped::Reported {
                output,
                report,
                sent_before,
            }),
            // The first thing in its pipe, before any test's output or report: taken now, and
            // not counted among the channel's messages (it came in the pipe).
            WorkerEvent::HelloInPipe => return self.take(id, WorkerEvent::Connected(None, None)),
            WorkerEvent::After { carried_before, event } => slot.told.push_back((carried_before, *event)),
            event if event.is_from_channel() => slot.told.push_back((0, event)),
            WorkerEvent::OutputClosed(rest) => {
                self.release(id, true);
                return self.on_output_closed(id, rest);
            }
            WorkerEvent::Exited(status) => {
                // The channel was read to its end (or given up on) before the exit is told.
                self.release(id, true);
                return self.on_exit(id, status);
            }
            other => return self.take(id, other),
        }
        self.release(id, false);
    }

    /// Takes what the worker said that may be taken now, in the order it said it (see
    /// [`Slot::next_released`]).
    fn release(&mut self, id: usize, all: bool) {
        while let Some(released) = self.slots[id].next_released(all) {
            match released {
                Released::Piped(Piped::Output(out)) => {
                    self.slots[id].outputs.push_back(out);
                    self.pair_outputs(id);
                }
                Released::Piped(Piped::Reported { output, report, .. }) => {
                    self.slots[id].outputs.push_back(output);
                    self.on_done(id, report);
                }
                Released::Told(event) => self.take(id, event),
            }
        }
    }

    /// Acts on what a worker's channel said, or on what happened to it.
    fn take(&mut self, id: usize, event: WorkerEvent) {
        match event {
            WorkerEvent::Connected(tasks, worker) => {
                let slot = &mut self.slots[id];
                if let Some(tasks) = tasks {
                    slot.tasks = Some(WorkSender::Channel(tasks));
                }
                if let Some(worker) = worker {
                    slot.worker = worker;
                }
                if slot.group == worker_process::UNKNOWN_GROUP {
                    // A forked worker founds its group before its hello (see `launch::fork`).
                    let pid = nix::unistd::Pid::from_raw(slot.pid);
                    // Never ours: a signal to it would end the run itself.
                    match nix::unistd::getpgid(Some(pid)) {
                        Ok(group) if group != nix::unistd::getpgrp() => slot.group = group.as_raw(),
                        _ => {}
                    }
                }
                if matches!(slot.state, State::Starting) {
                    slot.state = State::Idle;
                    // The test it was sent before its hello is the one it runs now.
                    if let Some(first) = slot.ahead.pop_front() {
                        self.start_running(id, first);
                    }
                }
            }
            WorkerEvent::Done(report) => self.on_done(id, report),
            WorkerEvent::Hooks(report) => self.report_hooks(id, &report),
            WorkerEvent::NeedFixture { key, reply } => self.need_fixture(key, reply),
            WorkerEvent::Fixtures(events) => self.report_fixtures(&format!("worker {}", id + 1), &events),
            WorkerEvent::Malformed(what) => {
                self.break_worker(id, format!("the worker sent a malformed message: {what}"))
            }
            WorkerEvent::ChannelClosed => {
                if let State::Busy(r) = &mut self.slots[id].state {
                    r.channel_closed(Instant::now());
                }
            }
            // Kept back and released above, or the fixture host's.
            WorkerEvent::HostConnected(_)
            | WorkerEvent::HelloInPipe
            | WorkerEvent::Output(_)
            | WorkerEvent::Reported { .. }
            | WorkerEvent::After { .. }
            | WorkerEvent::OutputClosed(_)
            | WorkerEvent::Exited(_) => {}
        }
    }

    /// A worker asks for a run fixture: pass the request on to the fixture host, started first
    /// if this is the first.
    fn need_fixture(&mut self, key: String, reply: OpaqueIpcSender) {
        let events = self.inbox.mail();
        if let Some(message) = self.run_fixtures.request(key, reply, || fixture_host::spawn(events)) {
            self.reporter.report(&Event::Notice { message: &message });
        }
    }

    fn on_host_event(&mut self, event: WorkerEvent) {
        match event {
            WorkerEvent::HostConnected(tasks) => self.run_fixtures.connected(tasks),
            WorkerEvent::Fixtures(events) => self.report_fixtures("the fixture host", &events),
            WorkerEvent::Malformed(what) => {
                if let Some(pid) = self.run_fixtures.pid() {
                    procs::signal_group(pid, Signal::SIGKILL);
                }
                let message = format!("the fixture host was ended: it sent a malformed message: {what}");
                self.reporter.report(&Event::Notice { message: &message });
            }
            WorkerEvent::Exited(status) => {
                let why = format!("the fixture host {}", describe_exit(status));
                if !status.success() {
                    self.reporter.report(&Event::Notice { message: &why });
                }
                self.run_fixtures.gone(why);
            }
            _ => {}
        }
    }

    /// Fixtures set up or torn down in `process`: reported; a failed teardown fails the run.
    fn report_fixtures(&mut self, process: &str, events: &[FixtureEvent]) {
        for event in events {
            if event.phase == crate::fixtures::Phase::Teardown && event.failure.is_some() {
                self.summary.teardown_failures += 1;
            }
            // A run fixture lives in the fixture host, whichever test's worker reported it.
            let process = match event.scope {
                crate::fixtures::Scope::Run => "the fixture host",
                _ => process,
            };
            self.reporter.report(&Event::Fixture { event, process });
        }
    }

    /// The test's group has nothing left to run: its worker tears the group's fixtures down
    /// now, not when it next gets a test of another group.
    fn end_group_if_done(&mut self, test: usize) {
        let Some(group) = self.tests[test].1.group else {
            return;
        };
        let in_group = |job: &Job| self.tests[job.test].1.group == Some(group);
        let left = self.queue.jobs().any(in_group)
            || self.slots.iter().any(|s| {
                matches!(&s.state, State::Busy(r) if in_group(&r.job))
                    || s.ahead.iter().any(in_group)
            });
        if left {
            return;
        }
        if let Some(owner) = self.queue.owner(group) {
            if self.is_live(owner) {
                if let Some(tasks) = &self.slots[owner].tasks {
                    let _ = tasks.send(ToWorker::EndGroup);
                }
            }
        }
    }

    /// A worker's start or stop hooks ran: what they printed and which failed, as a note.
    fn report_hooks(&mut self, id: usize, report: &crate::hooks::HookReport) {
        // `-q`: hooks that ran well say nothing, as passed tests do.
        if report.failed.is_empty() && self.options.format == crate::cli::Format::Terse {
            return;
        }
        let mut message = format!("worker {} {} hooks", id + 1, report.phase);
        if report.failed.is_empty() {
            message.push_str(" ran");
        } else {
            message.push_str(&format!(" failed: {}", report.failed.join("; ")));
        }
        let output = report.output.trim_end();
        if !output.is_empty() {
            message.push_str(&format!("; their output:\n{output}"));
        }
        self.reporter.report(&Event::Notice { message: &message });
    }

    fn on_done(&mut self, id: usize, report: Report) {
        let slot = &mut self.slots[id];
        let State::Busy(running) = &slot.state else {
            self.break_worker(
                id,
                "the worker reported a result while it was running no test".into(),
            );
            return;
        };
        let name = &self.tests[running.job.test].0;
        if self.registry_index[running.job.test] != report.index {
            let cause = format!(
                "the worker reported a result for test #{} while running {name}",
                report.index
            );
            self.break_worker(id, cause);
            return;
        }
        // Too late when it is being ended already (timed out, broken): its exit decides the
        // outcome. Not when its channel closed: that is heard apart from the pipe, and may be
        // heard before a report written before it — a worker told to exit behind its last test
        // closes it as it exits.
        if running.ending.as_ref().is_some_and(|e| !matches!(e, Ending::ChannelClosed { .. })) {
            return;
        }
        let job = running.job;
        slot.last_took = Some(running.started.elapsed());
        slot.state = State::Idle;
        // The test handed out ahead starts now, in the worker as here.
        if let Some(next) = slot.ahead.pop_front() {
            self.start_running(id, next);
        }
        // --fail-fast stops handing out tests as soon as a final failure is known, before its
        // output (which the report is paired with) has come.
        let attempts = verdict::attempts(self.tests[job.test].1, self.options);
        if self.options.fail_fast && report.failure.is_some() && job.attempt >= attempts {
            self.stop_handing_out(&self.tests[job.test].0.clone());
        }
        let slot = &mut self.slots[id];
        slot.reports.push_back((job, report));
        self.pair_outputs(id);
    }

    /// `--fail-fast`: the tests not handed out yet will not run.
    fn stop_handing_out(&mut self, failed: &str) {
        if self.queue.is_empty() {
            return;
        }
        let dropped = self.queue.clear();
        let message = format!("{dropped} test(s) did not run: --fail-fast stops at the first failure ({failed})");
        self.reporter.report(&Event::Notice { message: &message });
    }

    /// Reports the tests whose result and output have both arrived.
    fn pair_outputs(&mut self, id: usize) {
        while let Some((job, report, output)) = self.slots[id].next_paired() {
            self.report_fixtures(&format!("worker {}", id + 1), &report.fixtures);
            let outcome = match report.failure {
                None => Outcome::Passed,
                Some((kind, message)) => Outcome::Failed { message, kind },
            };
            let duration = Duration::from_nanos(report.duration_ns);
            self.finish(job, outcome, duration, output, report.leftovers, report.logs);
        }
    }

    /// Kills a worker that misbehaved; the test it was running crashed with `cause`.
    fn break_worker(&mut self, id: usize, cause: String) {
        let slot = &mut self.slots[id];
        // A forked worker says hello in its pipe before it takes the test it was sent, and
        // sends nothing on its channel before: what its channel says first may still be heard
        // before that hello, and is the test's doing.
        if matches!(slot.state, State::Starting)
            && matches!(slot.tasks, Some(WorkSender::Pipe { .. }))
            && !slot.ahead.is_empty()
        {
            self.take(id, WorkerEvent::Connected(None, None));
            return self.break_worker(id, cause);
        }
        let slot = &mut self.slots[id];
        match &mut slot.state {
            State::Busy(r) => r.ending = Some(Ending::Broken { cause }),
            State::Starting => {
                self.summary.fatal = Some(format!("worker process {} failed at start: {cause}", slot.pid));
            }
            State::Dead | State::Dying { .. } => return,
            _ => {
                self.reporter.report(&Event::Notice {
                    message: &format!("worker process {} was replaced: {cause}", slot.pid),
                });
            }
        }
        slot.signal_ending(Signal::SIGKILL);
    }

    fn on_exit(&mut self, id: usize, status: ExitStatus) {
        let pid = self.slots[id].pid;
        // Whatever is left in its process group goes with it. Not a signal to a pid of it
        // (`Slot::signal`): the process we started is reaped, the worker reaped by its anchor
        // or handled below, and a reaped pid may be another process's by now.
        procs::signal_group(self.slots[id].group, Signal::SIGKILL);
        // A re-executed worker may outlive its anchor a moment (killed by the group's signal,
        // or by its parent's death when its test left the group), and is then ours (we are the
        // subreaper): ended and reaped here, never taken for a process its test left.
        let worker = self.slots[id].worker;
        // (Unless its pid, reaped by its anchor long ago, is now another child of ours.)
        let another = self.slots.iter().any(|s| s.pid == worker) || self.run_fixtures.pid() == Some(worker);
        if worker != pid && !another {
            procs::end_child(worker, Duration::from_secs(2));
        }
        let now = Instant::now();
        // The tests handed out ahead never started: back to the front of the queue, in order.
        while let Some(next) = self.slots[id].ahead.pop_back() {
            self.queue.push_front(next);
        }
        let previous = std::mem::replace(&mut self.slots[id].state, State::Dead);
        let next = match previous {
            State::Busy(running) => {
                let (name, def) = &self.tests[running.job.test];
                self.queue.group_lost(def, name);
                let (job, started) = (running.job, running.started);
                let outcome = running.outcome_at_death(describe_exit(status), status.success() && self.one_test);
                if outcome.is_success() {
                    let message = format!(
                        "{name}: its process exited with code 0 (std::process::exit) before the \
                         test returned: passed, as libtest says of a run of one test"
                    );
                    self.reporter.report(&Event::Notice { message: &message });
                }
                self.slots[id].strays = self.end_strays(id);
                Some(State::Dying {
                    job: Some((job, outcome, started.elapsed())),
                    since: now,
                    start_failure: None,
                })
            }
            State::Starting => Some(State::Dying {
                job: None,
                since: now,
                start_failure: Some(describe_start_failure(status)),
            }),
            State::Idle => {
                if !status.success() {
                    let message = format!(
                        "worker process {pid} {} between tests; it was replaced",
                        describe_exit(status)
                    );
                    self.reporter.report(&Event::Notice { message: &message });
                }
                None
            }
            _ => None,
        };
        if let Some(state) = next {
            self.slots[id].state = state;
            // Report now if the output is all in already; else when the pipe closes.
            if self.slots[id].closed_rest.is_some() || self.slots[id].buffer.is_none() {
                self.finish_dying(id);
            }
        }
    }

    fn on_output_closed(&mut self, id: usize, rest: CapturedOutput) {
        let slot = &mut self.slots[id];
        slot.closed_rest = Some(rest);
        if matches!(slot.state, State::Dying { .. }) {
            self.finish_dying(id);
        }
    }

    /// Reports the test a dead worker took with it, once its output is in (or waited for long
    /// enough), or ends the run if the worker never started.
    fn finish_dying(&mut self, id: usize) {
        let State::Dying {
            job, start_failure, ..
        } = std::mem::replace(&mut self.slots[id].state, State::Dead)
        else {
            return;
        };
        let slot = &mut self.slots[id];
        let rest = slot.unpaired_output();
        if let Some(how) = start_failure {
            let output = rest.map(|o| o.to_text()).unwrap_or_default();
            let err = crate::error::Error::WorkerStart {
                pid: slot.pid,
                how,
                output,
            };
            self.summary.fatal = Some(err.to_string());
            return;
        }
        let strays = std::mem::take(&mut slot.strays);
        if let Some((job, outcome, duration)) = job {
            self.finish(job, outcome, duration, rest, strays, Vec::new());
        }
    }

    /// Ends processes that outlived worker `id` (reparented to us, the subreaper). Those below
    /// a live worker are its tests', not these: its anchor and the worker itself (whose anchor
    /// may have died a moment ago, leaving it to us) stop the search; so are those that were
    /// below another worker told to end, whose exit is still to be taken (see `Slot::tree`).
    fn end_strays(&mut self, id: usize) -> Vec<String> {
        // (Worker `id`'s state is `Dead` by now: none of these is its.)
        let theirs: Vec<i32> = (self.slots.iter())
            .filter(|s| !s.state.has_exited())
            .flat_map(|s| [s.pid, s.worker].into_iter().chain(s.tree.iter().copied()))
            .chain(self.run_fixtures.pid())
            .collect();
        let strays = procs::descendants(std::process::id() as i32, &procs::all_processes(), &theirs);
        // Its own are settled now: a pid of them used again is no other worker's.
        self.slots[id].tree.clear();
        procs::end_processes(&strays, Duration::from_secs(2))
    }

    fn check_timers(&mut self) {
        let now = Instant::now();
        if self.run_deadline.is_some_and(|d| now >= d) {
            self.run_timed_out = true;
        }
        for id in 0..self.slots.len() {
            let mut send = None;
            match &mut self.slots[id].state {
                State::Busy(r) => {
                    let due = r.fire(now, self.options.slow_period);
                    if let Some(elapsed) = due.slow {
                        let name = &self.tests[r.job.test].0;
                        self.reporter.report(&Event::TestSlow { name, elapsed });
                    }
                    send = due.signal;
                }
                State::Dying { since, .. } if now >= *since + OUTPUT_GRACE => self.finish_dying(id),
                _ => {}
            }
            if let Some(signal) = send {
                self.slots[id].signal_ending(signal);
            }
        }
    }

    /// Records one attempt's outcome: retried, or reported (see [`verdict`]).
    fn finish(
        &mut self,
        job: Job,
        outcome: Outcome,
        duration: Duration,
        output: Option<CapturedOutput>,
        leftovers: Vec<String>,
        logs: Vec<crate::logs::LogRecord>,
    ) {
        let (name, def) = &self.tests[job.test];
        let attempts = verdict::attempts(def, self.options);
        let outcome = verdict::judge_attempt(outcome, job.attempt, duration, &leftovers, def, self.options);
        let mut result = TestResult {
            name: name.clone(),
            outcome,
            duration,
            output,
            leftovers,
            logs,
        };
        let run_goes_on = self.interrupted.is_none() && !self.run_timed_out;
        if verdict::runs_again(&result.outcome, job.attempt, attempts, run_goes_on) {
            self.reporter.report(&Event::TestRetrying {
                result: &result,
                attempt: job.attempt,
                of: attempts,
            });
            self.queue.push_front(Job {
                test: job.test,
                attempt: job.attempt + 1,
                message: None,
            });
            return;
        }
        result.outcome = verdict::final_outcome(result.outcome, attempts, self.options);
        verdict::count(&mut self.summary, &result.outcome, job.attempt);
        self.reporter.report(&Event::TestFinished { result: &result });
        if let Some(message) = verdict::group_note(&result.name, &result.outcome, def, self.options) {
            self.reporter.report(&Event::Notice { message: &message });
        }
        self.run_fixtures.release(job.test);
        self.end_group_if_done(job.test);
        if result.outcome.is_failure() && self.options.fail_fast {
            // Crashes and timeouts have no report: they stop the run here.
            self.stop_handing_out(&result.name);
        }
    }

}

/// How a worker ended while a test ran.
fn describe_exit(status: ExitStatus) -> String {
    if let Some(signal) = status.signal() {
        let core = if status.core_dumped() { ", core dumped" } else { "" };
        format!("killed by signal {}{core}", procs::signal_name(signal))
    } else {
        match status.code() {
            Some(code) => format!("the test's process exited with code {code} before the test finished (std::process::exit in the test?)"),
            None => format!("the worker ended ({status})"),
        }
    }
}

fn describe_start_failure(status: ExitStatus) -> String {
    match (status.signal(), status.code()) {
        (Some(signal), _) => format!("was killed by signal {}", procs::signal_name(signal)),
        (None, Some(code)) => format!("exited with code {code}"),
        _ => format!("ended ({status})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the scheduler reports of each finished test.
    struct Finished(Vec<String>);

    impl Reporter for Finished {
        fn report(&mut self, event: &Event<'_>) {
            if let Event::TestFinished { result } = event {
                self.0.push(format!("{}: {:?}", result.name, result.outcome));
            }
        }
    }

    /// A worker told to exit behind its last test closes its channel as it exits, right after
    /// writing that test's report; the closed channel, heard apart from the pipe, may come
    /// first. The report still says how the test ended: it passed, it did not crash.
    #[test]
    fn a_report_heard_after_the_worker_closed_its_channel_still_counts() {
        let def: &'static TestDef = Box::leak(Box::new(crate::registry::test_def("suite", "t", 1)));
        let tests = vec![("t".to_string(), def)];
        let options = Options::parse(Vec::new()).expect("no arguments");
        let mut finished = Finished(Vec::new());
        let mut scheduler = Scheduler::new(&tests, &[0], &options, &mut finished, Vec::new()).expect("scheduler");
        // A worker of no process (no pid is that high; nothing captured, so nothing to pair the
        // report with).
        let mut slot = Slot::new(i32::MAX, worker_process::UNKNOWN_GROUP, None);
        slot.state = State::Idle;
        scheduler.slots.push(slot);
        let job = scheduler.queue.take(0).expect("the test is queued");
        scheduler.start_running(0, job);
        let report = Report {
            index: scheduler.registry_index[0],
            failure: None,
            duration_ns: 1_000,
            leftovers: vec![],
            logs: vec![],
            fixtures: vec![],
        };
        scheduler.handle(0, WorkerEvent::ChannelClosed);
        scheduler.handle(0, WorkerEvent::Done(report));
        let passed = scheduler.summary.passed;
        drop(scheduler);
        assert_eq!(finished.0, ["t: Passed"]);
        assert_eq!(passed, 1);
    }

    /// A forked worker's hello comes in its output pipe, its test's messages on its channel:
    /// a malformed message heard before the hello is its first test's, which crashed — not a
    /// worker that failed to start, which would end the run.
    #[test]
    fn a_malformed_message_heard_before_a_forked_worker_s_hello_is_its_first_test_s() {
        let def: &'static TestDef = Box::leak(Box::new(crate::registry::test_def("suite", "t", 1)));
        let tests = vec![("t".to_string(), def)];
        let options = Options::parse(Vec::new()).expect("no arguments");
        let mut finished = Finished(Vec::new());
        let mut scheduler = Scheduler::new(&tests, &[0], &options, &mut finished, Vec::new()).expect("scheduler");
        let (_reader, writer) = std::io::pipe().expect("a pipe");
        let mut slot = Slot::new(i32::MAX, worker_process::UNKNOWN_GROUP, None);
        slot.tasks = Some(WorkSender::pipe(writer, None));
        scheduler.slots.push(slot);
        let job = scheduler.queue.take(0).expect("the test is queued");
        scheduler.slots[0].ahead.push_back(job);
        scheduler.handle(0, WorkerEvent::Malformed("undecodable".into()));
        assert_eq!(scheduler.summary.fatal, None);
        let State::Busy(running) = &scheduler.slots[0].state else {
            panic!("the test is not running: {:?}", scheduler.slots[0].state);
        };
        assert_eq!(running.job.test, 0);
        assert!(matches!(running.ending, Some(Ending::Broken { .. })), "{:?}", running.ending);
    }

    /// A test that ran long before has nothing queued behind it (another worker would idle
    /// while it waits), one known to be short has up to [`AHEAD`], and one of which nothing is
    /// known yet has one; what a worker's last test took stands in where no timings are.
    #[test]
    fn nothing_waits_behind_a_test_expected_to_be_long() {
        const NAMES: [&str; 20] = [
            "t00", "t01", "t02", "t03", "t04", "t05", "t06", "t07", "t08", "t09", "t10", "t11", "t12",
            "t13", "t14", "t15", "t16", "t17", "t18", "t19",
        ];
        let tests: Vec<(String, &'static TestDef)> = NAMES
            .iter()
            .map(|name| {
                let def: &'static TestDef = Box::leak(Box::new(crate::registry::test_def("suite", name, 1)));
                (name.to_string(), def)
            })
            .collect();
        let run: Vec<usize> = (0..NAMES.len()).collect();
        let options = Options::parse(["--test-threads".to_string(), "2".to_string()]).expect("arguments");
        let mut finished = Finished(Vec::new());
        // t00 long, t02 unknown, the others short.
        let seconds: HashMap<String, f64> = NAMES
            .iter()
            .filter(|name| **name != "t02")
            .map(|name| (name.to_string(), if *name == "t00" { 2.0 } else { 0.000_1 }))
            .collect();
        let mut scheduler = Scheduler::new(&tests, &run, &options, &mut finished, Vec::new())
            .expect("scheduler")
            .expecting(&seconds);
        for _ in 0..3 {
            let mut slot = Slot::new(i32::MAX, worker_process::UNKNOWN_GROUP, None);
            slot.state = State::Idle;
            scheduler.slots.push(slot);
        }
        for id in 0..3 {
            let job = scheduler.queue.take(0).expect("queued");
            scheduler.start_running(id, job);
        }
        // t00 ran 2 s before: nothing behind it.
        assert!(!scheduler.may_hand_out_ahead(0));
        // t01 is known short: up to AHEAD behind it while the queue is long.
        for _ in 0..AHEAD {
            assert!(scheduler.may_hand_out_ahead(1));
            let job = scheduler.queue.take(0).expect("queued");
            scheduler.slots[1].ahead.push_back(job);
        }
        assert!(!scheduler.may_hand_out_ahead(1));
        // t02 is unknown: one behind it, and not two.
        assert!(scheduler.may_hand_out_ahead(2));
        let job = scheduler.queue.take(0).expect("queued");
        scheduler.slots[2].ahead.push_back(job);
        assert!(!scheduler.may_hand_out_ahead(2));
        // Where no timings say, the worker's last test does: it took long, so nothing behind.
        scheduler.slots[2].ahead.clear();
        scheduler.slots[2].last_took = Some(SHORT * 2);
        assert!(!scheduler.may_hand_out_ahead(2));
        scheduler.slots[2].last_took = Some(SHORT / 10);
        assert!(scheduler.may_hand_out_ahead(2));
    }

    #[test]
    fn a_test_s_registry_index_is_where_it_is_in_the_registry_and_none_for_another() {
        for (i, def) in crate::registry::TESTS.iter().enumerate() {
            assert_eq!(registry_index_of(def), i as u32);
        }
        let elsewhere = crate::registry::test_def("suite", "t", 1);
        assert_eq!(registry_index_of(&elsewhere), u32::MAX);
    }
}
