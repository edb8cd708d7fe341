//! The end of a run: workers asked to exit (or killed, when the run was cut short), what they
//! still report taken in, the fixture host's teardown, strays ended, and the tests that did
//! not run named.

use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use super::*;

/// How long idle workers get to exit at the end before they are killed.
const EXIT_GRACE: Duration = Duration::from_secs(5);

/// How long the fixture host gets to tear the run's fixtures down at the end before it is
/// killed.
const HOST_GRACE: Duration = Duration::from_secs(30);

impl Scheduler<'_> {
    /// Asks idle workers to exit, waits a bounded time, kills the rest and what they left.
    pub(super) fn shut_down(&mut self) {
        let abrupt = self.summary.fatal.is_some() || self.interrupted.is_some() || self.run_timed_out;
        // What a worker's channel said and was kept back for a report that will not be taken
        // now (see `Slot::next_released`): still reported (hooks, fixtures).
        for id in 0..self.slots.len() {
            for (_, event) in std::mem::take(&mut self.slots[id].told) {
                self.handle_late(id, event);
            }
        }
        // Tests handed out ahead never started: they did not run.
        for slot in &mut self.slots {
            while let Some(next) = slot.ahead.pop_back() {
                self.queue.push_front(next);
            }
        }
        // Tests an interrupt or the run's timeout cuts short are reported as such, with their
        // output so far.
        let cut_short: Vec<(usize, Job, Instant)> = match self.interrupted.is_some() || self.run_timed_out {
            true => self
                .slots
                .iter()
                .enumerate()
                .filter_map(|(id, slot)| match &slot.state {
                    State::Busy(r) => Some((id, r.job, r.started)),
                    _ => None,
                })
                .collect(),
            false => Vec::new(),
        };
        for slot in &mut self.slots {
            match slot.state {
                State::Dead => {}
                _ if abrupt => slot.signal(Signal::SIGKILL),
                // Told already, behind its last test (see `send_exit_ahead`).
                _ if slot.exit_sent => {}
                _ => {
                    if let Some(tasks) = &slot.tasks {
                        let _ = tasks.send(ToWorker::Exit);
                    }
                }
            }
        }
        if !abrupt && self.queue.is_empty() {
            if let Some(work) = self.while_workers_exit.take() {
                work();
            }
        }
        let deadline = Instant::now() + EXIT_GRACE;
        let mut killed = false;
        // Dying workers have exited already; only their output was awaited.
        let running = |s: &Slot| !s.state.has_exited();
        while self.slots.iter().any(running) {
            let now = Instant::now();
            if now >= deadline && !killed {
                for slot in self.slots.iter().filter(|s| running(s)) {
                    slot.signal(Signal::SIGKILL);
                }
                killed = true;
            }
            if now >= deadline + EXIT_GRACE {
                break;
            }
            let wait = if killed {
                deadline + EXIT_GRACE - now
            } else {
                deadline - now
            };
            match self.inbox.recv_timeout(wait) {
                Some((id, WorkerEvent::Exited(_))) if id < self.slots.len() => {
                    self.slots[id].state = State::Dead;
                }
                // Stop hooks and fixture teardowns run as the workers exit.
                Some((id, event)) => self.handle_late(id, event),
                None => {}
            }
        }
        // A stop hook's report may come after its worker's exit was seen.
        while let Some((id, event)) = self.inbox.try_recv() {
            self.handle_late(id, event);
        }
        // After the workers, whatever ended them: the run's fixtures are torn down last.
        self.shut_down_host();
        // Every slot and the host are gone: whatever is below us now is a stray, found in rounds
        // until we have no child left (see `procs::end_all_below`).
        // Usually nothing is: known at once, without reading the whole process table.
        let me = std::process::id() as i32;
        let strays = if procs::nothing_below() {
            Vec::new()
        } else {
            procs::end_all_below(
                || procs::descendants(me, &procs::all_processes(), &[]),
                procs::has_children,
            )
        };
        if !strays.is_empty() {
            let message = format!(
                "ended {} process(es) still running at the end of the run: {}",
                strays.len(),
                strays.join(", ")
            );
            self.reporter.report(&Event::Notice { message: &message });
        }
        let stopped = match (self.interrupted, self.options.run_timeout) {
            (Some(signal), _) => Some(format!("interrupted by {}", procs::signal_name(signal))),
            (None, Some(limit)) if self.run_timed_out => Some(format!(
                "ended by --run-timeout after {}",
                humantime::format_duration(limit)
            )),
            _ => None,
        };
        if let Some(why) = stopped {
            // A cut-short test is not retried (`interrupted` or the timeout holds).
            for (id, job, started) in cut_short {
                let output = self.slots[id].buffer.as_ref().map(capture::take_shared);
                let outcome = Outcome::Interrupted { why: why.clone() };
                self.finish(job, outcome, started.elapsed(), output, Vec::new(), Vec::new());
            }
            if !self.queue.is_empty() {
                let message = format!("{} test(s) did not run: the run was {why}", self.queue.len());
                self.reporter.report(&Event::Notice { message: &message });
            }
            self.summary.fatal = Some(format!("the run was {why}"));
            self.summary.not_run = self.pending_names();
        } else if self.summary.fatal.is_some() && !self.queue.is_empty() {
            self.summary.not_run = self.pending_names();
            let message = format!(
                "{} test(s) did not run: the run could not go on",
                self.queue.len()
            );
            self.reporter.report(&Event::Notice { message: &message });
        }
    }
    /// Ends the fixture host: it tears down what is left and exits, within [`HOST_GRACE`].
    fn shut_down_host(&mut self) {
        let Some(pid) = self.run_fixtures.begin_exit() else {
            return;
        };
        let deadline = Instant::now() + HOST_GRACE;
        loop {
            let wait = deadline.saturating_duration_since(Instant::now());
            match self.inbox.recv_timeout(wait) {
                Some((HOST_SLOT, WorkerEvent::Exited(status))) => {
                    if !status.success() {
                        let message = format!("the fixture host {}", describe_exit(status));
                        self.reporter.report(&Event::Notice { message: &message });
                    }
                    break;
                }
                Some((id, event)) => self.handle_late(id, event),
                None => {
                    let message = format!(
                        "the fixture host did not end within {} of the end of the run; it was killed",
                        humantime::format_duration(HOST_GRACE)
                    );
                    self.reporter.report(&Event::Notice { message: &message });
                    break;
                }
            }
        }
        // What its fixtures started goes with it.
        procs::signal_group(pid, Signal::SIGKILL);
        self.run_fixtures.gone("the run is over".into());
    }

    /// An event after the tests: reports still worth making (hooks, fixtures); requests refused.
    fn handle_late(&mut self, id: usize, event: WorkerEvent) {
        if id == HOST_SLOT {
            self.on_host_event(event);
            return;
        }
        match event {
            // Every test is reported: nothing left to keep in order with.
            WorkerEvent::After { event, .. } => self.handle_late(id, *event),
            WorkerEvent::Hooks(report) if id < self.slots.len() => self.report_hooks(id, &report),
            WorkerEvent::Fixtures(events) => self.report_fixtures(&format!("worker {}", id + 1), &events),
            WorkerEvent::NeedFixture { key, reply } => {
                crate::fixtures::refuse(reply, &key, "the run is over")
            }
            _ => {}
        }
    }


    /// The names of the tests still waiting, in their order.
    fn pending_names(&self) -> Vec<String> {
        self.queue
            .jobs()
            .map(|job| self.tests[job.test].0.clone())
            .collect()
    }
}
