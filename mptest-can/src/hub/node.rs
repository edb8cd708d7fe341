//! A node's end of a hub connection: what a virtual bus node and a proxy channel are made of.

use std::collections::VecDeque;
use std::os::unix::io::AsRawFd;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use mptest::__private::sync::Mutex;

use super::wire::{self, Down, Inbox, Up};
use crate::bus::{Bus, BusError, CanFilter, Filters, Received};
use crate::frame::CanFrame;

/// How long a send waits for the hub to take a frame before it is a [`BusError::SendTimeout`].
pub(crate) const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// How long attaching, and a change of filters or receive-own, may take.
const CONTROL_TIMEOUT: Duration = Duration::from_secs(10);

/// A connection to a hub.
pub(crate) struct Node {
    bus: String,
    /// The hub's number for this node.
    id: u16,
    writer: Mutex<Writer>,
    reader: Mutex<Reader>,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "node {} of {}", self.id, self.bus)
    }
}

struct Writer {
    stream: UnixStream,
    bytes: Vec<u8>,
}

struct Reader {
    stream: UnixStream,
    inbox: Inbox,
    /// Frames read while waiting for an ack.
    pending: VecDeque<Received>,
    /// Applied here too, so a frame queued before a change of filters is judged by the new
    /// ones (the hub applies them to spare the connection and the queues).
    filters: Filters,
}

impl Node {
    /// Connects to the hub at `path` and waits until it has attached this node: every frame
    /// sent from then on reaches it.
    pub(crate) fn connect(bus: &str, path: &Path) -> Result<Node, BusError> {
        let stream = super::connect(bus, path)?;
        super::limit_send_buffer(&stream);
        let io = |doing| {
            let bus = bus.to_string();
            move |source| BusError::Io { bus, doing, source }
        };
        let mut node = Node {
            bus: bus.to_string(),
            id: 0,
            writer: Mutex::new(Writer {
                stream: stream.try_clone().map_err(io("attach"))?,
                bytes: Vec::with_capacity(128),
            }),
            reader: Mutex::new(Reader {
                stream,
                inbox: Inbox::new(),
                pending: VecDeque::new(),
                filters: Filters::default(),
            }),
        };
        node.id = node.control(Up::Hello {
            filters: Filters::default(),
            receive_own: false,
        })?;
        Ok(node)
    }

    /// The hub's number for this node (a proxy channel's number).
    pub(crate) fn id(&self) -> u16 {
        self.id
    }

    /// Writes one message, waiting at most [`SEND_TIMEOUT`] for room. The first try does not
    /// wait (one syscall when there is room, the usual case); a frame is never half written
    /// unless the wait runs out in the middle of one, and then the connection is cut, so the
    /// hub never reads a torn message.
    fn write(&self, message: &Up) -> Result<(), BusError> {
        let mut writer = self.writer.lock();
        let Writer { stream, bytes } = &mut *writer;
        bytes.clear();
        wire::encode(message, bytes);
        let deadline = Instant::now() + SEND_TIMEOUT;
        let mut sent = 0;
        while sent < bytes.len() {
            let rest = &bytes[sent..];
            // SAFETY: sending from our own buffer, of its own length, on our socket.
            let n = unsafe {
                libc::send(
                    stream.as_raw_fd(),
                    rest.as_ptr().cast(),
                    rest.len(),
                    libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
                )
            };
            if n > 0 {
                sent += n as usize;
                continue;
            }
            let error = std::io::Error::last_os_error();
            match error.kind() {
                std::io::ErrorKind::Interrupted => {}
                std::io::ErrorKind::WouldBlock if wait_for(stream, libc::POLLOUT, deadline) => {}
                std::io::ErrorKind::WouldBlock => {
                    if sent > 0 {
                        let _ = stream.shutdown(std::net::Shutdown::Both);
                    }
                    return Err(BusError::SendTimeout {
                        bus: self.bus.clone(),
                        waited: SEND_TIMEOUT,
                    });
                }
                _ => return Err(self.closed()),
            }
        }
        Ok(())
    }

    /// Sends a setting (or the hello) and waits for the hub's answer (to the hello: the node's
    /// number).
    fn control(&self, message: Up) -> Result<u16, BusError> {
        let mut reader = self.reader.lock();
        if let Up::Filters(filters) = &message {
            reader.filters = filters.clone();
        }
        self.write(&message)?;
        let deadline = Instant::now() + CONTROL_TIMEOUT;
        loop {
            match reader.inbox.next::<Down>() {
                Ok(Some(Down::Frame(received))) => reader.pending.push_back(received),
                Ok(Some(Down::Ack)) => return Ok(self.id),
                Ok(Some(Down::Attached { node })) => return Ok(node),
                Ok(Some(Down::Nodes { .. })) => {
                    return Err(self.malformed("a count of nodes, which no node asks for".into()))
                }
                Ok(None) => {
                    if !wait_for(&reader.stream, libc::POLLIN, deadline) {
                        return Err(BusError::Closed(format!(
                            "{} (the hub did not answer within {CONTROL_TIMEOUT:?})",
                            self.bus
                        )));
                    }
                    self.fill(&mut reader)?;
                }
                Err(reason) => return Err(self.malformed(reason)),
            }
        }
    }

