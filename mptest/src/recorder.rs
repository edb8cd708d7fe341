//! [`Recorder`]: a call log shared by every process of a test. Any process records; the test
//! reads what was recorded, also by processes that have crashed since.
//!
//! ```
//! use std::time::Duration;
//! use mptest::Recorder;
//!
//! /// A test double: the code under test switches a heater; the double records it.
//! #[mptest::shared] // derives what travelling to another process needs
//! pub struct FakeHeater { calls: Recorder }
//!
//! impl FakeHeater {
//!     fn switch(&self, on: bool) {
//!         self.calls.record("switch", on).expect("the recorder is there");
//!     }
//! }
//!
//! let calls = Recorder::new()?;
//! let heater = FakeHeater { calls: calls.clone() };
//! // The code under test runs in another process, with the double.
//! mptest::spawn(heater, |heater: FakeHeater| {
//!     heater.switch(true);
//!     heater.switch(false);
//! })
//! .join()?;
//! let switches = calls.calls_named("switch")?;
//! let states: Vec<bool> = switches.iter().map(|c| c.args_as().unwrap()).collect();
//! assert_eq!(states, [true, false]);
//! assert_eq!(switches[0].role, "child");
//! // Or wait, bounded, until the other process has done something.
//! calls.wait_for(|calls| calls.len() == 2, Duration::from_secs(5))?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! How nothing is lost without waiting for a reply: each process holds a stream connection to
//! the recorder's process, and `record` returns once its entry is written to it — in the
//! kernel's socket buffer, which outlives the writing process. The recorder's process drains
//! its connections on a thread of its own, and [`Recorder::calls`] drains them once more before
//! it answers, so it sees every entry whose `record` returned before it was called.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::os::unix::io::AsRawFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::sync::{Condvar, Mutex};
use serde::{Deserialize, Serialize};
use serde_value::Value;

mod wire;
use wire::Line;

/// How long `record` waits for room before [`RecorderError::Timeout`].
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// One recorded call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Call {
    /// What was called.
    pub name: String,
    /// Its arguments, as a serde value ([`mptest::serde_value::Value`](crate::serde_value::Value);
    /// [`args_as`](Self::args_as) reads them as a type of yours).
    pub args: Value,
    /// The role of the process that recorded it: `worker` (the test itself), `child`, `aux`,
    /// `manager`, or `main`.
    pub role: String,
    /// That process's id.
    pub pid: u32,
    /// When it was recorded, in the test's time ([`crate::clock`]: accelerated or manual when
    /// the test set it so).
    pub at: SystemTime,
}

impl Call {
    /// The arguments as a type of yours.
    pub fn args_as<T: serde::de::DeserializeOwned>(&self) -> Result<T, serde_value::DeserializerError> {
        self.args.clone().deserialize_into()
    }
}

/// Why a recorder call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecorderError {
    /// The recorder's process is gone, or it was dropped there.
    #[error("the recorder at {0} is gone (its test ended, or its process died)")]
    Gone(PathBuf),
    /// `calls`, `calls_named` and `wait_for` read the log in the process that made it.
    #[error("the recorder's log is read in the process that made it (process {0})")]
    NotOwner(u32),
    /// The arguments could not be turned into a serde value.
    #[error("the arguments of {name} cannot be recorded: {source}")]
    Args {
        /// The call's name.
        name: String,
        /// Why.
        #[source]
        source: serde_value::SerializerError,
    },
    /// The recorder did not take the entry in time, or `wait_for`'s condition did not hold.
    #[error("{0}")]
    Timeout(String),
    /// The recorder could not be made.
    #[error("cannot make a recorder: {0}")]
    Io(#[from] std::io::Error),
}

/// A call log shared by every process of a test: [`record`](Self::record) from any process,
/// [`calls`](Self::calls), [`calls_named`](Self::calls_named) and [`wait_for`](Self::wait_for)
/// in the process that made it. `Clone + Send + Sync + Serialize + Deserialize`: hand it to
/// spawned children, auxiliaries, shared objects, test doubles.
#[derive(Clone, Serialize, Deserialize)]
pub struct Recorder {
    path: PathBuf,
    owner_pid: u32,
    #[serde(skip)]
    owner: Option<Arc<Owner>>,
    /// This process's connection to the recorder, found once per handle.
    #[serde(skip)]
    link: OnceLock<Link>,
}

/// A process's connection to one recorder (none until the first `record`, or after a failure).
type Link = Arc<Mutex<Option<UnixStream>>>;

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Recorder({})", self.path.display())
    }
}

/// The entries as they arrive, on the recorder's process.
struct Collector {
    listener: UnixListener,
    /// Called with each entry as it arrives (mptest's log sink prints them).
    hook: Option<fn(&Call)>,
    state: Mutex<Sink>,
    arrived: Condvar,
    /// Wakes the draining thread when `calls` accepted a connection it does not poll yet.
    wake: (UnixStream, UnixStream),
    closed: AtomicBool,
}

struct Sink {
    connections: Vec<Connection>,
    calls: Vec<Call>,
}

