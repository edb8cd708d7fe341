//! Per-test output capture at the file-descriptor level.
//!
//! A capturing worker's fd 1 and fd 2 are one pipe that the coordinator reads, so what the
//! worker and every process it starts write lands in the coordinator, in order, and stays there
//! when the worker crashes. After each test the worker writes an end marker (a sentinel with a
//! per-worker random nonce) into the pipe; the reader cuts the stream at the markers, one piece
//! per test. Each piece keeps its head and its tail and counts what it cut in between, so a test
//! that prints 100 MB costs bounded memory.
//!
//! A marker starts a record (see `Record`): the test's report rides in the pipe right after
//! its output when it fits one atomic write — one wake-up of the coordinator per test instead of
//! two (the pipe's reader and the channel's) — and the coordinator's own note that the worker
//! exited comes last, so nothing the worker wrote is read after its death is known.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

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

/// What follows a marker in the pipe: one byte saying which record this is, then its data.
/// A record is written with one `write` of at most `PIPE_BUF` bytes, which no other writer's
/// bytes can split.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Record<'a> {
    /// A test ended; its report comes on the channel (it did not fit, or the channel carried
    /// something else since the last report, whose order must be kept).
    TestEnded,
    /// A test ended; its report (postcard) follows, after its length (`u32`, little-endian).
    TestReported(&'a [u8]),
    /// Written by the coordinator once the worker is dead (its raw wait status, `i32`,
    /// little-endian): everything the worker wrote is before it.
    Exited(i32),
    /// A forked worker's hello (its first record): it is running.
    Hello,
    /// A forked worker is about to send its first message on its channel: read the channel
    /// from now on (until then the coordinator has no thread reading it).
    ChannelUsed,
}

impl Record<'_> {
    const ENDED: u8 = b'.';
    const REPORTED: u8 = b'R';
    const EXITED: u8 = b'X';
    const HELLO: u8 = b'H';
    const CHANNEL_USED: u8 = b'C';

    /// The record's bytes after `sentinel`, or `None` when they would not be one atomic write.
    pub(crate) fn bytes(&self, sentinel: &[u8]) -> Option<Vec<u8>> {
        let mut bytes = sentinel.to_vec();
        match self {
            Record::TestEnded => bytes.push(Self::ENDED),
            Record::TestReported(report) => {
                bytes.push(Self::REPORTED);
                bytes.extend_from_slice(&u32::try_from(report.len()).ok()?.to_le_bytes());
                bytes.extend_from_slice(report);
            }
            Record::Exited(status) => {
                bytes.push(Self::EXITED);
                bytes.extend_from_slice(&status.to_le_bytes());
            }
            Record::Hello => bytes.push(Self::HELLO),
            Record::ChannelUsed => bytes.push(Self::CHANNEL_USED),
        }
        (bytes.len() <= libc::PIPE_BUF).then_some(bytes)
    }
}

