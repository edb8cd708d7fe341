//! `serial` under cargo-nextest. nextest runs each test in a process of its own, so one
//! coordinator never sees the others; they agree through a lock on a directory every test
//! process of the nextest run can see: a `serial` test holds it exclusively, every other test
//! shares it. A serial test thus waits until no other mptest test runs, and the others wait
//! while it runs; none fails because of the others. The lock is `flock` on a directory that
//! exists anyway, so nothing is left behind, and the kernel drops it when the process ends.

use std::fs::File;
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Duration;

use nix::fcntl::{Flock, FlockArg};

/// Set by nextest in every test process it starts.
const RUN_ID_VAR: &str = "NEXTEST_RUN_ID";
/// The workspace root, set by recent nextest versions.
const WORKSPACE_ROOT_VAR: &str = "NEXTEST_WORKSPACE_ROOT";

/// How long a test waits for the others before it gives up and fails with a clear message.
const WAIT_LIMIT: Duration = Duration::from_secs(30 * 60);

/// The lock this coordinator holds for its run; released when it is dropped (or the process
/// ends).
pub(crate) struct RunLock {
    _lock: Flock<File>,
}

/// Under nextest: takes the run lock, exclusive when the run has a `serial` test, shared
/// otherwise, waiting at most [`WAIT_LIMIT`]. Outside nextest: `Ok(None)`.
pub(crate) fn hold(serial: bool) -> Result<Option<RunLock>, String> {
    if std::env::var_os(RUN_ID_VAR).is_none() {
        return Ok(None);
    }
    let Some(dir) = lock_dir() else { return Ok(None) };
    let file = File::open(&dir).map_err(|e| format!("cannot open {} to lock it: {e}", dir.display()))?;
    let arg = if serial {
        FlockArg::LockExclusive
    } else {
        FlockArg::LockShared
    };
    // Usually free: taken at once, without a thread (the first workers are forked only while
    // this process has none, see `launch::fork`).
    let at_once = match arg {
        FlockArg::LockExclusive => FlockArg::LockExclusiveNonblock,
        _ => FlockArg::LockSharedNonblock,
    };
    let file = match Flock::lock(file, at_once) {
        Ok(lock) => return Ok(Some(RunLock { _lock: lock })),
        Err((file, nix::errno::Errno::EWOULDBLOCK)) => file,
        Err((_, errno)) => return Err(format!("cannot lock {}: {errno}", dir.display())),
    };
    // flock has no timeout: wait on a helper thread, bounded here.
    let (done_tx, done) = mpsc::channel();
    let waiter = std::thread::Builder::new()
        .name("mptest-serial-lock".into())
        .spawn(move || {
            let _ = done_tx.send(Flock::lock(file, arg).map_err(|(_, errno)| errno));
        })
        .map_err(|e| format!("cannot start the lock's thread: {e}"))?;
    match done.recv_timeout(WAIT_LIMIT) {
        Ok(Ok(lock)) => {
            // Gone before the first workers start (it has sent: it is ending).
            let _ = waiter.join();
            Ok(Some(RunLock { _lock: lock }))
        }
        Ok(Err(errno)) => Err(format!("cannot lock {}: {errno}", dir.display())),
        Err(_) => Err(format!(
            "waited {} for other tests of this nextest run to leave room for a serial test (lock on {})",
            humantime::format_duration(WAIT_LIMIT),
            dir.display()
        )),
    }
}

/// The workspace root nextest names, else the build profile's directory (`target/debug` for a
/// binary in `target/debug/deps` or `target/debug/examples`), which all test binaries share.
fn lock_dir() -> Option<PathBuf> {
    if let Some(root) = std::env::var_os(WORKSPACE_ROOT_VAR).map(PathBuf::from) {
        if root.is_dir() {
            return Some(root);
        }
    }
    let exe = std::env::current_exe().ok()?;
    let parent = exe.parent()?;
    let in_profile_subdir = parent
        .file_name()
        .is_some_and(|name| name == "deps" || name == "examples");
    let dir = if in_profile_subdir {
        parent.parent()?
    } else {
        parent
    };
    Some(dir.to_path_buf())
}
