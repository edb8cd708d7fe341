//! A CAN bus that spans the processes of a test: lossless, in one global order.
//!
//! ```
//! use std::time::Duration;
//! use mptest_can::{Bus, CanFrame, CanId, VirtualBus};
//!
//! let bus = VirtualBus::create("doc-bus")?;        // the hub lives as long as `bus` does
//! let a = bus.attach()?;
//! let b = VirtualBus::attach_named("doc-bus")?;     // by name, from any process of the test
//! a.send(&CanFrame::new(CanId::standard(0x123)?, &[1, 2])?)?;
//! let got = b.recv(Duration::from_secs(5))?.expect("b hears a");
//! assert_eq!(got.frame.data(), [1, 2]);
//! assert!(a.recv(Duration::ZERO)?.is_none(), "a does not hear itself");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! How it differs from a SocketCAN interface, on purpose: nothing is ever dropped (a full
//! socket buffer in the kernel drops frames; here a reader that falls [`QUEUE`](crate::QUEUE)
//! frames behind makes the senders wait), there is no arbitration by id (frames keep the order
//! in which the hub took them), and a node that only sends should say so with
//! [`VirtualBus::attach_sender`] — a node that receives but never reads holds the bus up once its
//! queue is full, and its senders get [`BusError::SendTimeout`] after 10 s.
//!
//! Where it must differ from the kernel: `send` returns once the frame is on its way to the hub,
//! not once it is on the bus — frames that *different* handles send back to back may be ordered
//! either way (one handle's frames keep their order; wait until a frame is received before
//! sending the next from another handle where the order matters); and a frame's timestamp is
//! the hub's, the same for every node. What each node receives — frames, order, own messages
//! as [`Direction::Tx`](crate::Direction) with receive-own on and not at all without, id
//! filters incl. inverted ones, error frames past id filters but not past the error filter —
//! is the kernel's: `mptest-can/tests/kernel_vm.rs` runs one scenario on both (vcan in a
//! virtual machine) and compares.

use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::bus::{Bus, BusError};
use crate::hub::node::Node;
use crate::hub::Hub;

/// A named virtual bus: the handle of its hub. `Clone + Serialize + Deserialize`: give it to a
/// spawned child, an auxiliary's config or a shared object, and [`attach`](Self::attach) there.
/// The hub runs in the process that [`create`](Self::create)d it, and closes when the last
/// handle there is dropped (nodes then see [`BusError::Closed`]).
#[derive(Clone, Serialize, Deserialize)]
pub struct VirtualBus {
    name: String,
    path: PathBuf,
    /// Held, not read: when the last clone in the creating process goes, the hub closes.
    #[serde(skip)]
    #[allow(dead_code)]
    owner: Option<Arc<Owner>>,
}

impl std::fmt::Debug for VirtualBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "VirtualBus({})", self.name)
    }
}

/// The creating process's hold on the hub.
struct Owner(Arc<Hub>);

impl Drop for Owner {
    fn drop(&mut self) {
        self.0.close();
    }
}

