//! Shared state and spawn, against their peers, in one run:
//!
//! - proxy round trip: `counter.incr(1)` from a child process, against a bare ipc-channel
//!   request/reply between two processes and Python's SyncManager (`syncmanager_rtt.py`);
//! - aggregate throughput of 4 client processes on one counter, against SyncManager's;
//! - `mptest::spawn` to a returned value, against procspawn doing the same.
//!
//! ```text
//! cargo bench -p benches --bench shared
//! ```
//!
//! Targets (issue #3): round trip ≤ 1.2 × bare ipc-channel and below SyncManager's; throughput
//! ≥ 3 × SyncManager's; spawn ≤ 1.5 × procspawn's and under 5 ms median.

use std::process::Command;
use std::time::{Duration, Instant};

use benches::{median, verdict, workspace, Counter, CounterProxy};
use ipc_channel::ipc::{self, IpcReceiver, IpcSender};
use mptest::Manager;

/// What the measuring client gets: the proxy, the bare channels, and where to send its timings.
type ClientArgs = (
    CounterProxy,
    IpcSender<u64>,
    IpcReceiver<u64>,
    IpcSender<(Vec<Duration>, Vec<Duration>)>,
);

const CALLS: usize = 20_000;
const WARMUP: usize = 1_000;
const ROUNDS: usize = 10;
const SPAWNS: usize = 200;

