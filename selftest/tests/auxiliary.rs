//! Auxiliaries end to end, as an mptest suite: pykiso's interface, messages kept and broadcast,
//! locks across processes, and every failure path (panic, crash, timeout, stop, bad start).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use mptest::aux::{AuxError, AuxHandle, AuxResult, Auxiliary};
use mptest::prelude::*;
use mptest::SharedEvent;
use serde::{Deserialize, Serialize};

/// Bounds every wait of these tests.
const LIMIT: Duration = Duration::from_secs(10);

/// A simulated device: runs commands, and "hears" what `Emit` queues.
pub struct Device {
    heard: Mutex<VecDeque<u64>>,
    next: AtomicU32,
    created: AtomicU32,
    aborted: AtomicBool,
    config: DeviceConfig,
}

#[derive(Clone, Default, Serialize, Deserialize)]
pub struct DeviceConfig {
    pub fail_new: bool,
    pub fail_create: bool,
    /// `delete_instance` never returns: a `stop` cannot complete.
    pub hang_on_delete: bool,
    /// `create_instance` makes the device hear this many messages at once.
    pub emit_on_create: u32,
}

#[derive(Debug, Serialize, Deserialize)]
pub enum Command {
    Echo(String),
    /// Makes the device hear `n` numbered messages.
    Emit(u32),
    Sleep(u64),
    /// Runs until `abort_command`.
    UntilAborted,
    Panic,
    Fail,
    Print(String),
    Crash,
    Creations,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
pub enum Response {
    Text(String),
    Count(u32),
    Done,
}

#[mptest::aux]
impl Auxiliary for Device {
    type Config = DeviceConfig;
    type Command = Command;
    type Response = Response;
    type Message = u64;

    fn new(config: DeviceConfig) -> AuxResult<Self> {
        if config.fail_new {
            return Err("no such port".into());
        }
        Ok(Device {
            heard: Mutex::new(VecDeque::new()),
            next: AtomicU32::new(0),
            created: AtomicU32::new(0),
            aborted: AtomicBool::new(false),
            config,
        })
    }

    fn create_instance(&self) -> AuxResult<()> {
        if self.config.fail_create {
            return Err("the port is busy".into());
        }
        self.created.fetch_add(1, Ordering::SeqCst);
        self.run_command(Command::Emit(self.config.emit_on_create))?;
        Ok(())
    }

    fn delete_instance(&self) -> AuxResult<()> {
        if self.config.hang_on_delete {
            loop {
                std::thread::park();
            }
        }
        Ok(())
    }

    fn run_command(&self, command: Command) -> AuxResult<Response> {
        Ok(match command {
            Command::Echo(text) => Response::Text(text),
            Command::Emit(n) => {
                let mut heard = self.heard.lock().unwrap();
                for _ in 0..n {
                    heard.push_back(u64::from(self.next.fetch_add(1, Ordering::SeqCst)));
                }
                Response::Done
            }
            Command::Sleep(ms) => {
                // Simulated work.
                std::thread::sleep(Duration::from_millis(ms));
                Response::Done
            }
            Command::UntilAborted => {
                // Says it is running: the device hears `RUNNING`.
                self.heard.lock().unwrap().push_back(RUNNING);
                let started = Instant::now();
                while !self.aborted.swap(false, Ordering::SeqCst) {
                    if started.elapsed() > LIMIT {
                        return Err("never aborted".into());
                    }
                    std::thread::yield_now();
                }
                Response::Text("aborted".into())
            }
            Command::Panic => panic!("the device's command panicked"),
            Command::Fail => return Err("the device refused".into()),
            Command::Print(text) => {
                println!("{text}");
                eprintln!("err: {text}");
                Response::Done
            }
            Command::Crash => {
                println!("about to crash");
                std::process::abort()
            }
            Command::Creations => Response::Count(self.created.load(Ordering::SeqCst)),
        })
    }

    fn abort_command(&self) -> AuxResult<()> {
        self.aborted.store(true, Ordering::SeqCst);
        Ok(())
    }

