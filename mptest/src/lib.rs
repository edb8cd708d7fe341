//! # mptest
//!
//! A test framework for Rust code that lives in several processes. Tests are ordinary
//! functions marked `#[mp_test]`; they run in a pool of worker processes — copies of the test
//! binary, forked before the run starts or re-executed — so a test that panics, aborts,
//! segfaults, calls `process::exit` or hangs costs that one test, and the run goes on and says
//! precisely what happened.
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
//! module makes each of them an mptest test (also those a macro writes there), or
//! `#[macro_use(test)] extern crate mptest;` at the top of the target's root file does it in
//! every module of the target (also in those that `#[rstest]` writes); `mptest::main!();` ends
//! the file. The `mptest-convert` tool of this repository does it for a crate's integration
//! tests, `Cargo.toml` included. test-case's `#[test_case]` and `#[test_matrix]` have mptest
//! twins (`mptest::test_case`, feature `test-case`), serial_test's `#[serial]` makes
//! a test [`serial`](#options-of-mp_test) as well, and test-log's attribute takes mptest's:
//! `#[test_log::test(mptest::test)]`.
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
//! | `serial` | runs while no other test runs; serial_test's `#[serial]` on the test means it too (its lock is one worker's, mptest's spans them) |
//! | `flavor = "multi_thread"` (or `"current_thread"`, `"local"`), `worker_threads = N`, `start_paused = true`, `name = "..."`, `unhandled_panic = "..."`, `crate = "..."` | an `async fn` test's runtime, as `#[tokio::test]` spells it (the `tokio` feature; see [Async tests](#async-tests)); `local` (tokio's `LocalRuntime`) and `name` need tokio 1.51, `unhandled_panic` tokio's `--cfg tokio_unstable`; `crate` changes nothing: mptest's tokio is that crate |
//!
//! ## What the harness does
//!
//! - The coordinator (the process `cargo test` starts) lists and filters the tests and starts
//!   `--test-threads` workers (default: the available parallelism). Each worker is handed the
//!   next test (through a pipe when the worker is a forked copy of the coordinator, over
//!   ipc-channel when re-executed) — and, while many are left, the one after it too, so it goes
//!   on without waiting for the coordinator (that one counts as not run if the worker dies).
//!   A worker runs its tests one after another, each on a thread of its own named after it,
//!   as libtest does: `std::thread::current().name()` is the test's name, `RUST_MIN_STACK`
//!   sets its stack, its thread-locals are dropped when it ends, and `should_panic` is judged
//!   from the payload that unwound out of it.
//! - Everything written to stdout and stderr while a test runs — by the worker and by any
//!   process the test starts — is captured at the file-descriptor level into that test's report.
//!   It is shown for failed tests, for passed ones with `--show-output`, and streamed live with
//!   `--nocapture`. It survives the worker's crash. Very large output keeps its first and last
//!   4 MiB and says how much was cut. A worker keeps its own writes in memory while they
//!   come in bursts (a write less than 100 µs after the one before), as libtest keeps a test's
//!   `print!`s, and writes them to the capture pipe in batches: a test that prints a million
//!   lines takes about libtest's time, not 5 × it. To see them, mptest defines the C library's
//!   `write`, `writev`, `dup2`, `dup3`, `close`, `posix_spawn` and `posix_spawnp` in the test
//!   binary (Linux with glibc): a binary that defines one of them itself does not link with
//!   mptest. A lone write, and every write after the test moved fd 1 or 2 elsewhere (until the
//!   next test), goes to the pipe at once, and what is kept is written out before the test
//!   starts a process: what processes print keeps its order. `MPTEST_STAGED_OUTPUT=0` writes
//!   everything at once.
//! - A crash (signal, abort, `process::exit` inside a test) is reported as such, naming the
//!   signal or exit code; the worker is replaced. (In a run of that one test, `exit(0)` is a
//!   pass, as libtest says of its process: rusty-fork's forked tests end so.) A timeout (`timeout = ...` or `--timeout SECS`)
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
//!   `<target>/<profile>/mptest-timings/<suite>.txt`, or the file `MPTEST_TIMINGS` names; under
//!   Bazel in `TEST_UNDECLARED_OUTPUTS_DIR`, or nowhere; parallel runs of one binary merge
//!   theirs under a lock; a run that changes no outcome, no test and no duration by more than a
//!   quarter and a millisecond leaves the file as it was);
//!   unknown tests in between, equal ones by name. One at a time (`--test-threads 1`), longest
//!   first shortens nothing: the tests go by name, as under libtest, and each ignored test is
//!   reported in its turn. `--order declared|name|longest|random`, `--seed N`. A group (tests
//!   with `group = "..."`) runs on one worker in declaration order and is placed by its total.
//! - **Shards**: `--partition hash:M/N` or `slice:M/N` (also `count:M/N`, nextest's name for
//!   it) runs part M of N, and with `--list` lists it; under Bazel,
//!   `TEST_TOTAL_SHARDS`/`TEST_SHARD_INDEX` do it, `TEST_SHARD_STATUS_FILE` is touched,
//!   `XML_OUTPUT_FILE` gets the JUnit report and `TEST_TMPDIR` the run's temporary files. The
//!   shards together run the suite once; a group is never split. `--partition time:M/N` makes
//!   shards that finish together: the recorded durations, longest first, each into the shard
//!   with the least so far (pytest-split's and CircleCI's greedy split; equal lengths by name,
//!   so every machine given the same timings file splits alike); tests with no duration go by
//!   hash. A run split by time records outcomes but leaves the durations as they were, so
//!   shards run one after another on one machine still split alike: durations come from runs
//!   that are not split by time.
//! - **Rerun what failed**: `--last-failed` (`--lf`) runs only the tests that failed, crashed,
//!   timed out or were interrupted the last time they ran, `--failed-first` (`--ff`) runs them
//!   first — from the same timings file, which keeps each test's last outcome. With nothing
//!   recorded, or none of the selected tests failed, every selected test runs and a notice on
//!   stderr says why (pytest's rule). With a partition, each shard reruns its own failures.
//! - **Policies**: `--retries N` (a test's own `retries` wins; crashes and timeouts are retried
//!   too), `--flaky-result pass|fail`, `--leak-result warn|fail`, `--fail-fast`,
//!   `--run-timeout SECS`, `--max-worker-restarts N`.
//! - **Reports**: `--junit PATH` writes JUnit XML valid for the Jenkins xunit plugin's
//!   `junit-10.xsd` (output and log records of every process in `system-out`, retries as
//!   `flakyFailure`/`rerunFailure`, fixture setups and teardowns as the suite's properties, not
//!   counted as tests; where nextest's quick-junit format and the schema part, mptest follows the
//!   schema: no `skipped` on `<testsuites>`, no `time` on retry elements); on a terminal a live
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
//! [`spawn`](fn@spawn) runs a non-capturing closure in a child process and hands its value back; a panic
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
//! ## Async tests
//!
//! With the `tokio` feature (`mptest = { version = "0.1", features = ["tokio"] }`; without
//! it, an `async fn` test is one compile error that names the feature), `#[mp_test]` takes an
//! `async fn` — `#[tokio::test]`'s tests migrate as they are (`mptest-convert` rewrites the
//! attribute). Each test runs on a fresh runtime of its own, on the test's thread, dropped at
//! its end: tasks still running are cancelled and the test's output says how many. Timeouts,
//! `should_panic`, retries and crash reports are a plain test's; a panic in a task the test
//! awaits fails it. A `#[mptest::fixture]` may be an `async fn` too (set up on a runtime the
//! process keeps, so what it holds stays served).
//!
//! Every call a test makes on another process has an async form that never blocks the
//! runtime, named `<name>_async`: proxy methods, the ready-made shared types, [`AuxHandle`](aux::AuxHandle),
//! `Recorder::wait_for_async`, `ChildHandle::join_async`, `rt::wait_for_log`; and
//! `rt::sleep` / `rt::interval` follow [`clock`], so a tokio daemon runs a day in seconds.
//! `rt::spawn` runs async work in a child process. The example `examples/async_daemon.rs`
//! tests a two-process tokio TCP daemon this way.
//!
//! ```ignore
//! use mptest::prelude::*;
//!
//! #[mp_test(flavor = "multi_thread", worker_threads = 2, timeout = "30s")]
//! async fn the_daemon_answers() -> Result<(), Box<dyn std::error::Error>> {
//!     let manager = mptest::Manager::start()?;
//!     let ports = manager.queue::<u16>(None)?;
//!     let daemon = mptest::rt::spawn(ports.clone(), my_daemon::serve); // async fn serve(ports)
//!     let port = ports.get_timeout_async(std::time::Duration::from_secs(10)).await?;
//!     let answer = my_daemon::Client::connect(port).await?.ask("GET").await?;
//!     assert_eq!(answer, 0);
//!     Ok(())
//! }
//! ```
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
//! - **Order**: with more than one thread, the longest tests (of earlier runs) start first;
//!   libtest starts them by name. One at a time, both go by name.
//! - **A process a test leaves running** is ended when the test ends (its report names it);
//!   keep one across tests in a worker fixture (`#[mptest::fixture]`).
//! - **stdin** is `/dev/null`: workers are not in the terminal's foreground process group, where
//!   a read would stop them.
//! - **mptest's `log` logger** comes into a test's process when the test first starts a process
//!   of mptest's or reads [`logs()`]; a test may install its own before (see [`logs`](mod@logs)).
//! - **Plain `#[test]`s** in a `harness = false` target are compiled out by rustc unless
//!   `use mptest::test;` (or `#[macro_use(test)] extern crate mptest;`) makes them mptest's;
//!   `cfg(test)` is not set there (cargo sets it for libtest's targets only).
//! - **`cargo test -q`** passes `--quiet` to libtest's targets only (cargo asks whether the
//!   target has a harness), so an mptest target prints its pretty output there: write
//!   `cargo test -q -- -q` for terse output from both.
//! - Threads a test leaves running keep running in that worker; what they print after the
//!   test returned lands in a later test's output.
//! - **Symbols**: on Linux with glibc, an mptest binary defines the C library's `write`,
//!   `writev`, `dup2`, `dup3`, `close`, `posix_spawn` and `posix_spawnp` (to keep a test's
//!   output in memory, as libtest does; see the output capture above). Each does what the C
//!   library's does; a binary that defines one of them itself does not link.
//!
//! ## Known limitations
//!
//! - Unix only; leftover detection and subreaping are Linux-only (elsewhere, leftovers in the
//!   worker's process group are still ended by a timeout).
//! - `spawn`, `SharedValue::update` and the ready-made types' servers locate functions by their
//!   offset in the binary: every process of a run must be this same binary (it is: all are
//!   copies or re-executions of it).
//! - Objects live in the manager until it shuts down; there is no reference counting of proxies.
//! - A closure given to `spawn` that never returns needs its result type: `spawn::<_, ()>`.
//! - Under libtest (an ordinary `#[test]`), what a spawned child prints goes to the terminal:
//!   libtest captures only its own process's `print!`s.
//! - Not under Miri: it reads no linker section (where tests are registered) and starts no
//!   process. An mptest target under `cargo miri test` fails with a message saying so; run
//!   Miri on the libtest targets (`cargo miri test --lib --doc`).
//!
//! ## Platforms
//!
//! | feature | Linux | macOS | FreeBSD |
//! |---|---|---|---|
//! | worker pool, crash / abort / hang isolation, timeouts, retries, fixtures, JSON / JUnit | yes | yes | yes |
//! | `spawn`, auxiliaries, `Manager` and shared types, `Recorder`, logs, output capture | yes | yes | yes |
//! | a test's own writes to stdout and stderr | kept in memory while they come in bursts, written to the capture pipe in batches (glibc) | each a write to the capture pipe | as macOS |
//! | leftover processes of a test found and ended | all, also daemons in a session of their own (child subreaper) | those in the worker's process group (`ps`; one whose parent exited: when the worker ends) | as macOS |
//! | a killed coordinator takes its workers along | parent-death signal | a watcher thread (50 ms) | as macOS |
//! | `mptest::clock` across processes | futex wake-ups | 1 ms look-ups | as macOS |
//! | coverage (`cargo llvm-cov`) | every process | workers only | workers only |
//! | `mptest-can`: virtual bus, proxy aux, traces | yes | yes | yes |
//! | `mptest-can`: SocketCAN | yes | — | — |
//! | `ps` names a worker `worker N` | yes | — | — |
//!
//! Windows is not supported yet (one compile error says so). macOS and FreeBSD are checked and
//! linted in CI, and their fallbacks run on Linux with `RUSTFLAGS="--cfg mptest_portable"`; no
//! test suite has run on a Mac or a FreeBSD machine yet.
//! (`src/platform.rs` holds the fallbacks.) A too long `$TMPDIR` (Bazel's) is fine: the run's
//! sockets then live in `$XDG_RUNTIME_DIR` or `/tmp`, and in mptest's processes tempfile's
//! default directory is the run's directory.
#![deny(missing_docs)]

// mptest is built on Unix processes, signals and sockets.
#[cfg(not(unix))]
compile_error!("mptest runs on Unix only (Linux, macOS, FreeBSD): Windows is not supported yet");

// Lets the macros' `::mptest::...` paths resolve inside this crate's own tests too. (Here, not
// in unix.rs: an `extern crate` that a macro such as `include!` expands may not shadow
// `--extern mptest`, which doctests pass.)
#[cfg(unix)]
extern crate self as mptest;

// Everything else (a file of its own so that one `cfg` keeps it from other systems).
#[cfg(unix)]
include!("unix.rs");
