//! Turns a parsed manifest into a validated system, and the named checks that decide whether
//! it is safe to build.
//!
//! Five steps. *Apply* the manifest's `[system]` overrides to the board (console UART,
//! hypervisor reservation). *Resolve* ([`draft`]) converts written values into numbers,
//! paths and device facts. *Place* ([`place`]) gives everything without a `base` host RAM.
//! *Lay out* ([`layout`]) decides each partition's IPA map and guest INTIDs. *Check* runs
//! every entry of `CHECKS` (listed by [`check_codes`]): one function per named check, each
//! independent of the others and robust to values another check rejects, so one run reports
//! every problem.
//!
//! Adding a check: add a [`Code`] in `diagnostic.rs`, write `fn check_<name>(&Context, &mut
//! Diagnostics)` in the `checks` module of its subject, list it in `CHECKS`, and add a bad
//! manifest with an `# expect` marker to `tests/fixtures/checks/`.
//!
//! Design: [impl->dsn~config-checks~1]

mod checks;
pub(crate) mod display;
pub(crate) mod draft;
pub mod guest_crates;
pub mod layout;
pub(crate) mod place;

use std::ops::Range;
use std::path::{Path, PathBuf};

use bulkhead_core::system::FaultPolicy;

use crate::board::Board;
use crate::devices::MmioMap;
use crate::diagnostic::{Code, Diagnostic, Diagnostics, Source};
use crate::manifest::{ConsoleValue, DmaPolicy, FaultPolicyValue, Manifest};
use crate::spec::{
    AssignedDevice, ChannelSpec, ConsoleSpec, PartitionSpans, PartitionSpec, Placement, RegionSpec,
};
use crate::units::{AddressRange, BLOCK_2MIB, human_size};

use draft::{ChannelDraft, Draft};

/// Longest partition, region or channel name: names prefix console lines and name files.
pub const MAX_NAME_LENGTH: usize = 32;

/// Partition names that are taken, with why. A partition's name prefixes its console lines
/// (`[alpha] ...`) and names its files in the system's output directory
/// (`target/bulkhead/<system>/<name>.bin`, `<name>.dtb`), next to what the compiler and xtask
/// write there: `system.rs`, `memory.x`, `report.md`, `memory-map.svg`,
/// `<board>.board.dtb`, `bulkhead-hypervisor` and `hv-log.bin`. Names are
/// `[a-z][a-z0-9_-]*` (no `.`), so only a name equal to the stem of a `.bin`/`.dtb` file can
/// collide; the stems of the other outputs are reserved too, so no later output format can
/// start colliding.
pub const RESERVED_NAMES: &[(&str, &str)] = &[
    ("hv", "`[hv]` prefixes the hypervisor's own console lines"),
    ("hv-log", "`hv-log.bin` is the hypervisor's defmt log in the output directory"),
    ("system", "`system.rs` is in the output directory"),
    ("memory", "`memory.x` is in the output directory"),
    ("report", "`report.md` is in the output directory"),
    ("memory-map", "`memory-map.svg` is in the output directory"),
    (
        "bulkhead-hypervisor",
        "the hypervisor ELF is in the output directory",
    ),
];

/// Longest `bootargs` in bytes: Linux's arm64 `COMMAND_LINE_SIZE`.
pub const MAX_BOOTARGS_LENGTH: usize = 2048;

/// What every check sees.
pub(crate) struct Context<'a, 'm> {
    pub board: &'a Board,
    pub source: &'a Source,
    pub manifest: &'m Manifest,
    pub drafts: &'a [Draft<'m>],
    pub channels: &'a [ChannelDraft<'m>],
    pub mmio: &'a MmioMap,
    pub dma_policy: DmaPolicy,
    /// `[display]`, resolved, when the manifest has one.
    pub display: Option<&'a display::DisplayDraft<'m>>,
}

/// One named check.
pub(crate) struct Check {
    /// The code it reports (its stable name).
    pub code: Code,
    run: fn(&Context<'_, '_>, &mut Diagnostics),
}

