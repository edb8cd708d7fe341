// A mistake in one method is one error: the type, its proxy and its other methods still work.
use mptest::prelude::*;

#[mptest::shared]
#[derive(Default)]
pub struct Named {
    name: String,
}

#[mptest::shared]
impl Named {
    pub fn set(&mut self, name: &str) {
        self.name = name.to_string();
    }
    pub fn get(&self) -> String {
        self.name.clone()
    }
    pub(crate) fn clear(&mut self) {
        self.name.clear();
    }
}

#[mp_test]
fn uses_the_proxy() {
    let mgr = Manager::start().unwrap();
    let named = mgr.create(Named::default()).unwrap();
    let _ = named.get();
}

mptest::main!();
