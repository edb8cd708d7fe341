//! The fan-out hub behind the virtual bus and the proxy auxiliary: nodes connect over a Unix
//! stream socket; every frame one node sends is put in one global order and queued for every
//! other node whose filters pass it (and back to its sender if that one receives its own).
//!
//! Lossless by backpressure: each node's queue holds at most [`QUEUE`] frames; a frame is queued
//! only when every node it goes to has room, so a slow reader slows the senders down and
//! nothing is dropped. A node whose connection ends — its process died — is detached at once,
//! and the others go on.
//!
//! Why a Unix stream and not ipc-channel, which carries the rest of mptest: a byte stream lets
//! the hub put a burst of frames into one write and a node take them in one read (at hundreds of
//! thousands of frames a second, a message per frame costs more than the frames), and a
//! socket path lets any process of the test find the bus by its name.

pub(crate) mod node;
pub(crate) mod ready;
pub(crate) mod wire;

use std::collections::VecDeque;
use std::io::Write;
use std::os::unix::io::AsRawFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use mptest::__private::sync::{Condvar, Mutex};

use crate::bus::{Bus, BusError, Direction, Filters, Received};
use crate::frame::CanFrame;
use crate::trace::{LogEntry, TraceWriter};
use wire::{Down, Inbox, Up};

/// How many frames a node's queue holds before senders wait.
pub const QUEUE: usize = 128;
/// The most frames put in order under one hold of the lock.
const BATCH: usize = 64;
/// The node id of a proxy's own connection to its bus.
pub(crate) const BRIDGE: u16 = 0;

/// One hub: its listening socket, its nodes, its trace.
pub(crate) struct Hub {
    name: String,
    path: PathBuf,
    /// Mark frames with the proxy channel that sent them (a proxy's hub).
    mark_channels: bool,
    state: Mutex<State>,
    /// Senders wait here for room in the queues.
    room: Condvar,
    /// Notified when a node attaches or detaches, or the hub closes (for `WaitForNodes`).
    census: Condvar,
    trace: Option<Mutex<TraceWriter>>,
    listener: UnixListener,
}

/// What waits in a node's queue: a frame, or the answer to a setting, in order.
enum Out {
    Frame(Received),
    Ack,
}

struct State {
    ports: Vec<Port>,
    next_id: u16,
    closed: bool,
}

/// A node as the hub sees it.
struct Port {
    id: u16,
    filters: Filters,
    receive_own: bool,
    queue: VecDeque<Out>,
    /// Its writer waits here for frames.
    wake: Arc<Condvar>,
    /// The connection, to shut it down when the hub closes.
    stream: Option<UnixStream>,
}

impl Hub {
    /// Binds `path` and starts accepting nodes. `trace`: write every frame, in the bus's order,
    /// to this candump log.
    pub(crate) fn start(
        name: &str,
        path: &Path,
        mark_channels: bool,
        trace: Option<TraceWriter>,
    ) -> std::io::Result<Arc<Hub>> {
        let listener = UnixListener::bind(path)?;
        let hub = Arc::new(Hub {
            name: name.to_string(),
            path: path.to_path_buf(),
            mark_channels,
            state: Mutex::new(State {
                ports: Vec::new(),
                next_id: BRIDGE + 1,
                closed: false,
            }),
            room: Condvar::new(),
            census: Condvar::new(),
            trace: trace.map(Mutex::new),
            listener,
        });
        let acceptor = hub.clone();
        std::thread::Builder::new()
            .name("mptest-can-hub".into())
            .spawn(move || acceptor.accept_loop())?;
        Ok(hub)
    }

    /// The bus's name (the trace's interface name).
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    fn accept_loop(self: Arc<Self>) {
        for stream in self.listener.incoming() {
            if self.state.lock().closed {
                return;
            }
            let Ok(stream) = stream else { continue };
            let hub = self.clone();
            let _ = std::thread::Builder::new()
                .name("mptest-can-node".into())
                .spawn(move || hub.serve(stream));
        }
    }

