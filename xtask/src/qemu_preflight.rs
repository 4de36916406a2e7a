//! Does QEMU create the board's machine? The check that covers every file QEMU loads at
//! start-up.
//!
//! A QEMU version check says nothing about the data files a machine needs: option ROMs of
//! network cards, BIOS images, device-tree blobs. A package set that lacks one fails only
//! when the machine is created, which on a fresh machine was after three minutes of
//! building. [`ensure`] creates the machine exactly as every run does, paused (`-S`), and
//! quits through the monitor at once: QEMU exits 0 only if the machine came up. When it names
//! a missing file, the Debian package that ships it is installed (as root) or named.

use std::fmt;
use std::io::Write;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::apt::{AptError, AptInstall};
use crate::host_tools::QEMU;
use crate::progress::Progress;
use crate::qemu::QemuBoard;

/// Creating a paused machine takes well under a second; a loaded CI machine gets margin.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// The arguments of the preflight run: the board as every run creates it, paused, the
/// monitor on stdin, the UARTs connected to nothing.
pub fn arguments(board: &QemuBoard) -> Vec<String> {
    let mut arguments = board.machine_arguments("");
    arguments.extend(["-S", "-display", "none", "-monitor", "stdio"].map(str::to_owned));
    for _ in 0..board.serial_ports {
        arguments.extend(["-serial".to_owned(), "null".to_owned()]);
    }
    arguments
}

/// Why QEMU did not create the machine.
#[derive(Debug)]
pub enum PreflightError {
    /// QEMU could not be started at all.
    Spawn(std::io::Error),
    /// QEMU exited with an error; `stderr` says why.
    Failed {
        /// The machine value (`-M`).
        machine: String,
        /// QEMU's messages.
        stderr: String,
        /// The Debian package shipping the file QEMU could not find, when known.
        package: Option<MissingFile>,
    },
    /// QEMU did not quit within [`START_TIMEOUT`].
    Hung {
        /// The machine value (`-M`).
        machine: String,
    },
    /// Installing the package that ships a missing file failed or was not allowed.
    Install(AptError),
}

impl fmt::Display for PreflightError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Spawn(error) => write!(f, "cannot start {QEMU}: {error}"),
            Self::Failed {
                machine,
                stderr,
                package,
            } => {
                write!(f, "QEMU cannot create the `{machine}` machine:\n{}", stderr.trim_end())?;
                if let Some(missing) = package {
                    write!(
                        f,
                        "\n`{}` is shipped by the Debian package `{}`: apt-get install -y {}",
                        missing.file, missing.package, missing.package
                    )?;
                }
                Ok(())
            }
            Self::Hung { machine } => write!(
                f,
                "QEMU did not create the `{machine}` machine within {} s",
                START_TIMEOUT.as_secs()
            ),
            Self::Install(error) => write!(f, "installing a file QEMU needs failed: {error}"),
        }
    }
}

impl std::error::Error for PreflightError {}

/// A file QEMU reported missing and the Debian package that ships it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MissingFile {
    /// The file name QEMU printed.
    pub file: String,
    /// The package that ships it.
    pub package: &'static str,
}

/// Reads QEMU's "failed to find romfile" / "Could not find ROM image" / "could not load …" /
/// "rom: file … : error Failed to open file" messages and names the Debian package that ships the file (Debian 12/13 file lists).
pub fn missing_file(stderr: &str) -> Option<MissingFile> {
    let file = stderr.lines().find_map(|line| {
        let quoted = ["failed to find romfile \"", "Could not find ROM image '", "could not load ", "rom: file "]
            .iter()
            .find_map(|marker| line.split_once(marker).map(|(_, rest)| rest))?;
        let name: String = quoted
            .chars()
            .take_while(|character| !matches!(character, '"' | '\'' | ' '))
            .collect();
        (!name.is_empty()).then_some(name)
    })?;
    let base = file.rsplit('/').next().unwrap_or(&file);
    let package = if base.starts_with("efi-") || base.starts_with("pxe-") {
        "ipxe-qemu"
    } else if base.starts_with("bios") || base.starts_with("vgabios") {
        "seabios"
    } else if base.starts_with("QEMU_EFI") || base.starts_with("AAVMF") {
        "qemu-efi-aarch64"
    } else {
        "qemu-system-data"
    };
    Some(MissingFile { file, package })
}

