//! One clock for every process of a test: real, accelerated, or manual.
//!
//! Code under test calls [`now`], [`wall`] and [`sleep`] instead of `std::time`; the test sets
//! the pace with [`set_speed`] (`3600.0`: a real second is an hour), or stops time with
//! [`pause`] and moves it with [`advance`] — and every process of the test follows at once,
//! also processes started before the change.
//!
//! ```
//! use std::time::Duration;
//! use mptest::clock;
//!
//! clock::pause();                                   // virtual time stands still
//! let start = clock::now();
//! let sleeper = mptest::spawn(start, |start: clock::Instant| {
//!     clock::sleep(Duration::from_secs(3600));      // an hour of virtual time
//!     clock::now().duration_since(start)
//! });
//! assert!(clock::wait_sleeping(1, Duration::from_secs(10)));  // it sleeps now
//! clock::advance(Duration::from_secs(7200));        // wakes it, wherever it sleeps
//! assert!(sleeper.join()? >= Duration::from_secs(3600));
//! clock::reset();                                   // back to real time
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Production code that takes a clock
//!
//! Production code should not depend on a test framework. Give it a small trait of its own,
//! with the real clock as the default, and let the test hand it mptest's:
//!
//! ```
//! // In the production crate: no mptest anywhere.
//! pub trait Clock: Send + Sync {
//!     fn now(&self) -> std::time::Duration;          // since any fixed point
//!     fn sleep(&self, d: std::time::Duration);
//! }
//! pub struct RealClock(std::time::Instant);
//! impl Clock for RealClock {
//!     fn now(&self) -> std::time::Duration { self.0.elapsed() }
//!     fn sleep(&self, d: std::time::Duration) { std::thread::sleep(d) }
//! }
//! pub fn heater_loop(clock: &dyn Clock) { /* uses clock.now() and clock.sleep(..) */ }
//!
//! // In its tests (mptest is a dev-dependency):
//! struct TestClock;
//! impl Clock for TestClock {
//!     fn now(&self) -> std::time::Duration { mptest::clock::now().since_start() }
//!     fn sleep(&self, d: std::time::Duration) { mptest::clock::sleep(d) }
//! }
//! heater_loop(&TestClock);
//! ```
//!
//! [`MpClock`] implements mptest's own [`Clock`] trait, for code that may depend on mptest.
//!
//! ## How
//!
//! The clock is a small file in the run's directory, one per test (per process group: every
//! process of a test is in its worker's group), mapped into every process that uses it. Reading
//! the time is a read of shared memory and `CLOCK_MONOTONIC`, no message. Changes bump a
//! counter that sleepers wait on (a futex on Linux), so they wake at once in every process.
//! [`advance`] moves time from one sleeper's deadline to the next, in deadline order, and
//! before it goes on waits (at most a second each) until the sleepers of that deadline have
//! woken *and* slept again or ended — so what a sleeper does between two sleeps happens at its
//! deadline's time, in deadline order across processes. The
//! worker resets the clock to real time before each test.
//!
//! Under libtest (plain `#[test]`s), the tests of one binary share one clock: they run as
//! threads of one process.

use std::fs::File;
use std::os::unix::io::AsRawFd;
use std::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How many processes' sleepers can wait at once (more sleep on, unseen by `advance`'s order).
const SLOTS: usize = 64;
/// How long `advance` waits for the sleepers of one deadline to wake.
const WAKE_WAIT: Duration = Duration::from_secs(1);

/// The pace of the clock.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mode {
    /// Real time.
    Real,
    /// Virtual time runs this many times as fast as real time.
    Accelerated(f64),
    /// Virtual time stands still; [`advance`] moves it.
    Paused,
}

/// A point in the test's virtual time, like [`std::time::Instant`], comparable between the
/// processes of a test. `Serialize + Deserialize`: send it to another process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub struct Instant(u64);

impl Instant {
    /// The time passed since `earlier` (zero if `earlier` is later).
    pub fn duration_since(self, earlier: Instant) -> Duration {
        Duration::from_nanos(self.0.saturating_sub(earlier.0))
    }

    /// The virtual time passed since this instant.
    pub fn elapsed(self) -> Duration {
        now().duration_since(self)
    }

