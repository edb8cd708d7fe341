//! libtest's command line, as `cargo test -- ...` and cargo-nextest pass it.

use std::time::Duration;

use clap::{Parser, ValueEnum};

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    /// `test name ... ok`, one line a test.
    Pretty,
    /// One character a test.
    Terse,
    /// libtest's JSON events, one a line.
    Json,
    /// A JUnit XML report on stdout, as libtest's `--format junit`.
    Junit,
}

/// When to color the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Color {
    /// When stdout is a terminal.
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

/// In which order the tests are handed out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Order {
    /// As declared in the source (file, line).
    Declared,
    /// By name, as libtest hands them out.
    Name,
    /// The longest first, by their durations in earlier runs; unknown ones in between, equal
    /// ones by name.
    Longest,
    /// Shuffled (with --seed, repeatably).
    Random,
    /// libtest's `--shuffle`: its very shuffle, so a seed orders the tests as libtest would.
    #[value(skip)]
    Shuffle,
}

/// When to show the live progress display.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ProgressWhen {
    /// On an interactive terminal, with the pretty format and captured output.
    Auto,
    /// Whenever the pretty format is used.
    Always,
    /// Never: plain lines only.
    Never,
}

/// What a test that passed only on a retry counts as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum FlakyResult {
    /// A pass (reported as flaky).
    Pass,
    /// A failure.
    Fail,
}

/// What a test that left processes running counts as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum LeakResult {
    /// As it ended; the processes are named in a note.
    Warn,
    /// A failure.
    Fail,
}

/// Which part of the suite this run takes (nextest's meanings).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Partition {
    /// The tests (and groups) whose name hashes to shard `index` of `total` (0-based).
    Hash { index: u64, total: u64 },
    /// Every `total`-th test (and group) of the declared order, from `index` (0-based).
    Slice { index: u64, total: u64 },
    /// Bin `index` of `total` filled by recorded durations, longest first into the emptiest bin;
    /// tests with none recorded by their hash.
    Time { index: u64, total: u64 },
}

fn parse_partition(text: &str) -> Result<Partition, String> {
    const FORMS: &str =
        "hash:M/N, count:M/N (nextest's name for slice), slice:M/N or time:M/N, with 1 <= M <= N";
    let Some((kind, shard)) = text.split_once(':') else {
        return Err(format!("{text:?} has no kind: write it as {FORMS}"));
    };
    let Some((m, n)) = shard.split_once('/') else {
        return Err(format!("{shard:?} is no shard: write it as {FORMS}"));
    };
    let number = |part: &str, what: &str| {
        part.parse::<u64>()
            .map_err(|_| format!("{part:?} in {text:?} is no number (M/N: shard M of N, {what})"))
    };
    let (m, n) = (number(m, "M")?, number(n, "N")?);
    if n == 0 {
        return Err(format!("{text:?}: N, the number of shards, is at least 1"));
    }
    if m == 0 || m > n {
        return Err(format!("{text:?}: shard {m} of {n} does not exist: shards are numbered 1 to {n}"));
    }
    let (index, total) = (m - 1, n);
    match kind {
        "hash" => Ok(Partition::Hash { index, total }),
        "slice" | "count" => Ok(Partition::Slice { index, total }),
        "time" => Ok(Partition::Time { index, total }),
        other => Err(format!("{other:?} in {text:?} is no kind of partition: write it as {FORMS}")),
    }
}

/// Which tests `ignore` leaves out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RunIgnored {
    /// Ignored tests are reported as ignored, not run.
    No,
    /// Only ignored tests run (`--ignored`).
    Only,
    /// All tests run (`--include-ignored`).
    Also,
}

