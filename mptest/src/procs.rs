//! Processes: finding what a test left running, ending it, naming signals.
//!
//! Workers are child subreapers on Linux, so a process a test forgot — even one that called
//! `setsid` and double-forked — ends up as a child of its worker instead of `init`, where the
//! worker finds it and ends it. The coordinator is a subreaper too, for what a dead worker leaves.

use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{kill, killpg, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

/// One process, as `/proc/<pid>/stat` describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ProcInfo {
    pub(crate) pid: i32,
    pub(crate) ppid: i32,
    pub(crate) comm: String,
}

impl ProcInfo {
    /// "1234 (sleep)", for reports.
    pub(crate) fn describe(&self) -> String {
        format!("{} ({})", self.pid, self.comm)
    }
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
    Some(ProcInfo { pid, ppid, comm })
}

/// The state letter of a `/proc/<pid>/stat` line (R, S, D, Z, ...).
pub(crate) fn parse_state(line: &str) -> Option<char> {
    line[line.rfind(')')? + 1..]
        .split_whitespace()
        .next()?
        .chars()
        .next()
}

/// Every process visible in `/proc` (none where there is no `/proc`).
pub(crate) fn all_processes() -> Vec<ProcInfo> {
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
    #[cfg(any(target_os = "linux", target_os = "android"))]
    let _ = nix::sys::prctl::set_child_subreaper(true);
}

/// Sends `signal` to a process group, ignoring one that is already gone.
pub(crate) fn signal_group(leader: i32, signal: Signal) {
    let _ = killpg(Pid::from_raw(leader), signal);
}

/// Ends these processes with SIGKILL and reaps those that are (or become) our children,
/// waiting at most `limit` for them to go.
pub(crate) fn end_processes(procs: &[ProcInfo], limit: Duration) {
    for p in procs {
        let _ = kill(Pid::from_raw(p.pid), Signal::SIGKILL);
    }
    let deadline = Instant::now() + limit;
    let mut left: Vec<i32> = procs.iter().map(|p| p.pid).collect();
    while !left.is_empty() && Instant::now() < deadline {
        left.retain(
            |&pid| match waitpid(Pid::from_raw(pid), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) => true,
                Ok(_) => false,
                // Not our child (yet: its parent may be dying): wait while it exists.
                Err(Errno::ECHILD) => std::path::Path::new(&format!("/proc/{pid}")).exists(),
                Err(_) => false,
            },
        );
        if !left.is_empty() {
            // A killed process takes a moment to exit; there is no portable event to wait on.
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

/// In a worker after a test: ends every process below this one and names them. Cheap when the
/// test left nothing: one `waitpid` that answers ECHILD.
pub(crate) fn end_leftovers() -> Vec<String> {
    let me = std::process::id() as i32;
    let mut named = Vec::new();
    // A few rounds: a leftover may fork while we look.
    for _ in 0..5 {
        if !has_children() {
            break;
        }
        let left = descendants(me, &all_processes(), &[]);
        if left.is_empty() {
            // Only zombies raced us; reaped by has_children next round.
            continue;
        }
        named.extend(left.iter().map(ProcInfo::describe));
        end_processes(&left, Duration::from_secs(2));
    }
    named
}

/// Reaps exited children and tells whether any child is left.
fn has_children() -> bool {
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

    #[test]
    fn parses_stat_lines_with_awkward_names() {
        let p = parse_stat("4242 (my (odd) prog) S 17 4242 4242 0 -1").unwrap();
        assert_eq!(
            p,
            ProcInfo {
                pid: 4242,
                ppid: 17,
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
            comm: format!("p{pid}"),
        };
        let procs = [p(10, 1), p(11, 10), p(12, 11), p(13, 10), p(14, 13), p(20, 1)];
        let mut got: Vec<i32> = descendants(10, &procs, &[13]).iter().map(|p| p.pid).collect();
        got.sort();
        assert_eq!(got, [11, 12]);
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
        end_processes(&[mine[0].clone()], Duration::from_secs(5));
        assert!(!std::path::Path::new(&format!("/proc/{}", child.id())).exists());
    }
}