    /// The time since the Unix epoch this instant stands for (virtual time is wall-clock
    /// time, paced as set).
    pub fn since_start(self) -> Duration {
        Duration::from_nanos(self.0)
    }
}

impl std::ops::Add<Duration> for Instant {
    type Output = Instant;
    fn add(self, d: Duration) -> Instant {
        Instant(self.0.saturating_add(d.as_nanos() as u64))
    }
}

impl std::ops::Sub<Instant> for Instant {
    type Output = Duration;
    fn sub(self, earlier: Instant) -> Duration {
        self.duration_since(earlier)
    }
}

/// A clock a type can hold: [`MpClock`] is mptest's.
pub trait Clock: Send + Sync {
    /// Now.
    fn now(&self) -> Instant;
    /// Sleeps `d` of this clock's time.
    fn sleep(&self, d: Duration);
}

/// mptest's clock as a [`Clock`] value.
#[derive(Debug, Clone, Copy, Default, serde::Serialize, serde::Deserialize)]
pub struct MpClock;

impl Clock for MpClock {
    fn now(&self) -> Instant {
        now()
    }
    fn sleep(&self, d: Duration) {
        sleep(d)
    }
}

/// The clock's shared page.
#[repr(C)]
struct Shared {
    /// Odd while a change is being written (a seqlock).
    seq: AtomicU32,
    /// Bumped after every change: sleepers wait on it.
    generation: AtomicU32,
    /// Bumped by every sleeper that woke: `advance` waits on it.
    woken: AtomicU32,
    /// Bumped by every sleeper that starts: `wait_sleeping` waits on it.
    sleeping: AtomicU32,
    /// 1 once the page holds a clock.
    ready: AtomicU32,
    _pad: u32,
    /// Virtual ns per real ns, as f64 bits (0: paused).
    speed: AtomicU64,
    /// CLOCK_MONOTONIC (ns) at the last change.
    base_real: AtomicU64,
    /// Virtual time (ns since the epoch) at the last change.
    base_virtual: AtomicU64,
    sleepers: [Sleeper; SLOTS],
}

#[repr(C)]
struct Sleeper {
    /// 0 free, else the pid of the process whose thread holds the slot.
    pid: AtomicU32,
    /// [`ASLEEP`] or [`AWAKE`].
    state: AtomicU32,
    /// While asleep: when to wake; once awake: the virtual time it woke at.
    deadline: AtomicU64,
}

/// A slot's thread is in `sleep`.
const ASLEEP: u32 = 1;
/// A slot's thread woke and has not slept again (or ended) yet.
const AWAKE: u32 = 2;

/// This process's mapping of its test's clock.
struct Mapped {
    file: File,
    page: &'static Shared,
}

fn mono_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the timespec it is given.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

fn wall_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// The clock of this process's test, mapped on first use; `None` where no file can be made
/// (then the clock is real time).
fn mapped() -> Option<&'static Mapped> {
    MAPPED.get_or_init(map).as_ref()
}

/// This process's mapping, once it was asked for.
static MAPPED: OnceLock<Option<Mapped>> = OnceLock::new();

/// Where this process's test keeps its clock (the run directory is made when the clock is
/// first mapped; looking whether there is one makes nothing).
fn clock_path() -> Option<std::path::PathBuf> {
    let dir = crate::launch::endpoint::run_dir_name()?;
    // SAFETY: getpgrp has no preconditions.
    let group = unsafe { libc::getpgrp() };
    Some(dir.join(format!("clock-{group}")))
}

fn map() -> Option<Mapped> {
    use std::os::unix::fs::OpenOptionsExt;
    crate::launch::endpoint::run_dir()?;
    let path = clock_path()?;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .ok()?;
    let size = std::mem::size_of::<Shared>();
    let _lock = Lock::take(&file);
    if file.metadata().ok()?.len() < size as u64 {
        file.set_len(size as u64).ok()?;
    }
    // SAFETY: mapping `size` bytes of a file that is at least that long, shared, for the life of
    // the process (never unmapped); every field is an atomic, so concurrent use is sound.
    let page = unsafe {
        let addr = libc::mmap(
            std::ptr::null_mut(),
            size,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            file.as_raw_fd(),
            0,
        );
        if addr == libc::MAP_FAILED {
            return None;
        }
        &*(addr as *const Shared)
    };
    if page.ready.load(Ordering::Acquire) == 0 {
        write(page, 1.0, mono_ns(), wall_ns());
        page.ready.store(1, Ordering::Release);
    }
    drop(_lock);
    Some(Mapped { file, page })
}

