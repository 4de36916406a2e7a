//! The real-time partition's timing beside Linux: the probe stands in for `rt` on core 0 and
//! measures its virtual-timer latency (deadline to the IRQ handler's first instruction,
//! waiting in WFI and spinning) and the count from machine reset to its `main`, in four
//! neighbourhoods, each its own Bulkhead system booted once in the deterministic mode:
//!
//! 1. **alone**: the probe, the other cores parked at EL2;
//! 2. **beside two bare-metal spinners** (the probe image's `role=spin` on cores 1 and 2):
//!    computation that never traps, the reference for what QEMU's round-robin scheduling
//!    of vCPUs on one host thread does to the probe's numbers by itself;
//! 3. **beside Linux booting**: `partitions/linux-demo.toml`'s `linux` partition (2 vCPUs on
//!    cores 1 and 2, its pass-through disk) starting with the probe, which measures during
//!    Linux's early boot;
//! 4. **beside Linux under load**: the same with `bulkhead.load=busy-copy` on Linux's command
//!    line (`/init` starts a busy loop and a memory-copy loop on each CPU) and the probe's
//!    `start=` holding its samples back until [`LOAD_START`] counts after reset, by which time
//!    Linux runs the load; the bench checks that Linux's "load running" line came before the
//!    probe's "measuring from" line, else the case fails instead of measuring something else.
//!
//! Under `-icount shift=0` the counter is the number of instructions all vCPUs have executed,
//! and QEMU runs the vCPUs one after the other: a deadline that passes while another vCPU
//! runs is noticed only when the probe's vCPU gets its turn, whatever the hypervisor does.
//! Case 2 measures exactly that emulator effect with a neighbour that never enters the
//! hypervisor; what cases 3 and 4 add on top of case 2 is what Linux's traps, interrupts and
//! hypervisor work on its cores do to core 0: the hypervisor's part, the one that would
//! remain on hardware. Heartbeat jitter is the spread (maximum − minimum) of the WFI latency:
//! a periodic heartbeat whose deadlines are absolute enters its handler late by exactly the
//! latency, so its period varies by the latency's spread.

use std::fs;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::paths::Repository;
use crate::pipeline::{BuildRequest, Pipeline};
use crate::progress::Progress;
use crate::toolchain::BareMetalCargo;

use super::linux::LINUX_MANIFEST;
use super::machine::{self, CaptureError};
use super::probe_output::{self, MetricResult};
use super::bulkhead_qemu_run;

/// The probe's partition name in every case (its lines read `[rt] BENCH ...`).
pub const RT_PARTITION: &str = "rt";
/// Count after reset at which the probe starts measuring in the load case: Linux reaches
/// userspace at about 0.63 G under Bulkhead, then loads its modules, mounts the disk and
/// starts the load; 2 G leaves room for all of it.
pub const LOAD_START: u64 = 2_000_000_000;
/// What Linux's `/init` prints once the load runs.
pub const LOAD_MARKER: &str = "linux-demo: load running";
/// What the probe prints when its `start=` wait ends.
pub const MEASURING_FROM: &str = "probe: measuring from count ";
/// The kernel command-line switch for the load.
pub const LOAD_BOOTARG: &str = "bulkhead.load=busy-copy";
/// Bound for one case (the load case executes a few G instructions on one host thread).
const CASE_LIMIT: Duration = Duration::from_secs(900);

/// The metrics each case reports.
const TIMER_WAIT: &str = "timer_interrupt_wait_for_interrupt";
const TIMER_SPINNING: &str = "timer_interrupt_spinning";
const RESET_TO_MAIN: &str = "entry_main";

/// One neighbourhood and what the probe measured in it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NeighbourCase {
    /// Short key: `alone`, `spinners`, `linux-boot`, `linux-load`.
    pub name: String,
    /// What runs beside the probe.
    pub description: String,
    /// The QEMU command line of the run.
    pub command_line: String,
    /// Timer deadline to handler entry, waiting in WFI.
    pub timer_wait: MetricResult,
    /// Timer deadline to handler entry, spinning.
    pub timer_spinning: MetricResult,
    /// Count from machine reset to the probe's `main`.
    pub reset_to_main: MetricResult,
    /// Where the probe's samples began (the load case's `start=`), from its own line.
    pub measured_from: Option<u64>,
}

/// Which neighbours a case has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Neighbours {
    None,
    Spinners,
    LinuxBooting,
    LinuxLoaded,
}

impl Neighbours {
    const ALL: [Self; 4] = [Self::None, Self::Spinners, Self::LinuxBooting, Self::LinuxLoaded];

