//! The clock end to end, as an mptest suite: one pace for every process of a test, also those
//! started before it was set; manual time wakes sleepers in every process in deadline order;
//! each test starts in real time.

use std::time::{Duration, Instant, SystemTime};

use mptest::clock::{self, Mode};
use mptest::prelude::*;
use mptest::Recorder;

const LIMIT: Duration = Duration::from_secs(20);
const HOUR: Duration = Duration::from_secs(3600);

#[mp_test(timeout = "60s")]
fn a_process_started_before_the_speed_was_set_follows_it() {
    let recorder = Recorder::new().unwrap();
    // The child starts in real time and sleeps an hour of it.
    let mut child = mptest::spawn(recorder.clone(), |recorder: Recorder| {
        let start = clock::now();
        recorder.record("sleeping", ()).unwrap();
        clock::sleep(HOUR);
        start.elapsed()
    });
    recorder.wait_for(|c| !c.is_empty(), LIMIT).unwrap();
    let real = Instant::now();
    clock::set_speed(36_000.0); // an hour in a tenth of a second
    let slept = child.join_timeout(LIMIT).unwrap();
    assert!(slept >= HOUR, "the child slept {slept:?} of virtual time");
    assert!(
        real.elapsed() < Duration::from_secs(5),
        "took {:?} of real time",
        real.elapsed()
    );
    assert_eq!(clock::mode(), Mode::Accelerated(36_000.0));
    // The wall clock runs as fast.
    let wall = clock::wall();
    std::thread::sleep(Duration::from_millis(20)); // real time passing, on purpose
    let passed = clock::wall().duration_since(wall).unwrap();
    assert!(
        passed >= Duration::from_secs(600),
        "{passed:?} of virtual wall time in 20 ms"
    );
}

#[mp_test(timeout = "60s")]
fn advance_wakes_sleepers_in_every_process_in_deadline_order() {
    clock::pause();
    let start = clock::now();
    let recorder = Recorder::new().unwrap();
    let sleepers: Vec<_> = [30u64, 10, 20]
        .into_iter()
        .map(|minutes| {
            mptest::spawn(
                (recorder.clone(), minutes, start),
                |(recorder, minutes, start): (Recorder, u64, clock::Instant)| {
                    clock::sleep(Duration::from_secs(minutes * 60));
                    let woke_at = clock::now().duration_since(start);
                    recorder.record("woke", (minutes, woke_at.as_secs())).unwrap();
                },
            )
        })
        .collect();
    assert!(clock::wait_sleeping(3, LIMIT), "the three children never slept");
    // Paused: nothing moves by itself.
    std::thread::sleep(Duration::from_millis(50)); // real time passing, on purpose
    assert_eq!(clock::now(), start);
    assert!(recorder.calls().unwrap().is_empty());
    clock::advance(Duration::from_secs(3600));
    for sleeper in sleepers {
        sleeper.join().unwrap();
    }
    let woke: Vec<(u64, u64)> = recorder
        .calls()
        .unwrap()
        .iter()
        .map(|c| c.args_as().unwrap())
        .collect();
    assert_eq!(
        woke,
        [(10, 600), (20, 1200), (30, 1800)],
        "deadline order, each at its deadline"
    );
    assert_eq!(clock::now().duration_since(start), HOUR);
    assert_eq!(clock::mode(), Mode::Paused);
}

#[mp_test(timeout = "60s", group = "clock_reset")]
fn a_test_leaves_its_clock_fast_and_paused() {
    clock::set_speed(1000.0);
    clock::advance(HOUR * 24);
    clock::pause();
}

#[mp_test(timeout = "60s", group = "clock_reset")]
fn the_next_test_on_that_worker_starts_in_real_time() {
    assert_eq!(clock::mode(), Mode::Real);
    let skew = clock::wall()
        .duration_since(SystemTime::now())
        .unwrap_or_else(|e| e.duration());
    assert!(
        skew < Duration::from_secs(1),
        "the clock is {skew:?} off real time"
    );
}

/// Only a child of the test touched the clock: the worker never mapped it, and still resets it.
#[mp_test(timeout = "60s", group = "clock_reset_by_a_child")]
fn a_child_leaves_its_test_s_clock_paused() {
    let mut child = mptest::spawn((), |()| {
        clock::pause();
        clock::advance(HOUR);
        clock::mode() == Mode::Paused
    });
    assert!(
        child.join_timeout(LIMIT).unwrap(),
        "the child's clock is not paused"
    );
}

#[mp_test(timeout = "60s", group = "clock_reset_by_a_child")]
fn after_a_child_s_clock_the_next_test_on_that_worker_starts_in_real_time() {
    assert_eq!(clock::mode(), Mode::Real);
}

#[mp_test(timeout = "60s")]
fn recorded_calls_carry_the_tests_time() {
    clock::pause();
    let recorder = Recorder::new().unwrap();
    recorder.record("before", ()).unwrap();
    clock::advance(HOUR);
    recorder.record("after", ()).unwrap();
    let calls = recorder.calls().unwrap();
    assert_eq!(calls[1].at.duration_since(calls[0].at).unwrap(), HOUR);
}

mptest::main!();
