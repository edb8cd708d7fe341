//! The coordinator's messages to a worker ([`ToWorker`]): the tests to run, and when to stop.
//!
//! A re-executed worker makes an ipc-channel and sends the coordinator its sender. A forked
//! worker gets a pipe made before it: each message is a 4-byte length (little-endian) and the
//! message in postcard. A test's job is a few dozen bytes, one `write` and one `read` —
//! against a `sendmsg` and a `recvmsg` on a socket, which cost about 3 µs more per test here
//! (each allocates and frees a socket buffer), on the coordinator's side and the worker's.

use std::cell::Cell;
use std::io::{PipeReader, PipeWriter, Read, Write};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicI32, Ordering};

use ipc_channel::ipc::{IpcReceiver, IpcSender};
use thiserror::Error;

use crate::claims::Claims;
use crate::protocol::ToWorker;

/// Why no message came.
#[derive(Debug, Error)]
pub(crate) enum RecvError {
    /// The coordinator is gone (or closed its end).
    #[error("the coordinator closed the channel")]
    Disconnected,
    /// What came is no message of ours, or the channel failed.
    #[error("{0}")]
    Broken(String),
}

/// The coordinator's end.
pub(crate) enum WorkSender {
    Channel(IpcSender<ToWorker>),
    /// A forked worker's pipe, and what it says of the run messages sent ahead (see
    /// [`crate::claims`]), each known by its number (`runs` so far).
    Pipe {
        pipe: PipeWriter,
        claims: Option<Claims>,
        runs: Cell<u64>,
    },
}

impl WorkSender {
    /// The coordinator's end of a forked worker's pipe.
    pub(crate) fn pipe(pipe: PipeWriter, claims: Option<Claims>) -> WorkSender {
        WorkSender::Pipe {
            pipe,
            claims,
            runs: Cell::new(0),
        }
    }

    /// Sends `message`; an error when the worker is gone. A run message that may be taken
    /// back ([`Self::take_back`]) gives its number.
    pub(crate) fn send(&self, message: ToWorker) -> Result<Option<u64>, String> {
        match self {
            WorkSender::Channel(sender) => sender.send(message).map(|()| None).map_err(|e| e.to_string()),
            WorkSender::Pipe { pipe, claims, runs } => {
                // The length's place first, filled in once the message is written after it.
                let mut framed = postcard::to_extend(&message, vec![0u8; 4]).map_err(|e| e.to_string())?;
                let length = u32::try_from(framed.len() - 4).map_err(|_| "a message of 4 GiB or more".to_string())?;
                framed[..4].copy_from_slice(&length.to_le_bytes());
                // Counted as the worker counts them (see `WorkReceiver::recv`).
                let number = match (&message, claims) {
                    (ToWorker::Run { .. }, Some(claims)) => {
                        runs.set(runs.get() + 1);
                        claims.sent(runs.get());
                        Some(runs.get())
                    }
                    _ => None,
                };
                // One `write` (a pipe takes up to 4 KiB at once); only this thread writes here.
                (&*pipe).write_all(&framed).map_err(|e| e.to_string())?;
                Ok(number)
            }
        }
    }

    /// Takes back run message `number`, which the worker then skips; `false` when it started
    /// it already (or this worker's messages cannot be taken back).
    pub(crate) fn take_back(&self, number: u64) -> bool {
        match self {
            WorkSender::Pipe {
                claims: Some(claims), ..
            } => claims.take_back(number),
            _ => false,
        }
    }
}

/// The worker's end.
pub(crate) enum WorkReceiver {
    Channel(IpcReceiver<ToWorker>),
    Pipe {
        pipe: PipeReader,
        claims: Option<Claims>,
        runs: u64,
    },
}

/// The descriptor of this worker's end of its work pipe (-1: none).
static PIPE_FD: AtomicI32 = AtomicI32::new(-1);

/// This forked worker's end of its work pipe: the one pipe it holds that `exec` would have
/// closed, which mptest's own tests tell from the coordinator's, none of which it may hold.
pub fn pipe_fd() -> Option<i32> {
    Some(PIPE_FD.load(Ordering::Relaxed)).filter(|&fd| fd >= 0)
}

/// The longest message a pipe may carry: a test's name is no longer than this.
const MAX_MESSAGE: usize = 1 << 20;

impl WorkReceiver {
    /// A forked worker's end of the pipe made for it.
    pub(crate) fn pipe(pipe: PipeReader, claims: Option<Claims>) -> WorkReceiver {
        PIPE_FD.store(pipe.as_raw_fd(), Ordering::Relaxed);
        WorkReceiver::Pipe { pipe, claims, runs: 0 }
    }

