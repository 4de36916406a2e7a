//! `cargo xtask bench`: what trapping, interrupts and booting cost under Bulkhead, measured,
//! next to the architectural floor and (with `--against xen`) Xen, in one run.
//!
//! The same probe binary (`partitions/probe`) runs on every platform and reports each metric
//! over N samples; QEMU runs in its deterministic mode ([`machine`]), where one counter tick
//! is one executed instruction, so the numbers are instruction counts that include the
//! hypervisor's own work and are the same on any host. Steps:
//!
//! 1. build `partitions/bench.toml` (the probe alone) with the usual pipeline, its bootargs
//!    set to the sample count, and boot it under Bulkhead;
//! 2. boot the same probe image on bare QEMU behind the `probe-floor` stub ([`floor`]);
//! 3. with `--against xen`, boot it as a dom0less Xen domain ([`xen`]);
//! 4. read the image's size, static RAM and stage-2 mapping mix, count its lines of code;
//! 5. write `target/bench/report.json`, `report.md` and `latency.svg`.
//!
//! These are benchmarks, not tests: nothing here fails because a target is missed. The test
//! suite calls [`quick_check`]: one sample per metric on Bulkhead and the floor (and Xen when
//! the suite requires it), written to `target/bench/quick/` (so a full report is not
//! overwritten), then [`check_outputs`] (is the report well-formed?) and [`check_required`]
//! (was everything measured that can be? A green check must mean the measurements work).

pub mod catalog;
pub mod direct_tree;
pub mod floor;
pub mod linux;
pub mod image_facts;
pub mod lines_of_code;
pub mod machine;
pub mod plot;
pub mod probe_output;
pub mod profile;
pub mod report;
pub mod rt_neighbours;
pub mod display;
pub mod stage2_mix;
pub mod xen;

use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::host_tools::{self, HostToolsError, Need};
use crate::paths::Repository;
use crate::pipeline::{BuildRequest, BuiltSystem, Pipeline, PipelineError};
use crate::progress::{CommandError, Progress};
use crate::qemu::{QemuBoard, QemuRun};
use crate::toolchain::{BareMetalCargo, ToolchainError};

pub use report::{Platform, Report};

use image_facts::ImageFactsError;
use machine::CaptureError;
use probe_output::{MetricResult, ProbeOutputError, ProbeRun};
use profile::ProfileError;
use report::{PlatformOutcome, PlatformResult, SCHEMA_VERSION};
use stage2_mix::MappingError;

use catalog::{METRICS, MetricKind, Source};
use machine::ICOUNT_ARGUMENTS;

/// Samples per metric unless `--samples` says otherwise.
pub const DEFAULT_SAMPLES: usize = 101;
/// Most samples per metric (the probe's buffer).
pub const MAX_SAMPLES: usize = 1001;
/// The system the bench builds and boots under Bulkhead.
pub const BENCH_MANIFEST: &str = "partitions/bench.toml";
/// The probe's partition in [`BENCH_MANIFEST`], named like its crate.
const PROBE_PARTITION: &str = "probe";
/// The doorbell peer the bench adds to [`BENCH_MANIFEST`] for the doorbell row: the probe
/// image again, with `role=doorbell-echo`.
const ECHO_PARTITION: &str = "echo";
/// The metric only the doorbell system measures.
const DOORBELL_METRIC: &str = "doorbell_round_trip";
/// The channel between the probe and its doorbell peer.
const DOORBELL_CHANNEL: &str = "bench-doorbell";
/// Longest a platform may take from QEMU's start to the probe's last line. Xen's boot alone
/// is about 0.7 s of virtual time (0.7 G instructions); QEMU runs them in seconds.
const RUN_LIMIT: Duration = Duration::from_secs(600);

/// The board the bench's manifest names, and the one Xen and the Linux row are measured on.
pub const DEFAULT_BOARD: &str = "qemu-virt";

/// What `cargo xtask bench` was asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BenchOptions {
    /// The board the probe's systems are built for (`--board`); `None`: [`DEFAULT_BOARD`].
    pub board: Option<String>,
    /// Samples per metric (1 to [`MAX_SAMPLES`]).
    pub samples: usize,
    /// Also measure Xen.
    pub against_xen: bool,
    /// One sample per metric: checks that the bench works (the test suite's mode).
    pub quick: bool,
    /// Also trace Bulkhead instruction by instruction and break each measured trap down by
    /// hypervisor function ([`profile`]).
    pub profile: bool,
    /// Measure only this row (`--only`), nothing else.
    pub only: Option<OnlyRow>,
    /// Where progress goes.
    pub progress: Progress,
}

/// A row `cargo xtask bench --only` measures alone, to iterate on it without the whole bench
/// (a full run boots about ten systems). Nothing is written to the report: the result is
/// printed and kept in `target/bench/only-<row>.md`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnlyRow {
    /// `linux_time_to_userspace`, under Bulkhead and booted directly ([`linux`]).
    Linux,
    /// `rt`'s timer and start beside its neighbours ([`rt_neighbours`]).
    RtNeighbours,
}

impl OnlyRow {
    /// The names `--only` accepts, in the order of [`OnlyRow::ALL`].
    pub const NAMES: [&'static str; 2] = ["linux", "rt-neighbours"];
    /// Every row, in the order of [`OnlyRow::NAMES`].
    pub const ALL: [OnlyRow; 2] = [OnlyRow::Linux, OnlyRow::RtNeighbours];

    /// The row `--only NAME` names.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::NAMES.iter().position(|known| *known == name).and_then(|index| Self::ALL.get(index).copied())
    }

    /// Its name on the command line and in the output file.
    pub fn name(self) -> &'static str {
        match self {
            OnlyRow::Linux => "linux",
            OnlyRow::RtNeighbours => "rt-neighbours",
        }
    }
}

impl BenchOptions {
    /// Options from the command line: `--samples N`, `--against xen`, `--quick` (which
    /// takes one sample whatever `--samples` says), `--profile`.
    pub fn from_command_line(
        samples: usize,
        against_xen: bool,
        quick: bool,
        profile: bool,
    ) -> Self {
        Self {
            board: None,
            samples: if quick { 1 } else { samples },
            against_xen,
            quick,
            profile,
            only: None,
            progress: Progress::terminal(),
        }
    }

    /// The test suite's run: one sample, Bulkhead and the floor only, no console output.
    pub fn quick() -> Self {
        Self {
            board: None,
            samples: 1,
            against_xen: false,
            quick: true,
            profile: false,
            only: None,
            progress: Progress::quiet(),
        }
    }
}

impl BenchOptions {
    /// The board asked for with `--board`, unless it is [`DEFAULT_BOARD`].
    pub fn other_board(&self) -> Option<&str> {
        self.board.as_deref().filter(|board| *board != DEFAULT_BOARD)
    }
}

/// Where a run's files went.
#[derive(Clone, Debug, PartialEq)]
pub struct BenchOutputs {
    /// The report.
    pub report: Report,
    /// `report.json`.
    pub json: PathBuf,
    /// `report.md`.
    pub markdown: PathBuf,
    /// `latency.svg`.
    pub plot: PathBuf,
}

/// The bench's output directory: `target/bench/`, or `target/bench/quick/` for a quick run.
pub fn output_directory(repository: &Repository, options: &BenchOptions) -> PathBuf {
    let mut directory = repository.root().join("target").join("bench");
    if let Some(board) = options.other_board() {
        directory = directory.join(board);
    }
    if options.quick {
        directory.join("quick")
    } else {
        directory
    }
}

