//! `mptest::spawn`: run a function in a child process — this binary re-executed in the child
//! role — and get its value back.
//!
//! The function is a non-capturing closure (a `fn(A) -> R` pointer). The child is the very same
//! binary, so the function sits at the same offset from a known anchor function in both
//! processes: the parent sends that offset (and the offset of a trampoline monomorphized for
//! `A` and `R`), the child adds its own anchor address back and calls it. The argument and the
//! result travel through ipc-channel, so they may carry channels and proxies.

use std::io::Write;
use std::panic::{self, AssertUnwindSafe};
use std::process::{Child, ExitStatus};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ipc_channel::ipc::{self, IpcReceiver, IpcSender, OpaqueIpcReceiver, OpaqueIpcSender};
use ipc_channel::{IpcError, TryRecvError};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::launch::endpoint::{self, Bootstrap};
use crate::launch::role::Boot;
use crate::panics;

/// Why a child did not return a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChildError {
    /// The function panicked.
    #[error("the child panicked at {location}: {message}")]
    Panicked {
        /// The panic's message.
        message: String,
        /// Where it panicked (`file:line:col`).
        location: String,
    },
    /// The child process ended without returning: a signal or an exit code.
    #[error("the child process {description}")]
    Crashed {
        /// The signal that killed it, if one did.
        signal: Option<i32>,
        /// Its exit code, if it exited.
        code: Option<i32>,
        /// In words: "was killed by signal SIGSEGV (segmentation fault)".
        description: String,
    },
    /// `join_timeout` ran out; the child goes on and can be joined again.
    #[error("the child did not return within the timeout")]
    Timeout,
    /// The child could not be started or talked to.
    #[error("could not run the child: {0}")]
    Spawn(String),
    /// The value was already taken by an earlier join.
    #[error("the child was already joined")]
    AlreadyJoined,
}

impl ChildError {
    /// True when the child's function panicked.
    pub fn is_panic(&self) -> bool {
        matches!(self, ChildError::Panicked { .. })
    }

    /// True when the child process died without returning (signal or exit).
    pub fn is_crash(&self) -> bool {
        matches!(self, ChildError::Crashed { .. })
    }

    /// True when `join_timeout` ran out.
    pub fn is_timeout(&self) -> bool {
        matches!(self, ChildError::Timeout)
    }

    fn from_status(status: ExitStatus) -> Self {
        use std::os::unix::process::ExitStatusExt;
        let description = match (status.signal(), status.code()) {
            (Some(signal), _) => format!("was killed by signal {}", crate::procs::signal_name(signal)),
            (None, Some(code)) => format!("exited with code {code} without returning"),
            _ => format!("ended ({status})"),
        };
        ChildError::Crashed {
            signal: status.signal(),
            code: status.code(),
            description,
        }
    }
}

/// The child's first message: where to send its job.
#[derive(Serialize, Deserialize)]
struct ChildHello {
    jobs: IpcSender<ChildJob>,
}

/// What to run: offsets of the trampoline and the function, and the typed channels.
#[derive(Serialize, Deserialize)]
struct ChildJob {
    trampoline: usize,
    function: usize,
    args: OpaqueIpcReceiver,
    result: OpaqueIpcSender,
}

/// What the child sends back.
#[derive(Serialize, Deserialize)]
enum ChildResult<R> {
    Returned(R),
    Panicked { message: String, location: String },
    BadArgument(String),
}

/// Runs in the child: takes the function's address, the argument's channel and the result's.
pub(crate) type Trampoline = fn(usize, OpaqueIpcReceiver, OpaqueIpcSender);

/// The fixed point that function offsets are measured from.
#[inline(never)]
fn anchor() {}

pub(crate) fn to_offset(address: usize) -> usize {
    address.wrapping_sub(anchor as fn() as usize)
}

pub(crate) fn from_offset(offset: usize) -> usize {
    (anchor as fn() as usize).wrapping_add(offset)
}

