//! Per-test output capture at the file-descriptor level.
//!
//! A capturing worker's fd 1 and fd 2 are one pipe that the coordinator reads, so what the
//! worker and every process it starts write lands in the coordinator, in order, and stays there
//! when the worker crashes. After each test the worker writes an end marker (a sentinel with a
//! per-worker random nonce) into the pipe; the reader cuts the stream at the markers, one piece
//! per test. Each piece keeps its head and its tail and counts what it cut in between, so a test
//! that prints 100 MB costs bounded memory.

use std::collections::VecDeque;
use std::io::Read;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Bytes kept from the start of a test's output.
pub(crate) const HEAD_LIMIT: usize = 4 << 20;
/// Bytes kept from the end of a test's output.
pub(crate) const TAIL_LIMIT: usize = 4 << 20;

/// The end-of-test marker for a nonce given as hex.
pub(crate) fn sentinel_bytes(hex: &str) -> Vec<u8> {
    let mut bytes = b"\0mptest-end-of-test:".to_vec();
    bytes.extend_from_slice(hex.as_bytes());
    bytes.push(0);
    bytes
}

/// What one test wrote: its head, its tail, and how much was cut between them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CapturedOutput {
    head: Vec<u8>,
    tail: Vec<u8>,
    total: u64,
}

impl CapturedOutput {
    /// Everything written, in bytes (including what was cut).
    pub fn total_bytes(&self) -> u64 {
        self.total
    }

    /// Bytes dropped from the middle.
    pub fn cut_bytes(&self) -> u64 {
        self.total - (self.head.len() + self.tail.len()) as u64
    }

    /// True when nothing was written.
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// This output followed by `later`, within the usual limits.
    pub(crate) fn followed_by(self, later: CapturedOutput) -> CapturedOutput {
        let mut buffer = OutputBuffer::default();
        for part in [&self.head, &self.tail, &later.head, &later.tail] {
            buffer.push(part);
        }
        let mut joined = buffer.take();
        joined.total = self.total + later.total;
        joined
    }

    /// The output as text (lossy UTF-8), with a line saying how much was cut, if anything.
    pub fn to_text(&self) -> String {
        let mut text = String::from_utf8_lossy(&self.head).into_owned();
        let cut = self.cut_bytes();
        if cut > 0 {
            if !text.ends_with('\n') {
                text.push('\n');
            }
            text.push_str(&format!(
                "[mptest: {cut} bytes of output cut here; kept the first {} and the last {} of {}]\n",
                self.head.len(),
                self.tail.len(),
                self.total
            ));
        }
        text.push_str(&String::from_utf8_lossy(&self.tail));
        text
    }
}

/// The output of the test in progress, bounded.
#[derive(Debug)]
pub(crate) struct OutputBuffer {
    head: Vec<u8>,
    tail: VecDeque<u8>,
    total: u64,
    head_limit: usize,
    tail_limit: usize,
}

impl Default for OutputBuffer {
    fn default() -> Self {
        Self::with_limits(HEAD_LIMIT, TAIL_LIMIT)
    }
}

impl OutputBuffer {
    pub(crate) fn with_limits(head_limit: usize, tail_limit: usize) -> Self {
        OutputBuffer {
            head: Vec::new(),
            tail: VecDeque::new(),
            total: 0,
            head_limit,
            tail_limit,
        }
    }

    pub(crate) fn push(&mut self, mut data: &[u8]) {
        self.total += data.len() as u64;
        let room = self.head_limit - self.head.len();
        if room > 0 {
            let n = room.min(data.len());
            self.head.extend_from_slice(&data[..n]);
            data = &data[n..];
        }
        if data.len() >= self.tail_limit {
            self.tail.clear();
            self.tail.extend(&data[data.len() - self.tail_limit..]);
        } else {
            self.tail.extend(data);
            let excess = self.tail.len().saturating_sub(self.tail_limit);
            self.tail.drain(..excess);
        }
    }

    /// Hands over what was gathered and starts afresh.
    pub(crate) fn take(&mut self) -> CapturedOutput {
        let out = CapturedOutput {
            head: std::mem::take(&mut self.head),
            tail: self.tail.drain(..).collect(),
            total: self.total,
        };
        self.total = 0;
        out
    }
}

