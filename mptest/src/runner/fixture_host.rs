//! The fixture host (see [`crate::fixtures`]) from the coordinator's side: starting it and the
//! threads that watch it (its channel and its exit, as [`WorkerEvent`]s tagged [`HOST_SLOT`]),
//! and [`RunFixtures`]: the requests for it and when each run fixture is torn down.

use std::collections::HashMap;
use std::os::fd::AsFd;
use std::os::unix::process::CommandExt;
use std::process::Stdio;
#[cfg(test)]
use std::time::Duration;

use ipc_channel::ipc::{IpcSender, OpaqueIpcSender};
use nix::sys::signal::Signal;

use super::watch::{watch, Said, Speaks};
use super::event::WorkerEvent;
use super::inbox::Mail;
use crate::error::Error;
use crate::fixtures::{FromHost, ToHost};
use crate::launch::endpoint::Bootstrap;
use crate::procs;

/// The event tag of the fixture host's events.
pub(crate) const HOST_SLOT: usize = usize::MAX - 1;

/// Starts the fixture host; returns its pid.
pub(crate) fn spawn(events: Mail) -> Result<i32, Error> {
    let server = Bootstrap::<FromHost>::new().map_err(Error::WorkerSpawn)?;
    let mut command = crate::launch::reexec::command("fixtures", server.name(), "fixture host");
    // What it prints outside a setup or teardown (which are captured) goes to our stderr: our
    // stdout may be a JSON stream.
    let stderr = || {
        std::io::stderr()
            .as_fd()
            .try_clone_to_owned()
            .map(Stdio::from)
            .map_err(Error::WorkerSpawn)
    };
    command
        .stdin(Stdio::null())
        .stdout(stderr()?)
        .stderr(stderr()?)
        // A group of its own: a terminal's ^C reaches the coordinator only, which then has the
        // host tear the fixtures down.
        .process_group(0);
    let child = command.spawn().map_err(Error::WorkerSpawn)?;
    drop(command);
    let pid = child.id() as i32;
    let connection = super::watch::Connection::Server(server);
    // At most one a run, started when a test first needs it: its exit is heard by a thread.
    let exit = super::watch::Heard::ByThreads;
    watch(HOST_SLOT, "host", connection, super::exit::Started::Spawned(child), &events, None, exit)?;
    Ok(pid)
}

impl Speaks for FromHost {
    fn said(self) -> Said {
        match self {
            FromHost::Hello { tasks } => Said::Hello(WorkerEvent::HostConnected(tasks)),
            FromHost::TornDown(events) => Said::Message(WorkerEvent::Fixtures(events)),
        }
    }
}

/// The fixture host as the coordinator sees it: started when a test first needs a run fixture.
enum Host {
    NotStarted,
    /// Started; requests wait for its hello.
    Starting {
        pid: i32,
        queued: Vec<(String, OpaqueIpcSender)>,
    },
    Ready {
        pid: i32,
        tasks: IpcSender<ToHost>,
    },
    /// It exited (or could not start): why. Requests are refused with it.
    Gone(String),
}

/// The coordinator's side of the run fixtures: the host process, the requests waiting for it,
/// and how many tests still to finish need each fixture (at zero it is torn down).
pub(crate) struct RunFixtures {
    host: Host,
    /// The run fixtures each test needs (by key), directly or not.
    needed_by: Vec<Vec<String>>,
    users: HashMap<String, usize>,
}

impl RunFixtures {
    /// `needed_by[test]`: the run fixtures of each test of the list; `run`: the tests that will
    /// run (the others never release theirs).
    pub(crate) fn new(needed_by: Vec<Vec<String>>, run: &[usize]) -> Self {
        let mut users = HashMap::new();
        for &test in run {
            for key in &needed_by[test] {
                *users.entry(key.clone()).or_insert(0) += 1;
            }
        }
        RunFixtures {
            host: Host::NotStarted,
            needed_by,
            users,
        }
    }

