//! The messages between the coordinator and a worker, carried by ipc-channel.

use ipc_channel::ipc::IpcSender;
use serde::{Deserialize, Serialize};

/// Coordinator to worker.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum ToWorker {
    /// Run this test (its index in the registry, and its name to check the index against).
    Run { index: u32, name: String },
    /// The group of the tests this worker ran last has no more tests: tear its fixtures down.
    EndGroup,
    /// No more work: exit.
    Exit,
}

/// Worker to coordinator.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum FromWorker {
    /// The first message: where to send work (a forked worker's channel for work was made
    /// before it, and the coordinator has it: `None`).
    Hello {
        pid: u32,
        tasks: Option<IpcSender<ToWorker>>,
    },
    /// A test ended (its output end marker is already in the pipe).
    Done(Report),
    /// The worker's start or stop hooks ran.
    Hooks(crate::hooks::HookReport),
    /// A test needs this run fixture: the coordinator passes the request on to the fixture
    /// host, which answers on `reply` (a `HostReply<T>`).
    NeedFixture {
        key: String,
        reply: ipc_channel::ipc::OpaqueIpcSender,
    },
    /// Worker or group fixtures were torn down.
    Fixtures(Vec<crate::fixtures::FixtureEvent>),
}

/// How one test ended inside the worker.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub(crate) struct Report {
    pub(crate) index: u32,
    /// `None` when the test passed, else how and why it failed.
    pub(crate) failure: Option<(crate::reporter::FailureKind, String)>,
    pub(crate) duration_ns: u64,
    /// Processes the test left running, which the worker ended ("1234 sleep").
    pub(crate) leftovers: Vec<String>,
    /// The `log`/`tracing` records of every process of the test.
    pub(crate) logs: Vec<crate::logs::LogRecord>,
    /// Fixtures the test set up (or had the fixture host set up).
    pub(crate) fixtures: Vec<crate::fixtures::FixtureEvent>,
}
