//! Tells the code whether this build is instrumented for coverage (`-C instrument-coverage`, as
//! `cargo llvm-cov` builds): then the processes that take their role before `main` start LLVM's
//! profile runtime themselves (see `src/coverage.rs`).

fn main() {
    println!("cargo:rustc-check-cfg=cfg(mptest_coverage)");
    let flags = std::env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    let args: Vec<&str> = flags.split('\u{1f}').collect();
    let instrumented = args.iter().enumerate().any(|(i, arg)| {
        let value = arg
            .strip_prefix("-C")
            .map(str::trim_start)
            .filter(|v| !v.is_empty())
            .or_else(|| {
                (*arg == "-C" || *arg == "--codegen")
                    .then(|| args.get(i + 1).copied())
                    .flatten()
            })
            .or_else(|| arg.strip_prefix("--codegen="));
        value.is_some_and(|v| {
            v == "instrument-coverage"
                || v.strip_prefix("instrument-coverage=")
                    .is_some_and(|level| !matches!(level, "no" | "n" | "off" | "false"))
        })
    });
    if instrumented {
        println!("cargo:rustc-cfg=mptest_coverage");
    }
}
