//! The Linux row: machine reset to Linux userspace, under Bulkhead and booted directly.
//!
//! Both runs boot the same Debian kernel `Image` and initramfs (`crate::linux_guest`) under
//! the deterministic board (`-icount shift=0,sleep=off`, `cntfrq` = 1 GHz: one counter tick
//! is one executed instruction). The initramfs's `/init` first runs `linux-counter`, which
//! prints the virtual counter, and puts the value in its marker line. The virtual counter
//! counts from machine reset in both runs (Bulkhead sets `CNTVOFF_EL2` to 0; nothing offsets
//! it on bare QEMU), so the two values compare the whole path from reset to userspace:
//!
//! * **Bulkhead**: `partitions/linux-demo.toml` as `cargo xtask run` boots it, with `rt` on
//!   core 0 beside Linux's two vCPUs (its heartbeats count too, as everything executed does);
//! * **direct** (the floor column): QEMU loads the `Image` itself (`-kernel`, `-initrd`,
//!   `-append` with the partition's bootargs) on a machine with the partition's vCPU count
//!   and RAM, without `virtualization=on`, so that Linux starts at EL1 as it does under
//!   Bulkhead (at EL2 it would also initialise KVM), with QEMU's device tree cut to the
//!   nodes of the partition's own tree ([`super::direct_tree`]: Linux's cost of setting up
//!   devices must be the same on both sides).
//!
//! Both boot with the same entropy inputs: [`MEASURED_BOOTARG`] (`nokaslr`) on both command
//! lines, and no `rng-seed` on either side: Bulkhead withholds it on a board without a hardware
//! RNG (QEMU `virt`'s Cortex-A72 has no `RNDR`), so the direct tree gets none either. With
//! seeds Linux takes other paths: a seeded CRNG saves it about 20 M instructions of entropy
//! gathering at boot (direct boots: 884.7 M with QEMU's seeds, 905.1 M without), and the
//! KASLR offset alone moves the boot by up to 2 %.

use std::fs;
use std::path::Path;
use std::time::Duration;

use crate::linux_guest::{self, INIT_MARKER};
use crate::paths::Repository;
use crate::pipeline::{BuildRequest, Pipeline};
use crate::progress::Progress;
use crate::qemu::{Console, QemuBoard, QemuRun};
use crate::toolchain::BareMetalCargo;

use super::machine::{self, ICOUNT_ARGUMENTS};
use super::probe_output::{MetricResult, Run, Samples};
use super::bulkhead_qemu_run;

/// The manifest of the Bulkhead run.
pub const LINUX_MANIFEST: &str = "partitions/linux-demo.toml";
/// The Linux partition in it.
pub const LINUX_PARTITION: &str = "linux";
/// The report row.
pub const LINUX_METRIC: &str = "linux_time_to_userspace";
/// Bound for one deterministic boot to userspace (billions of instructions, one host
/// thread).
const BOOT_LIMIT: Duration = Duration::from_secs(900);

/// The two measurements and how they were made.
#[derive(Clone, Debug)]
pub struct LinuxBoots {
    /// Under Bulkhead.
    pub bulkhead: MetricResult,
    /// Booted directly on QEMU.
    pub direct: MetricResult,
    /// The direct run's QEMU command line.
    pub direct_command_line: String,
    /// The Bulkhead run's QEMU command line (empty when the demo could not be built).
    pub bulkhead_command_line: String,
}

/// One since-reset sample as a measured metric.
pub fn single_sample(value: u64) -> MetricResult {
    MetricResult::Measured(Samples {
        count: 1,
        minimum: value,
        median: value,
        maximum: value,
        distribution: vec![Run { value, count: 1 }],
    })
}

/// The machine of the direct run: the board's, without EL2 (see the module documentation).
pub fn direct_machine(board_machine: &str) -> String {
    board_machine
        .split(',')
        .filter(|option| *option != "virtualization=on")
        .collect::<Vec<_>>()
        .join(",")
}

/// What both boots add to Linux's command line: no KASLR. The kernel's placement changes what
/// its boot executes (under Bulkhead, two kaslr-seeds moved the row by 2 %: 913 M against
/// 932 M instructions), and the two sides cannot be given the same seed (Bulkhead draws its
/// own at every start), so the row compares the unrandomised kernel.
pub const MEASURED_BOOTARG: &str = "nokaslr";

