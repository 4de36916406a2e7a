//! `cargo xtask flash`: the files a real Raspberry Pi 4 or ZCU102 boots Bulkhead from, made
//! from a built system, checked, and optionally written to an SD card.
//!
//! Output directory (default `target/flash/<board>/<system>/`):
//! - `boot/`: exactly what goes on the card's FAT partition (Raspberry Pi 4: `bulkhead.bin`,
//!   `config.txt`; ZCU102: `bulkhead.itb`, `boot.scr`), plus the vendor firmware files when
//!   `--firmware DIR` names them;
//! - `sdcard.img`: an MBR disk image with that partition ([`fat`]), for `dd` or `--device`;
//! - `FIRMWARE.md` (Raspberry Pi 4) or `BOOT.md` (ZCU102): what else the card needs, and the
//!   exact boot commands and addresses;
//! - `build/`: intermediate files (the ZCU102's `.its`, flat image, device tree, `boot.cmd`).
//!
//! Every file is checked after it is made ([`verify`]); a failed check fails the command.
//! Nothing is written to a disk unless [`device::write_image`] accepts it.

pub mod binary;
pub mod device;
pub mod fat;
pub mod rpi4;
pub mod tools;
pub mod uimage;
pub mod verify;
pub mod zcu102;

use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

use bulkhead_config::board::Board;
use bulkhead_config::units::hex;

use crate::progress::Progress;

use self::binary::{BinaryError, RawImage};
use self::fat::CardFile;
use self::tools::FlashTools;
use self::verify::CheckFailure;

/// The boards `cargo xtask flash` makes files for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlashBoard {
    /// Raspberry Pi 4 Model B: the firmware loads the kernel named by `config.txt`.
    Rpi4,
    /// Xilinx ZCU102: vendor `BOOT.BIN`, then U-Boot runs `boot.scr`.
    Zcu102,
}

impl FlashBoard {
    /// Every board, for messages.
    pub const ALL: [Self; 2] = [Self::Rpi4, Self::Zcu102];

    /// The board of `board-configs/<name>/`, when flashing it is supported.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|board| board.name() == name)
    }

    /// The board directory name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Rpi4 => "rpi4",
            Self::Zcu102 => "zcu102",
        }
    }

    /// The vendor files `--firmware DIR` may provide, by their name on the card.
    pub fn firmware_files(self, board: &Board) -> Vec<String> {
        match self {
            Self::Rpi4 => rpi4::firmware_files(board.console.uart.kind)
                .into_iter()
                .map(|(file, _)| file.to_owned())
                .collect(),
            Self::Zcu102 => vec![BOOT_BIN.to_owned()],
        }
    }
}

/// The ZCU102's vendor boot image (FSBL, PMU firmware, TF-A, U-Boot).
pub const BOOT_BIN: &str = "BOOT.BIN";

/// What to make.
#[derive(Clone, Debug)]
pub struct FlashRequest<'a> {
    /// The board.
    pub board: FlashBoard,
    /// The system's name (its manifest stem).
    pub system: &'a str,
    /// The hypervisor ELF `cargo xtask build` produced for this system.
    pub elf: &'a Path,
    /// The board the system was compiled for (base, RAM, console, device tree).
    pub board_config: &'a Board,
    /// The output directory.
    pub out: &'a Path,
    /// A directory holding the vendor firmware files to put on the card, if any.
    pub firmware: Option<&'a Path>,
}

/// What was made.
#[derive(Clone, Debug)]
pub struct Artifacts {
    /// The board.
    pub board: FlashBoard,
    /// The output directory.
    pub out: PathBuf,
    /// The FAT partition's files.
    pub card_files: Vec<CardFile>,
    /// The SD card image.
    pub card_image: PathBuf,
    /// The notes file (`FIRMWARE.md` or `BOOT.md`).
    pub notes: PathBuf,
    /// The flat hypervisor image.
    pub raw: RawImage,
    /// The hypervisor's kernel file in `boot/` (Raspberry Pi 4) or `build/` (ZCU102).
    pub kernel_file: PathBuf,
    /// The ZCU102's addresses.
    pub zcu102_plan: Option<zcu102::BootPlan>,
    /// Vendor files that are not on the card and must be added.
    pub missing_firmware: Vec<String>,
}

/// Why the flash files could not be made or did not check out.
#[derive(Debug)]
pub enum FlashError {
    /// The ELF cannot be the board's kernel file.
    Binary(BinaryError),
    /// The ZCU102's addresses do not work.
    Plan(zcu102::PlanError),
    /// A file could not be read or written.
    Io {
        /// Which.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// `mkimage` failed.
    Mkimage(String),
    /// The FAT image could not be made.
    Fat(fat::FatError),
    /// A made file failed its check.
    Check(CheckFailure),
}

impl fmt::Display for FlashError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Binary(error) => write!(f, "the hypervisor image cannot be booted by the firmware: {error}"),
            Self::Plan(error) => write!(f, "{error}"),
            Self::Io { path, source } => write!(f, "{}: {source}", path.display()),
            Self::Mkimage(error) => write!(f, "mkimage: {error}"),
            Self::Fat(error) => write!(f, "{error}"),
            Self::Check(error) => write!(f, "check failed: {error}"),
        }
    }
}

