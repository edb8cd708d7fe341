//! The coordinator: the process `cargo test` starts. It lists and filters the tests, runs them
//! in a pool of workers, and reports. It never runs a test itself.
//!
//! - [`select`] and [`plan`]: which tests run, in which order (longest first, from [`timings`]).
//! - [`schedule`]: the loop, sole owner of the run's state. It hears [`event`]s in its [`inbox`]:
//!   from the threads that [`watch`] each started process's channel (and [`exit`], where it has
//!   no pidfd the inbox polls) — workers ([`worker_process`]) and the fixture host
//!   ([`fixture_host`]) — and from the workers' output pipes, which it reads itself; and decides with the units below, each with its own tests:
//!   - [`dispatch`]: the queue of jobs, groups kept on their worker, serial tests alone;
//!   - [`slot`]: one worker's state, its test's timers, results paired with their output;
//!   - [`fixture_host::RunFixtures`]: requests for run fixtures, and when each is torn down;
//!   - [`verdict`]: retries, `--leak-result`, `--ensure-time`, `--flaky-result`, the counts.

mod dispatch;
mod event;
mod exit;
mod fixture_host;
mod inbox;
mod nextest_lock;
mod plan;
mod schedule;
mod select;
mod slot;
mod tap;
pub(crate) mod time_limits;
mod rerun;
mod timings;
mod verdict;
mod watch;
mod worker_process;

use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::io::Write;
use std::time::Instant;

use crate::cli::{Format, Options};
use crate::procs;
use crate::registry;
use crate::reporter::{Event, Human, Json, Junit, Logfile, Progress, Reporter};
use tap::Tap;

pub(crate) use event::WorkerEvent;

/// Exit code when every selected test passed.
pub const EXIT_OK: i32 = 0;
/// Exit code when a test failed, crashed or timed out, or the run could not finish.
pub const EXIT_FAILED: i32 = 101;
/// Exit code for a usage error.
pub const EXIT_USAGE: i32 = 2;

