//! `mptest::logs()` end to end, as an mptest suite: records of every kind of process, with
//! role and pid; a crash right after logging loses nothing; bounded waits; your own logger.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use log::Level;
use mptest::aux::{AuxResult, Auxiliary};
use mptest::logs::LogError;
use mptest::prelude::*;

const LIMIT: Duration = Duration::from_secs(20);

/// An aux that logs each command.
pub struct Chatty;

#[mptest::aux]
impl Auxiliary for Chatty {
    type Config = ();
    type Command = String;
    type Response = ();
    type Message = ();

    fn new(_: ()) -> AuxResult<Self> {
        Ok(Chatty)
    }

    fn run_command(&self, text: String) -> AuxResult<()> {
        log::warn!(target: "aux", "{text}");
        Ok(())
    }
}

#[mptest::shared]
#[derive(Default)]
pub struct Noisy;

#[mptest::shared]
impl Noisy {
    pub fn speak(&self) {
        log::info!(target: "manager", "spoken in the manager");
    }
}

#[mp_test(timeout = "60s")]
fn records_of_every_kind_of_process_arrive_with_role_and_pid() {
    // Asking for the records brings mptest's logger into the test's process (until then a test
    // may install its own, as under libtest).
    assert!(mptest::logs().is_empty());
    log::info!(target: "test", "in the test");
    let child = mptest::spawn((), |()| {
        log::error!(target: "child", "in a child");
        tracing::info!(target: "child", answer = 42, "a tracing event");
        std::process::id()
    });
    let child_pid = child.join().unwrap();
    let aux = mptest::aux::start::<Chatty>(()).unwrap();
    aux.run_command("in an aux".into(), LIMIT).unwrap();
    let manager = Manager::start().unwrap();
    manager.create(Noisy).unwrap().speak().unwrap();
    mptest::logs::wait_for(|r| r.target == "manager", LIMIT).unwrap();

    let records = mptest::logs();
    let seen: Vec<(&str, Level, &str)> = records
        .iter()
        .map(|r| (r.role.as_str(), r.level, r.message.as_str()))
        .collect();
    assert_eq!(
        seen,
        [
            ("worker", Level::Info, "in the test"),
            ("child", Level::Error, "in a child"),
            ("child", Level::Info, "a tracing event answer=42"),
            ("aux", Level::Warn, "in an aux"),
            ("manager", Level::Info, "spoken in the manager"),
        ]
    );
    assert_eq!(records[0].pid, std::process::id());
    assert_eq!(records[1].pid, child_pid);
    assert_eq!(records[3].pid, aux.pid());
}

#[mp_test(timeout = "60s")]
fn a_record_logged_right_before_a_crash_is_kept() {
    let child = mptest::spawn::<_, ()>((), |()| {
        log::error!(target: "web", "cannot bind port 80");
        std::process::abort();
    });
    assert!(child.join().unwrap_err().is_crash());
    let record = mptest::logs::wait_for(|r| r.target == "web", LIMIT).unwrap();
    assert_eq!(
        (record.level, record.message.as_str()),
        (Level::Error, "cannot bind port 80")
    );
}

#[mp_test(timeout = "60s")]
fn each_test_starts_with_no_records_and_a_timeout_lists_what_came() {
    assert!(
        mptest::logs().is_empty(),
        "records of an earlier test: {:?}",
        mptest::logs()
    );
    log::warn!(target: "test", "something else");
    match mptest::logs::wait_for(|r| r.level == Level::Error, Duration::from_millis(200)) {
        Err(LogError::Timeout { records, .. }) => {
            assert!(records.contains("WARN test: something else"), "{records}")
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
    // In a child, nothing is gathered: it says so.
    let err = mptest::spawn((), |()| {
        mptest::logs::wait_for(|_| true, Duration::ZERO)
            .unwrap_err()
            .to_string()
    });
    assert!(err.join().unwrap().contains("not in this child process"));
}

/// Your own logger, kept through `forward_to`.
struct Counting;
static COUNTED: AtomicUsize = AtomicUsize::new(0);

impl log::Log for Counting {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, _: &log::Record<'_>) {
        COUNTED.fetch_add(1, Ordering::SeqCst);
    }
    fn flush(&self) {}
}

#[mp_test(timeout = "60s")]
fn your_own_logger_gets_the_records_too() {
    mptest::logs::forward_to(Box::new(Counting));
    let before = COUNTED.load(Ordering::SeqCst);
    log::info!(target: "test", "counted and gathered");
    assert_eq!(COUNTED.load(Ordering::SeqCst), before + 1);
    assert!(mptest::logs().iter().any(|r| r.message == "counted and gathered"));
}

mptest::main!();