    fn name(self) -> &'static str {
        match self {
            Self::None => "alone",
            Self::Spinners => "spinners",
            Self::LinuxBooting => "linux-boot",
            Self::LinuxLoaded => "linux-load",
        }
    }

    fn description(self) -> String {
        match self {
            Self::None => "alone (cores 1-3 parked at EL2)".to_owned(),
            Self::Spinners => "two bare-metal spinners on cores 1 and 2 (never trap)".to_owned(),
            Self::LinuxBooting => "Linux (2 vCPUs, cores 1 and 2) booting: samples from its first instructions".to_owned(),
            Self::LinuxLoaded => format!(
                "Linux running a busy loop and a memory-copy loop on both its CPUs: samples from count {}",
                super::report::thousands(LOAD_START)
            ),
        }
    }
}

/// Builds and boots every case; a case that cannot be built or read reports failed metrics
/// with the reason, so the others and the rest of the bench stand.
pub fn measure(
    repository: &Repository,
    cargo: &BareMetalCargo,
    samples: usize,
    directory: &Path,
    progress: &Progress,
) -> Vec<NeighbourCase> {
    Neighbours::ALL
        .into_iter()
        .map(|neighbours| measure_case(repository, cargo, samples, directory, progress, neighbours))
        .collect()
}

fn failed_case(neighbours: Neighbours, command_line: String, reason: &str) -> NeighbourCase {
    let failed = MetricResult::Failed { reason: reason.to_owned() };
    NeighbourCase {
        name: neighbours.name().to_owned(),
        description: neighbours.description(),
        command_line,
        timer_wait: failed.clone(),
        timer_spinning: failed.clone(),
        reset_to_main: failed,
        measured_from: None,
    }
}

fn measure_case(
    repository: &Repository,
    cargo: &BareMetalCargo,
    samples: usize,
    directory: &Path,
    progress: &Progress,
    neighbours: Neighbours,
) -> NeighbourCase {
    let text = match manifest(repository, samples, neighbours) {
        Ok(text) => text,
        Err(reason) => {
            progress.note(&format!("rt beside neighbours ({}): {reason}", neighbours.name()));
            return failed_case(neighbours, String::new(), "manifest-not-made");
        }
    };
    let manifest = directory.join(format!("rt-{}.toml", neighbours.name()));
    let header = format!(
        "# Generated by `cargo xtask bench` (xtask/src/bench/rt_neighbours.rs): the probe as `{RT_PARTITION}`, {}.\n",
        neighbours.description()
    );
    if let Err(error) = fs::write(&manifest, header + &text) {
        progress.note(&format!("{}: {error}", manifest.display()));
        return failed_case(neighbours, String::new(), "manifest-not-written");
    }
    let built = match Pipeline::new(repository, cargo.clone(), *progress).build(&BuildRequest { manifest, board: None }) {
        Ok(built) => built,
        Err(error) => {
            progress.note(&format!("rt beside neighbours ({}) could not be built: {error:#}", neighbours.name()));
            return failed_case(neighbours, String::new(), "system-not-built");
        }
    };
    let board = machine::deterministic_board(&built.qemu);
    let run = bulkhead_qemu_run(
        &board,
        built.hypervisor_elf(),
        directory.join(format!("rt-{}-hv-log.bin", neighbours.name())),
    );
    let command_line = run.command_line();
    let step = progress.step(format!("measuring rt's timer beside neighbours ({})", neighbours.name()));
    let log = directory.join(format!("rt-{}.log", neighbours.name()));
    let transcript = match machine::capture(&mut run.command(), CASE_LIMIT, &step) {
        Ok(transcript) => transcript,
        Err(error) => {
            step.fail("");
            if let CaptureError::Timeout { transcript, .. } = &error {
                let _ = fs::write(&log, format!("{}{}", transcript.console, transcript.diagnostics));
            }
            return failed_case(neighbours, command_line, "no-probe-output");
        }
    };
    let _ = fs::write(&log, format!("{}{}", transcript.console, transcript.diagnostics));
    let measured_from = measured_from(&transcript.console);
    if neighbours == Neighbours::LinuxLoaded && !load_ran_before_sampling(&transcript.console) {
        step.fail("Linux's load was not running when the probe began");
        return NeighbourCase {
            measured_from,
            ..failed_case(neighbours, command_line, "linux-load-not-running-when-sampling-began")
        };
    }
    let probe = match probe_output::parse(&transcript.console) {
        Ok(probe) => probe,
        Err(_) => {
            step.fail("unreadable probe output");
            return failed_case(neighbours, command_line, "probe-output-unreadable");
        }
    };
    let metric = |name: &str| {
        probe
            .metric(name)
            .cloned()
            .unwrap_or(MetricResult::Failed { reason: "not-reported".to_owned() })
    };
    let case = NeighbourCase {
        name: neighbours.name().to_owned(),
        description: neighbours.description(),
        command_line,
        timer_wait: metric(TIMER_WAIT),
        timer_spinning: metric(TIMER_SPINNING),
        reset_to_main: metric(RESET_TO_MAIN),
        measured_from,
    };
    step.succeed(&match &case.timer_wait {
        MetricResult::Measured(samples) => format!("WFI latency median {}", samples.median),
        _ => "no WFI latency".to_owned(),
    });
    case
}

