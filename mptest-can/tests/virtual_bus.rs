//! The virtual bus across processes: one global order, no loss under a slow reader, a killed
//! node detaches, filters, FD, receive-own, bad input, waiting until nodes are attached.

use std::time::{Duration, Instant};

use mptest::prelude::*;
use mptest_can::{
    AsyncBus, Bus, BusError, CanFilter, CanFrame, CanId, Direction, FdFlags, VirtualBus, QUEUE,
};

/// Bounds every wait.
const LIMIT: Duration = Duration::from_secs(20);
/// A frame children send to say they are attached (their frames from now on are heard).
const READY: u16 = 0x7ff;

fn std_id(id: u16) -> CanId {
    CanId::standard(id).unwrap()
}

/// Frame `n` of sender `s`: id 0x100 + s, data = n.
fn numbered(sender: u16, n: u32) -> CanFrame {
    CanFrame::new(std_id(0x100 + sender), &n.to_le_bytes()).unwrap()
}

/// The next frame, or a failure naming what was awaited.
fn next(bus: &dyn Bus, what: &str) -> mptest_can::Received {
    bus.recv(LIMIT)
        .unwrap()
        .unwrap_or_else(|| panic!("{what}: nothing within {LIMIT:?}"))
}

/// Receives `count` frames that are not READY markers, as candump strings.
fn collect(bus: &dyn Bus, count: usize) -> Vec<String> {
    let mut seen = Vec::with_capacity(count);
    while seen.len() < count {
        let got = next(bus, &format!("frame {} of {count}", seen.len()));
        if got.frame.id() != std_id(READY) {
            seen.push(got.frame.to_string());
        }
    }
    seen
}

/// Waits for `n` READY markers.
fn await_ready(bus: &dyn Bus, n: usize) {
    let mut ready = 0;
    while ready < n {
        if next(bus, "a child's READY").frame.id() == std_id(READY) {
            ready += 1;
        }
    }
}

#[mp_test(timeout = "60s")]
fn every_node_sees_every_frame_in_one_global_order() {
    const PER_SENDER: u32 = 3000;
    let bus = VirtualBus::create("order").unwrap();
    let here = bus.attach().unwrap();
    // A receiver in another process.
    let listener = mptest::spawn(bus.clone(), |bus: VirtualBus| {
        let node = bus.attach().unwrap();
        node.send(&CanFrame::new(std_id(READY), &[]).unwrap()).unwrap();
        collect(&node, 3 * PER_SENDER as usize)
    });
    await_ready(&here, 1);
    // Three senders in three processes, all at once.
    let senders: Vec<_> = (0..3u16)
        .map(|s| {
            mptest::spawn((bus.clone(), s), |(bus, s): (VirtualBus, u16)| {
                let node = bus.attach_sender().unwrap();
                for n in 0..PER_SENDER {
                    node.send(&numbered(s, n)).unwrap();
                }
            })
        })
        .collect();
    let seen_here = collect(&here, 3 * PER_SENDER as usize);
    for sender in senders {
        sender.join().unwrap();
    }
    let seen_there = listener.join().unwrap();
    assert_eq!(seen_here, seen_there, "two nodes saw different orders");
    // Each sender's frames in its own order, none missing, none twice.
    for s in 0..3u16 {
        let mine: Vec<_> = seen_here
            .iter()
            .filter(|f| f.starts_with(&format!("{:03X}#", 0x100 + s)))
            .cloned()
            .collect();
        let expected: Vec<_> = (0..PER_SENDER).map(|n| numbered(s, n).to_string()).collect();
        assert_eq!(mine, expected, "sender {s}");
    }
    // The senders really interleaved (one global order of concurrent sends, not three runs).
    let switches = seen_here.windows(2).filter(|w| w[0][..3] != w[1][..3]).count();
    println!("{switches} switches between senders");
}

