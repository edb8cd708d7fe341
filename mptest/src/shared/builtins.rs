//! The ready-made shared types: value, vector, map, queue, event, barrier, lock.
//!
//! Each is a server type living in the manager (`...Server`, implementing [`Served`]) and a
//! client type wrapping its [`Proxy`]. Blocking calls wait on a condition variable in the
//! manager, on the caller's own connection thread, so they block only their caller.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::server::{catch_panic, Caller, Served};
use super::{Proxy, ProxyError};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// How often a blocked call looks whether its caller still lives.
const LIVENESS_CHECK: Duration = Duration::from_millis(100);

/// Why a wait ended without its condition.
enum WaitEnd {
    TimedOut,
    CallerGone,
}

impl From<WaitEnd> for ProxyError {
    fn from(end: WaitEnd) -> Self {
        match end {
            WaitEnd::TimedOut => ProxyError::Timeout,
            // Nobody will read this answer.
            WaitEnd::CallerGone => ProxyError::Failed("the caller's process is gone".into()),
        }
    }
}

/// Waits on `cv` until `ready` holds, `timeout` passes, or the caller's process dies.
fn wait_until<'a, T>(
    cv: &Condvar,
    mut guard: MutexGuard<'a, T>,
    timeout: Option<Duration>,
    caller: Caller,
    mut ready: impl FnMut(&mut T) -> bool,
) -> Result<MutexGuard<'a, T>, (MutexGuard<'a, T>, WaitEnd)> {
    let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
    while !ready(&mut guard) {
        let mut slice = LIVENESS_CHECK;
        if let Some(deadline) = deadline {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err((guard, WaitEnd::TimedOut));
            }
            slice = slice.min(left);
        }
        guard = cv
            .wait_timeout(guard, slice)
            .unwrap_or_else(PoisonError::into_inner)
            .0;
        // After every wake: a dead caller must not take what it can no longer receive.
        if !caller.is_alive() {
            return Err((guard, WaitEnd::CallerGone));
        }
    }
    Ok(guard)
}

/// `Clone` and `Debug` for a generic client type, whose type parameters need neither (derive
/// would ask for them).
macro_rules! generic_client {
    ($name:ident<$($param:ident),+>) => {
        impl<$($param),+> Clone for $name<$($param),+> {
            fn clone(&self) -> Self {
                $name { proxy: self.proxy.clone() }
            }
        }

        impl<$($param),+> std::fmt::Debug for $name<$($param),+> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.proxy.fmt(f)
            }
        }
    };
}

/// Unwraps the variant a call must answer with.
macro_rules! expect {
    ($result:expr, $pat:pat => $out:expr) => {
        match $result? {
            $pat => Ok($out),
            #[allow(unreachable_patterns)]
            _ => Err(ProxyError::Malformed("the manager answered another call".into())),
        }
    };
}

