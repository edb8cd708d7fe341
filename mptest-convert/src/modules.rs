//! A target's module files: those its root declares with `mod name;` (and theirs, in turn),
//! where rustc looks for them — `name.rs` or `name/mod.rs` beside a crate root or a `mod.rs`,
//! under `stem/` beside another file, or where `#[path = ".."]` says — and those automod's
//! `automod::dir!("folder")` declares (serde_json's `tests/regression/`). Only what the
//! target compiles: a helper folder another target uses, or a file no target names, is not
//! its.

use std::path::{Path, PathBuf};

use crate::edit::code_mask;

/// The module files of the target whose root is `root` (relative to the crate's `dir`),
/// relative to `dir`, sorted; the root itself is not among them.
pub(crate) fn module_files(dir: &Path, root: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = Vec::new();
    let mut stack = vec![(root.to_path_buf(), true)];
    while let Some((file, mod_rs)) = stack.pop() {
        let Ok(text) = std::fs::read_to_string(dir.join(&file)) else {
            continue;
        };
        let folder = file.parent().map(Path::to_path_buf).unwrap_or_default();
        // Where `mod name;` looks: beside a root or `mod.rs`, else in a folder named after it.
        let children = match (mod_rs, file.file_stem()) {
            (false, Some(stem)) => folder.join(stem),
            _ => folder.clone(),
        };
        for Declared { inline, name, path } in declarations(&text) {
            // A file `#[path]` names is a `mod.rs` to rustc: its modules are beside it.
            let by_path = path.is_some();
            // Inside `mod a { .. }`, the folder `a/` of where the file's modules are.
            let within = inline.iter().fold(children.clone(), |dir, m| dir.join(m));
            let candidates = match path {
                Some(path) if inline.is_empty() => vec![folder.join(path)],
                Some(path) => vec![within.join(path)],
                None => vec![
                    within.join(format!("{name}.rs")),
                    within.join(&name).join("mod.rs"),
                ],
            };
            let Some(module) = candidates.into_iter().find(|c| dir.join(c).is_file()) else {
                continue;
            };
            let module = normalized(&module);
            if module != root && !found.contains(&module) {
                let is_mod_rs = by_path || module.file_name().is_some_and(|n| n == "mod.rs");
                found.push(module.clone());
                stack.push((module, is_mod_rs));
            }
        }
        for module in automod_files(dir, &text) {
            if module != root && !found.contains(&module) {
                found.push(module.clone());
                stack.push((module, true));
            }
        }
    }
    found.sort();
    found
}

/// The `.rs` files of each folder that `automod::dir!("folder")` in `text` names (relative to
/// the crate's `dir`, as automod takes it): a module each.
fn automod_files(dir: &Path, text: &str) -> Vec<PathBuf> {
    let mask = code_mask(text);
    let mut files = Vec::new();
    for (at, call) in text.match_indices("automod::dir!(").filter(|(at, _)| mask[*at]) {
        let Some(folder) = text[at + call.len()..]
            .split_once('"')
            .and_then(|(_, rest)| rest.split_once('"'))
            .map(|(folder, _)| folder)
        else {
            continue;
        };
        let Ok(entries) = std::fs::read_dir(dir.join(folder)) else {
            continue;
        };
        let mut here: Vec<PathBuf> = entries
            .flatten()
            .map(|e| Path::new(folder).join(e.file_name()))
            .filter(|p| p.extension().is_some_and(|e| e == "rs") && dir.join(p).is_file())
            .map(|p| normalized(&p))
            .collect();
        here.sort();
        files.extend(here);
    }
    files
}