/// The reason to wait: a node hears the frames sent after it attached, so a test that sends
/// before its children attached loses frames. The wait replaces sleeps and READY frames.
#[mp_test(timeout = "60s")]
fn once_the_wait_returns_every_node_hears_what_is_sent() {
    let bus = VirtualBus::create("ready").unwrap();
    let here = bus.attach_sender().unwrap();
    // Three children attach in their own time; none says so.
    let children: Vec<_> = (0..3)
        .map(|_| {
            mptest::spawn(bus.clone(), |bus: VirtualBus| {
                let node = bus.attach().unwrap();
                next(&node, "the test's frame").frame
            })
        })
        .collect();
    // The test's own node and the three children's.
    assert_eq!(bus.wait_for_nodes(4, LIMIT).unwrap(), 4);
    let frame = numbered(9, 1);
    here.send(&frame).unwrap();
    for child in children {
        assert_eq!(child.join().unwrap(), frame);
    }
}

#[mp_test(timeout = "60s")]
fn a_wait_for_nodes_is_bounded_says_how_many_came_and_works_from_any_process() {
    let bus = VirtualBus::create("census").unwrap();
    let _one = bus.attach().unwrap();
    // From a child, by the bus's name; the waits themselves are no nodes.
    let counted = mptest::spawn((), |()| {
        let bus = VirtualBus::named("census").unwrap();
        (
            bus.wait_for_nodes(1, LIMIT).unwrap(),
            bus.wait_for_nodes(1, LIMIT).unwrap(),
        )
    });
    assert_eq!(counted.join().unwrap(), (1, 1));
    // A second node never comes: the bound ends the wait, and the error says how many came.
    let bound = Duration::from_millis(200);
    let started = Instant::now();
    let err = bus.wait_for_nodes(2, bound).unwrap_err();
    let waited = started.elapsed();
    assert!(waited >= bound && waited < LIMIT, "{waited:?}");
    assert!(
        matches!(
            err,
            BusError::NotAttached {
                wanted: 2,
                attached: 1,
                what: "nodes",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .starts_with("only 1 of 2 nodes attached to the CAN bus census after "),
        "{err}"
    );
    // A bus nobody created says so, at once.
    let err = VirtualBus::named("nobody")
        .unwrap()
        .wait_for_nodes(1, LIMIT)
        .unwrap_err();
    assert!(matches!(err, BusError::NoSuchBus { .. }), "{err:?}");
    // A wait under way when the bus closes ends with that, not at its bound.
    let waiter = std::thread::spawn({
        let bus = VirtualBus::named("census").unwrap();
        move || {
            let started = Instant::now();
            (bus.wait_for_nodes(5, LIMIT), started.elapsed())
        }
    });
    drop(bus);
    let (result, waited) = waiter.join().unwrap();
    // The waiter may have come after the close (no such bus) or before it (closed).
    assert!(
        matches!(result, Err(BusError::Closed(_) | BusError::NoSuchBus { .. })),
        "{result:?}"
    );
    assert!(waited < LIMIT, "{waited:?}");
}

/// Async code awaits a frame while the runtime's other tasks go on.
#[mp_test(timeout = "60s")]
async fn an_async_bus_receives_without_blocking_the_runtime() {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::Arc;
    let bus = VirtualBus::create("async").unwrap();
    let here = AsyncBus::new(bus.attach().unwrap());
    let (counter, stop) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicBool::new(false)));
    let counting = tokio::spawn({
        let (counter, stop) = (counter.clone(), stop.clone());
        async move {
            while !stop.load(Ordering::SeqCst) {
                counter.fetch_add(1, Ordering::SeqCst);
                tokio::task::yield_now().await;
            }
        }
    });
    let sender = mptest::rt::spawn(bus.clone(), |bus: VirtualBus| async move {
        let node = AsyncBus::new(bus.attach_sender().unwrap());
        node.send(numbered(1, 7)).await.unwrap();
    });
    let got = here.recv(LIMIT).await.unwrap().expect("the child's frame");
    stop.store(true, Ordering::SeqCst);
    counting.await.unwrap();
    assert_eq!(got.frame, numbered(1, 7));
    // The child took milliseconds to start: the other task ran all the while.
    let counted = counter.load(Ordering::SeqCst);
    assert!(counted > 10, "the other task ran {counted} times");
    sender.join_async().await.unwrap();
}

