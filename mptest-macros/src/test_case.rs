//! `#[test_case]` and `#[test_matrix]` as test-case writes them, with mptest's test attribute.
//!
//! test-case writes each case as libtest's `#[test]` by its full path
//! (`#[::core::prelude::v1::test]`) inside a `#[cfg(test)]` module, both of which a
//! `harness = false` target compiles out. These attributes parse and render the cases with
//! test-case's own core crate — the same names, expectations (`=> 5`, `=> panics "x"`,
//! `=> ignore`, `; "comment"`) and matrices — and only change those two things: the test
//! attribute is `#[::mptest::mp_test]`, the module is not gated. The expansion follows
//! test-case-macros 3.4 (MIT), which has no entry point that could be reused.

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn3::spanned::Spanned;
use syn3::{parse_quote, ItemFn, Path};
use test_case_core::{TestCase, TestMatrix};

/// `#[test_case(args)]` on `item`.
pub(crate) fn test_case(args: TokenStream, item: TokenStream) -> TokenStream {
    expand(args, item, |args| {
        Ok(vec![(syn3::parse2::<TestCase>(args)?, Span::call_site())])
    })
}

/// `#[test_matrix(args)]` on `item`.
pub(crate) fn test_matrix(args: TokenStream, item: TokenStream) -> TokenStream {
    expand(args, item, |args| {
        let matrix = syn3::parse2::<TestMatrix>(args)?;
        Ok(matrix.cases().map(|case| (case, Span::call_site())).collect())
    })
}

type Cases = Vec<(TestCase, Span)>;

fn expand(
    args: TokenStream,
    item: TokenStream,
    first: impl FnOnce(TokenStream) -> syn3::Result<Cases>,
) -> TokenStream {
    let mut parsed = match syn3::parse2::<ItemFn>(item.clone()) {
        Ok(parsed) => parsed,
        Err(err) => return err.into_compile_error(),
    };
    let cases = first(args).and_then(|mut cases| {
        cases.extend(other_cases(&mut parsed)?);
        Ok(cases)
    });
    let cases = match cases {
        // The function as it was beside the error, so that the rest of the file still checks.
        Err(err) => {
            let error = err.into_compile_error();
            return quote!(#error #item);
        }
        Ok(cases) => cases,
    };
    let mut item = parsed;
    let rendered: Vec<TokenStream> = cases
        .iter()
        .enumerate()
        .map(|(i, (case, span))| with_mptest_test(case.render(item.clone(), *span, i + 1)))
        .collect();
    let module = item.sig.ident.clone();
    // The function itself keeps only its `allow`s: the cases carry its other attributes.
    item.attrs.retain(|attr| attr.path().is_ident("allow"));
    quote! {
        #[allow(unused_attributes)]
        #item

        mod #module {
            #[allow(unused_imports)]
            use super::*;

            #(#rendered)*
        }
    }
}

/// The cases of the function's other `#[test_case]`s and `#[test_matrix]`es (by any of the
/// paths test-case and mptest give them), which are taken off it.
fn other_cases(item: &mut ItemFn) -> syn3::Result<Cases> {
    let case_names: [Path; 6] = [
        parse_quote!(test_case),
        parse_quote!(test_case::test_case),
        parse_quote!(test_case::case),
        parse_quote!(case),
        parse_quote!(mptest::test_case),
        parse_quote!(mptest::case),
    ];
    let matrix_names: [Path; 3] = [
        parse_quote!(test_matrix),
        parse_quote!(test_case::test_matrix),
        parse_quote!(mptest::test_matrix),
    ];
    let mut cases = Vec::new();
    let mut error = None;
    item.attrs.retain(|attr| {
        let parsed = if case_names.contains(attr.path()) {
            attr.parse_args::<TestCase>()
                .map(|case| cases.push((case, attr.span())))
        } else if matrix_names.contains(attr.path()) {
            attr.parse_args::<TestMatrix>()
                .map(|matrix| cases.extend(matrix.cases().map(|case| (case, attr.span()))))
        } else {
            return true;
        };
        if let Err(err) = parsed {
            error.get_or_insert(syn3::Error::new(
                attr.span(),
                format!("cannot parse {}: {err}", quote!(#attr)),
            ));
        }
        false
    });
    match error {
        Some(err) => Err(err),
        None => Ok(cases),
    }
}

/// A case test-case rendered, with `#[::mptest::mp_test]` for its `#[::core::prelude::v1::test]`,
/// and each attribute once: test-case writes an expectation's (`#[should_panic]`, `#[ignore]`)
/// twice, which libtest lets pass and `#[mp_test]` refuses.
fn with_mptest_test(rendered: TokenStream) -> TokenStream {
    let Ok(mut case) = syn3::parse2::<ItemFn>(rendered.clone()) else {
        return rendered;
    };
    let libtest: Path = parse_quote!(::core::prelude::v1::test);
    let mut seen = Vec::new();
    case.attrs.retain(|attr| {
        let text = quote!(#attr).to_string();
        let first = !seen.contains(&text);
        seen.push(text);
        first
    });
    for attr in &mut case.attrs {
        if *attr.path() == libtest {
            *attr = parse_quote!(#[::mptest::mp_test]);
        }
    }
    quote!(#case)
}
