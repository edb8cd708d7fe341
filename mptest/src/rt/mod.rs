//! Async tests and async code under test, on tokio (the `tokio` feature).
//!
//! - `#[mp_test] async fn` runs on a fresh runtime of its own, dropped at the test's end: tasks
//!   still running then are cancelled, and the test's output says how many. The options are
//!   `#[tokio::test]`'s: `flavor = "multi_thread"` (default `"current_thread"`),
//!   `worker_threads = N`, `start_paused = true` (tokio's own clock, paused and auto-advanced;
//!   mptest's [`clock`] is another clock). Timeouts, `should_panic`, retries and
//!   crash reports are a plain test's.
//! - `#[mptest::fixture] async fn` is set up on a runtime the process keeps, so what it holds
//!   (a listener, a client) stays served while the tests use it.
//! - [`sleep`] and [`interval`] follow [`mptest::clock`](crate::clock) — real, accelerated or
//!   paused and moved by `advance` — as `clock::sleep` does, without blocking the runtime.
//! - [`spawn`] runs an async function in a child process, on the child's own runtime, and
//!   [`ChildHandle::join_async`](crate::ChildHandle::join_async) awaits its value.
//! - Every call a test makes on another process has an async form, `<name>_async`, that never
//!   blocks the runtime: the methods of `#[mptest::shared]` proxies and of the ready-made
//!   shared types (a fast call is taken between yields to the runtime, a slow one awaited on a
//!   blocking thread), every [`AuxHandle`](crate::aux::AuxHandle) method,
//!   [`Recorder::wait_for_async`](crate::Recorder::wait_for_async), [`wait_for_log`],
//!   [`SharedLock::acquire_async`](crate::SharedLock::acquire_async); mptest-can's
//!   `AsyncBus` for a CAN bus.
//!
//! Where it differs from `#[tokio::test]`: `unhandled_panic` is not taken (a panic in a task
//! nobody awaits is printed, as tokio prints it, and the test goes on); `start_paused` is for
//! the current-thread runtime only (as in tokio, whose clock pauses only there); the test's
//! tokio clock is tokio's, `mptest::clock` another — code that should follow the test's pace
//! sleeps with [`sleep`] and [`interval`].
//!
//! ```
//! use std::time::Duration;
//!
//! # async fn t() {
//! mptest::rt::sleep(Duration::from_millis(5)).await; // as `clock::sleep`, awaited
//! let mut every = mptest::rt::interval(Duration::from_millis(1));
//! every.tick().await; // at once
//! every.tick().await; // a millisecond of the test's time later
//! # }
//! ```

mod twins;

pub use twins::{unblock, wait_for_log};

use std::future::Future;
use std::time::Duration;

use serde::{de::DeserializeOwned, Serialize};

use crate::clock;

/// Sleeps `d` of the test's time (see [`clock::sleep`]) without blocking the runtime: on
/// tokio's timer when the clock is plain real time, else on a blocking thread that follows the
/// clock's pace, pause and `advance` as `clock::sleep` does.
pub async fn sleep(d: Duration) {
    if !clock::is_paced() {
        tokio::time::sleep(d).await;
        return;
    }
    // A sleeper of the shared clock is a thread (`advance` orders sleepers by their threads).
    if tokio::task::spawn_blocking(move || clock::sleep(d)).await.is_err() {
        // The runtime is shutting down: the sleep ends with it.
        std::future::pending::<()>().await;
    }
}

/// Ticks every `period` of the test's time: the first tick at once, then at the start plus
/// whole periods (a late tick is followed at once by those it missed, tokio's `Burst`).
pub fn interval(period: Duration) -> Interval {
    assert!(!period.is_zero(), "mptest::rt::interval: the period must be longer than zero");
    Interval { next: None, period }
}

/// What [`interval`] makes.
#[derive(Debug)]
pub struct Interval {
    next: Option<clock::Instant>,
    period: Duration,
}

impl Interval {
    /// Waits for the next tick; returns its time (the test's clock).
    pub async fn tick(&mut self) -> clock::Instant {
        let due = *self.next.get_or_insert_with(clock::now);
        let now = clock::now();
        if now < due {
            sleep(due - now).await;
        }
        self.next = Some(due + self.period);
        due
    }

    /// The period.
    pub fn period(&self) -> Duration {
        self.period
    }
}

/// Starts `f(args)` in a child process, on a current-thread runtime of the child's own, as
/// [`crate::spawn`] starts a plain function: the same binary, `f` a non-capturing closure or
/// function, the argument and value travelling by serde.
///
/// ```no_run
/// # async fn t() -> Result<(), mptest::ChildError> {
/// let child = mptest::rt::spawn(20u32, |n| async move {
///     mptest::rt::sleep(std::time::Duration::from_millis(1)).await;
///     n + 1
/// });
/// assert_eq!(child.join_async().await?, 21);
/// # Ok(())
/// # }
/// ```
pub fn spawn<A, F>(args: A, f: fn(A) -> F) -> crate::ChildHandle<F::Output>
where
    A: Serialize + DeserializeOwned + Send + 'static,
    F: Future + 'static,
    F::Output: Serialize + DeserializeOwned + Send + 'static,
{
    crate::spawn::spawn_with(args, f as usize, async_trampoline::<A, F>)
}

