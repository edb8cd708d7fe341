//! What every bus offers — the SocketCAN backend, a node of the virtual bus, a proxy channel —
//! and what a received frame carries.

use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::frame::{CanFrame, EFF_FLAG, ERR_FLAG, RTR_FLAG};

/// Every error class bit (SocketCAN's `CAN_ERR_MASK`): receive all error frames.
pub const ERR_MASK_ALL: u32 = 0x1fff_ffff;

/// Which way a received frame went, seen from the bus handle that received it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Direction {
    /// Sent by someone else.
    Rx,
    /// Sent by this very handle, and received back because receive-own-messages is on
    /// (SocketCAN's `MSG_CONFIRM`); or, in a trace, a frame the tracing proxy sent.
    Tx,
}

/// A frame as a bus delivered it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Received {
    /// The frame.
    pub frame: CanFrame,
    /// When it was received: the kernel's timestamp on SocketCAN; the moment the hub put it in
    /// the bus's order on the virtual bus (the same for every node).
    pub timestamp: SystemTime,
    /// Whether this handle sent it itself.
    pub direction: Direction,
    /// On a proxy channel: `Some(n)` when proxy channel `n` sent it (it did not come off the
    /// bus); `None` for a frame from the bus. Always `None` elsewhere.
    pub channel: Option<u16>,
}

/// An id/mask filter with SocketCAN's meaning: a frame passes when
/// `frame.socketcan_id() & mask == id & mask`, or, inverted, when it does not. The id and mask
/// include SocketCAN's flag bits, so a mask with [`CanFilter::EFF`] tells standard from extended
/// ids, and one with [`CanFilter::RTR`] data from remote frames. A bus with several filters
/// passes a frame that any of them passes; error frames are not subject to id filters (see
/// [`Bus::set_error_filter`]).
///
/// ```
/// use mptest_can::{CanFilter, CanFrame, CanId};
///
/// let only_0x123 = CanFilter::exact(CanId::standard(0x123)?);
/// assert!(only_0x123.matches(&CanFrame::new(CanId::standard(0x123)?, &[])?));
/// assert!(!only_0x123.matches(&CanFrame::new(CanId::extended(0x123)?, &[])?));
/// assert!(only_0x123.inverted().matches(&CanFrame::new(CanId::standard(0x124)?, &[])?));
/// # Ok::<(), mptest_can::FrameError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CanFilter {
    /// The id to compare with, flag bits included.
    pub id: u32,
    /// The bits that are compared.
    pub mask: u32,
    /// Pass the frames that do *not* match (SocketCAN's `CAN_INV_FILTER`).
    pub inverted: bool,
}

impl CanFilter {
    /// The extended-frame flag bit of a SocketCAN id.
    pub const EFF: u32 = EFF_FLAG;
    /// The remote-frame flag bit of a SocketCAN id.
    pub const RTR: u32 = RTR_FLAG;

    /// A filter on raw SocketCAN id and mask.
    pub fn new(id: u32, mask: u32) -> Self {
        CanFilter {
            id,
            mask,
            inverted: false,
        }
    }

    /// Passes data frames (and FD frames) with exactly this id, of this kind (standard or
    /// extended).
    pub fn exact(id: crate::CanId) -> Self {
        let mask = if id.is_extended() { 0x1fff_ffff } else { 0x7ff };
        CanFilter::new(id.socketcan_id(), mask | EFF_FLAG | RTR_FLAG)
    }

    /// Passes everything (SocketCAN's default filter).
    pub fn all() -> Self {
        CanFilter::new(0, 0)
    }

    /// The same filter, inverted.
    pub fn inverted(self) -> Self {
        CanFilter {
            inverted: !self.inverted,
            ..self
        }
    }

    /// Whether a (non-error) frame passes this filter, as the kernel decides it
    /// (`net/can/af_can.c`): a mask with the EFF bit on an id without it asks for standard frames
    /// only, and the kernel then compares no id bits above the 11 standard ones.
    pub fn matches(&self, frame: &CanFrame) -> bool {
        let mut mask = self.mask;
        if mask & EFF_FLAG != 0 && self.id & EFF_FLAG == 0 {
            mask &= 0x7ff | EFF_FLAG | RTR_FLAG;
        }
        let id = frame.socketcan_id();
        ((id ^ self.id) & mask == 0) != self.inverted
    }
}

