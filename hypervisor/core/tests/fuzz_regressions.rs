//! Replays the fuzz corpus of the core under plain `cargo test`: every file in
//! `fuzz/seeds/<target>/` and `fuzz/regressions/<target>/` goes through the same harness
//! function the `cargo fuzz` target runs (`fuzz/harness/`, included here by path), so an
//! input that once crashed stays a test, and the invariants are checked on every seed
//! without libFuzzer or the nightly-only flags it needs.

#[path = "../fuzz/harness/mod.rs"]
#[allow(dead_code, reason = "the harness module serves the fuzz targets too; a replay uses only the functions it calls")]
mod harness;

use std::path::{Path, PathBuf};

/// The files of `directory`, sorted; none if it does not exist.
fn inputs(directory: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(directory) else { return Vec::new() };
    let mut files: Vec<PathBuf> =
        entries.filter_map(Result::ok).map(|entry| entry.path()).filter(|path| path.is_file()).collect();
    files.sort();
    files
}

/// Runs every seed and regression input of every target; returns how many ran.
fn replay(kind: &str) -> usize {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz").join(kind);
    let mut ran = 0;
    for (target, run) in harness::TARGETS {
        for path in inputs(&root.join(target)) {
            let data = std::fs::read(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
            let outcome = std::panic::catch_unwind(|| run(&data));
            assert!(outcome.is_ok(), "{target}: {} fails its harness (reproduce: cargo xtask fuzz --target {target}, or the file with cargo fuzz run)", path.display());
            ran += 1;
        }
    }
    ran
}

#[test]
fn every_regression_input_passes_its_harness() {
    // Each crash the fuzzer found is kept here after its fix; the directories may be empty.
    let _ = replay("regressions");
}

#[test]
fn every_seed_passes_its_harness() {
    let ran = replay("seeds");
    assert!(ran >= harness::TARGETS.len(), "only {ran} seed inputs: every target needs its in-tree corpus");
}

#[test]
fn every_harness_takes_any_bytes() {
    // Short, uniform and pseudo-random inputs (a fixed xorshift stream): each harness
    // asserts its invariants on whatever it is given and must not reject the input itself.
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let noise: Vec<u8> = (0..4096)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()[0]
        })
        .collect();
    for (_, run) in harness::TARGETS {
        for data in [&[][..], &[0; 64], &[0xff; 64], &noise] {
            run(data);
        }
    }
}
