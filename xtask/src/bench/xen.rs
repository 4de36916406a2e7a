//! The Xen column: Debian bookworm's Xen 4.17 in dom0less mode, with the probe as its only
//! domain, on the same QEMU machine.
//!
//! - The hypervisor comes from Debian's `xen-hypervisor-4.17-arm64` package, fetched with
//!   `apt-get download` (the `arm64` architecture is added to dpkg when missing, which needs
//!   root) and unpacked with `dpkg-deb -x`; nothing is installed.
//! - Dom0less without a dom0 (Xen `docs/misc/arm/device-tree/booting.txt`, "Dom0less"): the
//!   domain is described by a `xen,domain` node under `/chosen` of QEMU's own device tree
//!   (dumped with `dumpdtb`, decompiled, patched as text and recompiled with `dtc`), its
//!   kernel is the probe's flattened image placed with `-device loader`, and `vpl011` gives
//!   it an emulated SBSA UART whose lines Xen prints on its console as `DOM1: …`.
//! - Xen's command line: its console on the board's UART (`console=dtuart dtuart=<path>`);
//!   `sched=credit2` because Debian builds no null scheduler; `timer_slop=0`, without which
//!   Xen may fire a sleeping vCPU's timer up to 50 µs late to batch timers (measured here:
//!   37 k instead of 4.3 k instructions for the WFI latency); `bootscrub=0`, so that idle
//!   cores do not scrub memory while the probe runs (QEMU counts every core's instructions
//!   on the one clock); `maxcpus=1`, so that Xen brings up only the core the domain's one
//!   vCPU runs on, as Bulkhead runs the probe on core 0 and parks the rest. Those options are
//!   Xen at its best, not its defaults.
//!
//! Where Xen's boot time went before `maxcpus=1` (measured with `console_timestamps=boot`,
//! QEMU `-m 1G`, a 64 MiB domain, `bootscrub=0`): reset to the domain's first instruction
//! was 683.8 M instructions, of which about 660 M passed while Xen's cores waited for each
//! other: bringing up CPUs 2 and 3 (57 M and 31 M), the step after the second credit2
//! initialisation (502 M) and the one before building the domain (77 M). In QEMU's
//! deterministic mode one core runs at a time, and a core spinning until another answers
//! keeps its time slice (up to 25 M instructions with 4 cores) before the other runs, so
//! every cross-core rendezvous costs whole slices: an artefact of the emulator, not work Xen
//! does on hardware. Scrubbing (`bootscrub=0`), the console (tens of lines) and the timer
//! (Xen reads `CNTFRQ`, it does not calibrate) are not where the time goes. With one core
//! the same boot is 17.3 M instructions, in line with an independent run of this package on
//! the same QEMU model (22.9-30.0 M with `bootscrub=0`); about 6.6 M of it is building the
//! 64 MiB domain (allocating and mapping its memory, loading the probe and device tree).
//!
//! Any step that cannot work here makes the column "unavailable" with the exact reason (and
//! the commands to run, where a missing privilege is the reason); no number is invented.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::apt;
use crate::board_dts;
use crate::host_tools::{DTC, QEMU};
use crate::progress::{self, Progress};
use crate::qemu::{Console, QemuBoard, QemuRun};

use super::machine::ICOUNT_ARGUMENTS;

/// Debian's package with the Xen hypervisor for arm64.
pub const PACKAGE: &str = "xen-hypervisor-4.17-arm64";
/// The dpkg architecture of the package.
const PACKAGE_ARCHITECTURE: &str = "arm64";
/// The hypervisor image inside the package (an arm64 `Image`).
const IMAGE_IN_PACKAGE: &str = "boot/xen-4.17-arm64";
/// Where the probe is placed for Xen to load: 160 MiB into RAM, above where QEMU puts the
/// device tree of an `Image` boot (128 MiB) and far below the top of RAM, where Xen moves
/// itself. Xen reserves the module until the domain is built.
pub const MODULE_ADDRESS: u64 = 0x4A00_0000;
/// Xen options besides the console (see the module documentation for each).
pub const XEN_OPTIONS: &str = "sched=credit2 bootscrub=0 timer_slop=0 maxcpus=1";

/// A Xen hypervisor image ready to boot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct XenImage {
    /// The `Image` file.
    pub image: PathBuf,
    /// The Debian package version it came from.
    pub version: String,
}

/// Why the Xen column cannot be measured here.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unavailable(pub String);

impl Unavailable {
    fn new(reason: impl Into<String>) -> Self {
        Self(reason.into())
    }
}

