//! Plays a candump log back into a bus, with its original timing or faster.

use std::time::{Duration, Instant, UNIX_EPOCH};

use crate::bus::{Bus, BusError};
use crate::trace::{LogEntry, TraceError};

/// How fast to replay.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Speed {
    /// The gaps between frames as the log has them.
    Original,
    /// The gaps divided by this factor (2.0: twice as fast).
    Factor(f64),
    /// No gaps: each frame as soon as the bus takes it.
    Unpaced,
}

/// Why a replay stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReplayError {
    /// The log could not be read.
    #[error("reading the log: {0}")]
    Trace(#[from] TraceError),
    /// The bus refused a frame.
    #[error("sending frame {index} of the log: {source}")]
    Bus {
        /// The frame's place in the log (0-based, frames only).
        index: usize,
        /// Why.
        #[source]
        source: BusError,
    },
}

/// Sends every frame of `entries` to `bus`, keeping the log's timing scaled by `speed`;
/// returns how many frames were sent. Frames keep their order; the pacing is measured from the
/// start, so a slow send does not add up.
///
/// ```no_run
/// use mptest_can::replay::{replay, Speed};
/// use mptest_can::trace::TraceReader;
/// use mptest_can::VirtualBus;
///
/// let bus = VirtualBus::create("replayed")?;
/// let node = bus.attach()?;
/// let sent = replay(TraceReader::open("can_trace.log")?, &node, Speed::Factor(10.0))?;
/// println!("{sent} frames");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn replay<I>(entries: I, bus: &dyn Bus, speed: Speed) -> Result<usize, ReplayError>
where
    I: IntoIterator<Item = Result<LogEntry, TraceError>>,
{
    let started = Instant::now();
    let mut first = None;
    let mut sent = 0;
    for entry in entries {
        let entry = entry?;
        let at = entry.timestamp.duration_since(UNIX_EPOCH).unwrap_or_default();
        let offset = at.saturating_sub(*first.get_or_insert(at));
        let due = match speed {
            Speed::Original => Some(offset),
            Speed::Factor(factor) if factor > 0.0 => Some(offset.div_f64(factor)),
            Speed::Factor(_) | Speed::Unpaced => None,
        };
        if let Some(wait) = due.and_then(|due| due.checked_sub(started.elapsed())) {
            // Pacing, not synchronisation: the log says when the frame is due.
            std::thread::sleep(wait.min(Duration::from_secs(3600)));
        }
        bus.send(&entry.frame)
            .map_err(|source| ReplayError::Bus { index: sent, source })?;
        sent += 1;
    }
    Ok(sent)
}
