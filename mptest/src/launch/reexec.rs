//! Starting this very binary again in another role (worker, child, manager): the command with
//! the role's environment, and the executable to run.

use std::process::Command;

use crate::launch::role;

/// The current test's name, handed down so the processes of a test say whose they are.
pub(crate) const TEST_VAR: &str = "MPTEST_TEST";

/// The name of the test this worker runs now (empty between tests).
static CURRENT_TEST: std::sync::Mutex<String> = std::sync::Mutex::new(String::new());

/// Called by the worker as a test starts and ends.
pub(crate) fn set_current_test(name: &str) {
    let mut current = CURRENT_TEST
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    current.clear();
    current.push_str(name);
}

/// The test this process works for: the worker's current one, the one the parent named, or
/// — under libtest, which names each test's thread after it — the calling thread's name.
fn current_test() -> Option<String> {
    let current = CURRENT_TEST
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if !current.is_empty() {
        return Some(current.clone());
    }
    if let Ok(test) = std::env::var(TEST_VAR) {
        return Some(test);
    }
    std::thread::current()
        .name()
        .filter(|name| *name != "main" && !name.starts_with("mptest-"))
        .map(str::to_string)
}

/// The suite's name: the binary's, without the hash cargo appends (`system-0123456789abcdef`).
/// Found once per process: every start of a role names it.
pub(crate) fn suite_name() -> &'static str {
    static NAME: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    NAME.get_or_init(|| {
        let exe = std::fs::read_link("/proc/self/exe")
            .or_else(|_| std::env::current_exe())
            .unwrap_or_default();
        let stem = exe.file_stem().and_then(|s| s.to_str()).unwrap_or("mptest");
        match stem.rsplit_once('-') {
            Some((name, hash)) if hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()) => {
                name.into()
            }
            _ => stem.into(),
        }
    })
}

/// The title of a process started by [`command`], when its arguments cannot carry it.
const TITLE_VAR: &str = "MPTEST_TITLE";

/// A command that starts this binary as `role`, told to connect to the one-shot server
/// `server`. `ps` shows it as `SUITE: TITLE` — "system: child of net::reconnects" — and its
/// `comm` as the title ("worker 2", "child of net::re"). A worker is the exception: the tests it
/// runs see `std::env::args()` as under libtest (a test may re-run its binary through
/// `args().next()`), so it gets the coordinator's own arguments and only its `comm` says
/// "worker 2".
pub(crate) fn command(role_name: &str, server: &str, title: &str) -> Command {
    use std::os::unix::process::CommandExt;
    // A child, an auxiliary or a manager may map this process's test clock.
    crate::clock::others_may_map();
    let test = current_test();
    let title = match &test {
        Some(test) if role_name != "worker" => format!("{title} of {test}"),
        _ => title.to_string(),
    };
    let mut command = Command::new(crate::platform::own_exe());
    if role_name == "worker" {
        let mut args = std::env::args_os();
        if let Some(arg0) = args.next() {
            command.arg0(arg0);
        }
        command.args(args).env(TITLE_VAR, title);
    } else {
        command.arg0(format!("{}: {title}", suite_name()));
    }
    command
        .env(role::ROLE_VAR, role_name)
        .env(role::BOOTSTRAP_VAR, server)
        .env(role::PARENT_VAR, std::process::id().to_string());
    if let Some(test) = test {
        command.env(TEST_VAR, test);
    }
    if let Some(dir) = super::endpoint::run_dir() {
        command.env(super::endpoint::RUN_DIR_VAR, dir);
    }
    if role_name != "worker" {
        if let Some(logs) = crate::logs::path_for_children() {
            command.env(role::LOGS_VAR, logs);
        }
    }
    command
}

/// Starts a child, auxiliary or manager process: [`command`]`.spawn()`, with SIGTERM blocked
/// in the new process from its first instruction (a process inherits its creator's signal
/// mask). A SIGTERM that comes before the process can end through `exit` — a test that ends
/// right after starting it — then waits instead of killing it outright, and the process ends
/// through `exit`, writing its coverage profile (see `crate::coverage`); the role unblocks it.
pub(crate) fn spawn_role(command: &mut Command) -> std::io::Result<std::process::Child> {
    // Only this thread's mask changes, and only for the moment of the spawn.
    super::role::block_sigterm(true);
    let spawned = command.spawn();
    super::role::block_sigterm(false);
    spawned
}

/// In a process started by [`command`]: names its main thread — the `comm` that `ps`, `top` and
/// mptest's reports show — after its title ("worker 2"), not after `/proc/self/exe` ("exe").
pub(crate) fn name_this_process() {
    let from_env = std::env::var(TITLE_VAR).ok();
    // Single-threaded here (the role is being taken): the title is this process's alone.
    std::env::remove_var(TITLE_VAR);
    let Some(arg0) = from_env.or_else(|| Some(std::env::args_os().next()?.to_string_lossy().into_owned()))
    else {
        return;
    };
    let title = arg0.split_once(": ").map_or(&*arg0, |(_, title)| title);
    name_process(title);
}

/// Names this process's main thread `title` (cut to the kernel's 15 bytes); Linux only.
pub(crate) fn name_process(title: &str) {
    // The kernel keeps 15 bytes; cut on a character boundary so the name stays valid UTF-8.
    let mut end = title.len().min(15);
    while !title.is_char_boundary(end) {
        end -= 1;
    }
    // Linux only: other systems have no way to rename a running process's command.
    #[cfg(target_os = "linux")]
    if let Ok(name) = std::ffi::CString::new(&title[..end]) {
        let _ = nix::sys::prctl::set_name(&name);
    }
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
