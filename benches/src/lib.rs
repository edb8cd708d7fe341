//! Helpers shared by the benchmarks: timing commands and summarising samples.

use std::process::{Command, Stdio};

use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};

/// The counter the round-trip benchmarks call through a proxy (`CounterProxy::incr`).
#[derive(Default, Serialize, Deserialize)]
pub struct Counter {
    n: u64,
}

#[mptest::shared]
impl Counter {
    pub fn incr(&mut self, by: u64) -> u64 {
        self.n += by;
        self.n
    }
}

/// Runs a command to completion with its output discarded; returns its wall time, or an error
/// naming the command if it failed.
pub fn time_command(cmd: &mut Command) -> Result<Duration, String> {
    let started = Instant::now();
    let status = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_err(|e| format!("{cmd:?}: {e}"))?;
    let elapsed = started.elapsed();
    if !status.success() {
        return Err(format!("{cmd:?} failed: {status}"));
    }
    Ok(elapsed)
}

/// The median of some durations (the lower middle for an even count).
pub fn median(samples: &[Duration]) -> Duration {
    let mut sorted = samples.to_vec();
    sorted.sort();
    sorted
        .get(sorted.len().saturating_sub(1) / 2)
        .copied()
        .unwrap_or_default()
}

/// A benchmark binary's `main`: mptest takes the roles of re-executed processes first, `--list`
/// (cargo's probe) lists nothing, and a failure is said on stderr with exit code 1.
pub fn bench_main(name: &str, run: fn() -> Result<(), String>) {
    mptest::init();
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    if let Err(err) = run() {
        eprintln!("{name} benchmark failed: {err}");
        std::process::exit(1);
    }
}

/// The median, lowest and highest of some figures (the lower middle for an even count).
pub fn median_range(values: &[f64]) -> (f64, f64, f64) {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match (sorted.first(), sorted.last()) {
        (Some(&lo), Some(&hi)) => (sorted[(sorted.len() - 1) / 2], lo, hi),
        _ => (f64::NAN, f64::NAN, f64::NAN),
    }
}

/// CLOCK_MONOTONIC in nanoseconds: one clock for every process of the machine, so a time taken
/// in one process can be compared with one taken in another.
pub fn now_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the timespec it is given.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Pins process `pid` — every thread it has now, and so the threads those start later — to
/// `cpu`; `pid` 0 pins the calling thread only.
pub fn pin(pid: u32, cpu: usize) -> Result<(), String> {
    use nix::sched::{sched_setaffinity, CpuSet};
    use nix::unistd::Pid;
    let mut set = CpuSet::new();
    set.set(cpu).map_err(|e| e.to_string())?;
    if pid == 0 {
        return sched_setaffinity(Pid::from_raw(0), &set).map_err(|e| e.to_string());
    }
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).map_err(|e| e.to_string())?;
    for task in tasks.flatten() {
        if let Ok(tid) = task.file_name().to_string_lossy().parse::<i32>() {
            let _ = sched_setaffinity(Pid::from_raw(tid), &set);
        }
    }
    Ok(())
}

/// Builds these test targets of the benches crate in release mode, in `target/bench-suites`
/// (the cargo running a benchmark may hold the lock on the usual target directory); returns
/// their executables, in the order asked.
pub fn build_suites(names: &[&str]) -> Result<Vec<String>, String> {
    build_suites_as(names, &["--release"], "bench-suites")
}

/// Builds these test targets of the benches crate with these extra cargo arguments (a profile,
/// `--config` overrides), in `target/<dir>`; returns their executables, in the order asked.
pub fn build_suites_as(names: &[&str], cargo_args: &[&str], dir: &str) -> Result<Vec<String>, String> {
    let root = workspace();
    let target = root.join("target").join(dir);
    eprintln!("building the suites ({cargo_args:?}) in {} ...", target.display());
    let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    command
        .args(["test", "--no-run", "-p", "benches"])
        .args(cargo_args);
    for name in names {
        command.args(["--test", name]);
    }
    let build = command
        .args(["--message-format", "json"])
        .current_dir(&root)
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .map_err(|e| format!("cargo: {e}"))?;
    if !build.status.success() {
        return Err(format!(
            "building the suites failed:\n{}",
            String::from_utf8_lossy(&build.stderr)
        ));
    }
    let messages = String::from_utf8_lossy(&build.stdout);
    names
        .iter()
        .map(|name| {
            messages
                .lines()
                .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == *name)
                .find_map(|m| m["executable"].as_str().map(str::to_string))
                .ok_or_else(|| format!("cargo built no executable for {name}"))
        })
        .collect()
}

/// CPU time (user + system) of this process's waited-for children so far.
pub fn children_cpu() -> Duration {
    let usage = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN);
    usage.map_or(Duration::ZERO, |u| {
        let d = |t: nix::sys::time::TimeVal| {
            Duration::from_secs(t.tv_sec() as u64) + Duration::from_micros(t.tv_usec() as u64)
        };
        d(u.user_time()) + d(u.system_time())
    })
}

/// The workspace's root directory.
pub fn workspace() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("benches/ has a parent")
        .to_path_buf()
}

/// `met` or `MISSED`, for a target line.
pub fn verdict(met: bool) -> &'static str {
    if met {
        "met"
    } else {
        "MISSED"
    }
}

/// For running nextest without its cargo build step: lists these test targets of the benches
/// crate (release, in `target/bench-suites`) once, with cargo's metadata; returns the two files
/// `cargo nextest run --binaries-metadata B --cargo-metadata M` takes, named after `stem`.
pub fn nextest_lists(tests: &[&str], stem: &str) -> Result<(std::path::PathBuf, std::path::PathBuf), String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let root = workspace();
    let target = root.join("target/bench-suites");
    let mut list = Command::new(&cargo);
    list.args(["nextest", "list", "--release", "-p", "benches"]);
    for test in tests {
        list.args(["--test", test]);
    }
    let list = list
        .args(["--list-type", "binaries-only", "--message-format", "json"])
        .current_dir(&root)
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .map_err(|e| format!("cargo nextest: {e} (is cargo-nextest installed?)"))?;
    if !list.status.success() {
        return Err(format!(
            "cargo nextest list failed:\n{}",
            String::from_utf8_lossy(&list.stderr)
        ));
    }
    let binaries = target.join(format!("{stem}-binaries.json"));
    std::fs::write(&binaries, &list.stdout).map_err(|e| e.to_string())?;
    let meta = Command::new(&cargo)
        .args(["metadata", "--format-version", "1"])
        .current_dir(&root)
        .output()
        .map_err(|e| format!("cargo metadata: {e}"))?;
    let metadata = target.join(format!("{stem}-metadata.json"));
    std::fs::write(&metadata, &meta.stdout).map_err(|e| e.to_string())?;
    Ok((binaries, metadata))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_samples() {
        let ms = Duration::from_millis;
        assert_eq!(median(&[ms(3), ms(1), ms(2)]), ms(2));
        assert_eq!(median(&[ms(4), ms(1), ms(3), ms(2)]), ms(2));
        assert_eq!(median(&[]), Duration::ZERO);
    }
}