/// Fetches and unpacks the package into `directory`, or reuses an earlier unpacking.
pub fn fetch(directory: &Path, progress: &Progress) -> Result<XenImage, Unavailable> {
    let unpacked = directory.join("unpacked");
    let image = unpacked.join(IMAGE_IN_PACKAGE);
    let version_file = directory.join("version");
    if let (true, Ok(version)) = (image.is_file(), fs::read_to_string(&version_file)) {
        return Ok(XenImage {
            image,
            version: version.trim().to_owned(),
        });
    }
    if !apt::apt_available() || !program_runs("dpkg-deb", &["--version"]) {
        return Err(Unavailable::new(format!(
            "needs Debian's apt-get and dpkg-deb to fetch {PACKAGE}"
        )));
    }
    fs::create_dir_all(directory)
        .map_err(|error| Unavailable::new(format!("{}: {error}", directory.display())))?;
    let step = progress.step(format!(
        "fetching {PACKAGE} ({PACKAGE_ARCHITECTURE}) with apt"
    ));
    let outcome = download(directory, &step).and_then(|deb| {
        let version = command_output(Command::new("dpkg-deb").arg("-f").arg(&deb).arg("Version"))?;
        command_output(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&unpacked))?;
        if !image.is_file() {
            return Err(Unavailable::new(format!(
                "{} has no {IMAGE_IN_PACKAGE}",
                deb.display()
            )));
        }
        fs::write(&version_file, version.trim())
            .map_err(|error| Unavailable::new(format!("{}: {error}", version_file.display())))?;
        Ok(XenImage {
            image: image.clone(),
            version: version.trim().to_owned(),
        })
    });
    match &outcome {
        Ok(xen) => step.succeed(&format!("Xen {}", xen.version)),
        Err(_) => step.fail(""),
    }
    outcome
}

/// `apt-get download <package>:arm64` into `directory`; adds the architecture and refreshes
/// the package lists first when needed (root only).
fn download(directory: &Path, step: &progress::Step) -> Result<PathBuf, Unavailable> {
    let foreign = command_output(Command::new("dpkg").arg("--print-foreign-architectures"))?;
    let native = command_output(Command::new("dpkg").arg("--print-architecture"))?;
    let has_architecture = native.trim() == PACKAGE_ARCHITECTURE
        || foreign
            .split_whitespace()
            .any(|name| name == PACKAGE_ARCHITECTURE);
    let root = apt::running_as_root();
    if !has_architecture {
        if !root {
            return Err(Unavailable::new(format!(
                "dpkg does not know the {PACKAGE_ARCHITECTURE} architecture; as root run: \
                 dpkg --add-architecture {PACKAGE_ARCHITECTURE} && apt-get update"
            )));
        }
        step.set_detail("dpkg --add-architecture arm64");
        command_output(Command::new("dpkg").args(["--add-architecture", PACKAGE_ARCHITECTURE]))?;
        apt_update(step)?;
    }
    let package = format!("{PACKAGE}:{PACKAGE_ARCHITECTURE}");
    let attempt = || {
        command_output(
            Command::new("apt-get")
                .current_dir(directory)
                .env("DEBIAN_FRONTEND", "noninteractive")
                .args(["download", &package]),
        )
    };
    let first = attempt();
    if first.is_err() && root && has_architecture {
        // The lists may predate the package (or the architecture): refresh once.
        apt_update(step)?;
        attempt().map_err(|error| not_in_sources(&error))?;
    } else {
        first.map_err(|error| not_in_sources(&error))?;
    }
    let deb = fs::read_dir(directory)
        .map_err(|error| Unavailable::new(format!("{}: {error}", directory.display())))?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| {
            path.file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| {
                    name.starts_with(&format!("{PACKAGE}_")) && name.ends_with(".deb")
                })
        })
        .max();
    deb.ok_or_else(|| Unavailable::new(format!("apt-get download left no {PACKAGE} .deb")))
}

fn apt_update(step: &progress::Step) -> Result<(), Unavailable> {
    step.set_detail("apt-get update");
    command_output(
        Command::new("apt-get")
            .env("DEBIAN_FRONTEND", "noninteractive")
            .arg("update"),
    )
    .map(|_| ())
}

fn not_in_sources(error: &Unavailable) -> Unavailable {
    Unavailable::new(format!(
        "{PACKAGE}:{PACKAGE_ARCHITECTURE} could not be downloaded (it is Debian bookworm's \
         Xen; the apt sources here must carry bookworm for {PACKAGE_ARCHITECTURE}): {}",
        error.0
    ))
}

