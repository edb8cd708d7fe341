//! Which part a process of the test binary plays, read from the environment its parent set.
//!
//! A process without `MPTEST_ROLE` is the coordinator (what `cargo test` started) or simply the
//! user's program. The roles that never need the user's `main` — a `spawn` child and a manager
//! — are taken by a constructor that runs before `main` ([`take_role_before_main`]): so they
//! work from an ordinary `#[test]` under libtest, from doctests and from any binary, and no code
//! of the user's (libtest's `main` running every test again, say) runs in them. The worker role
//! is taken by [`crate::run`], because a custom `main` may set things up for its tests first.

use crate::error::Error;

/// Names the role of a re-exec'd process.
pub(crate) const ROLE_VAR: &str = "MPTEST_ROLE";
/// The ipc-channel one-shot server a new process connects to.
pub(crate) const BOOTSTRAP_VAR: &str = "MPTEST_BOOTSTRAP";
/// The coordinator's pid: a worker checks it is still its parent.
pub(crate) const PARENT_VAR: &str = "MPTEST_PARENT_PID";
/// The hex nonce of the end-of-test marker a capturing worker writes to its output pipe.
pub(crate) const SENTINEL_VAR: &str = "MPTEST_SENTINEL";
/// Where a process started by mptest sends its log records: the path of the test process's
/// sink (see [`mod@crate::logs`]).
pub(crate) const LOGS_VAR: &str = "MPTEST_LOGS";

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
    /// Started by `mptest::aux::start`: runs one auxiliary.
    Aux(Boot),
    /// Started by the coordinator when a test needs a run fixture: holds the run's fixtures.
    FixtureHost(Boot),
}

/// What a re-exec'd process needs to reach the process that started it.
#[derive(Debug)]
pub(crate) struct Boot {
    pub(crate) server: String,
    pub(crate) parent: i32,
    pub(crate) sentinel: Option<Vec<u8>>,
}

/// Runs the child, manager and aux roles before `main`, so that a re-executed process never reaches
/// the program's own code. Leaves every other process alone (it returns at once).
// SAFETY (of running before main): this reads and removes environment variables while the
// process is single-threaded, and only then starts a role, which uses std as `main` would;
// std's own constructor (arguments, at priority 99) has run by `early` (101).
//
// A constructor without the `ctor` crate: a pointer in the section the loader calls before
// `main` — `.init_array.00101` on ELF (after std's own at 00099), `__mod_init_func` on Apple's
// Mach-O (std needs no constructor there). `#[used]` keeps it through the link.
#[used]
#[cfg_attr(not(target_vendor = "apple"), link_section = ".init_array.00101")]
#[cfg_attr(target_vendor = "apple", link_section = "__DATA,__mod_init_func")]
static TAKE_ROLE_BEFORE_MAIN: extern "C" fn() = take_role_before_main;

extern "C" fn take_role_before_main() {
    match std::env::var(ROLE_VAR).as_deref() {
        Ok("child" | "manager" | "aux") => {}
        _ => return,
    }
    // As Rust's runtime does before `main`: a write to a closed pipe is an error, not death.
    // SAFETY: setting a signal's disposition to SIG_IGN touches no memory of ours.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
    // SIGTERM is blocked (by the process that started us, see `reexec::spawn_role`, and again
    // here for one started otherwise): one that comes now waits until this process can end
    // through `exit`; `init` unblocks it once its SIGTERM thread runs.
    block_sigterm(true);
    crate::coverage::start_before_main();
    crate::init();
    // `init` runs the role and never returns from it.
    std::process::exit(crate::EXIT_USAGE)
}

/// This process's role, as records name it: `worker`, `child`, `manager`, `aux`, or `main` for a
/// process mptest did not start (the coordinator, a test under libtest, any program).
pub(crate) fn this_role() -> &'static str {
    THIS_ROLE.get().copied().unwrap_or("main")
}

static THIS_ROLE: std::sync::OnceLock<&'static str> = std::sync::OnceLock::new();

