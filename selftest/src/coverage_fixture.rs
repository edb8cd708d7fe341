//! A suite built with `-C instrument-coverage` by `tests/coverage.rs`: one test starts every kind
//! of mptest process, another leaves a child running for the worker to end; each writes the
//! pids of its processes, by kind, to `$MPTEST_COVERAGE_PIDS`.

use std::io::Write;
use std::time::Duration;

use mptest::aux::{AuxResult, Auxiliary};
use mptest::prelude::*;

/// Runs only in a spawned child: its coverage can come from nowhere else.
#[inline(never)]
pub fn only_in_a_child(x: u32) -> u32 {
    x * 2 + 1
}

pub struct Probe;

#[mptest::aux]
impl Auxiliary for Probe {
    type Config = ();
    type Command = u32;
    type Response = u32;
    type Message = ();

    fn new(_: ()) -> AuxResult<Self> {
        Ok(Probe)
    }

    fn run_command(&self, n: u32) -> AuxResult<u32> {
        Ok(n + 1)
    }
}

#[mptest::shared]
#[derive(Default)]
pub struct Counter {
    n: u32,
}

#[mptest::shared]
impl Counter {
    pub fn incr(&mut self) -> u32 {
        self.n += 1;
        self.n
    }
}

fn note(kind: &str, pid: u32) {
    let path = std::env::var_os("MPTEST_COVERAGE_PIDS").expect("MPTEST_COVERAGE_PIDS");
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .unwrap();
    // One write per line (`writeln!` on a file makes one per piece): lines of processes
    // writing at once do not mix.
    file.write_all(format!("{kind} {pid}\n").as_bytes()).unwrap();
}

#[mp_test]
fn every_kind_of_process() {
    // A worker's profile is named after the process it was forked from, the leader of its
    // process group (LLVM names the file when that process starts): its parent.
    note("worker", std::os::unix::process::parent_id());
    let child = mptest::spawn(20u32, |x: u32| (only_in_a_child(x), std::process::id()));
    let (value, child_pid) = child.join().unwrap();
    assert_eq!(value, 41);
    note("child", child_pid);
    let probe = mptest::aux::start::<Probe>(()).unwrap();
    assert_eq!(probe.run_command(1, Duration::from_secs(10)).unwrap(), 2);
    note("aux", probe.pid());
    probe.stop().unwrap();
    let manager = Manager::start().unwrap();
    assert_eq!(manager.create(Counter::default()).unwrap().incr().unwrap(), 1);
    note("manager", manager.pid().unwrap());
    manager.shutdown();
}

#[mp_test]
fn leaves_a_child_running() {
    let child = mptest::spawn::<_, ()>((), |()| loop {
        std::thread::park();
    });
    note("leftover", child.pid());
    std::mem::forget(child);
}

fn main() -> ! {
    // What `mptest::main!()` does (a bin target with the test harness cannot use it): under it
    // the first workers would be forked if the binary were not instrumented; the worker's
    // profile that `tests/coverage.rs` finds shows it was re-executed.
    mptest::__private::run_main()
}
