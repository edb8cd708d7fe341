//! The edits: of a Rust source file (which lines are code, where tests are, what to insert)
//! and of Cargo.toml (sections found by their headers, lines added or changed in place).

use std::path::{Path, PathBuf};

/// What makes every `#[test]` of a target mptest's, in all its modules: mptest's `test` in the
/// macro-use prelude, which stands above the built-in attribute. A `use mptest::test;` would
/// have to be in every module, and a module that does `use super::*;` — as those rstest writes
/// for its cases do — would then find `test` twice (E0659). Only `test` is taken: a glob import
/// of another crate's `fixture` (`use rstest::*;`) would clash with mptest's as well.
const MACRO_USE: &str = "#[macro_use(test)] extern crate mptest;";
/// What a 2015-edition target without `#[test]`s needs before any path names mptest: in that
/// edition a path starts at the crate's root, where only `extern crate` puts another crate.
const EXTERN_CRATE: &str = "extern crate mptest;";
/// What the user may have written by hand already; the converter then adds no import.
const HAND_IMPORTS: [&str; 2] = ["use mptest::test;", "extern crate mptest;"];
/// ... and what mptest's macros need there: they name `::core` (which a `#![no_std]` file
/// has, and a 2015-edition one only so).
const EXTERN_CORE: &str = "extern crate core;";
pub(crate) const MAIN: &str = "mptest::main!();";
/// Tests the converter wrote by mptest's full path (from `#[tokio::test]`, `#[test_log::test]`,
/// libtest's attribute by its full path), also in `cfg_attr` and imports.
const BY_PATH: &str = "mptest::test";

/// What became of a target's root file.
pub(crate) enum Conversion {
    /// No `#[test]` in it.
    NoTests,
    /// The new source; the features its `#![cfg(..)]` asked for (the target's
    /// `required-features`); the rest of that predicate, which now gates each item instead.
    Converted {
        source: String,
        features: Vec<String>,
        gated: Option<String>,
    },
}

/// What the files of a target's modules hold (its root may hold no test itself).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct InModules {
    /// Tests of any kind (see [`has_any_tests`]).
    pub(crate) tests: bool,
    /// libtest's, which the root's import makes mptest's (see [`has_tests`]).
    pub(crate) libtest_tests: bool,
}

/// A target's root file as an mptest target; `modules`: what the files of its modules hold;
/// `edition_2015` when the target is compiled in that edition.
pub(crate) fn convert_source(source: &str, modules: InModules, edition_2015: bool) -> Conversion {
    if !has_any_tests(source) && !modules.tests {
        return Conversion::NoTests;
    }
    let mut lines: Vec<String> = source.lines().map(str::to_string).collect();
    // A crate-level `#![cfg(..)]` would compile `mptest::main!()` out with everything else
    // (E0601) where it is false. Its features become the target's `required-features`; the
    // rest of it gates each item instead, so that where it is false the target runs no test,
    // as libtest's does. Its lines are emptied, not removed: the file's line numbers stay.
    let mut features = Vec::new();
    let mut rest = Vec::new();
    for lines_of in header_attributes(&lines) {
        let code: String = lines[lines_of.clone()]
            .iter()
            .map(|l| l.split("//").next().unwrap_or_default().trim())
            .collect::<Vec<_>>()
            .join(" ");
        let Some(predicate) = code.strip_prefix("#![cfg(").and_then(|c| c.strip_suffix(")]")) else {
            continue;
        };
        let (mut wanted, other) = split_predicate(predicate);
        features.append(&mut wanted);
        rest.extend(other);
        for line in &mut lines[lines_of] {
            line.clear();
        }
    }
    let gated = match rest.len() {
        0 => None,
        1 => rest.pop(),
        _ => Some(format!("all({})", rest.join(", "))),
    };
    let mut text = lines.join("\n");
    text.push('\n');
    let imported = HAND_IMPORTS.iter().any(|import| text.contains(import));
    // The import where libtest's `#[test]`s are (or are written); tests that name mptest's
    // attribute by its path need none, and would leave it unused.
    let has_tests = modules.libtest_tests || has_tests(&text);
    // Before the gating, so that where it is false nothing goes unused — except in 2015,
    // where `mptest::main!()` needs it too.
    if has_tests && !imported && !edition_2015 {
        text = insert_after_header(&text, MACRO_USE);
    }
    if let Some(predicate) = &gated {
        text = gate_items(&text, predicate);
    }
    if edition_2015 {
        // mptest's macros name `::core`, which a `#![no_std]` file of 2015 has at its root
        // already (a second is an error).
        let mut wanted = Vec::new();
        if !text.contains(EXTERN_CORE) && !text.contains("#![no_std]") {
            wanted.push(EXTERN_CORE);
        }
        if !imported {
            wanted.push(if has_tests { MACRO_USE } else { EXTERN_CRATE });
        }
        if !wanted.is_empty() {
            text = insert_after_header(&text, &wanted.join("\n"));
        }
    }
    if !text.contains(MAIN) {
        text.push_str(&format!("\n{MAIN}\n"));
    }
    Conversion::Converted {
        source: text,
        features,
        gated,
    }
}

