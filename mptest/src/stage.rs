//! A worker's own writes to its captured stdout and stderr, kept in memory while they
//! come in bursts and written to the capture pipe in batches.
//!
//! std's stderr is unbuffered: an `eprintln!` is two to four `write`s, and each `write` to the
//! capture pipe costs a system call and, often, a wake-up of the coordinator's reader — about
//! 5 × what libtest takes for a test that prints a million lines. libtest keeps a test's output
//! in memory through an API of std's that stable Rust cannot call (`set_output_capture`).
//! mptest instead defines the C library's `write` and `writev` in the test binary (Linux with
//! glibc, see [`interpose`]): std's calls, which the linker binds inside the binary, come here.
//! While the worker is armed, a write to fd 1 or 2 that follows the one before within
//! [`BURST_GAP`] is copied into the *stage* and returns; a lone write goes to the pipe at once,
//! so what processes print now and then keeps its order exactly.
//!
//! The stage is a ring in a shared mapping the coordinator made before it forked the worker (or
//! a memory file it handed a re-executed one, [`Stage::for_exec`]):
//! what is staged and not yet written survives the worker's death however it dies (a crash, an
//! abort, `exit`, a kill at its timeout) — the coordinator passes it on before the record that
//! tells the exit ([`Stage::unwritten`]). (A worker killed inside a write to the pipe may have
//! that batch passed on twice; none is lost.) The stage is written to the pipe
//!
//! - by a flusher thread, started at the worker's first burst and woken by each burst's first
//!   staged write, which writes out what was staged [`BURST_GAP`] later (or once the ring is
//!   half full), and so on while the burst lasts;
//! - by the writer itself when the ring is full, and before a write larger than a quarter of it;
//! - before every record of the worker's (the end of a test, see [`crate::capture::Record`]);
//! - before the worker forks (`pthread_atfork`) or spawns (`posix_spawn`, which std's
//!   `Command` uses): the new process's output comes after what was written before it started;
//! - before fd 1 or 2 is moved elsewhere by `dup2`, `dup3` or `close` (a test that redirects
//!   stderr to read it back, as the `gag` crate does): the worker is then disarmed until a later
//!   test finds both descriptors back on the pipe.
//!
//! Not staged, and written to the pipe as before: what the processes a test starts write (a
//! forked copy disarms itself), writes made by raw system call (rustix), and everything with
//! `MPTEST_STAGED_OUTPUT=0` or on other systems.

// Where `write` is not defined here (see `interposed`), what only `interpose` calls is unused.
#![cfg_attr(
    not(all(target_os = "linux", target_env = "gnu", not(target_feature = "crt-static"), not(mptest_portable))),
    allow(dead_code)
)]

use std::cell::{Cell, UnsafeCell};
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, PoisonError};

#[cfg(all(target_os = "linux", target_env = "gnu", not(target_feature = "crt-static"), not(mptest_portable)))]
mod interpose;

/// Bytes the ring holds.
const RING: usize = 256 << 10;

/// Set to `0` to have every write of a worker go to the pipe at once.
const STAGE_VAR: &str = "MPTEST_STAGED_OUTPUT";
/// A re-executed worker's stage: the descriptor of the memory file it maps.
const STAGE_FD_VAR: &str = "MPTEST_STAGE_FD";

/// What the worker and the coordinator share: the ring and how far it was filled and written.
#[repr(C)]
struct Shared {
    /// Bytes staged since the worker started (the ring holds `staged - written` of them).
    staged: AtomicU64,
    /// Bytes of those written to the pipe.
    written: AtomicU64,
    ring: UnsafeCell<[u8; RING]>,
}

/// A stage: a shared mapping — anonymous, made before the fork, or of a memory file a
/// re-executed worker inherits — so the worker's is the same memory as the coordinator's.
pub(crate) struct Stage {
    shared: *mut Shared,
}

// SAFETY: the mapping is only read and written through atomics and the protocol of this module
// (the ring's bytes between `written` and `staged` are not written again until written out).
unsafe impl Send for Stage {}
// SAFETY: as above.
unsafe impl Sync for Stage {}

