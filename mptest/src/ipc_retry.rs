//! ipc-channel's receives, retried when a signal interrupts them. ipc-channel hands EINTR from
//! its `poll` and `recvmsg` back as an error, so a signal arriving in the process (a stop and
//! continue, a handler of the program's own) would otherwise look like a broken channel.

use std::io::ErrorKind;
use std::time::{Duration, Instant};

use ipc_channel::ipc::IpcReceiver;
use ipc_channel::{IpcError, TryRecvError};
use serde::de::DeserializeOwned;
use serde::Serialize;

fn interrupted(err: &IpcError) -> bool {
    matches!(err, IpcError::Io(e) if e.kind() == ErrorKind::Interrupted)
}

/// `rx.recv()`, retried on EINTR.
pub(crate) fn recv<T: Serialize + DeserializeOwned>(rx: &IpcReceiver<T>) -> Result<T, IpcError> {
    loop {
        match rx.recv() {
            Err(err) if interrupted(&err) => continue,
            other => return other,
        }
    }
}

/// `rx.try_recv_timeout(timeout)`, retried on EINTR for what is left of the timeout.
pub(crate) fn recv_timeout<T: Serialize + DeserializeOwned>(
    rx: &IpcReceiver<T>,
    timeout: Duration,
) -> Result<T, TryRecvError> {
    let deadline = Instant::now().checked_add(timeout);
    loop {
        let left = deadline.map_or(timeout, |d| d.saturating_duration_since(Instant::now()));
        match rx.try_recv_timeout(left) {
            Err(TryRecvError::IpcError(err)) if interrupted(&err) => continue,
            other => return other,
        }
    }
}
