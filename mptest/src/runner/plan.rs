//! What this run takes of the selected tests (its shard) and in which order it hands them out.
//!
//! Both work on *units*: a test, or a whole group (whose tests share a worker and run in
//! declared order). A group is never split between shards, and is ordered by its total
//! duration.
//!
//! `--partition time:M/N` fills N bins with the units whose durations are recorded, longest
//! first, each into the bin with the least so far (ties: the lower bin; equal lengths: by
//! name) — the greedy split of pytest-split and CircleCI's `--split-by=timings`. It depends on
//! nothing but the selection and the durations, so every machine reading the same timings file
//! splits alike. Units with no recorded duration go by their hash, as `hash:` places them.

use std::collections::{HashMap, HashSet};

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

/// The recorded seconds of a unit's tests, `None` if none of them has any.
fn recorded(tests: &[(String, &'static TestDef)], unit: &Unit, seconds: &HashMap<String, f64>) -> Option<f64> {
    let known: Vec<f64> = unit.tests.iter().filter_map(|&i| seconds.get(&tests[i].0).copied()).collect();
    (!known.is_empty()).then(|| known.iter().sum())
}

/// The keys of the units that `time:` puts in bin `index` of `total`.
fn time_bin(
    tests: &[(String, &'static TestDef)],
    units: &[Unit],
    seconds: &HashMap<String, f64>,
    index: u64,
    total: u64,
) -> HashSet<String> {
    let mut known: Vec<(f64, &Unit)> = Vec::new();
    let mut mine = HashSet::new();
    for unit in units {
        match recorded(tests, unit, seconds) {
            Some(length) => known.push((length, unit)),
            None if stable_hash(&unit.key) % total == index => {
                mine.insert(unit.key.clone());
            }
            None => {}
        }
    }
    known.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.key.cmp(&b.1.key)));
    // No more bins than units can fill: the lowest empty bin is always among these.
    let mut bins = vec![0.0f64; total.min(known.len() as u64) as usize];
    for (length, unit) in known {
        let emptiest = (0..bins.len())
            .min_by(|&a, &b| bins[a].total_cmp(&bins[b]))
            .unwrap_or(0);
        bins[emptiest] += length;
        if emptiest as u64 == index {
            mine.insert(unit.key.clone());
        }
    }
    mine
}

/// The units of `list` that fall in this run's shard (all of them without a partition), in
/// declared order. `seconds`: recorded durations, for `time:`.
fn shard_units(
    tests: &[(String, &'static TestDef)],
    list: &[usize],
    partition: Option<Partition>,
    seconds: &HashMap<String, f64>,
) -> Vec<Unit> {
    let units = units(tests, list);
    match partition {
        Some(Partition::Time { index, total }) => {
            let mine = time_bin(tests, &units, seconds, index, total);
            units.into_iter().filter(|u| mine.contains(&u.key)).collect()
        }
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
/// shard reports but does not run, and for `--list`).
pub(crate) fn shard(
    tests: &[(String, &'static TestDef)],
    list: &[usize],
    partition: Option<Partition>,
    seconds: &HashMap<String, f64>,
) -> Vec<usize> {
    shard_units(tests, list, partition, seconds)
        .into_iter()
        .flat_map(|u| u.tests)
        .collect()
}

/// What earlier runs tell the plan.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Past<'a> {
    /// Recorded durations, by test name.
    pub(crate) seconds: &'a HashMap<String, f64>,
    /// Tests to hand out before the others (`--failed-first`), whatever the order.
    pub(crate) first: &'a HashSet<String>,
}

/// The tests this run reports, in order: its shard of `run` and of `ignored`, ordered as asked,
/// `past.first` ahead. The tests of `run` in it are the order they are handed out in; an
/// ignored one is reported where it stands, as libtest reports it when its turn comes (see
/// [`interleave`]). Returns the order and, for `random` and `shuffle`, the seed used.
pub(crate) fn plan(
    tests: &[(String, &'static TestDef)],
    run: &[usize],
    ignored: &[usize],
    partition: Option<Partition>,
    order: Order,
    seed: Option<u64>,
    past: Past<'_>,
) -> (Vec<usize>, Option<u64>) {
    let seconds = past.seconds;
    // Each list sharded on its own, as `shard` does for the ignored ones the run counts.
    let mut in_shard = shard(tests, run, partition, seconds);
    in_shard.extend(shard(tests, ignored, partition, seconds));
    let mut units = units(tests, &in_shard);
    let runs: HashSet<usize> = run.iter().copied().collect();
    let mut used_seed = None;
    // Indices into `tests` follow the names: a unit goes by its first test's name.
    let by_name = |units: &mut Vec<Unit>| units.sort_by_key(|u| u.tests.iter().min().copied());
    match order {
        Order::Declared => {}
        Order::Name => by_name(&mut units),
        Order::Longest => {
            by_name(&mut units);
            // Unknown tests count as the median known test: in between; an ignored one too.
            let mut known: Vec<f64> = seconds.values().copied().collect();
            known.sort_by(f64::total_cmp);
            let typical = known.get(known.len() / 2).copied().unwrap_or(0.0);
            let length = |u: &Unit| -> f64 {
                let ran: Vec<f64> = (u.tests.iter().filter(|i| runs.contains(i)))
                    .map(|&i| seconds.get(&tests[i].0).copied().unwrap_or(typical))
                    .collect();
                match ran.is_empty() {
                    true => typical,
                    false => ran.iter().sum(),
                }
            };
            // Each unit's length once, not at every comparison. Stable: equal lengths keep the
            // name order.
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
            by_name(&mut units);
            let seed = seed.unwrap_or_else(|| fastrand::u64(..));
            let names: Vec<&str> = units.iter().map(|u| u.key.as_str()).collect();
            let order = libtest_shuffle::order(seed, &names);
            let mut slots: Vec<Option<Unit>> = units.into_iter().map(Some).collect();
            units = order.into_iter().filter_map(|i| slots[i].take()).collect();
            used_seed = Some(seed);
        }
    }
    // Stable: the first ones keep the order among themselves, the others theirs.
    units.sort_by_key(|u| !u.tests.iter().any(|&i| past.first.contains(&tests[i].0)));
    (units.into_iter().flat_map(|u| u.tests).collect(), used_seed)
}

/// Where the ignored tests of `order` stand among the tests that run: each with the number of
/// tests of `run` before it. libtest reports an ignored test when its turn comes.
pub(crate) fn interleave(order: &[usize], run: &[usize], ignored: &[usize]) -> Vec<(usize, usize)> {
    let (run, ignored): (HashSet<usize>, HashSet<usize>) =
        (run.iter().copied().collect(), ignored.iter().copied().collect());
    let mut ran = 0;
    let mut at = Vec::new();
    for i in order {
        if run.contains(i) {
            ran += 1;
        } else if ignored.contains(i) {
            at.push((*i, ran));
        }
    }
    at
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

    fn past(seconds: &HashMap<String, f64>) -> Past<'_> {
        static NONE: std::sync::OnceLock<HashSet<String>> = std::sync::OnceLock::new();
        Past {
            seconds,
            first: NONE.get_or_init(HashSet::new),
        }
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
        let (order, _) = plan(&tests, &all, &[], None, Order::Declared, None, past(&HashMap::new()));
        assert_eq!(
            names(&tests, &order),
            ["a", "b", "d", "c", "e"],
            "the group where it starts"
        );
        // The group b+d (1 + 1.5 = 2.5 s) runs as one unit, in declared order; e is unknown and
        // counts as the median (1.5 s).
        let known = secs(&[("a", 0.5), ("b", 1.0), ("c", 3.0), ("d", 1.5)]);
        let (order, _) = plan(&tests, &all, &[], None, Order::Longest, None, past(&known));
        assert_eq!(names(&tests, &order), ["c", "b", "d", "e", "a"]);
    }

    #[test]
    fn by_name_and_equal_lengths_by_name_as_libtest_hands_them_out() {
        // Declared z (line 1), y (2), x (3): the names go the other way.
        let defs: &'static [TestDef] = Box::leak(Box::new([
            def("z", 1, None),
            def("y", 2, None),
            def("x", 3, None),
        ]));
        let mut tests: Vec<_> = defs.iter().map(|d| (d.name(), d)).collect();
        tests.sort_by(|a, b| a.0.cmp(&b.0));
        let all: Vec<usize> = (0..tests.len()).collect();
        let none = HashMap::new();
        let order = |o| names(&tests, &plan(&tests, &all, &[], None, o, None, past(&none)).0);
        assert_eq!(order(Order::Declared), ["z", "y", "x"]);
        assert_eq!(order(Order::Name), ["x", "y", "z"]);
        // Nothing known: all equal, so by name, as a first run under libtest.
        assert_eq!(order(Order::Longest), ["x", "y", "z"]);
        let known: HashMap<String, f64> = [("z", 3.0), ("y", 1.0), ("x", 2.0)]
            .map(|(n, s)| (n.to_string(), s))
            .into();
        let (longest, _) = plan(&tests, &all, &[], None, Order::Longest, None, past(&known));
        assert_eq!(names(&tests, &longest), ["z", "x", "y"]);
    }

    #[test]
    fn an_ignored_test_is_reported_in_its_turn() {
        let tests = suite();
        let none = HashMap::new();
        // a, c and e run; b (of the group g with d) and d are ignored.
        let (run, ignored) = ([0, 2, 4], [1, 3]);
        let (order, _) = plan(&tests, &run, &ignored, None, Order::Name, None, past(&none));
        assert_eq!(names(&tests, &order), ["a", "b", "d", "c", "e"]);
        assert_eq!(interleave(&order, &run, &ignored), [(1, 1), (3, 1)]);
        // What the run left out (--last-failed) is neither counted nor reported.
        assert_eq!(interleave(&order, &[2, 4], &[3]), [(3, 0)]);
        // Nothing known: an ignored test is as long as any other, so in its name's place.
        let (order, _) = plan(&tests, &[0, 4], &[2], None, Order::Longest, None, past(&none));
        assert_eq!(names(&tests, &order), ["a", "c", "e"]);
    }

    #[test]
    fn random_is_repeatable_by_its_seed() {
        let tests = suite();
        let all: Vec<usize> = (0..tests.len()).collect();
        let (first, seed) = plan(&tests, &all, &[], None, Order::Random, None, past(&HashMap::new()));
        let (again, _) = plan(&tests, &all, &[], None, Order::Random, seed, past(&HashMap::new()));
        assert_eq!(first, again);
        let b = first.iter().position(|&i| tests[i].0 == "b").unwrap();
        assert_eq!(tests[first[b + 1]].0, "d", "a group stays together, in order");
    }

    #[test]
    fn shards_cover_the_suite_once_and_keep_groups_whole() {
        let tests = suite();
        let all: Vec<usize> = (0..tests.len()).collect();
        for total in 1..=4u64 {
            for kind in [0, 1, 2] {
                let mut seen = Vec::new();
                for index in 0..total {
                    let partition = match kind {
                        0 => Partition::Hash { index, total },
                        1 => Partition::Slice { index, total },
                        _ => Partition::Time { index, total },
                    };
                    let (shard, _) = plan(
                        &tests,
                        &all,
                        &[],
                        Some(partition),
                        Order::Declared,
                        None,
                        past(&HashMap::new()),
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

    #[test]
    fn time_shards_are_greedy_longest_first_and_unknown_tests_go_by_hash() {
        let tests = suite();
        let all: Vec<usize> = (0..tests.len()).collect();
        // a 4, group b+d 2+1 = 3, c 2; e unknown.
        let known: HashMap<String, f64> = [("a", 4.0), ("b", 2.0), ("c", 2.0), ("d", 1.0)]
            .iter()
            .map(|(n, s)| (n.to_string(), *s))
            .collect();
        let shard = |index| {
            let partition = Some(Partition::Time { index, total: 2 });
            let (order, _) = plan(&tests, &all, &[], partition, Order::Declared, None, past(&known));
            names(&tests, &order)
        };
        let e_in = stable_hash("e") % 2;
        let with_e = |names: &[&str], index| -> Vec<String> {
            let mut names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
            if e_in == index {
                names.push("e".to_string());
            }
            names
        };
        // a (4) to bin 0, the group (3) to bin 1, c (2) to bin 1 (3 < 4): 4 and 5.
        assert_eq!(shard(0), with_e(&["a"], 0));
        assert_eq!(shard(1), with_e(&["b", "d", "c"], 1));
        // Equal lengths are placed by name, so the split does not depend on the file's order.
        let even: HashMap<String, f64> = ["a", "c", "e"].iter().map(|n| (n.to_string(), 1.0)).collect();
        let (first, _) = plan(
            &tests,
            &[0, 2, 4],
            &[],
            Some(Partition::Time { index: 0, total: 2 }),
            Order::Declared,
            None,
            past(&even),
        );
        assert_eq!(names(&tests, &first), ["a", "e"]);
        // More shards than tests: each test a shard of its own, the rest empty.
        for index in 0..10 {
            let (order, _) = plan(
                &tests,
                &[0, 2],
                &[],
                Some(Partition::Time { index, total: 10 }),
                Order::Declared,
                None,
                past(&known),
            );
            assert_eq!(order.len(), usize::from(index < 2), "shard {index}");
        }
    }

    #[test]
    fn failed_first_puts_those_tests_ahead_in_any_order() {
        let tests = suite();
        let all: Vec<usize> = (0..tests.len()).collect();
        let first: HashSet<String> = ["e", "d"].iter().map(|n| n.to_string()).collect();
        let none = HashMap::new();
        let past = Past {
            seconds: &none,
            first: &first,
        };
        let (order, _) = plan(&tests, &all, &[], None, Order::Declared, None, past);
        // The group of d comes whole, in its place among the first ones.
        assert_eq!(names(&tests, &order), ["b", "d", "e", "a", "c"]);
        let (order, _) = plan(&tests, &all, &[], None, Order::Random, Some(3), past);
        let names = names(&tests, &order);
        let mut ahead = names[..3].to_vec();
        ahead.sort();
        assert_eq!(ahead, ["b", "d", "e"], "{names:?}");
    }
}
