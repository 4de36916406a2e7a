//! The SD card image: an MBR with one FAT32 partition at 1 MiB holding the boot files,
//! made without root and without loop devices.
//!
//! The boot ROMs of both boards read the first FAT partition of an MBR-partitioned card
//! (Raspberry Pi 4 EEPROM bootloader; ZynqMP boot ROM in SD boot mode). The MBR is written
//! here (one 16-byte entry and a signature: no tool needed); `mkfs.vfat --offset` makes the
//! file system inside the image file and the mtools (`mmd`, `mcopy`) fill it through the
//! `image@@offset` syntax. `mdir` and `mcopy` read it back for the checks.

use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::progress::{CommandError, Progress};

use super::tools::FlashTools;

/// Sector size the MBR counts in.
pub const SECTOR: u64 = 512;

/// Where the partition starts: 1 MiB, the alignment SD cards' erase blocks want.
pub const PARTITION_OFFSET: u64 = 1 << 20;

/// The smallest partition: comfortably above FAT32's minimum cluster count with 512-byte
/// sectors, and what the Raspberry Pi imager's boot partitions are in size.
pub const MINIMUM_PARTITION: u64 = 128 << 20;

/// MBR partition type of FAT32 with LBA addressing.
const FAT32_LBA: u8 = 0x0c;

/// The volume label (what a desktop shows when the card is inserted).
pub const LABEL: &str = "BULKHEAD";

/// A file to put on the card: its path on the card (`overlays/disable-bt.dtbo`) and where
/// its bytes are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CardFile {
    /// Path on the FAT file system, `/`-separated, without a leading `/`.
    pub name: String,
    /// The host file.
    pub source: PathBuf,
}

/// The partition size for `content` bytes of files: room for twice the content (a later
/// image replaces the old one) rounded to MiB, at least [`MINIMUM_PARTITION`].
pub fn partition_size(content: u64) -> u64 {
    let wanted = content.saturating_mul(2).saturating_add(16 << 20);
    wanted.div_ceil(1 << 20).saturating_mul(1 << 20).max(MINIMUM_PARTITION)
}

/// The master boot record of a disk with one bootable FAT32 partition of `partition_bytes`
/// at [`PARTITION_OFFSET`]. CHS fields hold the "beyond CHS" marker (LBA is what is read).
pub fn master_boot_record(partition_bytes: u64) -> [u8; 512] {
    let mut sector = [0_u8; 512];
    // Disk signature (Linux shows it as the PARTUUID prefix); fixed so images are reproducible.
    sector[440..444].copy_from_slice(&0xb01c_4ead_u32.to_le_bytes());
    let entry = &mut sector[446..462];
    entry[0] = 0x80;
    entry[1..4].copy_from_slice(&[0xfe, 0xff, 0xff]);
    entry[4] = FAT32_LBA;
    entry[5..8].copy_from_slice(&[0xfe, 0xff, 0xff]);
    let first = u32::try_from(PARTITION_OFFSET / SECTOR).unwrap_or(u32::MAX);
    let count = u32::try_from(partition_bytes / SECTOR).unwrap_or(u32::MAX);
    entry[8..12].copy_from_slice(&first.to_le_bytes());
    entry[12..16].copy_from_slice(&count.to_le_bytes());
    sector[510] = 0x55;
    sector[511] = 0xaa;
    sector
}

/// The `image@@offset` drive the mtools address the partition by.
fn drive(image: &Path) -> String {
    format!("{}@@{PARTITION_OFFSET}", image.display())
}

/// Why the image could not be made or read.
#[derive(Debug)]
pub enum FatError {
    /// A file could not be read or written.
    Io {
        /// Which file.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// A tool failed.
    Command(CommandError),
}

impl fmt::Display for FatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io { path, source } => write!(f, "{}: {source}", path.display()),
            Self::Command(error) => write!(f, "{error}"),
        }
    }
}

impl std::error::Error for FatError {}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> FatError + '_ {
    move |source| FatError::Io { path: path.to_path_buf(), source }
}

fn run(step: &crate::progress::Step, command: &mut Command) -> Result<String, FatError> {
    step.run(command).map(|output| output.stdout).map_err(FatError::Command)
}