impl Stage {
    /// A new, empty stage, or `None` where output is not staged (see the module's
    /// documentation) or no mapping could be made.
    pub(crate) fn new() -> Option<Stage> {
        if !wanted() {
            return None;
        }
        Stage::map_fd(None)
    }

    /// A stage in `file` (a memory file of the stage's size), or a new anonymous one.
    fn map_fd(file: Option<&std::os::fd::OwnedFd>) -> Option<Stage> {
        use std::os::fd::AsRawFd;
        let (flags, fd) = match file {
            Some(file) => (libc::MAP_SHARED, file.as_raw_fd()),
            None => (libc::MAP_SHARED | libc::MAP_ANON, -1),
        };
        // SAFETY: a fresh mapping, zero-filled where new (both counters start at 0).
        let map = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                std::mem::size_of::<Shared>(),
                libc::PROT_READ | libc::PROT_WRITE,
                flags,
                fd,
                0,
            )
        };
        (map != libc::MAP_FAILED).then(|| Stage { shared: map.cast() })
    }

    /// For a worker about to be re-executed by `command`: a stage in a memory file, which the
    /// worker inherits (its descriptor, not closed on `exec`, named in `command`'s environment);
    /// the caller closes the descriptor once the worker is started.
    #[cfg(target_os = "linux")]
    pub(crate) fn for_exec(command: &mut std::process::Command) -> Option<(Stage, std::os::fd::OwnedFd)> {
        use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
        if !wanted() {
            return None;
        }
        // SAFETY: memfd_create with a C string of ours; the descriptor is ours.
        let fd = unsafe { libc::memfd_create(c"mptest-stage".as_ptr(), 0) };
        if fd < 0 {
            return None;
        }
        // SAFETY: just made, owned here.
        let file = unsafe { OwnedFd::from_raw_fd(fd) };
        std::fs::File::from(file.try_clone().ok()?)
            .set_len(std::mem::size_of::<Shared>() as u64)
            .ok()?;
        let stage = Stage::map_fd(Some(&file))?;
        command.env(STAGE_FD_VAR, file.as_raw_fd().to_string());
        Some((stage, file))
    }

    /// Elsewhere output is not staged.
    #[cfg(not(target_os = "linux"))]
    pub(crate) fn for_exec(_: &mut std::process::Command) -> Option<(Stage, std::os::fd::OwnedFd)> {
        None
    }

    fn shared(&self) -> &Shared {
        // SAFETY: mapped for as long as `self` lives.
        unsafe { &*self.shared }
    }

    /// What a dead worker staged and never wrote to the pipe (the coordinator's side, once the
    /// worker is gone: nothing writes the ring any more).
    pub(crate) fn unwritten(&self) -> Vec<u8> {
        let shared = self.shared();
        let (written, staged) = (
            shared.written.load(Ordering::Acquire),
            shared.staged.load(Ordering::Acquire),
        );
        let mut bytes = Vec::new();
        if staged > written && staged - written <= RING as u64 {
            // SAFETY: bytes staged and not written, which no one writes again.
            let (first, second) = unsafe { ring_slices(shared, written, staged) };
            bytes.extend_from_slice(first);
            bytes.extend_from_slice(second);
        }
        bytes
    }
}

impl Drop for Stage {
    fn drop(&mut self) {
        // SAFETY: our own mapping, of that size; nothing refers to it after `self`.
        unsafe {
            libc::munmap(self.shared.cast(), std::mem::size_of::<Shared>());
        }
    }
}

/// The ring's bytes from `from` to `to` (counters, `to - from <= RING`), as one or two slices.
///
/// # Safety
///
/// No one may write those bytes while the slices live: they must be staged and not written out.
unsafe fn ring_slices(shared: &Shared, from: u64, to: u64) -> (&[u8], &[u8]) {
    let ring = shared.ring.get().cast::<u8>();
    let start = (from % RING as u64) as usize;
    let len = ((to - from) as usize).min(RING);
    let first = len.min(RING - start);
    // SAFETY: within the ring; not written meanwhile (the caller's promise).
    unsafe {
        (
            std::slice::from_raw_parts(ring.add(start), first),
            std::slice::from_raw_parts(ring, len - first),
        )
    }
}

