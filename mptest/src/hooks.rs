//! Worker lifecycle hooks (nose2's `startSubprocess` / `stopSubprocess`):
//! [`#[mptest::worker_start]`](macro@crate::worker_start) functions run in each worker process
//! before its first test, [`#[mptest::worker_stop]`](macro@crate::worker_stop) ones after its
//! last. What they print is not any test's output: it is captured apart and reported as a note
//! naming the worker, and a hook that panics is reported as failed (the worker goes on).
//!
//! ```
//! use std::sync::OnceLock;
//!
//! static DATABASE: OnceLock<String> = OnceLock::new();
//!
//! #[mptest::worker_start]
//! fn open_the_database() {
//!     DATABASE.get_or_init(|| "connected".to_string());
//!     println!("worker {} has its database", std::process::id());
//! }
//!
//! #[mptest::worker_stop]
//! fn close_the_database() {
//!     println!("closing");
//! }
//! # fn main() {}
//! ```

use serde::{Deserialize, Serialize};

/// One hook, as the attribute registers it.
#[doc(hidden)]
pub struct WorkerHook {
    /// The function's name.
    pub name: &'static str,
    /// Its module.
    pub module_path: &'static str,
    /// The function.
    pub run: fn(),
}

/// The `#[mptest::worker_start]` functions of the binary.
#[linkme::distributed_slice]
#[doc(hidden)]
pub static WORKER_START: [WorkerHook];

/// The `#[mptest::worker_stop]` functions of the binary.
#[linkme::distributed_slice]
#[doc(hidden)]
pub static WORKER_STOP: [WorkerHook];

/// What a worker's hooks of one phase did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct HookReport {
    /// `start` or `stop`.
    pub(crate) phase: String,
    /// What they printed.
    pub(crate) output: String,
    /// The hooks that panicked, with their messages.
    pub(crate) failed: Vec<String>,
}

/// Runs `hooks` with this process's stdout and stderr sent to a file of their own, so their
/// output is not a test's; `None` when there are none.
pub(crate) fn run(phase: &str, hooks: &[WorkerHook]) -> Option<HookReport> {
    if hooks.is_empty() {
        return None;
    }
    let (failed, output) = crate::capture::capture_std(|| {
        let mut failed = Vec::new();
        for hook in hooks {
            if std::panic::catch_unwind(hook.run).is_err() {
                // The worker's panic hook kept the message and place (as for a test's panic).
                let record = crate::panics::take_last().unwrap_or_default();
                failed.push(format!(
                    "{}::{} panicked: {} (at {})",
                    hook.module_path, hook.name, record.message, record.location
                ));
            }
        }
        failed
    });
    Some(HookReport {
        phase: phase.to_string(),
        output,
        failed,
    })
}