    /// Waits for the next message; a run message the coordinator took back is skipped.
    pub(crate) fn recv(&mut self) -> Result<ToWorker, RecvError> {
        match self {
            WorkReceiver::Channel(receiver) => crate::ipc_retry::recv(receiver).map_err(|err| match err {
                ipc_channel::IpcError::Disconnected => RecvError::Disconnected,
                err => RecvError::Broken(err.to_string()),
            }),
            WorkReceiver::Pipe { pipe, claims, runs } => loop {
                let message = read_message(pipe)?;
                if matches!(message, ToWorker::Run { .. }) {
                    *runs += 1;
                    if claims.as_ref().is_some_and(|claims| !claims.start(*runs)) {
                        continue;
                    }
                }
                return Ok(message);
            },
        }
    }
}

/// One framed message from `pipe` (`read_exact` goes on after EINTR).
fn read_message(pipe: &mut impl Read) -> Result<ToWorker, RecvError> {
    let broken = |err: std::io::Error| match err.kind() {
        std::io::ErrorKind::UnexpectedEof => RecvError::Disconnected,
        _ => RecvError::Broken(err.to_string()),
    };
    let mut length = [0u8; 4];
    pipe.read_exact(&mut length).map_err(broken)?;
    let length = u32::from_le_bytes(length) as usize;
    if length > MAX_MESSAGE {
        return Err(RecvError::Broken(format!("a message of {length} bytes, more than {MAX_MESSAGE}")));
    }
    let mut body = vec![0; length];
    pipe.read_exact(&mut body).map_err(|err| match err.kind() {
        std::io::ErrorKind::UnexpectedEof => RecvError::Broken("the channel ended in a message".into()),
        _ => RecvError::Broken(err.to_string()),
    })?;
    postcard::from_bytes(&body).map_err(|err| RecvError::Broken(format!("a malformed message: {err}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_in_a_pipe_arrive_whole_and_in_order_and_its_end_is_a_disconnection() {
        let (reader, writer) = std::io::pipe().unwrap();
        let sender = WorkSender::pipe(writer, None);
        let mut receiver = WorkReceiver::Pipe {
            pipe: reader,
            claims: None,
            runs: 0,
        };
        let long = "t".repeat(10_000);
        sender.send(ToWorker::Run { index: 7, name: "a::b".into() }).unwrap();
        sender.send(ToWorker::Run { index: 8, name: long.clone() }).unwrap();
        sender.send(ToWorker::Exit).unwrap();
        drop(sender);
        assert!(matches!(receiver.recv(), Ok(ToWorker::Run { index: 7, name }) if name == "a::b"));
        assert!(matches!(receiver.recv(), Ok(ToWorker::Run { index: 8, name }) if name == long));
        assert!(matches!(receiver.recv(), Ok(ToWorker::Exit)));
        assert!(matches!(receiver.recv(), Err(RecvError::Disconnected)));
    }

    #[test]
    fn a_run_message_taken_back_is_skipped_and_one_started_cannot_be() {
        let (reader, writer) = std::io::pipe().unwrap();
        let claims = Claims::new().unwrap();
        let sender = WorkSender::pipe(writer, Some(claims));
        let run = |index| ToWorker::Run {
            index,
            name: format!("t{index}"),
        };
        let first = sender.send(run(1)).unwrap().expect("a number");
        let second = sender.send(run(2)).unwrap().expect("a number");
        let third = sender.send(run(3)).unwrap().expect("a number");
        assert_eq!((first, second, third), (1, 2, 3));
        assert_eq!(sender.send(ToWorker::Exit).unwrap(), None);
        assert!(sender.take_back(second));
        let WorkSender::Pipe {
            claims: Some(shared), ..
        } = &sender
        else {
            unreachable!()
        };
        let mut receiver = WorkReceiver::Pipe {
            pipe: reader,
            claims: Some(shared.alias()),
            runs: 0,
        };
        assert!(matches!(receiver.recv(), Ok(ToWorker::Run { index: 1, .. })));
        assert!(!sender.take_back(first), "started");
        assert!(matches!(receiver.recv(), Ok(ToWorker::Run { index: 3, .. })));
        assert!(matches!(receiver.recv(), Ok(ToWorker::Exit)));
        // One mapping, unmapped by the sender's claims.
        std::mem::forget(receiver);
    }

    #[test]
    fn a_malformed_or_cut_message_is_an_error_that_says_so() {
        let garbage = [3u8, 0, 0, 0, 0xff, 0xff, 0xff];
        assert!(matches!(read_message(&mut &garbage[..]), Err(RecvError::Broken(why)) if why.contains("malformed")));
        let cut = [9u8, 0, 0, 0, 1];
        assert!(matches!(read_message(&mut &cut[..]), Err(RecvError::Broken(why)) if why.contains("ended in a message")));
        let huge = u32::MAX.to_le_bytes();
        assert!(matches!(read_message(&mut &huge[..]), Err(RecvError::Broken(why)) if why.contains("more than")));
    }
}
