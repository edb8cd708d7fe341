//! Shared state across processes, the scenario of "Testing while multiprocessing": a web
//! process, a sensor and a controller share a thermostat through a manager; the web process
//! crashes, and the test checks the others carried on and the state is right.
//!
//! ```text
//! cargo run -p examples --example shared_state
//! ```

use std::time::Duration;

use mptest::prelude::*;
use mptest::{SharedEvent, SharedQueue};

/// Lives in the manager process; every process reaches it through a `ThermostatProxy`.
/// `#[mptest::shared]` on the definition derives what travelling there needs.
#[mptest::shared]
#[derive(Default)]
pub struct Thermostat {
    target: f64,
    heating: bool,
    readings: u32,
}

#[mptest::shared]
impl Thermostat {
    /// Set from the web interface.
    pub fn set_target(&mut self, target: f64) {
        self.target = target;
    }

    pub fn target(&self) -> f64 {
        self.target
    }

    /// The controller's decision for one temperature reading; returns whether it heats.
    pub fn on_reading(&mut self, celsius: f64) -> bool {
        self.readings += 1;
        self.heating = celsius < self.target;
        self.heating
    }

    pub fn heating(&self) -> bool {
        self.heating
    }

    pub fn readings(&self) -> u32 {
        self.readings
    }
}

/// Bounds every wait: a broken system fails the test instead of hanging it.
const LIMIT: Duration = Duration::from_secs(10);

#[mp_test(timeout = "30s")]
fn controller_survives_a_crashing_web_process() -> Result<(), Box<dyn std::error::Error>> {
    let mgr = Manager::start()?;
    let thermostat = mgr.create(Thermostat::default())?;
    let readings: SharedQueue<f64> = mgr.queue(Some(16))?;
    let target_set = mgr.event()?;

    // The web process sets the target, says so, then dies.
    let web = mptest::spawn::<_, ()>(
        (thermostat.clone(), target_set.clone()),
        |(t, done): (ThermostatProxy, SharedEvent)| {
            t.set_target(21.5).unwrap();
            done.set().unwrap();
            panic!("web process dies");
        },
    );

    // The controller applies every reading until it reads a NaN, the stop signal.
    let controller = mptest::spawn(
        (thermostat.clone(), readings.clone()),
        |(t, q): (ThermostatProxy, SharedQueue<f64>)| {
            let mut heated = 0;
            loop {
                let celsius = q.get_timeout(LIMIT).unwrap();
                if celsius.is_nan() {
                    return heated;
                }
                if t.on_reading(celsius).unwrap() {
                    heated += 1;
                }
            }
        },
    );

    let web_error = web.join().unwrap_err();
    assert!(web_error.is_panic(), "{web_error}");
    assert!(target_set.wait(Some(LIMIT))?);

    // The sensor: five readings around the target.
    let sensor = mptest::spawn(readings.clone(), |q: SharedQueue<f64>| {
        for celsius in [19.0, 20.5, 21.0, 22.0, 23.5] {
            q.put(celsius).unwrap();
        }
        q.put(f64::NAN).unwrap();
    });
    sensor.join()?;

    assert_eq!(controller.join()?, 3, "heats for the three readings below 21.5");
    assert_eq!(thermostat.target()?, 21.5);
    assert_eq!(thermostat.readings()?, 5);
    assert!(!thermostat.heating()?, "the last reading was above the target");
    mgr.shutdown();
    Ok(())
}

#[mp_test(timeout = "30s")]
fn every_process_sees_one_counter() -> Result<(), Box<dyn std::error::Error>> {
    let mgr = Manager::start()?;
    let visits = mgr.value(0u64)?;
    let children: Vec<_> = (0..4)
        .map(|_| {
            mptest::spawn(visits.clone(), |v: mptest::SharedValue<u64>| {
                for _ in 0..25 {
                    v.update(|n| n + 1).unwrap();
                }
            })
        })
        .collect();
    for child in children {
        child.join()?;
    }
    assert_eq!(visits.get()?, 100, "no update lost");
    Ok(())
}

mptest::main!();
