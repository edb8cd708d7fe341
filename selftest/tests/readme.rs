//! The README followed word for word, as a new user does: a crate of their own with mptest as a
//! path dev-dependency, the README's Cargo.toml lines and test file, and its commands. Also
//! what happens when `harness = false` is forgotten.
//!
//! Builds in `<target>/nextest-selftest` (shared with `tests/nextest.rs`, without debug info):
//! the `cargo test` running us holds the lock on the main build directory.

mod util;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The fenced blocks of `lang` in the README, in order.
fn readme_blocks(lang: &str) -> Vec<String> {
    let readme = std::fs::read_to_string(workspace().join("README.md")).unwrap();
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in readme.lines() {
        match &mut current {
            None if line.trim() == format!("```{lang}") => current = Some(String::new()),
            Some(block) if line.trim() == "```" => {
                blocks.push(std::mem::take(block));
                current = None;
            }
            Some(block) => {
                block.push_str(line);
                block.push('\n');
            }
            None => {}
        }
    }
    blocks
}

fn cargo(dirs: &util::RunDirs, crate_dir: &Path, args: &[&str]) -> Output {
    let exe = std::env::current_exe().unwrap();
    let target = exe.ancestors().nth(3).unwrap().join("nextest-selftest");
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    // The suites' processes use the run's private TMPDIR, which they must leave empty.
    dirs.apply(&mut cmd);
    cmd.args(args)
        .current_dir(crate_dir)
        .env("CARGO_TARGET_DIR", target)
        .env("CARGO_PROFILE_DEV_DEBUG", "0")
        .env("RUST_BACKTRACE", "0")
        .env_remove("RUST_TEST_THREADS");
    util::output_within(cmd, Duration::from_secs(600))
}

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

/// Code that compiles under libtest and must compile the same in a target linking mptest and
/// mptest-can (serde_json's `impl PartialEq<Value> for u8` once broke the first).
const INFERENCE: &str = r#"
use mptest::test;
use mptest_can as _; // loaded, so its graph's impls are visible here

#[test]
fn byte_slices_compare_with_a_vec_whose_type_is_inferred() {
    let s = b"abc";
    let mut v = Vec::new();
    v.extend(s.iter());
    assert_eq!(&s[..], &v[..]);
}

#[test]
fn results_of_parse_are_inferred_from_their_use() {
    let (n, b, x, i, c) = (7u32, true, 1.5f64, -3i64, 'c');
    assert_eq!(n, "7".parse().unwrap());
    assert_eq!(b, "true".parse().unwrap());
    assert_eq!(x, "1.5".parse().unwrap());
    assert!(i == "-3".parse().unwrap());
    assert_eq!(c, "c".parse().unwrap());
}

mptest::main!();
"#;

#[test]
fn the_readme_works_word_for_word() {
    let dirs = util::RunDirs::new();
    let crate_dir = dirs.scratch.join("usercrate");
    std::fs::create_dir_all(crate_dir.join("tests")).unwrap();
    std::fs::create_dir_all(crate_dir.join("src")).unwrap();
    std::fs::write(crate_dir.join("src/lib.rs"), "").unwrap();

    let toml = &readme_blocks("toml")[0];
    let mptest_path = workspace().join("mptest");
    let dependency = r#"path = "../mptest/mptest""#;
    assert!(
        toml.contains(dependency),
        "the README's dependency line changed:\n{toml}"
    );
    let toml = toml.replace(
        dependency,
        &format!("path = {:?}", mptest_path.display().to_string()),
    );
    let manifest = format!(
        "[package]\nname = \"usercrate\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[workspace]\n\n{toml}\n\
         [[test]]\nname = \"shared_state\"\nharness = false\n\n\
         [[test]]\nname = \"fixtures\"\nharness = false\n\n\
         [[test]]\nname = \"forgot_harness_false\"\n\n\
         [[test]]\nname = \"inference\"\nharness = false\n\n\
         [dev-dependencies.mptest-can]\npath = {:?}\n",
        workspace().join("mptest-can").display().to_string()
    );
    std::fs::write(crate_dir.join("Cargo.toml"), manifest).unwrap();
    let rust = readme_blocks("rust");
    assert!(rust[0].starts_with("// tests/system.rs"), "{}", rust[0]);
    std::fs::write(crate_dir.join("tests/system.rs"), &rust[0]).unwrap();
    // The README's shared-state snippet, as a suite of its own.
    let shared = rust
        .iter()
        .find(|b| b.contains("ThermostatProxy"))
        .expect("the shared-state snippet");
    let shared_suite = format!(
        "{shared}\n#[mp_test]\nfn thermostat_is_shared() -> Result<(), ProxyError> {{\n    \
         let mgr = Manager::start()?;\n    let t: ThermostatProxy = mgr.create(Thermostat::new())?;\n    \
         let child = mptest::spawn(t.clone(), |t: ThermostatProxy| t.set_target(21.5).unwrap());\n    \
         child.join().unwrap();\n    assert_eq!(t.target()?, 21.5);\n    Ok(())\n}}\n\nmptest::main!();\n"
    );
    std::fs::write(crate_dir.join("tests/shared_state.rs"), shared_suite).unwrap();
    // The README's fixtures snippet, as it stands.
    let fixtures = rust
        .iter()
        .find(|b| b.contains("// tests/fixtures.rs"))
        .expect("the fixtures snippet");
    std::fs::write(crate_dir.join("tests/fixtures.rs"), fixtures).unwrap();
    // Linking mptest and mptest-can changes no type inference in the user's code: no crate of
    // their graphs adds trait impls on std types that inference would have to choose between.
    std::fs::write(crate_dir.join("tests/inference.rs"), INFERENCE).unwrap();
    std::fs::write(
        crate_dir.join("tests/forgot_harness_false.rs"),
        "use mptest::prelude::*;\n\n#[mp_test]\nfn lost() {}\n\nmptest::main!();\n",
    )
    .unwrap();

    let all = cargo(
        &dirs,
        &crate_dir,
        &[
            "test",
            "--test",
            "system",
            "--test",
            "shared_state",
            "--test",
            "fixtures",
            "--test",
            "inference",
        ],
    );
    let all_text = text(&all);
    assert!(all.status.success(), "{all_text}");
    assert!(all_text.contains("test two_plus_two ... ok"), "{all_text}");
    assert!(
        all_text.contains("test thermostat_is_shared ... ok"),
        "{all_text}"
    );
    assert!(all_text.contains("test connects ... ok"), "{all_text}");
    assert!(
        all_text.contains("test results_of_parse_are_inferred_from_their_use ... ok"),
        "{all_text}"
    );

    // The README's --exact example names a test that exists.
    let exact = cargo(
        &dirs,
        &crate_dir,
        &["test", "--test", "system", "--", "controller_answers", "--exact"],
    );
    let exact_text = text(&exact);
    assert!(exact.status.success(), "{exact_text}");
    assert!(exact_text.contains("1 passed; 0 failed"), "{exact_text}");

    let forgot = cargo(&dirs, &crate_dir, &["test", "--test", "forgot_harness_false"]);
    let forgot_text = text(&forgot);
    assert!(!forgot.status.success(), "{forgot_text}");
    assert!(
        forgot_text
            .contains("mptest::main!() needs a target without libtest's harness: add `harness = false`"),
        "{forgot_text}"
    );
    assert!(dirs.left_in_tmp().is_empty(), "{:?}", dirs.left_in_tmp());
}
