//! The SocketCAN backend (Linux): one raw CAN socket with FD frames enabled, kernel timestamps,
//! filters, error frames and the receive-own switch.
//!
//! The `socketcan` crate opens the socket and sets its options; frames are read with one
//! `recvmsg` of our own, because that one call gives the frame, its kernel timestamp
//! (`SO_TIMESTAMPNS`) and `MSG_CONFIRM` — whether this socket sent it — together, and written as
//! the kernel's own `can_frame` / `canfd_frame` bytes, which keeps a raw DLC of 9–15.

use std::os::unix::io::AsRawFd;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use socketcan::{CanFdSocket, Socket, SocketOptions};

use crate::bus::{Bus, BusError, CanFilter, Direction, Received, ERR_MASK_ALL};
use crate::frame::{CanFrame, CanId, FdFlags, EFF_FLAG, ERR_FLAG, RTR_FLAG};

/// How long a send may wait for room in the interface's queue.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// Sizes of the kernel's frame structs.
const CAN_MTU: usize = 16;
const CANFD_MTU: usize = 72;
/// `CANFD_FDF`, `CANFD_BRS`, `CANFD_ESI` (linux/can.h).
const FDF: u8 = 0x04;
const BRS: u8 = 0x01;
const ESI: u8 = 0x02;
/// `CAN_INV_FILTER`.
const INV_FILTER: u32 = 0x2000_0000;

/// A SocketCAN interface as a [`Bus`].
///
/// ```no_run
/// use std::time::Duration;
/// use mptest_can::{Bus, SocketCanBus};
///
/// let can0 = SocketCanBus::open("can0")?;  // "cannot open CAN interface can0: ..." if it can't
/// if let Some(received) = can0.recv(Duration::from_secs(1))? {
///     println!("{} at {:?}", received.frame, received.timestamp);
/// }
/// # Ok::<(), mptest_can::BusError>(())
/// ```
pub struct SocketCanBus {
    interface: String,
    socket: CanFdSocket,
}

impl std::fmt::Debug for SocketCanBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SocketCanBus({})", self.interface)
    }
}

impl SocketCanBus {
    /// Opens `interface` (`can0`, `vcan0`) for classic and FD frames, with kernel timestamps
    /// on, every error frame passing, and receive-own off. A kernel without CAN or a missing
    /// interface is [`BusError::Open`] saying which.
    pub fn open(interface: &str) -> Result<Self, BusError> {
        let open_err = |reason: &str, source: std::io::Error| BusError::Open {
            interface: interface.to_string(),
            reason: format!("{reason} ({source})"),
            source: Some(source),
        };
        probe_af_can().map_err(|e| open_err(&why_not_open(&e), e))?;
        let socket = CanFdSocket::open(interface).map_err(|e| open_err(&why_not_open(&e), e))?;
        socket
            .set_recv_timestamp(true)
            .and_then(|()| socket.set_error_filter(ERR_MASK_ALL))
            .and_then(|()| socket.set_write_timeout(SEND_TIMEOUT))
            .map_err(|e| open_err("cannot set its socket options", e))?;
        Ok(SocketCanBus {
            interface: interface.to_string(),
            socket,
        })
    }

    /// Why `interface` cannot be opened here, or `None` when it can: for tests that need a
    /// live bus, `#[mp_test(ignore_if = ..)]` with a function that calls this.
    ///
    /// ```
    /// fn no_vcan0() -> Option<String> {
    ///     mptest_can::SocketCanBus::unavailable("vcan0")
    /// }
    /// // #[mp_test(ignore_if = no_vcan0)] fn talks_to_the_ecu() { .. }
    /// # let _ = no_vcan0();
    /// ```
    pub fn unavailable(interface: &str) -> Option<String> {
        SocketCanBus::open(interface).err().map(|e| e.to_string())
    }