/// Each method of a ready-made type twice: as written, and (with the `tokio` feature) as
/// `<name>_async`, awaited without blocking the runtime. `|r| then`: what the method makes of
/// the call's result `r`.
macro_rules! calls {
    ($(
        $(#[$doc:meta])*
        fn $name:ident / $async_name:ident ($($arg:ident: $ty:ty),*) -> $ret:ty = $call:expr, |$r:ident| $then:expr;
    )*) => {$(
        $(#[$doc])*
        pub fn $name(&self, $($arg: $ty),*) -> Result<$ret, ProxyError> {
            let $r = self.proxy.call($call);
            $then
        }

        #[doc = concat!("[`", stringify!($name), "`](Self::", stringify!($name), "), awaited: it never blocks the runtime.")]
        #[cfg(feature = "tokio")]
        pub async fn $async_name(&self, $($arg: $ty),*) -> Result<$ret, ProxyError> {
            let $r = self.proxy.call_async($call).await;
            $then
        }
    )*};
}

// ---------------------------------------------------------------- value

#[doc(hidden)]
pub struct ValueServer<T>(Mutex<T>);

#[doc(hidden)]
#[derive(Serialize, Deserialize)]
pub enum ValueCall<T> {
    Get,
    Set(T),
    /// Offset of a `fn(T) -> T` in this binary.
    Update(usize),
}

impl<T: Serialize + DeserializeOwned + Clone + Send + Sync + 'static> Served for ValueServer<T> {
    type Init = T;
    type Call = ValueCall<T>;
    type Ret = T;
    fn create(init: T) -> Self {
        ValueServer(Mutex::new(init))
    }
    fn call(&self, call: ValueCall<T>, _: Caller) -> Result<T, ProxyError> {
        let mut value = lock(&self.0);
        match call {
            ValueCall::Get => Ok(value.clone()),
            ValueCall::Set(new) => Ok(std::mem::replace(&mut *value, new)),
            ValueCall::Update(offset) => {
                // SAFETY: the offset was taken from a `fn(T) -> T` of this same binary (see
                // `SharedValue::update`); only processes of this run reach the manager.
                let f =
                    unsafe { std::mem::transmute::<usize, fn(T) -> T>(crate::spawn::from_offset(offset)) };
                let new = catch_panic(|| f(value.clone()))?;
                *value = new.clone();
                Ok(new)
            }
        }
    }
}

/// A value in the manager. Made by [`Manager::value`](super::Manager::value).
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
pub struct SharedValue<T> {
    proxy: Proxy<ValueServer<T>>,
}

generic_client!(SharedValue<T>);

impl<T: Serialize + DeserializeOwned + Clone + Send + Sync + 'static> SharedValue<T> {
    pub(crate) fn from_proxy(proxy: Proxy<ValueServer<T>>) -> Self {
        SharedValue { proxy }
    }
    /// The underlying proxy (for mptest's own fault tests).
    #[doc(hidden)]
    pub fn proxy(&self) -> &Proxy<ValueServer<T>> {
        &self.proxy
    }
    /// Applies `f` in the manager, atomically; returns the new value. `f` must not capture.
    pub fn update(&self, f: fn(T) -> T) -> Result<T, ProxyError> {
        self.proxy
            .call(ValueCall::Update(crate::spawn::to_offset(f as usize)))
    }
    calls! {
        /// The current value.
        fn get / get_async () -> T = ValueCall::Get, |r| r;
        /// Replaces the value; returns the old one.
        fn set / set_async (value: T) -> T = ValueCall::Set(value), |r| r;
    }
}

// ---------------------------------------------------------------- vec

#[doc(hidden)]
pub struct VecServer<T>(Mutex<Vec<T>>);

#[doc(hidden)]
#[derive(Serialize, Deserialize)]
pub enum VecCall<T> {
    Push(T),
    Pop,
    Get(usize),
    Set(usize, T),
    Len,
    All,
    Clear,
}

#[doc(hidden)]
#[derive(Serialize, Deserialize)]
pub enum VecRet<T> {
    Item(Option<T>),
    Len(usize),
    All(Vec<T>),
    Done,
}

impl<T: Serialize + DeserializeOwned + Clone + Send + Sync + 'static> Served for VecServer<T> {
    type Init = Vec<T>;
    type Call = VecCall<T>;
    type Ret = VecRet<T>;
    fn create(init: Vec<T>) -> Self {
        VecServer(Mutex::new(init))
    }
    fn call(&self, call: VecCall<T>, _: Caller) -> Result<VecRet<T>, ProxyError> {
        let mut v = lock(&self.0);
        Ok(match call {
            VecCall::Push(item) => {
                v.push(item);
                VecRet::Len(v.len())
            }
            VecCall::Pop => VecRet::Item(v.pop()),
            VecCall::Get(i) => VecRet::Item(v.get(i).cloned()),
            VecCall::Set(i, item) => match v.get_mut(i) {
                Some(slot) => VecRet::Item(Some(std::mem::replace(slot, item))),
                None => {
                    return Err(ProxyError::Failed(format!(
                        "index {i} out of range for length {}",
                        v.len()
                    )))
                }
            },
            VecCall::Len => VecRet::Len(v.len()),
            VecCall::All => VecRet::All(v.clone()),
            VecCall::Clear => {
                v.clear();
                VecRet::Done
            }
        })
    }
}

/// A vector in the manager. Made by [`Manager::vec`](super::Manager::vec).
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
pub struct SharedVec<T> {
    proxy: Proxy<VecServer<T>>,
}

generic_client!(SharedVec<T>);

