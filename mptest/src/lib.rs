//! # mptest
//!
//! A test framework for Rust code that lives in several processes. Tests are ordinary
//! functions marked `#[mp_test]`; they run in a pool of worker processes — the test binary
//! itself, re-executed — so a test that panics, aborts, segfaults, calls `process::exit` or
//! hangs costs that one test, and the run goes on and says precisely what happened.
//!
//! ## Getting started
//!
//! mptest is not on crates.io yet: depend on it by path (or git).
//!
//! ```toml
//! # Cargo.toml
//! [dev-dependencies]
//! mptest = { path = "../mptest/mptest" }
//!
//! [[test]]
//! name = "system"
//! harness = false   # without it, `mptest::main!()` is a compile error that says so
//! ```
//!
//! ```no_run
//! // tests/system.rs
//! use mptest::prelude::*;
//!
//! #[mp_test]
//! fn two_plus_two() {
//!     assert_eq!(2 + 2, 4);
//! }
//!
//! #[mp_test(timeout = "5s")]
//! fn reads_config() -> Result<(), std::io::Error> {
//!     let _ = std::env::current_dir()?;
//!     Ok(())
//! }
//!
//! #[mp_test(should_panic = "overflow")]
//! fn overflows() {
//!     panic!("overflow in the counter");
//! }
//!
//! mptest::main!();
//! ```
//!
//! Then `cargo test`, `cargo test --test system -- reads_config --exact`, or
//! `cargo nextest run`. libtest's own `#[ignore]` and `#[should_panic(expected = "...")]`,
//! written next to `#[mp_test]`, mean what they mean under libtest.
//!
//! **An existing libtest suite** keeps its `#[test]`s: [`use mptest::test;`](macro@test) in a
//! module makes each of them an mptest test (also those a macro writes there), and
//! `mptest::main!();` ends the file. The `mptest-convert` tool of this repository does it for a
//! crate's integration tests, `Cargo.toml` included.
//!
//! ## Options of `#[mp_test]`
//!
//! | option | meaning |
//! |---|---|
//! | `timeout = "5s"` | a [humantime](https://docs.rs/humantime) duration; past it the test's processes are ended and it is reported as timed out |
//! | `ignore`, `ignore = "why"` | not run unless `--ignored` or `--include-ignored` |
//! | `ignore_if = path` | ignored as above when `path()` — a `fn() -> Option<String>` the coordinator calls as the run starts — returns `Some(why)`: for tests that need something the machine may lack |
//! | `should_panic`, `should_panic = "substring"` | passes only if it panics (with that text in the message) |
//! | `retries = N` | a failing test runs up to N more times; passing on a retry is reported as flaky |
//! | `group = "name"` | the tests of a group run one after another in the same worker process |
//! | `serial` | runs while no other test runs |
//!
//! ## What the harness does
//!
//! - The coordinator (the process `cargo test` starts) lists and filters the tests and starts
//!   `--test-threads` workers (default: the available parallelism). Each worker is handed the
//!   next test over ipc-channel — and, while many are left, the one after it too, so it goes
//!   on without waiting for the coordinator (that one counts as not run if the worker dies).
//!   A worker runs its tests one after another, each on a thread of its own named after it,
//!   as libtest does: `std::thread::current().name()` is the test's name, `RUST_MIN_STACK`
//!   sets its stack, its thread-locals are dropped when it ends, and `should_panic` is judged
//!   from the payload that unwound out of it.
//! - Everything written to stdout and stderr while a test runs — by the worker and by any
//!   process the test starts — is captured at the file-descriptor level into that test's report.
//!   It is shown for failed tests, for passed ones with `--show-output`, and streamed live with
//!   `--nocapture`. It survives the worker's crash. Very large output keeps its first and last
//!   4 MiB and says how much was cut.
//! - A crash (signal, abort, `process::exit` inside a test) is reported as such, naming the
//!   signal or exit code; the worker is replaced. A timeout (`timeout = ...` or `--timeout SECS`)
//!   ends the worker's whole process group: SIGTERM, one second of grace, then SIGKILL. A test
//!   still running after 60 s (`--slow-timeout`) gets libtest's "has been running for over 60
//!   seconds" notice, again every 60 s.
//! - Nothing outlives the run: processes a test leaves behind — even ones that `setsid` and
//!   double-fork — are found (workers are child subreapers on Linux), ended, and named in the
//!   test's report.
//! - The command line is libtest's, every flag of it: filters, `--exact`, `--skip`,
//!   `--ignored`, `--include-ignored`, `--list`, `--format pretty|terse|json|junit`, `-q`,
//!   `--color`, `--test-threads` / `-j`, `--nocapture`, `--show-output`, `--report-time`,
//!   `--shuffle` / `--shuffle-seed N` (libtest's own shuffle: a seed orders the suite as libtest
//!   does), `--logfile PATH` (libtest's log), `--exclude-should-panic`, `--ensure-time`
//!   (`RUST_TEST_TIME_UNIT` / `_INTEGRATION`), `--bench` (a test binary has no benchmarks: every
//!   test is reported ignored), `--force-run-in-process` (accepted: tests always run in worker
//!   processes), `-Z unstable-options` (libtest's unstable flags need no `-Z` here). Exit code 0
//!   when all selected tests pass, 101 otherwise, 2 on a usage error.
//! - cargo-nextest works with it: `--list --format terse` and `NAME --exact --nocapture` behave
//!   as its custom-harness contract asks.
//!
//! ## Running at scale
//!
//! - **Order**: the longest tests first, by their durations in earlier runs (kept in
//!   `<target>/<profile>/mptest-timings/<suite>.txt`, or the file `MPTEST_TIMINGS` names);
//!   unknown tests in between. `--order declared|longest|random`, `--seed N`. A group (tests
//!   with `group = "..."`) runs on one worker in declaration order and is placed by its total.
//! - **Shards**: `--partition hash:M/N` or `slice:M/N` runs part M of N; under Bazel,
//!   `TEST_TOTAL_SHARDS`/`TEST_SHARD_INDEX` do it, `TEST_SHARD_STATUS_FILE` is touched,
//!   `XML_OUTPUT_FILE` gets the JUnit report and `TEST_TMPDIR` the run's temporary files. The
//!   shards together run the suite once; a group is never split.
//! - **Policies**: `--retries N` (a test's own `retries` wins; crashes and timeouts are retried
//!   too), `--flaky-result pass|fail`, `--leak-result warn|fail`, `--fail-fast`,
//!   `--run-timeout SECS`, `--max-worker-restarts N`.
//! - **Reports**: `--junit PATH` writes JUnit XML (output of every process in `system-out`, log
//!   records in `system-err`, retries as `flakyFailure`/`rerunFailure`); on a terminal a live
//!   display shows progress, failures so far and the running tests (`--progress never` turns it
//!   off); the summary counts failures by kind and names leaks and the slowest tests.
//! - **Fixtures**: [`#[mptest::fixture]`](macro@fixture) on `fn name(...) -> T` makes a value
//!   that tests ask for by naming it as a parameter (`fn t(name: &T)`), set up once per worker
//!   (`scope = "worker"`, the default), per group (`"group"`) or for the whole run (`"run"`: in
//!   a process of its own, a copy to every worker), torn down (dropped) when the scope ends —
//!   run fixtures after their last test, whatever happened, also on Ctrl-C. A failed setup
//!   fails the tests needing it with its error and output. See [`fixtures`].
//!
//! ```no_run
//! use mptest::prelude::*;
//!
//! #[mptest::fixture] // once per worker process; dropped when it ends
//! fn database() -> std::collections::HashMap<String, u32> {
//!     std::collections::HashMap::from([("answer".to_string(), 42)])
//! }
//!
//! #[mp_test]
//! fn reads_the_database(database: &std::collections::HashMap<String, u32>) {
//!     assert_eq!(database["answer"], 42);
//! }
//! # fn main() {}
//! ```
//! - **Hooks**: [`macro@worker_start`] / [`macro@worker_stop`] functions run in every worker
//!   before its first test and after its last (see [`hooks`]).
//! - **Interruption**: Ctrl-C (SIGINT, SIGTERM, SIGHUP) ends every process of the run, reports
//!   the tests it cut short, tears the run's fixtures down and writes the partial reports; a
//!   second one kills at once.
//!
//! ## Processes of a test: `spawn` and shared state
//!
//! [`spawn`] runs a non-capturing closure in a child process and hands its value back; a panic
//! comes back as [`ChildError::Panicked`], a crash with its signal or exit code. A
//! [`Manager`] is a process that owns objects; [`#[mptest::shared]`](macro@shared) on an
//! inherent `impl T` generates `TProxy`, whose methods call the object in the manager from any
//! process. Proxies are `Clone + Send + Sync + Serialize + Deserialize`: pass them to `spawn`,
//! store them in other shared objects, return them from methods. Ready-made types:
//! [`SharedValue`], [`SharedVec`], [`SharedMap`], [`SharedQueue`], [`SharedEvent`],
//! [`SharedBarrier`], [`SharedLock`]. See the [`shared`](mod@shared) module.
//!
//! ```no_run
//! use mptest::prelude::*;
//!
//! // On the type's definition, `#[mptest::shared]` derives what travelling to the manager
//! // needs (serde, through mptest: your Cargo.toml needs no serde).
//! #[mptest::shared]
//! #[derive(Default)]
//! pub struct Thermostat { target: f64 }
//!
//! #[mptest::shared]
//! impl Thermostat {
//!     pub fn set_target(&mut self, t: f64) { self.target = t; }
//!     pub fn target(&self) -> f64 { self.target }
//! }
//!
//! #[mp_test(timeout = "5s")]
//! fn controller_survives_web_crash() -> Result<(), Box<dyn std::error::Error>> {
//!     let mgr = Manager::start()?;
//!     let state = mgr.create(Thermostat::default())?;
//!     let web = mptest::spawn::<_, ()>(state.clone(), |s: ThermostatProxy| {
//!         s.set_target(21.5).unwrap();
//!         panic!("web process dies");
//!     });
//!     assert!(web.join().unwrap_err().is_panic());
//!     assert_eq!(state.target()?, 21.5);
//!     Ok(())
//! }
//!
//! mptest::main!();
//! ```
//!
//! `spawn` and [`Manager`] work from any binary that links mptest — `#[mp_test]`s, ordinary
//! `#[test]`s under libtest, doctests, a `main` of your own: a child or a manager takes its
//! role in a constructor before `main`, so the program's own code never runs in it. A process
//! that was started in a role but reaches the program's code anyway (a constructor of yours ran
//! first and spawned) refuses to start processes and exits with a message.
//!
//! ## Under cargo-nextest
//!
//! nextest runs each test in a process of its own; mptest runs it in a worker inside that
//! process. Crash causes, `timeout`, leftover handling and `serial` (a lock shared by every
//! mptest test of the nextest run) hold. `retries` happen inside the test's process (nextest
//! sees the final result), and `group` shares no process (every test has its own): use
//! nextest's `retries` overrides and `cargo test` for groups. The README shows the nextest
//! configuration lines.
//!
//! ## Auxiliaries
//!
//! [`aux`](mod@aux) brings pykiso's auxiliaries: `#[mptest::aux]` on `impl Auxiliary for T`, then
//! `mptest::aux::start::<T>(config)` runs `T` in a process of its own and returns an
//! [`AuxHandle`](aux::AuxHandle) with pykiso's interface (`lock_it`, `run_command`,
//! `wait_and_get_report`, `suspend`, `resume`, `stop`, ...). See the [`aux`](mod@aux) module.
//!
//! ## Seeing into other processes
//!
//! - [`logs()`] / [`logs::wait_for`]: the `log` and `tracing` records of every process of the
//!   test (worker, children, auxiliaries, manager), with role and pid, gathered in the test and
//!   printed into its report; `RUST_LOG` filters.
//! - [`Recorder`]: a call log any process records into without waiting, read in the test
//!   (`calls`, `calls_named`, `wait_for`) — the body of a test double in another process.
//! - [`clock`]: one virtual time for all processes of the test — real, accelerated
//!   (`set_speed`) or manual (`pause`, `advance`) — for code that calls `clock::now()` and
//!   `clock::sleep()` instead of `std::time`.
//! - Coverage: every mptest process writes its LLVM profile when it exits, so `cargo llvm-cov`
//!   counts code that ran only in a child, an auxiliary or the manager.
//!
//! ## Differences from libtest
//!
//! A test means what it means under libtest — its own thread named after it, `should_panic`
//! judged from the payload, `env::args()` the binary's — except where processes differ:
//!
//! - **Statics** are shared by the tests of one worker process, not by all tests of the run.
//! - **A process a test leaves running** is ended when the test ends (its report names it);
//!   keep one across tests in a worker fixture (`#[mptest::fixture]`).
//! - **stdin** is `/dev/null`: workers are not in the terminal's foreground process group, where
//!   a read would stop them.
//! - **mptest's `log` logger** comes into a test's process when the test first starts a process
//!   of mptest's or reads [`logs()`]; a test may install its own before (see [`logs`]).
//! - **Plain `#[test]`s** in a `harness = false` target are compiled out by rustc unless
//!   `use mptest::test;` makes them mptest's.
//! - Threads a test leaves running keep running in that worker; what they print after the
//!   test returned lands in a later test's output.
//!
//! ## Known limitations
//!
//! - Unix only; leftover detection and subreaping are Linux-only (elsewhere, leftovers in the
//!   worker's process group are still ended by a timeout).
//! - `spawn`, `SharedValue::update` and the ready-made types' servers locate functions by their
//!   offset in the binary: every process of a run must be this same binary (it is: all are
//!   re-executions of it).
//! - Objects live in the manager until it shuts down; there is no reference counting of proxies.
//! - A closure given to `spawn` that never returns needs its result type: `spawn::<_, ()>`.
//! - Under libtest (an ordinary `#[test]`), what a spawned child prints goes to the terminal:
//!   libtest captures only its own process's `print!`s.
#![deny(missing_docs)]