/// The test suite's check: a quick run on the `required` platforms (Bulkhead and the floor
/// always; Xen when `required` names it), its files read back and checked with
/// [`check_outputs`], then [`check_required`]: every required column measured, and every
/// metric the platform can measure measured. Returns the report that was read back.
///
/// `cargo xtask bench --against xen` reports a Xen column it could not fetch or boot as
/// unavailable and succeeds (a fact about the user's machine); a suite that asks for the Xen
/// column fails without it.
pub fn quick_check(repository: &Repository, required: &[Platform]) -> Result<Report, BenchError> {
    let mut options = BenchOptions::quick();
    options.against_xen = required.contains(&Platform::Xen);
    let outputs = run(repository, &options)?;
    let directory = outputs
        .json
        .parent()
        .map_or_else(|| output_directory(repository, &options), Path::to_path_buf);
    let report = check_outputs(&directory).map_err(BenchError::Malformed)?;
    check_required(&report, required).map_err(BenchError::Malformed)?;
    Ok(report)
}

/// Probe metrics a platform cannot measure by its nature, with the reason: the only
/// `unavailable` results [`check_required`] accepts. A `failed` result is never accepted.
pub const NOT_APPLICABLE: &[(Platform, &str, &str)] = &[
    (
        Platform::Floor,
        "doorbell_round_trip",
        "bare QEMU runs no hypervisor, so there is no channel and no doorbell to ring",
    ),
    (
        Platform::Xen,
        "doorbell_round_trip",
        "the probe rings Bulkhead channel doorbells (a device-tree `bulkhead,channel` node); \
         Xen signals domains through event channels, which the probe does not speak",
    ),
];

