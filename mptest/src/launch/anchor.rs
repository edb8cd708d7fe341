//! The leader of a re-executed worker's process group, so that the worker itself is not one.
//!
//! The coordinator ends a worker and everything its tests started with one signal to the
//! worker's process group, so the process it starts leads a group of its own. A test may call
//! `setsid()`, which a group leader may not (EPERM). So the started process forks at once: the
//! child goes on as the worker — a member of the group, free to `setsid` — and the parent stays
//! as the group's *anchor*: it waits for the worker and ends as the worker ended (the same exit
//! code, or the same signal), which is what the coordinator sees of it. The anchor ignores
//! SIGTERM and SIGINT (the worker handles them), dies on SIGKILL like the rest of the group,
//! and the worker dies with it (parent-death signal). When the coordinator dies, the anchor
//! ends the whole group (see [`crate::platform::watch_parent`]). Never returns in the anchor.
//!
//! A worker forked from the coordinator has no anchor: it joins a group founded for it (see
//! [`super::fork`]) and is the coordinator's own child.
//!
//! Coverage: LLVM's profile runtime names the profile when the process starts, so the worker
//! writes its profile under the anchor's pid (`%p`); the anchor itself writes none (`_exit`).

use nix::sys::signal::{signal, SigHandler, Signal};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, ForkResult, Pid};

use crate::error::Error;

/// Splits this process into the anchor (which never returns from here) and the worker (which
/// returns). Call it first thing in the worker, while it has no other thread.
pub(crate) fn split(coordinator: i32) -> Result<(), Error> {
    // SAFETY: called before the worker starts any thread; the parent only waits and exits,
    // the child goes on as a whole process.
    match unsafe { fork() } {
        Ok(ForkResult::Child) => {
            let anchor = nix::unistd::getppid();
            if !crate::platform::die_with_parent(anchor.as_raw()) {
                // The anchor died before the notice was set: nothing is left to wait for us.
                std::process::exit(crate::EXIT_USAGE);
            }
            Ok(())
        }
        Ok(ForkResult::Parent { child }) => anchor(child, coordinator),
        Err(err) => Err(Error::BadRole(format!(
            "cannot fork the worker from its process group's leader: {err}"
        ))),
    }
}

/// The anchor's life: wait for the worker, then end as it did.
fn anchor(worker: Pid, coordinator: i32) -> ! {
    // When the coordinator goes — also by SIGKILL, when nothing of it can end the run — the
    // whole group goes: the worker and every process its test left in the group. (A thread of
    // the anchor's own, started now: the fork took none along.)
    if !crate::platform::watch_parent(coordinator, true) {
        let _ = nix::sys::signal::kill(worker, Signal::SIGKILL);
    }
    // SAFETY: dispositions of this process's own signals; no handler code runs.
    unsafe {
        let _ = signal(Signal::SIGTERM, SigHandler::SigIgn);
        let _ = signal(Signal::SIGINT, SigHandler::SigIgn);
    }
    let status = loop {
        match waitpid(worker, None) {
            Ok(status @ (WaitStatus::Exited(..) | WaitStatus::Signaled(..))) => break status,
            Ok(_) | Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => break WaitStatus::Exited(worker, crate::EXIT_USAGE),
        }
    };
    // `_exit`: no atexit handlers here (a coverage profile is the worker's to write).
    match status {
        WaitStatus::Signaled(_, sig, _) => {
            // No core file of the anchor's own; the worker's crash was the worker's.
            let _ = nix::sys::resource::setrlimit(nix::sys::resource::Resource::RLIMIT_CORE, 0, 0);
            // SAFETY: as above; then the signal's default action ends this process.
            unsafe {
                let _ = signal(sig, SigHandler::SigDfl);
            }
            let mut unblock = nix::sys::signal::SigSet::empty();
            unblock.add(sig);
            let _ = unblock.thread_unblock();
            let _ = nix::sys::signal::raise(sig);
            // A signal whose default is not to end the process (it cannot end a worker).
            unsafe { libc::_exit(128 + sig as i32) }
        }
        WaitStatus::Exited(_, code) => unsafe { libc::_exit(code) },
        _ => unsafe { libc::_exit(crate::EXIT_USAGE) },
    }
}
