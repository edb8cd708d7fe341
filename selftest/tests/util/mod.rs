//! Runs the fixture suite (`src/fixture.rs`) through the harness and reads what it reports.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use wait_timeout::ChildExt;

/// No fixture run may take longer than this; past it the run is killed and the test fails.
pub const RUN_LIMIT: Duration = Duration::from_secs(60);

/// What one run of the fixture did.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Run {
    /// What a run that started at `started` gave.
    pub fn of(out: &std::process::Output, started: Instant) -> Run {
        Run {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            elapsed: started.elapsed(),
        }
    }

    /// The JSON events (for `--format json` runs), by test name, with the suite events apart.
    pub fn tests(&self) -> BTreeMap<String, Value> {
        self.events()
            .into_iter()
            .filter(|e| e["type"] == "test" && e["event"] != "started" && e["event"] != "timeout")
            .map(|e| (e["name"].as_str().unwrap_or_default().to_string(), e))
            .collect()
    }

    pub fn events(&self) -> Vec<Value> {
        self.stdout
            .lines()
            .map(|l| {
                serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}\n{}", self.stderr))
            })
            .collect()
    }

    pub fn suite_end(&self) -> Value {
        self.events()
            .into_iter()
            .rfind(|e| e["type"] == "suite")
            .expect("no suite event")
    }

    pub fn outcome(&self, name: &str) -> String {
        let tests = self.tests();
        let t = tests
            .get(name)
            .unwrap_or_else(|| panic!("no result for {name}:\n{}", self.stdout));
        t["mptest"]["outcome"].as_str().unwrap_or_default().to_string()
    }

    pub fn field(&self, name: &str, field: &str) -> String {
        let tests = self.tests();
        tests[name][field].as_str().unwrap_or_default().to_string()
    }
}

/// A fresh id, so runs of flaky and grouped tests in parallel do not share marker files.
fn run_id() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!("{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}

/// A private temporary directory for one run of the fixture, and a scratch directory beside
/// it for the fixture's own marker files. The run must leave its temporary directory empty.
pub struct RunDirs {
    root: std::path::PathBuf,
    pub tmp: std::path::PathBuf,
    pub scratch: std::path::PathBuf,
}

impl RunDirs {
    pub fn new() -> RunDirs {
        let root = std::env::temp_dir().join(format!("selftest-{}", run_id()));
        let (tmp, scratch) = (root.join("tmp"), root.join("scratch"));
        std::fs::create_dir_all(&tmp).unwrap();
        std::fs::create_dir_all(&scratch).unwrap();
        RunDirs { root, tmp, scratch }
    }

    /// Points `cmd` at these directories (and away from any run directory we inherited).
    pub fn apply(&self, cmd: &mut Command) {
        cmd.env("TMPDIR", &self.tmp)
            .env("FIXTURE_SCRATCH", &self.scratch)
            .env_remove("MPTEST_RUN_DIR");
    }

    /// What the run left in its temporary directory.
    pub fn left_in_tmp(&self) -> Vec<String> {
        std::fs::read_dir(&self.tmp)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    }
}

impl Drop for RunDirs {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// Runs the fixture with these arguments and extra environment.
pub fn fixture_env(args: &[&str], env: &[(&str, &str)]) -> Run {
    let dirs = RunDirs::new();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_fixture"));
    dirs.apply(&mut cmd);
    cmd.args(args)
        .env("FIXTURE_RUN_ID", run_id())
        .env("RUST_BACKTRACE", "0")
        .env_remove("RUST_TEST_THREADS")
        .env_remove("RUST_TEST_NOCAPTURE");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let started = Instant::now();
    let out = output_within(cmd, RUN_LIMIT);
    let run = Run::of(&out, started);
    let left = dirs.left_in_tmp();
    assert!(
        left.is_empty(),
        "the run with {args:?} left {left:?} in its temporary directory\n{}\n{}",
        run.stdout,
        run.stderr
    );
    run
}

pub fn fixture(args: &[&str]) -> Run {
    fixture_env(args, &[])
}

/// Runs the fixture with `--format json` and these arguments.
pub fn fixture_json(args: &[&str]) -> Run {
    let mut all = vec!["--format", "json", "-Z", "unstable-options"];
    all.extend_from_slice(args);
    fixture(&all)
}

/// True while a process with this pid exists (zombies included).
pub fn alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// True while a process with this pid exists and has not exited (a zombie has: only its
/// reaping is left).
pub fn running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        !s.rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with(['Z', 'X'])
    })
}

