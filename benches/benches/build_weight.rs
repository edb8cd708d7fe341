//! Build weight: a one-test user crate with mptest as its only dev-dependency, and the same
//! with procspawn and with libtest-mimic, each built cold (`cargo test --no-run`, debug, a
//! fresh target directory) in one run: the crates in its graph and the CPU seconds (user +
//! system of cargo and everything it ran), median and range of the rounds.
//!
//! ```text
//! cargo bench -p benches --bench build_weight    # MPTEST_BENCH_ROUNDS=N to change the rounds (3)
//! ```
//!
//! Everything is made under `target/build-weight/`. Targets (issue #17): mptest ≤ 50 crates
//! and ≤ 45 s of CPU.

use std::path::{Path, PathBuf};
use std::process::Command;

use benches::{bench_main, children_cpu, median_range, verdict, workspace};

fn main() {
    bench_main("build_weight", run);
}

/// The user crates: name, dependency line, the test file.
fn crates() -> Vec<(&'static str, String, &'static str, bool)> {
    let mptest = workspace().join("mptest");
    vec![
        (
            "mptest",
            format!("mptest = {{ path = {:?} }}", mptest.display().to_string()),
            "#[mptest::mp_test]\nfn one() { assert_eq!(1 + 1, 2); }\nmptest::main!();\n",
            false,
        ),
        (
            "procspawn",
            "procspawn = { version = \"1\", features = [\"test-support\"] }".to_string(),
            "procspawn::enable_test_support!();\n#[test]\nfn one() { assert_eq!(procspawn::spawn(1, |x: i32| x + 1).join().unwrap(), 2); }\n",
            true,
        ),
        (
            "libtest-mimic",
            "libtest-mimic = \"0.8\"".to_string(),
            "fn main() {\n    let args = libtest_mimic::Arguments::from_args();\n    let tests = vec![libtest_mimic::Trial::test(\"one\", || { assert_eq!(1 + 1, 2); Ok(()) })];\n    libtest_mimic::run(&args, tests).exit();\n}\n",
            false,
        ),
    ]
}

/// Writes the crate under `dir` (its own workspace, its own lock file).
fn make(dir: &Path, dependency: &str, test: &str, harness: bool) -> Result<(), String> {
    std::fs::create_dir_all(dir.join("src")).map_err(|e| e.to_string())?;
    std::fs::create_dir_all(dir.join("tests")).map_err(|e| e.to_string())?;
    let manifest = format!(
        "[package]\nname = \"weight\"\nversion = \"0.0.0\"\nedition = \"2021\"\n\n[workspace]\n\n\
         [dev-dependencies]\n{dependency}\n\n[[test]]\nname = \"one\"\nharness = {harness}\n"
    );
    std::fs::write(dir.join("Cargo.toml"), manifest).map_err(|e| e.to_string())?;
    std::fs::write(dir.join("src/lib.rs"), "").map_err(|e| e.to_string())?;
    std::fs::write(dir.join("tests/one.rs"), test).map_err(|e| e.to_string())
}

fn cargo(dir: &Path) -> Command {
    let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    command
        .current_dir(dir)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET_DIR");
    command
}

/// The crates in the test target's graph (the user crate itself not counted).
fn crate_count(dir: &Path) -> Result<usize, String> {
    let out = cargo(dir)
        .args(["tree", "-e", "normal,build,dev", "--prefix", "none"])
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    let mut names: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split(' ').next().map(str::to_string))
        .filter(|n| !n.is_empty() && n != "weight")
        .collect();
    names.sort();
    names.dedup();
    Ok(names.len())
}

/// One cold build: CPU seconds.
fn cold_build(dir: &Path) -> Result<f64, String> {
    let _ = std::fs::remove_dir_all(dir.join("target"));
    let before = children_cpu();
    let out = cargo(dir)
        .args(["test", "--no-run", "--quiet"])
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!(
            "{}: {}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok((children_cpu() - before).as_secs_f64())
}

fn run() -> Result<(), String> {
    let rounds: usize = std::env::var("MPTEST_BENCH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(3);
    let root: PathBuf = workspace().join("target/build-weight");
    let crates = crates();
    let mut counts = Vec::new();
    for (name, dependency, test, harness) in &crates {
        let dir = root.join(name);
        make(&dir, dependency, test, *harness)?;
        // Fetched (and locked) before any timing.
        let fetched = cargo(&dir).arg("fetch").status().map_err(|e| e.to_string())?;
        if !fetched.success() {
            return Err(format!("cargo fetch failed for {name}"));
        }
        counts.push(crate_count(&dir)?);
    }
    let mut cpu: Vec<Vec<f64>> = vec![Vec::new(); crates.len()];
    for round in 1..=rounds {
        for (i, (name, ..)) in crates.iter().enumerate() {
            let seconds = cold_build(&root.join(name))?;
            eprintln!("round {round}: {name} {seconds:.1} s of CPU");
            cpu[i].push(seconds);
        }
    }
    println!("build weight of a one-test crate, cold debug build, {rounds} rounds (median, range):");
    for (i, (name, ..)) in crates.iter().enumerate() {
        let (median, lo, hi) = median_range(&cpu[i]);
        println!(
            "  {name:<14} {:>3} crates  {median:5.1} s CPU ({lo:.1}–{hi:.1})",
            counts[i]
        );
    }
    let (mptest_cpu, ..) = median_range(&cpu[0]);
    println!(
        "target: mptest ≤ 50 crates ({}) and ≤ 45 s CPU ({})",
        verdict(counts[0] <= 50),
        verdict(mptest_cpu <= 45.0)
    );
    Ok(())
}
