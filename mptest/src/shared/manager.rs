//! `Manager`: starts the manager process and makes objects in it.

use std::process::Child;
use std::time::Duration;

use ipc_channel::ipc::IpcSender;

use crate::launch::endpoint::{Accepted, Bootstrap};

use super::builtins::{
    BarrierServer, EventServer, LockServer, MapServer, QueueServer, SharedBarrier, SharedEvent, SharedLock,
    SharedMap, SharedQueue, SharedValue, SharedVec, ValueServer, VecServer,
};
use super::proxy::Proxy;
use super::server::{Locked, SharedState};
use super::wire::{Control, ManagerHello, manager_id, ManagerRef, SECRET_VAR};
use super::ProxyError;


/// How long the manager process has to connect after it starts.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long it has to exit after a shutdown before it is killed.
const EXIT_TIMEOUT: Duration = Duration::from_secs(5);

/// A manager process and the objects it serves, SyncManager-style. Shut down by
/// [`shutdown`](Manager::shutdown) or when dropped; its objects are dropped with it.
///
/// ```no_run
/// # fn main() -> Result<(), mptest::ProxyError> {
/// let mgr = mptest::Manager::start()?;
/// let hits = mgr.value(0u32)?;
/// hits.update(|n| n + 1)?;
/// assert_eq!(hits.get()?, 1);
/// mgr.shutdown();
/// # Ok(()) }
/// ```
pub struct Manager {
    child: Option<Child>,
    control: IpcSender<Control>,
    reference: ManagerRef,
}

impl Manager {
    /// Starts a manager process (this binary, re-executed in the manager role).
    pub fn start() -> Result<Manager, ProxyError> {
        crate::launch::role::ensure_no_role_pending("Manager::start");
        let start_err = |e: std::io::Error| ProxyError::Start(e.to_string());
        let server = Bootstrap::<ManagerHello>::new().map_err(start_err)?;
        let name = server.name().to_string();
        let secret = crate::nonce::new_nonce();
        let spawned = crate::launch::reexec::spawn_role(
            crate::launch::reexec::command("manager", &name, "manager").env(SECRET_VAR, &secret),
        );
        let mut child = spawned.map_err(start_err)?;
        let hello = match server.accept_while(START_TIMEOUT, || matches!(child.try_wait(), Ok(Some(_)))) {
            Accepted::Hello(hello) => hello,
            Accepted::Bad(why) => return Err(fail_start(child, why)),
            Accepted::Ended => {
                let status = child.try_wait().ok().flatten();
                let how = status.map_or_else(String::new, |s| format!(" ({s})"));
                return Err(ProxyError::Start(format!(
                    "the manager process ended at start{how}"
                )));
            }
            Accepted::TimedOut => {
                return Err(fail_start(child, "the manager process did not connect".into()))
            }
        };
        let id = manager_id(&secret, child.id());
        Ok(Manager {
            child: Some(child),
            control: hello.control,
            reference: ManagerRef {
                id,
                secret,
                connector: hello.connector.to_opaque(),
            },
        })
    }

    /// The manager process's id.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Moves `value` into the manager; returns its proxy (`TProxy` for a `#[mptest::shared]`
    /// type `T`).
    pub fn create<T: SharedState>(&self, value: T) -> Result<T::Proxy, ProxyError> {
        Proxy::<Locked<T>>::create(&self.reference, value).map(T::Proxy::from)
    }

    /// Makes an object of a server type of your own (see [`Served`](super::Served)).
    pub fn create_object<S: super::Served>(&self, init: S::Init) -> Result<Proxy<S>, ProxyError> {
        Proxy::<S>::create(&self.reference, init)
    }

    /// A shared value.
    pub fn value<T>(&self, value: T) -> Result<SharedValue<T>, ProxyError>
    where
        T: serde::Serialize + serde::de::DeserializeOwned + Clone + Send + Sync + 'static,
    {
        Proxy::<ValueServer<T>>::create(&self.reference, value).map(SharedValue::from_proxy)
    }

    /// A shared vector, empty.
    pub fn vec<T>(&self) -> Result<SharedVec<T>, ProxyError>
    where
        T: serde::Serialize + serde::de::DeserializeOwned + Clone + Send + Sync + 'static,
    {
        Proxy::<VecServer<T>>::create(&self.reference, Vec::new()).map(SharedVec::from_proxy)
    }

    /// A shared map, empty.
    pub fn map<K, V>(&self) -> Result<SharedMap<K, V>, ProxyError>
    where
        K: serde::Serialize
            + serde::de::DeserializeOwned
            + Eq
            + std::hash::Hash
            + Clone
            + Send
            + Sync
            + 'static,
        V: serde::Serialize + serde::de::DeserializeOwned + Clone + Send + Sync + 'static,
    {
        Proxy::<MapServer<K, V>>::create(&self.reference, ()).map(SharedMap::from_proxy)
    }

    /// A shared FIFO queue; `capacity` bounds it (`put` then waits for room).
    pub fn queue<T>(&self, capacity: Option<usize>) -> Result<SharedQueue<T>, ProxyError>
    where
        T: serde::Serialize + serde::de::DeserializeOwned + Send + Sync + 'static,
    {
        Proxy::<QueueServer<T>>::create(&self.reference, capacity).map(SharedQueue::from_proxy)
    }

    /// A shared event, not set.
    pub fn event(&self) -> Result<SharedEvent, ProxyError> {
        Proxy::<EventServer>::create(&self.reference, ()).map(SharedEvent::from_proxy)
    }

    /// A shared barrier for `parties` waiters.
    pub fn barrier(&self, parties: usize) -> Result<SharedBarrier, ProxyError> {
        Proxy::<BarrierServer>::create(&self.reference, parties).map(SharedBarrier::from_proxy)
    }

    /// A cross-process mutex, released when its holder's process dies.
    pub fn lock(&self) -> Result<SharedLock, ProxyError> {
        Proxy::<LockServer>::create(&self.reference, ()).map(SharedLock::from_proxy)
    }

    /// Ends the manager process, dropping its objects; later calls through its proxies return
    /// [`ProxyError::ManagerGone`].
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        let Some(child) = self.child.take() else { return };
        let _ = self.control.send(Control::Shutdown);
        crate::launch::reexec::wait_or_kill(child, EXIT_TIMEOUT);
    }
}

impl Drop for Manager {
    fn drop(&mut self) {
        self.stop();
    }
}

fn fail_start(mut child: Child, why: String) -> ProxyError {
    let _ = child.kill();
    let _ = child.wait();
    ProxyError::Start(why)
}
