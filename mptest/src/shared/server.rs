//! The manager process: its connection point, its objects, one thread per connection.

use std::any::Any;
use std::collections::HashMap;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use ipc_channel::ipc::{self, IpcSender, OpaqueIpcReceiver, OpaqueIpcSender};
use ipc_channel::IpcError;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::wire::{Connect, Control, ManagerHello, ManagerRef, Reply, Request};
use super::ProxyError;
use crate::launch::role::Boot;

/// Who is calling: the connection a call came on. A lock held by a connection whose process
/// dies is released.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Caller {
    connection: u64,
    pid: u32,
}

impl Caller {
    /// Whether the calling process still runs (a zombie does not). A blocking call checks this
    /// while it waits, so a dead caller's pending `get` does not take an item nobody receives.
    pub fn is_alive(&self) -> bool {
        match std::fs::read_to_string(format!("/proc/{}/stat", self.pid)) {
            Ok(stat) => crate::procs::parse_state(&stat).is_some_and(|state| state != 'Z' && state != 'X'),
            // No /proc (not Linux): ask the kernel whether the pid exists.
            Err(_) if !std::path::Path::new("/proc/self").exists() => {
                nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid as i32), None).is_ok()
            }
            Err(_) => false,
        }
    }
}

/// A type whose objects live in the manager. `#[mptest::shared]` implements it (through
/// [`Locked`]); the ready-made types implement it directly.
pub trait Served: Send + Sync + 'static {
    /// What `create` sends.
    type Init: Serialize + DeserializeOwned + Send + 'static;
    /// A method call with its arguments.
    type Call: Serialize + DeserializeOwned + Send + 'static;
    /// A method's result.
    type Ret: Serialize + DeserializeOwned + Send + 'static;
    /// Registered by `#[mptest::shared]` (looked up by name); ready-made types are not.
    const REGISTERED: bool = false;
    /// The name the manager knows the type by.
    fn type_name() -> &'static str {
        std::any::type_name::<Self>()
    }
    /// Makes the object in the manager.
    fn create(init: Self::Init) -> Self;
    /// Runs one call. May block (a queue get): it blocks only this caller.
    fn call(&self, call: Self::Call, caller: Caller) -> Result<Self::Ret, ProxyError>;
    /// The caller's connection closed (its process may have died).
    fn caller_gone(&self, _caller: Caller) {}
}

/// What can travel between processes: serde both ways. Its own trait, so that a type that
/// cannot travel gets one error that says what to write, not serde's list of implementors.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot travel between processes: it is not Serialize + Deserialize",
    label = "this type travels to or from the manager",
    note = "put `#[mptest::shared]` on the definition of a type of yours (it derives what is needed), or derive `Serialize` and `Deserialize` for it"
)]
pub trait Travels: Serialize + DeserializeOwned {}

// Not recommended, so a type that cannot travel is reported as "cannot travel" (this trait's
// message), once, rather than as each serde trait it misses.
#[diagnostic::do_not_recommend]
impl<T: Serialize + DeserializeOwned> Travels for T {}

/// Serialization of a shared method's arguments and results through [`Travels`], so that a
/// type that cannot travel is one error at that type, not one per serde trait.
#[doc(hidden)]
pub mod travel {
    use super::Travels;

    pub fn serialize<T: Travels, S: serde::Serializer>(value: &T, serializer: S) -> Result<S::Ok, S::Error> {
        value.serialize(serializer)
    }

    pub fn deserialize<'de, T: Travels, D: serde::Deserializer<'de>>(deserializer: D) -> Result<T, D::Error> {
        T::deserialize(deserializer)
    }
}

/// What `#[mptest::shared]` implements for a type: its calls and how to apply one.
#[doc(hidden)]
pub trait SharedState: Travels + Send + 'static {
    /// One variant per method, holding its arguments.
    type Call: Serialize + DeserializeOwned + Send + 'static;
    /// One variant per method, holding its result.
    type Ret: Serialize + DeserializeOwned + Send + 'static;
    /// The generated proxy.
    type Proxy: From<super::Proxy<Locked<Self>>>;
    /// `module::Type`.
    const NAME: &'static str;
    /// Applies one call.
    fn dispatch(&mut self, call: Self::Call) -> Self::Ret;
}

/// A `#[mptest::shared]` value in the manager: one call at a time.
#[doc(hidden)]
pub struct Locked<T>(Mutex<T>);

impl<T: SharedState> Served for Locked<T> {
    type Init = T;
    type Call = T::Call;
    type Ret = T::Ret;
    const REGISTERED: bool = true;

    fn type_name() -> &'static str {
        T::NAME
    }

    fn create(init: T) -> Self {
        Locked(Mutex::new(init))
    }

    fn call(&self, call: T::Call, _caller: Caller) -> Result<T::Ret, ProxyError> {
        // A method that panicked earlier leaves the value as it left it; go on serving.
        let mut value = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        catch_panic(|| value.dispatch(call))
    }
}