/// Checks what a suite asks of a report beyond its form: each platform in `required` (plus
/// Bulkhead and the floor) was measured, and on each, every probe metric was measured,
/// except the `unavailable` ones [`NOT_APPLICABLE`] lists for it. So a broken timer or vGIC
/// measurement, or a Xen column that could not be produced, fails the check.
pub fn check_required(report: &Report, required: &[Platform]) -> Result<(), MalformedReport> {
    let mut problems = Vec::new();
    let mut platforms = vec![Platform::Bulkhead, Platform::Floor];
    for platform in required {
        if !platforms.contains(platform) {
            platforms.push(*platform);
        }
    }
    for platform in platforms {
        match report.platform(platform).map(|result| &result.outcome) {
            Some(PlatformOutcome::Measured { probe, .. }) => {
                problems.extend(unmeasured_metrics(platform, probe));
            }
            Some(PlatformOutcome::Unavailable { reason }) => problems.push(format!(
                "the {} column was required but is unavailable: {reason}",
                platform.heading()
            )),
            None => problems.push(format!(
                "the {} column was required but the report has none",
                platform.heading()
            )),
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(MalformedReport { problems })
    }
}

/// The probe metrics of `probe` that `platform` should have measured but did not.
pub fn unmeasured_metrics(platform: Platform, probe: &ProbeRun) -> Vec<String> {
    let not_applicable = |metric: &str| {
        NOT_APPLICABLE
            .iter()
            .any(|(on, name, _)| *on == platform && *name == metric)
    };
    METRICS
        .iter()
        .filter(|metric| metric.source == Source::Probe)
        .map(|metric| metric.name)
        .chain([catalog::FRAME_METRIC])
        .filter_map(|metric| match probe.metric(metric) {
            Some(MetricResult::Measured(_)) => None,
            Some(MetricResult::Unavailable { .. }) if not_applicable(metric) => None,
            Some(MetricResult::Unavailable { reason }) => Some(format!(
                "{}: {metric} unavailable ({reason}) although {} can measure it",
                platform.heading(),
                platform.heading()
            )),
            Some(MetricResult::Failed { reason }) => Some(format!(
                "{}: {metric} failed ({reason})",
                platform.heading()
            )),
            None => Some(format!("{}: {metric} missing", platform.heading())),
        })
        .collect()
}

/// `cargo xtask bench`: [`run`], then the table on stdout and where the files are.
pub fn command(repository: &Repository, options: &BenchOptions) -> Result<(), BenchError> {
    if let Some(row) = options.only {
        let (text, written) = run_only(repository, options, row)?;
        println!("{text}\nwritten: {}", written.strip_prefix(repository.root()).unwrap_or(&written).display());
        return Ok(());
    }
    let outputs = run(repository, options)?;
    print!("{}", outputs.report.markdown());
    let shown = |path: &Path| {
        path.strip_prefix(repository.root())
            .unwrap_or(path)
            .display()
            .to_string()
    };
    println!(
        "\nwritten: {}, {}, {}",
        shown(&outputs.json),
        shown(&outputs.markdown),
        shown(&outputs.plot)
    );
    Ok(())
}

/// The QEMU run that measures Bulkhead: the deterministic board, instruction counting.
pub fn bulkhead_qemu_run(board: &QemuBoard, image: PathBuf, log_file: PathBuf) -> QemuRun {
    QemuRun::piped(
        board,
        image,
        Some(log_file),
        ICOUNT_ARGUMENTS.map(str::to_owned).to_vec(),
    )
}

/// What every run needs first: the sample count checked, the output directory, the bare-metal
/// toolchain, QEMU and dtc.
fn prepare(repository: &Repository, options: &BenchOptions) -> Result<(Progress, PathBuf, BareMetalCargo), BenchError> {
    if !(1..=MAX_SAMPLES).contains(&options.samples) {
        return Err(BenchError::Samples(options.samples));
    }
    let progress = options.progress;
    let directory = output_directory(repository, options);
    create_directory(&directory)?;
    let cargo = BareMetalCargo::ensure(&progress).map_err(BenchError::Toolchain)?;
    host_tools::ensure(Need::QemuAndDtc, &progress).map_err(BenchError::HostTools)?;
    Ok((progress, directory, cargo))
}

/// Measures one row alone (`--only`) on the bench's board, exactly as [`run`] measures it;
/// returns its text and the file it was written to.
pub fn run_only(repository: &Repository, options: &BenchOptions, row: OnlyRow) -> Result<(String, PathBuf), BenchError> {
    let (progress, directory, cargo) = prepare(repository, options)?;
    let text = match row {
        OnlyRow::Linux => {
            // The Linux row boots on the bench manifest's board, as in a full run.
            let manifest = write_manifest(repository, &directory, options)?;
            let built = Pipeline::new(repository, cargo.clone(), progress)
                .build(&BuildRequest { manifest, board: None })
                .map_err(BenchError::Pipeline)?;
            let board = machine::deterministic_board(&built.qemu);
            crate::qemu_preflight::ensure(&board, &progress).map_err(BenchError::QemuPreflight)?;
            let boots = linux::measure(repository, &cargo, &board, &directory, &progress);
            format!(
                "{}\n\nBulkhead: `{}`\n\ndirect: `{}`",
                linux_note(Some(&boots), options),
                boots.bulkhead_command_line,
                boots.direct_command_line
            )
        }
        OnlyRow::RtNeighbours => {
            rt_neighbours::markdown(&rt_neighbours::measure(repository, &cargo, options.samples, &directory, &progress))
        }
    };
    let written = directory.join(format!("only-{}.md", row.name()));
    fs::write(&written, format!("{text}\n")).map_err(|source| BenchError::Io { path: written.clone(), source })?;
    Ok((text, written))
}

/// Measures every platform, gathers the image facts and writes the report files.
pub fn run(repository: &Repository, options: &BenchOptions) -> Result<BenchOutputs, BenchError> {
    let (progress, directory, cargo) = prepare(repository, options)?;

    if options.against_xen {
        if let Some(board) = options.other_board() {
            return Err(BenchError::XenBoard(board.to_owned()));
        }
    }
    let manifest = write_manifest(repository, &directory, options)?;
    let built = Pipeline::new(repository, cargo.clone(), progress)
        .build(&BuildRequest {
            manifest,
            board: None,
        })
        .map_err(BenchError::Pipeline)?;
    let board = machine::deterministic_board(&built.qemu);
    crate::qemu_preflight::ensure(&board, &progress).map_err(BenchError::QemuPreflight)?;
    let probe = built
        .compiled
        .partitions
        .iter()
        .find(|partition| partition.name == PROBE_PARTITION)
        .ok_or(BenchError::NoProbePartition)?;

    let mut platforms = Vec::new();
    let bulkhead_run = bulkhead_qemu_run(
        &board,
        built.hypervisor_elf(),
        directory.join("bulkhead-hv-log.bin"),
    );
    let mut probe_run = measure(
        Platform::Bulkhead,
        "bulkhead",
        &bulkhead_run,
        &directory,
        &progress,
    )?;
    let doorbell = measure_doorbell(repository, &cargo, &board, &directory, options)?;
    replace_metric(&mut probe_run, &doorbell.probe, DOORBELL_METRIC);
    platforms.push(PlatformResult {
        platform: Platform::Bulkhead,
        description: format!(
            "Bulkhead ({}), probe on core 0; the doorbell row from a second boot with a peer \
             partition on core 1 (`{}`)",
            built
                .hypervisor_elf()
                .strip_prefix(repository.root())
                .unwrap_or(&built.hypervisor_elf())
                .display(),
            doorbell.command_line
        ),
        outcome: PlatformOutcome::Measured {
            command_line: bulkhead_run.command_line(),
            probe: probe_run,
        },
    });

    let profiles = if options.profile {
        profile::profile(
            &bulkhead_run,
            &built.hypervisor_elf(),
            &repository.guest_elf(PROBE_PARTITION),
            options.samples as u64,
            &directory,
            &progress,
            RUN_LIMIT,
        )
        .map_err(BenchError::Profile)?
    } else {
        Vec::new()
    };

    platforms.push(match floor::unavailable_on(&board) {
        Some(reason) => PlatformResult {
            platform: Platform::Floor,
            description: "bare QEMU, probe at EL1 behind the probe-floor EL2 stub".to_owned(),
            outcome: PlatformOutcome::Unavailable { reason },
        },
        None => {
            let stub = floor::build_stub(repository, &cargo, &progress, &directory)?;
            let floor_run = floor::qemu_run(&board, &stub, &probe.image, probe.image_ipa, options.samples);
            let probe_run = measure(Platform::Floor, "floor", &floor_run, &directory, &progress)?;
            PlatformResult {
                platform: Platform::Floor,
                description: "bare QEMU, probe at EL1 behind the probe-floor EL2 stub (HVC answered by a \
                              lone ERET, no stage 2, physical timer interrupt)"
                    .to_owned(),
                outcome: PlatformOutcome::Measured { command_line: floor_run.command_line(), probe: probe_run },
            }
        }
    });

    // The Linux row: billions of instructions per boot, so full runs only, and on the board
    // its demo is written for.
    let linux_boots = (!options.quick && options.other_board().is_none())
        .then(|| linux::measure(repository, &cargo, &board, &directory, &progress));
    if let Some(boots) = &linux_boots {
        for result in &mut platforms {
            let value = match result.platform {
                Platform::Bulkhead => &boots.bulkhead,
                Platform::Floor => &boots.direct,
                Platform::Xen => continue,
            };
            if let PlatformOutcome::Measured { probe, .. } = &mut result.outcome {
                set_metric(probe, linux::LINUX_METRIC, value.clone());
            }
        }
    }

    // rt's timer beside Linux: four more systems, two of them billions of instructions.
    let rt_neighbours = if options.quick {
        Vec::new()
    } else {
        rt_neighbours::measure(repository, &cargo, options.samples, &directory, &progress)
    };

    // The display rows: a few seconds of frames, full runs on qemu-virt only.
    let display = (!options.quick && options.other_board().is_none())
        .then(|| display::measure(repository, &cargo, &directory, &progress));

    if options.against_xen {
        platforms.push(measure_xen(&board, probe, &directory, options, &progress)?);
    }
    platforms.sort_by_key(|result| result.platform);

    let mut report = assemble(repository, &built, &board, platforms, options)?;
    report.notes.push(linux_note(linux_boots.as_ref(), options));
    report.profile = profiles;
    report.rt_neighbours = rt_neighbours;
    report.display = display;
    check(&report).map_err(BenchError::Malformed)?;
    write_outputs(&directory, report)
}

/// The Xen column: measured, or unavailable with the reason.
fn measure_xen(
    board: &QemuBoard,
    probe: &bulkhead_config::CompiledPartition,
    directory: &Path,
    options: &BenchOptions,
    progress: &Progress,
) -> Result<PlatformResult, BenchError> {
    let xen_directory = directory.join("xen");
    let unavailable = |reason: String| {
        progress.note(&format!("Xen column unavailable: {reason}"));
        PlatformResult {
            platform: Platform::Xen,
            description: format!("Xen ({}, dom0less)", xen::PACKAGE),
            outcome: PlatformOutcome::Unavailable { reason },
        }
    };
    let xen_image = match xen::fetch(&xen_directory, progress) {
        Ok(xen_image) => xen_image,
        Err(xen::Unavailable(reason)) => return Ok(unavailable(reason)),
    };
    let module_size = fs::metadata(&probe.image)
        .map_err(|source| BenchError::Io {
            path: probe.image.clone(),
            source,
        })?
        .len();
    let domain = xen::Domain {
        module_size,
        memory_bytes: probe.ram.size(),
        bootargs: format!("samples={}", options.samples),
    };
    let (device_tree, command_line) = match xen::device_tree(board, &xen_directory, &domain) {
        Ok(found) => found,
        Err(xen::Unavailable(reason)) => return Ok(unavailable(reason)),
    };
    let run = xen::qemu_run(board, &xen_image, &device_tree, &probe.image);
    match measure(Platform::Xen, "xen", &run, directory, progress) {
        Ok(probe_run) => Ok(PlatformResult {
            platform: Platform::Xen,
            description: format!(
                "Xen {} (Debian {}), dom0less, one domain with 1 vCPU and {} MiB; Xen command line `{command_line}`",
                xen_image.version,
                xen::PACKAGE,
                probe.ram.size() >> 20,
            ),
            outcome: PlatformOutcome::Measured {
                command_line: run.command_line(),
                probe: probe_run,
            },
        }),
        // Bulkhead and the floor failing is a bug to report; Xen failing to boot here is a
        // fact about this machine, reported in the column.
        Err(error) => Ok(unavailable(error.to_string())),
    }
}

/// What the doorbell system measured.
struct DoorbellRun {
    /// Its probe's output (only the doorbell metric and the frame).
    probe: ProbeRun,
    /// The QEMU command line.
    command_line: String,
}

/// The doorbell row: builds [`BENCH_MANIFEST`] plus a peer partition on a free core and a
/// channel with a doorbell between them ([`with_doorbell_peer`]), boots it under Bulkhead and
/// returns what its probe measured. A separate boot, so that the single-partition system the
/// other rows (boot counts above all) describe stays what Xen and the floor run.
fn measure_doorbell(
    repository: &Repository,
    cargo: &BareMetalCargo,
    board: &QemuBoard,
    directory: &Path,
    options: &BenchOptions,
) -> Result<DoorbellRun, BenchError> {
    let source = repository.root().join(BENCH_MANIFEST);
    let text = fs::read_to_string(&source).map_err(|source_error| BenchError::Io {
        path: source.clone(),
        source: source_error,
    })?;
    let edited = with_doorbell_peer(&text, options.samples)
        .and_then(|text| with_board(&text, options.board.as_deref()))
        .map_err(|reason| BenchError::Manifest {
            path: source.clone(),
            reason,
        })?;
    let manifest = directory.join("bench-doorbell.toml");
    let header = format!(
        "# Generated by `cargo xtask bench` from {BENCH_MANIFEST}: the probe measures only the \
         doorbell round trip to `{ECHO_PARTITION}`, the probe image in its doorbell-echo role.\n"
    );
    fs::write(&manifest, header + &edited).map_err(|source| BenchError::Io {
        path: manifest.clone(),
        source,
    })?;
    let built = Pipeline::new(repository, cargo.clone(), options.progress)
        .build(&BuildRequest {
            manifest,
            board: None,
        })
        .map_err(BenchError::Pipeline)?;
    let run = bulkhead_qemu_run(
        board,
        built.hypervisor_elf(),
        directory.join("bulkhead-doorbell-hv-log.bin"),
    );
    let probe = measure(
        Platform::Bulkhead,
        "bulkhead-doorbell",
        &run,
        directory,
        &options.progress,
    )?;
    Ok(DoorbellRun {
        probe,
        command_line: run.command_line(),
    })
}

/// Puts `from`'s result for `metric` in `into` (in place of what `into` reported, or added);
/// a `from` without it gives a failed metric saying so.
fn replace_metric(into: &mut ProbeRun, from: &ProbeRun, metric: &str) {
    let result = from
        .metric(metric)
        .cloned()
        .unwrap_or(MetricResult::Failed {
            reason: "the-doorbell-system-did-not-report-it".to_owned(),
        });
    set_metric(into, metric, result);
}

/// Linux's boot to userspace may take at most this much longer under Bulkhead than booted
/// directly (issue 11), in percent.
const LINUX_OVERHEAD_TARGET_PERCENT: f64 = 1.0;

/// Both Linux counts, their ratio and whether it meets [`LINUX_OVERHEAD_TARGET_PERCENT`].
fn linux_comparison(bulkhead: u64, direct: u64) -> String {
    let overhead = (bulkhead as f64 / direct.max(1) as f64 - 1.0) * 100.0;
    let verdict = if overhead <= LINUX_OVERHEAD_TARGET_PERCENT { "met" } else { "NOT met" };
    format!(
        " Bulkhead {} vs direct {} instructions: {overhead:+.2} % (target <= +{LINUX_OVERHEAD_TARGET_PERCENT} %: {verdict}).",
        report::thousands(bulkhead),
        report::thousands(direct),
    )
}

/// The report's note on the Linux row: what was booted, both counts and their ratio.
fn linux_note(boots: Option<&linux::LinuxBoots>, options: &BenchOptions) -> String {
    let Some(boots) = boots else {
        if let Some(board) = options.other_board() {
            return format!(
                "`reset → Linux userspace` is measured on {DEFAULT_BOARD} only (`{}` is written \
                 for it); this run is on {board}.",
                linux::LINUX_MANIFEST
            );
        }
        return "`reset → Linux userspace` is measured by full runs only (two deterministic Linux \
                boots of billions of instructions each); this run is quick."
            .to_owned();
    };
    let value = |result: &MetricResult| match result {
        MetricResult::Measured(samples) => Some(samples.median),
        MetricResult::Unavailable { .. } | MetricResult::Failed { .. } => None,
    };
    let comparison = match (value(&boots.bulkhead), value(&boots.direct)) {
        (Some(bulkhead), Some(direct)) if direct > 0 => linux_comparison(bulkhead, direct),
        _ => String::new(),
    };
    format!(
        "`reset → Linux userspace`: Debian's arm64 kernel with the busybox initramfs of \
         `{}` (2 vCPUs, 256 MiB), from machine reset to the first program its `/init` runs \
         (`linux-counter`, which prints the virtual counter; CNTVOFF is 0 under Bulkhead). \
         Under Bulkhead the whole demo runs: `rt`'s heartbeats on core 0 are counted too. \
         The floor column boots the same kernel, initramfs and bootargs directly, at EL1, \
         with QEMU's device tree cut to the nodes of the partition's tree and fresh \
         `/chosen` seeds (`linux-direct.dtb`, `xtask/src/bench/direct_tree.rs`), so both sides \
         set up the same devices (`{}`).{comparison}",
        linux::LINUX_MANIFEST,
        boots.direct_command_line
    )
}

/// Sets `metric` of `into` to `result` (replacing or adding it).
fn set_metric(into: &mut ProbeRun, metric: &str, result: MetricResult) {
    match into.metrics.iter_mut().find(|entry| entry.name == metric) {
        Some(entry) => entry.result = result,
        None => into.metrics.push(probe_output::ProbeMetric {
            name: metric.to_owned(),
            result,
        }),
    }
}

/// `manifest` (the bench manifest) turned into the doorbell system: the probe measures only
/// [`DOORBELL_METRIC`] (`samples` of it), a partition [`ECHO_PARTITION`] like the probe's
/// runs the probe image as the doorbell peer on the lowest core no partition uses, and a
/// channel with a doorbell joins the two.
fn with_doorbell_peer(manifest: &str, samples: usize) -> Result<String, String> {
    let text = with_probe_bootargs(
        manifest,
        &format!("samples={samples} only={DOORBELL_METRIC}"),
    )?;
    let mut table: toml::Table = toml::from_str(&text).map_err(|error| error.to_string())?;
    let partitions = table
        .get_mut("partition")
        .and_then(toml::Value::as_array_mut)
        .ok_or("no [[partition]]")?;
    let used: Vec<i64> = partitions
        .iter()
        .filter_map(|partition| partition.get("cpus")?.as_array().cloned())
        .flatten()
        .filter_map(|core| core.as_integer())
        .collect();
    let free = (0..).find(|core| !used.contains(core)).unwrap_or(0);
    let mut echo = partitions
        .iter()
        .filter_map(toml::Value::as_table)
        .find(|partition| {
            partition.get("name").and_then(toml::Value::as_str) == Some(PROBE_PARTITION)
        })
        .cloned()
        .ok_or(format!("no partition named `{PROBE_PARTITION}`"))?;
    echo.insert("name".to_owned(), ECHO_PARTITION.into());
    echo.insert("cpus".to_owned(), toml::Value::Array(vec![free.into()]));
    echo.insert("bootargs".to_owned(), "role=doorbell-echo".into());
    echo.remove("memory");
    echo.insert(
        "memory".to_owned(),
        toml::Value::Table(toml::Table::from_iter([(
            "size".to_owned(),
            toml::Value::from("64MiB"),
        )])),
    );
    partitions.push(toml::Value::Table(echo));
    let mut channel = toml::Table::new();
    channel.insert("name".to_owned(), DOORBELL_CHANNEL.into());
    channel.insert("size".to_owned(), "64KiB".into());
    channel.insert(
        "access".to_owned(),
        toml::Value::Table(toml::Table::from_iter([
            (PROBE_PARTITION.to_owned(), toml::Value::from("rw")),
            (ECHO_PARTITION.to_owned(), toml::Value::from("rw")),
        ])),
    );
    channel.insert("doorbell".to_owned(), true.into());
    table.insert(
        "channel".to_owned(),
        toml::Value::Array(vec![toml::Value::Table(channel)]),
    );
    toml::to_string(&table).map_err(|error| error.to_string())
}

/// Boots one platform and parses what the probe printed; the console is kept in
/// `<directory>/<log_stem>.log`.
fn measure(
    platform: Platform,
    log_stem: &str,
    run: &QemuRun,
    directory: &Path,
    progress: &Progress,
) -> Result<ProbeRun, BenchError> {
    let step = progress.step(format!("measuring on {} ({log_stem})", platform.heading()));
    let log = directory.join(format!("{log_stem}.log"));
    let outcome = machine::capture(&mut run.command(), RUN_LIMIT, &step);
    let transcript = match outcome {
        Ok(transcript) => transcript,
        Err(error) => {
            step.fail("");
            if let CaptureError::Timeout { transcript, .. } = &error {
                let _ = fs::write(
                    &log,
                    format!("{}{}", transcript.console, transcript.diagnostics),
                );
            }
            return Err(BenchError::Capture {
                platform,
                error,
                log,
            });
        }
    };
    fs::write(
        &log,
        format!("{}{}", transcript.console, transcript.diagnostics),
    )
    .map_err(|source| BenchError::Io {
        path: log.clone(),
        source,
    })?;
    match probe_output::parse(&transcript.console) {
        Ok(probe_run) => {
            step.succeed(&format!("{} metrics", probe_run.metrics.len()));
            Ok(probe_run)
        }
        Err(error) => {
            step.fail("");
            Err(BenchError::ProbeOutput {
                platform,
                error,
                log,
            })
        }
    }
}

/// Writes `<directory>/bench.toml`: the bench manifest with the probe's bootargs set to the
/// sample count (the probe reads `samples=` from its device tree's `/chosen/bootargs`).
fn write_manifest(
    repository: &Repository,
    directory: &Path,
    options: &BenchOptions,
) -> Result<PathBuf, BenchError> {
    let samples = options.samples;
    let source = repository.root().join(BENCH_MANIFEST);
    let text = fs::read_to_string(&source).map_err(|source_error| BenchError::Io {
        path: source.clone(),
        source: source_error,
    })?;
    let edited = with_probe_bootargs(&text, &format!("samples={samples}"))
        .and_then(|text| with_board(&text, options.board.as_deref()))
        .map_err(|reason| BenchError::Manifest {
            path: source.clone(),
            reason,
        })?;
    let manifest = directory.join("bench.toml");
    let header = format!(
        "# Generated by `cargo xtask bench` from {BENCH_MANIFEST} (bootargs set to the sample count).\n"
    );
    fs::write(&manifest, header + &edited).map_err(|source| BenchError::Io {
        path: manifest.clone(),
        source,
    })?;
    Ok(manifest)
}

/// `manifest` built for `board` (`[system] board`), or unchanged for `None`.
fn with_board(manifest: &str, board: Option<&str>) -> Result<String, String> {
    let Some(board) = board else { return Ok(manifest.to_owned()) };
    let mut table: toml::Table = toml::from_str(manifest).map_err(|error| error.to_string())?;
    let system = table
        .get_mut("system")
        .and_then(toml::Value::as_table_mut)
        .ok_or("no [system]")?;
    system.insert("board".to_owned(), toml::Value::String(board.to_owned()));
    toml::to_string(&table).map_err(|error| error.to_string())
}

/// `manifest` with the probe partition's `bootargs` replaced by `bootargs`.
fn with_probe_bootargs(manifest: &str, bootargs: &str) -> Result<String, String> {
    let mut table: toml::Table = toml::from_str(manifest).map_err(|error| error.to_string())?;
    let partitions = table
        .get_mut("partition")
        .and_then(toml::Value::as_array_mut)
        .ok_or("no [[partition]]")?;
    let probe = partitions
        .iter_mut()
        .filter_map(toml::Value::as_table_mut)
        .find(|partition| {
            partition.get("name").and_then(toml::Value::as_str) == Some(PROBE_PARTITION)
        })
        .ok_or(format!("no partition named `{PROBE_PARTITION}`"))?;
    probe.insert(
        "bootargs".to_owned(),
        toml::Value::String(bootargs.to_owned()),
    );
    toml::to_string(&table).map_err(|error| error.to_string())
}

/// Puts the measurements and the image facts together.
fn assemble(
    repository: &Repository,
    built: &BuiltSystem,
    board: &QemuBoard,
    platforms: Vec<PlatformResult>,
    options: &BenchOptions,
) -> Result<Report, BenchError> {
    let mut embedded = 0;
    for partition in &built.compiled.partitions {
        for file in [&partition.image, &partition.dtb] {
            embedded += fs::metadata(file)
                .map_err(|source| BenchError::Io {
                    path: file.clone(),
                    source,
                })?
                .len();
        }
    }
    for partition in built.spec.partitions() {
        embedded += partition.initrd.as_ref().map_or(0, |(_, size)| *size);
    }
    let (image, static_memory) =
        image_facts::read(&built.hypervisor_elf(), embedded).map_err(BenchError::ImageFacts)?;
    let lines_of_code = lines_of_code::IMAGE_CRATES
        .iter()
        .map(|path| {
            lines_of_code::count_crate(repository.root(), path).map_err(|source| BenchError::Io {
                path: repository.root().join(path),
                source,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let stage2 = stage2_mix::mix(&built.spec).map_err(BenchError::Stage2)?;
    let rows = report::rows(&platforms);
    let mut notes = vec![
        "Counts are instructions executed by every core (QEMU's icount clock), so they include \
         the hypervisor's work and, for boot times, idle periods QEMU skips over (sleep=off)."
            .to_owned(),
        "`reset → guest's first instruction` is the physical counter read by the probe's first \
         instruction; on the floor it is QEMU's boot code plus the stub."
            .to_owned(),
        "`inter-partition doorbell round trip` (Bulkhead only; bare QEMU has no channels and \
         the probe does not speak Xen's event channels) comes from a second boot with a peer \
         partition on core 1 running the probe image as a doorbell echo. It counts the \
         instructions of both cores from the probe's store to its doorbell register to the \
         first instruction of the probe's IRQ handler for the peer's answer, minus the \
         measurement frame: the trap of the store, raising the peer's interrupt and kicking \
         its core, the probe's return and WFI; the peer's hypervisor entry, its acknowledge, \
         answering store and that store's trap, end of interrupt and return to WFI; the \
         probe's hypervisor entry for the answer. Both sides sleep in WFI, so QEMU switches \
         cores as soon as one waits and no idle spinning is counted."
            .to_owned(),
    ];
    if matches!(
        platforms
            .iter()
            .find(|result| result.platform == Platform::Xen)
            .map(|result| &result.outcome),
        Some(PlatformOutcome::Measured { .. })
    ) {
        notes.push(format!(
            "Xen runs with `{}`: Debian builds no null scheduler; without timer_slop=0 Xen \
             delays a sleeping vCPU's timer by up to 50 µs to batch timers; bootscrub=0 \
             keeps idle cores from scrubbing memory during the measurements; maxcpus=1 makes \
             Xen bring up only the core its one domain runs on, as Bulkhead runs the probe on \
             core 0 and parks the others. Without maxcpus=1, Xen's reset → first instruction \
             was 683.8 M instructions, nearly all of it cores waiting for each other under \
             QEMU's one-core-at-a-time deterministic mode (an emulator artefact), 23-30 times \
             what the same package boots in elsewhere; with it, the boot rows compare like \
             with like. Xen's boot count includes initialising its heap for QEMU's {} of RAM \
             and building the {} MiB domain (allocating and mapping its memory, loading the \
             probe); Bulkhead's includes setting up its one partition's stage 2 and copying \
             the probe and its device tree from its image.",
            xen::XEN_OPTIONS,
            board.memory,
            built
                .compiled
                .partitions
                .iter()
                .find(|partition| partition.name == PROBE_PARTITION)
                .map_or(0, |partition| partition.ram.size() >> 20)
        ));
    }
    Ok(Report {
        schema_version: SCHEMA_VERSION,
        settings: report::Settings {
            samples: options.samples as u64,
            quick: options.quick,
            unit: "one counter tick = one executed instruction".to_owned(),
            qemu_machine: board.machine.clone(),
            qemu_cpu: board.cpu.clone(),
            qemu_smp: board.smp,
            qemu_memory: board.memory.clone(),
            qemu_arguments: ICOUNT_ARGUMENTS.map(str::to_owned).to_vec(),
        },
        platforms,
        rows,
        image,
        static_memory,
        lines_of_code,
        stage2,
        profile: Vec::new(),
        notes,
        rt_neighbours: Vec::new(),
        display: None,
    })
}

fn write_outputs(directory: &Path, report: Report) -> Result<BenchOutputs, BenchError> {
    let json = directory.join("report.json");
    let markdown = directory.join("report.md");
    let plot = directory.join("latency.svg");
    let serialized = serde_json::to_string_pretty(&report).map_err(|error| BenchError::Io {
        path: json.clone(),
        source: io::Error::other(error),
    })?;
    for (path, text) in [
        (&json, serialized + "\n"),
        (&markdown, report.markdown()),
        (&plot, plot::svg(&report)),
    ] {
        fs::write(path, text).map_err(|source| BenchError::Io {
            path: path.clone(),
            source,
        })?;
    }
    Ok(BenchOutputs {
        report,
        json,
        markdown,
        plot,
    })
}

fn create_directory(directory: &Path) -> Result<(), BenchError> {
    fs::create_dir_all(directory).map_err(|source| BenchError::Io {
        path: directory.to_path_buf(),
        source,
    })
}

/// What is wrong with a report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MalformedReport {
    /// Every problem found.
    pub problems: Vec<String>,
}

impl fmt::Display for MalformedReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed bench report: {}", self.problems.join("; "))
    }
}

impl std::error::Error for MalformedReport {}

/// Checks that `report` is complete and consistent: Bulkhead and the floor measured, every
/// probe metric present with the requested number of samples and a distribution that adds
/// up, one row per metric, and image facts that are not empty. Targets are not checked:
/// missing one is a result, not a malformation.
pub fn check(report: &Report) -> Result<(), MalformedReport> {
    let mut problems = Vec::new();
    if report.schema_version != SCHEMA_VERSION {
        problems.push(format!("schema version {}", report.schema_version));
    }
    // The floor may be missing only where it cannot run (a board other than QEMU `virt`).
    let floor_runs_here = floor::runs_on(&report.settings.qemu_machine);
    for platform in [Platform::Bulkhead, Platform::Floor] {
        match report.platform(platform).map(|result| &result.outcome) {
            Some(PlatformOutcome::Measured { probe, .. }) => {
                check_probe_run(platform, probe, report.settings.samples, &mut problems);
            }
            Some(PlatformOutcome::Unavailable { .. }) if platform == Platform::Floor && !floor_runs_here => {}
            _ => problems.push(format!("{} was not measured", platform.heading())),
        }
    }
    if let Some(PlatformOutcome::Measured { probe, .. }) =
        report.platform(Platform::Xen).map(|result| &result.outcome)
    {
        check_probe_run(Platform::Xen, probe, report.settings.samples, &mut problems);
    }
    let row_names: Vec<&str> = report.rows.iter().map(|row| row.metric.as_str()).collect();
    let metric_names: Vec<&str> = METRICS.iter().map(|metric| metric.name).collect();
    if row_names != metric_names {
        problems.push(format!("rows {row_names:?} instead of {metric_names:?}"));
    }
    for row in &report.rows {
        if row.costs.len() != report.platforms.len() {
            problems.push(format!("row {} lacks a platform", row.metric));
        }
    }
    if report.image.text == 0 || report.static_memory.total < report.image.loaded() {
        problems.push("image sizes are missing".to_owned());
    }
    if report
        .lines_of_code
        .iter()
        .map(|lines| lines.code)
        .sum::<u64>()
        == 0
    {
        problems.push("no lines of code counted".to_owned());
    }
    if report.stage2.is_empty() || report.stage2.iter().any(|mapping| mapping.total() == 0) {
        problems.push("stage-2 mapping mix is missing".to_owned());
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(MalformedReport { problems })
    }
}

fn check_probe_run(platform: Platform, probe: &ProbeRun, samples: u64, problems: &mut Vec<String>) {
    let name = platform.heading();
    if probe.samples != samples {
        problems.push(format!(
            "{name}: {} samples instead of {samples}",
            probe.samples
        ));
    }
    let expected = METRICS
        .iter()
        .filter(|metric| metric.source == Source::Probe)
        .map(|metric| (metric.name, metric.kind))
        .chain([(catalog::FRAME_METRIC, MetricKind::Operation)]);
    for (metric, kind) in expected {
        match probe.metric(metric) {
            None => problems.push(format!("{name}: {metric} missing")),
            Some(MetricResult::Measured(measured)) => {
                let wanted = if kind == MetricKind::SinceReset {
                    1
                } else {
                    samples
                };
                if measured.count != wanted {
                    problems.push(format!("{name}: {metric} has {} samples", measured.count));
                }
                if !probe_output::distribution_matches(measured)
                    || measured.minimum > measured.median
                    || measured.median > measured.maximum
                {
                    problems.push(format!("{name}: {metric} is inconsistent"));
                }
            }
            Some(MetricResult::Unavailable { reason } | MetricResult::Failed { reason })
                if reason.is_empty() =>
            {
                problems.push(format!("{name}: {metric} absent without a reason"));
            }
            Some(_) => {}
        }
    }
}

/// Reads `report.json` from `directory` (see [`output_directory`]), checks it with
/// [`check`], and checks that `report.md` and `latency.svg` were written with it.
pub fn check_outputs(directory: &Path) -> Result<Report, MalformedReport> {
    let malformed = |problem: String| MalformedReport {
        problems: vec![problem],
    };
    let read = |name: &str| {
        fs::read_to_string(directory.join(name))
            .map_err(|error| malformed(format!("{name}: {error}")))
    };
    let report: Report = serde_json::from_str(&read("report.json")?)
        .map_err(|error| malformed(format!("report.json: {error}")))?;
    check(&report)?;
    let markdown = read("report.md")?;
    if !markdown.contains("| metric |") || !markdown.contains(&report.rows[0].title) {
        return Err(malformed("report.md has no results table".to_owned()));
    }
    let picture = read("latency.svg")?;
    if !picture.starts_with("<svg ") || !picture.trim_end().ends_with("</svg>") {
        return Err(malformed("latency.svg is not an SVG document".to_owned()));
    }
    Ok(report)
}

/// Why the bench could not run.
#[derive(Debug)]
pub enum BenchError {
    /// `--samples` out of range.
    Samples(usize),
    /// `--against xen` on a board the Xen column is not set up for.
    XenBoard(String),
    /// No way to build for the bare-metal target.
    Toolchain(ToolchainError),
    /// QEMU or dtc missing.
    HostTools(HostToolsError),
    /// QEMU cannot create the board's machine.
    QemuPreflight(crate::qemu_preflight::PreflightError),
    /// The bench system could not be built.
    Pipeline(PipelineError),
    /// A cargo build (the floor stub) failed.
    Build(CommandError),
    /// The bench manifest could not be rewritten.
    Manifest {
        /// The manifest.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The bench manifest has no probe partition.
    NoProbePartition,
    /// A built image could not be read.
    Image {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// QEMU could not run the platform to the probe's end.
    Capture {
        /// Which platform.
        platform: Platform,
        /// What happened.
        error: CaptureError,
        /// The console transcript.
        log: PathBuf,
    },
    /// The probe's output could not be read.
    ProbeOutput {
        /// Which platform.
        platform: Platform,
        /// What is wrong.
        error: ProbeOutputError,
        /// The console transcript.
        log: PathBuf,
    },
    /// The hypervisor ELF could not be read.
    ImageFacts(ImageFactsError),
    /// The traced run for `--profile` failed.
    Profile(ProfileError),
    /// A partition's stage 2 could not be rebuilt on the host.
    Stage2(MappingError),
    /// The report came out inconsistent (a bug in the bench).
    Malformed(MalformedReport),
    /// A file could not be read or written.
    Io {
        /// The path.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
}

impl fmt::Display for BenchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Samples(samples) => {
                write!(f, "--samples {samples}: take between 1 and {MAX_SAMPLES}")
            }
            Self::XenBoard(board) => write!(
                f,
                "--against xen --board {board}: the Xen column boots Debian's Xen dom0less on \
                 {DEFAULT_BOARD} only; run the Xen comparison without --board"
            ),
            Self::Toolchain(error) => write!(f, "{error}"),
            Self::HostTools(error) => write!(f, "{error}"),
            Self::QemuPreflight(error) => write!(f, "{error}"),
            Self::Pipeline(error) => write!(f, "{error}"),
            Self::Build(error) => write!(f, "building {}: {error}", floor::STUB_CRATE),
            Self::Manifest { path, reason } => write!(f, "{}: {reason}", path.display()),
            Self::NoProbePartition => {
                write!(
                    f,
                    "{BENCH_MANIFEST} has no partition named `{PROBE_PARTITION}`"
                )
            }
            Self::Image { path, reason } => write!(f, "{}: {reason}", path.display()),
            Self::Capture {
                platform,
                error,
                log,
            } => {
                let what = match error {
                    CaptureError::Spawn { command, source } => {
                        format!("`{command}` could not start: {source}")
                    }
                    CaptureError::Timeout { limit, .. } => {
                        format!("the probe did not finish within {} s", limit.as_secs())
                    }
                };
                write!(
                    f,
                    "{}: {what} (console in {})",
                    platform.heading(),
                    log.display()
                )
            }
            Self::ProbeOutput {
                platform,
                error,
                log,
            } => write!(
                f,
                "{}: {error} (console in {})",
                platform.heading(),
                log.display()
            ),
            Self::ImageFacts(error) => write!(f, "{error}"),
            Self::Profile(error) => write!(f, "profiling: {error}"),
            Self::Stage2(error) => write!(
                f,
                "partition {}: stage 2 could not be rebuilt: {:?}",
                error.partition, error.error
            ),
            Self::Malformed(error) => write!(f, "{error}"),
            Self::Io { path, source } => write!(f, "{}: {source}", path.display()),
        }
    }
}

impl std::error::Error for BenchError {}

#[cfg(test)]
mod tests {

    #[test]
    fn the_linux_note_says_whether_the_overhead_target_is_met() {
        let met = super::linux_comparison(892_760_694, 884_413_569);
        assert!(met.contains("+0.94 %") && met.ends_with("(target <= +1 %: met)."), "{met}");
        let missed = super::linux_comparison(902_841_234, 884_413_569);
        assert!(missed.contains("+2.08 %") && missed.ends_with("NOT met)."), "{missed}");
    }

    use super::*;

    #[test]
    fn another_board_changes_only_the_system_board() {
        let manifest = "[system]\nboard = \"qemu-virt\"\n\n[[partition]]\nname = \"probe\"\nbootargs = \"samples=101\"\ncpus = [0]\n";
        let moved: toml::Table = toml::from_str(&with_board(manifest, Some("rpi4")).expect("rewritten")).expect("toml");
        let original: toml::Table = toml::from_str(manifest).expect("toml");
        assert_eq!(moved["system"]["board"].as_str(), Some("rpi4"));
        assert_eq!(moved["partition"], original["partition"]);
        assert_eq!(with_board(manifest, None).as_deref(), Ok(manifest));
        let mut options = BenchOptions::quick();
        assert_eq!(options.other_board(), None);
        options.board = Some(DEFAULT_BOARD.to_owned());
        assert_eq!(options.other_board(), None, "the default board by name is the default");
        options.board = Some("qemu-virt-gicv2".to_owned());
        assert_eq!(options.other_board(), Some("qemu-virt-gicv2"));
    }

    #[test]
    fn only_the_probe_bootargs_change_in_the_manifest() {
        let manifest = "[system]\nboard = \"qemu-virt\"\n\n[[partition]]\nname = \"other\"\nbootargs = \"x\"\n\n[[partition]]\nname = \"probe\"\nbootargs = \"samples=101\"\ncpus = [0]\n";
        let edited = with_probe_bootargs(manifest, "samples=7").expect("valid manifest");
        let table: toml::Table = toml::from_str(&edited).expect("still TOML");
        let partitions = table["partition"].as_array().expect("partitions kept");
        assert_eq!(partitions[0]["bootargs"].as_str(), Some("x"));
        assert_eq!(partitions[1]["bootargs"].as_str(), Some("samples=7"));
        assert_eq!(partitions[1]["cpus"].as_array().map(Vec::len), Some(1));
        assert_eq!(table["system"]["board"].as_str(), Some("qemu-virt"));
        assert!(with_probe_bootargs("[system]\n", "samples=1").is_err());
    }

    #[test]
    fn the_doorbell_system_adds_a_peer_on_a_free_core_and_a_doorbell_channel() {
        let repository = Repository::locate();
        let text = fs::read_to_string(repository.root().join(BENCH_MANIFEST))
            .expect("partitions/bench.toml exists");
        let edited = with_doorbell_peer(&text, 3).expect("valid manifest");
        let table: toml::Table = toml::from_str(&edited).expect("still TOML");
        let partitions = table["partition"].as_array().expect("partitions");
        let named = |name: &str| {
            partitions
                .iter()
                .find(|partition| partition["name"].as_str() == Some(name))
                .expect("partition present")
        };
        assert_eq!(
            named(PROBE_PARTITION)["bootargs"].as_str(),
            Some("samples=3 only=doorbell_round_trip")
        );
        let echo = named(ECHO_PARTITION);
        assert_eq!(echo["bootargs"].as_str(), Some("role=doorbell-echo"));
        assert_eq!(echo["image"], named(PROBE_PARTITION)["image"]);
        let probe_cores = named(PROBE_PARTITION)["cpus"].as_array().expect("cpus");
        let echo_cores = echo["cpus"].as_array().expect("cpus");
        assert_eq!(echo_cores.len(), 1);
        assert!(!probe_cores.contains(&echo_cores[0]));
        let channel = &table["channel"].as_array().expect("channels")[0];
        assert_eq!(channel["doorbell"].as_bool(), Some(true));
        assert_eq!(channel["access"][PROBE_PARTITION].as_str(), Some("rw"));
        assert_eq!(channel["access"][ECHO_PARTITION].as_str(), Some("rw"));
    }

    #[test]
    fn a_metric_from_the_doorbell_system_replaces_the_main_runs() {
        let mut main = probe_run(absent(DOORBELL_METRIC, "unavailable", "no-channel"));
        let doorbell = probe_run(|text| text);
        replace_metric(&mut main, &doorbell, DOORBELL_METRIC);
        assert!(matches!(
            main.metric(DOORBELL_METRIC),
            Some(MetricResult::Measured(_))
        ));
        let mut main = probe_run(absent(DOORBELL_METRIC, "unavailable", "no-channel"));
        let silent = probe_run(absent(DOORBELL_METRIC, "unavailable", "x"));
        let silent = ProbeRun {
            metrics: silent
                .metrics
                .into_iter()
                .filter(|metric| metric.name != DOORBELL_METRIC)
                .collect(),
            ..silent
        };
        replace_metric(&mut main, &silent, DOORBELL_METRIC);
        assert!(matches!(
            main.metric(DOORBELL_METRIC),
            Some(MetricResult::Failed { .. })
        ));
    }

    #[test]
    fn the_bench_manifest_has_the_probe_partition() {
        let repository = Repository::locate();
        let text = fs::read_to_string(repository.root().join(BENCH_MANIFEST))
            .expect("partitions/bench.toml exists");
        assert!(with_probe_bootargs(&text, "samples=1").is_ok());
    }

    /// A probe run in which every probe metric was measured (one sample of 100 ticks), with
    /// `edit` applied to the output text.
    fn probe_run(edit: impl Fn(String) -> String) -> ProbeRun {
        let mut text =
            String::from("[probe] BENCH probe format=1 samples=1 counter_frequency=1000000000\n");
        for metric in METRICS
            .iter()
            .filter(|metric| metric.source == Source::Probe)
            .map(|metric| metric.name)
            .chain([catalog::FRAME_METRIC])
        {
            text.push_str(&format!(
                "[probe] BENCH metric={metric} unit=ticks n=1 min=100 median=100 max=100\n\
                 [probe] BENCH-DIST metric={metric} runs=100x1\n"
            ));
        }
        text.push_str("[probe] BENCH end\n");
        probe_output::parse(&edit(text)).expect("well-formed synthetic probe output")
    }

    fn measured(platform: Platform, probe: ProbeRun) -> PlatformResult {
        PlatformResult {
            platform,
            description: String::new(),
            outcome: PlatformOutcome::Measured {
                command_line: String::new(),
                probe,
            },
        }
    }

    /// Replaces metric `name`'s measured lines with `status=<status> reason=<reason>`.
    fn absent(
        name: &'static str,
        status: &'static str,
        reason: &'static str,
    ) -> impl Fn(String) -> String {
        move |text: String| {
            text.replace(
                &format!("BENCH metric={name} unit=ticks n=1 min=100 median=100 max=100\n[probe] BENCH-DIST metric={name} runs=100x1"),
                &format!("BENCH metric={name} status={status} reason={reason}"),
            )
        }
    }

    #[test]
    fn a_failed_timer_measurement_is_rejected() {
        let broken = probe_run(absent(
            "timer_interrupt_spinning",
            "failed",
            "other-interrupt-taken",
        ));
        assert!(matches!(
            broken.metric("timer_interrupt_spinning"),
            Some(MetricResult::Failed { .. })
        ));
        let problems = unmeasured_metrics(Platform::Bulkhead, &broken);
        assert_eq!(
            problems,
            ["Bulkhead: timer_interrupt_spinning failed (other-interrupt-taken)"]
        );
        assert!(unmeasured_metrics(Platform::Bulkhead, &probe_run(|text| text)).is_empty());
    }

    #[test]
    fn only_listed_metrics_may_be_unavailable_and_only_where_listed() {
        let no_vgic = probe_run(absent("mmio_read_gicd_typer", "unavailable", "no-gicv3"));
        assert_eq!(unmeasured_metrics(Platform::Bulkhead, &no_vgic).len(), 1);
        assert_eq!(unmeasured_metrics(Platform::Xen, &no_vgic).len(), 1);
        let no_doorbell = probe_run(absent("doorbell_round_trip", "unavailable", "no-channel"));
        assert!(unmeasured_metrics(Platform::Floor, &no_doorbell).is_empty());
        assert!(unmeasured_metrics(Platform::Xen, &no_doorbell).is_empty());
        assert_eq!(
            unmeasured_metrics(Platform::Bulkhead, &no_doorbell),
            [
                "Bulkhead: doorbell_round_trip unavailable (no-channel) although Bulkhead can measure it"
            ]
        );
        let doorbell_failed = probe_run(absent("doorbell_round_trip", "failed", "peer-not-ready"));
        assert_eq!(
            unmeasured_metrics(Platform::Floor, &doorbell_failed).len(),
            1
        );
    }

    /// A report holding `platforms` (only the parts [`check_required`] reads are real).
    fn report_of(platforms: Vec<PlatformResult>) -> Report {
        Report {
            schema_version: SCHEMA_VERSION,
            settings: report::Settings {
                samples: 1,
                quick: true,
                unit: String::new(),
                qemu_machine: String::new(),
                qemu_cpu: String::new(),
                qemu_smp: 4,
                qemu_memory: String::new(),
                qemu_arguments: Vec::new(),
            },
            rows: report::rows(&platforms),
            platforms,
            image: image_facts::ImageSize::default(),
            static_memory: image_facts::StaticMemory::default(),
            lines_of_code: Vec::new(),
            stage2: Vec::new(),
            profile: Vec::new(),
            notes: Vec::new(),
            rt_neighbours: Vec::new(),
            display: None,
        }
    }

    #[test]
    fn a_required_xen_column_must_be_measured() {
        let floor = probe_run(absent("doorbell_round_trip", "unavailable", "no-channel"));
        let columns = |xen: PlatformOutcome| {
            report_of(vec![
                measured(Platform::Floor, floor.clone()),
                measured(Platform::Bulkhead, probe_run(|text| text)),
                PlatformResult {
                    platform: Platform::Xen,
                    description: String::new(),
                    outcome: xen,
                },
            ])
        };
        let unavailable = columns(PlatformOutcome::Unavailable {
            reason: "apt-get download xen-hypervisor-4.17-arm64 failed".to_owned(),
        });
        // Users asked for nothing: the column may be missing.
        assert_eq!(check_required(&unavailable, &[]), Ok(()));
        assert_eq!(
            check_required(&unavailable, &[Platform::Bulkhead, Platform::Floor]),
            Ok(())
        );
        // The suite asked for Xen: a missing column fails.
        let refused = check_required(&unavailable, &[Platform::Xen]).expect_err("Xen required");
        assert_eq!(
            refused.problems,
            [
                "the Xen 4.17 column was required but is unavailable: apt-get download xen-hypervisor-4.17-arm64 failed"
            ]
        );
        let without_xen = report_of(vec![
            measured(Platform::Floor, floor.clone()),
            measured(Platform::Bulkhead, probe_run(|text| text)),
        ]);
        assert!(check_required(&without_xen, &[Platform::Xen]).is_err());
        let measured_xen = columns(PlatformOutcome::Measured {
            command_line: String::new(),
            probe: floor.clone(),
        });
        assert_eq!(check_required(&measured_xen, &[Platform::Xen]), Ok(()));
        let bulkhead_missing = report_of(vec![measured(Platform::Floor, floor)]);
        assert!(check_required(&bulkhead_missing, &[]).is_err());
    }

    #[test]
    fn quick_takes_one_sample() {
        let options = BenchOptions::from_command_line(50, true, true, false);
        assert_eq!((options.samples, options.against_xen), (1, true));
        assert_eq!(BenchOptions::quick().samples, 1);
        assert!(!BenchOptions::quick().against_xen);
    }

    #[test]
    fn every_only_row_is_found_by_its_own_name() {
        for row in OnlyRow::ALL {
            assert_eq!(OnlyRow::from_name(row.name()), Some(row));
        }
        assert_eq!(OnlyRow::NAMES.len(), OnlyRow::ALL.len());
        assert_eq!(OnlyRow::from_name("linux_time_to_userspace"), None);
        assert_eq!(BenchOptions::quick().only, None);
    }
}
