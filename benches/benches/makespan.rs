//! Longest first: a suite of 200 tests of known, uneven lengths (180 × 5 ms, 17 × 100 ms,
//! 3 × 400 ms, the long ones declared last) on 2 workers. Its second run, which knows the
//! durations of the first, must finish within 1.1 × the ideal makespan — the total work over
//! the workers, or the longest test if that is longer; the declared order is timed beside it.
//! Three runs of each, alternating; median and range.
//!
//! ```text
//! cargo bench -p benches --bench makespan
//! ```

use std::process::Command;
use std::time::Duration;

use benches::{build_suites, median_range, time_command};

const WORKERS: usize = 2;
const RUNS: usize = 3;

/// The suite's total work and its longest test, as build.rs writes it.
fn ideal() -> Duration {
    let total = Duration::from_millis(180 * 5 + 17 * 100 + 3 * 400);
    (total / WORKERS as u32).max(Duration::from_millis(400))
}

fn run() -> Result<(), String> {
    let suite = build_suites(&["uneven_suite"])?.remove(0);
    let timings = std::env::temp_dir().join(format!("mptest-makespan-{}.json", std::process::id()));
    let timed = |order: &str| -> Result<Duration, String> {
        time_command(
            Command::new(&suite)
                .args(["--test-threads", &WORKERS.to_string(), "--order", order])
                .env("MPTEST_TIMINGS", &timings),
        )
    };
    // The first run records the durations the longest-first runs use.
    let _ = std::fs::remove_file(&timings);
    timed("declared")?;
    let (mut longest, mut declared) = (Vec::new(), Vec::new());
    for round in 1..=RUNS {
        let l = timed("longest")?;
        let d = timed("declared")?;
        println!(
            "run {round}: longest first {:.3} s ({:.2} × ideal), declared {:.3} s ({:.2} × ideal)",
            l.as_secs_f64(),
            l.as_secs_f64() / ideal().as_secs_f64(),
            d.as_secs_f64(),
            d.as_secs_f64() / ideal().as_secs_f64()
        );
        longest.push(l.as_secs_f64() / ideal().as_secs_f64());
        declared.push(d.as_secs_f64() / ideal().as_secs_f64());
    }
    let _ = std::fs::remove_file(&timings);
    let (m, lo, hi) = median_range(&longest);
    println!(
        "\nideal makespan {:.3} s on {WORKERS} workers; median (range) of {RUNS} runs:",
        ideal().as_secs_f64()
    );
    println!(
        "longest first: {m:.2} × ideal ({lo:.2}–{hi:.2}) (target ≤ 1.10: {})",
        if hi <= 1.1 { "met" } else { "MISSED" }
    );
    let (m, lo, hi) = median_range(&declared);
    println!("declared order: {m:.2} × ideal ({lo:.2}–{hi:.2})");
    Ok(())
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    if let Err(err) = run() {
        eprintln!("makespan benchmark failed: {err}");
        std::process::exit(1);
    }
}