/// Runs in the child: receives the argument, calls the function, sends what happened.
fn trampoline<A, R>(function: usize, args: OpaqueIpcReceiver, result: OpaqueIpcSender)
where
    A: Serialize + DeserializeOwned,
    R: Serialize + DeserializeOwned,
{
    // SAFETY: `function` is the address of a `fn(A) -> R` in this same binary: the parent took
    // it from such a pointer, as an offset from `anchor`, and this trampoline is the one
    // monomorphized for this `A` and `R` (the parent sent its offset alongside).
    let f = unsafe { std::mem::transmute::<usize, fn(A) -> R>(function) };
    serve_child(args, result, f);
}

/// The child's work around the call: receives the argument, calls, sends what happened.
pub(crate) fn serve_child<A, R>(args: OpaqueIpcReceiver, result: OpaqueIpcSender, call: impl FnOnce(A) -> R)
where
    A: Serialize + DeserializeOwned,
    R: Serialize + DeserializeOwned,
{
    let result = result.to::<ChildResult<R>>();
    let message = match crate::ipc_retry::recv(&args.to::<A>()) {
        Err(err) => ChildResult::BadArgument(err.to_string()),
        Ok(args) => match panic::catch_unwind(AssertUnwindSafe(|| call(args))) {
            Ok(value) => ChildResult::Returned(value),
            Err(_) => {
                let record = panics::take_last().unwrap_or_default();
                ChildResult::Panicked {
                    message: record.message,
                    location: record.location,
                }
            }
        },
    };
    let _ = std::io::stdout().flush();
    let _ = result.send(message);
}

/// A child process started by [`spawn`].
#[must_use = "join the child to get its value; a child that is never joined is ended with the test"]
pub struct ChildHandle<R> {
    pid: u32,
    child: Option<Child>,
    result: Option<IpcReceiver<ChildResult<R>>>,
    /// Set once the child connected; until then only its exit tells us it is gone.
    connected: Arc<AtomicBool>,
    server_name: String,
    failed: Option<ChildError>,
    /// The thread that hands the child its job and argument. Joined once the child answered:
    /// the argument is then dropped here (its `Drop` ran, a `Recorder`'s hold is released)
    /// before `join` returns, however late that thread was scheduled.
    sender: Option<std::thread::JoinHandle<()>>,
}

/// Runs `f(args)` in a child process and returns a handle to join it.
///
/// The child is this test binary, re-executed; `f` must not capture anything (a closure
/// literal coerces to the `fn` pointer). What the child prints lands in the test's output; a
/// child still running when the test ends is ended and named in the test's report. Children may
/// spawn children. It works from any binary that links mptest — an `#[mp_test]`, an ordinary
/// `#[test]` under libtest, a doctest, a `main` of your own: the child takes its role before
/// `main` runs.
///
/// A closure that never returns (it only panics or loops) needs its result type named, as
/// `mptest::spawn::<_, ()>(...)`: Rust will not infer one from `!`.
///
/// This example runs as a doctest: the child is the doctest's binary, re-executed.
///
/// ```
/// let child = mptest::spawn(20, |n: u64| n + 1);
/// assert_eq!(child.join().unwrap(), 21);
///
/// let crashing = mptest::spawn((), |()| -> u8 { panic!("boom") });
/// assert!(crashing.join().unwrap_err().is_panic());
/// ```
pub fn spawn<A, R>(args: A, f: fn(A) -> R) -> ChildHandle<R>
where
    A: Serialize + DeserializeOwned + Send + 'static,
    R: Serialize + DeserializeOwned + Send + 'static,
{
    spawn_with(args, f as usize, trampoline::<A, R>)
}

/// [`spawn`] of `function` (an address in this binary) that `trampoline` calls in the child
/// and whose value is an `R`.
pub(crate) fn spawn_with<A, R>(args: A, function: usize, trampoline: Trampoline) -> ChildHandle<R>
where
    A: Serialize + DeserializeOwned + Send + 'static,
    R: Serialize + DeserializeOwned + Send + 'static,
{
    match start(args, function, trampoline) {
        Ok(handle) => handle,
        Err(err) => ChildHandle {
            pid: 0,
            child: None,
            result: None,
            connected: Arc::new(AtomicBool::new(false)),
            server_name: String::new(),
            failed: Some(err),
            sender: None,
        },
    }
}

