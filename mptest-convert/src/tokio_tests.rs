//! `#[tokio::test]` → `#[mptest::test]`: an async test on mptest's `tokio` feature (`#[mp_test]`
//! by a path that ends in `test`, which `#[rstest]` takes for the test attribute it is given),
//! with the arguments both take (all of tokio 1.51's: `flavor`, `worker_threads`,
//! `start_paused`, `name`, `unhandled_panic`, `crate`); any other is left out, and said.

/// A file with its tokio tests rewritten.
pub(crate) struct Rewritten {
    pub(crate) source: String,
    /// How many `#[tokio::test]`s it had.
    pub(crate) tests: usize,
    /// What was left out, for the report.
    pub(crate) notes: Vec<String>,
}

const ATTRIBUTE: &str = "#[tokio::test";
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
    let mut out = String::with_capacity(source.len());
    let mut notes = Vec::new();
    let mut tests = 0;
    let mut rest = source;
    while let Some(at) = rest.find(ATTRIBUTE) {
        out.push_str(&rest[..at]);
        let after = &rest[at + ATTRIBUTE.len()..];
        // An attribute starts its line; elsewhere (a comment, a string) it is text.
        let line_start = out.rfind('\n').map_or(0, |n| n + 1);
        let starts_line = out[line_start..].trim().is_empty();
        let parsed = if !starts_line {
            None
        } else if let Some(tail) = after.strip_prefix(']') {
            Some((String::new(), tail))
        } else if after.starts_with('(') {
            arguments(after)
        } else {
            None
        };
        let Some((args, tail)) = parsed else {
            // `#[tokio::test_something]`, or no closing `)]`: not ours to touch.
            out.push_str(ATTRIBUTE);
            rest = after;
            continue;
        };
        tests += 1;
        let mut kept = Vec::new();
        for arg in args.split(',').map(str::trim).filter(|a| !a.is_empty()) {
            let name = arg.split('=').next().unwrap_or_default().trim();
            if KEPT.contains(&name) {
                kept.push(arg.to_string());
            } else {
                notes.push(format!("`{arg}` has no counterpart in #[mp_test]; left out"));
            }
        }
        if kept.is_empty() {
            out.push_str("#[mptest::test]");
        } else {
            out.push_str(&format!("#[mptest::test({})]", kept.join(", ")));
        }
        rest = tail;
    }
    out.push_str(rest);
    Rewritten {
        source: out,
        tests,
        notes,
    }
}

/// `(args)]...`: the arguments (on one line) and what follows the attribute.
fn arguments(text: &str) -> Option<(String, &str)> {
    let mut depth = 0;
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    let tail = text[i + 1..].trim_start_matches([' ', '\t']).strip_prefix(']')?;
                    let args = text[1..i].split_whitespace().collect::<Vec<_>>().join(" ");
                    return Some((args, tail));
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
}