/// Whether a worker's output is to be staged: where `write` is defined, unless
/// `MPTEST_STAGED_OUTPUT=0`.
fn wanted() -> bool {
    interposed() && std::env::var_os(STAGE_VAR).is_none_or(|v| v != "0")
}

/// Whether this build defines `write` (see [`interpose`]): Linux with the GNU C library, linked
/// dynamically (its `posix_spawn` is found behind ours with `dlsym`; a static one has its own
/// definitions).
fn interposed() -> bool {
    cfg!(all(target_os = "linux", target_env = "gnu", not(target_feature = "crt-static"), not(mptest_portable)))
}

/// This process's stage, once armed (a worker's, for the whole life of the process).
static STAGE: AtomicPtr<Shared> = AtomicPtr::new(std::ptr::null_mut());
/// Writes to fd 1 and 2 are staged (cleared while a test has moved them, and in forked copies).
static ARMED: AtomicBool = AtomicBool::new(false);
/// Taken to stage bytes; holds when a write last found nothing staged (see [`in_a_burst`]).
static APPEND: Mutex<Option<std::time::Instant>> = Mutex::new(None);
/// Taken to write staged bytes to the pipe: one writer at a time, in order.
static WRITE_OUT: Mutex<()> = Mutex::new(());
/// Wakes the flusher thread: something was staged.
static WAKE: (Mutex<Wake>, Condvar) = (Mutex::new(Wake { staged: false, half_full: false }), Condvar::new());

/// The flusher thread has nothing to write out and waits to be woken (or is not started): the
/// next staged write wakes it. Read and written with `APPEND` held, by a writer after it
/// stages and by the flusher when it finds the ring empty: a burst staged while the flusher
/// was writing out is never left in the ring unwoken.
static FLUSHER_IDLE: AtomicBool = AtomicBool::new(true);

/// What the flusher thread is woken for.
struct Wake {
    /// A burst started: its first write was staged.
    staged: bool,
    /// The ring is half full: write it out before its time, or the test's thread would have to.
    half_full: bool,
}
/// The descriptions fd 1 and 2 had when the worker was armed (device, inode).
static PIPE_ID: Mutex<Option<(u64, u64)>> = Mutex::new(None);

thread_local! {
    /// This thread is inside the stage's code: a write it makes (a signal handler's, a record's)
    /// goes to the descriptor at once.
    static INSIDE: Cell<bool> = const { Cell::new(false) };
}

/// Marks this thread as inside the stage's code until dropped.
struct Inside(bool);

impl Inside {
    fn enter() -> Inside {
        Inside(INSIDE.with(|inside| inside.replace(true)))
    }
}

impl Drop for Inside {
    fn drop(&mut self) {
        INSIDE.with(|inside| inside.set(self.0));
    }
}

/// Arms this process (a worker whose fd 1 and 2 are now the capture pipe) with `stage`,
/// which it keeps until it exits.
pub(crate) fn arm(stage: std::sync::Arc<Stage>) {
    let shared = stage.shared;
    // The mapping stays for the life of the process.
    std::mem::forget(stage);
    *PIPE_ID.lock().unwrap_or_else(PoisonError::into_inner) = description(1);
    STAGE.store(shared, Ordering::Release);
    // SAFETY: registers handlers that are plain functions of this module.
    unsafe {
        libc::pthread_atfork(Some(before_fork), None, Some(in_forked_copy));
    }
    ARMED.store(true, Ordering::Release);
}