/// The arguments of a test binary built with mptest.
#[derive(Debug, Parser, PartialEq)]
#[command(
    name = "mptest",
    about = "Runs this binary's #[mp_test] tests in a pool of worker processes",
    disable_version_flag = true,
    after_help = "Environment: RUST_TEST_THREADS sets --test-threads; RUST_TEST_NOCAPTURE=1 sets --nocapture."
)]
struct Args {
    /// Run only tests whose names contain one of these (with --exact: equal one of these)
    #[arg(value_name = "FILTER")]
    filters: Vec<String>,
    /// Match filters and --skip against whole names
    #[arg(long)]
    exact: bool,
    /// Skip tests whose names contain this (repeatable)
    #[arg(long, value_name = "FILTER")]
    skip: Vec<String>,
    /// Run only ignored tests
    #[arg(long, conflicts_with = "include_ignored")]
    ignored: bool,
    /// Run ignored tests too
    #[arg(long)]
    include_ignored: bool,
    /// List the tests instead of running them
    #[arg(long)]
    list: bool,
    /// Output format
    #[arg(long, value_enum, value_name = "FORMAT")]
    format: Option<Format>,
    /// Same as --format terse
    #[arg(short, long)]
    quiet: bool,
    /// Color the output
    #[arg(long, value_enum, default_value = "auto", value_name = "WHEN")]
    color: Color,
    /// Number of worker processes [default: available parallelism]
    #[arg(
        long = "test-threads",
        short = 'j',
        value_name = "N",
        value_parser = clap::value_parser!(u32).range(1..)
    )]
    test_threads: Option<u32>,
    /// Do not capture output: let tests write straight to the terminal
    #[arg(long = "nocapture", visible_alias = "no-capture")]
    nocapture: bool,
    /// Show the captured output of passed tests too
    #[arg(long)]
    show_output: bool,
    /// Put each test's time in its JSON event (`exec_time`), as libtest does
    #[arg(long)]
    report_time: bool,
    /// Default timeout for every test, in seconds or as "1m 30s" [default: none]
    #[arg(long, value_name = "SECS", value_parser = parse_duration)]
    timeout: Option<Duration>,
    /// Say "has been running for over ..." of a test each time it has run this long
    #[arg(long, value_name = "SECS", value_parser = parse_duration, default_value = "60")]
    slow_timeout: Duration,
    /// The live progress display: on a terminal (auto), always, or never
    #[arg(long, value_enum, value_name = "WHEN", default_value = "auto")]
    progress: ProgressWhen,
    /// Run a failing test up to N more times (a test's own `retries = N` wins)
    #[arg(long, value_name = "N", default_value = "0")]
    retries: u32,
    /// What a test that passed only on a retry counts as
    #[arg(long, value_enum, value_name = "RESULT", default_value = "pass")]
    flaky_result: FlakyResult,
    /// What a test that left processes running counts as
    #[arg(long, value_enum, value_name = "RESULT", default_value = "warn")]
    leak_result: LeakResult,
    /// Stop handing out tests after the first failure (running ones finish)
    #[arg(long, overrides_with = "no_fail_fast")]
    fail_fast: bool,
    /// Run every test whatever fails (the default)
    #[arg(long, overrides_with = "fail_fast")]
    no_fail_fast: bool,
    /// End the whole run after this long: running tests are ended and reported, the rest do not run
    #[arg(long, value_name = "SECS", value_parser = parse_duration)]
    run_timeout: Option<Duration>,
    /// Stop the run once this many workers had to be replaced (their tests crashed)
    #[arg(long, value_name = "N")]
    max_worker_restarts: Option<u32>,
    /// Also write a JUnit XML report to this file (under Bazel: XML_OUTPUT_FILE)
    #[arg(long, value_name = "PATH")]
    junit: Option<std::path::PathBuf>,
    /// The order tests are handed out in [default: longest; name with --test-threads 1]
    #[arg(long, value_enum, value_name = "ORDER")]
    order: Option<Order>,
    /// The seed of --order random (the run says which it used)
    #[arg(long, value_name = "N")]
    seed: Option<u64>,
    /// Run (or --list) one shard of the suite: hash:M/N, count:M/N (nextest's name) or
    /// slice:M/N, or time:M/N (shards of equal recorded durations); a group is never split.
    /// Under Bazel, TEST_TOTAL_SHARDS and TEST_SHARD_INDEX do the same
    #[arg(long, value_name = "KIND:M/N", value_parser = parse_partition)]
    partition: Option<Partition>,
    /// Run only the tests that failed, crashed or timed out the last time they ran (pytest's
    /// --lf); every selected test when none did
    #[arg(long, visible_alias = "lf")]
    last_failed: bool,
    /// Run the tests that failed the last time they ran first, then the others (pytest's --ff)
    #[arg(long, visible_alias = "ff")]
    failed_first: bool,
    /// Unstable libtest options; only `unstable-options` is known (and needed by nothing)
    #[arg(short = 'Z', value_name = "FLAG", value_parser = ["unstable-options"])]
    unstable: Vec<String>,
    /// Run the tests (with --bench: tests too; cargo passes it to some targets)
    #[arg(long)]
    test: bool,
    /// Run benchmarks instead of tests: a test binary has none, so every test is reported as
    /// ignored, as libtest does
    #[arg(long)]
    bench: bool,
    /// Run the tests in libtest's random order (the run says its seed; also RUST_TEST_SHUFFLE=1)
    #[arg(long)]
    shuffle: bool,
    /// Run the tests in libtest's random order for this seed (also RUST_TEST_SHUFFLE_SEED)
    #[arg(long, value_name = "SEED")]
    shuffle_seed: Option<u64>,
    /// Write libtest's log of results to this file (deprecated in libtest too)
    #[arg(long, value_name = "PATH")]
    logfile: Option<std::path::PathBuf>,
    /// Leave out the tests marked should_panic
    #[arg(long)]
    exclude_should_panic: bool,
    /// Fail a test that took longer than its critical time: RUST_TEST_TIME_UNIT,
    /// RUST_TEST_TIME_INTEGRATION (WARN_MS,CRITICAL_MS; libtest's defaults 50,100 and 500,1000)
    #[arg(long)]
    ensure_time: bool,
    /// Accepted as libtest does under panic=abort; tests always run in worker processes here
    #[arg(long)]
    force_run_in_process: bool,
}