macro_rules! checks {
    ($($code:ident => $function:path,)*) => {
        /// Every check, in the order they run.
        pub(crate) const CHECKS: &[Check] = &[$(Check { code: Code::$code, run: $function },)*];
    };
}

checks! {
    NoPartitions => checks::names::check_no_partitions,
    PartitionNameInvalid => checks::names::check_partition_name_invalid,
    PartitionNameReserved => checks::names::check_partition_name_reserved,
    DuplicatePartitionName => checks::names::check_duplicate_partition_name,
    NameInvalid => checks::names::check_name_invalid,
    DuplicateChannelName => checks::names::check_duplicate_channel_name,
    DuplicateRegionName => checks::names::check_duplicate_region_name,
    RestartLimitInvalid => checks::names::check_restart_limit_invalid,
    BootargsInvalid => checks::names::check_bootargs_invalid,
    CpusEmpty => checks::cores::check_cpus_empty,
    TooManyVcpus => checks::cores::check_too_many_vcpus,
    VcpusExceedCores => checks::cores::check_vcpus_exceed_cores,
    CoreWithoutVcpu => checks::cores::check_core_without_vcpu,
    CoreNotPresent => checks::cores::check_core_not_present,
    CorePinnedTwice => checks::cores::check_core_pinned_twice,
    MemoryBaseMisaligned => checks::memory::check_memory_base_misaligned,
    MemorySizeNotGranule => checks::memory::check_memory_size_not_granule,
    MemorySizeNotBlock => checks::memory::check_memory_size_not_block,
    MemoryTooSmall => checks::memory::check_memory_too_small,
    MemoryOutsideRam => checks::memory::check_memory_outside_ram,
    MemoryOverlapsHypervisor => checks::memory::check_memory_overlaps_hypervisor,
    MemoryOverlapsReserved => checks::memory::check_memory_overlaps_reserved,
    MemoryOverlapsDevice => checks::memory::check_memory_overlaps_device,
    MemoryOverlap => checks::memory::check_memory_overlap,
    IdentityRamMisplaced => checks::memory::check_identity_ram_misplaced,
    ChannelMemoryOverlap => checks::memory::check_channel_memory_overlap,
    IpaOverlap => checks::memory::check_ipa_overlap,
    IpaOutOfRange => checks::memory::check_ipa_out_of_range,
    RegionContentsTooLarge => checks::memory::check_region_contents_too_large,
    InitrdTooLarge => checks::memory::check_initrd_too_large,
    DeviceNotFound => checks::devices::check_device_not_found,
    DeviceUnsupported => checks::devices::check_device_unsupported,
    DeviceInterruptUnsupported => checks::devices::check_device_interrupt_unsupported,
    DeviceAssignedTwice => checks::devices::check_device_assigned_twice,
    DeviceOwnedByHypervisor => checks::devices::check_device_owned_by_hypervisor,
    DevicePageShared => checks::devices::check_device_page_shared,
    DmaWithoutIommu => checks::devices::check_dma_without_iommu,
    DmaWithoutIdentityRam => checks::devices::check_dma_without_identity_ram,
    DeviceDisabled => checks::devices::check_device_disabled,
    ConsoleNotUart => checks::devices::check_console_not_uart,
    InterruptInvalid => checks::interrupts::check_interrupt_invalid,
    InterruptReserved => checks::interrupts::check_interrupt_reserved,
    InterruptAssignedTwice => checks::interrupts::check_interrupt_assigned_twice,
    GuestInterruptsExhausted => checks::interrupts::check_guest_interrupts_exhausted,
    ChannelUnknownPartition => checks::channels::check_channel_unknown_partition,
    ChannelEndpointsInvalid => checks::channels::check_channel_endpoints_invalid,
    CacheColoursUnknown => checks::colours::check_cache_colours_unknown,
    CacheColourInvalid => checks::colours::check_cache_colour_invalid,
    CacheColourShared => checks::colours::check_cache_colour_shared,
    CacheColouringNotEnforced => checks::colours::check_cache_colouring_not_enforced,
    DisplayInvalid => checks::display::check_display_invalid,
    DisplayLayerInvalid => checks::display::check_display_layer_invalid,
    DisplayFormatUnsupported => checks::display::check_display_format_unsupported,
    DisplayRectangleOffScreen => checks::display::check_display_rectangle_off_screen,
    DisplayCriticalOverlap => checks::display::check_display_critical_overlap,
    DisplayBufferOutsidePartition => checks::display::check_display_buffer_outside_partition,
    DisplayBufferShared => checks::display::check_display_buffer_shared,
    DisplayOverBudget => checks::display::check_display_over_budget,
}

