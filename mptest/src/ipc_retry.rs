//! ipc-channel's receives, retried when a signal interrupts them. ipc-channel hands EINTR from
//! its `poll` and `recvmsg` back as an error, so a signal arriving in the process (a stop and
//! continue, a handler of the program's own) would otherwise look like a broken channel.

use std::io::ErrorKind;
use std::time::{Duration, Instant};

use ipc_channel::ipc::IpcReceiver;
use ipc_channel::{IpcError, TryRecvError};
use serde::de::DeserializeOwned;
use serde::Serialize;

pub(crate) fn interrupted(err: &IpcError) -> bool {
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

/// How long a round trip's two ends look for the other's message before they sleep.
pub(crate) const SPIN: Duration = Duration::from_micros(50);

/// `recv`, but for up to `spin` it first looks for the message without sleeping, yielding the
/// CPU between looks. A message the peer sends within that time — the reply to a call, the next
/// call of a busy client — is taken without a sleep and a wake-up, which cost about 30 µs when
/// the peer runs on another CPU; on the same CPU the yield lets the peer run. Past `spin` it
/// blocks as `recv` does, so an idle connection costs nothing.
pub(crate) fn recv_spinning<T: Serialize + DeserializeOwned>(
    rx: &IpcReceiver<T>,
    spin: Duration,
) -> Result<T, IpcError> {
    let started = Instant::now();
    loop {
        match rx.try_recv() {
            Ok(message) => return Ok(message),
            Err(TryRecvError::Empty) => {}
            Err(TryRecvError::IpcError(err)) if interrupted(&err) => {}
            Err(TryRecvError::IpcError(err)) => return Err(err),
        }
        if started.elapsed() >= spin {
            return recv(rx);
        }
        std::thread::yield_now();
    }
}
