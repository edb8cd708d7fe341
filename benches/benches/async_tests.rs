//! Async speed (the `tokio` feature): a proxy round trip `counter.incr_async(1)` against the
//! blocking `counter.incr(1)`, both from a spawned child on a current-thread runtime, the
//! manager and the child pinned to one CPU and to two; and 1 000 trivial `#[mp_test] async
//! fn`s against the same tests as `#[tokio::test]`s under libtest (release, 2 threads).
//! Median and range of 3 runs, alternating.
//!
//! ```text
//! cargo bench -p benches --bench async_tests
//! ```

use std::process::Command;
use std::time::{Duration, Instant};

use benches::{build_suites, median, median_range, pin, time_command, verdict, Counter, CounterProxy};
use mptest::Manager;

const CALLS: usize = 10_000;
const WARMUP: usize = 1_000;
const RUNS: usize = 3;

fn median_us(mut samples: Vec<Duration>) -> f64 {
    samples.sort();
    samples[samples.len() / 2].as_secs_f64() * 1e6
}

/// In a child pinned to `cpu`, on a current-thread runtime: the median round trip of the
/// blocking call and of the async one, in blocks of a thousand, alternating.
fn round_trips(counter: &CounterProxy, cpu: usize) -> Result<(f64, f64), String> {
    let child = mptest::rt::spawn(
        (counter.clone(), cpu),
        |(c, cpu): (CounterProxy, usize)| async move {
            pin(0, cpu)?;
            for _ in 0..WARMUP {
                c.incr(1).map_err(|e| e.to_string())?;
                c.incr_async(1).await.map_err(|e| e.to_string())?;
            }
            let (mut blocking, mut awaited) = (Vec::with_capacity(CALLS), Vec::with_capacity(CALLS));
            for _ in 0..CALLS / 1000 {
                for _ in 0..1000 {
                    let t = Instant::now();
                    c.incr(1).map_err(|e| e.to_string())?;
                    blocking.push(t.elapsed());
                }
                for _ in 0..1000 {
                    let t = Instant::now();
                    c.incr_async(1).await.map_err(|e| e.to_string())?;
                    awaited.push(t.elapsed());
                }
            }
            Ok::<_, String>((median_us(blocking), median_us(awaited)))
        },
    );
    child.join().map_err(|e| e.to_string())?
}

fn run() -> Result<(), String> {
    let manager = Manager::start().map_err(|e| e.to_string())?;
    let counter = manager.create(Counter::default()).map_err(|e| e.to_string())?;
    let server = manager.pid().ok_or("the manager has no process")?;
    pin(server, 0)?;
    for (placement, cpu) in [("one CPU", 0), ("two CPUs", 1)] {
        let mut ratios = Vec::new();
        let (mut blocking, mut awaited) = (Vec::new(), Vec::new());
        for n in 1..=RUNS {
            let (b, a) = round_trips(&counter, cpu)?;
            println!(
                "{placement}, run {n}: blocking {b:.1} µs, async {a:.1} µs ({:.2} ×)",
                a / b
            );
            blocking.push(b);
            awaited.push(a);
            ratios.push(a / b);
        }
        let (bm, blo, bhi) = median_range(&blocking);
        let (am, alo, ahi) = median_range(&awaited);
        let (m, lo, hi) = median_range(&ratios);
        println!(
            "{placement}: blocking {bm:.1} µs ({blo:.1}–{bhi:.1}), async {am:.1} µs ({alo:.1}–{ahi:.1}): {m:.2} × ({lo:.2}–{hi:.2}) (target ≤ 1.2: {})\n",
            verdict(hi <= 1.2)
        );
    }
    manager.shutdown();

    let built = build_suites(&["tokio_libtest_1k", "tokio_mptest_1k"])?;
    let mut ratios = Vec::new();
    for n in 1..=RUNS {
        let (mut libtest, mut mptest) = (Vec::new(), Vec::new());
        for _ in 0..11 {
            libtest.push(time_command(Command::new(&built[0]).args([
                "--test-threads",
                "2",
                "-q",
            ]))?);
            mptest.push(time_command(Command::new(&built[1]).args([
                "--test-threads",
                "2",
                "-q",
            ]))?);
        }
        let (l, m) = (median(&libtest), median(&mptest));
        println!(
            "round {n}: 1 000 trivial async tests: #[tokio::test] under libtest {:.1} ms, #[mp_test] async {:.1} ms ({:.2} ×)",
            l.as_secs_f64() * 1e3,
            m.as_secs_f64() * 1e3,
            m.as_secs_f64() / l.as_secs_f64()
        );
        ratios.push(m.as_secs_f64() / l.as_secs_f64());
    }
    let (m, lo, hi) = median_range(&ratios);
    println!(
        "1 000 trivial async tests, mptest / libtest: {m:.2} × ({lo:.2}–{hi:.2}) (target ≤ 1.2: {})",
        verdict(hi <= 1.2)
    );
    Ok(())
}

fn main() {
    benches::bench_main("async_tests", run);
}
