//! Real suites: the integration tests of `bytes`, `serde_json`, `tokio-stream` (whose tests
//! are `#[tokio::test]`s) and `itertools` (quickcheck tests of 10 ms to 1 s, in a file gated
//! by `#![cfg(not(miri))]`) at pinned versions, fetched
//! from crates.io, converted to mptest by `mptest-convert`, and run under libtest and under
//! mptest alternately (3 rounds): every test's outcome must be the same; the wall time of each
//! crate's converted targets is compared (median and range of the rounds).
//!
//! ```text
//! cargo bench -p benches --bench real_suites     # MPTEST_BENCH_ROUNDS=N to change the rounds,
//!                                                # MPTEST_BENCH_CRATES=a,b to take some crates
//! ```
//!
//! Everything is built (debug, as `cargo test` builds; `--all-features`, so that feature-gated
//! targets run too) and run under `target/real-suites/`.
//! Targets (issue #16): the same outcome for every test; ≤ 1.3 × libtest per crate.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use benches::{bench_main, median_range, verdict};

/// The crates, at the versions whose suites are measured.
/// `tokio-stream`'s tests are `#[tokio::test]`s: the converter makes them async `#[mp_test]`s.
/// `itertools`' `quick` target has uneven tests, where handing tests out ahead matters.
const ALL_CRATES: &[(&str, &str)] = &[
    ("bytes", "1.10.1"),
    ("serde_json", "1.0.140"),
    ("tokio-stream", "0.1.17"),
    ("itertools", "0.14.0"),
];

/// The crates measured: all, or those `MPTEST_BENCH_CRATES` names (comma-separated).
fn crates() -> Vec<(&'static str, &'static str)> {
    let wanted = std::env::var("MPTEST_BENCH_CRATES").unwrap_or_default();
    ALL_CRATES
        .iter()
        .copied()
        .filter(|(name, _)| wanted.is_empty() || wanted.split(',').any(|w| w.trim() == *name))
        .collect()
}

fn main() {
    bench_main("real_suites", run);
}

fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn checked(command: &mut Command) -> Result<String, String> {
    let out = command.output().map_err(|e| format!("{command:?}: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        return Err(format!(
            "{command:?} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(text)
}

/// Where cargo unpacked each crate's source, after fetching them through a scratch crate.
fn fetch(work: &Path) -> Result<BTreeMap<String, PathBuf>, String> {
    let scratch = work.join("fetch");
    std::fs::create_dir_all(scratch.join("src")).map_err(|e| e.to_string())?;
    let crates = crates();
    let deps: String = crates.iter().map(|(c, v)| format!("{c} = \"={v}\"\n")).collect();
    std::fs::write(
        scratch.join("Cargo.toml"),
        format!("[package]\nname = \"fetch\"\nversion = \"0.0.0\"\nedition = \"2021\"\n\n[workspace]\n\n[dependencies]\n{deps}"),
    )
    .map_err(|e| e.to_string())?;
    std::fs::write(scratch.join("src/lib.rs"), "").map_err(|e| e.to_string())?;
    let metadata = checked(
        cargo()
            .args(["metadata", "--format-version", "1"])
            .current_dir(&scratch),
    )?;
    let metadata: serde_json::Value = serde_json::from_str(&metadata).map_err(|e| e.to_string())?;
    let mut sources = BTreeMap::new();
    for package in metadata["packages"].as_array().into_iter().flatten() {
        let name = package["name"].as_str().unwrap_or_default();
        let version = package["version"].as_str().unwrap_or_default();
        if crates.contains(&(name, version)) {
            let manifest = PathBuf::from(package["manifest_path"].as_str().unwrap_or_default());
            sources.insert(name.to_string(), manifest.parent().unwrap().to_path_buf());
        }
    }
    if sources.len() != crates.len() {
        return Err(format!("found {sources:?} of {crates:?}"));
    }
    Ok(sources)
}

fn copy_dir(from: &Path, to: &Path) -> Result<(), String> {
    let _ = std::fs::remove_dir_all(to);
    checked(Command::new("cp").arg("-r").arg(from).arg(to)).map(drop)
}

/// The crate's integration-test executables by target name, built with `cargo test --no-run`.
fn build(dir: &Path, target_dir: &Path) -> Result<BTreeMap<String, PathBuf>, String> {
    let out = checked(
        cargo()
            .args([
                "test",
                "--no-run",
                "--tests",
                "--all-features",
                "--message-format",
                "json",
            ])
            .current_dir(dir)
            .env("CARGO_TARGET_DIR", target_dir)
            .stderr(Stdio::inherit()),
    )?;
    let mut binaries = BTreeMap::new();
    for line in out.lines() {
        let Ok(message) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let kinds = &message["target"]["kind"];
        if message["reason"] == "compiler-artifact"
            && kinds.as_array().is_some_and(|k| k.iter().any(|k| k == "test"))
        {
            if let Some(exe) = message["executable"].as_str() {
                binaries.insert(
                    message["target"]["name"].as_str().unwrap_or_default().to_string(),
                    PathBuf::from(exe),
                );
            }
        }
    }
    Ok(binaries)
}

/// Runs one test binary (2 threads); its wall time and each test's outcome line.
fn run_binary(exe: &Path, dir: &Path) -> Result<(f64, Vec<String>), String> {
    let started = Instant::now();
    let out = Command::new(exe)
        .args(["--test-threads", "2"])
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{exe:?}: {e}"))?;
    let wall = started.elapsed().as_secs_f64();
    let text = String::from_utf8_lossy(&out.stdout);
    let mut outcomes: Vec<String> = text
        .lines()
        .filter(|l| l.starts_with("test ") && l.contains(" ... "))
        .map(|l| l.replace(" - should panic", ""))
        .collect();
    outcomes.sort();
    if outcomes.is_empty() && !text.contains("running 0 tests") {
        return Err(format!("{exe:?} ran no test:\n{text}"));
    }
    Ok((wall, outcomes))
}

fn run() -> Result<(), String> {
    let rounds: usize = std::env::var("MPTEST_BENCH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(3);
    let work = workspace().join("target/real-suites");
    let target_dir = work.join("target");
    eprintln!(
        "fetching {:?} and building their suites in {} ...",
        crates(),
        work.display()
    );
    let sources = fetch(&work)?;
    checked(
        cargo()
            .args(["build", "--release", "-p", "mptest-convert"])
            .current_dir(workspace()),
    )?;
    let convert = workspace().join("target/release/mptest-convert");
    let mut all_same = true;
    let mut report = Vec::new();
    for (name, source) in &sources {
        let (plain, converted) = (
            work.join(format!("{name}-libtest")),
            work.join(format!("{name}-mptest")),
        );
        for dir in [&plain, &converted] {
            copy_dir(source, dir)?;
            let manifest = dir.join("Cargo.toml");
            let text = std::fs::read_to_string(&manifest).map_err(|e| e.to_string())?;
            std::fs::write(&manifest, text + "\n[workspace]\n").map_err(|e| e.to_string())?;
        }
        let said = checked(
            Command::new(&convert)
                .arg(&converted)
                .args(["--mptest-path", workspace().join("mptest").to_str().unwrap()]),
        )?;
        let targets: Vec<String> = said
            .lines()
            .filter_map(|l| l.split_once("; target ")?.1.split(' ').next().map(str::to_string))
            .collect();
        let libtest = build(&plain, &target_dir.join("libtest"))?;
        let mptest = build(&converted, &target_dir.join("mptest"))?;
        let (mut walls_l, mut walls_m) = (Vec::new(), Vec::new());
        for round in 1..=rounds {
            let (mut l_total, mut m_total) = (0.0, 0.0);
            for target in &targets {
                let (Some(l_exe), Some(m_exe)) = (libtest.get(target), mptest.get(target)) else {
                    return Err(format!("{name}: no binary for target {target}"));
                };
                let (l_wall, l_out) = run_binary(l_exe, &plain)?;
                let (m_wall, m_out) = run_binary(m_exe, &converted)?;
                if l_out != m_out {
                    all_same = false;
                    let only_l: Vec<_> = l_out.iter().filter(|l| !m_out.contains(l)).collect();
                    let only_m: Vec<_> = m_out.iter().filter(|m| !l_out.contains(m)).collect();
                    eprintln!("{name}/{target}: outcomes differ\n  libtest only: {only_l:?}\n  mptest only:  {only_m:?}");
                }
                if round == 1 {
                    eprintln!("{name}/{target}: {} tests", l_out.len());
                }
                l_total += l_wall;
                m_total += m_wall;
            }
            eprintln!("round {round}/{rounds}: {name}: libtest {l_total:.3}s  mptest {m_total:.3}s");
            walls_l.push(l_total);
            walls_m.push(m_total);
        }
        let ratios: Vec<f64> = walls_m.iter().zip(&walls_l).map(|(m, l)| m / l).collect();
        report.push((
            name.clone(),
            median_range(&walls_l),
            median_range(&walls_m),
            median_range(&ratios),
            targets.len(),
        ));
    }
    println!(
        "real suites: integration tests converted by mptest-convert, 2 threads, median (range) of {rounds}:"
    );
    for (name, l, m, r, targets) in &report {
        println!(
            "  {name} ({targets} targets): libtest {:.3} ({:.3}–{:.3}) s  mptest {:.3} ({:.3}–{:.3}) s  ratio {:.2} ({:.2}–{:.2})  (target <= 1.3: {})",
            l.0, l.1, l.2, m.0, m.1, m.2, r.0, r.1, r.2, verdict(r.0 <= 1.3)
        );
    }
    println!("  every test's outcome the same: {}", verdict(all_same));
    if !all_same {
        return Err("outcomes differ (see above)".into());
    }
    Ok(())
}
