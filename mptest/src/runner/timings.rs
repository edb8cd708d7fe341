//! How long each test took in earlier runs, and whether it failed in the last one that ran it:
//! a small text file per suite in the target directory
//! (`<target>/<profile>/mptest-timings/<suite>.txt`, or `$MPTEST_TIMINGS`), read at the start of
//! a run to hand out the longest tests first (and for `--partition time:`, `--last-failed`,
//! `--failed-first`), and written at its end — atomically (a new file renamed over the old), so
//! a run killed midway leaves the last good one — when the run changed something that matters
//! (an outcome, a test, a duration by more than noise).
//!
//! The format: a first line `mptest-timings 3`, then one line per test: its seconds (`-` when
//! none is known), `pass` or `fail`, and its name, separated by tabs (a test's name is a Rust
//! path: no tab, no line break). A file of version 2 (seconds and name) is read as all passed.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

/// The file's first line; a file with another is ignored (and rewritten).
const HEADER: &str = "mptest-timings 3";
/// The version before, without statuses: still read.
const HEADER_2: &str = "mptest-timings 2";

/// What is kept of a test.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Record {
    /// How long it took, the last time it ran to its end (`None`: not known).
    pub(crate) seconds: Option<f64>,
    /// It failed, crashed, timed out or was interrupted the last time it ran.
    pub(crate) failed: bool,
}

/// What a run measured of one test.
#[derive(Debug, Clone)]
pub(crate) struct Measured {
    pub(crate) name: String,
    /// `None` when the time says nothing of the test (it was interrupted): the old one stays.
    pub(crate) seconds: Option<f64>,
    pub(crate) failed: bool,
}

/// The file's text for these records.
fn to_text(records: &HashMap<String, Record>) -> String {
    let mut lines: Vec<String> = records
        .iter()
        .map(|(name, r)| {
            let status = if r.failed { "fail" } else { "pass" };
            let seconds = r.seconds.map_or("-".to_string(), |s| s.to_string());
            format!("{seconds}\t{status}\t{name}\n")
        })
        .collect();
    lines.sort();
    format!("{HEADER}\n{}", lines.concat())
}

/// The records in a file's text, or what is wrong with it.
fn from_text(text: &str) -> Result<HashMap<String, Record>, String> {
    let mut lines = text.lines();
    let with_status = match lines.next() {
        Some(HEADER) => true,
        Some(HEADER_2) => false,
        Some(other) => return Err(format!("its first line is {other:?}, not {HEADER:?}")),
        None => return Err("it is empty".into()),
    };
    lines
        .enumerate()
        .map(|(i, line)| {
            let (seconds, rest) = line.split_once('\t').unzip();
            let (failed, name) = match (with_status, rest) {
                (true, Some(rest)) => match rest.split_once('\t') {
                    Some(("pass", name)) => (Some(false), Some(name)),
                    Some(("fail", name)) => (Some(true), Some(name)),
                    _ => (None, None),
                },
                (false, rest) => (Some(false), rest),
                (true, None) => (None, None),
            };
            let seconds = match seconds {
                Some("-") if with_status => Some(None),
                Some(s) => s.parse::<f64>().ok().filter(|v| v.is_finite() && *v >= 0.0).map(Some),
                None => None,
            };
            match (seconds, failed, name) {
                (Some(seconds), Some(failed), Some(name)) => Ok((name.to_string(), Record { seconds, failed })),
                _ => Err(format!(
                    "line {} is not SECONDS<tab>pass|fail<tab>NAME: {line:?}",
                    i + 2
                )),
            }
        })
        .collect()
}

/// The records of earlier runs, and where they are kept.
#[derive(Debug, Default)]
pub(crate) struct Timings {
    path: Option<PathBuf>,
    /// By test name.
    pub(crate) records: HashMap<String, Record>,
    /// Why there are no records, when there is no file to read (for `--last-failed`'s notice).
    pub(crate) none_because: Option<String>,
    /// Not read yet: read when saved (see [`Timings::unread`]).
    unread: bool,
}

