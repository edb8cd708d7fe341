//! CanProxyAux: pykiso's semantics across processes, its trace (complete after a kill, read by
//! python-can and can-utils), the replayer, the communication auxiliary.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use mptest::aux::AuxHandle;
use mptest::prelude::*;
use mptest_can::replay::{replay, Speed};
use mptest_can::trace::TraceReader;
use mptest_can::{
    Bus, BusConfig, CanCommAux, CanFrame, CanId, CanProxyAux, CommCommand, Direction, FdFlags, ProxyChannels,
    ProxyConfig, Received, VirtualBus,
};

const LIMIT: Duration = Duration::from_secs(20);

fn std_id(id: u16) -> CanId {
    CanId::standard(id).unwrap()
}

fn frame(id: u16, data: &[u8]) -> CanFrame {
    CanFrame::new(std_id(id), data).unwrap()
}

fn next(bus: &dyn Bus, what: &str) -> Received {
    bus.recv(LIMIT)
        .unwrap()
        .unwrap_or_else(|| panic!("{what}: nothing within {LIMIT:?}"))
}

fn nothing_more(bus: &dyn Bus, who: &str) {
    if let Some(extra) = bus.recv(Duration::from_millis(300)).unwrap() {
        panic!("{who} got an extra frame: {extra:?}");
    }
}

/// A fresh directory under the target directory, left for the user to look at.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn start_proxy(bus: &VirtualBus, trace: Option<&Path>) -> AuxHandle<CanProxyAux> {
    let mut config = ProxyConfig::new(BusConfig::Virtual(bus.clone()));
    if let Some(dir) = trace {
        config = config.with_trace(dir, "can_trace");
    }
    mptest::aux::start::<CanProxyAux>(config).unwrap()
}

/// A channel's first frame: "I am open".
const READY: u16 = 0x7ff;

/// Before it sends what every auxiliary must hear, a test waits until their channels are open:
/// the proxy's own bus connection is not counted, a wait is bounded and says how many came.
#[mp_test(timeout = "60s")]
fn a_test_waits_until_the_proxy_channels_are_open() {
    let bus = VirtualBus::create("pk-wait").unwrap();
    let device = bus.attach_sender().unwrap();
    let proxy = start_proxy(&bus, None);
    let channels = CanProxyAux::channels(&proxy).unwrap();
    // Two auxiliaries' channels, in processes of their own, opened in their own time.
    let children: Vec<_> = (0..2)
        .map(|_| {
            mptest::spawn(channels.clone(), |channels: ProxyChannels| {
                let channel = channels.open().unwrap();
                next(&channel, "the device's frame").frame
            })
        })
        .collect();
    assert_eq!(channels.wait_for_channels(2, LIMIT).unwrap(), 2);
    let err = channels
        .wait_for_channels(3, Duration::from_millis(100))
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("only 2 of 3 proxy channels attached to the CAN bus pk-wait after "),
        "{err}"
    );
    // The device (a node of the bus itself) is heard through the proxy by both.
    device.send(&frame(0x321, &[7])).unwrap();
    for child in children {
        assert_eq!(child.join().unwrap(), frame(0x321, &[7]));
    }
}

