//! `check` and `build` agree: for every fixture manifest under `tests/fixtures/`, the check
//! entry point ([`bulkhead_config::check`]) and the compile entry point
//! ([`bulkhead_config::compile`]), given the same built guest images, both accept or both
//! reject, with the same error codes at the same lines. (`check` once accepted images that
//! `build` could not fit; a manifest a reviewer checked must build.)
//!
//! Verifies: [utest->dsn~config-checks~1] [utest->dsn~config-images~1]

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bulkhead_config::{CheckOptions, Code, Diagnostic, Diagnostics, Options, check, compile};
use common::{demo_guest, fixture, prepare_fixture, root_for};

/// Every `.toml` under `directory`, recursively, skipping the fixture repository's own
/// `board.toml`s and guest workspace (they are inputs of fixtures, not manifests).
fn manifests(directory: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(directory).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if path.is_dir() {
            if name != "board-configs" && name != "partitions" {
                manifests(&path, out);
            }
        } else if name.ends_with(".toml") {
            out.push(path);
        }
    }
}

/// (code, line) of every error, sorted.
fn errors(diagnostics: &Diagnostics) -> Vec<(String, usize)> {
    code_lines(diagnostics.errors())
}

/// (code, line) of every warning, sorted.
fn warnings(diagnostics: &Diagnostics) -> Vec<(String, usize)> {
    code_lines(diagnostics.warnings())
}

fn code_lines<'a>(items: impl Iterator<Item = &'a Diagnostic>) -> Vec<(String, usize)> {
    let mut found: Vec<(String, usize)> = items
        .map(|item| (item.code().id().to_owned(), item.line().unwrap_or(0)))
        .collect();
    found.sort();
    found
}

#[test]
fn check_and_build_agree_on_every_fixture() {
    let mut all = Vec::new();
    manifests(&fixture(""), &mut all);
    all.sort();
    assert!(all.len() >= 70, "only {} fixtures found", all.len());
    let images = tempfile::tempdir().unwrap();
    let mut guest_images = BTreeMap::new();
    for name in ["heartbeat", "probe"] {
        let path = images.path().join(format!("{name}.elf"));
        std::fs::write(&path, demo_guest(name.as_bytes())).unwrap();
        guest_images.insert(name.to_owned(), path);
    }
    let (mut accepted, mut rejected) = (0, 0);
    for manifest in &all {
        let text = std::fs::read_to_string(manifest).unwrap();
        let prepared = prepare_fixture(manifest);
        let repo_root = root_for(&text);
        let checked = check(&CheckOptions {
            manifest: prepared.path.clone(),
            repo_root: repo_root.clone(),
            guest_images: guest_images.clone(),
            out_dir: None,
        });
        let out = tempfile::tempdir().unwrap();
        let built = compile(&Options {
            manifest: prepared.path.clone(),
            repo_root,
            out_dir: out.path().to_path_buf(),
            guest_images: guest_images.clone(),
        });
        let name = manifest.strip_prefix(fixture("")).unwrap().display();
        match (checked, built) {
            (Ok(report), Ok(compiled)) => {
                accepted += 1;
                assert_eq!(
                    warnings(&report.warnings),
                    warnings(&compiled.warnings),
                    "{name}: check and build warn differently"
                );
            }
            (Err(checked), Err(built)) => {
                rejected += 1;
                assert_eq!(
                    errors(&checked),
                    errors(&built),
                    "{name}: check and build reject differently\ncheck:\n{}\nbuild:\n{}",
                    checked.render(false),
                    built.render(false)
                );
            }
            // The one deliberate difference: a board the EL2 image has no driver for (BH0510)
            // is a warning for `check` (the manifest is right) and an error for `build`, at
            // the same `board.toml` line, and nothing else differs.
            (Ok(report), Err(built))
                if built.errors().all(|item| item.code() == Code::NoEl2Driver) =>
            {
                accepted += 1;
                let announced: Vec<(String, usize)> = warnings(&report.warnings)
                    .into_iter()
                    .filter(|(code, _)| code == Code::NoEl2Driver.id())
                    .collect();
                assert_eq!(
                    announced,
                    errors(&built),
                    "{name}: check must announce every BH0510 build refuses"
                );
            }
            (Ok(_), Err(built)) => panic!(
                "{name}: check accepts what build rejects:\n{}",
                built.render(false)
            ),
            (Err(checked), Ok(_)) => panic!(
                "{name}: build accepts what check rejects:\n{}",
                checked.render(false)
            ),
        }
    }
    assert!(accepted >= 5, "only {accepted} fixtures accepted");
    assert!(rejected >= 60, "only {rejected} fixtures rejected");
}