/// Runs the coordinator with these arguments (without the program name); returns the exit code.
pub(crate) fn run(args: Vec<String>) -> i32 {
    let options = match Options::parse(args) {
        Ok(options) => options,
        Err(err) => {
            let _ = err.print();
            return if err.use_stderr() { EXIT_USAGE } else { EXIT_OK };
        }
    };
    let tests = registry::sorted_tests();
    if options.list {
        // What a shard will run, `--partition`'s or Bazel's: listed as the run would take it.
        let partition = options.partition.or(Bazel::from_env().partition);
        // The timings file only when the list depends on it (nextest lists every binary).
        let by_time = matches!(partition, Some(crate::cli::Partition::Time { .. }));
        let timings = match by_time || options.last_failed {
            true => timings::Timings::load(false),
            false => timings::Timings::default(),
        };
        list(&tests, &options, partition, &timings);
        return EXIT_OK;
    }
    let started = Instant::now();
    let bazel = Bazel::from_env();
    bazel.prepare();
    // After Bazel's `TEST_TMPDIR` became `TMPDIR`: the run directory is made here, once.
    if let Err(why) = crate::launch::endpoint::check_temp_dir() {
        eprintln!("mptest: {why}");
        return EXIT_FAILED;
    }
    let mut selection = select::select(&tests, &options);
    let partition = options.partition.or(bazel.partition);
    let by_time = matches!(partition, Some(crate::cli::Partition::Time { .. }));
    // The first workers, forked while this process has one thread (before the reporter holds
    // stdout's lock, before any thread is started); see `launch::fork`. When the selection is
    // already the run's (no shard or rerun of failed tests narrows it), before the timings are
    // read and the order planned: the copies start meanwhile.
    let fork = |run: usize| match run {
        0 => Vec::new(),
        run => worker_process::fork_first(schedule::workers_wanted(&options, run), options.capture),
    };
    let final_selection = partition.is_none() && !options.last_failed;
    let mut forked = match final_selection {
        true => fork(selection.run.len()),
        false => Vec::new(),
    };
    let longest = options.order == crate::cli::Order::Longest;
    // Only the longest-first order, a split by time and the reruns of failed tests use the
    // timings before the run's end; longest first orders nothing when every test has a worker.
    let few = selection.run.len() <= schedule::workers_wanted(&options, selection.run.len());
    let mut timings = match (longest && !few) || by_time || options.last_failed || options.failed_first {
        true => timings::Timings::load(true),
        false => timings::Timings::unread(),
    };
    let seconds = timings.seconds();
    let failed = timings.failed();
    let first = if options.failed_first { failed.clone() } else { HashSet::new() };
    if by_time && seconds.is_empty() {
        let why = timings.none_because.as_deref().unwrap_or("none in the file");
        eprintln!("mptest: --partition time: no durations of earlier runs ({why}); the shards are split by hash");
    }
    let past = plan::Past {
        seconds: &seconds,
        first: &first,
    };
    let (reported, seed) = plan::plan(
        &tests,
        &selection.run,
        &selection.ignored,
        partition,
        options.order,
        options.seed,
        past,
    );
    match (seed, options.order) {
        (Some(seed), crate::cli::Order::Shuffle) => {
            eprintln!("mptest: tests in libtest's random order: --shuffle-seed {seed} repeats it")
        }
        (Some(seed), _) => {
            eprintln!("mptest: tests in random order: --order random --seed {seed} repeats it")
        }
        (None, _) => {}
    }
    let ignored = plan::shard(&tests, &selection.ignored, partition, &seconds);
    let order: Vec<usize> = {
        let run: HashSet<usize> = selection.run.iter().copied().collect();
        reported.iter().copied().filter(|i| run.contains(i)).collect()
    };
    // What another shard runs or reports counts as filtered out.
    selection.filtered_out += selection.run.len() - order.len() + selection.ignored.len() - ignored.len();
    selection.run = order;
    selection.ignored = ignored;
    // After the partition, which must not depend on what failed: each shard reruns its own.
    let last = rerun::LastRun {
        failed: &failed,
        none_because: timings.none_because.as_deref(),
    };
    if options.last_failed {
        let (left_out, notice) = rerun::last_failed(&tests, &mut selection.run, &mut selection.ignored, &last);
        selection.filtered_out += left_out;
        eprintln!("{notice}");
    } else if options.failed_first {
        eprintln!("{}", rerun::failed_first_notice(&tests, &selection.run, &last));
    }
    let serial = selection.run.iter().any(|&i| tests[i].1.serial);
    let _run_lock = match nextest_lock::hold(serial) {
        Ok(lock) => lock,
        Err(err) => {
            eprintln!("mptest: {err}");
            return EXIT_FAILED;
        }
    };
    if !final_selection {
        forked = fork(selection.run.len());
    }
    // One worker: tests run one after another, and are said so, as libtest says them.
    let one_at_a_time = schedule::workers_wanted(&options, selection.run.len()) == 1;
    let stdout = std::io::stdout();
    let mut main_reporter: Box<dyn Reporter> = match options.format {
        Format::Json => Box::new(Json::new(stdout.lock(), options.show_output, options.report_time)),
        Format::Junit => Box::new(Junit::new(None, crate::launch::reexec::suite_name())),
        format => {
            let should_panic = tests
                .iter()
                .filter(|(_, def)| {
                    def.should_panic != crate::registry::ShouldPanic::No && def.ignored_because().is_none()
                })
                .map(|(name, _)| name.clone())
                .collect();
            let shuffle_seed = seed.filter(|_| options.order == crate::cli::Order::Shuffle);
            Box::new(
                Human::new(
                    stdout.lock(),
                    format == Format::Terse,
                    options.color,
                    options.show_output,
                )
                .with_libtest_marks(should_panic, shuffle_seed)
                // The live display redraws its own lines.
                .name_at_start(one_at_a_time && !options.progress),
            )
        }
    };
    let mut files: Vec<Box<dyn Reporter>> = Vec::new();
    if let Some(path) = options.junit.clone().or(bazel.xml_output) {
        files.push(Box::new(Junit::new(
            Some(path),
            crate::launch::reexec::suite_name(),
        )));
    }
    if let Some(path) = &options.logfile {
        eprintln!("warning: `--logfile` is deprecated");
        match std::fs::File::create(path) {
            Ok(file) => files.push(Box::new(Logfile::new(
                std::io::BufWriter::new(file),
                options.report_time,
            ))),
            Err(err) => {
                eprintln!("mptest: cannot create the log file {}: {err}", path.display());
                return EXIT_USAGE;
            }
        }
    }
    let mut with_progress;
    let shown: &mut dyn Reporter = if options.progress {
        with_progress = Progress::new(main_reporter.as_mut());
        &mut with_progress
    } else {
        main_reporter.as_mut()
    };
    let measured = RefCell::new(Vec::new());
    let mut reporter = Tap::new(
        shown,
        files,
        &measured,
        plan::interleave(&reported, &selection.run, &selection.ignored),
        &tests,
        one_at_a_time,
    );
    reporter.report(&Event::RunStarted {
        test_count: selection.run.len() + selection.ignored.len(),
    });
    // Orphans of dead workers come to us, so we can end them.
    procs::become_subreaper();
    let names: Vec<&str> = tests.iter().map(|(name, _)| name.as_str()).collect();
    let saved = Cell::new(false);
    // A run split by durations leaves them as they were: the shards after it split alike.
    let save = |timings: &mut timings::Timings| {
        timings.save(&measured.borrow(), &names, by_time);
        saved.set(true);
    };
    let scheduler = match schedule::Scheduler::new(&tests, &selection.run, &options, &mut reporter, forked) {
        Ok(scheduler) => scheduler
            .expecting(&seconds)
            .while_workers_exit(|| save(&mut timings)),
        Err(err) => {
            eprintln!("mptest: {err}");
            return EXIT_FAILED;
        }
    };
    let scheduler = match crate::signals::listen(&[libc::SIGINT, libc::SIGTERM, libc::SIGHUP]) {
        Ok(signals) => {
            crate::signals::second_ends_process(true);
            scheduler.hear_interrupts(signals, Box::new(end_everything_at_the_next))
        }
        Err(_) => scheduler,
    };
    let mut summary = scheduler.run();
    if !saved.get() {
        save(&mut timings);
    }
    summary.ignored = selection.ignored.len();
    summary.filtered_out = selection.filtered_out;
    summary.duration = started.elapsed();
    (summary.coordinator_cpu, summary.coordinator_max_rss_kib) = own_usage();
    reporter.report(&Event::RunFinished { summary: &summary });
    if summary.ok() {
        EXIT_OK
    } else {
        EXIT_FAILED
    }
}