/// The count the probe's `start=` wait ended at, from its line.
fn measured_from(console: &str) -> Option<u64> {
    console
        .lines()
        .find_map(|line| line.split_once(MEASURING_FROM))
        .and_then(|(_, count)| count.trim().parse().ok())
}

/// Whether Linux said its load runs before the probe said it starts measuring (both print on
/// the one console, in the order the hypervisor multiplexed their lines).
fn load_ran_before_sampling(console: &str) -> bool {
    let position = |needle: &str| console.lines().position(|line| line.contains(needle));
    matches!((position(LOAD_MARKER), position(MEASURING_FROM)), (Some(load), Some(start)) if load < start)
}

/// The probe's partition table.
fn probe_partition(bootargs: &str) -> toml::Table {
    let mut table = toml::Table::new();
    table.insert("name".into(), RT_PARTITION.into());
    table.insert("criticality".into(), "real-time".into());
    table.insert("image".into(), toml::Value::Table(toml::Table::from_iter([("crate".to_owned(), "probe".into())])));
    table.insert("memory".into(), toml::Value::Table(toml::Table::from_iter([("size".to_owned(), "16MiB".into())])));
    table.insert("cpus".into(), toml::Value::Array(vec![0.into()]));
    table.insert("bootargs".into(), bootargs.into());
    table
}

/// A spinner on `core`.
fn spinner(core: i64) -> toml::Table {
    let mut table = probe_partition("role=spin");
    table.insert("name".into(), format!("spin{core}").into());
    table.insert("criticality".into(), "QM".into());
    table.insert("cpus".into(), toml::Value::Array(vec![core.into()]));
    table
}

/// The manifest text of a case. The Linux cases take `linux-demo.toml` as it is, with the
/// probe in place of `rt` and the manifest-relative file paths made absolute (the generated
/// manifest lives in the bench's output directory).
fn manifest(repository: &Repository, samples: usize, neighbours: Neighbours) -> Result<String, String> {
    let mut system = toml::Table::new();
    system.insert("board".into(), "qemu-virt".into());
    let mut table = toml::Table::new();
    let probe_bootargs = format!("samples={samples}");
    let partitions: Vec<toml::Table> = match neighbours {
        Neighbours::None => vec![probe_partition(&probe_bootargs)],
        Neighbours::Spinners => vec![probe_partition(&probe_bootargs), spinner(1), spinner(2)],
        Neighbours::LinuxBooting | Neighbours::LinuxLoaded => {
            let source = repository.root().join(LINUX_MANIFEST);
            let text = fs::read_to_string(&source).map_err(|error| format!("{}: {error}", source.display()))?;
            let directory = source.parent().map(Path::to_path_buf).unwrap_or_default();
            let probe_bootargs = match neighbours {
                Neighbours::LinuxLoaded => format!("{probe_bootargs} start={LOAD_START}"),
                _ => probe_bootargs,
            };
            return linux_manifest(&text, &directory, &probe_bootargs, neighbours == Neighbours::LinuxLoaded);
        }
    };
    table.insert("system".into(), toml::Value::Table(system));
    table.insert(
        "partition".into(),
        toml::Value::Array(partitions.into_iter().map(toml::Value::Table).collect()),
    );
    toml::to_string(&table).map_err(|error| error.to_string())
}

