//! The home automation of "Testing while multiprocessing", in Rust: a heater controller with a
//! 10-second hysteresis, a sensor, and a web process that crashes while the heater keeps
//! running — each in a process of its own. The tests see the heater's switching calls through a
//! `Recorder`, the web process's error through `mptest::logs`, and run a whole day in about
//! three seconds of accelerated time, or step through the hysteresis in manual time — asserting
//! each transition in both directions (the 1 → 0 branch the blog's author found untested).
//!
//! ```text
//! cargo run -p examples --example home_automation -- --show-output
//! ```

use std::time::Duration;

use mptest::prelude::*;
use mptest::{clock, Recorder, SharedValue};

/// The production code: it knows nothing of mptest.
mod heating {
    use std::time::Duration;

    /// What the controller needs of a clock (production passes the real one).
    pub trait Clock: Send + Sync {
        /// Time since a fixed point.
        fn now(&self) -> Duration;
        fn sleep(&self, d: Duration);
    }

    /// The real clock, for production (the tests pass mptest's).
    #[allow(dead_code)]
    pub struct RealClock(pub std::time::Instant);

    impl Clock for RealClock {
        fn now(&self) -> Duration {
            self.0.elapsed()
        }
        fn sleep(&self, d: Duration) {
            std::thread::sleep(d)
        }
    }

    /// The relay that switches the heater.
    pub trait Heater {
        fn switch(&self, on: bool);
    }

    /// Turn the heater on below this temperature, off above it.
    pub const SETPOINT: f64 = 20.0;
    /// A change of demand must last this long before the heater follows it.
    pub const HYSTERESIS: Duration = Duration::from_secs(10);
    /// How often the controller looks at the temperature.
    pub const PERIOD: Duration = Duration::from_secs(1);

    /// The control loop, until `until` on `clock`: the heater follows the demand once the
    /// demand has differed from it for [`HYSTERESIS`].
    pub fn control(clock: &dyn Clock, temperature: &dyn Fn() -> f64, heater: &dyn Heater, until: Duration) {
        let mut on = false;
        let mut differs_since: Option<Duration> = None;
        while clock.now() < until {
            let now = clock.now();
            let demand = temperature() < SETPOINT;
            if demand == on {
                differs_since = None;
            } else {
                let since = *differs_since.get_or_insert(now);
                if now - since >= HYSTERESIS {
                    on = demand;
                    differs_since = None;
                    heater.switch(on);
                    log::info!(target: "heating", "heater {}", if on { "on" } else { "off" });
                }
            }
            clock.sleep(PERIOD);
        }
    }
}

use heating::{Clock, Heater};

/// mptest's clock, for the production code's trait.
struct TestClock;

impl Clock for TestClock {
    fn now(&self) -> Duration {
        clock::now().since_start()
    }
    fn sleep(&self, d: Duration) {
        clock::sleep(d)
    }
}

/// The test double of the relay: every switch is recorded, with the test's time.
#[mptest::shared]
pub struct RecordingHeater {
    calls: Recorder,
}

impl Heater for RecordingHeater {
    fn switch(&self, on: bool) {
        self.calls.record("switch", on).expect("the recorder is there");
    }
}

const DAY: Duration = Duration::from_secs(24 * 3600);
const HOUR: u64 = 3600;

/// The day's temperature at `t` seconds after midnight: 12 °C at night, 24 °C in the
/// afternoon, crossing 20 °C at 10:00 and 20:00 — and two 5-second glitches (a sun ray on the
/// sensor at 03:00, a draught at 13:00) too short to move the heater.
fn weather(t: u64) -> f64 {
    let glitch = |at: u64| (at..at + 5).contains(&t);
    if glitch(3 * HOUR) {
        return 25.0;
    }
    if glitch(13 * HOUR) {
        return 15.0;
    }
    match t {
        t if t < 6 * HOUR => 12.0,
        t if t < 12 * HOUR => 12.0 + 12.0 * (t - 6 * HOUR) as f64 / (6 * HOUR) as f64,
        t if t < 18 * HOUR => 24.0,
        t => 24.0 - 12.0 * (t - 18 * HOUR) as f64 / (6 * HOUR) as f64,
    }
}

/// The sensor process: publishes the weather of the test's time every second.
fn sensor((reading, start, until): (SharedValue<f64>, Duration, Duration)) {
    loop {
        let now = clock::now().since_start() - start;
        reading.set(weather(now.as_secs())).expect("the manager is there");
        if now >= until {
            return;
        }
        clock::sleep(Duration::from_secs(1));
    }
}

/// The heater controller process: the production loop, with mptest's clock and the recording
/// relay.
fn controller((reading, heater, start, until): (SharedValue<f64>, RecordingHeater, Duration, Duration)) {
    let temperature = || reading.get().expect("the manager is there");
    heating::control(&TestClock, &temperature, &heater, start + until);
}

/// The web process: serves the heater's state until noon, then its upstream fails and it
/// crashes.
fn web((reading, start): (SharedValue<f64>, Duration)) {
    clock::sleep((start + Duration::from_secs(12 * HOUR)).saturating_sub(clock::now().since_start()));
    let shown = reading.get().unwrap_or(f64::NAN);
    log::error!(target: "web", "upstream timed out while showing {shown:.1} °C; crashing");
    std::process::abort();
}

