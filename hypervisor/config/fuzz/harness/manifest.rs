//! The `manifest` harness, shared by the `cargo fuzz` target (`fuzz_targets/manifest.rs`)
//! and the plain `cargo test` that replays `seeds/` and `regressions/`
//! (`hypervisor/config/tests/fuzz_regressions.rs`): the whole configuration pipeline never
//! panics, hangs or loops, whatever the manifest text.
//!
//! The board (`qemu-virt` from this repository) is loaded once — compiling its DTS with
//! `dtc` per input would make fuzzing crawl. Every input then goes through every stage the
//! host runs for `cargo xtask check`:
//! 1. `load_text`: the key walk, the typed parse, resolution (sizes, files, devices),
//!    placement, IPA layout and every named check;
//! 2. on rejection, the diagnostics renderer (line index, control-character escaping, the
//!    output cap), which quotes the hostile text back;
//! 3. on acceptance, `check_loaded` without images: the image checks of crate guests are
//!    skipped, file images are read through the bounded-regular-file rule, every guest
//!    device tree is built, the hypervisor footprint is checked, and `report.md` and
//!    `memory-map.svg` are generated (what panicked on an overflowing region `ipa`);
//!    then each guest device tree once more directly, and the rendering of its warnings.
//!
//! Only `std` and `bulkhead-config` are used: the test includes this file by path.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::OnceLock;
use std::time::Instant;

use bulkhead_config::{Board, Diagnostics, check_loaded, guest_dtb, load_text};

/// The `qemu-virt` board of the repository at `root`, loaded once.
pub fn board(root: &Path) -> &'static Board {
    static BOARD: OnceLock<Board> = OnceLock::new();
    BOARD.get_or_init(|| {
        let directory = Board::directory_of(root, "qemu-virt").expect("board-configs/qemu-virt");
        let mut diagnostics = Diagnostics::new();
        Board::load(&directory, &mut diagnostics)
            .unwrap_or_else(|| panic!("qemu-virt does not load:\n{}", diagnostics.render(false)))
    })
}

/// Renders `diagnostics` and checks the promises the renderer makes about hostile input.
fn render(diagnostics: &Diagnostics) {
    let rendered = diagnostics.render(false);
    assert!(
        !rendered.contains('\u{1b}'),
        "an escape character reached the rendering"
    );
    for diagnostic in diagnostics {
        let _ = diagnostic.location();
        let _ = diagnostic.snippet();
    }
}

/// Runs one input against `board`.
pub fn run(board: &Board, data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let spec = match load_text("fuzz.toml", text, board, Path::new("fuzz/fuzz.toml")) {
        Ok(spec) => spec,
        Err(diagnostics) => {
            render(&diagnostics);
            return;
        }
    };
    for index in 0..spec.partitions().len() {
        let _ = guest_dtb::build(&spec, index);
    }
    match check_loaded(spec, &BTreeMap::new(), None, Instant::now()) {
        Ok(report) => {
            let _ = report.to_string();
            render(&report.warnings);
        }
        Err(diagnostics) => render(&diagnostics),
    }
}