impl std::error::Error for FlashError {}

impl From<CheckFailure> for FlashError {
    fn from(error: CheckFailure) -> Self {
        Self::Check(error)
    }
}

pub(crate) fn io_error(path: &Path) -> impl FnOnce(io::Error) -> FlashError + '_ {
    move |source| FlashError::Io { path: path.to_path_buf(), source }
}

pub(crate) fn write(path: &Path, contents: impl AsRef<[u8]>) -> Result<(), FlashError> {
    fs::write(path, contents).map_err(io_error(path))
}

pub(crate) fn mkimage(tools: &FlashTools, directory: &Path, arguments: &[&str]) -> Result<(), FlashError> {
    let output = Command::new(&tools.mkimage)
        .current_dir(directory)
        .args(arguments)
        .output()
        .map_err(io_error(&tools.mkimage))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(FlashError::Mkimage(String::from_utf8_lossy(&output.stderr).trim().to_owned()))
    }
}

/// Makes the board's files in `request.out`, then checks them.
pub fn create(request: &FlashRequest<'_>, tools: &FlashTools, progress: &Progress) -> Result<Artifacts, FlashError> {
    let out = request.out;
    let boot = out.join("boot");
    let build = out.join("build");
    let _ = fs::remove_dir_all(&boot);
    for directory in [&boot, &build] {
        fs::create_dir_all(directory).map_err(io_error(directory))?;
    }
    let elf = fs::read(request.elf).map_err(io_error(request.elf))?;
    let raw = binary::flatten(&elf).map_err(FlashError::Binary)?;
    let hypervisor = request.board_config.hypervisor;
    raw.check_against(hypervisor.base()).map_err(FlashError::Binary)?;
    let console = request.board_config.console.uart.kind;

    let step = progress.step(format!("making the {} boot files", request.board.name()));
    let (mut card_files, kernel_file, notes, plan) = match request.board {
        FlashBoard::Rpi4 => {
            let kernel = boot.join(rpi4::KERNEL_FILE);
            write(&kernel, &raw.bytes)?;
            let config = boot.join(rpi4::CONFIG_FILE);
            let gpu = rpi4::gpu_memory_mib(&request.board_config.ram);
            write(&config, rpi4::config_txt(request.system, hypervisor.base(), console, gpu))?;
            let notes = out.join(rpi4::FIRMWARE_NOTES_FILE);
            write(&notes, rpi4::firmware_notes(console))?;
            let files = vec![
                CardFile { name: rpi4::KERNEL_FILE.to_owned(), source: kernel.clone() },
                CardFile { name: rpi4::CONFIG_FILE.to_owned(), source: config },
            ];
            (files, kernel, notes, None)
        }
        FlashBoard::Zcu102 => {
            let dtb = &request.board_config.dtb;
            // The FIT holds the image, the tree and a few hundred bytes of structure.
            let fit_estimate = raw.bytes.len() as u64 + dtb.len() as u64 + (64 << 10);
            let plan = zcu102::BootPlan::new(
                hypervisor,
                &request.board_config.ram,
                raw.bytes.len() as u64,
                fit_estimate,
                zcu102::ZYNQMP_SCRIPT_ADDRESS,
            )
            .map_err(FlashError::Plan)?;
            let (fit, script) = zcu102::write_boot_files(
                tools,
                &build,
                &boot,
                &plan,
                zcu102::FitContents { kernel: &raw.bytes, dtb, system: request.system, board: "ZCU102" },
            )?;
            let kernel = build.join(zcu102::KERNEL_FILE);
            let notes = out.join("BOOT.md");
            write(&notes, zcu102_notes(&plan, request.system))?;
            let files = vec![
                CardFile { name: zcu102::FIT_FILE.to_owned(), source: fit },
                CardFile { name: zcu102::SCRIPT_FILE.to_owned(), source: script },
            ];
            (files, kernel, notes, Some(plan))
        }
    };
    step.succeed(&format!("hypervisor {} KiB at {}", raw.bytes.len() >> 10, hex(hypervisor.base())));

    let mut missing_firmware = Vec::new();
    for name in request.board.firmware_files(request.board_config) {
        match request.firmware.map(|directory| directory.join(&name)).filter(|path| path.is_file()) {
            Some(source) => {
                let destination = boot.join(&name);
                if let Some(parent) = destination.parent() {
                    fs::create_dir_all(parent).map_err(io_error(parent))?;
                }
                fs::copy(&source, &destination).map_err(io_error(&source))?;
                card_files.push(CardFile { name, source: destination });
            }
            None => missing_firmware.push(name),
        }
    }

    let card_image = out.join("sdcard.img");
    fat::create(tools, &card_image, &card_files, progress).map_err(FlashError::Fat)?;
    let artifacts = Artifacts {
        board: request.board,
        out: out.to_path_buf(),
        card_files,
        card_image,
        notes,
        raw,
        kernel_file,
        zcu102_plan: plan,
        missing_firmware,
    };
    let step = progress.step("checking the files as the board will read them");
    match check(&artifacts, &elf, hypervisor.base(), tools) {
        Ok(()) => step.succeed(""),
        Err(error) => {
            step.fail("");
            return Err(error);
        }
    }
    Ok(artifacts)
}