/// Creates `image` holding `files`, replacing any old one.
pub fn create(tools: &FlashTools, image: &Path, files: &[CardFile], progress: &Progress) -> Result<(), FatError> {
    let content: u64 = files
        .iter()
        .map(|file| fs::metadata(&file.source).map(|metadata| metadata.len()).map_err(io_error(&file.source)))
        .sum::<Result<u64, FatError>>()?;
    let partition = partition_size(content);
    let step = progress.step(format!("making the SD card image {}", image.display()));
    let result = (|| {
        let _ = fs::remove_file(image);
        let mut file = fs::File::create(image).map_err(io_error(image))?;
        file.set_len(PARTITION_OFFSET + partition).map_err(io_error(image))?;
        file.write_all(&master_boot_record(partition)).map_err(io_error(image))?;
        drop(file);
        run(
            &step,
            Command::new(&tools.mkfs_vfat)
                // `--invariant`: fixed volume ID and timestamps, so equal inputs give equal images.
                .args(["-F", "32", "-n", LABEL, "--invariant", "--offset"])
                .arg((PARTITION_OFFSET / SECTOR).to_string())
                .arg(image)
                .arg((partition / 1024).to_string()),
        )?;
        let mut directories: Vec<&str> = files.iter().filter_map(|file| file.name.rsplit_once('/').map(|(directory, _)| directory)).collect();
        directories.sort_unstable();
        directories.dedup();
        for directory in directories {
            run(&step, tools.mtools(&tools.mmd).arg("-i").arg(drive(image)).arg(format!("::/{directory}")))?;
        }
        for file in files {
            step.set_detail(&file.name);
            run(
                &step,
                tools.mtools(&tools.mcopy).arg("-i").arg(drive(image)).arg("-m").arg(&file.source).arg(format!("::/{}", file.name)),
            )?;
        }
        Ok(())
    })();
    match &result {
        Ok(()) => step.succeed(&format!("{} files, {} MiB partition", files.len(), partition >> 20)),
        Err(_) => step.fail(""),
    }
    result
}

/// Every file on the image's FAT partition (`overlays/disable-bt.dtbo`), sorted.
pub fn list(tools: &FlashTools, image: &Path) -> Result<Vec<String>, FatError> {
    let step = Progress::quiet().step("listing");
    let output = run(&step, tools.mtools(&tools.mdir).arg("-i").arg(drive(image)).args(["-/", "-b", "::/"]))?;
    step.succeed("");
    Ok(parse_bare_listing(&output))
}

/// Parses `mdir -/ -b` output: one `::/path` per line, directories ending in `/`.
pub fn parse_bare_listing(output: &str) -> Vec<String> {
    let mut files: Vec<String> = output
        .lines()
        .filter_map(|line| line.trim().strip_prefix("::/"))
        .filter(|path| !path.is_empty() && !path.ends_with('/'))
        .map(str::to_owned)
        .collect();
    files.sort();
    files
}

/// The bytes of `name` on the image, copied out with `mcopy`.
pub fn read(tools: &FlashTools, image: &Path, name: &str) -> Result<Vec<u8>, FatError> {
    let mut command = tools.mtools(&tools.mcopy);
    command.arg("-i").arg(drive(image)).arg(format!("::/{name}")).arg("-");
    let output = command.output().map_err(io_error(&tools.mcopy))?;
    if !output.status.success() {
        return Err(FatError::Io {
            path: image.to_path_buf(),
            source: io::Error::other(format!("mcopy ::/{name}: {}", String::from_utf8_lossy(&output.stderr).trim())),
        });
    }
    Ok(output.stdout)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mbr_has_one_bootable_fat32_partition_at_one_mib() {
        let sector = master_boot_record(128 << 20);
        assert_eq!(&sector[510..], &[0x55, 0xaa]);
        assert_eq!(sector[446], 0x80);
        assert_eq!(sector[446 + 4], 0x0c);
        assert_eq!(u32::from_le_bytes([sector[454], sector[455], sector[456], sector[457]]), 2048);
        assert_eq!(u32::from_le_bytes([sector[458], sector[459], sector[460], sector[461]]), 262_144);
        assert!(sector[462..510].iter().all(|byte| *byte == 0), "one entry only");
    }

    #[test]
    fn partitions_leave_room_for_a_second_image() {
        assert_eq!(partition_size(1 << 20), MINIMUM_PARTITION);
        assert_eq!(partition_size(100 << 20), 216 << 20);
    }

    #[test]
    fn bare_listings_name_files_not_directories() {
        let output = "::/config.txt\n::/overlays/\n::/overlays/disable-bt.dtbo\n::/bulkhead.bin\n";
        assert_eq!(parse_bare_listing(output), ["bulkhead.bin", "config.txt", "overlays/disable-bt.dtbo"]);
    }
}