impl Timings {
    /// Reads this suite's file. A missing, corrupt or outdated file gives no records and (when
    /// `tell`, as for `--order longest`, and the file is there but unreadable) a one-line notice
    /// on stderr; the run goes on, unknown
    /// tests in between. Under cargo-nextest, which runs one test per process, there is no file.
    pub(crate) fn load(tell: bool) -> Timings {
        match Timings::place() {
            Ok(path) => Timings::read(path, tell),
            Err(none) => none,
        }
    }

    /// The records of a run that has no use for them before its end: read when saved, while
    /// the workers exit, instead of before the first test.
    pub(crate) fn unread() -> Timings {
        match Timings::place() {
            Ok(path) => Timings {
                path: Some(path),
                unread: true,
                ..Timings::default()
            },
            Err(none) => none,
        }
    }

    /// Where this suite's file is, or no records and why there is no file.
    fn place() -> Result<PathBuf, Timings> {
        if std::env::var_os("NEXTEST_RUN_ID").is_some() {
            return Err(Timings::none("under cargo-nextest, which runs each test in a process of its own, no run keeps them (nextest's own reruns are `cargo nextest run -R latest`)"));
        }
        timings_path().ok_or_else(|| {
            Timings::none("there is no place to keep them: under Bazel, TEST_UNDECLARED_OUTPUTS_DIR is not set")
        })
    }

    /// Reads the file at `path` (see [`Timings::load`]).
    fn read(path: PathBuf, tell: bool) -> Timings {
        let notice = |text: String| {
            if tell {
                eprintln!("{text}");
            }
        };
        let mut none_because = None;
        let records = match std::fs::read_to_string(&path) {
            Ok(text) => match from_text(&text) {
                Ok(records) => records,
                Err(err) => {
                    notice(format!(
                        "mptest: ignoring {} ({err}); it will be rewritten",
                        path.display()
                    ));
                    none_because = Some(format!("{} is unreadable ({err})", path.display()));
                    HashMap::new()
                }
            },
            // The first run: nothing to say (a clean run prints what libtest prints).
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                none_because = Some(format!("no run of this binary has written {} yet", path.display()));
                HashMap::new()
            }
            Err(err) => {
                notice(format!(
                    "mptest: cannot read {} ({err}); ignoring it",
                    path.display()
                ));
                none_because = Some(format!("{} is unreadable ({err})", path.display()));
                HashMap::new()
            }
        };
        Timings {
            path: Some(path),
            records,
            none_because,
            unread: false,
        }
    }

    fn none(why: &str) -> Timings {
        Timings {
            none_because: Some(why.to_string()),
            ..Timings::default()
        }
    }

    /// The recorded durations, by test name.
    pub(crate) fn seconds(&self) -> HashMap<String, f64> {
        self.records
            .iter()
            .filter_map(|(name, r)| Some((name.clone(), r.seconds?)))
            .collect()
    }

    /// The tests that failed the last time they ran.
    pub(crate) fn failed(&self) -> HashSet<String> {
        self.records
            .iter()
            .filter(|(_, r)| r.failed)
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// Records what this run measured and writes the file (atomically). Tests that did not run
    /// keep their records — also those another run of this binary (a parallel shard) wrote
    /// meanwhile: the file is read again and merged under a lock; tests that no longer exist
    /// are dropped. `keep_seconds`: record outcomes only, not durations (a run split by
    /// durations must not change them under the shards that come after it).
    ///
    /// A run that would change nothing that matters leaves the file alone (see
    /// [`Timings::changed_by`]): rewriting it is most of a quick run's fixed cost.
    pub(crate) fn save(&mut self, measured: &[Measured], existing: &[&str], keep_seconds: bool) {
        if self.unread {
            if let Some(path) = self.path.take() {
                *self = Timings::read(path, false);
            }
        }
        let Some(path) = &self.path else { return };
        if !self.changed_by(measured, existing, keep_seconds) {
            return;
        }
        let result = (|| -> std::io::Result<()> {
            let dir = path.parent().unwrap_or(Path::new("."));
            std::fs::create_dir_all(dir)?;
            let _lock = lock(path)?;
            if let Ok(now) = std::fs::read_to_string(path).map(|text| from_text(&text)) {
                self.records.extend(now.unwrap_or_default());
            }
            let existing: HashSet<&str> = existing.iter().copied().collect();
            self.records.retain(|name, _| existing.contains(name.as_str()));
            for test in measured {
                let old = self.records.get(&test.name).and_then(|r| r.seconds);
                let seconds = if keep_seconds { old } else { test.seconds.or(old) };
                self.records.insert(
                    test.name.clone(),
                    Record {
                        seconds,
                        failed: test.failed,
                    },
                );
            }
            write_atomically(path, &to_text(&self.records))
        })();
        if let Err(err) = result {
            eprintln!("mptest: cannot write {} ({err})", path.display());
        }
    }
}

