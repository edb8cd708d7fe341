//! `#[async_std::test] async fn` → `#[test] fn` whose body runs on
//! `async_std::task::block_on`, which is what async-std's attribute writes — but it writes
//! libtest's `#[test]` by its full path, which a `harness = false` target compiles out without
//! a word (flume's suite lost two tests so). `#[futures_test::test]` alike, on the `block_on`
//! its attribute calls. The body stays on its lines: the call opens after the function's `{`
//! and closes before its `}`, so line numbers stay.
//!
//! Other crates' `#[...::test]` attributes are only named in the report: what they write is
//! not known here.

use crate::edit::{closing_brace, code_mask, replace_all};

/// The attributes rewritten, with the call their expansion runs the body on.
const ATTRIBUTES: &[(&str, &str)] = &[
    ("#[async_std::test]", " async_std::task::block_on(async {"),
    (
        "#[futures_test::test]",
        " futures_test::__private::block_on(async {",
    ),
];
const CLOSE: &str = "})";

/// A file with those tests rewritten (how many of each attribute), and the other attributes
/// named `test` of other crates found in it (`#[actix_rt::test]`), for the report.
pub(crate) struct Rewritten {
    pub(crate) source: String,
    pub(crate) tests: Vec<(&'static str, usize)>,
    pub(crate) unknown: Vec<String>,
}

pub(crate) fn rewrite(source: &str) -> Rewritten {
    let mask = code_mask(source);
    // (byte offset, bytes replaced, text put there), see `replace_all`.
    let mut edits: Vec<(usize, usize, &str)> = Vec::new();
    let mut tests: Vec<(&'static str, usize)> = Vec::new();
    let mut unknown = Vec::new();
    let mut line_start = 0;
    for line in source.split_inclusive('\n') {
        let trimmed = line.trim();
        let at = line_start + (line.len() - line.trim_start().len());
        line_start += line.len();
        if !mask.get(at).copied().unwrap_or(false) || !trimmed.starts_with("#[") {
            continue;
        }
        if let Some(&(attribute, open)) = ATTRIBUTES.iter().find(|(a, _)| trimmed == *a) {
            if let Some(body) = async_fn_body(source, &mask, line_start) {
                match tests.iter_mut().find(|(a, _)| *a == attribute) {
                    Some((_, n)) => *n += 1,
                    None => tests.push((attribute, 1)),
                }
                edits.push((at, attribute.len(), "#[test]"));
                edits.push((body.async_at, "async ".len(), ""));
                edits.push((body.open + 1, 0, open));
                edits.push((body.close, 0, CLOSE));
            }
        } else if let Some(path) = other_test_attribute(trimmed) {
            if !unknown.contains(&path) {
                unknown.push(path);
            }
        }
    }
    Rewritten {
        source: replace_all(source, edits),
        tests,
        unknown,
    }
}

/// Where the `async` of the `async fn` after an attribute is, and its body's braces.
struct Body {
    async_at: usize,
    open: usize,
    close: usize,
}

/// The `async fn` that starts at or after `from` (other attributes and blank lines between),
/// with its body's braces; `None` if the next item is something else.
fn async_fn_body(source: &str, mask: &[bool], from: usize) -> Option<Body> {
    let mut at = from;
    for line in source[from..].split_inclusive('\n') {
        let trimmed = line.trim_start();
        let start = at + (line.len() - trimmed.len());
        at += line.len();
        if trimmed.trim().is_empty() || trimmed.starts_with("#[") || trimmed.starts_with("//") {
            continue;
        }
        let fn_at = trimmed.find("async fn ")?;
        // Only `pub` and the like before it.
        if !trimmed[..fn_at].split_whitespace().all(|w| w.starts_with("pub")) {
            return None;
        }
        let async_at = start + fn_at;
        let open = (async_at..source.len()).find(|&i| mask[i] && source.as_bytes()[i] == b'{')?;
        let close = closing_brace(source, mask, open)?;
        return Some(Body {
            async_at,
            open,
            close,
        });
    }
    None
}

/// `#[some_crate::test]` or `#[some_crate::test(...)]` of a crate other than tokio (which the
/// converter turns into `#[mp_test]`) and those of [`ATTRIBUTES`]: its path.
fn other_test_attribute(attribute: &str) -> Option<String> {
    if attribute.starts_with("#[test_log::test(mptest::test") {
        return None; // as the converter writes it: mptest's test under test-log's logger
    }
    let inner = attribute.strip_prefix("#[")?;
    let path_end = inner.find(['(', ']']).unwrap_or(inner.len());
    let path = inner[..path_end].trim();
    let known = [
        "tokio::test",
        "async_std::test",
        "futures_test::test",
        "mptest::mp_test",
        "mptest::test",
    ];
    (path.ends_with("::test") && !known.contains(&path)).then(|| format!("#[{path}]"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn async_std_and_futures_tests_become_tests_that_block_on_their_body_on_the_same_lines() {
        let source = "#[cfg(feature = \"async\")]\n#[async_std::test]\nasync fn r#sends() {\n    let s = \"}\";\n    assert_eq!(s, \"}\");\n}\n\n// #[async_std::test] in a comment\n#[async_std::test]\n#[ignore]\npub async fn returns() -> Result<(), String> {\n    if false { return Err(\"no\".into()); }\n    Ok(())\n}\n\n#[actix_rt::test]\nasync fn elsewhere() {}\n#[test_log::test(tokio::test)]\nasync fn logged() {}\n#[futures_test::test]\nasync fn polled() {}\n";
        let out = rewrite(source);
        assert_eq!(
            out.tests,
            [("#[async_std::test]", 2), ("#[futures_test::test]", 1)]
        );
        assert_eq!(
            out.source,
            "#[cfg(feature = \"async\")]\n#[test]\nfn r#sends() { async_std::task::block_on(async {\n    let s = \"}\";\n    assert_eq!(s, \"}\");\n})}\n\n// #[async_std::test] in a comment\n#[test]\n#[ignore]\npub fn returns() -> Result<(), String> { async_std::task::block_on(async {\n    if false { return Err(\"no\".into()); }\n    Ok(())\n})}\n\n#[actix_rt::test]\nasync fn elsewhere() {}\n#[test_log::test(tokio::test)]\nasync fn logged() {}\n#[test]\nfn polled() { futures_test::__private::block_on(async {})}\n"
        );
        assert_eq!(out.source.lines().count(), source.lines().count());
        assert_eq!(out.unknown, ["#[actix_rt::test]", "#[test_log::test]"]);
        // Once converted, nothing more to do.
        assert!(rewrite(&out.source).tests.is_empty());
    }
}