/// `a/b/../c.rs` as `a/c.rs`: one file, one name.
fn normalized(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            std::path::Component::ParentDir if out.file_name().is_some() => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// A `mod name;` of a file.
#[derive(Debug, PartialEq)]
struct Declared {
    /// The inline modules (`mod a { .. }`) it is in, outermost first.
    inline: Vec<String>,
    name: String,
    /// Its `#[path = ".."]`.
    path: Option<String>,
}

/// The `mod name;` declarations in `text`'s code.
fn declarations(text: &str) -> Vec<Declared> {
    let mask = code_mask(text);
    let bytes = text.as_bytes();
    let ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    // Inline modules: name and where their braces are.
    let mut blocks: Vec<(String, usize, usize)> = Vec::new();
    let mut found = Vec::new();
    for (at, _) in text.match_indices("mod").filter(|(at, _)| mask[*at]) {
        if at > 0 && ident(bytes[at - 1]) {
            continue;
        }
        let rest = &text[at + 3..];
        if !rest.starts_with(char::is_whitespace) {
            continue;
        }
        let rest = rest.trim_start();
        let rest = rest.strip_prefix("r#").unwrap_or(rest);
        let name: String = rest
            .chars()
            .take_while(|&c| c.is_alphanumeric() || c == '_')
            .collect();
        let after = rest[name.len()..].trim_start();
        if name.is_empty() {
            continue;
        }
        if after.starts_with('{') {
            let open = text.len() - after.len();
            if let Some(close) = crate::edit::closing_brace(text, &mask, open) {
                blocks.push((name, open, close));
            }
            continue;
        }
        if !after.starts_with(';') {
            continue; // not a declaration
        }
        let inline = blocks
            .iter()
            .filter(|(_, open, close)| *open < at && at < *close)
            .map(|(name, ..)| name.clone())
            .collect();
        let path = path_attribute(&text[..at]);
        found.push(Declared { inline, name, path });
    }
    found
}

/// The `#[path = ".."]` among the attributes that end `before` (what precedes a `mod`, with
/// its visibility), if any.
fn path_attribute(before: &str) -> Option<String> {
    // The item's own attributes and visibility: back to the end of the previous item.
    let start = before.rfind([';', '{', '}']).map_or(0, |i| i + 1);
    let attributes = &before[start..];
    let at = attributes.find("#[path")?;
    let value = attributes[at..].split_once('"')?.1;
    Some(value.split_once('"')?.0.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declarations_with_and_without_paths() {
        let text = "mod a;\npub(crate) mod b_c;\n#[path = \"../support.rs\"]\npub(crate) mod support;\nmod inline { fn f() {} }\n// mod commented;\nconst S: &str = \"mod quoted;\";\nfn model() {}\n#[cfg(unix)]\nmod r#type;\n";
        let declared = |name: &str, path: Option<&str>| Declared {
            inline: Vec::new(),
            name: name.to_string(),
            path: path.map(str::to_string),
        };
        assert_eq!(
            declarations(text),
            [
                declared("a", None),
                declared("b_c", None),
                declared("support", Some("../support.rs")),
                declared("type", None),
            ]
        );
        // Inside inline modules (tokio's `mod support { pub(crate) mod io_vec; }`).
        let nested = declarations(
            "mod support {\n    pub(crate) mod io_vec;\n    mod deeper { mod x; }\n}\nmod after;\n",
        );
        let inline: Vec<(Vec<String>, String)> = nested.into_iter().map(|d| (d.inline, d.name)).collect();
        assert_eq!(
            inline,
            [
                (vec!["support".to_string()], "io_vec".to_string()),
                (vec!["support".to_string(), "deeper".to_string()], "x".to_string()),
                (vec![], "after".to_string()),
            ]
        );
    }

    #[test]
    fn a_targets_modules_are_what_it_declares_where_rustc_looks() {
        let dir = std::env::temp_dir().join(format!("mptest-convert-modules-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let files = [
            (
                "tests/it/main.rs",
                "mod net;\n#[path = \"../support.rs\"]\nmod support;\n",
            ),
            ("tests/it/net.rs", "mod tcp;\n"),
            ("tests/it/net/tcp.rs", ""),
            ("tests/support.rs", "mod helpers;\n"),
            ("tests/helpers/mod.rs", ""),
            (
                "tests/plain.rs",
                "mod common;\nmod support {\n    pub mod io_vec;\n}\n",
            ),
            ("tests/support/io_vec.rs", ""),
            // serde_json's `tests/regression.rs`.
            (
                "tests/regression.rs",
                "mod regression {\n    automod::dir!(\"tests/regression\");\n}\n",
            ),
            ("tests/regression/issue1.rs", "#[test] fn t() {}\n"),
            ("tests/regression/issue2.rs", ""),
            ("tests/common/mod.rs", ""),
            // In no target: its own folder, named by none.
            ("tests/orphan/lone.rs", "#[test] fn t() {}\n"),
        ];
        for (path, text) in files {
            let path = dir.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        let names = |root: &str| -> Vec<String> {
            module_files(&dir, Path::new(root))
                .iter()
                .map(|p| p.display().to_string())
                .collect()
        };
        assert_eq!(
            names("tests/it/main.rs"),
            [
                "tests/helpers/mod.rs",
                "tests/it/net/tcp.rs",
                "tests/it/net.rs",
                "tests/support.rs"
            ]
        );
        assert_eq!(
            names("tests/plain.rs"),
            ["tests/common/mod.rs", "tests/support/io_vec.rs"]
        );
        assert_eq!(names("tests/support.rs"), ["tests/helpers/mod.rs"]);
        assert_eq!(
            names("tests/regression.rs"),
            ["tests/regression/issue1.rs", "tests/regression/issue2.rs"]
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
