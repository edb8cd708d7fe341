//! `#[mptest::worker_start]` and `#[mptest::worker_stop]`: register a plain `fn()` to run when
//! a worker process starts, or before it stops.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Error, ItemFn, ReturnType};

/// `slice` is `WORKER_START` or `WORKER_STOP`; `attribute` names the attribute in errors.
pub(crate) fn hook(args: TokenStream, item: TokenStream, slice: &str, attribute: &str) -> TokenStream {
    match expand(args, item.clone(), slice, attribute) {
        Ok(tokens) => tokens,
        Err(err) => {
            let err = err.to_compile_error();
            quote! { #err #item }
        }
    }
}

fn expand(args: TokenStream, item: TokenStream, slice: &str, attribute: &str) -> syn::Result<TokenStream> {
    if !args.is_empty() {
        return Err(Error::new(args.span(), format!("{attribute} takes no options")));
    }
    let function: ItemFn = syn::parse2(item).map_err(|e| {
        Error::new(
            e.span(),
            format!("{attribute} goes on a function: `fn name() {{ ... }}`"),
        )
    })?;
    let sig = &function.sig;
    if !sig.inputs.is_empty() || !sig.generics.params.is_empty() || sig.asyncness.is_some() {
        return Err(Error::new(
            sig.span(),
            format!("{attribute} goes on a plain `fn name()`: no arguments, no generics, not async"),
        ));
    }
    if !matches!(sig.output, ReturnType::Default) {
        return Err(Error::new(
            sig.output.span(),
            format!("{attribute} functions return nothing: panic to report a failure"),
        ));
    }
    let name = &sig.ident;
    let label = name.to_string();
    let slice = format_ident!("{}", slice);
    let static_name = format_ident!("__MPTEST_HOOK_{}", name);
    let p = quote!(::mptest::__private);
    let span = Span::call_site();
    Ok(quote_spanned! {span=>
        #function

        #[#p::linkme::distributed_slice(#p::#slice)]
        #[linkme(crate = #p::linkme)]
        #[doc(hidden)]
        #[allow(non_upper_case_globals)]
        static #static_name: #p::WorkerHook = #p::WorkerHook {
            name: #label,
            module_path: ::core::module_path!(),
            run: #name,
        };
    })
}