/// Creates `board`'s machine once, paused, and quits.
pub fn check(board: &QemuBoard) -> Result<(), PreflightError> {
    let mut child = Command::new(QEMU)
        .args(arguments(board))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(PreflightError::Spawn)?;
    if let Some(mut monitor) = child.stdin.take() {
        // A QEMU that failed before reading its monitor has closed the pipe; its exit status
        // below says what happened.
        let _ = monitor.write_all(b"quit\n");
    }
    let started = Instant::now();
    let status = loop {
        match child.try_wait().map_err(PreflightError::Spawn)? {
            Some(status) => break status,
            None if started.elapsed() > START_TIMEOUT => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(PreflightError::Hung {
                    machine: board.machine.clone(),
                });
            }
            None => thread::sleep(Duration::from_millis(20)),
        }
    };
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut pipe, &mut stderr);
    }
    // A device's option ROM that cannot be opened (ramfb's `vgabios-ramfb.bin`) is only a
    // message: QEMU goes on, and every run prints it as an error. Missing is missing.
    if status.success() && missing_file(&stderr).is_none() {
        return Ok(());
    }
    Err(PreflightError::Failed {
        machine: board.machine.clone(),
        package: missing_file(&stderr),
        stderr,
    })
}

/// [`check`], and when QEMU names a missing file whose package is known, installs that
/// package (root only; others are told the command) and checks again.
pub fn ensure(board: &QemuBoard, progress: &Progress) -> Result<(), PreflightError> {
    let step = progress.step(format!("creating the {} machine once (QEMU preflight)", board.machine));
    match check(board) {
        Ok(()) => {
            step.succeed("every file QEMU loads is present");
            Ok(())
        }
        Err(PreflightError::Failed {
            package: Some(missing),
            ..
        }) => {
            step.fail(&format!("{} is missing", missing.file));
            AptInstall::packages(&[missing.package])
                .run(progress)
                .map_err(PreflightError::Install)?;
            check(board)
        }
        Err(error) => {
            step.fail("");
            Err(error)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ramfbs_rom_that_qemu_cannot_open_comes_from_seabios() {
        let stderr = "rom: file vgabios-ramfb.bin   : error Failed to open file \u{201c}vgabios-ramfb.bin\u{201d}: No such file or directory\n";
        assert_eq!(
            missing_file(stderr),
            Some(MissingFile {
                file: "vgabios-ramfb.bin".to_owned(),
                package: "seabios"
            })
        );
    }

    #[test]
    fn the_virtio_option_rom_comes_from_ipxe() {
        assert_eq!(
            missing_file("qemu-system-aarch64: failed to find romfile \"efi-virtio.rom\"\n"),
            Some(MissingFile {
                file: "efi-virtio.rom".to_owned(),
                package: "ipxe-qemu"
            })
        );
    }

    #[test]
    fn other_missing_files_are_named_with_their_package() {
        assert_eq!(
            missing_file("qemu: could not load /usr/share/qemu/bios-256k.bin\n").map(|m| m.package),
            Some("seabios")
        );
        assert_eq!(
            missing_file("qemu-system-aarch64: Could not find ROM image 'keymaps/en-us'\n")
                .map(|m| m.package),
            Some("qemu-system-data")
        );
        assert_eq!(missing_file("qemu-system-aarch64: -M nope: unsupported machine type\n"), None);
    }

    #[test]
    fn the_preflight_creates_the_machine_paused_with_no_default_devices() {
        let board = QemuBoard {
            machine: "virt,virtualization=on".to_owned(),
            cpu: "cortex-a72".to_owned(),
            smp: 4,
            memory: "1G".to_owned(),
            extra_args: vec![],
            serial_ports: 2,
        };
        let arguments = arguments(&board);
        assert!(arguments.windows(2).any(|pair| pair == ["-nic", "none"]));
        assert!(arguments.contains(&"-S".to_owned()));
        assert!(arguments.windows(2).any(|pair| pair == ["-monitor", "stdio"]));
        assert_eq!(arguments.iter().filter(|argument| *argument == "-serial").count(), 2);
    }
}