    /// The host's pid while it runs.
    pub(crate) fn pid(&self) -> Option<i32> {
        match &self.host {
            Host::Starting { pid, .. } | Host::Ready { pid, .. } => Some(*pid),
            _ => None,
        }
    }

    /// A worker asks for a run fixture: the request goes to the host, started by `start` first
    /// if this is the first. Returns a notice when the request could not be passed on.
    pub(crate) fn request(
        &mut self,
        key: String,
        reply: OpaqueIpcSender,
        start: impl FnOnce() -> Result<i32, Error>,
    ) -> Option<String> {
        if matches!(self.host, Host::NotStarted) {
            self.host = match start() {
                Ok(pid) => Host::Starting {
                    pid,
                    queued: Vec::new(),
                },
                Err(err) => Host::Gone(format!("the fixture host could not be started: {err}")),
            };
        }
        match &mut self.host {
            Host::Starting { queued, .. } => queued.push((key, reply)),
            Host::Ready { tasks, .. } => {
                if let Err(err) = tasks.send(ToHost::Get {
                    key: key.clone(),
                    reply,
                }) {
                    // The reply sender went with the failed message: the worker sees its
                    // channel close and says the host did not answer; its exit event will come.
                    return Some(format!(
                        "could not pass a request for fixture `{key}` to the fixture host: {err}"
                    ));
                }
            }
            Host::Gone(why) => crate::fixtures::refuse(reply, &key, why),
            Host::NotStarted => {}
        }
        None
    }

    /// The host said hello: the requests that waited go to it, and the fixtures whose tests all
    /// ended while it started are torn down.
    pub(crate) fn connected(&mut self, tasks: IpcSender<ToHost>) {
        let Host::Starting { pid, queued } = std::mem::replace(&mut self.host, Host::NotStarted) else {
            return;
        };
        for (key, reply) in queued {
            let _ = tasks.send(ToHost::Get { key, reply });
        }
        let done: Vec<String> = self
            .users
            .iter()
            .filter(|(_, n)| **n == 0)
            .map(|(k, _)| k.clone())
            .collect();
        if !done.is_empty() {
            let _ = tasks.send(ToHost::TearDown { keys: done });
        }
        self.host = Host::Ready { pid, tasks };
    }

    /// The host is gone (`why`): what waited for it, and every later request, is refused.
    pub(crate) fn gone(&mut self, why: String) {
        if let Some(pid) = self.pid() {
            procs::signal_group(pid, Signal::SIGKILL);
        }
        if let Host::Starting { queued, .. } = &mut self.host {
            for (key, reply) in queued.drain(..) {
                crate::fixtures::refuse(reply, &key, &why);
            }
        }
        self.host = Host::Gone(why);
    }

