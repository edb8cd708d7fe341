//! pykiso's `mp_proxy_aux.yaml`, in Rust: one proxy auxiliary owns the CAN connection, two
//! communication auxiliaries share it through proxy channels, a simulated device answers on
//! the bus, and the proxy leaves a candump trace of everything it received and sent.
//!
//! ```text
//! cargo run -p examples --example can_proxy
//! ```
//!
//! | pykiso YAML                          | here                                               |
//! |--------------------------------------|----------------------------------------------------|
//! | `can_channel` (a PCAN connector)     | `VirtualBus::create("can_channel")` (or `BusConfig::SocketCan`) |
//! | `proxy_aux: MpProxyAuxiliary`        | `aux::start::<CanProxyAux>(ProxyConfig { .. })`    |
//! | `aux_list: [aux1, aux2]`             | `CanProxyAux::channels(&proxy)`, one per aux        |
//! | `trace_dir`, `trace_name`            | `.with_trace(dir, "can_trace")`                    |
//! | `aux1`, `aux2: CommunicationAuxiliary` | `aux::start_named::<CanCommAux>("aux1", BusConfig::ProxyChannel(..))` |

use std::path::PathBuf;
use std::time::Duration;

use mptest::aux::AuxError;
use mptest::prelude::*;
use mptest_can::trace::TraceReader;
use mptest_can::{
    Bus, BusConfig, BusError, CanCommAux, CanFrame, CanId, CanProxyAux, CommCommand, Direction, ProxyConfig,
    VirtualBus,
};

/// Bounds every wait.
const LIMIT: Duration = Duration::from_secs(10);
/// The device listens on 0x300 (the YAML's `remote_id`) and answers on 0x301.
const REQUEST: u16 = 0x300;
const ANSWER: u16 = 0x301;

fn can_id(id: u16) -> CanId {
    CanId::standard(id).expect("an 11-bit id")
}

/// The simulated device: on the bus itself, in a process of its own. It answers each request
/// with its first byte plus one, until the bus closes; returns how many it answered.
fn device(bus: VirtualBus) -> Result<usize, String> {
    let node = bus.attach().map_err(|e| e.to_string())?;
    let mut answered = 0;
    loop {
        match node.recv(Duration::from_secs(60)) {
            Ok(Some(got)) if got.frame.id() == can_id(REQUEST) => {
                let value = got.frame.data().first().copied().unwrap_or(0).wrapping_add(1);
                let answer = CanFrame::new(can_id(ANSWER), &[value]).map_err(|e| e.to_string())?;
                node.send(&answer).map_err(|e| e.to_string())?;
                answered += 1;
            }
            Ok(_) => {}
            Err(BusError::Closed(_)) => return Ok(answered),
            Err(e) => return Err(e.to_string()),
        }
    }
}

/// Where the trace is left: `target/suite_mp_proxy/` (pykiso's `./suite_mp_proxy`).
fn trace_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    // target/<profile>/examples/can_proxy-<hash>
    let target = exe
        .ancestors()
        .nth(3)
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    target.join("suite_mp_proxy")
}

#[mp_test(timeout = "60s")]
fn two_auxiliaries_share_one_bus_through_the_proxy() -> Result<(), Box<dyn std::error::Error>> {
    let bus = VirtualBus::create("can_channel")?;
    let proxy = mptest::aux::start::<CanProxyAux>(
        ProxyConfig::new(BusConfig::Virtual(bus.clone())).with_trace(trace_dir(), "can_trace"),
    )?;
    let channels = CanProxyAux::channels(&proxy)?;
    let aux1 = mptest::aux::start_named::<CanCommAux>("aux1", BusConfig::ProxyChannel(channels.clone()))?;
    let aux2 = mptest::aux::start_named::<CanCommAux>("aux2", BusConfig::ProxyChannel(channels))?;
    let device = mptest::spawn(bus.clone(), device);

    // The device's process attaches in its own time: wait until it has (the proxy's own
    // connection is the bus's other node) — then one request is enough.
    bus.wait_for_nodes(2, LIMIT)?;
    aux1.run_command(CommCommand::Send(CanFrame::new(can_id(REQUEST), &[41])?), LIMIT)?;
    let answer = aux1
        .wait_and_get_report(LIMIT)?
        .ok_or("the device did not answer")?;
    // aux1 hears the device's answer, off the bus (no proxy channel sent it).
    assert_eq!(answer.frame, CanFrame::new(can_id(ANSWER), &[42])?);
    assert_eq!((answer.direction, answer.channel), (Direction::Rx, None));

    // aux2 heard aux1's requests, marked as a proxy channel's, and the same answer.
    let mut requests = 0;
    let heard_answer = loop {
        let heard = aux2.wait_and_get_report(LIMIT)?.ok_or("aux2 heard nothing")?;
        if heard.frame.id() == can_id(REQUEST) {
            assert!(
                heard.channel.is_some(),
                "a request from aux1 is marked as a channel's"
            );
            requests += 1;
        } else {
            break heard;
        }
    };
    assert_eq!(requests, 1);
    assert_eq!(
        (heard_answer.frame, heard_answer.channel),
        (answer.frame.clone(), None)
    );

    // The test tells the two apart, and stops everything; the device sees the bus close.
    aux1.stop()?;
    aux2.stop()?;
    let trace = CanProxyAux::trace_file(&proxy)?.ok_or("the proxy traces")?;
    proxy.stop()?;
    drop(bus);
    let answered = device.join()?.map_err(|e| format!("the device failed: {e}"))?;
    assert_eq!(answered, 1, "the device answered {answered} requests of 1");

    // The trace: every request the proxy sent (T) and every answer it received (R).
    let entries = TraceReader::open(&trace)?.collect::<Result<Vec<_>, _>>()?;
    let sent = entries
        .iter()
        .filter(|e| e.direction == Some(Direction::Tx))
        .count();
    let received = entries
        .iter()
        .filter(|e| e.direction == Some(Direction::Rx))
        .count();
    assert_eq!((sent, received), (1, answered));
    println!("the trace is at {} ({} frames):", trace.display(), entries.len());
    print!("{}", std::fs::read_to_string(&trace)?);
    Ok(())
}

#[mp_test(timeout = "60s")]
fn a_suspended_proxy_closes_its_channels() -> Result<(), AuxError> {
    let bus = VirtualBus::create("can_channel").map_err(|e| AuxError::Start(e.to_string()))?;
    let proxy = mptest::aux::start::<CanProxyAux>(ProxyConfig::new(BusConfig::Virtual(bus.clone())))?;
    let channel = CanProxyAux::channels(&proxy)?
        .open()
        .map_err(|e| AuxError::Start(e.to_string()))?;
    proxy.suspend()?;
    assert!(matches!(channel.recv(LIMIT), Err(BusError::Closed(_))));
    proxy.resume()?;
    proxy.stop()
}

mptest::main!();
