//! The one-shot sockets a new process connects to first, and the one directory of the run that
//! holds them, so that nothing of mptest's is left in the temporary directory after a run.
//!
//! ipc-channel makes each one-shot server in a fresh `$TMPDIR/.tmpXXXXXX/` and removes it when
//! the server is dropped — which never happens when its process dies, or when the peer never
//! connects and `accept` waits for ever. So each endpoint directory is moved, as soon as it is
//! made, into the run's directory `$TMPDIR/mptest-<pid>-<nonce>/` (a bound socket keeps working
//! under its new name), removed as soon as its peer has connected or is known dead, and the
//! whole run directory is removed when the process that named it exits. It is made when a
//! process of the run first needs it (see [`run_dir`]). A run directory whose maker died without
//! cleaning up (SIGKILL) is removed by the next one made.
//!
//! A socket's path has room for [`SOCKET_PATH_MAX`] bytes, and ipc-channel cuts a longer one
//! without a word (two servers then collide). When `$TMPDIR` is too long for the paths made
//! under it (Bazel's `TEST_TMPDIR` is 130 characters and more), the run directory is made in a
//! short directory of this user's instead (`$XDG_RUNTIME_DIR`, else `/tmp`), and tempfile's
//! default directory — where ipc-channel makes its servers — is pointed at it, in this process
//! and in every process that inherits the run directory. A path that would still be cut is an
//! error that says so.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use ipc_channel::ipc::{IpcOneShotServer, IpcReceiver};
use ipc_channel::IpcError;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// The run directory, handed by a process to the processes it starts.
pub(crate) const RUN_DIR_VAR: &str = "MPTEST_RUN_DIR";
/// Run directories are named `mptest-<pid of their maker>-<nonce>`.
const RUN_DIR_PREFIX: &str = "mptest-";

/// The run directory of this process, made if it is not there yet: named by the process that
/// started this one, or by this process (and then removed when it exits); `None` if none could
/// be made (endpoints then stay where ipc-channel put them).
///
/// The coordinator names the directory when the run starts but makes it only when a process
/// of the run first needs it (a `spawn`, a clock, a re-executed worker): a run of plain tests
/// makes none, and pays nothing for it.
pub fn run_dir() -> Option<&'static Path> {
    static MADE_OR_FOUND: OnceLock<bool> = OnceLock::new();
    let dir = run_dir_name()?;
    MADE_OR_FOUND.get_or_init(|| make_if_missing(dir)).then_some(dir)
}

/// The name of this process's run directory, which may not exist yet (see [`run_dir`]).
pub(crate) fn run_dir_name() -> Option<&'static Path> {
    static NAME: OnceLock<Option<PathBuf>> = OnceLock::new();
    NAME.get_or_init(|| inherited_run_dir().or_else(name_run_dir))
        .as_deref()
}

fn inherited_run_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(std::env::var_os(RUN_DIR_VAR)?);
    // Made already, or named by a run still going (its maker's pid is in the name).
    if !dir.is_dir() && !maker_alive(&dir) {
        return None;
    }
    if dir.parent() != Some(std::env::temp_dir().as_path()) {
        // The maker moved it out of a too long `$TMPDIR` (and made it at once): ipc-channel's
        // servers go there too.
        let _ = tempfile::env::override_temp_dir(&dir);
    }
    Some(dir)
}

/// The pid in a run directory's name (`mptest-<pid>-<nonce>`).
fn maker_of(name: &std::ffi::OsStr) -> Option<u32> {
    name.to_str()?
        .strip_prefix(RUN_DIR_PREFIX)?
        .split_once('-')?
        .0
        .parse()
        .ok()
}

fn maker_alive(dir: &Path) -> bool {
    dir.file_name()
        .and_then(maker_of)
        .and_then(|pid| i32::try_from(pid).ok())
        .is_some_and(|pid| nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok())
}

