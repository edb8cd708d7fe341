//! `mptest-convert [CRATE_DIR] [--mptest-path PATH | --mptest-version VERSION] [--dry-run]`
//!
//! Turns a crate's integration tests (`tests/*.rs`, `tests/*/main.rs`, `[[test]]` targets) from
//! libtest's `#[test]`s into mptest targets, the way the README's migration section describes:
//!
//! - `#[macro_use(test)] extern crate mptest;` at the top of each target's root file, so every
//!   `#[test]` of the target — in every module, also those a macro such as `quickcheck!` or an
//!   attribute such as `#[rstest]` writes — is an mptest test;
//! - `mptest::main!();` at the end of each target's root file;
//! - a `[[test]]` section with `harness = false` per target in Cargo.toml (or `harness = false`
//!   added to the section that is there), and mptest in `[dev-dependencies]`;
//! - a file that starts with `#![cfg(..)]` would have `mptest::main!()` compiled out with
//!   everything else (E0601): the line goes (left empty, so line numbers stay); its features
//!   become the target's `required-features = ["x"]`, and the rest of the predicate
//!   (`not(miri)`, `unix`) is put on each item instead, so that where it is false the target
//!   runs no test, as under libtest;
//! - `test` in a `cfg` predicate becomes `all()` (true): cargo sets `cfg(test)` for a target
//!   that libtest runs only;
//! - `#[tokio::test]` (every flavor and argument; also `#[::tokio::test]`, in a `cfg_attr`,
//!   imported as `use tokio::test as ..;` or renamed by its `crate` argument) becomes
//!   `#[mptest::test]` on the same `async fn` (a path that ends in `test`, which `#[rstest]`
//!   takes for the test attribute); libtest's `#[test]` by its full path written in the file
//!   (`#[std::prelude::v1::test]`) becomes `#[mptest::test]` too,
//!   and mptest's `tokio` feature is turned on; `#[async_std::test]` becomes a `#[test]` whose
//!   body runs on `async_std::task::block_on`, `#[futures_test::test]` alike (these attributes
//!   write libtest's `#[test]` by its full path, which a `harness = false` target compiles
//!   out); test-case's attributes are imported from mptest (its `test-case` feature);
//!   `#[test_log::test]` is given mptest's test attribute; another crate's `#[x::test]` is named
//!   in a warning;
//! - a target with `harness = false` and a `main` of its own is left as it is;
//! - a target of the 2015 edition gets `extern crate core;` (and `extern crate mptest;` where
//!   the macro-use line is not there);
//! - `[profile.dev.package.mptest]` with `opt-level = 3` and `debug = "line-tables-only"` (a
//!   smaller binary, quicker backtraces) in the crate's manifest, unless it is a member
//!   of a workspace above it (cargo reads profiles there only: the tool says to add it there):
//!   mptest's own code optimized in debug test builds, the user's as before;
//!
//! It prints what it did and what it left alone; `--dry-run` changes nothing.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

mod block_on_tests;
mod edit;
mod full_path_tests;
mod modules;
mod test_case_tests;
mod test_log_tests;
mod tokio_tests;

fn main() -> ExitCode {
    match run(std::env::args().skip(1).collect()) {
        Ok(report) => {
            print!("{report}");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("mptest-convert: {err}");
            ExitCode::from(2)
        }
    }
}

/// What to do, from the command line.
struct Options {
    dir: PathBuf,
    dependency: String,
    dry_run: bool,
}

fn parse(args: Vec<String>) -> Result<Options, String> {
    let mut options = Options {
        dir: PathBuf::from("."),
        dependency: r#"mptest = "0.1""#.to_string(),
        dry_run: false,
    };
    let mut args = args.into_iter();
    let mut dir_given = false;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--mptest-path" => {
                let path = args.next().ok_or("--mptest-path needs a path")?;
                options.dependency = format!("mptest = {{ path = {path:?} }}");
            }
            "--mptest-version" => {
                let version = args.next().ok_or("--mptest-version needs a version")?;
                options.dependency = format!("mptest = {version:?}");
            }
            "--dry-run" => options.dry_run = true,
            "-h" | "--help" => {
                return Err("usage: mptest-convert [CRATE_DIR] [--mptest-path PATH | --mptest-version VERSION] [--dry-run]".into())
            }
            flag if flag.starts_with('-') => return Err(format!("unknown option {flag:?} (see --help)")),
            dir if !dir_given => {
                options.dir = PathBuf::from(dir);
                dir_given = true;
            }
            extra => return Err(format!("one crate directory at a time; {extra:?} is a second")),
        }
    }
    Ok(options)
}

