//! CAN fan-out: one sender → `CanProxyAux` on the virtual bus → 4 proxy channels in 4 other
//! processes, 8-byte frames, against python-can's virtual bus doing the same fan-out inside one
//! process (`../shared/peers/pycan_virtual.py`), alternating, three runs each.
//!
//! ```text
//! cargo bench -p benches --bench can
//! ```
//!
//! Each frame carries its send time (CLOCK_MONOTONIC, the same clock in every process), so
//! each receiver measures send-to-receive latency. Two kinds of runs: a flood (as fast as the
//! sender can go: frames/s, and the latency of a full pipeline) and a paced one at 20 000
//! frames/s (the latency of a bus that is not saturated).
//!
//! Targets (issue #8): ≥ 3 × python-can's frames/s, none lost, p99 latency ≤ 2 ms.

use benches::{median_range, now_ns};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use mptest_can::{Bus, BusConfig, CanFrame, CanId, CanProxyAux, ProxyChannels, ProxyConfig, VirtualBus};

const FRAMES: u32 = 100_000;
const RECEIVERS: usize = 4;
const RUNS: usize = 3;
const LIMIT: Duration = Duration::from_secs(30);
const READY: u16 = 0x7ff;

/// What a receiver reports: frames received, when the last came, its latencies (ns, sorted).
type Report = (u32, u64, Vec<u64>);

fn receiver((channels, frames): (ProxyChannels, u32)) -> Result<Report, String> {
    let channel = channels.open().map_err(|e| e.to_string())?;
    let ready =
        CanFrame::new(CanId::standard(READY).map_err(|e| e.to_string())?, &[]).map_err(|e| e.to_string())?;
    channel.send(&ready).map_err(|e| e.to_string())?;
    let mut latencies = Vec::with_capacity(frames as usize);
    let mut last = 0;
    while (latencies.len() as u32) < frames {
        let got = channel.recv(LIMIT).map_err(|e| e.to_string())?;
        let Some(got) = got else {
            return Err(format!(
                "lost frames: {} of {frames} after {LIMIT:?}",
                latencies.len()
            ));
        };
        if got.frame.id() == ready.id() {
            continue; // another receiver's READY
        }
        last = now_ns();
        let sent = u64::from_le_bytes(got.frame.data().try_into().map_err(|_| "not 8 bytes")?);
        latencies.push(last.saturating_sub(sent));
    }
    latencies.sort_unstable();
    Ok((frames, last, latencies))
}

struct Run {
    frames_per_s: f64,
    p50_us: f64,
    p99_us: f64,
}

/// One run: `interval` between sends (None: flood).
fn mptest_run(interval: Option<Duration>) -> Result<Run, String> {
    let bus = VirtualBus::create("bench").map_err(|e| e.to_string())?;
    let sender = bus.attach().map_err(|e| e.to_string())?;
    let proxy = mptest::aux::start::<CanProxyAux>(ProxyConfig::new(BusConfig::Virtual(bus.clone())))
        .map_err(|e| e.to_string())?;
    let channels = CanProxyAux::channels(&proxy).map_err(|e| e.to_string())?;
    let receivers: Vec<_> = (0..RECEIVERS)
        .map(|_| mptest::spawn((channels.clone(), FRAMES), receiver))
        .collect();
    // Every receiver's READY comes off the proxy onto the bus: then all are attached.
    let mut ready = 0;
    while ready < RECEIVERS {
        let got = sender
            .recv(LIMIT)
            .map_err(|e| e.to_string())?
            .ok_or("a receiver never came up")?;
        if got.frame.id() == CanId::standard(READY).map_err(|e| e.to_string())? {
            ready += 1;
        }
    }
    sender.set_filters(&[]).map_err(|e| e.to_string())?;
    let id = CanId::standard(0x123).map_err(|e| e.to_string())?;
    let started = now_ns();
    let clock = Instant::now();
    for n in 0..FRAMES {
        if let Some(interval) = interval {
            // Pacing, not synchronisation.
            if let Some(wait) = (interval * n).checked_sub(clock.elapsed()) {
                std::thread::sleep(wait);
            }
        }
        let frame = CanFrame::new(id, &now_ns().to_le_bytes()).map_err(|e| e.to_string())?;
        sender.send(&frame).map_err(|e| e.to_string())?;
    }
    let mut all = Vec::new();
    let mut last = 0;
    for child in receivers {
        let (count, at, latencies) = child.join().map_err(|e| e.to_string())??;
        if count != FRAMES {
            return Err(format!("a receiver got {count} of {FRAMES}"));
        }
        last = last.max(at);
        all.extend(latencies);
    }
    proxy.stop().map_err(|e| e.to_string())?;
    all.sort_unstable();
    let pct = |p: f64| all[((all.len() - 1) as f64 * p) as usize] as f64 / 1000.0;
    Ok(Run {
        frames_per_s: f64::from(FRAMES) / ((last - started) as f64 / 1e9),
        p50_us: pct(0.5),
        p99_us: pct(0.99),
    })
}

