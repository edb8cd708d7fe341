//! `mptest::spawn`, the manager, `#[mptest::shared]` proxies and the ready-made shared types,
//! including every failure case of issue #3. This suite runs under mptest itself.

use std::time::{Duration, Instant};

use mptest::prelude::*;
use mptest::{ChildError, SharedEvent, SharedLock, SharedQueue};
use serde::{Deserialize, Serialize};

/// Bounds every wait in this file: past it a test fails instead of hanging.
const LIMIT: Duration = Duration::from_secs(20);

#[derive(Default, Serialize, Deserialize)]
pub struct Counter {
    n: u64,
}

#[mptest::shared]
impl Counter {
    /// Adds `by`; returns the new count.
    pub fn incr(&mut self, by: u64) -> u64 {
        self.n += by;
        self.n
    }

    pub fn get(&self) -> u64 {
        self.n
    }

    pub fn explode(&mut self, why: String) -> u64 {
        panic!("counter exploded: {why}");
    }

    /// Not proxied: takes no `self`.
    pub fn starting_at(n: u64) -> Self {
        Counter { n }
    }
}

#[derive(Default, Serialize, Deserialize)]
pub struct Thermostat {
    target: f64,
}

#[mptest::shared]
impl Thermostat {
    pub fn set_target(&mut self, target: f64) {
        self.target = target;
    }

    pub fn target(&self) -> f64 {
        self.target
    }
}

/// A shared object holding a proxy to another one.
#[derive(Serialize, Deserialize)]
pub struct Building {
    thermostat: ThermostatProxy,
    name: String,
}

#[mptest::shared]
impl Building {
    pub fn thermostat(&self) -> ThermostatProxy {
        self.thermostat.clone()
    }

    pub fn name(&self) -> String {
        self.name.clone()
    }
}

#[derive(Serialize, Deserialize)]
pub struct Room {
    name: String,
    lamps: u32,
}

#[mptest::shared]
impl Room {
    pub fn name(&self) -> String {
        self.name.clone()
    }

    pub fn add_lamp(&mut self) -> u32 {
        self.lamps += 1;
        self.lamps
    }
}

#[derive(Default, Serialize, Deserialize)]
pub struct House {
    rooms: Vec<RoomProxy>,
}

#[mptest::shared]
impl House {
    /// Makes a sub-object in the manager and hands out its proxy.
    pub fn add_room(&mut self, name: String) -> Result<RoomProxy, ProxyError> {
        let room = mptest::shared::create_here(Room { name, lamps: 0 })?;
        self.rooms.push(room.clone());
        Ok(room)
    }

    pub fn rooms(&self) -> Vec<RoomProxy> {
        self.rooms.clone()
    }
}

/// Proxies are what the issue promises: cloneable, shareable, sendable.
#[allow(dead_code)]
fn proxies_are_clone_send_sync_and_serde() {
    fn check<T: Clone + Send + Sync + Serialize + for<'de> Deserialize<'de>>() {}
    check::<CounterProxy>();
    check::<mptest::SharedValue<u8>>();
    check::<mptest::SharedVec<u8>>();
    check::<mptest::SharedMap<u8, u8>>();
    check::<SharedQueue<u8>>();
    check::<SharedEvent>();
    check::<mptest::SharedBarrier>();
    check::<SharedLock>();
}

// ------------------------------------------------------------------ spawn

#[mp_test(timeout = "30s")]
fn spawn_returns_the_childs_value() {
    let child = mptest::spawn(21u32, |n| (n * 2, std::process::id()));
    let pid = child.pid();
    let (value, child_pid) = child.join().unwrap();
    assert_eq!(value, 42);
    assert_eq!(child_pid, pid);
    assert_ne!(child_pid, std::process::id());
}

#[mp_test(timeout = "30s")]
fn spawn_reports_a_panic_with_message_and_location() {
    let err = mptest::spawn("valve 3".to_string(), |what: String| -> u8 {
        panic!("{what} is stuck")
    })
    .join()
    .unwrap_err();
    assert!(err.is_panic(), "{err:?}");
    match err {
        ChildError::Panicked { message, location } => {
            assert_eq!(message, "valve 3 is stuck");
            assert!(location.starts_with("selftest/tests/shared.rs:"), "{location}");
        }
        other => panic!("{other:?}"),
    }
}

