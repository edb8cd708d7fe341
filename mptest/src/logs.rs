//! `log` and `tracing` records from every process of a test, gathered in the test.
//!
//! Every process mptest starts — worker, spawned child, auxiliary, manager — has mptest's
//! logger, which sends each record (level, target, message, with the process's role and pid)
//! to the process that runs the test. There they are in [`logs()`](crate::logs()), a bounded
//! [`wait_for`] returns once a matching record arrives, and they are in the test's report:
//! printed into its output as they arrive (`[child 1234] ERROR web: cannot bind port 80`; shown
//! for a failure — even a crash of the test's own process — and with `--show-output`, live with
//! `--nocapture`), and in its JSON event under `mptest.logs`. `tracing` events come along (mptest turns on
//! tracing's `log-always`), also when you install a tracing subscriber of your own.
//!
//! ```
//! use std::time::Duration;
//!
//! let child = mptest::spawn::<_, ()>((), |()| {
//!     log::error!(target: "web", "cannot bind port 80");
//!     std::process::abort();                        // crashes right after logging
//! });
//! assert!(child.join().is_err());
//! let record = mptest::logs::wait_for(|r| r.level == log::Level::Error, Duration::from_secs(5))?;
//! assert_eq!((record.target.as_str(), record.message.as_str()), ("web", "cannot bind port 80"));
//! assert_eq!(record.role, "child");
//! # Ok::<(), mptest::logs::LogError>(())
//! ```
//!
//! - **The level filter** is `RUST_LOG`'s syntax (`info`, `warn,web=debug`, ...), read in each
//!   process; without `RUST_LOG`, `info` and above are gathered.
//! - **Nothing is lost when a process crashes right after logging**: the logger returns only once
//!   the record is written to its connection to the test's process — in the kernel's socket
//!   buffer, which outlives the writer (the [`crate::Recorder`] carries them).
//! - **Your own logger**: the `log` crate takes one logger per process. In the test's own
//!   process (a worker), mptest installs none until the test needs it — when the test first
//!   starts a process of mptest's (`spawn`, an auxiliary, a manager) or reads [`logs()`] /
//!   [`wait_for`] — so a test that calls `env_logger::init()` before that keeps its logger, as
//!   under libtest, and its own records go there (the other processes' records are still
//!   gathered and printed). Once mptest's logger is in a worker it stays for the worker's later
//!   tests (the `log` crate has no way back), where `env_logger::init()` then panics as it does
//!   under libtest after another test installed one; `try_init()` is the safe spelling. In the
//!   processes mptest starts, its logger comes first; keep yours there with [`forward_to`]:
//!   mptest's logger hands it every record too. A logger installed before mptest's keeps the
//!   process's records; mptest says so once on stderr.

use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use crate::sync::Mutex;
use serde::{Deserialize, Serialize};

use crate::recorder::{Call, Recorder};

/// The name records have in the sink.
const RECORD: &str = "log";

/// One `log` or `tracing` record of some process of the test.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogRecord {
    /// Its level.
    pub level: log::Level,
    /// Its target (the module, or `target: "..."`).
    pub target: String,
    /// The message.
    pub message: String,
    /// The role of the process that logged it: `worker` (the test), `child`, `aux`, `manager`,
    /// or `main`.
    pub role: String,
    /// That process's id.
    pub pid: u32,
    /// When, in the test's time ([`crate::clock`]).
    pub at: SystemTime,
}

impl std::fmt::Display for LogRecord {
    /// `[child 1234] ERROR web: cannot bind port 80`
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "[{} {}] {} {}: {}",
            self.role, self.pid, self.level, self.target, self.message
        )
    }
}

/// Why [`wait_for`] returned without a record.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LogError {
    /// No matching record within the timeout; what came instead.
    #[error("no matching log record within {waited:?}; the records were:\n{records}")]
    Timeout {
        /// How long it waited.
        waited: Duration,
        /// Every record gathered, one a line.
        records: String,
    },
    /// This process gathers no records: only the test's own process does.
    #[error("log records are gathered in the test's own process, not in this {0} process")]
    NotGathered(&'static str),
}

/// The records this process gathers (the test's process), and where every process sends.
struct Sinks {
    /// In the process that gathers: its sink.
    gathering: Option<Recorder>,
    /// Where this process's own records go.
    sending: Option<Recorder>,
}

static SINKS: OnceLock<Sinks> = OnceLock::new();

fn sinks() -> &'static Sinks {
    SINKS.get_or_init(|| {
        let inherited = crate::launch::role::inherited_logs().map(Recorder::at);
        match inherited {
            Some(remote) => Sinks {
                gathering: None,
                sending: Some(remote),
            },
            None => {
                let own = Recorder::with_hook(Some(print_arrived)).ok();
                Sinks {
                    gathering: own.clone(),
                    sending: own,
                }
            }
        }
    })
}

/// The path a process started from here is told to send its records to.
/// In a worker, this is where mptest's logger comes in: the test starts a process of mptest's.
pub(crate) fn path_for_children() -> Option<std::path::PathBuf> {
    install();
    sinks().sending.as_ref().map(|r| r.path().to_path_buf())
}

