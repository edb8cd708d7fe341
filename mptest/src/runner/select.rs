//! Which registered tests a run reports, runs, ignores and filters out — libtest's rules.

use crate::cli::{Options, RunIgnored};
use crate::registry::TestDef;

/// The tests of a run, by index into the sorted list.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Selection {
    /// To run, in order.
    pub(crate) run: Vec<usize>,
    /// Reported as ignored.
    pub(crate) ignored: Vec<usize>,
    /// Left out by filters, `--skip` or `--ignored`.
    pub(crate) filtered_out: usize,
}

fn matches(name: &str, pattern: &str, exact: bool) -> bool {
    if exact {
        name == pattern
    } else {
        name.contains(pattern)
    }
}

/// Applies filters, `--skip` and the ignore options to `tests` (sorted by name).
pub(crate) fn select(tests: &[(String, &TestDef)], options: &Options) -> Selection {
    let mut selection = Selection::default();
    for (i, (name, def)) in tests.iter().enumerate() {
        let wanted = (options.filters.is_empty()
            || options.filters.iter().any(|f| matches(name, f, options.exact)))
            && !options.skip.iter().any(|s| matches(name, s, options.exact));
        let wanted =
            wanted && !(options.exclude_should_panic && def.should_panic != crate::registry::ShouldPanic::No);
        let ignored = def.ignored_because().is_some();
        match (wanted, ignored, options.run_ignored) {
            (false, _, _) | (true, false, RunIgnored::Only) => selection.filtered_out += 1,
            (true, true, RunIgnored::No) => selection.ignored.push(i),
            // `--bench` runs benchmarks, and a test binary has none: libtest reports every test
            // it would have run as ignored.
            (true, _, _) if options.bench_only => selection.ignored.push(i),
            (true, _, _) => selection.run.push(i),
        }
    }
    selection
}


#[cfg(test)]
mod tests {
    use super::*;

    fn def(fn_name: &'static str, ignore: Option<&'static str>) -> TestDef {
        TestDef {
            ignore,
            ..crate::registry::test_def("suite", fn_name, 1)
        }
    }

    #[test]
    fn exclude_should_panic_filters_them_out() {
        let panics = TestDef {
            should_panic: crate::registry::ShouldPanic::Yes,
            ..crate::registry::test_def("suite", "panics", 1)
        };
        let plain = def("plain", None);
        let tests = vec![(panics.name(), &panics), (plain.name(), &plain)];
        let s = select(&tests, &opts(&["--exclude-should-panic"]));
        assert_eq!((s.run, s.filtered_out), (vec![1], 1));
    }

    fn opts(args: &[&str]) -> Options {
        Options::parse(args.iter().map(|s| s.to_string())).unwrap()
    }

    #[test]
    fn follows_libtest_filtering() {
        let defs = [
            def("net_a", None),
            def("net_b", Some("")),
            def("disk", None),
            def("net", None),
        ];
        let tests: Vec<_> = defs.iter().map(|d| (d.name(), d)).collect();
        let s = select(&tests, &opts(&["net"]));
        assert_eq!((s.run, s.ignored, s.filtered_out), (vec![0, 3], vec![1], 1));
        let s = select(&tests, &opts(&["net", "--exact"]));
        assert_eq!((s.run, s.ignored, s.filtered_out), (vec![3], vec![], 3));
        let s = select(&tests, &opts(&["--skip", "net_", "--skip", "disk"]));
        assert_eq!((s.run, s.filtered_out), (vec![3], 3));
        let s = select(&tests, &opts(&["--ignored"]));
        assert_eq!((s.run, s.filtered_out), (vec![1], 3));
        let s = select(&tests, &opts(&["--include-ignored", "net"]));
        assert_eq!(s.run, [0, 1, 3]);
        let s = select(&tests, &opts(&["nothing-matches"]));
        assert_eq!((s.run.len(), s.filtered_out), (0, 4));
        let s = select(&tests, &opts(&["--bench", "net"]));
        assert_eq!((s.run, s.ignored, s.filtered_out), (vec![], vec![0, 1, 3], 1));
    }
}