/// The child's side of [`spawn`]: `function` is the `fn(A) -> F` the parent named.
fn async_trampoline<A, F>(
    function: usize,
    args: ipc_channel::ipc::OpaqueIpcReceiver,
    result: ipc_channel::ipc::OpaqueIpcSender,
) where
    A: Serialize + DeserializeOwned,
    F: Future,
    F::Output: Serialize + DeserializeOwned,
{
    crate::spawn::serve_child(args, result, |args: A| async_call::<A, F>(function, args));
}

fn async_call<A, F: Future>(function: usize, args: A) -> F::Output {
    // SAFETY: `function` is the address of a `fn(A) -> F` in this same binary, sent with the
    // offset of this very monomorphization (see `crate::spawn`).
    let f = unsafe { std::mem::transmute::<usize, fn(A) -> F>(function) };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("mptest::rt::spawn: cannot start the child's runtime: {e}"));
    runtime.block_on(f(args))
}

impl<R: Serialize + DeserializeOwned + Send + 'static> crate::ChildHandle<R> {
    /// [`join`](Self::join), awaited: the wait happens on a blocking thread, not the runtime's.
    pub async fn join_async(self) -> Result<R, crate::ChildError> {
        twins::unblock(move || self.join()).await
    }
}

/// How a test's runtime is built: `#[mp_test]`'s `flavor` and `worker_threads`.
#[doc(hidden)]
#[derive(Debug, Clone, Copy)]
pub enum Flavor {
    CurrentThread,
    MultiThread { worker_threads: Option<usize> },
}

/// Runs an async test to its end on a runtime of its own (the test's thread drives it), then
/// drops the runtime: tasks still running are cancelled, and said so on stderr. `configure`
/// sets what else the test's attribute asks of the builder (`name`, `unhandled_panic`).
#[doc(hidden)]
pub fn run_test<F: Future>(
    flavor: Flavor,
    start_paused: bool,
    configure: impl FnOnce(&mut tokio::runtime::Builder),
    test: F,
) -> F::Output {
    let mut builder = match flavor {
        Flavor::CurrentThread => tokio::runtime::Builder::new_current_thread(),
        Flavor::MultiThread { worker_threads } => {
            let mut builder = tokio::runtime::Builder::new_multi_thread();
            if let Some(n) = worker_threads {
                builder.worker_threads(n);
            }
            builder
        }
    };
    builder.enable_all().start_paused(start_paused);
    configure(&mut builder);
    let runtime = builder.build().unwrap_or_else(|e| no_runtime(e));
    let output = runtime.block_on(test);
    let left = runtime.metrics().num_alive_tasks();
    // Blocking tasks cannot be cancelled: they get a moment, then the runtime goes regardless.
    runtime.shutdown_timeout(TASKS_GRACE);
    tasks_left(left);
    output
}

/// How long blocking tasks a test left get before its runtime goes regardless.
#[doc(hidden)]
pub const TASKS_GRACE: Duration = Duration::from_secs(1);

/// An async test's runtime could not be built: the test fails, saying why.
#[doc(hidden)]
pub fn no_runtime(err: std::io::Error) -> ! {
    panic!("mptest: cannot start the test's tokio runtime: {err}")
}

/// Says that `left` tasks were still running at the test's end (cancelled with its runtime).
#[doc(hidden)]
pub fn tasks_left(left: usize) {
    if left > 0 {
        eprintln!(
            "mptest: {left} task(s) the test spawned were still running at its end; they were cancelled with its runtime"
        );
    }
}

/// [`run_test`] on tokio's `LocalRuntime` (`flavor = "local"`, tokio 1.51 on). A macro, so
/// that it is compiled where the test is, against the tokio the user's code links: mptest
/// itself builds with older ones, which have no `LocalRuntime`.
#[doc(hidden)]
#[macro_export]
macro_rules! __run_local_test {
    ($start_paused:expr, $configure:expr, $test:expr) => {{
        let mut builder = $crate::__private::tokio::runtime::Builder::new_current_thread();
        builder.enable_all().start_paused($start_paused);
        ($configure)(&mut builder);
        let runtime = builder
            .build_local(::core::default::Default::default())
            .unwrap_or_else(|e| $crate::__private::no_runtime(e));
        let output = runtime.block_on($test);
        let left = runtime.metrics().num_alive_tasks();
        runtime.shutdown_timeout($crate::__private::TASKS_GRACE);
        $crate::__private::tasks_left(left);
        output
    }};
}

/// Sets an async fixture up on the runtime this process keeps for fixtures (multi-threaded, so
/// what the value holds — a listener, a client — stays served while tests use it).
#[doc(hidden)]
pub fn run_fixture<F: Future>(setup: F) -> F::Output {
    static RUNTIME: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    let runtime = RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("mptest-fixtures")
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("mptest: cannot start the fixtures' tokio runtime: {e}"))
    });
    runtime.block_on(setup)
}