/// The arguments cargo, cargo-nextest and most runs pass — filters, `--exact`, `--ignored`,
/// `--include-ignored`, `--list`, `-q`, `--nocapture`, `--show-output`, `--format F`,
/// `--test-threads N`, `-Z unstable-options` — read as clap reads them, without building clap's
/// command (a few hundred microseconds cold: most of a quick run's start, paid by every
/// process under cargo-nextest). `None` for anything else, a repeated flag or a doubtful value:
/// clap reads those, and says what is wrong. A unit test holds the two to the same result.
fn read_common(args: &[String]) -> Option<Args> {
    let mut read = Args {
        filters: Vec::new(),
        exact: false,
        skip: Vec::new(),
        ignored: false,
        include_ignored: false,
        list: false,
        format: None,
        quiet: false,
        color: Color::Auto,
        test_threads: None,
        nocapture: false,
        show_output: false,
        report_time: false,
        timeout: None,
        slow_timeout: Duration::from_secs(60),
        progress: ProgressWhen::Auto,
        retries: 0,
        flaky_result: FlakyResult::Pass,
        leak_result: LeakResult::Warn,
        fail_fast: false,
        no_fail_fast: false,
        run_timeout: None,
        max_worker_restarts: None,
        junit: None,
        order: None,
        seed: None,
        partition: None,
        last_failed: false,
        failed_first: false,
        unstable: Vec::new(),
        test: false,
        bench: false,
        shuffle: false,
        shuffle_seed: None,
        logfile: None,
        exclude_should_panic: false,
        ensure_time: false,
        force_run_in_process: false,
    };
    // Sets a flag given once (clap refuses one given twice).
    fn once(flag: &mut bool) -> Option<()> {
        (!std::mem::replace(flag, true)).then_some(())
    }
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) if name.starts_with("--") => (name, Some(value)),
            _ => (arg.as_str(), None),
        };
        // A flag's value: after `=` or the next argument, never one that looks like a flag.
        let mut value = || match inline {
            Some(value) => Some(value),
            None => args.next().map(String::as_str).filter(|v| !v.starts_with('-')),
        };
        let plain = inline.is_none();
        match name {
            "--exact" if plain => once(&mut read.exact)?,
            "--ignored" if plain && !read.include_ignored => once(&mut read.ignored)?,
            "--include-ignored" if plain && !read.ignored => once(&mut read.include_ignored)?,
            "--list" if plain => once(&mut read.list)?,
            "-q" | "--quiet" if plain => once(&mut read.quiet)?,
            "--nocapture" | "--no-capture" if plain => once(&mut read.nocapture)?,
            "--show-output" if plain => once(&mut read.show_output)?,
            "--format" if read.format.is_none() => {
                read.format = Some(match value()? {
                    "pretty" => Format::Pretty,
                    "terse" => Format::Terse,
                    "json" => Format::Json,
                    "junit" => Format::Junit,
                    _ => return None,
                })
            }
            "--test-threads" if read.test_threads.is_none() => {
                let value = value()?;
                // Digits only: clap's reading of "+3" or " 3" is its own.
                if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                read.test_threads = Some(value.parse().ok().filter(|&n: &u32| n >= 1)?);
            }
            "-Z" if plain => match args.next()?.as_str() {
                "unstable-options" => read.unstable.push("unstable-options".into()),
                _ => return None,
            },
            _ if !arg.starts_with('-') => read.filters.push(arg.clone()),
            _ => return None,
        }
    }
    Some(read)
}