// `aux` is a reserved file name on Windows; the folder is `auxiliary/`.
#[path = "auxiliary/mod.rs"]
pub mod aux;
pub mod capture;
mod cli;
pub mod clock;
mod coverage;
mod error;
pub mod fixtures;
pub mod hooks;
mod ipc_retry;
mod launch;
pub mod logs;
mod panics;
mod procs;
mod protocol;
mod recorder;
pub mod registry;
pub mod reporter;
mod runner;
pub mod shared;
mod spawn;
mod worker;

pub use error::Error;
pub use fixtures::{Fixture, FixtureError, FixtureName};
pub use logs::{logs, LogRecord};
/// `#[mp_test]` under libtest's name: after `use mptest::test;` every `#[test]` in the module —
/// also the ones a macro such as `quickcheck!` writes where it is called — is an mptest test
/// (the import shadows the built-in attribute, as `test-log` does). The way to migrate a suite:
///
/// ```no_run
/// use mptest::test;
///
/// #[test]
/// #[should_panic(expected = "overflow")]
/// fn overflows() {
///     panic!("overflow in the counter");
/// }
///
/// mptest::main!();
/// ```
pub use mptest_macros::mp_test as test;
pub use mptest_macros::{aux, fixture, mp_test, shared, worker_start, worker_stop};
pub use recorder::{Call, Recorder, RecorderError};
pub use runner::{EXIT_FAILED, EXIT_OK, EXIT_USAGE};
/// The serde mptest is built with, for `#[serde(crate = "mptest::serde")]` on types of yours
/// that travel (or put `#[mptest::shared]` on their definition, which derives it for you).
pub use serde;
/// The serde values a [`Recorder`] keeps as each call's arguments ([`Call::args`]).
pub use serde_value;
pub use shared::{
    Manager, ProxyError, SharedBarrier, SharedEvent, SharedLock, SharedLockGuard, SharedMap, SharedQueue,
    SharedValue, SharedVec,
};
pub use spawn::{spawn, ChildError, ChildHandle};