#[mp_test(timeout = "60s")]
fn frames_go_where_pykiso_sends_them_and_say_where_they_came_from() {
    let bus = VirtualBus::create("pk").unwrap();
    let device = bus.attach().unwrap();
    let proxy = start_proxy(&bus, None);
    let channels = CanProxyAux::channels(&proxy).unwrap();
    let one = channels.open().unwrap();
    // Channel two lives in another process.
    let two = mptest::spawn(channels.clone(), |channels: ProxyChannels| {
        let two = channels.open().unwrap();
        two.send(&frame(READY, &[])).unwrap();
        let from_device = next(&two, "two: the device's frame");
        let from_one = next(&two, "two: one's frame");
        two.send(&frame(0x202, &[2])).unwrap();
        nothing_more(&two, "two (its own frame must not come back)");
        (two.channel(), from_device, from_one)
    });
    // two's READY reaches the bus (the device) and the other channel, marked as two's.
    let ready = next(&one, "one: two's READY");
    assert_eq!(
        (ready.frame.id(), ready.direction),
        (std_id(READY), Direction::Rx)
    );
    let two_number = ready.channel.expect("a frame from another channel is marked");
    let ready = next(&device, "the device: two's READY");
    assert_eq!((ready.frame.id(), ready.channel), (std_id(READY), None));

    // From the bus: to every channel, unmarked.
    device.send(&frame(0x100, &[0xde])).unwrap();
    let got = next(&one, "one: the device's frame");
    assert_eq!(
        (got.frame, got.direction, got.channel),
        (frame(0x100, &[0xde]), Direction::Rx, None)
    );

    // From channel one: to the bus and to two, not back to one.
    one.send(&frame(0x201, &[1])).unwrap();
    assert_eq!(next(&device, "the device: one's frame").frame, frame(0x201, &[1]));
    let after = next(&one, "one: two's frame");
    assert_eq!(
        after.frame,
        frame(0x202, &[2]),
        "one got its own frame back, or lost two's"
    );
    assert_eq!(after.channel, Some(two_number));
    assert_eq!(next(&device, "the device: two's frame").frame, frame(0x202, &[2]));

    let (two_is, from_device, from_one) = two.join().unwrap();
    assert_eq!(two_is, two_number);
    assert_eq!(
        (from_device.frame, from_device.channel),
        (frame(0x100, &[0xde]), None)
    );
    assert_eq!(
        (from_one.frame, from_one.channel),
        (frame(0x201, &[1]), Some(one.channel()))
    );
    nothing_more(&one, "one");
    proxy.stop().unwrap();
}

/// The frames of the trace test: every kind.
fn every_kind() -> Vec<CanFrame> {
    vec![
        frame(0x123, &[0xde, 0xad, 0xbe, 0xef]),
        CanFrame::new(CanId::extended(0x1abc_def0).unwrap(), &[1, 2, 3, 4, 5, 6, 7, 8]).unwrap(),
        CanFrame::remote(std_id(0x321), 4).unwrap(),
        CanFrame::remote(std_id(0x322), 0).unwrap(),
        CanFrame::fd(
            std_id(0x456),
            &[0x55; 12],
            FdFlags {
                brs: true,
                esi: false,
            },
        )
        .unwrap(),
        CanFrame::fd(CanId::extended(0x10).unwrap(), &[7; 64], FdFlags::default()).unwrap(),
        CanFrame::error(0x80, [0, 0, 0, 0, 0, 0, 0, 0]).unwrap(),
    ]
}

/// Runs a traced proxy, sends `every_kind` from the bus and from a channel, kills the proxy
/// with SIGKILL and returns the trace file and what was sent.
fn traced_run(dir: &Path) -> (PathBuf, Vec<(CanFrame, Direction)>) {
    let bus = VirtualBus::create("traced").unwrap();
    let device = bus.attach().unwrap();
    let proxy = start_proxy(&bus, Some(dir));
    let trace = CanProxyAux::trace_file(&proxy).unwrap().expect("a trace file");
    let channel = CanProxyAux::channels(&proxy).unwrap().open().unwrap();
    let mut expected = Vec::new();
    for kind in every_kind() {
        device.send(&kind).unwrap();
        assert_eq!(next(&channel, "the channel: the device's frame").frame, kind);
        expected.push((kind.clone(), Direction::Rx));
        channel.send(&kind).unwrap();
        assert_eq!(next(&device, "the device: the channel's frame").frame, kind);
        expected.push((kind, Direction::Tx));
    }
    // Killed, not stopped: whatever was delivered is in the trace already.
    nix_kill(proxy.pid());
    (trace, expected)
}

