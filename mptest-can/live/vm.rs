//! The VM runner: boots a Linux kernel with CAN support in QEMU and runs the SocketCAN live
//! tests (`socketcan-live`, the binary of `live/bin.rs`) inside it, on `vcan0` (FD MTU) and
//! `vcan1` (classic MTU), with can-utils' `candump` and `canplayer` beside them.
//!
//! Steps, each named in the error when it fails:
//! 1. *tools*: `qemu-system-x86_64`, a static `busybox`, `cpio`, `candump`, `canplayer` —
//!    installed with apt-get when missing (as root);
//! 2. *kernel*: Debian's `linux-image-amd64` (its `vmlinuz` and the `can`, `can-raw`,
//!    `can-dev` and `vcan` modules), fetched with `apt-get download` and unpacked with
//!    `dpkg-deb -x` into `<target>/can-vm/`, once;
//! 3. *initramfs*: busybox, the modules, the live-test binary and can-utils with the shared
//!    libraries they load, and an `/init` that loads the modules, brings the interfaces up and
//!    runs the tests with `--format json`;
//! 4. *boot* and *tests*: QEMU without KVM (plain emulation boots in seconds here), its serial
//!    console read line by line. What bounds a step is the console's silence, not the step's
//!    length: every line is progress and moves the deadline on (a loaded machine boots slowly
//!    but steadily); a console silent for a step's limit gets QEMU killed and names the step
//!    and the console's tail.

use std::collections::BTreeMap;
use std::io::{BufRead, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// The longest silence of the console while the VM boots and sets up.
const BOOT_LIMIT: Duration = Duration::from_secs(60);
/// The longest silence of the console while the tests run (one test may take a while).
const TESTS_LIMIT: Duration = Duration::from_secs(90);
/// For one installing or unpacking command.
const COMMAND_LIMIT: Duration = Duration::from_secs(300);

/// The modules vcan needs, in the order they are loaded.
const MODULES: [&str; 4] = [
    "kernel/net/can/can.ko",
    "kernel/net/can/can-raw.ko",
    "kernel/drivers/net/can/dev/can-dev.ko",
    "kernel/drivers/net/can/vcan.ko",
];

/// One live test's result inside the VM.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InsideTest {
    /// `ok`, `failed` or `ignored`.
    pub event: String,
    /// What it printed (with the failure's message).
    pub stdout: String,
}

/// What a run in the VM gave.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VmRun {
    /// Each live test's result, by name.
    pub tests: BTreeMap<String, InsideTest>,
    /// The live-test harness's exit code inside.
    pub exit_code: i32,
    /// Seconds from starting QEMU to the VM's power-off.
    pub seconds: f64,
    /// The serial console, for when something needs explaining.
    pub console: String,
}

/// Why the VM run did not give results: the step, and what went wrong in it.
#[derive(Debug, Clone, Serialize, Deserialize, thiserror::Error)]
#[error("the CAN VM failed at step `{step}`: {reason}")]
pub struct VmError {
    /// tools, kernel, initramfs, boot, modules, interfaces or tests.
    pub step: String,
    /// What happened, with the console's last lines where there is a console.
    pub reason: String,
}

fn fail(step: &str, reason: impl Into<String>) -> VmError {
    VmError {
        step: step.into(),
        reason: reason.into(),
    }
}

/// Runs `command` to its end within [`COMMAND_LIMIT`]; its output, or why not.
fn run_bounded(step: &str, command: &mut Command) -> Result<String, VmError> {
    let described = format!("{command:?}");
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| fail(step, format!("{described}: {e}")))?;
    let (mut out, mut err) = (child.stdout.take(), child.stderr.take());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(out) = out.as_mut() {
            let _ = out.read_to_string(&mut text);
        }
        if let Some(err) = err.as_mut() {
            let _ = err.read_to_string(&mut text);
        }
        let _ = tx.send(text);
    });
    let text = match rx.recv_timeout(COMMAND_LIMIT) {
        Ok(text) => text,
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(fail(
                step,
                format!("{described} took over {COMMAND_LIMIT:?}; killed"),
            ));
        }
    };
    let status = child.wait().map_err(|e| fail(step, e.to_string()))?;
    if !status.success() {
        return Err(fail(step, format!("{described}: {status}\n{text}")));
    }
    Ok(text)
}

