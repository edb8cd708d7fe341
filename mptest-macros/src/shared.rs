//! `#[mptest::shared]`: from an inherent `impl T`, a proxy type `TProxy` whose methods call the
//! object in the manager, the call and result enums that travel, and the registration.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, ToTokens};
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
        if let Ok(block) = syn::parse2::<ItemImpl>(item.clone()) {
            return expand(&block);
        }
        match syn::parse2::<syn::Item>(item.clone()) {
            Ok(syn::Item::Struct(_) | syn::Item::Enum(_)) => Ok(derive_serde(&item)),
            Ok(other) => Err(Error::new(
                other.span(),
                "#[mptest::shared] goes on an inherent `impl` block (and on the type's definition)",
            )),
            Err(err) => Err(err),
        }
    })();
    match result {
        Ok(tokens) => tokens,
        Err(err) => {
            let err = err.to_compile_error();
            quote! { #err #item }
        }
    }
}

/// The name of the type an `impl` is for (`Thermostat` in `impl a::Thermostat`); the macros
/// name the items they generate after it.
pub(crate) fn named_type(ty: &Type, attribute: &str) -> syn::Result<syn::Ident> {
    match ty {
        Type::Path(p) if p.qself.is_none() => p.path.segments.last().map(|s| s.ident.clone()),
        _ => None,
    }
    .ok_or_else(|| Error::new(ty.span(), format!("{attribute} needs a named type")))
}

/// On the type's definition: derives what travelling to the manager needs, through mptest's
/// own serde, so the user's Cargo.toml needs no serde of its own.
fn derive_serde(item: &TokenStream) -> TokenStream {
    let p = quote!(::mptest::__private);
    let serde_path = "::mptest::__private::serde";
    quote! {
        #[derive(#p::serde::Serialize, #p::serde::Deserialize)]
        #[serde(crate = #serde_path)]
        #item
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
    let ident = named_type(ty, "#[mptest::shared]")?;
    // A bad method is an error at its tokens; the rest is expanded anyway, so that uses of the
    // type and its proxy elsewhere do not fail too (one mistake, one error).
    let (methods, errors) = methods(block);
    let errors = errors.iter().map(Error::to_compile_error);

    let proxy = format_ident!("{}Proxy", ident);
    let call_enum = format_ident!("__MptestCall{}", ident);
    let ret_enum = format_ident!("__MptestRet{}", ident);
    let static_name = format_ident!("__MPTEST_SHARED_{}", ident);
    let p = quote!(::mptest::__private);
    let serde_path = "::mptest::__private::serde";

    let travel = "::mptest::__private::travel";
    // Spanned at each type, so "cannot travel" points at the type to fix.
    let travelling = |ty: &dyn ToTokens| {
        let span = ty
            .to_token_stream()
            .into_iter()
            .next()
            .map_or_else(Span::call_site, |t| t.span());
        let with = syn::LitStr::new(travel, span);
        quote::quote_spanned!(span=> #[serde(with = #with)] #ty)
    };
    let call_variants = methods.iter().map(|m| {
        let name = &m.name;
        let fields = m.args.iter().map(|(_, t)| travelling(t));
        quote!(#name(#(#fields),*))
    });
    let ret_variants = methods.iter().map(|m| {
        let name = &m.name;
        let field = travelling(&m.ret);
        quote!(#name(#field))
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
        let params: Vec<_> = m.args.iter().map(|(a, t)| quote!(#a: #t)).collect();
        let args: Vec<_> = m.args.iter().map(|(a, _)| a).collect();
        let answer = quote! {
            #ret_enum::#name(value) => ::core::result::Result::Ok(value),
            #[allow(unreachable_patterns)]
            _ => ::core::result::Result::Err(::mptest::ProxyError::Malformed(
                ::std::string::String::from("the manager answered another method"),
            )),
        };
        // With mptest's `tokio` feature, an async twin of each method.
        let twin = cfg!(feature = "tokio").then(|| {
            let async_name = format_ident!("{}_async", name);
            let doc = format!("[`{name}`](Self::{name}), awaited: it never blocks the runtime.");
            quote! {
                #[doc = #doc]
                pub async fn #async_name(&self, #(#params),*) -> ::core::result::Result<#ret, ::mptest::ProxyError> {
                    match self.inner.call_async(#call_enum::#name(#(#args),*)).await? {
                        #answer
                    }
                }
            }
        });
        quote! {
            #(#docs)*
            pub fn #name(&self, #(#params),*) -> ::core::result::Result<#ret, ::mptest::ProxyError> {
                match self.inner.call(#call_enum::#name(#(#args),*))? {
                    #answer
                }
            }
            #twin
        }
    });
    let proxy_doc = format!(
        "A handle on a [`{ident}`] living in an mptest manager: each method calls the object there \
         and returns its result, or a [`ProxyError`](::mptest::ProxyError). Clone it, send it to \
         other processes: it still reaches the same object."
    );
    let span = Span::call_site();
    Ok(quote::quote_spanned! {span=>
        #(#errors)*
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

/// The methods that get a proxy method: the `pub fn`s taking `&self` or `&mut self`. Private
/// methods are helpers and associated functions (no `self`) are constructors: both stay out.
/// A method that looks meant for the proxy but cannot be one is an error at its tokens.
fn methods(block: &ItemImpl) -> (Vec<Method>, Vec<Error>) {
    let mut methods = Vec::new();
    let mut errors = Vec::new();
    for item in &block.items {
        let ImplItem::Fn(f) = item else { continue };
        match method(f) {
            Ok(Some(m)) => methods.push(m),
            Ok(None) => {}
            Err(err) => errors.push(err),
        }
    }
    (methods, errors)
}

fn method(f: &syn::ImplItemFn) -> syn::Result<Option<Method>> {
    let sig = &f.sig;
    let Some(receiver) = sig.receiver() else {
        return Ok(None); // an associated fn: not proxied
    };
    match &f.vis {
        Visibility::Public(_) => {}
        Visibility::Inherited => return Ok(None), // a private helper
        restricted => {
            return Err(Error::new(
                restricted.span(),
                "only `pub fn`s get a method on the proxy: make this `pub`, or private if it is a helper",
            ))
        }
    }
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
                format!(
                    "shared method arguments travel between processes: take {}, not a reference",
                    owned_form(r)
                ),
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
                    format!(
                        "shared methods return values, not references: return {}",
                        owned_form(r)
                    ),
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
    Ok(Some(Method {
        name: sig.ident.clone(),
        args,
        ret,
        docs,
    }))
}

/// What to write instead of a reference: `String` for `&str`, `Vec<T>` for `&[T]`, `T` for `&T`.
fn owned_form(r: &syn::TypeReference) -> String {
    let inner = &*r.elem;
    match inner {
        Type::Path(p) if p.path.is_ident("str") => "`String`".into(),
        Type::Slice(s) => {
            let elem = &s.elem;
            format!("`Vec<{}>`", quote!(#elem).to_string().replace(' ', ""))
        }
        other => format!("`{}`", quote!(#other).to_string().replace(' ', "")),
    }
}