/// `linux-demo.toml` (`text`, whose relative paths are relative to `directory`) as a table
/// that builds from anywhere (every file path absolute), with `bootarg` appended to the Linux
/// partition's command line.
pub fn demo_table(text: &str, directory: &Path, bootarg: Option<&str>) -> Result<toml::Table, String> {
    let mut table: toml::Table = toml::from_str(text).map_err(|error| error.to_string())?;
    let absolute = |value: &mut toml::Value| {
        if let Some(path) = value.as_str() {
            *value = toml::Value::String(directory.join(path).display().to_string());
        }
    };
    let linux = table
        .get_mut("partition")
        .and_then(toml::Value::as_array_mut)
        .and_then(|partitions| {
            partitions
                .iter_mut()
                .find(|partition| partition.get("name").and_then(toml::Value::as_str) == Some(LINUX_PARTITION))
        })
        .and_then(toml::Value::as_table_mut)
        .ok_or(format!("no `{LINUX_PARTITION}` partition"))?;
    if let Some(file) = linux.get_mut("image").and_then(|image| image.get_mut("file")) {
        absolute(file);
    }
    if let Some(initrd) = linux.get_mut("initrd") {
        absolute(initrd);
    }
    if let Some(bootarg) = bootarg {
        let bootargs = linux.get("bootargs").and_then(toml::Value::as_str).unwrap_or_default();
        let bootargs = format!("{bootargs} {bootarg}").trim().to_owned();
        linux.insert("bootargs".into(), bootargs.into());
    }
    if let Some(disks) = table
        .get_mut("qemu")
        .and_then(|qemu| qemu.get_mut("virtio_blk"))
        .and_then(toml::Value::as_array_mut)
    {
        disks.iter_mut().for_each(absolute);
    }
    Ok(table)
}

/// Writes the measured copy of [`LINUX_MANIFEST`] into `directory`: the demo with
/// [`MEASURED_BOOTARG`] on Linux's command line.
fn measured_manifest(repository: &Repository, directory: &Path) -> Result<std::path::PathBuf, String> {
    let source = repository.root().join(LINUX_MANIFEST);
    let text = fs::read_to_string(&source).map_err(|error| format!("{}: {error}", source.display()))?;
    let base = source.parent().unwrap_or(repository.root());
    let table = demo_table(&text, base, Some(MEASURED_BOOTARG))?;
    let body = toml::to_string(&table).map_err(|error| error.to_string())?;
    let manifest = directory.join("linux-demo-measured.toml");
    let header = format!(
        "# Generated by `cargo xtask bench` from {LINUX_MANIFEST}: `{MEASURED_BOOTARG}` on Linux's command line, paths absolute.\n"
    );
    fs::write(&manifest, header + &body).map_err(|error| format!("{}: {error}", manifest.display()))?;
    Ok(manifest)
}

/// Boots Linux under Bulkhead and directly; a run that cannot be made or read gives a
/// failed (or, when the guest files cannot be fetched, unavailable) metric with the reason,
/// so the rest of the report stands.
pub fn measure(
    repository: &Repository,
    cargo: &BareMetalCargo,
    board: &QemuBoard,
    directory: &Path,
    progress: &Progress,
) -> LinuxBoots {
    let built = measured_manifest(repository, directory).and_then(|manifest| {
        Pipeline::new(repository, cargo.clone(), *progress)
            .build(&BuildRequest { manifest, board: None })
            .map_err(|error| format!("{error:#}"))
    });
    let built = match built {
        Ok(built) => built,
        Err(error) => {
            let reason = format!("the Linux demo could not be built: {error}");
            progress.note(&reason);
            let unavailable = MetricResult::Unavailable { reason: "linux-demo-not-built".to_owned() };
            return LinuxBoots {
                bulkhead: unavailable.clone(),
                direct: unavailable,
                direct_command_line: String::new(),
                bulkhead_command_line: String::new(),
            };
        }
    };
    let bulkhead_run = bulkhead_qemu_run(board, built.hypervisor_elf(), directory.join("linux-bulkhead-hv-log.bin"));
    let bulkhead = boot_to_userspace(&bulkhead_run, "Bulkhead", &directory.join("linux-bulkhead.log"), progress);

    let partition = built.spec.partitions().iter().find(|partition| partition.name == LINUX_PARTITION);
    let (Some(partition), Some((initrd, _))) = (partition, partition.and_then(|partition| partition.initrd.as_ref())) else {
        return LinuxBoots {
            bulkhead,
            direct: MetricResult::Failed { reason: "no-linux-partition-with-an-initrd".to_owned() },
            direct_command_line: String::new(),
            bulkhead_command_line: bulkhead_run.command_line(),
        };
    };
    let kernel = match &partition.image {
        bulkhead_config::spec::ImageSource::File(path) => path.clone(),
        bulkhead_config::spec::ImageSource::Crate(name) => repository.guest_elf(name),
    };
    // The manifest's paths are relative to it (`partitions/../target/...`): shown resolved.
    let resolved = |path: &Path| fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let (kernel, initrd) = (resolved(&kernel), resolved(initrd));
    let direct_board = QemuBoard {
        machine: direct_machine(&board.machine),
        smp: partition.vcpus,
        memory: format!("{}M", partition.ram.size() >> 20),
        serial_ports: 1,
        ..board.clone()
    };
    // The same devices as the partition: QEMU's tree cut to the nodes the partition's has.
    let partition_tree = built.output.path().join(format!("{LINUX_PARTITION}.dtb"));
    // The same entropy: the partition gets an `rng-seed` when its board has an RNG the
    // hypervisor draws seeds from.
    let seeded = built.spec.board().entropy.is_some();
    let tree = match super::direct_tree::write(&direct_board, &partition_tree, directory, seeded) {
        Ok(tree) => tree,
        Err(reason) => {
            progress.note(&format!("the direct boot's device tree could not be made: {reason}"));
            return LinuxBoots {
                bulkhead,
                direct: MetricResult::Failed { reason: "no-direct-device-tree".to_owned() },
                direct_command_line: String::new(),
                bulkhead_command_line: bulkhead_run.command_line(),
            };
        }
    };
    let mut extra_args = vec![
        "-dtb".to_owned(),
        tree.display().to_string(),
        "-initrd".to_owned(),
        initrd.display().to_string(),
        "-append".to_owned(),
        partition.bootargs.clone().unwrap_or_default(),
    ];
    extra_args.extend(ICOUNT_ARGUMENTS.map(str::to_owned));
    let direct_run = QemuRun {
        board: direct_board,
        kernel,
        console: Console::Pipes,
        log_file: None,
        extra_args,
    };
    let direct = boot_to_userspace(&direct_run, "direct boot", &directory.join("linux-direct.log"), progress);
    LinuxBoots {
        bulkhead,
        direct,
        direct_command_line: direct_run.command_line(),
        bulkhead_command_line: bulkhead_run.command_line(),
    }
}