/// `text` with each edit made: (byte offset, bytes replaced, text put there). Made from the end,
/// so that offsets stay true; of two at one offset (an empty body's `{}`), the one made first
/// in the list ends up first in the text.
pub(crate) fn replace_all<S: AsRef<str>>(text: &str, edits: Vec<(usize, usize, S)>) -> String {
    let mut edits: Vec<_> = edits.into_iter().enumerate().collect();
    edits.sort_by_key(|&(i, (at, ..))| std::cmp::Reverse((at, i)));
    let mut out = text.to_string();
    for (_, (at, len, with)) in edits {
        out.replace_range(at..at + len, with.as_ref());
    }
    out
}

/// Whether `text` has tests: `#[test]`s, or mptest's by their full path.
pub(crate) fn has_any_tests(text: &str) -> bool {
    has_tests(text) || text.contains(BY_PATH)
}

/// What writes libtest's `#[test]`: the attribute, and other crates' attributes and macros
/// that write it (rstest's cases, quickcheck's and proptest's properties).
const WRITES_TESTS: [&str; 5] = ["#[test]", "#[rstest", "#[quickcheck", "quickcheck!", "proptest!"];

/// Whether libtest's `#[test]` stands in `text`'s code (not in a comment or a string), or
/// something that writes it.
pub(crate) fn has_tests(text: &str) -> bool {
    let mask = code_mask(text);
    WRITES_TESTS
        .iter()
        .any(|writes| text.match_indices(writes).any(|(i, _)| mask[i]))
}

/// `text` with `test` as `all()` (true) in its cfg predicates — `#[cfg(test)]`,
/// `#[cfg_attr(test, ..)]`, `cfg!(not(test))` — and how many it changed: cargo sets `test` for
/// a target libtest runs, not for one with `harness = false`, where such items would vanish.
pub(crate) fn cfg_test_set(text: &str) -> (String, usize) {
    let mask = code_mask(text);
    let bytes = text.as_bytes();
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let mut at = Vec::new();
    for (start, _) in text.match_indices("cfg") {
        let after = &text[start + 3..];
        let (open, only_first) = if after.starts_with('(') || after.starts_with("!(") {
            (start + 3 + after.find('(').unwrap_or(0), false)
        } else if after.starts_with("_attr(") {
            (start + 8, true)
        } else {
            continue;
        };
        if !mask[start] || (start > 0 && word(bytes[start - 1])) {
            continue;
        }
        // The predicate: to the matching `)`, or for cfg_attr to its first top-level comma.
        let mut depth = 0;
        for i in open..bytes.len() {
            if !mask[i] {
                continue;
            }
            match bytes[i] {
                b'(' => depth += 1,
                b')' if depth == 1 => break,
                b')' => depth -= 1,
                b',' if depth == 1 && only_first => break,
                b't' if text[i..].starts_with("test")
                    && !word(bytes[i - 1])
                    && !bytes.get(i + 4).copied().is_some_and(word) =>
                {
                    at.push(i)
                }
                _ => {}
            }
        }
    }
    let changed = at.len();
    (
        replace_all(text, at.into_iter().map(|i| (i, 4, "all()")).collect()),
        changed,
    )
}

