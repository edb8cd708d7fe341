//! CAN frames: classic data and remote frames with standard or extended ids, error frames and
//! CAN FD frames. Every constructor checks what it is given, and so does deserialization: a frame
//! that arrives from another process is as valid as one built here.

use std::fmt;

use serde::{Deserialize, Serialize};

/// SocketCAN's flag bits in a raw `can_id` (linux/can.h).
pub(crate) const EFF_FLAG: u32 = 0x8000_0000;
pub(crate) const RTR_FLAG: u32 = 0x4000_0000;
pub(crate) const ERR_FLAG: u32 = 0x2000_0000;
const SFF_MASK: u32 = 0x7ff;
const EFF_MASK: u32 = 0x1fff_ffff;

/// The data lengths a CAN FD frame may have.
pub const FD_LENGTHS: [usize; 16] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 12, 16, 20, 24, 32, 48, 64];

/// Why a frame or an identifier is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// A standard identifier has 11 bits.
    #[error("standard CAN id {0:#x} does not fit in 11 bits")]
    StandardIdTooLarge(u32),
    /// An extended identifier has 29 bits.
    #[error("extended CAN id {0:#x} does not fit in 29 bits")]
    ExtendedIdTooLarge(u32),
    /// A classic CAN frame carries at most 8 bytes.
    #[error("a CAN frame carries at most 8 data bytes, not {0}")]
    TooMuchData(usize),
    /// A CAN FD frame carries 0–8, 12, 16, 20, 24, 32, 48 or 64 bytes.
    #[error("a CAN FD frame carries 0-8, 12, 16, 20, 24, 32, 48 or 64 bytes, not {0}")]
    BadFdLength(usize),
    /// A DLC is 0–8; a raw DLC of 9–15 is allowed only with 8 bytes.
    #[error("DLC {0} is not valid here (0-8, or 9-15 as the raw DLC of an 8-byte frame)")]
    BadDlc(u8),
    /// An error frame's class bits are the 29 bits of an id.
    #[error("error class {0:#x} does not fit in 29 bits")]
    BadErrorClass(u32),
}

/// A CAN identifier: 11-bit standard or 29-bit extended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "IdWire", into = "IdWire")]
pub enum CanId {
    /// 11 bits.
    Standard(u16),
    /// 29 bits.
    Extended(u32),
}

#[derive(Serialize, Deserialize)]
enum IdWire {
    Standard(u16),
    Extended(u32),
}

impl TryFrom<IdWire> for CanId {
    type Error = FrameError;
    fn try_from(wire: IdWire) -> Result<Self, FrameError> {
        match wire {
            IdWire::Standard(id) => CanId::standard(id),
            IdWire::Extended(id) => CanId::extended(id),
        }
    }
}

impl From<CanId> for IdWire {
    fn from(id: CanId) -> IdWire {
        match id {
            CanId::Standard(id) => IdWire::Standard(id),
            CanId::Extended(id) => IdWire::Extended(id),
        }
    }
}

impl CanId {
    /// An 11-bit identifier.
    pub fn standard(id: u16) -> Result<Self, FrameError> {
        if u32::from(id) > SFF_MASK {
            return Err(FrameError::StandardIdTooLarge(id.into()));
        }
        Ok(CanId::Standard(id))
    }

    /// A 29-bit identifier.
    pub fn extended(id: u32) -> Result<Self, FrameError> {
        if id > EFF_MASK {
            return Err(FrameError::ExtendedIdTooLarge(id));
        }
        Ok(CanId::Extended(id))
    }

    /// The identifier's value.
    pub fn raw(self) -> u32 {
        match self {
            CanId::Standard(id) => id.into(),
            CanId::Extended(id) => id,
        }
    }

    /// Whether it is a 29-bit identifier.
    pub fn is_extended(self) -> bool {
        matches!(self, CanId::Extended(_))
    }

