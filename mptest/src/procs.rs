//! Processes: finding what a test left running, ending it, naming signals.
//!
//! Workers are child subreapers on Linux, so a process a test forgot — even one that called
//! `setsid` and double-forked — ends up as a child of its worker instead of `init`, where the
//! worker finds it and ends it. The coordinator is a subreaper too, for what a dead worker leaves.
//! Where there is no subreaper (and no `/proc`; see [`crate::platform`]), the table comes from
//! `ps`, and a leftover whose parent exited is found by the worker's process group.

use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{kill, killpg, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

/// One process, as `/proc/<pid>/stat` (or `ps`) describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ProcInfo {
    pub(crate) pid: i32,
    pub(crate) ppid: i32,
    pub(crate) pgid: i32,
    pub(crate) comm: String,
}

/// Parses a `/proc/<pid>/stat` line. The command name sits in parentheses and may itself hold
/// spaces and parentheses, so the fields after it are found from the last `)`.
pub(crate) fn parse_stat(line: &str) -> Option<ProcInfo> {
    let open = line.find('(')?;
    let close = line.rfind(')')?;
    let pid = line[..open].trim().parse().ok()?;
    let comm = line[open + 1..close].to_string();
    let mut rest = line[close + 1..].split_whitespace();
    let _state = rest.next()?;
    let ppid = rest.next()?.parse().ok()?;
    let pgid = rest.next()?.parse().ok()?;
    Some(ProcInfo { pid, ppid, pgid, comm })
}

/// Parses `ps -A -o pid=,ppid=,pgid=,comm=` output (the command is last and may hold spaces).
pub(crate) fn parse_ps(text: &str) -> Vec<ProcInfo> {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let pid = fields.next()?.parse().ok()?;
            let ppid = fields.next()?.parse().ok()?;
            let pgid = fields.next()?.parse().ok()?;
            let comm = fields.collect::<Vec<_>>().join(" ");
            // macOS's `comm` is the program's path: keep its file name, as Linux's.
            let comm = comm.rsplit('/').next().unwrap_or_default().to_string();
            Some(ProcInfo { pid, ppid, pgid, comm })
        })
        .collect()
}

/// `ps` with these arguments: its output as text (`None` if it could not run) and its pid
/// (it lists itself, a child of ours).
fn ps(args: &[&str]) -> Option<(String, i32)> {
    let child = std::process::Command::new("ps")
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .ok()?;
    let pid = child.id() as i32;
    let out = child.wait_with_output().ok()?;
    Some((String::from_utf8_lossy(&out.stdout).into_owned(), pid))
}

/// The state letter of a `/proc/<pid>/stat` line (R, S, D, Z, ...).
pub(crate) fn parse_state(line: &str) -> Option<char> {
    line[line.rfind(')')? + 1..]
        .split_whitespace()
        .next()?
        .chars()
        .next()
}

/// Every process visible in `/proc`, or that `ps` lists where this build does not read `/proc`.
pub(crate) fn all_processes() -> Vec<ProcInfo> {
    if !crate::platform::LINUX {
        let Some((text, ps_pid)) = ps(&["-A", "-o", "pid=,ppid=,pgid=,comm="]) else {
            return Vec::new();
        };
        return parse_ps(&text).into_iter().filter(|p| p.pid != ps_pid).collect();
    }
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|entry| {
        let entry = entry.ok()?;
        entry.file_name().to_str()?.parse::<i32>().ok()?;
        let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
        parse_stat(&stat)
    })
    .collect()
}

/// The processes below `root`, not descending into the pids in `stop_at`.
pub(crate) fn descendants(root: i32, procs: &[ProcInfo], stop_at: &[i32]) -> Vec<ProcInfo> {
    let mut found: Vec<ProcInfo> = Vec::new();
    let mut frontier = vec![root];
    while let Some(parent) = frontier.pop() {
        for p in procs
            .iter()
            .filter(|p| p.ppid == parent && !stop_at.contains(&p.pid))
        {
            if !found.iter().any(|f| f.pid == p.pid) {
                frontier.push(p.pid);
                found.push(p.clone());
            }
        }
    }
    found
}

