//! Starting this very binary again in another role (worker, child, manager): the command with
//! the role's environment, and the executable to run.

use std::path::PathBuf;
use std::process::Command;

use ipc_channel::ipc::IpcOneShotServer;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::launch::role;

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

/// Waits for `child` to exit, at most `limit`; kills it if it has not (and waits once more, as
/// long again). The wait is an event — `wait()` on a helper thread — not a polling loop.
pub(crate) fn wait_or_kill(
    mut child: std::process::Child,
    limit: std::time::Duration,
) -> Option<std::process::ExitStatus> {
    let pid = child.id() as i32;
    let (done_tx, done) = std::sync::mpsc::channel();
    let waiter = std::thread::Builder::new()
        .name("mptest-reap".into())
        .spawn(move || {
            let _ = done_tx.send(child.wait().ok());
        });
    if waiter.is_err() {
        // No thread to spare: kill outright; the spawn closure (and the child) were dropped.
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
        return None;
    }
    match done.recv_timeout(limit) {
        Ok(status) => status,
        Err(_) => {
            let _ =
                nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
            done.recv_timeout(limit).ok().flatten()
        }
    }
}

/// The one-shot server a new process connects to first, in a directory only this user can
/// read or enter (ipc-channel makes it with the umask's mode, typically 0755).
pub(crate) fn private_server<T>() -> std::io::Result<(IpcOneShotServer<T>, String)>
where
    T: Serialize + DeserializeOwned,
{
    use std::os::unix::fs::PermissionsExt;
    let (server, name) = IpcOneShotServer::<T>::new()?;
    if let Some(dir) = std::path::Path::new(&name).parent() {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok((server, name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn bootstrap_endpoints_live_in_a_directory_only_the_user_can_read() {
        let (_server, name) = private_server::<u8>().unwrap();
        let dir = std::path::Path::new(&name).parent().unwrap();
        let mode = std::fs::metadata(dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700, "{}", dir.display());
    }
}