    fn receive_message(&self, _wait: Duration) -> Option<u64> {
        self.heard.lock().unwrap().pop_front()
    }
}

/// What the device hears when `UntilAborted` starts.
const RUNNING: u64 = u64::MAX;

/// Not registered: no `#[mptest::aux]`.
pub struct Unregistered;

impl Auxiliary for Unregistered {
    type Config = ();
    type Command = ();
    type Response = ();
    type Message = ();
    fn new(_: ()) -> AuxResult<Self> {
        Ok(Unregistered)
    }
    fn run_command(&self, _: ()) -> AuxResult<()> {
        Ok(())
    }
}

fn device() -> AuxHandle<Device> {
    mptest::aux::start::<Device>(DeviceConfig::default()).unwrap()
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        !matches!(
            s.rsplit(')').next().and_then(|r| r.trim().chars().next()),
            Some('Z') | Some('X')
        )
    })
}

/// Takes `n` messages, failing past LIMIT.
fn take(aux: &AuxHandle<Device>, n: usize) -> Vec<u64> {
    let deadline = Instant::now() + LIMIT;
    let mut got = Vec::new();
    while got.len() < n {
        assert!(
            Instant::now() < deadline,
            "only {} of {n} messages came",
            got.len()
        );
        if let Some(m) = aux.wait_and_get_report(Duration::from_millis(200)).unwrap() {
            got.push(m);
        }
    }
    got
}

#[mp_test(timeout = "30s")]
fn commands_get_their_own_response_never_a_message() {
    let aux = device();
    assert_eq!(aux.run_command(Command::Emit(3), LIMIT).unwrap(), Response::Done);
    assert_eq!(
        aux.run_command(Command::Echo("ping".into()), LIMIT).unwrap(),
        Response::Text("ping".into())
    );
    assert_eq!(take(&aux, 3), [0, 1, 2]);
    assert_eq!(aux.wait_and_get_report(Duration::from_millis(50)).unwrap(), None);
    aux.stop().unwrap();
}

#[mp_test(timeout = "30s")]
fn messages_queue_up_while_commands_run_and_none_is_lost() {
    let aux = device();
    aux.run_command(Command::Emit(1000), LIMIT).unwrap();
    for i in 0..50 {
        let echoed = aux.run_command(Command::Echo(i.to_string()), LIMIT).unwrap();
        assert_eq!(echoed, Response::Text(i.to_string()));
    }
    assert_eq!(take(&aux, 1000), (0..1000).collect::<Vec<_>>());
    assert_eq!(aux.dropped_messages().unwrap(), 0);
    aux.stop().unwrap();
}

#[mp_test(timeout = "30s")]
fn every_process_with_a_handle_hears_every_message() {
    let aux = device();
    let child = mptest::spawn(aux.clone(), |aux: AuxHandle<Device>| {
        // Its first call makes it a subscriber; then it makes the device hear 5 messages.
        aux.run_command(Command::Emit(5), LIMIT).unwrap();
        take(&aux, 5)
    });
    assert_eq!(child.join().unwrap(), [0, 1, 2, 3, 4]);
    assert_eq!(take(&aux, 5), [0, 1, 2, 3, 4], "the test hears them too");
    aux.stop().unwrap();
}

#[mp_test(timeout = "30s")]
fn lock_it_is_exclusive_across_processes_and_dies_with_its_holder() {
    let aux = device();
    assert!(aux.lock_it(LIMIT));
    let other = mptest::spawn(aux.clone(), |aux: AuxHandle<Device>| {
        aux.lock_it(Duration::from_millis(100))
    });
    assert!(!other.join().unwrap(), "a second process got the lock");
    aux.unlock_it().unwrap();
    // A holder that dies without unlocking releases the lock.
    let holder = mptest::spawn::<_, ()>(aux.clone(), |aux: AuxHandle<Device>| {
        assert!(aux.lock_it(LIMIT));
        std::process::exit(0)
    });
    let _ = holder.join();
    assert!(aux.lock_it(LIMIT), "the dead holder's lock was not released");
    aux.stop().unwrap();
}

#[mp_test(timeout = "30s")]
fn suspend_and_resume_delete_and_create_the_instance() {
    let aux = device();
    aux.suspend().unwrap();
    let err = aux.run_command(Command::Echo("x".into()), LIMIT).unwrap_err();
    assert!(matches!(err, AuxError::NotStarted(_)), "{err:?}");
    aux.resume().unwrap();
    assert_eq!(
        aux.run_command(Command::Creations, LIMIT).unwrap(),
        Response::Count(2)
    );
    aux.stop().unwrap();
}

