//! Shared state across processes: a manager process owns objects; proxies reach them from any
//! process of the test, SyncManager-style.
//!
//! ```no_run
//! use mptest::prelude::*;
//!
//! #[mptest::shared]
//! #[derive(Default)]
//! struct Counter { n: u64 }
//!
//! #[mptest::shared]
//! impl Counter {
//!     pub fn incr(&mut self, by: u64) -> u64 { self.n += by; self.n }
//!     pub fn get(&self) -> u64 { self.n }
//! }
//!
//! # fn test() -> Result<(), Box<dyn std::error::Error>> {
//! let mgr = Manager::start()?;
//! let counter = mgr.create(Counter::default())?;       // a CounterProxy
//! let child = mptest::spawn(counter.clone(), |c: CounterProxy| c.incr(2).unwrap());
//! assert_eq!(child.join()?, 2);
//! assert_eq!(counter.get()?, 2);
//! # Ok(()) }
//! ```
//!
//! Which methods the proxy gets, and what is an error: see [`macro@crate::shared`].
//!
//! How it works: every process keeps, per manager and per shared type, a small pool of
//! connections (a request channel and a reply channel, made once; a call checks one out, so
//! concurrent callers in one process do not wait for each other). The manager serves each
//! connection on a thread of its own, so a call that blocks — a queue `get`, an event `wait` —
//! blocks only its caller. Calls on one object are applied one at a time. A proxy holds a sender
//! to the manager's connection point, so it can travel inside any ipc message — a `spawn`
//! argument, another shared object, a method's result — and still reach its object.

mod builtins;
mod manager;
mod proxy;
mod server;
mod wire;

pub use builtins::{
    SharedBarrier, SharedEvent, SharedLock, SharedLockGuard, SharedMap, SharedQueue, SharedValue, SharedVec,
};
#[doc(hidden)]
pub use builtins::{ValueCall, ValueServer};
pub use manager::Manager;
pub use proxy::Proxy;
#[doc(hidden)]
pub(crate) use server::run_manager;
pub use server::{create_here, Caller, Served};
#[doc(hidden)]
pub use server::{
    fault, serve_connection, travel, Locked, ServeFn, SharedState, SharedTypeDef, Travels, SHARED_TYPES,
};

use serde::{Deserialize, Serialize};

/// Why a call through a proxy failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[non_exhaustive]
pub enum ProxyError {
    /// The method panicked in the manager; the manager goes on serving.
    #[error("the shared object's method panicked at {location}: {message}")]
    Panicked {
        /// The panic's message.
        message: String,
        /// Where (`file:line:col`).
        location: String,
    },
    /// The manager process is gone (shut down, crashed or killed).
    #[error("the manager process is gone")]
    ManagerGone,
    /// The manager refused this process: wrong secret, or a type it does not know.
    #[error("the manager refused the connection: {0}")]
    Refused(String),
    /// No object with this id and type lives in the manager.
    #[error("no shared object {0} of this type in the manager")]
    NoSuchObject(u64),
    /// A blocking call's timeout ran out.
    #[error("timed out")]
    Timeout,
    /// A message could not be decoded.
    #[error("malformed message: {0}")]
    Malformed(String),
    /// The operation is not possible (an index out of range, a lock not held, ...).
    #[error("{0}")]
    Failed(String),
    /// The manager process could not be started.
    #[error("could not start the manager: {0}")]
    Start(String),
}
