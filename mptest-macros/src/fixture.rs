//! `#[mptest::fixture]`: turns `fn name(deps...) -> T` into a `static name: mptest::Fixture<T>`
//! that tests (and other fixtures) name as parameters.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{
    parse::Parser, Error, FnArg, GenericArgument, Ident, ItemFn, LitStr, Pat, PathArguments, ReturnType, Type,
};

pub(crate) fn fixture(args: TokenStream, item: TokenStream) -> TokenStream {
    match expand(args, item.clone()) {
        Ok(tokens) => tokens,
        Err(err) => {
            let err = err.to_compile_error();
            quote! { #err #item }
        }
    }
}

/// The parameters of a test or fixture that name fixtures: `name: &T` → `name`.
pub(crate) fn fixture_params(func: &ItemFn, what: &str) -> syn::Result<Vec<Ident>> {
    let mut names = Vec::new();
    for input in &func.sig.inputs {
        let FnArg::Typed(arg) = input else {
            return Err(Error::new(
                input.span(),
                format!("{what} functions take no `self`"),
            ));
        };
        let Pat::Ident(pat) = &*arg.pat else {
            return Err(Error::new(
                arg.pat.span(),
                format!("{what} parameters name fixtures: write `fixture_name: &Type`"),
            ));
        };
        if !matches!(&*arg.ty, Type::Reference(r) if r.mutability.is_none()) {
            let ty = match &*arg.ty {
                Type::Reference(r) => &r.elem,
                other => other,
            };
            let ident = &pat.ident;
            return Err(Error::new(
                arg.ty.span(),
                format!(
                    "{what} parameters name fixtures, which are shared: take `{ident}: &{}` where `{ident}` is a #[mptest::fixture]",
                    quote!(#ty)
                ),
            ));
        }
        names.push(pat.ident.clone());
    }
    Ok(names)
}

fn parse_scope(args: TokenStream) -> syn::Result<TokenStream> {
    let mut scope = quote!(Worker);
    let mut run = false;
    let parser = syn::meta::parser(|meta| {
        if meta.path.is_ident("scope") {
            let lit: LitStr = meta.value()?.parse()?;
            scope = match lit.value().as_str() {
                "worker" => quote!(Worker),
                "group" => quote!(Group),
                "run" => {
                    run = true;
                    quote!(Run)
                }
                other => {
                    return Err(Error::new(
                        lit.span(),
                        match crate::suggest::nearest(other, &["worker", "group", "run"]) {
                            Some(near) => format!(
                                "unknown scope {other:?} (did you mean \"{near}\"?); the scopes are \"worker\", \"group\" and \"run\""
                            ),
                            None => format!("unknown scope {other:?}: expected \"worker\", \"group\" or \"run\""),
                        },
                    ))
                }
            };
            Ok(())
        } else {
            let typed = meta.path.get_ident().map(ToString::to_string).unwrap_or_default();
            let hint = match crate::suggest::nearest(&typed, &["scope"]) {
                Some(near) => format!(" (did you mean `{near}`?)"),
                None => String::new(),
            };
            Err(meta.error(format!(
                "unknown fixture option `{typed}`{hint}; the one option is `scope = \"worker\" | \"group\" | \"run\"`"
            )))
        }
    });
    parser.parse2(args)?;
    Ok(if run { quote!(Run) } else { scope })
}

/// `Result<T, E>` (any path ending in `Result`): `Some(T)`.
fn result_value_type(ty: &Type) -> Option<&Type> {
    let Type::Path(path) = ty else { return None };
    let last = path.path.segments.last()?;
    if last.ident != "Result" {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    match args.args.first()? {
        GenericArgument::Type(t) => Some(t),
        _ => None,
    }
}

fn expand(args: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    // A bad option is one error: the fixture is still made (with the default scope), so the
    // tests that use it do not fail too.
    let (scope, option_error) = match parse_scope(args) {
        Ok(scope) => (scope, None),
        Err(err) => (quote!(Worker), Some(err.to_compile_error())),
    };
    let func: ItemFn = syn::parse2(item).map_err(|e| {
        Error::new(
            e.span(),
            "#[mptest::fixture] goes on a function: `fn name() -> T { ... }`",
        )
    })?;
    let sig = &func.sig;
    if !sig.generics.params.is_empty() || sig.unsafety.is_some() {
        return Err(Error::new(
            sig.span(),
            "#[mptest::fixture] goes on a plain function: not generic, not unsafe",
        ));
    }
    if let (Some(asyncness), false) = (&sig.asyncness, cfg!(feature = "tokio")) {
        return Err(Error::new(
            asyncness.span(),
            "an `async fn` fixture needs mptest's `tokio` feature: in Cargo.toml, \
             `mptest = { version = \"0.1\", features = [\"tokio\"] }`",
        ));
    }
    let ReturnType::Type(_, returned) = &sig.output else {
        return Err(Error::new(
            sig.ident.span(),
            "a fixture returns its value: `fn name() -> T` (or `-> Result<T, E>`); teardown is T's Drop",
        ));
    };
    let deps = fixture_params(&func, "fixture")?;
    let name = &sig.ident;
    let label = name.to_string();
    let vis = &func.vis;
    let inputs = &sig.inputs;
    let block = &func.block;
    let p = quote!(::mptest::__private);
    let asyncness = &sig.asyncness;
    // An async fixture is set up on the runtime the process keeps for fixtures.
    let setup_call = match asyncness {
        Some(_) => quote!(#p::run_fixture(__user(#(&#deps),*))),
        None => quote!(__user(#(&#deps),*)),
    };
    let docs: Vec<_> = func.attrs.iter().filter(|a| a.path().is_ident("doc")).collect();
    let other_attrs: Vec<_> = func.attrs.iter().filter(|a| !a.path().is_ident("doc")).collect();
    let (value, into_result) = match result_value_type(returned) {
        Some(value) => (
            quote!(#value),
            quote!(::core::result::Result::map_err(__value, |e| ::std::format!(
                "its setup returned Err: {e:?}"
            ))),
        ),
        None => (quote!(#returned), quote!(::core::result::Result::Ok(__value))),
    };
    let (serve, getter) = if scope.to_string() == "Run" {
        (
            quote!(::core::option::Option::Some(|reply| <#name as #p::FixtureName>::fixture().__serve(reply))),
            quote!(::mptest::Fixture::<#value>::__get_run),
        )
    } else {
        (
            quote!(::core::option::Option::None),
            quote!(::mptest::Fixture::<#value>::__get_local),
        )
    };
    let register = Ident::new(&format!("__MPTEST_FIXTURE_{name}"), name.span());
    let span = Span::call_site();
    Ok(quote_spanned! {span=>
        #option_error
        #(#docs)*
        ///
        /// (An mptest fixture: name it as a test's parameter to get its value.)
        #[allow(non_camel_case_types)]
        #vis struct #name {
            _not_built: ::core::convert::Infallible,
        }

        impl #p::FixtureName for #name {
            type Value = #value;

            fn fixture() -> &'static ::mptest::Fixture<#value> {
                static FIXTURE: ::mptest::Fixture<#value> = ::mptest::Fixture::__new(
                    #p::FixtureDecl {
                        name: #label,
                        module_path: ::core::module_path!(),
                        scope: #p::Scope::#scope,
                        deps: &[#(<#deps as #p::FixtureName>::decl),*],
                        serve: #serve,
                        teardown: || <#name as #p::FixtureName>::fixture().__teardown(),
                    },
                    {
                        fn __setup() -> ::core::result::Result<#value, ::std::string::String> {
                            let __me = <#name as #p::FixtureName>::decl();
                            #(let #deps = #p::for_fixture::<#deps>(__me)?;)*
                            #(#other_attrs)*
                            #asyncness fn __user(#inputs) -> #returned #block
                            let __value = #setup_call;
                            #into_result
                        }
                        __setup
                    },
                    #getter,
                );
                &FIXTURE
            }
        }

        #[#p::linkme::distributed_slice(#p::FIXTURES)]
        #[linkme(crate = #p::linkme)]
        #[doc(hidden)]
        #[allow(non_upper_case_globals)]
        static #register: fn() -> &'static #p::FixtureDecl = <#name as #p::FixtureName>::decl;
    })
}
