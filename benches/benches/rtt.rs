//! Proxy round trip, placed as a user's test has it: a spawned child calls `counter.incr(1)` on
//! the test's manager (another process), 10 000 times; against Python's SyncManager doing the
//! same (`../shared/peers/syncmanager_rtt.py`), alternating, three runs each, in both
//! placements pinned with `sched_setaffinity`: client and server on one CPU, and on two.
//! Median and p99 of each run; ratios run by run.
//!
//! ```text
//! cargo bench -p benches --bench rtt
//! ```
//!
//! Why pin: on these 2-core machines a blocking wake-up across CPUs costs about 30 µs and on one
//! CPU about 2 µs, so where the scheduler happens to put the two processes decides the figure —
//! an unpinned run measures the scheduler's mood.
//!
//! Target (issue #9): below SyncManager in every run.

use std::process::Command;
use std::time::{Duration, Instant};

use benches::{median_range, pin, workspace, Counter, CounterProxy};
use mptest::Manager;

const CALLS: usize = 10_000;
const WARMUP: usize = 1_000;
const RUNS: usize = 3;

/// (median, p99) in µs.
type Run = (f64, f64);

fn percentiles(mut samples: Vec<Duration>) -> Run {
    samples.sort();
    let at = |p: f64| samples[((samples.len() - 1) as f64 * p) as usize].as_secs_f64() * 1e6;
    (at(0.5), at(0.99))
}

fn mptest_run(counter: &CounterProxy, client_cpu: usize) -> Result<Run, String> {
    let client = mptest::spawn(
        (counter.clone(), client_cpu),
        |(c, cpu): (CounterProxy, usize)| {
            pin(0, cpu)?;
            for _ in 0..WARMUP {
                c.incr(1).map_err(|e| e.to_string())?;
            }
            let mut samples = Vec::with_capacity(CALLS);
            for _ in 0..CALLS {
                let t = Instant::now();
                c.incr(1).map_err(|e| e.to_string())?;
                samples.push(t.elapsed());
            }
            Ok::<_, String>(samples)
        },
    );
    Ok(percentiles(client.join().map_err(|e| e.to_string())??))
}

fn syncmanager_run(server_cpu: usize, client_cpu: usize) -> Result<Run, String> {
    let root = workspace();
    let wrapper = root.join("benches/pinned_syncmanager.py");
    let peer = root.join("../shared/peers/syncmanager_rtt.py");
    let out = Command::new("python3")
        .arg(&wrapper)
        .arg(&peer)
        .args([server_cpu.to_string(), client_cpu.to_string()])
        .args(["--calls", &CALLS.to_string()])
        .output()
        .map_err(|e| format!("python3 {}: {e}", wrapper.display()))?;
    if !out.status.success() {
        return Err(format!(
            "{}: {}",
            peer.display(),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let line: serde_json::Value = serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())?;
    let get = |k: &str| line[k].as_f64().ok_or(format!("no {k} in {line}"));
    Ok((get("median_us")?, get("p99_us")?))
}

fn run() -> Result<(), String> {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let placements: &[(&str, usize)] = if cpus > 1 {
        &[("one CPU", 0), ("two CPUs", 1)]
    } else {
        &[("one CPU", 0)]
    };
    let manager = Manager::start().map_err(|e| e.to_string())?;
    let counter = manager.create(Counter::default()).map_err(|e| e.to_string())?;
    let server = manager.pid().ok_or("the manager has no process")?;
    for &(placement, client_cpu) in placements {
        pin(server, 0)?;
        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
        for round in 1..=RUNS {
            let a = mptest_run(&counter, client_cpu)?;
            let b = syncmanager_run(0, client_cpu)?;
            println!(
                "{placement}, run {round}: mptest median {:.1} µs p99 {:.1} µs; SyncManager median {:.1} µs p99 {:.1} µs → {:.2} ×",
                a.0, a.1, b.0, b.1, a.0 / b.0
            );
            ours.push(a);
            theirs.push(b);
        }
        let med = |runs: &[Run], p99: bool| {
            median_range(
                &runs
                    .iter()
                    .map(|r| if p99 { r.1 } else { r.0 })
                    .collect::<Vec<_>>(),
            )
        };
        let ratios: Vec<f64> = ours.iter().zip(&theirs).map(|(a, b)| a.0 / b.0).collect();
        let (m, lo, hi) = med(&ours, false);
        let (pm, plo, phi) = med(&ours, true);
        println!(
            "{placement}: mptest median {m:.1} µs ({lo:.1}–{hi:.1}), p99 {pm:.1} µs ({plo:.1}–{phi:.1})"
        );
        let (m, lo, hi) = med(&theirs, false);
        let (pm, plo, phi) = med(&theirs, true);
        println!(
            "{placement}: SyncManager median {m:.1} µs ({lo:.1}–{hi:.1}), p99 {pm:.1} µs ({plo:.1}–{phi:.1})"
        );
        let (m, lo, hi) = median_range(&ratios);
        println!(
            "{placement}: ratio {m:.2} × ({lo:.2}–{hi:.2}){}\n",
            if hi < 1.0 {
                ""
            } else {
                "  — NOT below SyncManager in every run"
            }
        );
    }
    manager.shutdown();
    Ok(())
}

fn main() {
    benches::bench_main("rtt", run);
}
