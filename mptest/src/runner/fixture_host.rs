//! Starting the fixture host (see [`crate::fixtures`]) and the threads that watch it: its
//! channel and its exit, as [`WorkerEvent`]s tagged [`HOST_SLOT`].

use std::os::fd::AsFd;
use std::os::unix::process::CommandExt;
use std::process::Stdio;
use std::sync::mpsc::Sender;

use ipc_channel::IpcError;

use super::worker_process::WorkerEvent;
use crate::error::Error;
use crate::fixtures::FromHost;
use crate::launch::endpoint::Bootstrap;

/// The event tag of the fixture host's events.
pub(crate) const HOST_SLOT: usize = usize::MAX - 1;

/// Starts the fixture host; returns its pid.
pub(crate) fn spawn(events: Sender<(usize, WorkerEvent)>) -> Result<i32, Error> {
    let server = Bootstrap::<FromHost>::new().map_err(Error::WorkerSpawn)?;
    let mut command = crate::launch::reexec::command("fixtures", server.name(), "fixture host");
    // What it prints outside a setup or teardown (which are captured) goes to our stderr: our
    // stdout may be a JSON stream.
    let stderr = || {
        std::io::stderr()
            .as_fd()
            .try_clone_to_owned()
            .map(Stdio::from)
            .map_err(Error::WorkerSpawn)
    };
    command
        .stdin(Stdio::null())
        .stdout(stderr()?)
        .stderr(stderr()?)
        // A group of its own: a terminal's ^C reaches the coordinator only, which then has the
        // host tear the fixtures down.
        .process_group(0);
    let mut child = command.spawn().map_err(Error::WorkerSpawn)?;
    drop(command);
    let pid = child.id() as i32;
    let tx = events.clone();
    spawn_thread("mptest-host-exit", move || {
        let event = match child.wait() {
            Ok(status) => WorkerEvent::Exited(status),
            Err(_) => WorkerEvent::Malformed("could not wait for the fixture host".into()),
        };
        let _ = tx.send((HOST_SLOT, event));
    })?;
    spawn_thread("mptest-host-channel", move || watch_channel(server, &events))?;
    Ok(pid)
}

fn spawn_thread(name: &str, f: impl FnOnce() + Send + 'static) -> Result<(), Error> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(f)
        .map(drop)
        .map_err(Error::WorkerSpawn)
}

fn watch_channel(server: Bootstrap<FromHost>, tx: &Sender<(usize, WorkerEvent)>) {
    let send = |event| tx.send((HOST_SLOT, event)).is_ok();
    let receiver = match server.accept() {
        Ok((receiver, FromHost::Hello { tasks })) => {
            if !send(WorkerEvent::HostConnected(tasks)) {
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
            Ok(FromHost::TornDown(events)) => WorkerEvent::Fixtures(events),
            Ok(FromHost::Hello { .. }) => WorkerEvent::Malformed("a second hello".into()),
            // Its exit is seen by the other thread.
            Err(IpcError::Disconnected) | Err(IpcError::Io(_)) => return,
            Err(IpcError::SerializationError(err)) => {
                WorkerEvent::Malformed(format!("undecodable message ({err})"))
            }
        };
        if !send(event) {
            return;
        }
    }
}
