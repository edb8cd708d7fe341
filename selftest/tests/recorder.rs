//! The Recorder end to end, as an mptest suite: entries from every kind of process with their
//! role and pid, none lost when the recording process crashes right after, no waiting on the
//! reader, bounded waits, and bad input.

use std::time::Duration;

use mptest::aux::{AuxHandle, AuxResult, Auxiliary};
use mptest::prelude::*;
use mptest::{Recorder, RecorderError};

const LIMIT: Duration = Duration::from_secs(20);

/// An aux that records each command it runs.
pub struct Recording(Recorder);

#[mptest::aux]
impl Auxiliary for Recording {
    type Config = Recorder;
    type Command = u32;
    type Response = ();
    type Message = ();

    fn new(recorder: Recorder) -> AuxResult<Self> {
        Ok(Recording(recorder))
    }

    fn run_command(&self, n: u32) -> AuxResult<()> {
        self.0.record("aux_command", n)?;
        Ok(())
    }
}

/// A shared object whose method records (it runs in the manager).
#[mptest::shared]
pub struct Logbook {
    calls: Recorder,
}

#[mptest::shared]
impl Logbook {
    pub fn note(&self, text: String) {
        self.calls.record("manager_note", text).unwrap();
    }
}

#[mp_test(timeout = "60s")]
fn every_kind_of_process_records_with_its_role_and_pid() {
    let calls = Recorder::new().unwrap();
    calls.record("in_test", ("a", 1)).unwrap();
    let child = mptest::spawn(calls.clone(), |calls: Recorder| {
        for n in 0..3 {
            calls.record("in_child", n).unwrap();
        }
        std::process::id()
    });
    let child_pid = child.join().unwrap();
    let aux = mptest::aux::start::<Recording>(calls.clone()).unwrap();
    aux.run_command(7, LIMIT).unwrap();
    let manager = Manager::start().unwrap();
    let logbook = manager.create(Logbook { calls: calls.clone() }).unwrap();
    logbook.note("hello".into()).unwrap();

    let all = calls.calls().unwrap();
    let seen: Vec<(&str, &str)> = all.iter().map(|c| (c.name.as_str(), c.role.as_str())).collect();
    assert_eq!(
        seen,
        [
            ("in_test", "worker"),
            ("in_child", "child"),
            ("in_child", "child"),
            ("in_child", "child"),
            ("aux_command", "aux"),
            ("manager_note", "manager"),
        ]
    );
    assert_eq!(all[0].pid, std::process::id());
    assert_eq!(all[1].pid, child_pid);
    assert_eq!(all[4].pid, aux.pid());
    let numbers: Vec<u32> = calls
        .calls_named("in_child")
        .unwrap()
        .iter()
        .map(|c| c.args_as().unwrap())
        .collect();
    assert_eq!(numbers, [0, 1, 2]);
    assert_eq!(all[0].args_as::<(String, u32)>().unwrap(), ("a".to_string(), 1));
    assert!(all.windows(2).all(|w| w[0].at <= w[1].at));
    let _: AuxHandle<Recording> = aux;
}

#[mp_test(timeout = "60s")]
fn an_entry_recorded_right_before_a_crash_is_kept() {
    let calls = Recorder::new().unwrap();
    let child = mptest::spawn::<_, ()>(calls.clone(), |calls: Recorder| {
        calls.record("last_words", "goodbye").unwrap();
        std::process::abort();
    });
    assert!(child.join().unwrap_err().is_crash());
    let last = calls.calls_named("last_words").unwrap();
    assert_eq!(last.len(), 1, "the crashed child's entry is kept");
    assert_eq!(last[0].args_as::<String>().unwrap(), "goodbye");
}

#[mp_test(timeout = "60s")]
fn record_does_not_wait_for_the_reader_and_loses_nothing() {
    const N: u32 = 50_000;
    let calls = Recorder::new().unwrap();
    // The test reads nothing while two children record; then every entry is there, in order.
    let children: Vec<_> = (0..2u32)
        .map(|c| {
            mptest::spawn((calls.clone(), c), |(calls, c): (Recorder, u32)| {
                for n in 0..N {
                    calls.record("tick", (c, n)).unwrap();
                }
            })
        })
        .collect();
    for child in children {
        child.join().unwrap();
    }
    let ticks = calls.calls_named("tick").unwrap();
    assert_eq!(ticks.len(), 2 * N as usize);
    for c in 0..2u32 {
        let mine: Vec<u32> = ticks
            .iter()
            .map(|t| t.args_as::<(u32, u32)>().unwrap())
            .filter(|(who, _)| *who == c)
            .map(|(_, n)| n)
            .collect();
        assert_eq!(
            mine,
            (0..N).collect::<Vec<_>>(),
            "child {c}'s entries, in its order"
        );
    }
}

#[mp_test(timeout = "60s")]
fn wait_for_returns_when_the_condition_holds_and_a_timeout_says_what_came() {
    let calls = Recorder::new().unwrap();
    let child = mptest::spawn(calls.clone(), |calls: Recorder| {
        calls.record("started", ()).unwrap();
        calls.record("done", ()).unwrap();
    });
    let seen = calls
        .wait_for(|calls| calls.iter().any(|c| c.name == "done"), LIMIT)
        .unwrap();
    assert_eq!(seen.len(), 2);
    child.join().unwrap();
    let err = calls
        .wait_for(|calls| calls.len() > 5, Duration::from_millis(200))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("did not hold") && err.contains("\"started\", \"done\""),
        "{err}"
    );
}

#[mp_test(timeout = "60s")]
fn the_log_is_read_where_it_was_made_and_a_gone_recorder_says_so() {
    let calls = Recorder::new().unwrap();
    let from_child = mptest::spawn(calls.clone(), |calls: Recorder| {
        calls.calls().unwrap_err().to_string()
    });
    assert!(from_child
        .join()
        .unwrap()
        .contains("read in the process that made it"));
    let copy = calls.clone();
    drop(calls);
    copy.record("still", ()).unwrap(); // the owner's clone still holds it
    let orphan = mptest::spawn(copy.clone(), |calls: Recorder| calls);
    let detached: Recorder = orphan.join().unwrap();
    drop(copy);
    match detached.record("late", ()) {
        Err(RecorderError::Gone(_)) => {}
        other => panic!("expected Gone, got {other:?}"),
    }
}

#[mp_test(timeout = "60s")]
fn a_malformed_entry_costs_only_its_connection() {
    use std::io::Write;
    let calls = Recorder::new().unwrap();
    calls.record("before", ()).unwrap();
    let path: std::path::PathBuf =
        serde_json::from_value::<serde_json::Value>(serde_json::to_value(&calls).unwrap()).unwrap()["path"]
            .as_str()
            .unwrap()
            .into();
    let mut raw = std::os::unix::net::UnixStream::connect(path).unwrap();
    raw.write_all(b"{\"this is\": not json}\n").unwrap();
    drop(raw);
    calls.record("after", ()).unwrap();
    let names: Vec<String> = calls.calls().unwrap().into_iter().map(|c| c.name).collect();
    assert_eq!(names, ["before", "after"]);
}

mptest::main!();