/// The codes of every named load-time check, in the order they run.
pub fn check_codes() -> impl Iterator<Item = Code> {
    CHECKS.iter().map(|check| check.code)
}

/// The result of validation.
pub(crate) struct Validated {
    pub board: Board,
    pub partitions: Vec<PartitionSpec>,
    pub channels: Vec<ChannelSpec>,
    pub dma_policy: DmaPolicy,
    pub qemu_disks: Vec<PathBuf>,
    pub display: Option<crate::spec::DisplaySpec>,
}

/// Applies overrides, resolves, places, lays out and checks everything. Returns the system
/// when no error was found; all diagnostics (warnings included) go to `diagnostics`.
///
/// `guest_workspace` is the directory of the guest crates (`partitions/` of the repository):
/// every `image = { crate = ... }` must name one of them ([`guest_crates`]); `None` skips that
/// lookup (for callers without a repository: fuzzing and property tests).
pub(crate) fn validate(
    manifest: &Manifest,
    board: Board,
    source: &Source,
    manifest_directory: &Path,
    guest_workspace: Option<&Path>,
    diagnostics: &mut Diagnostics,
) -> Option<Validated> {
    let board = apply_system_overrides(manifest, board, source, diagnostics);
    if let Some(workspace) = guest_workspace {
        guest_crates::check(manifest, workspace, source, diagnostics);
    }
    let mmio = MmioMap::new(&board.tree);
    let mut drafts: Vec<Draft<'_>> = manifest
        .partitions
        .iter()
        .map(|table| draft::resolve(table, &board, source, manifest_directory, diagnostics))
        .collect();
    let mut channels: Vec<ChannelDraft<'_>> = manifest
        .channels
        .iter()
        .map(|table| draft::resolve_channel(table, manifest, source, diagnostics))
        .collect();
    place::place(
        &mut drafts,
        &mut channels,
        &board,
        &mmio,
        source,
        diagnostics,
    );
    layout::lay_out(&mut drafts, &channels);
    let dma_policy = manifest
        .system
        .get_ref()
        .dma_without_iommu
        .as_ref()
        .map_or(DmaPolicy::Warn, |policy| *policy.get_ref());
    let display_draft = manifest
        .display
        .as_ref()
        .map(|table| display::resolve(table, &drafts));
    let context = Context {
        board: &board,
        source,
        manifest,
        drafts: &drafts,
        channels: &channels,
        mmio: &mmio,
        dma_policy,
        display: display_draft.as_ref(),
    };
    for check in CHECKS {
        (check.run)(&context, diagnostics);
    }
    // `[qemu] virtio_blk`: the disk files must exist as bounded regular files, like images.
    let qemu_disks: Vec<PathBuf> = manifest
        .qemu
        .iter()
        .flat_map(|qemu| qemu.get_ref().virtio_blk.iter())
        .filter_map(|file| draft::file_size(file, "virtio_blk disk", source, manifest_directory, diagnostics))
        .map(|(path, _)| path)
        .collect();
    if diagnostics.has_errors() {
        return None;
    }
    let partitions = drafts.iter().map(finish).collect::<Option<Vec<_>>>()?;
    let channels = channels
        .iter()
        .map(|channel| {
            Some(ChannelSpec {
                name: channel.name().to_owned(),
                memory: channel.memory?,
                placement: if channel.base.is_some() {
                    Placement::Fixed
                } else {
                    Placement::Allocated
                },
                doorbell: channel.doorbell(),
                endpoints: channel
                    .endpoints
                    .iter()
                    .map(|(partition, access, _)| (*partition, *access))
                    .collect(),
            })
        })
        .collect::<Option<Vec<_>>>()?;
    let display = match &display_draft {
        Some(draft) => Some(display::finish(draft, &drafts, &board)?),
        None => None,
    };
    Some(Validated {
        board,
        partitions,
        channels,
        dma_policy,
        qemu_disks,
        display,
    })
}

