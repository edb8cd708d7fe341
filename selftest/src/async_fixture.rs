//! Async tests, run by `tests/async_tests.rs`: every flavor and option of `#[mp_test] async fn`,
//! their outcomes, async fixtures, `mptest::rt`'s sleeps, interval and spawn.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use mptest::prelude::*;

mod pass {
    use super::*;

    /// On the test's own thread (current_thread), which carries the test's name.
    #[mp_test]
    async fn on_its_own_thread() {
        mptest::rt::sleep(Duration::from_millis(5)).await;
        assert_eq!(std::thread::current().name(), Some("pass::on_its_own_thread"));
        let flavor = tokio::runtime::Handle::current().runtime_flavor();
        assert_eq!(flavor, tokio::runtime::RuntimeFlavor::CurrentThread);
    }

    #[mp_test(flavor = "multi_thread", worker_threads = 2)]
    async fn multi_thread_with_two_workers() {
        let handle = tokio::runtime::Handle::current();
        assert_eq!(
            handle.runtime_flavor(),
            tokio::runtime::RuntimeFlavor::MultiThread
        );
        assert_eq!(handle.metrics().num_workers(), 2);
        let tasks: Vec<_> = (0..4u32).map(|i| tokio::spawn(async move { i * 2 })).collect();
        let mut sum = 0;
        for task in tasks {
            sum += task.await.unwrap();
        }
        assert_eq!(sum, 12);
    }

    /// tokio's `LocalRuntime` (1.51 on), named: its tasks need not be `Send`.
    #[mp_test(flavor = "local", name = "local-runtime")]
    async fn local_flavor_runs_tasks_that_are_not_send() {
        let shared = std::rc::Rc::new(std::cell::Cell::new(0));
        let task = tokio::task::spawn_local({
            let shared = shared.clone();
            async move { shared.set(7) }
        });
        task.await.unwrap();
        assert_eq!(shared.get(), 7);
        assert_eq!(tokio::runtime::Handle::current().name(), Some("local-runtime"));
        assert_eq!(
            std::thread::current().name(),
            Some("pass::local_flavor_runs_tasks_that_are_not_send")
        );
    }

    #[mp_test(flavor = "multi_thread", name = "threaded", crate = "tokio")]
    async fn a_named_runtime_and_tokio_s_crate_option() {
        assert_eq!(tokio::runtime::Handle::current().name(), Some("threaded"));
    }

    /// tokio's clock, paused: an hour passes at once.
    #[mp_test(start_paused = true)]
    async fn start_paused_skips_tokio_time() {
        let real = std::time::Instant::now();
        tokio::time::sleep(Duration::from_secs(3600)).await;
        assert!(real.elapsed() < Duration::from_secs(5), "{:?}", real.elapsed());
    }

    #[mp_test(should_panic = "boom")]
    async fn should_panic_after_an_await() {
        tokio::task::yield_now().await;
        panic!("boom");
    }

    #[mp_test]
    async fn returns_ok() -> Result<(), String> {
        tokio::task::yield_now().await;
        Ok(())
    }

    /// Passes; the output says the task it left was cancelled.
    #[mp_test]
    async fn leaves_a_task_running() {
        tokio::spawn(std::future::pending::<()>());
        tokio::task::yield_now().await;
    }

    /// While a slow sleep of the test's clock waits, the runtime goes on with other tasks.
    #[mp_test]
    async fn a_clock_sleep_does_not_block_the_runtime() {
        mptest::clock::pause();
        let done = Arc::new(AtomicUsize::new(0));
        let sleeper = tokio::spawn({
            let done = done.clone();
            async move {
                mptest::rt::sleep(Duration::from_secs(3600)).await;
                done.store(1, Ordering::SeqCst);
            }
        });
        // Another task makes progress meanwhile: a counter advances.
        let counter = Arc::new(AtomicUsize::new(0));
        for _ in 0..10 {
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::task::yield_now().await;
        }
        assert_eq!(counter.load(Ordering::SeqCst), 10);
        assert!(mptest::clock::wait_sleeping(1, Duration::from_secs(10)));
        assert_eq!(done.load(Ordering::SeqCst), 0, "woke before its time");
        mptest::clock::advance(Duration::from_secs(3600));
        tokio::time::timeout(Duration::from_secs(10), sleeper)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(done.load(Ordering::SeqCst), 1);
        mptest::clock::reset();
    }

