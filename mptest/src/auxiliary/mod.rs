//! Auxiliaries, pykiso-style: long-lived helper processes that own a connection to something
//! (a bus, a device, a simulator), driven by a test — or by several processes of a test —
//! through an [`AuxHandle`].
//!
//! ```no_run
//! use std::time::Duration;
//! use mptest::aux::{AuxResult, Auxiliary};
//!
//! /// Answers every command with its length; hears nothing.
//! pub struct Echo;
//!
//! #[mptest::aux]
//! impl Auxiliary for Echo {
//!     type Config = ();
//!     type Command = String;
//!     type Response = usize;
//!     type Message = String;
//!
//!     fn new(_config: ()) -> AuxResult<Self> { Ok(Echo) }
//!     fn run_command(&self, command: String) -> AuxResult<usize> { Ok(command.len()) }
//! }
//!
//! # fn test() -> Result<(), mptest::aux::AuxError> {
//! let echo = mptest::aux::start::<Echo>(())?;
//! assert_eq!(echo.run_command("ping".into(), Duration::from_secs(5))?, 4);
//! echo.stop()?;
//! # Ok(()) }
//! ```
//!
//! ## What runs where
//!
//! The auxiliary lives in its own process (this binary, re-executed in the aux role). There:
//! - [`Auxiliary::new`], [`create_instance`](Auxiliary::create_instance) and
//!   [`delete_instance`](Auxiliary::delete_instance) run on the process's main thread at start,
//!   and later on the thread of the connection that asked (`create_instance` / `suspend` /
//!   ...); mptest never runs two of them at once.
//! - [`run_command`](Auxiliary::run_command) and [`abort_command`](Auxiliary::abort_command)
//!   run on the thread of the connection that sent them: one thread per connected process
//!   (and per concurrent caller in it), so an `abort_command` can reach a command in progress.
//!   That is why the methods take `&self`: keep mutable state behind a `Mutex`.
//! - [`receive_message`](Auxiliary::receive_message) runs on the aux's receive thread, in a
//!   loop, while the instance exists.
//!
//! ## Who gets a received message
//!
//! Every process that uses a handle on the aux is a subscriber from its first call on (the
//! starting process from the moment the instance is created), and **every** subscriber gets
//! every message — a broadcast, not pykiso's one shared queue, so a monitor in a child and the
//! test itself both see the frame. Command replies travel on their own channel and are never
//! mixed with messages. Within one process, clones of a handle share that process's queue.
//!
//! Each subscriber's queue holds at most [`MESSAGE_CAPACITY`] messages; when it is full, new
//! messages for that subscriber are dropped and counted ([`AuxHandle::dropped_messages`]); the
//! aux prints the count when it stops, so it is in the test's report.

mod handle;
mod server;
mod wire;

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

#[doc(hidden)]
pub use handle::send_garbage;
pub use handle::AuxHandle;
pub(crate) use server::run_aux;

/// How many received messages a subscriber's queue keeps before it drops new ones.
pub const MESSAGE_CAPACITY: usize = 100_000;

/// What an auxiliary's methods return: any error, which reaches the caller as text.
pub type AuxResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// What an auxiliary implements: pykiso's `MpAuxiliaryInterface` (`_create_auxiliary_instance`,
/// `_delete_auxiliary_instance`, `_run_command`, `_abort_command`, `_receive_message`) without
/// the underscores, and with typed commands, responses and messages. Put
/// [`#[mptest::aux]`](macro@crate::aux) on the `impl`.
pub trait Auxiliary: Sized + Send + Sync + 'static {
    /// What [`start`] hands the new aux process (a port name, a bus, an address...).
    type Config: Serialize + DeserializeOwned + Send + 'static;
    /// A command for [`run_command`](Auxiliary::run_command).
    type Command: Serialize + DeserializeOwned + Send + 'static;
    /// A command's result.
    type Response: Serialize + DeserializeOwned + Send + 'static;
    /// What the aux hears (a frame, a line, an event); every subscriber gets a clone.
    type Message: Serialize + DeserializeOwned + Clone + Send + 'static;

    /// Makes the aux from its config, in its process. Opens nothing yet.
    fn new(config: Self::Config) -> AuxResult<Self>;

    /// Opens the connection (pykiso: `_create_auxiliary_instance`). Default: nothing to open.
    fn create_instance(&self) -> AuxResult<()> {
        Ok(())
    }

    /// Closes it (pykiso: `_delete_auxiliary_instance`). Default: nothing to close.
    fn delete_instance(&self) -> AuxResult<()> {
        Ok(())
    }

    /// Runs one command (pykiso: `_run_command`). A panic here fails this command only.
    fn run_command(&self, command: Self::Command) -> AuxResult<Self::Response>;

    /// Aborts what is running (pykiso: `_abort_command`). Default: nothing to abort.
    fn abort_command(&self) -> AuxResult<()> {
        Ok(())
    }

    /// The next thing the aux hears, waiting at most `wait` (pykiso: `_receive_message`).
    /// Called in a loop while the instance exists. Default: the aux hears nothing.
    fn receive_message(&self, wait: Duration) -> Option<Self::Message> {
        let _ = wait;
        None
    }
}

