//! How every process of a run after the first comes to be: this very binary, re-executed in a
//! role (worker, child, manager), told where to connect.
//!
//! - [`role`]: which role a process plays, read from the environment its parent set — taken
//!   in a constructor before `main` for the roles that never need the user's `main`.
//! - [`reexec`]: the command that starts a role, named so `ps` says what it is, and waiting for
//!   it to end.
//! - [`fork`]: the first workers, forked before the coordinator has a thread (no `exec`).
//! - [`endpoint`]: the one-shot sockets new processes connect to, kept in one run directory
//!   that is gone when the run is.

pub(crate) mod anchor;
pub(crate) mod endpoint;
pub(crate) mod fork;
pub(crate) mod reexec;
pub(crate) mod role;
