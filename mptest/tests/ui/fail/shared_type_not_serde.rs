use mptest::prelude::*;

#[derive(Default)]
pub struct Plain {
    n: u32,
}

#[mptest::shared]
impl Plain {
    pub fn get(&self) -> u32 {
        self.n
    }
}

#[mp_test]
fn uses_it() {
    let mgr = Manager::start().unwrap();
    let _ = mgr.create(Plain::default());
}

mptest::main!();
