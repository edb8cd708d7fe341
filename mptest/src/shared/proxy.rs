//! The client side: a typed handle on one object, and the per-process pool of connections.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use ipc_channel::ipc::{self, IpcReceiver, IpcSender};
use ipc_channel::{IpcError, TryRecvError};
use serde::{Deserialize, Serialize};

use super::server::{serve_connection, ServeFn, Served};
use super::wire::{Connect, ManagerRef, Reply, Request};
use super::ProxyError;

/// How long a new connection waits for the manager's welcome.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A handle on one object of type `S` in a manager. Cheap to clone; can be sent to any process
/// (as a `spawn` argument, inside another shared object, over any ipc channel) and still
/// reaches the same object.
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
pub struct Proxy<S> {
    manager: ManagerRef,
    object: u64,
    #[serde(skip)]
    _type: PhantomData<fn() -> S>,
}

impl<S> Clone for Proxy<S> {
    fn clone(&self) -> Self {
        Proxy {
            manager: self.manager.clone(),
            object: self.object,
            _type: PhantomData,
        }
    }
}

impl<S> std::fmt::Debug for Proxy<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Proxy<{}>(manager {:x}, object {})",
            std::any::type_name::<S>(),
            self.manager.id,
            self.object
        )
    }
}

/// One connection: typed request sender and reply receiver.
struct Connection<S: Served> {
    requests: IpcSender<Request<S::Init, S::Call>>,
    replies: IpcReceiver<Reply<S::Ret>>,
}

/// Idle connections (each a boxed `Connection<S>`), by manager id and server type.
type Idle = HashMap<(u64, TypeId), Vec<Box<dyn Any + Send>>>;

/// Idle connections of this process. A call takes one and gives it back, so each process
/// opens as many as it has concurrent callers, once.
static POOL: Mutex<Option<Idle>> = Mutex::new(None);

/// An idle connection for `S`, or a new one. It stays boxed from checkout to checkin, so a
/// call does not allocate for the pool.
fn checkout<S: Served>(manager: &ManagerRef) -> Result<Box<Connection<S>>, ProxyError> {
    let key = (manager.id, TypeId::of::<S>());
    let idle = POOL
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get_or_insert_with(HashMap::new)
        .get_mut(&key)
        .and_then(Vec::pop);
    match idle.and_then(|c| c.downcast::<Connection<S>>().ok()) {
        Some(connection) => Ok(connection),
        None => connect::<S>(manager).map(Box::new),
    }
}

fn checkin<S: Served>(manager: &ManagerRef, connection: Box<Connection<S>>) {
    let key = (manager.id, TypeId::of::<S>());
    POOL.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get_or_insert_with(HashMap::new)
        .entry(key)
        .or_default()
        .push(connection);
}

fn connect<S: Served>(manager: &ManagerRef) -> Result<Connection<S>, ProxyError> {
    let io = |e: std::io::Error| ProxyError::Failed(format!("cannot make a channel: {e}"));
    let (requests, requests_rx) = ipc::channel::<Request<S::Init, S::Call>>().map_err(io)?;
    let (replies_tx, replies) = ipc::channel::<Reply<S::Ret>>().map_err(io)?;
    let serve: ServeFn = serve_connection::<S>;
    manager
        .connector
        .clone()
        .to::<Connect>()
        .send(Connect {
            secret: manager.secret.clone(),
            type_name: S::type_name().to_string(),
            registered: S::REGISTERED,
            serve_offset: crate::spawn::to_offset(serve as usize),
            pid: std::process::id(),
            requests: requests_rx.to_opaque(),
            replies: replies_tx.to_opaque(),
        })
        .map_err(|_| ProxyError::ManagerGone)?;
    match crate::ipc_retry::recv_timeout(&replies, CONNECT_TIMEOUT) {
        Ok(Reply::Welcome) => Ok(Connection { requests, replies }),
        Ok(Reply::Refused(why)) => Err(ProxyError::Refused(why)),
        Ok(_) => Err(ProxyError::Malformed(
            "the manager did not start with a welcome".into(),
        )),
        Err(TryRecvError::Empty) => Err(ProxyError::ManagerGone),
        Err(TryRecvError::IpcError(err)) => Err(gone_or_malformed(err)),
    }
}

fn gone_or_malformed(err: IpcError) -> ProxyError {
    match err {
        IpcError::SerializationError(e) => ProxyError::Malformed(format!("{e:?}")),
        _ => ProxyError::ManagerGone,
    }
}

impl<S: Served> Proxy<S> {
    pub(crate) fn new(manager: ManagerRef, object: u64) -> Self {
        Proxy {
            manager,
            object,
            _type: PhantomData,
        }
    }

    /// Moves `init` into the manager as a new object.
    pub(crate) fn create(manager: &ManagerRef, init: S::Init) -> Result<Self, ProxyError> {
        match round_trip::<S>(manager, Request::Create(init))? {
            Reply::Created(object) => Ok(Proxy::new(manager.clone(), object)),
            Reply::Returned(Err(err)) => Err(err),
            _ => Err(ProxyError::Malformed("unexpected answer to create".into())),
        }
    }

