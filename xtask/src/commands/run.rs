//! `cargo xtask run`: builds the system and boots it in QEMU on this terminal.
//!
//! The first UART is the terminal (`mon:stdio`: keys go to the hypervisor's console, Ctrl-A x
//! quits QEMU, Ctrl-A c toggles the QEMU monitor). When the board has a second UART, QEMU
//! writes it — the hypervisor's binary defmt log — to `target/bulkhead/<name>/hv-log.bin`,
//! and a thread decodes it as it grows, printing each message as `[hv] <message>`.

use std::fs;
use std::io;
use std::process::Stdio;

use xtask::defmt_log::{self, DefmtTable};
use xtask::host_tools::{self, Need};
use xtask::paths::Repository;
use xtask::progress::Progress;
use xtask::pipeline::PipelineError;
use xtask::qemu::{QemuBoard, QemuRun};
use xtask::qemu_preflight;
use xtask::terminal_mux::Terminal;

use super::Failure;
use super::build::build;
use crate::cli::SystemArgs;

/// Builds, boots, and returns when QEMU exits.
pub fn run(repository: &Repository, arguments: &SystemArgs) -> Result<(), Failure> {
    let progress = Progress::terminal();
    host_tools::ensure(Need::QemuAndDtc, &progress)?;
    // Before the build: a machine QEMU cannot create should not cost a build to find out.
    let manifest = arguments.manifest_path(repository);
    if xtask::linux_guest::names_linux_guest(repository, &manifest) {
        let cargo = xtask::toolchain::BareMetalCargo::ensure(&progress)?;
        xtask::linux_guest::prepare_inputs(repository, &manifest, &progress, &cargo).map_err(PipelineError::LinuxGuest)?;
    }
    let spec = bulkhead_config::load(&manifest, repository.root())
        .map_err(PipelineError::Config)?;
    let mut machine = QemuBoard::for_board(spec.board());
    machine.extra_args.extend(xtask::pipeline::display_devices(&spec));
    qemu_preflight::ensure(&machine, &progress)?;
    let built = build(repository, arguments)?;
    let image = built.hypervisor_elf();
    let log_file = built.log_port().then(|| built.output.hypervisor_log());
    let table = match &log_file {
        Some(log) => {
            // QEMU truncates the file too, but a stale log must never be decoded against a
            // new image if QEMU fails to start.
            if let Err(source) = fs::remove_file(log) {
                if source.kind() != io::ErrorKind::NotFound {
                    return Err(Failure::Io {
                        path: log.clone(),
                        source,
                    });
                }
            }
            DefmtTable::from_elf(&image)?
        }
        None => None,
    };
    let qemu = QemuRun::interactive(&built.qemu, image, log_file.clone());
    eprintln!("booting QEMU: {}", qemu.command_line());
    eprintln!("(quit with Ctrl-A x; Ctrl-T <n> sends keyboard input to partition n)");
    if let (Some(log), None) = (&log_file, &table) {
        eprintln!(
            "note: the image has no .defmt table; the log UART is written to {} undecoded",
            log.display()
        );
    }
    // QEMU's console goes through xtask so decoded log lines are written only between
    // console lines (the keyboard still reaches QEMU directly: stdin is inherited).
    let mut child = qemu
        .command()
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|source| Failure::Io {
            path: "qemu-system-aarch64".into(),
            source,
        })?;
    let terminal = Terminal::new(Box::new(io::stdout()));
    let console = child.stdout.take().map(|stdout| terminal.pump_console(stdout));
    let follower = match (log_file, table) {
        (Some(log), Some(table)) => {
            let log_terminal = terminal.clone();
            Some(defmt_log::follow(log, table, move |message| log_terminal.log(&message)))
        }
        _ => None,
    };
    let status = child.wait().map_err(|source| Failure::Io {
        path: "qemu-system-aarch64".into(),
        source,
    })?;
    if let Some(follower) = follower {
        follower.stop();
    }
    if let Some(console) = console {
        // The pipe closed with QEMU; the thread has written everything.
        let _ = console.join();
    }
    if status.success() {
        Ok(())
    } else {
        Err(Failure::Qemu(status))
    }
}
