//! CAN for mptest: frames now; SocketCAN, the multi-process virtual bus, the proxy auxiliary and
//! candump traces build on them.
//!
//! ```
//! use mptest_can::{CanFrame, CanId};
//!
//! let frame = CanFrame::new(CanId::standard(0x123)?, &[0xde, 0xad])?;
//! assert_eq!(frame.to_string(), "123#DEAD");
//! # Ok::<(), mptest_can::FrameError>(())
//! ```
#![deny(missing_docs)]

use std::fmt;

use serde::{Deserialize, Serialize};

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
}

/// A CAN identifier: 11-bit standard or 29-bit extended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CanId {
    /// 11 bits.
    Standard(u16),
    /// 29 bits.
    Extended(u32),
}

impl CanId {
    /// An 11-bit identifier.
    pub fn standard(id: u16) -> Result<Self, FrameError> {
        if id > 0x7ff {
            return Err(FrameError::StandardIdTooLarge(id.into()));
        }
        Ok(CanId::Standard(id))
    }

    /// A 29-bit identifier.
    pub fn extended(id: u32) -> Result<Self, FrameError> {
        if id > 0x1fff_ffff {
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
}

/// A classic CAN data frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CanFrame {
    id: CanId,
    len: u8,
    data: [u8; 8],
}

impl CanFrame {
    /// A frame with this identifier and up to 8 data bytes.
    pub fn new(id: CanId, data: &[u8]) -> Result<Self, FrameError> {
        if data.len() > 8 {
            return Err(FrameError::TooMuchData(data.len()));
        }
        let mut bytes = [0u8; 8];
        bytes[..data.len()].copy_from_slice(data);
        Ok(CanFrame {
            id,
            len: data.len() as u8,
            data: bytes,
        })
    }

    /// The identifier.
    pub fn id(&self) -> CanId {
        self.id
    }

    /// The data bytes.
    pub fn data(&self) -> &[u8] {
        &self.data[..self.len as usize]
    }
}

/// candump's compact form: `123#DEAD` (3 hex digits standard, 8 extended).
impl fmt::Display for CanFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.id {
            CanId::Standard(id) => write!(f, "{id:03X}#")?,
            CanId::Extended(id) => write!(f, "{id:08X}#")?,
        }
        self.data().iter().try_for_each(|b| write!(f, "{b:02X}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_lengths_are_checked() {
        assert_eq!(CanId::standard(0x800), Err(FrameError::StandardIdTooLarge(0x800)));
        assert_eq!(
            CanId::extended(0x2000_0000),
            Err(FrameError::ExtendedIdTooLarge(0x2000_0000))
        );
        let id = CanId::standard(0x7ff).unwrap();
        assert_eq!(CanFrame::new(id, &[0; 9]), Err(FrameError::TooMuchData(9)));
        let frame = CanFrame::new(CanId::extended(0x1abc).unwrap(), &[1, 2, 3]).unwrap();
        assert_eq!(frame.data(), [1, 2, 3]);
        assert_eq!(frame.to_string(), "00001ABC#010203");
        assert_eq!(frame.id().raw(), 0x1abc);
    }
}
