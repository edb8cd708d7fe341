//! What travels between processes: where a manager is, and the messages between a process's
//! connection and the manager.

use ipc_channel::ipc::{OpaqueIpcReceiver, OpaqueIpcSender};
use serde::{Deserialize, Serialize};

use super::ProxyError;

/// The run's secret for a manager, handed to it in its environment (readable only by the user).
pub(crate) const SECRET_VAR: &str = "MPTEST_MANAGER_SECRET";

/// Where a manager is: its connection point and the run's secret. Travels inside proxies.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct ManagerRef {
    pub(crate) id: u64,
    pub(crate) secret: String,
    /// An `IpcSender<Connect>`, kept untyped: the typed sender is not `Sync` (its type
    /// parameter holds a receiver), and proxies must be.
    pub(crate) connector: OpaqueIpcSender,
}

/// Identifies a manager in connection pools; the manager computes the same for itself.
pub(crate) fn manager_id(secret: &str, pid: u32) -> u64 {
    u64::from_str_radix(secret.get(..16).unwrap_or_default(), 16).unwrap_or_default() ^ u64::from(pid)
}

/// Opens a connection: sent on the manager's connection point, once per process, manager and
/// shared type.
#[derive(Serialize, Deserialize)]
pub(crate) struct Connect {
    pub(crate) secret: String,
    /// The shared type's name.
    pub(crate) type_name: String,
    /// `#[mptest::shared]` types are looked up by name in the registry; ready-made (generic)
    /// types send the offset of their server function instead.
    pub(crate) registered: bool,
    pub(crate) serve_offset: usize,
    pub(crate) pid: u32,
    /// Typed `Request<S::Init, S::Call>`.
    pub(crate) requests: OpaqueIpcReceiver,
    /// Typed `Reply<S::Ret>`.
    pub(crate) replies: OpaqueIpcSender,
}

/// A request on a connection.
#[derive(Serialize, Deserialize)]
pub(crate) enum Request<I, C> {
    /// Make a new object from this value.
    Create(I),
    /// Call a method.
    Call { object: u64, call: C },
}

/// An answer on a connection.
#[derive(Serialize, Deserialize)]
pub(crate) enum Reply<R> {
    /// The connection is accepted.
    Welcome,
    /// The connection is refused (its first and last reply).
    Refused(String),
    /// A new object's id.
    Created(u64),
    /// A call's result.
    Returned(Result<R, ProxyError>),
}

/// From the manager's owner.
#[derive(Serialize, Deserialize)]
pub(crate) enum Control {
    /// Drop the objects and exit.
    Shutdown,
}

/// The manager's first message to its owner.
#[derive(Serialize, Deserialize)]
pub(crate) struct ManagerHello {
    pub(crate) connector: ipc_channel::ipc::IpcSender<Connect>,
    pub(crate) control: ipc_channel::ipc::IpcSender<Control>,
}