    fn io(&self, doing: &'static str) -> impl FnOnce(std::io::Error) -> BusError + '_ {
        move |source| BusError::Io {
            bus: self.interface.clone(),
            doing,
            source,
        }
    }
}

/// Asks the kernel for a CAN socket, so that "no CAN support" is told before "no such
/// interface" (looking an interface up does not need AF_CAN).
fn probe_af_can() -> std::io::Result<()> {
    // SAFETY: socket(2) with constant arguments; the descriptor is closed right away.
    let fd = unsafe { libc::socket(libc::AF_CAN, libc::SOCK_RAW, libc::CAN_RAW) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fd was just returned by socket(2) and is ours.
    unsafe { libc::close(fd) };
    Ok(())
}

/// The cause of a failed open, in words.
fn why_not_open(error: &std::io::Error) -> String {
    match error.raw_os_error() {
        Some(libc::EAFNOSUPPORT) => {
            "the kernel has no CAN support (AF_CAN is refused; load the can and can-raw modules)".into()
        }
        Some(libc::ENODEV) | Some(libc::ENXIO) => "no such network interface".into(),
        Some(libc::EPROTONOSUPPORT) => "the kernel has no raw CAN sockets (load the can-raw module)".into(),
        Some(libc::EPERM) | Some(libc::EACCES) => "not permitted".into(),
        _ => "the socket could not be opened".into(),
    }
}

/// The kernel's bytes for a frame: a 16-byte `can_frame` or a 72-byte `canfd_frame`.
pub(crate) fn to_kernel(frame: &CanFrame) -> Vec<u8> {
    let fd = frame.is_fd();
    let mut bytes = vec![0u8; if fd { CANFD_MTU } else { CAN_MTU }];
    bytes[..4].copy_from_slice(&frame.socketcan_id().to_ne_bytes());
    match frame {
        CanFrame::Remote(_) => bytes[4] = frame.dlc(),
        _ => bytes[4] = frame.data().len() as u8,
    }
    if let Some(flags) = frame.fd_flags() {
        bytes[5] = FDF | if flags.brs { BRS } else { 0 } | if flags.esi { ESI } else { 0 };
    }
    if let Some(raw) = frame.raw_dlc() {
        bytes[7] = raw; // len8_dlc
    }
    let data = frame.data();
    bytes[8..8 + data.len()].copy_from_slice(data);
    bytes
}

/// A frame from the kernel's bytes (`n` of them were read).
pub(crate) fn from_kernel(bytes: &[u8]) -> Result<CanFrame, String> {
    if bytes.len() != CAN_MTU && bytes.len() != CANFD_MTU {
        return Err(format!("a read of {} bytes is no CAN frame", bytes.len()));
    }
    let raw = u32::from_ne_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    let len = usize::from(bytes[4]);
    let bad = |e: crate::FrameError| e.to_string();
    if raw & ERR_FLAG != 0 {
        let mut data = [0u8; 8];
        data.copy_from_slice(&bytes[8..16]);
        return CanFrame::error(raw & 0x1fff_ffff, data).map_err(bad);
    }
    let id = if raw & EFF_FLAG != 0 {
        CanId::extended(raw & 0x1fff_ffff)
    } else {
        CanId::standard((raw & 0x7ff) as u16)
    }
    .map_err(bad)?;
    if bytes.len() == CANFD_MTU {
        let data = bytes.get(8..8 + len).ok_or("an FD frame longer than 64 bytes")?;
        return CanFrame::fd(id, data, FdFlags::from_nibble(bytes[5])).map_err(bad);
    }
    let raw_dlc = (len == 8 && (9..=15).contains(&bytes[7])).then_some(bytes[7]);
    if raw & RTR_FLAG != 0 {
        return match raw_dlc {
            Some(dlc) => CanFrame::remote_with_raw_dlc(id, dlc),
            None => CanFrame::remote(id, len as u8),
        }
        .map_err(bad);
    }
    let data = bytes
        .get(8..8 + len)
        .ok_or("a classic frame longer than 8 bytes")?;
    match raw_dlc {
        Some(dlc) => CanFrame::with_raw_dlc(id, data, dlc),
        None => CanFrame::new(id, data),
    }
    .map_err(bad)
}

/// The kernel's filter for ours.
pub(crate) fn to_kernel_filter(filter: &CanFilter) -> socketcan::CanFilter {
    if filter.inverted {
        socketcan::CanFilter::new_inverted(filter.id & !INV_FILTER, filter.mask)
    } else {
        socketcan::CanFilter::new(filter.id & !INV_FILTER, filter.mask)
    }
}

impl SocketCanBus {
    /// One `recvmsg`: the frame's bytes (and how many), its timestamp, and whether this socket
    /// sent it.
    fn read(&self) -> std::io::Result<([u8; CANFD_MTU], usize, Option<SystemTime>, bool)> {
        let mut frame = [0u8; CANFD_MTU];
        // Room for one cmsg of a timespec.
        let mut control = [0u64; 8];
        let mut iov = libc::iovec {
            iov_base: frame.as_mut_ptr().cast(),
            iov_len: frame.len(),
        };
        // SAFETY: msghdr is plain data; zeroed is a valid empty header that we fill in below.
        let mut header: libc::msghdr = unsafe { std::mem::zeroed() };
        header.msg_iov = &mut iov;
        header.msg_iovlen = 1;
        header.msg_control = control.as_mut_ptr().cast();
        header.msg_controllen = std::mem::size_of_val(&control) as _;
        // SAFETY: header points at live buffers of the lengths it states.
        let n = unsafe { libc::recvmsg(self.socket.as_raw_fd(), &mut header, 0) };
        if n < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let mut stamp = None;
        // SAFETY: walking the control messages the kernel wrote, with libc's own macros.
        unsafe {
            let mut cmsg = libc::CMSG_FIRSTHDR(&header);
            while !cmsg.is_null() {
                if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_TIMESTAMPNS {
                    let ts = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast::<libc::timespec>());
                    stamp = Some(UNIX_EPOCH + Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32));
                }
                cmsg = libc::CMSG_NXTHDR(&header, cmsg);
            }
        }
        let own = header.msg_flags & libc::MSG_CONFIRM != 0;
        Ok((frame, n as usize, stamp, own))
    }
}

