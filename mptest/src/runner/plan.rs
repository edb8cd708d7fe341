//! What this run takes of the selected tests (its shard) and in which order it hands them out.
//!
//! Both work on *units*: a test, or a whole group (whose tests share a worker and run in
//! declared order). A group is never split between shards, and is ordered by its total
//! duration.

use std::collections::HashMap;

use crate::cli::{Order, Partition};
use crate::registry::TestDef;

/// A test or a group, by indices into the run's test list, in declared order.
struct Unit {
    /// What the shard is chosen by: the group's or the test's name.
    key: String,
    tests: Vec<usize>,
}

/// Where the test was declared: the order `declared` follows.
fn declared(def: &TestDef) -> (&'static str, u32, u32) {
    (def.file, def.line, def.column)
}

fn units(tests: &[(String, &'static TestDef)], run: &[usize]) -> Vec<Unit> {
    let mut run = run.to_vec();
    run.sort_by_key(|&i| declared(tests[i].1));
    let mut units: Vec<Unit> = Vec::new();
    let mut group_unit: HashMap<&str, usize> = HashMap::new();
    for i in run {
        let (name, def) = &tests[i];
        match def.group {
            Some(group) => match group_unit.get(group) {
                Some(&u) => units[u].tests.push(i),
                None => {
                    group_unit.insert(group, units.len());
                    units.push(Unit {
                        key: format!("group {group}"),
                        tests: vec![i],
                    });
                }
            },
            None => units.push(Unit {
                key: name.clone(),
                tests: vec![i],
            }),
        }
    }
    units
}

/// FNV-1a: a hash that is the same on every machine and Rust version, so each shard of a CI
/// matrix picks the same tests (std's hasher promises no such thing).
fn stable_hash(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The units of `list` that fall in this run's shard (all of them without a partition).
fn shard_units(
    tests: &[(String, &'static TestDef)],
    list: &[usize],
    partition: Option<Partition>,
) -> Vec<Unit> {
    let units = units(tests, list);
    match partition {
        Some(Partition::Hash { index, total }) => units
            .into_iter()
            .filter(|u| stable_hash(&u.key) % total == index)
            .collect(),
        Some(Partition::Slice { index, total }) => units
            .into_iter()
            .enumerate()
            .filter(|(n, _)| *n as u64 % total == index)
            .map(|(_, u)| u)
            .collect(),
        None => units,
    }
}

/// The tests of `list` in this run's shard, in declared order (for the ignored tests, which a
/// shard reports but does not run).
pub(crate) fn shard(
    tests: &[(String, &'static TestDef)],
    list: &[usize],
    partition: Option<Partition>,
) -> Vec<usize> {
    shard_units(tests, list, partition)
        .into_iter()
        .flat_map(|u| u.tests)
        .collect()
}

/// The tests this run hands out, in order: its shard of `run`, ordered as asked. `seconds` are
/// the durations of earlier runs; `ignored` (reported, not run) take part in libtest's shuffle.
/// Returns the order and, for `random` and `shuffle`, the seed used.
pub(crate) fn plan(
    tests: &[(String, &'static TestDef)],
    run: &[usize],
    ignored: &[usize],
    partition: Option<Partition>,
    order: Order,
    seed: Option<u64>,
    seconds: &HashMap<String, f64>,
) -> (Vec<usize>, Option<u64>) {
    let mut units = shard_units(tests, run, partition);
    let mut used_seed = None;
    match order {
        Order::Declared => {}
        Order::Longest => {
            // Unknown tests count as the median known test: in between.
            let mut known: Vec<f64> = seconds.values().copied().collect();
            known.sort_by(f64::total_cmp);
            let typical = known.get(known.len() / 2).copied().unwrap_or(0.0);
            let length = |u: &Unit| -> f64 {
                u.tests
                    .iter()
                    .map(|&i| seconds.get(&tests[i].0).copied().unwrap_or(typical))
                    .sum()
            };
            // Each unit's length once, not at every comparison. Stable: equal lengths keep the
            // declared order.
            let mut measured: Vec<(f64, Unit)> = units.into_iter().map(|u| (length(&u), u)).collect();
            measured.sort_by(|a, b| b.0.total_cmp(&a.0));
            units = measured.into_iter().map(|(_, u)| u).collect();
        }
        Order::Random => {
            let seed = seed.unwrap_or_else(|| fastrand::u64(..));
            fastrand::Rng::with_seed(seed).shuffle(&mut units);
            used_seed = Some(seed);
        }
        Order::Shuffle => {
            // libtest shuffles every test it reports, ignored ones too, in name order.
            let mut all: Vec<usize> = run.iter().chain(ignored).copied().collect();
            all.sort_unstable();
            let mut every = shard_units(tests, &all, partition);
            every.sort_by_key(|u| u.tests[0]);
            let seed = seed.unwrap_or_else(|| fastrand::u64(..));
            let names: Vec<&str> = every.iter().map(|u| u.key.as_str()).collect();
            let order = libtest_shuffle::order(seed, &names);
            let mut slots: Vec<Option<Unit>> = every.into_iter().map(Some).collect();
            let runs: std::collections::HashSet<usize> = run.iter().copied().collect();
            units = order
                .into_iter()
                .filter_map(|i| slots[i].take())
                .map(|mut u| {
                    u.tests.retain(|t| runs.contains(t));
                    u
                })
                .filter(|u| !u.tests.is_empty())
                .collect();
            used_seed = Some(seed);
        }
    }
    (units.into_iter().flat_map(|u| u.tests).collect(), used_seed)
}

/// libtest's shuffle (its `helpers/shuffle.rs`), step for step, so that `--shuffle-seed N`
/// orders a suite as libtest orders the same suite.
mod libtest_shuffle {
    use std::hash::{DefaultHasher, Hash, Hasher};

    /// libtest's `TestName`, whose hash seeds its shuffle: the same shape gives the same hash.
    /// libtest hashes its tests' names as `AlignedTestName(name, PadNone)` (a test's padding).
    #[derive(Hash)]
    #[allow(dead_code)] // only the last variant is made; the others give the enum its shape
    #[allow(clippy::enum_variant_names)] // libtest's names
    enum TestName<'a> {
        StaticTestName(&'a str),
        DynTestName(String),
        AlignedTestName(std::borrow::Cow<'a, str>, NamePadding),
    }

    #[derive(Hash)]
    #[allow(dead_code)]
    enum NamePadding {
        PadNone,
        PadOnRight,
    }

    fn calculate_hash<T: Hash>(t: &T) -> u64 {
        let mut s = DefaultHasher::new();
        t.hash(&mut s);
        s.finish()
    }

    /// The order libtest runs tests named `names` (in name order) in for `seed`: indices.
    pub(super) fn order(seed: u64, names: &[&str]) -> Vec<usize> {
        let test_names: Vec<TestName> = names
            .iter()
            .map(|n| TestName::AlignedTestName(std::borrow::Cow::Borrowed(n), NamePadding::PadNone))
            .collect();
        let test_names: Vec<&TestName> = test_names.iter().collect();
        let extra = calculate_hash(&test_names);
        let mut state = seed;
        let mut order: Vec<usize> = (0..names.len()).collect();
        for i in 0..order.len() {
            state = calculate_hash(&(state, extra));
            let idx = i + (state % (order.len() - i) as u64) as usize;
            order.swap(i, idx);
        }
        order
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def(fn_name: &'static str, line: u32, group: Option<&'static str>) -> TestDef {
        TestDef {
            group,
            ..crate::registry::test_def("suite", fn_name, line)
        }
    }

    fn suite() -> Vec<(String, &'static TestDef)> {
        let defs: &'static [TestDef] = Box::leak(Box::new([
            def("a", 1, None),
            def("b", 2, Some("g")),
            def("c", 3, None),
            def("d", 4, Some("g")),
            def("e", 5, None),
        ]));
        let mut tests: Vec<_> = defs.iter().map(|d| (d.name(), d)).collect();
        tests.sort_by(|x, y| x.0.cmp(&y.0));
        tests
    }

    fn names(tests: &[(String, &TestDef)], order: &[usize]) -> Vec<String> {
        order.iter().map(|&i| tests[i].0.clone()).collect()
    }

    #[test]
    fn longest_first_with_groups_whole_and_unknown_tests_in_between() {
        let tests = suite();
        let all: Vec<usize> = (0..tests.len()).collect();
        let secs = |pairs: &[(&str, f64)]| -> HashMap<String, f64> {
            pairs.iter().map(|(n, s)| (n.to_string(), *s)).collect()
        };
        let (order, _) = plan(&tests, &all, &[], None, Order::Declared, None, &HashMap::new());
        assert_eq!(
            names(&tests, &order),
            ["a", "b", "d", "c", "e"],
            "the group where it starts"
        );
        // The group b+d (1 + 1.5 = 2.5 s) runs as one unit, in declared order; e is unknown and
        // counts as the median (1.5 s).
        let known = secs(&[("a", 0.5), ("b", 1.0), ("c", 3.0), ("d", 1.5)]);
        let (order, _) = plan(&tests, &all, &[], None, Order::Longest, None, &known);
        assert_eq!(names(&tests, &order), ["c", "b", "d", "e", "a"]);
    }

    #[test]
    fn random_is_repeatable_by_its_seed() {
        let tests = suite();
        let all: Vec<usize> = (0..tests.len()).collect();
        let (first, seed) = plan(&tests, &all, &[], None, Order::Random, None, &HashMap::new());
        let (again, _) = plan(&tests, &all, &[], None, Order::Random, seed, &HashMap::new());
        assert_eq!(first, again);
        let b = first.iter().position(|&i| tests[i].0 == "b").unwrap();
        assert_eq!(tests[first[b + 1]].0, "d", "a group stays together, in order");
    }

    #[test]
    fn shards_cover_the_suite_once_and_keep_groups_whole() {
        let tests = suite();
        let all: Vec<usize> = (0..tests.len()).collect();
        for total in 1..=4u64 {
            for kind in [0, 1] {
                let mut seen = Vec::new();
                for index in 0..total {
                    let partition = if kind == 0 {
                        Partition::Hash { index, total }
                    } else {
                        Partition::Slice { index, total }
                    };
                    let (shard, _) = plan(
                        &tests,
                        &all,
                        &[],
                        Some(partition),
                        Order::Declared,
                        None,
                        &HashMap::new(),
                    );
                    let shard_names = names(&tests, &shard);
                    assert_eq!(
                        shard_names.contains(&"b".to_string()),
                        shard_names.contains(&"d".to_string()),
                        "{partition:?}: the group is split: {shard_names:?}"
                    );
                    seen.extend(shard);
                }
                seen.sort_unstable();
                assert_eq!(seen, all, "kind {kind}, {total} shards: every test exactly once");
            }
        }
    }
}
