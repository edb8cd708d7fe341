//! A bus for async code (the `tokio` feature): [`AsyncBus`] wraps any [`Bus`] and awaits its
//! receive and send on tokio's blocking threads, so a runtime's other tasks go on meanwhile.

use std::sync::Arc;
use std::time::Duration;

use crate::bus::{Bus, BusError, Received};
use crate::frame::CanFrame;

/// A [`Bus`] awaited: `recv` and `send` never block the runtime. Clones share the bus.
///
/// ```
/// use std::time::Duration;
/// use mptest_can::{AsyncBus, CanFrame, CanId, VirtualBus};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let bus = VirtualBus::create("doc-async")?;
/// let (a, b) = (AsyncBus::new(bus.attach()?), AsyncBus::new(bus.attach()?));
/// a.send(CanFrame::new(CanId::standard(0x10)?, &[1])?).await?;
/// let got = b.recv(Duration::from_secs(5)).await?.expect("b hears a");
/// assert_eq!(got.frame.data(), [1]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug)]
pub struct AsyncBus<B: Bus + 'static>(Arc<B>);

impl<B: Bus + 'static> Clone for AsyncBus<B> {
    fn clone(&self) -> Self {
        AsyncBus(self.0.clone())
    }
}

impl<B: Bus + 'static> AsyncBus<B> {
    /// Wraps `bus`.
    pub fn new(bus: B) -> Self {
        AsyncBus(Arc::new(bus))
    }

    /// The bus itself, for its other methods (filters, receive-own).
    pub fn bus(&self) -> &B {
        &self.0
    }

    /// [`Bus::recv`], awaited.
    pub async fn recv(&self, timeout: Duration) -> Result<Option<Received>, BusError> {
        let bus = self.0.clone();
        mptest::rt::unblock(move || bus.recv(timeout)).await
    }

    /// [`Bus::send`], awaited.
    pub async fn send(&self, frame: CanFrame) -> Result<(), BusError> {
        let bus = self.0.clone();
        mptest::rt::unblock(move || bus.send(&frame)).await
    }
}