#[mp_test(timeout = "30s")]
fn the_test_hears_from_the_moment_the_instance_is_created() {
    let config = DeviceConfig {
        emit_on_create: 100,
        ..Default::default()
    };
    let aux = mptest::aux::start::<Device>(config).unwrap();
    assert_eq!(take(&aux, 100), (0..100).collect::<Vec<_>>());
    aux.stop().unwrap();
}

#[mp_test(timeout = "30s")]
fn stop_is_idempotent_and_later_calls_say_not_started() {
    let aux = device();
    let pid = aux.pid();
    // A full queue does not hold the stop up.
    aux.run_command(Command::Emit(1000), LIMIT).unwrap();
    aux.stop().unwrap();
    aux.stop().unwrap();
    assert!(!alive(pid), "the aux process outlived its stop");
    let err = aux.run_command(Command::Echo("x".into()), LIMIT).unwrap_err();
    assert!(matches!(err, AuxError::NotStarted(_)), "{err:?}");
}

#[mp_test(timeout = "30s")]
fn a_panicking_command_fails_only_that_command() {
    let aux = device();
    let err = aux.run_command(Command::Panic, LIMIT).unwrap_err();
    match &err {
        AuxError::CommandPanicked {
            message, location, ..
        } => {
            assert_eq!(message, "the device's command panicked");
            assert!(location.contains("auxiliary.rs"), "{location}");
        }
        other => panic!("{other:?}"),
    }
    let err = aux.run_command(Command::Fail, LIMIT).unwrap_err();
    assert!(
        matches!(&err, AuxError::Failed { message, .. } if message == "the device refused"),
        "{err:?}"
    );
    assert_eq!(
        aux.run_command(Command::Echo("still here".into()), LIMIT)
            .unwrap(),
        Response::Text("still here".into())
    );
    aux.stop().unwrap();
}

#[mp_test(timeout = "30s")]
fn a_crashing_aux_is_died_at_once_with_its_status_and_output() {
    let aux = device();
    aux.run_command(Command::Print("last words".into()), LIMIT)
        .unwrap();
    let started = Instant::now();
    let err = aux.run_command(Command::Crash, LIMIT).unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    match &err {
        AuxError::Died {
            status, last_output, ..
        } => {
            assert!(status.contains("SIGABRT"), "{status}");
            assert!(last_output.contains("about to crash"), "{last_output}");
        }
        other => panic!("{other:?}"),
    }
    let later = aux.wait_and_get_report(LIMIT).unwrap_err();
    assert!(matches!(later, AuxError::Died { .. }), "{later:?}");
}

#[mp_test(timeout = "30s")]
fn a_pending_call_of_another_process_fails_when_the_aux_dies() {
    let aux = device();
    let mgr = mptest::Manager::start().unwrap();
    let waiting = mgr.event().unwrap();
    let waiter = mptest::spawn(
        (aux.clone(), waiting.clone()),
        |(aux, waiting): (AuxHandle<Device>, SharedEvent)| {
            // Its first call subscribes it, and the device hears message 0.
            aux.run_command(Command::Emit(1), LIMIT).unwrap();
            // Its copy of message 0 is in the aux's queue for this process until it asks for it:
            // only then may the aux die (else the message would die with it).
            assert_eq!(take(&aux, 1), [0]);
            waiting.set().unwrap();
            let started = Instant::now();
            // Waits for a message that never comes: the aux dies meanwhile.
            let result = aux.wait_and_get_report(LIMIT);
            (format!("{result:?}"), started.elapsed())
        },
    );
    assert_eq!(take(&aux, 1), [0]);
    assert!(
        waiting.wait(Some(LIMIT)).unwrap(),
        "the child never got its message"
    );
    let _ = aux.run_command(Command::Crash, LIMIT);
    let (result, waited) = waiter.join().unwrap();
    assert!(result.contains("Died"), "{result}");
    // It knows what the starter knows: how the aux ended and what it said last.
    assert!(result.contains("SIGABRT"), "{result}");
    assert!(result.contains("about to crash"), "{result}");
    assert!(waited < LIMIT, "{waited:?}");
}

