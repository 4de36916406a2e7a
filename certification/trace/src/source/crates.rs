//! Which test binary and module each source file belongs to, so a tagged test function can
//! be found in the JUnit results by the name cargo-nextest gives it.
//!
//! nextest names a test by its *binary ID* and its path inside the binary: the library's
//! unit tests are `<package>` / `stage2::tests::maps_ram`, an integration test file
//! `tests/compile.rs` is `<package>::compile`, a binary's unit tests `<package>::bin/<name>`.
//! The module path of a file follows from the `mod` declarations that reach it from the
//! target's root (Rust Reference, "Modules": `mod x;` in `a/b.rs` is `a/b/x.rs` or
//! `a/b/x/mod.rs`; in a root or `mod.rs` file it is a sibling; `#[path]` overrides).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::source::items::ModuleDeclaration;

/// A test-carrying compilation target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// nextest's binary ID.
    pub binary_id: String,
    /// Repository-relative path of the root file.
    pub root: String,
}

/// Where a file sits in one target.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct FileModule {
    /// nextest's binary ID of the target.
    pub binary_id: String,
    /// Module path from the crate root to this file (empty for the root).
    pub module: Vec<String>,
}

/// The targets of every package under the scanned roots.
pub fn targets(repo_root: &Path, manifests: &[String]) -> Vec<Target> {
    let mut found = Vec::new();
    for manifest in manifests {
        let Ok(text) = std::fs::read_to_string(repo_root.join(manifest)) else { continue };
        let Ok(value) = text.parse::<toml::Table>() else { continue };
        let Some(package) = value.get("package").and_then(|package| package.get("name")).and_then(|name| name.as_str())
        else {
            continue;
        };
        let directory = manifest.rsplit_once('/').map_or("", |(directory, _)| directory);
        let join =
            |relative: &str| if directory.is_empty() { relative.to_owned() } else { format!("{directory}/{relative}") };
        let exists = |relative: &str| repo_root.join(join(relative)).is_file();
        let mut add = |binary_id: String, root: String| {
            if !found.iter().any(|target: &Target| target.root == root) {
                found.push(Target { binary_id, root });
            }
        };
        let lib_path =
            value.get("lib").and_then(|lib| lib.get("path")).and_then(|path| path.as_str()).unwrap_or("src/lib.rs");
        if exists(lib_path) {
            add(package.to_owned(), join(lib_path));
        }
        for (section, prefix) in [("bin", "bin/"), ("test", ""), ("bench", "bench/"), ("example", "example/")] {
            for entry in value.get(section).and_then(|entries| entries.as_array()).into_iter().flatten() {
                let Some(name) = entry.get("name").and_then(|name| name.as_str()) else { continue };
                let default = match section {
                    "bin" if name == package => "src/main.rs".to_owned(),
                    "bin" => format!("src/bin/{name}.rs"),
                    "test" => format!("tests/{name}.rs"),
                    "bench" => format!("benches/{name}.rs"),
                    _ => format!("examples/{name}.rs"),
                };
                let path = entry.get("path").and_then(|path| path.as_str()).map_or(default, str::to_owned);
                if exists(&path) {
                    add(format!("{package}::{prefix}{name}"), join(&path));
                }
            }
        }
        if exists("src/main.rs") {
            add(format!("{package}::bin/{package}"), join("src/main.rs"));
        }
        for (directory_name, prefix) in [("src/bin", "bin/"), ("tests", "")] {
            let Ok(entries) = std::fs::read_dir(repo_root.join(join(directory_name))) else { continue };
            let mut names: Vec<(String, String)> = Vec::new();
            for entry in entries.flatten() {
                let path = entry.path();
                let file_name = entry.file_name().to_string_lossy().into_owned();
                if path.is_file() && file_name.ends_with(".rs") {
                    names.push((file_name.trim_end_matches(".rs").to_owned(), format!("{directory_name}/{file_name}")));
                } else if path.join("main.rs").is_file() {
                    names.push((file_name.clone(), format!("{directory_name}/{file_name}/main.rs")));
                }
            }
            names.sort();
            for (name, path) in names {
                add(format!("{package}::{prefix}{name}"), join(&path));
            }
        }
    }
    found
}

