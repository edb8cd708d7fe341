//! The SocketCAN live tests on a real Linux CAN stack: this machine's kernel has none, so they
//! run in a virtual machine (`live/vm.rs`: QEMU, Debian's kernel, vcan0 with FD MTU and vcan1
//! classic, can-utils), booted once for the run by a run-scoped fixture. Each live test is
//! reported here under its own name: a failure inside is a failure outside, and a VM that does
//! not boot or answer in time fails every test with the step it stopped at.
//!
//! Also here: the virtual bus held to the kernel — the scenario of `live/scenario.rs` runs on
//! the virtual bus in this process and is compared with what it gave on vcan in the VM.

#[path = "../live/scenario.rs"]
mod scenario;
#[path = "../live/vm.rs"]
mod vm;

use mptest::prelude::*;
use mptest_can::{Bus, VirtualBus};

/// The live tests, as `live/tests.rs` names them.
const LIVE_TESTS: [&str; 8] = [
    "a_classic_interface_takes_classic_frames_and_refuses_fd",
    "a_missing_interface_is_named",
    "a_trace_of_the_real_candump_reads_back_into_the_frames_sent",
    "a_trace_written_by_mptest_can_is_played_by_the_real_canplayer",
    "every_kind_of_frame_goes_through_the_kernel",
    "filters_error_filter_and_receive_own",
    "the_proxy_shares_a_socketcan_bus_between_two_channels",
    "the_shared_scenario_on_the_kernel",
];

/// One boot of the VM for the whole run, every live test inside it.
#[mptest::fixture(scope = "run")]
fn kernel() -> Result<vm::VmRun, vm::VmError> {
    let live = std::path::Path::new(env!("CARGO_BIN_EXE_socketcan-live"));
    // <target>/<profile>/socketcan-live → <target>/can-vm (the kernel is unpacked there once).
    let cache = live
        .parent()
        .and_then(|profile| profile.parent())
        .unwrap_or(std::path::Path::new("."))
        .join("can-vm");
    let run = vm::run(live, &cache, "")?;
    println!("the VM ran the live tests in {:.1} s", run.seconds);
    Ok(run)
}

/// The live test `name` passed inside the VM; its output is shown here either way.
fn passed_inside(kernel: &vm::VmRun, name: &str) {
    let test = kernel
        .tests
        .get(name)
        .unwrap_or_else(|| panic!("{name} did not run in the VM; the console:\n{}", kernel.console));
    println!("{}", test.stdout);
    assert_eq!(test.event, "ok", "{name} inside the VM: {}", test.stdout);
}

#[mp_test]
fn every_live_test_ran_in_the_vm(kernel: &vm::VmRun) {
    let inside: Vec<&str> = kernel.tests.keys().map(String::as_str).collect();
    assert_eq!(inside, LIVE_TESTS, "the list here and live/tests.rs differ");
    assert_eq!(kernel.exit_code, 0, "the live tests' exit code inside");
}

/// One test here for each live test inside, under its name.
macro_rules! passed_inside {
    ($($name:ident),* $(,)?) => {
        $(
            #[mp_test]
            fn $name(kernel: &vm::VmRun) {
                passed_inside(kernel, stringify!($name));
            }
        )*
    };
}

passed_inside!(
    a_classic_interface_takes_classic_frames_and_refuses_fd,
    a_missing_interface_is_named,
    a_trace_of_the_real_candump_reads_back_into_the_frames_sent,
    a_trace_written_by_mptest_can_is_played_by_the_real_canplayer,
    every_kind_of_frame_goes_through_the_kernel,
    filters_error_filter_and_receive_own,
    the_proxy_shares_a_socketcan_bus_between_two_channels,
    the_shared_scenario_on_the_kernel,
);

#[mp_test]
fn the_virtual_bus_receives_what_the_kernel_does(kernel: &vm::VmRun) {
    passed_inside(kernel, "the_shared_scenario_on_the_kernel");
    let on_kernel: Vec<String> = kernel.tests["the_shared_scenario_on_the_kernel"]
        .stdout
        .lines()
        .filter_map(|l| l.strip_prefix("SEEN "))
        .map(str::to_string)
        .collect();
    let bus = VirtualBus::create("scenario").unwrap();
    let on_virtual = scenario::run(&|| Box::new(bus.attach().unwrap()) as Box<dyn Bus>).unwrap();
    assert!(!on_kernel.is_empty());
    assert_eq!(on_virtual, on_kernel, "virtual bus (left) and kernel (right)");
}

/// A VM that cannot boot is a failure that names the step, at once — not a pass, not a hang.
#[mp_test(timeout = "90s")]
fn a_vm_that_does_not_boot_fails_naming_the_step() {
    let dir = std::env::temp_dir().join(format!("mptest-can-vm-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (kernel, initrd) = (dir.join("vmlinuz"), dir.join("initrd"));
    std::fs::write(&kernel, b"not a kernel").unwrap();
    std::fs::write(&initrd, b"").unwrap();
    let result = vm::boot(&kernel, &initrd);
    let _ = std::fs::remove_dir_all(&dir);
    let err = result.expect_err("a VM without a kernel gave results");
    assert_eq!(err.step, "boot", "{err}");
    assert!(
        err.to_string().starts_with("the CAN VM failed at step `boot`: "),
        "{err}"
    );
}

mptest::main!();
