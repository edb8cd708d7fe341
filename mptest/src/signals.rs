//! Signals as events a thread waits for: a handler writes the signal's number into a pipe
//! (the one thing a handler may safely do), and [`Signals`] reads them in order.
//!
//! Written here, not taken from signal-hook: these few lines are all mptest needs (one listener
//! per process — the coordinator's interrupts, a role's SIGTERM), and a user's build is three
//! crates lighter.

use std::io::Read;
use std::os::fd::{AsRawFd, IntoRawFd};
use std::sync::atomic::{AtomicI32, Ordering};

/// The pipe's write end, for the handler (-1 until [`listen`]).
static WRITE_END: AtomicI32 = AtomicI32::new(-1);

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
}

/// The signals caught since [`listen`], in the order they came.
pub(crate) struct Signals(std::io::PipeReader);

impl Iterator for Signals {
    type Item = libc::c_int;

    /// Waits for the next signal.
    fn next(&mut self) -> Option<libc::c_int> {
        let mut byte = [0u8];
        loop {
            match self.0.read(&mut byte) {
                Ok(1) => return Some(libc::c_int::from(byte[0])),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                _ => return None,
            }
        }
    }
}

/// Catches `signals` from now on (once per process).
pub(crate) fn listen(signals: &[libc::c_int]) -> std::io::Result<Signals> {
    let (reader, writer) = std::io::pipe()?;
    // SAFETY: fcntl on a descriptor we own.
    unsafe {
        let flags = libc::fcntl(writer.as_raw_fd(), libc::F_GETFL);
        libc::fcntl(writer.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK);
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