/// Why a call on an auxiliary failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuxError {
    /// The aux has no instance (suspended, or its instance was deleted) or has stopped.
    #[error("the auxiliary {0} is not started (suspended, deleted or stopped)")]
    NotStarted(String),
    /// The aux process died: a panic outside a command, a crash, a kill. Every process holding
    /// a handle learns the same within a second: the process that started the aux leaves how
    /// it ended in the run's directory. (An aux that was stopped — from any process — is
    /// [`AuxError::NotStarted`] instead.)
    #[error("the auxiliary {name} died ({status}); its last output:\n{last_output}")]
    Died {
        /// The aux's name.
        name: String,
        /// How it ended ("was killed by signal SIGSEGV (segmentation fault)").
        status: String,
        /// Its last lines of output.
        last_output: String,
    },
    /// It did not answer within the call's timeout.
    #[error("the auxiliary {0} did not answer within the timeout")]
    Timeout(String),
    /// The command (or create/delete/abort) failed in the aux: its error, as text.
    #[error("the auxiliary {name} failed: {message}")]
    Failed {
        /// The aux's name.
        name: String,
        /// Its error.
        message: String,
    },
    /// `run_command` panicked in the aux; the aux goes on serving.
    #[error("the auxiliary {name}'s command panicked at {location}: {message}")]
    CommandPanicked {
        /// The aux's name.
        name: String,
        /// The panic's message.
        message: String,
        /// Where.
        location: String,
    },
    /// The aux could not be started (no `#[mptest::aux]`, its `new` or `create_instance`
    /// failed, the process did not come up).
    #[error("could not start the auxiliary: {0}")]
    Start(String),
    /// A message could not be decoded.
    #[error("malformed message from the auxiliary: {0}")]
    Malformed(String),
}

/// One `#[mptest::aux]`, as the macro registers it.
#[doc(hidden)]
pub struct AuxTypeDef {
    /// `std::any::type_name` of the aux type.
    pub name: fn() -> &'static str,
    /// Runs the aux process for this type.
    pub run: fn(server::Job) -> !,
}

/// Every `#[mptest::aux]` of the binary.
#[linkme::distributed_slice]
#[doc(hidden)]
pub static AUX_TYPES: [AuxTypeDef];

/// The registration the macro writes for `T`.
#[doc(hidden)]
pub const fn aux_type_def<T: Auxiliary>() -> AuxTypeDef {
    AuxTypeDef {
        name: std::any::type_name::<T>,
        run: server::run_typed::<T>,
    }
}

/// Starts the aux `T` in its own process and creates its instance (pykiso: the auxiliary's
/// start, then `create_instance`). Its name in reports is the type's name.
pub fn start<T: Auxiliary>(config: T::Config) -> Result<AuxHandle<T>, AuxError> {
    let name = std::any::type_name::<T>()
        .rsplit("::")
        .next()
        .unwrap_or("aux")
        .to_string();
    start_named::<T>(&name, config)
}

/// [`start`] with a name of your own for reports (two simulators of one type, say).
pub fn start_named<T: Auxiliary>(name: &str, config: T::Config) -> Result<AuxHandle<T>, AuxError> {
    handle::start::<T>(name, config)
}
