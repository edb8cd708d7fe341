//! Every flag of the current stable libtest, held against libtest itself: the fixture's `twin`
//! module under mptest and `tests/twin/twin.rs` under libtest's harness have the same tests.

mod util;

/// The `test NAME ... RESULT` lines, in order, without what differs by harness (libtest's
/// ` - should panic` mark; the fixture's other tests are filtered out by `twin::`).
fn test_lines(run: &util::Run) -> Vec<String> {
    run.stdout
        .lines()
        .filter(|l| l.starts_with("test twin::"))
        .map(|l| l.replace(" - should panic", ""))
        .collect()
}

/// The closing line's counts, without the time.
fn counts(run: &util::Run) -> String {
    let line = run
        .stdout
        .lines()
        .find(|l| l.starts_with("test result:"))
        .unwrap_or_else(|| panic!("no closing line:\n{}\n{}", run.stdout, run.stderr));
    line.split("; finished").next().unwrap().to_string()
}

#[test]
fn shuffle_seed_orders_the_tests_as_libtest_does() {
    let dirs = util::RunDirs::new();
    let libtest = util::libtest_twin(&dirs);
    for seed in ["7", "1234"] {
        let args = ["twin::", "--shuffle-seed", seed, "--test-threads", "1"];
        let theirs = util::libtest_twin_run(&libtest, &[&["-Z", "unstable-options"][..], &args].concat());
        let ours = util::fixture(&args);
        // mptest reports ignored tests first, libtest at their turn: the others in order.
        let run = |r: &util::Run| -> Vec<String> {
            test_lines(r)
                .into_iter()
                .filter(|l| !l.contains("... ignored"))
                .collect()
        };
        assert_eq!(run(&theirs), run(&ours), "seed {seed}\n{}", ours.stderr);
        assert!(
            ours.stderr.contains(&format!("--shuffle-seed {seed} repeats it")),
            "{}",
            ours.stderr
        );
    }
    // Without a seed: random, and the run says which seed repeats it.
    let ours = util::fixture(&["twin::", "--shuffle"]);
    assert!(ours.stderr.contains("--shuffle-seed "), "{}", ours.stderr);
    let theirs = util::libtest_twin_run(&libtest, &["-Z", "unstable-options", "twin::", "--shuffle"]);
    assert!(theirs.stdout.contains("(shuffle seed: "), "{}", theirs.stdout);
    assert_eq!(without_filtered(&theirs), without_filtered(&ours));
}

/// The closing line's counts but for what the `twin::` filter left out (the fixture has more
/// tests than libtest's twin).
fn without_filtered(run: &util::Run) -> String {
    let counts = counts(run);
    let filtered = counts
        .split("; ")
        .find_map(|part| part.strip_suffix(" filtered out"))
        .unwrap()
        .to_string();
    counts.replace(&format!("{filtered} filtered out"), "N filtered out")
}

#[test]
fn exclude_should_panic_bench_and_force_run_in_process_as_libtest() {
    let dirs = util::RunDirs::new();
    let libtest = util::libtest_twin(&dirs);
    let unstable = ["-Z", "unstable-options"];
    for flags in [
        &["--exclude-should-panic"][..],
        &["--bench"],
        &["--bench", "--test"],
        &["--force-run-in-process"],
    ] {
        let args = [&["twin::", "--test-threads", "1"][..], flags].concat();
        let theirs = util::libtest_twin_run(&libtest, &[&unstable[..], &args].concat());
        let ours = util::fixture(&args);
        // One at a time: in libtest's order, ignored tests in their turn.
        assert_eq!(
            test_lines(&theirs),
            test_lines(&ours),
            "{flags:?}\n{}",
            ours.stderr
        );
        assert_eq!(without_filtered(&theirs), without_filtered(&ours), "{flags:?}");
    }
}

