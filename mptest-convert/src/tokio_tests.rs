//! `#[tokio::test]` → `#[mptest::test]`: an async test on mptest's `tokio` feature (`#[mp_test]`
//! by a path that ends in `test`, which `#[rstest]` takes for the test attribute it is given),
//! with the arguments both take (all of tokio 1.51's: `flavor`, `worker_threads`,
//! `start_paused`, `name`, `unhandled_panic`, `crate`); any other is left out, and said.
//!
//! tokio's attribute is found in code (not in comments or strings) wherever it is named:
//! `#[tokio::test]` and `#[::tokio::test]`, inside `#[cfg_attr(.., tokio::test(..))]`, imported
//! (`use tokio::test as maybe_tokio_test;`, as tokio's own suite does), and under another name
//! that its `crate` argument gives (`#[tokio1::test(crate = "tokio1")]`).

use crate::edit::{code_mask, replace_all};

/// A file with its tokio tests rewritten.
pub(crate) struct Rewritten {
    pub(crate) source: String,
    /// How many `#[tokio::test]`s (and imports of it) it had.
    pub(crate) tests: usize,
    /// What was left out, for the report.
    pub(crate) notes: Vec<String>,
}

const PATH: &str = "tokio::test";
const OURS: &str = "mptest::test";
/// The arguments `#[mp_test]` takes as `#[tokio::test]` does.
const KEPT: &[&str] = &[
    "flavor",
    "worker_threads",
    "start_paused",
    "name",
    "unhandled_panic",
    "crate",
];

pub(crate) fn rewrite(source: &str) -> Rewritten {
    let mask = code_mask(source);
    let mut edits: Vec<(usize, usize, String)> = Vec::new();
    let mut notes = Vec::new();
    let ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let bytes = source.as_bytes();
    for (at, _) in source.match_indices(PATH).filter(|(at, _)| mask[*at]) {
        let end = at + PATH.len();
        if at > 0 && ident(bytes[at - 1]) || bytes.get(end).is_some_and(|&b| ident(b) || b == b':') {
            continue; // `my_tokio::test`, `tokio::test_util`, `tokio::test::x`
        }
        // `::tokio::test` as `tokio::test`.
        let start = match source[..at].strip_suffix("::") {
            Some(before)
                if before.ends_with(|c: char| !c.is_alphanumeric() && c != '_') || before.is_empty() =>
            {
                at - 2
            }
            Some(_) => continue,
            None => at,
        };
        let before = source[..start].trim_end();
        if before.ends_with("use") {
            // `use tokio::test;`, `use tokio::test as maybe_tokio_test;`: every use is ours.
            edits.push((start, end - start, OURS.to_string()));
        } else if before.ends_with("#[") || before.ends_with(',') && in_cfg_attr(before) {
            let Some((args, len)) = arguments(&source[end..]) else {
                continue;
            };
            edits.push((start, end - start + len, attribute(OURS, &args, &mut notes)));
        } else {
            continue;
        }
    }
    // tokio's attribute by another name, which its `crate` argument says: `#[tokio1::test(crate
    // = "tokio1")]`.
    for (at, _) in source.match_indices("#[").filter(|(at, _)| mask[*at]) {
        let rest = &source[at + 2..];
        let path_len = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
            .unwrap_or(rest.len());
        let path = rest[..path_len].trim_start_matches("::");
        let Some(krate) = path.strip_suffix("::test") else {
            continue;
        };
        if krate == "tokio" || krate == "mptest" {
            continue;
        }
        let Some((args, len)) = arguments(&rest[path_len..]) else {
            continue;
        };
        let named = args.split(',').any(|arg| {
            arg.split_once('=')
                .is_some_and(|(k, v)| k.trim() == "crate" && v.trim().trim_matches('"') == krate)
        });
        if named && rest[path_len + len..].starts_with(']') {
            edits.push((at + 2, path_len + len, attribute(OURS, &args, &mut notes)));
        }
    }
    let tests = edits.len();
    Rewritten {
        source: replace_all(source, edits),
        tests,
        notes,
    }
}

/// Whether the attribute `before` ends in is a `#[cfg_attr(..`.
fn in_cfg_attr(before: &str) -> bool {
    before
        .rfind("#[")
        .is_some_and(|open| before[open + 2..].trim_start().starts_with("cfg_attr("))
}