    /// SocketCAN's `can_id` for it: the value, with `CAN_EFF_FLAG` for an extended id.
    pub fn socketcan_id(self) -> u32 {
        match self {
            CanId::Standard(id) => id.into(),
            CanId::Extended(id) => id | EFF_FLAG,
        }
    }
}

impl From<CanId> for embedded_can::Id {
    fn from(id: CanId) -> Self {
        match id {
            CanId::Standard(id) => embedded_can::StandardId::new(id)
                .map(embedded_can::Id::Standard)
                .unwrap_or(embedded_can::Id::Standard(embedded_can::StandardId::MAX)),
            CanId::Extended(id) => embedded_can::ExtendedId::new(id)
                .map(embedded_can::Id::Extended)
                .unwrap_or(embedded_can::Id::Extended(embedded_can::ExtendedId::MAX)),
        }
    }
}

impl From<embedded_can::Id> for CanId {
    fn from(id: embedded_can::Id) -> Self {
        match id {
            embedded_can::Id::Standard(id) => CanId::Standard(id.as_raw()),
            embedded_can::Id::Extended(id) => CanId::Extended(id.as_raw()),
        }
    }
}

/// CAN FD's per-frame flags.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FdFlags {
    /// Bit rate switch: the data phase runs at the higher rate.
    pub brs: bool,
    /// Error state indicator: the sender is error passive.
    pub esi: bool,
}

impl FdFlags {
    /// The flags nibble candump writes after `##`: BRS 1, ESI 2, and FDF 4 (always set).
    pub fn nibble(self) -> u8 {
        0x4 | u8::from(self.brs) | (u8::from(self.esi) << 1)
    }

    /// The flags from that nibble (FDF, and unknown bits, are ignored).
    pub fn from_nibble(nibble: u8) -> Self {
        FdFlags {
            brs: nibble & 0x1 != 0,
            esi: nibble & 0x2 != 0,
        }
    }
}

/// A CAN frame of any kind. Build one with [`CanFrame::new`], [`CanFrame::remote`],
/// [`CanFrame::error`] or [`CanFrame::fd`]; each checks its input.
///
/// ```
/// use mptest_can::{CanFrame, CanId, FdFlags};
///
/// let data = CanFrame::new(CanId::standard(0x123)?, &[0xde, 0xad])?;
/// assert_eq!(data.to_string(), "123#DEAD");
/// let remote = CanFrame::remote(CanId::extended(0x1abc)?, 4)?;
/// assert_eq!(remote.to_string(), "00001ABC#R4");
/// let fd = CanFrame::fd(CanId::standard(0x10)?, &[1; 12], FdFlags { brs: true, esi: false })?;
/// assert_eq!(fd.to_string(), "010##5010101010101010101010101");
/// assert!(CanFrame::fd(CanId::standard(0x10)?, &[0; 9], FdFlags::default()).is_err());
/// # Ok::<(), mptest_can::FrameError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "FrameWire", into = "FrameWire")]
pub enum CanFrame {
    /// A classic data frame: 0–8 bytes.
    Data(DataFrame),
    /// A classic remote frame: an id and a DLC, no data.
    Remote(RemoteFrame),
    /// An error frame, as SocketCAN reports bus errors: error class bits and 8 bytes of detail.
    Error(ErrorFrame),
    /// A CAN FD frame: 0–64 bytes in the valid FD lengths, with BRS/ESI flags.
    Fd(FdFrame),
}

/// A classic data frame (see [`CanFrame::new`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DataFrame {
    id: CanId,
    len: u8,
    data: [u8; 8],
    /// A raw DLC of 9–15 on an 8-byte frame (candump's `_X`), if one was given.
    raw_dlc: Option<u8>,
}

/// A classic remote frame (see [`CanFrame::remote`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RemoteFrame {
    id: CanId,
    dlc: u8,
    raw_dlc: Option<u8>,
}