/// Every record gathered so far in this test, from every process, in time order (in the test's
/// own process; elsewhere none).
pub fn logs() -> Vec<LogRecord> {
    gathered().unwrap_or_default()
}

fn gathered() -> Result<Vec<LogRecord>, LogError> {
    install();
    let sink = sinks()
        .gathering
        .as_ref()
        .ok_or(LogError::NotGathered(crate::launch::role::this_role()))?;
    Ok(sink.calls().map(to_records).unwrap_or_default())
}

/// Waits until a record that `matches` has arrived (or had), at most `timeout`; returns the
/// first such record. A timeout lists what came.
pub fn wait_for(
    mut matches: impl FnMut(&LogRecord) -> bool,
    timeout: Duration,
) -> Result<LogRecord, LogError> {
    install();
    let sink = sinks()
        .gathering
        .as_ref()
        .ok_or(LogError::NotGathered(crate::launch::role::this_role()))?;
    let mut found = None;
    // Each wake-up looks only at what arrived since the last one.
    let mut checked = 0;
    let waited = sink.wait_for(
        |calls| {
            found = calls[checked.min(calls.len())..]
                .iter()
                .filter_map(to_record)
                .find(|r| matches(r));
            checked = calls.len();
            found.is_some()
        },
        timeout,
    );
    match (waited, found) {
        (Ok(_), Some(record)) => Ok(record),
        _ => Err(LogError::Timeout {
            waited: timeout,
            records: logs().iter().map(|r| format!("{r}\n")).collect(),
        }),
    }
}

/// Hands every record to `logger` as well (your own, which the `log` crate would not take as a
/// second logger).
pub fn forward_to(logger: Box<dyn log::Log>) {
    *FORWARD.lock() = Some(logger);
}

static FORWARD: Mutex<Option<Box<dyn log::Log>>> = Mutex::new(None);

/// In the gathering process, each record of another process is printed as it arrives: into the
/// test's captured output, where it is kept even if this process crashes later. (This process's
/// own records are printed by the logger itself.)
fn print_arrived(call: &Call) {
    if prints() && call.pid != std::process::id() {
        if let Some(record) = to_record(call) {
            eprintln!("{record}");
        }
    }
}

/// The records in time order (each process's in its own order: a stable sort).
/// Records are printed only in a worker, whose output is each test's captured output; a test
/// under libtest, or any program, reads them with `logs()` instead of finding them on its
/// terminal.
fn prints() -> bool {
    crate::launch::role::this_role() == "worker"
}

fn to_records(calls: Vec<Call>) -> Vec<LogRecord> {
    let mut records: Vec<LogRecord> = calls.iter().filter_map(to_record).collect();
    records.sort_by_key(|r| r.at);
    records
}

fn to_record(call: &Call) -> Option<LogRecord> {
    if call.name != RECORD {
        return None;
    }
    let (level, target, message): (log::Level, String, String) = call.args_as().ok()?;
    Some(LogRecord {
        level,
        target,
        message,
        role: call.role.clone(),
        pid: call.pid,
        at: call.at,
    })
}

/// mptest's logger: filters by `RUST_LOG`, sends each record to the test's process, and to the
/// logger given to [`forward_to`].
struct Logger {
    filter: env_filter::Filter,
}

impl log::Log for Logger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        self.filter.enabled(metadata)
    }

    fn log(&self, record: &log::Record<'_>) {
        if self.filter.matches(record) {
            let sinks = sinks();
            if let Some(sink) = &sinks.sending {
                let args = (record.level(), record.target(), record.args().to_string());
                // A record that cannot be sent has nowhere to go; the test goes on.
                let _ = sink.record(RECORD, args);
            }
            if sinks.gathering.is_some() && prints() {
                eprintln!(
                    "[{} {}] {} {}: {}",
                    crate::launch::role::this_role(),
                    std::process::id(),
                    record.level(),
                    record.target(),
                    record.args()
                );
            }
        }
        if let Some(inner) = FORWARD.lock().as_ref() {
            if inner.enabled(record.metadata()) {
                inner.log(record);
            }
        }
    }

    fn flush(&self) {
        if let Some(inner) = FORWARD.lock().as_ref() {
            inner.flush();
        }
    }
}

/// Installs mptest's logger in this process, once. A logger that was there first stays, and
/// this is said once.
pub(crate) fn install() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let spec = std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into());
        let filter = env_filter::Builder::new().parse(&spec).build();
        let max = filter.filter();
        match log::set_boxed_logger(Box::new(Logger { filter })) {
            Ok(()) => log::set_max_level(max),
            Err(_) => eprintln!(
                "mptest: a `log` logger was installed before mptest's in process {}; its records \
                 are not gathered into the test's report",
                std::process::id()
            ),
        }
    });
}

/// At the start of a test, in the worker: the records of the last test are gone. (mptest's
/// logger is not installed here: a test may install its own, as under libtest.)
pub(crate) fn begin_test() {
    if let Some(sink) = SINKS.get().and_then(|s| s.gathering.as_ref()) {
        sink.take();
    }
}

/// At the end of a test, in the worker: its records, taken.
pub(crate) fn end_test() -> Vec<LogRecord> {
    SINKS
        .get()
        .and_then(|s| s.gathering.as_ref())
        .map(|sink| to_records(sink.take()))
        .unwrap_or_default()
}
