//! A suite with worker hooks, run by `tests/harness.rs`: start hooks that print and set up
//! what the tests use, a stop hook that prints, and a start hook that panics.

use std::sync::atomic::{AtomicBool, Ordering};

use mptest::prelude::*;

static READY: AtomicBool = AtomicBool::new(false);

#[mptest::worker_start]
fn get_ready() {
    READY.store(true, Ordering::SeqCst);
    println!("hook: worker {} ready", std::process::id());
}

#[mptest::worker_start]
fn fails_to_start() {
    panic!("no license server");
}

#[mptest::worker_stop]
fn say_goodbye() {
    eprintln!("hook: worker {} stopping", std::process::id());
}

#[mp_test]
fn sees_what_the_start_hook_set_up() {
    assert!(READY.load(Ordering::SeqCst));
    println!("the test's own output");
}

fn main() -> ! {
    mptest::run()
}
