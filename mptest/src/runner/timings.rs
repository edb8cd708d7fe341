//! How long each test took in earlier runs: a small text file per suite in the target directory
//! (`<target>/<profile>/mptest-timings/<suite>.txt`, or `$MPTEST_TIMINGS`), read at the start of
//! a run to hand out the longest tests first, and written at its end — atomically (a new file
//! renamed over the old), so a run killed midway leaves the last good one.
//!
//! The format: a first line `mptest-timings 2`, then one line per test, its seconds and its name
//! separated by a tab (a test's name is a Rust path: no tab, no line break).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The file's first line; a file with another is ignored (and rewritten).
const HEADER: &str = "mptest-timings 2";

/// The file's text for these durations.
fn to_text(seconds: &HashMap<String, f64>) -> String {
    let mut lines: Vec<String> = seconds.iter().map(|(name, s)| format!("{s}\t{name}\n")).collect();
    lines.sort();
    format!("{HEADER}\n{}", lines.concat())
}

/// The durations in a file's text, or what is wrong with it.
fn from_text(text: &str) -> Result<HashMap<String, f64>, String> {
    let mut lines = text.lines();
    match lines.next() {
        Some(HEADER) => {}
        Some(other) => return Err(format!("its first line is {other:?}, not {HEADER:?}")),
        None => return Err("it is empty".into()),
    }
    lines
        .enumerate()
        .map(|(i, line)| {
            let parsed = line
                .split_once('\t')
                .and_then(|(s, name)| Some((name.to_string(), s.parse::<f64>().ok()?)));
            parsed.ok_or_else(|| format!("line {} is not SECONDS<tab>NAME: {line:?}", i + 2))
        })
        .collect()
}

/// The durations of earlier runs, and where they are kept.
#[derive(Debug, Default)]
pub(crate) struct Timings {
    path: Option<PathBuf>,
    /// Seconds, by test name.
    pub(crate) seconds: HashMap<String, f64>,
}

impl Timings {
    /// Reads this suite's file. A missing, corrupt or outdated file gives no durations and (when
    /// `tell`, as for `--order longest`, and the file is there but unreadable) a one-line notice
    /// on stderr; the run goes on, unknown
    /// tests in between. Under cargo-nextest, which runs one test per process, there is no file.
    pub(crate) fn load(tell: bool) -> Timings {
        if std::env::var_os("NEXTEST_RUN_ID").is_some() {
            return Timings::default();
        }
        let Some(path) = timings_path() else {
            return Timings::default();
        };
        let notice = |text: String| {
            if tell {
                eprintln!("{text}");
            }
        };
        let seconds = match std::fs::read_to_string(&path) {
            Ok(text) => match from_text(&text) {
                Ok(seconds) => seconds,
                Err(err) => {
                    notice(format!(
                        "mptest: ignoring {} ({err}); it will be rewritten",
                        path.display()
                    ));
                    HashMap::new()
                }
            },
            // The first run: nothing to say (a clean run prints what libtest prints).
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => HashMap::new(),
            Err(err) => {
                notice(format!(
                    "mptest: cannot read {} ({err}); ignoring it",
                    path.display()
                ));
                HashMap::new()
            }
        };
        Timings {
            path: Some(path),
            seconds,
        }
    }

    /// Records what this run measured and writes the file (atomically). Tests that did not run
    /// keep their durations — also those another run of this binary (a parallel shard) wrote
    /// meanwhile: the file is read again and merged under a lock; tests that no longer exist
    /// are dropped.
    pub(crate) fn save(&mut self, measured: &[(String, f64)], existing: &[&str]) {
        let Some(path) = &self.path else { return };
        let result = (|| -> std::io::Result<()> {
            let dir = path.parent().unwrap_or(Path::new("."));
            std::fs::create_dir_all(dir)?;
            let _lock = lock(path)?;
            if let Ok(now) = std::fs::read_to_string(path).map(|text| from_text(&text)) {
                self.seconds.extend(now.unwrap_or_default());
            }
            let existing: std::collections::HashSet<&str> = existing.iter().copied().collect();
            self.seconds.retain(|name, _| existing.contains(name.as_str()));
            for (name, secs) in measured {
                self.seconds.insert(name.clone(), *secs);
            }
            write_atomically(path, &to_text(&self.seconds))
        })();
        if let Err(err) = result {
            eprintln!("mptest: cannot write {} ({err})", path.display());
        }
    }
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

    #[test]
    fn a_file_round_trips_and_bad_ones_are_ignored() {
        let dir = std::env::temp_dir().join(format!("mptest-timings-test-{}", std::process::id()));
        let path = dir.join("suite.txt");
        let mut timings = Timings {
            path: Some(path.clone()),
            seconds: HashMap::from([("gone".to_string(), 9.0), ("kept".to_string(), 2.0)]),
        };
        timings.save(&[("new".to_string(), 1.5)], &["kept", "new"]);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text, "mptest-timings 2\n1.5\tnew\n2\tkept\n");
        assert_eq!(
            from_text(&text).unwrap(),
            HashMap::from([("kept".to_string(), 2.0), ("new".to_string(), 1.5)])
        );
        for bad in [
            "",
            "{ \"version\": 1 }",
            "mptest-timings 2\nslow\n",
            "mptest-timings 2\nx\tname\n",
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
    fn runs_of_one_binary_side_by_side_keep_each_others_durations() {
        let dir = std::env::temp_dir().join(format!("mptest-timings-shards-{}", std::process::id()));
        let path = dir.join("suite.txt");
        let all = ["a", "b"];
        // Both shards read the file before either wrote it; each measured its own test.
        let mut first = Timings {
            path: Some(path.clone()),
            seconds: HashMap::new(),
        };
        let mut second = Timings {
            path: Some(path.clone()),
            seconds: HashMap::new(),
        };
        second.save(&[("b".to_string(), 2.0)], &all);
        first.save(&[("a".to_string(), 1.0)], &all);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            from_text(&text).unwrap(),
            HashMap::from([("a".to_string(), 1.0), ("b".to_string(), 2.0)])
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
