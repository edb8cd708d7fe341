//! Auxiliaries, pykiso-style: a simulated thermometer and a monitor that hears it, each in a
//! process of its own, driven by the test and by a spawned child.
//!
//! ```text
//! cargo run -p examples --example auxiliaries
//! ```

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use mptest::aux::{AuxError, AuxHandle, AuxResult, Auxiliary};
use mptest::prelude::*;

/// Bounds every wait: a broken system fails the test instead of hanging it.
const LIMIT: Duration = Duration::from_secs(10);

/// A simulated thermometer: told a temperature, it "measures" it — a reading it hears.
pub struct Thermometer {
    readings: Mutex<VecDeque<f64>>,
}

#[mptest::shared] // derives what travelling between processes needs
#[derive(Debug)]
pub enum ThermoCommand {
    /// Heat the room to this temperature; the thermometer reads it.
    Set(f64),
    /// The simulator's firmware crashes.
    Crash,
}

#[mptest::aux]
impl Auxiliary for Thermometer {
    type Config = ();
    type Command = ThermoCommand;
    type Response = ();
    type Message = f64;

    fn new(_: ()) -> AuxResult<Self> {
        Ok(Thermometer {
            readings: Mutex::new(VecDeque::new()),
        })
    }

    fn create_instance(&self) -> AuxResult<()> {
        println!("thermometer: connected");
        Ok(())
    }

    fn delete_instance(&self) -> AuxResult<()> {
        println!("thermometer: disconnected");
        Ok(())
    }

    fn run_command(&self, command: ThermoCommand) -> AuxResult<()> {
        match command {
            ThermoCommand::Set(celsius) => self.readings.lock().unwrap().push_back(celsius),
            ThermoCommand::Crash => std::process::abort(),
        }
        Ok(())
    }

    fn receive_message(&self, _wait: Duration) -> Option<f64> {
        self.readings.lock().unwrap().pop_front()
    }
}

/// A monitor: another auxiliary, which hears the thermometer through its handle and reports
/// the readings above a threshold as alarms.
pub struct Monitor {
    thermometer: AuxHandle<Thermometer>,
    threshold: f64,
}

#[mptest::aux]
impl Auxiliary for Monitor {
    type Config = (AuxHandle<Thermometer>, f64);
    type Command = ();
    type Response = ();
    type Message = String;

    fn new((thermometer, threshold): Self::Config) -> AuxResult<Self> {
        Ok(Monitor {
            thermometer,
            threshold,
        })
    }

    fn create_instance(&self) -> AuxResult<()> {
        // Subscribes to the thermometer from here on.
        self.thermometer.dropped_messages()?;
        Ok(())
    }

    fn run_command(&self, (): ()) -> AuxResult<()> {
        Ok(())
    }

    fn receive_message(&self, wait: Duration) -> Option<String> {
        match self.thermometer.wait_and_get_report(wait) {
            Ok(Some(celsius)) if celsius > self.threshold => Some(format!("alarm: {celsius} °C")),
            _ => None,
        }
    }
}

/// The next message within LIMIT, or a failure.
fn next<T: Auxiliary>(aux: &AuxHandle<T>) -> T::Message {
    aux.wait_and_get_report(LIMIT)
        .unwrap()
        .unwrap_or_else(|| panic!("{} heard nothing", aux.name()))
}

#[mp_test(timeout = "60s")]
fn the_monitor_hears_what_a_child_makes_the_thermometer_read() -> Result<(), AuxError> {
    let thermometer = mptest::aux::start::<Thermometer>(())?;
    let monitor = mptest::aux::start::<Monitor>((thermometer.clone(), 30.0))?;

    // The test takes the thermometer; a child that wants it too has to wait its turn.
    assert!(thermometer.lock_it(LIMIT));
    let child = mptest::spawn(thermometer.clone(), |t: AuxHandle<Thermometer>| {
        let started = Instant::now();
        assert!(t.lock_it(LIMIT), "the test never let go");
        t.run_command(ThermoCommand::Set(35.0), LIMIT).unwrap();
        t.unlock_it().unwrap();
        started.elapsed()
    });
    thermometer.run_command(ThermoCommand::Set(21.0), LIMIT)?;
    assert_eq!(next(&thermometer), 21.0);
    thermometer.unlock_it()?;
    let waited = child.join().unwrap();
    println!("the child waited {waited:?} for the thermometer");

    // The test hears the child's reading; the monitor raises an alarm for it.
    assert_eq!(next(&thermometer), 35.0);
    assert_eq!(next(&monitor), "alarm: 35 °C");

    // Suspended, the thermometer takes no command; resumed, it does again.
    thermometer.suspend()?;
    let err = thermometer
        .run_command(ThermoCommand::Set(22.0), LIMIT)
        .unwrap_err();
    assert!(matches!(err, AuxError::NotStarted(_)), "{err}");
    thermometer.resume()?;
    thermometer.run_command(ThermoCommand::Set(22.0), LIMIT)?;
    assert_eq!(next(&thermometer), 22.0);

    monitor.stop()?;
    thermometer.stop()?;
    Ok(())
}

#[mp_test(timeout = "60s")]
fn a_crashing_simulator_is_seen_at_once() -> Result<(), AuxError> {
    let thermometer = mptest::aux::start::<Thermometer>(())?;
    let started = Instant::now();
    let err = thermometer.run_command(ThermoCommand::Crash, LIMIT).unwrap_err();
    assert!(matches!(err, AuxError::Died { .. }), "{err}");
    assert!(started.elapsed() < Duration::from_secs(2));
    println!("{err}");
    Ok(())
}

mptest::main!();
