//! Waiting, bounded, until a hub has N nodes attached: what a test does before it sends frames
//! that every node must hear, instead of a sleep. The question travels on a connection of its
//! own that is never attached — it counts nobody and no frame is queued for it — and the hub
//! answers once: when enough nodes are there, when the wait's bound is reached, or when it
//! closes. Any process of the test can ask, as any can attach.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use super::wire::{self, Down, Inbox, Up};
use crate::bus::BusError;

/// How long past the wait's bound the hub may take to answer before it counts as gone.
const ANSWER_MARGIN: Duration = Duration::from_secs(10);

/// Waits until at least `at_least` nodes are attached to the hub of `bus` at `path`, at most
/// `timeout`: how many are. `what` names the nodes in the error ("nodes", "proxy channels").
/// A connection that fails is returned as it is, for the caller to name.
pub(crate) fn wait_for_nodes(
    bus: &str,
    path: &Path,
    at_least: usize,
    timeout: Duration,
    what: &'static str,
) -> Result<usize, BusError> {
    let started = Instant::now();
    let mut stream = super::connect(bus, path)?;
    let closed = || BusError::Closed(bus.to_string());
    let mut question = Vec::new();
    let within_ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
    let at_least_wire = u32::try_from(at_least).unwrap_or(u32::MAX);
    wire::encode(
        &Up::WaitForNodes {
            at_least: at_least_wire,
            within_ms,
        },
        &mut question,
    );
    stream.write_all(&question).map_err(|_| closed())?;
    // The hub answers by the bound; one that hangs or died is bounded here too.
    let answer_by = timeout.saturating_add(ANSWER_MARGIN);
    stream
        .set_read_timeout(Some(answer_by))
        .map_err(|source| BusError::Io {
            bus: bus.to_string(),
            doing: "wait for nodes",
            source,
        })?;
    let mut inbox = Inbox::new();
    loop {
        match inbox.next::<Down>() {
            Ok(Some(Down::Nodes { closed: true, .. })) => return Err(closed()),
            Ok(Some(Down::Nodes { attached, .. })) if attached as usize >= at_least => {
                return Ok(attached as usize)
            }
            Ok(Some(Down::Nodes { attached, .. })) => {
                return Err(BusError::NotAttached {
                    bus: bus.to_string(),
                    what,
                    wanted: at_least,
                    attached: attached as usize,
                    waited: started.elapsed(),
                })
            }
            Ok(Some(_)) => {
                return Err(BusError::Malformed {
                    bus: bus.to_string(),
                    reason: "the hub answered a count of nodes with something else".into(),
                })
            }
            Ok(None) => {}
            Err(reason) => {
                return Err(BusError::Malformed {
                    bus: bus.to_string(),
                    reason,
                })
            }
        }
        match inbox.fill(&mut stream) {
            Ok(0) => return Err(closed()),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Err(BusError::Closed(format!(
                    "{bus} (its hub did not answer within {answer_by:?})"
                )))
            }
            Err(_) => return Err(closed()),
        }
    }
}
