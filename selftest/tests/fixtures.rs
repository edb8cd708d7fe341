//! Fixtures end to end: the suite `src/fixtures_fixture.rs` run through the real coordinator,
//! workers and fixture host; every setup and teardown leaves a line in a log file
//! (`<what> <fixture> <pid>`), read here.

mod util;

use std::process::Command;
use std::time::Duration;

use serde_json::Value;

/// The log's lines, as (what, fixture, pid).
fn log_lines(dirs: &util::RunDirs) -> Vec<(String, String, u32)> {
    let text = std::fs::read_to_string(dirs.scratch.join("fixtures.log")).unwrap_or_default();
    text.lines()
        .map(|l| {
            let parts: Vec<&str> = l.split(' ').collect();
            (
                parts[0].to_string(),
                parts[1].to_string(),
                parts[2].parse().unwrap(),
            )
        })
        .collect()
}

fn count(lines: &[(String, String, u32)], what: &str, fixture: &str) -> usize {
    lines.iter().filter(|(w, f, _)| w == what && f == fixture).count()
}

fn position(lines: &[(String, String, u32)], what: &str, fixture: &str) -> usize {
    lines
        .iter()
        .position(|(w, f, _)| w == what && f == fixture)
        .unwrap_or_else(|| panic!("no `{what} {fixture}` in {lines:?}"))
}

