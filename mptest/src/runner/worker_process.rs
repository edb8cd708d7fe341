//! Starting one worker process and the three threads that watch it: its channel, its output
//! pipe and its exit. Each turns what it sees into a [`WorkerEvent`] for the scheduler.

use std::os::unix::process::CommandExt;
use std::process::{ExitStatus, Stdio};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread;
use std::time::Duration;

use ipc_channel::ipc::IpcSender;
use ipc_channel::IpcError;

use crate::capture::{self, CapturedOutput, Piece, SharedBuffer};
use crate::error::Error;
use crate::launch::endpoint::Bootstrap;
use crate::launch::role;
use crate::protocol::{FromWorker, Report, ToWorker};

/// What happened to a worker.
#[derive(Debug)]
pub(crate) enum WorkerEvent {
    /// It connected and said where to send work.
    Connected(IpcSender<ToWorker>),
    /// A test ended.
    Done(Report),
    /// Its start or stop hooks ran.
    Hooks(crate::hooks::HookReport),
    /// A test of it needs a run fixture: pass the request on to the fixture host.
    NeedFixture {
        key: String,
        reply: ipc_channel::ipc::OpaqueIpcSender,
    },
    /// Fixtures were torn down (in a worker, or in the fixture host).
    Fixtures(Vec<crate::fixtures::FixtureEvent>),
    /// The fixture host connected and said where to send requests.
    HostConnected(IpcSender<crate::fixtures::ToHost>),
    /// It sent something that is not a message we know.
    Malformed(String),
    /// Its channel closed.
    ChannelClosed,
    /// The output of one test (cut at an end marker).
    Output(CapturedOutput),
    /// Its output pipe closed; what came after the last marker.
    OutputClosed(CapturedOutput),
    /// The process ended.
    Exited(ExitStatus),
}

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
    let mut child = command.spawn().map_err(Error::WorkerSpawn)?;
    // The command holds our copies of the pipe's write end; without dropping them the pipe
    // would never close.
    drop(command);
    let pid = child.id() as i32;

    let reading = Arc::new(ChannelReading::default());
    let tx = events.clone();
    let channel = reading.clone();
    spawn_thread("mptest-worker-exit", move || {
        // Blocks until the worker ends; a kill from the scheduler makes sure it does.
        let event = match child.wait() {
            Ok(status) => WorkerEvent::Exited(status),
            Err(_) => WorkerEvent::Malformed("could not wait for the worker process".into()),
        };
        // What the worker sent before it died comes first: a test it finished just before the
        // next one (handed out ahead) crashed it is reported as done, not as crashed.
        channel.wait_until_read();
        let _ = tx.send((id, event));
    })?;

    let tx = events.clone();
    // ipc-channel's accept has no timeout: if the worker dies before connecting, this thread
    // stays blocked, and the scheduler learns of the death from the exit thread instead.
    spawn_thread("mptest-worker-channel", move || {
        watch_channel(id, server, &tx, &reading);
        reading.set(Reading::Finished);
    })?;

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

fn spawn_thread(name: &str, f: impl FnOnce() + Send + 'static) -> Result<(), Error> {
    thread::Builder::new()
        .name(name.into())
        .spawn(f)
        .map(drop)
        .map_err(Error::WorkerSpawn)
}

/// How far the channel thread has read a worker's channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Reading {
    /// The worker has not connected (it may never: then there is nothing to wait for).
    #[default]
    NotConnected,
    Connected,
    /// To its end (or the thread gave up on it).
    Finished,
}

/// Lets the exit thread wait until the channel thread has passed on everything a dead worker
/// sent.
#[derive(Default)]
struct ChannelReading {
    state: Mutex<Reading>,
    changed: Condvar,
}

/// How long a dead worker's channel may take to reach its end (its process is gone, so the
/// socket's end is near; something it forked could hold it open).
const CHANNEL_DRAIN: Duration = Duration::from_secs(2);

impl ChannelReading {
    fn set(&self, reading: Reading) {
        *self.state.lock().unwrap_or_else(PoisonError::into_inner) = reading;
        self.changed.notify_all();
    }

    fn wait_until_read(&self) {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let _ = self
            .changed
            .wait_timeout_while(state, CHANNEL_DRAIN, |r| *r == Reading::Connected);
    }
}

fn watch_channel(
    id: usize,
    server: Bootstrap<FromWorker>,
    tx: &Sender<(usize, WorkerEvent)>,
    reading: &ChannelReading,
) {
    let send = |event| tx.send((id, event)).is_ok();
    let receiver = match server.accept() {
        Ok((receiver, FromWorker::Hello { tasks, .. })) => {
            reading.set(Reading::Connected);
            if !send(WorkerEvent::Connected(tasks)) {
                return;
            }
            receiver
        }
        Ok((_, other)) => {
            send(WorkerEvent::Malformed(format!(
                "expected a hello first, got {other:?}"
            )));
            return;
        }
        Err(err) => {
            send(WorkerEvent::Malformed(format!("bad first message: {err}")));
            return;
        }
    };
    loop {
        let event = match crate::ipc_retry::recv(&receiver) {
            Ok(FromWorker::Done(report)) => WorkerEvent::Done(report),
            Ok(FromWorker::Hooks(report)) => WorkerEvent::Hooks(report),
            Ok(FromWorker::NeedFixture { key, reply }) => WorkerEvent::NeedFixture { key, reply },
            Ok(FromWorker::Fixtures(events)) => WorkerEvent::Fixtures(events),
            Ok(FromWorker::Hello { .. }) => WorkerEvent::Malformed("a second hello".into()),
            Err(IpcError::Disconnected) => {
                send(WorkerEvent::ChannelClosed);
                return;
            }
            Err(IpcError::SerializationError(err)) => {
                WorkerEvent::Malformed(format!("undecodable message ({err}: {err:?})"))
            }
            Err(IpcError::Io(err)) => {
                send(WorkerEvent::Malformed(format!("channel error: {err}")));
                return;
            }
        };
        if !send(event) {
            return;
        }
    }
}
