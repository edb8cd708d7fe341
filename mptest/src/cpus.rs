//! Where the scheduler runs what mptest starts, on Linux.
//!
//! This kernel leaves a forked child on its parent's CPU, where it waits until the parent
//! blocks or a balancer moves it (measured here: ~100 µs, and the whole of the parent's work
//! after the fork when the balancer is late), while the other CPU idles; and a process or thread
//! woken on another CPU costs ~30 µs more than on the waker's (~2 µs).
//!
//! A forked worker is sent to another CPU at once ([`start_elsewhere`]): it starts beside the
//! coordinator instead of after it. It takes its CPUs back ([`Cpus::restore`]) before anything of
//! the user's runs — a test sees the CPUs the coordinator had (`available_parallelism`, and so
//! rayon's and tokio's pool sizes, depend on them).
//!
//! (Starting a group's founder or a test's thread on the CPU of the thread that then waits for
//! it, which saves a wake-up across CPUs, measured no faster here: not done.)
//!
//! Elsewhere workers are not forked, and these do nothing.

/// A set of CPUs (`cpu_set_t`).
#[derive(Clone, Copy)]
pub(crate) struct Cpus(#[cfg(target_os = "linux")] libc::cpu_set_t);

#[cfg(target_os = "linux")]
impl Cpus {
    const SIZE: usize = std::mem::size_of::<libc::cpu_set_t>();

    /// The CPUs this thread may run on.
    pub(crate) fn of_this_thread() -> Option<Cpus> {
        // SAFETY: cpu_set_t is plain data; the call writes the set given, of its size.
        unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            (libc::sched_getaffinity(0, Self::SIZE, &mut set) == 0).then_some(Cpus(set))
        }
    }

    /// Holds thread or process `tid` (0: this thread) to these CPUs.
    fn apply(&self, tid: libc::pid_t) -> bool {
        // SAFETY: reads the set given, of its size.
        unsafe { libc::sched_setaffinity(tid, Self::SIZE, &self.0) == 0 }
    }

    /// Gives this thread these CPUs (back).
    pub(crate) fn restore(&self) {
        self.apply(0);
    }

    /// `cpu` alone.
    fn only(cpu: usize) -> Cpus {
        // SAFETY: as above.
        unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_SET(cpu, &mut set);
            Cpus(set)
        }
    }
}

/// The CPU this thread is on, when the sets can name it.
#[cfg(target_os = "linux")]
fn this_cpu() -> Option<usize> {
    // SAFETY: no arguments.
    let cpu = unsafe { libc::sched_getcpu() };
    usize::try_from(cpu).ok().filter(|&cpu| cpu < 8 * Cpus::SIZE)
}

/// Sends the process `child`, the `nth` (from 0) just forked by this thread (which has the
/// CPUs `cpus`), to one CPU of those: the `nth` after this thread's, round — the first beside
/// this thread, each next one beside the one before. The child takes `cpus` back with
/// [`Cpus::restore`].
#[cfg(target_os = "linux")]
pub(crate) fn start_elsewhere(child: libc::pid_t, nth: usize, cpus: &Cpus) {
    let Some(here) = this_cpu() else { return };
    // SAFETY: CPU_ISSET on a set of ours, for CPUs below its size.
    let allowed: Vec<usize> = (0..8 * Cpus::SIZE).filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &cpus.0) }).collect();
    let after_here = allowed.iter().position(|&cpu| cpu > here).unwrap_or(0);
    if let Some(&cpu) = allowed.get((after_here + nth) % allowed.len().max(1)) {
        Cpus::only(cpu).apply(child);
    }
}

#[cfg(not(target_os = "linux"))]
impl Cpus {
    pub(crate) fn of_this_thread() -> Option<Cpus> {
        None
    }

    pub(crate) fn restore(&self) {}
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn start_elsewhere(_child: libc::pid_t, _nth: usize, _cpus: &Cpus) {}

/// A forked worker's own CPUs: the coordinator's, known before the fork (see
/// [`start_elsewhere`]).
static WORKERS: std::sync::OnceLock<Cpus> = std::sync::OnceLock::new();

/// In a forked worker, first thing: its own CPUs are `cpus`.
pub(crate) fn remember(cpus: Cpus) {
    let _ = WORKERS.set(cpus);
}

/// In a forked worker: gives this thread its own CPUs back, once the coordinator has narrowed
/// them (see [`start_elsewhere`]).
pub(crate) fn take_back() {
    if let Some(cpus) = WORKERS.get() {
        cpus.restore();
    }
}