/// Makes this process a child subreaper (Linux only; elsewhere orphans go to init).
pub(crate) fn become_subreaper() {
    #[cfg(all(target_os = "linux", not(mptest_portable)))]
    if nix::sys::prctl::set_child_subreaper(true).is_ok() {
        SUBREAPER.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// This process became a subreaper.
static SUBREAPER: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// True when nothing can be running below this process, known without a scan of the process
/// table: it is a subreaper and has no child. (An orphan of any descendant is reparented to
/// a subreaper before its parent can be reaped, so no child means no descendant.)
pub(crate) fn nothing_below() -> bool {
    SUBREAPER.load(std::sync::atomic::Ordering::Relaxed) && !has_children()
}

/// Sends `signal` to a process group, ignoring one that is already gone.
pub(crate) fn signal_group(leader: i32, signal: Signal) {
    // killpg(0) (or 1) would signal our own group (or everything we may signal): never a group
    // of ours to end.
    if leader > 1 {
        let _ = killpg(Pid::from_raw(leader), signal);
    }
}

/// Ends `pid` with SIGKILL and reaps it, waiting at most `limit`, if it is a child of ours;
/// else does nothing (it is gone, or another's).
pub(crate) fn end_child(pid: i32, limit: Duration) {
    let pid = Pid::from_raw(pid);
    let reap = || waitpid(pid, Some(WaitPidFlag::WNOHANG));
    if pid.as_raw() <= 1 || !matches!(reap(), Ok(WaitStatus::StillAlive)) {
        return;
    }
    let _ = kill(pid, Signal::SIGKILL);
    // Its exit is an event on a pidfd (Linux: elsewhere no orphan becomes ours, there being no
    // subreaper, and this is not reached).
    if let Some(exit) = pidfd_open(pid.as_raw()) {
        use std::os::fd::AsFd;
        let mut fds = [nix::poll::PollFd::new(exit.as_fd(), nix::poll::PollFlags::POLLIN)];
        let millis = i32::try_from(limit.as_millis()).unwrap_or(i32::MAX);
        let _ = nix::poll::poll(&mut fds, nix::poll::PollTimeout::try_from(millis).unwrap_or(nix::poll::PollTimeout::MAX));
    }
    let _ = reap();
}

/// A descriptor that becomes readable when process `pid` exits (Linux's pidfd; `None`
/// elsewhere, or when it cannot be opened).
#[cfg(target_os = "linux")]
pub(crate) fn pidfd_open(pid: i32) -> Option<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    // SAFETY: pidfd_open(2) takes a pid and flags, and returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    // SAFETY: a descriptor just made, ours alone.
    (fd >= 0).then(|| unsafe { std::os::fd::OwnedFd::from_raw_fd(fd as i32) })
}

/// A descriptor that becomes readable when process `pid` exits (Linux's pidfd; `None`
/// elsewhere, or when it cannot be opened).
#[cfg(not(target_os = "linux"))]
pub(crate) fn pidfd_open(_pid: i32) -> Option<std::os::fd::OwnedFd> {
    None
}

/// How long leftovers have, after SIGTERM, before SIGKILL.
const TERM_GRACE: Duration = Duration::from_millis(500);

/// Ends these processes — SIGTERM, and SIGKILL for those still there [`TERM_GRACE`] later — and
/// reaps those that are (or become) our children, waiting at most `limit` after the SIGKILL.
/// SIGTERM first because mptest's own processes (children, auxiliaries, managers) end on it
/// through `exit`, which writes their coverage profile; most programs simply end. Returns their
/// names as they were when they were ended ("1234 (sleep 30)"): a process listed as `sh` may
/// have exec'd `sleep` since.
pub(crate) fn end_processes(procs: &[ProcInfo], limit: Duration) -> Vec<String> {
    let cmdlines: Vec<Option<String>> = procs.iter().map(|p| settled_cmdline(p.pid)).collect();
    // The name each had when it died, read from its zombie (which keeps its last `comm`).
    let mut at_death: Vec<Option<String>> = vec![None; procs.len()];
    let mut left: Vec<usize> = (0..procs.len()).collect();
    for (signal, wait) in [(Signal::SIGTERM, TERM_GRACE), (Signal::SIGKILL, limit)] {
        for &i in &left {
            let _ = kill(Pid::from_raw(procs[i].pid), signal);
        }
        let deadline = Instant::now() + wait;
        while !left.is_empty() && Instant::now() < deadline {
            left.retain(|&i| match life(procs[i].pid) {
                Life::Running => true,
                // Dead, but its parent (ending too) has not reaped it: it becomes ours (we are
                // the subreaper) when that parent exits, and is reaped here then, so that
                // nothing of the run is left, not even a zombie for init.
                Life::Unreaped(comm) => {
                    at_death[i] = at_death[i].take().or(comm);
                    true
                }
                Life::Dead(comm) => {
                    at_death[i] = at_death[i].take().or(comm);
                    false
                }
            });
            if !left.is_empty() {
                // A signalled process takes a moment to exit; there is no portable event to
                // wait on.
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        if left.is_empty() {
            break;
        }
    }
    procs
        .iter()
        .zip(cmdlines)
        .zip(at_death)
        .map(|((p, cmdline), comm)| format!("{} ({})", p.pid, final_name(p, cmdline, comm)))
        .collect()
}

/// Whether a process still runs.
enum Life {
    Running,
    /// Exited, a zombie its parent (not us) has not reaped yet.
    Unreaped(Option<String>),
    /// Exited (reaped here if it was our child), with the name it died with where known.
    Dead(Option<String>),
}

fn life(pid: i32) -> Life {
    let reap = || waitpid(Pid::from_raw(pid), Some(WaitPidFlag::WNOHANG));
    if !crate::platform::LINUX {
        // No zombie's state to read: our own child is reaped once it exited; another's is
        // gone when its parent (init, for an orphan) has reaped it.
        return match reap() {
            Ok(WaitStatus::Exited(..) | WaitStatus::Signaled(..)) => Life::Dead(None),
            _ if kill(Pid::from_raw(pid), None).is_err() => Life::Dead(None),
            _ => Life::Running,
        };
    }
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return Life::Dead(None); // gone (reaped by its parent)
    };
    if !matches!(parse_state(&stat), Some('Z' | 'X')) {
        return Life::Running;
    }
    // Reap it if it is ours; another's zombie is its parent's to reap, or ours once that
    // parent is gone.
    let comm = parse_stat(&stat).map(|p| p.comm);
    match reap() {
        Err(nix::errno::Errno::ECHILD) => Life::Unreaped(comm),
        _ => Life::Dead(comm),
    }
}

/// The best name for a process that was ended: its command line if it still ran that
/// program when it died, else the name it died with, else what it was listed as.
fn final_name(listed: &ProcInfo, cmdline: Option<String>, comm_at_death: Option<String>) -> String {
    match (cmdline, comm_at_death) {
        (Some(cmdline), Some(comm)) if comm_of(&cmdline) == comm => cmdline,
        (_, Some(comm)) => comm,
        (Some(cmdline), None) => cmdline,
        (None, None) => listed.comm.clone(),
    }
}

/// The `comm` the kernel gives a command line's program: its file name cut to 15 bytes — or,
/// for mptest's own processes ("suite: worker 2"), the title after the colon.
fn comm_of(cmdline: &str) -> String {
    let program = cmdline.split(' ').next().unwrap_or_default();
    let base = match cmdline.split_once(": ") {
        Some((suite, title)) if !suite.contains('/') && !suite.contains(' ') => title,
        _ => program.rsplit('/').next().unwrap_or(program),
    };
    let mut end = base.len().min(15);
    while !base.is_char_boundary(end) {
        end -= 1;
    }
    base[..end].to_string()
}

/// [`cmdline`], for a process that may be in the middle of `exec`: the kernel gives it its new
/// name before its new arguments, and meanwhile the command line reads empty. Looks again, for
/// at most 20 ms, while the process lives and has none.
fn settled_cmdline(pid: i32) -> Option<String> {
    for _ in 0..20 {
        if let Some(line) = cmdline(pid) {
            return Some(line);
        }
        if !crate::platform::LINUX {
            return None;
        }
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        if matches!(parse_state(&stat), Some('Z' | 'X')) {
            return None;
        }
        // No event marks the end of an exec; it takes microseconds.
        std::thread::sleep(Duration::from_millis(1));
    }
    None
}

/// `/proc/<pid>/cmdline` (or `ps -o args=`) with spaces between the arguments, at most 100
/// characters.
fn cmdline(pid: i32) -> Option<String> {
    let line = if crate::platform::LINUX {
        let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        let args: Vec<String> = raw
            .split(|&b| b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        args.join(" ")
    } else {
        ps(&["-o", "args=", "-p", &pid.to_string()])?.0.trim().to_string()
    };
    if line.is_empty() {
        return None;
    }
    Some(match line.char_indices().nth(100) {
        Some((cut, _)) => format!("{}...", &line[..cut]),
        None => line,
    })
}

/// In a worker after a test: ends every process below this one and names them. Cheap when the
/// test left nothing: one `waitpid` that answers ECHILD.
pub(crate) fn end_leftovers() -> Vec<String> {
    let mut named = Vec::new();
    // A few rounds: a leftover may fork while we look.
    for _ in 0..5 {
        // Most tests start no process: one system call, and done.
        if !has_children() {
            break;
        }
        let me = std::process::id() as i32;
        let procs = all_processes();
        let mut left = descendants(me, &procs, &[]);
        if !crate::platform::LINUX {
            // No subreaper: what lost its parent is found in our process group.
            left.extend(group_strays(me, &procs, &left));
        }
        if left.is_empty() {
            // Only zombies raced us; reaped by has_children next round.
            continue;
        }
        named.extend(end_processes(&left, Duration::from_secs(2)));
    }
    named
}

/// At the end of a run, when nothing of it should be left: ends every process `scan` finds
/// below this one, in rounds until this process has no child left. One scan of `/proc` is no
/// snapshot: a process reparented to us (the subreaper) while it ran, or one that died after it
/// as a zombie of ours, is found (or reaped) by the next round. `has_children` reaps what
/// exited and tells whether a child is left ([`has_children`] in the coordinator). Names what
/// it ended.
pub(crate) fn end_all_below(
    mut scan: impl FnMut() -> Vec<ProcInfo>,
    mut has_children: impl FnMut() -> bool,
) -> Vec<String> {
    let mut named = Vec::new();
    for _ in 0..5 {
        let left = scan();
        if left.is_empty() && !has_children() {
            break;
        }
        named.extend(end_processes(&left, Duration::from_secs(2)));
    }
    named
}

/// The processes of our process group that are neither us, nor our parent (the anchor that
/// leads the group), nor already in `found`.
fn group_strays(me: i32, procs: &[ProcInfo], found: &[ProcInfo]) -> Vec<ProcInfo> {
    let group = nix::unistd::getpgrp().as_raw();
    let parent = nix::unistd::getppid().as_raw();
    procs
        .iter()
        .filter(|p| p.pgid == group && p.pid != me && p.pid != parent && p.pid != group)
        .filter(|p| !found.iter().any(|f| f.pid == p.pid))
        .cloned()
        .collect()
}

/// In a worker about to exit, where there is no subreaper: ends what its tests left in its
/// process group whose parent exited (a test's `has_children` cannot see those). Names them.
pub(crate) fn end_group_strays() -> Vec<String> {
    if crate::platform::LINUX {
        return Vec::new();
    }
    let me = std::process::id() as i32;
    let strays = group_strays(me, &all_processes(), &[]);
    if strays.is_empty() {
        return Vec::new();
    }
    end_processes(&strays, Duration::from_secs(2))
}

/// Reaps exited children and tells whether any child is left.
pub(crate) fn has_children() -> bool {
    loop {
        match waitpid(None::<Pid>, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) => return true,
            Ok(_) => continue,
            Err(Errno::EINTR) => continue,
            Err(_) => return false,
        }
    }
}

/// A signal's name and meaning: "SIGSEGV (segmentation fault)".
pub(crate) fn signal_name(signal: i32) -> String {
    let meaning = match signal {
        1 => "hangup",
        2 => "interrupt",
        3 => "quit",
        4 => "illegal instruction",
        5 => "trace trap",
        6 => "abort",
        7 => "bus error",
        8 => "floating-point exception",
        9 => "killed",
        11 => "segmentation fault",
        13 => "broken pipe",
        14 => "alarm",
        15 => "terminated",
        _ => "",
    };
    let name = Signal::try_from(signal)
        .map(|s| s.as_str().to_string())
        .unwrap_or_else(|_| format!("signal {signal}"));
    if meaning.is_empty() {
        name
    } else {
        format!("{name} ({meaning})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Starts `sh -c script`, which must first start a grandchild in the background and echo
    /// its pid; makes this process the subreaper. Returns (parent, grandchild). The parent's
    /// handle is forgotten: it must not reap the parent behind the code under test.
    #[cfg(all(target_os = "linux", not(mptest_portable)))]
    fn parent_with_grandchild(script: &str) -> (i32, i32) {
        use std::io::BufRead;
        become_subreaper();
        let mut parent = std::process::Command::new("sh")
            .args(["-c", script])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("sh starts");
        let mut line = String::new();
        std::io::BufReader::new(parent.stdout.take().expect("piped"))
            .read_line(&mut line)
            .expect("the grandchild's pid");
        let grandchild: i32 = line.trim().parse().expect("a pid");
        let parent_pid = parent.id() as i32;
        std::mem::forget(parent);
        (parent_pid, grandchild)
    }

    #[test]
    #[cfg(all(target_os = "linux", not(mptest_portable)))]
    fn a_process_a_scan_missed_is_ended_by_the_next_round() {
        let (parent_pid, grandchild) = parent_with_grandchild("sleep 100 & echo $!; exec sleep 100");
        let me = std::process::id() as i32;
        // The first scan sees the parent only, as one that read /proc while the grandchild was
        // being reparented would; the later ones see what is there.
        let mut scans = 0;
        let ended = end_all_below(|| {
            scans += 1;
            let below = descendants(me, &all_processes(), &[]);
            let mine = |p: &ProcInfo| p.pid == parent_pid || p.pid == grandchild;
            match scans {
                1 => below.into_iter().filter(|p| p.pid == parent_pid).collect(),
                _ => below.into_iter().filter(mine).collect(),
            }
        }, || {
            // Ours only: other tests of this binary have children of their own.
            [grandchild, parent_pid].iter().any(|&pid| {
                let _ = waitpid(Pid::from_raw(pid), Some(WaitPidFlag::WNOHANG));
                std::path::Path::new(&format!("/proc/{pid}")).exists()
            })
        });
        assert!(scans >= 2, "{ended:?}");
        for pid in [grandchild, parent_pid] {
            assert!(
                !std::path::Path::new(&format!("/proc/{pid}")).exists(),
                "process {pid} was left after {scans} scans: {ended:?}"
            );
        }
    }

    #[test]
    #[cfg(all(target_os = "linux", not(mptest_portable)))]
    fn a_grandchild_dead_before_its_parent_is_reaped_not_left_as_a_zombie() {
        // The parent ignores SIGTERM (set after it started the grandchild, which does not),
        // and as `sleep` it never reaps: SIGTERM leaves the grandchild a zombie of a live
        // parent, which dies only at the SIGKILL.
        let (parent_pid, grandchild) =
            parent_with_grandchild("sleep 100 & echo $!; trap '' TERM; exec sleep 100");
        // Both as `end_strays` finds them.
        let listed = |pid| ProcInfo {
            pid,
            ppid: 0,
            pgid: 0,
            comm: "sleep".into(),
        };
        let ended = end_processes(&[listed(grandchild), listed(parent_pid)], Duration::from_secs(5));
        assert_eq!(ended.len(), 2);
        for pid in [grandchild, parent_pid] {
            assert!(
                !std::path::Path::new(&format!("/proc/{pid}")).exists(),
                "process {pid} was left (a zombie nobody reaps)"
            );
        }
    }

    #[test]
    fn parses_stat_lines_with_awkward_names() {
        let p = parse_stat("4242 (my (odd) prog) S 17 4240 4242 0 -1").unwrap();
        assert_eq!(
            p,
            ProcInfo {
                pid: 4242,
                ppid: 17,
                pgid: 4240,
                comm: "my (odd) prog".into()
            }
        );
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn descendants_follow_the_tree_and_stop_where_told() {
        let p = |pid, ppid| ProcInfo {
            pid,
            ppid,
            pgid: pid,
            comm: format!("p{pid}"),
        };
        let procs = [p(10, 1), p(11, 10), p(12, 11), p(13, 10), p(14, 13), p(20, 1)];
        let mut got: Vec<i32> = descendants(10, &procs, &[13]).iter().map(|p| p.pid).collect();
        got.sort();
        assert_eq!(got, [11, 12]);
    }

    #[test]
    fn parses_ps_tables_of_linux_and_macos() {
        let table = "    1     0     1 init\n  417     1   417 /usr/sbin/my daemon\n garbage\n";
        assert_eq!(
            parse_ps(table),
            [
                ProcInfo { pid: 1, ppid: 0, pgid: 1, comm: "init".into() },
                ProcInfo { pid: 417, ppid: 1, pgid: 417, comm: "my daemon".into() },
            ]
        );
    }

    #[test]
    fn names_signals() {
        assert_eq!(signal_name(11), "SIGSEGV (segmentation fault)");
        assert_eq!(signal_name(6), "SIGABRT (abort)");
        assert_eq!(signal_name(9), "SIGKILL (killed)");
    }

    #[test]
    #[allow(clippy::zombie_processes)] // end_processes reaps it
    fn finds_and_ends_a_real_child() {
        let child = std::process::Command::new("sleep").arg("30").spawn().unwrap();
        let me = std::process::id() as i32;
        let found = descendants(me, &all_processes(), &[]);
        let mine: Vec<_> = found.iter().filter(|p| p.pid == child.id() as i32).collect();
        assert_eq!(mine.len(), 1, "{found:?}");
        assert_eq!(mine[0].comm, "sleep");
        let named = end_processes(&[mine[0].clone()], Duration::from_secs(5));
        assert!(!std::path::Path::new(&format!("/proc/{}", child.id())).exists());
        assert_eq!(named, [format!("{} (sleep 30)", child.id())]);
    }

    #[test]
    #[allow(clippy::zombie_processes)] // end_processes reaps it
    fn a_process_is_named_by_what_it_runs_when_it_is_ended() {
        // Listed while it was still `sh`; it has exec'd `sleep` by the time it is ended.
        let child = std::process::Command::new("sh")
            .args(["-c", "exec sleep 31"])
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        let listed = ProcInfo {
            pid,
            ppid: std::process::id() as i32,
            pgid: 1,
            comm: "sh".into(),
        };
        let exec_done = Instant::now() + Duration::from_secs(10);
        while cmdline(pid).as_deref() != Some("sleep 31") && Instant::now() < exec_done {
            std::thread::yield_now();
        }
        let named = end_processes(&[listed], Duration::from_secs(5));
        assert_eq!(named, [format!("{pid} (sleep 31)")]);
    }

    #[test]
    fn names_fall_back_to_what_the_process_died_as() {
        let listed = ProcInfo {
            pid: 1,
            ppid: 0,
            pgid: 1,
            comm: "sh".into(),
        };
        assert_eq!(
            final_name(&listed, Some("sh -c sleep 31".into()), Some("sleep".into())),
            "sleep"
        );
        assert_eq!(final_name(&listed, None, None), "sh");
        assert_eq!(comm_of("system: child of net::reconnects"), "child of net::r");
        assert_eq!(comm_of("/usr/bin/sleep 30"), "sleep");
    }
}
