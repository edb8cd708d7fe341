//! CAN for mptest: frames, one [`Bus`] trait with two backends — SocketCAN ([`SocketCanBus`],
//! Linux) and a lossless virtual bus that spans the processes of a test ([`VirtualBus`]) —
//! pykiso's proxy auxiliary that shares one bus between several users ([`CanProxyAux`]), a
//! communication auxiliary ([`CanCommAux`]), and candump traces ([`trace`], [`replay`]).
//!
//! ```
//! use std::time::Duration;
//! use mptest_can::{Bus, CanFrame, CanId, VirtualBus};
//!
//! let bus = VirtualBus::create("crate-doc")?;
//! let (a, b) = (bus.attach()?, bus.attach()?);
//! a.send(&CanFrame::new(CanId::standard(0x123)?, &[0xde, 0xad])?)?;
//! let got = b.recv(Duration::from_secs(5))?.expect("b hears a");
//! assert_eq!(got.frame.to_string(), "123#DEAD");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## A test bench in one test
//!
//! pykiso's `mp_proxy_aux.yaml` — a proxy auxiliary that owns the CAN connection, two
//! communication auxiliaries on its proxy channels, a trace — is `examples/can_proxy.rs`:
//!
//! ```no_run
//! use std::time::Duration;
//! use mptest_can::{BusConfig, CanCommAux, CanFrame, CanId, CanProxyAux, CommCommand, ProxyConfig, VirtualBus};
//!
//! let bus = VirtualBus::create("can_channel")?;       // or BusConfig::SocketCan { interface: "can0".into() }
//! let proxy = mptest::aux::start::<CanProxyAux>(
//!     ProxyConfig::new(BusConfig::Virtual(bus.clone())).with_trace("target/suite_mp_proxy", "can_trace"),
//! )?;
//! let channels = CanProxyAux::channels(&proxy)?;
//! let aux1 = mptest::aux::start_named::<CanCommAux>("aux1", BusConfig::ProxyChannel(channels.clone()))?;
//! let aux2 = mptest::aux::start_named::<CanCommAux>("aux2", BusConfig::ProxyChannel(channels))?;
//! aux1.run_command(CommCommand::Send(CanFrame::new(CanId::standard(0x300)?, &[1])?), Duration::from_secs(5))?;
//! let heard = aux2.wait_and_get_report(Duration::from_secs(5))?.expect("aux2 hears aux1");
//! assert_eq!(heard.channel.is_some(), true);   // sent by a proxy channel, not off the bus
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Waiting until everyone is attached
//!
//! A node, or a proxy channel, hears the frames sent after it attached. A test whose children or
//! auxiliaries attach in their own time waits until they have, bounded, before it sends what all
//! must hear — [`VirtualBus::wait_for_nodes`], [`ProxyChannels::wait_for_channels`] — instead of
//! sleeping a while. Any process of the test may wait; fewer by the bound is
//! [`BusError::NotAttached`], which says how many came.
//!
//! ```
//! use std::time::Duration;
//! use mptest_can::{Bus, CanFrame, CanId, VirtualBus};
//!
//! let bus = VirtualBus::create("doc-ready")?;
//! let here = bus.attach_sender()?;
//! let there = VirtualBus::attach_named("doc-ready")?;  // in a spawned child, in its own time
//! bus.wait_for_nodes(2, Duration::from_secs(10))?;
//! here.send(&CanFrame::new(CanId::standard(0x42)?, &[1])?)?;
//! assert!(there.recv(Duration::from_secs(5))?.is_some());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## The choices made here
//!
//! - **Frames are this crate's own** ([`CanFrame`]: data, remote, error and FD frames, serde,
//!   checked on construction *and* on deserialization). socketcan's frame types exist only on
//!   Linux, and embedded-can 0.4 has no FD frame; so [`CanId`] converts to and from
//!   `embedded_can::Id` and [`CanFrame`] implements `embedded_can::Frame` for code written
//!   against that trait, and the SocketCAN backend writes and reads the kernel's own
//!   `can_frame`/`canfd_frame` layout.
//! - **SocketCAN through the `socketcan` crate** for opening and socket options (filters, error
//!   filter, receive-own, FD mode, `SO_TIMESTAMPNS`); reads are one `recvmsg` of our own, which
//!   gives the frame, the kernel timestamp and `MSG_CONFIRM` (the direction) in one call.
//! - **The trace reader replaces socketcan's `dump::Reader`**, which rejects lines can-utils
//!   writes (9-digit timestamps, padded interface names, `.` separators, `_` raw DLCs,
//!   `DROPCOUNT:` lines) and knows no `R`/`T` direction.
//! - **The virtual bus is a hub on a Unix stream socket**, not ipc-channel: many frames per
//!   write and per read, and a socket path that lets any process of the test attach by name.
//!   See [`VirtualBus`] for how it differs from a kernel interface.
//!
//! ## Defaults, the same on every backend
//!
//! A new bus handle receives every frame, error frames included (python-can's default;
//! SocketCAN's own drops error frames, so [`SocketCanBus::open`] sets its error mask to all),
//! and not its own frames ([`Bus::set_receive_own`]). Filters have SocketCAN's meaning
//! ([`CanFilter`]). Every wait is bounded: `recv` by its timeout, `send` by 10 s of
//! backpressure ([`BusError::SendTimeout`]).
//!
//! SocketCAN is Linux only (`SocketCanBus` is not compiled elsewhere, and
//! [`BusConfig::SocketCan`] is then an error saying so); the rest builds on every Unix.
#![deny(missing_docs)]

#[cfg(feature = "tokio")]
mod async_bus;
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

#[cfg(feature = "tokio")]
pub use async_bus::AsyncBus;
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
