//! The aux role: the process an auxiliary lives in. It serves each connected process's
//! connection on a thread of its own, runs the aux's receive loop on another, and fans what the
//! aux hears out to every subscriber's queue.

use std::collections::{HashMap, VecDeque};
use std::io::Write;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ipc_channel::ipc::{self, IpcReceiver, IpcSender};
use ipc_channel::IpcError;
use crate::sync::{Condvar, Mutex};

use super::wire::{AuxHello, Connect, JobWire, Reply, Request};
use super::{Auxiliary, MESSAGE_CAPACITY};
use crate::launch::role::Boot;

/// How long one call of `receive_message` may wait.
const RECEIVE_WAIT: Duration = Duration::from_millis(20);

/// The job, as the aux's typed code receives it.
#[doc(hidden)]
pub struct Job(pub(crate) JobWire);

/// The aux role: connect to the starter, take the job, run the aux it names.
pub(crate) fn run_aux(boot: Boot) -> ! {
    crate::panics::install_hook();
    let job = (|| -> Result<JobWire, String> {
        let (jobs_tx, jobs) = ipc::channel::<JobWire>().map_err(|e| e.to_string())?;
        let starter = IpcSender::<AuxHello>::connect(boot.server.clone())
            .map_err(|e| format!("cannot connect to {:?}: {e}", boot.server))?;
        starter
            .send(AuxHello { jobs: jobs_tx })
            .map_err(|e| e.to_string())?;
        crate::ipc_retry::recv(&jobs).map_err(|e| format!("no job from the starter: {e}"))
    })();
    let job = match job {
        Ok(job) => job,
        Err(err) => {
            eprintln!("mptest aux: {err}");
            std::process::exit(crate::EXIT_USAGE)
        }
    };
    match super::AUX_TYPES.iter().find(|t| (t.name)() == job.type_name) {
        Some(def) => (def.run)(Job(job)),
        None => {
            let why = format!(
                "{} is not registered: put #[mptest::aux] on its `impl Auxiliary`",
                job.type_name
            );
            let _ = job
                .ready
                .to::<Result<IpcSender<Connect>, String>>()
                .send(Err(why));
            std::process::exit(crate::EXIT_USAGE)
        }
    }
}

/// One subscriber's queue: a process that uses a handle.
struct Queue<M> {
    messages: VecDeque<M>,
    dropped: u64,
}

impl<M> Queue<M> {
    fn new() -> Self {
        Queue {
            messages: VecDeque::new(),
            dropped: 0,
        }
    }

    /// Takes up to `max` (at least one) of the oldest messages.
    fn take(&mut self, max: usize) -> Vec<M> {
        let n = self.messages.len().min(max.max(1));
        self.messages.drain(..n).collect()
    }

    /// Says in the aux's output — the test's report — how many messages this queue dropped.
    fn report_dropped(&self, pid: u32) {
        if self.dropped > 0 {
            println!(
                "{} messages for process {pid} were dropped: its queue was full",
                self.dropped
            );
        }
    }
}

/// What the aux's threads share.
struct State<M> {
    created: bool,
    stopping: bool,
    /// The process holding `lock_it`.
    lock_holder: Option<u32>,
    /// Open connections per process: a process is gone when its count drops to zero.
    connections: HashMap<u32, usize>,
    queues: HashMap<u32, Queue<M>>,
}

struct Core<T: Auxiliary> {
    aux: T,
    state: Mutex<State<T::Message>>,
    changed: Condvar,
    /// Serializes create and delete.
    lifecycle: Mutex<()>,
}

