//! mptest's harness, end to end: the fixture suite run through the real coordinator and
//! workers, checking every outcome kind, the command line and the exit codes.

mod util;

use util::{alive, fixture, fixture_env, fixture_json};

#[test]
fn ignore_if_decides_when_the_run_starts_and_include_ignored_runs_the_test_anyway() {
    let json = [
        "--format",
        "json",
        "-Z",
        "unstable-options",
        "decided_at_run_time::",
    ];
    let name = "decided_at_run_time::needs_the_lab";
    let without = fixture(&json);
    assert_eq!(without.outcome(name), "ignored", "{}", without.stdout);
    assert_eq!(without.field(name, "message"), "FIXTURE_LAB is not set");
    assert_eq!(without.code, Some(0));
    let with = fixture_env(&json, &[("FIXTURE_LAB", "here")]);
    assert_eq!(with.outcome(name), "passed", "{}", with.stdout);
    // Asked to, it runs where it would be ignored (and finds no lab).
    let forced = fixture(&[&json[..], &["--include-ignored"]].concat());
    assert_eq!(forced.outcome(name), "failed", "{}", forced.stdout);
    assert!(forced.stdout.contains("ran without the lab"), "{}", forced.stdout);
    // The pretty format says why, as for `ignore = "why"`.
    let pretty = fixture(&["decided_at_run_time::"]);
    assert!(
        pretty
            .stdout
            .contains("test decided_at_run_time::needs_the_lab ... ignored, FIXTURE_LAB is not set\n"),
        "{}",
        pretty.stdout
    );
}

/// A directory `len` bytes long (made), under this test's temporary directory.
fn long_dir(len: usize) -> std::path::PathBuf {
    let mut dir = std::env::temp_dir().join(format!("mptest-long-{}", std::process::id()));
    while dir.as_os_str().len() < len {
        let room = len - dir.as_os_str().len() - 1;
        dir.push("d".repeat(room.clamp(1, 50)));
    }
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn a_200_character_tmpdir_works_for_workers_children_auxes_and_managers() {
    let long = long_dir(200);
    assert_eq!(long.as_os_str().len(), 200);
    let run = fixture_env(
        &[
            "pass::",
            "spawned::child_output_is_captured",
            "aux_output::is_in_the_report",
            "refusal::is_reported",
            "--test-threads",
            "2",
            "--format",
            "json",
            "-Z",
            "unstable-options",
        ],
        &[("TMPDIR", long.to_str().unwrap())],
    );
    assert_eq!(
        run.outcome("pass::plain"),
        "passed",
        "{}\n{}",
        run.stdout,
        run.stderr
    );
    assert_eq!(
        run.outcome("aux_output::is_in_the_report"),
        "passed",
        "{}",
        run.stdout
    );
    // These two fail on purpose, after their child and their manager answered.
    assert!(
        run.field("spawned::child_output_is_captured", "stdout")
            .contains("fail with 6"),
        "{}",
        run.stdout
    );
    assert!(
        run.field("refusal::is_reported", "stdout")
            .contains("client saw:"),
        "{}",
        run.stdout
    );
    let end = run.suite_end();
    assert_eq!(
        (end["passed"].as_u64(), end["failed"].as_u64()),
        (Some(7), Some(2)),
        "{}",
        run.stdout
    );
    let left: Vec<_> = std::fs::read_dir(&long).unwrap().collect();
    assert!(left.is_empty(), "left in the long TMPDIR: {left:?}");
    std::fs::remove_dir_all(std::env::temp_dir().join(format!("mptest-long-{}", std::process::id())))
        .unwrap();
}

#[test]
fn passing_tests_pass_and_the_run_exits_zero() {
    let run = fixture_json(&["pass::"]);
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    for name in [
        "pass::plain",
        "pass::result_ok",
        "pass::prints_from_a_child_process",
        "pass::should_panic_any",
        "pass::should_panic_with_text",
        "pass::with_generous_timeout",
    ] {
        assert_eq!(run.outcome(name), "passed", "{name}: {}", run.stdout);
    }
    assert_eq!(run.outcome("pass::ignored_with_reason"), "ignored");
    assert_eq!(run.field("pass::ignored_with_reason", "message"), "needs a lab");
    let end = run.suite_end();
    assert_eq!(
        (
            end["event"].as_str(),
            end["passed"].as_u64(),
            end["failed"].as_u64(),
            end["ignored"].as_u64()
        ),
        (Some("ok"), Some(6), Some(0), Some(2))
    );
}

#[test]
fn failures_name_their_cause_and_keep_their_output() {
    let run = fixture_json(&["fail::", "pass::plain"]);
    assert_eq!(run.code, Some(101));
    assert_eq!(run.outcome("pass::plain"), "passed");
    let out = run.field("fail::panics", "stdout");
    assert!(
        out.contains("output before the panic") && out.contains("the answer was 41"),
        "{out}"
    );
    assert!(out.contains("panicked at selftest/src/fixture.rs"), "{out}");
    // As libtest: an `Err` is in the output; `message` is only for `should_panic`.
    assert!(
        run.field("fail::returns_err", "stdout")
            .contains("Error: \"no such device\"\n"),
        "{}",
        run.stdout
    );
    assert_eq!(
        run.tests()["fail::returns_err"]["mptest"]["message"],
        "Error: \"no such device\""
    );
    let not_panicking = run.field("fail::does_not_panic", "message");
    assert!(
        not_panicking.starts_with("test did not panic as expected at selftest/src/fixture.rs:"),
        "{not_panicking}"
    );
    let msg = run.field("fail::panics_with_other_text", "message");
    assert!(
        msg.contains("panic did not contain expected string") && msg.contains("\"this text\""),
        "{msg}"
    );
    for name in [
        "fail::panics",
        "fail::returns_err",
        "fail::does_not_panic",
        "fail::panics_with_other_text",
    ] {
        assert_eq!(run.outcome(name), "failed", "{name}");
    }
    let end = run.suite_end();
    assert_eq!(
        (end["passed"].as_u64(), end["failed"].as_u64()),
        (Some(1), Some(4))
    );
}

#[test]
fn the_first_workers_are_forked_unless_told_not_to() {
    let dirs = util::RunDirs::new();
    let main_ran = |fork: &str| {
        let log = dirs.scratch.join(format!("main-{fork}.log"));
        let log_text = log.to_str().unwrap();
        let args = ["pass::plain", "forked::", "--test-threads", "3"];
        let run = fixture_env(
            &args,
            &[("FIXTURE_MAIN_LOG", log_text), ("MPTEST_FORK_WORKERS", fork)],
        );
        assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
        std::fs::read_to_string(&log).unwrap().lines().count()
    };
    // Forked: `main` ran once, in the coordinator; and no worker holds a pipe end of the
    // coordinator's (`forked::` checks in two workers at once). The other systems' way (and
    // `--cfg mptest_portable`'s) re-executes every worker.
    assert_eq!(main_ran("1"), if cfg!(mptest_portable) { 4 } else { 1 });
    // Re-executed: once more in each of the three workers.
    assert_eq!(main_ran("0"), 4);
}

/// The lines `what line 0` .. `what line 1999` of a `staged::` fixture test, each once, in
/// order, in `text`; the index just after them.
fn whole_burst(text: &str, what: &str) -> usize {
    burst_of(text, what, 2000)
}

/// The lines `what line 0` .. `what line {count - 1}`, each once, in order, in `text`; the
/// index just after them.
fn burst_of(text: &str, what: &str, count: usize) -> usize {
    let lines: Vec<&str> = text.lines().collect();
    let prefix = format!("{what} line ");
    let numbers: Vec<&str> = lines.iter().filter_map(|l| l.strip_prefix(&prefix)).collect();
    let expected: Vec<String> = (0..count).map(|i| i.to_string()).collect();
    assert!(
        numbers == expected,
        "{what}: the burst is not whole and in order ({} of its lines):\n{}",
        numbers.len(),
        text.lines()
            .filter(|l| !l.starts_with(&prefix))
            .collect::<Vec<_>>()
            .join("\n")
    );
    let first = lines.iter().position(|l| l.starts_with(&prefix)).unwrap_or(0);
    first + count
}

#[test]
fn output_staged_in_memory_reaches_the_report_whole_however_the_test_ends() {
    let cases = [
        ("staged::fills_the_ring_and_aborts", "crashed", "ring"),
        ("staged::aborts_after_a_burst", "crashed", "abort"),
        ("staged::killed_after_a_burst", "crashed", "kill"),
        ("staged::exits_after_a_burst", "crashed", "exit"),
        ("staged::a_child_prints_after_a_burst", "failed", "parent"),
        ("staged::a_forked_child_prints_after_a_burst", "failed", "parent"),
    ];
    let mut args: Vec<&str> = cases.iter().map(|(name, ..)| *name).collect();
    args.extend(["--exact", "--test-threads", "1"]);
    // Forked workers, and re-executed ones (a crash's replacement, a `main` of the user's).
    let runs = [
        fixture_json(&args),
        fixture_env(
            &[&["--format", "json", "-Z", "unstable-options"], &args[..]].concat(),
            &[("MPTEST_FORK_WORKERS", "0")],
        ),
    ];
    for (run, (name, outcome, what)) in runs
        .iter()
        .flat_map(|run| cases.iter().map(move |case| (run, *case)))
    {
        assert_eq!(
            run.outcome(name),
            outcome,
            "{name}: {}",
            run.field(name, "message")
        );
        let text = run.field(name, "stdout");
        if what == "ring" {
            burst_of(&text, what, 30_000);
            let large: Vec<&str> = text.lines().filter(|l| l.starts_with('y')).collect();
            assert_eq!(large, ["y".repeat(100_000)], "the large write, once, whole");
            let at = text.lines().position(|l| l.starts_with('y'));
            assert_eq!(
                at,
                text.lines().position(|l| l == "ring line 15000").map(|i| i + 1)
            );
            continue;
        }
        let after = whole_burst(&text, what);
        let rest: Vec<&str> = text.lines().skip(after).collect();
        match what {
            // What it wrote last, no newline and all, before the coordinator's word on it.
            "exit" => assert!(
                rest.first().is_some_and(|l| l.starts_with("and no newline")),
                "{text}"
            ),
            // The child started after the burst was written: its line comes after it. A
            // forked copy writes at once, to the pipe: the stage is the worker's alone.
            "parent" if name.contains("forked") => {
                let expected = ["in the copy", "and again", "and once more", "child line"];
                assert_eq!(rest.get(..4), Some(&expected[..]), "{rest:?}")
            }
            "parent" => assert_eq!(rest.first(), Some(&"child line"), "{rest:?}"),
            _ => {}
        }
    }
}

#[test]
fn mptest_staged_output_0_writes_every_write_at_once() {
    let name = "staged::staged_again_after_a_test_moved_stderr";
    let json = ["--format", "json", "-Z", "unstable-options", name, "--exact"];
    // The test asserts that its output is staged (not in a portable build, which stages none).
    let expected = if cfg!(mptest_portable) { "passed" } else { "failed" };
    for fork in ["1", "0"] {
        let run = fixture_env(
            &json,
            &[("MPTEST_STAGED_OUTPUT", "0"), ("MPTEST_FORK_WORKERS", fork)],
        );
        assert_eq!(run.outcome(name), expected, "{}", run.field(name, "message"));
    }
}

#[test]
fn a_test_that_moves_stderr_gets_its_writes_where_it_sent_them() {
    let moves = "staged::moves_stderr_to_a_file_and_back";
    let again = "staged::staged_again_after_a_test_moved_stderr";
    let run = fixture_json(&[moves, again, "--exact", "--test-threads", "1"]);
    // The file got its 100 lines (the test asserts it), the report the rest.
    assert_eq!(run.outcome(moves), "failed", "{}", run.stdout);
    let text = run.field(moves, "stdout");
    whole_burst(&text, "before");
    whole_burst(&text, "after");
    assert!(!text.contains("into the file"), "{text}");
    // The next test in the same worker is staged again.
    assert_eq!(run.outcome(again), "passed", "{}", run.stdout);
}

#[test]
fn crashes_cost_one_test_and_name_the_signal_or_exit_code() {
    let run = fixture_json(&["crash::", "pass::plain", "pass::result_ok", "--test-threads", "2"]);
    assert_eq!(run.code, Some(101));
    let expect = [
        ("crash::aborts", "SIGABRT", "about to abort"),
        ("crash::segfaults", "SIGSEGV", "about to segfault"),
        ("crash::exits_zero", "exited with code 0", "calling exit(0)"),
        ("crash::exits_three", "exited with code 3", ""),
        ("crash::kills_itself", "SIGKILL", ""),
        ("crash::sends_garbage", "malformed message", ""),
        ("crash::sends_truncated", "malformed message", ""),
        ("crash::closes_channel", "closed its channel", ""),
    ];
    for (name, cause, output) in expect {
        assert_eq!(run.outcome(name), "crashed", "{name}: {}", run.stdout);
        let message = run.field(name, "message");
        assert!(
            message.starts_with("crashed: ") && message.contains(cause),
            "{name}: {message}"
        );
        assert!(
            run.field(name, "stdout").contains(output),
            "{name} lost its output: {}",
            run.field(name, "stdout")
        );
    }
    // The run went on: the other tests ran in replacement workers.
    assert_eq!(run.outcome("pass::plain"), "passed");
    assert_eq!(run.outcome("pass::result_ok"), "passed");
    let end = run.suite_end();
    assert_eq!(
        (end["passed"].as_u64(), end["failed"].as_u64()),
        (Some(2), Some(8))
    );
}

/// A run of one test (nextest's way; rusty-fork re-runs its binary so for each forked test, and
/// its child calls `exit(0)` after the test's body): libtest's process would end there with
/// code 0, and so does mptest's run — the test passed, with a notice saying how.
#[test]
fn a_test_that_exits_zero_in_a_run_of_it_alone_passes_as_under_libtest() {
    let run = fixture(&["crash::exits_zero", "--exact"]);
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("test crash::exits_zero ... ok"),
        "{}",
        run.stdout
    );
    assert!(
        format!("{}{}", run.stdout, run.stderr)
            .contains("exited with code 0 (std::process::exit) before the test returned"),
        "{}\n{}",
        run.stdout,
        run.stderr
    );
    // Any other code is still a crash.
    let run = fixture(&["crash::exits_three", "--exact"]);
    assert_eq!(run.code, Some(101), "{}", run.stdout);
    assert!(run.stdout.contains("exited with code 3"), "{}", run.stdout);
}

