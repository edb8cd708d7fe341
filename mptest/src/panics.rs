//! Records the message and location of the last panic on each thread, so a test, a spawned
//! child or a shared object's method can report where it panicked; std's hook still prints as
//! usual (a test's thread is named after the test, so its panic reads as under libtest).

use std::any::Any;
use std::cell::RefCell;
use std::sync::Once;

thread_local! {
    static LAST_PANIC: RefCell<Option<PanicRecord>> = const { RefCell::new(None) };
}

/// A panic's message and where it happened.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct PanicRecord {
    pub(crate) message: String,
    pub(crate) location: String,
}

/// A panic payload's text, if it is one (`&str` or `String`, as libtest reads it).
pub(crate) fn payload_str(payload: &(dyn Any + Send)) -> Option<&str> {
    payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&'static str>().copied())
}

/// A panic payload's text, or what std prints for a payload that is not text.
pub(crate) fn payload_text(payload: &(dyn Any + Send)) -> String {
    payload_str(payload).unwrap_or("Box<dyn Any>").to_string()
}

/// Installs the recording hook once per process.
pub(crate) fn install_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default_hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let message = payload_text(info.payload());
            let location = info.location().map(|l| l.to_string()).unwrap_or_default();
            default_hook(info);
            LAST_PANIC.with(|last| *last.borrow_mut() = Some(PanicRecord { message, location }));
        }));
    });
}

/// Takes the last panic recorded on this thread.
pub(crate) fn take_last() -> Option<PanicRecord> {
    LAST_PANIC.with(|last| last.borrow_mut().take())
}