/// Runs the aux `T` in this process; never returns.
pub(crate) fn run_typed<T: Auxiliary>(job: Job) -> ! {
    let Job(job) = job;
    let ready = job.ready.to::<Result<IpcSender<Connect>, String>>();
    let fail = |why: String| -> ! {
        let _ = ready.send(Err(why));
        std::process::exit(crate::EXIT_USAGE)
    };
    let config = match crate::ipc_retry::recv(&job.config.to::<T::Config>()) {
        Ok(config) => config,
        Err(err) => fail(format!("could not read the config: {err}")),
    };
    let aux = match catch(|| T::new(config)) {
        Ok(Ok(aux)) => aux,
        Ok(Err(err)) => fail(format!("new: {err}")),
        Err((message, location)) => fail(format!("new panicked at {location}: {message}")),
    };
    let core = Arc::new(Core {
        aux,
        state: Mutex::new(State {
            created: false,
            stopping: false,
            lock_holder: None,
            connections: HashMap::new(),
            queues: HashMap::new(),
        }),
        changed: Condvar::new(),
        lifecycle: Mutex::new(()),
    });
    // The starter hears everything from the moment the instance exists, before it connects.
    core.state
        .lock()
        .queues
        .insert(std::os::unix::process::parent_id(), Queue::new());
    if let Err(err) = core.create() {
        fail(format!("create_instance: {err}"));
    }
    let (connector, connections) = match ipc::channel::<Connect>() {
        Ok(pair) => pair,
        Err(err) => fail(format!("cannot make a channel: {err}")),
    };
    if ready.send(Ok(connector)).is_err() {
        std::process::exit(0); // the starter is gone
    }
    let receiver = core.clone();
    let _ = std::thread::Builder::new()
        .name("mptest-aux-receive".into())
        .spawn(move || receiver.receive_loop());
    // Connections come until every handle everywhere is gone (or a stop ends the process).
    while let Ok(connect) = crate::ipc_retry::recv(&connections) {
        let core = core.clone();
        let _ = std::thread::Builder::new()
            .name("mptest-aux-connection".into())
            .spawn(move || core.serve(connect));
    }
    // No handle is left anywhere: nobody can reach the aux any more.
    let _ = core.delete();
    core.shut_down();
    std::process::exit(0)
}

/// Runs `f`, turning a panic into its message and location.
fn catch<R>(f: impl FnOnce() -> R) -> Result<R, (String, String)> {
    panic::catch_unwind(AssertUnwindSafe(f)).map_err(|_| {
        let record = crate::panics::take_last().unwrap_or_default();
        (record.message, record.location)
    })
}

impl<T: Auxiliary> Core<T> {
    fn create(&self) -> Result<(), String> {
        let _one_at_a_time = self.lifecycle.lock();
        if self.state.lock().created {
            return Ok(());
        }
        match catch(|| self.aux.create_instance()) {
            Ok(Ok(())) => {
                self.state.lock().created = true;
                self.changed.notify_all();
                Ok(())
            }
            Ok(Err(err)) => Err(err.to_string()),
            Err((message, location)) => Err(format!("panicked at {location}: {message}")),
        }
    }

    fn delete(&self) -> Result<(), String> {
        let _one_at_a_time = self.lifecycle.lock();
        if !std::mem::replace(&mut self.state.lock().created, false) {
            return Ok(());
        }
        self.changed.notify_all();
        match catch(|| self.aux.delete_instance()) {
            Ok(result) => result.map_err(|e| e.to_string()),
            Err((message, location)) => Err(format!("panicked at {location}: {message}")),
        }
    }

    /// Hears what the aux hears while its instance exists, and hands it to every subscriber.
    fn receive_loop(&self) {
        loop {
            {
                let mut state = self.state.lock();
                if state.stopping {
                    return;
                }
                if !state.created {
                    self.changed.wait_for(&mut state, Duration::from_millis(100));
                    continue;
                }
            }
            let asked = Instant::now();
            match catch(|| self.aux.receive_message(RECEIVE_WAIT)) {
                Ok(Some(message)) => self.broadcast(message),
                Ok(None) => {
                    // An aux that answers at once when it hears nothing (the default) must not
                    // make this loop spin: wait out the rest, waking for a stop or a delete.
                    let rest = RECEIVE_WAIT.saturating_sub(asked.elapsed());
                    if rest > RECEIVE_WAIT / 2 {
                        let mut state = self.state.lock();
                        if state.created && !state.stopping {
                            self.changed.wait_for(&mut state, rest);
                        }
                    }
                }
                Err((message, location)) => {
                    eprintln!("receive_message panicked at {location}: {message}");
                    let mut state = self.state.lock();
                    self.changed.wait_for(&mut state, RECEIVE_WAIT);
                }
            }
        }
    }

    fn broadcast(&self, message: T::Message) {
        let mut state = self.state.lock();
        for queue in state.queues.values_mut() {
            if queue.messages.len() < MESSAGE_CAPACITY {
                queue.messages.push_back(message.clone());
            } else {
                queue.dropped += 1;
            }
        }
        drop(state);
        self.changed.notify_all();
    }

