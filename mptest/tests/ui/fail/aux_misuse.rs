use mptest::aux::{AuxResult, Auxiliary};

pub struct Plain;

#[mptest::aux]
impl Plain {
    pub fn f(&self) {}
}

#[mptest::aux]
struct NotAnImpl;

pub struct Generic<T>(T);

#[mptest::aux]
impl<T: Send + Sync + 'static> Auxiliary for Generic<T> {
    type Config = ();
    type Command = ();
    type Response = ();
    type Message = ();
    fn new(_: ()) -> AuxResult<Self> {
        Err("no".into())
    }
    fn run_command(&self, _: ()) -> AuxResult<()> {
        Ok(())
    }
}

mptest::main!();
