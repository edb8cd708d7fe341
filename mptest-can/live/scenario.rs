//! One scenario, run on any `Bus`: the SocketCAN live tests run it on vcan in the virtual
//! machine, `tests/kernel_vm.rs` runs it on the virtual bus and compares what each node received
//! — frames, their order, echo and own-message rules, id filters (one inverted) and the error
//! filter. The virtual bus is held to the kernel's behaviour this way.

use std::time::Duration;

use mptest_can::{Bus, CanFilter, CanFrame, CanId, Direction, FdFlags};

/// What one node received: `<node> <R|T> <frame in candump form>`, in the order it came.
pub type Seen = String;

/// Frames every node receives last: once each node has it, it has everything sent before.
const MARKER: u16 = 0x7ff;

fn std_id(id: u16) -> CanId {
    CanId::standard(id).expect("a standard id")
}

/// Runs the scenario on buses opened by `open` (each call a new handle on the same bus) and
/// returns what nodes `a`, `b` and `c` received, node by node.
pub fn run(open: &dyn Fn() -> Box<dyn Bus>) -> Result<Vec<Seen>, String> {
    let (a, b, c, d) = (open(), open(), open(), open());
    let err = |e: mptest_can::BusError| e.to_string();
    // a: everything, and its own frames back (as T).
    a.set_receive_own(true).map_err(err)?;
    // b: ids whose low 11 bits are 0x100 (standard or extended, data or remote), the marker,
    // and standard frames 0x300 through a filter with id and mask bits above 0x7ff, which the
    // kernel drops for a standard-frames-only filter (af_can.c).
    b.set_filters(&[
        CanFilter::new(0x100, 0x7ff),
        CanFilter::exact(std_id(MARKER)),
        CanFilter::new(0x0ab0_0300, 0x1fff_ffff | CanFilter::EFF),
    ])
    .map_err(err)?;
    // c: all but those (inverted), and no error frames.
    c.set_filters(&[CanFilter::new(0x100, 0x7ff).inverted()])
        .map_err(err)?;
    c.set_error_filter(0).map_err(err)?;
    let frame = |r: Result<CanFrame, mptest_can::FrameError>| r.map_err(|e| e.to_string());
    let sends: Vec<(&dyn Bus, CanFrame)> = vec![
        (&a, frame(CanFrame::new(std_id(0x100), &[1]))?),
        (
            &a,
            frame(CanFrame::new(
                CanId::extended(0x0100_0100).map_err(|e| e.to_string())?,
                &[2, 3],
            ))?,
        ),
        (&a, frame(CanFrame::remote(std_id(0x100), 2))?),
        (&b, frame(CanFrame::new(std_id(0x200), &[4]))?),
        (&c, frame(CanFrame::new(std_id(0x100), &[5]))?),
        (&a, frame(CanFrame::error(0x4, [0, 0x10, 0, 0, 0, 0, 0, 0]))?),
        (
            &b,
            frame(CanFrame::fd(
                std_id(0x101),
                &[0xaa; 12],
                FdFlags {
                    brs: true,
                    esi: false,
                },
            ))?,
        ),
        (&c, frame(CanFrame::new(std_id(0x300), &[]))?),
        (&d, frame(CanFrame::new(std_id(MARKER), &[0xff]))?),
    ];
    // One frame at a time: the next is sent once `a` (which gets every frame, its own back)
    // has it. On the kernel a frame is on the bus when `send` returns; on the virtual bus when
    // the hub has ordered it, a moment later — frames from different handles sent back to back
    // could be ordered either way there, so the scenario does not send them so.
    let mut seen = Vec::new();
    for (bus, frame) in &sends {
        bus.send(frame).map_err(err)?;
        loop {
            let received = a
                .recv(Duration::from_secs(5))
                .map_err(err)?
                .ok_or_else(|| format!("node a did not get {frame} within 5 s"))?;
            seen.push(describe("a", &received));
            if received.frame == *frame {
                break;
            }
        }
    }
    for (name, bus) in [("b", &b), ("c", &c)] {
        loop {
            let received = bus
                .recv(Duration::from_secs(5))
                .map_err(err)?
                .ok_or_else(|| format!("node {name} did not get the marker frame within 5 s"))?;
            seen.push(describe(name, &received));
            if received.frame.id() == std_id(MARKER) {
                break;
            }
        }
    }
    Ok(seen)
}

/// `<node> <R|T> <frame>`.
fn describe(node: &str, received: &mptest_can::Received) -> Seen {
    let way = match received.direction {
        Direction::Rx => "R",
        Direction::Tx => "T",
    };
    format!("{node} {way} {}", received.frame)
}
