//! Fuzz target `manifest`: the whole configuration pipeline on any manifest text; the
//! harness and its invariants are in `harness/manifest.rs`, shared with the regression test.
#![no_main]

#[path = "../harness/manifest.rs"]
mod harness;

use std::path::PathBuf;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../..");
    harness::run(harness::board(&root), data);
});
