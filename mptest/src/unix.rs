// The whole crate, for Unix (included by lib.rs, whose documentation it is).

// `aux` is a reserved file name on Windows; the folder is `auxiliary/`.
#[path = "auxiliary/mod.rs"]
pub mod aux;
pub mod capture;
mod claims;
mod cli;
pub mod clock;
mod coverage;
mod cpus;
mod error;
pub mod fixtures;
pub mod hooks;
mod ipc_retry;
mod launch;
mod nonce;
pub mod logs;
mod panics;
mod platform;
mod procs;
mod protocol;
mod recorder;
pub mod registry;
pub mod reporter;
#[cfg(feature = "tokio")]
pub mod rt;
mod runner;
pub mod shared;
mod signals;
mod spawn;
mod stage;
#[doc(hidden)]
pub mod sync;
pub(crate) mod work;
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
///
/// `#[macro_use(test)] extern crate mptest;` at the top of a target's root file does the same in
/// every module of the target, also in a module that does `use super::*;` (where a second
/// import would make `test` ambiguous, E0659) and in those that `#[rstest]` writes for its cases.
pub use mptest_macros::mp_test as test;
pub use mptest_macros::{aux, fixture, mp_test, shared, worker_start, worker_stop};
/// test-case's `#[test_case]` (feature `test-case`): the same cases, names and expectations,
/// each an mptest test. test-case's own attribute writes libtest's `#[test]` by its full path
/// inside a `#[cfg(test)]` module, which a `harness = false` target compiles out: import this
/// one instead (`mptest-convert` does). Keep test-case in your dev-dependencies where a case
/// uses `it matches_regex` (its expansion names `::test_case::Regex`). In a test file that
/// `mptest::main!();` ends:
///
/// ```no_run
/// use mptest::test_case;
///
/// #[test_case(2, 2 => 4 ; "two and two")]
/// #[test_case(1, 0 => panics "zero")]
/// fn divides(a: u32, b: u32) -> u32 {
///     assert!(b != 0, "zero");
///     a * 2 / b
/// }
/// # fn main() {}
/// ```
#[cfg(feature = "test-case")]
pub use mptest_macros::test_case;
/// test-case's `case`, another name of [`test_case`](macro@test_case) (feature `test-case`).
#[cfg(feature = "test-case")]
pub use mptest_macros::test_case as case;
/// test-case's `#[test_matrix]` (feature `test-case`): a case for each combination of the
/// values, each an mptest test.
///
/// ```no_run
/// use mptest::test_matrix;
///
/// #[test_matrix([1, 2], [10, 20])]
/// fn adds(a: u32, b: u32) {
///     assert!(a + b > 10);
/// }
/// # fn main() {}
/// ```
#[cfg(feature = "test-case")]
pub use mptest_macros::test_matrix;
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

/// What a test file needs: `use mptest::prelude::*;`.
pub mod prelude {
    pub use crate::{mp_test, Manager, ProxyError};
}

/// The entry point of a `harness = false` test target: decides this process's role (the
/// first thing it does), then runs as the coordinator or as a worker. Never returns.
///
/// [`main!`] writes a `main` that calls this; call it yourself from a `main` of your own when
/// something must happen first.
///
/// How workers start: under [`main!`]'s `main` the first workers are copies of the coordinator
/// made by `fork` before it starts any thread (on Linux; no `exec`, so a worker is ready at
/// once — this matters most under cargo-nextest, which starts the binary once per test). Under a
/// `main` of your own every worker re-executes the binary and runs your `main` again, so what
/// it sets up (a directory, a file, a thread) is each worker's own, as it always was; so does a
/// worker that replaces a dead one, any worker of a binary built with
/// `-C instrument-coverage`, and every worker with `MPTEST_FORK_WORKERS=0`.
pub fn run() -> ! {
    if cfg!(miri) {
        // Miri reads no linker section (where the tests are registered) and has no `fork`:
        // say so, instead of its "unsupported operation" at the first look at the tests.
        eprintln!(
            "mptest: this target's tests cannot run under Miri: Miri does not read the linker \
             section where mptest registers tests, and cannot start processes. Run Miri on \
             the crate's libtest targets instead: `cargo miri test --lib --doc` (and plain \
             #[test] targets by name, `--test NAME`)."
        );
        std::process::exit(101);
    }
    init();
    let code = runner::run(std::env::args().skip(1).collect());
    std::process::exit(code)
}

/// Takes this process's role if mptest started it in one (worker, child, manager): runs that
/// role and never returns. In any other process it returns at once.
///
/// [`run`] calls it first. A child of [`spawn`](fn@spawn) and a manager take their role by themselves,
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
        // A child, an aux or a manager goes with the process that started it (a worker, a
        // test under libtest, another of them), also when that one is SIGKILLed.
        if role.is_ok() {
            platform::watch_parent(nix::unistd::getppid().as_raw(), false);
        }
    }
    match role {
        Ok(launch::role::Role::Coordinator) => {}
        Ok(launch::role::Role::Worker(boot)) => worker::run(boot, None),
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
    let Ok(mut signals) = signals::listen(&[libc::SIGTERM]) else {
        return;
    };
    let _ = std::thread::Builder::new()
        .name("mptest-sigterm".into())
        .spawn(move || {
            if signals.next().is_some() {
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
            $crate::__private::run_main()
        }
    };
}

/// Used by the macros' expansions. Not a public API: it changes without notice.
#[doc(hidden)]
pub mod __private {
    /// [`main!`](crate::main)'s `main`: [`run`](crate::run), knowing no code of the user's ran
    /// first (so the first workers may be forked, see `launch::fork`).
    pub fn run_main() -> ! {
        crate::launch::fork::main_is_mptests();
        crate::run()
    }

    pub use crate::aux::{aux_type_def, AuxTypeDef, AUX_TYPES};
    pub use crate::fixtures::{for_fixture, for_test, FixtureDecl, FixtureName, Scope, FIXTURES};
    pub use crate::hooks::{WorkerHook, WORKER_START, WORKER_STOP};
    /// The run's directory, shared by every process of the run (mptest-can's bus sockets).
    pub use crate::launch::endpoint::run_dir;
    pub use crate::registry::{linkme, IntoTestResult, ShouldPanic, TestDef, TESTS};
    pub use crate::shared::{
        serve_connection, travel, Locked, Proxy, ServeFn, SharedState, SharedTypeDef, Travels, SHARED_TYPES,
    };
    /// Whether this worker's writes to stdout and stderr are staged now (mptest's own tests).
    pub use crate::stage::armed as output_staged;
    /// Holds the thread that writes staged output out (mptest's own tests).
    pub use crate::stage::hold_flusher;
    pub use crate::work::pipe_fd as work_pipe_fd;
    pub use crate::worker::fault;
    /// The runtimes of async tests and fixtures.
    #[cfg(feature = "tokio")]
    pub use crate::rt::{no_runtime, run_fixture, run_test, tasks_left, Flavor, TASKS_GRACE};
    #[cfg(feature = "tokio")]
    pub use tokio;
    /// Locks without poisoning, for mptest-can.
    pub use crate::sync;
    pub use serde;

    /// Fault injection on a manager connection, for mptest's own tests.
    pub mod manager_fault {
        pub use crate::shared::fault::send_garbage;
    }
}
