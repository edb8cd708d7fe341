//! The worker role: connects to the coordinator, then runs the tests it is handed, one at a
//! time, for as long as the coordinator has work.

use std::io::Write;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::Instant;

use ipc_channel::ipc::{self, IpcSender};

use crate::error::Error;
use crate::launch::role::Boot;
use crate::procs;
use crate::protocol::{CarriedReport, FromWorker, Report, Told, ToWorker};
use crate::registry::{ShouldPanic, TestDef, TESTS};
use crate::reporter::FailureKind;
use crate::work::{RecvError, WorkReceiver};

/// The channel to the coordinator. Kept in one place so the fault hooks used by mptest's own
/// tests can reach it.
static TO_COORDINATOR: Mutex<Option<IpcSender<Told>>> = Mutex::new(None);

/// How many messages this worker sent the coordinator on the channel, and how many reports it
/// carried in the output pipe. Each message of one way carries the count of the other, and
/// the coordinator takes it only after that many of the other way: what was said is heard in
/// its order, whichever way it went.
static SENT: AtomicU64 = AtomicU64::new(0);
static CARRIED: AtomicU64 = AtomicU64::new(0);

/// A forked worker whose output is captured says hello, and that it uses its channel, in its
/// output pipe (with this marker): the coordinator has no thread reading its channel until
/// it is used (see the coordinator's `watch`). `None`: it says hello on the channel.
static SAID_IN_PIPE: OnceLock<Vec<u8>> = OnceLock::new();
/// Whether the first use of the channel was said in the pipe.
static CHANNEL_USED: AtomicBool = AtomicBool::new(false);

/// What earlier tests of this worker left running (and mptest ended), by test: said in the
/// output of a later test that fails, which may have counted on those processes.
static EARLIER_LEFTOVERS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// A forked worker's channels, made before it was: to the coordinator, and for its work.
pub(crate) type Channels = (IpcSender<Told>, std::io::PipeReader, Option<crate::claims::Claims>);

/// Runs the worker until the coordinator says stop or goes away; never returns. A forked
/// worker has its channels already (`made`); a re-executed one connects to `boot.server`.
pub(crate) fn run(boot: Boot, made: Option<Channels>) -> ! {
    match serve(boot, made) {
        Ok(()) => std::process::exit(0),
        Err(err) => {
            eprintln!("mptest worker: {err}");
            std::process::exit(2)
        }
    }
}