/// Writes `bytes` to `fd` with one `write` (a record: at most `PIPE_BUF` bytes, so the pipe
/// takes it whole); true when it was written.
/// In a worker whose output is staged, what is staged goes first (see [`crate::stage`]).
pub(crate) fn write_record(fd: impl std::os::fd::AsFd, bytes: &[u8]) -> bool {
    crate::stage::in_order(|| loop {
        match nix::unistd::write(&fd, bytes) {
            Ok(n) => return n == bytes.len(),
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => return false,
        }
    })
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

/// Shared between the pipe's [`Cutter`] and the worker's slot, which takes the remainder when
/// a worker dies and something still holds the pipe open.
pub(crate) type SharedBuffer = Arc<Mutex<OutputBuffer>>;

/// Takes what a shared buffer holds, even if a reader panicked while holding it.
pub(crate) fn take_shared(buffer: &SharedBuffer) -> CapturedOutput {
    buffer.lock().unwrap_or_else(PoisonError::into_inner).take()
}

/// What the reader saw.
#[derive(Debug)]
pub(crate) enum Piece {
    /// A test ended: its output; its report comes on the channel.
    Test(CapturedOutput),
    /// A test ended: its output and its report (postcard, not decoded yet).
    Reported(CapturedOutput, Vec<u8>),
    /// The worker exited with this raw wait status (the coordinator's note).
    Exited(i32),
    /// A forked worker said hello.
    Hello,
    /// A forked worker's channel is used from now on.
    ChannelUsed,
    /// A marker followed by no record we know: the stream goes on after the marker.
    Malformed(String),
    /// The end of the pipe: what came after the last marker (a crashed test's output).
    Closed(CapturedOutput),
}

/// The longest report a record can carry (a record is one atomic write).
const MAX_REPORT: usize = libc::PIPE_BUF;

/// What follows a marker at the start of `after`: the record, its length (kind byte
/// included), `Ok(None)` when more bytes must come first, or what is wrong with it.
fn parse_record(after: &[u8]) -> Result<Option<(Record<'_>, usize)>, String> {
    let Some((&kind, rest)) = after.split_first() else {
        return Ok(None);
    };
    let four = |rest: &[u8]| rest.get(..4).map(|b| [b[0], b[1], b[2], b[3]]);
    match kind {
        Record::ENDED => Ok(Some((Record::TestEnded, 1))),
        Record::HELLO => Ok(Some((Record::Hello, 1))),
        Record::CHANNEL_USED => Ok(Some((Record::ChannelUsed, 1))),
        Record::EXITED => Ok(four(rest).map(|b| (Record::Exited(i32::from_le_bytes(b)), 5))),
        Record::REPORTED => {
            let Some(len) = four(rest).map(u32::from_le_bytes) else {
                return Ok(None);
            };
            let len = len as usize;
            if len > MAX_REPORT {
                return Err(format!("a report of {len} bytes in the output pipe (at most {MAX_REPORT})"));
            }
            Ok(rest.get(4..4 + len).map(|report| (Record::TestReported(report), 5 + len)))
        }
        other => Err(format!("an end-of-test marker followed by {other:#04x}, no record")),
    }
}

/// How the pipe's reader keeps a flood of small writes from waking it for each one.
///
/// Linux wakes a pipe's reader on a write only when the pipe was empty, so a reader that keeps
/// up is woken for every piece: a test that prints a million lines with `eprintln!` (three
/// `write`s each) pays a wake-up of the reader per piece, several times the write itself. Once
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

    /// After a read of `n` bytes that took `took`.
    fn after_read(&mut self, took: Duration, n: usize) {
        let waited = took > Self::WAITED;
        if waited {
            *self = Pace::default();
        } else if n < 4096 {
            self.quick += 1;
            self.flooded |= self.quick >= Self::QUICK_READS;
        }
    }

    /// How long to leave the pipe before the next read: in a flood, [`Pace::PAUSE`]. Not a
    /// wait for another process — the data is already coming; this only lets it gather.
    fn pause(&self) -> Option<Duration> {
        self.flooded.then_some(Self::PAUSE)
    }
}

/// Cuts a worker's output stream at the sentinel: fed what each read of the pipe gives, it
/// gathers the output in the buffer and says each record as a [`Piece`]. Whoever reads the
/// pipe feeds it (the scheduler's [`Inbox`](crate::runner) reads every worker's pipe itself).
pub(crate) struct Cutter {
    sentinel: Vec<u8>,
    /// Finds the sentinel's first byte. memchr's portable searcher, not `memmem`: building a
    /// `memmem::Finder` asks the CPU what it has (`cpuid`), ~100 µs in a virtual machine, in
    /// every run's coordinator — a fixed cost libtest does not have.
    first: memchr::arch::all::memchr::One,
    /// Bytes that might be the start of a marker split across two reads.
    pending: Vec<u8>,
    pace: Pace,
}

impl Cutter {
    pub(crate) fn new(sentinel: &[u8]) -> Self {
        Cutter {
            sentinel: sentinel.to_vec(),
            first: memchr::arch::all::memchr::One::new(sentinel.first().copied().unwrap_or(0)),
            pending: Vec::new(),
            pace: Pace::default(),
        }
    }

