//! The SocketCAN backend on a real kernel interface (`MPTEST_CAN_INTERFACE`, default `vcan0`,
//! with FD MTU: `ip link set vcan0 mtu 72`; `MPTEST_CAN_INTERFACE_CLASSIC`, default `vcan1`, a
//! classic one), plus can-utils' `candump` and `canplayer`. Where the kernel has no CAN support
//! or the interface is missing, every test here is reported as ignored with the reason (decided
//! when the run starts); `MPTEST_CAN_LIVE=1` makes them run anyway. On these machines they run in a
//! virtual machine instead: `tests/kernel_vm.rs`.

// SocketCAN is Linux's.
#[cfg(target_os = "linux")]
#[path = "scenario.rs"]
mod scenario;

#[cfg(target_os = "linux")]
include!("tests.rs");

#[cfg(target_os = "linux")]
mptest::main!();

#[cfg(not(target_os = "linux"))]
fn main() {
    println!("SocketCAN is Linux only: no live tests on this system");
}