    /// Serves one node: its hello, then its frames and settings until its connection ends.
    fn serve(self: Arc<Self>, stream: UnixStream) {
        limit_send_buffer(&stream);
        let mut reader = stream;
        let mut inbox = Inbox::new();
        let Ok(hello) = read_one(&mut reader, &mut inbox) else {
            return;
        };
        let (filters, receive_own) = match hello {
            Up::Hello { filters, receive_own } => (filters, receive_own),
            Up::WaitForNodes { at_least, within_ms } => {
                let deadline = Instant::now() + Duration::from_millis(within_ms);
                let (attached, closed) = self.wait_for_nodes(at_least as usize, deadline);
                let mut answer = Vec::new();
                let attached = u32::try_from(attached).unwrap_or(u32::MAX);
                wire::encode(&Down::Nodes { attached, closed }, &mut answer);
                let _ = reader.write_all(&answer);
                return;
            }
            Up::Frame(_) | Up::Filters(_) | Up::ReceiveOwn(_) => {
                eprintln!(
                    "mptest-can: {}: a node did not start with its hello; dropped it",
                    self.name
                );
                return;
            }
        };
        let Ok(writer) = reader.try_clone() else { return };
        let Some((id, wake)) = self.add_port(filters, receive_own, reader.try_clone().ok()) else {
            return;
        };
        let mut attached = Vec::new();
        wire::encode(&Down::Attached { node: id }, &mut attached);
        // The ack goes first, before any frame: the writer starts after it.
        let mut writer = writer;
        if writer.write_all(&attached).is_err() {
            self.detach(id);
            return;
        }
        let hub = self.clone();
        let _ = std::thread::Builder::new()
            .name("mptest-can-out".into())
            .spawn(move || hub.write_loop(id, &wake, writer));
        self.read_loop(id, reader, inbox);
        self.detach(id);
    }

    fn add_port(
        &self,
        filters: Filters,
        receive_own: bool,
        stream: Option<UnixStream>,
    ) -> Option<(u16, Arc<Condvar>)> {
        let mut state = self.state.lock();
        if state.closed {
            return None;
        }
        let id = state.next_id;
        state.next_id = state.next_id.checked_add(1)?;
        let wake = Arc::new(Condvar::new());
        state.ports.push(Port {
            id,
            filters,
            receive_own,
            queue: VecDeque::new(),
            wake: wake.clone(),
            stream,
        });
        self.census.notify_all();
        Some((id, wake))
    }

    /// Waits until at least `at_least` nodes are attached (a proxy's own bus connection is not
    /// one), at most until `deadline`: how many are, and whether the hub closed meanwhile.
    fn wait_for_nodes(&self, at_least: usize, deadline: Instant) -> (usize, bool) {
        let mut state = self.state.lock();
        loop {
            let attached = state.ports.iter().filter(|p| p.id != BRIDGE).count();
            if state.closed || attached >= at_least {
                return (attached, state.closed);
            }
            if self.census.wait_until(&mut state, deadline).timed_out() {
                let attached = state.ports.iter().filter(|p| p.id != BRIDGE).count();
                return (attached, state.closed);
            }
        }
    }

    /// Takes a node's messages: frames in batches, settings in their place in the order. What
    /// is buffered already (behind the hello) is taken before the next read.
    fn read_loop(&self, id: u16, mut stream: UnixStream, mut inbox: Inbox) {
        let mut frames = Vec::with_capacity(BATCH);
        loop {
            loop {
                let message = match inbox.next::<Up>() {
                    Ok(Some(message)) => message,
                    Ok(None) => break,
                    Err(why) => {
                        eprintln!(
                            "mptest-can: {}: node {id} sent a malformed message ({why}); detached it",
                            self.name
                        );
                        return;
                    }
                };
                let go_on = match message {
                    Up::Frame(frame) => {
                        frames.push((frame, None));
                        frames.len() < BATCH || self.publish(id, &mut frames)
                    }
                    setting => self.publish(id, &mut frames) && self.apply(id, setting),
                };
                if !go_on {
                    return;
                }
            }
            if !self.publish(id, &mut frames) {
                return;
            }
            match inbox.fill(&mut stream) {
                Ok(0) => return,
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return,
            }
        }
    }

    /// A setting from node `id`, answered with an ack in its queue's order.
    fn apply(&self, id: u16, setting: Up) -> bool {
        let mut state = self.state.lock();
        let Some(port) = state.ports.iter_mut().find(|p| p.id == id) else {
            return false;
        };
        match setting {
            Up::Filters(filters) => port.filters = filters,
            Up::ReceiveOwn(on) => port.receive_own = on,
            Up::Hello { .. } | Up::Frame(_) | Up::WaitForNodes { .. } => return false,
        }
        port.queue.push_back(Out::Ack);
        port.wake.notify_one();
        true
    }

