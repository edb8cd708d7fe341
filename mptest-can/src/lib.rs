//! CAN for mptest: frames, a bus trait with a SocketCAN backend and a lossless multi-process
//! virtual bus, pykiso's proxy auxiliary that shares one bus between several users, and candump
//! traces.
//!
//! ```
//! use mptest_can::{CanFrame, CanId};
//!
//! let frame = CanFrame::new(CanId::standard(0x123)?, &[0xde, 0xad])?;
//! assert_eq!(frame.to_string(), "123#DEAD");
//! # Ok::<(), mptest_can::FrameError>(())
//! ```
#![deny(missing_docs)]

mod bus;
mod comm;
mod frame;
mod hub;
pub mod proxy;
pub mod replay;
#[cfg(target_os = "linux")]
mod socketcan;
pub mod trace;
mod virtual_bus;

pub use bus::{Bus, BusError, CanFilter, Direction, Filters, Received, ERR_MASK_ALL};
pub use comm::{CanCommAux, CommCommand};
pub use frame::{
    CanFrame, CanId, DataFrame, ErrorFrame, FdFlags, FdFrame, FrameError, RemoteFrame, FD_LENGTHS,
};
pub use hub::QUEUE;
pub use proxy::{BusConfig, CanProxyAux, ProxyChannel, ProxyChannels, ProxyConfig, TraceConfig};
#[cfg(target_os = "linux")]
pub use socketcan::SocketCanBus;
pub use virtual_bus::{VirtualBus, VirtualNode};
