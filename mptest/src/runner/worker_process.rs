//! Starting one worker process and the threads that watch it: its channel and its exit (see
//! [`watch`](super::watch)), and its output pipe. Each turns what it sees into a
//! [`WorkerEvent`] for the scheduler.

use std::os::unix::process::CommandExt;
use std::process::Stdio;
use std::sync::mpsc::Sender;

use super::event::WorkerEvent;
use super::watch::{spawn_thread, watch, Said, Speaks};

use crate::capture::{self, Piece, SharedBuffer};
use crate::error::Error;
use crate::launch::endpoint::Bootstrap;
use crate::launch::role;
use crate::protocol::FromWorker;

/// A started worker.
pub(crate) struct WorkerProcess {
    pub(crate) pid: i32,
    /// The output of the test in progress (`None` when not capturing).
    pub(crate) buffer: Option<SharedBuffer>,
}

/// Starts worker `id`; its events arrive on `events` tagged with `id`.
pub(crate) fn spawn(
    id: usize,
    capture: bool,
    events: Sender<(usize, WorkerEvent)>,
) -> Result<WorkerProcess, Error> {
    let server = Bootstrap::<FromWorker>::new().map_err(Error::WorkerSpawn)?;
    let mut command = crate::launch::reexec::command("worker", server.name(), &format!("worker {}", id + 1));
    command
        .stdin(Stdio::null())
        // Its own process group, which what its tests start inherits: one signal ends them all.
        .process_group(0);
    let mut pipe = None;
    let mut sentinel = Vec::new();
    if capture {
        let nonce = crate::nonce::new_nonce();
        sentinel = capture::sentinel_bytes(&nonce);
        command.env(role::SENTINEL_VAR, &nonce);
        let (reader, writer) = std::io::pipe().map_err(Error::WorkerSpawn)?;
        // fd 1 and fd 2 share one pipe, so their interleaving is kept as a terminal shows it.
        command
            .stdout(writer.try_clone().map_err(Error::WorkerSpawn)?)
            .stderr(writer);
        pipe = Some(reader);
    }
    let child = command.spawn().map_err(Error::WorkerSpawn)?;
    // The command holds our copies of the pipe's write end; without dropping them the pipe
    // would never close.
    drop(command);
    let pid = child.id() as i32;

    watch(id, "worker", server, child, &events)?;

    let buffer = match pipe {
        Some(reader) => {
            let buffer = SharedBuffer::default();
            let shared = buffer.clone();
            spawn_thread("mptest-worker-output", move || {
                capture::read_pipe(reader, &sentinel, &shared, |piece| {
                    let event = match piece {
                        Piece::Test(out) => WorkerEvent::Output(out),
                        Piece::Closed(out) => WorkerEvent::OutputClosed(out),
                    };
                    let _ = events.send((id, event));
                });
            })?;
            Some(buffer)
        }
        None => None,
    };
    Ok(WorkerProcess { pid, buffer })
}

impl Speaks for FromWorker {
    fn said(self) -> Said {
        match self {
            FromWorker::Hello { tasks, .. } => Said::Hello(WorkerEvent::Connected(tasks)),
            FromWorker::Done(report) => Said::Message(WorkerEvent::Done(report)),
            FromWorker::Hooks(report) => Said::Message(WorkerEvent::Hooks(report)),
            FromWorker::NeedFixture { key, reply } => Said::Message(WorkerEvent::NeedFixture { key, reply }),
            FromWorker::Fixtures(events) => Said::Message(WorkerEvent::Fixtures(events)),
        }
    }
}