    /// Puts `frames` from node `from` in the bus's order and queues them for every node they
    /// go to, waiting for room first. `false` once the hub is closed.
    pub(crate) fn publish(&self, from: u16, frames: &mut Vec<(CanFrame, Option<SystemTime>)>) -> bool {
        if frames.is_empty() {
            return true;
        }
        let mut state = self.state.lock();
        loop {
            if state.closed {
                return false;
            }
            let full = state
                .ports
                .iter()
                .any(|p| (p.id != from || p.receive_own) && p.queue.len() + frames.len() > QUEUE);
            if !full {
                break;
            }
            self.room.wait(&mut state);
        }
        let now = SystemTime::now();
        let channel = (self.mark_channels && from != BRIDGE).then_some(from);
        if let Some(trace) = &self.trace {
            // Written before any node can take these frames: the trace holds every frame that
            // was delivered, even if this process is killed right after.
            let direction = if from == BRIDGE {
                Direction::Rx
            } else {
                Direction::Tx
            };
            let entries: Vec<LogEntry> = frames
                .iter()
                .map(|(frame, at)| LogEntry {
                    timestamp: at.unwrap_or(now),
                    interface: self.name.clone(),
                    frame: frame.clone(),
                    direction: Some(direction),
                })
                .collect();
            if let Err(e) = trace.lock().write(&entries) {
                eprintln!("mptest-can: {}: the trace cannot be written: {e}", self.name);
            }
        }
        for port in &mut state.ports {
            let was_empty = port.queue.is_empty();
            for (frame, at) in frames.iter() {
                let own = port.id == from;
                if (own && !port.receive_own) || !port.filters.pass(frame) {
                    continue;
                }
                port.queue.push_back(Out::Frame(Received {
                    frame: frame.clone(),
                    timestamp: at.unwrap_or(now),
                    direction: if own { Direction::Tx } else { Direction::Rx },
                    channel,
                }));
            }
            if was_empty && !port.queue.is_empty() {
                port.wake.notify_one();
            }
        }
        frames.clear();
        true
    }

    /// Sends node `id` its frames as they come, many per write.
    fn write_loop(&self, id: u16, wake: &Condvar, mut stream: UnixStream) {
        let mut bytes = Vec::with_capacity(64 * 1024);
        loop {
            bytes.clear();
            {
                let mut state = self.state.lock();
                let queue = loop {
                    if state.closed {
                        return;
                    }
                    let Some(port) = state.ports.iter_mut().find(|p| p.id == id) else {
                        return;
                    };
                    if !port.queue.is_empty() {
                        break &mut port.queue;
                    }
                    wake.wait(&mut state);
                };
                let take = queue.len().min(1024);
                for out in queue.drain(..take) {
                    match out {
                        Out::Frame(received) => wire::encode(&Down::Frame(received), &mut bytes),
                        Out::Ack => wire::encode(&Down::Ack, &mut bytes),
                    }
                }
            }
            self.room.notify_all();
            if stream.write_all(&bytes).is_err() {
                self.detach(id);
                return;
            }
        }
    }

    /// Removes a node: its queue goes, and whoever waited for room in it goes on.
    pub(crate) fn detach(&self, id: u16) {
        let mut state = self.state.lock();
        if let Some(at) = state.ports.iter().position(|p| p.id == id) {
            let port = state.ports.remove(at);
            if let Some(stream) = &port.stream {
                let _ = stream.shutdown(std::net::Shutdown::Both);
            }
            port.wake.notify_all();
        }
        drop(state);
        self.room.notify_all();
        self.census.notify_all();
    }

    /// Attaches the proxy's own bus as node [`BRIDGE`]: frames from the bus are published from
    /// it, frames for it are sent on the bus.
    pub(crate) fn attach_bridge(self: &Arc<Self>, bus: Arc<dyn Bus>) -> std::io::Result<()> {
        let wake = Arc::new(Condvar::new());
        {
            let mut state = self.state.lock();
            state.ports.push(Port {
                id: BRIDGE,
                filters: Filters::default(),
                receive_own: false,
                queue: VecDeque::new(),
                wake: wake.clone(),
                stream: None,
            });
        }
        let (hub, out) = (self.clone(), bus.clone());
        std::thread::Builder::new()
            .name("mptest-can-to-bus".into())
            .spawn(move || hub.bridge_out(&wake, &*out))?;
        let hub = self.clone();
        std::thread::Builder::new()
            .name("mptest-can-from-bus".into())
            .spawn(move || hub.bridge_in(&*bus))?;
        Ok(())
    }