/// Runs `f`, turning a panic into [`ProxyError::Panicked`].
pub(crate) fn catch_panic<R>(f: impl FnOnce() -> R) -> Result<R, ProxyError> {
    panic::catch_unwind(AssertUnwindSafe(f)).map_err(|_| {
        let record = crate::panics::take_last().unwrap_or_default();
        ProxyError::Panicked {
            message: record.message,
            location: record.location,
        }
    })
}

/// In the manager process: how to reach this very manager, for [`create_here`].
static HERE: std::sync::OnceLock<ManagerRef> = std::sync::OnceLock::new();

/// Inside a shared object's method (so, in the manager process): makes a new object in this
/// manager and returns its proxy — a sub-object, as SyncManager's `method_to_typeid`.
///
/// ```no_run
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Serialize, Deserialize)]
/// pub struct Room { name: String }
///
/// #[mptest::shared]
/// impl Room {
///     pub fn name(&self) -> String { self.name.clone() }
/// }
///
/// #[derive(Default, Serialize, Deserialize)]
/// pub struct House { rooms: Vec<RoomProxy> }
///
/// #[mptest::shared]
/// impl House {
///     pub fn add_room(&mut self, name: String) -> Result<RoomProxy, mptest::ProxyError> {
///         let room = mptest::shared::create_here(Room { name })?;
///         self.rooms.push(room.clone());
///         Ok(room)
///     }
/// }
/// ```
pub fn create_here<T: SharedState>(value: T) -> Result<T::Proxy, ProxyError> {
    let here = HERE.get().ok_or_else(|| {
        ProxyError::Failed(
            "create_here works only in a shared object's method, in the manager process".into(),
        )
    })?;
    super::Proxy::<Locked<T>>::create(here, value).map(T::Proxy::from)
}

/// Serves one connection; monomorphized per shared type.
#[doc(hidden)]
pub type ServeFn = fn(&Arc<ManagerState>, Caller, u32, OpaqueIpcReceiver, OpaqueIpcSender);

/// A `#[mptest::shared]` type, registered at link time so the manager can dispatch to it.
#[doc(hidden)]
pub struct SharedTypeDef {
    /// `module::Type`.
    pub name: &'static str,
    /// Its connection server.
    pub serve: ServeFn,
}

/// Every `#[mptest::shared]` type of the binary.
#[doc(hidden)]
#[linkme::distributed_slice]
pub static SHARED_TYPES: [SharedTypeDef];

/// The manager's objects.
#[doc(hidden)]
pub struct ManagerState {
    objects: RwLock<HashMap<u64, Arc<dyn Object>>>,
    next_id: AtomicU64,
}

/// An object of any shared type.
trait Object: Send + Sync {
    fn as_any(&self) -> &dyn Any;
    fn caller_gone(&self, caller: Caller);
}

impl<S: Served> Object for S {
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn caller_gone(&self, caller: Caller) {
        Served::caller_gone(self, caller)
    }
}

impl ManagerState {
    fn insert<S: Served>(&self, object: S) -> u64 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.objects
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id, Arc::new(object));
        id
    }

    fn get(&self, id: u64) -> Option<Arc<dyn Object>> {
        self.objects
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&id)
            .cloned()
    }

    fn caller_gone(&self, caller: Caller) {
        let objects: Vec<_> = self
            .objects
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .cloned()
            .collect();
        for object in objects {
            object.caller_gone(caller);
        }
    }
}

/// Serves one connection of shared type `S` until it closes.
#[doc(hidden)]
pub fn serve_connection<S: Served>(
    state: &Arc<ManagerState>,
    caller: Caller,
    pid: u32,
    requests: OpaqueIpcReceiver,
    replies: OpaqueIpcSender,
) {
    let requests = requests.to::<Request<S::Init, S::Call>>();
    let replies = replies.to::<Reply<S::Ret>>();
    if replies.send(Reply::Welcome).is_err() {
        return;
    }
    loop {
        // A busy client's next call comes within microseconds of the last answer: look for it
        // a moment before sleeping.
        let reply = match crate::ipc_retry::recv_spinning(&requests, crate::ipc_retry::SPIN) {
            Ok(Request::Create(init)) => match catch_panic(|| S::create(init)) {
                Ok(object) => Reply::Created(state.insert(object)),
                Err(err) => Reply::Returned(Err(err)),
            },
            Ok(Request::Call { object, call }) => {
                let target = state.get(object);
                let result = match target.as_deref().and_then(|o| o.as_any().downcast_ref::<S>()) {
                    Some(target) => target.call(call, caller),
                    None => Err(ProxyError::NoSuchObject(object)),
                };
                Reply::Returned(result)
            }
            Err(IpcError::Disconnected) => break,
            Err(IpcError::SerializationError(err)) => {
                // Answer, then drop the connection: its stream can no longer be trusted.
                eprintln!(
                    "mptest manager: malformed request from process {pid} ({err:?}); closing its connection"
                );
                let _ = replies.send(Reply::Returned(Err(ProxyError::Malformed(format!("{err:?}")))));
                break;
            }
            Err(IpcError::Io(_)) => break,
        };
        if replies.send(reply).is_err() {
            break; // the caller's process is gone
        }
    }
    state.caller_gone(caller);
}