fn on_path(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Step 1: the tools, installed when missing.
fn tools() -> Result<(), VmError> {
    let wanted = [
        ("qemu-system-x86_64", "qemu-system-x86"),
        ("busybox", "busybox-static"),
        ("cpio", "cpio"),
        ("candump", "can-utils"),
        ("canplayer", "can-utils"),
    ];
    let missing: Vec<&str> = wanted
        .iter()
        .filter(|(tool, _)| !on_path(tool))
        .map(|(_, package)| *package)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 || !on_path("apt-get") {
        return Err(fail(
            "tools",
            format!(
                "missing {missing:?}: install them (apt-get install {})",
                missing.join(" ")
            ),
        ));
    }
    run_bounded("tools", Command::new("apt-get").args(["update", "-qq"]))?;
    run_bounded(
        "tools",
        Command::new("apt-get")
            .args(["install", "-y", "-qq"])
            .args(&missing)
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )?;
    Ok(())
}

/// Step 2: the kernel and its modules directory, unpacked once into `cache`.
fn kernel(cache: &Path) -> Result<(PathBuf, PathBuf), VmError> {
    let unpacked = cache.join("kernel");
    let find = |unpacked: &Path| -> Option<(PathBuf, PathBuf)> {
        let boot = std::fs::read_dir(unpacked.join("boot")).ok()?;
        let vmlinuz = boot.flatten().map(|e| e.path()).find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("vmlinuz-"))
        })?;
        let version = vmlinuz
            .file_name()?
            .to_string_lossy()
            .trim_start_matches("vmlinuz-")
            .to_string();
        let modules = unpacked.join("lib/modules").join(version);
        modules.join(MODULES[3]).exists().then_some((vmlinuz, modules))
    };
    if let Some(found) = find(&unpacked) {
        return Ok(found);
    }
    let download = cache.join(format!("download-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&download);
    std::fs::create_dir_all(&download).map_err(|e| fail("kernel", e.to_string()))?;
    let package = match download_kernel(&download) {
        Ok(package) => package,
        // Package lists older than the archive name a kernel it no longer has: refresh them once.
        Err(first) => {
            run_bounded("kernel", Command::new("apt-get").args(["update", "-qq"])).map_err(|_| first)?;
            download_kernel(&download)?
        }
    };
    let deb = std::fs::read_dir(&download)
        .map_err(|e| fail("kernel", e.to_string()))?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "deb"))
        .ok_or_else(|| fail("kernel", format!("apt-get download {package} left no .deb")))?;
    // Unpacked beside, then renamed: a run beside this one (nextest runs each test in a process
    // of its own) never sees half a kernel.
    let partial = cache.join(format!("kernel.partial-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&partial);
    run_bounded(
        "kernel",
        Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&partial),
    )?;
    let _ = std::fs::remove_dir_all(&download);
    // Only the kernel and the four modules are kept (the package holds half a gigabyte).
    let (vmlinuz, modules) = find(&partial)
        .ok_or_else(|| fail("kernel", format!("{package} has no vmlinuz or no vcan module")))?;
    let slim = cache.join(format!("kernel.slim-{}", std::process::id()));
    let keep = MODULES.iter().map(|m| modules.join(m)).chain([vmlinuz]);
    for file in keep {
        let inside = file
            .strip_prefix(&partial)
            .map_err(|e| fail("kernel", e.to_string()))?;
        put(&slim, &file, &Path::new("/").join(inside)).map_err(|e| fail("kernel", e.reason))?;
    }
    let _ = std::fs::remove_dir_all(&partial);
    if std::fs::rename(&slim, &unpacked).is_err() {
        // Another run got there first.
        let _ = std::fs::remove_dir_all(&slim);
    }
    find(&unpacked).ok_or_else(|| fail("kernel", format!("{package} has no vmlinuz or no vcan module")))
}

/// Downloads the kernel image package that `linux-image-amd64` (a metapackage) depends on into
/// `dir`; returns its name.
fn download_kernel(dir: &Path) -> Result<String, VmError> {
    let depends = run_bounded(
        "kernel",
        Command::new("apt-cache").args(["depends", "linux-image-amd64"]),
    )?;
    let package = depends
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Depends: "))
        .find(|p| p.starts_with("linux-image-"))
        .ok_or_else(|| {
            fail(
                "kernel",
                format!("no kernel image among linux-image-amd64's dependencies:\n{depends}"),
            )
        })?
        .to_string();
    run_bounded(
        "kernel",
        Command::new("apt-get")
            .args(["download", &package])
            .current_dir(dir),
    )?;
    Ok(package)
}

