//! Which of the tests sent to a forked worker ahead of time it started, and which the
//! coordinator took back: one byte per message, in memory the two share (mapped before the
//! fork).
//!
//! A busy worker is sent its next tests ahead, so that short ones run back to back without a
//! round trip (see `Scheduler::may_hand_out_ahead`). When another worker runs out of work while
//! they still wait behind a long test, the coordinator takes the last of them back and gives
//! it to the idle worker — as libtest's threads would have taken it. Its message is in the
//! worker's pipe already and cannot be unsent: the worker and the coordinator settle who has
//! it with one compare-and-swap on the message's byte, the worker before it starts the test,
//! the coordinator before it gives the test to another worker. Whoever comes second knows it.
//!
//! The `n`-th run message to a worker has the byte `n % RING`. A byte is used again only when
//! the message `RING` places earlier was read long before: unread messages wait in the pipe,
//! which holds at most 64 KiB, and a message is at least 8 bytes, so fewer than `RING` of them.

use std::ptr::NonNull;
use std::sync::atomic::{AtomicU8, Ordering};

/// Bytes in the ring (16 KiB).
const RING: usize = 16 * 1024;

/// Sent, not started yet.
const SENT: u8 = 1;
/// The worker started it.
const STARTED: u8 = 2;
/// The coordinator took it back: the worker skips it.
const TAKEN_BACK: u8 = 3;

/// The shared bytes: made by the coordinator before it forks a worker; both keep the mapping.
pub(crate) struct Claims {
    ring: NonNull<AtomicU8>,
}

// SAFETY: the mapping is only reached through atomics.
unsafe impl Send for Claims {}
unsafe impl Sync for Claims {}

impl Claims {
    /// Maps the ring, shared with the processes forked after this.
    pub(crate) fn new() -> std::io::Result<Claims> {
        // SAFETY: a fresh anonymous mapping; nothing else is at the address it returns.
        let address = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                RING,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANON,
                -1,
                0,
            )
        };
        if address == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        let ring = NonNull::new(address.cast::<AtomicU8>()).ok_or_else(std::io::Error::last_os_error)?;
        Ok(Claims { ring })
    }

    /// The same mapping, as the worker's end has it after a fork: for tests in one process,
    /// which must forget one of the two (each unmaps it when dropped).
    #[cfg(test)]
    pub(crate) fn alias(&self) -> Claims {
        Claims { ring: self.ring }
    }

    fn byte(&self, message: u64) -> &AtomicU8 {
        // SAFETY: the index is within the mapping, which lives as long as `self`; zeroed memory
        // is a valid `AtomicU8`.
        unsafe { &*self.ring.as_ptr().add((message % RING as u64) as usize) }
    }

    /// The coordinator: run message `message` is about to be sent.
    pub(crate) fn sent(&self, message: u64) {
        self.byte(message).store(SENT, Ordering::Release);
    }

    /// The coordinator: takes run message `message` back; `false` when the worker started it.
    pub(crate) fn take_back(&self, message: u64) -> bool {
        self.byte(message)
            .compare_exchange(SENT, TAKEN_BACK, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// The worker: whether it may start run message `message` (then it is its own); `false`
    /// when the coordinator took it back.
    pub(crate) fn start(&self, message: u64) -> bool {
        match self
            .byte(message)
            .compare_exchange(SENT, STARTED, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => true,
            Err(state) => state != TAKEN_BACK,
        }
    }
}

impl Drop for Claims {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `new`, unmapped once.
        unsafe {
            libc::munmap(self.ring.as_ptr().cast(), RING);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_is_either_started_or_taken_back_never_both() {
        let claims = Claims::new().unwrap();
        claims.sent(1);
        claims.sent(2);
        assert!(claims.start(1));
        assert!(!claims.take_back(1), "started: the worker has it");
        assert!(claims.take_back(2));
        assert!(!claims.start(2), "taken back: the worker skips it");
        // The byte is used again for the message RING places later.
        claims.sent(2 + RING as u64);
        assert!(claims.start(2 + RING as u64));
    }

    /// Across a fork, as the coordinator and a worker use it: the child starts what it may,
    /// the parent takes back the rest; each message is had by exactly one of them.
    #[test]
    fn across_processes_each_message_is_had_once() {
        let claims = Claims::new().unwrap();
        const MESSAGES: u64 = 2000;
        for message in 1..=MESSAGES {
            claims.sent(message);
        }
        let (mut reader, mut writer) = std::io::pipe().unwrap();
        // SAFETY: the child only touches the shared bytes and a pipe, then exits.
        match unsafe { nix::unistd::fork() }.unwrap() {
            nix::unistd::ForkResult::Child => {
                let started = (1..=MESSAGES).filter(|&m| claims.start(m)).count() as u64;
                let _ = std::io::Write::write_all(&mut writer, &started.to_le_bytes());
                // SAFETY: ends the copy without running the parent's exit handlers.
                unsafe { libc::_exit(0) }
            }
            nix::unistd::ForkResult::Parent { child } => {
                drop(writer);
                let taken = (1..=MESSAGES).rev().filter(|&m| claims.take_back(m)).count() as u64;
                let mut started = [0u8; 8];
                std::io::Read::read_exact(&mut reader, &mut started).unwrap();
                nix::sys::wait::waitpid(child, None).unwrap();
                assert_eq!(u64::from_le_bytes(started) + taken, MESSAGES);
            }
        }
    }
}
