//! *Resolve*, guest crates: `image = { crate = "name" }` must name a guest xtask can build,
//! or `check` would pass a manifest that `build` then fails with cargo's own message.
//!
//! xtask builds guests with `cargo build -p <name>` in the guest workspace (`partitions/` of
//! the repository) and boots the binary of the same name. So a crate is known when
//! `partitions/Cargo.toml` lists `<name>` in `[workspace] members`, and
//! `partitions/<name>/Cargo.toml` is a package called `<name>` with a binary of that name
//! (`src/main.rs`, or a `[[bin]]` named so). Names are looked up once each (a manifest may
//! name one crate thousands of times), and only `[A-Za-z0-9_-]` names are looked up at all, so
//! a name cannot walk out of the workspace (`../..`).
//!
//! Design: [impl->dsn~config-checks~1]

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::diagnostic::{Code, Diagnostic, Diagnostics, Source};
use crate::input_file;
use crate::manifest::Manifest;

/// The guest workspace's directory under the repository root.
pub const GUEST_WORKSPACE: &str = "partitions";

#[derive(Deserialize)]
struct WorkspaceToml {
    workspace: Option<Workspace>,
}

#[derive(Deserialize)]
struct Workspace {
    #[serde(default)]
    members: Vec<String>,
}

#[derive(Deserialize)]
struct PackageToml {
    package: Option<Package>,
    #[serde(default)]
    bin: Vec<Binary>,
}

#[derive(Deserialize)]
struct Package {
    name: String,
}

#[derive(Deserialize)]
struct Binary {
    name: String,
}

/// Reads a small TOML file of the workspace, through the same bounded-regular-file rule as
/// every other input.
fn read_toml<T: for<'de> Deserialize<'de>>(path: &Path) -> Option<T> {
    let bytes = input_file::read(path).ok()?;
    toml::from_str(std::str::from_utf8(&bytes).ok()?).ok()
}

/// Why `name` is not a buildable guest of `workspace`, or `None` when it is.
fn problem(workspace: &Path, members: &[String], name: &str) -> Option<String> {
    let safe = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !safe {
        return Some("is not a crate name".to_owned());
    }
    if !members.iter().any(|member| member == name) {
        return Some(format!(
            "is not a member of the guest workspace {}",
            workspace.join("Cargo.toml").display()
        ));
    }
    let directory = workspace.join(name);
    let Some(package) = read_toml::<PackageToml>(&directory.join("Cargo.toml")) else {
        return Some(format!(
            "has no readable {}",
            directory.join("Cargo.toml").display()
        ));
    };
    if package.package.as_ref().map(|package| package.name.as_str()) != Some(name) {
        return Some(format!(
            "is not the package name in {}",
            directory.join("Cargo.toml").display()
        ));
    }
    let binary = directory.join("src/main.rs").is_file()
        || package.bin.iter().any(|binary| binary.name == name);
    (!binary).then(|| format!("is a library: {} has no binary `{name}`", directory.display()))
}

/// Reports every `image = { crate = ... }` that names no buildable guest of `workspace`,
/// at the crate name.
pub(crate) fn check(
    manifest: &Manifest,
    workspace: &Path,
    source: &Source,
    diagnostics: &mut Diagnostics,
) {
    let members = read_toml::<WorkspaceToml>(&workspace.join("Cargo.toml"))
        .and_then(|file| file.workspace)
        .map(|workspace| workspace.members)
        .unwrap_or_default();
    let mut verdicts: BTreeMap<&str, Option<String>> = BTreeMap::new();
    for partition in &manifest.partitions {
        let Some(crate_name) = &partition.get_ref().image.get_ref().crate_name else {
            continue;
        };
        let name = crate_name.get_ref().as_str();
        let verdict = verdicts
            .entry(name)
            .or_insert_with(|| problem(workspace, &members, name));
        if let Some(why) = verdict {
            diagnostics.push(
                Diagnostic::error(
                    Code::GuestCrateUnknown,
                    format!("guest crate `{name}` {why}"),
                )
                .with_label(source, crate_name.span(), "no such guest crate")
                .with_help(format!(
                    "guest crates of this repository: {}; or give the image as {{ file = \"path\" }}",
                    if members.is_empty() {
                        "none".to_owned()
                    } else {
                        members.join(", ")
                    }
                )),
            );
        }
    }
}