/// Shared between the reader thread and the coordinator, which takes the remainder when a
/// worker dies and something still holds the pipe open.
pub(crate) type SharedBuffer = Arc<Mutex<OutputBuffer>>;

/// Takes what a shared buffer holds, even if a reader panicked while holding it.
pub(crate) fn take_shared(buffer: &SharedBuffer) -> CapturedOutput {
    buffer.lock().unwrap_or_else(PoisonError::into_inner).take()
}

/// What the reader saw.
#[derive(Debug)]
pub(crate) enum Piece {
    /// An end marker: the output of the test that just ended.
    Test(CapturedOutput),
    /// The end of the pipe: what came after the last marker (a crashed test's output).
    Closed(CapturedOutput),
}

/// How the pipe's reader keeps a flood of small writes from waking it for each one.
///
/// Linux wakes a pipe's reader on a write only when the pipe was empty, so a reader that keeps
/// up is woken for every piece: a test that prints a million lines with `eprintln!` (three
/// `write`s each) pays a wake-up of this thread per piece, several times the write itself. Once
/// reads come back to back with little in them, the reader lets the pipe fill for a moment
/// between reads — one wake-up for a pipe full. It stops as soon as a read has to wait, so a
/// test's end marker after quiet output is read at once; in a flood it comes at most
/// [`Pace::PAUSE`] late.
#[derive(Default)]
struct Pace {
    /// Small reads in a row that did not wait for their data.
    quick: u32,
    flooded: bool,
}

impl Pace {
    /// Small reads in a row after which the writer is taken to be flooding the pipe.
    const QUICK_READS: u32 = 32;
    /// How long the pipe is left to fill: a 64 KiB pipe holds about 3 000 short lines, which
    /// take a writer longer than this to write.
    const PAUSE: Duration = Duration::from_micros(200);
    /// A read that took longer than this waited for its data: the writer is not flooding.
    const WAITED: Duration = Duration::from_micros(50);

    fn after_read(&mut self, asked: Instant, n: usize) {
        let waited = asked.elapsed() > Self::WAITED;
        if waited {
            *self = Pace::default();
        } else if n < 4096 {
            self.quick += 1;
            self.flooded |= self.quick >= Self::QUICK_READS;
        }
    }

    fn pause_if_flooded(&self) {
        if self.flooded {
            // Not a wait for another process: the data is already coming; this only lets it
            // gather (see the type's documentation).
            std::thread::sleep(Self::PAUSE);
        }
    }
}

/// Reads a worker's output pipe until its end, cutting it at the sentinel.
pub(crate) fn read_pipe(
    mut pipe: impl Read,
    sentinel: &[u8],
    buffer: &SharedBuffer,
    mut emit: impl FnMut(Piece),
) {
    let finder = memchr::memmem::Finder::new(sentinel);
    let mut chunk = vec![0u8; 64 * 1024];
    // Bytes that might be the start of a marker split across two reads.
    let mut pending: Vec<u8> = Vec::new();
    let mut pace = Pace::default();
    loop {
        let asked = Instant::now();
        let n = match pipe.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        pace.after_read(asked, n);
        pending.extend_from_slice(&chunk[..n]);
        let mut start = 0;
        while let Some(pos) = finder.find(&pending[start..]) {
            let mut buf = buffer.lock().unwrap_or_else(PoisonError::into_inner);
            buf.push(&pending[start..start + pos]);
            let out = buf.take();
            drop(buf);
            emit(Piece::Test(out));
            start += pos + sentinel.len();
        }
        let keep = (sentinel.len() - 1).min(pending.len() - start);
        let flush_to = pending.len() - keep;
        buffer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(&pending[start..flush_to]);
        pending.drain(..flush_to);
        pace.pause_if_flooded();
    }
    let mut buf = buffer.lock().unwrap_or_else(PoisonError::into_inner);
    buf.push(&pending);
    let out = buf.take();
    drop(buf);
    emit(Piece::Closed(out));
}

