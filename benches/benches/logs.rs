//! Log forwarding: a spawned child logs 100 000 records at info through mptest's logger (each
//! sent to the test's process), against the same child writing the same lines to a file, one
//! `write` each as a file logger does. Three runs, alternating; median and range.
//!
//! ```text
//! cargo bench -p benches --bench logs
//! ```
//!
//! Issue #9 asks for the cost per record next to logging to a file, and none lost.

use benches::median_range;
use std::io::Write;
use std::time::{Duration, Instant};

const RECORDS: u32 = 100_000;
const RUNS: usize = 3;

/// The child: logs `RECORDS` records through mptest's logger; its time per record.
fn forwarding(_: ()) -> Duration {
    let started = Instant::now();
    for n in 0..RECORDS {
        log::info!(target: "bench", "record {n} of the benchmark");
    }
    started.elapsed() / RECORDS
}

/// The child: writes the same lines to a file, one write(2) per line; its time per line.
fn to_file(path: std::path::PathBuf) -> Duration {
    let mut file = std::fs::File::create(&path).expect("the file");
    let started = Instant::now();
    for n in 0..RECORDS {
        writeln!(
            file,
            "[child {}] INFO bench: record {n} of the benchmark",
            std::process::id()
        )
        .expect("write");
    }
    let per = started.elapsed() / RECORDS;
    let _ = std::fs::remove_file(path);
    per
}

fn run() -> Result<(), String> {
    let dir = std::env::temp_dir();
    let (mut ours, mut file, mut ratios) = (vec![], vec![], vec![]);
    for round in 1..=RUNS {
        let before = mptest::logs().len();
        let per_record = mptest::spawn((), forwarding).join().map_err(|e| e.to_string())?;
        let last = format!("record {} of the benchmark", RECORDS - 1);
        let arrived = mptest::logs::wait_for(|r| r.message == last, Duration::from_secs(60))
            .map(|_| mptest::logs().len() - before)
            .map_err(|e| e.to_string())?;
        if arrived != RECORDS as usize {
            return Err(format!("lost records: {arrived} of {RECORDS}"));
        }
        let path = dir.join(format!("mptest-bench-log-{}-{round}", std::process::id()));
        let per_line = mptest::spawn(path, to_file).join().map_err(|e| e.to_string())?;
        let (a, b) = (per_record.as_secs_f64() * 1e6, per_line.as_secs_f64() * 1e6);
        println!("run {round}: forwarded {a:.2} µs/record, to a file {b:.2} µs/line → {:.2} ×, all {RECORDS} arrived", a / b);
        ours.push(a);
        file.push(b);
        ratios.push(a / b);
    }
    let show = |name: &str, v: &[f64], unit: &str| {
        let (m, lo, hi) = median_range(v);
        println!("{name}: {m:.2}{unit} ({lo:.2}–{hi:.2})");
    };
    println!("\n{RECORDS} info records from a child, none lost; median (range) of {RUNS} runs:");
    show("forwarded to the test", &ours, " µs/record");
    show("written to a file", &file, " µs/line");
    show("ratio", &ratios, " ×");
    Ok(())
}

fn main() {
    benches::bench_main("logs", run);
}