fn start<A, R>(args: A, function: usize, trampoline: Trampoline) -> Result<ChildHandle<R>, ChildError>
where
    A: Serialize + DeserializeOwned + Send + 'static,
    R: Serialize + DeserializeOwned + Send + 'static,
{
    crate::launch::role::ensure_no_role_pending("mptest::spawn");
    let spawn_err = |e: std::io::Error| ChildError::Spawn(e.to_string());
    let server = Bootstrap::<ChildHello>::new().map_err(spawn_err)?;
    let server_name = server.name().to_string();
    let (args_tx, args_rx) = ipc::channel::<A>().map_err(spawn_err)?;
    let (result_tx, result_rx) = ipc::channel::<ChildResult<R>>().map_err(spawn_err)?;
    let child = crate::launch::reexec::spawn_role(&mut crate::launch::reexec::command(
        "child",
        &server_name,
        "child",
    ))
    .map_err(spawn_err)?;
    let job = ChildJob {
        trampoline: to_offset(trampoline as usize),
        function: to_offset(function),
        args: args_rx.to_opaque(),
        result: result_tx.to_opaque(),
    };
    let connected = Arc::new(AtomicBool::new(false));
    let flag = connected.clone();
    // ipc-channel's accept has no timeout: this thread waits for the child while join()
    // watches the child's pid; if the child dies first, join() connects to wake it up.
    let waiter = std::thread::Builder::new()
        .name("mptest-spawn".into())
        .spawn(move || {
            if let Ok((_, hello)) = server.accept() {
                flag.store(true, Ordering::SeqCst);
                if hello.jobs.send(job).is_ok() {
                    let _ = args_tx.send(args);
                }
            }
        });
    let mut handle = ChildHandle {
        pid: child.id(),
        child: Some(child),
        result: Some(result_rx),
        connected,
        server_name,
        failed: None,
        sender: None,
    };
    match waiter {
        Ok(sender) => handle.sender = Some(sender),
        Err(err) => {
            let _ = handle.kill();
            return Err(spawn_err(err));
        }
    }
    Ok(handle)
}

/// How long `join` polls between looks at the child's exit while no result has come.
const POLL: Duration = Duration::from_millis(20);

impl<R: Serialize + DeserializeOwned> ChildHandle<R> {
    /// The child's process id (0 if it could not be started).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Waits for the child's value.
    pub fn join(mut self) -> Result<R, ChildError> {
        self.wait(None)
    }

    /// Waits at most `timeout` for the child's value; on [`ChildError::Timeout`] the child goes
    /// on and the handle can be joined again.
    pub fn join_timeout(&mut self, timeout: Duration) -> Result<R, ChildError> {
        self.wait(Some(Instant::now() + timeout))
    }

    /// Kills the child (SIGKILL) and reaps it. Joining afterwards reports the kill.
    pub fn kill(&mut self) -> std::io::Result<()> {
        match self.child.take() {
            Some(mut child) => {
                let killed = child.kill().and_then(|()| child.wait());
                let status = match killed {
                    Ok(status) => status,
                    Err(err) => {
                        self.child = Some(child);
                        return Err(err);
                    }
                };
                self.died(status);
                Ok(())
            }
            None => Ok(()),
        }
    }