    /// Serves one connection until its process closes it.
    fn serve(&self, connect: Connect) {
        let pid = connect.pid;
        let requests: IpcReceiver<Request<T::Command>> = connect.requests.to();
        let replies: IpcSender<Reply<T::Response, T::Message>> = connect.replies.to();
        {
            let mut state = self.state.lock();
            *state.connections.entry(pid).or_default() += 1;
            // Every process that uses the aux hears what it hears, from now on.
            state.queues.entry(pid).or_insert_with(Queue::new);
        }
        loop {
            let reply = match crate::ipc_retry::recv(&requests) {
                Ok(Request::Stop) => {
                    let result = self.delete();
                    self.shut_down();
                    let reply = match result {
                        Ok(()) => Reply::Done,
                        Err(err) => Reply::Failed(format!("delete_instance: {err}")),
                    };
                    let _ = replies.send(reply);
                    let _ = std::io::stdout().flush();
                    std::process::exit(0);
                }
                Ok(request) => self.answer(pid, request),
                Err(IpcError::Disconnected) => break,
                Err(err) => {
                    eprintln!("a malformed request from process {pid}: {err}; closing its connection");
                    let _ = replies.send(Reply::Failed(format!("malformed request: {err}")));
                    break;
                }
            };
            if replies.send(reply).is_err() {
                break;
            }
        }
        self.connection_closed(pid);
    }

    fn answer(&self, pid: u32, request: Request<T::Command>) -> Reply<T::Response, T::Message> {
        match request {
            Request::Lock { timeout_ms } => {
                let deadline = Instant::now() + Duration::from_millis(timeout_ms);
                let mut state = self.state.lock();
                loop {
                    match state.lock_holder {
                        None => {
                            state.lock_holder = Some(pid);
                            return Reply::Locked(true);
                        }
                        Some(holder) if holder == pid => return Reply::Locked(true),
                        Some(_) => {
                            if self.changed.wait_until(&mut state, deadline).timed_out() {
                                return Reply::Locked(state.lock_holder == Some(pid));
                            }
                        }
                    }
                }
            }
            Request::Unlock => {
                let mut state = self.state.lock();
                if state.lock_holder == Some(pid) {
                    state.lock_holder = None;
                    drop(state);
                    self.changed.notify_all();
                    Reply::Done
                } else {
                    Reply::Failed("unlock_it: this process does not hold the lock".into())
                }
            }
            Request::Create => match self.create() {
                Ok(()) => Reply::Done,
                Err(err) => Reply::Failed(format!("create_instance: {err}")),
            },
            Request::Delete => match self.delete() {
                Ok(()) => Reply::Done,
                Err(err) => Reply::Failed(format!("delete_instance: {err}")),
            },
            Request::Run(command) => {
                if !self.state.lock().created {
                    return Reply::NotStarted;
                }
                match catch(|| self.aux.run_command(command)) {
                    Ok(Ok(response)) => Reply::Response(response),
                    Ok(Err(err)) => Reply::Failed(err.to_string()),
                    Err((message, location)) => Reply::Panicked { message, location },
                }
            }
            Request::Abort => match catch(|| self.aux.abort_command()) {
                Ok(Ok(())) => Reply::Done,
                Ok(Err(err)) => Reply::Failed(format!("abort_command: {err}")),
                Err((message, location)) => Reply::Panicked { message, location },
            },
            Request::Next { max, timeout_ms } => {
                let deadline = Instant::now() + Duration::from_millis(timeout_ms);
                let mut state = self.state.lock();
                loop {
                    let has_messages = state.queues.get(&pid).is_some_and(|q| !q.messages.is_empty());
                    if has_messages
                        || state.stopping
                        || self.changed.wait_until(&mut state, deadline).timed_out()
                    {
                        let queue = state.queues.entry(pid).or_insert_with(Queue::new);
                        return Reply::Messages(queue.take(max));
                    }
                }
            }
            Request::Dropped => Reply::Dropped(self.state.lock().queues.get(&pid).map_or(0, |q| q.dropped)),
            Request::Stop => Reply::Done, // handled in `serve`
        }
    }

    /// A process's last connection closing means the process is gone: its lock and queue go.
    fn connection_closed(&self, pid: u32) {
        let mut state = self.state.lock();
        let left = state.connections.get_mut(&pid).map(|n| {
            *n -= 1;
            *n
        });
        if left == Some(0) {
            state.connections.remove(&pid);
            if let Some(queue) = state.queues.remove(&pid) {
                queue.report_dropped(pid);
            }
            if state.lock_holder == Some(pid) {
                state.lock_holder = None;
            }
        }
        drop(state);
        self.changed.notify_all();
    }

    /// Ends the receive loop and says what was dropped.
    fn shut_down(&self) {
        let mut state = self.state.lock();
        state.stopping = true;
        for (pid, queue) in &state.queues {
            queue.report_dropped(*pid);
        }
        drop(state);
        self.changed.notify_all();
    }
}