fn nix_kill(pid: u32) {
    let status = Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[mp_test(timeout = "60s")]
fn the_trace_holds_every_frame_received_and_sent_even_after_a_kill() {
    let dir = scratch("trace-kill");
    let (trace, expected) = traced_run(&dir);
    let text = std::fs::read_to_string(&trace).unwrap();
    println!("{text}");
    let read: Vec<_> = TraceReader::open(&trace).unwrap().map(Result::unwrap).collect();
    let got: Vec<_> = read
        .iter()
        .map(|e| (e.frame.clone(), e.direction.unwrap()))
        .collect();
    assert_eq!(got, expected);
    assert!(read.iter().all(|e| e.interface == "traced"));
    assert!(read.windows(2).all(|w| w[0].timestamp <= w[1].timestamp));
    assert!(text.contains(" traced 123#DEADBEEF R\n") && text.contains(" traced 123#DEADBEEF T\n"));
    assert!(
        text.contains("321#R4 R") && text.contains("456##5") && text.contains("20000080#0000000000000000")
    );
}

/// The Python that has python-can: `MPTEST_PYCAN_PYTHON`, else the peers' venv.
fn pycan_python() -> PathBuf {
    let python = std::env::var_os("MPTEST_PYCAN_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/tmp/peers-venv/bin/python"));
    assert!(
        python.exists(),
        "python-can is needed: `python3 -m venv /tmp/peers-venv && /tmp/peers-venv/bin/pip install python-can` \
         (bash .ci/run does it), or set MPTEST_PYCAN_PYTHON"
    );
    python
}

#[mp_test(timeout = "60s")]
fn python_can_reads_the_trace_into_the_same_frames() {
    let dir = scratch("trace-pycan");
    let (trace, expected) = traced_run(&dir);
    let script = r#"
import sys, can
for m in can.CanutilsLogReader(sys.argv[1]):
    if m.is_error_frame:
        print("error")
        continue
    print(f"{m.arbitration_id:x} {int(m.is_extended_id)} {int(m.is_remote_frame)} {int(m.is_fd)} "
          f"{int(m.bitrate_switch)} {int(m.error_state_indicator)} {m.dlc} {bytes(m.data or b'').hex()} "
          f"{'R' if m.is_rx else 'T'}")
"#;
    let out = Command::new(pycan_python())
        .arg("-c")
        .arg(script)
        .arg(&trace)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    let ours: Vec<String> = expected
        .iter()
        .map(|(f, dir)| {
            if f.is_error() {
                return "error".to_string();
            }
            let flags = f.fd_flags().unwrap_or_default();
            let hex: String = f.data().iter().map(|b| format!("{b:02x}")).collect();
            format!(
                "{:x} {} {} {} {} {} {} {hex} {}",
                f.id().raw(),
                u8::from(f.id().is_extended()),
                u8::from(f.is_remote()),
                u8::from(f.is_fd()),
                u8::from(flags.brs),
                u8::from(flags.esi),
                f.dlc(),
                if *dir == Direction::Rx { "R" } else { "T" }
            )
        })
        .collect();
    assert_eq!(lines, ours);
}

#[mp_test(timeout = "60s")]
fn can_utils_log2asc_converts_the_trace() {
    let dir = scratch("trace-log2asc");
    let (trace, expected) = traced_run(&dir);
    let log2asc = which("log2asc");
    let asc = dir.join("can_trace.asc");
    let out = Command::new(log2asc)
        .args(["-I"])
        .arg(&trace)
        .args(["-O"])
        .arg(&asc)
        .arg("traced")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "log2asc: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&asc).unwrap();
    println!("{text}");
    // One line per frame after the header; the data of the first frame in ASC's spelling.
    assert!(text.contains("123             Rx   d 4 DE AD BE EF"), "{text}");
    assert!(text.contains("123             Tx   d 4 DE AD BE EF"), "{text}");
    let frames = text
        .lines()
        .filter(|l| l.trim_start().starts_with(|c: char| c.is_ascii_digit()))
        .count();
    assert_eq!(frames, expected.len(), "one ASC line per frame:\n{text}");
    assert_eq!(text.matches("CANFD").count(), 4, "the FD frames:\n{text}");
    assert_eq!(text.matches("ErrorFrame").count(), 2, "the error frames:\n{text}");
}

/// A program on PATH, or a failure saying how to get it.
fn which(program: &str) -> PathBuf {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(program))
        .find(|p| p.exists())
        .unwrap_or_else(|| panic!("{program} is needed: `apt-get install can-utils` (bash .ci/run does it)"))
}