// Lets the macros' `::mptest::...` paths resolve inside this crate's own tests too.
extern crate self as mptest;

/// What a test file needs: `use mptest::prelude::*;`.
pub mod prelude {
    pub use crate::{mp_test, Manager, ProxyError};
}

/// The entry point of a `harness = false` test target: decides this process's role (the
/// first thing it does), then runs as the coordinator or as a worker. Never returns.
///
/// [`main!`] writes a `main` that calls this; call it yourself from a `main` of your own when
/// something must happen first.
pub fn run() -> ! {
    init();
    let code = runner::run(std::env::args().skip(1).collect());
    std::process::exit(code)
}

/// Takes this process's role if mptest started it in one (worker, child, manager): runs that
/// role and never returns. In any other process it returns at once.
///
/// [`run`] calls it first. A child of [`spawn`] and a manager take their role by themselves,
/// before `main` (so `spawn` and [`Manager`] work from ordinary `#[test]` functions, doctests
/// and any binary); calling `init` first thing in a `main` of your own costs nothing and keeps
/// working where constructors do not run.
///
/// ```no_run
/// // First thing in `main`:
/// mptest::init();
/// let doubled = mptest::spawn(21, |n: u32| n * 2).join().unwrap();
/// assert_eq!(doubled, 42);
/// ```
pub fn init() {
    let role = launch::role::take_from_env();
    if matches!(role, Ok(launch::role::Role::Coordinator)) {
        return;
    }
    launch::reexec::name_this_process();
    // A worker runs the user's tests, which may install a logger of their own (see `logs`).
    if !matches!(role, Ok(launch::role::Role::Worker(_))) {
        logs::install();
    }
    if !matches!(
        role,
        Ok(launch::role::Role::Worker(_) | launch::role::Role::FixtureHost(_))
    ) {
        exit_on_sigterm();
        launch::role::block_sigterm(false);
    }
    match role {
        Ok(launch::role::Role::Coordinator) => {}
        Ok(launch::role::Role::Worker(boot)) => worker::run(boot),
        Ok(launch::role::Role::FixtureHost(boot)) => fixtures::run_host(boot),
        Ok(launch::role::Role::Child(boot)) => spawn::run_child(boot),
        Ok(launch::role::Role::Manager(boot)) => shared::run_manager(boot),
        Ok(launch::role::Role::Aux(boot)) => aux::run_aux(boot),
        Err(err) => {
            eprintln!("mptest: {err}");
            std::process::exit(EXIT_USAGE)
        }
    }
}