/// Runs `cmd` to its end, at most `limit`; kills it and fails past that.
pub fn output_within(mut cmd: Command, limit: Duration) -> std::process::Output {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("start the command");
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out_reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let err_reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    let status = match child.wait_timeout(limit).expect("wait for the command") {
        Some(status) => status,
        None => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} ran past {limit:?}: the harness hangs");
        }
    };
    std::process::Output {
        status,
        stdout: out_reader.join().unwrap(),
        stderr: err_reader.join().unwrap(),
    }
}

/// A child process that is killed and reaped when this goes out of scope, so a failing test
/// never leaves it running (and never hangs on the pipes it holds).
pub struct KillOnDrop(pub std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `command` with its stdout piped; its lines arrive on the receiver as they are written.
pub fn spawn_with_lines(command: &mut Command) -> (KillOnDrop, std::sync::mpsc::Receiver<String>) {
    use std::io::BufRead;
    let mut child = KillOnDrop(command.stdout(Stdio::piped()).spawn().unwrap());
    let stdout = child.0.stdout.take().unwrap();
    let (lines_tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    (child, lines)
}

/// The Python that has python-can and junitparser: `MPTEST_PYCAN_PYTHON`, else the peers' venv.
pub fn peers_python() -> std::path::PathBuf {
    let python = std::env::var_os("MPTEST_PYCAN_PYTHON")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from("/tmp/peers-venv/bin/python"));
    assert!(
        python.exists(),
        "junitparser is needed: `python3 -m venv /tmp/peers-venv && /tmp/peers-venv/bin/pip install junitparser` \
         (bash .ci/run does it), or set MPTEST_PYCAN_PYTHON"
    );
    python
}

/// Checks `report` against the Jenkins xunit plugin's `junit-10.xsd` with xmllint: `Err` with
/// xmllint's words when it is not valid. (`bash .ci/run` puts the schema in `/tmp/junit-xsd`;
/// `MPTEST_JUNIT_XSD` names another copy.)
pub fn validate_junit(report: &std::path::Path) -> Result<(), String> {
    let xsd = std::env::var_os("MPTEST_JUNIT_XSD")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from("/tmp/junit-xsd/junit-10.xsd"));
    assert!(
        xsd.exists(),
        "the JUnit schema is needed at {} (bash .ci/run fetches it), or set MPTEST_JUNIT_XSD",
        xsd.display()
    );
    let out = std::process::Command::new("xmllint")
        .args(["--noout", "--schema"])
        .arg(&xsd)
        .arg(report)
        .output()
        .expect("xmllint (libxml2-utils) is needed; bash .ci/run installs it");
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// `tests/twin/twin.rs` compiled under libtest's harness (`rustc --test`) into `dirs`: libtest's
/// twin of the fixture's `twin` module, to hold mptest's behaviour against.
pub fn libtest_twin(dirs: &RunDirs) -> std::path::PathBuf {
    let binary = dirs.scratch.join("twin");
    let source = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/twin/twin.rs");
    let built = Command::new("rustc")
        .args(["--edition", "2021", "--test", "-o"])
        .arg(&binary)
        .arg(source)
        .output()
        .expect("run rustc");
    assert!(
        built.status.success(),
        "{}",
        String::from_utf8_lossy(&built.stderr)
    );
    binary
}

/// Runs libtest's twin with these arguments (its unstable options allowed, as on nightly).
pub fn libtest_twin_run(binary: &std::path::Path, args: &[&str]) -> Run {
    let mut cmd = Command::new(binary);
    cmd.args(args)
        // libtest's unstable options need this on a stable toolchain.
        .env("RUSTC_BOOTSTRAP", "1")
        .env("RUST_BACKTRACE", "0")
        .env_remove("RUST_TEST_THREADS");
    let started = Instant::now();
    Run::of(&output_within(cmd, RUN_LIMIT), started)
}

/// Waits until process `pid` (not necessarily our child) has ended — exited, a zombie or gone —
/// at most `limit`: an event (a pidfd turns readable when the process ends), not a poll.
#[allow(dead_code)]
pub fn wait_ended(pid: u32, limit: std::time::Duration) -> bool {
    // SAFETY: pidfd_open(2) takes a pid and flags; the descriptor is closed below.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) } as i32;
    if fd < 0 {
        return !running(pid); // already gone (ESRCH)
    }
    let mut poll = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    let deadline = Instant::now() + limit;
    let ended = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        // SAFETY: one pollfd that lives across the call.
        let n = unsafe { libc::poll(&mut poll, 1, left.as_millis().min(i32::MAX as u128) as i32) };
        if n > 0
            || left.is_zero()
            || (n < 0 && std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR))
        {
            break n > 0;
        }
    };
    // SAFETY: fd is ours.
    unsafe { libc::close(fd) };
    ended || !running(pid)
}
