//! pykiso's `CommunicationAuxiliary` for CAN: an auxiliary that owns a bus connection (often a
//! proxy channel), sends what it is told and reports every frame it hears.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use mptest::__private::sync::RwLock;
use mptest::aux::{AuxResult, Auxiliary};
use serde::{Deserialize, Serialize};

use crate::bus::{Bus, CanFilter, Received};
use crate::frame::CanFrame;
use crate::proxy::BusConfig;

/// What [`CanCommAux`] is told to do.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum CommCommand {
    /// Send this frame (pykiso: `send_message`).
    Send(CanFrame),
    /// Hear only the frames these filters pass.
    Filter(Vec<CanFilter>),
}

/// A communication auxiliary on a CAN bus: `run_command(CommCommand::Send(frame))` sends, and
/// `wait_and_get_report` returns each frame it heard, as [`Received`] (pykiso:
/// `receive_message`).
///
/// ```no_run
/// use std::time::Duration;
/// use mptest_can::{BusConfig, CanCommAux, CanFrame, CanId, CommCommand, VirtualBus};
///
/// let bus = VirtualBus::create("comm")?;
/// let aux = mptest::aux::start::<CanCommAux>(BusConfig::Virtual(bus.clone()))?;
/// let frame = CanFrame::new(CanId::standard(0x300)?, &[1, 2])?;
/// aux.run_command(CommCommand::Send(frame), Duration::from_secs(5))?;
/// let heard = aux.wait_and_get_report(Duration::from_secs(5))?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct CanCommAux {
    config: BusConfig,
    bus: RwLock<Option<Box<dyn Bus>>>,
    /// Whether a receive error was printed already (a closed bus fails every 20 ms).
    reported: AtomicBool,
}

#[mptest::aux]
impl Auxiliary for CanCommAux {
    type Config = BusConfig;
    type Command = CommCommand;
    type Response = ();
    type Message = Received;

    fn new(config: BusConfig) -> AuxResult<Self> {
        Ok(CanCommAux {
            config,
            bus: RwLock::new(None),
            reported: AtomicBool::new(false),
        })
    }

    fn create_instance(&self) -> AuxResult<()> {
        let mut bus = self.bus.write();
        if bus.is_none() {
            *bus = Some(self.config.open()?);
            self.reported.store(false, Ordering::Relaxed);
        }
        Ok(())
    }

    fn delete_instance(&self) -> AuxResult<()> {
        self.bus.write().take();
        Ok(())
    }

    fn run_command(&self, command: CommCommand) -> AuxResult<()> {
        let bus = self.bus.read();
        let bus = bus.as_ref().ok_or("the bus is closed")?;
        match command {
            CommCommand::Send(frame) => bus.send(&frame)?,
            CommCommand::Filter(filters) => bus.set_filters(&filters)?,
        }
        Ok(())
    }

    fn receive_message(&self, wait: Duration) -> Option<Received> {
        let bus = self.bus.read();
        match bus.as_ref()?.recv(wait) {
            Ok(received) => received,
            Err(e) => {
                if !self.reported.swap(true, Ordering::Relaxed) {
                    eprintln!("receiving: {e}");
                }
                None
            }
        }
    }
}
