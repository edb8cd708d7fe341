//! The SocketCAN live tests (`tests.rs`) as a binary of their own: the VM runner
//! (`tests/kernel_vm.rs`) copies it into the virtual machine's initramfs and runs it there with
//! `--include-ignored` (where it is built there is no CAN, and they would be reported as ignored).
//! On a Linux box with CAN, `cargo test -p mptest-can --test socketcan_live` runs the same tests.

// SocketCAN is Linux's.
#[cfg(target_os = "linux")]
#[path = "scenario.rs"]
mod scenario;

#[cfg(target_os = "linux")]
include!("tests.rs");

#[cfg(target_os = "linux")]
fn main() -> ! {
    mptest::run()
}

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("SocketCAN is Linux only");
    std::process::exit(2);
}
