//! The C library's `write` and `writev`, the calls that move fd 1 and 2 (`dup2`, `dup3`,
//! `close`), and `posix_spawn`, defined in the test binary (Linux, GNU C library).
//!
//! The linker binds the calls the binary's own code makes — std's, the test's, any statically
//! linked C code's — to these definitions rather than the C library's; each makes the system
//! call itself. A write to fd 1 or 2 of an armed worker is staged (see [`super`]); a call that
//! moves or closes fd 1 or 2 first writes out what is staged and disarms the worker, so what
//! the test writes afterwards goes where the test sent it; `posix_spawn` and `posix_spawnp`
//! (std's `Command` spawns with them, and `fork`'s handlers do not run) write out what is staged
//! first, so the child's output comes after it. Everything else is the system call or the C
//! library's function, unchanged. (A shared library's calls, the C library's own included, are
//! not bound here.)

use libc::{c_char, c_int, c_void, iovec, pid_t, posix_spawn_file_actions_t, posix_spawnattr_t, size_t, ssize_t};
use std::sync::atomic::{AtomicUsize, Ordering};

/// `write(2)`: staged for fd 1 and 2 of an armed worker.
///
/// # Safety
///
/// As `write(2)`: `buf` holds `count` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn write(fd: c_int, buf: *const c_void, count: size_t) -> ssize_t {
    if (fd == 1 || fd == 2) && count > 0 && count <= isize::MAX as usize && !buf.is_null() {
        // SAFETY: the caller's promise.
        let bytes = unsafe { std::slice::from_raw_parts(buf.cast::<u8>(), count) };
        if let Some(taken) = super::stage(fd, bytes) {
            return taken;
        }
    }
    // SAFETY: the system call with the caller's arguments.
    unsafe { libc::syscall(libc::SYS_write, fd, buf, count) as ssize_t }
}

/// `writev(2)`: for fd 1 and 2 of an armed worker, each buffer as a `write`.
///
/// # Safety
///
/// As `writev(2)`: `iov` holds `iovcnt` buffers, each with that many readable bytes.
#[no_mangle]
pub unsafe extern "C" fn writev(fd: c_int, iov: *const iovec, iovcnt: c_int) -> ssize_t {
    if (fd == 1 || fd == 2) && super::ARMED.load(std::sync::atomic::Ordering::Relaxed) && !iov.is_null() {
        // SAFETY: the caller's promise.
        let buffers = unsafe { std::slice::from_raw_parts(iov, usize::try_from(iovcnt).unwrap_or(0)) };
        let mut total: ssize_t = 0;
        for buffer in buffers {
            // SAFETY: the caller's promise, for each buffer.
            let taken = unsafe { write(fd, buffer.iov_base, buffer.iov_len) };
            if taken < 0 {
                return if total > 0 { total } else { taken };
            }
            total += taken;
            if taken as size_t != buffer.iov_len {
                break;
            }
        }
        return total;
    }
    // SAFETY: the system call with the caller's arguments.
    unsafe { libc::syscall(libc::SYS_writev, fd, iov, iovcnt) as ssize_t }
}

/// `dup2(2)`, made of `dup3` and `fcntl` as the C library makes it where there is no `dup2`
/// system call.
///
/// # Safety
///
/// As `dup2(2)`.
#[no_mangle]
pub unsafe extern "C" fn dup2(old: c_int, new: c_int) -> c_int {
    super::before_redirect(new);
    if old == new {
        // SAFETY: fcntl(2) on a descriptor number; no memory involved.
        return match unsafe { libc::syscall(libc::SYS_fcntl, old, libc::F_GETFD) } {
            -1 => -1,
            _ => new,
        };
    }
    // SAFETY: the system call with the caller's arguments.
    unsafe { libc::syscall(libc::SYS_dup3, old, new, 0) as c_int }
}

/// `dup3(2)`.
///
/// # Safety
///
/// As `dup3(2)`.
#[no_mangle]
pub unsafe extern "C" fn dup3(old: c_int, new: c_int, flags: c_int) -> c_int {
    super::before_redirect(new);
    // SAFETY: the system call with the caller's arguments.
    unsafe { libc::syscall(libc::SYS_dup3, old, new, flags) as c_int }
}

/// `close(2)`.
///
/// # Safety
///
/// As `close(2)`.
#[no_mangle]
pub unsafe extern "C" fn close(fd: c_int) -> c_int {
    super::before_redirect(fd);
    // SAFETY: the system call with the caller's arguments.
    unsafe { libc::syscall(libc::SYS_close, fd) as c_int }
}

/// `posix_spawn` and `posix_spawnp`'s type.
type Spawn = unsafe extern "C" fn(
    *mut pid_t,
    *const c_char,
    *const posix_spawn_file_actions_t,
    *const posix_spawnattr_t,
    *const *mut c_char,
    *const *mut c_char,
) -> c_int;

/// The C library's function named `name` (found once, kept in `cache`), called with `args`
/// after what is staged is written out.
///
/// # Safety
///
/// As `posix_spawn(3)`, with the caller's arguments.
unsafe fn spawn_next(name: &std::ffi::CStr, cache: &AtomicUsize, args: SpawnArgs) -> c_int {
    super::before_fork();
    let mut found = cache.load(Ordering::Relaxed);
    if found == 0 {
        // SAFETY: dlsym with a C string of ours.
        found = unsafe { libc::dlsym(libc::RTLD_NEXT, name.as_ptr()) } as usize;
        cache.store(found, Ordering::Relaxed);
    }
    if found == 0 {
        return libc::ENOSYS;
    }
    // SAFETY: the C library's function of that name, which has this type.
    let spawn = unsafe { std::mem::transmute::<usize, Spawn>(found) };
    let (pid, path, file_actions, attributes, argv, envp) = args;
    // SAFETY: the caller's arguments.
    unsafe { spawn(pid, path, file_actions, attributes, argv, envp) }
}

/// `posix_spawn` and `posix_spawnp`'s arguments.
type SpawnArgs = (
    *mut pid_t,
    *const c_char,
    *const posix_spawn_file_actions_t,
    *const posix_spawnattr_t,
    *const *mut c_char,
    *const *mut c_char,
);

/// Defines `posix_spawn` or `posix_spawnp` (same type; the second looks its `path` up in
/// `PATH`): the C library's, after what is staged is written out.
macro_rules! spawn_after_writing_out {
    ($name:ident) => {
        #[doc = concat!("`", stringify!($name), "(3)`, after what is staged is written out.")]
        ///
        /// # Safety
        ///
        #[doc = concat!("As `", stringify!($name), "(3)`.")]
        #[no_mangle]
        pub unsafe extern "C" fn $name(
            pid: *mut pid_t,
            path: *const c_char,
            file_actions: *const posix_spawn_file_actions_t,
            attributes: *const posix_spawnattr_t,
            argv: *const *mut c_char,
            envp: *const *mut c_char,
        ) -> c_int {
            static NEXT: AtomicUsize = AtomicUsize::new(0);
            let name = concat!(stringify!($name), "\0").as_bytes();
            let Ok(name) = std::ffi::CStr::from_bytes_with_nul(name) else {
                return libc::EINVAL;
            };
            // SAFETY: the caller's promise.
            unsafe { spawn_next(name, &NEXT, (pid, path, file_actions, attributes, argv, envp)) }
        }
    };
}

spawn_after_writing_out!(posix_spawn);
spawn_after_writing_out!(posix_spawnp);
