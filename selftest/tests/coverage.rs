//! Coverage of code that runs in other processes: the coverage fixture, built with
//! `-C instrument-coverage`, leaves a profile for every process of every kind — also a child the
//! worker ended as a leftover — and a function that ran only in a spawned child is covered.
//!
//! Needs rustup's `llvm-tools` component (`rustup component add llvm-tools`; `.ci/run` adds it).
//! Builds into its own directory inside the target directory (the `cargo test` running us holds
//! the lock on the main one).

use std::path::{Path, PathBuf};
use std::process::Command;

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// `<target>/coverage-selftest`.
fn coverage_target_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.ancestors().nth(3).unwrap().join("coverage-selftest")
}

/// An LLVM tool of rustup's `llvm-tools` component.
fn llvm_tool(name: &str) -> PathBuf {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let out = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .output()
        .unwrap();
    let sysroot = PathBuf::from(String::from_utf8(out.stdout).unwrap().trim());
    let out = Command::new(&rustc).arg("-vV").output().unwrap();
    let host = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_string))
        .unwrap();
    let tool = sysroot.join("lib/rustlib").join(host).join("bin").join(name);
    assert!(
        tool.exists(),
        "{} is missing: `rustup component add llvm-tools` (bash .ci/run does it)",
        tool.display()
    );
    tool
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Merges these profiles and returns how often `only_in_a_child` ran, per llvm-cov.
fn child_function_count(profdata: &Path, binary: &Path, profiles: &[PathBuf]) -> u64 {
    let merged = profdata.with_extension("profdata");
    run(Command::new(profdata_tool())
        .args(["merge", "-sparse", "-o"])
        .arg(&merged)
        .args(profiles));
    let json = run(Command::new(llvm_tool("llvm-cov"))
        .args(["export", "-format=text", "-skip-expansions", "-instr-profile"])
        .arg(&merged)
        .arg(binary));
    let export: serde_json::Value = serde_json::from_str(&json).unwrap();
    export["data"][0]["functions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["name"].as_str().unwrap_or_default().contains("only_in_a_child"))
        .map(|f| f["count"].as_u64().unwrap_or(0))
        .sum()
}

fn profdata_tool() -> PathBuf {
    llvm_tool("llvm-profdata")
}

#[test]
fn every_process_leaves_a_profile_and_a_childs_code_is_covered() {
    let target = coverage_target_dir();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    run(Command::new(cargo)
        .args(["build", "-p", "selftest", "--bin", "coverage_fixture"])
        .current_dir(workspace())
        .env("CARGO_TARGET_DIR", &target)
        .env("RUSTFLAGS", "-C instrument-coverage")
        .env("CARGO_PROFILE_DEV_DEBUG", "0")
        // Instrumented build scripts and proc-macros write profiles too: into the target
        // directory, not into rustc's working directory (the repository).
        .env("LLVM_PROFILE_FILE", target.join("build-profiles/%p-%m.profraw")));
    let binary = target.join("debug/coverage_fixture");

    let dir = target.join("profiles");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let pids = dir.join("pids.txt");
    let out = Command::new(&binary)
        .env("LLVM_PROFILE_FILE", dir.join("%p-%m.profraw"))
        .env("MPTEST_COVERAGE_PIDS", &pids)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");

    let profile_of = |pid: &str| -> Option<PathBuf> {
        std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .find(|p| {
                p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with(&format!("{pid}-"))
            })
    };
    let kinds = std::fs::read_to_string(&pids).unwrap();
    let mut seen = Vec::new();
    let mut child_profile = None;
    for line in kinds.lines() {
        let (kind, pid) = line.split_once(' ').unwrap();
        let profile =
            profile_of(pid).unwrap_or_else(|| panic!("no profile of the {kind} (process {pid}):\n{text}"));
        if kind == "child" {
            child_profile = Some(profile);
        }
        seen.push(kind.to_string());
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen, ["aux", "child", "leftover", "manager", "worker"]);

    // The function ran only in the child: counted with the child's profile, not without it.
    let child_profile = child_profile.unwrap();
    let all: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "profraw"))
        .collect();
    assert!(child_function_count(&dir.join("all"), &binary, &all) >= 1);
    let without_child: Vec<PathBuf> = all.iter().filter(|p| **p != child_profile).cloned().collect();
    assert_eq!(
        child_function_count(&dir.join("others"), &binary, &without_child),
        0
    );
}