    /// A day of ticks every hour, in accelerated time.
    #[mp_test]
    async fn an_interval_follows_the_accelerated_clock() {
        mptest::clock::set_speed(36_000.0); // a real 100 ms is an hour
        let real = std::time::Instant::now();
        let mut hourly = mptest::rt::interval(Duration::from_secs(3600));
        let first = hourly.tick().await;
        let mut last = first;
        for _ in 0..3 {
            last = hourly.tick().await;
        }
        assert_eq!(last.duration_since(first), Duration::from_secs(3 * 3600));
        assert!(mptest::clock::now().duration_since(first) >= Duration::from_secs(3 * 3600));
        assert!(real.elapsed() < Duration::from_secs(20), "{:?}", real.elapsed());
        mptest::clock::reset();
    }

    #[mp_test]
    async fn spawns_async_work_into_a_child() {
        let child = mptest::rt::spawn(20u32, |n| async move {
            mptest::rt::sleep(Duration::from_millis(1)).await;
            (n + 1, std::process::id())
        });
        let (value, pid) = child.join_async().await.unwrap();
        assert_eq!(value, 21);
        assert_ne!(pid, std::process::id());
    }
}

/// A shared object with a slow method, for the async proxy calls.
#[derive(Default, serde::Serialize, serde::Deserialize)]
pub struct Slow {
    calls: u32,
}

#[mptest::shared]
impl Slow {
    /// Answers after `ms` milliseconds of (simulated) work in the manager.
    pub fn slowly(&mut self, ms: u64) -> u32 {
        std::thread::sleep(Duration::from_millis(ms)); // simulated work
        self.calls += 1;
        self.calls
    }

    pub fn calls(&self) -> u32 {
        self.calls
    }
}

mod proxy {
    use super::*;

    /// On a current-thread runtime, while a slow proxy call is awaited another task of the
    /// test makes progress: the call does not block the runtime.
    #[mp_test]
    async fn a_slow_call_leaves_the_runtime_to_the_other_tasks() {
        let manager = mptest::Manager::start().unwrap();
        let slow = manager.create(Slow::default()).unwrap();
        let counter = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicUsize::new(0));
        let counting = tokio::spawn({
            let (counter, stop) = (counter.clone(), stop.clone());
            async move {
                while stop.load(Ordering::SeqCst) == 0 {
                    counter.fetch_add(1, Ordering::SeqCst);
                    tokio::task::yield_now().await;
                }
            }
        });
        assert_eq!(slow.slowly_async(300).await.unwrap(), 1);
        let counted = counter.load(Ordering::SeqCst);
        stop.store(1, Ordering::SeqCst);
        counting.await.unwrap();
        assert!(
            counted > 100,
            "the other task ran {counted} times during the call"
        );
        // A quick call, and the connection it used, still work; the blocking form agrees.
        assert_eq!(slow.calls_async().await.unwrap(), 1);
        assert_eq!(slow.calls().unwrap(), 1);
    }

    /// A proxy handed to a spawned child's async code.
    #[mp_test]
    async fn from_a_child_on_its_own_runtime() {
        let manager = mptest::Manager::start().unwrap();
        let slow = manager.create(Slow::default()).unwrap();
        let child = mptest::rt::spawn(slow.clone(), |slow: SlowProxy| async move {
            slow.slowly_async(1).await.unwrap()
        });
        assert_eq!(child.join_async().await.unwrap(), 1);
        assert_eq!(slow.calls_async().await.unwrap(), 1);
    }
}

/// An aux that answers `n` with `n + 1` and hears, once created, the numbers 1, 2, 3.
pub struct Echo {
    heard: std::sync::Mutex<Vec<u64>>,
}

#[mptest::aux]
impl mptest::aux::Auxiliary for Echo {
    type Config = ();
    type Command = u64;
    type Response = u64;
    type Message = u64;

    fn new(_: ()) -> mptest::aux::AuxResult<Self> {
        Ok(Echo {
            heard: std::sync::Mutex::new(vec![3, 2, 1]),
        })
    }

    fn run_command(&self, n: u64) -> mptest::aux::AuxResult<u64> {
        Ok(n + 1)
    }

    fn receive_message(&self, wait: Duration) -> Option<u64> {
        let next = self.heard.lock().unwrap().pop();
        if next.is_none() {
            // Nothing more to hear: the aux's receive loop waits as a port read would.
            std::thread::park_timeout(wait);
        }
        next
    }
}

mod handles {
    use super::*;

    const LIMIT: Duration = Duration::from_secs(20);

