//! What travels on a hub connection: postcard messages, each behind a 4-byte little-endian
//! length, so the hub can put many frames into one write and a node take many in one read.

use std::io::Read;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::bus::{Filters, Received};
use crate::frame::CanFrame;

/// The largest message either side accepts (an FD frame is under 100 bytes).
const MAX_MESSAGE: usize = 64 * 1024;

/// From a node to the hub.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Up {
    /// The first message: the node's filters and receive-own switch. Answered by `Attached`.
    Hello { filters: Filters, receive_own: bool },
    /// A frame to put on the bus.
    Frame(CanFrame),
    /// New filters, from now on. Answered by `Ack`.
    Filters(Filters),
    /// Receive-own on or off, from now on. Answered by `Ack`.
    ReceiveOwn(bool),
    /// Instead of a hello, on a connection that is no node: wait until at least `at_least`
    /// nodes are attached, at most `within_ms`. Answered by `Nodes`, then the hub hangs up.
    WaitForNodes { at_least: u32, within_ms: u64 },
}

/// From the hub to a node.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Down {
    /// The node is attached: it gets every frame sent from now on.
    Attached { node: u16 },
    /// A frame.
    Frame(Received),
    /// The last `Filters` or `ReceiveOwn` is in force.
    Ack,
    /// How many nodes are attached (the answer to `WaitForNodes`); `closed`: the hub closed.
    Nodes { attached: u32, closed: bool },
}

/// Appends one message to `out`.
pub(crate) fn encode<T: Serialize>(message: &T, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&[0; 4]);
    // Serializing our own plain enums into a Vec cannot fail.
    if postcard::to_io(message, &mut *out).is_err() {
        out.truncate(start);
        return;
    }
    let len = (out.len() - start - 4) as u32;
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
}

/// Bytes read from a stream and not yet decoded.
pub(crate) struct Inbox {
    buf: Vec<u8>,
    start: usize,
}

impl Inbox {
    pub(crate) fn new() -> Self {
        Inbox {
            buf: Vec::with_capacity(64 * 1024),
            start: 0,
        }
    }

    /// The next whole message, if one is buffered; an error names what was malformed.
    pub(crate) fn next<T: DeserializeOwned>(&mut self) -> Result<Option<T>, String> {
        let pending = &self.buf[self.start..];
        let Some(head) = pending.get(..4) else {
            return Ok(None);
        };
        let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]) as usize;
        if len > MAX_MESSAGE {
            return Err(format!("a message of {len} bytes (at most {MAX_MESSAGE})"));
        }
        let Some(body) = pending.get(4..4 + len) else {
            return Ok(None);
        };
        let message = postcard::from_bytes(body).map_err(|e| format!("undecodable message: {e}"))?;
        self.start += 4 + len;
        Ok(Some(message))
    }

    /// Reads what the stream has (at least one byte, or 0 at its end).
    pub(crate) fn fill(&mut self, stream: &mut impl Read) -> std::io::Result<usize> {
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        let old = self.buf.len();
        self.buf.resize(old + 64 * 1024, 0);
        let read = stream.read(&mut self.buf[old..]);
        self.buf.truncate(old + *read.as_ref().unwrap_or(&0));
        read
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CanId;

    #[test]
    fn messages_come_out_whole_and_garbage_is_named() {
        let frame = CanFrame::new(CanId::standard(1).unwrap(), &[1, 2]).unwrap();
        let mut bytes = Vec::new();
        encode(&Up::Frame(frame.clone()), &mut bytes);
        encode(&Up::ReceiveOwn(true), &mut bytes);
        let mut inbox = Inbox::new();
        // Byte by byte: nothing until a message is whole.
        let mut seen = Vec::new();
        for byte in bytes {
            inbox.fill(&mut [byte].as_slice()).unwrap();
            while let Some(message) = inbox.next::<Up>().unwrap() {
                seen.push(message);
            }
        }
        assert!(matches!(&seen[..], [Up::Frame(f), Up::ReceiveOwn(true)] if *f == frame));

        let mut garbage = Inbox::new();
        garbage
            .fill(&mut [3, 0, 0, 0, 0xff, 0xff, 0xff].as_slice())
            .unwrap();
        assert!(garbage.next::<Up>().unwrap_err().contains("undecodable"));
        let mut huge = Inbox::new();
        huge.fill(&mut [0xff, 0xff, 0xff, 0x7f].as_slice()).unwrap();
        assert!(huge.next::<Up>().unwrap_err().contains("at most"));
    }
}
