//! mptest's fixed cost: a binary of 100 trivial tests, as `#[test]` under libtest and as
//! `#[mp_test]` under mptest (release, 2 threads), and 200 trivial tests under cargo-nextest
//! (one process per test), as `#[test]` and as `#[mp_test]` — mptest as it runs (its first
//! workers forked) and with every worker re-executed (`MPTEST_FORK_WORKERS=0`). Each round
//! times 21 runs of each binary, alternating, and takes their medians; the figures are the
//! median and range of the rounds' ratios.
//!
//! The 100 tests are also built as `cargo test` builds them (debug), mptest once unoptimized
//! and once with `[profile.dev.package.mptest]`'s `opt-level = 3` and `debug =
//! "line-tables-only"`, as the README advises.
//!
//! ```text
//! cargo bench -p benches --bench fixed_cost
//! ```

use std::process::Command;
use std::time::Duration;

use benches::{build_suites, build_suites_as, median, median_range, time_command, verdict, workspace};

const ROUNDS: usize = 3;
const RUNS: usize = 21;

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

/// One round: `RUNS` runs of each command, alternating; each one's median.
fn round(commands: &mut [Command]) -> Result<Vec<Duration>, String> {
    let mut times = vec![Vec::new(); commands.len()];
    for _ in 0..RUNS {
        for (command, times) in commands.iter_mut().zip(&mut times) {
            times.push(time_command(command)?);
        }
    }
    Ok(times.iter().map(|t| median(t)).collect())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn run() -> Result<(), String> {
    let built = build_suites(&["libtest_100", "mptest_100", "libtest_200", "mptest_200"])?;
    let debug = build_suites_as(&["libtest_100", "mptest_100"], &[], "bench-suites-debug")?;
    let debug_optimized = build_suites_as(
        &["mptest_100"],
        &[
            "--config",
            "profile.dev.package.mptest.opt-level=3",
            "--config",
            "profile.dev.package.mptest.debug=\"line-tables-only\"",
        ],
        "bench-suites-debug-opt",
    )?;
    let root = workspace();
    let target = root.join("target/bench-suites");
    // nextest without its build step: the two binaries listed once.
    let (binaries, metadata) = benches::nextest_lists(&["libtest_200", "mptest_200"], "fixed-cost")?;
    let direct = |binary: &str| {
        let mut command = Command::new(binary);
        command.args(["--test-threads", "2", "-q"]);
        command
    };
    let nextest = |binary: &str| {
        let mut command = Command::new(cargo());
        command
            .args(["nextest", "run", "--binaries-metadata"])
            .arg(&binaries)
            .arg("--cargo-metadata")
            .arg(&metadata)
            .args(["--test-threads", "2", "--hide-progress-bar", "-E"])
            .arg(format!("binary({binary})"))
            .current_dir(&root)
            .env("CARGO_TARGET_DIR", &target);
        command
    };

    // mptest as it runs (its first workers forked), and with every worker re-executed
    // (`MPTEST_FORK_WORKERS=0`: what a `main` of the user's, a coverage build and the other
    // systems get).
    let re_executed = |mut command: Command| {
        command.env("MPTEST_FORK_WORKERS", "0");
        command
    };
    let (mut alone, mut alone_exec, mut under_nextest, mut nextest_exec) = (vec![], vec![], vec![], vec![]);
    for n in 1..=ROUNDS {
        let t = round(&mut [
            direct(&built[0]),
            direct(&built[1]),
            re_executed(direct(&built[1])),
        ])?;
        println!(
            "round {n}: 100 trivial tests: libtest {:.2} ms, mptest {:.2} ms ({:.2} ×), re-executed workers {:.2} ms ({:.2} ×)",
            ms(t[0]),
            ms(t[1]),
            ms(t[1]) / ms(t[0]),
            ms(t[2]),
            ms(t[2]) / ms(t[0])
        );
        alone.push(ms(t[1]) / ms(t[0]));
        alone_exec.push(ms(t[2]) / ms(t[0]));
    }
    let (mut debug_plain, mut debug_opt) = (vec![], vec![]);
    for n in 1..=ROUNDS {
        let t = round(&mut [direct(&debug[0]), direct(&debug[1]), direct(&debug_optimized[0])])?;
        println!(
            "round {n}: 100 trivial tests, debug build: libtest {:.2} ms, mptest unoptimized {:.2} ms ({:.2} ×), mptest optimized {:.2} ms ({:.2} ×)",
            ms(t[0]),
            ms(t[1]),
            ms(t[1]) / ms(t[0]),
            ms(t[2]),
            ms(t[2]) / ms(t[0])
        );
        debug_plain.push(ms(t[1]) / ms(t[0]));
        debug_opt.push(ms(t[2]) / ms(t[0]));
    }
    for n in 1..=ROUNDS {
        // Fewer runs under nextest: each is a few hundred processes.
        let mut times = [Vec::new(), Vec::new(), Vec::new()];
        for _ in 0..3 {
            times[0].push(time_command(&mut nextest("libtest_200"))?);
            times[1].push(time_command(&mut nextest("mptest_200"))?);
            times[2].push(time_command(&mut re_executed(nextest("mptest_200")))?);
        }
        let (l, m, e) = (median(&times[0]), median(&times[1]), median(&times[2]));
        println!(
            "round {n}: 200 trivial tests under nextest: #[test] {:.0} ms, #[mp_test] {:.0} ms ({:.2} ×), re-executed workers {:.0} ms ({:.2} ×)",
            ms(l),
            ms(m),
            ms(m) / ms(l),
            ms(e),
            ms(e) / ms(l)
        );
        under_nextest.push(ms(m) / ms(l));
        nextest_exec.push(ms(e) / ms(l));
    }
    let (m, lo, hi) = median_range(&alone);
    let (e, elo, ehi) = median_range(&alone_exec);
    println!(
        "\n100 trivial tests, mptest / libtest: {m:.2} × ({lo:.2}–{hi:.2}) (target ≤ 1.2: {}); re-executed workers {e:.2} × ({elo:.2}–{ehi:.2})",
        verdict(hi <= 1.2)
    );
    let (m, lo, hi) = median_range(&debug_opt);
    let (p, plo, phi) = median_range(&debug_plain);
    println!(
        "100 trivial tests, debug build, mptest optimized / libtest: {m:.2} × ({lo:.2}–{hi:.2}) (target ≤ 1.2: {}); mptest unoptimized {p:.2} × ({plo:.2}–{phi:.2})",
        verdict(hi <= 1.2)
    );
    let (m, lo, hi) = median_range(&under_nextest);
    let (e, elo, ehi) = median_range(&nextest_exec);
    println!(
        "200 trivial tests under nextest, #[mp_test] / #[test]: {m:.2} × ({lo:.2}–{hi:.2}) (target ≤ 1.3: {}); re-executed workers {e:.2} × ({elo:.2}–{ehi:.2})",
        verdict(hi <= 1.3)
    );
    Ok(())
}

fn main() {
    benches::bench_main("fixed_cost", run);
}
