//! candump log files (`candump -L`, `candump -l`): the format every Linux CAN tool reads —
//! `canplayer`, `log2asc`, python-can's `CanutilsLogReader`, Wireshark.
//!
//! ```text
//! (1700000000.123456) can0 123#DEADBEEF R
//! (1700000000.123500) can0 12345678#R4 T
//! (1700000000.124000) can0 123##5AABB R
//! (1700000000.125000) can0 20000080#0000000000000000 R
//! ```
//!
//! [`TraceWriter`] writes it (with the `R`/`T` direction suffix of `candump -x`), [`TraceReader`]
//! reads everything can-utils writes: 6 or 9 fractional digits, interface names padded with
//! spaces (candump right-aligns them when it listens on several), `.` between data bytes, `_`
//! raw DLCs, comment lines (`#`) and `DROPCOUNT:` lines. socketcan's own `dump::Reader` rejects
//! several of these (a 9-digit timestamp, padding, separators, raw DLCs, DROPCOUNT lines) and
//! knows no direction, so this module replaces it rather than wrapping it.
//!
//! ```
//! use mptest_can::trace::{format_entry, parse_line};
//!
//! let entry = parse_line("(1700000000.123456789)   can0 123#DE.AD R")?.expect("a frame");
//! assert_eq!(entry.frame.data(), [0xde, 0xad]);
//! assert_eq!(format_entry(&entry), "(1700000000.123456) can0 123#DEAD R");
//! # Ok::<(), mptest_can::trace::TraceError>(())
//! ```

use std::fs::File;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::bus::{Direction, Received};
use crate::frame::{CanFrame, CanId, FdFlags, FrameError, EFF_FLAG, ERR_FLAG};

/// One line of a candump log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// The line's timestamp.
    pub timestamp: SystemTime,
    /// The interface name (`can0`).
    pub interface: String,
    /// The frame.
    pub frame: CanFrame,
    /// `R` or `T` at the end of the line, if there was one.
    pub direction: Option<Direction>,
}

impl LogEntry {
    /// The entry for a received frame on `interface`.
    pub fn received(interface: &str, received: &Received) -> Self {
        LogEntry {
            timestamp: received.timestamp,
            interface: interface.to_string(),
            frame: received.frame.clone(),
            direction: Some(received.direction),
        }
    }
}

/// Why a log line could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TraceError {
    /// The line is not in candump's log format.
    #[error("line {line}: {reason}: {text:?}")]
    Syntax {
        /// The line number (1-based; 0 for a single parsed line).
        line: usize,
        /// What is wrong.
        reason: String,
        /// The line.
        text: String,
    },
    /// The frame on the line is not a valid frame.
    #[error("line {line}: {source}")]
    Frame {
        /// The line number.
        line: usize,
        /// Why.
        #[source]
        source: FrameError,
    },
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

/// The line for an entry, without a newline: `(secs.micros) iface frame[ R|T]`.
pub fn format_entry(entry: &LogEntry) -> String {
    let since = entry.timestamp.duration_since(UNIX_EPOCH).unwrap_or_default();
    let suffix = match entry.direction {
        Some(Direction::Rx) => " R",
        Some(Direction::Tx) => " T",
        None => "",
    };
    format!(
        "({}.{:06}) {} {}{suffix}",
        since.as_secs(),
        since.subsec_micros(),
        entry.interface,
        entry.frame
    )
}

/// Reads one line: `Ok(None)` for a line that holds no frame (blank, a `#` comment, a
/// `DROPCOUNT:` notice).
pub fn parse_line(text: &str) -> Result<Option<LogEntry>, TraceError> {
    parse_numbered(text, 0)
}

fn parse_numbered(text: &str, line: usize) -> Result<Option<LogEntry>, TraceError> {
    let trimmed = text.trim();
    if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with("DROPCOUNT:") {
        return Ok(None);
    }
    let syntax = |reason: &str| TraceError::Syntax {
        line,
        reason: reason.to_string(),
        text: text.to_string(),
    };
    let mut fields = trimmed.split_whitespace();
    let (Some(stamp), Some(interface), Some(frame)) = (fields.next(), fields.next(), fields.next()) else {
        return Err(syntax("expected '(timestamp) interface frame'"));
    };
    let direction = match fields.next() {
        None => None,
        Some("R" | "r") => Some(Direction::Rx),
        Some("T" | "t") => Some(Direction::Tx),
        Some(_) => return Err(syntax("expected R or T after the frame")),
    };
    if fields.next().is_some() {
        return Err(syntax("unexpected text after the frame"));
    }
    let timestamp = parse_timestamp(stamp).ok_or_else(|| syntax("bad timestamp"))?;
    let frame = parse_frame(frame).map_err(|e| match e {
        FrameOrSyntax::Frame(source) => TraceError::Frame { line, source },
        FrameOrSyntax::Syntax(reason) => syntax(reason),
    })?;
    Ok(Some(LogEntry {
        timestamp,
        interface: interface.to_string(),
        frame,
        direction,
    }))
}