/// Wakes the flusher thread for `why`, started the first time: a worker whose tests never
/// write in bursts (most) does not pay for a thread. Without one (none could be started), what
/// is staged still goes out by the other rules.
fn wake_flusher(why: impl FnOnce(&mut Wake)) {
    static STARTED: AtomicBool = AtomicBool::new(false);
    if !STARTED.swap(true, Ordering::AcqRel) {
        let _ = std::thread::Builder::new()
            .name("mptest-output".into())
            .spawn(flusher);
    }
    let (state, wake) = &WAKE;
    why(&mut state.lock().unwrap_or_else(PoisonError::into_inner));
    wake.notify_one();
}

/// Arms a re-executed worker with the stage its coordinator handed it, if any (see
/// [`Stage::for_exec`]).
pub(crate) fn arm_inherited() {
    use std::os::fd::{FromRawFd, OwnedFd};
    let Some(fd) = std::env::var(STAGE_FD_VAR).ok().and_then(|fd| fd.parse::<libc::c_int>().ok()) else {
        return;
    };
    // Single-threaded here (the worker's start): the variable is for this process alone.
    std::env::remove_var(STAGE_FD_VAR);
    // SAFETY: fstat on a descriptor number; taken as ours only if it is open.
    let mut stat: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    if fd < 3 || unsafe { libc::fstat(fd, &mut stat) } != 0 {
        return;
    }
    // SAFETY: the coordinator left this descriptor open for this process alone; it is closed
    // here once mapped.
    let file = unsafe { OwnedFd::from_raw_fd(fd) };
    if stat.st_size as usize == std::mem::size_of::<Shared>() {
        if let Some(stage) = Stage::map_fd(Some(&file)) {
            arm(std::sync::Arc::new(stage));
        }
    }
}

/// The (device, inode) of what `fd` is open on.
fn description(fd: libc::c_int) -> Option<(u64, u64)> {
    // SAFETY: fstat into a zeroed stat of ours.
    let mut stat: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    (unsafe { libc::fstat(fd, &mut stat) } == 0).then_some((stat.st_dev as u64, stat.st_ino as u64))
}

/// Whether this process's writes to fd 1 and 2 are staged now.
pub fn armed() -> bool {
    ARMED.load(Ordering::Acquire)
}

/// The flusher thread writes nothing out while set (mptest's own tests: what is staged then
/// leaves only as the other rules say).
static HOLD: AtomicBool = AtomicBool::new(false);

/// Holds the flusher thread: while held it writes nothing out (mptest's own tests).
pub fn hold_flusher(hold: bool) {
    HOLD.store(hold, Ordering::Release);
}

/// At a test's start: arms the worker again if a test before moved fd 1 or 2 and both are back
/// on the pipe.
pub(crate) fn rearm() {
    if STAGE.load(Ordering::Acquire).is_null() || ARMED.load(Ordering::Acquire) {
        return;
    }
    let pipe = *PIPE_ID.lock().unwrap_or_else(PoisonError::into_inner);
    if pipe.is_some() && description(1) == pipe && description(2) == pipe {
        ARMED.store(true, Ordering::Release);
    }
}

/// Stages `bytes`, written to `fd` (1 or 2), and says how many were taken; `None` when the
/// worker is not armed (they must be written at once instead). A write that is not part of a
/// burst (see [`in_a_burst`]) is written at once, as is a large one, after what is staged.
fn stage(fd: libc::c_int, bytes: &[u8]) -> Option<isize> {
    if !ARMED.load(Ordering::Relaxed) || INSIDE.with(Cell::get) {
        return None;
    }
    let _inside = Inside::enter();
    let mut last_empty = APPEND.lock().unwrap_or_else(PoisonError::into_inner);
    let shared = armed_stage()?;
    let staged = shared.staged.load(Ordering::Relaxed);
    let mut written = shared.written.load(Ordering::Acquire);
    if staged == written && !in_a_burst(&mut last_empty) {
        return Some(raw_write(fd, bytes));
    }
    if bytes.len() > RING / 4 {
        write_out(shared);
        return Some(raw_write(fd, bytes));
    }
    if staged - written + bytes.len() as u64 > RING as u64 {
        write_out(shared);
        written = shared.written.load(Ordering::Acquire);
    }
    let start = (staged % RING as u64) as usize;
    let first = bytes.len().min(RING - start);
    // SAFETY: the ring's bytes from `staged` on are not being written out (a writer out takes
    // only what was staged before), and only this thread, holding `APPEND`, writes them.
    unsafe {
        let ring = shared.ring.get().cast::<u8>();
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), ring.add(start), first);
        std::ptr::copy_nonoverlapping(bytes.as_ptr().add(first), ring, bytes.len() - first);
    }
    shared.staged.store(staged + bytes.len() as u64, Ordering::Release);
    let (before, after) = (staged - written, staged - written + bytes.len() as u64);
    if FLUSHER_IDLE.load(Ordering::Relaxed) {
        FLUSHER_IDLE.store(false, Ordering::Relaxed);
        wake_flusher(|wake| wake.staged = true);
    } else if before < RING as u64 / 2 && after >= RING as u64 / 2 {
        wake_flusher(|wake| wake.half_full = true);
    }
    Some(bytes.len() as isize)
}

