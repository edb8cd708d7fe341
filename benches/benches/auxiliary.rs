//! Auxiliaries against bare ipc-channel, in one run:
//!
//! - `run_command` round trip on an echo aux, from the test process and from a spawned child,
//!   against a bare ipc-channel request/reply between the same two processes (the aux serves
//!   the bare channels on a thread of its own), in alternating rounds; each placement pinned
//!   two ways with `sched_setaffinity` — both processes on one CPU, and on two CPUs;
//! - messages from the aux to the test: 8-byte messages in bursts of 20 000, counted at both
//!   ends.
//!
//! ```text
//! cargo bench -p benches --bench aux
//! ```
//!
//! Targets (issue #7): round trip ≤ 1.3 × bare ipc-channel; ≥ 100 000 messages/s, none lost.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use benches::{median, pin};
use ipc_channel::ipc::{self, IpcReceiver, IpcSender};
use mptest::aux::{AuxHandle, AuxResult, Auxiliary};
use serde::{Deserialize, Serialize};

/// Echoes numbers; serves bare channels it is given; "hears" as many messages as asked.
pub struct Echo {
    to_emit: Mutex<u64>,
    emitted: AtomicU64,
}

#[derive(Serialize, Deserialize)]
pub enum EchoCommand {
    Echo(u64),
    /// Echo on these bare channels, on a thread of the aux process, until they close.
    ServeBare(IpcReceiver<u64>, IpcSender<u64>),
    /// Hear this many messages.
    Emit(u64),
    /// How many messages it has heard so far.
    Emitted,
}

#[mptest::aux]
impl Auxiliary for Echo {
    type Config = ();
    type Command = EchoCommand;
    type Response = u64;
    type Message = u64;

    fn new(_: ()) -> AuxResult<Self> {
        Ok(Echo {
            to_emit: Mutex::new(0),
            emitted: AtomicU64::new(0),
        })
    }

    fn run_command(&self, command: EchoCommand) -> AuxResult<u64> {
        Ok(match command {
            EchoCommand::Echo(n) => n,
            EchoCommand::ServeBare(rx, tx) => {
                std::thread::spawn(move || {
                    while let Ok(n) = rx.recv() {
                        if tx.send(n).is_err() {
                            break;
                        }
                    }
                });
                0
            }
            EchoCommand::Emit(n) => {
                *self.to_emit.lock().unwrap() += n;
                n
            }
            EchoCommand::Emitted => self.emitted.load(Ordering::SeqCst),
        })
    }

    fn receive_message(&self, _wait: Duration) -> Option<u64> {
        let mut left = self.to_emit.lock().unwrap();
        if *left == 0 {
            return None;
        }
        *left -= 1;
        Some(self.emitted.fetch_add(1, Ordering::SeqCst))
    }
}

const CALLS_PER_ROUND: usize = 2_000;
const ROUNDS: usize = 10;
const RUNS: usize = 5;
/// Messages per run, heard in bursts the test drains before asking for the next: a steady
/// stream, each burst well within a subscriber's queue.
const MESSAGES: u64 = 300_000;
const BURST: u64 = 20_000;
const LIMIT: Duration = Duration::from_secs(30);

type Bare = (IpcSender<u64>, IpcReceiver<u64>);

/// Per-call times of the aux and of the bare channels, in alternating rounds.
fn rtt(aux: &AuxHandle<Echo>, bare: &Bare) -> (Duration, Duration) {
    let (mut through_aux, mut through_bare) = (Vec::new(), Vec::new());
    for round in 0..=ROUNDS {
        let started = Instant::now();
        for i in 0..CALLS_PER_ROUND as u64 {
            let answer = aux.run_command(EchoCommand::Echo(i), LIMIT).expect("echo");
            assert_eq!(answer, i);
        }
        let aux_time = started.elapsed() / CALLS_PER_ROUND as u32;
        let started = Instant::now();
        for i in 0..CALLS_PER_ROUND as u64 {
            bare.0.send(i).expect("bare send");
            assert_eq!(bare.1.recv().expect("bare recv"), i);
        }
        let bare_time = started.elapsed() / CALLS_PER_ROUND as u32;
        if round > 0 {
            // Round 0 warms both up.
            through_aux.push(aux_time);
            through_bare.push(bare_time);
        }
    }
    (median(&through_aux), median(&through_bare))
}