/// An error frame (see [`CanFrame::error`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ErrorFrame {
    class: u32,
    data: [u8; 8],
}

/// A CAN FD frame (see [`CanFrame::fd`]).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct FdFrame {
    id: CanId,
    flags: FdFlags,
    len: u8,
    data: [u8; 64],
}

impl fmt::Debug for FdFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FdFrame")
            .field("id", &self.id)
            .field("flags", &self.flags)
            .field("data", &&self.data[..self.len.into()])
            .finish()
    }
}

fn check_raw_dlc(len: usize, raw_dlc: Option<u8>) -> Result<(), FrameError> {
    match raw_dlc {
        Some(dlc) if len != 8 || !(9..=15).contains(&dlc) => Err(FrameError::BadDlc(dlc)),
        _ => Ok(()),
    }
}

impl CanFrame {
    /// A classic data frame with this identifier and up to 8 data bytes.
    pub fn new(id: CanId, data: &[u8]) -> Result<Self, FrameError> {
        if data.len() > 8 {
            return Err(FrameError::TooMuchData(data.len()));
        }
        let mut bytes = [0u8; 8];
        bytes[..data.len()].copy_from_slice(data);
        Ok(CanFrame::Data(DataFrame {
            id,
            len: data.len() as u8,
            data: bytes,
            raw_dlc: None,
        }))
    }

    /// A classic data frame of 8 bytes whose DLC field says 9–15 (CAN allows it; the length
    /// stays 8). candump writes it as `123#1122334455667788_E`.
    pub fn with_raw_dlc(id: CanId, data: &[u8], raw_dlc: u8) -> Result<Self, FrameError> {
        check_raw_dlc(data.len(), Some(raw_dlc))?;
        match CanFrame::new(id, data)? {
            CanFrame::Data(frame) => Ok(CanFrame::Data(DataFrame {
                raw_dlc: Some(raw_dlc),
                ..frame
            })),
            other => Ok(other),
        }
    }

    /// A remote frame asking for `dlc` (0–8) bytes.
    pub fn remote(id: CanId, dlc: u8) -> Result<Self, FrameError> {
        if dlc > 8 {
            return Err(FrameError::BadDlc(dlc));
        }
        Ok(CanFrame::Remote(RemoteFrame {
            id,
            dlc,
            raw_dlc: None,
        }))
    }

    /// An error frame: SocketCAN's error class bits (`CAN_ERR_*`, at most 29 bits, none at
    /// all included, as the kernel and can-utils allow) and the 8 bytes of detail (controller
    /// state, protocol violation, ...).
    pub fn error(class: u32, data: [u8; 8]) -> Result<Self, FrameError> {
        if class > EFF_MASK {
            return Err(FrameError::BadErrorClass(class));
        }
        Ok(CanFrame::Error(ErrorFrame { class, data }))
    }

    /// A CAN FD frame: 0–8, 12, 16, 20, 24, 32, 48 or 64 bytes.
    pub fn fd(id: CanId, data: &[u8], flags: FdFlags) -> Result<Self, FrameError> {
        if !FD_LENGTHS.contains(&data.len()) {
            return Err(FrameError::BadFdLength(data.len()));
        }
        let mut bytes = [0u8; 64];
        bytes[..data.len()].copy_from_slice(data);
        Ok(CanFrame::Fd(FdFrame {
            id,
            flags,
            len: data.len() as u8,
            data: bytes,
        }))
    }

    /// The identifier; for an error frame, its class bits as an extended id.
    pub fn id(&self) -> CanId {
        match self {
            CanFrame::Data(f) => f.id,
            CanFrame::Remote(f) => f.id,
            CanFrame::Error(f) => CanId::Extended(f.class),
            CanFrame::Fd(f) => f.id,
        }
    }

