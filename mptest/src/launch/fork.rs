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
//! by a process it makes for the purpose, see [`found_own_group`]), stdin from `/dev/null`, stdout and
//! stderr the capture pipe, the coordinator's ends of the pipes and channels of the workers
//! forked before it closed, the worker's name and role. When a CPU is idle, the coordinator sends
//! it there at once, where it starts beside the coordinator (see [`crate::cpus`]). Its channels to and from the coordinator
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
    /// Where the worker's own writes to them are staged (see [`crate::stage`]).
    pub(crate) stage: Option<std::sync::Arc<crate::stage::Stage>>,
}

/// Makes this process (a forked worker, one thread) a member of a process group of its own
/// that it does not lead: a process made for the purpose founds the group and exits, this one
/// joins the group before reaping the founder; the group lives on with this process and what
/// its tests start, and a test may call `setsid()`, which a group's leader may not (a
/// re-executed worker has an anchor for that, see [`super::anchor`]). Done by the worker, not by
/// the coordinator, whose start it would slow.
///
/// The founder is made by `clone` with `CLONE_VM | CLONE_VFORK`, as `posix_spawn` makes its
/// children: it shares this process's memory instead of copying its page tables (a `fork` costs
/// this process ~150 µs and copy-on-write faults after it), runs one function on a small stack
/// of its own while this process waits, and exits. Until it is reaped it is a zombie, still a
/// member of its group: joining the group then cannot find it gone.
#[cfg(target_os = "linux")]
fn found_own_group() -> std::io::Result<()> {
    extern "C" fn lead_a_new_group(_: *mut libc::c_void) -> libc::c_int {
        // SAFETY: setpgid on the calling process. (On failure it sets the errno of the thread
        // it shares memory with, which waits meanwhile and reads no errno from before.)
        unsafe { libc::setpgid(0, 0) }
    }
    // The founder's stack: it runs `lead_a_new_group` and nothing else.
    let mut stack = vec![0u128; 1024];
    let top = stack.as_mut_ptr_range().end.cast::<libc::c_void>();
    // SAFETY: the child runs on a stack of its own (16-byte aligned, as `u128`s are), calls
    // only setpgid and returns, which exits it; this thread is suspended until then
    // (`CLONE_VFORK`), so the stack outlives it.
    let founder = unsafe {
        libc::clone(
            lead_a_new_group,
            top,
            libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
            std::ptr::null_mut(),
        )
    };
    if founder < 0 {
        return Err(std::io::Error::last_os_error());
    }
    drop(stack);
    let founder = nix::unistd::Pid::from_raw(founder);
    let joined = nix::unistd::setpgid(nix::unistd::Pid::from_raw(0), founder);
    while let Err(nix::errno::Errno::EINTR) = nix::sys::wait::waitpid(founder, None) {}
    joined.map_err(std::io::Error::from)
}

/// Elsewhere workers are never forked (see [`workers_may_fork`]).
#[cfg(not(target_os = "linux"))]
fn found_own_group() -> std::io::Result<()> {
    Err(std::io::ErrorKind::Unsupported.into())
}

/// In the forked copy, first thing: makes it the process `exec` would have started (see the
/// module's documentation), a member of a process group of its own, and runs the worker. Never
/// returns; a panic or an error on the way ends the copy (the error said in its output), which
/// must never go back into the coordinator's code.
pub(crate) fn become_worker(
    title: &str,
    boot: super::role::Boot,
    channels: crate::worker::Channels,
    stdio: Stdio,
) -> ! {
    let became = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
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
        if let Some(stage) = stdio.stage {
            crate::stage::arm(stage);
        }
        if let Err(err) = found_own_group() {
            eprintln!("mptest worker: cannot make a process group of its own: {err}");
            return false;
        }
        super::role::become_worker();
        super::reexec::name_process(title);
        true
    }));
    if !matches!(became, Ok(true)) {
        // SAFETY: ends this copy at once, running nothing of the coordinator's.
        unsafe { libc::_exit(crate::EXIT_USAGE) }
    }
    crate::worker::run(boot, Some(channels))
}