/// `linux-demo.toml` (`text`, in `directory`) with the probe as `rt`, absolute file paths,
/// and, with `load`, the load switch on Linux's command line.
fn linux_manifest(text: &str, directory: &Path, probe_bootargs: &str, load: bool) -> Result<String, String> {
    let mut table = super::linux::demo_table(text, directory, load.then_some(LOAD_BOOTARG))?;
    let partitions = table
        .get_mut("partition")
        .and_then(toml::Value::as_array_mut)
        .ok_or("no [[partition]]")?;
    let rt = partitions
        .iter()
        .position(|partition| partition.get("name").and_then(toml::Value::as_str) == Some(RT_PARTITION))
        .ok_or("no `rt` partition")?;
    partitions[rt] = toml::Value::Table(probe_partition(probe_bootargs));
    toml::to_string(&table).map_err(|error| error.to_string())
}

/// The Markdown section of the report.
pub fn markdown(cases: &[NeighbourCase]) -> String {
    use std::fmt::Write as _;
    let mut text = String::new();
    let _ = writeln!(
        text,
        "\n## rt's timer beside Linux\n\nThe probe as the real-time partition on core 0 (instructions; median (min–max)). \
         Jitter is the WFI latency's spread (max − min).\n"
    );
    let _ = writeln!(text, "| beside | timer latency, WFI | jitter | timer latency, spinning | reset to main |");
    let _ = writeln!(text, "|---|---:|---:|---:|---:|");
    for case in cases {
        let _ = writeln!(
            text,
            "| {} | {} | {} | {} | {} |",
            case.description,
            cell(&case.timer_wait),
            spread(&case.timer_wait),
            cell(&case.timer_spinning),
            cell(&case.reset_to_main)
        );
    }
    // Latencies are compared with the spinners; the reset count is not (see the paragraph
    // below: beside Linux it is the boot core's copying, not the round robin).
    let metrics: [(&str, fn(&NeighbourCase) -> &MetricResult, bool); 3] = [
        ("timer latency, WFI", |case| &case.timer_wait, true),
        ("timer latency, spinning", |case| &case.timer_spinning, true),
        ("reset to main", |case| &case.reset_to_main, false),
    ];
    let _ = writeln!(text);
    for (title, pick, against_spinners) in metrics {
        let median = |name: &str| {
            cases.iter().find(|case| case.name == name).and_then(|case| match pick(case) {
                MetricResult::Measured(samples) => Some(samples.median),
                _ => None,
            })
        };
        let (Some(alone), Some(spinners)) = (median("alone"), median("spinners")) else { continue };
        let mut line = format!(
            "- **{title}** (medians): the emulator's effect, bare-metal spinners − alone: {}",
            signed(spinners, alone)
        );
        for (name, what) in [("linux-boot", "Linux booting"), ("linux-load", "Linux under load")] {
            let Some(linux) = median(name) else { continue };
            if !against_spinners {
                line.push_str(&format!("; beside {what}: {} over alone (below)", signed(linux, alone)));
                continue;
            }
            let ours = if linux > spinners {
                format!("{} above the spinners, which is the hypervisor's", signed(linux, spinners))
            } else {
                "not above the spinners: nothing beyond the emulator's effect".to_owned()
            };
            line.push_str(&format!("; beside {what}: {} over alone, {ours}", signed(linux, alone)));
        }
        let _ = writeln!(text, "{line}.");
    }
    let _ = writeln!(
        text,
        "\nUnder icount QEMU runs the vCPUs in turns on one thread and the counter counts every \
         vCPU's instructions: a deadline that passes while another vCPU has its turn is seen late \
         by a spinning probe (the spinners' long turns), while a probe waiting in WFI gives up its \
         turn and QEMU ends the others' turn at the deadline. The spinners never enter the \
         hypervisor, so what they add is the emulator's. `reset to main` beside Linux: each \
         partition is loaded on its own core just before its first vCPU enters \
         (`partition::load_images`), so on hardware `rt` does not wait for Linux's 35 MiB; here \
         the copy on Linux's core is handed on to the other cores at a `YIELD` after every MiB \
         (`arch::memory::load`), so what remains over alone is the emulator's round robin \
         (the boot core copied every image before any vCPU started until 2026-12-07: 9.8 M)."
    );
    text
}

fn cell(result: &MetricResult) -> String {
    use super::report::thousands;
    match result {
        MetricResult::Measured(samples) if samples.minimum == samples.maximum => thousands(samples.median),
        MetricResult::Measured(samples) => format!(
            "{} ({}–{})",
            thousands(samples.median),
            thousands(samples.minimum),
            thousands(samples.maximum)
        ),
        MetricResult::Unavailable { reason } => format!("n/a ({reason})"),
        MetricResult::Failed { reason } => format!("failed ({reason})"),
    }
}