/// Writes closer together than this are a burst, and staged: a lone write goes to the pipe at
/// once, so what processes print now and then keeps its order exactly. (A write to the pipe
/// and its reader's wake-up take tens of µs; an `eprintln!` in a loop writes every µs or so.)
const BURST_GAP: std::time::Duration = std::time::Duration::from_micros(100);

/// Whether this write, made when nothing is staged, follows within [`BURST_GAP`] the last
/// write that found nothing staged (`last_empty`, which it becomes). Only such writes read the
/// clock: one in a burst whose start is staged finds the stage full and is staged.
fn in_a_burst(last_empty: &mut Option<std::time::Instant>) -> bool {
    let now = std::time::Instant::now();
    let burst = last_empty.is_some_and(|last| now.duration_since(last) < BURST_GAP);
    *last_empty = Some(now);
    burst
}

fn armed_ptr() -> *mut Shared {
    STAGE.load(Ordering::Acquire)
}

/// The stage, while armed.
fn armed_stage() -> Option<&'static Shared> {
    let shared = armed_ptr();
    // SAFETY: a stage once armed stays mapped for the life of the process (see `arm`).
    (ARMED.load(Ordering::Acquire) && !shared.is_null()).then(|| unsafe { &*shared })
}

/// Writes what is staged to the pipe (fd 1), in order with every other writer of the stage.
fn write_out(shared: &Shared) {
    let _inside = Inside::enter();
    let _write_out = WRITE_OUT.lock().unwrap_or_else(PoisonError::into_inner);
    let written = shared.written.load(Ordering::Acquire);
    let staged = shared.staged.load(Ordering::Acquire);
    if staged == written {
        return;
    }
    // SAFETY: staged and not written; `APPEND`'s holder writes only after `staged`.
    let (first, second) = unsafe { ring_slices(shared, written, staged) };
    // A failed write (the coordinator gone) loses the bytes, as a direct write would have.
    for part in [first, second] {
        let _ = write_all_now(1, part);
    }
    shared.written.store(staged, Ordering::Release);
}

/// Writes `bytes` to `fd` at once, below the stage.
pub(crate) fn write_all_now(fd: libc::c_int, mut bytes: &[u8]) -> std::io::Result<()> {
    while !bytes.is_empty() {
        match raw_write(fd, bytes) {
            n if n >= 0 => bytes = &bytes[(n as usize).min(bytes.len())..],
            _ => match std::io::Error::last_os_error() {
                err if err.kind() == std::io::ErrorKind::Interrupted => {}
                err => return Err(err),
            },
        }
    }
    Ok(())
}

/// The `write` system call itself (not the C library's function, which this build may define).
fn raw_write(fd: libc::c_int, bytes: &[u8]) -> isize {
    #[cfg(target_os = "linux")]
    // SAFETY: write(2) of a slice we hold.
    return unsafe { libc::syscall(libc::SYS_write, fd, bytes.as_ptr(), bytes.len()) } as isize;
    #[cfg(not(target_os = "linux"))]
    // SAFETY: as above.
    return unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
}

