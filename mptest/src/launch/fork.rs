//! Starting the first workers by `fork` alone, without `exec`.
//!
//! Re-executing the test binary costs a worker about a millisecond before it can run a test
//! (the loader, std's start, `main`), and under cargo-nextest — one process per test — that is
//! paid again for every test. A copy of the coordinator made by `fork` is ready at once. Forking
//! is only sound in a process with one thread (a copy of a lock another thread held stays held
//! forever), so the coordinator forks its first workers before it starts any thread, and forks
//! only when:
//!
//! - this build uses Linux's facilities (elsewhere, and with `--cfg mptest_portable`, workers are
//!   always re-executed: that path is the one the other systems run, and it is tested so);
//! - `main` is [`crate::main!`]'s: no code of the user's ran before the coordinator. A `main` of
//!   the user's may set things up before [`crate::run`] — open files, make directories, start
//!   threads — and a re-executed worker does all that again for itself, where a copy would
//!   share the coordinator's (one directory for all workers, a file whose offset they share);
//!   so under a `main` of the user's, workers are re-executed, as they always were;
//! - the process has one thread (a constructor may have started one);
//! - the binary is not instrumented for coverage (LLVM's profile runtime names its file when
//!   the process starts: a copy would write the coordinator's profile, counts included).
//!
//! A worker that replaces a dead one is re-executed (the coordinator has threads by then), and
//! `MPTEST_FORK_WORKERS=0` has every worker re-executed.
//!
//! The copy then becomes what `exec` would have made of it: a process group of its own (founded
//! by a process forked for the purpose, see [`found_group`]), stdin from `/dev/null`, stdout and
//! stderr the capture pipe, the coordinator's ends of the pipes and channels of the workers
//! forked before it closed, the worker's name and role. Its channels to and from the coordinator
//! are made before the fork: no socket to connect to, and its first test can be sent before it
//! says hello. Descriptors are otherwise left
//! as they are (the copy never touches the coordinator's objects that own them, and closing a
//! descriptor that something in memory still names could send its writes elsewhere).

use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};

/// Set by [`crate::main!`]'s `main`: no code of the user's ran before the coordinator.
static MAIN_IS_MPTESTS: AtomicBool = AtomicBool::new(false);

/// Called by [`crate::main!`]'s `main` before [`crate::run`].
pub(crate) fn main_is_mptests() {
    MAIN_IS_MPTESTS.store(true, Ordering::Relaxed);
}

/// Set to `0` to have every worker re-executed.
const FORK_VAR: &str = "MPTEST_FORK_WORKERS";

/// Whether the first workers may be forked now (see the module's documentation).
pub(crate) fn workers_may_fork() -> bool {
    crate::platform::LINUX
        && MAIN_IS_MPTESTS.load(Ordering::Relaxed)
        && std::env::var_os(FORK_VAR).is_none_or(|v| v != "0")
        && single_threaded()
        && !crate::coverage::instrumented()
}

/// Whether this process has exactly one thread (Linux: `/proc/self/stat`'s 20th field).
fn single_threaded() -> bool {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return false;
    };
    // The command name (field 2) is in parentheses and may hold spaces: count after it.
    let Some((_, after_name)) = stat.rsplit_once(')') else {
        return false;
    };
    // Fields 3 onwards; the thread count is field 20.
    after_name.split_whitespace().nth(17) == Some("1")
}

/// What a forked worker's standard descriptors become.
pub(crate) struct Stdio {
    /// stdin: `/dev/null`.
    pub(crate) null: OwnedFd,
    /// stdout and stderr, when capturing: the pipe's write end.
    pub(crate) output: Option<OwnedFd>,
}

/// Forks the founder of a worker's process group: a process that leads a new group and waits,
/// doing nothing, to be killed (or to die with the coordinator). The worker joins the group
/// and the founder is killed: the group lives on with the worker and what its tests start, and
/// the worker, not its leader, may call `setsid()` (a re-executed worker has an anchor for
/// that, see [`super::anchor`]). Only while the coordinator has one thread.
pub(crate) fn found_group() -> nix::Result<nix::unistd::Pid> {
    use nix::unistd::{fork, setpgid, ForkResult, Pid};
    let coordinator = std::process::id() as i32;
    // SAFETY: one thread (see `workers_may_fork`); the copy only calls async-signal-safe
    // functions (setpgid, prctl, getppid, pause, _exit) and never returns.
    match unsafe { fork() }? {
        ForkResult::Child => {
            let _ = setpgid(Pid::from_raw(0), Pid::from_raw(0));
            #[cfg(target_os = "linux")]
            // SAFETY: prctl with an int argument.
            unsafe {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            }
            // SAFETY: getppid, pause and _exit have no preconditions.
            unsafe {
                if libc::getppid() != coordinator {
                    libc::_exit(0);
                }
                loop {
                    libc::pause();
                }
            }
        }
        ForkResult::Parent { child } => {
            // As the founder does: whichever comes first, the group exists after this.
            match setpgid(child, child) {
                Ok(()) => Ok(child),
                Err(err) => {
                    let _ = nix::sys::signal::kill(child, nix::sys::signal::Signal::SIGKILL);
                    let _ = nix::sys::wait::waitpid(child, None);
                    Err(err)
                }
            }
        }
    }
}

/// In the forked copy, first thing: makes it the process `exec` would have started (see the
/// module's documentation), a member of the process group `group`, and runs the worker. Never
/// returns; a panic on the way ends the copy, which must never go back into the coordinator's
/// code.
pub(crate) fn become_worker(
    title: &str,
    group: i32,
    boot: super::role::Boot,
    channels: crate::worker::Channels,
    stdio: Stdio,
) -> ! {
    let became = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = nix::unistd::setpgid(nix::unistd::Pid::from_raw(0), nix::unistd::Pid::from_raw(group));
        // SAFETY: dup2 onto the standard descriptors, which this process owns, from open
        // descriptors of ours.
        unsafe {
            libc::dup2(stdio.null.as_raw_fd(), 0);
            if let Some(output) = &stdio.output {
                libc::dup2(output.as_raw_fd(), 1);
                libc::dup2(output.as_raw_fd(), 2);
            }
        }
        drop(stdio.null);
        drop(stdio.output);
        super::role::become_worker();
        super::reexec::name_process(title);
    }));
    if became.is_err() {
        // SAFETY: ends this copy at once, running nothing of the coordinator's.
        unsafe { libc::_exit(crate::EXIT_USAGE) }
    }
    crate::worker::run(boot, Some(channels))
}