/// Every check of [`verify`] on `artifacts`; `elf` is the image they were made from.
pub fn check(artifacts: &Artifacts, elf: &[u8], base: u64, tools: &FlashTools) -> Result<(), FlashError> {
    let expected = binary::flatten(elf).map_err(FlashError::Binary)?;
    let kernel = fs::read(&artifacts.kernel_file).map_err(io_error(&artifacts.kernel_file))?;
    if kernel != expected.bytes {
        return Err(CheckFailure(format!("{} is not the flat image of the ELF", artifacts.kernel_file.display())).into());
    }
    let boot = artifacts.out.join("boot");
    match (artifacts.board, &artifacts.zcu102_plan) {
        (FlashBoard::Rpi4, _) => {
            let config = boot.join(rpi4::CONFIG_FILE);
            let text = fs::read_to_string(&config).map_err(io_error(&config))?;
            verify::check_config_txt(&text, rpi4::KERNEL_FILE, base)?;
        }
        (FlashBoard::Zcu102, Some(plan)) => {
            let fit = boot.join(zcu102::FIT_FILE);
            let listing = verify::list_fit(tools, &fit)?;
            verify::check_fit_listing(&listing, "hypervisor", base, zcu102::CONFIGURATION)?;
            let index = listing.images.iter().position(|image| image.name == "hypervisor").unwrap_or(0);
            let scratch = verify::scratch_path(&artifacts.out.join("build"), "fit-kernel");
            let inside = verify::fit_image_bytes(tools, &fit, index, &scratch)?;
            let _ = fs::remove_file(&scratch);
            if inside != expected.bytes {
                return Err(CheckFailure("the kernel inside bulkhead.itb is not the flat image of the ELF".to_owned()).into());
            }
            let script = boot.join(zcu102::SCRIPT_FILE);
            let bytes = fs::read(&script).map_err(io_error(&script))?;
            verify::check_boot_script(&bytes, &zcu102::boot_commands(plan))?;
        }
        (FlashBoard::Zcu102, None) => return Err(CheckFailure("no ZCU102 boot plan".to_owned()).into()),
    }
    verify::check_card_image(tools, &artifacts.card_image, &artifacts.card_files)?;
    Ok(())
}

/// `BOOT.md` for the ZCU102: the card, the boot chain and the exact U-Boot commands.
pub fn zcu102_notes(plan: &zcu102::BootPlan, system: &str) -> String {
    let script = zcu102::boot_commands(plan);
    format!(
        "# Booting Bulkhead (system `{system}`) on the ZCU102\n\n\
         Copy `boot/` to the first FAT partition of an SD card (or write `sdcard.img`), add the\n\
         vendor `{BOOT_BIN}` (FSBL, PMU firmware, TF-A, U-Boot: from a PetaLinux/Yocto build or\n\
         AMD's ZCU102 prebuilt images; or pass `--firmware DIR` to put it into the image), set\n\
         SW6 to SD boot (boot mode 0xE; 1-4: ON OFF OFF OFF, UG1182) and connect the USB-UART\n\
         (J83): the first of the four ports (PS UART0) at 115200 8N1 shows U-Boot (`EL Level: EL2`,\n\
         the SD slot as `mmc@ff170000: 0`) and then Bulkhead.\n\n\
         | what | address |\n| --- | --- |\n\
         | hypervisor reservation (`board.toml` `[hypervisor]`) | {reservation} |\n\
         | hypervisor load and entry | {base} |\n\
         | `{fit}` loaded by `boot.scr` | {fit_range} |\n\
         | `boot.scr` (U-Boot `scriptaddr`) | {script_range} |\n\n\
         U-Boot's distro boot runs `boot.scr`, which is:\n\n```text\n{script}```\n\n\
         By hand at the U-Boot prompt:\n\n```text\nload mmc 0:1 {fit_address} {fit}\nbootm {fit_address}#{configuration}\n```\n",
        reservation = plan.hypervisor,
        base = hex(plan.load_address()),
        fit = zcu102::FIT_FILE,
        fit_range = plan.fit,
        fit_address = hex(plan.fit.base()).replace('_', ""),
        script_range = plan.script,
        configuration = zcu102::CONFIGURATION,
    )
}
