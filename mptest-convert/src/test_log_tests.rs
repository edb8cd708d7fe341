//! test-log's `#[test_log::test]` → `#[test_log::test(mptest::test)]`: without an argument it
//! writes libtest's `#[test]` by its full path, which a `harness = false` target compiles out;
//! given one, it puts that attribute on the test instead, after setting up its logger. A file
//! that imports it (`use test_log::test;`, so that `#[test]` is test-log's) loses the import
//! and has each of its `#[test]`s spelled out. `tokio::test` as the argument becomes
//! `mptest::test` (an async test).

use crate::edit::{code_mask, replace_all};

/// A file with its test-log tests rewritten.
pub(crate) struct Rewritten {
    pub(crate) source: String,
    /// How many tests test-log sets up.
    pub(crate) tests: usize,
    /// How many of them are async (on tokio).
    pub(crate) async_tests: usize,
}

const IMPORT: &str = "use test_log::test;";
const ATTRIBUTE: &str = "#[test_log::test";
const OURS: &str = "#[test_log::test(mptest::test";

pub(crate) fn rewrite(source: &str) -> Rewritten {
    let mask = code_mask(source);
    let imported = source.match_indices(IMPORT).any(|(at, _)| mask[at]);
    let mut edits: Vec<(usize, usize, String)> = Vec::new();
    let (mut tests, mut async_tests) = (0, 0);
    for (at, _) in source.match_indices(ATTRIBUTE).filter(|(at, _)| mask[*at]) {
        let rest = &source[at + ATTRIBUTE.len()..];
        if rest.starts_with(']') {
            edits.push((at, ATTRIBUTE.len() + 1, format!("{OURS})]")));
        } else if rest
            .strip_prefix("(tokio::test")
            .is_some_and(|arguments| arguments.starts_with([')', '(']))
        {
            // `(tokio::test)]` or `(tokio::test(flavor = ..))]`: mptest's takes those arguments.
            edits.push((at, ATTRIBUTE.len() + "(tokio::test".len(), OURS.to_string()));
            async_tests += 1;
        } else {
            // Given mptest's already, or another crate's attribute.
            continue;
        }
        tests += 1;
    }
    if imported {
        for (at, _) in source.match_indices(IMPORT).filter(|(at, _)| mask[*at]) {
            edits.push((at, IMPORT.len(), String::new()));
        }
        for (at, _) in source.match_indices("#[test]").filter(|(at, _)| mask[*at]) {
            edits.push((at, "#[test]".len(), format!("{OURS})]")));
            tests += 1;
        }
    }
    Rewritten {
        source: replace_all(source, edits),
        tests,
        async_tests,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_gets_mptest_s_attribute_and_lines_stay() {
        let source = "#[test_log::test]\nfn a() {}\n\n#[test_log::test(tokio::test)]\nasync fn b() {}\n\n#[test_log::test(tokio::test(flavor = \"multi_thread\"))]\nasync fn c() {}\n\n// #[test_log::test]\n#[test_log::test(actix_rt::test)]\nasync fn d() {}\n";
        let out = rewrite(source);
        assert_eq!((out.tests, out.async_tests), (3, 2));
        assert_eq!(
            out.source,
            "#[test_log::test(mptest::test)]\nfn a() {}\n\n#[test_log::test(mptest::test)]\nasync fn b() {}\n\n#[test_log::test(mptest::test(flavor = \"multi_thread\"))]\nasync fn c() {}\n\n// #[test_log::test]\n#[test_log::test(actix_rt::test)]\nasync fn d() {}\n"
        );
        // Once converted, it stays as it is, and nothing is said of it again.
        let again = rewrite(&out.source);
        assert_eq!((again.source.as_str(), again.tests), (out.source.as_str(), 0));
    }

    #[test]
    fn an_imported_test_log_test_is_spelled_out() {
        let out = rewrite("use test_log::test;\n\n#[test]\nfn a() {}\n\nconst S: &str = \"#[test]\";\n");
        assert_eq!(out.tests, 1);
        assert_eq!(
            out.source,
            "\n\n#[test_log::test(mptest::test)]\nfn a() {}\n\nconst S: &str = \"#[test]\";\n"
        );
        // Not imported: a `#[test]` is mptest's already.
        assert_eq!(rewrite("#[test]\nfn a() {}\n").tests, 0);
    }
}
