//! Fuzz target: the manifest parser and validator never panic, whatever the text.
//!
//! The board (`qemu-virt` from this repository) is loaded once — compiling its DTS with
//! `dtc` per input would make fuzzing crawl — and every input goes through
//! `bulkhead_config::load_text`: the key walk, the typed parse, resolution, placement,
//! layout and every named check. Inputs that pass are also turned into guest device trees
//! and the report, which walk everything validation produced.
#![no_main]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use bulkhead_config::{Board, Diagnostics, guest_dtb, load_text};
use libfuzzer_sys::fuzz_target;

fn board() -> &'static Board {
    static BOARD: OnceLock<Board> = OnceLock::new();
    BOARD.get_or_init(|| {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../..");
        let directory = Board::directory_of(&root, "qemu-virt").expect("board-configs/qemu-virt");
        let mut diagnostics = Diagnostics::new();
        Board::load(&directory, &mut diagnostics)
            .unwrap_or_else(|| panic!("qemu-virt does not load:\n{}", diagnostics.render(false)))
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(spec) = load_text("fuzz.toml", text, board(), Path::new("fuzz/fuzz.toml")) {
        for index in 0..spec.partitions().len() {
            let _ = guest_dtb::build(&spec, index);
        }
    }
});