/// Exclusive use of the clock for a change (flock: released if the holder dies).
struct Lock<'a>(&'a File);

impl<'a> Lock<'a> {
    fn take(file: &'a File) -> Self {
        // SAFETY: flock on a descriptor we hold; it blocks until the lock is ours.
        while unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
            if std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
                break;
            }
        }
        Lock(file)
    }
}

impl Drop for Lock<'_> {
    fn drop(&mut self) {
        // SAFETY: unlocking what `take` locked.
        unsafe { libc::flock(self.0.as_raw_fd(), libc::LOCK_UN) };
    }
}

/// Writes a new pace (under the lock), then wakes every sleeper.
fn write(page: &Shared, speed: f64, base_real: u64, base_virtual: u64) {
    page.seq.fetch_add(1, Ordering::AcqRel);
    fence(Ordering::Release);
    page.speed.store(speed.to_bits(), Ordering::Relaxed);
    page.base_real.store(base_real, Ordering::Relaxed);
    page.base_virtual.store(base_virtual, Ordering::Relaxed);
    page.seq.fetch_add(1, Ordering::Release);
    page.generation.fetch_add(1, Ordering::AcqRel);
    futex_wake(&page.generation);
}

/// (speed, base_real, base_virtual), consistently.
fn read(page: &Shared) -> (f64, u64, u64) {
    loop {
        let before = page.seq.load(Ordering::Acquire);
        if before % 2 == 1 {
            std::hint::spin_loop();
            continue;
        }
        let speed = f64::from_bits(page.speed.load(Ordering::Relaxed));
        let base_real = page.base_real.load(Ordering::Relaxed);
        let base_virtual = page.base_virtual.load(Ordering::Relaxed);
        fence(Ordering::Acquire);
        if page.seq.load(Ordering::Relaxed) == before {
            return (speed, base_real, base_virtual);
        }
    }
}

fn virtual_at(page: &Shared, real: u64) -> u64 {
    let (speed, base_real, base_virtual) = read(page);
    base_virtual + (real.saturating_sub(base_real) as f64 * speed) as u64
}

/// True when this process follows a clock of the test that may be paced or paused (the only
/// clock whose sleeps cannot be left to the OS's timers).
#[cfg(feature = "tokio")]
pub(crate) fn is_paced() -> bool {
    mapped().is_some()
}

/// Now, in the test's virtual time.
pub fn now() -> Instant {
    match mapped() {
        Some(m) => Instant(virtual_at(m.page, mono_ns())),
        None => Instant(wall_ns()),
    }
}

/// The wall-clock time in the test's virtual time, like [`SystemTime::now`].
pub fn wall() -> SystemTime {
    UNIX_EPOCH + now().since_start()
}

/// The clock's pace.
pub fn mode() -> Mode {
    let Some(m) = mapped() else { return Mode::Real };
    match read(m.page).0 {
        0.0 => Mode::Paused,
        1.0 => Mode::Real,
        s => Mode::Accelerated(s),
    }
}

/// Changes the pace, keeping the time it is now.
fn set_pace(speed: f64) {
    let Some(m) = mapped() else { return };
    let _lock = Lock::take(&m.file);
    let real = mono_ns();
    write(m.page, speed, real, virtual_at(m.page, real));
}

/// Virtual time runs `factor` times as fast as real time from now on, in every process of the
/// test (`3600.0`: an hour a second). `1.0` is real pace (keeping any time advanced so far).
pub fn set_speed(factor: f64) {
    set_pace(if factor.is_finite() && factor > 0.0 {
        factor
    } else {
        1.0
    });
}

/// Stops virtual time; [`advance`] moves it.
pub fn pause() {
    set_pace(0.0);
}

/// Back to real time: real pace, and the real wall-clock time.
pub fn reset() {
    let Some(m) = mapped() else { return };
    let _lock = Lock::take(&m.file);
    write(m.page, 1.0, mono_ns(), wall_ns());
}

