//! The crate's error type.

use std::io;

/// What went wrong in mptest itself (not in a test).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The process was started with mptest's role variables, but they do not make sense.
    #[error("{0} (these variables are set by the mptest coordinator; run the test binary without them)")]
    BadRole(String),
    /// A worker process could not be started or set up.
    #[error("could not start a worker process: {0}")]
    WorkerSpawn(#[source] io::Error),
    /// A worker process ended before it connected to the coordinator.
    #[error("worker process {pid} {how} before it connected to the coordinator; it printed:\n{output}")]
    WorkerStart {
        /// The worker's process id.
        pid: i32,
        /// How it ended ("exited with code 3", "was killed by SIGSEGV", ...).
        how: String,
        /// What it wrote to stdout and stderr.
        output: String,
    },
    /// The channel to the coordinator could not be opened or used.
    #[error("channel to the coordinator: {0}")]
    Channel(String),
}
