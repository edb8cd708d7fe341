//! The client side: `AuxHandle`, each process's connections to an aux, and the starter's watch
//! over the aux process (its exit status and output).

use std::any::Any;
use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, Write};
use std::marker::PhantomData;
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use ipc_channel::ipc::{self, IpcReceiver, IpcSender, OpaqueIpcSender};
use ipc_channel::{IpcError, TryRecvError};
use crate::sync::{Condvar, Mutex};
use serde::{Deserialize, Serialize};

use super::wire::{AuxHello, Connect, JobWire, Reply, Request};
use super::{AuxError, Auxiliary};
use crate::launch::endpoint::{Accepted, Bootstrap};

/// How long the aux process has to come up and create its instance.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// The bound of calls that take no timeout of their own (create, delete, stop, ...).
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a handle waits, once the aux's channel closed, for its exit status and output.
const DEATH_GRACE: Duration = Duration::from_secs(1);
/// How long a stopped aux has to exit before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(2);
/// Lines of an aux's output kept for [`AuxError::Died`].
const LAST_LINES: usize = 20;
/// Messages fetched per round trip by `wait_and_get_report`.
const BATCH: usize = 4096;

/// A handle on a running auxiliary: pykiso's auxiliary interface. `Clone + Send + Sync +
/// Serialize + Deserialize`: hand it to spawned children, keep it in shared objects, give it to
/// other auxiliaries — it reaches the same aux from any process.
///
/// Every call is bounded: by its `timeout`, or by 30 s for those without one.
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
pub struct AuxHandle<T: Auxiliary> {
    name: String,
    pid: u32,
    /// An `IpcSender<Connect>`, kept untyped so the handle is `Sync`.
    connector: OpaqueIpcSender,
    /// In the process that started the aux: its watch over the aux process.
    #[serde(skip)]
    starter: Option<Arc<Starter>>,
    /// This process's link to the aux, found once per handle (not on every call).
    #[serde(skip)]
    link: std::sync::OnceLock<Arc<Link<T>>>,
    #[serde(skip)]
    _type: PhantomData<fn() -> T>,
}

impl<T: Auxiliary> Clone for AuxHandle<T> {
    fn clone(&self) -> Self {
        AuxHandle {
            name: self.name.clone(),
            pid: self.pid,
            connector: self.connector.clone(),
            starter: self.starter.clone(),
            link: self.link.clone(),
            _type: PhantomData,
        }
    }
}

impl<T: Auxiliary> std::fmt::Debug for AuxHandle<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AuxHandle({} in process {})", self.name, self.pid)
    }
}

/// One connection: typed requests and replies.
struct Connection<T: Auxiliary> {
    requests: IpcSender<Request<T::Command>>,
    replies: IpcReceiver<Reply<T::Response, T::Message>>,
}

/// This process's link to one aux: idle connections, messages fetched but not yet taken, and
/// whether this process stopped it.
struct Link<T: Auxiliary> {
    idle: Mutex<Vec<Connection<T>>>,
    inbox: Mutex<VecDeque<T::Message>>,
    stopped: AtomicBool,
    starter: Mutex<Weak<Starter>>,
}

impl<T: Auxiliary> Link<T> {
    fn new() -> Self {
        Link {
            idle: Mutex::new(Vec::new()),
            inbox: Mutex::new(VecDeque::new()),
            stopped: AtomicBool::new(false),
            starter: Mutex::new(Weak::new()),
        }
    }
}

/// Links of this process, by aux pid.
static LINKS: Mutex<Option<HashMap<u32, Arc<dyn Any + Send + Sync>>>> = Mutex::new(None);

/// The starting process's hold on the aux process: when the last handle there goes, the aux
/// is stopped (and killed if it does not go).
struct Starter {
    watch: Arc<Watch>,
    /// Asks the aux to stop (typed, so kept as a closure).
    stop: Mutex<Option<Box<dyn FnOnce() + Send>>>,
}