/// Moves virtual time forward by `d`: through each sleeper's deadline in order, waking the
/// sleepers of each deadline (in any process of the test) before going on to the next.
pub fn advance(d: Duration) {
    let Some(m) = mapped() else { return };
    let page = m.page;
    let _lock = Lock::take(&m.file);
    let target = virtual_at(page, mono_ns()).saturating_add(d.as_nanos() as u64);
    loop {
        let real = mono_ns();
        let at = virtual_at(page, real);
        let (speed, ..) = read(page);
        let next = slots_in(page, ASLEEP)
            .map(|s| s.deadline.load(Ordering::Acquire))
            .filter(|&deadline| deadline > at && deadline <= target)
            .min();
        let Some(step) = next else {
            write(page, speed, real, target.max(at));
            return;
        };
        let woken = page.woken.load(Ordering::Acquire);
        write(page, speed, real, step);
        wait_for_sleepers(page, step, woken);
    }
}

/// Waits until every sleeper due at or before `step` has woken, and every one that woke at
/// `step` has slept again or ended: what it did in between happened at `step`'s time.
fn wait_for_sleepers(page: &Shared, step: u64, mut woken: u32) {
    let started = std::time::Instant::now();
    while started.elapsed() < WAKE_WAIT {
        let due = slots_in(page, ASLEEP).any(|s| s.deadline.load(Ordering::Acquire) <= step);
        let busy = slots_in(page, AWAKE).any(|s| s.deadline.load(Ordering::Acquire) == step);
        if !due && !busy {
            return;
        }
        // A process that ends frees its slot without a word: look again every 10 ms.
        futex_wait(&page.woken, woken, Some(Duration::from_millis(10)));
        woken = page.woken.load(Ordering::Acquire);
    }
}

fn alive(pid: u32) -> bool {
    // SAFETY: kill with signal 0 only checks that the process exists.
    unsafe { libc::kill(pid as i32, 0) == 0 }
}

/// Sleeps `d` of virtual time: real time scaled by the pace, until [`advance`] passes the
/// deadline when paused; a change of pace in any process takes effect at once.
pub fn sleep(d: Duration) {
    let Some(m) = mapped() else {
        std::thread::sleep(d);
        return;
    };
    let page = m.page;
    let deadline = virtual_at(page, mono_ns()).saturating_add(d.as_nanos() as u64);
    let slot = MY_SLOT.with(|mine| mine.take(page, deadline));
    // Asleep: for `wait_sleeping`, and for an `advance` waiting for this thread to sleep again.
    page.sleeping.fetch_add(1, Ordering::AcqRel);
    futex_wake(&page.sleeping);
    page.woken.fetch_add(1, Ordering::AcqRel);
    futex_wake(&page.woken);
    loop {
        let generation = page.generation.load(Ordering::Acquire);
        let at = virtual_at(page, mono_ns());
        if at >= deadline {
            break;
        }
        let speed = read(page).0;
        let real_wait =
            (speed > 0.0).then(|| Duration::from_nanos(((deadline - at) as f64 / speed) as u64 + 1));
        futex_wait(&page.generation, generation, real_wait);
    }
    if let Some(slot) = slot {
        // Awake at the deadline's time: `advance` waits for this thread to sleep again (or
        // end) before it moves time past it.
        slot.deadline.store(deadline, Ordering::Release);
        slot.state.store(AWAKE, Ordering::Release);
    }
    page.woken.fetch_add(1, Ordering::AcqRel);
    futex_wake(&page.woken);
}