    /// Calls a method of the object. Used by generated proxies and the ready-made types.
    pub fn call(&self, call: S::Call) -> Result<S::Ret, ProxyError> {
        match round_trip::<S>(
            &self.manager,
            Request::Call {
                object: self.object,
                call,
            },
        )? {
            Reply::Returned(result) => result,
            _ => Err(ProxyError::Malformed("unexpected answer to a call".into())),
        }
    }

    /// [`call`](Self::call), awaited without blocking the runtime: the reply is looked for
    /// between yields to the runtime's other tasks for as long as a blocking call would spin,
    /// then awaited on a blocking thread (a slow method does not hold the runtime up).
    #[cfg(feature = "tokio")]
    pub async fn call_async(&self, call: S::Call) -> Result<S::Ret, ProxyError>
    where
        S: 'static,
    {
        let request = Request::Call {
            object: self.object,
            call,
        };
        match round_trip_async::<S>(&self.manager, request).await? {
            Reply::Returned(result) => result,
            _ => Err(ProxyError::Malformed("unexpected answer to a call".into())),
        }
    }

    /// For fault tests: sends bytes that are no request on a fresh connection.
    pub(crate) fn raw_connection_garbage(&self) -> Result<(), ProxyError> {
        let connection = connect::<S>(&self.manager)?;
        let raw = connection.requests.to_opaque().to::<Vec<u8>>();
        raw.send(vec![0xff; 9]).map_err(|_| ProxyError::ManagerGone)?;
        match crate::ipc_retry::recv(&connection.replies) {
            Ok(Reply::Returned(Err(err))) => Err(err),
            Ok(_) => Ok(()),
            Err(err) => Err(gone_or_malformed(err)),
        }
    }

    /// For access tests: the same proxy with another secret.
    #[doc(hidden)]
    pub fn with_secret(&self, secret: &str) -> Self {
        let mut manager = self.manager.clone();
        manager.secret = secret.to_string();
        // Another id: the pool keeps connections per manager id, and this is a stranger.
        manager.id ^= 0x5eed;
        Proxy::new(manager, self.object)
    }
}

/// Sends a request on a connection checked out for it.
fn send<S: Served>(connection: &Connection<S>, request: Request<S::Init, S::Call>) -> Result<(), ProxyError> {
    connection.requests.send(request).map_err(|err| match err {
        IpcError::SerializationError(e) => ProxyError::Malformed(format!("{e:?}")),
        _ => ProxyError::ManagerGone,
    })
}

/// [`round_trip`] without blocking the runtime it is awaited on.
#[cfg(feature = "tokio")]
async fn round_trip_async<S: Served + 'static>(
    manager: &ManagerRef,
    request: Request<S::Init, S::Call>,
) -> Result<Reply<S::Ret>, ProxyError> {
    use ipc_channel::TryRecvError;
    let connection = checkout::<S>(manager)?;
    send(&connection, request)?;
    let started = std::time::Instant::now();
    let (connection, reply) = loop {
        match connection.replies.try_recv() {
            Ok(reply) => break (connection, Ok(reply)),
            Err(TryRecvError::Empty) if started.elapsed() < crate::ipc_retry::SPIN => {
                // The CPU to the manager (on one CPU it cannot answer otherwise, as in the
                // blocking spin), then the runtime to its other tasks.
                std::thread::yield_now();
                tokio::task::yield_now().await
            }
            Err(TryRecvError::Empty) => {
                // A slow answer: waited for on a blocking thread, the connection with it.
                let waited = tokio::task::spawn_blocking(move || {
                    let reply = crate::ipc_retry::recv(&connection.replies);
                    (connection, reply)
                })
                .await
                .map_err(|e| ProxyError::Malformed(format!("the call's wait was cancelled: {e}")))?;
                break waited;
            }
            Err(TryRecvError::IpcError(err)) if crate::ipc_retry::interrupted(&err) => {}
            Err(TryRecvError::IpcError(err)) => break (connection, Err(err)),
        }
    };
    let reply = reply.map_err(gone_or_malformed)?;
    checkin(manager, connection);
    Ok(reply)
}

fn round_trip<S: Served>(
    manager: &ManagerRef,
    request: Request<S::Init, S::Call>,
) -> Result<Reply<S::Ret>, ProxyError> {
    let connection = checkout::<S>(manager)?;
    send(&connection, request)?;
    // Blocks until the manager answers (after a short look without sleeping: most answers come
    // within microseconds); a dead manager closes the channel at once.
    let reply = crate::ipc_retry::recv_spinning(&connection.replies, crate::ipc_retry::SPIN)
        .map_err(gone_or_malformed)?;
    checkin(manager, connection);
    Ok(reply)
}
