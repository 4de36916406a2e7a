//! Replays the `manifest` fuzz corpus under plain `cargo test`: every file in
//! `fuzz/seeds/manifest/` and `fuzz/regressions/manifest/` goes through the harness the
//! `cargo fuzz` target runs (`fuzz/harness/manifest.rs`, included by path), so each crash the
//! fuzzer found stays a test and the seeds are checked without libFuzzer.

#[path = "../fuzz/harness/manifest.rs"]
mod harness;

use std::path::{Path, PathBuf};

fn inputs(directory: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(directory) else { return Vec::new() };
    let mut files: Vec<PathBuf> =
        entries.filter_map(Result::ok).map(|entry| entry.path()).filter(|path| path.is_file()).collect();
    files.sort();
    files
}

/// Runs every input of `fuzz/<kind>/manifest/`; returns how many ran.
fn replay(kind: &str) -> usize {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let board = harness::board(&crate_dir.join("../.."));
    let files = inputs(&crate_dir.join("fuzz").join(kind).join("manifest"));
    for path in &files {
        let data = std::fs::read(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
        let outcome = std::panic::catch_unwind(|| harness::run(board, &data));
        assert!(outcome.is_ok(), "{} fails the manifest harness (reproduce: cargo xtask fuzz --target manifest)", path.display());
    }
    files.len()
}

#[test]
fn every_manifest_regression_input_passes_the_harness() {
    // Crashes found by the fuzzer are kept here after their fix; the directory may be empty.
    let _ = replay("regressions");
}

#[test]
fn every_manifest_seed_passes_the_harness() {
    let ran = replay("seeds");
    assert!(ran >= 10, "only {ran} manifest seeds: the in-tree corpus is missing");
}