    /// Takes the `bytes` one read gave, after waiting `took` for them; returns how long the pipe
    /// is best left to fill before the next read (a flood of small writes, see [`Pace`]).
    pub(crate) fn feed(
        &mut self,
        bytes: &[u8],
        took: Duration,
        buffer: &SharedBuffer,
        mut emit: impl FnMut(Piece),
    ) -> Option<Duration> {
        self.pace.after_read(took, bytes.len());
        self.pending.extend_from_slice(bytes);
        let pending = &self.pending;
        let mut start = 0;
        // Set when a marker's record is not all in yet: kept from the marker on.
        let mut incomplete = false;
        while let Some(pos) = self.find_sentinel(&pending[start..]) {
            let at = start + pos;
            let after = at + self.sentinel.len();
            let (record, len) = match parse_record(&pending[after..]) {
                Ok(Some(found)) => found,
                Ok(None) => {
                    push(buffer, &pending[start..at]);
                    start = at;
                    incomplete = true;
                    break;
                }
                Err(why) => {
                    emit(Piece::Malformed(why));
                    // What follows the marker is the stream's again.
                    push(buffer, &pending[start..at]);
                    start = after;
                    continue;
                }
            };
            emit(match record {
                // Not the end of a test: the output around it is still the test's.
                Record::Exited(status) => {
                    push(buffer, &pending[start..at]);
                    Piece::Exited(status)
                }
                Record::Hello => {
                    push(buffer, &pending[start..at]);
                    Piece::Hello
                }
                Record::ChannelUsed => {
                    push(buffer, &pending[start..at]);
                    Piece::ChannelUsed
                }
                Record::TestEnded => Piece::Test(push_and_take(buffer, &pending[start..at])),
                Record::TestReported(report) => {
                    Piece::Reported(push_and_take(buffer, &pending[start..at]), report.to_vec())
                }
            });
            start = after + len;
        }
        let keep = match incomplete {
            true => pending.len() - start,
            false => (self.sentinel.len() - 1).min(pending.len() - start),
        };
        let flush_to = pending.len() - keep;
        push(buffer, &pending[start..flush_to]);
        self.pending.drain(..flush_to);
        self.pace.pause()
    }

    /// Where the whole sentinel first starts in `bytes`.
    fn find_sentinel(&self, bytes: &[u8]) -> Option<usize> {
        let mut from = 0;
        while let Some(pos) = self.first.find(&bytes[from..]) {
            let at = from + pos;
            if bytes[at..].starts_with(&self.sentinel) {
                return Some(at);
            }
            from = at + 1;
        }
        None
    }

    /// The pipe's end: what came after the last marker.
    pub(crate) fn close(&mut self, buffer: &SharedBuffer) -> Piece {
        Piece::Closed(push_and_take(buffer, &std::mem::take(&mut self.pending)))
    }
}

/// Reads `pipe` until its end (blocking), cutting it at the sentinel.
#[cfg(test)]
fn read_pipe(mut pipe: impl std::io::Read, sentinel: &[u8], buffer: &SharedBuffer, mut emit: impl FnMut(Piece)) {
    let mut cutter = Cutter::new(sentinel);
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let asked = std::time::Instant::now();
        let n = match pipe.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        cutter.feed(&chunk[..n], asked.elapsed(), buffer, &mut emit);
    }
    emit(cutter.close(buffer));
}

fn push(buffer: &SharedBuffer, bytes: &[u8]) {
    buffer.lock().unwrap_or_else(PoisonError::into_inner).push(bytes);
}

