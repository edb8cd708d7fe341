//! Attribute macros of [mptest](https://docs.rs/mptest). Use them through `mptest`, which
//! re-exports them; the expansions call into `::mptest::__private`.
//!
//! On an error the original item is emitted beside a spanned `compile_error!`, so the rest of
//! the file keeps type-checking and IDEs keep working.
#![deny(missing_docs)]

// `aux` is a reserved file name on Windows.
#[path = "auxiliary.rs"]
mod aux;
mod entry;
mod fixture;
mod hooks;
mod shared;
mod suggest;
#[cfg(feature = "test-case")]
mod test_case;

use proc_macro::TokenStream;

/// Registers a test with the mptest harness. See `mptest`'s documentation.
#[proc_macro_attribute]
pub fn mp_test(args: TokenStream, item: TokenStream) -> TokenStream {
    entry::mp_test(args.into(), item.into()).into()
}

/// test-case's `#[test_case]` with mptest's test attribute. See `mptest`'s documentation.
#[cfg(feature = "test-case")]
#[proc_macro_attribute]
pub fn test_case(args: TokenStream, item: TokenStream) -> TokenStream {
    test_case::test_case(args.into(), item.into()).into()
}

/// test-case's `#[test_matrix]` with mptest's test attribute. See `mptest`'s documentation.
#[cfg(feature = "test-case")]
#[proc_macro_attribute]
pub fn test_matrix(args: TokenStream, item: TokenStream) -> TokenStream {
    test_case::test_matrix(args.into(), item.into()).into()
}

/// Makes a type shareable through an mptest manager.
///
/// - On an inherent `impl T`: generates `TProxy`, a handle on a `T` living in the manager.
///   It has a method for every `pub fn` of the block taking `&self` or `&mut self`, with the
///   same name and arguments, returning `Result<R, mptest::ProxyError>`. Private methods are
///   helpers and associated functions (no `self`) are constructors: both stay out of the
///   proxy. A `pub(crate)` method with `self`, a generic or `async` method, one taking `self`
///   by value, or one taking or returning a reference (arguments travel between processes:
///   take `String`, not `&str`) is a compile error at that method.
/// - On the type's definition (`struct` or `enum`): derives `Serialize` and `Deserialize`
///   through mptest's own serde, so the user's Cargo.toml needs none. Put it on argument and
///   result types of yours too.
///
/// ```ignore
/// #[mptest::shared]
/// #[derive(Default)]
/// pub struct Counter { n: u64 }
///
/// #[mptest::shared]
/// impl Counter {
///     pub fn incr(&mut self, by: u64) -> u64 { self.n += by; self.n }   // CounterProxy::incr
///     fn check(&self) {}                                                 // a helper: not proxied
/// }
/// ```
#[proc_macro_attribute]
pub fn shared(args: TokenStream, item: TokenStream) -> TokenStream {
    shared::shared(args.into(), item.into()).into()
}

/// Registers an auxiliary: goes on `impl mptest::aux::Auxiliary for T`, so that an aux
/// process started by `mptest::aux::start::<T>` finds `T`'s code by name. See `mptest::aux`.
#[proc_macro_attribute]
pub fn aux(args: TokenStream, item: TokenStream) -> TokenStream {
    aux::aux(args.into(), item.into()).into()
}

/// Declares a fixture: `fn name(other_fixture: &U, ...) -> T` (or `-> Result<T, E>`) becomes
/// a `static name: mptest::Fixture<T>`; a test taking `name: &T` gets its value. Options:
/// `scope = "worker"` (the default), `"group"` or `"run"`. See `mptest::fixtures`.
#[proc_macro_attribute]
pub fn fixture(args: TokenStream, item: TokenStream) -> TokenStream {
    fixture::fixture(args.into(), item.into()).into()
}

/// Runs this `fn()` in every worker process when it starts, before its first test (nose2's
/// `startSubprocess`): set up what the worker's tests share. What it prints is reported with
/// the worker's number; a panic is reported as a failed hook. See `mptest`'s documentation.
#[proc_macro_attribute]
pub fn worker_start(args: TokenStream, item: TokenStream) -> TokenStream {
    hooks::hook(
        args.into(),
        item.into(),
        "WORKER_START",
        "#[mptest::worker_start]",
    )
    .into()
}

/// Runs this `fn()` in every worker process before it stops, after its last test (nose2's
/// `stopSubprocess`). What it prints is reported with the worker's number.
#[proc_macro_attribute]
pub fn worker_stop(args: TokenStream, item: TokenStream) -> TokenStream {
    hooks::hook(args.into(), item.into(), "WORKER_STOP", "#[mptest::worker_stop]").into()
}
