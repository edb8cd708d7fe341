//! Harness overhead: the same generated suite (1000 trivial tests + 100 tests sleeping 20 ms)
//! run as `#[test]` under libtest, under cargo-nextest, and as `#[mp_test]` under mptest, with
//! the same parallelism, in one run, alternating so load drifts hit all three alike.
//!
//! ```text
//! cargo bench -p benches --bench harness            # MPTEST_BENCH_ROUNDS=N to change the rounds
//! ```
//!
//! Targets: mptest ≤ 1.0 × libtest (issue #10; it was 1.15 × in issue #2) and ≤ 0.3 × nextest,
//! by median wall time.

use std::process::Command;
use std::time::Duration;

use benches::{build_suites, median, time_command, verdict, workspace};

const THREADS: &str = "2";

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` lists; there is nothing to list
    }
    if let Err(err) = run() {
        eprintln!("harness benchmark failed: {err}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let root = workspace();
    let target = root.join("target/bench-suites");
    let built = build_suites(&["libtest_suite", "mptest_suite"])?;
    let (libtest, mptest) = (built[0].clone(), built[1].clone());

    // nextest without its cargo build step: list the binaries once, then run from that list.
    let (binaries, metadata) = benches::nextest_lists(&["libtest_suite"], "nextest")?;

    let rounds: usize = std::env::var("MPTEST_BENCH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(5);
    let (mut t_libtest, mut t_nextest, mut t_mptest) = (Vec::new(), Vec::new(), Vec::new());
    for round in 1..=rounds {
        t_libtest.push(time_command(Command::new(&libtest).args([
            "--test-threads",
            THREADS,
            "-q",
        ]))?);
        t_nextest.push(time_command(
            Command::new(cargo())
                .args(["nextest", "run", "--binaries-metadata"])
                .arg(&binaries)
                .arg("--cargo-metadata")
                .arg(&metadata)
                .args(["--test-threads", THREADS, "--no-fail-fast", "--hide-progress-bar"])
                .current_dir(&root)
                .env("CARGO_TARGET_DIR", &target),
        )?);
        t_mptest.push(time_command(Command::new(&mptest).args([
            "--test-threads",
            THREADS,
            "-q",
        ]))?);
        eprintln!(
            "round {round}/{rounds}: libtest {:.3}s  nextest {:.3}s  mptest {:.3}s",
            secs(t_libtest[round - 1]),
            secs(t_nextest[round - 1]),
            secs(t_mptest[round - 1])
        );
    }
    let (libtest, nextest, mptest) = (median(&t_libtest), median(&t_nextest), median(&t_mptest));
    let vs_libtest = secs(mptest) / secs(libtest);
    let vs_nextest = secs(mptest) / secs(nextest);
    println!("harness overhead, 1000 trivial + 100 x 20 ms tests, {THREADS} threads, median of {rounds}:");
    println!("  libtest  {:.3}s", secs(libtest));
    println!("  nextest  {:.3}s", secs(nextest));
    println!("  mptest   {:.3}s", secs(mptest));
    println!(
        "  mptest / libtest = {vs_libtest:.2}  (target <= 1.0: {})",
        verdict(vs_libtest <= 1.0)
    );
    println!(
        "  mptest / nextest = {vs_nextest:.2}  (target <= 0.30: {})",
        verdict(vs_nextest <= 0.30)
    );
    println!(
        "{}",
        serde_json::json!({
            "bench": "harness",
            "rounds": rounds,
            "libtest_s": secs(libtest),
            "nextest_s": secs(nextest),
            "mptest_s": secs(mptest),
            "mptest_over_libtest": vs_libtest,
            "mptest_over_nextest": vs_nextest,
        })
    );
    Ok(())
}

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}