impl VirtualBus {
    /// Creates the bus `name` (letters, digits, `_`, `-`, `.`; at most 32) for this test: its
    /// hub runs in this process. Another bus of that name in the same test is an error.
    pub fn create(name: &str) -> Result<VirtualBus, BusError> {
        let path = socket_path(name)?;
        let open_err = |reason: String, source| BusError::Open {
            interface: name.to_string(),
            reason,
            source,
        };
        let hub = match Hub::start(name, &path, false, None) {
            Ok(hub) => hub,
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
                if UnixStream::connect(&path).is_ok() {
                    return Err(open_err(
                        "a virtual bus of this name already exists in this test".into(),
                        None,
                    ));
                }
                // Left by a hub whose process died: take its place.
                let _ = std::fs::remove_file(&path);
                Hub::start(name, &path, false, None)
                    .map_err(|e| open_err(format!("cannot listen at {}", path.display()), Some(e)))?
            }
            Err(e) => return Err(open_err(format!("cannot listen at {}", path.display()), Some(e))),
        };
        Ok(VirtualBus {
            name: name.to_string(),
            path,
            owner: Some(Arc::new(Owner(hub))),
        })
    }

    /// The handle of the bus `name` that another process of this test created.
    pub fn named(name: &str) -> Result<VirtualBus, BusError> {
        Ok(VirtualBus {
            name: name.to_string(),
            path: socket_path(name)?,
            owner: None,
        })
    }

    /// Attaches to the bus `name` of this test: [`named`](Self::named) then
    /// [`attach`](Self::attach).
    pub fn attach_named(name: &str) -> Result<VirtualNode, BusError> {
        VirtualBus::named(name)?.attach()
    }

    /// The bus's name (a trace's interface name).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A new node on the bus. It receives every frame sent by the others from the moment this
    /// returns (by default; see [`Bus::set_filters`]), and must read them.
    pub fn attach(&self) -> Result<VirtualNode, BusError> {
        Node::connect(&self.name, &self.path)
            .map(VirtualNode)
            .map_err(|e| self.no_such_bus(e))
    }

    /// Waits until at least `nodes` nodes are attached to the bus — by any process of the test,
    /// this one's included — at most `timeout`; how many are. Frames sent after it returns reach
    /// every one of them: wait for this, not a while, before sending what all must hear.
    /// Callable from any process with a handle ([`named`](Self::named) will do); the wait
    /// itself is no node. Fewer by the bound: [`BusError::NotAttached`], saying how many came.
    ///
    /// ```
    /// use std::time::Duration;
    /// use mptest_can::{Bus, BusError, CanFrame, CanId, VirtualBus};
    ///
    /// let bus = VirtualBus::create("doc-wait")?;
    /// let here = bus.attach()?;
    /// let there = VirtualBus::attach_named("doc-wait")?; // in a spawned child, usually
    /// assert_eq!(bus.wait_for_nodes(2, Duration::from_secs(10))?, 2);
    /// // A third never comes: the wait ends at its bound and says so.
    /// let err = bus.wait_for_nodes(3, Duration::from_millis(50)).unwrap_err();
    /// assert!(matches!(err, BusError::NotAttached { attached: 2, wanted: 3, .. }), "{err}");
    /// here.send(&CanFrame::new(CanId::standard(0x10)?, &[1])?)?;
    /// assert!(there.recv(Duration::from_secs(5))?.is_some());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn wait_for_nodes(&self, nodes: usize, timeout: Duration) -> Result<usize, BusError> {
        crate::hub::ready::wait_for_nodes(&self.name, &self.path, nodes, timeout, "nodes")
            .map_err(|e| self.no_such_bus(e))
    }

    /// A failure to connect because nothing listens: no such bus (an I/O error on a bus that
    /// is there stays one).
    fn no_such_bus(&self, error: BusError) -> BusError {
        match error {
            BusError::Open {
                source: Some(source), ..
            } if matches!(
                source.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
            ) =>
            {
                BusError::NoSuchBus {
                    bus: self.name.clone(),
                    path: self.path.display().to_string(),
                    source,
                }
            }
            other => other,
        }
    }

    /// A node that only sends: it receives nothing, so it never holds the bus up.
    pub fn attach_sender(&self) -> Result<VirtualNode, BusError> {
        let node = self.attach()?;
        node.set_filters(&[])?;
        node.set_error_filter(0)?;
        Ok(node)
    }
}

/// Where the bus `name` of this test listens: in the run's directory, under the test's process
/// group (every process of a test is in its worker's group), so that two tests running at once
/// may both have a bus called `vcan0`.
pub(crate) fn socket_path(name: &str) -> Result<PathBuf, BusError> {
    let invalid = |reason: &str| BusError::Open {
        interface: name.to_string(),
        reason: reason.to_string(),
        source: None,
    };
    let valid = !name.is_empty()
        && name.len() <= 32
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        && !name.starts_with('.');
    if !valid {
        return Err(invalid(
            "a virtual bus name has 1-32 letters, digits, '_', '-' or '.' (not first)",
        ));
    }
    let dir = mptest::__private::run_dir()
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    // SAFETY: getpgrp has no preconditions and cannot fail.
    let group = unsafe { libc::getpgrp() };
    let path = dir.join(format!("can-{group}-{name}"));
    // sockaddr_un holds 108 bytes with its terminating NUL.
    if path.as_os_str().len() > 107 {
        return Err(invalid(&format!(
            "its socket path {} is longer than a Unix socket allows; set a shorter TMPDIR",
            path.display()
        )));
    }
    Ok(path)
}

/// A node of a [`VirtualBus`]: a [`Bus`].
#[derive(Debug)]
pub struct VirtualNode(Node);

crate::hub::node::node_bus!(VirtualNode);

impl VirtualNode {
    /// Fault injection for mptest-can's own tests: writes raw bytes on the connection.
    #[doc(hidden)]
    pub fn send_raw(&self, bytes: &[u8]) -> std::io::Result<()> {
        self.0.send_raw(bytes)
    }
}