    fn wait(&mut self, deadline: Option<Instant>) -> Result<R, ChildError> {
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        let Some(result) = &self.result else {
            return Err(ChildError::AlreadyJoined);
        };
        loop {
            let slice = match deadline {
                Some(d) => POLL.min(d.saturating_duration_since(Instant::now())),
                None => POLL,
            };
            match crate::ipc_retry::recv_timeout(result, slice) {
                Ok(message) => return self.finish(message),
                Err(TryRecvError::Empty) => {
                    if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                        // It may have sent its value just before exiting.
                        if let Ok(message) = result.try_recv() {
                            return self.finish(message);
                        }
                        return Err(self.died(status));
                    }
                    if deadline.is_some_and(|d| Instant::now() >= d) {
                        return Err(ChildError::Timeout);
                    }
                }
                Err(TryRecvError::IpcError(IpcError::Disconnected)) => {
                    let status = self.reap();
                    return Err(match status {
                        Some(status) => self.died(status),
                        None => ChildError::Spawn("the child closed its result channel".into()),
                    });
                }
                Err(TryRecvError::IpcError(err)) => {
                    self.reap();
                    return Err(self.remember(ChildError::Spawn(format!("bad result from the child: {err}"))));
                }
            }
        }
    }

    fn finish(&mut self, message: ChildResult<R>) -> Result<R, ChildError> {
        self.result = None;
        self.reap();
        // It answered, so it read its argument: the sending thread has written it and only its
        // return (dropping our copy) is left.
        if let Some(sender) = self.sender.take() {
            let _ = sender.join();
        }
        match message {
            ChildResult::Returned(value) => Ok(value),
            ChildResult::Panicked { message, location } => {
                Err(self.remember(ChildError::Panicked { message, location }))
            }
            ChildResult::BadArgument(err) => Err(self.remember(ChildError::Spawn(format!(
                "the child could not read its argument: {err}"
            )))),
        }
    }

    fn remember(&mut self, err: ChildError) -> ChildError {
        self.failed = Some(err.clone());
        err
    }

    fn died(&mut self, status: ExitStatus) -> ChildError {
        self.child = None;
        self.result = None;
        if !self.connected.load(Ordering::SeqCst) {
            // Wake the thread still waiting in accept() for a child that will never come, so
            // it ends and its endpoint goes with it.
            if let Ok(poke) = IpcSender::<ChildHello>::connect(self.server_name.clone()) {
                if let Ok((jobs, _)) = ipc::channel::<ChildJob>() {
                    let _ = poke.send(ChildHello { jobs });
                }
            }
            endpoint::remove(&self.server_name);
        }
        self.remember(ChildError::from_status(status))
    }

    /// Waits (bounded) for the child to exit after it answered; kills it if it lingers.
    fn reap(&mut self) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        // It answered and is exiting: that takes microseconds, so look a few times, yielding,
        // before paying for a waiting thread (this is on every spawn's path).
        let started = Instant::now();
        while started.elapsed() < Duration::from_millis(5) {
            match child.try_wait() {
                Ok(Some(status)) => return Some(status),
                Ok(None) => std::thread::yield_now(),
                Err(_) => break,
            }
        }
        crate::launch::reexec::wait_or_kill(child, Duration::from_secs(2))
    }
}

/// The child role: connect, run the one job, exit.
pub(crate) fn run_child(boot: Boot) -> ! {
    panics::install_hook();
    let outcome = (|| -> Result<(), String> {
        let (jobs_tx, jobs) = ipc::channel::<ChildJob>().map_err(|e| e.to_string())?;
        let parent = IpcSender::<ChildHello>::connect(boot.server.clone())
            .map_err(|e| format!("cannot connect to {:?}: {e}", boot.server))?;
        parent
            .send(ChildHello { jobs: jobs_tx })
            .map_err(|e| e.to_string())?;
        let job = crate::ipc_retry::recv(&jobs).map_err(|e| format!("no job from the parent: {e}"))?;
        // SAFETY: the parent computed this offset from a `Trampoline` in this same binary.
        let run = unsafe { std::mem::transmute::<usize, Trampoline>(from_offset(job.trampoline)) };
        run(from_offset(job.function), job.args, job.result);
        Ok(())
    })();
    let _ = std::io::stdout().flush();
    match outcome {
        Ok(()) => std::process::exit(0),
        Err(err) => {
            eprintln!("mptest child: {err}");
            std::process::exit(crate::EXIT_USAGE)
        }
    }
}
