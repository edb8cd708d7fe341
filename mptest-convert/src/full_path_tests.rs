//! libtest's attribute by its full path, written in the source (`#[std::prelude::v1::test]`,
//! `#[::core::prelude::v1::test]`, as tokio's suite and some crates' macros write it) →
//! `#[mptest::test]`: a `harness = false` target compiles libtest's out without a word.

use crate::edit::{code_mask, replace_all};

/// libtest's attribute by its full paths (after `#[`, with or without a leading `::`).
const PATHS: [&str; 2] = ["std::prelude::v1::test]", "core::prelude::v1::test]"];

/// `source` with libtest's attribute by its full path as mptest's, and how many it changed.
pub(crate) fn rewrite(source: &str) -> (String, usize) {
    let mask = code_mask(source);
    let mut edits = Vec::new();
    for (at, _) in source.match_indices("#[").filter(|(at, _)| mask[*at]) {
        let rest = source[at + 2..].trim_start_matches("::");
        if let Some(path) = PATHS.iter().find(|p| rest.starts_with(*p)) {
            let len = source.len() - at - rest.len() + path.len();
            edits.push((at, len, "#[mptest::test]"));
        }
    }
    let changed = edits.len();
    (replace_all(source, edits), changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libtests_attribute_by_its_full_path_becomes_mptests() {
        let source = "#[std::prelude::v1::test]\nfn a() {}\n#[::core::prelude::v1::test]\nfn b() {}\nmacro_rules! m { () => { #[::std::prelude::v1::test] fn c() {} } }\n// #[core::prelude::v1::test]\n#[std::prelude::v1::test_case]\nconst S: &str = \"#[std::prelude::v1::test]\";\n";
        let (out, changed) = rewrite(source);
        assert_eq!(changed, 3);
        assert_eq!(
            out,
            "#[mptest::test]\nfn a() {}\n#[mptest::test]\nfn b() {}\nmacro_rules! m { () => { #[mptest::test] fn c() {} } }\n// #[core::prelude::v1::test]\n#[std::prelude::v1::test_case]\nconst S: &str = \"#[std::prelude::v1::test]\";\n"
        );
    }
}