struct Connection {
    stream: UnixStream,
    /// Bytes of an entry whose end has not come yet.
    partial: Vec<u8>,
    ended: bool,
}

/// The making process's hold: when its last handle goes, the collector stops and its socket
/// file is removed.
struct Owner {
    collector: Arc<Collector>,
    path: PathBuf,
}

impl Drop for Owner {
    /// Closes every connection at once, so a later `record` anywhere is [`RecorderError::Gone`].
    fn drop(&mut self) {
        let collector = &self.collector;
        collector.closed.store(true, Ordering::SeqCst);
        let _ = std::fs::remove_file(&self.path);
        let mut sink = collector.state.lock();
        collector.drain(&mut sink);
        // SAFETY: shutdown on a socket we own; it makes connecting to it fail.
        unsafe {
            libc::shutdown(collector.listener.as_raw_fd(), libc::SHUT_RDWR);
        }
        for connection in sink.connections.drain(..) {
            let _ = connection.stream.shutdown(std::net::Shutdown::Both);
        }
        drop(sink);
        let _ = (&collector.wake.0).write_all(&[1]);
    }
}

impl Recorder {
    /// A new, empty recorder, read in this process.
    pub fn new() -> Result<Recorder, RecorderError> {
        Recorder::with_hook(None)
    }

    /// A recorder that calls `hook` with each entry as it arrives.
    pub(crate) fn with_hook(hook: Option<fn(&Call)>) -> Result<Recorder, RecorderError> {
        static COUNT: AtomicU64 = AtomicU64::new(0);
        let dir = crate::launch::endpoint::run_dir()
            .map(Path::to_path_buf)
            .unwrap_or_else(std::env::temp_dir);
        let pid = std::process::id();
        let path = dir.join(format!("rec-{pid}-{}", COUNT.fetch_add(1, Ordering::Relaxed)));
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path)?;
        listener.set_nonblocking(true)?;
        let wake = UnixStream::pair()?;
        wake.1.set_nonblocking(true)?;
        let collector = Arc::new(Collector {
            listener,
            hook,
            state: Mutex::new(Sink {
                connections: Vec::new(),
                calls: Vec::new(),
            }),
            arrived: Condvar::new(),
            wake,
            closed: AtomicBool::new(false),
        });
        let drainer = collector.clone();
        std::thread::Builder::new()
            .name("mptest-recorder".into())
            .spawn(move || drainer.run())?;
        Ok(Recorder {
            path: path.clone(),
            owner_pid: pid,
            owner: Some(Arc::new(Owner { collector, path })),
            link: OnceLock::new(),
        })
    }

    /// Records a call: `args` is any serde value (a tuple for several). Returns once the entry
    /// is on its way — written to the recorder's connection, where it survives this process's
    /// crash — without waiting for the recorder to answer.
    pub fn record<A: Serialize>(&self, name: &str, args: A) -> Result<(), RecorderError> {
        let args = serde_value::to_value(args).map_err(|source| RecorderError::Args {
            name: name.to_string(),
            source,
        })?;
        let line = Line {
            name: name.into(),
            args: args.into(),
            role: crate::launch::role::this_role().into(),
            pid: std::process::id(),
            at_ns: crate::clock::now().since_start().as_nanos() as u64,
        };
        let bytes = line.encode().map_err(std::io::Error::other)?;
        let link = self.link.get_or_init(|| link_for(&self.path)).clone();
        let mut stream = link.lock();
        if stream.is_none() {
            let connected = UnixStream::connect(&self.path).map_err(|_| self.gone())?;
            connected.set_write_timeout(Some(WRITE_TIMEOUT))?;
            *stream = Some(connected);
        }
        let Some(connected) = stream.as_mut() else {
            return Err(self.gone());
        };
        match connected.write_all(&bytes) {
            Ok(()) => Ok(()),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                // Part of the line may be out: this connection can carry no more entries.
                *stream = None;
                Err(RecorderError::Timeout(format!(
                    "the recorder did not take an entry within {WRITE_TIMEOUT:?}"
                )))
            }
            Err(_) => {
                *stream = None;
                Err(self.gone())
            }
        }
    }

    /// Every call recorded so far, in the order the recorder received them (one process's calls
    /// in the order it made them).
    pub fn calls(&self) -> Result<Vec<Call>, RecorderError> {
        let collector = self.collector()?;
        let mut sink = collector.state.lock();
        collector.drain(&mut sink);
        Ok(sink.calls.clone())
    }

    /// The calls named `name`.
    pub fn calls_named(&self, name: &str) -> Result<Vec<Call>, RecorderError> {
        let mut calls = self.calls()?;
        calls.retain(|c| c.name == name);
        Ok(calls)
    }

    /// Waits until `condition` holds for the calls recorded so far, at most `timeout`; returns
    /// them. A timeout is an error that lists what was recorded.
    pub fn wait_for(
        &self,
        mut condition: impl FnMut(&[Call]) -> bool,
        timeout: Duration,
    ) -> Result<Vec<Call>, RecorderError> {
        let collector = self.collector()?;
        let deadline = Instant::now() + timeout;
        let mut sink = collector.state.lock();
        loop {
            collector.drain(&mut sink);
            if condition(&sink.calls) {
                return Ok(sink.calls.clone());
            }
            if collector.arrived.wait_until(&mut sink, deadline).timed_out() {
                collector.drain(&mut sink);
                if condition(&sink.calls) {
                    return Ok(sink.calls.clone());
                }
                let names: Vec<&str> = sink.calls.iter().map(|c| c.name.as_str()).collect();
                return Err(RecorderError::Timeout(format!(
                    "the condition did not hold within {timeout:?}; recorded: {names:?}"
                )));
            }
        }
    }

    /// A handle on the recorder at `path`, made elsewhere (mptest's log sink, named by its
    /// path in a child's environment).
    pub(crate) fn at(path: PathBuf) -> Recorder {
        Recorder {
            path,
            owner_pid: 0,
            owner: None,
            link: OnceLock::new(),
        }
    }

    /// Where it listens.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Every call so far, taken out of the log (the worker's log sink, between tests).
    pub(crate) fn take(&self) -> Vec<Call> {
        let Ok(collector) = self.collector() else {
            return Vec::new();
        };
        let mut sink = collector.state.lock();
        collector.drain(&mut sink);
        std::mem::take(&mut sink.calls)
    }

    fn collector(&self) -> Result<&Collector, RecorderError> {
        match &self.owner {
            Some(owner) => Ok(&owner.collector),
            None => Err(RecorderError::NotOwner(self.owner_pid)),
        }
    }

    fn gone(&self) -> RecorderError {
        RecorderError::Gone(self.path.clone())
    }
}

