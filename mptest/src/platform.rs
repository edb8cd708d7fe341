//! Which of Linux's facilities this build uses, and the portable ways used elsewhere.
//!
//! | needs | Linux | elsewhere (and Linux built with `--cfg mptest_portable`) |
//! |---|---|---|
//! | the process table | `/proc` | `ps -A -o pid=,ppid=,pgid=,comm=` (POSIX), read only when a test left a child |
//! | leftovers that double-forked | the worker is a child subreaper | the worker's process group (found when the worker ends) |
//! | a worker dies with its anchor | `PR_SET_PDEATHSIG` | a thread that looks at `getppid()` every 50 ms (the anchor, children, auxes and managers use it everywhere) |
//! | the first workers | forked before the coordinator has a thread (`launch::fork`) | re-executed |
//! | a worker's bursts of writes to stdout and stderr | kept in memory (`stage`: a shared mapping made before the fork, or a memory file for a re-executed worker; glibc only: it defines the C library's `write`) | each a write to the capture pipe |
//! | a forked worker starts beside the coordinator (when a CPU is idle) | `sched_setaffinity` until its first message (`cpus`) | — (no forked workers) |
//! | a forked worker's group ends with the coordinator | a parent-death signal whose handler kills the group | — (no forked workers) |
//! | clock wake-ups across processes | futex on the shared page | a look every millisecond |
//! | coverage of children, auxes, managers | the profile runtime found in the ELF symbol table | not written (workers' coverage is) |
//!
//! `--cfg mptest_portable` exists so the fallbacks run on the machines that build mptest:
//! `.ci/run` runs the harness, spawn, manager and aux self-tests once with it.

/// Linux's own facilities are used.
pub(crate) const LINUX: bool = cfg!(all(target_os = "linux", not(mptest_portable)));

/// `/proc/self/exe`, `/proc/<pid>/...`: `path` under `/proc` where this build reads `/proc`.
pub(crate) fn proc_path(path: &str) -> Option<std::path::PathBuf> {
    LINUX.then(|| std::path::Path::new("/proc").join(path))
}

/// Ends this process (SIGKILL, as the parent-death signal would) when its parent is gone:
/// Linux's `PR_SET_PDEATHSIG` where there is one, else [`watch_parent`]. `parent` is the pid
/// this process's parent had; false if it is already gone.
pub(crate) fn die_with_parent(parent: i32) -> bool {
    #[cfg(all(target_os = "linux", not(mptest_portable)))]
    let _ = nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL);
    #[cfg(not(all(target_os = "linux", not(mptest_portable))))]
    if !watch_parent(parent, false) {
        return false;
    }
    nix::unistd::getppid().as_raw() == parent
}

/// Ends this process — or its whole process group, with `group` — with SIGKILL once its parent
/// is gone, on every system: a thread looks at the parent pid every 50 ms (no portable event
/// tells a child its parent died, and Linux's parent-death signal follows the parent *thread*,
/// which for a process a test starts is the test's thread). False if no thread could be
/// started.
pub(crate) fn watch_parent(parent: i32, group: bool) -> bool {
    let target = if group { 0 } else { std::process::id() as i32 };
    std::thread::Builder::new()
        .name("mptest-parent".into())
        .spawn(move || loop {
            if nix::unistd::getppid().as_raw() != parent {
                // SAFETY: kill(2) with our own pid or group (0); no memory involved.
                unsafe {
                    libc::kill(target, libc::SIGKILL);
                }
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        })
        .is_ok()
}

/// Ends this process's whole process group with SIGKILL once its parent is gone: on Linux
/// without a thread — the parent-death signal runs a handler that does it (`kill(0, SIGKILL)`,
/// async-signal-safe) — elsewhere with [`watch_parent`]'s thread. The parent-death signal follows
/// the parent *thread*: only for a process forked by a thread that lives as long as its parent
/// (the coordinator's main thread forks the first workers). False if it could not be set up.
pub(crate) fn end_group_with_parent(parent: i32) -> bool {
    #[cfg(all(target_os = "linux", not(mptest_portable)))]
    {
        extern "C" fn end_group(_: libc::c_int) {
            // SAFETY: kill(2) is async-signal-safe; 0 is this process's own group.
            unsafe {
                libc::kill(0, libc::SIGKILL);
            }
        }
        let signal = libc::SIGRTMAX();
        // SAFETY: a handler that only calls kill(2), for a real-time signal nothing else of
        // ours uses; then prctl with an int argument.
        let set = unsafe {
            libc::signal(signal, end_group as extern "C" fn(libc::c_int) as libc::sighandler_t) != libc::SIG_ERR
                && libc::prctl(libc::PR_SET_PDEATHSIG, signal) == 0
        };
        if !set {
            return watch_parent(parent, true);
        }
        // Gone before the signal was asked for: nothing will send it.
        if nix::unistd::getppid().as_raw() != parent {
            end_group(0);
        }
        true
    }
    #[cfg(not(all(target_os = "linux", not(mptest_portable))))]
    watch_parent(parent, true)
}

/// The executable to re-exec: the kernel's link to this very binary where there is one, so a
/// rebuilt or moved file does not matter.
pub(crate) fn own_exe() -> std::path::PathBuf {
    if let Some(proc_exe) = proc_path("self/exe").filter(|p| p.exists()) {
        return proc_exe;
    }
    std::env::current_exe().unwrap_or_else(|_| std::env::args_os().next().unwrap_or_default().into())
}