/// In a child, an auxiliary or a manager: SIGTERM (what ends a test's leftover processes) ends
/// the process through `exit`, so its atexit work — the coverage profile of a
/// `-C instrument-coverage` build above all — is done. A signal thread calls `exit`, not the
/// handler: `exit` is not async-signal-safe.
fn exit_on_sigterm() {
    let Ok(mut signals) = signal_hook::iterator::Signals::new([libc::SIGTERM]) else {
        return;
    };
    let _ = std::thread::Builder::new()
        .name("mptest-sigterm".into())
        .spawn(move || {
            if signals.forever().next().is_some() {
                std::process::exit(128 + libc::SIGTERM);
            }
        });
}

/// Writes the `main` of a `harness = false` test target.
///
/// ```no_run
/// use mptest::prelude::*;
///
/// #[mp_test]
/// fn works() {}
///
/// mptest::main!();
/// ```
///
/// In a target that still has libtest's harness (no `harness = false`), it is a compile error
/// that says so: libtest would run none of the `#[mp_test]`s and report success.
#[macro_export]
macro_rules! main {
    () => {
        // Under libtest's harness (rustc `--test`; cargo sets `cfg(test)` either way) this
        // `#[test]` is compiled, and its body is a compile error; without the harness, rustc
        // drops `#[test]` items before looking at them. (By its full path: after
        // `use mptest::test;` a plain `#[test]` is `#[mp_test]`.)
        #[::core::prelude::v1::test]
        fn mptest_main_needs_harness_false() {
            ::core::compile_error!(
                "mptest::main!() needs a target without libtest's harness: add `harness = false` \
                 to this target's [[test]] section in Cargo.toml (libtest would run none of its \
                 #[mp_test]s)"
            );
        }

        fn main() {
            $crate::run()
        }
    };
}

/// Used by the macros' expansions. Not a public API: it changes without notice.
#[doc(hidden)]
pub mod __private {
    pub use crate::aux::{aux_type_def, AuxTypeDef, AUX_TYPES};
    pub use crate::fixtures::{for_fixture, for_test, FixtureDecl, FixtureName, Scope, FIXTURES};
    pub use crate::hooks::{WorkerHook, WORKER_START, WORKER_STOP};
    /// The run's directory, shared by every process of the run (mptest-can's bus sockets).
    pub use crate::launch::endpoint::run_dir;
    pub use crate::registry::{linkme, IntoTestResult, ShouldPanic, TestDef, TESTS};
    pub use crate::shared::{
        serve_connection, travel, Locked, Proxy, ServeFn, SharedState, SharedTypeDef, Travels, SHARED_TYPES,
    };
    pub use crate::worker::fault;
    pub use serde;

    /// Fault injection on a manager connection, for mptest's own tests.
    pub mod manager_fault {
        pub use crate::shared::fault::send_garbage;
    }
}