#[mp_test(timeout = "60s")]
fn a_trace_replays_into_a_bus_with_its_timing() {
    let dir = scratch("replay");
    let path = dir.join("paced.log");
    // 11 frames 100 ms apart in the log: 1 s of bus time.
    let text: String = (0..11u8)
        .map(|i| format!("(1700000000.{:06}) vcan0 123#{i:02X}\n", u32::from(i) * 100_000))
        .collect();
    std::fs::write(&path, format!("# recorded\n{text}")).unwrap();
    let bus = VirtualBus::create("replayed").unwrap();
    let listener = bus.attach().unwrap();
    let sender = bus.attach_sender().unwrap();
    for (speed, at_least) in [(Speed::Factor(2.0), 450), (Speed::Unpaced, 0)] {
        let started = Instant::now();
        let sent = replay(TraceReader::open(&path).unwrap(), &sender, speed).unwrap();
        let took = started.elapsed();
        assert_eq!(sent, 11);
        assert!(took >= Duration::from_millis(at_least), "{speed:?} took {took:?}");
        for i in 0..11u8 {
            assert_eq!(next(&listener, "a replayed frame").frame, frame(0x123, &[i]));
        }
    }
}

#[mp_test(timeout = "60s")]
fn communication_auxiliaries_share_the_bus_through_the_proxy_and_suspend_closes_it() {
    let bus = VirtualBus::create("comm").unwrap();
    let device = bus.attach().unwrap();
    let proxy = start_proxy(&bus, None);
    let channels = CanProxyAux::channels(&proxy).unwrap();
    let aux1 =
        mptest::aux::start_named::<CanCommAux>("aux1", BusConfig::ProxyChannel(channels.clone())).unwrap();
    let aux2 =
        mptest::aux::start_named::<CanCommAux>("aux2", BusConfig::ProxyChannel(channels.clone())).unwrap();
    aux1.run_command(CommCommand::Send(frame(0x300, &[1])), LIMIT)
        .unwrap();
    assert_eq!(
        next(&device, "the device: aux1's frame").frame,
        frame(0x300, &[1])
    );
    let heard = aux2.wait_and_get_report(LIMIT).unwrap().expect("aux2 hears aux1");
    assert_eq!(heard.frame, frame(0x300, &[1]));
    assert!(heard.channel.is_some());
    device.send(&frame(0x301, &[2])).unwrap();
    for aux in [&aux1, &aux2] {
        let heard = aux
            .wait_and_get_report(LIMIT)
            .unwrap()
            .expect("the device's answer");
        assert_eq!((heard.frame, heard.channel), (frame(0x301, &[2]), None));
    }
    // Suspended, the proxy closes its channels; resumed, new ones work.
    let open = channels.open().unwrap();
    proxy.suspend().unwrap();
    assert!(matches!(open.recv(LIMIT), Err(mptest_can::BusError::Closed(_))));
    proxy.resume().unwrap();
    let again = CanProxyAux::channels(&proxy).unwrap().open().unwrap();
    device.send(&frame(0x302, &[3])).unwrap();
    assert_eq!(next(&again, "a channel after resume").frame, frame(0x302, &[3]));
    proxy.stop().unwrap();
}

mptest::main!();

#[mp_test(timeout = "60s")]
fn a_proxy_on_a_missing_bus_says_why_and_nothing_after_it() {
    // Virtual: nobody created the bus. SocketCAN: no such interface (or no AF_CAN at all here).
    let configs = [
        BusConfig::Virtual(VirtualBus::named("never-made").unwrap()),
        BusConfig::SocketCan {
            interface: "nosuchcan7".into(),
        },
    ];
    for bus in configs {
        let err = mptest::aux::start::<CanProxyAux>(ProxyConfig::new(bus))
            .unwrap_err()
            .to_string();
        assert!(err.contains("never-made") || err.contains("nosuchcan7"), "{err}");
        assert!(!err.trim_end().ends_with("its output:"), "{err}");
    }
}
