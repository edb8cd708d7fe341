//! The SocketCAN backend on a real kernel interface (`MPTEST_CAN_INTERFACE`, default `vcan0`,
//! which needs FD MTU for the FD test: `ip link set vcan0 mtu 72`). Where the kernel has no CAN
//! support or the interface is missing, every test here is reported as ignored with the reason
//! (see build.rs); `MPTEST_CAN_LIVE=1` makes them run anyway.

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

fn std_id(id: u16) -> CanId {
    CanId::standard(id).unwrap()
}

fn next(bus: &dyn Bus) -> mptest_can::Received {
    bus.recv(LIMIT).unwrap().expect("a frame within the limit")
}

#[cfg_attr(
    mptest_can_no_af_can,
    ignore = "the kernel has no CAN support (AF_CAN is refused)"
)]
#[cfg_attr(
    mptest_can_no_iface,
    ignore = "no CAN interface (MPTEST_CAN_INTERFACE, default vcan0)"
)]
#[mp_test(timeout = "30s")]
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

#[cfg_attr(
    mptest_can_no_af_can,
    ignore = "the kernel has no CAN support (AF_CAN is refused)"
)]
#[cfg_attr(
    mptest_can_no_iface,
    ignore = "no CAN interface (MPTEST_CAN_INTERFACE, default vcan0)"
)]
#[mp_test(timeout = "30s")]
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

#[cfg_attr(
    mptest_can_no_af_can,
    ignore = "the kernel has no CAN support (AF_CAN is refused)"
)]
#[cfg_attr(
    mptest_can_no_iface,
    ignore = "no CAN interface (MPTEST_CAN_INTERFACE, default vcan0)"
)]
#[mp_test(timeout = "30s")]
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

#[cfg_attr(
    mptest_can_no_af_can,
    ignore = "the kernel has no CAN support (AF_CAN is refused)"
)]
#[cfg_attr(
    mptest_can_no_iface,
    ignore = "no CAN interface (MPTEST_CAN_INTERFACE, default vcan0)"
)]
#[mp_test(timeout = "60s")]
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

mptest::main!();
