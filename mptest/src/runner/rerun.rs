//! `--last-failed` and `--failed-first` (pytest's `--lf` and `--ff`): the tests that failed,
//! crashed, timed out or were interrupted the last time they ran — as the timings file keeps
//! them — picked out, or handed out first, with a notice that says what was done, also when
//! there was nothing to go by.

use std::collections::HashSet;

use crate::registry::TestDef;

/// What `--last-failed` and `--failed-first` go by.
pub(crate) struct LastRun<'a> {
    /// The tests that failed the last time they ran.
    pub(crate) failed: &'a HashSet<String>,
    /// Why nothing is recorded (no file yet, under nextest, ...), if so.
    pub(crate) none_because: Option<&'a str>,
}

/// `--last-failed`: keeps of `run` and `ignored` only the tests that failed last time — unless
/// none of them did, and then all (pytest's default), so a rerun never silently runs nothing.
/// Returns how many it left out and the notice for stderr.
pub(crate) fn last_failed(
    tests: &[(String, &'static TestDef)],
    run: &mut Vec<usize>,
    ignored: &mut Vec<usize>,
    last: &LastRun<'_>,
) -> (usize, String) {
    if let Some(why) = last.none_because {
        return (
            0,
            format!("mptest: --last-failed: no results of an earlier run ({why}); running every selected test"),
        );
    }
    let failed = |i: &usize| last.failed.contains(&tests[*i].0);
    let rerun = run.iter().filter(|i| failed(i)).count();
    if rerun == 0 {
        return (
            0,
            "mptest: --last-failed: none of the selected tests failed the last time it ran; running every selected test"
                .to_string(),
        );
    }
    let before = run.len() + ignored.len();
    run.retain(failed);
    ignored.retain(failed);
    let left_out = before - run.len() - ignored.len();
    (
        left_out,
        format!(
            "mptest: --last-failed: running the {rerun} test(s) that failed the last time they ran ({left_out} left out)"
        ),
    )
}

/// `--failed-first`'s notice: how many of `run` go first.
pub(crate) fn failed_first_notice(
    tests: &[(String, &'static TestDef)],
    run: &[usize],
    last: &LastRun<'_>,
) -> String {
    if let Some(why) = last.none_because {
        return format!("mptest: --failed-first: no results of an earlier run ({why}); the usual order");
    }
    let first = run.iter().filter(|&&i| last.failed.contains(&tests[i].0)).count();
    if first == 0 {
        "mptest: --failed-first: none of the selected tests failed the last time it ran; the usual order".to_string()
    } else {
        format!("mptest: --failed-first: the {first} test(s) that failed the last time they ran go first")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn suite() -> Vec<(String, &'static TestDef)> {
        let defs: &'static [TestDef] = Box::leak(Box::new([
            crate::registry::test_def("suite", "a", 1),
            crate::registry::test_def("suite", "b", 2),
            crate::registry::test_def("suite", "c", 3),
        ]));
        defs.iter().map(|d| (d.name(), d)).collect()
    }

    #[test]
    fn only_what_failed_or_everything_with_a_reason() {
        let tests = suite();
        let failed: HashSet<String> = [tests[1].0.clone()].into();
        let last = LastRun {
            failed: &failed,
            none_because: None,
        };
        let (mut run, mut ignored) = (vec![0, 1], vec![2]);
        let (left_out, notice) = last_failed(&tests, &mut run, &mut ignored, &last);
        assert_eq!((run, ignored, left_out), (vec![1], vec![], 2));
        assert!(notice.contains("running the 1 test(s) that failed"), "{notice}");
        assert!(failed_first_notice(&tests, &[0, 1], &last).contains("the 1 test(s)"));
        // None of these failed: all of them run, and the notice says so.
        let (mut run, mut ignored) = (vec![0, 2], vec![]);
        let (left_out, notice) = last_failed(&tests, &mut run, &mut ignored, &last);
        assert_eq!((run, left_out), (vec![0, 2], 0));
        assert!(notice.contains("none of the selected tests failed"), "{notice}");
        // Nothing recorded: all run, and why is said.
        let nothing = LastRun {
            failed: &HashSet::new(),
            none_because: Some("no run of this binary has written t.txt yet"),
        };
        let (mut run, mut ignored) = (vec![0, 1, 2], vec![]);
        let (left_out, notice) = last_failed(&tests, &mut run, &mut ignored, &nothing);
        assert_eq!((run.len(), left_out), (3, 0));
        assert!(notice.contains("no run of this binary has written t.txt yet"), "{notice}");
        assert!(failed_first_notice(&tests, &[0], &nothing).contains("the usual order"));
    }
}