/// `(1700000000.123456)` or `(1700000000.123456789)`.
fn parse_timestamp(stamp: &str) -> Option<SystemTime> {
    let inner = stamp.strip_prefix('(')?.strip_suffix(')')?;
    let (secs, frac) = inner.split_once('.')?;
    let secs: u64 = secs.parse().ok()?;
    if frac.is_empty() || frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let nanos: u32 = format!("{frac:0<9}").parse().ok()?;
    Some(UNIX_EPOCH + Duration::new(secs, nanos))
}

enum FrameOrSyntax {
    Frame(FrameError),
    Syntax(&'static str),
}

impl From<FrameError> for FrameOrSyntax {
    fn from(e: FrameError) -> Self {
        FrameOrSyntax::Frame(e)
    }
}

fn nibble(c: u8) -> Result<u8, FrameOrSyntax> {
    (c as char)
        .to_digit(16)
        .map(|d| d as u8)
        .ok_or(FrameOrSyntax::Syntax("a hex digit was expected"))
}

/// can-utils' `parse_canframe`, for classic, remote, error and FD frames.
fn parse_frame(text: &str) -> Result<CanFrame, FrameOrSyntax> {
    let (id_text, rest) = text
        .split_once('#')
        .ok_or(FrameOrSyntax::Syntax("no '#' in the frame"))?;
    let raw = u32::from_str_radix(id_text, 16).map_err(|_| FrameOrSyntax::Syntax("bad CAN id"))?;
    let id = match id_text.len() {
        3 => CanId::standard(raw as u16)?,
        8 if raw & ERR_FLAG != 0 => {
            // As can-utils' lib.c reads it: a classic frame whose id has CAN_ERR_FLAG, its data
            // as strict as a data frame's (nothing may follow but `_` and a raw DLC after all
            // 8 bytes), any class bits, none included.
            let (data, tail) = parse_data(rest.as_bytes(), 8)?;
            match tail {
                [] => {}
                [b'_', dlc] if data.len() == 8 && nibble(*dlc)? > 8 => {}
                [b'_', dlc] => return Err(FrameError::BadDlc(nibble(*dlc)?).into()),
                _ => return Err(FrameOrSyntax::Syntax("unexpected text after the data")),
            }
            let mut bytes = [0u8; 8];
            bytes[..data.len()].copy_from_slice(&data);
            return Ok(CanFrame::error(raw & !ERR_FLAG & !EFF_FLAG, bytes)?);
        }
        8 => CanId::extended(raw & !EFF_FLAG)?,
        5 => return Err(FrameOrSyntax::Syntax("CAN XL frames are not supported")),
        _ => return Err(FrameOrSyntax::Syntax("a CAN id has 3 or 8 hex digits")),
    };
    let rest = rest.as_bytes();
    if let Some(after) = rest.strip_prefix(b"R").or_else(|| rest.strip_prefix(b"r")) {
        return match after {
            [] => Ok(CanFrame::remote(id, 0)?),
            [dlc] => Ok(CanFrame::remote(id, nibble(*dlc)?)?),
            [b'8', b'_', raw] => Ok(CanFrame::remote_with_raw_dlc(id, nibble(*raw)?)?),
            _ => Err(FrameOrSyntax::Syntax("bad remote frame DLC")),
        };
    }
    if let Some(after) = rest.strip_prefix(b"#") {
        let (&flags, data) = after
            .split_first()
            .ok_or(FrameOrSyntax::Syntax("no flags after '##'"))?;
        let (bytes, tail) = parse_data(data, 64)?;
        if !tail.is_empty() {
            return Err(FrameOrSyntax::Syntax("unexpected text after the data"));
        }
        return Ok(CanFrame::fd(id, &bytes, FdFlags::from_nibble(nibble(flags)?))?);
    }
    let (bytes, tail) = parse_data(rest, 8)?;
    match tail {
        [] => Ok(CanFrame::new(id, &bytes)?),
        [b'_', dlc] => Ok(CanFrame::with_raw_dlc(id, &bytes, nibble(*dlc)?)?),
        _ => Err(FrameOrSyntax::Syntax("unexpected text after the data")),
    }
}

/// Hex byte pairs with optional `.` between them, at most `max`; the bytes and what follows.
fn parse_data(mut text: &[u8], max: usize) -> Result<(Vec<u8>, &[u8]), FrameOrSyntax> {
    let mut bytes = Vec::new();
    loop {
        if let [b'.', rest @ ..] = text {
            text = rest;
        }
        match text {
            [hi, lo, rest @ ..] if hi.is_ascii_hexdigit() && lo.is_ascii_hexdigit() => {
                if bytes.len() == max {
                    return Err(FrameOrSyntax::Frame(if max == 8 {
                        FrameError::TooMuchData(max + 1)
                    } else {
                        FrameError::BadFdLength(max + 1)
                    }));
                }
                bytes.push(nibble(*hi)? << 4 | nibble(*lo)?);
                text = rest;
            }
            [c, ..] if c.is_ascii_hexdigit() => {
                return Err(FrameOrSyntax::Syntax("odd number of hex digits"))
            }
            _ => return Ok((bytes, text)),
        }
    }
}

/// Reads a candump log: an iterator of entries, skipping comments and `DROPCOUNT:` lines; an
/// error names the line.
pub struct TraceReader<R> {
    input: R,
    line: usize,
    path: PathBuf,
}

impl TraceReader<std::io::BufReader<File>> {
    /// Opens a log file.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, TraceError> {
        let path = path.as_ref().to_path_buf();
        let file = File::open(&path).map_err(|source| TraceError::Io {
            path: path.clone(),
            source,
        })?;
        Ok(TraceReader {
            input: std::io::BufReader::new(file),
            line: 0,
            path,
        })
    }
}