fn python() -> PathBuf {
    std::env::var_os("MPTEST_PYCAN_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/tmp/peers-venv/bin/python"))
}

fn pycan_run() -> Result<f64, String> {
    let script = benches::workspace().join("../shared/peers/pycan_virtual.py");
    let out = Command::new(python())
        .arg(&script)
        .args([
            "--frames",
            &FRAMES.to_string(),
            "--receivers",
            &RECEIVERS.to_string(),
        ])
        .output()
        .map_err(|e| {
            format!(
                "{}: {e} (python-can: see ../shared/peers/README.md)",
                python().display()
            )
        })?;
    if !out.status.success() {
        return Err(format!(
            "{}: {}",
            script.display(),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let line: serde_json::Value =
        serde_json::from_slice(&out.stdout).map_err(|e| format!("pycan_virtual.py printed no JSON: {e}"))?;
    line["frames_per_s"]
        .as_f64()
        .ok_or_else(|| "no frames_per_s".into())
}

fn run() -> Result<(), String> {
    let (mut ours, mut peer, mut ratios, mut p50s, mut p99s) = (vec![], vec![], vec![], vec![], vec![]);
    for round in 0..RUNS {
        let flood = mptest_run(None)?;
        let python = pycan_run()?;
        println!(
            "run {}: mptest {:.0} frames/s (p50 {:.0} µs, p99 {:.0} µs), python-can {:.0} frames/s → {:.2} ×",
            round + 1,
            flood.frames_per_s,
            flood.p50_us,
            flood.p99_us,
            python,
            flood.frames_per_s / python
        );
        ours.push(flood.frames_per_s);
        peer.push(python);
        ratios.push(flood.frames_per_s / python);
        p50s.push(flood.p50_us);
        p99s.push(flood.p99_us);
    }
    let (paced50, paced99): (Vec<f64>, Vec<f64>) = (0..RUNS)
        .map(|_| mptest_run(Some(Duration::from_micros(50))).map(|r| (r.p50_us, r.p99_us)))
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .unzip();
    let show = |name: &str, v: &[f64], unit: &str| {
        let (m, lo, hi) = median_range(v);
        println!("{name}: {m:.2}{unit} ({lo:.2}–{hi:.2})");
    };
    println!("\n{FRAMES} frames of 8 bytes, {RECEIVERS} receiving processes, none lost; median (range) of {RUNS} runs:");
    show("mptest frames/s", &ours, "");
    show("python-can frames/s", &peer, "");
    show("ratio", &ratios, " ×");
    show("flood latency p50", &p50s, " µs");
    show("flood latency p99", &p99s, " µs");
    show("paced (20 000 frames/s) latency p50", &paced50, " µs");
    show("paced (20 000 frames/s) latency p99", &paced99, " µs");
    Ok(())
}

fn main() {
    benches::bench_main("can", run);
}
