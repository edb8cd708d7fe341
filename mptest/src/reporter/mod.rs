//! Reporters turn the runner's [`Event`]s into text: libtest's pretty and terse lines, or its
//! JSON events.

mod events;
mod human;
mod json;
mod junit;

pub use events::{Event, FailureKind, Outcome, Summary, TestResult};
pub(crate) use human::Human;
pub(crate) use json::Json;
pub(crate) use junit::Junit;

/// Receives the events of a run.
pub trait Reporter {
    /// Handles one event.
    fn report(&mut self, event: &Event<'_>);
}