fn main() {
    // Both libraries re-execute this binary for their children: let them take over first.
    mptest::init();
    procspawn::init();
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    if let Err(err) = run() {
        eprintln!("shared benchmark failed: {err}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let err = |e: &dyn std::fmt::Display| e.to_string();

    // Round trips, measured in a client process against a server process: the proxy (server:
    // the manager) and bare ipc-channel (server: an echo-and-add child), in alternating rounds
    // so that load drifts on this 2-core machine hit both alike.
    let mgr = Manager::start().map_err(|e| err(&e))?;
    let counter = mgr.create(Counter::default()).map_err(|e| err(&e))?;
    let (req_tx, req_rx) = ipc::channel::<u64>().map_err(|e| err(&e))?;
    let (rep_tx, rep_rx) = ipc::channel::<u64>().map_err(|e| err(&e))?;
    let server = mptest::spawn(
        (req_rx, rep_tx),
        |(rx, tx): (IpcReceiver<u64>, IpcSender<u64>)| {
            let mut n = 0u64;
            while let Ok(by) = rx.recv() {
                n += by;
                if tx.send(n).is_err() {
                    break;
                }
            }
        },
    );
    let (lat_tx, lat_rx) = ipc::channel::<(Vec<Duration>, Vec<Duration>)>().map_err(|e| err(&e))?;
    let client = mptest::spawn(
        (counter.clone(), req_tx, rep_rx, lat_tx),
        |(c, tx, rx, out): ClientArgs| {
            let time = |f: &mut dyn FnMut()| {
                let t = Instant::now();
                f();
                t.elapsed()
            };
            for _ in 0..WARMUP {
                c.incr(1).unwrap();
                tx.send(1).unwrap();
                rx.recv().unwrap();
            }
            let (mut proxy, mut bare) = (Vec::new(), Vec::new());
            for _ in 0..ROUNDS {
                for _ in 0..CALLS / ROUNDS {
                    proxy.push(time(&mut || {
                        c.incr(1).unwrap();
                    }));
                }
                for _ in 0..CALLS / ROUNDS {
                    bare.push(time(&mut || {
                        tx.send(1).unwrap();
                        rx.recv().unwrap();
                    }));
                }
            }
            out.send((proxy, bare)).unwrap();
        },
    );
    let (proxy_lat, bare_lat) = lat_rx.recv().map_err(|e| err(&e))?;
    client.join().map_err(|e| err(&e))?;
    server.join().map_err(|e| err(&e))?;

    // Aggregate throughput: 4 client processes on one counter.
    let shared = mgr.create(Counter::default()).map_err(|e| err(&e))?;
    let started = Instant::now();
    let clients: Vec<_> = (0..4)
        .map(|_| {
            mptest::spawn(shared.clone(), |c: CounterProxy| {
                for _ in 0..CALLS {
                    c.incr(1).unwrap();
                }
            })
        })
        .collect();
    for client in clients {
        client.join().map_err(|e| err(&e))?;
    }
    let wall = started.elapsed();
    let total = shared.incr(0).map_err(|e| err(&e))?;
    if total != 4 * CALLS as u64 {
        return Err(format!("lost updates: {total}"));
    }
    let throughput = total as f64 / wall.as_secs_f64();
    mgr.shutdown();

    // Spawn to a returned value.
    let mut mp_spawn = Vec::new();
    let mut ps_spawn = Vec::new();
    for i in 0..SPAWNS as u64 {
        let t = Instant::now();
        let v = mptest::spawn(i, |x: u64| x + 1).join().map_err(|e| err(&e))?;
        mp_spawn.push(t.elapsed());
        let t = Instant::now();
        let w = procspawn::spawn(i, |x: u64| x + 1).join().map_err(|e| err(&e))?;
        ps_spawn.push(t.elapsed());
        if v != w {
            return Err("spawned functions disagree".into());
        }
    }

    // The Python peers, on the same machine in the same run.
    let sync1 = python_peer(&[])?;
    let sync4 = python_peer(&["--clients", "4"])?;

    let proxy = median(&proxy_lat);
    let bare = median(&bare_lat);
    let sync_rtt_us = sync1["median_us"].as_f64().unwrap_or(f64::NAN);
    let sync_tput = sync4["calls_per_s"].as_f64().unwrap_or(f64::NAN);
    let (mp, ps) = (median(&mp_spawn), median(&ps_spawn));
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let rtt_ratio = us(proxy) / us(bare);
    let tput_ratio = throughput / sync_tput;
    let spawn_ratio = mp.as_secs_f64() / ps.as_secs_f64();
    println!("round trip, median of {CALLS} calls each from a child process, {ROUNDS} alternating rounds:");
    println!("  mptest proxy     {:8.2} us", us(proxy));
    println!("  bare ipc-channel {:8.2} us", us(bare));
    println!("  SyncManager      {:8.2} us", sync_rtt_us);
    println!(
        "  proxy / bare = {rtt_ratio:.2} (target <= 1.20: {})",
        verdict(rtt_ratio <= 1.2)
    );
    println!(
        "  proxy / SyncManager = {:.2} (target < 1: {})",
        us(proxy) / sync_rtt_us,
        verdict(us(proxy) < sync_rtt_us)
    );
    println!("aggregate throughput, 4 client processes x {CALLS} calls:");
    println!("  mptest       {throughput:10.0} calls/s");
    println!("  SyncManager  {sync_tput:10.0} calls/s");
    println!(
        "  mptest / SyncManager = {tput_ratio:.2} (target >= 3: {})",
        verdict(tput_ratio >= 3.0)
    );
    println!("spawn to a returned value, median of {SPAWNS}:");
    println!("  mptest::spawn    {:8.3} ms", mp.as_secs_f64() * 1e3);
    println!("  procspawn::spawn {:8.3} ms", ps.as_secs_f64() * 1e3);
    println!(
        "  mptest / procspawn = {spawn_ratio:.2} (target <= 1.5: {}; under 5 ms: {})",
        verdict(spawn_ratio <= 1.5),
        verdict(mp < Duration::from_millis(5))
    );
    println!(
        "{}",
        serde_json::json!({
            "bench": "shared",
            "proxy_rtt_us": us(proxy),
            "bare_ipc_rtt_us": us(bare),
            "syncmanager_rtt_us": sync_rtt_us,
            "throughput_calls_per_s": throughput,
            "syncmanager_calls_per_s": sync_tput,
            "spawn_ms": mp.as_secs_f64() * 1e3,
            "procspawn_ms": ps.as_secs_f64() * 1e3,
        })
    );
    Ok(())
}

/// Runs `../shared/peers/syncmanager_rtt.py` and reads its JSON line.
fn python_peer(args: &[&str]) -> Result<serde_json::Value, String> {
    let script = workspace().join("../shared/peers/syncmanager_rtt.py");
    let out = Command::new("python3")
        .arg(&script)
        .args(args)
        .output()
        .map_err(|e| format!("python3 {}: {e}", script.display()))?;
    if !out.status.success() {
        return Err(format!(
            "{} failed: {}",
            script.display(),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    serde_json::from_slice(String::from_utf8_lossy(&out.stdout).trim().as_bytes()).map_err(|e| e.to_string())
}