/// The shared libraries `binary` loads (as `ldd` names them): absolute paths.
fn libraries(binary: &Path) -> Result<Vec<PathBuf>, VmError> {
    let out = run_bounded("initramfs", Command::new("ldd").arg(binary)).unwrap_or_default();
    Ok(out
        .lines()
        .filter_map(|l| l.split_whitespace().find(|w| w.starts_with('/')))
        .map(PathBuf::from)
        .collect())
}

/// Copies `from` to `root` + `to` (an absolute path inside), making its directory.
fn put(root: &Path, from: &Path, to: &Path) -> Result<(), VmError> {
    let target = root.join(to.strip_prefix("/").unwrap_or(to));
    if let Some(dir) = target.parent() {
        std::fs::create_dir_all(dir).map_err(|e| fail("initramfs", e.to_string()))?;
    }
    std::fs::copy(from, &target)
        .map(drop)
        .map_err(|e| fail("initramfs", format!("copying {}: {e}", from.display())))
}

fn which(tool: &str) -> Result<PathBuf, VmError> {
    let out = run_bounded(
        "initramfs",
        Command::new("sh").args(["-c", &format!("command -v {tool}")]),
    )?;
    Ok(PathBuf::from(out.trim()))
}

/// The VM's `/init`.
fn init_script(tests: &str) -> String {
    let modules: String = MODULES
        .iter()
        .map(|m| {
            format!(
                "insmod /modules/{} || fail modules\n",
                Path::new(m).file_name().unwrap_or_default().to_string_lossy()
            )
        })
        .collect();
    format!(
        r#"#!/bin/sh
export PATH=/bin:/usr/bin
fail() {{ echo "MPTEST-VM failed $1"; poweroff -f; }}
mount -t proc proc /proc
# The kernel said its boot on the console (progress); from here on its messages would break
# the lines the tests print.
echo 1 > /proc/sys/kernel/printk
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
echo "MPTEST-VM step boot"
{modules}echo "MPTEST-VM step modules"
ip link set up lo
ip link add dev vcan0 type vcan && ip link set vcan0 mtu 72 && ip link set up vcan0 || fail interfaces
ip link add dev vcan1 type vcan && ip link set vcan1 mtu 16 && ip link set up vcan1 || fail interfaces
echo "MPTEST-VM step interfaces"
cd /tmp
MPTEST_CAN_INTERFACE=vcan0 MPTEST_CAN_INTERFACE_CLASSIC=vcan1 TMPDIR=/tmp RUST_BACKTRACE=0 \
  /socketcan-live {tests} --include-ignored --show-output --format json -Z unstable-options --test-threads 2
echo "MPTEST-VM done $?"
poweroff -f
"#
    )
}

/// Step 3: the initramfs, as an uncompressed cpio archive.
fn initramfs(cache: &Path, live: &Path, modules: &Path, tests: &str) -> Result<PathBuf, VmError> {
    // This run's own: runs beside it build theirs.
    let root = cache.join(format!("root-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    for dir in ["bin", "proc", "sys", "dev", "tmp", "modules"] {
        std::fs::create_dir_all(root.join(dir)).map_err(|e| fail("initramfs", e.to_string()))?;
    }
    for applet in ["sh", "mount", "insmod", "ip", "echo", "poweroff", "cat", "ls"] {
        std::os::unix::fs::symlink("busybox", root.join("bin").join(applet))
            .map_err(|e| fail("initramfs", e.to_string()))?;
    }
    for module in MODULES {
        let from = modules.join(module);
        let name = from.file_name().unwrap_or_default().to_owned();
        put(&root, &from, &Path::new("/modules").join(name))?;
    }
    // busybox-static's has no libraries; a dynamic busybox gets its own like the rest.
    let mut binaries = vec![
        (which("busybox")?, PathBuf::from("/bin/busybox")),
        (live.to_path_buf(), PathBuf::from("/socketcan-live")),
    ];
    for tool in ["candump", "canplayer"] {
        binaries.push((which(tool)?, PathBuf::from("/bin").join(tool)));
    }
    for (from, to) in &binaries {
        put(&root, from, to)?;
        for library in libraries(from)? {
            put(&root, &library, &library)?;
        }
    }
    let init = root.join("init");
    std::fs::write(&init, init_script(tests)).map_err(|e| fail("initramfs", e.to_string()))?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&init, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| fail("initramfs", e.to_string()))?;
    let archive = cache.join(format!("initramfs-{}.cpio", std::process::id()));
    run_bounded(
        "initramfs",
        Command::new("sh")
            .arg("-c")
            .arg(format!(
                "find . | cpio -o -H newc --quiet > '{}'",
                archive.display()
            ))
            .current_dir(&root),
    )?;
    let _ = std::fs::remove_dir_all(&root);
    Ok(archive)
}