/// The longest socket path the platform takes (`sun_path` less its closing NUL).
pub(crate) const SOCKET_PATH_MAX: usize = if cfg!(target_os = "linux") { 107 } else { 103 };

/// What the longest socket path adds to its run directory's parent:
/// `/mptest-<pid>-<8 hex>/<pid>-<n>/socket` (ipc-channel's `.tmpXXXXXX` is shorter than
/// `<pid>-<n>`), with room for 10-digit pids and counters.
const SOCKET_PATH_TAIL: usize = "/mptest-".len() + 10 + 1 + 8 + 1 + 10 + 1 + 10 + "/socket".len();

/// Where to make the run directory: `$TMPDIR`, or a short directory of this user's when the
/// socket paths under `$TMPDIR` could be cut.
fn run_dir_parent() -> Option<PathBuf> {
    let fits = |dir: &Path| dir.as_os_str().len() + SOCKET_PATH_TAIL <= SOCKET_PATH_MAX;
    let tmp = std::env::temp_dir();
    if fits(&tmp) {
        return Some(tmp);
    }
    let runtime = std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from);
    runtime
        .into_iter()
        .chain([PathBuf::from("/tmp")])
        .find(|dir| fits(dir) && dir.is_dir())
}

/// Checks that the sockets of the run can be made: in the run directory (made there, or
/// later, in a directory this process may write), or else in the temporary directory, where
/// ipc-channel panics when it cannot make one. The error names `TMPDIR` and what is wrong with
/// it.
pub(crate) fn check_temp_dir() -> Result<(), String> {
    use nix::unistd::{access, AccessFlags};
    let writable = |dir: &Path| access(dir, AccessFlags::W_OK | AccessFlags::X_OK).is_ok();
    match run_dir_name() {
        Some(dir) if dir.parent().is_some_and(writable) || dir.is_dir() => return Ok(()),
        _ => {}
    }
    let tmp = std::env::temp_dir();
    let named = match std::env::var_os("TMPDIR") {
        Some(_) => format!("TMPDIR ({})", tmp.display()),
        None => format!("the temporary directory {}", tmp.display()),
    };
    match tempfile::tempdir_in(&tmp) {
        Ok(_) => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Err(format!(
            "{named} does not exist: mptest makes its processes' sockets there; set TMPDIR to a \
             writable directory"
        )),
        Err(err) => Err(format!(
            "{named} cannot be written ({err}): mptest makes its processes' sockets there; set \
             TMPDIR to a writable directory"
        )),
    }
}

/// The run directory this process named, and its pid (a fork has another one).
static NAMED: OnceLock<(u32, PathBuf)> = OnceLock::new();

/// Names this process's run directory, to be made when first needed and removed when this
/// process exits. In a too long `$TMPDIR` it is made at once, elsewhere (see the module's
/// documentation), and tempfile's directory pointed at it.
fn name_run_dir() -> Option<PathBuf> {
    let tmp = run_dir_parent()?;
    let pid = std::process::id();
    let dir = tmp.join(format!(
        "{RUN_DIR_PREFIX}{pid}-{}",
        &crate::nonce::new_nonce()[..8]
    ));
    NAMED.get_or_init(|| (pid, dir.clone()));
    // SAFETY: registering a plain `extern "C" fn` with atexit has no preconditions.
    unsafe {
        libc::atexit(remove_run_dir_at_exit);
    }
    if tmp != std::env::temp_dir() {
        if !make_if_missing(&dir) {
            return None;
        }
        let _ = tempfile::env::override_temp_dir(&dir);
    }
    Some(dir)
}

/// Makes the run directory `dir` (only this user may enter it) unless a process of the run made
/// it already; the first to make it removes the directories of runs that are gone. False if it
/// is neither made nor ours.
fn make_if_missing(dir: &Path) -> bool {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {
            if let Some(tmp) = dir.parent() {
                remove_stale_run_dirs(tmp);
            }
            true
        }
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
            // SAFETY: geteuid has no preconditions and cannot fail.
            let uid = unsafe { libc::geteuid() };
            std::fs::symlink_metadata(dir)
                .is_ok_and(|m| m.is_dir() && m.uid() == uid && m.permissions().mode() & 0o077 == 0)
        }
        Err(_) => false,
    }
}