#[test]
fn tests_handed_out_ahead_of_a_crash_run_once_in_the_next_worker() {
    // One worker, the crash first (the longest, by the timings file): while it runs, several of
    // the six after it are handed to the worker ahead; they go back and run once, elsewhere.
    let dirs = util::RunDirs::new();
    let file = dirs.scratch.join("timings.txt");
    let passing = [
        "pass::plain",
        "pass::result_ok",
        "pass::prints_from_a_child_process",
        "pass::should_panic_any",
        "pass::should_panic_with_text",
        "pass::with_generous_timeout",
    ];
    let mut timings = "mptest-timings 3\n9.0\tpass\tcrash::aborts\n".to_string();
    for name in passing {
        timings.push_str(&format!("0.001\tpass\t{name}\n"));
    }
    std::fs::write(&file, timings).unwrap();
    let names: Vec<&str> = ["crash::aborts"].into_iter().chain(passing).collect();
    let run = with_timings(file.to_str().unwrap(), &names, &["--order", "longest"]);
    assert_eq!(run.outcome("crash::aborts"), "crashed", "{}", run.stdout);
    let mut started = started(&run);
    assert_eq!(
        started.first().map(String::as_str),
        Some("crash::aborts"),
        "{started:?}"
    );
    started.sort();
    assert_eq!(started.len(), 7, "every test started once: {started:?}");
    started.dedup();
    assert_eq!(started.len(), 7, "a test started twice");
    for name in passing {
        assert_eq!(run.outcome(name), "passed", "{name}: {}", run.stdout);
    }
}

#[test]
fn timeouts_end_the_test_and_its_processes() {
    // A daemon in a session of its own whose parent exited is found only by a subreaper:
    // Linux's (not with `--cfg mptest_portable`, the other systems' way).
    let daemon = if cfg!(mptest_portable) {
        "hang::"
    } else {
        "leak::daemon_then_hang"
    };
    let dirs = util::RunDirs::new();
    let scratch = dirs.scratch.to_str().unwrap();
    let run = fixture_env(
        &[
            "--format",
            "json",
            "-Z",
            "unstable-options",
            "hang::",
            daemon,
            "--timeout",
            "1",
        ],
        &[("FIXTURE_SCRATCH", scratch)],
    );
    assert_eq!(run.code, Some(101));
    for name in [
        "hang::forever",
        "hang::ignores_sigterm",
        "hang::forever_without_own_timeout",
        daemon,
    ] {
        if name.ends_with("::") {
            continue;
        }
        assert_eq!(run.outcome(name), "timed-out", "{name}: {}", run.stdout);
    }
    assert!(run.field("hang::forever", "stdout").contains("going to sleep"));
    assert!(run
        .field("hang::forever", "message")
        .contains("timed out after 300ms"));
    assert!(run
        .field("hang::forever_without_own_timeout", "message")
        .contains("timed out after 1s"));
    // The daemon the test started in its own session was found and ended too. (Under load the
    // 300 ms may run out before the daemon is one: then it said no pid, and none is left over.)
    if !cfg!(mptest_portable) {
        let leftovers = &run.tests()[daemon]["mptest"]["leftovers"];
        let pids = pids_of(leftovers);
        let said = daemon_pids_said(&dirs.scratch);
        assert!(
            said.len() <= 1 && pids.len() <= 1,
            "said {said:?}, left over {leftovers}"
        );
        assert!(
            said.iter().all(|p| pids.contains(p)),
            "said {said:?}, left over {leftovers}"
        );
        assert!(pids.iter().all(|&p| !alive(p)), "still alive: {pids:?}");
    }
    // 300 ms, 1 s of grace for the one ignoring SIGTERM, 1 s default: far from the 60 s limit.
    assert!(run.elapsed.as_secs() < 20, "{:?}", run.elapsed);
    // Alone, in the first worker (forked, in a group of its own that it leaves).
    let run = fixture_json(&["hang::forever_in_a_session_of_its_own"]);
    let name = "hang::forever_in_a_session_of_its_own";
    assert_eq!(run.outcome(name), "timed-out", "{name}: {}", run.stdout);
    assert!(run.elapsed.as_secs() < 20, "{:?}", run.elapsed);
}

/// The daemon pids `leak::daemon_then_hang` said, in this scratch directory.
fn daemon_pids_said(scratch: &std::path::Path) -> Vec<u32> {
    std::fs::read_dir(scratch)
        .unwrap()
        .filter_map(|e| {
            let e = e.ok()?;
            let name = e.file_name().to_string_lossy().into_owned();
            name.starts_with("daemon-pid-")
                .then(|| std::fs::read_to_string(e.path()).ok()?.trim().parse().ok())?
        })
        .collect()
}

#[test]
fn a_re_executed_worker_that_left_its_group_is_no_test_s_leftover() {
    // Re-executed, the worker is its anchor's child. Its test calls `setsid()` and times out:
    // the group's SIGKILL ends the anchor, and the worker goes a moment later (its parent's
    // death), left to the coordinator as the subreaper. It was then taken for a process a test
    // left — its own test's, or (in CI) the next timed-out test's, in the same worker's run.
    let dirs = util::RunDirs::new();
    let scratch = dirs.scratch.to_str().unwrap();
    let tests = ["hang::forever_in_a_session_of_its_own", "leak::daemon_then_hang"];
    let run = exact_json(
        &tests,
        &["--test-threads", "1", "--timeout", "1"],
        &[("FIXTURE_SCRATCH", scratch), ("MPTEST_FORK_WORKERS", "0")],
    );
    assert_eq!(run.code, Some(101), "{}", run.stdout);
    for name in tests {
        assert_eq!(run.outcome(name), "timed-out", "{name}: {}", run.stdout);
        let leftovers = &run.tests()[name]["mptest"]["leftovers"];
        assert!(
            !leftovers.to_string().contains("(worker"),
            "{name}: a worker among its leftovers: {leftovers}"
        );
    }
    // Leftovers are still found: the daemon, where a subreaper finds it (see
    // `timeouts_end_the_test_and_its_processes`).
    if !cfg!(mptest_portable) {
        let leftovers = &run.tests()[tests[1]]["mptest"]["leftovers"];
        let said = daemon_pids_said(&dirs.scratch);
        assert_eq!(pids_of(leftovers), said, "left over {leftovers}");
        assert!(said.iter().all(|&p| !alive(p)), "still alive: {said:?}");
    }
}

#[test]
fn two_tests_that_time_out_together_each_get_their_own_leftovers() {
    // Both 300 ms, started together by two workers, ended in one pass of the timers. The first
    // exit taken searched for strays while the other worker, dead already, had left its
    // daemon to the coordinator: the daemon was named the other test's (in about half the
    // runs; five here).
    if cfg!(mptest_portable) {
        return; // no subreaper: a daemon of its own session is not found there at all
    }
    let tests = ["hang::forever", "leak::daemon_then_hang"];
    for round in 0..5 {
        let dirs = util::RunDirs::new();
        let scratch = dirs.scratch.to_str().unwrap();
        let run = exact_json(&tests, &["--test-threads", "2"], &[("FIXTURE_SCRATCH", scratch)]);
        for name in tests {
            assert_eq!(run.outcome(name), "timed-out", "{name}: {}", run.stdout);
        }
        let said = daemon_pids_said(&dirs.scratch);
        let theirs = pids_of(&run.tests()[tests[1]]["mptest"]["leftovers"]);
        let others = &run.tests()[tests[0]]["mptest"]["leftovers"];
        assert_eq!(
            theirs, said,
            "round {round}: the daemon's test; the other's: {others}"
        );
        assert!(pids_of(others).is_empty(), "round {round}: {others}");
    }
}

/// The fixture on exactly these tests, with JSON events and these arguments and environment.
fn exact_json(tests: &[&str], args: &[&str], env: &[(&str, &str)]) -> util::Run {
    let json = ["--format", "json", "-Z", "unstable-options", "--exact"];
    fixture_env(&[&json[..], tests, args].concat(), env)
}

fn pids_of(leftovers: &serde_json::Value) -> Vec<u32> {
    leftovers
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap().split(' ').next().unwrap().parse().unwrap())
        .collect()
}

#[test]
fn leftover_processes_are_ended_and_named() {
    // A daemon of its own session: see `timeouts_end_the_test_and_its_processes`.
    let names: &[&str] = if cfg!(mptest_portable) {
        &["leak::background_child"]
    } else {
        &["leak::background_child", "leak::setsid_daemon"]
    };
    let run = fixture_json(&[names, &["--show-output"]].concat());
    assert_eq!(run.code, Some(0), "{}", run.stdout);
    for &name in names {
        let leftovers = &run.tests()[name]["mptest"]["leftovers"];
        // Named by what it runs when it is ended, even if it was first seen as the `sh` that
        // was about to exec `sleep` — or by that `sh -c 'sleep 1000 ...'` if it was ended before
        // it got to exec (the daemon says it is up once it has forked, not once it has exec'd).
        let named = leftovers.to_string();
        assert!(
            named.contains("(sleep ") || named.contains("(sh -c sleep 1000"),
            "{name}: {named}"
        );
        let pids = pids_of(leftovers);
        // Ended: gone, or a zombie (it has exited; only its reaping may be left to another).
        assert!(
            !pids.is_empty() && pids.iter().all(|&p| !util::running(p)),
            "{name}: {pids:?} {:?}",
            pids.iter()
                .map(|p| std::fs::read_to_string(format!("/proc/{p}/stat")).unwrap_or_default())
                .collect::<Vec<_>>()
        );
        assert!(
            run.field(name, "stdout").contains("left 1 process(es) running"),
            "{}",
            run.field(name, "stdout")
        );
    }
    let pretty = fixture(&["leak::background_child"]);
    assert!(
        pretty
            .stdout
            .contains("note: leak::background_child left 1 process(es) running, which were ended:"),
        "{}",
        pretty.stdout
    );
}

#[test]
fn a_later_test_that_counted_on_an_ended_leftover_says_why_it_is_gone() {
    let run = fixture_json(&["kept::"]);
    assert_eq!(run.outcome("kept::a_starts_a_child_for_later"), "passed");
    assert_eq!(run.outcome("kept::b_waits_for_the_kept_child"), "failed");
    let out = run.field("kept::b_waits_for_the_kept_child", "stdout");
    assert!(
        out.contains("note: earlier tests of this worker process left processes running")
            && out.contains("kept::a_starts_a_child_for_later: ")
            && out.contains("Keep a process across tests in a worker fixture"),
        "{out}"
    );
}

#[test]
fn huge_output_keeps_head_and_tail_and_says_what_was_cut() {
    let run = fixture_json(&["output::"]);
    let out = run.field("output::huge", "stdout");
    assert!(out.starts_with("first line\n"), "{}", &out[..100]);
    assert!(out.contains("last line\n") && out.contains("fail so the output is shown"));
    assert!(out.contains("bytes of output cut here"));
    assert!(out.len() < 9 << 20, "kept {} bytes", out.len());
    let total = run.tests()["output::huge"]["mptest"]["output_bytes"]
        .as_u64()
        .unwrap();
    assert!(total > 100 << 20, "{total}");
    assert!(run
        .field("output::interleaved", "stdout")
        .starts_with("one two three\n"));
}