    /// A test is over for good: the run fixtures no other test needs are torn down.
    pub(crate) fn release(&mut self, test: usize) {
        let mut done = Vec::new();
        for key in &self.needed_by[test] {
            if let Some(n) = self.users.get_mut(key) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    done.push(key.clone());
                }
            }
        }
        if let (false, Host::Ready { tasks, .. }) = (done.is_empty(), &self.host) {
            let _ = tasks.send(ToHost::TearDown { keys: done });
        }
    }

    /// The run is over: a ready host is asked to tear everything down and exit, a starting one
    /// is killed. Returns the pid to wait for, if there is a host.
    pub(crate) fn begin_exit(&mut self) -> Option<i32> {
        match &self.host {
            Host::Ready { pid, tasks } => {
                let _ = tasks.send(ToHost::Exit);
                Some(*pid)
            }
            Host::Starting { pid, .. } => {
                procs::signal_group(*pid, Signal::SIGKILL);
                Some(*pid)
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::HostReply;

    fn run_fixtures() -> RunFixtures {
        // Tests 0 and 1 need `db`; test 1 also `site`; test 2 needs `db` but is not run.
        let needed_by = vec![vec!["db".into()], vec!["db".into(), "site".into()], vec!["db".into()]];
        RunFixtures::new(needed_by, &[0, 1])
    }

    fn ready(fixtures: &mut RunFixtures) -> ipc_channel::ipc::IpcReceiver<ToHost> {
        let (tasks, received) = ipc_channel::ipc::channel().expect("a channel");
        assert!(fixtures.request("db".into(), reply().0, || Ok(0)).is_none());
        fixtures.connected(tasks);
        match received.try_recv_timeout(Duration::from_secs(5)) {
            Ok(ToHost::Get { key, .. }) => assert_eq!(key, "db"),
            other => panic!("expected the queued request, got {other:?}"),
        }
        received
    }

    fn reply() -> (OpaqueIpcSender, ipc_channel::ipc::IpcReceiver<HostReply<()>>) {
        let (tx, rx) = ipc_channel::ipc::channel().expect("a channel");
        (tx.to_opaque(), rx)
    }

    #[test]
    fn a_fixture_is_torn_down_when_the_last_test_that_runs_and_needs_it_ends() {
        let mut fixtures = run_fixtures();
        let host = ready(&mut fixtures);
        fixtures.release(0);
        assert!(host.try_recv().is_err(), "test 1 still needs db");
        fixtures.release(1);
        match host.try_recv_timeout(Duration::from_secs(5)) {
            Ok(ToHost::TearDown { mut keys }) => {
                keys.sort();
                assert_eq!(keys, ["db", "site"]);
            }
            other => panic!("expected a teardown, got {other:?}"),
        }
    }

    #[test]
    fn fixtures_released_while_the_host_starts_are_torn_down_once_it_is_ready() {
        let mut fixtures = run_fixtures();
        let mut started = 0;
        assert!(fixtures
            .request("db".into(), reply().0, || {
                started += 1;
                Ok(0)
            })
            .is_none());
        fixtures.release(0);
        fixtures.release(1);
        let (tasks, host) = ipc_channel::ipc::channel().expect("a channel");
        fixtures.connected(tasks);
        assert!(matches!(host.try_recv_timeout(Duration::from_secs(5)), Ok(ToHost::Get { .. })));
        assert!(matches!(host.try_recv_timeout(Duration::from_secs(5)), Ok(ToHost::TearDown { .. })));
        assert_eq!(started, 1);
    }

    #[test]
    fn requests_to_a_host_that_is_gone_are_refused_with_why() {
        let mut fixtures = run_fixtures();
        let (waiting, waited) = reply();
        assert!(fixtures.request("db".into(), waiting, || Ok(0)).is_none());
        fixtures.gone("the fixture host was killed by signal SIGKILL".into());
        let (later, refused) = reply();
        assert!(fixtures.request("site".into(), later, || panic!("not started again")).is_none());
        for (receiver, key) in [(waited, "db"), (refused, "site")] {
            match receiver.try_recv_timeout(Duration::from_secs(5)) {
                Ok(HostReply::Failed { error, .. }) => {
                    assert_eq!(error.fixture, key);
                    assert!(error.message.contains("SIGKILL"), "{}", error.message);
                }
                other => panic!("expected a refusal, got {other:?}"),
            }
        }
    }

    #[test]
    fn a_host_that_cannot_start_refuses_the_request_that_started_it() {
        let mut fixtures = run_fixtures();
        let (tx, rx) = reply();
        let start = || Err(Error::WorkerSpawn(std::io::Error::other("no fork today")));
        assert!(fixtures.request("db".into(), tx, start).is_none());
        match rx.try_recv_timeout(Duration::from_secs(5)) {
            Ok(HostReply::Failed { error, .. }) => assert!(error.message.contains("no fork today")),
            other => panic!("expected a refusal, got {other:?}"),
        }
        assert_eq!(fixtures.pid(), None);
    }
}