impl<T: Serialize + DeserializeOwned + Clone + Send + Sync + 'static> SharedVec<T> {
    pub(crate) fn from_proxy(proxy: Proxy<VecServer<T>>) -> Self {
        SharedVec { proxy }
    }
    calls! {
        /// Appends an item; returns the new length.
        fn push / push_async (item: T) -> usize = VecCall::Push(item), |r| expect!(r, VecRet::Len(n) => n);
        /// Removes the last item.
        fn pop / pop_async () -> Option<T> = VecCall::Pop, |r| expect!(r, VecRet::Item(item) => item);
        /// The item at `index`.
        fn get / get_async (index: usize) -> Option<T> = VecCall::Get(index), |r| expect!(r, VecRet::Item(item) => item);
        /// Replaces the item at `index`; returns the old one.
        fn set / set_async (index: usize, item: T) -> T = VecCall::Set(index, item), |r| expect!(r, VecRet::Item(Some(old)) => old);
        /// The number of items.
        fn len / len_async () -> usize = VecCall::Len, |r| expect!(r, VecRet::Len(n) => n);
        /// True when empty.
        fn is_empty / is_empty_async () -> bool = VecCall::Len, |r| expect!(r, VecRet::Len(n) => n == 0);
        /// A copy of all items.
        fn to_vec / to_vec_async () -> Vec<T> = VecCall::All, |r| expect!(r, VecRet::All(items) => items);
        /// Removes all items.
        fn clear / clear_async () -> () = VecCall::Clear, |r| expect!(r, VecRet::Done => ());
    }
}

// ---------------------------------------------------------------- map

#[doc(hidden)]
pub struct MapServer<K, V>(Mutex<HashMap<K, V>>);

#[doc(hidden)]
#[derive(Serialize, Deserialize)]
pub enum MapCall<K, V> {
    Insert(K, V),
    Get(K),
    Remove(K),
    Len,
    Keys,
}

#[doc(hidden)]
#[derive(Serialize, Deserialize)]
pub enum MapRet<K, V> {
    Value(Option<V>),
    Len(usize),
    Keys(Vec<K>),
}

impl<K, V> Served for MapServer<K, V>
where
    K: Serialize + DeserializeOwned + Eq + Hash + Clone + Send + Sync + 'static,
    V: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
{
    type Init = ();
    type Call = MapCall<K, V>;
    type Ret = MapRet<K, V>;
    fn create(_: ()) -> Self {
        MapServer(Mutex::new(HashMap::new()))
    }
    fn call(&self, call: MapCall<K, V>, _: Caller) -> Result<MapRet<K, V>, ProxyError> {
        let mut map = lock(&self.0);
        Ok(match call {
            MapCall::Insert(k, v) => MapRet::Value(map.insert(k, v)),
            MapCall::Get(k) => MapRet::Value(map.get(&k).cloned()),
            MapCall::Remove(k) => MapRet::Value(map.remove(&k)),
            MapCall::Len => MapRet::Len(map.len()),
            MapCall::Keys => MapRet::Keys(map.keys().cloned().collect()),
        })
    }
}

/// A hash map in the manager. Made by [`Manager::map`](super::Manager::map).
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
pub struct SharedMap<K, V> {
    proxy: Proxy<MapServer<K, V>>,
}

generic_client!(SharedMap<K, V>);

impl<K, V> SharedMap<K, V>
where
    K: Serialize + DeserializeOwned + Eq + Hash + Clone + Send + Sync + 'static,
    V: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
{
    pub(crate) fn from_proxy(proxy: Proxy<MapServer<K, V>>) -> Self {
        SharedMap { proxy }
    }
    calls! {
        /// Inserts; returns the value it replaced.
        fn insert / insert_async (key: K, value: V) -> Option<V> = MapCall::Insert(key, value), |r| expect!(r, MapRet::Value(old) => old);
        /// The value for `key`.
        fn get / get_async (key: K) -> Option<V> = MapCall::Get(key), |r| expect!(r, MapRet::Value(v) => v);
        /// Removes `key`; returns its value.
        fn remove / remove_async (key: K) -> Option<V> = MapCall::Remove(key), |r| expect!(r, MapRet::Value(v) => v);
        /// The number of entries.
        fn len / len_async () -> usize = MapCall::Len, |r| expect!(r, MapRet::Len(n) => n);
        /// True when empty.
        fn is_empty / is_empty_async () -> bool = MapCall::Len, |r| expect!(r, MapRet::Len(n) => n == 0);
        /// All keys, in no particular order.
        fn keys / keys_async () -> Vec<K> = MapCall::Keys, |r| expect!(r, MapRet::Keys(keys) => keys);
    }
}