fn spread(result: &MetricResult) -> String {
    match result {
        MetricResult::Measured(samples) => super::report::thousands(samples.maximum - samples.minimum),
        _ => "–".to_owned(),
    }
}

fn signed(value: u64, base: u64) -> String {
    if value >= base {
        format!("+{}", super::report::thousands(value - base))
    } else {
        format!("−{}", super::report::thousands(base - value))
    }
}

/// The absolute path a manifest-relative `path` in `directory` names (for tests).
#[cfg(test)]
fn joined(directory: &str, path: &str) -> std::path::PathBuf {
    Path::new(directory).join(path)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    const DEMO: &str = r#"
[system]
board = "qemu-virt"
hypervisor_memory = { base = 0x5000_0000, size = "40MiB" }
[qemu]
virtio_blk = ["../target/linux-guest/disk.img"]
[[partition]]
name = "rt"
image = { crate = "heartbeat" }
memory = { size = "16MiB" }
cpus = [0]
[[partition]]
name = "linux"
image = { file = "../target/linux-guest/Image" }
initrd = "../target/linux-guest/initramfs.cpio"
bootargs = "console=ttyAMA0"
memory = { size = "256MiB", identity = true }
cpus = [1, 2]
"#;

    #[test]
    fn the_load_case_puts_the_probe_in_rts_place_and_the_switch_on_linuxs_command_line() {
        let text = linux_manifest(DEMO, Path::new("/repo/partitions"), "samples=5 start=7", true).unwrap();
        let table: toml::Table = toml::from_str(&text).unwrap();
        let partitions = table["partition"].as_array().unwrap();
        assert_eq!(partitions[0]["name"].as_str(), Some(RT_PARTITION));
        assert_eq!(partitions[0]["image"]["crate"].as_str(), Some("probe"));
        assert_eq!(partitions[0]["bootargs"].as_str(), Some("samples=5 start=7"));
        assert_eq!(partitions[1]["bootargs"].as_str(), Some(format!("console=ttyAMA0 {LOAD_BOOTARG}").as_str()));
        assert_eq!(
            PathBuf::from(partitions[1]["initrd"].as_str().unwrap()),
            joined("/repo/partitions", "../target/linux-guest/initramfs.cpio")
        );
        assert_eq!(
            PathBuf::from(table["qemu"]["virtio_blk"][0].as_str().unwrap()),
            joined("/repo/partitions", "../target/linux-guest/disk.img")
        );
        assert_eq!(table["system"]["hypervisor_memory"]["base"].as_integer(), Some(0x5000_0000));
        let booting = linux_manifest(DEMO, Path::new("/repo/partitions"), "samples=5", false).unwrap();
        assert!(!booting.contains(LOAD_BOOTARG));
    }

    #[test]
    fn the_load_must_run_before_the_probe_starts_measuring() {
        let good = format!("[linux] {LOAD_MARKER}: ...\n[rt] {MEASURING_FROM}2000000123\n");
        assert!(load_ran_before_sampling(&good));
        assert_eq!(measured_from(&good), Some(2_000_000_123));
        let late = format!("[rt] {MEASURING_FROM}2000000123\n[linux] {LOAD_MARKER}: ...\n");
        assert!(!load_ran_before_sampling(&late));
        assert!(!load_ran_before_sampling(&format!("[rt] {MEASURING_FROM}5\n")));
    }

    #[test]
    fn the_section_separates_the_emulator_effect_from_the_hypervisors() {
        let measured = |median: u64| {
            MetricResult::Measured(probe_output::Samples {
                count: 1,
                minimum: median,
                median,
                maximum: median,
                distribution: vec![probe_output::Run { value: median, count: 1 }],
            })
        };
        let case = |neighbours: Neighbours, median: u64| NeighbourCase {
            name: neighbours.name().to_owned(),
            description: neighbours.description(),
            command_line: String::new(),
            timer_wait: measured(median),
            timer_spinning: measured(median),
            reset_to_main: measured(1),
            measured_from: None,
        };
        let text = markdown(&[
            case(Neighbours::None, 100),
            case(Neighbours::Spinners, 400),
            case(Neighbours::LinuxBooting, 450),
            case(Neighbours::LinuxLoaded, 380),
        ]);
        assert!(
            text.contains(
                "- **timer latency, WFI** (medians): the emulator's effect, bare-metal spinners − alone: +300; \
                 beside Linux booting: +350 over alone, +50 above the spinners, which is the hypervisor's; \
                 beside Linux under load: +280 over alone, not above the spinners: nothing beyond the emulator's effect."
            ),
            "{text}"
        );
    }
}