/// This process's CPU time and peak resident memory (KiB), its children's not counted.
fn own_usage() -> (std::time::Duration, u64) {
    match nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_SELF) {
        Ok(usage) => {
            let micros = |t: nix::sys::time::TimeVal| {
                std::time::Duration::from_secs(t.tv_sec().max(0) as u64)
                    + std::time::Duration::from_micros(t.tv_usec().max(0) as u64)
            };
            (
                micros(usage.user_time()) + micros(usage.system_time()),
                usage.max_rss().max(0) as u64,
            )
        }
        Err(_) => (std::time::Duration::ZERO, 0),
    }
}

/// Bazel's test protocol, where Bazel runs this binary: its shard (`TEST_TOTAL_SHARDS`,
/// `TEST_SHARD_INDEX`), the file that says sharding is understood (`TEST_SHARD_STATUS_FILE`),
/// its temporary directory (`TEST_TMPDIR`) and the JUnit report's path (`XML_OUTPUT_FILE`).
struct Bazel {
    partition: Option<crate::cli::Partition>,
    /// Where Bazel wants the JUnit report (`XML_OUTPUT_FILE`).
    xml_output: Option<std::path::PathBuf>,
}

impl Bazel {
    fn from_env() -> Bazel {
        let var = |name| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
        };
        let partition = match (var("TEST_TOTAL_SHARDS"), var("TEST_SHARD_INDEX")) {
            (Some(total), Some(index)) if total > 0 && index < total => {
                Some(crate::cli::Partition::Slice { index, total })
            }
            _ => None,
        };
        Bazel {
            partition,
            xml_output: std::env::var_os("XML_OUTPUT_FILE").map(Into::into),
        }
    }

    /// Says sharding is understood, and puts the run's temporary files where Bazel wants them
    /// (before any process of the run is started, so they all inherit it).
    fn prepare(&self) {
        if let Some(status) = std::env::var_os("TEST_SHARD_STATUS_FILE") {
            if let Err(err) = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&status)
            {
                eprintln!("mptest: cannot touch TEST_SHARD_STATUS_FILE {status:?}: {err}");
            }
        }
        if let Some(tmp) = std::env::var_os("TEST_TMPDIR") {
            std::env::set_var("TMPDIR", tmp);
        }
    }
}