/// Bare channels served by the aux process.
fn bare_channels(aux: &AuxHandle<Echo>) -> Result<Bare, String> {
    let (req_tx, req_rx) = ipc::channel::<u64>().map_err(|e| e.to_string())?;
    let (rep_tx, rep_rx) = ipc::channel::<u64>().map_err(|e| e.to_string())?;
    aux.run_command(EchoCommand::ServeBare(req_rx, rep_tx), LIMIT)
        .map_err(|e| e.to_string())?;
    Ok((req_tx, rep_rx))
}

fn summary(label: &str, runs: &[(Duration, Duration)]) {
    let ratios: Vec<f64> = runs
        .iter()
        .map(|(a, b)| a.as_secs_f64() / b.as_secs_f64())
        .collect();
    let mut sorted = ratios.clone();
    sorted.sort_by(f64::total_cmp);
    let aux: Vec<Duration> = runs.iter().map(|r| r.0).collect();
    let bare: Vec<Duration> = runs.iter().map(|r| r.1).collect();
    println!(
        "{label}: run_command {:.1} µs, bare ipc-channel {:.1} µs, ratio median {:.2} × (range {:.2}–{:.2}, {} runs)",
        median(&aux).as_secs_f64() * 1e6,
        median(&bare).as_secs_f64() * 1e6,
        sorted[(sorted.len() - 1) / 2],
        sorted[0],
        sorted[sorted.len() - 1],
        runs.len()
    );
}

fn main() {
    benches::bench_main("aux", run);
}

fn run() -> Result<(), String> {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let placements: &[(&str, usize)] = if cpus > 1 {
        &[("one CPU", 0), ("two CPUs", 1)]
    } else {
        &[("one CPU", 0)]
    };
    let aux = mptest::aux::start::<Echo>(()).map_err(|e| e.to_string())?;
    for &(placement, aux_cpu) in placements {
        pin(aux.pid(), aux_cpu)?;
        // From the test process.
        pin(0, 0)?;
        let bare = bare_channels(&aux)?;
        pin(aux.pid(), aux_cpu)?; // the new serving thread too
        let runs: Vec<_> = (0..RUNS).map(|_| rtt(&aux, &bare)).collect();
        summary(&format!("from the test, {placement}"), &runs);
        // From a spawned child, the placement a user's helper process has.
        let bare = bare_channels(&aux)?;
        pin(aux.pid(), aux_cpu)?;
        let child = mptest::spawn((aux.clone(), bare), |(aux, bare): (AuxHandle<Echo>, Bare)| {
            pin(0, 0).expect("pin the child");
            (0..RUNS).map(|_| rtt(&aux, &bare)).collect::<Vec<_>>()
        });
        let runs = child.join().map_err(|e| e.to_string())?;
        summary(&format!("from a spawned child, {placement}"), &runs);
    }

    // Messages: the aux hears MESSAGES 8-byte messages; the test takes them all.
    let mut rates = Vec::new();
    for _ in 0..3 {
        let before = aux
            .run_command(EchoCommand::Emitted, LIMIT)
            .map_err(|e| e.to_string())?;
        let started = Instant::now();
        let mut received = 0u64;
        while received < MESSAGES {
            aux.run_command(EchoCommand::Emit(BURST), LIMIT)
                .map_err(|e| e.to_string())?;
            let burst_end = received + BURST;
            while received < burst_end {
                match aux.wait_and_get_report(LIMIT).map_err(|e| e.to_string())? {
                    Some(_) => received += 1,
                    None => return Err(format!("only {received} of {MESSAGES} messages came")),
                }
            }
        }
        let elapsed = started.elapsed();
        let emitted = aux
            .run_command(EchoCommand::Emitted, LIMIT)
            .map_err(|e| e.to_string())?
            - before;
        let dropped = aux.dropped_messages().map_err(|e| e.to_string())?;
        if emitted != received || dropped != 0 {
            return Err(format!(
                "emitted {emitted}, received {received}, dropped {dropped}"
            ));
        }
        rates.push(MESSAGES as f64 / elapsed.as_secs_f64());
    }
    rates.sort_by(f64::total_cmp);
    println!(
        "messages aux → test: median {:.0} messages/s (range {:.0}–{:.0}, 3 runs of {MESSAGES}), none lost",
        rates[1], rates[0], rates[2]
    );
    aux.stop().map_err(|e| e.to_string())?;
    Ok(())
}