#[test]
fn logfile_writes_libtests_log() {
    let dirs = util::RunDirs::new();
    let libtest = util::libtest_twin(&dirs);
    let (theirs_log, ours_log) = (dirs.scratch.join("libtest.log"), dirs.scratch.join("mptest.log"));
    let theirs = util::libtest_twin_run(&libtest, &["twin::", "--logfile", theirs_log.to_str().unwrap()]);
    let ours = util::fixture(&["twin::", "--logfile", ours_log.to_str().unwrap()]);
    assert!(
        ours.stderr.contains("warning: `--logfile` is deprecated"),
        "{}",
        ours.stderr
    );
    let lines = |path: &std::path::Path, run: &util::Run| {
        let text = std::fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("{}: {e}\n{}", path.display(), run.stderr));
        // Where a `should_panic` test that did not panic is differs: the files differ.
        let mut lines: Vec<String> = text
            .lines()
            .map(|l| match l.split_once(" at /") {
                Some((before, _)) if l.contains("did not panic") => before.to_string(),
                _ => match l.split_once(" at selftest/") {
                    Some((before, _)) => before.to_string(),
                    None => l.to_string(),
                },
            })
            .collect();
        lines.sort();
        lines
    };
    let theirs = lines(&theirs_log, &theirs);
    assert_eq!(theirs, lines(&ours_log, &ours));
    assert!(theirs.contains(&"ok twin::passes".to_string()), "{theirs:?}");
}

/// A log file that cannot be made ends the run with a usage error after its first workers were
/// forked: they are ended and reaped, and nothing else — not the run's process group, which
/// under `cargo test` is cargo's (a forked worker's group was taken for 0 before its hello, and
/// `killpg(0)` ended the coordinator and everything beside it).
#[test]
fn a_run_stopped_before_its_first_test_ends_its_workers_and_nothing_beside_it() {
    use std::os::unix::process::CommandExt;
    // Beside the run in its process group: what the run must leave alone.
    let mut sibling = std::process::Command::new("sleep");
    sibling.arg("30").process_group(0);
    let sibling = util::KillOnDrop(sibling.spawn().expect("start sleep"));
    let group = sibling.0.id();
    let dirs = util::RunDirs::new();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_fixture"));
    dirs.apply(&mut cmd);
    let log = dirs.scratch.join("no-such-directory").join("run.log");
    cmd.args(["twin::", "--logfile", log.to_str().unwrap()])
        .process_group(group as i32);
    let out = util::output_within(cmd, util::RUN_LIMIT);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{:?}\n{stderr}", out.status);
    assert!(stderr.contains("cannot create the log file"), "{stderr}");
    assert!(util::running(group), "the run ended the process beside it");
    let in_group: Vec<String> = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| pid != group && util::running(pid))
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let pgid = stat
                .rsplit(')')
                .next()?
                .split_whitespace()
                .nth(2)?
                .parse::<u32>()
                .ok()?;
            (pgid == group).then(|| format!("{pid}: {stat}"))
        })
        .collect();
    assert!(
        in_group.is_empty(),
        "left running in the run's group: {in_group:?}"
    );
}

#[test]
fn format_junit_writes_a_junit_report_to_stdout() {
    let dirs = util::RunDirs::new();
    let libtest = util::libtest_twin(&dirs);
    // Tests whose failure messages are one line: libtest's JUnit writer panics on the others.
    let tests = [
        "twin::passes",
        "twin::fails",
        "twin::returns_err",
        "twin::ignored",
        "twin::does_not_panic",
    ];
    let theirs = util::libtest_twin_run(
        &libtest,
        &[
            &["-Z", "unstable-options", "--format", "junit", "--exact"][..],
            &tests,
        ]
        .concat(),
    );
    let ours = util::fixture(&[&["--format", "junit", "--exact"][..], &tests].concat());
    for run in [&theirs, &ours] {
        let xml = run.stdout.trim();
        assert!(
            xml.starts_with("<?xml") && xml.ends_with("</testsuites>"),
            "{xml}"
        );
        assert!(xml.contains("passes") && xml.contains("does_not_panic"), "{xml}");
    }
    // What a JUnit reader makes of both: the suite's counts.
    let counts = |xml: &str| {
        let suite = &xml[xml.find("<testsuite ").expect("a testsuite")..];
        let suite = &suite[..suite.find('>').unwrap()];
        let attribute = |name: &str| {
            let at = suite
                .find(&format!(" {name}=\""))
                .unwrap_or_else(|| panic!("{name}: {suite}"));
            let value = &suite[at + name.len() + 3..];
            value[..value.find('"').unwrap()].to_string()
        };
        ["tests", "failures", "errors", "skipped"].map(attribute)
    };
    assert_eq!(
        counts(&theirs.stdout),
        counts(&ours.stdout),
        "{}\n{}",
        theirs.stdout,
        ours.stdout
    );
    assert_eq!(counts(&ours.stdout), ["5", "3", "0", "1"]);
}