/// Every argument as clap reads it (`command`: [`Args`]' command).
fn read_by_clap(args: Vec<String>, command: &mut clap::Command) -> Result<Args, clap::Error> {
    use clap::FromArgMatches;
    let matches = command
        .try_get_matches_from_mut(std::iter::once(String::new()).chain(args))
        .map_err(|err| usage_error(err, command))?;
    Args::from_arg_matches(&matches).map_err(|err| err.format(command))
}

/// `RUST_TEST_THREADS`, checked on its own so that a bad value is blamed on it, not on the flag.
fn threads_from_env() -> Option<Result<usize, String>> {
    let value = std::env::var("RUST_TEST_THREADS").ok()?;
    Some(match value.trim().parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!(
            "RUST_TEST_THREADS={value:?} is not a number of threads (a whole number, 1 or more)"
        )),
    })
}

/// Rewords clap's errors where its words do not fit a test binary: for an unknown flag clap
/// tips "use '-- --flag'", which is wrong here — cargo has already taken the `--`.
fn usage_error(err: clap::Error, command: &mut clap::Command) -> clap::Error {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if err.kind() != ErrorKind::UnknownArgument {
        return err.format(command);
    }
    let arg = match err.get(ContextKind::InvalidArg) {
        Some(ContextValue::String(arg)) => arg.clone(),
        _ => return err.format(command),
    };
    let mut message = format!("unknown option '{arg}' for this test binary");
    if let Some(similar) = similar_flag(&arg, command) {
        message.push_str(&format!("; did you mean '{similar}'?"));
    }
    command.error(ErrorKind::UnknownArgument, message)
}

/// The long flag nearest to `arg` — at most one edit in three letters away — if there is one.
/// (Rather than clap's `suggestions` feature: one crate less in every user's build.)
fn similar_flag(arg: &str, command: &clap::Command) -> Option<String> {
    let typed = arg.trim_start_matches('-');
    let typed = typed.split_once('=').map_or(typed, |(name, _)| name);
    command
        .get_arguments()
        .filter_map(|a| a.get_long())
        .map(|long| (edit_distance(typed, long), long))
        .filter(|&(distance, long)| distance <= (long.len() / 3).max(1))
        .min()
        .map(|(_, long)| format!("--{long}"))
}

