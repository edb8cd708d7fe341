//! Captured output at libtest's cost: one test that writes 1 000 000 lines with `eprintln!`
//! (three `write`s each), captured, as `#[test]` under libtest and under mptest, built as
//! `cargo test` builds it (debug; mptest with the README's `[profile.dev.package.mptest]`).
//! mptest as it runs (its worker's writes staged in memory, see the `stage` module) and with
//! `MPTEST_STAGED_OUTPUT=0` (each write a write to the capture pipe, what the other systems
//! do). Each round times 5 runs of each binary,
//! alternating, and takes their medians; the figures are the median and range of 5 rounds.
//! Every process of a run may use both CPUs, and then, in rounds of their own, only CPU 0
//! (pinned before `exec`): mptest's writes leave the worker through a thread of its, which on
//! one CPU takes the test's time.
//!
//! ```text
//! cargo bench -p benches --bench captured_output
//! ```

use std::process::Command;
use std::time::Duration;

use benches::{build_suites_as, median, median_range, time_command, verdict};

const ROUNDS: usize = 5;
const RUNS: usize = 5;

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Has `command`'s process, and every process and thread it starts, run on `cpus` only.
fn pin_to(command: &mut Command, cpus: &'static [usize]) {
    use nix::sched::{sched_setaffinity, CpuSet};
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure only calls sched_setaffinity, which is async-signal-safe.
    unsafe {
        command.pre_exec(move || {
            let mut set = CpuSet::new();
            for &cpu in cpus {
                set.set(cpu).map_err(std::io::Error::from)?;
            }
            sched_setaffinity(nix::unistd::Pid::from_raw(0), &set).map_err(std::io::Error::from)
        });
    }
}

fn run() -> Result<(), String> {
    let built = build()?;
    for (placement, cpus) in [("both CPUs", &[0, 1][..]), ("one CPU", &[0][..])] {
        measure(&built, placement, cpus)?;
    }
    Ok(())
}

fn build() -> Result<Vec<String>, String> {
    build_suites_as(
        &["libtest_print", "mptest_print"],
        &[
            "--config",
            "profile.dev.package.mptest.opt-level=3",
            "--config",
            "profile.dev.package.mptest.debug=\"line-tables-only\"",
        ],
        "bench-suites-debug-opt",
    )
}

fn measure(built: &[String], placement: &str, cpus: &'static [usize]) -> Result<(), String> {
    let binary = |path: &str, staged: bool| {
        let mut command = Command::new(path);
        command.args(["--test-threads", "2", "-q"]);
        pin_to(&mut command, cpus);
        if !staged {
            command.env("MPTEST_STAGED_OUTPUT", "0");
        }
        command
    };
    let mut commands = [
        binary(&built[0], true),
        binary(&built[1], true),
        binary(&built[1], false),
    ];
    let (mut staged, mut piped, mut times) = (vec![], vec![], [vec![], vec![], vec![]]);
    for n in 1..=ROUNDS {
        let mut round = [vec![], vec![], vec![]];
        for _ in 0..RUNS {
            for (command, samples) in commands.iter_mut().zip(&mut round) {
                samples.push(time_command(command)?);
            }
        }
        let t: Vec<f64> = round.iter().map(|samples| ms(median(samples))).collect();
        println!(
            "round {n}, {placement}: a million eprintln! lines: libtest {:.0} ms, mptest {:.0} ms ({:.2} ×), \
             unstaged {:.0} ms ({:.2} ×)",
            t[0],
            t[1],
            t[1] / t[0],
            t[2],
            t[2] / t[0]
        );
        staged.push(t[1] / t[0]);
        piped.push(t[2] / t[0]);
        for (all, one) in times.iter_mut().zip(t) {
            all.push(one);
        }
    }
    let [lt, mp, unstaged] = times.map(|t| median_range(&t));
    let (ratio, lo, hi) = median_range(&staged);
    let (p_ratio, p_lo, p_hi) = median_range(&piped);
    println!(
        "captured output: one test, 1 000 000 lines with eprintln!, debug, {placement}, median (range) of {ROUNDS} rounds:"
    );
    println!(
        "  libtest {:.0} ({:.0}–{:.0}) ms  mptest {:.0} ({:.0}–{:.0}) ms  ratio {ratio:.2} ({lo:.2}–{hi:.2})  (target <= 1.5: {})",
        lt.0,
        lt.1,
        lt.2,
        mp.0,
        mp.1,
        mp.2,
        verdict(ratio <= 1.5)
    );
    println!(
        "  unstaged (MPTEST_STAGED_OUTPUT=0) {:.0} ({:.0}–{:.0}) ms  ratio {p_ratio:.2} ({p_lo:.2}–{p_hi:.2})",
        unstaged.0, unstaged.1, unstaged.2
    );
    Ok(())
}

fn main() {
    benches::bench_main("captured output", run);
}