/// `[system] log = "none"`: the system has no `defmt` log UART, whatever the board names.
const NO_LOG: &str = "none";

/// `[system] console`, `log` and `hypervisor_memory`: the board as this system uses it.
fn apply_system_overrides(
    manifest: &Manifest,
    mut board: Board,
    source: &Source,
    diagnostics: &mut Diagnostics,
) -> Board {
    let system = manifest.system.get_ref();
    if let Some(console) = &system.console {
        match board.uart(console.get_ref()) {
            Ok(uart) if board.log.as_ref().is_some_and(|log| log.path == uart.path) => {
                diagnostics.push(
                    Diagnostic::error(
                        Code::UartInvalid,
                        format!(
                            "`{}` is already the board's defmt log UART",
                            console.get_ref()
                        ),
                    )
                    .with_label(source, console.span(), "the log UART")
                    .with_help("the console and the log need two different UARTs"),
                );
            }
            Ok(uart) => board.console = uart,
            Err(message) => diagnostics.push(
                Diagnostic::error(Code::UartInvalid, message)
                    .with_label(source, console.span(), "not a supported UART")
                    .with_help(
                        "name a PL011, Cadence or NS16550/mini-UART node by path, alias or &label",
                    ),
            ),
        }
    }
    match &system.log {
        // The board's log UART stays unused, free to pass through.
        Some(log) if log.get_ref() == NO_LOG => board.log = None,
        // A board whose spare UART is usually a partition's (ZCU102's UART1) has no log of
        // its own; a system that passes nothing through can take it for the log.
        Some(log) => match board.uart(log.get_ref()) {
            Ok(uart) if uart.path == board.console.path => diagnostics.push(
                Diagnostic::error(
                    Code::UartInvalid,
                    format!("`{}` is already the hypervisor's console", log.get_ref()),
                )
                .with_label(source, log.span(), "the console UART")
                .with_help("the console and the log need two different UARTs"),
            ),
            Ok(uart) => board.log = Some(uart),
            Err(message) => diagnostics.push(
                Diagnostic::error(Code::UartInvalid, message)
                    .with_label(source, log.span(), "not a supported UART")
                    .with_help(
                        "name a PL011, Cadence or NS16550/mini-UART node by path, alias or &label, or \"none\"",
                    ),
            ),
        },
        None => {}
    }
    if let Some(memory) = &system.hypervisor_memory {
        let table = memory.get_ref();
        let size = draft::size_value(&table.size, "hypervisor size", source, diagnostics);
        let base = match &table.base {
            Some(base) => draft::size_value(base, "hypervisor base", source, diagnostics),
            None => Some(board.hypervisor.base()),
        };
        if let (Some(base), Some(size)) = (base, size) {
            let range = draft::range_of(
                base,
                size,
                "hypervisor memory",
                memory.span(),
                source,
                diagnostics,
            );
            if let Some(range) = range {
                let aligned = range.base() % BLOCK_2MIB == 0
                    && range.size() != 0
                    && range.size() % BLOCK_2MIB == 0;
                let inside = board.ram_containing(range).is_some();
                if aligned && inside {
                    board.hypervisor = range;
                } else {
                    diagnostics.push(
                        Diagnostic::error(
                            Code::HypervisorReservationInvalid,
                            format!(
                                "hypervisor reservation {range} ({}) is {}",
                                human_size(range.size()),
                                if aligned {
                                    "not inside board RAM"
                                } else {
                                    "not a non-empty 2 MiB-aligned range"
                                }
                            ),
                        )
                        .with_label(source, memory.span(), "invalid reservation")
                        .with_help(format!(
                            "base and size must be multiples of 2 MiB inside board RAM ({})",
                            board
                                .ram
                                .iter()
                                .map(ToString::to_string)
                                .collect::<Vec<_>>()
                                .join(", ")
                        )),
                    );
                }
            }
        }
    }
    board
}

