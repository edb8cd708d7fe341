// `#[mptest::shared]` on the type's definition derives what it needs: no serde of the user's.
use mptest::prelude::*;

#[mptest::shared]
#[derive(Default, Clone, Debug, PartialEq)]
pub struct Thermostat {
    target: f64,
}

#[mptest::shared]
#[derive(Clone, Copy, Debug)]
pub enum Mode {
    Heat,
    Off,
}

#[mptest::shared]
impl Thermostat {
    pub fn set_target(&mut self, target: f64) {
        self.target = target;
    }
    pub fn target(&self) -> f64 {
        self.target
    }
    pub fn mode(&self) -> Mode {
        if self.target > 0.0 {
            Mode::Heat
        } else {
            Mode::Off
        }
    }
    fn helper(&self) {}
    pub fn new_default() -> Self {
        Thermostat::default()
    }
}

#[mp_test]
fn works() {
    let mgr = Manager::start().unwrap();
    let t = mgr.create(Thermostat::new_default()).unwrap();
    t.set_target(1.0).unwrap();
    let _ = t.mode();
    let _: ThermostatProxy = t;
}

mptest::main!();
