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

/// What a worker sends the coordinator on the channel: a message, with the number of reports
/// the worker had carried in its output pipe before it (see [`CarriedReport`]): the
/// coordinator takes it after those, so what the worker said keeps its order whichever way it
/// went.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Told {
    pub(crate) carried_before: u64,
    pub(crate) message: FromWorker,
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
    /// A test ended (its output end marker is already in the pipe), and its report did not
    /// ride in the pipe after it (it did not fit one atomic write, or output is not captured).
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

/// A report that rides in the output pipe after its test's end marker (postcard), with the
/// number of messages the worker had sent on the channel before it: the coordinator takes it
/// after hearing those, so what the worker said keeps its order whichever way it went.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub(crate) struct CarriedReport {
    pub(crate) sent_before: u64,
    pub(crate) report: Report,
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A report that rides in the output pipe is postcard's, not ipc-channel's: every part of
    /// it comes back as it went.
    #[test]
    fn a_report_round_trips_through_postcard() {
        let report = Report {
            index: 7,
            failure: Some((crate::reporter::FailureKind::Panicked, "boom".into())),
            duration_ns: 1_234,
            leftovers: vec!["1234 sleep".into()],
            logs: vec![crate::logs::LogRecord {
                level: log::Level::Warn,
                target: "suite::t".into(),
                message: "careful".into(),
                role: "worker".into(),
                pid: 42,
                at: std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_millis(5),
            }],
            fixtures: vec![crate::fixtures::FixtureEvent {
                fixture: "suite::db".into(),
                scope: crate::fixtures::Scope::Worker,
                phase: crate::fixtures::Phase::Setup,
                failure: None,
                output: "ready\n".into(),
                duration_ns: 9,
            }],
        };
        let bytes = postcard::to_allocvec(&report).expect("serialized");
        assert_eq!(postcard::from_bytes::<Report>(&bytes).expect("deserialized"), report);
        // A passing test's report is small: it fits the smallest PIPE_BUF (512) with its marker.
        let passed = Report {
            index: 99_999,
            failure: None,
            duration_ns: u64::MAX,
            leftovers: vec![],
            logs: vec![],
            fixtures: vec![],
        };
        assert!(postcard::to_allocvec(&passed).expect("serialized").len() < 32);
    }
}