fn finish(draft: &Draft<'_>) -> Option<PartitionSpec> {
    let partition = draft.partition();
    let fault_policy = match partition
        .fault_policy
        .as_ref()
        .map(|policy| *policy.get_ref())
    {
        None | Some(FaultPolicyValue::Halt) => FaultPolicy::Halt,
        Some(FaultPolicyValue::InjectAbort) => FaultPolicy::InjectAbort,
        Some(FaultPolicyValue::StopSystem) => FaultPolicy::StopSystem,
        Some(FaultPolicyValue::Restart(count)) => FaultPolicy::Restart {
            max_restarts: u32::try_from(count).ok()?,
        },
    };
    let devices: Vec<AssignedDevice> = draft
        .resolved_devices()
        .map(|(device, info)| AssignedDevice {
            reference: device.reference.clone(),
            info: info.clone(),
        })
        .collect();
    let mut device_pages: Vec<AddressRange> = devices
        .iter()
        .flat_map(|device| device.info.pages.iter().copied())
        .collect();
    crate::devices::merge(&mut device_pages);
    let console = match (&partition.console, draft.console_device) {
        (Some(console), Some(index))
            if matches!(console.get_ref(), ConsoleValue::Passthrough(_)) =>
        {
            ConsoleSpec::Passthrough(
                draft
                    .devices
                    .get(index)?
                    .resolved
                    .as_ref()
                    .ok()?
                    .path
                    .clone(),
            )
        }
        _ => ConsoleSpec::Virtual,
    };
    let regions = draft
        .regions
        .iter()
        .map(|region| {
            Some(RegionSpec {
                name: region.name().to_owned(),
                host: region.host?,
                ipa: region.ipa?,
                access: region.access(),
                file: region.file.as_ref().map(|(path, _)| path.clone()),
                placement: if region.base.is_some() {
                    Placement::Fixed
                } else {
                    Placement::Allocated
                },
            })
        })
        .collect::<Option<Vec<_>>>()?;
    let mut interrupts = draft.layout.interrupts.clone();
    interrupts.sort_by_key(|interrupt| interrupt.guest);
    Some(PartitionSpec {
        name: partition.name.get_ref().clone(),
        criticality: partition
            .criticality
            .as_ref()
            .map(|criticality| criticality.get_ref().clone()),
        image: draft.image.clone()?,
        initrd: draft.initrd.clone(),
        ram: draft.ram?,
        placement: if draft.identity.is_some() {
            Placement::Identity
        } else if draft.base.is_some() {
            Placement::Fixed
        } else {
            Placement::Allocated
        },
        cpus: partition
            .cpus
            .get_ref()
            .iter()
            .map(|cpu| *cpu.get_ref())
            .collect(),
        vcpus: draft.vcpus(),
        bootargs: partition
            .bootargs
            .as_ref()
            .map(|bootargs| bootargs.get_ref().clone()),
        fault_policy,
        console,
        devices,
        device_pages,
        interrupts,
        regions,
        endpoints: draft.layout.endpoints.clone(),
        cache_colours: draft
            .colours
            .iter()
            .map(|colour| *colour.get_ref())
            .collect(),
        spans: PartitionSpans {
            image: partition.image.span(),
            memory: partition.memory.span(),
            initrd: partition.initrd.as_ref().map(|initrd| initrd.span()),
        },
    })
}

/// Pushes an error with one label and a hint.
pub(crate) fn report(
    diagnostics: &mut Diagnostics,
    code: Code,
    message: String,
    source: &Source,
    span: Range<usize>,
    label: impl Into<String>,
    help: impl Into<String>,
) {
    diagnostics.push(
        Diagnostic::error(code, message)
            .with_label(source, span, label)
            .with_help(help),
    );
}

// [utest->dsn~config-checks~1]
#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn checks_have_distinct_codes() {
        let codes: HashSet<Code> = CHECKS.iter().map(|check| check.code).collect();
        assert_eq!(codes.len(), CHECKS.len());
    }
}
