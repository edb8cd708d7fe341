//! Async forms of mptest's blocking handles — an auxiliary's calls, the recorder's and the
//! logs' waits, the shared lock — spelled `<name>_async`. Each runs the blocking call on
//! tokio's blocking threads and awaits it there, so the runtime's other tasks go on; the
//! proxies' calls have a faster path of their own (`Proxy::call_async`).

use std::time::Duration;

use crate::aux::{AuxError, AuxHandle, Auxiliary};
use crate::{Call, LogRecord, Recorder, RecorderError};

/// Runs `f` — any blocking call, of mptest's or the code under test — on tokio's blocking
/// threads and awaits it; a panic in it goes on in the awaiting task.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let sum = mptest::rt::unblock(|| (1..=10).sum::<u32>()).await;
/// assert_eq!(sum, 55);
/// # });
/// ```
pub async fn unblock<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> R {
    match tokio::task::spawn_blocking(f).await {
        Ok(value) => value,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        // Only a runtime shutting down cancels it: the awaiting task goes with the runtime.
        Err(_) => std::future::pending().await,
    }
}

/// Each method twice-named: `$name_async` awaits `$name` on a blocking thread.
macro_rules! async_twins {
    ($($name:ident / $async_name:ident ($($arg:ident: $ty:ty),*) -> $ret:ty;)*) => {$(
        #[doc = concat!("[`", stringify!($name), "`](Self::", stringify!($name), "), awaited: it never blocks the runtime.")]
        pub async fn $async_name(&self, $($arg: $ty),*) -> $ret {
            let handle = self.clone();
            unblock(move || handle.$name($($arg),*)).await
        }
    )*};
}

impl<T: Auxiliary> AuxHandle<T> {
    async_twins! {
        lock_it / lock_it_async (timeout: Duration) -> bool;
        unlock_it / unlock_it_async () -> Result<(), AuxError>;
        create_instance / create_instance_async () -> Result<(), AuxError>;
        delete_instance / delete_instance_async () -> Result<(), AuxError>;
        run_command / run_command_async (command: T::Command, timeout: Duration) -> Result<T::Response, AuxError>;
        abort_command / abort_command_async (timeout: Duration) -> Result<(), AuxError>;
        wait_and_get_report / wait_and_get_report_async (timeout: Duration) -> Result<Option<T::Message>, AuxError>;
        dropped_messages / dropped_messages_async () -> Result<u64, AuxError>;
        suspend / suspend_async () -> Result<(), AuxError>;
        resume / resume_async () -> Result<(), AuxError>;
        stop / stop_async () -> Result<(), AuxError>;
    }
}

impl Recorder {
    /// [`wait_for`](Self::wait_for), awaited: it never blocks the runtime.
    pub async fn wait_for_async(
        &self,
        condition: impl FnMut(&[Call]) -> bool + Send + 'static,
        timeout: Duration,
    ) -> Result<Vec<Call>, RecorderError> {
        let recorder = self.clone();
        unblock(move || recorder.wait_for(condition, timeout)).await
    }
}

/// [`logs::wait_for`](crate::logs::wait_for), awaited: it never blocks the runtime.
pub async fn wait_for_log(
    matches: impl FnMut(&LogRecord) -> bool + Send + 'static,
    timeout: Duration,
) -> Result<LogRecord, crate::logs::LogError> {
    unblock(move || crate::logs::wait_for(matches, timeout)).await
}
