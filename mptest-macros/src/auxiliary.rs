//! `#[mptest::aux]`: registers an `impl Auxiliary for T` at link time.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Error, ItemImpl};

pub(crate) fn aux(args: TokenStream, item: TokenStream) -> TokenStream {
    match expand(args, item.clone()) {
        Ok(tokens) => tokens,
        Err(err) => {
            let err = err.to_compile_error();
            quote! { #err #item }
        }
    }
}

fn expand(args: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    if !args.is_empty() {
        return Err(Error::new(args.span(), "#[mptest::aux] takes no options"));
    }
    let block: ItemImpl = syn::parse2(item)
        .map_err(|e| Error::new(e.span(), "#[mptest::aux] goes on `impl Auxiliary for YourType`"))?;
    let is_auxiliary = block
        .trait_
        .as_ref()
        .and_then(|(_, path, _)| path.segments.last())
        .is_some_and(|s| s.ident == "Auxiliary");
    if !is_auxiliary {
        let span = block
            .trait_
            .as_ref()
            .map_or(block.self_ty.span(), |(_, p, _)| p.span());
        return Err(Error::new(
            span,
            "#[mptest::aux] goes on `impl Auxiliary for YourType`",
        ));
    }
    if !block.generics.params.is_empty() {
        return Err(Error::new(
            block.generics.span(),
            "a registered auxiliary cannot be generic: its process finds it by its type's name",
        ));
    }
    let ty = &block.self_ty;
    let ident = crate::shared::named_type(ty, "#[mptest::aux]")?;
    let static_name = format_ident!("__MPTEST_AUX_{}", ident);
    let p = quote!(::mptest::__private);
    let span = Span::call_site();
    Ok(quote_spanned! {span=>
        #block

        #[#p::linkme::distributed_slice(#p::AUX_TYPES)]
        #[linkme(crate = #p::linkme)]
        #[doc(hidden)]
        #[allow(non_upper_case_globals)]
        static #static_name: #p::AuxTypeDef = #p::aux_type_def::<#ty>();
    })
}