/// A cfg predicate split into the features it requires and the rest: `feature = "a"` is one
/// feature; `all(feature = "a", not(miri))` is `a` and `not(miri)`; `unix` is no feature.
fn split_predicate(predicate: &str) -> (Vec<String>, Option<String>) {
    let predicate = predicate.trim();
    let parts = match predicate.strip_prefix("all(").and_then(|p| p.strip_suffix(')')) {
        Some(inner) => top_level_parts(inner),
        None => vec![predicate.to_string()],
    };
    let (mut features, mut rest) = (Vec::new(), Vec::new());
    for part in parts {
        match feature_of(&part) {
            Some(feature) => features.push(feature),
            None => rest.push(part),
        }
    }
    let rest = match rest.len() {
        0 => None,
        1 => rest.pop(),
        _ => Some(format!("all({})", rest.join(", "))),
    };
    (features, rest)
}

/// `feature = "a"`: `a`.
fn feature_of(part: &str) -> Option<String> {
    let value = part
        .trim()
        .strip_prefix("feature")?
        .trim()
        .strip_prefix('=')?
        .trim();
    Some(value.strip_prefix('"')?.strip_suffix('"')?.to_string())
}

/// The comma-separated parts of a predicate list, split at its own commas only.
fn top_level_parts(list: &str) -> Vec<String> {
    let (mut parts, mut part, mut depth, mut quoted) = (Vec::new(), String::new(), 0, false);
    for c in list.chars() {
        match c {
            '"' => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ')' if !quoted => depth -= 1,
            ',' if !quoted && depth == 0 => {
                parts.push(std::mem::take(&mut part));
                continue;
            }
            _ => {}
        }
        part.push(c);
    }
    parts.push(part);
    parts
        .into_iter()
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect()
}

/// The line ranges of the inner attributes in the header (an attribute may span lines).
fn header_attributes(lines: &[String]) -> Vec<std::ops::Range<usize>> {
    let mut attributes = Vec::new();
    let mut open = 0i32;
    let mut start = 0;
    for (i, line) in lines[..header_end(lines)].iter().enumerate() {
        let t = line.trim();
        if open == 0 && t.starts_with("#![") {
            start = i;
        } else if open == 0 {
            continue;
        }
        let code = t.split("//").next().unwrap_or_default();
        open += code.matches('[').count() as i32 - code.matches(']').count() as i32;
        if open <= 0 {
            open = 0;
            attributes.push(start..i + 1);
        }
    }
    attributes
}

/// `text` with `#[cfg(predicate)] ` before each item after its header, on the item's own line
/// (the line numbers stay). An item ends at a `;` outside brackets, or at a `}` that closes
/// its last bracket when what follows starts another item (not `;`, `.`, `>` and the like,
/// as after a `static`'s struct literal).
fn gate_items(text: &str, predicate: &str) -> String {
    let lines: Vec<String> = text.lines().map(str::to_string).collect();
    let header_bytes: usize = text
        .split_inclusive('\n')
        .take(header_end(&lines))
        .map(str::len)
        .sum();
    let mask = code_mask(text);
    let bytes = text.as_bytes();
    let next_code = |from: usize| {
        (from..bytes.len())
            .find(|&j| mask[j] && !bytes[j].is_ascii_whitespace())
            .map(|j| bytes[j])
    };
    let (mut starts, mut depth, mut in_item) = (Vec::new(), 0i32, false);
    for i in header_bytes..bytes.len() {
        if !mask[i] || bytes[i].is_ascii_whitespace() {
            continue;
        }
        if !in_item {
            starts.push(i);
            in_item = true;
        }
        match bytes[i] {
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' => depth -= 1,
            b'}' => {
                depth -= 1;
                let next = next_code(i + 1);
                if depth == 0 && next.is_none_or(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'#') {
                    in_item = false;
                }
            }
            b';' if depth == 0 => in_item = false,
            _ => {}
        }
    }
    let mut out = text.to_string();
    for start in starts.into_iter().rev() {
        out.insert_str(start, &format!("#[cfg({predicate})] "));
    }
    out
}

