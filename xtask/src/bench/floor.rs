//! The floor: the probe on bare QEMU behind `probe-floor`, an EL2 stub that does nothing but
//! drop to EL1 and answer `HVC` with `ERET`.
//!
//! It gives what each operation costs the architecture alone: a hypercall's exception entry
//! and return, a device register read without stage 2, a timer interrupt taken directly at
//! EL1. QEMU boots the stub as an arm64 `Image` (entered at EL2 with `x0` = QEMU's own
//! device tree); the probe is placed with `-device loader` where it is linked, which is where
//! the stub jumps.

use std::fs;
use std::path::{Path, PathBuf};

use crate::paths::Repository;
use crate::progress::Progress;
use crate::qemu::{Console, QemuBoard, QemuRun};
use crate::toolchain::BareMetalCargo;

use super::BenchError;
use super::machine::ICOUNT_ARGUMENTS;

/// The stub's crate in `partitions/`.
pub const STUB_CRATE: &str = "probe-floor";

/// Largest flattened stub accepted: it is a page of code.
const STUB_SIZE_LIMIT: u64 = 1 << 20;

/// Builds the stub and writes it, flattened into an `Image`, to `directory`.
pub fn build_stub(
    repository: &Repository,
    cargo: &BareMetalCargo,
    progress: &Progress,
    directory: &Path,
) -> Result<PathBuf, BenchError> {
    let step = progress.step(format!("building {STUB_CRATE}"));
    let mut command = cargo.release_build(&repository.partitions_workspace(), [STUB_CRATE]);
    if let Err(error) = step.run(&mut command) {
        step.fail("");
        return Err(BenchError::Build(error));
    }
    let elf = repository.guest_elf(STUB_CRATE);
    let bytes = fs::read(&elf).map_err(|source| BenchError::Io {
        path: elf.clone(),
        source,
    })?;
    let image = bulkhead_config::image::load(&bytes, STUB_SIZE_LIMIT).map_err(|error| {
        BenchError::Image {
            path: elf.clone(),
            reason: error.to_string(),
        }
    })?;
    let output = directory.join(format!("{STUB_CRATE}.bin"));
    fs::write(&output, &image.bytes).map_err(|source| BenchError::Io {
        path: output.clone(),
        source,
    })?;
    step.succeed(&format!("{} bytes", image.bytes.len()));
    Ok(output)
}

/// Why the floor column cannot be measured on `board`, if it cannot: the stub hands the probe
/// the device tree QEMU generates, which only QEMU `virt` does (`raspi4b` and `xlnx-zcu102` boot
/// a bare kernel without one, and enter an ELF at EL3 or with firmware-specific state).
pub fn unavailable_on(board: &QemuBoard) -> Option<String> {
    let machine = board.machine.split(',').next().unwrap_or_default();
    (!runs_on(&board.machine)).then(|| {
        format!(
            "the probe-floor stub runs only on QEMU `virt`, whose generated device tree it passes to \
             the probe; `{machine}` generates none"
        )
    })
}

/// Whether the floor can run on QEMU machine `machine` (`-M` value with its options): on
/// `virt` only.
pub fn runs_on(machine: &str) -> bool {
    machine.split(',').next() == Some("virt")
}

/// The QEMU run of the floor: the stub as the kernel, the probe's flattened image loaded at
/// `probe_address` (its link address), `samples=` passed as the kernel command line (QEMU
/// writes it to `/chosen/bootargs`).
pub fn qemu_run(
    board: &QemuBoard,
    stub: &Path,
    probe: &Path,
    probe_address: u64,
    samples: usize,
) -> QemuRun {
    let mut extra_args = vec![
        "-device".to_owned(),
        format!(
            "loader,file={},addr={probe_address:#x},force-raw=on",
            probe.display()
        ),
        "-append".to_owned(),
        format!("samples={samples}"),
    ];
    extra_args.extend(ICOUNT_ARGUMENTS.map(str::to_owned));
    QemuRun {
        board: board.clone(),
        kernel: stub.to_path_buf(),
        console: Console::Pipes,
        log_file: None,
        extra_args,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_floor_runs_on_qemu_virt_only() {
        let board = |machine: &str| QemuBoard {
            machine: machine.to_owned(),
            cpu: "cortex-a72".to_owned(),
            smp: 4,
            memory: "1G".to_owned(),
            extra_args: vec![],
            serial_ports: 2,
        };
        assert_eq!(unavailable_on(&board("virt,virtualization=on,gic-version=2")), None);
        assert!(unavailable_on(&board("raspi4b")).is_some_and(|reason| reason.contains("`raspi4b`")));
        assert!(unavailable_on(&board("xlnx-zcu102,virtualization=on")).is_some());
    }

    #[test]
    fn the_probe_is_loaded_where_it_is_linked_and_told_the_sample_count() {
        let board = QemuBoard {
            machine: "virt,virtualization=on,gic-version=3".to_owned(),
            cpu: "cortex-a72,cntfrq=1000000000".to_owned(),
            smp: 4,
            memory: "1G".to_owned(),
            extra_args: vec![],
            serial_ports: 2,
        };
        let run = qemu_run(
            &board,
            Path::new("/b/probe-floor.bin"),
            Path::new("/b/probe.bin"),
            0x4008_0000,
            7,
        );
        let line = run.command_line();
        assert!(line.contains(" -kernel /b/probe-floor.bin "), "{line}");
        assert!(
            line.contains(" -device loader,file=/b/probe.bin,addr=0x40080000,force-raw=on "),
            "{line}"
        );
        assert!(line.contains(" -append samples=7 "), "{line}");
        assert!(line.ends_with(" -icount shift=0,sleep=off"), "{line}");
    }
}