impl Bus for SocketCanBus {
    fn name(&self) -> &str {
        &self.interface
    }

    fn send(&self, frame: &CanFrame) -> Result<(), BusError> {
        let bytes = to_kernel(frame);
        // SAFETY: writing our own buffer of its own length to our socket.
        let n = unsafe { libc::write(self.socket.as_raw_fd(), bytes.as_ptr().cast(), bytes.len()) };
        if n == bytes.len() as isize {
            return Ok(());
        }
        let error = std::io::Error::last_os_error();
        match error.raw_os_error() {
            Some(libc::EINVAL) if frame.is_fd() => Err(BusError::Unsupported {
                bus: self.interface.clone(),
                frame: frame.to_string(),
                reason: "the interface does not take CAN FD frames (its MTU is 16)".into(),
            }),
            Some(libc::EAGAIN) => Err(BusError::SendTimeout {
                bus: self.interface.clone(),
                waited: SEND_TIMEOUT,
            }),
            _ => Err(self.io("send")(error)),
        }
    }

    fn recv(&self, timeout: Duration) -> Result<Option<Received>, BusError> {
        let deadline = Instant::now() + timeout;
        let mut fd = libc::pollfd {
            fd: self.socket.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let ms = left.as_millis().min(i32::MAX as u128) as i32;
            // SAFETY: one valid pollfd.
            let ready = unsafe { libc::poll(&mut fd, 1, ms) };
            if ready == 0 {
                return Ok(None);
            }
            if ready < 0 {
                let error = std::io::Error::last_os_error();
                if error.kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(self.io("wait for a frame")(error));
            }
            let (bytes, n, stamp, own) = match self.read() {
                Ok(read) => read,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) if e.raw_os_error() == Some(libc::ENETDOWN) => {
                    return Err(BusError::Closed(format!(
                        "{} (the interface is down)",
                        self.interface
                    )))
                }
                Err(e) => return Err(self.io("receive")(e)),
            };
            let frame = from_kernel(&bytes[..n]).map_err(|reason| BusError::Malformed {
                bus: self.interface.clone(),
                reason,
            })?;
            return Ok(Some(Received {
                frame,
                timestamp: stamp.unwrap_or_else(SystemTime::now),
                direction: if own { Direction::Tx } else { Direction::Rx },
                channel: None,
            }));
        }
    }

    fn set_filters(&self, filters: &[CanFilter]) -> Result<(), BusError> {
        let result = if filters.is_empty() {
            self.socket.set_filter_drop_all()
        } else {
            let kernel: Vec<_> = filters.iter().map(to_kernel_filter).collect();
            self.socket.set_filters(&kernel)
        };
        result.map_err(self.io("set filters"))
    }

    fn set_error_filter(&self, mask: u32) -> Result<(), BusError> {
        self.socket
            .set_error_filter(mask)
            .map_err(self.io("set the error filter"))
    }

    fn set_receive_own(&self, on: bool) -> Result<(), BusError> {
        self.socket
            .set_recv_own_msgs(on)
            .map_err(self.io("set receive-own"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_through_the_kernels_layout() {
        let std_id = CanId::standard(0x123).unwrap();
        let frames = [
            CanFrame::new(std_id, &[1, 2, 3]).unwrap(),
            CanFrame::new(CanId::extended(0x1234_5678).unwrap(), &[]).unwrap(),
            CanFrame::with_raw_dlc(std_id, &[7; 8], 0xf).unwrap(),
            CanFrame::remote(std_id, 5).unwrap(),
            CanFrame::error(0x4, [0, 0x10, 0, 0, 0, 0, 0, 0]).unwrap(),
            CanFrame::fd(std_id, &[9; 48], FdFlags { brs: true, esi: true }).unwrap(),
        ];
        for frame in frames {
            let bytes = to_kernel(&frame);
            assert_eq!(bytes.len(), if frame.is_fd() { 72 } else { 16 });
            assert_eq!(from_kernel(&bytes).unwrap(), frame);
        }
        let fd = to_kernel(
            &CanFrame::fd(
                std_id,
                &[],
                FdFlags {
                    brs: true,
                    esi: false,
                },
            )
            .unwrap(),
        );
        assert_eq!(fd[5], FDF | BRS);
        let ext = to_kernel(&CanFrame::remote(CanId::extended(1).unwrap(), 2).unwrap());
        assert_eq!(
            u32::from_ne_bytes(ext[..4].try_into().unwrap()),
            1 | EFF_FLAG | RTR_FLAG
        );
        assert!(from_kernel(&[0; 20]).unwrap_err().contains("20 bytes"));
        let mut too_long = to_kernel(&CanFrame::new(std_id, &[]).unwrap());
        too_long[4] = 9;
        assert!(from_kernel(&too_long).is_err());
    }

    #[test]
    fn filters_become_the_kernels() {
        let exact = CanFilter::exact(CanId::standard(0x123).unwrap());
        let kernel = to_kernel_filter(&exact);
        let raw: &libc::can_filter = kernel.as_ref();
        assert_eq!((raw.can_id, raw.can_mask), (0x123, 0x7ff | EFF_FLAG | RTR_FLAG));
        let inverted = to_kernel_filter(&exact.inverted());
        let raw: &libc::can_filter = inverted.as_ref();
        assert_eq!(raw.can_id, 0x123 | INV_FILTER);
    }

    #[test]
    fn a_kernel_without_can_or_a_missing_interface_is_named() {
        let err = SocketCanBus::open("mptestnone0").unwrap_err().to_string();
        assert!(
            err.starts_with("cannot open CAN interface mptestnone0: "),
            "{err}"
        );
        let expected = match probe_af_can() {
            Err(_) => "the kernel has no CAN support",
            Ok(()) => "no such network interface",
        };
        assert!(err.contains(expected), "{err}");
    }
}