fn serve(boot: Boot, made: Option<Channels>) -> Result<(), Error> {
    crate::launch::role::check_parent(boot.parent)?;
    if made.is_some() {
        // Forked, a member of its group already (see `launch::fork`): when the coordinator
        // goes, the whole group goes, as the anchor of a re-executed worker sees to.
        if !crate::platform::end_group_with_parent(boot.parent) {
            return Err(Error::BadRole("cannot arrange to end with the coordinator".into()));
        }
    } else {
        // From here on this is the worker; its parent leads the process group (see `anchor`).
        crate::launch::anchor::split(boot.parent)?;
        // After the split, which forks: a forked copy disarms itself (see `crate::stage`).
        if boot.sentinel.is_some() {
            crate::stage::arm_inherited();
        }
    }
    procs::become_subreaper();
    crate::panics::install_hook();

    let forked = made.is_some();
    let (to_coordinator, mut tasks, tasks_tx) = match made {
        Some((to_coordinator, tasks, claims)) => (to_coordinator, WorkReceiver::pipe(tasks, claims), None),
        None => {
            let (tasks_tx, tasks) = ipc::channel::<ToWorker>().map_err(|e| Error::Channel(e.to_string()))?;
            let to_coordinator = IpcSender::<Told>::connect(boot.server.clone())
                .map_err(|e| Error::Channel(format!("cannot connect to {:?}: {e}", boot.server)))?;
            (to_coordinator, WorkReceiver::Channel(tasks), Some(tasks_tx))
        }
    };
    *TO_COORDINATOR.lock().unwrap_or_else(PoisonError::into_inner) = Some(to_coordinator);
    let hello_in_pipe = match (&boot.sentinel, forked) {
        (Some(sentinel), true) => {
            let _ = SAID_IN_PIPE.set(sentinel.clone());
            crate::capture::Record::Hello.bytes(sentinel)
        }
        _ => None,
    };
    match hello_in_pipe {
        Some(hello) if crate::capture::write_record(std::io::stdout(), &hello) => {}
        Some(_) => return Err(Error::Channel("cannot say hello in the output pipe".into())),
        None => say(FromWorker::Hello {
            pid: std::process::id(),
            tasks: tasks_tx,
        })
        .map_err(|e| Error::Channel(e.to_string()))?,
    }
    // A forked worker's CPUs may have been narrowed for its start, right after the fork (see
    // `crate::cpus`): it takes them back once the coordinator has said something (it narrowed
    // them before) and before anything of the user's runs — its start hooks wait for that.
    let mut first = None;
    if forked && !crate::hooks::WORKER_START.is_empty() {
        first = Some(tasks.recv());
        crate::cpus::take_back();
    }
    crate::fixtures::ask_for_run_fixtures_with(ask_for_fixture);
    send_hooks("start", &crate::hooks::WORKER_START);

    loop {
        let message = first.take().unwrap_or_else(|| tasks.recv());
        crate::cpus::take_back();
        match message {
            Ok(ToWorker::Run { index, name }) => {
                let report = run_test(index, &name);
                if TO_COORDINATOR.lock().unwrap_or_else(PoisonError::into_inner).is_none() {
                    // The channel was closed (a fault hook): stay, as a wedged worker would,
                    // until the coordinator notices and ends us — running no more tests (one
                    // may be waiting, handed out ahead).
                    end_of_test(boot.sentinel.as_deref(), None);
                    loop {
                        std::thread::park();
                    }
                }
                let carried = CarriedReport {
                    sent_before: SENT.load(Ordering::SeqCst),
                    report,
                };
                if !end_of_test(boot.sentinel.as_deref(), Some(&carried))
                    && say(FromWorker::Done(carried.report)).is_err()
                {
                    return Ok(()); // coordinator gone
                }
            }
            Ok(ToWorker::EndGroup) => send_fixtures(crate::fixtures::begin_test(None)),
            Ok(ToWorker::Exit) => {
                send_fixtures(crate::fixtures::tear_down(|_| true));
                let strays = procs::end_group_strays();
                if !strays.is_empty() {
                    eprintln!(
                        "mptest: this worker's tests left processes whose parent had exited; \
                         ended them: {}",
                        strays.join(", ")
                    );
                }
                send_hooks("stop", &crate::hooks::WORKER_STOP);
                crate::stage::write_out_now();
                return Ok(());
            }
            Err(RecvError::Disconnected) => return Ok(()),
            Err(err) => return Err(Error::Channel(format!("bad message from the coordinator: {err}"))),
        }
    }
}

/// The channel to the coordinator (`None` once a fault hook closed it).
fn coordinator() -> Option<IpcSender<Told>> {
    TO_COORDINATOR
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone()
}

/// Says in the output pipe, the first time, that the channel is used from now on (a forked
/// worker whose output is captured, see [`SAID_IN_PIPE`]).
fn announce_channel() {
    if let Some(sentinel) = SAID_IN_PIPE.get() {
        if !CHANNEL_USED.swap(true, Ordering::SeqCst) {
            // After what the test wrote so far, as every record.
            let _ = std::io::stdout().flush();
            if let Some(record) = crate::capture::Record::ChannelUsed.bytes(sentinel) {
                crate::capture::write_record(std::io::stdout(), &record);
            }
        }
    }
}

/// Sends `message` to the coordinator on the channel, counted in [`SENT`].
fn say(message: FromWorker) -> Result<(), String> {
    let sender = coordinator().ok_or("this worker has no channel to the coordinator")?;
    announce_channel();
    let told = Told {
        carried_before: CARRIED.load(Ordering::SeqCst),
        message,
    };
    sender.send(told).map_err(|e| e.to_string())?;
    SENT.fetch_add(1, Ordering::SeqCst);
    Ok(())
}

/// Tells the coordinator which fixtures were torn down, and how.
fn send_fixtures(events: Vec<crate::fixtures::FixtureEvent>) {
    if events.is_empty() {
        return;
    }
    let _ = say(FromWorker::Fixtures(events));
}

/// Asks the coordinator for a run fixture; the fixture host answers on `reply`.
fn ask_for_fixture(key: String, reply: ipc_channel::ipc::OpaqueIpcSender) -> Result<(), String> {
    say(FromWorker::NeedFixture { key, reply }).map_err(|e| format!("cannot ask the coordinator: {e}"))
}

