use mptest::aux::{AuxResult, Auxiliary};

pub struct Echo;

#[mptest::aux]
impl Auxiliary for Echo {
    type Config = ();
    type Command = String;
    type Response = String;
    type Message = u8;
    fn new(_: ()) -> AuxResult<Self> {
        Ok(Echo)
    }
    fn run_command(&self, command: String) -> AuxResult<String> {
        Ok(command)
    }
}

mptest::main!();