/// The manager role: announce the connection point, serve connections, exit on shutdown or
/// when the owner goes away.
#[doc(hidden)]
pub(crate) fn run_manager(boot: Boot) -> ! {
    crate::panics::install_hook();
    let secret = std::env::var(super::wire::SECRET_VAR).unwrap_or_default();
    std::env::remove_var(super::wire::SECRET_VAR);
    let code = match serve_manager(&boot, &secret) {
        Ok(()) => 0,
        Err(err) => {
            eprintln!("mptest manager: {err}");
            crate::EXIT_USAGE
        }
    };
    std::process::exit(code)
}

fn serve_manager(boot: &Boot, secret: &str) -> Result<(), String> {
    if secret.is_empty() {
        return Err(format!("no secret in {}", super::wire::SECRET_VAR));
    }
    let (connector, connections) = ipc::channel::<Connect>().map_err(|e| e.to_string())?;
    let (control_tx, control) = ipc::channel::<Control>().map_err(|e| e.to_string())?;
    let here = ManagerRef {
        id: super::wire::manager_id(secret, std::process::id()),
        secret: secret.to_string(),
        connector: connector.clone().to_opaque(),
    };
    let _ = HERE.set(here);
    let owner = IpcSender::<ManagerHello>::connect(boot.server.clone())
        .map_err(|e| format!("cannot connect to {:?}: {e}", boot.server))?;
    owner
        .send(ManagerHello {
            connector,
            control: control_tx,
        })
        .map_err(|e| e.to_string())?;
    drop(owner);

    let state = Arc::new(ManagerState {
        objects: RwLock::new(HashMap::new()),
        next_id: AtomicU64::new(1),
    });
    let accept_state = state.clone();
    let secret = secret.to_string();
    std::thread::Builder::new()
        .name("mptest-accept".into())
        .spawn(move || accept(&accept_state, &secret, connections))
        .map_err(|e| e.to_string())?;

    // Shutdown, or the owner gone (its control sender closed): drop the objects and leave.
    let _ = crate::ipc_retry::recv(&control);
    let objects = std::mem::take(&mut *state.objects.write().unwrap_or_else(PoisonError::into_inner));
    drop(objects);
    Ok(())
}

fn accept(state: &Arc<ManagerState>, secret: &str, connections: ipc::IpcReceiver<Connect>) {
    let next_connection = AtomicU64::new(1);
    loop {
        let connect = match crate::ipc_retry::recv(&connections) {
            Ok(connect) => connect,
            Err(IpcError::SerializationError(err)) => {
                eprintln!("mptest manager: malformed connection request ({err:?}); ignored");
                continue;
            }
            Err(_) => return, // every process holding the connection point is gone
        };
        let refuse = |why: String| {
            eprintln!(
                "mptest manager: refused a connection from process {}: {why}",
                connect.pid
            );
            let _ = connect
                .replies
                .clone()
                .to::<Reply<()>>()
                .send(Reply::Refused(why));
        };
        if !constant_time_eq(connect.secret.as_bytes(), secret.as_bytes()) {
            refuse("wrong secret".into());
            continue;
        }
        let serve: ServeFn = if connect.registered {
            match SHARED_TYPES.iter().find(|t| t.name == connect.type_name) {
                Some(def) => def.serve,
                None => {
                    refuse(format!(
                        "type {} is not registered with #[mptest::shared] in this binary",
                        connect.type_name
                    ));
                    continue;
                }
            }
        } else if connect.type_name.starts_with("mptest::") {
            // SAFETY: only processes of this run reach the connection point (they hold the
            // sender and the secret) and they all run this same binary, where the offset
            // was taken from a `ServeFn` for this ready-made type.
            unsafe { std::mem::transmute::<usize, ServeFn>(crate::spawn::from_offset(connect.serve_offset)) }
        } else {
            refuse(format!("unknown type {}", connect.type_name));
            continue;
        };
        let caller = Caller {
            connection: next_connection.fetch_add(1, Ordering::Relaxed),
            pid: connect.pid,
        };
        let state = state.clone();
        let Connect {
            pid,
            requests,
            replies,
            ..
        } = connect;
        let _ = std::thread::Builder::new()
            .name(format!("mptest-conn-{}", caller.connection))
            .spawn(move || serve(&state, caller, pid, requests, replies));
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Fault injection for mptest's own tests: a client that misbehaves on its connection.
#[doc(hidden)]
pub mod fault {
    use super::*;

    /// Opens a connection for `S` and sends bytes that are no request; returns the reply.
    pub fn send_garbage<S: Served>(proxy: &super::super::Proxy<S>) -> Result<(), ProxyError> {
        proxy.raw_connection_garbage()
    }
}
