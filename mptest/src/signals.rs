//! Signals as events a thread waits for, or a loop polls: a handler writes the signal's number
//! into a pipe (the one thing a handler may safely do), and [`Signals`] reads them in order.
//!
//! A process whose first signal is read by a loop that may be stuck (the coordinator's
//! scheduler, blocked writing to a full stdout, say) asks that a second signal end it at once,
//! by the signal's default action, until a thread waits for it ([`second_ends_process`]).
//!
//! Written here, not taken from signal-hook: these few lines are all mptest needs (one listener
//! per process — the coordinator's interrupts, a role's SIGTERM), and a user's build is three
//! crates lighter.

use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, IntoRawFd};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, Ordering};

/// The pipe's write end, for the handler (-1 until [`listen`]).
static WRITE_END: AtomicI32 = AtomicI32::new(-1);
/// The signals caught so far.
static CAUGHT: AtomicU32 = AtomicU32::new(0);
/// See [`second_ends_process`].
static SECOND_ENDS_PROCESS: AtomicBool = AtomicBool::new(false);

/// While `true`, a second signal ends this process at once, by its default action, in the
/// handler: nothing may be waiting to read it (the first is read by a loop that may be stuck).
/// Set `false` once a thread waits for the next one.
pub(crate) fn second_ends_process(yes: bool) {
    SECOND_ENDS_PROCESS.store(yes, Ordering::SeqCst);
}

extern "C" fn on_signal(signal: libc::c_int) {
    let fd = WRITE_END.load(Ordering::Relaxed);
    if fd >= 0 {
        let byte = signal as u8;
        // SAFETY: write(2) of one byte from the stack is async-signal-safe; the write end is
        // non-blocking, so a full pipe drops the signal instead of hanging the handler.
        unsafe {
            libc::write(fd, (&byte as *const u8).cast(), 1);
        }
    }
    let caught = CAUGHT.fetch_add(1, Ordering::SeqCst) + 1;
    if caught >= 2 && SECOND_ENDS_PROCESS.load(Ordering::SeqCst) {
        // SAFETY: sigaction(2) and raise(3) are async-signal-safe. The signal is blocked while
        // its handler runs: raised again with its default action, it ends the process as soon
        // as the handler returns.
        unsafe {
            let mut default: libc::sigaction = std::mem::zeroed();
            default.sa_sigaction = libc::SIG_DFL;
            libc::sigaction(signal, &default, std::ptr::null_mut());
            libc::raise(signal);
        }
    }
}

/// The signals caught since [`listen`], in the order they came.
pub(crate) struct Signals(std::io::PipeReader);

impl Iterator for Signals {
    type Item = libc::c_int;

    /// Waits for the next signal.
    fn next(&mut self) -> Option<libc::c_int> {
        loop {
            match self.read_one() {
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    let mut fds = [nix::poll::PollFd::new(self.0.as_fd(), nix::poll::PollFlags::POLLIN)];
                    let _ = nix::poll::poll(&mut fds, nix::poll::PollTimeout::NONE);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                read => return read.ok().flatten(),
            }
        }
    }
}

impl Signals {
    /// The pipe's read end, for a loop to poll.
    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }

    /// The next signal if one came, without waiting.
    pub(crate) fn try_next(&mut self) -> Option<libc::c_int> {
        loop {
            match self.read_one() {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                read => return read.ok().flatten(),
            }
        }
    }

    /// One signal from the (non-blocking) pipe; `None` at its end.
    fn read_one(&mut self) -> std::io::Result<Option<libc::c_int>> {
        let mut byte = [0u8];
        match self.0.read(&mut byte)? {
            1 => Ok(Some(libc::c_int::from(byte[0]))),
            _ => Ok(None),
        }
    }
}

/// Catches `signals` from now on (once per process).
pub(crate) fn listen(signals: &[libc::c_int]) -> std::io::Result<Signals> {
    let (reader, writer) = std::io::pipe()?;
    // Both ends non-blocking: the handler's, so a full pipe drops a signal instead of hanging
    // it; ours, so a loop can look without waiting.
    for fd in [reader.as_raw_fd(), writer.as_raw_fd()] {
        // SAFETY: fcntl on a descriptor we own.
        unsafe {
            let flags = libc::fcntl(fd, libc::F_GETFL);
            libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK);
        }
    }
    let old = WRITE_END.swap(writer.into_raw_fd(), Ordering::SeqCst);
    if old >= 0 {
        // SAFETY: the write end of an earlier listener's pipe, ours to close.
        unsafe { libc::close(old) };
    }
    for &signal in signals {
        // SAFETY: a handler that only writes to a pipe; SA_RESTART so that system calls the
        // signal interrupts go on.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
            action.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            if libc::sigaction(signal, &action, std::ptr::null_mut()) != 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
    }
    Ok(Signals(reader))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_signal_sent_to_ourselves_arrives_in_order() {
        let mut signals = super::listen(&[libc::SIGUSR1, libc::SIGUSR2]).unwrap();
        // SAFETY: raise(3) with a signal we just installed a handler for.
        unsafe {
            libc::raise(libc::SIGUSR2);
            libc::raise(libc::SIGUSR1);
        }
        assert_eq!(signals.next(), Some(libc::SIGUSR2));
        assert_eq!(signals.next(), Some(libc::SIGUSR1));
    }
}