impl Timings {
    /// Whether what a run measured changes what the file says, as read at the run's start: a
    /// test new to it or gone from the suite, an outcome, a duration first known, or one that
    /// moved by more than [`Timings::NOISE_SHARE`] of itself *and* more than
    /// [`Timings::NOISE_SECONDS`]. Smaller moves are the noise of quick tests, and change no
    /// order that matters; a duration that drifts is compared with the recorded one, not the
    /// last run's, so a slow drift is written once it adds up.
    fn changed_by(&self, measured: &[Measured], existing: &[&str], keep_seconds: bool) -> bool {
        let existing: HashSet<&str> = existing.iter().copied().collect();
        if self.none_because.is_some() || self.records.keys().any(|name| !existing.contains(name.as_str())) {
            return true;
        }
        measured.iter().any(|test| match self.records.get(&test.name) {
            None => true,
            Some(old) if old.failed != test.failed => true,
            Some(_) if keep_seconds => false,
            Some(old) => match (old.seconds, test.seconds) {
                (None, Some(_)) => true,
                (Some(old), Some(new)) => {
                    let moved = (new - old).abs();
                    moved > Self::NOISE_SECONDS && moved > Self::NOISE_SHARE * old
                }
                (_, None) => false,
            },
        })
    }

    /// A duration that moved by less than this is not rewritten.
    const NOISE_SECONDS: f64 = 0.001;
    /// ... nor one that moved by less than this share of itself.
    const NOISE_SHARE: f64 = 0.25;
}

/// Holds `<path>.lock` (flock, released if we die) while the file is read and rewritten.
fn lock(path: &Path) -> std::io::Result<nix::fcntl::Flock<std::fs::File>> {
    let mut name = path.as_os_str().to_owned();
    name.push(".lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(PathBuf::from(name))?;
    nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive)
        .map_err(|(_, errno)| std::io::Error::from(errno))
}

fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let temporary = dir.join(format!(
        ".{}.{}",
        std::process::id(),
        path.file_name().unwrap_or_default().to_string_lossy()
    ));
    std::fs::write(&temporary, text)?;
    std::fs::rename(&temporary, path)
}