fn run(args: Vec<String>) -> Result<String, String> {
    let options = parse(args)?;
    let manifest_path = options.dir.join("Cargo.toml");
    let manifest = std::fs::read_to_string(&manifest_path)
        .map_err(|e| format!("cannot read {}: {e}", manifest_path.display()))?;
    let mut manifest = edit::Manifest::new(manifest);
    let mut report = String::new();
    let mut tokio_tests = 0;
    let mut test_cases = false;
    // What every file of a target needs before the target is converted: `cfg(test)` set,
    // test-case's and test-log's attributes on mptest's tests, `#[tokio::test]`s as async
    // mptest tests, other async attributes as blocking tests.
    let mut rewrite = |path: &Path, source: String, report: &mut String| -> String {
        let (source, cfgs) = edit::cfg_test_set(&source);
        if cfgs > 0 {
            report.push_str(&format!(
                "{}: `test` in {cfgs} cfg predicate(s) made `all()` (true): cargo sets it where \
                 libtest runs the target, not with harness = false\n",
                path.display()
            ));
        }
        let (source, paths) = test_case_tests::rewrite(&source);
        if paths > 0 {
            test_cases = true;
            report.push_str(&format!(
                "{}: test-case's attributes taken from mptest in {paths} place(s) (its `test-case` \
                 feature: test-case's own are compiled out with harness = false)\n",
                path.display()
            ));
        }
        let logged = test_log_tests::rewrite(&source);
        if logged.tests > 0 {
            tokio_tests += logged.async_tests;
            report.push_str(&format!(
                "{}: {} #[test_log::test] given mptest's test attribute, \
                 #[test_log::test(mptest::test)] (without one, test-log writes libtest's #[test] \
                 by its full path, which harness = false compiles out)\n",
                path.display(),
                logged.tests
            ));
        }
        let rewritten = tokio_tests::rewrite(&logged.source);
        if rewritten.tests > 0 {
            tokio_tests += rewritten.tests;
            report.push_str(&format!(
                "{}: {} #[tokio::test] made #[mptest::test] async tests\n",
                path.display(),
                rewritten.tests
            ));
            for note in &rewritten.notes {
                report.push_str(&format!("{}: {note}\n", path.display()));
            }
        }
        let (source, full_paths) = full_path_tests::rewrite(&rewritten.source);
        if full_paths > 0 {
            report.push_str(&format!(
                "{}: {full_paths} #[test] by libtest's full path (#[std::prelude::v1::test]) made                  #[mptest::test]: a harness = false target compiles libtest's out\n",
                path.display()
            ));
        }
        let rewritten = block_on_tests::rewrite(&source);
        for (attribute, tests) in &rewritten.tests {
            report.push_str(&format!(
                "{}: {tests} {attribute} made #[test]s that run their body on the block_on that \
                 attribute calls (it writes libtest's #[test] by its full path, which a \
                 harness = false target would compile out)\n",
                path.display(),
            ));
        }
        for attribute in &rewritten.unknown {
            report.push_str(&format!(
                "{}: warning: {attribute} is another crate's attribute; if it writes libtest's \
                 #[test] by its full path (as #[tokio::test] and #[async_std::test] do), its tests \
                 are compiled out in a harness = false target without a word: compare \
                 `cargo test -- --list` before and after\n",
                path.display()
            ));
        }
        rewritten.source
    };
    for target in targets(&options.dir, &manifest)? {
        let file = options.dir.join(&target.path);
        let original =
            std::fs::read_to_string(&file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
        if manifest.harness_off(&target.name) && !original.contains(edit::MAIN) {
            // Its own `main` runs it (libtest-mimic, datatest): a second would not compile.
            report.push_str(&format!(
                "{}: target {} has harness = false and a main of its own; left as it is\n",
                target.path.display(),
                target.name
            ));
            continue;
        }
        let source = rewrite(&target.path, original.clone(), &mut report);
        // Modules of the target in files of their own (its tests may all be there).
        let modules: Vec<(PathBuf, String, bool)> = modules::module_files(&options.dir, &target.path)
            .into_iter()
            .filter_map(|m| {
                let original = std::fs::read_to_string(options.dir.join(&m)).ok()?;
                let rewritten = rewrite(&m, original.clone(), &mut report);
                let changed = rewritten != original;
                Some((m, rewritten, changed))
            })
            .collect();
        let in_modules = edit::InModules {
            tests: modules.iter().any(|(_, text, _)| edit::has_any_tests(text)),
            libtest_tests: modules.iter().any(|(_, text, _)| edit::has_tests(text)),
        };
        match edit::convert_source(&source, in_modules, manifest.edition_2015(&target.name)) {
            edit::Conversion::NoTests => {
                report.push_str(&format!(
                    "{}: no #[test] in it; left as it is\n",
                    target.path.display()
                ));
            }
            edit::Conversion::Converted {
                source,
                features,
                gated,
            } => {
                if !options.dry_run {
                    std::fs::write(&file, source)
                        .map_err(|e| format!("cannot write {}: {e}", file.display()))?;
                }
                manifest.harness_false(&target.name, &target.path, &features);
                let features = if features.is_empty() {
                    String::new()
                } else {
                    format!(" (required-features = {features:?})")
                };
                let gated = gated.map_or(String::new(), |predicate| {
                    format!(
                        "; its #![cfg({predicate})] now gates each item, not the file (where it \
                         is false, the target runs no test, as under libtest)"
                    )
                });
                report.push_str(&format!(
                    "{}: converted; target {} has harness = false{features}{gated}\n",
                    target.path.display(),
                    target.name
                ));
                for (module, source, _) in modules.iter().filter(|(_, _, changed)| *changed) {
                    let path = options.dir.join(module);
                    if !options.dry_run {
                        std::fs::write(&path, source)
                            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
                    }
                }
            }
        }
    }
    // Async tests need mptest's `tokio` feature, test-case's attributes its `test-case`.
    let features: Vec<String> = [(tokio_tests > 0, "tokio"), (test_cases, "test-case")]
        .into_iter()
        .filter(|(wanted, _)| *wanted)
        .map(|(_, feature)| format!("{feature:?}"))
        .collect();
    let wanted = !features.is_empty();
    let features = format!("features = [{}]", features.join(", "));
    let dependency = match (wanted, options.dependency.strip_prefix("mptest = ")) {
        (true, Some(value)) if value.starts_with('{') => format!(
            "mptest = {{ {}, {features} }}",
            value.trim_start_matches('{').trim_end_matches('}').trim()
        ),
        (true, Some(version)) => format!("mptest = {{ version = {version}, {features} }}"),
        _ => options.dependency.clone(),
    };
    manifest.dev_dependency(&dependency);
    // Cargo reads `[profile]` in a workspace's root manifest only.
    let profile_note = match workspace_above(&options.dir) {
        Some(root) if !manifest.is_workspace_root() => format!(
            "note: for quicker debug runs, add to {}:\n{}\n{}\n",
            root.display(),
            edit::OPTIMIZED_MPTEST,
            edit::OPTIMIZED_MPTEST_SETTINGS
        ),
        _ if manifest.optimize_mptest() => format!(
            "Cargo.toml: {} with opt-level = 3 and line tables for debug info: mptest's own \
             code optimized in test builds (yours is compiled as before)\n",
            edit::OPTIMIZED_MPTEST
        ),
        _ => String::new(),
    };
    if !options.dry_run {
        std::fs::write(&manifest_path, manifest.text())
            .map_err(|e| format!("cannot write {}: {e}", manifest_path.display()))?;
    }
    report.push_str(&format!(
        "Cargo.toml: {}\nnote: a harness = false target runs only mptest's tests: a #[test] that names libtest's attribute by its full path (#[::core::prelude::v1::test], as some crates' macros write it) is compiled out without a word.\n",
        if options.dry_run { "unchanged (--dry-run)" } else { "updated" }
    ));
    report.push_str(&profile_note);
    Ok(report)
}

/// The manifest of a workspace in a directory above `dir`, if there is one.
fn workspace_above(dir: &Path) -> Option<PathBuf> {
    let dir = dir.canonicalize().ok()?;
    dir.ancestors()
        .skip(1)
        .map(|d| d.join("Cargo.toml"))
        .find(|manifest| {
            std::fs::read_to_string(manifest)
                .is_ok_and(|text| text.lines().any(|line| line.trim() == "[workspace]"))
        })
}

/// An integration-test target: its name and its root file, relative to the crate.
struct Target {
    name: String,
    path: PathBuf,
}

/// `[[test]]` targets with a path, then the ones cargo finds in `tests/` by itself.
fn targets(dir: &Path, manifest: &edit::Manifest) -> Result<Vec<Target>, String> {
    let mut targets: Vec<Target> = manifest
        .declared_tests()
        .into_iter()
        .map(|(name, path)| Target {
            path: path.unwrap_or_else(|| PathBuf::from(format!("tests/{name}.rs"))),
            name,
        })
        .collect();
    if manifest.autotests() {
        let tests = dir.join("tests");
        let mut found = Vec::new();
        if let Ok(entries) = std::fs::read_dir(&tests) {
            for entry in entries.flatten() {
                let path = entry.path();
                let name = entry.file_name().to_string_lossy().into_owned();
                if path.is_file() && name.ends_with(".rs") {
                    found.push((
                        name.trim_end_matches(".rs").to_string(),
                        PathBuf::from("tests").join(&name),
                    ));
                } else if path.join("main.rs").is_file() {
                    found.push((name.clone(), PathBuf::from("tests").join(&name).join("main.rs")));
                }
            }
        }
        found.sort();
        for (name, path) in found {
            if !targets.iter().any(|t| t.name == name || t.path == path) {
                targets.push(Target { name, path });
            }
        }
    }
    Ok(targets)
}
