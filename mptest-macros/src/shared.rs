//! `#[mptest::shared]`: from an inherent `impl T`, a proxy type `TProxy` whose methods call the
//! object in the manager, the call and result enums that travel, and the registration.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote};
use syn::spanned::Spanned;
use syn::{Error, FnArg, ImplItem, ItemImpl, Pat, ReturnType, Type, Visibility};

/// One proxied method.
struct Method {
    name: syn::Ident,
    args: Vec<(syn::Ident, Type)>,
    ret: TokenStream,
    docs: Vec<syn::Attribute>,
}

pub(crate) fn shared(args: TokenStream, item: TokenStream) -> TokenStream {
    let result = (|| {
        if !args.is_empty() {
            return Err(Error::new(args.span(), "#[mptest::shared] takes no options"));
        }
        let block: ItemImpl = syn::parse2(item.clone())
            .map_err(|e| Error::new(e.span(), "#[mptest::shared] goes on an inherent `impl` block"))?;
        expand(&block)
    })();
    match result {
        Ok(tokens) => tokens,
        Err(err) => {
            let err = err.to_compile_error();
            quote! { #err #item }
        }
    }
}

fn expand(block: &ItemImpl) -> syn::Result<TokenStream> {
    if let Some((_, path, _)) = &block.trait_ {
        return Err(Error::new(
            path.span(),
            "#[mptest::shared] goes on an inherent `impl`, not a trait impl",
        ));
    }
    if !block.generics.params.is_empty() {
        return Err(Error::new(
            block.generics.span(),
            "generic shared types are not supported",
        ));
    }
    let ty = &block.self_ty;
    let ident = match &**ty {
        Type::Path(p) if p.qself.is_none() => p.path.segments.last().map(|s| s.ident.clone()),
        _ => None,
    }
    .ok_or_else(|| Error::new(ty.span(), "#[mptest::shared] needs a named type"))?;
    let methods = methods(block)?;

    let proxy = format_ident!("{}Proxy", ident);
    let call_enum = format_ident!("__MptestCall{}", ident);
    let ret_enum = format_ident!("__MptestRet{}", ident);
    let static_name = format_ident!("__MPTEST_SHARED_{}", ident);
    let p = quote!(::mptest::__private);
    let serde_path = "::mptest::__private::serde";

    let call_variants = methods.iter().map(|m| {
        let name = &m.name;
        let types = m.args.iter().map(|(_, t)| t);
        quote!(#name(#(#types),*))
    });
    let ret_variants = methods.iter().map(|m| {
        let name = &m.name;
        let ret = &m.ret;
        quote!(#name(#ret))
    });
    let dispatch_arms = methods.iter().map(|m| {
        let name = &m.name;
        let args: Vec<_> = m.args.iter().map(|(a, _)| a).collect();
        quote!(#call_enum::#name(#(#args),*) => #ret_enum::#name(self.#name(#(#args),*)))
    });
    let proxy_methods = methods.iter().map(|m| {
        let name = &m.name;
        let ret = &m.ret;
        let docs = &m.docs;
        let params = m.args.iter().map(|(a, t)| quote!(#a: #t));
        let args = m.args.iter().map(|(a, _)| a);
        quote! {
            #(#docs)*
            pub fn #name(&self, #(#params),*) -> ::core::result::Result<#ret, ::mptest::ProxyError> {
                match self.inner.call(#call_enum::#name(#(#args),*))? {
                    #ret_enum::#name(value) => ::core::result::Result::Ok(value),
                    #[allow(unreachable_patterns)]
                    _ => ::core::result::Result::Err(::mptest::ProxyError::Malformed(
                        ::std::string::String::from("the manager answered another method"),
                    )),
                }
            }
        }
    });
    let proxy_doc = format!(
        "A handle on a [`{ident}`] living in an mptest manager: each method calls the object there \
         and returns its result, or a [`ProxyError`](::mptest::ProxyError). Clone it, send it to \
         other processes: it still reaches the same object."
    );
    let span = Span::call_site();
    Ok(quote::quote_spanned! {span=>
        #block

        #[doc(hidden)]
        #[allow(non_camel_case_types)]
        #[derive(#p::serde::Serialize, #p::serde::Deserialize)]
        #[serde(crate = #serde_path)]
        pub enum #call_enum { #(#call_variants),* }

        #[doc(hidden)]
        #[allow(non_camel_case_types)]
        #[derive(#p::serde::Serialize, #p::serde::Deserialize)]
        #[serde(crate = #serde_path)]
        pub enum #ret_enum { #(#ret_variants),* }

        impl #p::SharedState for #ty {
            type Call = #call_enum;
            type Ret = #ret_enum;
            type Proxy = #proxy;
            const NAME: &'static str = ::core::concat!(::core::module_path!(), "::", ::core::stringify!(#ident));
            #[allow(unreachable_code)]
            fn dispatch(&mut self, call: #call_enum) -> #ret_enum {
                match call { #(#dispatch_arms),* }
            }
        }

        #[doc = #proxy_doc]
        #[derive(Clone, Debug, #p::serde::Serialize, #p::serde::Deserialize)]
        #[serde(crate = #serde_path)]
        pub struct #proxy {
            inner: #p::Proxy<#p::Locked<#ty>>,
        }

        impl ::core::convert::From<#p::Proxy<#p::Locked<#ty>>> for #proxy {
            fn from(inner: #p::Proxy<#p::Locked<#ty>>) -> Self {
                #proxy { inner }
            }
        }

        impl #proxy {
            #(#proxy_methods)*
        }

        #[#p::linkme::distributed_slice(#p::SHARED_TYPES)]
        #[linkme(crate = #p::linkme)]
        #[doc(hidden)]
        #[allow(non_upper_case_globals)]
        static #static_name: #p::SharedTypeDef = #p::SharedTypeDef {
            name: <#ty as #p::SharedState>::NAME,
            serve: #p::serve_connection::<#p::Locked<#ty>>,
        };
    })
}

/// The `pub fn`s taking `&self` or `&mut self`; misuse is an error at its tokens.
fn methods(block: &ItemImpl) -> syn::Result<Vec<Method>> {
    let mut methods = Vec::new();
    for item in &block.items {
        let ImplItem::Fn(f) = item else { continue };
        if !matches!(f.vis, Visibility::Public(_)) {
            continue;
        }
        let sig = &f.sig;
        let Some(receiver) = sig.receiver() else { continue }; // associated fn: not proxied
        if receiver.reference.is_none() {
            return Err(Error::new(
                receiver.span(),
                "shared methods take `&self` or `&mut self`: the object stays in the manager",
            ));
        }
        if !sig.generics.params.is_empty() {
            return Err(Error::new(
                sig.generics.span(),
                "shared methods cannot be generic",
            ));
        }
        if let Some(asyncness) = &sig.asyncness {
            return Err(Error::new(asyncness.span(), "shared methods cannot be `async`"));
        }
        let mut args = Vec::new();
        for (i, input) in sig.inputs.iter().enumerate() {
            let FnArg::Typed(pat) = input else { continue };
            if let Type::Reference(r) = &*pat.ty {
                return Err(Error::new(
                    r.span(),
                    "shared method arguments travel between processes: take them by value",
                ));
            }
            if let Type::ImplTrait(t) = &*pat.ty {
                return Err(Error::new(t.span(), "shared methods cannot take `impl Trait`"));
            }
            let name = match &*pat.pat {
                Pat::Ident(p) => p.ident.clone(),
                _ => format_ident!("arg{}", i),
            };
            args.push((name, (*pat.ty).clone()));
        }
        let ret = match &sig.output {
            ReturnType::Default => quote!(()),
            ReturnType::Type(_, ty) => {
                if let Type::Reference(r) = &**ty {
                    return Err(Error::new(
                        r.span(),
                        "shared methods return values, not references",
                    ));
                }
                quote!(#ty)
            }
        };
        let docs = f
            .attrs
            .iter()
            .filter(|a| a.path().is_ident("doc"))
            .cloned()
            .collect();
        methods.push(Method {
            name: sig.ident.clone(),
            args,
            ret,
            docs,
        });
    }
    Ok(methods)
}