#[mp_test(timeout = "30s")]
fn a_call_on_an_aux_another_process_stopped_is_not_started() {
    let aux = device();
    aux.run_command(Command::Emit(0), LIMIT).unwrap();
    aux.stop().unwrap();
    // A handle in another process learns it was stopped, not that it died.
    let result = mptest::spawn(aux.clone(), |aux: AuxHandle<Device>| {
        format!("{:?}", aux.run_command(Command::Emit(1), LIMIT))
    })
    .join()
    .unwrap();
    assert!(result.contains("NotStarted"), "{result}");
}

#[mp_test(timeout = "30s")]
fn a_slow_command_times_out_and_the_handle_goes_on() {
    let aux = device();
    let err = aux
        .run_command(Command::Sleep(1500), Duration::from_millis(100))
        .unwrap_err();
    assert!(matches!(err, AuxError::Timeout(_)), "{err:?}");
    // The late reply is not taken for this one's.
    assert_eq!(
        aux.run_command(Command::Echo("next".into()), LIMIT).unwrap(),
        Response::Text("next".into())
    );
    aux.stop().unwrap();
}

#[mp_test(timeout = "30s")]
fn abort_command_reaches_a_command_in_progress() {
    let aux = device();
    let runner = {
        let aux = aux.clone();
        std::thread::spawn(move || aux.run_command(Command::UntilAborted, LIMIT))
    };
    // The command says it is running; only then is it aborted.
    assert_eq!(take(&aux, 1), [RUNNING]);
    aux.abort_command(LIMIT).unwrap();
    let result = runner.join().unwrap();
    assert_eq!(result.unwrap(), Response::Text("aborted".into()));
    aux.stop().unwrap();
}

#[mp_test(timeout = "30s")]
fn bad_starts_say_why() {
    let err = mptest::aux::start::<Unregistered>(()).unwrap_err().to_string();
    assert!(
        err.contains("put #[mptest::aux] on its `impl Auxiliary`"),
        "{err}"
    );
    // It printed nothing, and the message says so rather than end on an empty "its output:".
    assert!(err.ends_with("; it printed nothing"), "{err}");
    let config = DeviceConfig {
        fail_new: true,
        ..Default::default()
    };
    let err = mptest::aux::start::<Device>(config).unwrap_err();
    assert!(err.to_string().contains("new: no such port"), "{err}");
    let config = DeviceConfig {
        fail_create: true,
        ..Default::default()
    };
    let err = mptest::aux::start::<Device>(config).unwrap_err();
    assert!(
        err.to_string().contains("create_instance: the port is busy"),
        "{err}"
    );
}

#[mp_test(timeout = "30s")]
fn an_aux_that_cannot_stop_is_killed_when_its_handles_go() {
    let config = DeviceConfig {
        hang_on_delete: true,
        ..Default::default()
    };
    let aux = mptest::aux::start::<Device>(config).unwrap();
    let pid = aux.pid();
    drop(aux);
    assert!(!alive(pid), "the aux outlived its last handle");
}

#[mp_test(timeout = "30s")]
fn a_malformed_request_is_an_error_to_its_sender_only() {
    let aux = device();
    let answer = mptest::aux::send_garbage(&aux).unwrap();
    assert!(answer.contains("malformed request"), "{answer}");
    assert_eq!(
        aux.run_command(Command::Echo("fine".into()), LIMIT).unwrap(),
        Response::Text("fine".into())
    );
    aux.stop().unwrap();
}

#[mp_test(timeout = "30s")]
fn a_handle_travels_inside_a_shared_object_and_still_reaches_its_aux() {
    fn travels<T: Clone + Send + Sync + Serialize + serde::de::DeserializeOwned>() {}
    travels::<AuxHandle<Device>>();
    let aux = device();
    let mgr = Manager::start().unwrap();
    let stored = mgr.value(aux.clone()).unwrap();
    let child = mptest::spawn(stored, |stored: mptest::SharedValue<AuxHandle<Device>>| {
        let aux = stored.get().unwrap();
        aux.run_command(Command::Echo("via the manager".into()), LIMIT)
            .unwrap()
    });
    assert_eq!(child.join().unwrap(), Response::Text("via the manager".into()));
    aux.stop().unwrap();
}

mptest::main!();