/// `--list`: `name: test` lines; terse and JSON formats print nothing else (nextest reads them).
fn list(
    tests: &[(String, &'static registry::TestDef)],
    options: &Options,
    partition: Option<crate::cli::Partition>,
    timings: &timings::Timings,
) {
    // Sharded as the run shards them: the tests to run, and apart the ignored ones; with
    // `--last-failed`, those the run would rerun.
    let selection = select::select(tests, options);
    let seconds = timings.seconds();
    let mut listed = plan::shard(tests, &selection.run, partition, &seconds);
    let mut ignored = plan::shard(tests, &selection.ignored, partition, &seconds);
    if options.last_failed {
        let failed = timings.failed();
        let last = rerun::LastRun {
            failed: &failed,
            none_because: timings.none_because.as_deref(),
        };
        rerun::last_failed(tests, &mut listed, &mut ignored, &last);
    }
    listed.extend(ignored);
    listed.sort_unstable();
    let mut out = std::io::stdout().lock();
    for &i in &listed {
        let _ = writeln!(out, "{}: test", tests[i].0);
    }
    if options.format == Format::Pretty {
        let plural = if listed.len() == 1 { "" } else { "s" };
        let _ = writeln!(out, "\n{} test{plural}, 0 benchmarks", listed.len());
    }
}

/// SIGINT, SIGTERM and SIGHUP end the run cleanly: workers and what they started are killed,
/// the interrupted tests and the partial report (JUnit too) are written. A second one kills every
/// process of the run at once and exits.
///
/// The scheduler hears the first in its inbox; this starts, after it, the thread that waits
/// for the second — a run that is never interrupted starts no thread for signals. Until that
/// thread waits, a second signal ends the coordinator by its default action
/// ([`crate::signals::second_ends_process`]): its forked workers' groups end with it (see
/// [`crate::platform::end_group_with_parent`]), re-executed ones' with their anchors.
fn end_everything_at_the_next(mut signals: crate::signals::Signals) {
    let waiting = std::thread::Builder::new()
        .name("mptest-signals".into())
        .spawn(move || {
            if signals.next().is_some() {
                let me = std::process::id() as i32;
                for p in procs::descendants(me, &procs::all_processes(), &[]) {
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(p.pid),
                        nix::sys::signal::Signal::SIGKILL,
                    );
                }
                eprintln!("mptest: interrupted again: every process of the run was killed at once");
                std::process::exit(EXIT_FAILED);
            }
        });
    if waiting.is_ok() {
        crate::signals::second_ends_process(false);
    }
}
