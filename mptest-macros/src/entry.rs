//! `#[mp_test]`: option parsing, signature checks and the registration it expands to.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;
use syn::{parse::Parser, Error, ItemFn, LitInt, LitStr, ReturnType};

/// The options of one `#[mp_test(...)]`.
#[derive(Default)]
struct Options {
    timeout_nanos: Option<u64>,
    ignore: Option<String>,
    ignore_if: Option<syn::Path>,
    should_panic: Option<Option<String>>,
    retries: u32,
    group: Option<String>,
    serial: bool,
    /// `flavor = ".."`, an async test's runtime (`None`: current thread), as `#[tokio::test]`.
    flavor: Option<(Flavor, Span)>,
    worker_threads: Option<(usize, Span)>,
    start_paused: Option<(bool, Span)>,
    /// `name = ".."`: the runtime's name (tokio 1.51 on).
    runtime_name: Option<(String, Span)>,
    /// `unhandled_panic = "shutdown_runtime"` or `"ignore"` (tokio's, under `tokio_unstable`).
    unhandled_panic: Option<(syn::Ident, Span)>,
    /// `crate = ".."`: where tokio is, for `#[tokio::test]`; mptest's tokio is that very crate.
    tokio_crate: Option<Span>,
}

/// `#[tokio::test]`'s runtime flavors.
#[derive(Clone, Copy, PartialEq)]
enum Flavor {
    CurrentThread,
    MultiThread,
    /// tokio's `LocalRuntime` (1.51 on): a current-thread runtime whose tasks need not be `Send`.
    Local,
}

pub(crate) fn mp_test(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut func: ItemFn = match syn::parse2(item.clone()) {
        Ok(func) => func,
        Err(err) => {
            let err = Error::new(err.span(), "#[mp_test] goes on a function");
            return with_error(item, err);
        }
    };
    let mut options = match parse_options(args) {
        Ok(options) => options,
        Err(err) => return with_error(item, err),
    };
    if let Err(err) = take_libtest_attributes(&mut func, &mut options) {
        return with_error(item, err);
    }
    options.serial |= serial_test_serial(&func);
    if let Err(err) = check_signature(&func, &options) {
        return with_error(item, err);
    }
    expand(&func, &options)
}