/// What the domain is made of.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Domain {
    /// Size of the probe image placed at [`MODULE_ADDRESS`].
    pub module_size: u64,
    /// Guest RAM, the same as the probe's partition has under Bulkhead.
    pub memory_bytes: u64,
    /// The probe's bootargs.
    pub bootargs: String,
}

/// Dumps the board's device tree from QEMU and adds the Xen boot configuration and the
/// domain to `/chosen`; returns the compiled tree and Xen's command line.
pub fn device_tree(
    board: &QemuBoard,
    directory: &Path,
    domain: &Domain,
) -> Result<(PathBuf, String), Unavailable> {
    fs::create_dir_all(directory)
        .map_err(|error| Unavailable::new(format!("{}: {error}", directory.display())))?;
    let dumped = "qemu.dtb";
    command_output(
        Command::new(QEMU)
            .current_dir(directory)
            .args(board_dts::dump_arguments(board, dumped)),
    )?;
    let source = command_output(
        Command::new(DTC)
            .current_dir(directory)
            .args(["-I", "dtb", "-O", "dts", dumped]),
    )?;
    let source = board_dts::strip_per_boot_properties(&source);
    let console = stdout_path(&source)
        .ok_or_else(|| Unavailable::new("QEMU's device tree has no /chosen stdout-path"))?;
    let command_line = format!("console=dtuart dtuart={console} {XEN_OPTIONS}");
    let patched = replace_chosen(&source, &chosen_node(&console, &command_line, domain))
        .ok_or_else(|| Unavailable::new("QEMU's device tree has no /chosen node"))?;
    fs::write(directory.join("xen.dts"), &patched)
        .map_err(|error| Unavailable::new(format!("xen.dts: {error}")))?;
    command_output(
        Command::new(DTC)
            .current_dir(directory)
            .args(["-q", "-I", "dts", "-O", "dtb", "-o", "xen.dtb", "xen.dts"]),
    )?;
    Ok((directory.join("xen.dtb"), command_line))
}

/// The QEMU run: Xen as the kernel, the patched device tree, the probe as a module.
pub fn qemu_run(board: &QemuBoard, xen: &XenImage, device_tree: &Path, probe: &Path) -> QemuRun {
    let mut extra_args = vec![
        "-dtb".to_owned(),
        device_tree.display().to_string(),
        "-device".to_owned(),
        format!(
            "loader,file={},addr={MODULE_ADDRESS:#x},force-raw=on",
            probe.display()
        ),
    ];
    extra_args.extend(ICOUNT_ARGUMENTS.map(str::to_owned));
    QemuRun {
        board: board.clone(),
        kernel: xen.image.clone(),
        console: Console::Pipes,
        log_file: None,
        extra_args,
    }
}

/// The `/chosen` node for dom0less Xen with one domain: 1 vCPU, `memory` in KiB, an
/// emulated UART, the probe as its kernel module.
pub fn chosen_node(console: &str, command_line: &str, domain: &Domain) -> String {
    format!(
        "\tchosen {{\n\
         \t\t#address-cells = <0x2>;\n\
         \t\t#size-cells = <0x2>;\n\
         \t\tstdout-path = \"{console}\";\n\
         \t\txen,xen-bootargs = \"{command_line}\";\n\
         \n\
         \t\tdomU1 {{\n\
         \t\t\tcompatible = \"xen,domain\";\n\
         \t\t\t#address-cells = <0x2>;\n\
         \t\t\t#size-cells = <0x2>;\n\
         \t\t\tmemory = <0x0 {memory_kib:#x}>;\n\
         \t\t\tcpus = <0x1>;\n\
         \t\t\tvpl011;\n\
         \n\
         \t\t\tmodule@{MODULE_ADDRESS:x} {{\n\
         \t\t\t\tcompatible = \"multiboot,kernel\", \"multiboot,module\";\n\
         \t\t\t\treg = <0x0 {MODULE_ADDRESS:#x} 0x0 {size:#x}>;\n\
         \t\t\t\tbootargs = \"{bootargs}\";\n\
         \t\t\t}};\n\
         \t\t}};\n\
         \t}};\n",
        memory_kib = domain.memory_bytes / 1024,
        size = domain.module_size,
        bootargs = domain.bootargs,
    )
}