#[test]
fn pretty_output_is_libtests() {
    let run = fixture(&[
        "pass::plain",
        "fail::panics",
        "crash::segfaults",
        "pass::ignored_plain",
        "--exact",
    ]);
    assert_eq!(run.code, Some(101));
    let out = &run.stdout;
    assert!(out.contains("\nrunning 4 tests\n"), "{out}");
    assert!(out.contains("test pass::plain ... ok\n"), "{out}");
    assert!(out.contains("test pass::ignored_plain ... ignored\n"), "{out}");
    assert!(out.contains("test fail::panics ... FAILED\n"), "{out}");
    assert!(
        out.contains("test crash::segfaults ... FAILED (crashed: killed by signal SIGSEGV"),
        "{out}"
    );
    assert!(
        out.contains("---- fail::panics stdout ----\noutput before the panic\n"),
        "{out}"
    );
    assert!(out.contains("failures:\n    crash::segfaults (crashed: killed by signal SIGSEGV (segmentation fault))\n    fail::panics\n"), "{out}");
    let last = out.trim_end().lines().last().unwrap();
    assert!(
        last.starts_with("test result: FAILED. 1 passed; 2 failed; 1 ignored; 0 measured; "),
        "{last}"
    );
    assert!(
        last.contains(" filtered out; finished in ") && last.ends_with('s'),
        "{last}"
    );
    let terse = fixture(&["pass::plain", "pass::result_ok", "-q"]);
    assert!(
        terse.stdout.contains("\nrunning 2 tests\n..\n"),
        "{}",
        terse.stdout
    );
}

#[test]
fn show_output_and_nocapture() {
    let run = fixture(&["pass::prints_from_a_child_process", "--show-output"]);
    assert_eq!(run.code, Some(0));
    assert!(
        run.stdout
            .contains("successes:\n\n---- pass::prints_from_a_child_process stdout ----\n"),
        "{}",
        run.stdout
    );
    for text in ["parent says hi", "child says hi", "child err"] {
        assert!(run.stdout.contains(text), "{text}: {}", run.stdout);
    }
    let quiet = fixture(&["pass::prints_from_a_child_process"]);
    assert!(!quiet.stdout.contains("child says hi"), "{}", quiet.stdout);
    // Not captured: the test's output goes straight to the terminal (here, our pipes).
    let live = fixture(&["pass::prints_from_a_child_process", "--exact", "--nocapture"]);
    assert_eq!(live.code, Some(0));
    assert!(
        live.stdout.contains("parent says hi") && live.stdout.contains("child says hi"),
        "{}",
        live.stdout
    );
    assert!(live.stderr.contains("child err"), "{}", live.stderr);
    assert!(live.stdout.contains("1 passed; 0 failed"), "{}", live.stdout);
}

#[test]
fn the_command_line_is_libtests() {
    let bad = fixture(&["--frobnicate"]);
    assert_eq!(bad.code, Some(2));
    assert!(
        bad.stderr
            .contains("unknown option '--frobnicate' for this test binary"),
        "{}",
        bad.stderr
    );
    // cargo has taken the `--` already: clap's tip to add one would be wrong.
    assert!(!bad.stderr.contains("use '--"), "{}", bad.stderr);
    assert!(
        bad.stderr.contains("Usage: fixture "),
        "the binary's own name: {}",
        bad.stderr
    );
    let typo = fixture(&["--formt", "json"]);
    assert!(
        typo.stderr.contains("did you mean '--format'?"),
        "{}",
        typo.stderr
    );
    let zero = fixture(&["--test-threads", "0"]);
    assert_eq!(zero.code, Some(2));
    assert!(zero.stderr.contains("--test-threads"), "{}", zero.stderr);
    let env_zero = fixture_env(&[], &[("RUST_TEST_THREADS", "0")]);
    assert_eq!(env_zero.code, Some(2), "{}", env_zero.stderr);
    let env_bad = fixture_env(&[], &[("RUST_TEST_THREADS", "abc")]);
    assert_eq!(env_bad.code, Some(2), "{}", env_bad.stderr);
    assert!(
        env_bad
            .stderr
            .contains("RUST_TEST_THREADS=\"abc\" is not a number of threads")
            && !env_bad.stderr.contains("--test-threads <N>"),
        "blamed on the variable, not the flag: {}",
        env_bad.stderr
    );
    let none = fixture(&["no-test-has-this-name"]);
    assert_eq!(none.code, Some(0));
    assert!(
        none.stdout.contains("running 0 tests")
            && none.stdout.contains("0 passed; 0 failed; 0 ignored; 0 measured;"),
        "{}",
        none.stdout
    );
    let exact = fixture_json(&[
        "pass::plain",
        "pass::result_ok",
        "--exact",
        "--skip",
        "pass::result_ok",
        "-j",
        "1",
    ]);
    assert_eq!(exact.tests().keys().collect::<Vec<_>>(), ["pass::plain"]);
    let ignored = fixture_json(&["pass::", "--ignored"]);
    assert_eq!(ignored.outcome("pass::ignored_plain"), "passed");
    assert_eq!(
        ignored.code,
        Some(101),
        "the ignored test that panics ran and failed"
    );
    let all = fixture_json(&["pass::ignored", "--include-ignored"]);
    assert_eq!(all.tests().len(), 2);
}

#[test]
fn reports_through_the_pipe_and_the_channel_keep_their_order() {
    // One worker, in declared order: each test's report follows one that went the other way
    // (a long failure on the channel, a pass in the output pipe after the end marker). A report
    // in the pipe taken before the channel's one ahead of it was a crash: "the worker reported
    // a result for test #N while running ...".
    for round in 0..20 {
        let run = fixture_json(&["report_ways::", "--test-threads", "1", "--order", "declared"]);
        let events = run.events();
        let outcome = |name: &str| {
            events
                .iter()
                .find(|e| e["type"] == "test" && e["name"] == name && e["event"] != "started")
                .map(|e| e["event"].as_str().unwrap_or_default().to_string())
        };
        for group in ["a", "b", "c", "d"] {
            let failed = outcome(&format!("report_ways::{group}1_channel"));
            let passed = outcome(&format!("report_ways::{group}2_pipe"));
            assert_eq!(
                (failed.as_deref(), passed.as_deref()),
                (Some("failed"), Some("ok")),
                "round {round}\n{}\n{}",
                run.stdout,
                run.stderr
            );
        }
        assert!(
            run.stdout.contains("does not fit the output pipe"),
            "{}",
            run.stdout
        );
        assert!(!run.stdout.contains("while running"), "{}", run.stdout);
    }
}

#[test]
fn listing_follows_nextests_custom_harness_contract() {
    let list = fixture(&["--list", "--format", "terse"]);
    assert_eq!(list.code, Some(0));
    let lines: Vec<&str> = list.stdout.lines().collect();
    assert!(lines.len() > 30, "{}", list.stdout);
    assert!(lines.iter().all(|l| l.ends_with(": test")), "{}", list.stdout);
    assert!(lines.contains(&"pass::plain: test") && lines.contains(&"crash::segfaults: test"));
    let mut sorted = lines.clone();
    sorted.sort();
    assert_eq!(lines, sorted);
    let ignored = fixture(&["--list", "--format", "terse", "--ignored"]);
    assert_eq!(
        ignored.stdout,
        "decided_at_run_time::needs_the_lab: test\n\
         habits::ignore_written_first: test\nhabits::libtest_ignore: test\n\
         habits::libtest_ignore_with_reason: test\npass::ignored_plain: test\n\
         pass::ignored_with_reason: test\ntwin::ignored: test\ntwin::ignored_with_reason: test\n"
    );
    let pretty = fixture(&["--list", "pass::plain"]);
    assert_eq!(pretty.stdout, "pass::plain: test\n\n1 test, 0 benchmarks\n");
    // nextest runs each test as `NAME --exact --nocapture`.
    let one = fixture(&["crash::segfaults", "--exact", "--nocapture"]);
    assert_eq!(one.code, Some(101));
    assert!(
        one.stdout.contains("1 failed") && one.stdout.contains("SIGSEGV"),
        "{}",
        one.stdout
    );
}

#[test]
fn slow_tests_get_a_notice() {
    let run = fixture(&["slow::half_second", "--slow-timeout", "0.2"]);
    assert_eq!(run.code, Some(0));
    assert!(
        run.stdout
            .contains("test slow::half_second has been running for over 200ms\n"),
        "{}",
        run.stdout
    );
    let json = fixture_json(&["slow::half_second", "--slow-timeout", "0.2"]);
    assert!(json
        .events()
        .iter()
        .any(|e| e["event"] == "timeout" && e["name"] == "slow::half_second"));
}

#[test]
fn retries_mark_flaky_tests_and_groups_share_a_worker() {
    let run = fixture_json(&["flaky::", "grouped::", "--test-threads", "2"]);
    assert_eq!(run.outcome("flaky::passes_second_time"), "flaky");
    assert_eq!(run.outcome("flaky::always_fails"), "failed");
    assert_eq!(run.outcome("grouped::a_records_pid"), "passed");
    assert_eq!(
        run.outcome("grouped::b_same_pid"),
        "passed",
        "{}",
        run.field("grouped::b_same_pid", "stdout")
    );
    let end = run.suite_end();
    assert_eq!(
        (end["passed"].as_u64(), end["failed"].as_u64()),
        (Some(3), Some(1))
    );
}

