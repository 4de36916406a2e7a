//! Finding the crates and source files of a tree, and which profile each file gets.
//!
//! A crate is a directory with a `Cargo.toml` that has a `[package]`; a file belongs to the
//! nearest such directory above it. Only code under a crate's `src/` gets the crate's profile:
//! `build.rs`, `tests/`, `benches/` and `examples/` are host code whatever the crate is.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::config::{Profile, Settings};
use crate::error::Error;

/// One crate (Cargo package).
#[derive(Clone, Debug)]
pub struct Package {
    /// The package name from `Cargo.toml`.
    pub name: String,
    /// Its directory, repository-relative ('' for the root).
    pub dir: String,
    /// The profile of its `src/`.
    pub profile: Profile,
}

/// One Rust source file to analyse.
#[derive(Clone, Debug)]
pub struct SourceFile {
    /// Repository-relative path, '/'-separated.
    pub relative: String,
    /// Absolute path.
    pub absolute: PathBuf,
    /// Index into [`Tree::packages`], if the file is in a crate.
    pub package: Option<usize>,
    /// The profile the file's code gets.
    pub profile: Profile,
    /// The module path of the file inside its crate (`["stage2", "table"]`), and whether the
    /// file is a crate root (`lib.rs`, `main.rs`, `bin/*.rs`).
    pub module: Vec<String>,
    /// Whether this file is a crate root.
    pub is_crate_root: bool,
}

/// The crates and files of a tree.
#[derive(Clone, Debug, Default)]
pub struct Tree {
    /// The crates, sorted by directory.
    pub packages: Vec<Package>,
    /// The source files, sorted by path.
    pub files: Vec<SourceFile>,
}

impl Tree {
    /// Walks `root`, skipping `target/`, hidden directories and excluded prefixes.
    pub fn discover(root: &Path, settings: &Settings) -> Result<Tree, Error> {
        let mut manifests: BTreeMap<String, String> = BTreeMap::new();
        let mut sources: Vec<(String, PathBuf)> = Vec::new();
        walk(root, root, settings, &mut manifests, &mut sources)?;

        let mut packages = Vec::new();
        for (dir, manifest) in &manifests {
            if let Some(name) = package_name(manifest) {
                let profile = settings.profile_of(if dir.is_empty() { "." } else { dir });
                packages.push(Package {
                    name,
                    dir: dir.clone(),
                    profile,
                });
            }
        }
        sources.sort();
        let files = sources
            .into_iter()
            .map(|(relative, absolute)| classify(relative, absolute, &packages, settings))
            .collect();
        Ok(Tree { packages, files })
    }
}

fn walk(
    root: &Path,
    dir: &Path,
    settings: &Settings,
    manifests: &mut BTreeMap<String, String>,
    sources: &mut Vec<(String, PathBuf)>,
) -> Result<(), Error> {
    let entries = std::fs::read_dir(dir).map_err(|error| Error::Io {
        path: dir.to_owned(),
        error,
    })?;
    let mut paths: Vec<PathBuf> = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|error| Error::Io {
            path: dir.to_owned(),
            error,
        })?;
        paths.push(entry.path());
    }
    paths.sort();
    for path in paths {
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let relative = relative_path(root, &path);
        if settings.is_excluded(&relative) {
            continue;
        }
        if path.is_dir() {
            if name.starts_with('.') || name == "target" {
                continue;
            }
            walk(root, &path, settings, manifests, sources)?;
        } else if name == "Cargo.toml" {
            let text = std::fs::read_to_string(&path).map_err(|error| Error::Io {
                path: path.clone(),
                error,
            })?;
            let parent = relative
                .rsplit_once('/')
                .map_or("", |(parent, _)| parent)
                .to_owned();
            manifests.insert(parent, text);
        } else if name.ends_with(".rs") {
            sources.push((relative, path));
        }
    }
    Ok(())
}

/// `path` relative to `root`, '/'-separated.
pub fn relative_path(root: &Path, path: &Path) -> String {
    let relative = path.strip_prefix(root).unwrap_or(path);
    relative
        .components()
        .map(|component| component.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

/// The `[package] name` of a manifest, if it has a package.
fn package_name(manifest: &str) -> Option<String> {
    let value: toml::Table = toml::from_str(manifest).ok()?;
    value
        .get("package")?
        .get("name")?
        .as_str()
        .map(str::to_owned)
}

fn classify(
    relative: String,
    absolute: PathBuf,
    packages: &[Package],
    settings: &Settings,
) -> SourceFile {
    let package = packages
        .iter()
        .enumerate()
        .filter(|(_, package)| crate::config::path_has_prefix(&relative, &package.dir))
        .max_by_key(|(_, package)| package.dir.len())
        .map(|(index, _)| index);
    let inside = match package.and_then(|index| packages.get(index)) {
        Some(package) if package.dir.is_empty() => relative.clone(),
        Some(package) => relative
            .strip_prefix(&package.dir)
            .map(|rest| rest.trim_start_matches('/').to_owned())
            .unwrap_or_else(|| relative.clone()),
        None => relative.clone(),
    };
    let in_src = inside.starts_with("src/");
    let profile = match package.and_then(|index| packages.get(index)) {
        Some(package) if in_src => package.profile,
        Some(_) => Profile::Host,
        None => settings.profile_of(&relative),
    };
    let (module, is_crate_root) = module_path(&inside);
    SourceFile {
        relative,
        absolute,
        package,
        profile,
        module,
        is_crate_root,
    }
}

/// The module path of a crate-relative file path, and whether it is a crate root.
///
/// `src/lib.rs` → `[]` (root), `src/a/b.rs` → `[a, b]`, `src/a/mod.rs` → `[a]`,
/// `src/bin/x.rs` → `[bin, x]` (its own root), `tests/x.rs` → `[tests, x]` (its own root).
pub fn module_path(inside: &str) -> (Vec<String>, bool) {
    let without_extension = inside.strip_suffix(".rs").unwrap_or(inside);
    let mut parts: Vec<&str> = without_extension.split('/').collect();
    let top = parts.first().copied().unwrap_or("");
    if top == "src" {
        parts.remove(0);
        match parts.as_slice() {
            ["lib"] | ["main"] => return (Vec::new(), true),
            ["bin", name] => return (vec!["bin".to_owned(), (*name).to_owned()], true),
            _ => {}
        }
    } else if parts.len() == 2 || top == "build" {
        let owned = parts.iter().map(|part| (*part).to_owned()).collect();
        return (owned, true);
    }
    if parts.last() == Some(&"mod") {
        parts.pop();
    }
    (parts.iter().map(|part| (*part).to_owned()).collect(), false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_paths_follow_the_file_layout() {
        assert_eq!(module_path("src/lib.rs"), (Vec::new(), true));
        assert_eq!(
            module_path("src/stage2/mod.rs"),
            (vec!["stage2".to_owned()], false)
        );
        assert_eq!(
            module_path("src/stage2/table.rs"),
            (vec!["stage2".to_owned(), "table".to_owned()], false)
        );
        assert!(module_path("src/bin/tool.rs").1);
        assert!(module_path("tests/boot.rs").1);
        assert!(module_path("build.rs").1);
    }
}