/// Levenshtein distance: insertions, deletions and substitutions of characters.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1).min(row[j] + 1).min(diagonal + usize::from(ca != cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

/// `RUST_TEST_SHUFFLE_SEED`, checked on its own so that a bad value is blamed on it.
fn shuffle_seed_from_env() -> Option<Result<u64, String>> {
    let value = std::env::var("RUST_TEST_SHUFFLE_SEED").ok()?;
    Some(
        value
            .parse()
            .map_err(|_| format!("RUST_TEST_SHUFFLE_SEED is `{value}`, should be a number")),
    )
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    let parsed = match text.parse::<f64>() {
        Ok(secs) if secs > 0.0 => {
            Duration::try_from_secs_f64(secs).map_err(|e| format!("{text:?} seconds: {e}"))
        }
        Ok(_) => Err(format!("{text:?} is not a positive number of seconds")),
        Err(_) => humantime::parse_duration(text).map_err(|e| format!("{text:?}: {e}")),
    };
    match parsed {
        Ok(d) if d.is_zero() => Err("must be longer than zero".into()),
        other => other,
    }
}

/// What the run was asked to do.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    pub(crate) filters: Vec<String>,
    pub(crate) exact: bool,
    pub(crate) skip: Vec<String>,
    pub(crate) run_ignored: RunIgnored,
    pub(crate) list: bool,
    pub(crate) format: Format,
    pub(crate) color: bool,
    /// `--test-threads` (or `RUST_TEST_THREADS`); 0: the machine's parallelism.
    threads: usize,
    pub(crate) capture: bool,
    pub(crate) show_output: bool,
    pub(crate) report_time: bool,
    pub(crate) timeout: Option<Duration>,
    pub(crate) slow_period: Duration,
    pub(crate) junit: Option<std::path::PathBuf>,
    pub(crate) progress: bool,
    pub(crate) retries: u32,
    pub(crate) flaky_result: FlakyResult,
    pub(crate) leak_result: LeakResult,
    pub(crate) fail_fast: bool,
    pub(crate) run_timeout: Option<Duration>,
    pub(crate) max_worker_restarts: Option<u32>,
    pub(crate) order: Order,
    pub(crate) seed: Option<u64>,
    pub(crate) partition: Option<Partition>,
    /// `--last-failed`: only the tests that failed the last time they ran.
    pub(crate) last_failed: bool,
    /// `--failed-first`: those tests first.
    pub(crate) failed_first: bool,
    /// Run by cargo-nextest (`NEXTEST_RUN_ID`): one test per process.
    pub(crate) under_nextest: bool,
    /// `--bench` without `--test`: every test is reported as ignored.
    pub(crate) bench_only: bool,
    pub(crate) logfile: Option<std::path::PathBuf>,
    pub(crate) exclude_should_panic: bool,
    /// `--ensure-time`: the limits a passed test must keep.
    pub(crate) ensure_time: Option<crate::runner::time_limits::TimeLimits>,
}