#[mp_test(timeout = "60s")]
fn a_slow_reader_loses_nothing_and_holds_the_sender_back() {
    const FRAMES: u32 = 20 * QUEUE as u32;
    const PAUSE: Duration = Duration::from_millis(20);
    let bus = VirtualBus::create("slow").unwrap();
    let slow = bus.attach().unwrap();
    let sender = mptest::spawn(bus.clone(), |bus: VirtualBus| {
        let node = bus.attach_sender().unwrap();
        let started = Instant::now();
        for n in 0..FRAMES {
            node.send(&numbered(0, n)).unwrap();
        }
        started.elapsed()
    });
    for n in 0..FRAMES {
        let got = next(&slow, "the slow reader's next frame");
        assert_eq!(got.frame, numbered(0, n), "frame {n}");
        if n % QUEUE as u32 == 0 {
            // The reader is slow: simulated work, 20 pauses in all.
            std::thread::sleep(PAUSE);
        }
    }
    let sent_for = sender.join().unwrap();
    // Unheld, the sender would be done in a few milliseconds; held back, it can be ahead of the
    // reader by its queue and the socket buffers only, a few of the 20 pauses.
    assert!(
        sent_for >= PAUSE * 10,
        "the sender was done in {sent_for:?}: no backpressure"
    );
}

#[mp_test(timeout = "60s")]
fn a_killed_node_detaches_without_stalling_the_others() {
    let bus = VirtualBus::create("killed").unwrap();
    let watcher = bus.attach().unwrap();
    // A node that attaches, says so, and never reads: the bus would stall on it once its queue
    // is full — unless its death detaches it.
    let mut deaf = mptest::spawn::<_, ()>(bus.clone(), |bus: VirtualBus| {
        let node = bus.attach().unwrap();
        node.send(&CanFrame::new(std_id(READY), &[]).unwrap()).unwrap();
        loop {
            std::thread::park();
        }
    });
    await_ready(&watcher, 1);
    // A sender killed in mid-stream, too.
    let mut dying_sender = mptest::spawn(bus.clone(), |bus: VirtualBus| {
        let node = bus.attach_sender().unwrap();
        for n in 0.. {
            node.send(&numbered(1, n)).unwrap();
        }
    });
    // Its first frames arrive; then it and the deaf node are killed.
    let first = next(&watcher, "the dying sender's first frame");
    assert_eq!(first.frame, numbered(1, 0));
    dying_sender.kill().unwrap();
    deaf.kill().unwrap();
    let sender = bus.attach_sender().unwrap();
    let started = Instant::now();
    for n in 0..(3 * QUEUE as u32) {
        sender.send(&numbered(2, n)).unwrap();
        // Drain as we go, skipping what the dead sender got out before it died.
        while let Some(got) = watcher.recv(Duration::ZERO).unwrap() {
            assert!(got.frame.id() == std_id(0x101) || got.frame.id() == std_id(0x102));
        }
    }
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "stalled: {:?}",
        started.elapsed()
    );
}