    /// The data bytes (none for a remote frame).
    pub fn data(&self) -> &[u8] {
        match self {
            CanFrame::Data(f) => &f.data[..f.len.into()],
            CanFrame::Remote(_) => &[],
            CanFrame::Error(f) => &f.data,
            CanFrame::Fd(f) => &f.data[..f.len.into()],
        }
    }

    /// The DLC: the data length, or what a remote frame asks for.
    pub fn dlc(&self) -> u8 {
        match self {
            CanFrame::Remote(f) => f.dlc,
            other => other.data().len() as u8,
        }
    }

    /// A raw DLC of 9–15 given to an 8-byte classic frame.
    pub fn raw_dlc(&self) -> Option<u8> {
        match self {
            CanFrame::Data(f) => f.raw_dlc,
            CanFrame::Remote(f) => f.raw_dlc,
            _ => None,
        }
    }

    /// The FD flags of an FD frame.
    pub fn fd_flags(&self) -> Option<FdFlags> {
        match self {
            CanFrame::Fd(f) => Some(f.flags),
            _ => None,
        }
    }

    /// Whether it is a CAN FD frame.
    pub fn is_fd(&self) -> bool {
        matches!(self, CanFrame::Fd(_))
    }

    /// Whether it is an error frame.
    pub fn is_error(&self) -> bool {
        matches!(self, CanFrame::Error(_))
    }

    /// Whether it is a remote frame.
    pub fn is_remote(&self) -> bool {
        matches!(self, CanFrame::Remote(_))
    }

    /// SocketCAN's `can_id` of the frame: the id with `CAN_EFF_FLAG`, `CAN_RTR_FLAG` or
    /// `CAN_ERR_FLAG` as the kernel sets them (what its filters compare).
    pub fn socketcan_id(&self) -> u32 {
        match self {
            CanFrame::Data(f) => f.id.socketcan_id(),
            CanFrame::Remote(f) => f.id.socketcan_id() | RTR_FLAG,
            CanFrame::Error(f) => f.class | ERR_FLAG,
            CanFrame::Fd(f) => f.id.socketcan_id(),
        }
    }

    /// Remote frames with a raw DLC (for the candump reader).
    pub(crate) fn remote_with_raw_dlc(id: CanId, raw_dlc: u8) -> Result<Self, FrameError> {
        check_raw_dlc(8, Some(raw_dlc))?;
        Ok(CanFrame::Remote(RemoteFrame {
            id,
            dlc: 8,
            raw_dlc: Some(raw_dlc),
        }))
    }
}

/// candump's compact form, as can-utils' `snprintf_canframe` writes it: `123#DEAD`,
/// `00001ABC#R4`, `123##5AA`, `20000080#0000000000000000`, `123#1122334455667788_E`.
impl fmt::Display for CanFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.id() {
            _ if self.is_error() => write!(f, "{:08X}#", self.socketcan_id() & !EFF_FLAG)?,
            CanId::Standard(id) => write!(f, "{id:03X}#")?,
            CanId::Extended(id) => write!(f, "{id:08X}#")?,
        }
        if let CanFrame::Remote(remote) = self {
            f.write_str("R")?;
            if remote.dlc > 0 {
                write!(f, "{:X}", remote.dlc)?;
            }
        } else {
            if let CanFrame::Fd(fd) = self {
                write!(f, "#{:X}", fd.flags.nibble())?;
            }
            self.data().iter().try_for_each(|b| write!(f, "{b:02X}"))?;
        }
        match self.raw_dlc() {
            Some(dlc) => write!(f, "_{dlc:X}"),
            None => Ok(()),
        }
    }
}

/// How a frame travels in serde: plain fields, checked again on the way in.
#[derive(Serialize, Deserialize)]
enum FrameWire {
    Data {
        id: CanId,
        data: Vec<u8>,
        raw_dlc: Option<u8>,
    },
    Remote {
        id: CanId,
        dlc: u8,
        raw_dlc: Option<u8>,
    },
    Error {
        class: u32,
        data: [u8; 8],
    },
    Fd {
        id: CanId,
        flags: FdFlags,
        data: Vec<u8>,
    },
}