/// The number of leading lines that are inner attributes (also over several lines), inner
/// docs, comments (a licence's `/* .. */` too) or blank.
fn header_end(lines: &[String]) -> usize {
    let mut end = 0;
    // Brackets still open in an inner attribute that goes on to the next line.
    let mut open = 0i32;
    let mut in_comment = false;
    for (i, line) in lines.iter().enumerate() {
        let t = line.trim();
        if in_comment || t.starts_with("/*") {
            in_comment = !t.ends_with("*/") || t == "/*";
            end = i + 1;
        } else if open > 0 || t.starts_with("#![") {
            let code = t.split("//").next().unwrap_or_default();
            open += code.matches('[').count() as i32 - code.matches(']').count() as i32;
            end = i + 1;
        } else if t.starts_with("//!") {
            end = i + 1;
        } else if !(t.is_empty() || t.starts_with("//")) {
            break;
        }
    }
    end
}

fn insert_after_header(text: &str, line: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let end = header_end(&lines.iter().map(|l| l.to_string()).collect::<Vec<_>>());
    let mut out: Vec<String> = lines[..end].iter().map(|l| l.to_string()).collect();
    if end > 0 {
        out.push(String::new());
    }
    out.push(line.to_string());
    if lines.get(end).is_some_and(|l| !l.trim().is_empty()) {
        out.push(String::new());
    }
    out.extend(lines[end..].iter().map(|l| l.to_string()));
    let mut joined = out.join("\n");
    joined.push('\n');
    joined
}

/// For each byte of `text`: is it code (not in a comment, a string or a character literal)?
pub(crate) fn code_mask(text: &str) -> Vec<bool> {
    let bytes = text.as_bytes();
    let mut mask = vec![true; bytes.len()];
    let mut i = 0;
    while i < bytes.len() {
        let rest = &bytes[i..];
        let skip = if rest.starts_with(b"//") {
            rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len())
        } else if rest.starts_with(b"/*") {
            rest.windows(2)
                .position(|w| w == b"*/")
                .map_or(rest.len(), |p| p + 2)
        } else if rest.starts_with(b"r#") || rest.starts_with(b"r\"") {
            let hashes = rest[1..].iter().take_while(|&&b| b == b'#').count();
            let close: Vec<u8> = std::iter::once(b'"')
                .chain(std::iter::repeat_n(b'#', hashes))
                .collect();
            let open = 1 + hashes + 1;
            if rest.get(open - 1) == Some(&b'"') {
                rest[open..]
                    .windows(close.len())
                    .position(|w| w == close)
                    .map_or(rest.len(), |p| open + p + close.len())
            } else {
                1
            }
        } else if rest[0] == b'"' {
            let mut j = 1;
            while j < rest.len() && rest[j] != b'"' {
                j += if rest[j] == b'\\' { 2 } else { 1 };
            }
            (j + 1).min(rest.len())
        } else if rest[0] == b'\'' {
            // A character literal ('x', '\n', '{'), not a lifetime ('a).
            match (rest.get(1), rest.get(2), rest.get(3)) {
                (Some(b'\\'), _, _) => rest.iter().skip(2).position(|&b| b == b'\'').map_or(1, |p| p + 3),
                (Some(_), Some(b'\''), _) => 3,
                _ => 1,
            }
        } else {
            1
        };
        if skip > 1 || rest[0] == b'"' {
            for m in &mut mask[i..(i + skip).min(bytes.len())] {
                *m = false;
            }
        }
        i += skip;
    }
    mask
}