/// Boots `run` until the init marker and reads its counter value; the console goes to `log`.
fn boot_to_userspace(run: &QemuRun, what: &str, log: &Path, progress: &Progress) -> MetricResult {
    let step = progress.step(format!("booting Linux to userspace ({what}, deterministic)"));
    let captured = machine::capture_until(&mut run.command(), BOOT_LIMIT, &step, &|line: &str| {
        line.contains(INIT_MARKER)
    });
    let transcript = match captured {
        Ok(transcript) => transcript,
        Err(machine::CaptureError::Timeout { transcript, limit }) => {
            let _ = fs::write(log, format!("{}{}", transcript.console, transcript.diagnostics));
            step.fail("timeout");
            return MetricResult::Failed { reason: format!("no-userspace-within-{}s", limit.as_secs()) };
        }
        Err(machine::CaptureError::Spawn { .. }) => {
            step.fail("");
            return MetricResult::Failed { reason: "qemu-did-not-start".to_owned() };
        }
    };
    let _ = fs::write(log, format!("{}{}", transcript.console, transcript.diagnostics));
    match transcript.console.lines().find_map(linux_guest::userspace_counter) {
        Some(ticks) => {
            step.succeed(&format!("{} instructions", super::report::thousands(ticks)));
            single_sample(ticks)
        }
        None => {
            step.fail("no counter in the marker line");
            MetricResult::Failed { reason: "no-counter-in-the-init-marker".to_owned() }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_direct_machine_drops_only_el2() {
        assert_eq!(direct_machine("virt,virtualization=on,gic-version=3"), "virt,gic-version=3");
        assert_eq!(direct_machine("virt,gic-version=2"), "virt,gic-version=2");
    }

    #[test]
    fn the_measured_copy_builds_from_anywhere_and_boots_without_kaslr() {
        let text = "[qemu]\nvirtio_blk = [\"../target/disk.img\"]\n\n\
                    [[partition]]\nname = \"rt\"\nbootargs = \"x\"\n\n\
                    [[partition]]\nname = \"linux\"\nimage = { file = \"../target/Image\" }\n\
                    initrd = \"../target/initrd\"\nbootargs = \"console=ttyAMA0\"\n";
        let table = demo_table(text, Path::new("/repo/partitions"), Some(MEASURED_BOOTARG)).expect("edited");
        let partitions = table["partition"].as_array().expect("partitions");
        let linux = &partitions[1];
        assert_eq!(linux["bootargs"].as_str(), Some("console=ttyAMA0 nokaslr"));
        assert_eq!(linux["image"]["file"].as_str(), Some("/repo/partitions/../target/Image"));
        assert_eq!(linux["initrd"].as_str(), Some("/repo/partitions/../target/initrd"));
        assert_eq!(table["qemu"]["virtio_blk"][0].as_str(), Some("/repo/partitions/../target/disk.img"));
        assert_eq!(partitions[0]["bootargs"].as_str(), Some("x"), "only Linux's command line changes");
        assert!(demo_table("[[partition]]\nname = \"rt\"\n", Path::new("/"), None).is_err());
    }

    #[test]
    fn a_single_sample_is_its_own_minimum_median_and_maximum() {
        let MetricResult::Measured(samples) = single_sample(42) else { panic!("measured") };
        assert_eq!((samples.count, samples.minimum, samples.median, samples.maximum), (1, 42, 42, 42));
        assert!(super::super::probe_output::distribution_matches(&samples));
    }
}
