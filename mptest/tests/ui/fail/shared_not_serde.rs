use serde::{Deserialize, Serialize};

struct NotSerde;

#[derive(Serialize, Deserialize)]
struct Holder;

#[mptest::shared]
impl Holder {
    pub fn take(&mut self, value: NotSerde) {
        let _ = value;
    }
}

mptest::main!();