    /// Frames for the bus: sent on it in order.
    fn bridge_out(&self, wake: &Condvar, bus: &dyn Bus) {
        loop {
            let batch: Vec<Out> = {
                let mut state = self.state.lock();
                loop {
                    if state.closed {
                        return;
                    }
                    let Some(port) = state.ports.iter_mut().find(|p| p.id == BRIDGE) else {
                        return;
                    };
                    if !port.queue.is_empty() {
                        break port.queue.drain(..).collect();
                    }
                    wake.wait(&mut state);
                }
            };
            self.room.notify_all();
            for out in batch {
                let Out::Frame(received) = out else { continue };
                if let Err(e) = bus.send(&received.frame) {
                    eprintln!(
                        "mptest-can: {}: sending {} on the bus: {e}",
                        self.name, received.frame
                    );
                }
            }
        }
    }

    /// Frames from the bus: published to every channel.
    fn bridge_in(&self, bus: &dyn Bus) {
        let mut frames = Vec::with_capacity(BATCH);
        while !self.state.lock().closed {
            match bus.recv(Duration::from_millis(100)) {
                Ok(Some(received)) => {
                    frames.push((received.frame, Some(received.timestamp)));
                    // Take what else is there without waiting, up to a batch.
                    while frames.len() < BATCH {
                        match bus.recv(Duration::ZERO) {
                            Ok(Some(more)) => frames.push((more.frame, Some(more.timestamp))),
                            _ => break,
                        }
                    }
                    if !self.publish(BRIDGE, &mut frames) {
                        return;
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    eprintln!("mptest-can: {}: the bus failed: {e}", self.name);
                    return;
                }
            }
        }
    }

    /// Ends the hub: every node's connection is shut down (they see the bus closed), the socket
    /// file is removed.
    pub(crate) fn close(&self) {
        let mut state = self.state.lock();
        if state.closed {
            return;
        }
        state.closed = true;
        for port in &state.ports {
            if let Some(stream) = &port.stream {
                let _ = stream.shutdown(std::net::Shutdown::Both);
            }
            port.wake.notify_all();
        }
        drop(state);
        self.room.notify_all();
        self.census.notify_all();
        // Wakes the accept loop (shutdown on a listening socket makes accept fail on Linux;
        // elsewhere a connection does).
        // SAFETY: shutdown on a socket we own; a failure only leaves the acceptor waiting.
        unsafe {
            libc::shutdown(self.listener.as_raw_fd(), libc::SHUT_RDWR);
        }
        let _ = UnixStream::connect(&self.path);
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Connects to the hub of `bus` at `path`; a failure is [`BusError::Open`] saying nothing serves
/// it there (the virtual bus turns a missing one into [`BusError::NoSuchBus`]).
pub(crate) fn connect(bus: &str, path: &Path) -> Result<UnixStream, BusError> {
    UnixStream::connect(path).map_err(|source| BusError::Open {
        interface: bus.to_string(),
        reason: format!("nothing serves it at {} ({source})", path.display()),
        source: Some(source),
    })
}

/// Bytes a connection's send buffer holds. The kernel's default (about 200 KiB, thousands of
/// frames) would add milliseconds of queueing under a flood; the queues already batch.
const SEND_BUFFER: libc::c_int = 4 * 1024;

/// Shrinks a connection's send buffer to [`SEND_BUFFER`] (best effort).
pub(crate) fn limit_send_buffer(stream: &UnixStream) {
    // SAFETY: setsockopt with a c_int value of its own size on a socket we hold.
    unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_SNDBUF,
            (&SEND_BUFFER as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

/// The first message of a connection, within the stream's read timeout.
fn read_one(stream: &mut UnixStream, inbox: &mut Inbox) -> Result<Up, ()> {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    loop {
        match inbox.next::<Up>() {
            Ok(Some(message)) => {
                let _ = stream.set_read_timeout(None);
                return Ok(message);
            }
            Ok(None) => {}
            Err(_) => return Err(()),
        }
        match inbox.fill(stream) {
            Ok(0) => return Err(()),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return Err(()),
        }
    }
}
