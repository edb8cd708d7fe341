//! Attribute macros of [mptest](https://docs.rs/mptest). Use them through `mptest`, which
//! re-exports them; the expansions call into `::mptest::__private`.
//!
//! On an error the original item is emitted beside a spanned `compile_error!`, so the rest of
//! the file keeps type-checking and IDEs keep working.
#![deny(missing_docs)]

mod entry;
mod shared;

use proc_macro::TokenStream;

/// Registers a test with the mptest harness. See `mptest`'s documentation.
#[proc_macro_attribute]
pub fn mp_test(args: TokenStream, item: TokenStream) -> TokenStream {
    entry::mp_test(args.into(), item.into()).into()
}

/// Makes the objects of an inherent `impl` shareable through an mptest manager: generates
/// `TProxy`. See `mptest::shared`.
#[proc_macro_attribute]
pub fn shared(args: TokenStream, item: TokenStream) -> TokenStream {
    shared::shared(args.into(), item.into()).into()
}
