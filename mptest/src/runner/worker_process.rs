//! Starting one worker process — forked early or re-executed — and what watches it: its
//! channel, its exit (see [`watch`](super::watch)) and its output pipe. Each turns what it sees
//! into a [`WorkerEvent`] for the scheduler.

use std::io::PipeReader;
use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::process::Stdio;

use ipc_channel::ipc;

use super::event::WorkerEvent;
use super::exit::{ExitNote, Started};
use super::inbox::Inbox;
use super::watch::{watch, Connection, Heard, Said, Speaks};

use crate::capture::{self, SharedBuffer};
use crate::error::Error;
use crate::launch::endpoint::Bootstrap;
use crate::launch::role::{self, Boot};
use crate::protocol::{FromWorker, Told};
use crate::work::WorkSender;

/// A started worker.
pub(crate) struct WorkerProcess {
    pub(crate) pid: i32,
    pub(crate) group: i32,
    /// Where to send its work, when known before its hello (a forked worker).
    pub(crate) tasks: Option<WorkSender>,
    /// Its output pipe (`None` when not capturing).
    pub(crate) output: Option<Output>,
    /// To be started for its channel and its exit to be heard.
    pub(crate) watcher: Watcher,
}

/// A worker's output pipe, for the scheduler to read.
pub(crate) struct Output {
    pub(crate) pipe: PipeReader,
    pub(crate) sentinel: Vec<u8>,
    /// The output of the test in progress.
    pub(crate) buffer: SharedBuffer,
}

/// A worker process that exists, not yet watched.
struct Launched {
    process: Started,
    group: i32,
    connection: Connection<Told>,
    tasks: Option<WorkSender>,
    /// The read end of its output pipe and its end-of-test marker, when capturing.
    output: Option<(PipeReader, Vec<u8>)>,
    /// Where its exit is told, when capturing.
    note: Option<ExitNote>,
}

/// A worker forked before the coordinator had a thread (see [`crate::launch::fork`]), waiting
/// for the scheduler to take it; one never taken is killed and reaped when dropped.
pub(crate) struct Forked(Option<Launched>);

impl Drop for Forked {
    fn drop(&mut self) {
        use nix::sys::signal::{kill, Signal};
        use nix::unistd::Pid;
        if let Some(launched) = self.0.take() {
            // Never our own group (killpg(0) would end this process and the one that ran it).
            crate::procs::signal_group(launched.group, Signal::SIGKILL);
            let _ = kill(Pid::from_raw(launched.process.pid()), Signal::SIGKILL);
            let mut process = launched.process;
            let _ = process.wait();
        }
    }
}

/// Forks the run's first `count` workers now, if the coordinator may fork (see
/// [`crate::launch::fork`]); else, or from the first that fails, none: those are spawned.
pub(crate) fn fork_first(count: usize, capture: bool) -> Vec<Forked> {
    let mut forked = Vec::new();
    if count == 0 || !crate::launch::fork::workers_may_fork() {
        return forked;
    }
    let cpus = crate::cpus::Cpus::of_this_thread();
    // Read once: each worker forked takes one of them (see `crate::cpus::start_elsewhere`).
    let idle = crate::cpus::idle_cpus();
    for id in 0..count {
        match fork_one(id, capture, (cpus, idle), &mut forked) {
            Ok(launched) => forked.push(Forked(Some(launched))),
            Err(_) => break,
        }
    }
    forked
}

