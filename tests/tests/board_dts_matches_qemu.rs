//! `board-configs/qemu-virt/qemu-virt.dts` is what QEMU builds for the board's `[qemu]`
//! settings. The config compiler trusts that file for every device address; if a QEMU
//! upgrade moves a device, this test fails (regenerate with `cargo xtask board-dts qemu-virt`
//! and review the difference) instead of the hypervisor programming the wrong address.

use bulkhead_qemu_tests::Handoff;
use xtask::board_dts::{self, first_difference, tree_of};
use xtask::paths::Repository;

#[test]
fn qemu_virt_dts_matches_what_qemu_dumps() {
    // The handoff guarantees QEMU and dtc were checked (and installed) by `cargo xtask test`.
    Handoff::from_environment();
    let repository = Repository::locate();
    let settings = match board_dts::board_qemu_settings(&repository, "qemu-virt") {
        Ok(settings) => settings,
        Err(error) => panic!("{error}"),
    };
    let work_dir = repository
        .root()
        .join("target")
        .join("bulkhead")
        .join("qemu-tests")
        .join(format!("board-dts-{}", std::process::id()));
    let fresh = match board_dts::dump("qemu-virt", &settings, &work_dir) {
        Ok(text) => text,
        Err(error) => panic!("{error}"),
    };
    let _ = std::fs::remove_dir_all(&work_dir);
    let path = repository.board_dts("qemu-virt");
    let checked_in = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(error) => panic!("{}: {error}", path.display()),
    };
    if let Some((line, expected, dumped)) = first_difference(tree_of(&checked_in), tree_of(&fresh))
    {
        panic!(
            "{} no longer matches QEMU's device tree (tree line {line}):\n  file: {expected}\n  QEMU: {dumped}\n\
             run `cargo xtask board-dts qemu-virt`, review the change, and check board.toml still agrees",
            path.display()
        );
    }
}
