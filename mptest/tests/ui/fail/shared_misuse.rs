use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct A;

#[mptest::shared]
impl A {
    pub fn generic<T: Default>(&self) -> u8 {
        0
    }
}

#[derive(Serialize, Deserialize)]
struct B;

#[mptest::shared]
impl B {
    pub fn consume(self) {}
}

#[derive(Serialize, Deserialize)]
struct C;

#[mptest::shared]
impl C {
    pub fn borrow(&self, name: &str) -> usize {
        name.len()
    }
}

#[derive(Serialize, Deserialize)]
struct D;

#[mptest::shared]
impl Clone for D {
    fn clone(&self) -> Self {
        D
    }
}

mptest::main!();
