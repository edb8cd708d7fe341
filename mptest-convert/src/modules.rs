//! A target's module files: those its root declares with `mod name;` (and theirs, in turn),
//! where rustc looks for them — `name.rs` or `name/mod.rs` beside a crate root or a `mod.rs`,
//! under `stem/` beside another file, or where `#[path = ".."]` says. Only what the target
//! compiles: a helper folder another target uses, or a file no target names, is not its.

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
        for (name, path) in declarations(&text) {
            // A file `#[path]` names is a `mod.rs` to rustc: its modules are beside it.
            let by_path = path.is_some();
            let candidates = match path {
                Some(path) => vec![folder.join(path)],
                None => vec![
                    children.join(format!("{name}.rs")),
                    children.join(&name).join("mod.rs"),
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
    }
    found.sort();
    found
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

/// The `mod name;` declarations in `text`'s code, each with its `#[path = ".."]` if it has one.
fn declarations(text: &str) -> Vec<(String, Option<String>)> {
    let mask = code_mask(text);
    let bytes = text.as_bytes();
    let ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
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
        if name.is_empty() || !rest[name.len()..].trim_start().starts_with(';') {
            continue; // `mod name { .. }`, or not a declaration
        }
        found.push((name, path_attribute(&text[..at])));
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
        assert_eq!(
            declarations(text),
            [
                ("a".to_string(), None),
                ("b_c".to_string(), None),
                ("support".to_string(), Some("../support.rs".to_string())),
                ("type".to_string(), None),
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
            ("tests/plain.rs", "mod common;\n"),
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
        assert_eq!(names("tests/plain.rs"), ["tests/common/mod.rs"]);
        assert_eq!(names("tests/support.rs"), ["tests/helpers/mod.rs"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