#[mp_test(timeout = "60s")]
fn filters_pass_what_socketcan_would() {
    let bus = VirtualBus::create("filters").unwrap();
    let tx = bus.attach_sender().unwrap();
    let rx = bus.attach().unwrap();
    let frames = [
        CanFrame::new(std_id(0x123), &[1]).unwrap(),
        CanFrame::new(CanId::extended(0x123).unwrap(), &[2]).unwrap(),
        CanFrame::remote(std_id(0x123), 2).unwrap(),
        CanFrame::new(std_id(0x200), &[3]).unwrap(),
        CanFrame::error(0x4, [0; 8]).unwrap(),
        CanFrame::error(0x40, [0; 8]).unwrap(),
    ];
    let heard = |filters: &[CanFilter], errors: u32| -> Vec<String> {
        rx.set_filters(filters).unwrap();
        rx.set_error_filter(errors).unwrap();
        for frame in &frames {
            tx.send(frame).unwrap();
        }
        // A last frame every filter below passes marks the end of the round.
        tx.send(&CanFrame::new(std_id(0x7ff), &[0xee]).unwrap()).unwrap();
        let mut got = Vec::new();
        loop {
            let frame = next(&rx, "the round's frames").frame;
            if frame.data() == [0xee] {
                return got;
            }
            got.push(frame.to_string());
        }
    };
    let end = CanFilter::exact(std_id(0x7ff));
    assert_eq!(
        heard(&[CanFilter::exact(std_id(0x123)), end], 0),
        ["123#01"],
        "exact: standard data only"
    );
    assert_eq!(
        heard(&[CanFilter::new(0x123, 0x7ff), end], 0x4),
        ["123#01", "00000123#02", "123#R2", "20000004#0000000000000000"],
        "no EFF/RTR bits in the mask: all kinds; error class 0x4 only"
    );
    assert_eq!(
        heard(&[CanFilter::new(0x100, 0x700).inverted()], 0),
        ["200#03"],
        "inverted: everything outside 0x1xx, of any kind (the end marker passes it too)"
    );
    assert_eq!(heard(&[end], 0), Vec::<String>::new(), "only the end marker");
}

#[mp_test(timeout = "60s")]
fn every_kind_of_frame_travels_intact_between_processes() {
    let bus = VirtualBus::create("kinds").unwrap();
    let rx = bus.attach().unwrap();
    let frames = vec![
        CanFrame::new(std_id(0x1), &[]).unwrap(),
        CanFrame::with_raw_dlc(std_id(0x2), &[0xaa; 8], 0xc).unwrap(),
        CanFrame::remote(CanId::extended(0x1fff_ffff).unwrap(), 8).unwrap(),
        CanFrame::error(0x80, [1, 2, 3, 4, 5, 6, 7, 8]).unwrap(),
        CanFrame::fd(
            std_id(0x3),
            &[0x55; 64],
            FdFlags {
                brs: true,
                esi: false,
            },
        )
        .unwrap(),
        CanFrame::fd(
            CanId::extended(0x4).unwrap(),
            &[1; 12],
            FdFlags {
                brs: false,
                esi: true,
            },
        )
        .unwrap(),
    ];
    let sent = frames.clone();
    mptest::spawn(
        (bus.clone(), sent),
        |(bus, frames): (VirtualBus, Vec<CanFrame>)| {
            let node = bus.attach_sender().unwrap();
            frames.iter().for_each(|f| node.send(f).unwrap());
        },
    )
    .join()
    .unwrap();
    let mut last = std::time::SystemTime::UNIX_EPOCH;
    for frame in frames {
        let got = next(&rx, "a frame");
        assert_eq!(got.frame, frame);
        assert_eq!(got.direction, Direction::Rx);
        assert!(got.timestamp >= last, "timestamps follow the bus's order");
        last = got.timestamp;
    }
}

#[mp_test(timeout = "60s")]
fn receive_own_is_a_switch() {
    let bus = VirtualBus::create("own").unwrap();
    let node = bus.attach().unwrap();
    let other = bus.attach().unwrap();
    let frame = CanFrame::new(std_id(0x10), &[1]).unwrap();
    node.send(&frame).unwrap();
    assert_eq!(next(&other, "the other's copy").direction, Direction::Rx);
    node.set_receive_own(true).unwrap();
    node.send(&frame).unwrap();
    let own = next(&node, "its own frame back");
    assert_eq!((own.frame, own.direction), (frame.clone(), Direction::Tx));
    node.set_receive_own(false).unwrap();
    node.send(&frame).unwrap();
    other.send(&CanFrame::new(std_id(0x11), &[]).unwrap()).unwrap();
    assert_eq!(
        next(&node, "the other's frame").frame.id(),
        std_id(0x11),
        "no own frame now"
    );
}