extern "C" fn remove_run_dir_at_exit() {
    // A fork of this process that exits must not remove the directory its parent still uses.
    if let Some((maker, dir)) = NAMED.get() {
        if *maker == std::process::id() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// Removes run directories of this user whose maker is no longer running.
fn remove_stale_run_dirs(tmp: &Path) {
    use std::os::unix::fs::MetadataExt;
    let Ok(entries) = std::fs::read_dir(tmp) else {
        return;
    };
    // SAFETY: geteuid has no preconditions and cannot fail.
    let uid = unsafe { libc::geteuid() };
    for entry in entries.flatten() {
        let Some(pid) = maker_of(&entry.file_name()) else {
            continue;
        };
        let ours = entry.metadata().is_ok_and(|m| m.is_dir() && m.uid() == uid);
        let alive = i32::try_from(pid)
            .is_ok_and(|pid| nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok());
        if ours && !alive {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// A one-shot server a new process connects to, in a directory only this user can enter
/// (ipc-channel makes it with the umask's mode, typically 0755), inside the run directory.
/// Its endpoint's directory goes when it is dropped or has accepted.
pub(crate) struct Bootstrap<T> {
    /// `None` once `accept` took it.
    server: Option<IpcOneShotServer<T>>,
    name: String,
}

impl<T> Drop for Bootstrap<T> {
    fn drop(&mut self) {
        remove(&self.name);
    }
}

impl<T: Serialize + DeserializeOwned> Bootstrap<T> {
    pub(crate) fn new() -> std::io::Result<Bootstrap<T>> {
        use std::os::unix::fs::PermissionsExt;
        // Before the server exists: in a too long `$TMPDIR`, tempfile's directory moves first.
        let run_dir = run_dir();
        check_temp_dir().map_err(std::io::Error::other)?;
        let (server, name) = IpcOneShotServer::<T>::new()?;
        if name.len() > SOCKET_PATH_MAX {
            // ipc-channel bound a cut path: another server may have the same one.
            remove(&name);
            return Err(std::io::Error::other(format!(
                "the socket path {name:?} is {} bytes, and a socket path has room for {SOCKET_PATH_MAX}: \
                 the temporary directory ({}) is too long, and no short one ($XDG_RUNTIME_DIR, /tmp) \
                 can be used instead; set TMPDIR to a shorter directory",
                name.len(),
                std::env::temp_dir().display()
            )));
        }
        let socket = PathBuf::from(&name);
        let server = Some(server);
        let Some(made) = socket.parent() else {
            return Ok(Bootstrap { server, name });
        };
        std::fs::set_permissions(made, std::fs::Permissions::from_mode(0o700))?;
        static NEXT: AtomicU64 = AtomicU64::new(0);
        if let Some(run_dir) = run_dir {
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let moved = run_dir.join(format!("{}-{n}", std::process::id()));
            if std::fs::rename(made, &moved).is_ok() {
                let name = moved.join("socket").to_string_lossy().into_owned();
                return Ok(Bootstrap { server, name });
            }
        }
        Ok(Bootstrap { server, name })
    }

    /// Where the new process connects (give it in its environment).
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// Waits for the peer's first message; the endpoint's directory is gone once it returns.
    pub(crate) fn accept(mut self) -> Result<(IpcReceiver<T>, T), IpcError> {
        match self.server.take() {
            Some(server) => server.accept(),
            None => Err(IpcError::Disconnected),
        }
    }
}

/// How waiting for a new process's first message ended.
pub(crate) enum Accepted<T> {
    /// It connected and said this.
    Hello(T),
    /// It sent something that is not a hello.
    Bad(String),
    /// It ended before connecting.
    Ended,
    /// It did not connect in time.
    TimedOut,
}

impl<T: Serialize + DeserializeOwned + Send + 'static> Bootstrap<T> {
    /// Waits at most `limit` for the new process's first message, asking `ended` meanwhile
    /// whether it has died: `accept` has no timeout, so it waits on a thread of its own. The
    /// endpoint is gone when this returns, however it ended.
    pub(crate) fn accept_while(
        self,
        limit: std::time::Duration,
        mut ended: impl FnMut() -> bool,
    ) -> Accepted<T> {
        use std::time::{Duration, Instant};
        let name = self.name.clone();
        let (hello_tx, hello_rx) = std::sync::mpsc::channel();
        // If no thread can be had, the closure and with it `self` are dropped: the endpoint goes.
        let waiter = std::thread::Builder::new()
            .name("mptest-accept".into())
            .spawn(move || {
                let _ = hello_tx.send(self.accept().map(|(_, hello)| hello));
            });
        if let Err(err) = waiter {
            return Accepted::Bad(format!("cannot start a thread: {err}"));
        }
        let started = Instant::now();
        let outcome = loop {
            match hello_rx.recv_timeout(Duration::from_millis(20)) {
                Ok(Ok(hello)) => break Accepted::Hello(hello),
                Ok(Err(err)) => break Accepted::Bad(format!("bad hello: {err}")),
                Err(_) if ended() => break Accepted::Ended,
                Err(_) if started.elapsed() > limit => break Accepted::TimedOut,
                Err(_) => {}
            }
        };
        // The waiting thread may still hold the server (no peer came): its endpoint goes now.
        remove(&name);
        outcome
    }
}

/// Removes the directory of the endpoint `name` (its peer has connected, or never will).
pub(crate) fn remove(name: &str) {
    let socket = Path::new(name);
    if let Some(dir) = socket.parent().filter(|d| d.join("socket") == socket) {
        let _ = std::fs::remove_dir_all(dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn the_first_to_make_a_run_directory_removes_those_of_runs_that_are_gone() {
        let parent = tempfile::tempdir().unwrap();
        let mut gone = std::process::Command::new("true").spawn().unwrap();
        let dead = gone.id();
        gone.wait().unwrap();
        let stale = parent.path().join(format!("mptest-{dead}-00000000"));
        let live = parent.path().join(format!("mptest-{}-11111111", std::process::id()));
        std::fs::create_dir_all(stale.join("1-0")).unwrap();
        std::fs::create_dir(&live).unwrap();
        let ours = parent.path().join("mptest-1-22222222");
        assert!(make_if_missing(&ours));
        assert!(!stale.exists(), "a run that is gone keeps its directory");
        assert!(live.exists(), "a running run lost its directory");
        let mode = std::fs::metadata(&ours).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        // Made already (by another process of the run): found, not made again.
        assert!(make_if_missing(&ours));
        // Someone else's, or open to others: refused.
        std::fs::set_permissions(&ours, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert!(!make_if_missing(&ours));
    }

    #[test]
    fn endpoints_live_in_the_run_directory_in_folders_only_the_user_can_read() {
        let server = Bootstrap::<u8>::new().unwrap();
        let dir = Path::new(server.name()).parent().unwrap().to_path_buf();
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700, "{}", dir.display());
        assert_eq!(dir.parent(), run_dir(), "{}", dir.display());
        let name = server.name().to_string();
        let sender = std::thread::spawn(move || {
            ipc_channel::ipc::IpcSender::<u8>::connect(name)
                .unwrap()
                .send(7)
                .unwrap();
        });
        let (_, first) = server.accept().unwrap();
        sender.join().unwrap();
        assert_eq!(first, 7);
        assert!(!dir.exists(), "{} outlived its accept", dir.display());
    }
}
