//! `board-configs/qemu-virt/qemu-virt.dts` (and the `qemu-virt-gicv2` and `qemu-virt-gicv2-secure` trees) is
//! what QEMU builds for the board's `[qemu]` settings. The config compiler trusts that file for every device address; if a QEMU
//! upgrade moves a device, this test fails (regenerate with `cargo xtask board-dts qemu-virt`
//! and review the difference) instead of the hypervisor programming the wrong address.

use bulkhead_qemu_tests::Handoff;
use xtask::board_dts::{self, first_difference, tree_of};
use xtask::paths::Repository;

#[test]
fn qemu_virt_dts_matches_what_qemu_dumps() {
    board_dts_matches_what_qemu_dumps("qemu-virt");
}

/// The GICv2 variant of QEMU `virt` (GICD, GICC, GICH, GICV frames and the maintenance PPI
/// are read from this file).
#[test]
fn qemu_virt_gicv2_dts_matches_what_qemu_dumps() {
    board_dts_matches_what_qemu_dumps("qemu-virt-gicv2");
}

/// The same with EL3 (`secure=on`): Security Extensions in the GIC, the second PL011 Secure
/// only, no `/psci` node.
#[test]
fn qemu_virt_gicv2_secure_dts_matches_what_qemu_dumps() {
    board_dts_matches_what_qemu_dumps("qemu-virt-gicv2-secure");
}

/// Dumps `board`'s device tree from QEMU and compares it with the committed DTS.
fn board_dts_matches_what_qemu_dumps(board: &str) {
    // The handoff guarantees QEMU and dtc were checked (and installed) by `cargo xtask test`.
    Handoff::from_environment();
    let repository = Repository::locate();
    let settings = match board_dts::board_qemu_settings(&repository, board) {
        Ok(settings) => settings,
        Err(error) => panic!("{error}"),
    };
    let work_dir = repository
        .root()
        .join("target")
        .join("bulkhead")
        .join("qemu-tests")
        .join(format!("board-dts-{board}-{}", std::process::id()));
    let fresh = match board_dts::dump(board, &settings, &work_dir) {
        Ok(text) => text,
        Err(error) => panic!("{error}"),
    };
    let _ = std::fs::remove_dir_all(&work_dir);
    let path = repository.board_dts(board);
    let checked_in = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(error) => panic!("{}: {error}", path.display()),
    };
    if let Some((line, expected, dumped)) = first_difference(tree_of(&checked_in), tree_of(&fresh))
    {
        panic!(
            "{} no longer matches QEMU's device tree (tree line {line}):\n  file: {expected}\n  QEMU: {dumped}\n\
             run `cargo xtask board-dts {board}`, review the change, and check board.toml still agrees",
            path.display()
        );
    }
}