/// The slot this thread holds, kept from one `sleep` to the next and freed when the thread ends.
struct MySlot(std::cell::Cell<Option<&'static Sleeper>>);

thread_local! {
    static MY_SLOT: MySlot = const { MySlot(std::cell::Cell::new(None)) };
}

impl MySlot {
    /// This thread's slot, asleep until `deadline`: the one it held, or a free one (none if all
    /// are taken: then `advance` does not order this sleeper).
    fn take(&self, page: &'static Shared, deadline: u64) -> Option<&'static Sleeper> {
        let slot = self.0.get().or_else(|| claim(page))?;
        slot.deadline.store(deadline, Ordering::Release);
        slot.state.store(ASLEEP, Ordering::Release);
        self.0.set(Some(slot));
        Some(slot)
    }
}

impl Drop for MySlot {
    fn drop(&mut self) {
        if let (Some(slot), Some(m)) = (self.0.get(), mapped()) {
            slot.state.store(0, Ordering::Release);
            slot.pid.store(0, Ordering::Release);
            m.page.woken.fetch_add(1, Ordering::AcqRel);
            futex_wake(&m.page.woken);
        }
    }
}

/// Waits until at least `n` sleepers, in any processes of the test, are in [`sleep`]; `false`
/// if they were not within `timeout`. With a paused clock, call it before [`advance`] to be
/// sure the sleepers it should wake have started sleeping.
pub fn wait_sleeping(n: usize, timeout: Duration) -> bool {
    let Some(m) = mapped() else { return false };
    let page = m.page;
    let started = std::time::Instant::now();
    loop {
        let seen = page.sleeping.load(Ordering::Acquire);
        let asleep = slots_in(page, ASLEEP).count();
        if asleep >= n {
            return true;
        }
        let Some(left) = timeout.checked_sub(started.elapsed()) else {
            return false;
        };
        futex_wait(&page.sleeping, seen, Some(left));
    }
}

/// A free slot (or one whose process died), now this process's.
fn claim(page: &'static Shared) -> Option<&'static Sleeper> {
    let pid = std::process::id();
    page.sleepers.iter().find(|slot| {
        let holder = slot.pid.load(Ordering::Acquire);
        let free = holder == 0 || !alive(holder);
        free && slot
            .pid
            .compare_exchange(holder, pid, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    })
}

/// The live slots in `state`.
fn slots_in(page: &Shared, state: u32) -> impl Iterator<Item = &Sleeper> {
    page.sleepers.iter().filter(move |s| {
        let pid = s.pid.load(Ordering::Acquire);
        pid != 0 && s.state.load(Ordering::Acquire) == state && alive(pid)
    })
}

#[cfg(all(target_os = "linux", not(mptest_portable)))]
fn futex_wait(word: &AtomicU32, expected: u32, timeout: Option<Duration>) {
    let ts = timeout.map(|t| libc::timespec {
        tv_sec: t.as_secs().min(i64::MAX as u64) as libc::time_t,
        tv_nsec: t.subsec_nanos() as libc::c_long,
    });
    let ts_ptr = ts
        .as_ref()
        .map_or(std::ptr::null(), |t| t as *const libc::timespec);
    // SAFETY: FUTEX_WAIT on a u32 in shared memory we hold mapped; the timeout outlives the call.
    unsafe {
        libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAIT, expected, ts_ptr);
    }
}

#[cfg(all(target_os = "linux", not(mptest_portable)))]
fn futex_wake(word: &AtomicU32) {
    // SAFETY: FUTEX_WAKE on a u32 in shared memory we hold mapped.
    unsafe {
        libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAKE, i32::MAX);
    }
}

/// Elsewhere: no futex across processes; sleepers look again every millisecond.
#[cfg(not(all(target_os = "linux", not(mptest_portable))))]
fn futex_wait(word: &AtomicU32, expected: u32, timeout: Option<Duration>) {
    let step = Duration::from_millis(1);
    if word.load(Ordering::Acquire) == expected {
        std::thread::sleep(timeout.map_or(step, |t| t.min(step)));
    }
}

#[cfg(not(all(target_os = "linux", not(mptest_portable))))]
fn futex_wake(_: &AtomicU32) {}

/// Set once this process made a command for a process in one of mptest's roles (a child, an
/// auxiliary, a manager): the only kind besides this process that maps its test's clock.
static OTHERS_MAY_MAP: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Called as this process makes such a command (see [`OTHERS_MAY_MAP`]).
pub(crate) fn others_may_map() {
    OTHERS_MAY_MAP.store(true, Ordering::Relaxed);
}

/// Before each test, in the worker: real time again (a test's clock does not leak into the
/// next test the worker runs).
/// A test that never used the clock costs nothing here: nothing is mapped, and until the
/// worker started a process of ours (the only other kind that maps its clock, creating the
/// file), there is no file to look for either.
/// Once the clock was found in use, it is mapped here (by the reset), and that is what says so.
pub(crate) fn reset_for_test() {
    let mapped_here = MAPPED.get().is_some_and(Option::is_some);
    if mapped_here || (OTHERS_MAY_MAP.load(Ordering::Relaxed) && clock_path().is_some_and(|p| p.exists())) {
        reset();
    }
}