/// What the starting process sees of the aux process: shared with the threads that reap it and
/// relay its output.
struct Watch {
    name: String,
    pid: u32,
    /// Its exit status once it has exited, and how many output streams are still open.
    ended: Mutex<(Option<ExitStatus>, usize)>,
    changed: Condvar,
    last_lines: Mutex<VecDeque<String>>,
}

impl Watch {
    /// Waits (bounded) until the aux has exited and its output is read; how it ended.
    fn wait_end(&self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        let mut ended = self.ended.lock();
        while ended.0.is_none() || ended.1 > 0 {
            if self.changed.wait_until(&mut ended, deadline).timed_out() {
                break;
            }
        }
        ended.0
    }

    fn last_output(&self) -> String {
        self.last_lines.lock().iter().map(|l| format!("{l}\n")).collect()
    }
}

impl Drop for Starter {
    /// The last handle in the starting process is gone (the test is over): stop the aux, and
    /// kill it if it does not go.
    fn drop(&mut self) {
        let watch = &self.watch;
        if watch.ended.lock().0.is_some() {
            return;
        }
        if let Some(stop) = self.stop.lock().take() {
            stop();
        }
        if watch.wait_end(STOP_GRACE).is_none() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(watch.pid as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
            eprintln!(
                "mptest: the auxiliary {} (process {}) did not stop within {}; killed it",
                watch.name,
                watch.pid,
                humantime::format_duration(STOP_GRACE)
            );
            watch.wait_end(STOP_GRACE);
        }
    }
}