/// Runs one phase's hooks and tells the coordinator what they did.
fn send_hooks(phase: &str, hooks: &[crate::hooks::WorkerHook]) {
    let Some(report) = crate::hooks::run(phase, hooks) else {
        return;
    };
    let _ = say(FromWorker::Hooks(report));
}

/// Runs one test on a thread named after it, as libtest does, and ends what it left running.
fn run_test(index: u32, name: &str) -> Report {
    let started = Instant::now();
    crate::launch::reexec::set_current_test(name);
    crate::clock::reset_for_test();
    crate::stage::rearm();
    crate::logs::begin_test();
    let def = find_test(index, name);
    // The group's worker moved on: the last group's fixtures go (reported apart from this test).
    send_fixtures(crate::fixtures::begin_test(def.and_then(|d| d.group)));
    let failure = match def {
        Some(def) => execute(def, name).err(),
        None => Some((
            FailureKind::Panicked,
            format!("this binary has no test named {name:?} at index {index}"),
        )),
    };
    let duration_ns = started.elapsed().as_nanos().try_into().unwrap_or(u64::MAX);
    let _ = std::io::stdout().flush();
    let leftovers = procs::end_leftovers();
    // After the leftovers are gone: whatever they logged before is in (and printed).
    let logs = crate::logs::end_test();
    let fixtures = crate::fixtures::take_events();
    crate::launch::reexec::set_current_test("");
    let mut earlier = EARLIER_LEFTOVERS.lock().unwrap_or_else(PoisonError::into_inner);
    if failure.is_some() && !earlier.is_empty() {
        // A process kept (in a static, say) for later tests is gone: say so where it matters.
        eprintln!(
            "note: earlier tests of this worker process left processes running, which mptest \
             ended when those tests ended ({}); a later test that uses them finds them gone \
             (ECHILD). Keep a process across tests in a worker fixture (#[mptest::fixture]).",
            earlier.join("; ")
        );
    }
    if !leftovers.is_empty() {
        eprintln!(
            "mptest: the test left {} process(es) running; ended them: {} (a process that is \
             to outlive the test belongs in a worker fixture, #[mptest::fixture])",
            leftovers.len(),
            leftovers.join(", ")
        );
        earlier.push(format!("{name}: {}", leftovers.join(", ")));
    }
    drop(earlier);
    Report {
        index,
        failure,
        duration_ns,
        leftovers,
        logs,
        fixtures,
    }
}

fn find_test(index: u32, name: &str) -> Option<&'static TestDef> {
    let by_index = TESTS.get(index as usize).filter(|t| t.name() == name);
    by_index.or_else(|| TESTS.iter().find(|t| t.name() == name))
}

/// `Ok` when the test met its expectation, else how it failed and the message.
///
/// As under libtest, the test runs on a thread of its own, named after it, with std's stack
/// size (`RUST_MIN_STACK`); its thread-locals are dropped when it ends. The outcome is judged
/// from the payload that unwound out of the test function (libtest's `calc_result`), whatever
/// the panic hook saw or whoever replaced it.
fn execute(def: &'static TestDef, name: &str) -> Result<(), (FailureKind, String)> {
    let spawned = std::thread::Builder::new()
        .name(name.to_string())
        .spawn(move || run_and_judge(def));
    let outcome = match spawned {
        Ok(thread) => thread.join(),
        // No thread to be had: in place, as libtest does then.
        Err(_) => Ok(run_and_judge(def)),
    };
    match outcome {
        Ok(outcome) => outcome,
        // Only a thread-local's destructor can panic here, after the outcome was made.
        Err(_) => Err((
            FailureKind::Panicked,
            "panicked after reporting success".to_string(),
        )),
    }
}

fn run_and_judge(def: &'static TestDef) -> Result<(), (FailureKind, String)> {
    let result = panic::catch_unwind(AssertUnwindSafe(|| __rust_begin_short_backtrace(def.run)));
    let panic = crate::panics::take_last();
    // A fixture it needs could not be set up: that is why it failed, whatever it expected.
    if let Some(message) = crate::fixtures::take_test_failure() {
        return Err((FailureKind::Fixture, message));
    }
    let place = format!("{}:{}:{}", def.file, def.line, def.column);
    judge(def.should_panic, &place, result, panic)
}

