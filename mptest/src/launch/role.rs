//! Which part a process of the test binary plays, read from the environment its parent set.
//!
//! The check runs first in `main`: a process without `MPTEST_ROLE` is the coordinator (what
//! `cargo test` started); a worker finds here how to reach the coordinator.

use crate::error::Error;

/// Names the role of a re-exec'd process.
pub(crate) const ROLE_VAR: &str = "MPTEST_ROLE";
/// The ipc-channel one-shot server a new process connects to.
pub(crate) const BOOTSTRAP_VAR: &str = "MPTEST_BOOTSTRAP";
/// The coordinator's pid: a worker checks it is still its parent.
pub(crate) const PARENT_VAR: &str = "MPTEST_PARENT_PID";
/// The hex nonce of the end-of-test marker a capturing worker writes to its output pipe.
pub(crate) const SENTINEL_VAR: &str = "MPTEST_SENTINEL";

/// The part this process plays.
#[derive(Debug)]
pub(crate) enum Role {
    /// Started by `cargo test` (or a person): lists, schedules and reports.
    Coordinator,
    /// Started by the coordinator: runs tests.
    Worker(Boot),
    /// Started by `mptest::spawn`: runs one function.
    Child(Boot),
    /// Started by `Manager::start`: serves shared objects.
    Manager(Boot),
}

/// What a re-exec'd process needs to reach the process that started it.
#[derive(Debug)]
pub(crate) struct Boot {
    pub(crate) server: String,
    pub(crate) parent: i32,
    pub(crate) sentinel: Option<Vec<u8>>,
}

/// Reads the role from the environment and removes mptest's variables from it, so that what a
/// test starts does not mistake itself for a worker.
pub(crate) fn take_from_env() -> Result<Role, Error> {
    let role = std::env::var(ROLE_VAR).ok();
    let vars = [ROLE_VAR, BOOTSTRAP_VAR, PARENT_VAR, SENTINEL_VAR].map(|name| {
        let value = std::env::var(name).ok();
        // Single-threaded here: nothing else runs before the role check.
        std::env::remove_var(name);
        value
    });
    let [_, server, parent, sentinel] = vars;
    match role.as_deref() {
        None => Ok(Role::Coordinator),
        Some(name @ ("worker" | "child" | "manager")) => {
            let server = server
                .ok_or_else(|| Error::BadRole(format!("{ROLE_VAR}={name} but {BOOTSTRAP_VAR} is not set")))?;
            let parent = parent.and_then(|p| p.parse().ok()).ok_or_else(|| {
                Error::BadRole(format!(
                    "{ROLE_VAR}={name} but {PARENT_VAR} is missing or not a pid"
                ))
            })?;
            let sentinel = match sentinel {
                None => None,
                Some(hex) if hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit()) => {
                    Some(crate::capture::sentinel_bytes(&hex))
                }
                Some(other) => {
                    return Err(Error::BadRole(format!(
                        "{SENTINEL_VAR}={other:?} is not 32 hex digits"
                    )))
                }
            };
            let boot = Boot {
                server,
                parent,
                sentinel,
            };
            Ok(match name {
                "worker" => Role::Worker(boot),
                "child" => Role::Child(boot),
                _ => Role::Manager(boot),
            })
        }
        Some(other) => Err(Error::BadRole(format!("unknown {ROLE_VAR}={other:?}"))),
    }
}
