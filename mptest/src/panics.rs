//! Records the message and location of the last panic on each thread, so a test, a spawned
//! child or a shared object's method can report them; the default hook still prints as usual.

use std::cell::RefCell;
use std::sync::Once;

thread_local! {
    static LAST_PANIC: RefCell<Option<PanicRecord>> = const { RefCell::new(None) };
    /// The test this thread runs (a worker runs its tests on one thread, not one each).
    static RUNNING_TEST: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Marks this thread as running `test` (or nothing): its panics are reported under the test's
/// name, as libtest's thread per test would have them.
pub(crate) fn set_running_test(test: Option<&str>) {
    RUNNING_TEST.with(|t| *t.borrow_mut() = test.map(str::to_string));
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
            let test = RUNNING_TEST.with(|t| t.borrow().clone());
            match test {
                // libtest's words, with the test's name where the thread's would be.
                Some(test) => print_as_libtest(&test, &location, &message),
                None => default_hook(info),
            }
            LAST_PANIC.with(|last| *last.borrow_mut() = Some(PanicRecord { message, location }));
        }));
    });
}

/// What std's hook prints, for a thread named after `test`: the message, then a backtrace as
/// `RUST_BACKTRACE` asks (`0` or unset: a note saying how to get one).
fn print_as_libtest(test: &str, location: &str, message: &str) {
    use std::io::Write;
    let backtrace = std::env::var("RUST_BACKTRACE").unwrap_or_default();
    let mut text = format!("\nthread '{test}' panicked at {location}:\n{message}\n");
    match backtrace.as_str() {
        "" | "0" => {
            text.push_str("note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n")
        }
        _ => text.push_str(&format!(
            "stack backtrace:\n{}\n",
            std::backtrace::Backtrace::force_capture()
        )),
    }
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}

/// Takes the last panic recorded on this thread.
pub(crate) fn take_last() -> Option<PanicRecord> {
    LAST_PANIC.with(|last| last.borrow_mut().take())
}