// ---------------------------------------------------------------- queue

#[doc(hidden)]
pub struct QueueServer<T> {
    items: Mutex<VecDeque<T>>,
    changed: Condvar,
    capacity: Option<usize>,
}

#[doc(hidden)]
#[derive(Serialize, Deserialize)]
pub enum QueueCall<T> {
    Put(T, Option<Duration>),
    TryPut(T),
    Get(Option<Duration>),
    TryGet,
    Len,
}

#[doc(hidden)]
#[derive(Serialize, Deserialize)]
pub enum QueueRet<T> {
    Put,
    Full(T),
    Item(Option<T>),
    Len(usize),
}

impl<T: Serialize + DeserializeOwned + Send + Sync + 'static> Served for QueueServer<T> {
    type Init = Option<usize>;
    type Call = QueueCall<T>;
    type Ret = QueueRet<T>;
    fn create(capacity: Option<usize>) -> Self {
        QueueServer {
            items: Mutex::new(VecDeque::new()),
            changed: Condvar::new(),
            capacity,
        }
    }
    fn call(&self, call: QueueCall<T>, caller: Caller) -> Result<QueueRet<T>, ProxyError> {
        let cap = self.capacity.unwrap_or(usize::MAX);
        let ret = match call {
            QueueCall::Put(item, timeout) => {
                let mut items = wait_until(&self.changed, lock(&self.items), timeout, caller, |q| {
                    q.len() < cap
                })
                .map_err(|(_, end)| ProxyError::from(end))?;
                items.push_back(item);
                QueueRet::Put
            }
            QueueCall::TryPut(item) => {
                let mut items = lock(&self.items);
                if items.len() >= cap {
                    return Ok(QueueRet::Full(item));
                }
                items.push_back(item);
                QueueRet::Put
            }
            QueueCall::Get(timeout) => {
                let mut items = wait_until(&self.changed, lock(&self.items), timeout, caller, |q| {
                    !q.is_empty()
                })
                .map_err(|(_, end)| ProxyError::from(end))?;
                QueueRet::Item(items.pop_front())
            }
            QueueCall::TryGet => QueueRet::Item(lock(&self.items).pop_front()),
            QueueCall::Len => return Ok(QueueRet::Len(lock(&self.items).len())),
        };
        // Getters wait for items, putters for room: wake both kinds.
        self.changed.notify_all();
        Ok(ret)
    }
}

/// A FIFO queue in the manager, bounded or not. Made by [`Manager::queue`](super::Manager::queue).
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
pub struct SharedQueue<T> {
    proxy: Proxy<QueueServer<T>>,
}

generic_client!(SharedQueue<T>);

impl<T: Serialize + DeserializeOwned + Send + Sync + 'static> SharedQueue<T> {
    pub(crate) fn from_proxy(proxy: Proxy<QueueServer<T>>) -> Self {
        SharedQueue { proxy }
    }
    calls! {
        /// Appends an item, waiting for room in a bounded queue.
        fn put / put_async (item: T) -> () = QueueCall::Put(item, None), |r| expect!(r, QueueRet::Put => ());
        /// Appends an item, waiting at most `timeout` for room ([`ProxyError::Timeout`] then).
        fn put_timeout / put_timeout_async (item: T, timeout: Duration) -> () = QueueCall::Put(item, Some(timeout)), |r| expect!(r, QueueRet::Put => ());
        /// Appends an item if there is room; gives it back if not.
        fn try_put / try_put_async (item: T) -> Result<(), T> = QueueCall::TryPut(item), |r| match r? { QueueRet::Put => Ok(Ok(())), QueueRet::Full(item) => Ok(Err(item)), _ => Err(ProxyError::Malformed("the manager answered another call".into())) };
        /// Takes the oldest item, waiting for one.
        fn get / get_async () -> T = QueueCall::Get(None), |r| expect!(r, QueueRet::Item(Some(item)) => item);
        /// Takes the oldest item, waiting at most `timeout` ([`ProxyError::Timeout`] then).
        fn get_timeout / get_timeout_async (timeout: Duration) -> T = QueueCall::Get(Some(timeout)), |r| expect!(r, QueueRet::Item(Some(item)) => item);
        /// Takes the oldest item if there is one.
        fn try_get / try_get_async () -> Option<T> = QueueCall::TryGet, |r| expect!(r, QueueRet::Item(item) => item);
        /// The number of items waiting.
        fn len / len_async () -> usize = QueueCall::Len, |r| expect!(r, QueueRet::Len(n) => n);
        /// True when no item waits.
        fn is_empty / is_empty_async () -> bool = QueueCall::Len, |r| expect!(r, QueueRet::Len(n) => n == 0);
    }
}

