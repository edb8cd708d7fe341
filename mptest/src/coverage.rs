//! Coverage of code run in mptest's processes (`-C instrument-coverage`, as `cargo llvm-cov`
//! builds).
//!
//! LLVM's profile runtime starts in a static initializer and writes the process's profile at
//! `exit`. A child, an auxiliary or a manager takes its role in a constructor that runs *before*
//! those initializers and never returns, so in them the runtime would never start and no
//! profile would be written; they start it themselves. Every mptest process then writes its
//! profile when it exits — also a leftover ended with SIGTERM (it exits through `exit`) —
//! unless it is killed with SIGKILL (a test's timeout, a leftover that ignores SIGTERM).

#[cfg(mptest_coverage)]
extern "C" {
    /// compiler-rt's: reads `LLVM_PROFILE_FILE` and registers the profile's writing at exit.
    fn __llvm_profile_initialize();
}

/// In a process that takes its role before `main`: starts the profile runtime (a no-op in a
/// build without coverage).
pub(crate) fn start_before_main() {
    #[cfg(mptest_coverage)]
    // SAFETY: compiler-rt's initializer, called once, before any profile is written; its own
    // static initializer never runs in this process (the role does not return to it).
    unsafe {
        __llvm_profile_initialize();
    }
}