#[test]
fn ensure_time_fails_a_passed_test_past_its_critical_time() {
    // The fixture's tests are in `src/`: unit tests, whose limits RUST_TEST_TIME_UNIT sets.
    let ours = util::fixture_env(
        &["twin::passes", "--exact", "--ensure-time"],
        &[("RUST_TEST_TIME_UNIT", "0,0")],
    );
    assert!(
        ours.stdout
            .contains("test twin::passes ... FAILED (time limit exceeded)"),
        "{}",
        ours.stdout
    );
    assert!(ours.stdout.contains("RUST_TEST_TIME_UNIT"), "{}", ours.stdout);
    let ours = util::fixture_env(&["twin::passes", "--exact", "--ensure-time"], &[]);
    assert!(
        ours.stdout.contains("test twin::passes ... ok"),
        "{}",
        ours.stdout
    );
    let bad = util::fixture_env(&["--ensure-time"], &[("RUST_TEST_TIME_UNIT", "1")]);
    assert_eq!(bad.code, Some(2));
    assert!(
        bad.stderr
            .contains("RUST_TEST_TIME_UNIT expected to have 2 numbers"),
        "{}",
        bad.stderr
    );
}

/// The lines a run prints, comparable across the two binaries: thread ids, source places,
/// times and the count of tests the `twin::` filter left out of the fixture's larger suite
/// taken out; mptest's own `summary:` block (failures by kind) left out.
fn comparable_lines(run: &util::Run) -> Vec<String> {
    let text = run.stdout.clone() + &run.stderr;
    let mut lines = Vec::new();
    let mut in_summary = false;
    for line in text.lines() {
        if line == "summary:" {
            in_summary = true;
            continue;
        }
        if in_summary {
            in_summary = !line.is_empty();
            continue;
        }
        let mut line = line.to_string();
        if let Some(at) = line.find(" panicked at ") {
            line.truncate(at);
        }
        for cut in [" at /", " at selftest/", "; finished in "] {
            if let Some(at) = line.find(cut) {
                line.truncate(at);
            }
        }
        if let Some(at) = line.find(" (") {
            if line.starts_with("thread '") {
                line.truncate(at);
            }
        }
        if line.starts_with("test result:") {
            line = without_filtered(run);
        }
        lines.push(line);
    }
    lines
}

#[test]
fn pretty_and_terse_output_are_libtests_line_for_line() {
    let dirs = util::RunDirs::new();
    let libtest = util::libtest_twin(&dirs);
    // Uncaptured too: what a test prints comes after its `test name ... `, as under libtest.
    let formats = [
        &["--test-threads", "1"][..],
        &["-q", "--test-threads", "1"],
        &["--test-threads", "1", "--nocapture"],
    ];
    for format in formats {
        let args = [&["twin::"][..], format].concat();
        let theirs = util::libtest_twin_run(&libtest, &args);
        let ours = util::fixture(&args);
        let (theirs, ours) = (comparable_lines(&theirs), comparable_lines(&ours));
        assert_eq!(theirs, ours, "{format:?}");
    }
}