#[test]
fn fixtures_are_set_up_once_per_scope_shared_and_torn_down_in_reverse_order() {
    let dirs = util::RunDirs::new();
    let xml = dirs.scratch.join("report.xml");
    let mut command = Command::new(env!("CARGO_BIN_EXE_fixtures_fixture"));
    dirs.apply(&mut command);
    command
        .args(["--skip", "interrupt::", "--test-threads", "2", "--show-output"])
        .args(["--format", "json", "-Z", "unstable-options", "--junit"])
        .arg(&xml)
        .env("RUST_BACKTRACE", "0");
    let out = util::output_within(command, Duration::from_secs(60));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let events: Vec<Value> = stdout
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let test = |name: &str| {
        events
            .iter()
            .find(|e| e["type"] == "test" && e["name"] == name && e["event"] != "started")
            .unwrap_or_else(|| panic!("no result for {name}:\n{stdout}"))
            .clone()
    };
    // Failed setups and a failed teardown make the run fail; nothing else does.
    assert_eq!(out.status.code(), Some(101), "{stdout}");
    for name in [
        "worker::first",
        "worker::second",
        "run::one",
        "run::two",
        "run::three",
        "run::counts_in_the_shared_tally",
        "run::counts_again",
        "group::a",
        "group::b",
        "failing::uses_the_lab",
        "concurrent::two_threads_asking_at_once_share_one_setup",
    ] {
        assert_eq!(test(name)["event"], "ok", "{name}: {stdout}");
    }

    // A setup that panics fails every test needing it, with its message and its output; a
    // `should_panic` test too (the fixture, not the test, failed).
    for name in ["failing::needs_broken", "failing::needs_broken_too"] {
        let result = test(name);
        let text = result["stdout"].as_str().unwrap_or_default();
        assert_eq!(result["event"], "failed", "{name}: {stdout}");
        assert_eq!(result["mptest"]["failure_kind"], "fixture", "{result}");
        assert!(
            text.contains("fixture `fixtures_fixture::broken` (worker scope) could not be set up")
                && text.contains("no license server")
                && text.contains("broken: trying the license server"),
            "{name}: {text}"
        );
    }
    let message = |name: &str| test(name)["stdout"].as_str().unwrap_or_default().to_string();
    assert!(message("failing::needs_errs")
        .contains("its setup returned Err: Custom { kind: Other, error: \"disk full\" }"));
    assert!(message("failing::needs_too_wide").contains(
        "it uses fixture `fixtures_fixture::database`, whose scope (worker) is narrower than its own (run)"
    ));
    assert!(message("group::without_a_group").contains("this test has no group"));

    let lines = log_lines(&dirs);
    let workers: std::collections::BTreeSet<u32> = lines
        .iter()
        .filter(|(_, f, _)| f == "database" || f == "broken" || f == "session")
        .map(|(_, _, pid)| *pid)
        .collect();
    // Run scope: once for the run, in a process that is no worker; what it uses first, torn
    // down in reverse (client before the server it uses).
    assert_eq!(count(&lines, "setup", "server"), 1, "{lines:?}");
    assert_eq!(count(&lines, "teardown", "server"), 1, "{lines:?}");
    let host = lines[position(&lines, "setup", "server")].2;
    assert!(!workers.contains(&host), "{lines:?}");
    assert!(position(&lines, "setup", "server") < position(&lines, "setup", "client"));
    assert!(position(&lines, "teardown", "client") < position(&lines, "teardown", "server"));
    // Worker scope: at most once per worker, each torn down in its worker.
    let databases = count(&lines, "setup", "database");
    assert!((1..=2).contains(&databases), "{lines:?}");
    assert_eq!(count(&lines, "teardown", "database"), databases, "{lines:?}");
    // A failed setup is not tried again in its scope (at most once per worker).
    assert!(count(&lines, "setup", "broken") <= 2, "{lines:?}");
    // Group scope: once for the group, torn down before the group's worker ends.
    assert_eq!(count(&lines, "setup", "session"), 1, "{lines:?}");
    assert_eq!(count(&lines, "teardown", "session"), 1, "{lines:?}");
    let session_worker = lines[position(&lines, "setup", "session")].2;
    let worker_end = lines
        .iter()
        .position(|(w, f, pid)| w == "teardown" && f == "database" && *pid == session_worker)
        .unwrap();
    assert!(position(&lines, "teardown", "session") < worker_end, "{lines:?}");

    // A manager in a run fixture: both tests, wherever they ran, added to the one tally.
    let mut tallies: Vec<String> = ["run::counts_in_the_shared_tally", "run::counts_again"]
        .iter()
        .map(|name| message(name).trim().to_string())
        .collect();
    tallies.sort();
    assert_eq!(tallies, ["tally 1", "tally 2"], "{stdout}");

    // Setups and teardowns are reported, with where they ran and what they printed; the
    // teardown that panicked is a failure of the run.
    let fixture_event = |fixture: &str, phase: &str| {
        events
            .iter()
            .find(|e| e["event"] == "fixture" && e["fixture"] == fixture && e["phase"] == phase)
            .unwrap_or_else(|| panic!("no {phase} of {fixture}:\n{stdout}"))
            .clone()
    };
    let server_down = fixture_event("fixtures_fixture::server", "teardown");
    assert_eq!(server_down["process"], "the fixture host");
    assert_eq!(server_down["output"], "server says goodbye\n");
    let server_up = fixture_event("fixtures_fixture::server", "setup");
    assert_eq!(server_up["output"], "server: listening\n");
    let lab = fixture_event("fixtures_fixture::lab", "teardown");
    assert_eq!(lab["ok"], false);
    assert!(
        lab["message"]
            .as_str()
            .unwrap()
            .contains("the lab would not close"),
        "{lab}"
    );
    assert!(
        lab["output"].as_str().unwrap().contains("cleaning up the lab"),
        "{lab}"
    );
    let end = events
        .iter()
        .find(|e| e["type"] == "suite" && e["event"] == "failed")
        .unwrap();
    assert_eq!(end["mptest"]["teardown_failures"], 1, "{end}");

    // In JUnit: setups and teardowns are the suite's properties, not test cases a dashboard
    // would count; the failed teardown, which no test's result shows, is an error case too.
    let xml_path = xml;
    let xml = std::fs::read_to_string(&xml_path).unwrap();
    assert!(
        xml.contains(r#"<property name="mptest.fixture.setup.fixtures_fixture::server" value="run scope, in the fixture host, "#),
        "{xml}"
    );
    assert!(!xml.contains(r#"<testcase name="fixture::setup::"#), "{xml}");
    let lab_case = xml
        .split("<testcase ")
        .find(|c| c.starts_with(r#"name="fixture::teardown::fixtures_fixture::lab""#))
        .unwrap_or_else(|| panic!("no lab teardown case:\n{xml}"));
    assert!(
        lab_case.contains(r#"<error message="its teardown (drop) panicked"#),
        "{lab_case}"
    );
    assert!(lab_case.contains("cleaning up the lab"), "{lab_case}");
    if let Err(why) = util::validate_junit(&xml_path) {
        panic!("not valid for junit-10.xsd: {why}\n{xml}");
    }
    // And as independent readers (junitparser and xunitparser, PyPI) see it: every test a
    // case, the fixtures no cases but the failed teardown, the counts those of the run.
    let script = r#"
import sys
from junitparser import JUnitXml
import xunitparser
xml = JUnitXml.fromfile(sys.argv[1])
for suite in xml:
    print("junitparser tests", suite.tests)
    for case in suite:
        kinds = ",".join(type(r).__name__ for r in case.result) or "passed"
        print(case.name, kinds)
suite, result = xunitparser.parse(open(sys.argv[1]))
print("xunitparser tests", result.testsRun)
"#;
    let read = Command::new(util::peers_python())
        .arg("-c")
        .arg(script)
        .arg(&xml_path)
        .output()
        .unwrap();
    let read = String::from_utf8_lossy(&read.stdout);
    let cases: Vec<&str> = read
        .lines()
        .filter(|l| !l.starts_with("junitparser tests") && !l.starts_with("xunitparser tests"))
        .collect();
    let fixture_cases: Vec<&&str> = cases.iter().filter(|l| l.starts_with("fixture::")).collect();
    assert_eq!(
        fixture_cases,
        [&"fixture::teardown::fixtures_fixture::lab Error"],
        "{read}"
    );
    let results = events
        .iter()
        .filter(|e| e["type"] == "test" && e["event"] != "started")
        .count();
    let tests = results + 1;
    assert_eq!(cases.len(), tests, "{read}");
    assert!(read.contains(&format!("junitparser tests {tests}")), "{read}");
    assert!(read.contains(&format!("xunitparser tests {tests}")), "{read}");
}

#[test]
fn an_interrupted_run_still_tears_down_its_run_fixtures_and_leaves_nothing_running() {
    use std::process::Stdio;
    use wait_timeout::ChildExt;
    let dirs = util::RunDirs::new();
    let xml = dirs.scratch.join("partial.xml");
    let mut command = Command::new(env!("CARGO_BIN_EXE_fixtures_fixture"));
    dirs.apply(&mut command);
    let (mut coordinator, lines) = util::spawn_with_lines(
        command
            .args(["interrupt::", "--nocapture", "--junit"])
            .arg(&xml)
            .stderr(Stdio::null()),
    );
    // The test runs, with the run fixture set up in the host.
    loop {
        let line = lines
            .recv_timeout(Duration::from_secs(30))
            .expect("the test never said it was waiting");
        // (After its `test name ... `: uncaptured, one at a time, as under libtest.)
        if line
            .rsplit(" ... ")
            .next()
            .is_some_and(|l| l.starts_with("waiting with host "))
        {
            break;
        }
    }
    let set_up = log_lines(&dirs);
    let host = set_up[position(&set_up, "setup", "server")].2;
    assert!(util::alive(host));
    assert!(Command::new("kill")
        .args(["-INT", &coordinator.0.id().to_string()])
        .status()
        .unwrap()
        .success());
    let status = coordinator
        .0
        .wait_timeout(Duration::from_secs(10))
        .unwrap()
        .expect("the run did not end within 10 s of SIGINT");
    assert_eq!(status.code(), Some(101));
    // Teardown ran, in the host; the host is gone, as is every other process of the run.
    let after = log_lines(&dirs);
    assert_eq!(count(&after, "teardown", "server"), 1, "{after:?}");
    assert_eq!(after[position(&after, "teardown", "server")].2, host);
    assert!(!util::running(host), "the fixture host {host} outlived the run");
    // The rest of its output, to the pipe's end (the reader thread may still be passing it on).
    let mut rest = Vec::new();
    while let Ok(line) = lines.recv_timeout(Duration::from_secs(10)) {
        rest.push(line);
    }
    assert!(
        rest.iter().any(|l| l.contains("interrupted by SIGINT")),
        "{rest:?}"
    );
    let xml = std::fs::read_to_string(&xml).expect("no partial JUnit report");
    assert!(
        xml.contains("interrupt::waits") && xml.contains("mptest.fixture.teardown.fixtures_fixture::server"),
        "{xml}"
    );
    let left: Vec<u32> = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/environ"))
                .map(|env| env.contains(&dirs.tmp.to_string_lossy().into_owned()))
                .unwrap_or(false)
                && util::running(*pid)
        })
        .collect();
    assert!(left.is_empty(), "processes of the run left running: {left:?}");
}