/// Starts the aux process, hands it its job and waits for its instance.
pub(super) fn start<T: Auxiliary>(name: &str, config: T::Config) -> Result<AuxHandle<T>, AuxError> {
    crate::launch::role::ensure_no_role_pending("mptest::aux::start");
    let start_err = |e: std::io::Error| AuxError::Start(e.to_string());
    let server = Bootstrap::<AuxHello>::new().map_err(start_err)?;
    let server_name = server.name().to_string();
    let spawned = crate::launch::reexec::spawn_role(
        crate::launch::reexec::command("aux", &server_name, &format!("aux {name}"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    );
    let mut child = spawned.map_err(start_err)?;
    let starter = Arc::new(Watch {
        name: name.to_string(),
        pid: child.id(),
        ended: Mutex::new((None, 2)),
        changed: Condvar::new(),
        last_lines: Mutex::new(VecDeque::new()),
    });
    // Its output goes into ours — the test's report — each line under the aux's name.
    let streams: [(Box<dyn std::io::Read + Send>, bool); 2] = [
        (Box::new(child.stdout.take().expect("piped")), false),
        (Box::new(child.stderr.take().expect("piped")), true),
    ];
    for (stream, is_err) in streams {
        let watch = starter.clone();
        let _ = std::thread::Builder::new()
            .name("mptest-aux-output".into())
            .spawn(move || relay_output(&watch, stream, is_err));
    }
    let watch = starter.clone();
    let _ = std::thread::Builder::new()
        .name("mptest-aux-reap".into())
        .spawn(move || {
            let status = child.wait().ok();
            let mut ended = watch.ended.lock();
            ended.0 = status.or(ended.0);
            drop(ended);
            watch.changed.notify_all();
            // For the handles in other processes: how it ended, once its output is read.
            if let Some(status) = watch.wait_end(DEATH_GRACE) {
                end_record::write(watch.pid, status, &watch.last_output());
            }
        });
    let fail = |starter: &Watch, why: String| {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(starter.pid as i32),
            nix::sys::signal::Signal::SIGKILL,
        );
        let status = starter.wait_end(DEATH_GRACE);
        let how = status.map(describe).unwrap_or_default();
        let output = starter.last_output();
        // Nothing printed is said as such, not as an empty "its output:" section.
        let output = match output.trim().is_empty() {
            true => "; it printed nothing".to_string(),
            false => format!("; its output:\n{output}"),
        };
        AuxError::Start(format!("{why}{how}{output}"))
    };

    let hello = match server.accept_while(START_TIMEOUT, || starter.ended.lock().0.is_some()) {
        Accepted::Hello(hello) => hello,
        Accepted::Bad(why) => return Err(fail(&starter, why)),
        Accepted::Ended => return Err(fail(&starter, format!("the aux process {name} ended at start"))),
        Accepted::TimedOut => return Err(fail(&starter, format!("the aux process {name} did not connect"))),
    };
    let io = |e: std::io::Error| AuxError::Start(format!("cannot make a channel: {e}"));
    let (config_tx, config_rx) = ipc::channel::<T::Config>().map_err(io)?;
    let (ready_tx, ready_rx) = ipc::channel::<Result<IpcSender<Connect>, String>>().map_err(io)?;
    let job = JobWire {
        type_name: std::any::type_name::<T>().to_string(),
        name: name.to_string(),
        config: config_rx.to_opaque(),
        ready: ready_tx.to_opaque(),
    };
    if hello.jobs.send(job).is_err() {
        return Err(fail(
            &starter,
            format!("the aux process {name} went away at start"),
        ));
    }
    // An aux that refuses the job (its type is not registered) exits without reading the
    // config: its reason comes on `ready`, so a failed send here says nothing yet.
    let _ = config_tx.send(config);
    let connector = match crate::ipc_retry::recv_timeout(&ready_rx, START_TIMEOUT) {
        Ok(Ok(connector)) => connector,
        Ok(Err(why)) => return Err(fail(&starter, why)),
        Err(TryRecvError::Empty) => {
            return Err(fail(
                &starter,
                format!("{name} did not create its instance in time"),
            ))
        }
        Err(TryRecvError::IpcError(err)) => {
            return Err(fail(
                &starter,
                format!("the aux process {name} died at start ({err:?})"),
            ))
        }
    };
    let stopper = AuxHandle::<T> {
        name: name.to_string(),
        pid: starter.pid,
        connector: connector.to_opaque(),
        starter: None,
        link: std::sync::OnceLock::new(),
        _type: PhantomData,
    };
    let owner = Arc::new(Starter {
        watch: starter,
        stop: Mutex::new(None),
    });
    let handle = AuxHandle::<T> {
        starter: Some(owner.clone()),
        ..stopper.clone()
    };
    handle.link().starter.lock().clone_from(&Arc::downgrade(&owner));
    *owner.stop.lock() = Some(Box::new(move || {
        let _ = stopper.call(Request::Stop, STOP_GRACE);
    }));
    // The first connection makes this process a subscriber: messages queue up from here on.
    handle.dropped_messages()?;
    Ok(handle)
}

/// Copies one output stream of the aux into ours, prefixed, keeping the last lines.
fn relay_output(watch: &Watch, stream: Box<dyn std::io::Read + Send>, is_err: bool) {
    for line in std::io::BufReader::new(stream).lines().map_while(Result::ok) {
        let text = format!("[{}] {line}\n", watch.name);
        if is_err {
            let _ = std::io::stderr().lock().write_all(text.as_bytes());
        } else {
            let _ = std::io::stdout().lock().write_all(text.as_bytes());
        }
        let mut last = watch.last_lines.lock();
        if last.len() == LAST_LINES {
            last.pop_front();
        }
        last.push_back(line);
    }
    watch.ended.lock().1 -= 1;
    watch.changed.notify_all();
}

/// How an aux ended, told by the process that started it to the processes that hold handles
/// to it: a file `aux-<pid>.end` in the run's directory, written (atomically) once the aux has
/// exited and its output is read — success, its status in words, its last output.
mod end_record {
    use std::path::PathBuf;
    use std::process::ExitStatus;
    use std::time::{Duration, Instant};

    fn path(pid: u32) -> Option<PathBuf> {
        Some(crate::launch::endpoint::run_dir()?.join(format!("aux-{pid}.end")))
    }

    pub(super) fn write(pid: u32, status: ExitStatus, last_output: &str) {
        let Some(path) = path(pid) else { return };
        let words = super::describe(status);
        let words = words.trim().trim_matches(['(', ')']);
        let text = format!("{}\n{words}\n{last_output}", u8::from(status.success()));
        let partial = path.with_extension("partial");
        if std::fs::write(&partial, text).is_ok() {
            let _ = std::fs::rename(&partial, &path);
        }
    }

    /// Whether it ended well (a stop), its status, its last output: waiting at most `limit`
    /// for the starter to write them (it does once it has reaped the aux; the caller here has
    /// just seen the aux's connection close). There is no event across processes for a file
    /// to appear, so it looks again every 10 ms — only on this error path.
    pub(super) fn read(pid: u32, limit: Duration) -> Option<(bool, String, String)> {
        let path = path(pid)?;
        let deadline = Instant::now() + limit;
        loop {
            if let Ok(text) = std::fs::read_to_string(&path) {
                let mut parts = text.splitn(3, '\n');
                let ok = parts.next()? == "1";
                let status = parts.next()?.to_string();
                return Some((ok, status, parts.next().unwrap_or_default().to_string()));
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// "was killed by signal SIGSEGV (segmentation fault)" / "exited with code 3".
fn describe(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.signal(), status.code()) {
        (Some(signal), _) => format!(" (it was killed by signal {})", crate::procs::signal_name(signal)),
        (None, Some(code)) => format!(" (it exited with code {code})"),
        _ => String::new(),
    }
}

impl<T: Auxiliary> AuxHandle<T> {
    /// The aux's name in reports.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The aux process's id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    fn link(&self) -> Arc<Link<T>> {
        self.link
            .get_or_init(|| {
                let mut links = LINKS.lock();
                let entry = links
                    .get_or_insert_with(HashMap::new)
                    .entry(self.pid)
                    .or_insert_with(|| Arc::new(Link::<T>::new()));
                match entry.clone().downcast::<Link<T>>() {
                    Ok(link) => link,
                    // A stale link of another aux type under a reused pid: replace it.
                    Err(_) => {
                        let link = Arc::new(Link::<T>::new());
                        *entry = link.clone();
                        link
                    }
                }
            })
            .clone()
    }

    fn connect(&self) -> Result<Connection<T>, AuxError> {
        let io = |e: std::io::Error| AuxError::Failed {
            name: self.name.clone(),
            message: format!("cannot make a channel: {e}"),
        };
        let (requests, requests_rx) = ipc::channel::<Request<T::Command>>().map_err(io)?;
        let (replies_tx, replies) = ipc::channel::<Reply<T::Response, T::Message>>().map_err(io)?;
        let connect = Connect {
            pid: std::process::id(),
            requests: requests_rx.to_opaque(),
            replies: replies_tx.to_opaque(),
        };
        match self.connector.clone().to::<Connect>().send(connect) {
            Ok(()) => Ok(Connection { requests, replies }),
            Err(_) => Err(self.gone()),
        }
    }

    /// One request, one reply, within `timeout`.
    fn call(
        &self,
        request: Request<T::Command>,
        timeout: Duration,
    ) -> Result<Reply<T::Response, T::Message>, AuxError> {
        let link = self.link();
        let idle = link.idle.lock().pop();
        let connection = match idle {
            Some(connection) => connection,
            None => self.connect()?,
        };
        if connection.requests.send(request).is_err() {
            return Err(self.gone());
        }
        match crate::ipc_retry::recv_timeout(&connection.replies, timeout) {
            Ok(reply) => {
                link.idle.lock().push(connection);
                Ok(reply)
            }
            // The reply may still come: this connection is dropped so it is never taken for
            // the answer to a later call.
            Err(TryRecvError::Empty) => Err(AuxError::Timeout(self.name.clone())),
            Err(TryRecvError::IpcError(IpcError::SerializationError(err))) => {
                Err(AuxError::Malformed(err.to_string()))
            }
            Err(TryRecvError::IpcError(_)) => Err(self.gone()),
        }
    }

    /// What a call on an aux that cannot be reached returns: `NotStarted` after a stop, else
    /// `Died` with what is known of its end.
    fn gone(&self) -> AuxError {
        let link = self.link();
        if link.stopped.load(Ordering::SeqCst) {
            return AuxError::NotStarted(self.name.clone());
        }
        let starter = self.starter.clone().or_else(|| link.starter.lock().upgrade());
        match starter {
            Some(starter) => {
                let starter = &starter.watch;
                let status = starter.wait_end(DEATH_GRACE);
                if status.is_some_and(|s| s.success()) {
                    return AuxError::NotStarted(self.name.clone());
                }
                let status = status.map_or_else(
                    || "its process is gone".to_string(),
                    |s| describe(s).trim().trim_matches(['(', ')']).to_string(),
                );
                AuxError::Died {
                    name: self.name.clone(),
                    status,
                    last_output: starter.last_output(),
                }
            }
            // Another process started it: that one leaves how it ended in the run directory.
            None => match end_record::read(self.pid, DEATH_GRACE) {
                Some((true, _, _)) => AuxError::NotStarted(self.name.clone()),
                Some((false, status, last_output)) => AuxError::Died {
                    name: self.name.clone(),
                    status,
                    last_output,
                },
                None => AuxError::Died {
                    name: self.name.clone(),
                    status: "its process is gone (the process that started it did not say how it ended)"
                        .into(),
                    last_output: String::new(),
                },
            },
        }
    }

    fn expect_done(&self, reply: Reply<T::Response, T::Message>) -> Result<(), AuxError> {
        match reply {
            Reply::Done => Ok(()),
            other => Err(self.unexpected(other)),
        }
    }

    fn unexpected(&self, reply: Reply<T::Response, T::Message>) -> AuxError {
        match reply {
            Reply::Failed(message) => AuxError::Failed {
                name: self.name.clone(),
                message,
            },
            Reply::Panicked { message, location } => AuxError::CommandPanicked {
                name: self.name.clone(),
                message,
                location,
            },
            Reply::NotStarted => AuxError::NotStarted(self.name.clone()),
            _ => AuxError::Malformed("an answer to another request".into()),
        }
    }

    /// Takes exclusive use of the aux across every holder of a handle, in any process (pykiso:
    /// `lock_it`); `false` if another process held it for all of `timeout`, or the aux is gone.
    /// A lock whose holder's process dies is released. The lock is cooperative, as pykiso's:
    /// it excludes other `lock_it`s, not other calls.
    pub fn lock_it(&self, timeout: Duration) -> bool {
        let timeout_ms = timeout.as_millis().try_into().unwrap_or(u64::MAX);
        matches!(
            self.call(Request::Lock { timeout_ms }, timeout + CALL_TIMEOUT),
            Ok(Reply::Locked(true))
        )
    }

    /// Releases the lock this process holds (pykiso: `unlock_it`).
    pub fn unlock_it(&self) -> Result<(), AuxError> {
        let reply = self.call(Request::Unlock, CALL_TIMEOUT)?;
        self.expect_done(reply)
    }

    /// Creates the instance — opens the connection — if it does not exist (pykiso:
    /// `create_instance`).
    pub fn create_instance(&self) -> Result<(), AuxError> {
        let reply = self.call(Request::Create, CALL_TIMEOUT)?;
        self.expect_done(reply)
    }

    /// Deletes the instance — closes the connection — keeping the process (pykiso:
    /// `delete_instance`).
    pub fn delete_instance(&self) -> Result<(), AuxError> {
        let reply = self.call(Request::Delete, CALL_TIMEOUT)?;
        self.expect_done(reply)
    }

    /// Runs a command and returns its own response (pykiso: `run_command`), never a received
    /// message. A panic in the command is [`AuxError::CommandPanicked`] for this command only.
    pub fn run_command(&self, command: T::Command, timeout: Duration) -> Result<T::Response, AuxError> {
        match self.call(Request::Run(command), timeout)? {
            Reply::Response(response) => Ok(response),
            other => Err(self.unexpected(other)),
        }
    }

    /// Aborts what the aux is doing (pykiso: `abort_command`).
    pub fn abort_command(&self, timeout: Duration) -> Result<(), AuxError> {
        let reply = self.call(Request::Abort, timeout)?;
        self.expect_done(reply)
    }

    /// The next message the aux received, or `None` when nothing came within `timeout`
    /// (pykiso: `wait_and_get_report`). Messages queue up while the test does other things;
    /// none is dropped unless the queue is full (see [`dropped_messages`](Self::dropped_messages)).
    pub fn wait_and_get_report(&self, timeout: Duration) -> Result<Option<T::Message>, AuxError> {
        let link = self.link();
        if let Some(message) = link.inbox.lock().pop_front() {
            return Ok(Some(message));
        }
        let timeout_ms = timeout.as_millis().try_into().unwrap_or(u64::MAX);
        match self.call(
            Request::Next {
                max: BATCH,
                timeout_ms,
            },
            timeout + CALL_TIMEOUT,
        )? {
            Reply::Messages(messages) => {
                let mut inbox = link.inbox.lock();
                inbox.extend(messages);
                Ok(inbox.pop_front())
            }
            other => Err(self.unexpected(other)),
        }
    }

    /// How many messages for this process were dropped because its queue was full.
    pub fn dropped_messages(&self) -> Result<u64, AuxError> {
        match self.call(Request::Dropped, CALL_TIMEOUT)? {
            Reply::Dropped(n) => Ok(n),
            other => Err(self.unexpected(other)),
        }
    }

    /// Deletes the instance and keeps the process (pykiso: `suspend`); commands then return
    /// [`AuxError::NotStarted`] until [`resume`](Self::resume).
    pub fn suspend(&self) -> Result<(), AuxError> {
        self.delete_instance()
    }

    /// Creates the instance again after [`suspend`](Self::suspend) (pykiso: `resume`).
    pub fn resume(&self) -> Result<(), AuxError> {
        self.create_instance()
    }

    /// Deletes the instance and ends the aux process (pykiso: `stop`). Idempotent; later calls
    /// return [`AuxError::NotStarted`].
    pub fn stop(&self) -> Result<(), AuxError> {
        let link = self.link();
        if link.stopped.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        match self.call(Request::Stop, CALL_TIMEOUT) {
            Ok(reply) => self.expect_done(reply)?,
            Err(AuxError::NotStarted(_)) => {}
            Err(err) => return Err(err),
        }
        if let Some(starter) = self.starter.clone().or_else(|| link.starter.lock().upgrade()) {
            starter.watch.wait_end(STOP_GRACE);
        }
        Ok(())
    }
}

/// Fault injection for mptest's own tests: a connection that sends bytes that are no request.
/// Returns what the aux answered.
#[doc(hidden)]
pub fn send_garbage<T: Auxiliary>(handle: &AuxHandle<T>) -> Result<String, AuxError> {
    let io = |e: std::io::Error| AuxError::Malformed(e.to_string());
    let (garbage, garbage_rx) = ipc::channel::<Vec<u8>>().map_err(io)?;
    let (replies_tx, replies) = ipc::channel::<Reply<T::Response, T::Message>>().map_err(io)?;
    let connect = Connect {
        pid: std::process::id(),
        requests: garbage_rx.to_opaque(),
        replies: replies_tx.to_opaque(),
    };
    handle
        .connector
        .clone()
        .to::<Connect>()
        .send(connect)
        .map_err(|_| handle.gone())?;
    garbage
        .to_opaque()
        .to::<Vec<u8>>()
        .send(vec![0xff; 16])
        .map_err(|_| handle.gone())?;
    match crate::ipc_retry::recv_timeout(&replies, CALL_TIMEOUT) {
        Ok(Reply::Failed(text)) => Ok(text),
        Ok(_) => Ok("an answer that is no error".into()),
        Err(_) => Err(handle.gone()),
    }
}
