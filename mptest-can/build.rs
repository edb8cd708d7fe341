//! Decides whether the SocketCAN live tests can run here: they need a kernel with CAN (AF_CAN)
//! and the interface (`MPTEST_CAN_INTERFACE`, default `vcan0`). Where either is missing they are
//! compiled as ignored, with the reason, so they are reported as skipped, never as passed.
//! `MPTEST_CAN_LIVE=1` runs them regardless (a test machine other than the build machine).

fn main() {
    println!("cargo:rustc-check-cfg=cfg(mptest_can_no_af_can, mptest_can_no_iface)");
    println!("cargo:rerun-if-env-changed=MPTEST_CAN_INTERFACE");
    println!("cargo:rerun-if-env-changed=MPTEST_CAN_LIVE");
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var("MPTEST_CAN_LIVE").is_ok_and(|v| v == "1") {
        return;
    }
    let linux = std::env::var("CARGO_CFG_TARGET_OS").is_ok_and(|os| os == "linux");
    if !linux || !af_can() {
        println!("cargo:rustc-cfg=mptest_can_no_af_can");
        return;
    }
    let interface = std::env::var("MPTEST_CAN_INTERFACE").unwrap_or_else(|_| "vcan0".into());
    // A path that does not exist makes cargo run this again on every build, so an interface
    // brought up later is seen.
    println!("cargo:rerun-if-changed=/sys/class/net/{interface}");
    if !std::path::Path::new("/sys/class/net").join(&interface).exists() {
        println!("cargo:rustc-cfg=mptest_can_no_iface");
    }
}

#[cfg(target_os = "linux")]
fn af_can() -> bool {
    // SAFETY: socket(2) with constant arguments; the descriptor is closed right away.
    let fd = unsafe { libc::socket(libc::AF_CAN, libc::SOCK_RAW, libc::CAN_RAW) };
    if fd >= 0 {
        // SAFETY: fd is ours.
        unsafe { libc::close(fd) };
    }
    fd >= 0
}

#[cfg(not(target_os = "linux"))]
fn af_can() -> bool {
    false
}
