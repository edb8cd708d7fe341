// The SocketCAN live tests, included by `test_target.rs` (cargo test) and `bin.rs` (the
// binary the VM runner puts into its initramfs). See those files.

/// A live test: needs a kernel with CAN and the interface (else it is reported as ignored,
/// with the reason, decided when the run starts), has the interface to itself (`serial`), and a
/// minute.
macro_rules! live_test {
    ($(#[$meta:meta])* fn $name:ident() $body:block) => {
        #[mp_test(timeout = "60s", serial, ignore_if = no_live_can)]
        $(#[$meta])*
        fn $name() $body
    };
}

/// Why the live tests cannot run here (`MPTEST_CAN_LIVE=1` runs them regardless).
fn no_live_can() -> Option<String> {
    if std::env::var("MPTEST_CAN_LIVE").is_ok_and(|v| v == "1") {
        return None;
    }
    SocketCanBus::unavailable(&interface())
}

use std::io::BufRead;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, SystemTime};

use mptest::prelude::*;
use mptest_can::{
    Bus, BusConfig, BusError, CanFilter, CanFrame, CanId, CanProxyAux, Direction, FdFlags, ProxyConfig,
    SocketCanBus,
};

const LIMIT: Duration = Duration::from_secs(5);

fn interface() -> String {
    std::env::var("MPTEST_CAN_INTERFACE").unwrap_or_else(|_| "vcan0".into())
}

fn open() -> SocketCanBus {
    SocketCanBus::open(&interface()).unwrap_or_else(|e| panic!("{e}"))
}

/// The classic (non-FD) interface: `MPTEST_CAN_INTERFACE_CLASSIC`, default `vcan1`.
fn classic_interface() -> String {
    std::env::var("MPTEST_CAN_INTERFACE_CLASSIC").unwrap_or_else(|_| "vcan1".into())
}

/// One frame of each kind the trace tests use.
fn frames_of_every_kind() -> Vec<CanFrame> {
    vec![
        CanFrame::new(std_id(0x123), &[0xde, 0xad]).unwrap(),
        CanFrame::new(CanId::extended(0x1abc_def0).unwrap(), &[1, 2, 3, 4, 5, 6, 7, 8]).unwrap(),
        CanFrame::remote(std_id(0x7ff), 3).unwrap(),
        CanFrame::new(std_id(0x001), &[]).unwrap(),
        CanFrame::fd(
            std_id(0x456),
            &[0x11; 16],
            FdFlags {
                brs: true,
                esi: false,
            },
        )
        .unwrap(),
    ]
}

fn std_id(id: u16) -> CanId {
    CanId::standard(id).unwrap()
}

fn next(bus: &dyn Bus) -> mptest_can::Received {
    bus.recv(LIMIT).unwrap().expect("a frame within the limit")
}

live_test! {
    fn every_kind_of_frame_goes_through_the_kernel() {
        let (tx, rx) = (open(), open());
        let frames = [
            CanFrame::new(std_id(0x123), &[1, 2, 3]).unwrap(),
            CanFrame::new(CanId::extended(0x1234_5678).unwrap(), &[9; 8]).unwrap(),
            CanFrame::remote(std_id(0x321), 4).unwrap(),
            CanFrame::error(0x4, [0, 0x10, 0, 0, 0, 0, 0, 0]).unwrap(),
            CanFrame::fd(
                std_id(0x456),
                &[0x55; 64],
                FdFlags {
                    brs: true,
                    esi: false,
                },
            )
            .unwrap(),
        ];
        for frame in frames {
            let before = SystemTime::now();
            tx.send(&frame).unwrap();
            let got = next(&rx);
            assert_eq!(got.frame, frame);
            assert_eq!(got.direction, Direction::Rx);
            let age = got.timestamp.duration_since(before).unwrap_or_default();
            assert!(
                age < LIMIT,
                "a kernel timestamp of this moment, not {age:?} later"
            );
        }
    }
}

live_test! {
    fn filters_error_filter_and_receive_own() {
        let (tx, rx) = (open(), open());
        rx.set_filters(&[
            CanFilter::exact(std_id(0x10)),
            CanFilter::new(0x200, 0x700).inverted(),
        ])
        .unwrap();
        rx.set_error_filter(0).unwrap();
        for frame in [
            CanFrame::new(std_id(0x10), &[1]).unwrap(),
            CanFrame::new(std_id(0x201), &[2]).unwrap(),
            CanFrame::new(std_id(0x300), &[3]).unwrap(),
            CanFrame::error(0x4, [0; 8]).unwrap(),
        ] {
            tx.send(&frame).unwrap();
        }
        assert_eq!(next(&rx).frame.data(), [1]);
        assert_eq!(next(&rx).frame.data(), [3], "0x201 is inside the inverted range");
        assert!(
            rx.recv(Duration::from_millis(200)).unwrap().is_none(),
            "error frames are filtered"
        );

        tx.set_receive_own(true).unwrap();
        tx.send(&CanFrame::new(std_id(0x11), &[4]).unwrap()).unwrap();
        let own = next(&tx);
        assert_eq!((own.frame.data(), own.direction), (&[4][..], Direction::Tx));
        tx.set_receive_own(false).unwrap();
        tx.send(&CanFrame::new(std_id(0x11), &[5]).unwrap()).unwrap();
        assert!(tx.recv(Duration::from_millis(200)).unwrap().is_none());
    }
}

live_test! {
    fn a_missing_interface_is_named() {
        match SocketCanBus::open("mptestnone9") {
            Err(BusError::Open {
                interface, reason, ..
            }) => {
                assert_eq!(interface, "mptestnone9");
                assert!(reason.contains("no such network interface"), "{reason}");
            }
            other => panic!("expected an Open error, got {other:?}"),
        }
    }
}

live_test! {
    fn the_proxy_shares_a_socketcan_bus_between_two_channels() {
        let device = open();
        let proxy = mptest::aux::start::<CanProxyAux>(ProxyConfig::new(BusConfig::SocketCan {
            interface: interface(),
        }))
        .unwrap();
        let channels = CanProxyAux::channels(&proxy).unwrap();
        let (one, two) = (channels.open().unwrap(), channels.open().unwrap());
        device.send(&CanFrame::new(std_id(0x100), &[1]).unwrap()).unwrap();
        for channel in [&one, &two] {
            let got = next(channel);
            assert_eq!((got.frame.data(), got.channel), (&[1][..], None));
        }
        one.send(&CanFrame::new(std_id(0x101), &[2]).unwrap()).unwrap();
        assert_eq!(next(&device).frame.data(), [2]);
        let got = next(&two);
        assert_eq!((got.frame.data(), got.channel), (&[2][..], Some(one.channel())));
        assert!(
            one.recv(Duration::from_millis(200)).unwrap().is_none(),
            "not back to its sender"
        );
        proxy.stop().unwrap();
    }
}

live_test! {
    fn a_classic_interface_takes_classic_frames_and_refuses_fd() {
        let name = classic_interface();
        let (tx, rx) = match (SocketCanBus::open(&name), SocketCanBus::open(&name)) {
            (Ok(tx), Ok(rx)) => (tx, rx),
            (Err(e), _) | (_, Err(e)) => panic!("the classic interface (MPTEST_CAN_INTERFACE_CLASSIC): {e}"),
        };
        let classic = CanFrame::new(std_id(0x42), &[4, 2]).unwrap();
        tx.send(&classic).unwrap();
        assert_eq!(next(&rx).frame, classic);
        let fd = CanFrame::fd(std_id(0x43), &[0; 12], FdFlags::default()).unwrap();
        let refused = tx.send(&fd);
        assert!(refused.is_err(), "an FD frame on a classic interface: {refused:?}");
        assert!(rx.recv(Duration::from_millis(200)).unwrap().is_none());
    }
}

live_test! {
    /// Runs the scenario shared with the virtual bus (`scenario.rs`) on the kernel and prints what
    /// each node received, one `SEEN ...` line each: `tests/kernel_vm.rs` compares them with the
    /// virtual bus's.
    fn the_shared_scenario_on_the_kernel() {
        let seen = scenario::run(&|| Box::new(open()) as Box<dyn Bus>).unwrap();
        for line in &seen {
            println!("SEEN {line}");
        }
        assert!(seen.iter().any(|l| l.starts_with("a T ")), "a gets its own frames: {seen:?}");
    }
}

/// Lines a command writes to stdout, as they come.
fn lines_of(child: &mut std::process::Child) -> mpsc::Receiver<String> {
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

/// Kills a helper process when the test ends, however it ends.
struct Reaped(std::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

live_test! {
    fn a_trace_of_the_real_candump_reads_back_into_the_frames_sent() {
        let iface = interface();
        let mut candump = Reaped(
            Command::new("candump")
                .args(["-L", &iface])
                .stdout(Stdio::piped())
                .spawn()
                .expect("can-utils' candump (apt-get install can-utils)"),
        );
        let lines = lines_of(&mut candump.0);
        let tx = open();
        // candump is ready when it shows a probe; until then, probe again (nothing is lost: probes
        // sent before it listens are simply not seen).
        let probe = CanFrame::new(std_id(0x7aa), &[0x55]).unwrap();
        let deadline = std::time::Instant::now() + LIMIT;
        loop {
            assert!(std::time::Instant::now() < deadline, "candump never showed a frame");
            tx.send(&probe).unwrap();
            if lines.recv_timeout(Duration::from_millis(50)).is_ok() {
                break;
            }
        }
        let sent = frames_of_every_kind();
        for frame in &sent {
            tx.send(frame).unwrap();
        }
        let mut read = Vec::new();
        while read.len() < sent.len() {
            let line = lines.recv_timeout(LIMIT).expect("candump printed every frame");
            let entry = mptest_can::trace::parse_line(&line)
                .unwrap_or_else(|e| panic!("mptest-can cannot read candump's {line:?}: {e}"))
                .expect("a frame line");
            assert_eq!(entry.interface, iface, "{line}");
            if entry.frame != probe {
                read.push(entry.frame);
            }
        }
        assert_eq!(read, sent);
    }
}

live_test! {
    fn a_trace_written_by_mptest_can_is_played_by_the_real_canplayer() {
        let iface = interface();
        let dir = std::env::temp_dir().join(format!("mptest-can-player-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("trace.log");
        let sent = frames_of_every_kind();
        let start = SystemTime::now();
        let entries: Vec<mptest_can::trace::LogEntry> = sent
            .iter()
            .enumerate()
            .map(|(i, frame)| mptest_can::trace::LogEntry {
                timestamp: start + Duration::from_millis(i as u64),
                interface: iface.clone(),
                frame: frame.clone(),
                direction: None,
            })
            .collect();
        let mut writer = mptest_can::trace::TraceWriter::create(&path).unwrap();
        writer.write(&entries).unwrap();
        drop(writer);
        let rx = open();
        // -t: as fast as it can, not at the trace's pace.
        let mut player = Reaped(
            Command::new("canplayer")
                .args(["-t", "-I"])
                .arg(&path)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("can-utils' canplayer (apt-get install can-utils)"),
        );
        let mut got = Vec::new();
        for _ in &sent {
            got.push(next(&rx).frame);
        }
        let status = player.0.wait().unwrap();
        assert!(status.success(), "canplayer: {status}");
        assert_eq!(got, sent, "the trace:\n{}", std::fs::read_to_string(&path).unwrap());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