/// Where this process was told to send its log records (a process mptest started).
pub(crate) fn inherited_logs() -> Option<std::path::PathBuf> {
    INHERITED_LOGS.get().cloned().flatten()
}

static INHERITED_LOGS: std::sync::OnceLock<Option<std::path::PathBuf>> = std::sync::OnceLock::new();

/// In a worker forked from the coordinator (see [`super::fork`]): the role `take_from_env`
/// gives a re-executed one.
pub(crate) fn become_worker() {
    let _ = THIS_ROLE.set("worker");
    let _ = INHERITED_LOGS.set(None);
}

/// Blocks (or unblocks) SIGTERM for this thread.
pub(crate) fn block_sigterm(block: bool) {
    // SAFETY: a sigset built with sigemptyset/sigaddset, and this thread's own mask.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTERM);
        let how = if block { libc::SIG_BLOCK } else { libc::SIG_UNBLOCK };
        libc::pthread_sigmask(how, &set, std::ptr::null_mut());
    }
}

/// Reads the role from the environment and removes mptest's variables from it, so that what a
/// test starts does not mistake itself for a worker.
pub(crate) fn take_from_env() -> Result<Role, Error> {
    let role = std::env::var(ROLE_VAR).ok();
    let logs = std::env::var_os(LOGS_VAR).map(std::path::PathBuf::from);
    // Single-threaded here, as below: the variable is for this process, not what it starts.
    std::env::remove_var(LOGS_VAR);
    let _ = INHERITED_LOGS.set(logs);
    if let Some(name @ ("worker" | "child" | "manager" | "aux" | "fixtures")) = role.as_deref() {
        let _ = THIS_ROLE.set(match name {
            "worker" => "worker",
            "fixtures" => "fixtures",
            "child" => "child",
            "manager" => "manager",
            _ => "aux",
        });
    }
    let vars = [ROLE_VAR, BOOTSTRAP_VAR, PARENT_VAR, SENTINEL_VAR].map(|name| {
        let value = std::env::var(name).ok();
        // Single-threaded here: nothing else runs before the role check.
        std::env::remove_var(name);
        value
    });
    let [_, server, parent, sentinel] = vars;
    match role.as_deref() {
        None => Ok(Role::Coordinator),
        Some(name @ ("worker" | "child" | "manager" | "aux" | "fixtures")) => {
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
                "aux" => Role::Aux(boot),
                "fixtures" => Role::FixtureHost(boot),
                _ => Role::Manager(boot),
            })
        }
        Some(other) => Err(Error::BadRole(format!("unknown {ROLE_VAR}={other:?}"))),
    }
}

/// Called before this process starts a process of mptest's (`spawn`, a manager). A process
/// that still has `MPTEST_ROLE` in its environment was started in a role it never took, and is
/// running the program's own code instead: starting a process from here would start the same
/// code again, and again — a process storm. So it stops here, at once, and says why.
pub(crate) fn ensure_no_role_pending(what: &str) {
    let Ok(role) = std::env::var(ROLE_VAR) else { return };
    let advice = if role == "worker" {
        "mptest::run() (or mptest::init()) must come before anything in `main` that starts processes"
    } else {
        "mptest takes this role in a constructor before `main`; here something ran first (a \
         constructor of the program's own?) — call mptest::init() first thing in `main`, and \
         start no processes before `main`"
    };
    eprintln!(
        "mptest: {what} refused in process {}: it was started as an mptest {role} but runs the \
         program's own code instead of its role, and a process started from here would do the \
         same again. {advice}.",
        std::process::id()
    );
    std::process::exit(crate::EXIT_USAGE)
}

/// A worker (or the fixture host) must not outlive its coordinator: it becomes the anchor, which
/// watches the coordinator and ends the whole process group when it goes. Here: check that the
/// coordinator is our parent.
pub(crate) fn check_parent(parent: i32) -> Result<(), Error> {
    if nix::unistd::getppid().as_raw() != parent {
        return Err(Error::BadRole(format!(
            "this worker's parent is not the coordinator (pid {parent}) that {} names",
            PARENT_VAR
        )));
    }
    Ok(())
}
