//! `cargo xtask board-dts <board>`: rewrites the board's DTS from QEMU's own device tree.

use std::fs;

use xtask::board_dts;
use xtask::host_tools::{self, Need};
use xtask::paths::Repository;
use xtask::progress::Progress;

use super::Failure;

/// Dumps, decompiles and writes `board-configs/<board>/<board>.dts`, saying whether the tree
/// changed (and where, when it did).
pub fn board_dts(repository: &Repository, board: &str) -> Result<(), Failure> {
    let progress = Progress::terminal();
    host_tools::ensure(Need::QemuAndDtc, &progress)?;
    let settings = board_dts::board_qemu_settings(repository, board)?;
    let work_dir = repository
        .root()
        .join("target")
        .join("bulkhead")
        .join("board-dts")
        .join(board);
    let step = progress.step(format!("dumping the {board} device tree from QEMU"));
    let text = match board_dts::dump(board, &settings, &work_dir) {
        Ok(text) => {
            step.succeed("");
            text
        }
        Err(error) => {
            step.fail("");
            return Err(error.into());
        }
    };
    let path = repository.board_dts(board);
    let previous = fs::read_to_string(&path).unwrap_or_default();
    fs::write(&path, &text).map_err(|source| Failure::Io {
        path: path.clone(),
        source,
    })?;
    match board_dts::first_difference(board_dts::tree_of(&previous), board_dts::tree_of(&text)) {
        None => println!("{}: device tree unchanged", path.display()),
        Some((line, old, new)) => println!(
            "{}: device tree updated (first change at tree line {line}: `{}` is now `{}`); \
             rebuild and rerun `cargo xtask test`",
            path.display(),
            old.trim(),
            new.trim()
        ),
    }
    Ok(())
}