/// Forks worker `id`, after the workers `earlier`: the copy closes the coordinator's ends of
/// their pipes and channels (and of its own), which a re-executed worker would never have had.
/// `cpus` are this thread's, which the copy gets back before it runs anything of the user's,
/// and how many CPUs were idle before the first fork (see [`crate::cpus`]).
fn fork_one(
    id: usize,
    capture: bool,
    (cpus, idle): (Option<crate::cpus::Cpus>, usize),
    earlier: &mut Vec<Forked>,
) -> Result<Launched, Error> {
    use nix::unistd::{fork, ForkResult};
    let (to_coordinator, from_worker) = ipc::channel::<Told>().map_err(Error::WorkerSpawn)?;
    let (to_worker, tasks) = std::io::pipe().map_err(Error::WorkerSpawn)?;
    // Without it, nothing sent ahead can be taken back; the worker still works.
    let claims = crate::claims::Claims::new().ok();
    let null = OwnedFd::from(std::fs::File::open("/dev/null").map_err(Error::WorkerSpawn)?);
    let (sentinel, pipe) = match capture {
        true => (
            Some(capture::sentinel_bytes(&crate::nonce::new_nonce())),
            Some(std::io::pipe().map_err(Error::WorkerSpawn)?),
        ),
        false => (None, None),
    };
    let (reader, writer) = pipe.map(|(r, w)| (r, OwnedFd::from(w))).unzip();
    let stage = writer.as_ref().and_then(|_| crate::stage::Stage::new()).map(std::sync::Arc::new);
    let note = match (&writer, &sentinel) {
        (Some(writer), Some(sentinel)) => Some(ExitNote {
            pipe: writer.try_clone().map_err(Error::WorkerSpawn)?,
            sentinel: sentinel.clone(),
            stage: stage.clone(),
        }),
        _ => None,
    };
    let boot = Boot {
        server: String::new(),
        parent: std::process::id() as i32,
        sentinel: sentinel.clone(),
    };
    let title = format!("worker {}", id + 1);
    // What is buffered would be written twice: once more by the copy.
    let _ = std::io::Write::flush(&mut std::io::stdout());
    // SAFETY: the coordinator has one thread (`workers_may_fork`); the copy only makes itself a
    // worker and runs it, and never returns into the caller.
    let child = match unsafe { fork() } {
        Ok(ForkResult::Child) => {
            // The coordinator's ends: closed here, where nothing reads them (taken out of each
            // `Forked` first, whose drop would end that worker).
            for mut other in earlier.drain(..) {
                drop(other.0.take());
            }
            drop((reader, from_worker, tasks, note));
            let stdio = crate::launch::fork::Stdio {
                null,
                output: writer,
                stage,
            };
            let channels = (to_coordinator, to_worker, claims);
            if let Some(cpus) = cpus {
                crate::cpus::remember(cpus);
            }
            crate::launch::fork::become_worker(&title, boot, channels, stdio)
        }
        Ok(ForkResult::Parent { child }) => {
            // Beside this process at once, not after it (see `crate::cpus`).
            if let Some(cpus) = &cpus {
                crate::cpus::start_elsewhere(child.as_raw(), earlier.len(), idle, cpus);
            }
            child
        }
        Err(err) => return Err(Error::WorkerSpawn(err.into())),
    };
    // The worker's ends are the worker's: its channels close when it dies.
    drop((to_coordinator, to_worker));
    Ok(Launched {
        process: Started::Forked { pid: child.as_raw() },
        // Founded by the copy itself (see `launch::fork::found_own_group`): known once it
        // says hello; until then it is signalled by its pid alone.
        group: UNKNOWN_GROUP,
        connection: Connection::Channel(from_worker),
        tasks: Some(WorkSender::pipe(tasks, claims)),
        output: reader.zip(sentinel),
        note,
    })
}

/// The process group of a forked worker that has not said hello yet (`procs::signal_group`
/// signals no group for it).
pub(crate) const UNKNOWN_GROUP: i32 = 0;

