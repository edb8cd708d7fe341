//! `Recorder::record` from 4 processes at once, against a proxy round trip per record (a
//! `SharedVec::push` through the manager: what recording costs when every entry waits for its
//! answer). Three runs of each, alternating; median and range.
//!
//! ```text
//! cargo bench -p benches --bench recorder
//! ```
//!
//! Target (issue #9): ≥ 300 000 records/s aggregate, none lost.

use benches::{median_range, now_ns};
use std::time::{Duration, Instant};

use mptest::{Manager, Recorder, SharedVec};

const PROCESSES: u32 = 4;
const RECORDS: u32 = 100_000;
/// Proxy round trips are ~100 × slower: fewer of them keep the run short.
const PUSHES: u32 = 5_000;
const RUNS: usize = 3;

/// Waits (pacing, not synchronisation) until the common start, so all processes begin together.
fn until(start_ns: u64) {
    let now = now_ns();
    if start_ns > now {
        std::thread::sleep(Duration::from_nanos(start_ns - now));
    }
}

fn recorder_run() -> Result<f64, String> {
    let calls = Recorder::new().map_err(|e| e.to_string())?;
    let start = now_ns() + 200_000_000;
    let children: Vec<_> = (0..PROCESSES)
        .map(|p| {
            mptest::spawn(
                (calls.clone(), p, start),
                |(calls, p, start): (Recorder, u32, u64)| {
                    until(start);
                    for n in 0..RECORDS {
                        calls.record("tick", (p, n)).map_err(|e| e.to_string())?;
                    }
                    Ok::<(), String>(())
                },
            )
        })
        .collect();
    let total = (PROCESSES * RECORDS) as usize;
    let seen = calls
        .wait_for(|c| c.len() == total, Duration::from_secs(120))
        .map_err(|e| e.to_string())?;
    let end = now_ns();
    for child in children {
        child.join().map_err(|e| e.to_string())??;
    }
    if seen.len() != total {
        return Err(format!("lost entries: {} of {total}", seen.len()));
    }
    Ok(total as f64 / ((end - start) as f64 / 1e9))
}

fn proxy_run(manager: &Manager) -> Result<f64, String> {
    let log: SharedVec<(u32, u32)> = manager.vec().map_err(|e| e.to_string())?;
    let start = now_ns() + 200_000_000;
    let children: Vec<_> = (0..PROCESSES)
        .map(|p| {
            mptest::spawn(
                (log.clone(), p, start),
                |(log, p, start): (SharedVec<(u32, u32)>, u32, u64)| {
                    until(start);
                    for n in 0..PUSHES {
                        log.push((p, n)).map_err(|e| e.to_string())?;
                    }
                    Ok::<u64, String>(now_ns())
                },
            )
        })
        .collect();
    let mut end = 0;
    for child in children {
        end = end.max(child.join().map_err(|e| e.to_string())??);
    }
    let total = PROCESSES * PUSHES;
    let len = log.len().map_err(|e| e.to_string())?;
    if len != total as usize {
        return Err(format!("lost pushes: {len} of {total}"));
    }
    Ok(f64::from(total) / ((end - start) as f64 / 1e9))
}

fn run() -> Result<(), String> {
    let manager = Manager::start().map_err(|e| e.to_string())?;
    let (mut ours, mut theirs, mut ratios) = (vec![], vec![], vec![]);
    let started = Instant::now();
    for round in 1..=RUNS {
        let recorded = recorder_run()?;
        let pushed = proxy_run(&manager)?;
        println!(
            "run {round}: Recorder::record {recorded:.0} records/s, proxy round trip per record {pushed:.0}/s → {:.1} ×",
            recorded / pushed
        );
        ours.push(recorded);
        theirs.push(pushed);
        ratios.push(recorded / pushed);
    }
    let (m, lo, hi) = median_range(&ours);
    println!(
        "\n{PROCESSES} processes, none lost; median (range) of {RUNS} runs ({:?} in all):",
        started.elapsed()
    );
    println!("Recorder::record: {m:.0} records/s ({lo:.0}–{hi:.0})");
    let (m, lo, hi) = median_range(&theirs);
    println!("proxy round trip per record: {m:.0} records/s ({lo:.0}–{hi:.0})");
    let (m, lo, hi) = median_range(&ratios);
    println!("ratio: {m:.1} × ({lo:.1}–{hi:.1})");
    Ok(())
}

fn main() {
    benches::bench_main("recorder", run);
}