    /// Fault injection for the tests: bytes that are no message, after a proper hello.
    pub(crate) fn send_raw(&self, bytes: &[u8]) -> std::io::Result<()> {
        use std::io::Write;
        self.writer.lock().stream.write_all(bytes)
    }

    fn fill(&self, reader: &mut Reader) -> Result<(), BusError> {
        let Reader { stream, inbox, .. } = reader;
        match inbox.fill(stream) {
            Ok(0) => Err(self.closed()),
            Ok(_) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => Ok(()),
            Err(_) => Err(self.closed()),
        }
    }

    fn closed(&self) -> BusError {
        BusError::Closed(self.bus.clone())
    }

    fn malformed(&self, reason: String) -> BusError {
        BusError::Malformed {
            bus: self.bus.clone(),
            reason,
        }
    }
}

/// Waits until `stream` is ready for `events` (poll), at most until `deadline`.
fn wait_for(stream: &UnixStream, events: libc::c_short, deadline: Instant) -> bool {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let mut fd = libc::pollfd {
            fd: stream.as_raw_fd(),
            events,
            revents: 0,
        };
        let ms = left.as_millis().min(i32::MAX as u128) as i32;
        // A deadline less than a millisecond away still gets one look.
        let ms = if ms == 0 && !left.is_zero() { 1 } else { ms };
        // SAFETY: one valid pollfd, for the length given.
        let ready = unsafe { libc::poll(&mut fd, 1, ms) };
        if ready > 0 {
            return true;
        }
        if ready == 0 || std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            return false;
        }
    }
}

impl Bus for Node {
    fn name(&self) -> &str {
        &self.bus
    }

    fn send(&self, frame: &CanFrame) -> Result<(), BusError> {
        self.write(&Up::Frame(frame.clone()))
    }

    fn recv(&self, timeout: Duration) -> Result<Option<Received>, BusError> {
        let deadline = Instant::now() + timeout;
        let mut reader = self.reader.lock();
        loop {
            while let Some(received) = reader.pending.pop_front() {
                if reader.filters.pass(&received.frame) {
                    return Ok(Some(received));
                }
            }
            match reader.inbox.next::<Down>() {
                Ok(Some(Down::Frame(received))) => {
                    if reader.filters.pass(&received.frame) {
                        return Ok(Some(received));
                    }
                    continue;
                }
                Ok(Some(Down::Ack | Down::Attached { .. } | Down::Nodes { .. })) => continue,
                Ok(None) => {}
                Err(reason) => return Err(self.malformed(reason)),
            }
            if !wait_for(&reader.stream, libc::POLLIN, deadline) {
                return Ok(None);
            }
            self.fill(&mut reader)?;
        }
    }

    fn set_filters(&self, filters: &[CanFilter]) -> Result<(), BusError> {
        let errors = self.reader.lock().filters.errors;
        self.control(Up::Filters(Filters {
            ids: filters.to_vec(),
            errors,
        }))
        .map(drop)
    }

    fn set_error_filter(&self, mask: u32) -> Result<(), BusError> {
        let ids = self.reader.lock().filters.ids.clone();
        self.control(Up::Filters(Filters { ids, errors: mask })).map(drop)
    }

    fn set_receive_own(&self, on: bool) -> Result<(), BusError> {
        self.control(Up::ReceiveOwn(on)).map(drop)
    }
}

/// Implements [`Bus`] for a public type that wraps a [`Node`] as its field `0`.
macro_rules! node_bus {
    ($type:ty) => {
        impl $crate::bus::Bus for $type {
            fn name(&self) -> &str {
                self.0.name()
            }
            fn send(&self, frame: &$crate::CanFrame) -> Result<(), $crate::BusError> {
                self.0.send(frame)
            }
            fn recv(
                &self,
                timeout: std::time::Duration,
            ) -> Result<Option<$crate::Received>, $crate::BusError> {
                self.0.recv(timeout)
            }
            fn set_filters(&self, filters: &[$crate::CanFilter]) -> Result<(), $crate::BusError> {
                self.0.set_filters(filters)
            }
            fn set_error_filter(&self, mask: u32) -> Result<(), $crate::BusError> {
                self.0.set_error_filter(mask)
            }
            fn set_receive_own(&self, on: bool) -> Result<(), $crate::BusError> {
                self.0.set_receive_own(on)
            }
        }
    };
}
pub(crate) use node_bus;
