//! The messages between an aux process and the processes that hold handles on it.

use ipc_channel::ipc::{IpcSender, OpaqueIpcReceiver, OpaqueIpcSender};
use serde::{Deserialize, Serialize};

/// The aux process's first message to its starter: where to send its job.
#[derive(Serialize, Deserialize)]
pub(crate) struct AuxHello {
    pub(crate) jobs: IpcSender<JobWire>,
}

/// What the starter sends: which aux, its name and config, where to say it is ready.
#[derive(Serialize, Deserialize)]
pub(crate) struct JobWire {
    pub(crate) type_name: String,
    pub(crate) name: String,
    /// An `IpcReceiver<T::Config>`.
    pub(crate) config: OpaqueIpcReceiver,
    /// An `IpcSender<Result<IpcSender<Connect>, String>>`: the connection point, or why not.
    pub(crate) ready: OpaqueIpcSender,
}

/// A process opens a connection to the aux: typed request and reply channels.
#[derive(Serialize, Deserialize)]
pub(crate) struct Connect {
    pub(crate) pid: u32,
    /// An `IpcReceiver<Request<T::Command>>`.
    pub(crate) requests: OpaqueIpcReceiver,
    /// An `IpcSender<Reply<T::Response, T::Message>>`.
    pub(crate) replies: OpaqueIpcSender,
}

/// A call on the aux. Every request gets exactly one reply, on the connection's own channel.
#[derive(Serialize, Deserialize)]
pub(crate) enum Request<C> {
    Lock {
        timeout_ms: u64,
    },
    Unlock,
    Create,
    Delete,
    Run(C),
    Abort,
    /// The next received messages for this process: at most `max`, waiting up to the timeout.
    Next {
        max: usize,
        timeout_ms: u64,
    },
    Dropped,
    Stop,
}

/// The aux's answer.
#[derive(Serialize, Deserialize)]
pub(crate) enum Reply<R, M> {
    Done,
    Locked(bool),
    Response(R),
    Failed(String),
    Panicked { message: String, location: String },
    NotStarted,
    Messages(Vec<M>),
    Dropped(u64),
}
