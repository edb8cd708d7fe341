//! A suite with fixtures of every scope, run by `tests/fixtures.rs`. Every setup and teardown
//! appends a line `<what> <fixture> <pid>` to `$FIXTURE_SCRATCH/fixtures.log`, so the test can
//! check how often, where and in what order they ran.

use std::io::Write;

use mptest::prelude::*;
use mptest::{fixture, Manager};
use serde::{Deserialize, Serialize};

fn log(what: &str, fixture: &str) {
    let dir = std::env::var_os("FIXTURE_SCRATCH").expect("FIXTURE_SCRATCH");
    let path = std::path::Path::new(&dir).join("fixtures.log");
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("open the log");
    // One write per line: lines of concurrent processes do not mix.
    file.write_all(format!("{what} {fixture} {}\n", std::process::id()).as_bytes())
        .expect("write the log");
}

/// Logs its teardown when dropped.
struct Logged(&'static str);

impl Drop for Logged {
    fn drop(&mut self) {
        log("teardown", self.0);
        println!("{} says goodbye", self.0);
    }
}

// ---- worker scope ----

struct Database {
    pid: u32,
    _logged: Logged,
}

#[fixture]
fn database() -> Database {
    log("setup", "database");
    println!("database: connecting");
    Database {
        pid: std::process::id(),
        _logged: Logged("database"),
    }
}

// ---- run scope, and a run fixture using another ----

#[derive(Serialize, Deserialize)]
pub struct Server {
    pub pid: u32,
    pub address: String,
    /// Stays in the fixture host: its drop is the teardown.
    #[serde(skip)]
    _logged: Option<Logged>,
}

#[fixture(scope = "run")]
fn server() -> Server {
    log("setup", "server");
    println!("server: listening");
    Server {
        pid: std::process::id(),
        address: "127.0.0.1:4242".into(),
        _logged: Some(Logged("server")),
    }
}

#[derive(Serialize, Deserialize)]
pub struct Client {
    pub url: String,
    #[serde(skip)]
    _logged: Option<Logged>,
}

#[fixture(scope = "run")]
fn client(server: &Server) -> Client {
    log("setup", "client");
    Client {
        url: format!("http://{}/", server.address),
        _logged: Some(Logged("client")),
    }
}

// ---- run scope: a manager with a shared object, reached from every worker ----

#[mptest::shared]
#[derive(Default)]
pub struct Tally {
    n: u64,
}

#[mptest::shared]
impl Tally {
    pub fn add(&mut self) -> u64 {
        self.n += 1;
        self.n
    }
}

#[derive(Serialize, Deserialize)]
pub struct Shared {
    pub tally: TallyProxy,
    #[serde(skip)]
    _manager: Option<Manager>,
}

#[fixture(scope = "run")]
fn shared() -> Result<Shared, mptest::ProxyError> {
    let manager = Manager::start()?;
    let tally = manager.create(Tally::default())?;
    Ok(Shared {
        tally,
        _manager: Some(manager),
    })
}

// ---- group scope ----

#[fixture(scope = "group")]
fn session(database: &Database) -> (u32, Logged) {
    log("setup", "session");
    (database.pid, Logged("session"))
}

// ---- failures ----

#[fixture]
fn broken() -> u32 {
    log("setup", "broken");
    println!("broken: trying the license server");
    panic!("no license server");
}

#[fixture(scope = "run")]
fn errs() -> std::io::Result<u32> {
    Err(std::io::Error::other("disk full"))
}

#[fixture(scope = "run")]
fn too_wide(database: &Database) -> u32 {
    database.pid
}

struct PanicsOnDrop;

impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        println!("cleaning up the lab");
        panic!("the lab would not close");
    }
}

#[fixture]
fn lab() -> PanicsOnDrop {
    PanicsOnDrop
}

// ---- one setup for two threads asking at once ----

/// 0: idle, 1: the setup has started, 2: it may finish.
static GATE: (std::sync::Mutex<u8>, std::sync::Condvar) =
    (std::sync::Mutex::new(0), std::sync::Condvar::new());