/// Maps every file reachable from a target's root to its place in that target.
/// `declarations` gives each parsed file's `mod x;` declarations; files that did not parse
/// have none, so their children stay unmapped.
pub fn file_modules(
    targets: &[Target],
    declarations: &BTreeMap<String, Vec<ModuleDeclaration>>,
) -> BTreeMap<String, Vec<FileModule>> {
    let mut map: BTreeMap<String, Vec<FileModule>> = BTreeMap::new();
    for target in targets {
        let mut visited = BTreeSet::new();
        let mut pending = vec![(target.root.clone(), Vec::<String>::new(), true)];
        while let Some((file, module, is_root_like)) = pending.pop() {
            if !visited.insert(file.clone()) {
                continue;
            }
            map.entry(file.clone())
                .or_default()
                .push(FileModule { binary_id: target.binary_id.clone(), module: module.clone() });
            let parent = file.rsplit_once('/').map_or("", |(parent, _)| parent).to_owned();
            let own_directory = if is_root_like {
                parent.clone()
            } else {
                let stem = file.rsplit('/').next().unwrap_or_default().trim_end_matches(".rs");
                join_path(&parent, stem)
            };
            for declaration in declarations.get(&file).into_iter().flatten() {
                let mut base = own_directory.clone();
                for inline in &declaration.inline_parents {
                    base = join_path(&base, inline);
                }
                let candidates = match &declaration.path {
                    Some(path) => vec![normalise(&join_path(
                        if declaration.inline_parents.is_empty() { &parent } else { &base },
                        path,
                    ))],
                    None => vec![
                        join_path(&base, &format!("{}.rs", declaration.name)),
                        join_path(&base, &format!("{}/mod.rs", declaration.name)),
                    ],
                };
                if let Some(child) = candidates.into_iter().find(|candidate| declarations.contains_key(candidate)) {
                    let mut child_module = module.clone();
                    child_module.extend(declaration.inline_parents.iter().cloned());
                    child_module.push(declaration.name.clone());
                    let child_is_root_like = child.ends_with("/mod.rs") || declaration.path.is_some();
                    pending.push((child, child_module, child_is_root_like));
                }
            }
        }
    }
    for places in map.values_mut() {
        places.sort();
    }
    map
}

/// `base/relative`, or `relative` when `base` is empty.
fn join_path(base: &str, relative: &str) -> String {
    if base.is_empty() { relative.to_owned() } else { format!("{base}/{relative}") }
}

/// Resolves `.` and `..` components.
fn normalise(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "." | "" => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    parts.join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn declaration(name: &str, inline_parents: &[&str], path: Option<&str>) -> ModuleDeclaration {
        ModuleDeclaration {
            name: name.to_owned(),
            inline_parents: inline_parents.iter().map(|parent| (*parent).to_owned()).collect(),
            path: path.map(str::to_owned),
        }
    }

    #[test]
    fn targets_follow_cargo_conventions_and_nextest_binary_ids() {
        let root = crate::test_support::temp_dir("crates");
        for file in
            ["pkg/src/lib.rs", "pkg/src/main.rs", "pkg/src/bin/tool.rs", "pkg/tests/api.rs", "pkg/tests/suite/main.rs"]
        {
            std::fs::create_dir_all(root.join(file).parent().unwrap()).unwrap();
            std::fs::write(root.join(file), "").unwrap();
        }
        std::fs::write(root.join("pkg/Cargo.toml"), "[package]\nname = \"my-pkg\"\n").unwrap();
        let found = targets(&root, &["pkg/Cargo.toml".to_owned()]);
        let ids: Vec<(&str, &str)> =
            found.iter().map(|target| (target.binary_id.as_str(), target.root.as_str())).collect();
        assert_eq!(
            ids,
            [
                ("my-pkg", "pkg/src/lib.rs"),
                ("my-pkg::bin/my-pkg", "pkg/src/main.rs"),
                ("my-pkg::bin/tool", "pkg/src/bin/tool.rs"),
                ("my-pkg::api", "pkg/tests/api.rs"),
                ("my-pkg::suite", "pkg/tests/suite/main.rs"),
            ]
        );
    }

    #[test]
    fn module_paths_follow_mod_declarations_mod_rs_inline_modules_and_path_attributes() {
        let targets = [Target { binary_id: "core".to_owned(), root: "c/src/lib.rs".to_owned() }];
        let mut declarations = BTreeMap::new();
        declarations
            .insert("c/src/lib.rs".to_owned(), vec![declaration("stage2", &[], None), declaration("esr", &[], None)]);
        declarations.insert("c/src/stage2/mod.rs".to_owned(), vec![declaration("tests", &[], None)]);
        declarations.insert("c/src/stage2/tests.rs".to_owned(), vec![]);
        declarations.insert(
            "c/src/esr.rs".to_owned(),
            vec![declaration("decode", &["inner"], None), declaration("other", &[], Some("elsewhere.rs"))],
        );
        declarations.insert("c/src/esr/inner/decode.rs".to_owned(), vec![]);
        declarations.insert("c/src/elsewhere.rs".to_owned(), vec![]);
        declarations.insert("c/src/unreached.rs".to_owned(), vec![]);
        let map = file_modules(&targets, &declarations);
        let module = |file: &str| map.get(file).map(|places| places[0].module.join("::"));
        assert_eq!(module("c/src/lib.rs").as_deref(), Some(""));
        assert_eq!(module("c/src/stage2/tests.rs").as_deref(), Some("stage2::tests"));
        assert_eq!(module("c/src/esr/inner/decode.rs").as_deref(), Some("esr::inner::decode"));
        assert_eq!(module("c/src/elsewhere.rs").as_deref(), Some("esr::other"));
        assert_eq!(module("c/src/unreached.rs"), None);
    }
}
