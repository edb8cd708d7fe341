//! test-case's `#[test_case]`, `#[test_matrix]` and `#[case]` → mptest's (its `test-case`
//! feature): test-case writes each case as libtest's `#[test]` by its full path inside a
//! `#[cfg(test)]` module, which a `harness = false` target compiles out; mptest's attributes
//! render the same cases with `#[mp_test]`. Only the imports and the attributes' paths change.

use crate::edit::{code_mask, replace_all};

/// What test-case's paths become, in code: imports of its attributes, and their full paths.
const PATHS: [(&str, &str); 5] = [
    ("use test_case::*;", "use mptest::{case, test_case, test_matrix};"),
    ("use test_case::", "use mptest::"),
    ("#[test_case::test_case(", "#[mptest::test_case("),
    ("#[test_case::case(", "#[mptest::case("),
    ("#[test_case::test_matrix(", "#[mptest::test_matrix("),
];

/// `source` with test-case's paths as mptest's, and how many it changed.
pub(crate) fn rewrite(source: &str) -> (String, usize) {
    let mask = code_mask(source);
    let mut edits: Vec<(usize, &str, &str)> = Vec::new();
    for (from, to) in PATHS {
        for (at, _) in source.match_indices(from).filter(|(at, _)| mask[*at]) {
            // `use test_case::*;` is also where `use test_case::` is: the longer one wins.
            if !edits.iter().any(|(other, ..)| *other == at) {
                edits.push((at, from, to));
            }
        }
    }
    let changed = edits.len();
    let edits = edits
        .into_iter()
        .map(|(at, from, to)| (at, from.len(), to))
        .collect();
    (replace_all(source, edits), changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imports_and_full_paths_name_mptest_and_nothing_else_changes() {
        let source = "use test_case::{test_case, test_matrix};\nuse test_case::*;\n\n#[test_case::test_case(1 => 2)]\n#[test_case::case(2 => 3)]\n#[test_case(3 => 4)]\nfn f(n: u8) -> u8 { n + 1 }\n\n#[test_case::test_matrix([1, 2])]\nfn g(n: u8) {}\n// use test_case::test_case;\nconst S: &str = \"#[test_case::case(\";\nfn h() { let _ = test_case::Regex::new(\"x\"); }\n";
        let (out, changed) = rewrite(source);
        assert_eq!(changed, 5, "{out}");
        assert_eq!(
            out,
            "use mptest::{test_case, test_matrix};\nuse mptest::{case, test_case, test_matrix};\n\n#[mptest::test_case(1 => 2)]\n#[mptest::case(2 => 3)]\n#[test_case(3 => 4)]\nfn f(n: u8) -> u8 { n + 1 }\n\n#[mptest::test_matrix([1, 2])]\nfn g(n: u8) {}\n// use test_case::test_case;\nconst S: &str = \"#[test_case::case(\";\nfn h() { let _ = test_case::Regex::new(\"x\"); }\n"
        );
    }
}