/// What a bus hands to frames on receipt: id filters and the error class mask.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Filters {
    /// A frame passes if any passes it; none: nothing passes.
    pub ids: Vec<CanFilter>,
    /// Error frames pass when their class has a bit of this mask.
    pub errors: u32,
}

impl Default for Filters {
    /// Everything passes, error frames too (python-can's default; SocketCAN's own default drops
    /// error frames, so the SocketCAN backend sets its error mask to all on open).
    fn default() -> Self {
        Filters {
            ids: vec![CanFilter::all()],
            errors: ERR_MASK_ALL,
        }
    }
}

impl Filters {
    /// Whether the frame passes.
    pub fn pass(&self, frame: &CanFrame) -> bool {
        if frame.is_error() {
            return frame.socketcan_id() & !ERR_FLAG & self.errors != 0;
        }
        self.ids.iter().any(|f| f.matches(frame))
    }
}

/// Why a bus operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BusError {
    /// The interface or bus could not be opened.
    #[error("cannot open CAN interface {interface}: {reason}")]
    Open {
        /// The interface, or the virtual bus's name.
        interface: String,
        /// Why, in words ("the kernel has no CAN support (AF_CAN): ...").
        reason: String,
        /// The OS error behind it, if any.
        #[source]
        source: Option<std::io::Error>,
    },
    /// No virtual bus of that name serves this test: nothing created it (or its creator ended).
    #[error(
        "no virtual bus named {bus:?} in this test (nothing listens at {path}): create it with \
         `VirtualBus::create({bus:?})` in the test, or in a process it started, before attaching"
    )]
    NoSuchBus {
        /// The name asked for.
        bus: String,
        /// Where its hub would listen.
        path: String,
        /// The OS error of the attempt to connect.
        #[source]
        source: std::io::Error,
    },
    /// Fewer nodes (or proxy channels) were attached than a wait asked for, by its bound
    /// ([`VirtualBus::wait_for_nodes`](crate::VirtualBus::wait_for_nodes),
    /// [`ProxyChannels::wait_for_channels`](crate::ProxyChannels::wait_for_channels)).
    #[error("only {attached} of {wanted} {what} attached to the CAN bus {bus} after {waited:?}")]
    NotAttached {
        /// The bus.
        bus: String,
        /// What was counted: "nodes" or "proxy channels".
        what: &'static str,
        /// How many the wait asked for.
        wanted: usize,
        /// How many were attached when it gave up.
        attached: usize,
        /// How long it waited.
        waited: Duration,
    },
    /// The bus went away: the virtual bus's hub or the proxy stopped, the interface went down.
    #[error("the CAN bus {0} is closed")]
    Closed(String),
    /// A send was not taken within its bound: a node on the bus is not reading (backpressure).
    #[error("the CAN bus {bus} did not take a frame within {waited:?}: a receiver is not reading")]
    SendTimeout {
        /// The bus.
        bus: String,
        /// How long the send waited.
        waited: Duration,
    },
    /// The backend cannot carry this frame (an FD frame on a classic interface, ...).
    #[error("the CAN bus {bus} cannot send {frame}: {reason}")]
    Unsupported {
        /// The bus.
        bus: String,
        /// The frame, in candump's form.
        frame: String,
        /// Why.
        reason: String,
    },
    /// Something arrived that is not a frame: a malformed message from a peer.
    #[error("malformed data on the CAN bus {bus}: {reason}")]
    Malformed {
        /// The bus.
        bus: String,
        /// What was wrong.
        reason: String,
    },
    /// Any other OS error, with what was being done.
    #[error("CAN bus {bus}: {doing}: {source}")]
    Io {
        /// The bus.
        bus: String,
        /// What failed ("send", "set filters", ...).
        doing: &'static str,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

/// A CAN bus: send frames, receive them with a bound, filter them. Every backend implements it
/// with the same meaning, and every method takes `&self`, so one bus can be shared by a sending
/// and a receiving thread.
pub trait Bus: Send + Sync {
    /// The interface or bus name, as a trace names it (`can0`, `vcan0`, a virtual bus's name).
    fn name(&self) -> &str;

    /// Sends a frame. Blocks while the bus cannot take it (backpressure), at most a bounded
    /// time ([`BusError::SendTimeout`]).
    fn send(&self, frame: &CanFrame) -> Result<(), BusError>;

    /// The next frame that passes the filters, waiting at most `timeout`; `None` if none came.
    fn recv(&self, timeout: Duration) -> Result<Option<Received>, BusError>;

    /// Replaces the id filters: a frame passes if any filter passes it; an empty list passes
    /// no (non-error) frame. Default: one filter that passes everything.
    fn set_filters(&self, filters: &[CanFilter]) -> Result<(), BusError>;

    /// Which error frames pass: those whose class has a bit of `mask`. Default:
    /// [`ERR_MASK_ALL`]; 0 drops every error frame.
    fn set_error_filter(&self, mask: u32) -> Result<(), BusError>;

    /// Whether this handle receives its own frames back (as [`Direction::Tx`]). Default: off.
    fn set_receive_own(&self, on: bool) -> Result<(), BusError>;
}

impl<B: Bus + ?Sized> Bus for Box<B> {
    fn name(&self) -> &str {
        (**self).name()
    }
    fn send(&self, frame: &CanFrame) -> Result<(), BusError> {
        (**self).send(frame)
    }
    fn recv(&self, timeout: Duration) -> Result<Option<Received>, BusError> {
        (**self).recv(timeout)
    }
    fn set_filters(&self, filters: &[CanFilter]) -> Result<(), BusError> {
        (**self).set_filters(filters)
    }
    fn set_error_filter(&self, mask: u32) -> Result<(), BusError> {
        (**self).set_error_filter(mask)
    }
    fn set_receive_own(&self, on: bool) -> Result<(), BusError> {
        (**self).set_receive_own(on)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CanId, FdFlags};

    #[test]
    fn filters_follow_socketcan() {
        let std123 = CanFrame::new(CanId::standard(0x123).unwrap(), &[1]).unwrap();
        let ext123 = CanFrame::new(CanId::extended(0x123).unwrap(), &[1]).unwrap();
        let rtr123 = CanFrame::remote(CanId::standard(0x123).unwrap(), 1).unwrap();
        let fd123 = CanFrame::fd(CanId::standard(0x123).unwrap(), &[1; 12], FdFlags::default()).unwrap();
        let err = CanFrame::error(0x4, [0; 8]).unwrap();

        // No EFF bit in the mask: standard and extended alike.
        let loose = CanFilter::new(0x123, 0x7ff);
        assert!(loose.matches(&std123) && loose.matches(&ext123) && loose.matches(&rtr123));
        let exact = CanFilter::exact(CanId::standard(0x123).unwrap());
        assert!(exact.matches(&std123) && exact.matches(&fd123));
        assert!(!exact.matches(&ext123) && !exact.matches(&rtr123));
        // Standard frames only, with id and mask bits above 0x7ff: the kernel drops those bits.
        let sff_only = CanFilter::new(0x1234_5123, 0x1fff_ffff | CanFilter::EFF);
        assert!(sff_only.matches(&std123) && !sff_only.matches(&ext123));
        let range = CanFilter::new(0x100, 0x700);
        assert!(range.matches(&std123));
        assert!(!range.inverted().matches(&std123));

        let mut filters = Filters::default();
        assert!(filters.pass(&err) && filters.pass(&ext123));
        filters.ids = vec![exact];
        assert!(filters.pass(&std123) && !filters.pass(&ext123));
        filters.ids.clear();
        assert!(!filters.pass(&std123));
        assert!(filters.pass(&err), "id filters do not apply to error frames");
        filters.errors = 0x8;
        assert!(!filters.pass(&err));
        filters.errors = 0x4;
        assert!(filters.pass(&err));
    }
}
