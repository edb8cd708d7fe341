//! pykiso's proxy auxiliary, across processes: [`CanProxyAux`] owns the one connection to a bus
//! and serves any number of proxy channels, each a [`Bus`] usable from any process of the test.
//!
//! - Every frame the proxy receives from the bus goes to every proxy channel.
//! - A frame sent through one proxy channel goes out on the bus and to every *other* channel,
//!   not back to its sender (pykiso's rule), marked with the sending channel
//!   ([`Received::channel`](crate::Received::channel)), so a receiver tells it from a frame that came off the bus.
//! - With a [`TraceConfig`], every frame the proxy receives (`R`) *and* sends (`T`) is written to
//!   `DIR/NAME.log` in candump's format, in the bus's order, before any channel gets it: the
//!   trace is complete even if the proxy is killed.
//!
//! ```no_run
//! use std::time::Duration;
//! use mptest_can::{Bus, BusConfig, CanFrame, CanId, CanProxyAux, ProxyConfig, VirtualBus};
//!
//! let bus = VirtualBus::create("bench")?;
//! let proxy = mptest::aux::start::<CanProxyAux>(ProxyConfig::new(BusConfig::Virtual(bus.clone())))?;
//! let channels = CanProxyAux::channels(&proxy)?;   // Clone + Serialize: hand it to anyone
//! let (one, two) = (channels.open()?, channels.open()?);
//! one.send(&CanFrame::new(CanId::standard(0x300)?, &[1])?)?;
//! let heard = two.recv(Duration::from_secs(5))?.expect("two hears one");
//! assert_eq!(heard.channel, Some(one.channel()));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use mptest::__private::sync::Mutex;
use mptest::aux::{AuxError, AuxHandle, AuxResult, Auxiliary};
use serde::{Deserialize, Serialize};

use crate::bus::{Bus, BusError};
use crate::hub::node::Node;
use crate::hub::Hub;
use crate::trace::TraceWriter;
use crate::virtual_bus::{socket_path, VirtualBus};

/// Which bus to open: what an auxiliary's config names (pykiso's connector).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[non_exhaustive]
pub enum BusConfig {
    /// A node of this virtual bus.
    Virtual(VirtualBus),
    /// A SocketCAN interface (`can0`, `vcan0`), classic and FD frames (Linux).
    SocketCan {
        /// The interface's name.
        interface: String,
    },
    /// A channel of a [`CanProxyAux`].
    ProxyChannel(ProxyChannels),
}

impl BusConfig {
    /// Opens the bus.
    pub fn open(&self) -> Result<Box<dyn Bus>, BusError> {
        match self {
            BusConfig::Virtual(bus) => Ok(Box::new(bus.attach()?)),
            BusConfig::SocketCan { interface } => open_socketcan(interface),
            BusConfig::ProxyChannel(channels) => Ok(Box::new(channels.open()?)),
        }
    }
}

#[cfg(target_os = "linux")]
fn open_socketcan(interface: &str) -> Result<Box<dyn Bus>, BusError> {
    Ok(Box::new(crate::socketcan::SocketCanBus::open(interface)?))
}

#[cfg(not(target_os = "linux"))]
fn open_socketcan(interface: &str) -> Result<Box<dyn Bus>, BusError> {
    Err(BusError::Open {
        interface: interface.to_string(),
        reason: "SocketCAN exists only on Linux".into(),
        source: None,
    })
}

/// Where the proxy writes its trace: `dir/name.log` (pykiso's `trace_dir` and `trace_name`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TraceConfig {
    /// The directory (made if missing).
    pub dir: PathBuf,
    /// The file's name without `.log`.
    pub name: String,
}

impl TraceConfig {
    /// The trace file's path.
    pub fn path(&self) -> PathBuf {
        self.dir.join(format!("{}.log", self.name))
    }
}

/// The proxy's config.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProxyConfig {
    /// The bus the proxy owns.
    pub bus: BusConfig,
    /// Trace every frame to a candump log, if set.
    pub trace: Option<TraceConfig>,
}

impl ProxyConfig {
    /// A proxy on `bus`, without a trace.
    pub fn new(bus: BusConfig) -> Self {
        ProxyConfig { bus, trace: None }
    }

    /// The same, tracing to `dir/name.log`.
    pub fn with_trace(self, dir: impl Into<PathBuf>, name: &str) -> Self {
        ProxyConfig {
            trace: Some(TraceConfig {
                dir: dir.into(),
                name: name.to_string(),
            }),
            ..self
        }
    }
}

/// What [`CanProxyAux`] answers to.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum ProxyCommand {
    /// Where its channels are: answered with [`ProxyReply::Channels`].
    Channels,
    /// Where its trace is: answered with [`ProxyReply::TraceFile`].
    TraceFile,
}

/// [`CanProxyAux`]'s answers.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum ProxyReply {
    /// The proxy's channels.
    Channels(ProxyChannels),
    /// The trace file, if tracing.
    TraceFile(Option<PathBuf>),
}

/// pykiso's `MpProxyAuxiliary`: owns one bus connection and shares it between proxy channels.
/// Start it with `mptest::aux::start::<CanProxyAux>(config)`; `suspend` closes the bus and
/// every channel, `resume` opens them again.
pub struct CanProxyAux {
    config: ProxyConfig,
    path: PathBuf,
    hub: Mutex<Option<Arc<Hub>>>,
}

