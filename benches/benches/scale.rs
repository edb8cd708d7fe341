//! Scale: a suite of 10 000 trivial tests on 2 threads, release, under libtest and under
//! mptest, alternating in one run: wall time (median and range), the mptest coordinator's own
//! CPU per test and peak memory (from the JSON report's end), the CPU of all processes per
//! test, and `--list` of the suite.
//!
//! ```text
//! cargo bench -p benches --bench scale           # MPTEST_BENCH_ROUNDS=N to change the rounds
//! ```
//!
//! Targets (issue #10): mptest ≤ 1.0 × libtest; coordinator ≤ 100 µs CPU per test; `--list`
//! under 100 ms.

use std::process::{Command, Stdio};
use std::time::Instant;

use benches::{bench_main, build_suites, children_cpu, median_range, time_command, verdict};

const THREADS: &str = "2";
const TESTS: f64 = 10_000.0;

fn main() {
    bench_main("scale", run);
}

fn run() -> Result<(), String> {
    let built = build_suites(&["libtest_10k", "mptest_10k"])?;
    let (libtest, mptest) = (built[0].clone(), built[1].clone());
    let rounds: usize = std::env::var("MPTEST_BENCH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(5);
    let (mut t_libtest, mut t_mptest, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    let (mut cpu_all, mut cpu_coordinator, mut rss) = (Vec::new(), Vec::new(), Vec::new());
    for round in 1..=rounds {
        let lib = time_command(Command::new(&libtest).args(["--test-threads", THREADS, "-q"]))?;
        let before = children_cpu();
        let mp = time_command(Command::new(&mptest).args(["--test-threads", THREADS, "-q"]))?;
        cpu_all.push((children_cpu() - before).as_secs_f64() * 1e6 / TESTS);
        // The coordinator's own figures, from its JSON report (a run of its own: printing
        // 10 000 JSON lines is not what the timed run does).
        let json = Command::new(&mptest)
            .args([
                "--test-threads",
                THREADS,
                "--format",
                "json",
                "-Z",
                "unstable-options",
            ])
            .stderr(Stdio::null())
            .output()
            .map_err(|e| format!("{mptest}: {e}"))?;
        let text = String::from_utf8_lossy(&json.stdout);
        let end: serde_json::Value = text
            .lines()
            .rev()
            .find_map(|l| {
                serde_json::from_str(l)
                    .ok()
                    .filter(|v: &serde_json::Value| v["type"] == "suite")
            })
            .ok_or("the JSON report has no end")?;
        let coordinator = &end["mptest"]["coordinator"];
        cpu_coordinator.push(coordinator["cpu_s"].as_f64().unwrap_or(f64::NAN) * 1e6 / TESTS);
        rss.push(coordinator["max_rss_kib"].as_f64().unwrap_or(f64::NAN) / 1024.0);
        eprintln!(
            "round {round}/{rounds}: libtest {:.3}s  mptest {:.3}s  all processes {:.0} µs CPU/test  coordinator {:.0} µs/test, {:.1} MiB",
            lib.as_secs_f64(),
            mp.as_secs_f64(),
            cpu_all[round - 1],
            cpu_coordinator[round - 1],
            rss[round - 1]
        );
        ratios.push(mp.as_secs_f64() / lib.as_secs_f64());
        t_libtest.push(lib.as_secs_f64());
        t_mptest.push(mp.as_secs_f64());
    }
    let mut list = Vec::new();
    for _ in 0..rounds.max(3) {
        let started = Instant::now();
        let out = Command::new(&mptest)
            .arg("--list")
            .stdout(Stdio::piped())
            .output()
            .map_err(|e| format!("{mptest} --list: {e}"))?;
        list.push(started.elapsed().as_secs_f64() * 1e3);
        let listed = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.ends_with(": test"))
            .count();
        if listed != TESTS as usize {
            return Err(format!("--list listed {listed} tests, not 10 000"));
        }
    }
    let show = |v: &[f64]| {
        let (m, lo, hi) = median_range(v);
        format!("{m:.3} ({lo:.3}–{hi:.3})")
    };
    let (ratio, _, _) = median_range(&ratios);
    let (coordinator, _, _) = median_range(&cpu_coordinator);
    let (list_ms, _, _) = median_range(&list);
    println!("scale: 10 000 trivial tests, {THREADS} threads, release, median (range) of {rounds}:");
    println!("  libtest            {} s", show(&t_libtest));
    println!("  mptest             {} s", show(&t_mptest));
    println!(
        "  mptest / libtest   {}  (target <= 1.0: {})",
        show(&ratios),
        verdict(ratio <= 1.0)
    );
    println!(
        "  coordinator CPU    {} µs/test  (target <= 100: {})",
        show(&cpu_coordinator),
        verdict(coordinator <= 100.0)
    );
    println!("  all processes CPU  {} µs/test", show(&cpu_all));
    println!("  coordinator peak   {} MiB", show(&rss));
    println!(
        "  --list             {} ms  (target < 100: {})",
        show(&list),
        verdict(list_ms < 100.0)
    );
    println!(
        "{}",
        serde_json::json!({
            "bench": "scale",
            "rounds": rounds,
            "libtest_s": median_range(&t_libtest).0,
            "mptest_s": median_range(&t_mptest).0,
            "mptest_over_libtest": ratio,
            "coordinator_cpu_us_per_test": coordinator,
            "all_cpu_us_per_test": median_range(&cpu_all).0,
            "coordinator_peak_mib": median_range(&rss).0,
            "list_ms": list_ms,
        })
    );
    Ok(())
}