static GATED_SETUPS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

fn gate_wait(until: u8) -> std::sync::MutexGuard<'static, u8> {
    let (lock, changed) = &GATE;
    let (guard, waited) = changed
        .wait_timeout_while(lock.lock().unwrap(), std::time::Duration::from_secs(10), |s| {
            *s != until
        })
        .unwrap();
    assert!(!waited.timed_out(), "the gate never reached {until}");
    guard
}

fn gate_set(state: u8) {
    *GATE.0.lock().unwrap() = state;
    GATE.1.notify_all();
}

#[fixture]
fn gated() -> u32 {
    gate_set(1);
    drop(gate_wait(2));
    GATED_SETUPS.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1
}

// ---- tests ----

mod worker {
    use super::*;

    #[mp_test]
    fn first(database: &Database) {
        assert_eq!(database.pid, std::process::id());
    }

    #[mp_test]
    fn second(database: &Database) {
        assert_eq!(database.pid, std::process::id());
    }
}

mod run {
    use super::*;

    #[mp_test]
    fn one(server: &Server, client: &Client) {
        // Set up in the fixture host, not here.
        assert_ne!(server.pid, std::process::id());
        assert!(server._logged.is_none());
        assert_eq!(client.url, "http://127.0.0.1:4242/");
        println!("host {}", server.pid);
    }

    #[mp_test]
    fn two(server: &Server) {
        assert_ne!(server.pid, std::process::id());
        println!("host {}", server.pid);
    }

    #[mp_test]
    fn three(client: &Client) {
        assert!(client.url.starts_with("http://"));
    }

    #[mp_test]
    fn counts_in_the_shared_tally(shared: &Shared) {
        let n = shared.tally.add().unwrap();
        println!("tally {n}");
    }

    #[mp_test]
    fn counts_again(shared: &Shared) {
        let n = shared.tally.add().unwrap();
        println!("tally {n}");
    }
}

mod group {
    use super::*;

    #[mp_test(group = "g")]
    fn a(session: &(u32, Logged)) {
        assert_eq!(session.0, std::process::id());
    }

    #[mp_test(group = "g")]
    fn b(session: &(u32, Logged)) {
        assert_eq!(session.0, std::process::id());
    }

    #[mp_test]
    fn without_a_group(session: &(u32, Logged)) {
        let _ = session;
    }
}

mod failing {
    use super::*;

    #[mp_test]
    fn needs_broken(broken: &u32) {
        let _ = broken;
    }

    #[mp_test(should_panic)]
    fn needs_broken_too(broken: &u32) {
        let _ = broken;
    }

    #[mp_test]
    fn needs_errs(errs: &u32) {
        let _ = errs;
    }

    #[mp_test]
    fn needs_too_wide(too_wide: &u32) {
        let _ = too_wide;
    }

    #[mp_test]
    fn uses_the_lab(lab: &PanicsOnDrop) {
        let _ = lab;
    }
}

mod concurrent {
    use super::*;
    use mptest::FixtureName;

    #[mp_test(timeout = "30s")]
    fn two_threads_asking_at_once_share_one_setup() {
        let get = || <gated as FixtureName>::fixture().get().map(|v| *v);
        let first = std::thread::spawn(get);
        drop(gate_wait(1));
        // The setup is under way in the first thread: the second waits for it, then shares it.
        let second = std::thread::spawn(get);
        gate_set(2);
        assert_eq!(first.join().unwrap(), Ok(1));
        assert_eq!(second.join().unwrap(), Ok(1));
        assert_eq!(GATED_SETUPS.load(std::sync::atomic::Ordering::SeqCst), 1);
    }
}

mod interrupt {
    use super::*;

    #[mp_test(timeout = "60s")]
    fn waits(server: &Server) {
        println!("waiting with host {}", server.pid);
        // Blocks until the run is interrupted (or the timeout ends it).
        std::thread::park_timeout(std::time::Duration::from_secs(120));
    }
}

fn main() -> ! {
    mptest::run()
}
