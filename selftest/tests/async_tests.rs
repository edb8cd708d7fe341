//! `#[mp_test] async fn` end to end: the suite `src/async_fixture.rs` run through the harness,
//! every outcome as a plain test's, async fixtures, `mptest::rt`.

mod util;

use std::process::Command;
use std::time::Instant;

fn run(args: &[&str]) -> util::Run {
    let dirs = util::RunDirs::new();
    let mut command = Command::new(env!("CARGO_BIN_EXE_async_fixture"));
    dirs.apply(&mut command);
    command
        .args(["--format", "json", "-Z", "unstable-options"])
        .args(args)
        .env("RUST_BACKTRACE", "0");
    let started = Instant::now();
    let out = util::output_within(command, util::RUN_LIMIT);
    let run = util::Run::of(&out, started);
    let left = dirs.left_in_tmp();
    assert!(left.is_empty(), "left {left:?}\n{}", run.stdout);
    run
}

#[test]
fn async_tests_end_as_plain_tests_do() {
    let run = run(&[]);
    assert_eq!(run.code, Some(101), "{}\n{}", run.stdout, run.stderr);
    for name in [
        "pass::on_its_own_thread",
        "pass::multi_thread_with_two_workers",
        "pass::start_paused_skips_tokio_time",
        "pass::local_flavor_runs_tasks_that_are_not_send",
        "pass::a_named_runtime_and_tokio_s_crate_option",
        "pass::should_panic_after_an_await",
        "pass::returns_ok",
        "pass::leaves_a_task_running",
        "pass::a_clock_sleep_does_not_block_the_runtime",
        "pass::an_interval_follows_the_accelerated_clock",
        "pass::spawns_async_work_into_a_child",
        "fixture::an_async_fixture_serves_the_tests",
        "fixture::a_plain_test_uses_it_as_well",
        "proxy::a_slow_call_leaves_the_runtime_to_the_other_tasks",
        "proxy::from_a_child_on_its_own_runtime",
        "handles::the_ready_made_shared_types_have_async_forms",
        "handles::an_aux_handle_has_async_forms",
        "handles::recorder_and_log_waits_have_async_forms",
    ] {
        assert_eq!(run.outcome(name), "passed", "{name}: {}", run.stdout);
    }
    let expected = [
        ("fail::an_awaited_task_panics", "failed", "the task failed"),
        ("fail::returns_err", "failed", "async error"),
        ("fail::hangs", "timed-out", "timed out after 300ms"),
        ("fail::aborts", "crashed", "SIGABRT"),
    ];
    for (name, outcome, says) in expected {
        assert_eq!(run.outcome(name), outcome, "{name}: {}", run.stdout);
        let message = run.tests()[name]["mptest"]["message"].to_string();
        let all = format!("{message}{}", run.field(name, "stdout"));
        assert!(all.contains(says), "{name}: {all}");
    }
    // A task left running is cancelled with the test's runtime, and the output says so.
    let with_output = run_with_output("pass::leaves_a_task_running");
    assert!(
        with_output.contains("1 task(s) the test spawned were still running at its end; they were cancelled"),
        "{with_output}"
    );
}

/// The output of one passing test (`--show-output`).
fn run_with_output(name: &str) -> String {
    let run = run(&[name, "--exact", "--show-output"]);
    assert_eq!(run.code, Some(0), "{}", run.stdout);
    run.field(name, "stdout")
}