fn with_error(item: TokenStream, err: Error) -> TokenStream {
    let err = err.to_compile_error();
    quote! { #err #item }
}

/// The options `#[mp_test(...)]` takes.
const OPTIONS: &[&str] = &[
    "timeout",
    "ignore",
    "ignore_if",
    "should_panic",
    "retries",
    "group",
    "serial",
    "flavor",
    "worker_threads",
    "start_paused",
    "name",
    "unhandled_panic",
    "crate",
];

fn parse_options(args: TokenStream) -> syn::Result<Options> {
    let mut options = Options::default();
    let parser = syn::meta::parser(|meta| {
        let path = &meta.path;
        if path.is_ident("timeout") {
            let value: syn::Lit = meta.value()?.parse()?;
            let lit = match value {
                syn::Lit::Str(lit) => lit,
                syn::Lit::Int(n) => {
                    return Err(Error::new(
                        n.span(),
                        format!(
                            "a timeout is a string with its unit: write `timeout = \"{}s\"`",
                            n.base10_digits()
                        ),
                    ))
                }
                other => {
                    return Err(Error::new(
                        other.span(),
                        "a timeout is a string with its unit, like `timeout = \"5s\"`",
                    ))
                }
            };
            let duration = humantime::parse_duration(&lit.value()).map_err(|err| {
                Error::new(
                    lit.span(),
                    format!(
                        "bad duration {:?}: {err} (write it like \"5s\" or \"1m 30s\")",
                        lit.value()
                    ),
                )
            })?;
            if duration.is_zero() {
                return Err(Error::new(lit.span(), "a timeout must be longer than zero"));
            }
            let nanos =
                u64::try_from(duration.as_nanos()).map_err(|_| Error::new(lit.span(), "timeout too long"))?;
            options.timeout_nanos = Some(nanos);
        } else if path.is_ident("ignore") {
            let reason = if meta.input.peek(syn::Token![=]) {
                meta.value()?.parse::<LitStr>()?.value()
            } else {
                String::new()
            };
            // The first one counts.
            options.ignore.get_or_insert(reason);
        } else if path.is_ident("ignore_if") {
            options.ignore_if = Some(meta.value()?.parse::<syn::Path>().map_err(|err| {
                Error::new(
                    err.span(),
                    "`ignore_if` names a function `fn() -> Option<String>`, like `ignore_if = no_can`",
                )
            })?);
        } else if path.is_ident("should_panic") {
            let expected = if meta.input.peek(syn::Token![=]) {
                Some(meta.value()?.parse::<LitStr>()?.value())
            } else if meta.input.peek(syn::token::Paren) {
                // libtest's spelling: should_panic(expected = "...")
                let mut expected = None;
                meta.parse_nested_meta(|inner| expected_substring(inner, &mut expected))?;
                expected
            } else {
                None
            };
            // The last one counts.
            options.should_panic = Some(expected);
        } else if path.is_ident("retries") {
            options.retries = meta.value()?.parse::<LitInt>()?.base10_parse()?;
        } else if path.is_ident("group") {
            let group: LitStr = meta.value()?.parse()?;
            if group.value().is_empty() {
                return Err(Error::new(group.span(), "a group needs a name"));
            }
            options.group = Some(group.value());
        } else if path.is_ident("serial") {
            options.serial = true;
        } else if path.is_ident("flavor") {
            // `#[tokio::test]`'s spelling.
            let flavor: LitStr = meta.value()?.parse()?;
            let kind = match flavor.value().as_str() {
                "multi_thread" => Flavor::MultiThread,
                "current_thread" => Flavor::CurrentThread,
                "local" => Flavor::Local,
                other => {
                    return Err(Error::new(
                        flavor.span(),
                        format!(
                            "unknown flavor {other:?}: expected \"current_thread\", \"multi_thread\" or \"local\""
                        ),
                    ))
                }
            };
            options.flavor = Some((kind, flavor.span()));
        } else if path.is_ident("worker_threads") {
            let n: LitInt = meta.value()?.parse()?;
            let threads: usize = n.base10_parse()?;
            if threads == 0 {
                return Err(Error::new(n.span(), "`worker_threads` is at least 1"));
            }
            options.worker_threads = Some((threads, n.span()));
        } else if path.is_ident("start_paused") {
            let paused: syn::LitBool = meta.value()?.parse()?;
            options.start_paused = Some((paused.value, paused.span));
        } else if path.is_ident("name") {
            let name: LitStr = meta.value()?.parse()?;
            if name.value().trim().is_empty() {
                return Err(Error::new(name.span(), "a runtime's name is not empty"));
            }
            options.runtime_name = Some((name.value(), name.span()));
        } else if path.is_ident("unhandled_panic") {
            let behavior: LitStr = meta.value()?.parse()?;
            let variant = match behavior.value().as_str() {
                "ignore" => "Ignore",
                "shutdown_runtime" => "ShutdownRuntime",
                other => {
                    return Err(Error::new(
                        behavior.span(),
                        format!(
                            "unknown unhandled_panic {other:?}: expected \"ignore\" or \"shutdown_runtime\""
                        ),
                    ))
                }
            };
            options.unhandled_panic = Some((syn::Ident::new(variant, behavior.span()), behavior.span()));
        } else if path.is_ident("crate") {
            let _: syn::Lit = meta.value()?.parse()?;
            options.tokio_crate = Some(path.span());
        } else {
            let typed = path.get_ident().map(ToString::to_string).unwrap_or_default();
            let hint = crate::suggest::nearest(&typed, OPTIONS)
                .map(|near| format!(" (did you mean `{near}`?)"))
                .unwrap_or_default();
            return Err(meta.error(format!(
                "unknown mp_test option `{typed}`{hint}; the options are: {}",
                OPTIONS.join(", ")
            )));
        }
        Ok(())
    });
    parser.parse2(args)?;
    Ok(options)
}

/// The `expected = "..."` inside libtest's `should_panic(...)`.
fn expected_substring(inner: syn::meta::ParseNestedMeta, expected: &mut Option<String>) -> syn::Result<()> {
    if inner.path.is_ident("expected") {
        *expected = Some(inner.value()?.parse::<LitStr>()?.value());
        Ok(())
    } else {
        Err(inner.error("expected `expected = \"substring\"`"))
    }
}

/// libtest's own `#[ignore]` and `#[should_panic]`, written next to `#[mp_test]` by habit, mean
/// what they mean under libtest: they become the options, and leave the function (where they
/// would do nothing). Several of them (`cfg_attr`s that each add one, as proc-macro2's tests
/// have) count as rustc counts them: the first `#[ignore]`, the last `#[should_panic]` (rustc
/// warns of the others; a proc macro cannot). One that repeats an option given to
/// `#[mp_test(..)]` is an error.
fn take_libtest_attributes(func: &mut ItemFn, options: &mut Options) -> syn::Result<()> {
    let (ignore_given, should_panic_given) = (options.ignore.is_some(), options.should_panic.is_some());
    let mut kept = Vec::with_capacity(func.attrs.len());
    for attr in std::mem::take(&mut func.attrs) {
        let path = attr.path();
        if path.is_ident("ignore") {
            if ignore_given {
                return Err(Error::new(
                    attr.span(),
                    "`#[ignore]` repeats the `ignore` option of `#[mp_test]`; keep one",
                ));
            }
            let reason = match &attr.meta {
                syn::Meta::Path(_) => String::new(),
                syn::Meta::NameValue(nv) => match &nv.value {
                    syn::Expr::Lit(syn::ExprLit {
                        lit: syn::Lit::Str(s),
                        ..
                    }) => s.value(),
                    other => return Err(Error::new(other.span(), "expected `#[ignore = \"reason\"]`")),
                },
                syn::Meta::List(list) => {
                    return Err(Error::new(
                        list.span(),
                        "expected `#[ignore]` or `#[ignore = \"reason\"]`",
                    ))
                }
            };
            // The first one counts.
            options.ignore.get_or_insert(reason);
        } else if path.is_ident("should_panic") {
            if should_panic_given {
                return Err(Error::new(
                    attr.span(),
                    "`#[should_panic]` repeats the `should_panic` option of `#[mp_test]`; keep one",
                ));
            }
            let expected = match &attr.meta {
                syn::Meta::Path(_) => None,
                syn::Meta::NameValue(nv) => match &nv.value {
                    syn::Expr::Lit(syn::ExprLit {
                        lit: syn::Lit::Str(s),
                        ..
                    }) => Some(s.value()),
                    other => {
                        return Err(Error::new(
                            other.span(),
                            "expected `#[should_panic = \"substring\"]`",
                        ))
                    }
                },
                syn::Meta::List(_) => {
                    let mut expected = None;
                    attr.parse_nested_meta(|inner| expected_substring(inner, &mut expected))?;
                    expected
                }
            };
            // The last one counts.
            options.should_panic = Some(expected);
        } else if path.is_ident("test") {
            return Err(Error::new(
                attr.span(),
                "`#[test]` and `#[mp_test]` on one function: keep `#[mp_test]` (the test runs in a worker process)",
            ));
        } else {
            kept.push(attr);
        }
    }
    func.attrs = kept;
    Ok(())
}

/// Whether serial_test's `#[serial]` is on the function: below this attribute (still there) or
/// above it (expanded already: the body runs in serial_test's `local_*serial_core*`). That
/// attribute keeps its tests apart with a lock in the process, which tests in other workers do
/// not share; such a test is mptest's `serial` too (it runs while no other test runs), so that
/// it overlaps no other `#[serial]` test, as under libtest. (`#[file_serial]` locks a file,
/// which other processes do share.)
fn serial_test_serial(func: &ItemFn) -> bool {
    fn calls_serial_core(tokens: TokenStream) -> bool {
        tokens.into_iter().any(|tree| match tree {
            proc_macro2::TokenTree::Ident(ident) => {
                let name = ident.to_string();
                name.starts_with("local_") && name.contains("serial_core")
            }
            proc_macro2::TokenTree::Group(group) => calls_serial_core(group.stream()),
            _ => false,
        })
    }
    let attribute = func.attrs.iter().any(|attr| {
        let path = attr.path();
        path.is_ident("serial")
            || (path.segments.len() == 2
                && path.segments[0].ident == "serial_test"
                && path.segments[1].ident == "serial")
    });
    attribute || calls_serial_core(func.block.to_token_stream())
}

fn check_signature(func: &ItemFn, options: &Options) -> syn::Result<()> {
    let sig = &func.sig;
    if let Some(asyncness) = &sig.asyncness {
        if !cfg!(feature = "tokio") {
            return Err(Error::new(
                asyncness.span(),
                "an `async fn` test needs mptest's `tokio` feature: in Cargo.toml, \
                 `mptest = { version = \"0.1\", features = [\"tokio\"] }`",
            ));
        }
        let multi_thread = options.flavor.is_some_and(|(f, _)| f == Flavor::MultiThread);
        if let (true, Some((true, span))) = (multi_thread, options.start_paused) {
            return Err(Error::new(
                span,
                "`start_paused` is for the current-thread runtime: tokio's clock pauses only there",
            ));
        }
        if let (true, Some((_, span))) = (multi_thread, &options.unhandled_panic) {
            return Err(Error::new(
                *span,
                "`unhandled_panic` is for the current-thread runtime, as under tokio",
            ));
        }
        if let (false, Some((_, span))) = (multi_thread, options.worker_threads) {
            return Err(Error::new(
                span,
                "`worker_threads` is for `flavor = \"multi_thread\"`; the current-thread runtime has none",
            ));
        }
    } else {
        let runtime_option = [
            options.flavor.map(|(_, s)| ("flavor", s)),
            options.worker_threads.map(|(_, s)| ("worker_threads", s)),
            options.start_paused.map(|(_, s)| ("start_paused", s)),
            options.runtime_name.as_ref().map(|(_, s)| ("name", *s)),
            options
                .unhandled_panic
                .as_ref()
                .map(|(_, s)| ("unhandled_panic", *s)),
            options.tokio_crate.map(|s| ("crate", s)),
        ];
        if let Some((name, span)) = runtime_option.into_iter().flatten().next() {
            return Err(Error::new(
                span,
                format!("`{name}` sets up an async test's runtime: it goes on an `async fn`"),
            ));
        }
    }
    crate::fixture::fixture_params(func, "#[mp_test]")?;
    // Lifetime parameters are fine (libtest takes `fn t<'a>()`); types and consts are not.
    let only_lifetimes = sig
        .generics
        .params
        .iter()
        .all(|p| matches!(p, syn::GenericParam::Lifetime(_)));
    if !only_lifetimes || sig.generics.where_clause.is_some() {
        return Err(Error::new(
            sig.generics.span(),
            "#[mp_test] functions cannot be generic over types or constants",
        ));
    }
    if let Some(unsafety) = &sig.unsafety {
        return Err(Error::new(
            unsafety.span(),
            "#[mp_test] functions cannot be `unsafe`",
        ));
    }
    if options.should_panic.is_some() {
        if let ReturnType::Type(_, ty) = &sig.output {
            return Err(Error::new(
                ty.span(),
                "functions using `should_panic` must return `()`",
            ));
        }
    }
    Ok(())
}

fn expand(func: &ItemFn, options: &Options) -> TokenStream {
    let name = &func.sig.ident;
    // A raw identifier names the test as libtest's harness does: without its `r#` where the
    // name is no keyword (`fn r#async_recv`, flume's suite: `async_recv`), with it where it is
    // one (`r#match`); syn parses no keyword as an identifier.
    let unraw = syn::ext::IdentExt::unraw(name).to_string();
    let fn_name = match syn::parse_str::<syn::Ident>(&unraw) {
        Ok(_) => unraw,
        Err(_) => name.to_string(),
    };
    // A test may be called `main` (tempfile's suite has one): at the crate's root it would
    // collide with `mptest::main!()`'s `main`, so its function takes another name; the test
    // keeps its own.
    let mut func = func.clone();
    if fn_name == "main" {
        func.sig.ident = format_ident!("__mptest_test_main", span = func.sig.ident.span());
    }
    let func = &func;
    let ident = &func.sig.ident;
    let static_name = format_ident!("__MPTEST_TEST_{}", name);
    let libtest_guard = format_ident!("{}__needs_harness_false", name);
    let private = quote!(::mptest::__private);
    let timeout = match options.timeout_nanos {
        Some(nanos) => quote!(::core::option::Option::Some(::core::time::Duration::from_nanos(#nanos))),
        None => quote!(::core::option::Option::None),
    };
    let ignore = match &options.ignore {
        Some(reason) => quote!(::core::option::Option::Some(#reason)),
        None => quote!(::core::option::Option::None),
    };
    // A function of the wrong type is reported at its name.
    let ignore_if = match &options.ignore_if {
        Some(check) => quote_spanned!(check.span()=> ::core::option::Option::Some({
            let check: fn() -> ::core::option::Option<::std::string::String> = #check;
            check
        })),
        None => quote!(::core::option::Option::None),
    };
    let should_panic = match &options.should_panic {
        None => quote!(#private::ShouldPanic::No),
        Some(None) => quote!(#private::ShouldPanic::Yes),
        Some(Some(text)) => quote!(#private::ShouldPanic::WithMessage(#text)),
    };
    let retries = options.retries;
    let group = match &options.group {
        Some(group) => quote!(::core::option::Option::Some(#group)),
        None => quote!(::core::option::Option::None),
    };
    let serial = options.serial;
    // A wrong return type is reported at the return type, not at the attribute.
    let return_span = match &func.sig.output {
        ReturnType::Type(_, ty) => ty.span(),
        ReturnType::Default => ident.span(),
    };
    // `line!()` and `column!()` spanned at the function's name give where it is, as libtest
    // reports a `should_panic` test that did not panic.
    let line = quote_spanned!(ident.span()=> ::core::line!());
    let column = quote_spanned!(ident.span()=> ::core::column!());
    // Parameters name fixtures (checked by `check_signature`).
    let fixtures = crate::fixture::fixture_params(func, "#[mp_test]").unwrap_or_default();
    // Each fixture's type is named once, in an alias at the parameter: a misspelt fixture is
    // one error there (with rustc's "a struct with a similar name exists" naming the fixture
    // meant), not one per use.
    let aliases: Vec<syn::Ident> = fixtures
        .iter()
        .map(|f| format_ident!("__mptest_fixture_{}", f, span = Span::call_site()))
        .collect();
    // `&*`: the test gets `&T` from the fixture's `Arc<T>`, so a type mismatch names `T`.
    let invoke = if func.sig.asyncness.is_some() {
        let paused = options.start_paused.is_some_and(|(p, _)| p);
        // What else `#[tokio::test]` sets on the builder, set here: the methods exist in the
        // tokio the user's code links (`name` from 1.51, `unhandled_panic` under
        // `tokio_unstable`), whatever the oldest tokio mptest builds with has.
        let name = options
            .runtime_name
            .as_ref()
            .map(|(name, span)| quote_spanned!(*span=> builder.name(#name);));
        let unhandled = options.unhandled_panic.as_ref().map(|(variant, span)| {
            quote_spanned!(*span=> builder.unhandled_panic(#private::tokio::runtime::UnhandledPanic::#variant);)
        });
        let configure = match (&name, &unhandled) {
            (None, None) => quote!(|_: &mut #private::tokio::runtime::Builder| {}),
            _ => quote!(|builder: &mut #private::tokio::runtime::Builder| { #name #unhandled }),
        };
        let test = quote_spanned!(return_span=> #ident(#(&*#fixtures),*));
        match options.flavor.map(|(f, _)| f) {
            None | Some(Flavor::CurrentThread) => quote_spanned!(return_span=>
                #private::run_test(#private::Flavor::CurrentThread, #paused, #configure, #test)
            ),
            Some(Flavor::MultiThread) => {
                let threads = match options.worker_threads {
                    Some((n, _)) => quote!(::core::option::Option::Some(#n)),
                    None => quote!(::core::option::Option::None),
                };
                quote_spanned!(return_span=>
                    #private::run_test(#private::Flavor::MultiThread { worker_threads: #threads }, #paused, #configure, #test)
                )
            }
            Some(Flavor::Local) => quote_spanned!(return_span=>
                ::mptest::__run_local_test!(#paused, #configure, #test)
            ),
        }
    } else {
        quote_spanned!(return_span=> #ident(#(&*#fixtures),*))
    };
    let call = quote_spanned!(return_span=> #private::IntoTestResult::into_test_result(#invoke));
    let span = Span::call_site();
    let harness_check = format!(
        "`{fn_name}` is an #[mp_test], but this target runs under libtest's harness, which never \
         runs it: give the target `harness = false` in Cargo.toml ([[test]] name = \"...\" \
         harness = false) and end the file with `mptest::main!();`"
    );
    quote_spanned! {span=>
        #func

        // Under libtest's harness (a target without `harness = false`) mptest's tests would
        // silently not run: each one stands there as a libtest test that fails and says why.
        // Without the harness, rustc drops `#[test]` items. (The built-in attribute by its full
        // path: `use mptest::test;` makes a plain `#[test]` this very macro.)
        #[::core::prelude::v1::test]
        #[allow(non_snake_case)]
        fn #libtest_guard() {
            ::core::panic!(#harness_check);
        }

        #[#private::linkme::distributed_slice(#private::TESTS)]
        #[linkme(crate = #private::linkme)]
        #[doc(hidden)]
        #[allow(non_upper_case_globals)]
        static #static_name: #private::TestDef = {
            #(#[allow(non_camel_case_types)] type #aliases = #fixtures;)*
            #private::TestDef {
            module_path: ::core::module_path!(),
            fn_name: #fn_name,
            file: ::core::file!(),
            line: #line,
            column: #column,
            run: || {
                #(let #fixtures = #private::for_test::<#aliases>()?;)*
                #call
            },
            timeout: #timeout,
            ignore: #ignore,
            ignore_if: #ignore_if,
            should_panic: #should_panic,
            retries: #retries,
            group: #group,
            serial: #serial,
            fixtures: &[#(<#aliases as #private::FixtureName>::decl),*],
            }
        };
    }
}

#[cfg(test)]
mod tests {
    use super::{take_libtest_attributes, Options};

    fn taken(item: &str, options: &mut Options) -> syn::Result<syn::ItemFn> {
        let mut func: syn::ItemFn = syn::parse_str(item).expect("a function");
        take_libtest_attributes(&mut func, options).map(|()| func)
    }

    #[test]
    fn several_libtest_attributes_count_as_rustc_counts_them() {
        // What two `cfg_attr`s leave (proc-macro2's tests): the first `#[ignore]`, the last
        // `#[should_panic]`, as rustc's test harness takes them.
        let mut options = Options::default();
        let func = taken(
            r#"#[ignore = "the first"]
               #[should_panic(expected = "not this")]
               #[inline]
               #[ignore = "the second"]
               #[should_panic(expected = "this")]
               fn t() {}"#,
            &mut options,
        )
        .unwrap();
        assert_eq!(options.ignore.as_deref(), Some("the first"));
        assert_eq!(options.should_panic, Some(Some("this".to_string())));
        // Only the others stay on the function.
        assert_eq!(func.attrs.len(), 1);
        assert!(func.attrs[0].path().is_ident("inline"));
    }

    #[test]
    fn an_attribute_that_repeats_an_option_of_mp_test_is_an_error() {
        let mut options = Options {
            ignore: Some(String::new()),
            should_panic: Some(None),
            ..Options::default()
        };
        let Err(err) = taken("#[ignore] fn t() {}", &mut options) else {
            panic!("no error");
        };
        assert!(err.to_string().contains("repeats the `ignore` option"), "{err}");
        let Err(err) = taken("#[should_panic] fn t() {}", &mut options) else {
            panic!("no error");
        };
        assert!(
            err.to_string().contains("repeats the `should_panic` option"),
            "{err}"
        );
    }
}
