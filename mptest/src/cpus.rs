//! Where the scheduler runs what mptest starts, on Linux.
//!
//! This kernel leaves a forked child on its parent's CPU, where it waits until the parent
//! blocks or a balancer moves it (measured here: ~100 µs, and the whole of the parent's work
//! after the fork when the balancer is late), while the other CPU idles; and a process or thread
//! woken on another CPU costs ~30 µs more than on the waker's (~2 µs).
//!
//! When a CPU is idle, a forked worker is sent to another CPU at once ([`start_elsewhere`]): it starts beside the
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
/// CPUs `cpus`), to one CPU of those, when one of the machine's `idle` CPUs ([`idle_cpus`],
/// read before the first fork) is left for it: the `nth` after this thread's, round — the first
/// beside this thread, each next one beside the one before. When every CPU is busy
/// (cargo-nextest runs a binary per test, several at once) it stays: moved, it would wait
/// behind another process instead of behind this one, which soon waits for it. The child takes
/// `cpus` back with [`take_back`].
#[cfg(target_os = "linux")]
pub(crate) fn start_elsewhere(child: libc::pid_t, nth: usize, idle: usize, cpus: &Cpus) {
    let Some(here) = this_cpu().filter(|_| nth < idle) else { return };
    // SAFETY: CPU_ISSET on a set of ours, for CPUs below its size.
    let allowed: Vec<usize> = (0..8 * Cpus::SIZE).filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &cpus.0) }).collect();
    let after_here = allowed.iter().position(|&cpu| cpu > here).unwrap_or(0);
    if let Some(&cpu) = allowed.get((after_here + nth) % allowed.len().max(1)) {
        Cpus::only(cpu).apply(child);
    }
}

/// How many of the machine's CPUs have nothing to run now: those online, less the processes
/// and threads that can run (`/proc/loadavg`'s runnable count, this thread among them).
#[cfg(target_os = "linux")]
pub(crate) fn idle_cpus() -> usize {
    // SAFETY: sysconf with a valid name.
    let online = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    let runnable = std::fs::read_to_string("/proc/loadavg").ok().and_then(|text| runnable_in(&text));
    runnable.map_or(0, |runnable| usize::try_from(online as i64 - runnable).unwrap_or(0))
}

/// The runnable count of a `/proc/loadavg` text (`0.52 0.58 0.59 2/467 12345`: 2).
#[cfg(target_os = "linux")]
fn runnable_in(loadavg: &str) -> Option<i64> {
    let (runnable, _) = loadavg.split_whitespace().nth(3)?.split_once('/')?;
    runnable.parse().ok()
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn the_runnable_count_is_read_from_loadavg_and_nothing_else_passes_for_it() {
        assert_eq!(runnable_in("0.52 0.58 0.59 2/467 12345\n"), Some(2));
        assert_eq!(runnable_in("1.80 0.89 0.35 13/108 23448"), Some(13));
        assert_eq!(runnable_in("0.52 0.58 0.59"), None);
        assert_eq!(runnable_in("0.52 0.58 0.59 x/467 1"), None);
        assert_eq!(runnable_in(""), None);
    }

    #[test]
    fn a_thread_narrowed_to_one_cpu_and_given_its_cpus_back_has_them_as_before() {
        // SAFETY: CPU_ISSET on a set of ours, for CPUs below its size.
        let listed = |set: &Cpus| -> Vec<usize> {
            (0..8 * Cpus::SIZE).filter(|&c| unsafe { libc::CPU_ISSET(c, &set.0) }).collect()
        };
        let all = Cpus::of_this_thread().expect("this thread's CPUs");
        let cpu = this_cpu().expect("this CPU");
        assert!(Cpus::only(cpu).apply(0));
        assert_eq!(listed(&Cpus::of_this_thread().unwrap()), vec![cpu]);
        all.restore();
        assert_eq!(listed(&Cpus::of_this_thread().unwrap()), listed(&all));
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
pub(crate) fn start_elsewhere(_child: libc::pid_t, _nth: usize, _idle: usize, _cpus: &Cpus) {}

#[cfg(not(target_os = "linux"))]
pub(crate) fn idle_cpus() -> usize {
    0
}

/// A forked worker's own CPUs: the coordinator's, known before the fork (see
/// [`start_elsewhere`]).
static WORKERS: std::sync::OnceLock<Cpus> = std::sync::OnceLock::new();

/// In a forked worker, first thing: its own CPUs are `cpus`.
pub(crate) fn remember(cpus: Cpus) {
    let _ = WORKERS.set(cpus);
}

/// Whether [`take_back`] gave them back.
static TAKEN_BACK: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// In a forked worker: gives this thread its own CPUs back, once the coordinator has narrowed
/// them (see [`start_elsewhere`]); once — later calls do nothing.
pub(crate) fn take_back() {
    if let Some(cpus) = WORKERS.get() {
        if !TAKEN_BACK.swap(true, std::sync::atomic::Ordering::Relaxed) {
            cpus.restore();
        }
    }
}