#[mptest::aux]
impl Auxiliary for CanProxyAux {
    type Config = ProxyConfig;
    type Command = ProxyCommand;
    type Response = ProxyReply;
    type Message = ();

    fn new(config: ProxyConfig) -> AuxResult<Self> {
        let path = socket_path(&format!("proxy.{}", std::process::id()))?;
        Ok(CanProxyAux {
            config,
            path,
            hub: Mutex::new(None),
        })
    }

    fn create_instance(&self) -> AuxResult<()> {
        let mut hub = self.hub.lock();
        if hub.is_some() {
            return Ok(());
        }
        let bus: Arc<dyn Bus> = Arc::from(self.config.bus.open()?);
        let trace = match &self.config.trace {
            Some(trace) => Some(TraceWriter::create(trace.path())?),
            None => None,
        };
        let _ = std::fs::remove_file(&self.path);
        let started = Hub::start(bus.name(), &self.path, true, trace)?;
        started.attach_bridge(bus)?;
        *hub = Some(started);
        Ok(())
    }

    fn delete_instance(&self) -> AuxResult<()> {
        if let Some(hub) = self.hub.lock().take() {
            hub.close();
        }
        Ok(())
    }

    fn run_command(&self, command: ProxyCommand) -> AuxResult<ProxyReply> {
        let hub = self.hub.lock();
        let Some(hub) = hub.as_ref() else {
            return Err("the proxy is suspended".into());
        };
        Ok(match command {
            ProxyCommand::Channels => ProxyReply::Channels(ProxyChannels {
                bus: hub.name().to_string(),
                path: self.path.clone(),
            }),
            ProxyCommand::TraceFile => {
                ProxyReply::TraceFile(self.config.trace.as_ref().map(TraceConfig::path))
            }
        })
    }
}

impl CanProxyAux {
    /// Where `proxy`'s channels are (asks the proxy once; the answer travels anywhere).
    pub fn channels(proxy: &AuxHandle<CanProxyAux>) -> Result<ProxyChannels, AuxError> {
        match proxy.run_command(ProxyCommand::Channels, Duration::from_secs(30))? {
            ProxyReply::Channels(channels) => Ok(channels),
            ProxyReply::TraceFile(_) => Err(AuxError::Malformed("an answer to another command".into())),
        }
    }

    /// `proxy`'s trace file, if it traces.
    pub fn trace_file(proxy: &AuxHandle<CanProxyAux>) -> Result<Option<PathBuf>, AuxError> {
        match proxy.run_command(ProxyCommand::TraceFile, Duration::from_secs(30))? {
            ProxyReply::TraceFile(path) => Ok(path),
            ProxyReply::Channels(_) => Err(AuxError::Malformed("an answer to another command".into())),
        }
    }
}

/// Where a proxy's channels are: `Clone + Serialize + Deserialize`, so any process can
/// [`open`](Self::open) a channel.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProxyChannels {
    bus: String,
    path: PathBuf,
}

impl ProxyChannels {
    /// A new proxy channel. It receives every frame from the bus and from the other channels
    /// from the moment this returns.
    pub fn open(&self) -> Result<ProxyChannel, BusError> {
        let node = Node::connect(&self.bus, &self.path)?;
        Ok(ProxyChannel(node))
    }

    /// Waits until at least `channels` proxy channels are open — by any process of the test
    /// (the proxy's own connection to the bus is not one) — at most `timeout`; how many are.
    /// Frames sent after it returns reach every one of them: wait for this, not a while, before
    /// sending what all must hear. Fewer by the bound: [`BusError::NotAttached`].
    ///
    /// ```no_run
    /// # use std::time::Duration;
    /// # use mptest_can::{BusConfig, CanProxyAux, ProxyChannels, ProxyConfig, VirtualBus};
    /// # let bus = VirtualBus::create("doc-proxy-wait")?;
    /// let proxy = mptest::aux::start::<CanProxyAux>(ProxyConfig::new(BusConfig::Virtual(bus)))?;
    /// let channels = CanProxyAux::channels(&proxy)?;
    /// for _ in 0..2 {
    ///     // Two auxiliaries (here: children) open a channel each, in their own time.
    ///     mptest::spawn(channels.clone(), |channels: ProxyChannels| {
    ///         let channel = channels.open().unwrap();
    ///         // ... serve the bus through `channel` ...
    ///     });
    /// }
    /// channels.wait_for_channels(2, Duration::from_secs(10))?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn wait_for_channels(&self, channels: usize, timeout: Duration) -> Result<usize, BusError> {
        crate::hub::ready::wait_for_nodes(&self.bus, &self.path, channels, timeout, "proxy channels")
    }
}

/// One proxy channel: a [`Bus`] whose frames go through the proxy.
#[derive(Debug)]
pub struct ProxyChannel(Node);

impl ProxyChannel {
    /// This channel's number, as [`Received::channel`](crate::Received::channel) shows it to the others.
    pub fn channel(&self) -> u16 {
        self.0.id()
    }
}

crate::hub::node::node_bus!(ProxyChannel);