#[mp_test(timeout = "60s")]
fn a_whole_day_in_three_seconds() -> Result<(), Box<dyn std::error::Error>> {
    let wall = std::time::Instant::now();
    let manager = Manager::start()?;
    let reading = manager.value(weather(0))?;
    let calls = Recorder::new()?;
    let heater = RecordingHeater { calls: calls.clone() };

    // Midnight, with time standing still until every process is up and asleep; then a day in
    // 86 400 / 30 000 ≈ 2.9 s.
    clock::pause();
    let start = clock::now().since_start();
    let sensor = mptest::spawn((reading.clone(), start, DAY), sensor);
    let controller = mptest::spawn((reading.clone(), heater, start, DAY), controller);
    let web = mptest::spawn::<_, ()>((reading.clone(), start), web);
    assert!(
        clock::wait_sleeping(3, Duration::from_secs(10)),
        "the processes did not start"
    );
    clock::set_speed(30_000.0);

    // The web process dies at noon, and says why first.
    assert!(web.join().unwrap_err().is_crash());
    let error = mptest::logs::wait_for(|r| r.target == "web", Duration::from_secs(10))?;
    assert_eq!((error.level, error.role.as_str()), (log::Level::Error, "child"));
    println!("the web process logged: {}", error.message);

    controller.join()?;
    sensor.join()?;
    println!("a day took {:?} of wall time", wall.elapsed());

    // What no load can change: the heater went on in the cold night, off in the warm day and
    // on again in the cold evening — despite the web process's crash at noon — and no switch
    // came sooner than the hysteresis after the last one. What load does change: a controller
    // that waits for a CPU samples late (at 30 000 × real speed a 30 ms wait is 15 virtual
    // minutes), so a glitch may last past the hysteresis between two of its samples and add a
    // pair of switches, and every switch comes late. The exact switches, to the second, are the
    // manual-time test's (below), where time moves only when the test moves it.
    let switches = calls.calls_named("switch")?;
    let states: Vec<bool> = switches.iter().map(|c| c.args_as()).collect::<Result<_, _>>()?;
    assert_eq!(states.first(), Some(&true), "on in the night: {states:?}");
    assert_eq!(states.last(), Some(&true), "on in the evening: {states:?}");
    assert!(states.contains(&false), "off in the day: {states:?}");
    assert!(
        states.windows(2).all(|w| w[0] != w[1]),
        "each switch a change: {states:?}"
    );
    let at: Vec<u64> = switches
        .iter()
        .map(|c| {
            c.at.duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.saturating_sub(start).as_secs())
                .unwrap_or(0)
        })
        .collect();
    for (state, t) in states.iter().zip(&at) {
        println!(
            "switch {state} at {:02}:{:02}:{:02}",
            t / HOUR,
            t % HOUR / 60,
            t % 60
        );
    }
    let hysteresis = heating::HYSTERESIS.as_secs();
    assert!(
        at[0] >= hysteresis,
        "the first switch at {} s, before the hysteresis",
        at[0]
    );
    for pair in at.windows(2) {
        assert!(
            pair[1] >= pair[0] + hysteresis,
            "switches at {} s and {} s: closer than the hysteresis ({hysteresis} s)",
            pair[0],
            pair[1]
        );
    }
    Ok(())
}

#[mp_test(timeout = "60s")]
fn the_hysteresis_second_by_second_in_manual_time() -> Result<(), Box<dyn std::error::Error>> {
    let manager = Manager::start()?;
    let reading = manager.value(15.0)?; // cold from the start
    let calls = Recorder::new()?;
    let heater = RecordingHeater { calls: calls.clone() };
    clock::pause();
    let start = clock::now().since_start();
    let controller = mptest::spawn(
        (reading.clone(), heater, start, Duration::from_secs(60)),
        controller,
    );
    // The test is the sensor now, and moves time itself, once the controller sleeps.
    let step = |seconds: u64| {
        assert!(
            clock::wait_sleeping(1, Duration::from_secs(10)),
            "the controller does not sleep"
        );
        clock::advance(Duration::from_secs(seconds));
    };
    let now = || (clock::now().since_start() - start).as_secs();
    let switches = || -> Vec<(bool, u64)> {
        let calls = calls.calls_named("switch").expect("the recorder is here");
        calls
            .iter()
            .map(|c| {
                let at = c.at.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
                (
                    c.args_as().unwrap_or_default(),
                    at.saturating_sub(start).as_secs(),
                )
            })
            .collect()
    };
    let hysteresis = heating::HYSTERESIS.as_secs();

    // Cold since 0 s, seen at 0 s: not at 9 s; on at 10 s (0 → 1).
    step(9);
    assert_eq!(switches(), []);
    step(1);
    assert_eq!(switches(), [(true, hysteresis)]);
    // Warm for 5 s only: stays on.
    reading.set(25.0)?;
    step(5);
    reading.set(15.0)?;
    step(20);
    assert_eq!(switches(), [(true, hysteresis)]);
    // Warm for good: seen at the next sample, a second later; off 10 s after that (1 → 0).
    reading.set(25.0)?;
    let seen = now() + heating::PERIOD.as_secs();
    step(15);
    assert_eq!(switches(), [(true, hysteresis), (false, seen + hysteresis)]);

    clock::advance(Duration::from_secs(60)); // past the controller's end
    controller.join()?;
    Ok(())
}

mptest::main!();
