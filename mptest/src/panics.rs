//! Records the message and location of the last panic on each thread, so a test, a spawned
//! child or a shared object's method can report them; the default hook still prints as usual.

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

/// Installs the recording hook once per process.
pub(crate) fn install_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default_hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let message = match info.payload().downcast_ref::<&str>() {
                Some(s) => s.to_string(),
                None => match info.payload().downcast_ref::<String>() {
                    Some(s) => s.clone(),
                    None => "Box<dyn Any>".to_string(),
                },
            };
            let location = info.location().map(|l| l.to_string()).unwrap_or_default();
            LAST_PANIC.with(|last| *last.borrow_mut() = Some(PanicRecord { message, location }));
            default_hook(info);
        }));
    });
}

/// Takes the last panic recorded on this thread.
pub(crate) fn take_last() -> Option<PanicRecord> {
    LAST_PANIC.with(|last| last.borrow_mut().take())
}