/// Where the `}` that closes the `{` at `open` is, counting braces in code only (`mask`, see
/// [`code_mask`]).
pub(crate) fn closing_brace(text: &str, mask: &[bool], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    let code = text.as_bytes().iter().zip(mask).enumerate().skip(open);
    for (i, (&byte, _)) in code.filter(|(_, (_, &is_code))| is_code) {
        match byte {
            b'{' => depth += 1,
            b'}' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

/// Cargo.toml as text, changed line by line.
pub(crate) struct Manifest {
    lines: Vec<String>,
}

impl Manifest {
    pub(crate) fn new(text: String) -> Manifest {
        Manifest {
            lines: text.lines().map(str::to_string).collect(),
        }
    }

    pub(crate) fn text(&self) -> String {
        let mut text = self.lines.join("\n");
        text.push('\n');
        text
    }

    /// The line ranges of the sections with this header (`[[test]]`, `[package]`).
    fn sections(&self, header: &str) -> Vec<std::ops::Range<usize>> {
        let mut found = Vec::new();
        for (i, line) in self.lines.iter().enumerate() {
            if line.trim() == header {
                let end = (i + 1..self.lines.len())
                    .find(|&j| self.lines[j].trim_start().starts_with('['))
                    .unwrap_or(self.lines.len());
                found.push(i..end);
            }
        }
        found
    }

    /// A `key = "value"` of a section.
    fn value(&self, section: &std::ops::Range<usize>, key: &str) -> Option<String> {
        self.lines[section.clone()].iter().find_map(|line| {
            let (k, v) = line.split_once('=')?;
            (k.trim() == key).then(|| v.trim().trim_matches('"').to_string())
        })
    }

    /// Whether the `[[test]]` target `name` says `harness = false`: it has a `main` of its own
    /// (libtest-mimic's, datatest's — or mptest's, converted before).
    pub(crate) fn harness_off(&self, name: &str) -> bool {
        self.sections("[[test]]").iter().any(|section| {
            self.value(section, "name").as_deref() == Some(name)
                && self.value(section, "harness").as_deref() == Some("false")
        })
    }

    /// The `[[test]]` targets: name and path, if given.
    pub(crate) fn declared_tests(&self) -> Vec<(String, Option<PathBuf>)> {
        self.sections("[[test]]")
            .iter()
            .filter_map(|s| Some((self.value(s, "name")?, self.value(s, "path").map(PathBuf::from))))
            .collect()
    }

    /// Whether the test target `name` is compiled in the 2015 edition: its own `edition`, else
    /// the package's; none at all is 2015 (cargo's default), one inherited from the workspace
    /// is not (a workspace's `edition` came with 2018).
    pub(crate) fn edition_2015(&self, name: &str) -> bool {
        let edition = |section: &std::ops::Range<usize>| {
            self.lines[section.clone()].iter().find_map(|line| {
                let (key, value) = line.split_once('=')?;
                let key = key.trim();
                let value = value.split('#').next().unwrap_or_default();
                (key == "edition" || key.starts_with("edition."))
                    .then(|| value.trim().trim_matches('"').to_string())
            })
        };
        let target = self
            .sections("[[test]]")
            .into_iter()
            .find(|s| self.value(s, "name").as_deref() == Some(name));
        let package = self.sections("[package]").into_iter().next();
        target
            .as_ref()
            .and_then(edition)
            .or_else(|| package.as_ref().and_then(edition))
            .is_none_or(|edition| edition == "2015")
    }

    /// Whether cargo finds targets in `tests/` by itself.
    pub(crate) fn autotests(&self) -> bool {
        self.sections("[package]")
            .first()
            .and_then(|s| self.value(s, "autotests"))
            .is_none_or(|v| v != "false")
    }

    /// Makes the target `name` a `harness = false` one (with these required features).
    pub(crate) fn harness_false(&mut self, name: &str, path: &Path, features: &[String]) {
        let section = self
            .sections("[[test]]")
            .into_iter()
            .find(|s| self.value(s, "name").as_deref() == Some(name));
        let features_line = (!features.is_empty()).then(|| format!("required-features = {features:?}"));
        match section {
            Some(section) => {
                let mut add = Vec::new();
                match (section.clone()).find(|&i| {
                    self.lines[i]
                        .split('=')
                        .next()
                        .is_some_and(|k| k.trim() == "harness")
                }) {
                    Some(i) => self.lines[i] = "harness = false".into(),
                    None => add.push("harness = false".to_string()),
                }
                if self.value(&section, "required-features").is_none() {
                    add.extend(features_line);
                }
                let at = section.start + 1;
                for (n, line) in add.into_iter().enumerate() {
                    self.lines.insert(at + n, line);
                }
            }
            None => {
                self.lines.push(String::new());
                self.lines.push("[[test]]".into());
                self.lines.push(format!("name = {name:?}"));
                self.lines
                    .push(format!("path = {:?}", path.display().to_string()));
                self.lines.push("harness = false".into());
                self.lines.extend(features_line);
            }
        }
    }

    /// Whether this manifest is a workspace's (where cargo reads `[profile]` sections).
    pub(crate) fn is_workspace_root(&self) -> bool {
        !self.sections("[workspace]").is_empty()
    }

    /// Compiles mptest itself optimized in test builds, unless the manifest says how already;
    /// true if the section was added. The user's code keeps its profile.
    pub(crate) fn optimize_mptest(&mut self) -> bool {
        if !self.sections(OPTIMIZED_MPTEST).is_empty() {
            return false;
        }
        self.lines.push(String::new());
        self.lines
            .extend(OPTIMIZED_MPTEST_LINES.iter().map(|l| l.to_string()));
        true
    }

    /// Adds `dependency` (a `mptest = ...` line) to `[dev-dependencies]`, unless mptest is there.
    pub(crate) fn dev_dependency(&mut self, dependency: &str) {
        match self.sections("[dev-dependencies]").first() {
            Some(section) if self.value(section, "mptest").is_some() => {}
            Some(section) => self.lines.insert(section.start + 1, dependency.to_string()),
            None if self.sections("[dev-dependencies.mptest]").is_empty() => {
                self.lines.push(String::new());
                self.lines.push("[dev-dependencies]".into());
                self.lines.push(dependency.to_string());
            }
            None => {}
        }
    }
}

/// The header of the profile section that compiles mptest optimized.
pub(crate) const OPTIMIZED_MPTEST: &str = "[profile.dev.package.mptest]";

/// That section's settings.
pub(crate) const OPTIMIZED_MPTEST_SETTINGS: &str = "opt-level = 3\ndebug = \"line-tables-only\"";

/// That section, as added.
const OPTIMIZED_MPTEST_LINES: [&str; 5] = [
    "# mptest's own code optimized in test builds (yours is compiled as before): an mptest test",
    "# binary's fixed cost in a debug build is about a third of what it is unoptimized. Its debug",
    "# info only as line tables: full, it would slow every backtrace (RUST_BACKTRACE=1).",
    OPTIMIZED_MPTEST,
    OPTIMIZED_MPTEST_SETTINGS,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mptest_is_optimized_once_and_never_against_the_manifest_s_own_setting() {
        let mut manifest = Manifest::new("[package]\nname = \"x\"\n".into());
        assert!(!manifest.is_workspace_root());
        assert!(manifest.optimize_mptest());
        assert!(!manifest.optimize_mptest());
        assert!(
            manifest
                .text()
                .ends_with("[profile.dev.package.mptest]\nopt-level = 3\ndebug = \"line-tables-only\"\n"),
            "{}",
            manifest.text()
        );
        let mut own = Manifest::new("[workspace]\n\n[profile.dev.package.mptest]\nopt-level = 1\n".into());
        assert!(own.is_workspace_root());
        assert!(!own.optimize_mptest());
        assert!(own.text().ends_with("opt-level = 1\n"));
    }

    fn converted(source: &str) -> (String, Vec<String>) {
        match convert_source(source, InModules::default(), false) {
            Conversion::Converted { source, features, .. } => (source, features),
            Conversion::NoTests => panic!("no tests"),
        }
    }

    #[test]
    fn one_macro_use_at_the_root_serves_every_module_and_main_ends_it() {
        let source = "//! Docs.\n#![allow(dead_code)]\n\nuse std::fmt;\n\n#[test]\nfn a() { let _ = \"mod x {\"; }\n\nmod inner {\n    use super::*;\n    #[test]\n    fn b() {}\n}\n";
        let (out, features) = converted(source);
        assert!(features.is_empty());
        assert_eq!(
            out,
            "//! Docs.\n#![allow(dead_code)]\n\n#[macro_use(test)] extern crate mptest;\n\nuse std::fmt;\n\n#[test]\nfn a() { let _ = \"mod x {\"; }\n\nmod inner {\n    use super::*;\n    #[test]\n    fn b() {}\n}\n\nmptest::main!();\n"
        );
        // Converted once: what is there stays as it is.
        assert_eq!(converted(&out).0, out);
        let (by_hand, _) = converted("use mptest::test;\n#[test]\nfn t() {}\n");
        assert_eq!(
            by_hand,
            "use mptest::test;\n#[test]\nfn t() {}\n\nmptest::main!();\n"
        );
        // Only async tests the converter wrote: nothing to import.
        let (only_async, _) = converted("#[mptest::test]\nasync fn t() {}\n");
        assert!(!only_async.contains("extern crate"), "{only_async}");
    }

    #[test]
    fn test_is_set_in_every_cfg_predicate_and_only_there() {
        let source = "#[cfg(test)]\nfn a() {}\n#[cfg(not(test))]\nfn b() {}\n#[cfg_attr(test, derive(Debug))]\n#[cfg_attr(unix, cfg(any(test, miri)))]\nstruct S;\nconst T: bool = cfg!(test);\ncfg_if::cfg_if! { if #[cfg(test)] { fn c() {} } }\n#[cfg(test_utils)]\nfn d() {}\n#[cfg(feature = \"test\")] // cfg(test)\nfn e() { test(); }\n#[cfg_attr(unix, test)]\nfn f() {}\n";
        let (out, changed) = cfg_test_set(source);
        assert_eq!(changed, 6, "{out}");
        assert_eq!(
            out,
            "#[cfg(all())]\nfn a() {}\n#[cfg(not(all()))]\nfn b() {}\n#[cfg_attr(all(), derive(Debug))]\n#[cfg_attr(unix, cfg(any(all(), miri)))]\nstruct S;\nconst T: bool = cfg!(all());\ncfg_if::cfg_if! { if #[cfg(all())] { fn c() {} } }\n#[cfg(test_utils)]\nfn d() {}\n#[cfg(feature = \"test\")] // cfg(test)\nfn e() { test(); }\n#[cfg_attr(unix, test)]\nfn f() {}\n"
        );
    }

    #[test]
    fn a_licence_in_a_block_comment_is_part_of_the_header() {
        let source = "/*\n * Licence.\n */\n#![cfg(unix)]\n\n#[test]\nfn t() {}\n";
        let (out, _) = converted(source);
        assert_eq!(
            out,
            "/*\n * Licence.\n */\n\n#[cfg(unix)] #[macro_use(test)] extern crate mptest;\n\n\n#[cfg(unix)] #[test]\nfn t() {}\n\nmptest::main!();\n"
        );
    }

    #[test]
    fn an_inner_attribute_over_several_lines_stays_whole() {
        let (out, _) =
            converted("#![allow(\n    clippy::a, // why\n    clippy::b\n)]\n\n#[test]\nfn t() {}\n");
        assert!(
            out.starts_with("#![allow(\n    clippy::a, // why\n    clippy::b\n)]\n\n#[macro_use(test)] extern crate mptest;\n"),
            "{out}"
        );
    }

    #[test]
    fn a_feature_gate_becomes_required_features() {
        let (out, features) =
            converted("#![cfg(all(feature = \"a\", feature = \"b\"))]\n#[test]\nfn t() {}\n");
        assert_eq!(features, ["a", "b"]);
        assert!(!out.contains("#![cfg") && !out.contains("#[cfg"), "{out}");
        assert!(matches!(
            convert_source("fn helper() {}\n", InModules::default(), false),
            Conversion::NoTests
        ));
    }

    #[test]
    fn any_other_gate_gates_each_item_and_leaves_main_and_the_line_numbers() {
        let source = "//! Docs.\n#![cfg(all(\n    feature = \"a\",\n    not(miri), // why\n))]\n#![allow(x)]\n\nuse std::fmt;\n\n/// A helper.\nstatic S: Point = Point { x: 1 };\nconst F: fn() = || {};\n\nmacro_rules! m { () => {} }\nm!();\nquickcheck! {\n    fn q(x: u8) -> bool { x == x }\n}\n\n#[test]\n#[should_panic(expected = \"}\")]\nfn t() { let _ = '{'; }\nmod inner {\n    #[test]\n    fn u() {}\n}\n";
        let Conversion::Converted {
            source,
            features,
            gated,
        } = convert_source(source, InModules::default(), false)
        else {
            panic!("not converted");
        };
        assert_eq!(features, ["a"]);
        assert_eq!(gated.as_deref(), Some("not(miri)"));
        let g = "#[cfg(not(miri))] ";
        assert_eq!(
            source,
            format!("//! Docs.\n\n\n\n\n#![allow(x)]\n\n{g}#[macro_use(test)] extern crate mptest;\n\n{g}use std::fmt;\n\n/// A helper.\n{g}static S: Point = Point {{ x: 1 }};\n{g}const F: fn() = || {{}};\n\n{g}macro_rules! m {{ () => {{}} }}\n{g}m!();\n{g}quickcheck! {{\n    fn q(x: u8) -> bool {{ x == x }}\n}}\n\n{g}#[test]\n#[should_panic(expected = \"}}\")]\nfn t() {{ let _ = '{{'; }}\n{g}mod inner {{\n    #[test]\n    fn u() {{}}\n}}\n\nmptest::main!();\n")
        );
        assert_eq!(
            split_predicate("any(unix, windows)"),
            (vec![], Some("any(unix, windows)".to_string()))
        );
        assert_eq!(
            split_predicate("all(feature = \"x\", unix, not(target_os = \"wasi\"))"),
            (
                vec!["x".to_string()],
                Some("all(unix, not(target_os = \"wasi\"))".to_string())
            )
        );
    }

    #[test]
    fn the_manifest_gets_targets_and_the_dependency() {
        let mut m = Manifest::new(
            "[package]\nname = \"x\"\n\n[dev-dependencies]\nserde = \"1\"\n\n[[test]]\nname = \"a\"\nharness = true\n".into(),
        );
        assert_eq!(m.declared_tests(), [("a".to_string(), None)]);
        assert!(!m.harness_off("a"));
        assert!(m.autotests());
        m.harness_false("a", Path::new("tests/a.rs"), &[]);
        m.harness_false("b", Path::new("tests/b.rs"), &["f".to_string()]);
        m.dev_dependency("mptest = \"0.1\"");
        m.dev_dependency("mptest = \"0.1\"");
        assert_eq!(
            m.text(),
            "[package]\nname = \"x\"\n\n[dev-dependencies]\nmptest = \"0.1\"\nserde = \"1\"\n\n[[test]]\nname = \"a\"\nharness = false\n\n[[test]]\nname = \"b\"\npath = \"tests/b.rs\"\nharness = false\nrequired-features = [\"f\"]\n"
        );
        assert!(m.harness_off("a") && m.harness_off("b") && !m.harness_off("c"));
    }

    #[test]
    fn a_2015_edition_target_names_mptest_and_core_with_extern_crate_where_the_gate_does_not_reach() {
        let m = |text: &str| Manifest::new(text.into());
        assert!(m("[package]\nname = \"x\"\n").edition_2015("t"));
        assert!(m("[package]\nname = \"x\"\nedition = \"2015\"  # old\n").edition_2015("t"));
        assert!(!m("[package]\nname = \"x\"\nedition = \"2021\"\n").edition_2015("t"));
        assert!(!m("[package]\nedition.workspace = true\n").edition_2015("t"));
        assert!(!m("[package]\nedition = { workspace = true }\n").edition_2015("t"));
        let own = m("[package]\nedition = \"2018\"\n\n[[test]]\nname = \"t\"\nedition = \"2015\"\n");
        assert!(own.edition_2015("t") && !own.edition_2015("u"));

        let Conversion::Converted { source, .. } =
            convert_source("#![cfg(unix)]\n#[test]\nfn t() {}\n", InModules::default(), true)
        else {
            panic!("no tests");
        };
        assert_eq!(
            source,
            "extern crate core;\n#[macro_use(test)] extern crate mptest;\n\n#[cfg(unix)] #[test]\nfn t() {}\n\nmptest::main!();\n"
        );
        // Said once, also where the file says it already.
        let Conversion::Converted { source, .. } = convert_source(
            "extern crate mptest;\n#[test]\nfn t() {}\n",
            InModules::default(),
            true,
        ) else {
            panic!("no tests");
        };
        assert_eq!(source.matches("extern crate mptest;").count(), 1, "{source}");
        assert_eq!(source.matches("extern crate core;").count(), 1, "{source}");
        // A `#![no_std]` file of 2015 has `core` at its root already: a second is an error.
        let Conversion::Converted { source, .. } =
            convert_source("#![no_std]\n#[test]\nfn t() {}\n", InModules::default(), true)
        else {
            panic!("no tests");
        };
        assert!(
            !source.contains("extern crate core;")
                && source.contains("#[macro_use(test)] extern crate mptest;"),
            "{source}"
        );
    }
}
