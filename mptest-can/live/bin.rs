//! The SocketCAN live tests (`tests.rs`) as a binary of their own: the VM runner
//! (`tests/kernel_vm.rs`) copies it into the virtual machine's initramfs and runs it there with
//! `--include-ignored` (where it is built there is no CAN, and they would be reported as ignored).
//! On a Linux box with CAN, `cargo test -p mptest-can --test socketcan_live` runs the same tests.

#[path = "scenario.rs"]
mod scenario;

include!("tests.rs");

fn main() -> ! {
    mptest::run()
}