/// Writes out what is staged (at the worker's end: nothing is left to its coordinator).
pub(crate) fn write_out_now() {
    in_order(|| ());
}

/// Runs `write` (a record's) after everything staged is written, with nothing staged meanwhile;
/// its own writes go to their descriptor at once.
pub(crate) fn in_order<R>(write: impl FnOnce() -> R) -> R {
    let _inside = Inside::enter();
    if STAGE.load(Ordering::Acquire).is_null() {
        return write();
    }
    let _append = APPEND.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(shared) = armed_stage() {
        write_out(shared);
    }
    write()
}

/// Before fd 1 or 2 is moved or closed: writes out what is staged and disarms (see [`rearm`]).
fn before_redirect(fd: libc::c_int) {
    if (fd == 1 || fd == 2) && ARMED.load(Ordering::Acquire) {
        in_order(|| ARMED.store(false, Ordering::Release));
    }
}

/// The flusher thread: woken by the first write of a burst, writes out what the burst staged
/// in its first [`BURST_GAP`] (or until the ring is half full) — one write to the pipe for
/// hundreds of the test's, where waking at once would write the burst out a line at a time,
/// and on one CPU take the CPU from the test for each — and then what it stages in each
/// [`BURST_GAP`] after, until it stops.
fn flusher() {
    let (state, wake) = &WAKE;
    loop {
        let woken = state.lock().unwrap_or_else(PoisonError::into_inner);
        let mut woken = wake
            .wait_while(woken, |woken| !woken.staged && !woken.half_full)
            .unwrap_or_else(PoisonError::into_inner);
        woken.staged = false;
        let (mut woken, _) = wake
            .wait_timeout_while(woken, BURST_GAP, |woken| !woken.half_full)
            .unwrap_or_else(PoisonError::into_inner);
        woken.half_full = false;
        drop(woken);
        let shared = armed_stage();
        if let Some(shared) = shared.filter(|_| !HOLD.load(Ordering::Acquire)) {
            write_out(shared);
        }
        // Idle — unless what was staged while this thread wrote out is still there (its
        // writers found it busy and woke nobody), or a writer is staging now (it holds
        // `APPEND`; waiting for it would cost a switch to it and back): then another round.
        let _inside = Inside::enter();
        let append = APPEND.try_lock();
        let left = append.is_err()
            || shared.is_some_and(|shared| {
                shared.staged.load(Ordering::Acquire) != shared.written.load(Ordering::Acquire)
            });
        if left && !HOLD.load(Ordering::Acquire) {
            state.lock().unwrap_or_else(PoisonError::into_inner).staged = true;
        } else {
            FLUSHER_IDLE.store(true, Ordering::Relaxed);
        }
    }
}

/// Before the process forks or spawns another (`pthread_atfork`'s prepare handler, and the
/// `posix_spawn` of [`interpose`]): what was staged goes out first.
extern "C" fn before_fork() {
    // Not from within the stage's code (a signal handler's fork): its locks may be held.
    if !INSIDE.with(Cell::get) {
        write_out_now();
    }
}

/// `pthread_atfork`'s child handler: a forked copy (a process the test starts) writes to its
/// descriptors itself.
extern "C" fn in_forked_copy() {
    ARMED.store(false, Ordering::Release);
    STAGE.store(std::ptr::null_mut(), Ordering::Release);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ring_gives_what_was_staged_across_its_end() {
        let stage = Stage::map_fd(None).expect("a mapping");
        let shared = stage.shared();
        // SAFETY: no one else has this stage.
        let ring = unsafe { &mut *shared.ring.get() };
        ring[RING - 2..].copy_from_slice(b"ab");
        ring[..3].copy_from_slice(b"cde");
        let from = (3 * RING - 2) as u64;
        shared.written.store(from, Ordering::Release);
        shared.staged.store(from + 5, Ordering::Release);
        assert_eq!(stage.unwritten(), b"abcde");
        shared.written.store(from + 5, Ordering::Release);
        assert_eq!(stage.unwritten(), b"");
    }
}