/// std's `available_parallelism`, read once: it reads several files (cgroup limits), and a run
/// asks before it forks its first workers and again when it starts them.
fn machine_parallelism() -> usize {
    static PARALLELISM: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *PARALLELISM.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

impl Options {
    /// How many workers run `tests` tests at once: `--test-threads`, else the machine's
    /// parallelism (read from the system only when there is more than one test).
    pub(crate) fn threads(&self, tests: usize) -> usize {
        let threads = match self.threads {
            0 if tests > 1 => machine_parallelism(),
            0 => 1,
            n => n,
        };
        threads.min(tests).max(1)
    }

    /// Parses libtest-style arguments (without the program name). A usage error is returned
    /// as clap's error, which prints itself and exits with code 2.
    pub(crate) fn parse<I: IntoIterator<Item = String>>(args: I) -> Result<Options, clap::Error> {
        use clap::CommandFactory;
        let args: Vec<String> = args.into_iter().collect();
        // Built only when needed: building clap's command is most of a quick run's parse.
        let command = || {
            let name = crate::launch::reexec::suite_name();
            Args::command().name(name).bin_name(name)
        };
        let args = match read_common(&args) {
            Some(args) => args,
            None => read_by_clap(args, &mut command())?,
        };
        let format = match (args.format, args.quiet) {
            (Some(format), _) => format,
            (None, true) => Format::Terse,
            (None, false) => Format::Pretty,
        };
        let color = match args.color {
            Color::Always => true,
            Color::Never => false,
            Color::Auto => {
                use std::io::IsTerminal;
                std::io::stdout().is_terminal()
                    && std::env::var_os("NO_COLOR").is_none()
                    && std::env::var("TERM").map_or(true, |t| t != "dumb")
            }
        };
        let threads = match args.test_threads {
            Some(n) => n as usize,
            None => match threads_from_env() {
                Some(Ok(n)) => n,
                Some(Err(message)) => {
                    return Err(command().error(clap::error::ErrorKind::InvalidValue, message))
                }
                // The machine's, looked up only when it matters (see `Options::threads`).
                None => 0,
            },
        };
        let env_nocapture = std::env::var("RUST_TEST_NOCAPTURE").is_ok_and(|v| v != "0");
        let capture = !(args.nocapture || env_nocapture);
        let shuffle_seed = match (args.shuffle_seed, shuffle_seed_from_env()) {
            (Some(seed), _) => Some(seed),
            (None, Some(Ok(seed))) => Some(seed),
            (None, Some(Err(message))) => {
                return Err(command().error(clap::error::ErrorKind::InvalidValue, message))
            }
            (None, None) if args.shuffle || std::env::var("RUST_TEST_SHUFFLE").is_ok_and(|v| v != "0") => {
                Some(fastrand::u64(..))
            }
            (None, None) => None,
        };
        let ensure_time = if args.ensure_time {
            match crate::runner::time_limits::TimeLimits::from_env() {
                Ok(limits) => Some(limits),
                Err(message) => return Err(command().error(clap::error::ErrorKind::InvalidValue, message)),
            }
        } else {
            None
        };
        let progress = format == Format::Pretty
            && capture
            && !args.list
            && match args.progress {
                ProgressWhen::Never => false,
                ProgressWhen::Always => true,
                ProgressWhen::Auto => {
                    use std::io::IsTerminal;
                    std::io::stderr().is_terminal()
                        && std::env::var("TERM").is_ok_and(|t| t != "dumb")
                        && std::env::var_os("CI").is_none()
                        && std::env::var_os("NEXTEST_RUN_ID").is_none()
                }
            };
        Ok(Options {
            filters: args.filters,
            exact: args.exact,
            skip: args.skip,
            run_ignored: if args.ignored {
                RunIgnored::Only
            } else if args.include_ignored {
                RunIgnored::Also
            } else {
                RunIgnored::No
            },
            list: args.list,
            format,
            color,
            threads,
            capture,
            show_output: args.show_output,
            report_time: args.report_time,
            timeout: args.timeout,
            slow_period: args.slow_timeout,
            junit: args.junit,
            progress,
            retries: args.retries,
            flaky_result: args.flaky_result,
            leak_result: args.leak_result,
            fail_fast: args.fail_fast && !args.no_fail_fast,
            run_timeout: args.run_timeout,
            max_worker_restarts: args.max_worker_restarts,
            order: match (shuffle_seed, args.order) {
                (Some(_), _) => Order::Shuffle,
                // One at a time, longest first shortens nothing: libtest's order.
                (None, None) if threads == 1 => Order::Name,
                (None, order) => order.unwrap_or(Order::Longest),
            },
            seed: shuffle_seed.or(args.seed),
            partition: args.partition,
            last_failed: args.last_failed,
            failed_first: args.failed_first,
            under_nextest: std::env::var_os("NEXTEST_RUN_ID").is_some(),
            bench_only: args.bench && !args.test,
            logfile: args.logfile,
            exclude_should_panic: args.exclude_should_panic,
            ensure_time,
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn edit_distance_counts_insertions_deletions_and_substitutions() {
        assert_eq!(super::edit_distance("formt", "format"), 1);
        assert_eq!(super::edit_distance("nocaptrue", "nocapture"), 2);
        assert_eq!(super::edit_distance("", "abc"), 3);
        assert_eq!(super::edit_distance("same", "same"), 0);
    }

    use super::*;

    fn parse(args: &[&str]) -> Result<Options, clap::Error> {
        Options::parse(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn reads_what_cargo_and_nextest_pass() {
        let o = parse(&[
            "net",
            "disk",
            "--exact",
            "--skip",
            "slow",
            "--skip=big",
            "--nocapture",
        ])
        .unwrap();
        assert_eq!(o.filters, ["net", "disk"]);
        assert!(o.exact && !o.capture);
        assert_eq!(o.skip, ["slow", "big"]);
        let o = parse(&["--list", "--format", "terse", "--ignored"]).unwrap();
        assert!(o.list && o.format == Format::Terse && o.run_ignored == RunIgnored::Only);
        let o = parse(&[
            "-Z",
            "unstable-options",
            "--format=json",
            "--test-threads=3",
            "--timeout",
            "2.5",
        ])
        .unwrap();
        assert_eq!((o.format, o.threads(2)), (Format::Json, 2));
        assert_eq!(o.threads(10), 3);
        assert_eq!(o.timeout, Some(Duration::from_millis(2500)));
        assert_eq!(
            parse(&["--timeout", "1m 30s"]).unwrap().timeout,
            Some(Duration::from_secs(90))
        );
        assert_eq!(parse(&["-q", "--no-capture"]).unwrap().format, Format::Terse);
    }

    #[test]
    fn reads_order_and_partition() {
        let o = parse(&["--test-threads", "2"]).unwrap();
        assert_eq!((o.order, o.seed, o.partition), (Order::Longest, None, None));
        // One at a time, libtest's order, unless another is asked for.
        assert_eq!(parse(&["--test-threads", "1"]).unwrap().order, Order::Name);
        let o = parse(&["--test-threads", "1", "--order", "longest"]).unwrap();
        assert_eq!(o.order, Order::Longest);
        let o = parse(&["--order", "random", "--seed", "7", "--partition", "hash:2/3"]).unwrap();
        assert_eq!((o.order, o.seed), (Order::Random, Some(7)));
        assert_eq!(o.partition, Some(Partition::Hash { index: 1, total: 3 }));
        let o = parse(&["--partition=slice:1/1", "--order=declared"]).unwrap();
        assert_eq!(o.partition, Some(Partition::Slice { index: 0, total: 1 }));
        // nextest's counted partition is the slice.
        let o = parse(&["--partition", "count:2/3"]).unwrap();
        assert_eq!(o.partition, Some(Partition::Slice { index: 1, total: 3 }));
        let o = parse(&["--partition", "time:4/4"]).unwrap();
        assert_eq!(o.partition, Some(Partition::Time { index: 3, total: 4 }));
        // pytest's --lf and --ff, by their names and pytest's.
        let o = parse(&["--last-failed", "--ff"]).unwrap();
        assert!(o.last_failed && o.failed_first);
        let o = parse(&["--lf"]).unwrap();
        assert!(o.last_failed && !o.failed_first);
        // Each bad form says which part is wrong.
        for (bad, says) in [
            ("hash:0/3", "shard 0 of 3 does not exist"),
            ("hash:4/3", "shard 4 of 3 does not exist"),
            ("3/2", "has no kind"),
            ("slice:1", "is no shard"),
            ("mod:1/2", "\"mod\" in \"mod:1/2\" is no kind of partition"),
            ("hash:a/2", "\"a\" in \"hash:a/2\" is no number"),
            ("hash:1/0", "N, the number of shards, is at least 1"),
        ] {
            let err = parse(&["--partition", bad]).unwrap_err().to_string();
            assert!(err.contains(says), "{bad}: {err}");
        }
    }

    #[test]
    fn takes_every_flag_of_libtest() {
        let o = parse(&[
            "--shuffle-seed",
            "7",
            "--logfile",
            "log",
            "--exclude-should-panic",
        ])
        .unwrap();
        assert_eq!((o.order, o.seed), (Order::Shuffle, Some(7)));
        assert_eq!(o.logfile.as_deref(), Some(std::path::Path::new("log")));
        assert!(o.exclude_should_panic);
        let o = parse(&["--shuffle", "--force-run-in-process", "--format", "junit"]).unwrap();
        assert!(o.order == Order::Shuffle && o.seed.is_some() && o.format == Format::Junit);
        assert!(parse(&["--bench"]).unwrap().bench_only);
        assert!(!parse(&["--bench", "--test"]).unwrap().bench_only);
        assert!(!parse(&[]).unwrap().bench_only);
        assert!(parse(&["--ensure-time"]).unwrap().ensure_time.is_some());
        assert!(parse(&["--shuffle-seed", "x"]).is_err());
    }

    /// The quick reading of the common arguments gives what clap gives, or leaves them to it.
    #[test]
    fn the_common_arguments_are_read_as_clap_reads_them() {
        use clap::CommandFactory;
        let pool = [
            "net", "disk::io", "", "--exact", "--ignored", "--include-ignored", "--list", "-q",
            "--quiet", "--nocapture", "--no-capture", "--show-output", "--format", "terse",
            "json", "--format=pretty", "--format=junit", "--format=", "--test-threads", "2",
            "--test-threads=1", "-Z", "unstable-options", "0", "+3", "--skip", "-j", "--exact=1",
            "-qZ", "--", "-",
        ];
        let mut cases: Vec<Vec<&str>> = vec![vec![]];
        for a in pool {
            cases.push(vec![a]);
            for b in pool {
                cases.push(vec![a, b]);
            }
        }
        let mut rng = fastrand::Rng::with_seed(7);
        for _ in 0..3000 {
            let len = rng.usize(3..7);
            cases.push((0..len).map(|_| pool[rng.usize(..pool.len())]).collect());
        }
        let mut quick = 0;
        for case in &cases {
            let args: Vec<String> = case.iter().map(|s| s.to_string()).collect();
            let Some(read) = read_common(&args) else { continue };
            quick += 1;
            match read_by_clap(args, &mut Args::command()) {
                Ok(by_clap) => assert_eq!(read, by_clap, "{case:?}"),
                Err(err) => panic!("{case:?}: read quickly, refused by clap: {err}"),
            }
        }
        // The quick way is taken, for what cargo and nextest pass above all.
        assert!(quick > 500, "{quick} of {} read quickly", cases.len());
        for common in [
            &["--exact", "suite::test", "--nocapture"][..],
            &["--list", "--format", "terse"],
            &["--list", "--format", "terse", "--ignored"],
            &["--test-threads", "2", "-q"],
            &["-Z", "unstable-options", "--format", "json", "--show-output"],
        ] {
            let args: Vec<String> = common.iter().map(|s| s.to_string()).collect();
            assert!(read_common(&args).is_some(), "{common:?}");
        }
    }

    #[test]
    fn usage_errors_name_the_problem() {
        let err = parse(&["--frobnicate"]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("--frobnicate"), "{err}");
        let err = parse(&["--test-threads", "0"]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("test-threads"), "{err}");
        assert!(parse(&["--timeout", "0"]).is_err());
        assert!(parse(&["--timeout", "1e300"]).is_err());
        assert!(parse(&["--timeout", "inf"]).is_err());
        assert!(parse(&["--format", "xml"]).is_err());
        assert!(parse(&["--ignored", "--include-ignored"]).is_err());
    }
}