/// `MPTEST_TIMINGS` if set (a file to keep between CI runs, say); under Bazel, in
/// `TEST_UNDECLARED_OUTPUTS_DIR` (Bazel's outputs of the test: its sandbox allows no other
/// write, and its shards must not share one file) or nowhere; else
/// `<target>/<profile>/mptest-timings/<suite>.txt`: this binary is
/// `<target>/<profile>/deps/<suite>-<hash>` (or `.../examples/...`).
fn timings_path() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("MPTEST_TIMINGS") {
        return Some(path.into());
    }
    let file = format!("{}.txt", crate::launch::reexec::suite_name());
    if std::env::var_os("TEST_SRCDIR").is_some() || std::env::var_os("TEST_TARGET").is_some() {
        let outputs = std::env::var_os("TEST_UNDECLARED_OUTPUTS_DIR")?;
        return Some(PathBuf::from(outputs).join("mptest-timings").join(file));
    }
    let exe = std::fs::read_link("/proc/self/exe")
        .or_else(|_| std::env::current_exe())
        .ok()?;
    let profile = exe.parent()?.parent()?;
    Some(profile.join("mptest-timings").join(file))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(seconds: f64, failed: bool) -> Record {
        Record {
            seconds: Some(seconds),
            failed,
        }
    }

    fn measured(name: &str, seconds: Option<f64>, failed: bool) -> Measured {
        Measured {
            name: name.to_string(),
            seconds,
            failed,
        }
    }

    fn at(path: &Path, records: &[(&str, Record)]) -> Timings {
        Timings {
            path: Some(path.to_path_buf()),
            records: records.iter().map(|(n, r)| (n.to_string(), *r)).collect(),
            none_because: None,
            unread: false,
        }
    }

    /// A run that had no use for the durations before its end reads them as it saves: what
    /// the file held is kept, merged with what the run measured, and a run that changed
    /// nothing that matters leaves the file as it was.
    #[test]
    fn timings_read_only_at_the_save_keep_what_the_file_held() {
        let dir = std::env::temp_dir().join(format!("mptest-timings-unread-{}", std::process::id()));
        let path = dir.join("suite.txt");
        std::fs::create_dir_all(&dir).unwrap();
        let unread = || Timings {
            path: Some(path.clone()),
            unread: true,
            ..Timings::default()
        };
        // Written as mptest would not ("2.50"): a rewrite shows.
        let text = "mptest-timings 3\n2.50\tpass\ta\n3\tpass\tb\n";
        std::fs::write(&path, text).unwrap();
        unread().save(&[measured("a", Some(2.5), false)], &["a", "b"], false);
        let untouched = std::fs::read_to_string(&path).unwrap();
        unread().save(&[measured("b", Some(0.5), true)], &["a", "b"], false);
        let saved = from_text(&std::fs::read_to_string(&path).unwrap()).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(untouched, text);
        assert_eq!(saved.get("a"), Some(&record(2.5, false)));
        assert_eq!(saved.get("b"), Some(&record(0.5, true)));
    }

    #[test]
    fn a_file_round_trips_and_bad_ones_are_ignored() {
        let dir = std::env::temp_dir().join(format!("mptest-timings-test-{}", std::process::id()));
        let path = dir.join("suite.txt");
        let mut timings = at(&path, &[("gone", record(9.0, false)), ("kept", record(2.0, true))]);
        timings.save(
            &[measured("new", Some(1.5), true), measured("cut", None, true)],
            &["kept", "new", "cut"],
            false,
        );
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text, "mptest-timings 3\n-\tfail\tcut\n1.5\tfail\tnew\n2\tfail\tkept\n");
        let read = from_text(&text).unwrap();
        assert_eq!(read["new"], record(1.5, true));
        assert_eq!(read["cut"].seconds, None);
        assert_eq!(read.len(), 3);
        // Version 2 is read: every test passed.
        assert_eq!(
            from_text("mptest-timings 2\n1.5\tnew\n").unwrap(),
            HashMap::from([("new".to_string(), record(1.5, false))])
        );
        for bad in [
            "",
            "{ \"version\": 1 }",
            "mptest-timings 3\nslow\n",
            "mptest-timings 3\nx\tpass\tname\n",
            "mptest-timings 3\n1\tmaybe\tname\n",
            "mptest-timings 3\n1\tname\n",
            "mptest-timings 2\n-\tname\n",
            "mptest-timings 3\nNaN\tpass\tname\n",
            "mptest-timings 3\n-1\tpass\tname\n",
        ] {
            assert!(from_text(bad).is_err(), "{bad:?}");
        }
        let left: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| !name.ends_with(".lock"))
            .collect();
        assert_eq!(left, ["suite.txt"], "no temporary file left");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn outcomes_are_the_last_runs_and_durations_can_be_kept() {
        let dir = std::env::temp_dir().join(format!("mptest-timings-keep-{}", std::process::id()));
        let path = dir.join("suite.txt");
        let all = ["a", "b", "c"];
        let mut timings = at(&path, &[("a", record(1.0, true)), ("b", record(2.0, false))]);
        // A run split by durations: outcomes recorded, durations as they were, none new.
        timings.save(
            &[measured("a", Some(5.0), false), measured("c", Some(3.0), true)],
            &all,
            true,
        );
        let read = from_text(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(read["a"], record(1.0, false));
        assert_eq!(read["b"], record(2.0, false));
        assert_eq!(read["c"], Record { seconds: None, failed: true });
        assert_eq!(timings.failed(), HashSet::from(["c".to_string()]));
        assert_eq!(timings.seconds(), HashMap::from([("a".to_string(), 1.0), ("b".to_string(), 2.0)]));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_run_that_changes_nothing_that_matters_leaves_the_file_alone() {
        let dir = std::env::temp_dir().join(format!("mptest-timings-same-{}", std::process::id()));
        let path = dir.join("suite.txt");
        std::fs::create_dir_all(&dir).unwrap();
        let text = "mptest-timings 3\n0.00005\tpass\ta\n2\tfail\tb\n";
        let all = ["a", "b"];
        let loaded = || Timings {
            path: Some(path.clone()),
            records: from_text(text).unwrap(),
            none_because: None,
            unread: false,
        };
        let saved = |measured: &[Measured], existing: &[&str], keep_seconds: bool| {
            std::fs::write(&path, text).unwrap();
            loaded().save(measured, existing, keep_seconds);
            std::fs::read_to_string(&path).unwrap() != text
        };
        // Noise: a quick test twice as slow (under a millisecond), a slow one 10 % slower, an
        // interrupted one, and under a split by durations any duration.
        let noise = [measured("a", Some(0.0001), false), measured("b", Some(2.2), true)];
        assert!(!saved(&noise, &all, false));
        assert!(!saved(&[measured("b", None, true)], &all, false));
        assert!(!saved(&[measured("b", Some(9.0), true)], &all, true));
        // What matters: an outcome, a move of more than a quarter and a millisecond, a new
        // test, a test gone from the suite.
        assert!(saved(&[measured("a", Some(0.00005), true)], &all, false));
        assert!(saved(&[measured("b", Some(2.6), true)], &all, false));
        assert!(saved(&[measured("a", Some(0.002), false)], &all, false));
        assert!(saved(&[measured("c", Some(0.1), false)], &["a", "b", "c"], false));
        assert!(saved(&[measured("a", Some(0.00005), false)], &["a"], false));
        // No file read at the start (none, or unreadable): written.
        let mut fresh = loaded();
        fresh.none_because = Some("no run has written it yet".into());
        std::fs::write(&path, text).unwrap();
        fresh.save(&noise, &all, false);
        assert_ne!(std::fs::read_to_string(&path).unwrap(), text);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn runs_of_one_binary_side_by_side_keep_each_others_durations() {
        let dir = std::env::temp_dir().join(format!("mptest-timings-shards-{}", std::process::id()));
        let path = dir.join("suite.txt");
        let all = ["a", "b"];
        // Both shards read the file before either wrote it; each measured its own test.
        let mut first = at(&path, &[]);
        let mut second = at(&path, &[]);
        second.save(&[measured("b", Some(2.0), true)], &all, false);
        first.save(&[measured("a", Some(1.0), false)], &all, false);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            from_text(&text).unwrap(),
            HashMap::from([("a".to_string(), record(1.0, false)), ("b".to_string(), record(2.0, true))])
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
