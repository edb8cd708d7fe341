//! Starting this very binary again in another role (worker, child, manager): the command with
//! the role's environment, and the executable to run.

use std::path::PathBuf;
use std::process::Command;

use crate::role;

/// The executable to re-exec: the kernel's link to this very binary where there is one, so a
/// rebuilt or moved file does not matter.
pub(crate) fn own_exe() -> PathBuf {
    let proc_exe = std::path::Path::new("/proc/self/exe");
    if proc_exe.exists() {
        return proc_exe.to_path_buf();
    }
    std::env::current_exe().unwrap_or_else(|_| std::env::args_os().next().unwrap_or_default().into())
}

/// A command that starts this binary as `role`, told to connect to the one-shot server `server`.
pub(crate) fn command(role_name: &str, server: &str) -> Command {
    let mut command = Command::new(own_exe());
    command
        .env(role::ROLE_VAR, role_name)
        .env(role::BOOTSTRAP_VAR, server)
        .env(role::PARENT_VAR, std::process::id().to_string());
    command
}