// ---------------------------------------------------------------- event

#[doc(hidden)]
pub struct EventServer {
    set: Mutex<bool>,
    changed: Condvar,
}

#[doc(hidden)]
#[derive(Serialize, Deserialize)]
pub enum EventCall {
    Set,
    Clear,
    IsSet,
    Wait(Option<Duration>),
}

impl Served for EventServer {
    type Init = ();
    type Call = EventCall;
    type Ret = bool;
    fn create(_: ()) -> Self {
        EventServer {
            set: Mutex::new(false),
            changed: Condvar::new(),
        }
    }
    fn call(&self, call: EventCall, caller: Caller) -> Result<bool, ProxyError> {
        match call {
            EventCall::Set => {
                *lock(&self.set) = true;
                self.changed.notify_all();
                Ok(true)
            }
            EventCall::Clear => {
                *lock(&self.set) = false;
                Ok(false)
            }
            EventCall::IsSet => Ok(*lock(&self.set)),
            EventCall::Wait(timeout) => {
                match wait_until(&self.changed, lock(&self.set), timeout, caller, |s| *s) {
                    Ok(_) => Ok(true),
                    Err((_, WaitEnd::TimedOut)) => Ok(false),
                    Err((_, end)) => Err(end.into()),
                }
            }
        }
    }
}

/// An event flag in the manager, as `threading.Event`. Made by
/// [`Manager::event`](super::Manager::event).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SharedEvent {
    proxy: Proxy<EventServer>,
}

impl SharedEvent {
    pub(crate) fn from_proxy(proxy: Proxy<EventServer>) -> Self {
        SharedEvent { proxy }
    }
    calls! {
        /// Sets the flag and wakes every waiter.
        fn set / set_async () -> () = EventCall::Set, |r| r.map(drop);
        /// Clears the flag.
        fn clear / clear_async () -> () = EventCall::Clear, |r| r.map(drop);
        /// Whether the flag is set.
        fn is_set / is_set_async () -> bool = EventCall::IsSet, |r| r;
        /// Waits until the flag is set or `timeout` passes (`None`: no limit); returns whether it
        /// is set.
        fn wait / wait_async (timeout: Option<Duration>) -> bool = EventCall::Wait(timeout), |r| r;
    }
}

// ---------------------------------------------------------------- barrier

#[doc(hidden)]
pub struct BarrierServer {
    parties: usize,
    /// (waiting, generation)
    state: Mutex<(usize, u64)>,
    changed: Condvar,
}

impl Served for BarrierServer {
    type Init = usize;
    type Call = Option<Duration>;
    type Ret = usize;
    fn create(parties: usize) -> Self {
        BarrierServer {
            parties: parties.max(1),
            state: Mutex::new((0, 0)),
            changed: Condvar::new(),
        }
    }
    fn call(&self, timeout: Option<Duration>, caller: Caller) -> Result<usize, ProxyError> {
        let mut state = lock(&self.state);
        let arrival = state.0;
        state.0 += 1;
        if state.0 == self.parties {
            *state = (0, state.1 + 1);
            self.changed.notify_all();
            return Ok(arrival);
        }
        let generation = state.1;
        match wait_until(&self.changed, state, timeout, caller, |s| s.1 != generation) {
            Ok(_) => Ok(arrival),
            Err((mut state, end)) => {
                state.0 -= 1; // leave the barrier
                Err(end.into())
            }
        }
    }
}

/// A barrier in the manager: `wait` returns when `parties` callers wait. Made by
/// [`Manager::barrier`](super::Manager::barrier).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SharedBarrier {
    proxy: Proxy<BarrierServer>,
}

impl SharedBarrier {
    pub(crate) fn from_proxy(proxy: Proxy<BarrierServer>) -> Self {
        SharedBarrier { proxy }
    }
    calls! {
        /// Waits for all parties (at most `timeout`); returns this caller's arrival index.
        fn wait / wait_async (timeout: Option<Duration>) -> usize = timeout, |r| r;
    }
}

