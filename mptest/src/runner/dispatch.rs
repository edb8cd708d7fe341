//! Which test a worker gets next: the queue of jobs in the plan's order, and the rules that keep
//! a group's tests on one worker and run a `serial` test alone.

use std::collections::{HashMap, VecDeque};

use crate::registry::TestDef;

/// One run of one test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Job {
    /// Index into the sorted test list.
    pub(crate) test: usize,
    /// 1-based.
    pub(crate) attempt: u32,
    /// The number of the run message that sent it to a forked worker, while it waits there
    /// (handed out ahead): what takes it back (see [`crate::claims`]).
    pub(crate) message: Option<u64>,
}

/// What the queue must know of the pool to pick a job.
#[derive(Debug, Default)]
pub(crate) struct Pool {
    /// Workers running a test.
    pub(crate) busy: usize,
    /// A serial test runs, or has ended but is not reported yet.
    pub(crate) serial_unfinished: bool,
    /// Some ended test is not reported yet (its result waits for its output).
    pub(crate) unreported: bool,
}

/// The jobs not handed out yet, and which worker holds each group.
pub(crate) struct Queue {
    pending: VecDeque<Job>,
    group_owner: HashMap<&'static str, usize>,
    /// Groups whose worker died under one of their tests (named), until the rest of the group
    /// goes to a new worker.
    group_lost: HashMap<&'static str, String>,
}

/// A group goes on in a new worker after its old one died (in the test named).
pub(crate) struct GroupMoved {
    pub(crate) group: &'static str,
    pub(crate) lost_in: String,
}

impl Queue {
    /// The first attempt of each of `run`, in that order.
    pub(crate) fn new(run: &[usize]) -> Self {
        Queue {
            pending: run.iter().map(|&test| Job {
                    test,
                    attempt: 1,
                    message: None,
                }).collect(),
            group_owner: HashMap::new(),
            group_lost: HashMap::new(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.pending.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    pub(crate) fn jobs(&self) -> impl Iterator<Item = &Job> {
        self.pending.iter()
    }

    /// Puts a job back first in line (a retry, or a job handed out ahead that never started).
    pub(crate) fn push_front(&mut self, job: Job) {
        self.pending.push_front(job);
    }

    /// Drops every job (`--fail-fast`); returns how many there were.
    pub(crate) fn clear(&mut self) -> usize {
        let dropped = self.pending.len();
        self.pending.clear();
        dropped
    }

    /// The position of the next job `worker` may take: in order, keeping each group on its
    /// worker while that worker is live, and running a `serial` test alone — nothing passes a
    /// waiting serial test, and it starts only when every earlier result is out.
    pub(crate) fn pick(
        &self,
        worker: usize,
        pool: &Pool,
        tests: &[(String, &'static TestDef)],
        is_live: impl Fn(usize) -> bool,
    ) -> Option<usize> {
        if pool.serial_unfinished {
            return None;
        }
        for (pos, job) in self.pending.iter().enumerate() {
            let def = tests[job.test].1;
            if def.serial {
                return (pool.busy == 0 && !pool.unreported).then_some(pos);
            }
            if let Some(group) = def.group {
                match self.group_owner.get(group) {
                    Some(&owner) if owner != worker && is_live(owner) => continue,
                    _ => {}
                }
            }
            return Some(pos);
        }
        None
    }

    /// Takes the job at `pos` (from [`pick`](Self::pick)).
    pub(crate) fn take(&mut self, pos: usize) -> Option<Job> {
        self.pending.remove(pos)
    }

    /// `worker` runs `def`'s job now: its group is the worker's. Says so when the group moved
    /// there because its old worker died.
    pub(crate) fn assign(&mut self, def: &TestDef, worker: usize) -> Option<GroupMoved> {
        let group = def.group?;
        self.group_owner.insert(group, worker);
        let lost_in = self.group_lost.remove(group)?;
        Some(GroupMoved { group, lost_in })
    }

    /// The worker of `def`'s group died while running the test named `name`.
    pub(crate) fn group_lost(&mut self, def: &TestDef, name: &str) {
        if let Some(group) = def.group {
            self.group_lost.insert(group, name.to_string());
        }
    }

    /// The worker that holds `group`, if any did.
    pub(crate) fn owner(&self, group: &str) -> Option<usize> {
        self.group_owner.get(group).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn suite(defs: Vec<TestDef>) -> Vec<(String, &'static TestDef)> {
        let defs: &'static [TestDef] = Box::leak(defs.into_boxed_slice());
        defs.iter().map(|d| (d.name(), d)).collect()
    }

    fn plain(name: &'static str) -> TestDef {
        crate::registry::test_def("suite", name, 1)
    }

    fn grouped(name: &'static str, group: &'static str) -> TestDef {
        TestDef {
            group: Some(group),
            ..plain(name)
        }
    }

    fn serial(name: &'static str) -> TestDef {
        TestDef {
            serial: true,
            ..plain(name)
        }
    }

    fn idle() -> Pool {
        Pool::default()
    }

    #[test]
    fn a_group_stays_on_its_worker_while_that_worker_lives() {
        let tests = suite(vec![grouped("a", "g"), grouped("b", "g"), plain("c")]);
        let mut queue = Queue::new(&[0, 1, 2]);
        let pos = queue.pick(0, &idle(), &tests, |_| true).expect("a job");
        let job = queue.take(pos).expect("a job");
        assert_eq!(job.test, 0);
        assert!(queue.assign(tests[job.test].1, 0).is_none());
        // Worker 1 passes the group's next test by.
        assert_eq!(queue.pick(1, &idle(), &tests, |_| true), Some(1));
        assert_eq!(queue.pick(0, &idle(), &tests, |_| true), Some(0));
        // Worker 0 died: the group may go anywhere, and says where it was lost.
        queue.group_lost(tests[0].1, "suite::a");
        assert_eq!(queue.pick(1, &idle(), &tests, |w| w != 0), Some(0));
        let moved = queue.assign(tests[1].1, 1).expect("the group moved");
        assert_eq!((moved.group, moved.lost_in.as_str()), ("g", "suite::a"));
        assert_eq!(queue.owner("g"), Some(1));
    }

    #[test]
    fn a_serial_test_waits_for_every_earlier_result_and_nothing_passes_it() {
        let tests = suite(vec![serial("s"), plain("p")]);
        let queue = Queue::new(&[0, 1]);
        let busy = Pool {
            busy: 1,
            ..idle()
        };
        assert_eq!(queue.pick(0, &busy, &tests, |_| true), None);
        let unreported = Pool {
            unreported: true,
            ..idle()
        };
        assert_eq!(queue.pick(0, &unreported, &tests, |_| true), None);
        assert_eq!(queue.pick(0, &idle(), &tests, |_| true), Some(0));
        // While it runs, nothing else starts.
        let queue = Queue::new(&[1]);
        let serial_running = Pool {
            busy: 1,
            serial_unfinished: true,
            ..idle()
        };
        assert_eq!(queue.pick(1, &serial_running, &tests, |_| true), None);
    }

    #[test]
    fn a_retry_goes_first_and_fail_fast_drops_the_rest() {
        let mut queue = Queue::new(&[0, 1, 2]);
        let first = queue.take(0).expect("a job");
        queue.push_front(Job {
            attempt: 2,
            ..first
        });
        assert_eq!(queue.jobs().next(), Some(&Job { test: 0, attempt: 2, message: None }));
        assert_eq!(queue.clear(), 3);
        assert!(queue.is_empty());
    }
}
