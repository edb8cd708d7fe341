//! A binary that defeats mptest's role constructor: a constructor of its own runs first and
//! calls `mptest::spawn` before mptest could take the child role. The child must refuse to
//! start anything and die at once — one parent and one child, not a process storm.
//!
//! Each process that runs the constructor appends its pid to `$EARLY_SPAWN_LOG`, so the test
//! can count them; past 20 it stops spawning, so that a regression cannot flood the machine.

use std::io::Write;

#[ctor::ctor(unsafe, priority = 100)]
fn spawn_before_main() {
    let Some(log) = std::env::var_os("EARLY_SPAWN_LOG") else {
        return;
    };
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(&log)
        .expect("open the log");
    // One write per line: lines of processes writing at once do not mix.
    file.write_all(format!("{}\n", std::process::id()).as_bytes())
        .expect("write the log");
    let seen = std::fs::read_to_string(&log).unwrap_or_default().lines().count();
    if seen > 20 {
        eprintln!("early_spawn: {seen} processes already: a storm; not spawning");
        std::process::exit(99);
    }
    let child = mptest::spawn(20u32, |n: u32| n + 1);
    match child.join() {
        Ok(value) => println!("early_spawn: the child returned {value}"),
        Err(err) => println!("early_spawn: the child failed: {err}"),
    }
}

fn main() {
    println!("early_spawn: main");
}