/// Re-executes this binary as worker `id`.
fn exec(id: usize, capture: bool) -> Result<Launched, Error> {
    let server = Bootstrap::<Told>::new().map_err(Error::WorkerSpawn)?;
    let mut command = crate::launch::reexec::command("worker", server.name(), &format!("worker {}", id + 1));
    command
        .stdin(Stdio::null())
        // Its own process group, which what its tests start inherits: one signal ends them all.
        .process_group(0);
    let (mut output, mut note, mut stage_file) = (None, None, None);
    if capture {
        let nonce = crate::nonce::new_nonce();
        command.env(role::SENTINEL_VAR, &nonce);
        let (reader, writer) = std::io::pipe().map_err(Error::WorkerSpawn)?;
        // Its stage's memory file is inherited: ours is closed once it is started.
        let stage = crate::stage::Stage::for_exec(&mut command).map(|(stage, file)| {
            stage_file = Some(file);
            std::sync::Arc::new(stage)
        });
        // Close-on-exec, as every descriptor std makes: no process started later inherits it.
        note = Some(ExitNote {
            pipe: OwnedFd::from(writer.try_clone().map_err(Error::WorkerSpawn)?),
            sentinel: capture::sentinel_bytes(&nonce),
            stage,
        });
        // fd 1 and fd 2 share one pipe, so their interleaving is kept as a terminal shows it.
        command
            .stdout(writer.try_clone().map_err(Error::WorkerSpawn)?)
            .stderr(writer);
        output = Some((reader, capture::sentinel_bytes(&nonce)));
    }
    let child = command.spawn().map_err(Error::WorkerSpawn)?;
    // The command holds our copies of the pipe's write end; without dropping them the pipe
    // would never close.
    drop((command, stage_file));
    Ok(Launched {
        group: child.id() as i32,
        process: Started::Spawned(child),
        connection: Connection::Server(server),
        tasks: None,
        output,
        note,
    })
}

/// Starts worker `id` — takes `forked` if there is one, else re-executes this binary. Its
/// channel and exit are watched once its [`Watcher`] starts.
pub(crate) fn spawn(id: usize, capture: bool, forked: Option<Forked>) -> Result<WorkerProcess, Error> {
    let launched = match forked.and_then(|mut forked| forked.0.take()) {
        Some(launched) => launched,
        None => exec(id, capture)?,
    };
    let (pid, group, tasks) = (launched.process.pid(), launched.group, launched.tasks);
    let watcher = Watcher {
        id,
        connection: launched.connection,
        process: launched.process,
        note: launched.note,
    };

    // Read by the scheduler itself (see `Inbox::read_output`).
    let output = launched.output.map(|(pipe, sentinel)| Output {
        pipe,
        sentinel,
        buffer: SharedBuffer::default(),
    });
    Ok(WorkerProcess {
        pid,
        group,
        tasks,
        output,
        watcher,
    })
}

/// What watches a started worker's channel and exit (two threads, see [`watch`]), not started
/// yet: a forked worker can be handed its first test before (its channel's messages and its
/// exit wait for them), so the threads' start takes its time beside the worker's first test.
pub(crate) struct Watcher {
    id: usize,
    connection: Connection<Told>,
    process: Started,
    note: Option<ExitNote>,
}

impl Watcher {
    /// Starts watching; the worker's events arrive in `inbox` tagged with its id.
    pub(crate) fn start(self, inbox: &mut Inbox) -> Result<(), Error> {
        let events = inbox.mail();
        let exit = Heard::ByInbox(inbox);
        watch(self.id, "worker", self.connection, self.process, &events, self.note, exit)
    }
}

impl Speaks for Told {
    fn said(self) -> Said {
        let event = |event| match self.carried_before {
            0 => event,
            carried_before => WorkerEvent::After {
                carried_before,
                event: Box::new(event),
            },
        };
        match self.message {
            FromWorker::Hello { tasks, pid } => Said::Hello(WorkerEvent::Connected(tasks, i32::try_from(pid).ok())),
            FromWorker::Done(report) => Said::Message(event(WorkerEvent::Done(report))),
            FromWorker::Hooks(report) => Said::Message(event(WorkerEvent::Hooks(report))),
            FromWorker::NeedFixture { key, reply } => Said::Message(event(WorkerEvent::NeedFixture { key, reply })),
            FromWorker::Fixtures(events) => Said::Message(event(WorkerEvent::Fixtures(events))),
        }
    }
}