impl TryFrom<FrameWire> for CanFrame {
    type Error = FrameError;
    fn try_from(wire: FrameWire) -> Result<Self, FrameError> {
        match wire {
            FrameWire::Data { id, data, raw_dlc } => match raw_dlc {
                Some(dlc) => CanFrame::with_raw_dlc(id, &data, dlc),
                None => CanFrame::new(id, &data),
            },
            FrameWire::Remote { id, dlc, raw_dlc } => match raw_dlc {
                Some(raw) if dlc == 8 => CanFrame::remote_with_raw_dlc(id, raw),
                Some(raw) => Err(FrameError::BadDlc(raw)),
                None => CanFrame::remote(id, dlc),
            },
            FrameWire::Error { class, data } => CanFrame::error(class, data),
            FrameWire::Fd { id, flags, data } => CanFrame::fd(id, &data, flags),
        }
    }
}

impl From<CanFrame> for FrameWire {
    fn from(frame: CanFrame) -> FrameWire {
        match frame {
            CanFrame::Data(f) => FrameWire::Data {
                id: f.id,
                data: f.data[..f.len.into()].to_vec(),
                raw_dlc: f.raw_dlc,
            },
            CanFrame::Remote(f) => FrameWire::Remote {
                id: f.id,
                dlc: f.dlc,
                raw_dlc: f.raw_dlc,
            },
            CanFrame::Error(f) => FrameWire::Error {
                class: f.class,
                data: f.data,
            },
            CanFrame::Fd(f) => FrameWire::Fd {
                id: f.id,
                flags: f.flags,
                data: f.data[..f.len.into()].to_vec(),
            },
        }
    }
}

/// embedded-can's frame trait, for code written against it. It knows classic frames only
/// (embedded-can 0.4 has no FD trait): `new` makes data frames, `new_remote` remote frames;
/// an FD or error frame answers its id and data.
impl embedded_can::Frame for CanFrame {
    fn new(id: impl Into<embedded_can::Id>, data: &[u8]) -> Option<Self> {
        CanFrame::new(id.into().into(), data).ok()
    }

    fn new_remote(id: impl Into<embedded_can::Id>, dlc: usize) -> Option<Self> {
        CanFrame::remote(id.into().into(), u8::try_from(dlc).ok()?).ok()
    }

    fn is_extended(&self) -> bool {
        self.id().is_extended()
    }

    fn is_remote_frame(&self) -> bool {
        self.is_remote()
    }

    fn id(&self) -> embedded_can::Id {
        CanFrame::id(self).into()
    }

    fn dlc(&self) -> usize {
        CanFrame::dlc(self).into()
    }