/// libtest's judgement of a test's raw result (its `calc_result`), in its words. `panic` is
/// what the panic hook recorded on the test's thread, for where the panic happened.
fn judge(
    should_panic: ShouldPanic,
    place: &str,
    result: std::thread::Result<Result<(), String>>,
    panic: Option<crate::panics::PanicRecord>,
) -> Result<(), (FailureKind, String)> {
    let payload = match result {
        Ok(Ok(())) => None,
        // (`should_panic` tests return `()`: the macro refuses anything else.)
        Ok(Err(err)) => return Err((FailureKind::ReturnedError, err)),
        Err(payload) => Some(payload),
    };
    match (should_panic, payload) {
        (ShouldPanic::No, None) | (ShouldPanic::Yes, Some(_)) => Ok(()),
        (ShouldPanic::No, Some(payload)) => {
            let message = crate::panics::payload_text(&*payload);
            Err((
                FailureKind::Panicked,
                // The hook's record says where, if it is of this very panic (not of one the
                // test caught before another payload unwound out of it).
                match panic {
                    Some(record) if !record.location.is_empty() && record.message == message => {
                        format!("panicked at {}:\n{message}", record.location)
                    }
                    _ => format!("panicked:\n{message}"),
                },
            ))
        }
        (ShouldPanic::WithMessage(expected), Some(payload)) => {
            match crate::panics::payload_str(&*payload) {
                Some(text) if text.contains(expected) => Ok(()),
                Some(text) => Err((
                    FailureKind::ShouldPanic,
                    format!(
                        "panic did not contain expected string\n      panic message: {text:?}\n expected substring: {expected:?}"
                    ),
                )),
                None => Err((
                    FailureKind::ShouldPanic,
                    format!(
                        "expected panic with string value,\n found non-string value: `{:?}`\n     expected substring: {expected:?}",
                        (*payload).type_id()
                    ),
                )),
            }
        }
        (ShouldPanic::Yes | ShouldPanic::WithMessage(_), None) => Err((
            FailureKind::ShouldPanic,
            format!("test did not panic as expected at {place}"),
        )),
    }
}

/// The frame std's `RUST_BACKTRACE=1` backtrace stops at (it looks for this name, as libtest
/// names its own): the frames printed are the test's, not mptest's.
#[inline(never)]
fn __rust_begin_short_backtrace<T, F: FnOnce() -> T>(f: F) -> T {
    let result = f();
    // Keeps this frame from being a tail call.
    std::hint::black_box(result)
}

/// Marks the end of this test's output in the pipe the coordinator reads, with `report` after
/// it when given and it fits one atomic write (see [`crate::capture::Record`]); true when the
/// report went so, else it is for the channel.
fn end_of_test(sentinel: Option<&[u8]>, report: Option<&CarriedReport>) -> bool {
    use crate::capture::Record;
    let _ = std::io::stdout().flush();
    let Some(sentinel) = sentinel else {
        return false;
    };
    let carried = report
        .and_then(|report| postcard::to_allocvec(report).ok())
        .and_then(|report| Record::TestReported(&report).bytes(sentinel));
    let (record, carried) = match carried {
        Some(record) => (record, true),
        None => (Record::TestEnded.bytes(sentinel).unwrap_or_default(), false),
    };
    // Straight to fd 1, below std's buffering, so it lands after everything already written.
    let carried = crate::capture::write_record(std::io::stdout(), &record) && carried;
    if carried {
        CARRIED.fetch_add(1, Ordering::SeqCst);
    }
    carried
}

/// Fault injection for mptest's own tests: a worker that misbehaves on its channel.
#[doc(hidden)]
pub mod fault {
    use super::*;

    fn raw_sender() -> Option<IpcSender<Vec<u8>>> {
        // What it sends counts as sent, heard or not: a report after it waits for it.
        SENT.fetch_add(1, Ordering::SeqCst);
        announce_channel();
        let guard = TO_COORDINATOR.lock().unwrap_or_else(PoisonError::into_inner);
        guard.clone().map(|s| s.to_opaque().to::<Vec<u8>>())
    }

    /// Sends bytes that are no message at all.
    pub fn send_garbage() {
        if let Some(raw) = raw_sender() {
            let _ = raw.send(vec![0xff; 16]);
        }
    }

    /// Sends the start of a `Done` message and nothing after it.
    pub fn send_truncated() {
        if let Some(raw) = raw_sender() {
            let _ = raw.send(vec![7]);
        }
    }

    /// Closes this worker's channel to the coordinator.
    pub fn close_channel() {
        // Its end is news to the coordinator: have it read the channel.
        announce_channel();
        TO_COORDINATOR
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
    }
}
