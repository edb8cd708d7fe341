//! A started process's exit, and what comes before it is told: everything the process sent on
//! its channel (read by the channel's thread, see [`super::watch`]) and wrote in its output pipe.
//!
//! Heard by a thread that waits for the process, or — on Linux — by the [inbox](super::inbox)
//! itself, which polls a pidfd of the process: no thread to start and end for each worker (each
//! costs the coordinator ~50 µs of a run's fixed cost here), and one wake-up less between the
//! process's end and the scheduler.

use std::os::fd::{BorrowedFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, ExitStatus};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::event::WorkerEvent;

/// A process the coordinator started: spawned (re-executed) or forked (see
/// [`crate::launch::fork`]).
pub(crate) enum Started {
    Spawned(Child),
    Forked { pid: i32 },
}

impl Started {
    /// The process's pid.
    pub(crate) fn pid(&self) -> i32 {
        match self {
            Started::Spawned(child) => child.id() as i32,
            Started::Forked { pid } => *pid,
        }
    }

    /// Waits until the process ends.
    pub(crate) fn wait(&mut self) -> std::io::Result<ExitStatus> {
        match self {
            Started::Spawned(child) => child.wait(),
            Started::Forked { pid } => loop {
                if let Some(status) = reap(*pid, 0)? {
                    return Ok(status);
                }
            },
        }
    }

    /// Its exit, reaped, if it has ended; `None` while it runs (or the wait was interrupted).
    pub(crate) fn try_wait(&mut self) -> std::io::Result<Option<ExitStatus>> {
        let tried = match self {
            Started::Spawned(child) => child.try_wait(),
            Started::Forked { pid } => reap(*pid, libc::WNOHANG),
        };
        match tried {
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => Ok(None),
            tried => tried,
        }
    }
}

/// `waitpid` on our forked child `pid` with `flags`: its status once it ended; `None` when it
/// has not (`WNOHANG`) or the wait was interrupted.
fn reap(pid: i32, flags: libc::c_int) -> std::io::Result<Option<ExitStatus>> {
    let mut status = 0;
    // SAFETY: waitpid on our own child, with a status word of ours.
    match unsafe { libc::waitpid(pid, &mut status, flags) } {
        0 => Ok(None),
        reaped if reaped == pid => Ok(Some(ExitStatus::from_raw(status))),
        _ => match std::io::Error::last_os_error() {
            err if err.kind() == std::io::ErrorKind::Interrupted => Ok(None),
            err => Err(err),
        },
    }
}

/// Where the exit of a process whose output is captured is told: into its output pipe, as the
/// last record (see [`crate::capture::Record`]), so the pipe's reader passes it on after
/// everything the process wrote — reports carried in the pipe included.
pub(crate) struct ExitNote {
    /// A write end of the process's output pipe, the coordinator's own.
    pub(crate) pipe: OwnedFd,
    pub(crate) sentinel: Vec<u8>,
    /// A forked worker's stage: what it staged and did not write goes into the pipe before the
    /// record (see [`crate::stage`]).
    pub(crate) stage: Option<std::sync::Arc<crate::stage::Stage>>,
}

impl ExitNote {
    /// The record that tells `status`.
    pub(crate) fn record(&self, status: ExitStatus) -> Option<Vec<u8>> {
        crate::capture::Record::Exited(status.into_raw()).bytes(&self.sentinel)
    }

    /// What the dead process staged and never wrote to the pipe.
    pub(crate) fn unwritten(&self) -> Vec<u8> {
        self.stage.as_ref().map(|stage| stage.unwritten()).unwrap_or_default()
    }
}

/// How far the channel thread has read a process's channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Reading {
    /// The process has not connected (it may never: then there is nothing to wait for).
    #[default]
    NotConnected,
    Connected,
    /// To its end (or the thread gave up on it).
    Finished,
}

/// Lets the exit's teller wait until the channel thread has passed on everything a dead process
/// sent.
#[derive(Default)]
pub(crate) struct ChannelReading {
    state: Mutex<Reading>,
    changed: Condvar,
}

/// How long a dead process's channel may take to reach its end (its process is gone, so the
/// socket's end is near; something it forked could hold it open).
pub(crate) const CHANNEL_DRAIN: Duration = Duration::from_secs(2);

impl ChannelReading {
    pub(crate) fn set(&self, reading: Reading) {
        *self.state.lock().unwrap_or_else(PoisonError::into_inner) = reading;
        self.changed.notify_all();
    }

    /// Waits until the channel is read to its end, at most [`CHANNEL_DRAIN`].
    pub(crate) fn wait_until_read(&self) {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let _ = self
            .changed
            .wait_timeout_while(state, CHANNEL_DRAIN, |r| *r == Reading::Connected);
    }

    /// Whether nothing more is to come from the channel.
    fn is_read(&self) -> bool {
        *self.state.lock().unwrap_or_else(PoisonError::into_inner) != Reading::Connected
    }
}

/// A process's exit heard through a pidfd, polled by the inbox: reaped when the pidfd says the
/// process ended, told once its channel is read to the end.
pub(crate) struct PolledExit {
    /// Whose it is (the scheduler's slot).
    pub(crate) slot: usize,
    process: Started,
    pidfd: OwnedFd,
    reading: Arc<ChannelReading>,
    /// Where the exit is told, when the process's output is captured.
    pub(crate) note: Option<ExitNote>,
    /// What was heard once it was reaped, and until when its channel may take.
    reaped: Option<(WorkerEvent, Instant)>,
}

impl PolledExit {
    /// Watches the exit of `process` through a pidfd; `Err` gives it and `note` back where the
    /// system has none (Linux before 5.3, other systems): a thread then waits for the exit.
    pub(crate) fn open(
        slot: usize,
        process: Started,
        reading: Arc<ChannelReading>,
        note: Option<ExitNote>,
    ) -> Result<PolledExit, (Started, Option<ExitNote>)> {
        match crate::procs::pidfd_open(process.pid()) {
            Some(pidfd) => Ok(PolledExit {
                slot,
                process,
                pidfd,
                reading,
                note,
                reaped: None,
            }),
            None => Err((process, note)),
        }
    }

    /// What to poll until the process is reaped.
    pub(crate) fn fd(&self) -> Option<BorrowedFd<'_>> {
        use std::os::fd::AsFd;
        self.reaped.is_none().then(|| self.pidfd.as_fd())
    }

    /// The pidfd was readable: the process ended; reaps it.
    pub(crate) fn reap(&mut self) {
        let event = match self.process.try_wait() {
            // Not ended after all, or interrupted: polled again.
            Ok(None) => return,
            Ok(Some(status)) => WorkerEvent::Exited(status),
            Err(err) => WorkerEvent::Malformed(format!("could not wait for the process: {err}")),
        };
        self.reaped = Some((event, Instant::now() + CHANNEL_DRAIN));
    }

    /// Until when the inbox waits for the channel of a reaped process.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.reaped.as_ref().map(|(_, until)| *until)
    }

    /// The exit to tell, once it may be: the process is reaped and its channel read to its end
    /// (or given up on at the deadline).
    pub(crate) fn take_ready(&mut self, now: Instant) -> Option<WorkerEvent> {
        let ready = matches!(&self.reaped, Some((_, until)) if *until <= now || self.reading.is_read());
        ready.then(|| self.reaped.take().map(|(event, _)| event)).flatten()
    }
}

