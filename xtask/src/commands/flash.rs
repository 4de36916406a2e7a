//! `cargo xtask flash --board rpi4|zcu102`: builds the board's system, makes and checks its SD
//! card files (`xtask::flash`), and writes them to a card only with `--device` and a typed
//! confirmation.

use std::path::{Path, PathBuf};

use xtask::flash::device;
use xtask::flash::tools::FlashTools;
use xtask::flash::{self, FlashBoard, FlashRequest};
use xtask::host_tools::{self, Need};
use xtask::paths::Repository;
use xtask::pipeline::{BuildRequest, Pipeline};
use xtask::progress::Progress;
use xtask::toolchain::BareMetalCargo;

use super::Failure;
use crate::cli::FlashArgs;

/// The manifest to build for `board`: the one named, else the board's demo; an error that
/// says what to pass when the board has no demo yet.
pub fn manifest_for(repository: &Repository, board: &str, named: Option<&Path>) -> Result<PathBuf, Failure> {
    if let Some(manifest) = named {
        return Ok(repository.resolve_user_path(manifest));
    }
    let demo = repository.board_demo_manifest(board);
    if demo.is_file() {
        return Ok(demo);
    }
    Err(Failure::Flash(format!(
        "board {board} has no demo system yet ({} does not exist): name one with --manifest, e.g. --manifest board-configs/{board}/example.toml",
        demo.strip_prefix(repository.root()).unwrap_or(&demo).display()
    )))
}

/// Runs the command.
pub fn flash(repository: &Repository, arguments: &FlashArgs) -> Result<(), Failure> {
    let board = FlashBoard::from_name(&arguments.board).ok_or_else(|| {
        let supported: Vec<&str> = FlashBoard::ALL.iter().map(|board| board.name()).collect();
        Failure::Flash(format!(
            "cannot make SD card files for board `{}`: supported are {} (QEMU boards need none: `cargo xtask run`)",
            arguments.board,
            supported.join(", ")
        ))
    })?;
    let manifest = manifest_for(repository, board.name(), arguments.manifest.as_deref())?;
    let progress = Progress::terminal();
    let tools = FlashTools::ensure(&progress).map_err(|error| Failure::Flash(error.to_string()))?;
    let cargo = BareMetalCargo::ensure(&progress)?;
    host_tools::ensure(Need::Dtc, &progress)?;
    let built = Pipeline::new(repository, cargo, progress).build(&BuildRequest {
        manifest,
        board: Some(board.name().to_owned()),
    })?;
    let system = built.output.name().to_owned();
    let out = arguments.out.as_ref().map_or_else(
        // Per board too: both boards' `example.toml` are systems called `example`.
        || repository.root().join("target").join("flash").join(board.name()).join(&system),
        |out| repository.resolve_user_path(out),
    );
    let firmware = arguments.firmware.as_ref().map(|directory| repository.resolve_user_path(directory));
    let elf = built.hypervisor_elf();
    let artifacts = flash::create(
        &FlashRequest {
            board,
            system: &system,
            elf: &elf,
            board_config: &built.compiled.board,
            out: &out,
            firmware: firmware.as_deref(),
        },
        &tools,
        &progress,
    )
    .map_err(|error| Failure::Flash(error.to_string()))?;

    let shown = |path: &Path| path.strip_prefix(repository.root()).unwrap_or(path).display().to_string();
    println!("SD card files for {} (system `{system}`, image {}):", board.name(), shown(&elf));
    for file in &artifacts.card_files {
        println!("  boot/{}", file.name);
    }
    println!("  card image  {}", shown(&artifacts.card_image));
    println!("  read first  {}", shown(&artifacts.notes));
    if !artifacts.missing_firmware.is_empty() {
        println!(
            "Not on the card yet (vendor files; see {}): {}",
            shown(&artifacts.notes),
            artifacts.missing_firmware.join(", ")
        );
    }
    match &arguments.device {
        Some(device) => {
            if !artifacts.missing_firmware.is_empty() {
                eprintln!("note: the card will not boot until the vendor files above are copied onto its FAT partition");
            }
            device::write_image(&artifacts.card_image, device, &progress).map_err(|error| Failure::Flash(error.to_string()))
        }
        None => {
            println!(
                "To write a card: cargo xtask flash --board {} --device /dev/sdX (asks before writing), or copy boot/ onto its FAT partition",
                board.name()
            );
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_board_without_a_demo_needs_a_manifest_and_says_so() {
        let repository = Repository::at(std::env::temp_dir().join("bulkhead-no-such-repository"));
        let Err(Failure::Flash(message)) = manifest_for(&repository, "rpi4", None) else {
            panic!("expected a flash failure")
        };
        assert!(message.contains("partitions/demo-rpi4.toml does not exist"), "{message}");
        assert!(message.contains("--manifest board-configs/rpi4/example.toml"), "{message}");
        let named = manifest_for(&repository, "rpi4", Some(Path::new("/abs/m.toml")));
        assert!(matches!(named, Ok(path) if path == Path::new("/abs/m.toml")));
    }
}
