//! Reporters turn the runner's [`Event`]s into text: libtest's pretty and terse lines, or its
//! JSON events.

mod events;
mod human;
mod json;
mod json_text;
mod junit;
mod logfile;
mod progress;

pub use events::{Event, FailureKind, Outcome, Summary, TestResult};
pub(crate) use human::Human;
pub(crate) use json::Json;
pub(crate) use junit::Junit;
pub(crate) use logfile::Logfile;
pub(crate) use progress::Progress;

/// Receives the events of a run.
pub trait Reporter {
    /// Handles one event.
    fn report(&mut self, event: &Event<'_>);
}