/// Replaces the root's `chosen` node in decompiled device tree `source` (one tab deep, as
/// `dtc` writes it) with `chosen`.
pub fn replace_chosen(source: &str, chosen: &str) -> Option<String> {
    let start = source.find("\n\tchosen {\n")? + 1;
    let end = start + source[start..].find("\n\t};\n")? + "\n\t};\n".len();
    Some(format!("{}{chosen}{}", &source[..start], &source[end..]))
}

/// The `stdout-path` of the `chosen` node in decompiled `source`.
pub fn stdout_path(source: &str) -> Option<String> {
    let start = source.find("\n\tchosen {\n")?;
    let end = start + source[start..].find("\n\t};\n")?;
    source[start..end].lines().find_map(|line| {
        let value = line.trim().strip_prefix("stdout-path = \"")?;
        Some(value.strip_suffix("\";")?.to_owned())
    })
}

fn program_runs(program: &str, arguments: &[&str]) -> bool {
    Command::new(program)
        .args(arguments)
        .output()
        .is_ok_and(|output| output.status.success())
}

/// Runs `command`; its stdout, or why it failed as an [`Unavailable`] reason.
fn command_output(command: &mut Command) -> Result<String, Unavailable> {
    let description = progress::describe(command);
    let output = command
        .output()
        .map_err(|error| Unavailable::new(format!("`{description}` could not start: {error}")))?;
    if output.status.success() {
        return Ok(String::from_utf8_lossy(&output.stdout).into_owned());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let last_lines: Vec<&str> = stderr.lines().rev().take(3).collect();
    Err(Unavailable::new(format!(
        "`{description}` failed ({}): {}",
        output.status,
        last_lines.into_iter().rev().collect::<Vec<_>>().join(" / ")
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DUMPED: &str = "/dts-v1/;\n\n/ {\n\tcompatible = \"linux,dummy-virt\";\n\n\
                          \tpl011@9000000 {\n\t\tcompatible = \"arm,pl011\";\n\t};\n\n\
                          \tchosen {\n\t\tstdout-path = \"/pl011@9000000\";\n\t};\n};\n";

    fn domain() -> Domain {
        Domain {
            module_size: 0xc118,
            memory_bytes: 64 << 20,
            bootargs: "samples=5".to_owned(),
        }
    }

    #[test]
    fn console_path_comes_from_the_dumped_tree() {
        assert_eq!(stdout_path(DUMPED).as_deref(), Some("/pl011@9000000"));
        assert_eq!(stdout_path("/ {\n};\n"), None);
    }

    #[test]
    fn chosen_is_replaced_and_the_rest_kept() {
        let chosen = chosen_node("/pl011@9000000", "console=dtuart", &domain());
        let patched = replace_chosen(DUMPED, &chosen).expect("has chosen");
        assert!(patched.starts_with("/dts-v1/;\n\n/ {\n\tcompatible"));
        assert!(patched.contains("\tpl011@9000000 {\n"));
        assert!(patched.ends_with("\t};\n};\n"));
        assert_eq!(patched.matches("chosen {").count(), 1);
        assert!(patched.contains("\t\txen,xen-bootargs = \"console=dtuart\";\n"));
        assert!(patched.contains("\t\t\tmemory = <0x0 0x10000>;\n"));
        assert!(patched.contains("\t\t\tmodule@4a000000 {\n"));
        assert!(patched.contains("reg = <0x0 0x4a000000 0x0 0xc118>;"));
        assert!(patched.contains("bootargs = \"samples=5\";"));
        assert_eq!(replace_chosen("/ {\n};\n", &chosen), None);
    }

    #[test]
    fn xen_is_the_kernel_and_the_probe_a_module() {
        let board = QemuBoard {
            machine: "virt,virtualization=on,gic-version=3".to_owned(),
            cpu: "cortex-a72,cntfrq=1000000000".to_owned(),
            smp: 4,
            memory: "1G".to_owned(),
            extra_args: vec![],
            serial_ports: 2,
        };
        let xen = XenImage {
            image: PathBuf::from("/x/xen-4.17-arm64"),
            version: "4.17".to_owned(),
        };
        let line =
            qemu_run(&board, &xen, Path::new("/x/xen.dtb"), Path::new("/p.bin")).command_line();
        assert!(line.contains(" -kernel /x/xen-4.17-arm64 "), "{line}");
        assert!(line.contains(" -dtb /x/xen.dtb "), "{line}");
        assert!(
            line.contains(" -device loader,file=/p.bin,addr=0x4a000000,force-raw=on "),
            "{line}"
        );
    }
}
