//! How long each test took in earlier runs: a small JSON file per suite in the target directory
//! (`<target>/<profile>/mptest-timings/<suite>.json`, or `$MPTEST_TIMINGS`), read at the start of a run to hand out
//! the longest tests first, and written at its end — atomically (a new file renamed over the
//! old), so a run killed midway leaves the last good one.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The file's format; another version is ignored.
const VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
struct File {
    version: u32,
    /// Seconds, by test name.
    tests: HashMap<String, f64>,
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
    /// `tell`, as for `--order longest`) a one-line notice on stderr; the run goes on, unknown
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
        let seconds = match std::fs::read(&path) {
            Ok(bytes) => match serde_json::from_slice::<File>(&bytes) {
                Ok(file) if file.version == VERSION => file.tests,
                Ok(file) => {
                    notice(format!(
                        "mptest: ignoring {} (format {}, not {VERSION}); it will be rewritten",
                        path.display(),
                        file.version
                    ));
                    HashMap::new()
                }
                Err(err) => {
                    notice(format!(
                        "mptest: ignoring {} ({err}); it will be rewritten",
                        path.display()
                    ));
                    HashMap::new()
                }
            },
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                notice(format!(
                    "mptest: no durations of earlier runs yet ({}); this run records them",
                    path.display()
                ));
                HashMap::new()
            }
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
    /// keep their earlier durations; tests that no longer exist are dropped.
    pub(crate) fn save(&mut self, measured: &[(String, f64)], existing: &[&str]) {
        let Some(path) = &self.path else { return };
        let existing: std::collections::HashSet<&str> = existing.iter().copied().collect();
        self.seconds.retain(|name, _| existing.contains(name.as_str()));
        for (name, secs) in measured {
            self.seconds.insert(name.clone(), *secs);
        }
        let file = File {
            version: VERSION,
            tests: std::mem::take(&mut self.seconds),
        };
        if let Err(err) = write_atomically(path, &file) {
            eprintln!("mptest: cannot write {} ({err})", path.display());
        }
        self.seconds = file.tests;
    }
}

fn write_atomically(path: &Path, file: &File) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let temporary = dir.join(format!(
        ".{}.{}",
        std::process::id(),
        path.file_name().unwrap_or_default().to_string_lossy()
    ));
    std::fs::write(
        &temporary,
        serde_json::to_vec(file).map_err(std::io::Error::other)?,
    )?;
    std::fs::rename(&temporary, path)
}

/// `MPTEST_TIMINGS` if set (a file to keep between CI runs, say), else
/// `<target>/<profile>/mptest-timings/<suite>.json`: this binary is
/// `<target>/<profile>/deps/<suite>-<hash>` (or `.../examples/...`).
fn timings_path() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("MPTEST_TIMINGS") {
        return Some(path.into());
    }
    let exe = std::fs::read_link("/proc/self/exe")
        .or_else(|_| std::env::current_exe())
        .ok()?;
    let profile = exe.parent()?.parent()?;
    Some(
        profile
            .join("mptest-timings")
            .join(format!("{}.json", crate::launch::reexec::suite_name())),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_round_trips_and_bad_ones_are_ignored() {
        let dir = std::env::temp_dir().join(format!("mptest-timings-test-{}", std::process::id()));
        let path = dir.join("suite.json");
        let mut timings = Timings {
            path: Some(path.clone()),
            seconds: HashMap::from([("gone".to_string(), 9.0), ("kept".to_string(), 2.0)]),
        };
        timings.save(&[("new".to_string(), 1.5)], &["kept", "new"]);
        let file: File = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(
            file.tests,
            HashMap::from([("kept".to_string(), 2.0), ("new".to_string(), 1.5)])
        );
        assert!(
            std::fs::read_dir(&dir).unwrap().count() == 1,
            "no temporary file left"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
