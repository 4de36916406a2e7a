//! The host programs `cargo xtask flash` runs, and installing them the way the other tools
//! are installed (`apt`, root only; otherwise the exact commands).
//!
//! - `mkimage` (Debian `u-boot-tools`): compiles the FIT image and wraps `boot.scr`;
//!   `mkimage -l` lists both and `dumpimage` extracts the FIT's parts for the checks.
//! - `mcopy`, `mmd`, `mdir` (`mtools`): fill and read the FAT file system inside the SD card
//!   image file without mounting it (no root, no loop devices).
//! - `mkfs.vfat` (`dosfstools`): creates that file system at an offset inside the image file.
//!   It lives in `/usr/sbin`, which is not on an ordinary user's `PATH`, so it is looked up
//!   there too.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::apt::{AptError, AptInstall};
use crate::progress::Progress;

/// A program and the Debian package that ships it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tool {
    /// The program name.
    pub program: &'static str,
    /// The Debian package.
    pub package: &'static str,
}

/// Every program `cargo xtask flash` needs.
pub const TOOLS: [Tool; 6] = [
    Tool { program: "mkimage", package: "u-boot-tools" },
    Tool { program: "dumpimage", package: "u-boot-tools" },
    Tool { program: "mcopy", package: "mtools" },
    Tool { program: "mmd", package: "mtools" },
    Tool { program: "mdir", package: "mtools" },
    Tool { program: "mkfs.vfat", package: "dosfstools" },
];

/// Directories searched after `PATH`: where Debian puts administrator tools.
const SYSTEM_DIRECTORIES: [&str; 2] = ["/usr/sbin", "/sbin"];

/// Where `program` is: on `PATH`, else in the system directories.
pub fn find(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(SYSTEM_DIRECTORIES.iter().map(PathBuf::from))
        .map(|directory| directory.join(program))
        .find(|candidate| candidate.is_file())
}

/// The packages to install so that every tool in `missing` exists, each once, in order.
pub fn packages_for(missing: &[Tool]) -> Vec<&'static str> {
    let mut packages: Vec<&'static str> = Vec::new();
    for tool in missing {
        if !packages.contains(&tool.package) {
            packages.push(tool.package);
        }
    }
    packages
}

/// The located programs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlashTools {
    /// `mkimage`.
    pub mkimage: PathBuf,
    /// `dumpimage`.
    pub dumpimage: PathBuf,
    /// `mcopy`.
    pub mcopy: PathBuf,
    /// `mmd`.
    pub mmd: PathBuf,
    /// `mdir`.
    pub mdir: PathBuf,
    /// `mkfs.vfat`.
    pub mkfs_vfat: PathBuf,
}

impl FlashTools {
    /// Finds every tool, installing the missing ones' packages with apt when allowed.
    pub fn ensure(progress: &Progress) -> Result<Self, ToolsError> {
        let missing: Vec<Tool> = TOOLS.iter().copied().filter(|tool| find(tool.program).is_none()).collect();
        if !missing.is_empty() {
            AptInstall::packages(&packages_for(&missing)).run(progress).map_err(ToolsError::Install)?;
        }
        let locate = |program: &'static str| find(program).ok_or(ToolsError::StillMissing(program));
        Ok(Self {
            mkimage: locate("mkimage")?,
            dumpimage: locate("dumpimage")?,
            mcopy: locate("mcopy")?,
            mmd: locate("mmd")?,
            mdir: locate("mdir")?,
            mkfs_vfat: locate("mkfs.vfat")?,
        })
    }

    /// A command for one of the mtools with the environment they need: no `~/.mtoolsrc`
    /// geometry checks (the image file is not a floppy).
    pub fn mtools(&self, program: &Path) -> Command {
        let mut command = Command::new(program);
        command.env("MTOOLS_SKIP_CHECK", "1");
        command
    }
}

/// Programs that make `objcopy -O binary` of an AArch64 ELF, in the order tried: the flash
/// tests compare xtask's flat image with theirs. Debian's native binutils `objcopy` reads
/// only x86 ELF, so it is not one of them.
pub const REFERENCE_OBJCOPIES: [&str; 4] = ["llvm-objcopy", "llvm-objcopy-22", "llvm-objcopy-19", "aarch64-linux-gnu-objcopy"];

/// The Debian package installed when no reference objcopy is present (small, no LLVM).
pub const REFERENCE_OBJCOPY_PACKAGE: &str = "binutils-aarch64-linux-gnu";

/// Makes sure one of [`REFERENCE_OBJCOPIES`] exists (for `cargo xtask test`'s flash tests),
/// installing [`REFERENCE_OBJCOPY_PACKAGE`] when allowed.
pub fn ensure_reference_objcopy(progress: &Progress) -> Result<PathBuf, ToolsError> {
    let present = || REFERENCE_OBJCOPIES.iter().find_map(|program| find(program));
    if let Some(found) = present() {
        return Ok(found);
    }
    AptInstall::packages(&[REFERENCE_OBJCOPY_PACKAGE]).run(progress).map_err(ToolsError::Install)?;
    present().ok_or(ToolsError::StillMissing("aarch64-linux-gnu-objcopy"))
}

/// Debian's U-Boot for QEMU `virt` (package [`UBOOT_QEMU_PACKAGE`]): the flash tests run the
/// ZCU102's `boot.scr` and FIT under it, the only U-Boot that runs without the board.
pub const UBOOT_QEMU_ARM64: &str = "/usr/lib/u-boot/qemu_arm64/u-boot.bin";

/// The Debian package of [`UBOOT_QEMU_ARM64`].
pub const UBOOT_QEMU_PACKAGE: &str = "u-boot-qemu";

/// Makes sure [`UBOOT_QEMU_ARM64`] exists (for `cargo xtask test`'s flash tests), installing
/// its package when allowed.
pub fn ensure_uboot_for_qemu(progress: &Progress) -> Result<PathBuf, ToolsError> {
    let path = PathBuf::from(UBOOT_QEMU_ARM64);
    if !path.is_file() {
        AptInstall::packages(&[UBOOT_QEMU_PACKAGE]).run(progress).map_err(ToolsError::Install)?;
    }
    if path.is_file() { Ok(path) } else { Err(ToolsError::StillMissing(UBOOT_QEMU_ARM64)) }
}

/// Why the tools are not usable.
#[derive(Debug)]
pub enum ToolsError {
    /// Installing failed or was not allowed.
    Install(AptError),
    /// Installed, but still not found.
    StillMissing(&'static str),
}

impl fmt::Display for ToolsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Install(error) => write!(f, "u-boot-tools, mtools and dosfstools are needed to make the SD card files. {error}"),
            Self::StillMissing(program) => write!(f, "{program} is still not found after installing its package"),
        }
    }
}

impl std::error::Error for ToolsError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_missing_package_is_installed_once() {
        assert_eq!(packages_for(&TOOLS), ["u-boot-tools", "mtools", "dosfstools"]);
        assert_eq!(packages_for(&TOOLS[2..5]), ["mtools"]);
        assert!(packages_for(&[]).is_empty());
    }

    #[test]
    fn programs_are_found_on_path_and_absent_ones_are_not() {
        assert!(find("sh").is_some());
        assert_eq!(find("bulkhead-no-such-program"), None);
    }
}