// ---------------------------------------------------------------- lock

#[doc(hidden)]
pub struct LockServer {
    /// The holder: its token and connection.
    holder: Mutex<Option<(u64, Caller)>>,
    next_token: Mutex<u64>,
    changed: Condvar,
}

#[doc(hidden)]
#[derive(Serialize, Deserialize)]
pub enum LockCall {
    Acquire(Option<Duration>),
    Release(u64),
}

impl Served for LockServer {
    type Init = ();
    type Call = LockCall;
    type Ret = u64;
    fn create(_: ()) -> Self {
        LockServer {
            holder: Mutex::new(None),
            next_token: Mutex::new(1),
            changed: Condvar::new(),
        }
    }
    fn call(&self, call: LockCall, caller: Caller) -> Result<u64, ProxyError> {
        match call {
            LockCall::Acquire(timeout) => {
                let mut holder = wait_until(&self.changed, lock(&self.holder), timeout, caller, |h| {
                    h.is_none()
                })
                .map_err(|(_, end)| ProxyError::from(end))?;
                let mut next = lock(&self.next_token);
                let token = *next;
                *next += 1;
                *holder = Some((token, caller));
                Ok(token)
            }
            LockCall::Release(token) => {
                let mut holder = lock(&self.holder);
                match *holder {
                    Some((held, _)) if held == token => {
                        *holder = None;
                        self.changed.notify_all();
                        Ok(token)
                    }
                    _ => Err(ProxyError::Failed("this lock is not held by the caller".into())),
                }
            }
        }
    }
    fn caller_gone(&self, caller: Caller) {
        let mut holder = lock(&self.holder);
        if holder.is_some_and(|(_, c)| c == caller) {
            *holder = None;
            self.changed.notify_all();
        }
    }
}

/// A cross-process mutex in the manager. Released by its guard, or when the holder's process
/// dies. Made by [`Manager::lock`](super::Manager::lock).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SharedLock {
    proxy: Proxy<LockServer>,
}

/// Holds a [`SharedLock`] until dropped (or [`release`](SharedLockGuard::release)d).
#[must_use = "the lock is released when the guard is dropped"]
pub struct SharedLockGuard<'a> {
    lock: &'a SharedLock,
    token: u64,
    released: bool,
}

impl SharedLock {
    pub(crate) fn from_proxy(proxy: Proxy<LockServer>) -> Self {
        SharedLock { proxy }
    }
    /// Waits for the lock (at most `timeout`; `None`: no limit).
    pub fn acquire(&self, timeout: Option<Duration>) -> Result<SharedLockGuard<'_>, ProxyError> {
        let token = self.proxy.call(LockCall::Acquire(timeout))?;
        Ok(SharedLockGuard {
            lock: self,
            token,
            released: false,
        })
    }
}

#[cfg(feature = "tokio")]
impl SharedLock {
    /// [`acquire`](Self::acquire), awaited: it never blocks the runtime (the guard's drop
    /// releases with a quick blocking call; [`release_async`](SharedLockGuard::release_async)
    /// does not block at all).
    pub async fn acquire_async(&self, timeout: Option<Duration>) -> Result<SharedLockGuard<'_>, ProxyError> {
        let token = self.proxy.call_async(LockCall::Acquire(timeout)).await?;
        Ok(SharedLockGuard {
            lock: self,
            token,
            released: false,
        })
    }
}

#[cfg(feature = "tokio")]
impl SharedLockGuard<'_> {
    /// [`release`](Self::release), awaited.
    pub async fn release_async(mut self) -> Result<(), ProxyError> {
        self.released = true;
        self.lock.proxy.call_async(LockCall::Release(self.token)).await.map(drop)
    }
}

impl SharedLockGuard<'_> {
    /// Releases the lock now, reporting a failure (the manager gone).
    pub fn release(mut self) -> Result<(), ProxyError> {
        self.released = true;
        self.lock.proxy.call(LockCall::Release(self.token)).map(drop)
    }
}

impl Drop for SharedLockGuard<'_> {
    fn drop(&mut self) {
        if !self.released {
            let _ = self.lock.proxy.call(LockCall::Release(self.token));
        }
    }
}