    #[mp_test]
    async fn the_ready_made_shared_types_have_async_forms() {
        let manager = mptest::Manager::start().unwrap();
        let value = manager.value(1u32).unwrap();
        assert_eq!(value.set_async(2).await.unwrap(), 1);
        assert_eq!(value.get_async().await.unwrap(), 2);
        let queue = manager.queue::<u32>(None).unwrap();
        // A child puts, the test awaits the item.
        let putter = mptest::rt::spawn(queue.clone(), |queue: mptest::SharedQueue<u32>| async move {
            queue.put_async(7).await.unwrap();
        });
        assert_eq!(queue.get_async().await.unwrap(), 7);
        putter.join_async().await.unwrap();
        assert!(queue.is_empty_async().await.unwrap());
        let lock = manager.lock().unwrap();
        let guard = lock.acquire_async(Some(LIMIT)).await.unwrap();
        guard.release_async().await.unwrap();
        let event = manager.event().unwrap();
        event.set_async().await.unwrap();
        assert!(event.wait_async(Some(LIMIT)).await.unwrap());
    }

    #[mp_test]
    async fn an_aux_handle_has_async_forms() {
        let echo = mptest::aux::start::<Echo>(()).unwrap();
        assert_eq!(echo.run_command_async(41, LIMIT).await.unwrap(), 42);
        let mut heard = Vec::new();
        while heard.len() < 3 {
            let message = echo.wait_and_get_report_async(LIMIT).await.unwrap();
            heard.push(message.expect("the aux heard its numbers"));
        }
        assert_eq!(heard, [1, 2, 3]);
        assert!(echo.lock_it_async(LIMIT).await);
        echo.unlock_it_async().await.unwrap();
        echo.suspend_async().await.unwrap();
        echo.resume_async().await.unwrap();
        echo.stop_async().await.unwrap();
    }

    #[mp_test]
    async fn recorder_and_log_waits_have_async_forms() {
        let recorder = mptest::Recorder::new().unwrap();
        let child = mptest::rt::spawn(recorder.clone(), |recorder: mptest::Recorder| async move {
            recorder.record("opened", 5u32).unwrap();
            log::info!("the child says hello");
        });
        let calls = recorder
            .wait_for_async(|calls| calls.iter().any(|c| c.name == "opened"), LIMIT)
            .await
            .unwrap();
        assert_eq!(calls[0].name, "opened");
        let record = mptest::rt::wait_for_log(|r| r.message.contains("the child says hello"), LIMIT)
            .await
            .unwrap();
        assert!(record.message.contains("hello"));
        child.join_async().await.unwrap();
    }
}

mod fail {
    use super::*;

    /// A panic in a spawned task the test awaits fails the test, as under `#[tokio::test]`.
    #[mp_test]
    async fn an_awaited_task_panics() {
        let task = tokio::spawn(async { panic!("the task failed") });
        task.await.unwrap();
    }

    #[mp_test]
    async fn returns_err() -> Result<(), String> {
        tokio::task::yield_now().await;
        Err("async error".into())
    }

    #[mp_test(timeout = "300ms")]
    async fn hangs() {
        std::future::pending::<()>().await;
    }

    #[mp_test]
    async fn aborts() {
        tokio::task::yield_now().await;
        std::process::abort();
    }
}

// ---- async fixtures ----

/// A fixture that serves requests from a task on the fixtures' runtime: it stays served while
/// tests on their own runtimes use it.
struct Doubler {
    requests: tokio::sync::mpsc::UnboundedSender<(u32, tokio::sync::oneshot::Sender<u32>)>,
}

#[mptest::fixture]
async fn doubler() -> Doubler {
    tokio::task::yield_now().await;
    let (requests, mut incoming) =
        tokio::sync::mpsc::unbounded_channel::<(u32, tokio::sync::oneshot::Sender<u32>)>();
    tokio::spawn(async move {
        while let Some((n, reply)) = incoming.recv().await {
            let _ = reply.send(n * 2);
        }
    });
    Doubler { requests }
}

mod fixture {
    use super::*;

    #[mp_test]
    async fn an_async_fixture_serves_the_tests(doubler: &Doubler) {
        for n in [1u32, 21] {
            let (reply, answer) = tokio::sync::oneshot::channel();
            doubler.requests.send((n, reply)).unwrap();
            assert_eq!(answer.await.unwrap(), n * 2);
        }
    }

    /// A plain test takes it too.
    #[mp_test]
    fn a_plain_test_uses_it_as_well(doubler: &Doubler) {
        let (reply, answer) = tokio::sync::oneshot::channel();
        doubler.requests.send((5, reply)).unwrap();
        assert_eq!(answer.blocking_recv().unwrap(), 10);
    }
}

fn main() -> ! {
    mptest::run()
}