impl<R: BufRead> TraceReader<R> {
    /// Reads from any buffered reader.
    pub fn new(input: R) -> Self {
        TraceReader {
            input,
            line: 0,
            path: PathBuf::from("<input>"),
        }
    }
}

impl<R: BufRead> Iterator for TraceReader<R> {
    type Item = Result<LogEntry, TraceError>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut text = String::new();
        loop {
            text.clear();
            self.line += 1;
            match self.input.read_line(&mut text) {
                Ok(0) => return None,
                Ok(_) => match parse_numbered(&text, self.line) {
                    Ok(Some(entry)) => return Some(Ok(entry)),
                    Ok(None) => continue,
                    Err(err) => return Some(Err(err)),
                },
                Err(source) => {
                    return Some(Err(TraceError::Io {
                        path: self.path.clone(),
                        source,
                    }))
                }
            }
        }
    }
}

/// Writes a candump log. Each [`write`](Self::write) is one `write(2)` of whole lines to an
/// unbuffered file, so what was written is in the file even if the process is killed the next
/// instant, and a reader never sees half a line from a finished write.
#[derive(Debug)]
pub struct TraceWriter {
    file: File,
    path: PathBuf,
}

impl TraceWriter {
    /// Creates (or truncates) the file, making its directory if needed.
    pub fn create(path: impl AsRef<Path>) -> Result<Self, TraceError> {
        let path = path.as_ref().to_path_buf();
        let io = |source| TraceError::Io {
            path: path.clone(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let file = File::create(&path).map_err(io)?;
        Ok(TraceWriter { file, path })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends these entries, one line each.
    pub fn write(&mut self, entries: &[LogEntry]) -> Result<(), TraceError> {
        let mut text = String::with_capacity(entries.len() * 48);
        for entry in entries {
            text.push_str(&format_entry(entry));
            text.push('\n');
        }
        self.file
            .write_all(text.as_bytes())
            .map_err(|source| TraceError::Io {
                path: self.path.clone(),
                source,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(text: &str) -> CanFrame {
        parse_line(&format!("(1.000000) can0 {text}"))
            .unwrap()
            .unwrap()
            .frame
    }

    #[test]
    fn every_kind_round_trips() {
        for text in [
            "123#",
            "123#DEADBEEF",
            "7FF#0011223344556677",
            "00001ABC#01",
            "123#R",
            "123#R4",
            "123#R8_F",
            "123#1122334455667788_E",
            "123##4",
            "123##5AABB",
            "1FFFFFFF##7000102030405060708090A0B",
            "20000080#0000000000000000",
            "20000004#0001020304050607",
            // No class bits: lib.c reads it, the kernel can send it.
            "20000000#0000000000000000",
        ] {
            assert_eq!(frame(text).to_string(), text, "{text}");
        }
        let fd64 = format!("123##4{}", "AB".repeat(64));
        assert_eq!(frame(&fd64).data().len(), 64);
    }

    #[test]
    fn what_can_utils_writes_is_read() {
        // 9 digits, a padded interface name, separators, a direction.
        let entry = parse_line("(1700000000.123456789)  vcan0 123#DE.AD.BE.EF T\n")
            .unwrap()
            .unwrap();
        assert_eq!(
            entry.timestamp,
            UNIX_EPOCH + Duration::new(1_700_000_000, 123_456_789)
        );
        assert_eq!(entry.interface, "vcan0");
        assert_eq!(entry.frame.data(), [0xde, 0xad, 0xbe, 0xef]);
        assert_eq!(entry.direction, Some(Direction::Tx));
        let fd = frame("123##5.AA.BB");
        assert_eq!(fd.data(), [0xaa, 0xbb]);
        assert_eq!(
            fd.fd_flags(),
            Some(FdFlags {
                brs: true,
                esi: false
            })
        );
        // Old can-utils wrote FD flags without FDF.
        assert_eq!(frame("123##0AA").fd_flags(), Some(FdFlags::default()));
        for skipped in [
            "",
            "  ",
            "# a comment",
            "DROPCOUNT: dropped 3 CAN frames on 'can0' socket (total drops 3)",
        ] {
            assert!(parse_line(skipped).unwrap().is_none(), "{skipped:?}");
        }
    }

    #[test]
    fn bad_lines_are_errors_that_say_why() {
        for (text, why) in [
            ("(1.0) can0", "expected '(timestamp) interface frame'"),
            ("1.0 can0 123#00", "bad timestamp"),
            ("(1.0000000000) can0 123#00", "bad timestamp"),
            ("(1.0) can0 12#00", "3 or 8 hex digits"),
            ("(1.0) can0 123#0", "odd number"),
            ("(1.0) can0 123#00 X", "R or T"),
            ("(1.0) can0 123#00_9", "DLC 9"),
            ("(1.0) can0 800#00", "11 bits"),
            ("(1.0) can0 123#001122334455667788", "at most 8"),
            ("(1.0) can0 123##4001122334455667788", "0-8, 12"),
            ("(1.0) can0 00123#11:22:12345678#00", "CAN XL"),
            // An error frame's data is as strict as a data frame's (lib.c, python-can).
            ("(1.0) can0 20000080#ZZ", "unexpected text"),
            ("(1.0) can0 20000080#0011_X", "hex digit"),
            ("(1.0) can0 20000080#0011_9", "DLC 9"),
        ] {
            let err = parse_line(text).unwrap_err().to_string();
            assert!(err.contains(why), "{text}: {err}");
        }
        let mut reader = TraceReader::new("# c\n(1.0) can0 123#00\n(1.0) can0 bad\n".as_bytes());
        assert!(reader.next().unwrap().is_ok());
        let err = reader.next().unwrap().unwrap_err().to_string();
        assert!(err.starts_with("line 3:"), "{err}");
    }

    #[test]
    fn the_writer_writes_what_the_reader_reads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/trace.log");
        let mut writer = TraceWriter::create(&path).unwrap();
        let entries = vec![
            LogEntry {
                timestamp: UNIX_EPOCH + Duration::new(1_700_000_000, 123_456_000),
                interface: "vbus".into(),
                frame: frame("123#DEADBEEF"),
                direction: Some(Direction::Rx),
            },
            LogEntry {
                timestamp: UNIX_EPOCH + Duration::new(1_700_000_001, 0),
                interface: "vbus".into(),
                frame: frame("123##5AA"),
                direction: Some(Direction::Tx),
            },
        ];
        writer.write(&entries).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            "(1700000000.123456) vbus 123#DEADBEEF R\n(1700000001.000000) vbus 123##5AA T\n"
        );
        let read: Vec<_> = TraceReader::open(&path).unwrap().map(Result::unwrap).collect();
        assert_eq!(read, entries);
    }
}