/// Runs `f` with this process's stdout and stderr sent to a file of their own; returns what it
/// gave and what was written meanwhile (by any thread: the process's descriptors are swapped).
/// Worker hooks and fixtures' setups and teardowns run so, apart from any test's output.
pub(crate) fn capture_std<R>(f: impl FnOnce() -> R) -> (R, String) {
    use std::io::{Read, Seek, Write};
    use std::os::unix::io::AsRawFd;
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    let capture = capture_file();
    // SAFETY: dup/dup2 on our own standard descriptors and a file we hold; restored below.
    let saved = capture.as_ref().map(|file| unsafe {
        let saved = (libc::dup(1), libc::dup(2));
        libc::dup2(file.as_raw_fd(), 1);
        libc::dup2(file.as_raw_fd(), 2);
        saved
    });
    let result = f();
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    let mut output = String::new();
    if let (Some(mut file), Some((out, err))) = (capture, saved) {
        // SAFETY: putting back the descriptors saved above, then closing the copies.
        unsafe {
            libc::dup2(out, 1);
            libc::dup2(err, 2);
            libc::close(out);
            libc::close(err);
        }
        let _ = file.rewind();
        let mut bytes = Vec::new();
        let _ = file.read_to_end(&mut bytes);
        output = String::from_utf8_lossy(&bytes).into_owned();
    }
    (result, output)
}

/// An anonymous file for captured output, in the run's directory (unlinked as it is made).
fn capture_file() -> Option<std::fs::File> {
    tempfile::tempfile_in(crate::launch::endpoint::run_dir()?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_of_small_writes_is_read_in_pauses_and_a_wait_ends_them() {
        let mut pace = Pace::default();
        let now = Instant::now();
        for _ in 0..Pace::QUICK_READS - 1 {
            pace.after_read(now, 40);
        }
        assert!(!pace.flooded, "a few quick reads are no flood");
        pace.after_read(now, 40);
        assert!(pace.flooded);
        // A full pipe after a pause keeps it flooded.
        pace.after_read(now, 64 * 1024);
        assert!(pace.flooded);
        // A read that had to wait: the writer went quiet; the next marker is read at once.
        let asked = now.checked_sub(Duration::from_millis(1)).unwrap_or(now);
        pace.after_read(asked, 40);
        assert!(!pace.flooded && pace.quick == 0);
    }

    #[test]
    fn keeps_head_and_tail_and_counts_the_cut() {
        let mut buf = OutputBuffer::with_limits(4, 3);
        buf.push(b"0123");
        buf.push(b"456789");
        let out = buf.take();
        assert_eq!(out.total_bytes(), 10);
        assert_eq!(out.cut_bytes(), 3);
        let text = out.to_text();
        assert!(
            text.starts_with("0123\n[mptest: 3 bytes of output cut here"),
            "{text}"
        );
        assert!(text.ends_with("789"), "{text}");
        assert!(buf.take().is_empty());
    }

    #[test]
    fn large_writes_keep_only_the_last_bytes() {
        let mut buf = OutputBuffer::with_limits(2, 2);
        buf.push(&[b'x'; 1000]);
        buf.push(b"yz");
        let out = buf.take();
        assert_eq!(out.to_text().lines().last(), Some("yz"));
        assert_eq!(out.cut_bytes(), 998);
    }

    #[test]
    fn cuts_the_stream_at_markers_even_when_split_across_reads() {
        let sentinel = sentinel_bytes("00112233445566778899aabbccddeeff");
        let mut stream = b"first test\n".to_vec();
        stream.extend_from_slice(&sentinel);
        stream.extend_from_slice(b"second");
        stream.extend_from_slice(&sentinel);
        stream.extend_from_slice(b"crashed half-way");
        // A reader that returns 3 bytes at a time splits every marker.
        struct Trickle(Vec<u8>, usize);
        impl Read for Trickle {
            fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
                let n = 3.min(self.0.len() - self.1).min(out.len());
                out[..n].copy_from_slice(&self.0[self.1..self.1 + n]);
                self.1 += n;
                Ok(n)
            }
        }
        let buffer = SharedBuffer::default();
        let mut pieces = Vec::new();
        read_pipe(Trickle(stream, 0), &sentinel, &buffer, |p| pieces.push(p));
        let texts: Vec<String> = pieces
            .iter()
            .map(|p| match p {
                Piece::Test(o) => format!("test:{}", o.to_text()),
                Piece::Closed(o) => format!("closed:{}", o.to_text()),
            })
            .collect();
        assert_eq!(
            texts,
            ["test:first test\n", "test:second", "closed:crashed half-way"]
        );
    }
}
