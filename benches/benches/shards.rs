//! Shards that finish together: the uneven suite (200 tests: 180 × 5 ms, 17 × 100 ms,
//! 3 × 400 ms, the long ones declared last) cut into 4 shards, each run on its own as a CI job
//! would run it (one worker, so a shard's time is its work). Its durations are recorded by one
//! whole run first; then, alternating, the 4 shards of `--partition time:M/4` and of
//! `--partition hash:M/4` (today's way). The figure is the longest shard's time over the
//! shortest's, per round; median and range of 3 rounds.
//!
//! ```text
//! cargo bench -p benches --bench shards
//! ```

use std::process::Command;
use std::time::Duration;

use benches::{build_suites, median_range, time_command, verdict};

const SHARDS: u32 = 4;
const RUNS: usize = 3;

/// The 4 shards of `kind`, one after another: each one's wall time.
fn shard_times(suite: &str, kind: &str, timings: &std::path::Path) -> Result<Vec<Duration>, String> {
    (1..=SHARDS)
        .map(|m| {
            time_command(
                Command::new(suite)
                    .args([
                        "--test-threads",
                        "1",
                        "--partition",
                        &format!("{kind}:{m}/{SHARDS}"),
                    ])
                    .env("MPTEST_TIMINGS", timings),
            )
        })
        .collect()
}

/// The longest shard over the shortest.
fn spread(times: &[Duration]) -> f64 {
    let longest = times.iter().max().copied().unwrap_or_default();
    let shortest = times.iter().min().copied().unwrap_or_default();
    longest.as_secs_f64() / shortest.as_secs_f64().max(1e-9)
}

fn show(times: &[Duration]) -> String {
    let ms: Vec<String> = times
        .iter()
        .map(|t| format!("{:.0}", t.as_secs_f64() * 1000.0))
        .collect();
    format!("{} ms", ms.join(" / "))
}

fn run() -> Result<(), String> {
    let suite = build_suites(&["uneven_suite"])?.remove(0);
    let dir = std::env::temp_dir().join(format!("mptest-shards-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    // The time shards read the durations one whole run recorded (and leave them as they are);
    // the hash shards keep a file of their own, so they cannot change what the time shards read.
    let (by_time, by_hash) = (dir.join("time.txt"), dir.join("hash.txt"));
    time_command(
        Command::new(&suite)
            .args(["--test-threads", "2"])
            .env("MPTEST_TIMINGS", &by_time),
    )?;
    let (mut time_spread, mut hash_spread) = (Vec::new(), Vec::new());
    for round in 1..=RUNS {
        let time = shard_times(&suite, "time", &by_time)?;
        let hash = shard_times(&suite, "hash", &by_hash)?;
        println!(
            "round {round}: time shards {} ({:.2} ×), hash shards {} ({:.2} ×)",
            show(&time),
            spread(&time),
            show(&hash),
            spread(&hash)
        );
        time_spread.push(spread(&time));
        hash_spread.push(spread(&hash));
    }
    let _ = std::fs::remove_dir_all(&dir);
    let (m, lo, hi) = median_range(&time_spread);
    println!("\nlongest shard / shortest shard, median (range) of {RUNS} rounds:");
    println!(
        "--partition time:M/{SHARDS}: {m:.2} × ({lo:.2}–{hi:.2}) (target ≤ 1.10: {})",
        verdict(hi <= 1.1)
    );
    let (m, lo, hi) = median_range(&hash_spread);
    println!("--partition hash:M/{SHARDS}: {m:.2} × ({lo:.2}–{hi:.2})");
    Ok(())
}

fn main() {
    benches::bench_main("shards", run);
}