#[mp_test(timeout = "60s")]
fn names_are_checked_and_a_closed_bus_says_so() {
    let err = VirtualBus::create("no/slash").unwrap_err().to_string();
    assert!(err.contains("1-32 letters"), "{err}");
    let bus = VirtualBus::create("named").unwrap();
    let err = VirtualBus::create("named").unwrap_err().to_string();
    assert!(err.contains("already exists in this test"), "{err}");
    // A bus nobody created is not an interface: the error says how to make it.
    let err = VirtualBus::attach_named("nobody").unwrap_err();
    assert!(
        matches!(err, BusError::NoSuchBus { ref bus, .. } if bus == "nobody"),
        "{err:?}"
    );
    let err = err.to_string();
    assert!(
        err.starts_with("no virtual bus named \"nobody\" in this test")
            && err.contains("VirtualBus::create(\"nobody\")"),
        "{err}"
    );
    // By name, from a child. `here` is on the bus before the child can speak (a frame reaches
    // the nodes attached when it is sent: the child's one frame, sent before `here` attached,
    // would never come), and calls until the child is there to hear it and speaks.
    let here = bus.attach().unwrap();
    let from_child = mptest::spawn((), |()| {
        let node = VirtualBus::attach_named("named").unwrap();
        node.send(&CanFrame::new(std_id(0x5), &[5]).unwrap()).unwrap();
        node.recv(LIMIT)
            .map(|r| r.map(|r| r.frame.to_string()))
            .map_err(|e| e.to_string())
    });
    let started = Instant::now();
    loop {
        here.send(&CanFrame::new(std_id(0x6), &[6]).unwrap()).unwrap();
        if let Some(got) = here.recv(Duration::from_millis(200)).unwrap() {
            assert_eq!(got.frame.to_string(), "005#05");
            here.send(&CanFrame::new(std_id(0x6), &[6]).unwrap()).unwrap();
            break;
        }
        assert!(started.elapsed() < LIMIT, "the child never spoke");
    }
    assert_eq!(from_child.join().unwrap().unwrap().as_deref(), Some("006#06"));
    drop(bus);
    match here.recv(LIMIT) {
        Err(BusError::Closed(name)) => assert_eq!(name, "named"),
        other => panic!("expected Closed, got {other:?}"),
    }
    assert!(matches!(
        here.send(&CanFrame::new(std_id(1), &[]).unwrap()),
        Err(BusError::Closed(_))
    ));
}

#[mp_test(timeout = "60s")]
fn a_malformed_message_costs_only_its_sender() {
    use std::io::Read;
    let bus = VirtualBus::create("garbage").unwrap();
    let good = bus.attach().unwrap();
    let sender = bus.attach_sender().unwrap();

    // Garbage in the middle of a conversation: the hub cuts that node off, and only it.
    let bad = bus.attach().unwrap();
    bad.send_raw(&[4, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]).unwrap();
    match bad.recv(LIMIT) {
        Err(BusError::Closed(_)) => {}
        other => panic!("the bad node should be cut off, got {other:?}"),
    }
    // Garbage instead of a hello: hung up on.
    let path = mptest::__private::run_dir()
        .unwrap()
        .join(format!("can-{}-garbage", unsafe { libc_getpgrp() }));
    let mut raw = std::os::unix::net::UnixStream::connect(path).unwrap();
    std::io::Write::write_all(&mut raw, &[4, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]).unwrap();
    raw.set_read_timeout(Some(LIMIT)).unwrap();
    assert_eq!(raw.read_to_end(&mut Vec::new()).unwrap(), 0);

    sender.send(&CanFrame::new(std_id(0x42), &[]).unwrap()).unwrap();
    assert_eq!(next(&good, "a frame after the garbage").frame.id(), std_id(0x42));
}

extern "C" {
    #[link_name = "getpgrp"]
    fn libc_getpgrp() -> i32;
}

mptest::main!();