/// This process's connection to the recorder at `path`, shared by every handle on it here.
fn link_for(path: &Path) -> Link {
    static LINKS: Mutex<Option<HashMap<PathBuf, Link>>> = Mutex::new(None);
    LINKS
        .lock()
        .get_or_insert_with(HashMap::new)
        .entry(path.to_path_buf())
        .or_default()
        .clone()
}

impl Collector {
    /// The draining thread: waits for data on any connection (or a new one), drains, wakes the
    /// waiters.
    fn run(&self) {
        while !self.closed.load(Ordering::SeqCst) {
            let mut fds: Vec<libc::pollfd> = {
                let sink = self.state.lock();
                sink.connections
                    .iter()
                    .map(|c| c.stream.as_raw_fd())
                    .chain([self.listener.as_raw_fd(), self.wake.1.as_raw_fd()])
                    .map(|fd| libc::pollfd {
                        fd,
                        events: libc::POLLIN,
                        revents: 0,
                    })
                    .collect()
            };
            // SAFETY: a valid array of pollfds, of its own length.
            let ready = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, -1) };
            if ready < 0 {
                continue; // EINTR
            }
            let mut byte = [0u8; 64];
            while (&self.wake.1).read(&mut byte).is_ok_and(|n| n > 0) {}
            let mut sink = self.state.lock();
            self.drain(&mut sink);
            drop(sink);
            self.arrived.notify_all();
        }
    }

    /// Takes every pending connection and everything written to every connection so far.
    fn drain(&self, sink: &mut Sink) {
        let mut accepted = false;
        while let Ok((stream, _)) = self.listener.accept() {
            if stream.set_nonblocking(true).is_ok() {
                sink.connections.push(Connection {
                    stream,
                    partial: Vec::new(),
                    ended: false,
                });
                accepted = true;
            }
        }
        if accepted && std::thread::current().name() != Some("mptest-recorder") {
            let _ = (&self.wake.0).write_all(&[1]);
        }
        let mut buf = vec![0u8; 64 * 1024];
        let Sink { connections, calls } = sink;
        for connection in connections.iter_mut() {
            loop {
                match connection.stream.read(&mut buf) {
                    Ok(0) => {
                        connection.ended = true;
                        break;
                    }
                    Ok(n) => connection.partial.extend_from_slice(&buf[..n]),
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(_) => {
                        connection.ended = true;
                        break;
                    }
                }
            }
            take_lines(connection, calls, self.hook);
        }
        connections.retain(|c| !c.ended);
    }
}

/// Moves the whole entries of a connection into `calls`. Bytes that are no entry cost their
/// connection (said on stderr, in the test's output), never the entries before them.
fn take_lines(connection: &mut Connection, calls: &mut Vec<Call>, hook: Option<fn(&Call)>) {
    let mut start = 0;
    while let Some(end) = memchr::memchr(0, &connection.partial[start..]) {
        let frame = &mut connection.partial[start..start + end];
        start += end + 1;
        match Line::decode(frame) {
            Ok(line) => {
                let call = Call {
                    name: line.name.into_owned(),
                    args: line.args.into(),
                    role: line.role.into_owned(),
                    pid: line.pid,
                    at: UNIX_EPOCH + Duration::from_nanos(line.at_ns),
                };
                if let Some(hook) = hook {
                    hook(&call);
                }
                calls.push(call);
            }
            Err(e) => {
                eprintln!("mptest: the recorder dropped a connection that sent a malformed entry ({e})");
                connection.ended = true;
                connection.partial.clear();
                return;
            }
        }
    }
    connection.partial.drain(..start);
}