#[mp_test(timeout = "30s")]
fn spawn_reports_signals_and_exit_codes() {
    let aborted = mptest::spawn::<_, ()>((), |()| std::process::abort())
        .join()
        .unwrap_err();
    assert!(aborted.is_crash(), "{aborted:?}");
    assert!(
        matches!(aborted, ChildError::Crashed { signal: Some(6), .. }),
        "{aborted:?}"
    );
    assert!(aborted.to_string().contains("SIGABRT"), "{aborted}");
    let exited = mptest::spawn::<_, ()>((), |()| std::process::exit(3))
        .join()
        .unwrap_err();
    assert!(
        matches!(
            exited,
            ChildError::Crashed {
                code: Some(3),
                signal: None,
                ..
            }
        ),
        "{exited:?}"
    );
}

/// Counts the drops of its values in this process; each drop is slow, which widens the moment
/// between a spawn's argument being sent and the parent's copy being dropped.
#[derive(Serialize, Deserialize)]
struct SlowToDrop(u32);

static SLOW_DROPS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

impl Drop for SlowToDrop {
    fn drop(&mut self) {
        // A gate, not a wait for another process: the child answers within this time, so a
        // join that does not wait for the parent's copy to go returns before it has.
        std::thread::sleep(Duration::from_millis(300));
        SLOW_DROPS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

#[mp_test(timeout = "30s")]
fn the_parents_copy_of_an_argument_is_dropped_when_join_returns() {
    // A `Recorder` handed to a child and dropped after `join` must be gone then (its owner's
    // hold released): the argument's copy in the parent is dropped before `join` returns.
    let doubled = mptest::spawn(SlowToDrop(21), |arg: SlowToDrop| {
        let value = arg.0 * 2;
        std::mem::forget(arg); // the child answers at once
        value
    });
    assert_eq!(doubled.join().unwrap(), 42);
    assert_eq!(SLOW_DROPS.load(std::sync::atomic::Ordering::SeqCst), 1);
}

#[mp_test(timeout = "30s")]
fn join_timeout_then_join_and_kill() {
    let mgr = Manager::start().unwrap();
    let go = mgr.event().unwrap();
    let mut child = mptest::spawn(go.clone(), |go: SharedEvent| go.wait(None).unwrap());
    let err = child.join_timeout(Duration::from_millis(100)).unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    go.set().unwrap();
    assert!(child.join_timeout(LIMIT).unwrap());

    let never = mgr.event().unwrap();
    let mut stuck = mptest::spawn(never, |never: SharedEvent| never.wait(None).unwrap());
    stuck.kill().unwrap();
    let err = stuck.join().unwrap_err();
    assert!(
        matches!(err, ChildError::Crashed { signal: Some(9), .. }),
        "{err:?}"
    );
}

#[mp_test(timeout = "30s")]
fn children_spawn_children() {
    let (outer, inner) = mptest::spawn(5u32, |n| {
        let grandchild = mptest::spawn(n, |n| (n + 1, std::process::id()));
        let (value, pid) = grandchild.join().unwrap();
        ((value, std::process::id()), pid)
    })
    .join()
    .unwrap();
    assert_eq!(outer.0, 6);
    assert_ne!(outer.1, inner);
    assert_ne!(inner, std::process::id());
}

/// Set by `a_child_that_never_connects_is_detected`; read before `main` in new processes.
const EXIT_AT_START: &str = "SELFTEST_CHILD_EXIT_AT_START";

/// A process started while the variable is set dies before mptest's own constructor runs,
/// like a binary that fails at start (a missing library, a crash in a constructor).
#[ctor::ctor(unsafe, priority = 100)]
fn exit_at_start_if_asked() {
    if std::env::var_os(EXIT_AT_START).is_some() {
        std::process::exit(7);
    }
}

#[mp_test(timeout = "30s")]
fn a_child_that_never_connects_is_detected() {
    std::env::set_var(EXIT_AT_START, "1");
    let child = mptest::spawn((), |()| 1u8);
    std::env::remove_var(EXIT_AT_START);
    let started = Instant::now();
    let err = child.join().unwrap_err();
    assert!(
        matches!(err, ChildError::Crashed { code: Some(7), .. }),
        "{err:?}"
    );
    assert!(started.elapsed() < LIMIT);
}

// ------------------------------------------------------------------ manager and proxies

#[mp_test(timeout = "30s")]
fn proxies_reach_their_object_from_every_process() {
    let mgr = Manager::start().unwrap();
    let counter = mgr.create(Counter::starting_at(0)).unwrap();
    let children: Vec<_> = (0..3)
        .map(|_| {
            mptest::spawn(counter.clone(), |c: CounterProxy| {
                for _ in 0..100 {
                    c.incr(1).unwrap();
                }
            })
        })
        .collect();
    for _ in 0..100 {
        counter.incr(1).unwrap();
    }
    for child in children {
        child.join().unwrap();
    }
    // Linearizable: no update lost.
    assert_eq!(counter.get().unwrap(), 400);
}

#[mp_test(timeout = "30s")]
fn proxies_travel_inside_objects_and_results() {
    let mgr = Manager::start().unwrap();
    let thermostat = mgr.create(Thermostat::default()).unwrap();
    let building = mgr
        .create(Building {
            thermostat,
            name: "lab".into(),
        })
        .unwrap();
    // A child gets the building, asks it for its thermostat proxy, and uses that.
    let seen = mptest::spawn(building.clone(), |b: BuildingProxy| {
        let t = b.thermostat().unwrap();
        t.set_target(21.5).unwrap();
        (b.name().unwrap(), t.target().unwrap())
    })
    .join()
    .unwrap();
    assert_eq!(seen, ("lab".to_string(), 21.5));
    assert_eq!(building.thermostat().unwrap().target().unwrap(), 21.5);
}

#[mp_test(timeout = "30s")]
fn a_method_may_create_and_return_a_sub_object() {
    let mgr = Manager::start().unwrap();
    let house = mgr.create(House::default()).unwrap();
    let kitchen = house.add_room("kitchen".into()).unwrap().unwrap();
    assert_eq!(kitchen.add_lamp().unwrap(), 1);
    // Another process reaches the same sub-object through the house.
    let lamps = mptest::spawn(house.clone(), |h: HouseProxy| {
        h.rooms().unwrap()[0].add_lamp().unwrap()
    })
    .join()
    .unwrap();
    assert_eq!(lamps, 2);
    assert_eq!(kitchen.name().unwrap(), "kitchen");
    let outside = mptest::shared::create_here(Room {
        name: "shed".into(),
        lamps: 0,
    })
    .unwrap_err();
    assert!(matches!(outside, ProxyError::Failed(_)), "{outside:?}");
}

#[mp_test(timeout = "30s")]
fn a_panicking_method_is_an_error_and_the_manager_goes_on() {
    let mgr = Manager::start().unwrap();
    let counter = mgr.create(Counter::default()).unwrap();
    let other = mgr.create(Counter::default()).unwrap();
    counter.incr(5).unwrap();
    let err = counter.explode("pressure".into()).unwrap_err();
    match &err {
        ProxyError::Panicked { message, location } => {
            assert_eq!(message, "counter exploded: pressure");
            assert!(location.contains("shared.rs"), "{location}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(counter.incr(1).unwrap(), 6, "the object keeps its state");
    assert_eq!(other.incr(2).unwrap(), 2, "other objects are served");
}

#[mp_test(timeout = "30s")]
fn a_killed_manager_fails_pending_and_later_calls_at_once() {
    let mgr = Manager::start().unwrap();
    let queue: SharedQueue<u32> = mgr.queue(None).unwrap();
    let counter = mgr.create(Counter::default()).unwrap();
    counter.incr(1).unwrap();
    // A call pending in a child: a get on an empty queue. The manager runs one thread per
    // connection; the child's shows up when it connects, right before its call.
    let before = connection_threads(&mgr);
    let pending = mptest::spawn(queue.clone(), |q: SharedQueue<u32>| q.get().unwrap_err());
    let deadline = Instant::now() + LIMIT;
    while connection_threads(&mgr) == before {
        assert!(Instant::now() < deadline, "the child never connected");
        std::thread::yield_now();
    }
    let pid = mgr.pid().unwrap();
    let killed = Instant::now();
    let kill = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let err = pending.join().unwrap();
    assert_eq!(err, ProxyError::ManagerGone);
    assert!(
        killed.elapsed() < Duration::from_secs(1),
        "{:?}",
        killed.elapsed()
    );
    let later = Instant::now();
    assert_eq!(counter.get().unwrap_err(), ProxyError::ManagerGone);
    assert_eq!(mgr.event().unwrap_err(), ProxyError::ManagerGone);
    assert!(later.elapsed() < Duration::from_secs(1));
}

/// How many connection threads the manager process runs (one per connection).
fn connection_threads(mgr: &Manager) -> usize {
    let pid = mgr.pid().unwrap();
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .map(|tasks| {
            tasks
                .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
                .filter(|name| name.starts_with("mptest-conn-"))
                .count()
        })
        .unwrap_or(0)
}

#[mp_test(timeout = "30s")]
fn a_killed_client_releases_its_lock_and_leaves_the_manager_unharmed() {
    let mgr = Manager::start().unwrap();
    let lock = mgr.lock().unwrap();
    let held = mgr.event().unwrap();
    let queue: SharedQueue<u8> = mgr.queue(None).unwrap();
    let mut holder = mptest::spawn(
        (lock.clone(), held.clone(), queue.clone()),
        |(lock, held, queue): (SharedLock, SharedEvent, SharedQueue<u8>)| {
            let _guard = lock.acquire(None).unwrap();
            held.set().unwrap();
            // Killed in the middle of this call.
            queue.get().unwrap()
        },
    );
    assert!(held.wait(Some(LIMIT)).unwrap());
    assert_eq!(
        lock.acquire(Some(Duration::from_millis(50))).err(),
        Some(ProxyError::Timeout)
    );
    holder.kill().unwrap();
    let guard = lock
        .acquire(Some(LIMIT))
        .expect("the dead holder's lock was released");
    guard.release().unwrap();
    queue.put(7).unwrap();
    assert_eq!(queue.try_get().unwrap(), Some(7), "the manager serves on");
}

#[mp_test(timeout = "30s")]
fn a_malformed_request_is_an_error_to_its_sender_only() {
    let mgr = Manager::start().unwrap();
    let value = mgr.value(3u8).unwrap();
    let err = mptest::__private::manager_fault::send_garbage(value.proxy()).unwrap_err();
    assert!(matches!(err, ProxyError::Malformed(_)), "{err:?}");
    assert_eq!(value.get().unwrap(), 3);
}

#[mp_test(timeout = "30s")]
fn a_wrong_secret_is_refused() {
    let mgr = Manager::start().unwrap();
    let value = mgr.value(1u8).unwrap();
    let stranger = value.proxy().with_secret("not-the-secret");
    let err = stranger.call(mptest::shared::ValueCall::Get).unwrap_err();
    assert_eq!(err, ProxyError::Refused("wrong secret".into()));
    assert_eq!(value.get().unwrap(), 1);
}

/// A server type marked as registered that no `#[mptest::shared]` registered.
struct Ghost;

impl mptest::shared::Served for Ghost {
    type Init = ();
    type Call = ();
    type Ret = ();
    const REGISTERED: bool = true;
    fn type_name() -> &'static str {
        "selftest::Ghost"
    }
    fn create(_: ()) -> Self {
        Ghost
    }
    fn call(&self, _: (), _: mptest::shared::Caller) -> Result<(), ProxyError> {
        Ok(())
    }
}

#[mp_test(timeout = "30s")]
fn a_type_the_manager_does_not_know_is_refused() {
    let mgr = Manager::start().unwrap();
    let err = mgr.create_object::<Ghost>(()).unwrap_err();
    match err {
        ProxyError::Refused(why) => assert!(why.contains("selftest::Ghost is not registered"), "{why}"),
        other => panic!("{other:?}"),
    }
}

#[mp_test(timeout = "30s")]
fn a_blocking_call_blocks_only_its_caller() {
    let mgr = Manager::start().unwrap();
    let queue: SharedQueue<u32> = mgr.queue(None).unwrap();
    let counter = mgr.create(Counter::default()).unwrap();
    let waiter = mptest::spawn(queue.clone(), |q: SharedQueue<u32>| q.get().unwrap());
    // The child is blocked in the manager; other calls, from here and from the same type, go on.
    for i in 1..=50 {
        assert_eq!(counter.incr(1).unwrap(), i);
    }
    assert_eq!(queue.len().unwrap(), 0);
    queue.put(99).unwrap();
    assert_eq!(waiter.join().unwrap(), 99);
}

// ------------------------------------------------------------------ ready-made types

#[mp_test(timeout = "30s")]
fn value_vec_and_map() {
    let mgr = Manager::start().unwrap();
    let value = mgr.value(10i64).unwrap();
    assert_eq!(value.set(11).unwrap(), 10);
    let updated = mptest::spawn(value.clone(), |v| v.update(|n| n * 3).unwrap())
        .join()
        .unwrap();
    assert_eq!(updated, 33);
    assert_eq!(value.get().unwrap(), 33);

    let vec = mgr.vec::<String>().unwrap();
    assert_eq!(vec.push("a".into()).unwrap(), 1);
    mptest::spawn(vec.clone(), |v| v.push("b".into()).unwrap())
        .join()
        .unwrap();
    assert_eq!(vec.to_vec().unwrap(), ["a", "b"]);
    assert_eq!(vec.set(0, "z".into()).unwrap(), "a");
    assert_eq!(vec.get(0).unwrap().as_deref(), Some("z"));
    assert_eq!(vec.get(5).unwrap(), None);
    assert!(vec.set(5, "x".into()).is_err());
    assert_eq!(vec.pop().unwrap().as_deref(), Some("b"));
    vec.clear().unwrap();
    assert!(vec.is_empty().unwrap());

    let map = mgr.map::<String, u32>().unwrap();
    assert_eq!(map.insert("x".into(), 1).unwrap(), None);
    mptest::spawn(map.clone(), |m| m.insert("y".into(), 2).unwrap())
        .join()
        .unwrap();
    assert_eq!(map.insert("x".into(), 3).unwrap(), Some(1));
    let mut keys = map.keys().unwrap();
    keys.sort();
    assert_eq!(keys, ["x", "y"]);
    assert_eq!(map.get("y".into()).unwrap(), Some(2));
    assert_eq!(map.remove("y".into()).unwrap(), Some(2));
    assert_eq!(map.len().unwrap(), 1);
}

#[mp_test(timeout = "30s")]
fn queues_bounded_and_not() {
    let mgr = Manager::start().unwrap();
    let q: SharedQueue<u32> = mgr.queue(Some(2)).unwrap();
    q.put(1).unwrap();
    q.put(2).unwrap();
    assert_eq!(q.try_put(3).unwrap(), Err(3));
    assert_eq!(
        q.put_timeout(3, Duration::from_millis(50)),
        Err(ProxyError::Timeout)
    );
    // A producer blocked on the full queue goes on when a consumer takes an item.
    let producer = mptest::spawn(q.clone(), |q: SharedQueue<u32>| q.put(3).unwrap());
    assert_eq!(q.get().unwrap(), 1);
    producer.join().unwrap();
    assert_eq!(q.len().unwrap(), 2);
    assert_eq!((q.get().unwrap(), q.get().unwrap()), (2, 3));
    assert_eq!(q.try_get().unwrap(), None);
    let started = Instant::now();
    assert_eq!(q.get_timeout(Duration::from_millis(50)), Err(ProxyError::Timeout));
    assert!(started.elapsed() >= Duration::from_millis(50));
}

#[mp_test(timeout = "30s")]
fn events_and_barriers() {
    let mgr = Manager::start().unwrap();
    let event = mgr.event().unwrap();
    assert!(!event.is_set().unwrap());
    assert!(!event.wait(Some(Duration::from_millis(20))).unwrap());
    let setter = mptest::spawn(event.clone(), |e: SharedEvent| e.set().unwrap());
    assert!(event.wait(Some(LIMIT)).unwrap());
    setter.join().unwrap();
    event.clear().unwrap();
    assert!(!event.is_set().unwrap());

    let barrier = mgr.barrier(3).unwrap();
    let parties: Vec<_> = (0..2)
        .map(|_| {
            mptest::spawn(barrier.clone(), |b: mptest::SharedBarrier| {
                b.wait(Some(LIMIT)).unwrap()
            })
        })
        .collect();
    let mine = barrier.wait(Some(LIMIT)).unwrap();
    let mut arrivals: Vec<usize> = parties.into_iter().map(|p| p.join().unwrap()).collect();
    arrivals.push(mine);
    arrivals.sort();
    assert_eq!(arrivals, [0, 1, 2]);
    let lonely = mgr.barrier(2).unwrap();
    assert_eq!(
        lonely.wait(Some(Duration::from_millis(20))),
        Err(ProxyError::Timeout)
    );
}

#[mp_test(timeout = "30s")]
fn a_lock_excludes_other_processes() {
    let mgr = Manager::start().unwrap();
    let lock = mgr.lock().unwrap();
    let log = mgr.vec::<(u32, String)>().unwrap();
    let workers: Vec<_> = (0..3u32)
        .map(|i| {
            mptest::spawn((i, lock.clone(), log.clone()), |(i, lock, log)| {
                for _ in 0..5 {
                    let guard = lock.acquire(Some(LIMIT)).unwrap();
                    log.push((i, "in".into())).unwrap();
                    log.push((i, "out".into())).unwrap();
                    guard.release().unwrap();
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    let entries = log.to_vec().unwrap();
    assert_eq!(entries.len(), 30);
    for pair in entries.chunks(2) {
        assert_eq!(
            (pair[0].0, pair[0].1.as_str(), pair[1].1.as_str()),
            (pair[1].0, "in", "out"),
            "{entries:?}"
        );
    }
}

#[mp_test(timeout = "30s")]
fn shutdown_ends_the_manager_and_its_proxies() {
    let mgr = Manager::start().unwrap();
    let pid = mgr.pid().unwrap();
    let counter = mgr.create(Counter::default()).unwrap();
    counter.incr(1).unwrap();
    mgr.shutdown();
    assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
    assert_eq!(counter.get().unwrap_err(), ProxyError::ManagerGone);
}

fn main() {
    mptest::run()
}