    fn data(&self) -> &[u8] {
        CanFrame::data(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn std_id(id: u16) -> CanId {
        CanId::standard(id).unwrap()
    }

    #[test]
    fn ids_and_lengths_are_checked() {
        assert_eq!(CanId::standard(0x800), Err(FrameError::StandardIdTooLarge(0x800)));
        assert_eq!(
            CanId::extended(0x2000_0000),
            Err(FrameError::ExtendedIdTooLarge(0x2000_0000))
        );
        let id = std_id(0x7ff);
        assert_eq!(CanFrame::new(id, &[0; 9]), Err(FrameError::TooMuchData(9)));
        assert_eq!(CanFrame::remote(id, 9), Err(FrameError::BadDlc(9)));
        assert_eq!(CanFrame::with_raw_dlc(id, &[0; 7], 9), Err(FrameError::BadDlc(9)));
        assert_eq!(CanFrame::with_raw_dlc(id, &[0; 8], 8), Err(FrameError::BadDlc(8)));
        assert_eq!(
            CanFrame::error(0x4000_0000, [0; 8]),
            Err(FrameError::BadErrorClass(0x4000_0000))
        );
        for bad in [9, 10, 11, 13, 33, 63, 65] {
            let err = CanFrame::fd(id, &vec![0; bad], FdFlags::default()).unwrap_err();
            assert_eq!(err, FrameError::BadFdLength(bad));
        }
        for good in FD_LENGTHS {
            let frame = CanFrame::fd(id, &vec![7; good], FdFlags::default()).unwrap();
            assert_eq!(frame.data().len(), good);
        }
        let frame = CanFrame::new(CanId::extended(0x1abc).unwrap(), &[1, 2, 3]).unwrap();
        assert_eq!(frame.data(), [1, 2, 3]);
        assert_eq!(frame.to_string(), "00001ABC#010203");
        assert_eq!(frame.id().raw(), 0x1abc);
    }

    #[test]
    fn display_is_candumps() {
        let remote = CanFrame::remote(std_id(0x123), 0).unwrap();
        assert_eq!(remote.to_string(), "123#R");
        let remote = CanFrame::remote(std_id(0x123), 4).unwrap();
        assert_eq!(remote.to_string(), "123#R4");
        let raw = CanFrame::with_raw_dlc(std_id(0x1), &[0x11; 8], 0xe).unwrap();
        assert_eq!(raw.to_string(), "001#1111111111111111_E");
        let error = CanFrame::error(0x80, [0, 0, 0, 0, 0, 0, 0, 0]).unwrap();
        assert_eq!(error.to_string(), "20000080#0000000000000000");
        let fd = CanFrame::fd(std_id(0x123), &[0xaa], FdFlags::default()).unwrap();
        assert_eq!(fd.to_string(), "123##4AA");
        let fd = CanFrame::fd(std_id(0x123), &[], FdFlags { brs: true, esi: true }).unwrap();
        assert_eq!(fd.to_string(), "123##7");
    }

    #[test]
    fn serde_round_trips_and_rejects_invalid_frames() {
        let frames = [
            CanFrame::new(std_id(0x123), &[1, 2]).unwrap(),
            CanFrame::with_raw_dlc(std_id(0x123), &[1; 8], 12).unwrap(),
            CanFrame::remote(CanId::extended(0x1fff_ffff).unwrap(), 8).unwrap(),
            CanFrame::error(0x4, [1, 2, 3, 4, 5, 6, 7, 8]).unwrap(),
            CanFrame::fd(
                std_id(0x7ff),
                &[9; 64],
                FdFlags {
                    brs: true,
                    esi: false,
                },
            )
            .unwrap(),
        ];
        for frame in frames {
            let bytes = postcard::to_stdvec(&frame).unwrap();
            assert_eq!(postcard::from_bytes::<CanFrame>(&bytes).unwrap(), frame);
        }
        let bad = postcard::to_stdvec(&FrameWire::Fd {
            id: std_id(1),
            flags: FdFlags::default(),
            data: vec![0; 9],
        })
        .unwrap();
        assert!(postcard::from_bytes::<CanFrame>(&bad).is_err());
        let bad_id = postcard::to_stdvec(&IdWire::Standard(0x800)).unwrap();
        assert!(postcard::from_bytes::<CanId>(&bad_id).is_err());
    }

    #[test]
    fn embedded_can_sees_classic_frames() {
        use embedded_can::Frame as _;
        let id = embedded_can::StandardId::new(0x42).unwrap();
        let frame = <CanFrame as embedded_can::Frame>::new(id, &[1, 2]).unwrap();
        assert_eq!(frame.to_string(), "042#0102");
        let remote = <CanFrame as embedded_can::Frame>::new_remote(id, 3).unwrap();
        assert!(remote.is_remote_frame());
        assert_eq!(embedded_can::Frame::dlc(&remote), 3);
        assert!(<CanFrame as embedded_can::Frame>::new(id, &[0; 9]).is_none());
    }
}