#[test]
fn a_worker_that_cannot_start_ends_the_run_with_a_clear_error() {
    let run = fixture_env(&["pass::"], &[("FIXTURE_BROKEN_START", "1")]);
    assert_eq!(run.code, Some(101));
    assert!(
        run.stdout
            .contains("exited with code 3 before it connected to the coordinator"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("fixture: start-up failure in a worker"),
        "{}",
        run.stdout
    );
    assert!(
        run.elapsed.as_secs() < 10,
        "restarted in a loop? {:?}",
        run.elapsed
    );
    // The JUnit report says the run was not whole: each test that did not run is an error.
    let dir = std::env::temp_dir().join(format!("mptest-not-run-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let xml = dir.join("report.xml");
    let junit = fixture_env(
        &["pass::", "--junit", xml.to_str().unwrap()],
        &[("FIXTURE_BROKEN_START", "1")],
    );
    assert_eq!(junit.code, Some(101));
    let report = std::fs::read_to_string(&xml).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    for name in ["pass::plain", "pass::result_ok", "pass::with_generous_timeout"] {
        let case = report
            .split("<testcase ")
            .find(|case| case.contains(&format!("name=\"{name}\"")))
            .unwrap_or_else(|| panic!("{name} is not in the report:\n{report}"));
        assert!(
            case.contains("<error ") && case.contains("type=\"not-run\"") && case.contains("did not run: "),
            "{case}"
        );
    }
    assert!(report.contains("errors=\"6\""), "{report}");
}

#[test]
fn a_forged_role_gets_a_clear_message() {
    let no_bootstrap = fixture_env(&[], &[("MPTEST_ROLE", "worker")]);
    assert_eq!(no_bootstrap.code, Some(2));
    assert!(
        no_bootstrap.stderr.contains("MPTEST_BOOTSTRAP is not set"),
        "{}",
        no_bootstrap.stderr
    );
    let unknown = fixture_env(&[], &[("MPTEST_ROLE", "wizard")]);
    assert_eq!(unknown.code, Some(2));
    assert!(
        unknown.stderr.contains("unknown MPTEST_ROLE=\"wizard\""),
        "{}",
        unknown.stderr
    );
    let me = std::process::id().to_string();
    let nowhere = fixture_env(
        &[],
        &[
            ("MPTEST_ROLE", "worker"),
            ("MPTEST_BOOTSTRAP", "/nonexistent/socket"),
            ("MPTEST_PARENT_PID", &me),
        ],
    );
    assert_eq!(nowhere.code, Some(2));
    assert!(
        nowhere
            .stderr
            .contains("cannot connect to \"/nonexistent/socket\""),
        "{}",
        nowhere.stderr
    );
    let stranger = fixture_env(
        &[],
        &[
            ("MPTEST_ROLE", "worker"),
            ("MPTEST_BOOTSTRAP", "x"),
            ("MPTEST_PARENT_PID", "1"),
        ],
    );
    assert_eq!(stranger.code, Some(2));
    assert!(
        stranger.stderr.contains("parent is not the coordinator"),
        "{}",
        stranger.stderr
    );
}

/// The interrupt fixture, running and waiting: its coordinator, the rest of its output lines,
/// the pids of the test's spawned child and manager (`roles`), and of its worker and the plain
/// child it started (`announced`).
struct WaitingRun {
    dirs: util::RunDirs,
    coordinator: util::KillOnDrop,
    lines: std::sync::mpsc::Receiver<String>,
    roles: Vec<u32>,
    announced: Vec<u32>,
}

fn start_the_interrupt_fixture() -> WaitingRun {
    use std::io::BufRead;
    use std::process::{Command, Stdio};

    let dirs = util::RunDirs::new();
    let mut command = Command::new(env!("CARGO_BIN_EXE_fixture"));
    dirs.apply(&mut command);
    let mut coordinator = util::KillOnDrop(
        command
            .args(["interrupt::", "--nocapture"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let stdout = coordinator.0.stdout.take().unwrap();
    let (lines_tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    let (mut roles, mut announced, mut child_runs) = (Vec::new(), Vec::new(), false);
    // The spawned child says when it runs (named by then) on its own, in any order.
    while roles.is_empty() || announced.is_empty() || !child_runs {
        let line = lines
            .recv_timeout(std::time::Duration::from_secs(30))
            .expect("the test never announced itself");
        // Uncaptured and one at a time, the first line the test prints follows its
        // `test name ... `, as under libtest.
        let line = line.rsplit(" ... ").next().unwrap_or_default();
        if let Some(rest) = line.strip_prefix("roles ") {
            roles = rest.split(' ').map(|p| p.parse::<u32>().unwrap()).collect();
        }
        if let Some(rest) = line.strip_prefix("worker ") {
            announced = rest
                .split(" child ")
                .map(|p| p.parse::<u32>().unwrap())
                .collect::<Vec<_>>();
        }
        child_runs |= line.starts_with("child ") && line.ends_with(" runs");
    }
    WaitingRun {
        dirs,
        coordinator,
        lines,
        roles,
        announced,
    }
}

#[test]
fn an_interrupt_ends_every_process_of_the_run() {
    use std::process::Command;
    use wait_timeout::ChildExt;

    let WaitingRun {
        dirs,
        mut coordinator,
        lines,
        roles,
        announced,
    } = start_the_interrupt_fixture();
    let coordinator = &mut coordinator.0;
    let limit = std::time::Duration::from_secs(30);
    assert!(announced.iter().all(|&p| alive(p)));
    // Every process of the run says in `ps` what it is (argv[0]) and as `comm` what role; a
    // worker has the coordinator's arguments, as a test under libtest sees them.
    let args = |pid: u32| {
        let raw = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
        raw.split(|&b| b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .filter(|a| !a.is_empty())
            .collect::<Vec<_>>()
    };
    let cmdline = |pid: u32| args(pid)[0].clone();
    let comm = |pid: u32| std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap();
    let test = "interrupt::announces_then_waits";
    assert_eq!(
        args(announced[0]),
        [env!("CARGO_BIN_EXE_fixture"), "interrupt::", "--nocapture"]
    );
    assert_eq!(comm(announced[0]), "worker 1\n");
    assert_eq!(cmdline(roles[0]), format!("fixture: child of {test}"));
    assert_eq!(comm(roles[0]), "child of interr\n");
    assert_eq!(cmdline(roles[1]), format!("fixture: manager of {test}"));
    let kill = Command::new("kill")
        .args(["-INT", &coordinator.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = coordinator
        .wait_timeout(limit)
        .unwrap()
        .expect("the coordinator ignored SIGINT");
    assert_eq!(status.code(), Some(101));
    // Until the pipe closes: nothing of the run may hold it open.
    let mut rest = Vec::new();
    while let Ok(line) = lines.recv_timeout(limit) {
        rest.push(line);
    }
    assert!(
        rest.iter().any(|l| l.contains("interrupted by SIGINT")),
        "{rest:?}"
    );
    // The test the interrupt cut short is named, as failed (its `test name ... ` was said
    // when it started, as libtest says it one at a time: its result may follow its output).
    let rest = rest.join("\n");
    assert!(
        rest.contains("FAILED (interrupted by SIGINT")
            && rest.contains(&format!("    {test} (interrupted by SIGINT")),
        "{rest}"
    );
    assert!(rest.contains("0 passed; 1 failed"), "{rest}");
    // Gone, reaped by the coordinator (a subreaper); without one (`mptest_portable`), ended
    // with their process group, and their zombies are init's to reap.
    let ended = |p: u32| {
        if cfg!(mptest_portable) {
            !util::running(p)
        } else {
            !alive(p)
        }
    };
    let left: Vec<String> = announced
        .iter()
        .chain(&roles)
        .filter(|&&p| !ended(p))
        .map(|p| {
            let stat = std::fs::read_to_string(format!("/proc/{p}/stat")).unwrap_or_default();
            format!("{p}: {}", stat.trim())
        })
        .collect();
    assert!(
        left.is_empty(),
        "still there after the run (of {announced:?} {roles:?}; coordinator {}): {left:#?}",
        coordinator.id()
    );
    assert!(dirs.left_in_tmp().is_empty(), "{:?}", dirs.left_in_tmp());
}

#[test]
fn a_tmpdir_that_cannot_hold_sockets_is_one_line_naming_it() {
    let scratch = std::env::temp_dir().join(format!("mptest-bad-tmpdir-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).unwrap();
    let missing = scratch.join("no-such-dir");
    let a_file = scratch.join("a-file");
    std::fs::write(&a_file, "").unwrap();
    for (tmpdir, what) in [(&missing, "does not exist"), (&a_file, "cannot be written")] {
        let run = fixture_env(&["pass::plain"], &[("TMPDIR", tmpdir.to_str().unwrap())]);
        assert_eq!(run.code, Some(101), "{}", run.stderr);
        let expected = format!("mptest: TMPDIR ({}) {what}", tmpdir.display());
        assert!(run.stderr.trim().starts_with(&expected), "{}", run.stderr);
        assert_eq!(run.stderr.trim().lines().count(), 1, "{}", run.stderr);
        assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    }
    std::fs::remove_dir_all(&scratch).unwrap();
}

#[test]
fn a_coordinator_killed_with_sigkill_takes_every_process_of_the_run_along() {
    // The test's worker, its plain child (`sleep`), its spawned child and its manager.
    let run = start_the_interrupt_fixture();
    let mut coordinator = run.coordinator;
    let pids: Vec<u32> = run.roles.iter().chain(&run.announced).copied().collect();
    assert_eq!(pids.len(), 4, "the test never announced itself");
    // Nothing of the coordinator can act on SIGKILL: the anchor notices and ends its group, the
    // spawned child and the manager notice their parent is gone.
    coordinator.0.kill().unwrap();
    coordinator.0.wait().unwrap();
    let limit = std::time::Duration::from_secs(10);
    let left: Vec<u32> = pids
        .iter()
        .copied()
        .filter(|&p| !util::wait_ended(p, limit))
        .collect();
    assert!(
        left.is_empty(),
        "still running after the coordinator was killed: {left:?} of {pids:?}"
    );
}

/// A test sent to a worker ahead, behind a test that turns out long, is taken back for the
/// other worker once that one has nothing left: the first test waits for all three others.
#[test]
fn a_test_waiting_behind_a_long_one_is_taken_back_for_an_idle_worker() {
    // Re-executed workers (the other systems' way) share no memory with the coordinator: what
    // they were sent cannot be taken back (the README's platform table says so).
    if cfg!(mptest_portable) {
        return;
    }
    let dir = std::env::temp_dir().join(format!("mptest-taken-back-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let fifo = dir.join("letters");
    let path = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid path.
    assert_eq!(unsafe { libc::mkfifo(path.as_ptr(), 0o600) }, 0);
    // No timings of earlier runs: nothing is known of the tests, as on a first run.
    let timings = dir.join("timings.txt");
    let run = fixture_env(
        &["taken_back::", "--test-threads", "2", "--order", "declared"],
        &[
            ("FIXTURE_FIFO", fifo.to_str().unwrap()),
            ("MPTEST_TIMINGS", timings.to_str().unwrap()),
        ],
    );
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("4 passed"), "{}", run.stdout);
}

#[test]
fn a_serial_test_runs_alone() {
    let run = fixture_json(&["serial::", "--test-threads", "2", "--order", "declared"]);
    assert_eq!(run.code, Some(0), "{}", run.stdout);
    // Positions of started / finished events in the stream.
    let events = run.events();
    let at = |event: &str, name: &str| {
        events
            .iter()
            .position(|e| {
                e["name"] == name && (e["event"] == event || (event == "done" && e["event"] == "ok"))
            })
            .unwrap_or_else(|| panic!("no {event} for {name}: {}", run.stdout))
    };
    let (start, end) = (at("started", "serial::m_alone"), at("done", "serial::m_alone"));
    assert!(at("done", "serial::a_before") < start, "{}", run.stdout);
    assert!(
        end < at("started", "serial::z_after_1") && end < at("started", "serial::z_after_2"),
        "{}",
        run.stdout
    );
    // The two after it run side by side again.
    assert!(
        at("started", "serial::z_after_2") < at("done", "serial::z_after_1"),
        "{}",
        run.stdout
    );
}

#[test]
fn serial_test_s_serial_runs_alone_whether_it_stands_below_or_above() {
    let run = fixture_json(&[
        "serial_test_crate::",
        "--test-threads",
        "2",
        "--order",
        "declared",
    ]);
    assert_eq!(run.code, Some(0), "{}", run.stdout);
    let events: Vec<(String, String)> = run
        .events()
        .iter()
        .filter(|e| e["type"] == "test" && (e["event"] == "started" || e["event"] == "ok"))
        .map(|e| {
            (
                e["event"].as_str().unwrap_or_default().to_string(),
                e["name"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert_eq!(events.len(), 8, "{}", run.stdout);
    for serial in ["serial_test_crate::m_below", "serial_test_crate::n_above"] {
        let started = events
            .iter()
            .position(|(event, name)| event == "started" && name == serial);
        let ended = events
            .iter()
            .position(|(event, name)| event == "ok" && name == serial);
        let (Some(started), Some(ended)) = (started, ended) else {
            panic!("{serial} did not run: {}", run.stdout);
        };
        // Nothing of another test while it runs.
        assert_eq!(ended, started + 1, "{serial} overlapped another test: {events:?}");
    }
}

#[test]
fn a_serial_test_first_in_line_runs_alone_too() {
    // The serial test first (the longest, by the timings file): the first forked worker is sent
    // it before its hello, and the other worker must get nothing until it is reported.
    let dirs = util::RunDirs::new();
    let file = dirs.scratch.join("timings.txt");
    std::fs::write(
        &file,
        "mptest-timings 3\n9.0\tpass\tserial::m_alone\n0.1\tpass\tserial::a_before\n\
         0.1\tpass\tserial::z_after_1\n0.1\tpass\tserial::z_after_2\n",
    )
    .unwrap();
    let args = [
        "serial::",
        "--test-threads",
        "2",
        "--order",
        "longest",
        "--format",
        "json",
        "-Z",
        "unstable-options",
    ];
    let run = fixture_env(&args, &[("MPTEST_TIMINGS", file.to_str().unwrap())]);
    assert_eq!(run.code, Some(0), "{}", run.stdout);
    let events = run.events();
    let names: Vec<(String, String)> = events
        .iter()
        .filter(|e| e["type"] == "test")
        .map(|e| {
            (
                e["event"].as_str().unwrap_or_default().into(),
                e["name"].as_str().unwrap_or_default().into(),
            )
        })
        .collect();
    let first = names.iter().position(|(event, _)| event == "started").unwrap();
    assert_eq!(names[first].1, "serial::m_alone", "{names:?}");
    let done = names
        .iter()
        .position(|(event, name)| event == "ok" && name == "serial::m_alone")
        .unwrap();
    let others_started = names
        .iter()
        .filter(|(event, name)| event == "started" && name != "serial::m_alone")
        .count();
    let started_before = names[..done]
        .iter()
        .filter(|(event, name)| event == "started" && name != "serial::m_alone")
        .count();
    assert_eq!((others_started, started_before), (3, 0), "{names:?}");
}

#[test]
fn spawned_children_write_into_the_tests_output_and_are_ended_with_it() {
    let run = fixture_json(&["spawned::", "--show-output"]);
    let out = run.field("spawned::child_output_is_captured", "stdout");
    assert!(
        out.contains(" says hi\n") && out.contains("child stderr line"),
        "{out}"
    );
    assert!(out.contains("fail with 6"), "{out}");
    let forgot = run.field("spawned::forgets_a_child", "stdout");
    let pid: u32 = forgot
        .split("forgot child ")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let leftovers = &run.tests()["spawned::forgets_a_child"]["mptest"]["leftovers"];
    assert!(pids_of(leftovers).contains(&pid), "{leftovers}");
    assert!(!alive(pid));
    assert_eq!(
        run.outcome("spawned::killed_at_once_leaves_no_endpoint"),
        "passed",
        "{}",
        run.field("spawned::killed_at_once_leaves_no_endpoint", "stdout")
    );
}

#[test]
fn a_refused_connection_is_reported_in_the_tests_output() {
    let run = fixture_json(&["refusal::is_reported"]);
    let out = run.field("refusal::is_reported", "stdout");
    assert!(
        out.contains("mptest manager: refused a connection from process"),
        "{out}"
    );
    assert!(out.contains("wrong secret"), "{out}");
    assert!(
        out.contains("client saw: the manager refused the connection: wrong secret"),
        "{out}"
    );
}

#[test]
fn libtests_ignore_and_should_panic_next_to_mp_test_are_honoured() {
    let run = fixture_json(&["habits::"]);
    for name in [
        "habits::libtest_ignore",
        "habits::libtest_ignore_with_reason",
        "habits::ignore_written_first",
    ] {
        assert_eq!(run.outcome(name), "ignored", "{name}: {}", run.stdout);
    }
    assert_eq!(
        run.field("habits::libtest_ignore_with_reason", "message"),
        "needs the lab"
    );
    assert_eq!(run.outcome("habits::should_panic_with_the_text"), "passed");
    assert_eq!(run.outcome("habits::should_panic_with_other_text"), "failed");
    let msg = run.field("habits::should_panic_with_other_text", "message");
    assert!(
        msg.contains("panic did not contain expected string") && msg.contains("\"boom\""),
        "{msg}"
    );
    assert_eq!(run.outcome("habits::should_panic_without_panicking"), "failed");
    let ignored = fixture_json(&["habits::libtest_ignore", "--ignored"]);
    assert_eq!(
        ignored.outcome("habits::libtest_ignore"),
        "failed",
        "--ignored runs it"
    );
}

/// Under nextest every test is a process of its own: a `serial` test waits for the others
/// through a lock (here on a directory of this test's own), and never fails because of them.
#[test]
fn under_nextest_a_serial_test_waits_for_the_others() {
    use std::io::BufRead;
    use std::process::{Command, Stdio};
    use wait_timeout::ChildExt;

    let dirs = util::RunDirs::new();
    let nextest = |args: &[&str]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_fixture"));
        dirs.apply(&mut cmd);
        cmd.args(args)
            .args([
                "--exact",
                "--nocapture",
                "--format",
                "json",
                "-Z",
                "unstable-options",
            ])
            .env("NEXTEST_RUN_ID", "selftest-run")
            .env("NEXTEST_WORKSPACE_ROOT", &dirs.scratch)
            .stdout(Stdio::piped());
        util::KillOnDrop(cmd.spawn().unwrap())
    };
    let limit = std::time::Duration::from_secs(30);
    let mut other = nextest(&["slow::half_second"]);
    // Once it has started its test, it holds the shared lock.
    let out = other.0.stdout.take().unwrap();
    let (started_tx, started) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
            if line.contains("\"started\"") && line.contains("slow::half_second") {
                let _ = started_tx.send(());
            }
        }
    });
    started.recv_timeout(limit).expect("the other test never started");
    let mut serial = nextest(&["serial::m_alone"]);
    let serial_status = serial
        .0
        .wait_timeout(limit)
        .unwrap()
        .expect("the serial test hangs");
    let other_done = other.0.try_wait().unwrap();
    assert!(
        serial_status.success(),
        "the serial test failed instead of waiting"
    );
    assert!(
        other_done.is_some(),
        "the serial test finished while the other test still ran"
    );
    assert!(other_done.unwrap().success());
    assert!(dirs.left_in_tmp().is_empty(), "{:?}", dirs.left_in_tmp());
}

#[test]
fn a_group_whose_worker_dies_says_where_the_rest_goes() {
    let run = fixture_json(&["fragile_group::", "--test-threads", "1"]);
    assert_eq!(run.outcome("fragile_group::a_crashes"), "crashed");
    assert_eq!(run.outcome("fragile_group::b_goes_on"), "passed");
    let notices: Vec<String> = run
        .events()
        .iter()
        .filter(|e| e["type"] == "mptest" && e["event"] == "notice")
        .map(|e| e["message"].as_str().unwrap_or_default().to_string())
        .collect();
    assert!(
        notices.iter().any(|n| n
            .contains("group \"fragile\": its worker process died in fragile_group::a_crashes")
            && n.contains("go on in a new worker process")),
        "{notices:?}"
    );
}

/// mptest's JSON events hold libtest's for the same suite, field by field: the twin suite
/// `tests/twin/twin.rs` under libtest against the fixture's `twin` module.
#[test]
fn json_events_match_libtests_field_by_field() {
    use std::collections::BTreeMap;
    use std::process::Command;

    let dirs = util::RunDirs::new();
    let binary = util::libtest_twin(&dirs);
    let mut libtest = Command::new(&binary);
    libtest
        .args([
            "-Z",
            "unstable-options",
            "--format",
            "json",
            "--test-threads",
            "1",
            "twin::",
        ])
        // libtest's JSON is an unstable option; this lets a stable build print it.
        .env("RUSTC_BOOTSTRAP", "1")
        .env("RUST_BACKTRACE", "0");
    let libtest = util::output_within(libtest, util::RUN_LIMIT);
    let libtest: Vec<serde_json::Value> = String::from_utf8_lossy(&libtest.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let ours = fixture_json(&["twin::", "--test-threads", "1"]).events();
    let key = |e: &serde_json::Value| {
        format!(
            "{} {} {}",
            e["type"],
            e["event"],
            e["name"].as_str().unwrap_or("")
        )
    };
    let by_key = |events: &[serde_json::Value]| -> BTreeMap<String, serde_json::Value> {
        events
            .iter()
            .filter(|e| e["type"] != "mptest")
            .map(|e| (key(e), e.clone()))
            .collect()
    };
    // One at a time, the events come in libtest's order: each test started after the one
    // before it ended, ignored ones in their turn.
    let in_order = |events: &[serde_json::Value]| -> Vec<String> {
        events.iter().filter(|e| e["type"] != "mptest").map(key).collect()
    };
    assert_eq!(
        in_order(&libtest),
        in_order(&ours),
        "the events in libtest's order"
    );
    let (theirs, ours) = (by_key(&libtest), by_key(&ours));
    assert_eq!(
        theirs.keys().collect::<Vec<_>>(),
        ours.keys().collect::<Vec<_>>(),
        "the same events for the same tests"
    );
    for (k, expected) in &theirs {
        let got = &ours[k];
        let fields = |v: &serde_json::Value| {
            let mut f: Vec<String> = v
                .as_object()
                .unwrap()
                .keys()
                .filter(|f| *f != "mptest")
                .cloned()
                .collect();
            f.sort();
            f
        };
        assert_eq!(
            fields(expected),
            fields(got),
            "{k}: fields\nlibtest {expected}\nmptest  {got}"
        );
        for field in fields(expected) {
            match field.as_str() {
                // Times differ; the fixture has more tests to filter out than the twin.
                "exec_time" | "filtered_out" => {}
                // What the test printed and the panic's message; not which thread, where
                // (the files differ) or the backtrace.
                "stdout" => {
                    let said = |v: &serde_json::Value| -> Vec<String> {
                        v.as_str()
                            .unwrap()
                            .lines()
                            .take_while(|l| {
                                !l.starts_with("stack backtrace:") && !l.starts_with("note: run with")
                            })
                            .filter(|l| !l.trim().is_empty() && !l.starts_with("thread '"))
                            .map(str::to_string)
                            .collect()
                    };
                    assert_eq!(said(&expected[&field]), said(&got[&field]), "{k}: stdout");
                }
                // libtest names its own file; the fixture's is another.
                "message" if k.contains("does_not_panic") => {
                    let without_place =
                        |v: &serde_json::Value| v.as_str().unwrap().split(" at ").next().unwrap().to_string();
                    assert_eq!(
                        without_place(&expected[&field]),
                        without_place(&got[&field]),
                        "{k}"
                    );
                }
                _ => assert_eq!(expected[&field], got[&field], "{k}: {field}"),
            }
        }
    }
}

#[test]
fn every_attempt_of_a_retried_test_is_reported() {
    let pretty = fixture(&["flaky::"]);
    let out = &pretty.stdout;
    assert!(
        out.contains("---- flaky::passes_second_time stdout (attempt 1 of 3, failed) ----"),
        "{out}"
    );
    assert!(out.contains("first attempt fails"), "{out}");
    assert!(
        out.contains("flaky:\n    flaky::passes_second_time (passed on attempt 2)"),
        "{out}"
    );
    assert!(
        out.contains("---- flaky::always_fails stdout (attempt 1 of 2, failed) ----"),
        "{out}"
    );
    assert!(
        out.contains("---- flaky::always_fails stdout (attempt 2 of 2) ----"),
        "{out}"
    );
    assert_eq!(out.matches("every time").count(), 2, "{out}");
    assert!(out.contains("1 of the passed test(s) flaky"), "{out}");
    assert!(out.contains("test result: FAILED. 1 passed; 1 failed;"), "{out}");

    let json = fixture_json(&["flaky::"]);
    let events = json.events();
    let failed_attempts: Vec<_> = events
        .iter()
        .filter(|e| e["type"] == "mptest" && e["event"] == "attempt_failed")
        .collect();
    assert_eq!(failed_attempts.len(), 2, "{}", json.stdout);
    let first = failed_attempts
        .iter()
        .find(|e| e["name"] == "flaky::passes_second_time")
        .unwrap();
    assert_eq!(
        (first["attempt"].as_u64(), first["of"].as_u64()),
        (Some(1), Some(3))
    );
    assert!(
        first["stdout"].as_str().unwrap().contains("first attempt fails"),
        "{first}"
    );
    let started = |name: &str| {
        events
            .iter()
            .filter(|e| e["type"] == "test" && e["event"] == "started" && e["name"] == name)
            .count()
    };
    assert_eq!(
        started("flaky::passes_second_time"),
        1,
        "libtest starts a test once"
    );
    assert_eq!(json.suite_end()["mptest"]["flaky"], 1);
}

#[test]
fn terse_output_keeps_its_row_and_its_notes() {
    let run = fixture(&[
        "flaky::passes_second_time",
        "leak::background_child",
        "pass::plain",
        "-q",
    ]);
    let out = &run.stdout;
    assert!(out.contains("\nrunning 3 tests\n...\n"), "{out}");
    assert!(!out.contains("retrying"), "{out}");
    assert!(
        out.contains("\nnote: leak::background_child left 1 process(es) running, which were ended:"),
        "{out}"
    );
}

#[test]
fn an_auxiliarys_output_is_in_the_tests_report_under_its_name() {
    let run = fixture_json(&["aux_output::", "--show-output"]);
    assert_eq!(
        run.outcome("aux_output::is_in_the_report"),
        "passed",
        "{}",
        run.stdout
    );
    let out = run.field("aux_output::is_in_the_report", "stdout");
    assert!(out.contains("[Talker] hello from the aux\n"), "{out}");
    assert!(out.contains("[Talker] err: hello from the aux\n"), "{out}");
    assert!(out.contains("the test's own line"), "{out}");
}

#[test]
fn log_records_of_every_process_are_in_the_report() {
    let run = fixture_json(&["logging::"]);
    let test = &run.tests()["logging::child_logs_then_the_test_fails"];
    assert_eq!(test["mptest"]["outcome"], "failed", "{}", run.stdout);
    let logs: Vec<(String, String, String, String)> = test["mptest"]["logs"]
        .as_array()
        .unwrap_or_else(|| panic!("no mptest.logs: {test}"))
        .iter()
        .map(|r| {
            let s = |k: &str| r[k].as_str().unwrap_or_default().to_string();
            (s("level"), s("target"), s("message"), s("role"))
        })
        .collect();
    let expect = |level: &str, target: &str, message: &str, role: &str| {
        (
            level.to_string(),
            target.to_string(),
            message.to_string(),
            role.to_string(),
        )
    };
    assert_eq!(
        logs,
        [
            expect("INFO", "fixture::child", "from the child", "child"),
            expect("WARN", "fixture::child", "a tracing event", "child"),
            expect("ERROR", "fixture::test", "from the test itself", "worker"),
        ],
        "info and above by default, tracing too"
    );
    // On the console, with the failure's output.
    let out = run.field("logging::child_logs_then_the_test_fails", "stdout");
    assert!(out.contains("] INFO fixture::child: from the child"), "{out}");
    assert!(out.contains("[child "), "{out}");

    // The test's own process crashed right after logging: the record is in its output.
    let crashed = "logging::the_test_process_crashes_right_after_logging";
    assert_eq!(run.outcome(crashed), "crashed");
    let out = run.field(crashed, "stdout");
    assert!(
        out.contains("ERROR fixture::test: last words of the worker"),
        "{out}"
    );

    // RUST_LOG's syntax picks the levels, per target.
    let run = fixture_env(
        &[
            "logging::child_logs",
            "--format",
            "json",
            "-Z",
            "unstable-options",
        ],
        &[("RUST_LOG", "warn,fixture::child=debug")],
    );
    let test = &run.tests()["logging::child_logs_then_the_test_fails"];
    let messages: Vec<&str> = test["mptest"]["logs"]
        .as_array()
        .unwrap_or_else(|| panic!("no mptest.logs: {test}"))
        .iter()
        .map(|r| r["message"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        messages,
        [
            "a detail",
            "from the child",
            "a tracing event",
            "from the test itself"
        ]
    );
}

/// The order the tests of a JSON run started in.
fn started(run: &util::Run) -> Vec<String> {
    run.events()
        .iter()
        .filter(|e| e["type"] == "test" && e["event"] == "started")
        .map(|e| e["name"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn the_longest_tests_go_first_from_the_second_run_on() {
    let dir = std::env::temp_dir().join(format!("mptest-order-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let timings = dir.join("timings.txt");
    let timings = timings.to_str().unwrap();
    let json = [
        "ordering::",
        "--test-threads",
        "1",
        "--format",
        "json",
        "-Z",
        "unstable-options",
    ];
    let declared = ["ordering::c_short", "ordering::a_medium", "ordering::b_long"];
    let by_name = ["ordering::a_medium", "ordering::b_long", "ordering::c_short"];
    let longest = ["ordering::b_long", "ordering::a_medium", "ordering::c_short"];
    let with = |extra: &[&str]| {
        let mut args = json.to_vec();
        args.extend(extra);
        started(&fixture_env(&args, &[("MPTEST_TIMINGS", timings)]))
    };

    let longest_first = |extra: &[&str]| {
        let mut args = json.to_vec();
        args.extend(["--order", "longest"]);
        args.extend(extra);
        fixture_env(&args, &[("MPTEST_TIMINGS", timings)])
    };
    // First run: nothing known, nothing said; equal, so by name, as libtest hands them out.
    let first = longest_first(&[]);
    assert!(!first.stderr.contains("mptest:"), "{}", first.stderr);
    assert_eq!(started(&first), by_name);
    // Second run: the longest first.
    assert_eq!(started(&longest_first(&[])), longest);
    // Not asked for, one at a time: longest first shortens nothing, so libtest's order.
    assert_eq!(with(&[]), by_name);
    // Asked for, the declared order; and a random one repeats with its seed.
    assert_eq!(with(&["--order", "declared"]), declared);
    let a = with(&["--order", "random", "--seed", "42"]);
    assert_eq!(a, with(&["--order", "random", "--seed", "42"]));
    // A corrupt file: a one-line notice, and the run goes on.
    std::fs::write(timings, "{ not json").unwrap();
    let corrupt = longest_first(&[]);
    assert_eq!(corrupt.code, Some(0), "{}", corrupt.stderr);
    assert_eq!(
        corrupt.stderr.matches("ignoring").count(),
        1,
        "{}",
        corrupt.stderr
    );
    assert_eq!(started(&corrupt), by_name);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Runs these fixture tests (`--exact`, one worker, JSON) with the timings file `file`.
fn with_timings(file: &str, names: &[&str], extra: &[&str]) -> util::Run {
    let mut args = vec![
        "--exact",
        "--test-threads",
        "1",
        "--format",
        "json",
        "-Z",
        "unstable-options",
    ];
    args.extend(names);
    args.extend(extra);
    fixture_env(&args, &[("MPTEST_TIMINGS", file)])
}

fn ran(run: &util::Run) -> Vec<String> {
    run.tests().keys().cloned().collect()
}

#[test]
fn last_failed_reruns_what_failed_and_failed_first_runs_it_first() {
    let dirs = util::RunDirs::new();
    let file = dirs.scratch.join("timings.txt");
    let file = file.to_str().unwrap();
    let names = ["pass::plain", "fail::panics", "crash::aborts", "pass::result_ok"];
    // Nothing recorded yet: every selected test runs, and the notice says why.
    let first = with_timings(file, &names, &["--last-failed"]);
    assert_eq!(ran(&first).len(), 4, "{}", first.stdout);
    assert!(
        first.stderr.contains(&format!(
            "mptest: --last-failed: no results of an earlier run (no run of this binary has written {file} yet); running every selected test"
        )),
        "{}",
        first.stderr
    );
    // Then the failure and the crash of that run, only; the others count as filtered out.
    let again = with_timings(file, &names, &["--lf"]);
    assert_eq!(ran(&again), ["crash::aborts", "fail::panics"]);
    assert!(
        again.stderr.contains(
            "mptest: --last-failed: running the 2 test(s) that failed the last time they ran (2 left out)"
        ),
        "{}",
        again.stderr
    );
    let filtered = |run: &util::Run| run.suite_end()["filtered_out"].as_u64().unwrap();
    assert_eq!(filtered(&again), filtered(&first) + 2, "{}", again.stdout);
    // --list shows what --last-failed would run.
    let mut list = vec!["--list", "--exact", "--lf"];
    list.extend(names);
    let listed = fixture_env(&list, &[("MPTEST_TIMINGS", file)]);
    assert!(
        listed
            .stdout
            .starts_with("crash::aborts: test\nfail::panics: test\n\n2 tests"),
        "{}",
        listed.stdout
    );
    // --failed-first: all four, the two that failed ahead.
    let ff = with_timings(file, &names, &["--failed-first"]);
    let order = started(&ff);
    assert_eq!(order.len(), 4, "{order:?}");
    let mut ahead = order[..2].to_vec();
    ahead.sort();
    assert_eq!(ahead, ["crash::aborts", "fail::panics"], "{order:?}");
    assert!(
        ff.stderr
            .contains("the 2 test(s) that failed the last time they ran go first"),
        "{}",
        ff.stderr
    );
    // A test that passes on its rerun is no longer a failure: the next --last-failed finds none
    // of these and runs them all, saying so.
    let text = std::fs::read_to_string(file).unwrap();
    assert!(text.starts_with("mptest-timings 3\n"), "{text}");
    std::fs::write(file, text.replace("\tpass\tpass::plain", "\tfail\tpass::plain")).unwrap();
    let rerun = with_timings(file, &["pass::plain"], &["--lf"]);
    assert_eq!(ran(&rerun), ["pass::plain"]);
    let after = with_timings(file, &["pass::plain", "pass::result_ok"], &["--lf"]);
    assert_eq!(ran(&after), ["pass::plain", "pass::result_ok"]);
    assert!(
        after
            .stderr
            .contains("none of the selected tests failed the last time it ran; running every selected test"),
        "{}",
        after.stderr
    );
}

#[test]
fn time_shards_split_by_recorded_durations_and_leave_them_as_they_were() {
    let dirs = util::RunDirs::new();
    let file = dirs.scratch.join("timings.txt");
    let file = file.to_str().unwrap();
    let filters = ["pass::", "grouped::", "ordering::"];
    let listed = |extra: &[&str]| -> Vec<String> {
        let mut args = filters.to_vec();
        args.push("--list");
        args.extend(extra);
        let run = fixture_env(&args, &[("MPTEST_TIMINGS", file)]);
        assert_eq!(run.code, Some(0), "{}", run.stderr);
        run.stdout
            .lines()
            .filter_map(|l| l.strip_suffix(": test"))
            .map(str::to_string)
            .collect()
    };
    let everything = listed(&[]);
    // No durations yet: split by hash, and said so.
    let mut args = filters.to_vec();
    args.extend(["--partition", "time:1/3"]);
    let unknown = fixture_env(&args, &[("MPTEST_TIMINGS", file)]);
    assert!(
        unknown
            .stderr
            .contains("mptest: --partition time: no durations of earlier runs"),
        "{}",
        unknown.stderr
    );
    // Durations as a file records them: each test its place in the list, in seconds.
    let recorded: String = everything
        .iter()
        .enumerate()
        .map(|(i, name)| format!("{}\tpass\t{name}\n", i + 1))
        .collect();
    std::fs::write(file, format!("mptest-timings 3\n{recorded}")).unwrap();
    let mut union = Vec::new();
    for m in 1..=3 {
        let partition = format!("time:{m}/3");
        let shard = listed(&["--partition", &partition]);
        let mut args = filters.to_vec();
        args.extend([
            "--partition",
            &partition,
            "--format",
            "json",
            "-Z",
            "unstable-options",
        ]);
        let run = fixture_env(&args, &[("MPTEST_TIMINGS", file)]);
        let mut names = ran(&run);
        names.extend(
            run.events()
                .iter()
                .filter(|e| e["event"] == "ignored")
                .map(|e| e["name"].as_str().unwrap().to_string()),
        );
        names.sort();
        names.dedup();
        let mut sorted = shard.clone();
        sorted.sort();
        assert_eq!(sorted, names, "{partition}: listed and run");
        union.extend(shard);
    }
    union.sort();
    let mut all = everything.clone();
    all.sort();
    assert_eq!(union, all, "the shards together: every test once");
    // The shards did not change the durations they were split by.
    let after = std::fs::read_to_string(file).unwrap();
    for (i, name) in everything.iter().enumerate() {
        assert!(
            after.contains(&format!("{}\tpass\t{name}\n", i + 1)),
            "{name}: {after}"
        );
    }
}

#[test]
fn a_group_test_failing_under_nextest_says_groups_share_no_process_there() {
    // As nextest runs it: one test, by its exact name, in a process of its own.
    let run = fixture_env(
        &["grouped::b_same_pid", "--exact", "--nocapture"],
        &[("NEXTEST_RUN_ID", "00000000-0000-0000-0000-000000000000")],
    );
    assert_eq!(run.code, Some(101), "{}", run.stdout);
    let all = format!("{}{}", run.stdout, run.stderr);
    assert!(
        all.contains("grouped::b_same_pid is in group \"shared\", and under cargo-nextest every test runs in a process of its own"),
        "{all}"
    );
}

#[test]
fn under_bazel_timings_go_to_its_undeclared_outputs_or_nowhere() {
    let outputs = std::env::temp_dir().join(format!("mptest-bazel-outputs-{}", std::process::id()));
    std::fs::create_dir_all(&outputs).unwrap();
    let bazel = [
        ("TEST_SRCDIR", "/nonexistent/runfiles"),
        ("TEST_TARGET", "//selftest:fixture"),
    ];
    let mut env = bazel.to_vec();
    env.push(("TEST_UNDECLARED_OUTPUTS_DIR", outputs.to_str().unwrap()));
    let run = fixture_env(&["pass::plain", "pass::result_ok"], &env);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let file = outputs.join("mptest-timings").join("fixture.txt");
    let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    assert!(
        text.contains("\tpass::plain") && text.contains("\tpass::result_ok"),
        "{text}"
    );
    // Without the variable: no file, and nothing to say about it.
    let run = fixture_env(&["pass::plain"], &bazel);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(!run.stderr.contains("mptest-timings"), "{}", run.stderr);
    std::fs::remove_dir_all(&outputs).unwrap();
}

#[test]
fn list_shows_what_each_shard_runs() {
    let listed = |run: util::Run| -> Vec<String> {
        assert_eq!(run.code, Some(0), "{}", run.stderr);
        let mut names: Vec<String> = run
            .stdout
            .lines()
            .filter_map(|l| l.strip_suffix(": test"))
            .map(str::to_string)
            .collect();
        names.sort();
        names
    };
    let everything = listed(fixture(&["pass::", "grouped::", "--list"]));
    for kind in ["hash", "count"] {
        let mut union = Vec::new();
        for m in [1, 2] {
            let partition = format!("{kind}:{m}/2");
            let shard = listed(fixture(&[
                "pass::",
                "grouped::",
                "--list",
                "--partition",
                &partition,
            ]));
            let mut ran: Vec<String> = fixture_json(&["pass::", "grouped::", "--partition", &partition])
                .tests()
                .keys()
                .cloned()
                .collect();
            ran.sort();
            assert_eq!(shard, ran, "{partition}: listed and run");
            union.extend(shard);
        }
        union.sort();
        assert_eq!(union, everything, "{kind}: the shards' lists together");
    }
    // Bazel's shard variables as `--partition count:M/N`.
    let bazel = listed(fixture_env(
        &["pass::", "grouped::", "--list"],
        &[("TEST_TOTAL_SHARDS", "2"), ("TEST_SHARD_INDEX", "1")],
    ));
    assert_eq!(
        bazel,
        listed(fixture(&[
            "pass::",
            "grouped::",
            "--list",
            "--partition",
            "count:2/2"
        ]))
    );
}

#[test]
fn shards_together_are_the_suite_each_test_once() {
    let all = fixture_json(&["pass::", "grouped::"]);
    let mut whole: Vec<String> = all.tests().keys().cloned().collect();
    whole.sort();
    for kind in ["hash", "slice"] {
        let mut union = Vec::new();
        for m in 1..=3 {
            let partition = format!("{kind}:{m}/3");
            let run = fixture_json(&["pass::", "grouped::", "--partition", &partition]);
            let names: Vec<String> = run.tests().keys().cloned().collect();
            let grouped: Vec<&String> = names.iter().filter(|n| n.starts_with("grouped::")).collect();
            assert!(
                grouped.is_empty()
                    || grouped.len() == all.tests().keys().filter(|n| n.starts_with("grouped::")).count(),
                "{partition}: a group was split: {names:?}"
            );
            union.extend(names);
        }
        union.sort();
        assert_eq!(union, whole, "{kind}: the shards together");
    }
    // Bazel's protocol: the shard from its variables, and the status file touched; its
    // `TEST_TMPDIR` as long as Bazel's (130 to 142 characters).
    let dir = std::env::temp_dir().join(format!("mptest-bazel-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let status = dir.join("shard-status");
    let bazel_tmp = dir.join(format!(
        "_bazel_user/{}/execroot/__main__/_tmp/{}",
        "a".repeat(32),
        "b".repeat(52)
    ));
    std::fs::create_dir_all(&bazel_tmp).unwrap();
    assert!(bazel_tmp.as_os_str().len() >= 140, "{}", bazel_tmp.display());
    let mut union = Vec::new();
    for index in ["0", "1"] {
        let run = fixture_env(
            &[
                "pass::",
                "--format",
                "json",
                "-Z",
                "unstable-options",
                "--test-threads",
                "2",
            ],
            &[
                ("TEST_TOTAL_SHARDS", "2"),
                ("TEST_SHARD_INDEX", index),
                ("TEST_SHARD_STATUS_FILE", status.to_str().unwrap()),
                ("TEST_TMPDIR", bazel_tmp.to_str().unwrap()),
            ],
        );
        assert_eq!(
            run.suite_end()["failed"].as_u64(),
            Some(0),
            "{}\n{}",
            run.stdout,
            run.stderr
        );
        union.extend(run.tests().keys().cloned());
    }
    assert!(status.exists(), "TEST_SHARD_STATUS_FILE was not touched");
    union.sort();
    let mut pass: Vec<String> = fixture_json(&["pass::"]).tests().keys().cloned().collect();
    pass.sort();
    assert_eq!(union, pass);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_junit_report_is_read_by_an_independent_reader() {
    let dir = std::env::temp_dir().join(format!("mptest-junit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let xml = dir.join("report.xml");
    let run = fixture(&[
        "pass::",
        "fail::panics",
        "crash::aborts",
        "flaky::",
        "logging::child_logs",
        "leak::background_child",
        "--junit",
        xml.to_str().unwrap(),
    ]);
    assert_eq!(run.code, Some(101), "{}", run.stdout);
    // Valid for the Jenkins xunit plugin, which refuses a report its schema refuses.
    if let Err(why) = util::validate_junit(&xml) {
        panic!(
            "not valid for junit-10.xsd: {why}\n{}",
            std::fs::read_to_string(&xml).unwrap()
        );
    }
    // junitparser (PyPI), not ours: every case with its result and output.
    let script = r#"
import sys
from junitparser import JUnitXml, Failure, Error, Skipped
xml = JUnitXml.fromfile(sys.argv[1])
for suite in xml:
    print("suite", suite.name, suite.tests)
    for case in suite:
        kinds = ",".join(type(r).__name__ + ":" + (r.type or "") for r in case.result) or "passed"
        flaky = len(case._elem.findall("flakyFailure"))
        reruns = len(case._elem.findall("rerunFailure"))
        out = (case.system_out or "").replace("\n", "|")[:4000]
        err = (case.system_err or "").replace("\n", "|")[:4000]
        print(f"case {case.name} {kinds} time={case.time > 0 or case.time == 0} flaky={flaky} reruns={reruns} out={out} err={err}")
"#;
    let out = std::process::Command::new(util::peers_python())
        .arg("-c")
        .arg(script)
        .arg(&xml)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(&format!("case {name} ")))
            .unwrap_or_else(|| panic!("no case {name}:\n{text}"))
            .to_string()
    };
    assert!(text.starts_with("suite fixture "), "{text}");
    assert!(line("pass::plain").contains(" passed "), "{text}");
    assert!(line("pass::ignored_plain").contains("Skipped:"), "{text}");
    assert!(line("fail::panics").contains("Failure:failed"), "{text}");
    assert!(line("crash::aborts").contains("Error:crashed"), "{text}");
    let flaky = line("flaky::passes_second_time");
    assert!(flaky.contains(" passed ") && flaky.contains("flaky=1"), "{flaky}");
    let always = line("flaky::always_fails");
    assert!(
        always.contains("Failure:failed") && always.contains("reruns=1"),
        "{always}"
    );
    // Each log record once: in system-out, where the test's output has it as it came.
    let logged = line("logging::child_logs_then_the_test_fails");
    assert!(
        logged.contains("[child ") && logged.contains("from the child") && logged.ends_with(" err="),
        "log records once, in system-out: {logged}"
    );
    assert_eq!(logged.matches("from the child").count(), 1, "{logged}");
    assert!(
        line("pass::prints_from_a_child_process").contains("child says hi"),
        "{text}"
    );
    // A process the test left running is named in its system-err.
    let leak = line("leak::background_child");
    assert!(
        leak.contains(" passed ")
            && leak.contains("err=mptest: left running at the test's end, ended: ")
            && leak.contains("(sleep 1000)"),
        "{leak}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn run_policies_retries_flaky_and_leak_results_fail_fast_and_limits() {
    // --retries: a failing test runs again (its own `retries` wins where it has one).
    let run = fixture_json(&["fail::panics", "--exact", "--retries", "2"]);
    let retried = run
        .events()
        .iter()
        .filter(|e| e["event"] == "retry_started")
        .count();
    assert_eq!(retried, 2, "{}", run.stdout);
    // A crashed attempt is retried too.
    let run = fixture_json(&["crash::aborts", "--retries", "1"]);
    assert_eq!(
        run.events()
            .iter()
            .filter(|e| e["event"] == "retry_started")
            .count(),
        1,
        "{}",
        run.stdout
    );

    // --flaky-result fail: a pass on a retry fails the run.
    assert_eq!(fixture(&["flaky::passes_second_time"]).code, Some(0));
    let run = fixture_json(&["flaky::passes_second_time", "--flaky-result", "fail"]);
    assert_eq!(run.code, Some(101));
    assert_eq!(run.outcome("flaky::passes_second_time"), "failed");
    assert!(
        run.stdout.contains("--flaky-result fail makes that a failure"),
        "{}",
        run.stdout
    );

    // --leak-result fail: a test that leaves a process behind fails.
    assert_eq!(fixture(&["leak::background_child"]).code, Some(0));
    let run = fixture_json(&["leak::background_child", "--leak-result", "fail"]);
    assert_eq!(run.code, Some(101), "{}", run.stdout);
    assert_eq!(run.outcome("leak::background_child"), "failed");

    // --fail-fast: nothing new starts after the first failure.
    let run = fixture(&[
        "fail::",
        "pass::",
        "--fail-fast",
        "--test-threads",
        "1",
        "--order",
        "declared",
    ]);
    assert_eq!(run.code, Some(101));
    assert!(
        run.stdout
            .contains("did not run: --fail-fast stops at the first failure"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("test result: FAILED. 6 passed; 1 failed;"),
        "{}",
        run.stdout
    );

    // --run-timeout: the run ends, the running test is reported, the rest do not run.
    let run = fixture(&[
        "hang::",
        "pass::",
        "--run-timeout",
        "1s",
        "--test-threads",
        "1",
        "--timeout",
        "60",
        "--order",
        "declared",
    ]);
    assert_eq!(run.code, Some(101), "{}", run.stdout);
    assert!(
        run.elapsed < std::time::Duration::from_secs(20),
        "{:?}",
        run.elapsed
    );
    assert!(
        run.stdout.contains("ended by --run-timeout after 1s"),
        "{}",
        run.stdout
    );
    // The test it cut short is interrupted (not crashed), and counted so.
    assert!(
        run.stdout.contains("FAILED (ended by --run-timeout after 1s)") && !run.stdout.contains("crashed"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("1 interrupted"), "{}", run.stdout);

    // --max-worker-restarts: crashes past the limit stop the run with a clear message.
    let run = fixture(&["crash::", "--max-worker-restarts", "1", "--test-threads", "1"]);
    assert_eq!(run.code, Some(101), "{}", run.stdout);
    let all = format!("{}{}", run.stdout, run.stderr);
    assert!(all.contains("--max-worker-restarts 1 stops the run"), "{all}");
}

#[test]
fn the_summary_counts_failures_by_kind_and_names_leaks_and_the_slowest() {
    let run = fixture(&[
        "fail::",
        "crash::aborts",
        "leak::background_child",
        "slowest::",
        "pass::plain",
    ]);
    let out = &run.stdout;
    let summary = out
        .split("\nsummary:\n")
        .nth(1)
        .unwrap_or_else(|| panic!("no summary:\n{out}"));
    assert!(
        summary.contains("1 crashed") && summary.contains("1 panicked") && summary.contains("1 returned Err"),
        "{summary}"
    );
    assert!(
        summary.contains("left processes running: leak::background_child (1)"),
        "{summary}"
    );
    assert!(
        summary.contains("slowest: slowest::a_second_and_more (1."),
        "{summary}"
    );
    // libtest's closing line stays as it is, after the summary.
    assert!(summary.contains("\ntest result: FAILED."), "{summary}");
    // A clean, quick run prints what libtest prints: no summary.
    assert!(!fixture(&["pass::"]).stdout.contains("summary:"));
}

/// Starts the fixture on `interrupt::` with these extra arguments; returns it and the lines of
/// its stdout, once the test has announced itself (its processes are running).
fn interruptible(
    dirs: &util::RunDirs,
    extra: &[&str],
    stderr: std::process::Stdio,
) -> (util::KillOnDrop, std::sync::mpsc::Receiver<String>) {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_fixture"));
    dirs.apply(&mut command);
    // Durations of earlier runs, if the test left some: the run orders by them.
    let timings = dirs.scratch.join("timings.txt");
    if timings.exists() {
        command.env("MPTEST_TIMINGS", &timings);
    }
    let (coordinator, lines) = util::spawn_with_lines(
        command
            .args(["interrupt::", "--nocapture"])
            .args(extra)
            .stderr(stderr),
    );
    loop {
        let line = lines
            .recv_timeout(std::time::Duration::from_secs(30))
            .expect("the test never announced itself");
        // (After its `test name ... `: uncaptured, one at a time, as under libtest.)
        if line
            .rsplit(" ... ")
            .next()
            .is_some_and(|l| l.starts_with("worker "))
        {
            return (coordinator, lines);
        }
    }
}

#[test]
fn an_interrupted_run_writes_its_partial_junit_and_ends_within_seconds() {
    use wait_timeout::ChildExt;
    let limit = std::time::Duration::from_secs(10);
    let dirs = util::RunDirs::new();
    let xml = dirs.scratch.join("partial.xml");
    let (mut coordinator, _lines) = interruptible(
        &dirs,
        &["--junit", xml.to_str().unwrap()],
        std::process::Stdio::inherit(),
    );
    let started = std::time::Instant::now();
    assert!(std::process::Command::new("kill")
        .args(["-INT", &coordinator.0.id().to_string()])
        .status()
        .unwrap()
        .success());
    let status = coordinator
        .0
        .wait_timeout(limit)
        .unwrap()
        .expect("the run did not end after SIGINT");
    assert_eq!(status.code(), Some(101));
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let report = std::fs::read_to_string(&xml).expect("no partial JUnit report");
    assert!(
        report.contains("interrupt::announces_then_waits") && report.contains("interrupted by SIGINT"),
        "{report}"
    );
    // Its own outcome, not a crash: an error of type `interrupted`.
    assert!(
        report.contains(r#"type="interrupted""#) && !report.contains(r#"type="crashed""#),
        "{report}"
    );

    // Twice in a row: the run ends at once and nothing is left. (Two SIGINTs this close are one
    // to the kernel, so this does not show the second-interrupt path itself: the orderly end is
    // too quick to interrupt in a test.)
    let errors = dirs.scratch.join("stderr.txt");
    let (mut coordinator, _lines) = interruptible(&dirs, &[], std::fs::File::create(&errors).unwrap().into());
    let pid = coordinator.0.id() as i32;
    let started = std::time::Instant::now();
    for _ in 0..2 {
        // SAFETY: signalling our own child.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
    }
    let status = coordinator
        .0
        .wait_timeout(limit)
        .unwrap()
        .expect("the run did not end after two SIGINTs");
    assert!(!status.success());
    assert!(
        started.elapsed() < std::time::Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    let left = dirs.left_in_tmp();
    assert!(
        left.is_empty() || left.iter().all(|l| l.starts_with("mptest-")),
        "{left:?}"
    );
}

/// The scheduler hears the first interrupt itself (no thread waits for signals in a run that
/// is never interrupted). When it is stuck — here writing a failed test's 100 MiB of output to
/// a stdout nobody reads, while another test waits in its worker with processes of its own — a
/// second interrupt still ends the run at once, and every process of it.
#[test]
fn a_second_interrupt_ends_a_run_whose_scheduler_is_stuck() {
    use wait_timeout::ChildExt;
    let dirs = util::RunDirs::new();
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_fixture"));
    dirs.apply(&mut command);
    // Its stdout a pipe we never read: the report of `huge` fills it and the scheduler blocks.
    let mut coordinator = util::KillOnDrop(
        command
            .args([
                "output::huge",
                "interrupt::announces_then_waits",
                "--exact",
                "--test-threads",
                "2",
            ])
            // JSON: a failed test's output is in its event, written as it ends.
            .args(["-Zunstable-options", "--format", "json"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let pid = coordinator.0.id();
    let until = |what: &str, limit: std::time::Duration, done: &dyn Fn() -> bool| {
        let deadline = std::time::Instant::now() + limit;
        while !done() {
            assert!(std::time::Instant::now() < deadline, "{what} within {limit:?}");
            std::thread::yield_now();
        }
    };
    // Blocked in write(2) on its stdout (system call 1, descriptor 1).
    let in_write_to_stdout = || {
        std::fs::read_to_string(format!("/proc/{pid}/syscall"))
            .is_ok_and(|s| s.split_whitespace().take(2).eq(["1", "0x1"]))
    };
    until(
        "the scheduler blocked writing its report",
        std::time::Duration::from_secs(120),
        &in_write_to_stdout,
    );
    // Every process below it: the workers, and what the other test started.
    let below = || {
        let parents: Vec<(u32, u32)> = std::fs::read_dir("/proc")
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
            .filter_map(|p: u32| {
                let stat = std::fs::read_to_string(format!("/proc/{p}/stat")).ok()?;
                Some((
                    p,
                    stat.rsplit(')').next()?.split_whitespace().nth(1)?.parse().ok()?,
                ))
            })
            .collect();
        let mut below = vec![pid];
        let mut i = 0;
        while i < below.len() {
            let parent = below[i];
            below.extend(parents.iter().filter(|(_, pp)| *pp == parent).map(|(p, _)| *p));
            i += 1;
        }
        below.split_off(1)
    };
    // The other test starts `sleep` last, after its child and its manager.
    let sleeping = || {
        below()
            .iter()
            .any(|p| std::fs::read_to_string(format!("/proc/{p}/comm")).is_ok_and(|c| c.trim() == "sleep"))
    };
    until(
        "the other test's processes running",
        std::time::Duration::from_secs(60),
        &sleeping,
    );
    let below = below();
    let sigint_pending = || {
        std::fs::read_to_string(format!("/proc/{pid}/status")).is_ok_and(|status| {
            status
                .lines()
                .filter(|l| l.starts_with("SigPnd:") || l.starts_with("ShdPnd:"))
                .any(|l| u64::from_str_radix(l[7..].trim(), 16).unwrap_or(0) & (1 << (libc::SIGINT - 1)) != 0)
        })
    };
    // SAFETY: signalling our own child.
    assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGINT) }, 0);
    // Caught (no longer pending): the next one is a second, not the same one again.
    until(
        "the first SIGINT caught",
        std::time::Duration::from_secs(10),
        &|| !sigint_pending(),
    );
    // Its handler done (for a moment the process is in it, not in the write), the write goes on.
    until(
        "the scheduler back in its write after the first SIGINT",
        std::time::Duration::from_secs(10),
        &in_write_to_stdout,
    );
    // SAFETY: as above.
    assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGINT) }, 0);
    let status = coordinator
        .0
        .wait_timeout(std::time::Duration::from_secs(10))
        .unwrap()
        .expect("the stuck run did not end at the second SIGINT");
    assert!(!status.success(), "{status:?}");
    for process in below {
        assert!(
            util::wait_ended(process, std::time::Duration::from_secs(10)),
            "process {process} outlived the interrupted run"
        );
    }
}

/// Bazel's `--test_timeout` ends a test binary with SIGTERM: the JUnit file still holds every
/// selected test, those that never ran as errors saying why, so no dashboard shows green.
#[test]
fn a_terminated_run_lists_every_test_it_did_not_run_in_its_junit() {
    use wait_timeout::ChildExt;
    let dirs = util::RunDirs::new();
    let xml = dirs.scratch.join("terminated.xml");
    // One worker: the interrupt test holds it, the six `pass::` tests wait behind it — it goes
    // first, as the longest by the durations recorded here.
    let pass = [
        "plain",
        "result_ok",
        "prints_from_a_child_process",
        "should_panic_any",
        "should_panic_with_text",
        "with_generous_timeout",
    ];
    let recorded: String = pass.iter().map(|t| format!("0.001\tpass\tpass::{t}\n")).collect();
    std::fs::write(
        dirs.scratch.join("timings.txt"),
        format!("mptest-timings 3\n100\tpass\tinterrupt::announces_then_waits\n{recorded}"),
    )
    .unwrap();
    let (mut coordinator, _lines) = interruptible(
        &dirs,
        &["pass::", "--test-threads", "1", "--junit", xml.to_str().unwrap()],
        std::process::Stdio::inherit(),
    );
    // SAFETY: signalling our own child.
    assert_eq!(unsafe { libc::kill(coordinator.0.id() as i32, libc::SIGTERM) }, 0);
    let status = coordinator
        .0
        .wait_timeout(std::time::Duration::from_secs(10))
        .unwrap()
        .expect("the run did not end after SIGTERM");
    assert_eq!(status.code(), Some(101));
    let report = std::fs::read_to_string(&xml).expect("no JUnit report");
    // Nine selected: the interrupted one, six that never ran, two ignored (skipped).
    assert!(
        report.contains(r#"tests="9" skipped="2" failures="0" errors="7""#),
        "{report}"
    );
    for name in pass.map(|t| format!("pass::{t}")) {
        let case = report
            .split("<testcase ")
            .find(|case| case.contains(&format!("name=\"{name}\"")))
            .unwrap_or_else(|| panic!("{name} is not in the report:\n{report}"));
        assert!(
            case.contains(r#"type="not-run""#) && case.contains("SIGTERM"),
            "{case}"
        );
    }
}

/// Runs the fixture in a real pseudo-terminal (util-linux's `script`); what the terminal got.
fn in_a_terminal(args: &[&str]) -> String {
    let dirs = util::RunDirs::new();
    let mut line = env!("CARGO_BIN_EXE_fixture").to_string();
    for arg in args {
        line.push(' ');
        line.push_str(arg);
    }
    let mut command = std::process::Command::new("script");
    dirs.apply(&mut command);
    command
        .args(["-qefc", &line, "/dev/null"])
        .env("TERM", "xterm-256color")
        .env_remove("CI")
        .env_remove("NEXTEST_RUN_ID");
    let out = util::output_within(command, std::time::Duration::from_secs(60));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_terminal_shows_live_progress_and_a_pipe_plain_lines() {
    let screen = in_a_terminal(&[
        "slowest::a_second_and_more",
        "pass::plain",
        "fail::panics",
        "pass::ignored_plain",
        "--exact",
        "--test-threads",
        "2",
    ]);
    // Every frame counts what was reported: the last one drawn has them all (the ignored one
    // too), and none is drawn before the run knows its total.
    let frames: Vec<&str> = screen
        .match_indices(" tests done, ")
        .map(|(at, _)| {
            let start = screen[..at].rfind(']').map_or(at, |b| b + 2);
            &screen[start..at]
        })
        .collect();
    assert_eq!(frames.last(), Some(&"4/4"), "{frames:?}\n{screen}");
    assert!(frames.iter().all(|f| f.ends_with("/4")), "{frames:?}");
    // The bar: done out of all, failures so far; a line per running test with its time.
    assert!(
        screen.contains("tests done, 0 failed") || screen.contains("tests done, 1 failed"),
        "{screen}"
    );
    assert!(screen.contains("slowest::a_second_and_more"), "{screen}");
    assert!(screen.contains("1 failed"), "{screen}");
    // And libtest's lines, the same as ever.
    assert!(screen.contains("test pass::plain ... "), "{screen}");
    assert!(screen.contains("2 passed; 1 failed; 1 ignored"), "{screen}");
    // Asked not to, or not on a terminal: plain lines only.
    let plain = in_a_terminal(&["pass::plain", "--progress", "never"]);
    assert!(!plain.contains("tests done"), "{plain}");
    assert!(!fixture(&["slowest::"]).stdout.contains("tests done"));
    assert!(!fixture(&["slowest::"]).stderr.contains("tests done"));
}

#[test]
fn worker_hooks_run_at_start_and_stop_and_their_output_is_reported_apart() {
    let dirs = util::RunDirs::new();
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_hooks_fixture"));
    dirs.apply(&mut command);
    command.args(["--test-threads", "1", "--show-output"]);
    let out = util::output_within(command, std::time::Duration::from_secs(60));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    // The start hooks ran before the test, which saw what they set up; one failed, said so.
    assert!(stdout.contains("worker 1 start hooks failed: "), "{stdout}");
    assert!(
        stdout.contains("fails_to_start panicked: no license server"),
        "{stdout}"
    );
    assert!(
        stdout.contains("hook: worker ") && stdout.contains(" ready"),
        "{stdout}"
    );
    // The stop hook's output too.
    assert!(
        stdout.contains("worker 1 stop hooks ran; their output:"),
        "{stdout}"
    );
    assert!(stdout.contains(" stopping"), "{stdout}");
    // Not in the test's own output.
    let test_output = stdout
        .split("---- sees_what_the_start_hook_set_up stdout ----")
        .nth(1)
        .unwrap_or_else(|| panic!("no test output shown:\n{stdout}"));
    let test_output = test_output.split("\n\n").next().unwrap_or_default();
    assert!(
        test_output.contains("the test's own output") && !test_output.contains("hook:"),
        "{test_output}"
    );
    // `-q`: the hooks that failed are said, the ones that ran well are not.
    let mut quiet = std::process::Command::new(env!("CARGO_BIN_EXE_hooks_fixture"));
    dirs.apply(&mut quiet);
    quiet.args(["--test-threads", "1", "-q"]);
    let out = util::output_within(quiet, std::time::Duration::from_secs(60));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("worker 1 start hooks failed: "), "{stdout}");
    assert!(!stdout.contains("hooks ran"), "{stdout}");
}

#[test]
fn a_block_is_printed_only_when_it_holds_something() {
    // With --nocapture the failed attempts printed nothing here (their panics went straight
    // out): no empty `---- … ----` blocks, and the flaky section is its list of names.
    let run = fixture(&["flaky::", "--nocapture"]);
    assert_eq!(run.code, Some(101), "{}", run.stdout);
    assert!(!run.stdout.contains("---- flaky::"), "{}", run.stdout);
    assert_eq!(run.stdout.matches("\nflaky:\n").count(), 1, "{}", run.stdout);
    assert!(
        run.stdout
            .contains("failures:\n\nfailures:\n    flaky::always_fails"),
        "{}",
        run.stdout
    );
    // `-q`: a flaky test passed, so its failed attempt is not shown in full; its name is.
    let quiet = fixture(&["flaky::passes", "-q"]);
    assert!(!quiet.stdout.contains("---- flaky::"), "{}", quiet.stdout);
    assert!(
        quiet
            .stdout
            .contains("flaky::passes_second_time (passed on attempt 2)"),
        "{}",
        quiet.stdout
    );
    // Captured, the attempts' output is there, once each.
    let shown = fixture(&["flaky::"]);
    assert_eq!(
        shown
            .stdout
            .matches("---- flaky::passes_second_time stdout (attempt 1 of 3, failed) ----")
            .count(),
        1,
        "{}",
        shown.stdout
    );
}