/// Boots the VM and runs the live tests named by `filter` (all when empty) inside it.
pub fn run(live: &Path, cache: &Path, filter: &str) -> Result<VmRun, VmError> {
    std::fs::create_dir_all(cache).map_err(|e| fail("tools", format!("{}: {e}", cache.display())))?;
    tools()?;
    let (vmlinuz, modules) = kernel(cache)?;
    let initrd = initramfs(cache, live, &modules, filter)?;
    let run = boot(&vmlinuz, &initrd);
    let _ = std::fs::remove_file(&initrd);
    run
}

/// Step 4: boots, reads the console, kills QEMU past a deadline.
pub fn boot(vmlinuz: &Path, initrd: &Path) -> Result<VmRun, VmError> {
    let started = Instant::now();
    let mut qemu = Command::new("qemu-system-x86_64")
        .args([
            "-m",
            "512",
            "-smp",
            "2",
            "-nographic",
            "-no-reboot",
            "-nic",
            "none",
        ])
        .arg("-kernel")
        .arg(vmlinuz)
        .arg("-initrd")
        .arg(initrd)
        // The kernel says its boot on the console, from its decompression on: every line moves
        // the silence's deadline on, so a loaded machine's slow boot is seen to progress (a
        // quiet one was a single silence of its whole boot). `/init` quiets it.
        .args([
            "-append",
            "console=ttyS0 earlyprintk=serial,ttyS0 panic=-1 loglevel=6",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| fail("boot", format!("qemu-system-x86_64: {e}")))?;
    let (tx, lines) = mpsc::channel::<String>();
    if let Some(stdout) = qemu.stdout.take() {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).split(b'\n').map_while(Result::ok) {
                let line = String::from_utf8_lossy(&line).trim_end_matches('\r').to_string();
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
    }
    if let Some(mut stderr) = qemu.stderr.take() {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            for line in text.lines() {
                let _ = tx.send(format!("qemu: {line}"));
            }
        });
    }
    let mut console = String::new();
    let mut step = "boot".to_string();
    let mut deadline = started + BOOT_LIMIT;
    let mut tests = BTreeMap::new();
    let mut exit_code = None;
    let outcome = loop {
        let wait = deadline.saturating_duration_since(Instant::now());
        let line = match lines.recv_timeout(wait) {
            Ok(line) => line,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                break Err(format!("the console was silent for {:?}", wait_limit(&step)));
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break Ok(()),
        };
        console.push_str(&line);
        console.push('\n');
        deadline = Instant::now() + wait_limit(&step);
        if let Some(reached) = line.strip_prefix("MPTEST-VM step ") {
            step = match reached {
                "boot" => "modules",
                "modules" => "interfaces",
                _ => "tests",
            }
            .to_string();
            deadline = Instant::now() + wait_limit(&step);
        } else if let Some(failed) = line.strip_prefix("MPTEST-VM failed ") {
            step = failed.to_string();
            break Err("the VM's init script says this step failed".into());
        } else if let Some(code) = line.strip_prefix("MPTEST-VM done ") {
            exit_code = code.trim().parse().ok();
        } else if let Ok(event) = serde_json::from_str::<serde_json::Value>(&line) {
            if event["type"] == "test" && event["event"] != "started" {
                if let Some(name) = event["name"].as_str() {
                    tests.insert(
                        name.to_string(),
                        InsideTest {
                            event: event["event"].as_str().unwrap_or_default().to_string(),
                            stdout: event["stdout"].as_str().unwrap_or_default().to_string(),
                        },
                    );
                }
            }
        }
    };
    let _ = qemu.kill();
    let _ = qemu.wait();
    let tail = || {
        console
            .lines()
            .rev()
            .take(40)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n")
    };
    match (outcome, exit_code) {
        (Ok(()), Some(exit_code)) => Ok(VmRun {
            tests,
            exit_code,
            seconds: started.elapsed().as_secs_f64(),
            console,
        }),
        (Ok(()), None) => Err(fail(
            &step,
            format!("QEMU ended before the tests did; the console's end:\n{}", tail()),
        )),
        (Err(why), _) => Err(fail(
            &step,
            format!("{why}; QEMU was killed. The console's end:\n{}", tail()),
        )),
    }
}

fn wait_limit(step: &str) -> Duration {
    if step == "tests" {
        TESTS_LIMIT
    } else {
        BOOT_LIMIT
    }
}
