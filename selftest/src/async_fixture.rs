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
