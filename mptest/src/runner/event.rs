//! What the scheduler hears: every thread that watches a process it started (and the signal
//! thread) sends it [`WorkerEvent`]s on one channel, tagged with the process's slot.

use std::process::ExitStatus;

use ipc_channel::ipc::IpcSender;

use crate::capture::CapturedOutput;
use crate::protocol::{Report, ToWorker};

/// What happened to a worker.
#[derive(Debug)]
pub(crate) enum WorkerEvent {
    /// It connected and said where to send work, and its own pid (a re-executed worker is its
    /// anchor's child; `None`: the process we started, a forked worker).
    Connected(Option<IpcSender<ToWorker>>, Option<i32>),
    /// A forked worker said hello in its output pipe (its channel, made before it, may be
    /// unread: not a message of the channel).
    HelloInPipe,
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
    /// A test ended: its output, and its report that came with it in the pipe (as `Output`
    /// then `Done`, in one event: one wake-up of the scheduler) — taken once the worker's
    /// first `sent_before` messages on the channel are (see [`crate::protocol::CarriedReport`]).
    Reported {
        output: CapturedOutput,
        report: Report,
        sent_before: u64,
    },
    /// Its output pipe closed; what came after the last marker.
    OutputClosed(CapturedOutput),
    /// The process ended.
    Exited(ExitStatus),
    /// A message of the worker's channel to take only after its first `carried_before`
    /// reports in the pipe (see [`crate::protocol::Told`]).
    After {
        carried_before: u64,
        event: Box<WorkerEvent>,
    },
}

impl WorkerEvent {
    /// Whether it came on the process's channel (what a report in the pipe waits for).
    pub(crate) fn is_from_channel(&self) -> bool {
        matches!(
            self,
            WorkerEvent::Connected(..)
                | WorkerEvent::After { .. }
                | WorkerEvent::Done(_)
                | WorkerEvent::Hooks(_)
                | WorkerEvent::NeedFixture { .. }
                | WorkerEvent::Fixtures(_)
        )
    }
}