/// `path(kept arguments)`, or `path` when none is kept; what is left out goes to `notes`.
fn attribute(path: &str, args: &str, notes: &mut Vec<String>) -> String {
    let mut kept = Vec::new();
    for arg in args.split(',').map(str::trim).filter(|a| !a.is_empty()) {
        let name = arg.split('=').next().unwrap_or_default().trim();
        if KEPT.contains(&name) {
            kept.push(arg.to_string());
        } else {
            notes.push(format!("`{arg}` has no counterpart in #[mp_test]; left out"));
        }
    }
    match kept.is_empty() {
        true => path.to_string(),
        false => format!("{path}({})", kept.join(", ")),
    }
}

/// The arguments in `(..)` at the start of `text` (spaces and line breaks made single spaces)
/// and how many bytes they take; none and 0 when `text` does not start with `(`. `None` when
/// the `(` is not closed.
fn arguments(text: &str) -> Option<(String, usize)> {
    if !text.starts_with('(') {
        return Some((String::new(), 0));
    }
    let mut depth = 0;
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    let args = text[1..i].split_whitespace().collect::<Vec<_>>().join(" ");
                    return Some((args, i + 1));
                }
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_becomes_an_mp_test() {
        let source = "//! `#[tokio::test]`s, as a comment names them.\n#[tokio::test]\nasync fn a() {}\n\n#[tokio::test(flavor = \"multi_thread\", worker_threads = 2)]\nasync fn b() {}\n\n#[tokio::test(\n    start_paused = true,\n    crate = \"tokio\"\n)]\nasync fn c() {}\n\n#[tokio::test(unhandled_panic = \"shutdown_runtime\")]\nasync fn d() {}\n\n#[tokio::test_not_ours]\nfn e() {}\n\n#[tokio::test(flavor = \"local\", name = \"rt\", future_option = 1)]\nasync fn f() {}\n";
        let out = rewrite(source);
        assert_eq!(out.tests, 5);
        assert_eq!(
            out.source,
            "//! `#[tokio::test]`s, as a comment names them.\n#[mptest::test]\nasync fn a() {}\n\n#[mptest::test(flavor = \"multi_thread\", worker_threads = 2)]\nasync fn b() {}\n\n#[mptest::test(start_paused = true, crate = \"tokio\")]\nasync fn c() {}\n\n#[mptest::test(unhandled_panic = \"shutdown_runtime\")]\nasync fn d() {}\n\n#[tokio::test_not_ours]\nfn e() {}\n\n#[mptest::test(flavor = \"local\", name = \"rt\")]\nasync fn f() {}\n"
        );
        assert_eq!(
            out.notes,
            ["`future_option = 1` has no counterpart in #[mp_test]; left out"]
        );
        // Once converted, nothing more to do.
        assert_eq!(rewrite(&out.source).tests, 0);
    }

    /// As tokio's own suite names its attribute.
    #[test]
    fn imported_by_its_full_path_in_cfg_attr_and_renamed() {
        let source = "#[cfg(not(wasm))]\nuse tokio::test as maybe_tokio_test;\nuse ::tokio::test;\n\n#[maybe_tokio_test]\nasync fn a() {}\n\n#[cfg_attr(not(wasm), tokio::test(flavor = \"multi_thread\"))]\n#[cfg_attr(wasm, ::tokio::test)]\nasync fn b() {}\n\nmacro_rules! mac {\n    () => {\n        #[::tokio::test]\n        async fn c() {}\n    };\n}\n\n#[tokio1::test(crate = \"tokio1\")]\nasync fn d() {}\n\n#[other::test(crate = \"tokio\")]\nasync fn e() {}\n\nfn f() { my_tokio::test(); let s = \"use tokio::test;\"; }\n";
        let out = rewrite(source);
        assert_eq!(
            out.source,
            "#[cfg(not(wasm))]\nuse mptest::test as maybe_tokio_test;\nuse mptest::test;\n\n#[maybe_tokio_test]\nasync fn a() {}\n\n#[cfg_attr(not(wasm), mptest::test(flavor = \"multi_thread\"))]\n#[cfg_attr(wasm, mptest::test)]\nasync fn b() {}\n\nmacro_rules! mac {\n    () => {\n        #[mptest::test]\n        async fn c() {}\n    };\n}\n\n#[mptest::test(crate = \"tokio1\")]\nasync fn d() {}\n\n#[other::test(crate = \"tokio\")]\nasync fn e() {}\n\nfn f() { my_tokio::test(); let s = \"use tokio::test;\"; }\n"
        );
        assert_eq!(out.tests, 6);
        assert_eq!(rewrite(&out.source).tests, 0);
    }
}