/// The output gathered so far, ending with `bytes`; the buffer starts afresh.
fn push_and_take(buffer: &SharedBuffer, bytes: &[u8]) -> CapturedOutput {
    let mut buffer = buffer.lock().unwrap_or_else(PoisonError::into_inner);
    buffer.push(bytes);
    buffer.take()
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
    use std::io::Read;

    #[test]
    fn a_flood_of_small_writes_is_read_in_pauses_and_a_wait_ends_them() {
        // Read durations as given, not measured: the test says the same on a loaded machine.
        let mut pace = Pace::default();
        let quick = Duration::from_micros(5);
        for _ in 0..Pace::QUICK_READS - 1 {
            pace.after_read(quick, 40);
        }
        assert!(!pace.flooded, "a few quick reads are no flood");
        pace.after_read(quick, 40);
        assert!(pace.flooded);
        // A full pipe after a pause keeps it flooded.
        pace.after_read(quick, 64 * 1024);
        assert!(pace.flooded);
        // A read that had to wait: the writer went quiet; the next marker is read at once.
        pace.after_read(Duration::from_millis(1), 40);
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

    /// Reads `stream` as a pipe that returns `step` bytes at a time; the pieces, as text.
    fn pieces(stream: Vec<u8>, sentinel: &[u8], step: usize) -> Vec<String> {
        struct Trickle(Vec<u8>, usize, usize);
        impl Read for Trickle {
            fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
                let n = self.2.min(self.0.len() - self.1).min(out.len());
                out[..n].copy_from_slice(&self.0[self.1..self.1 + n]);
                self.1 += n;
                Ok(n)
            }
        }
        let buffer = SharedBuffer::default();
        let mut pieces = Vec::new();
        read_pipe(Trickle(stream, 0, step), sentinel, &buffer, |p| pieces.push(p));
        pieces
            .iter()
            .map(|p| match p {
                Piece::Test(o) => format!("test:{}", o.to_text()),
                Piece::Reported(o, report) => format!("reported:{}:{}", o.to_text(), String::from_utf8_lossy(report)),
                Piece::Exited(status) => format!("exited:{status}"),
                Piece::Hello => "hello".to_string(),
                Piece::ChannelUsed => "channel".to_string(),
                Piece::Malformed(why) => format!("malformed:{why}"),
                Piece::Closed(o) => format!("closed:{}", o.to_text()),
            })
            .collect()
    }

    #[test]
    fn cuts_the_stream_at_records_even_when_split_across_reads() {
        let sentinel = sentinel_bytes("00112233445566778899aabbccddeeff");
        let record = |r: Record| r.bytes(&sentinel).expect("fits");
        let mut stream = b"first test\n".to_vec();
        stream.extend(record(Record::TestEnded));
        // NUL bytes and a sentinel's beginning are output like any other.
        let almost = [&[0u8, 0][..], &sentinel[..sentinel.len() - 1], b"!"].concat();
        stream.extend_from_slice(b"second");
        stream.extend_from_slice(&almost);
        stream.extend(record(Record::TestReported(b"its report")));
        stream.extend_from_slice(b"crashed half-way");
        stream.extend(record(Record::Exited(9)));
        stream.extend_from_slice(b" and a stray after");
        let expected = [
            "test:first test\n",
            &format!("reported:second{}:its report", String::from_utf8_lossy(&almost)),
            "exited:9",
            "closed:crashed half-way and a stray after",
        ];
        // Every split of every record: one byte, three, and whole reads.
        for step in [1, 3, 64 * 1024] {
            assert_eq!(pieces(stream.clone(), &sentinel, step), expected, "step {step}");
        }
    }

    #[test]
    fn a_record_that_is_none_is_said_and_the_stream_goes_on() {
        let sentinel = sentinel_bytes("00112233445566778899aabbccddeeff");
        let mut stream = b"out".to_vec();
        stream.extend_from_slice(&sentinel);
        stream.extend_from_slice(b"?more");
        stream.extend_from_slice(&sentinel);
        stream.push(b'R');
        stream.extend_from_slice(&u32::MAX.to_le_bytes());
        stream.extend(Record::TestEnded.bytes(&sentinel).unwrap());
        let got = pieces(stream, &sentinel, 5);
        assert!(got[0].starts_with("malformed:") && got[0].contains("0x3f"), "{got:?}");
        assert!(got[1].contains("a report of 4294967295 bytes"), "{got:?}");
        assert_eq!(got[2..], ["test:out?moreR\u{fffd}\u{fffd}\u{fffd}\u{fffd}", "closed:"]);
        // A report too long for one atomic write is no record: it goes on the channel.
        assert_eq!(Record::TestReported(&[0; libc::PIPE_BUF]).bytes(&sentinel), None);
    }
}
