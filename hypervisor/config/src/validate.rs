//! Turns a parsed manifest into partition specifications, and the named checks that decide
//! whether the system is safe to build.
//!
//! Three steps. *Resolve* converts written values into numbers (sizes, bases, image sources).
//! *Place* gives every partition without a `base` the next free 2 MiB-aligned range of board
//! RAM after the hypervisor reservation, in manifest order, stepping around fixed partitions.
//! *Check* runs every entry of `CHECKS` (listed by [`check_codes`]): one function per named check, each independent of
//! the others and robust to values another check rejects, so one run reports every problem.
//!
//! Adding a check: add a [`Code`] in `diagnostic.rs`, write `fn check_<name>(&Context, &mut
//! Diagnostics)` here, list it in `CHECKS`, and add a fixture with an `# expect` marker.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use bulkhead_core::layout::{DTB_OFFSET_FROM_RAM_END, MAX_VCPUS_PER_PARTITION, RAM_BASE};
use bulkhead_core::system::FaultPolicy;
use serde_spanned::Spanned;

use crate::board::Board;
use crate::diagnostic::{Code, Diagnostic, Diagnostics, Source};
use crate::manifest::{ConsoleKind, FaultPolicyValue, Manifest, PartitionTable};
use crate::spec::{ImageSource, PartitionSpans, PartitionSpec, Placement};
use crate::units::{AddressRange, BLOCK_2MIB, GRANULE_4KIB, SizeValue, align_up, hex, human_size};

/// Longest partition name: it prefixes every console line.
pub const MAX_PARTITION_NAME_LENGTH: usize = 32;

/// A partition while it is being checked: the written table plus what resolved so far.
pub(crate) struct Draft<'m> {
    table: &'m Spanned<PartitionTable>,
    size: Option<u64>,
    base: Option<u64>,
    ram: Option<AddressRange>,
    image: Option<ImageSource>,
}

impl Draft<'_> {
    fn partition(&self) -> &PartitionTable {
        self.table.get_ref()
    }

    fn name(&self) -> &str {
        self.partition().name.get_ref()
    }

    fn base_span(&self) -> std::ops::Range<usize> {
        let memory = &self.partition().memory;
        memory
            .get_ref()
            .base
            .as_ref()
            .map_or_else(|| memory.span(), Spanned::span)
    }

    fn size_span(&self) -> std::ops::Range<usize> {
        self.partition().memory.get_ref().size.span()
    }

    /// The RAM range when the manifest fixed its base (allocated ones are correct by
    /// construction, so range checks only report on what the user wrote).
    fn fixed_ram(&self) -> Option<AddressRange> {
        self.base.and(self.ram)
    }
}

/// What every check sees.
pub(crate) struct Context<'a, 'm> {
    board: &'a Board,
    source: &'a Source,
    manifest: &'m Manifest,
    drafts: &'a [Draft<'m>],
}

/// One named check.
pub(crate) struct Check {
    /// The code it reports (its stable name).
    pub code: Code,
    run: fn(&Context<'_, '_>, &mut Diagnostics),
}

/// Every check, in the order they run.
pub(crate) const CHECKS: &[Check] = &[
    Check {
        code: Code::NoPartitions,
        run: check_no_partitions,
    },
    Check {
        code: Code::PartitionNameInvalid,
        run: check_partition_name_invalid,
    },
    Check {
        code: Code::DuplicatePartitionName,
        run: check_duplicate_partition_name,
    },
    Check {
        code: Code::CpusEmpty,
        run: check_cpus_empty,
    },
    Check {
        code: Code::TooManyVcpus,
        run: check_too_many_vcpus,
    },
    Check {
        code: Code::CoreNotPresent,
        run: check_core_not_present,
    },
    Check {
        code: Code::CorePinnedTwice,
        run: check_core_pinned_twice,
    },
    Check {
        code: Code::MemoryBaseMisaligned,
        run: check_memory_base_misaligned,
    },
    Check {
        code: Code::MemorySizeNotGranule,
        run: check_memory_size_not_granule,
    },
    Check {
        code: Code::MemorySizeNotBlock,
        run: check_memory_size_not_block,
    },
    Check {
        code: Code::MemoryTooSmall,
        run: check_memory_too_small,
    },
    Check {
        code: Code::MemoryOutsideRam,
        run: check_memory_outside_ram,
    },
    Check {
        code: Code::MemoryOverlapsHypervisor,
        run: check_memory_overlaps_hypervisor,
    },
    Check {
        code: Code::MemoryOverlap,
        run: check_memory_overlap,
    },
];

/// The codes of every named load-time check, in the order they run.
pub fn check_codes() -> impl Iterator<Item = Code> {
    CHECKS.iter().map(|check| check.code)
}

/// Resolves, places and checks every partition. Returns the specifications when no error was
/// found; all diagnostics (warnings included) go to `diagnostics`.
pub(crate) fn validate(
    manifest: &Manifest,
    board: &Board,
    source: &Source,
    manifest_directory: &Path,
    diagnostics: &mut Diagnostics,
) -> Option<Vec<PartitionSpec>> {
    let mut drafts: Vec<Draft<'_>> = manifest
        .partitions
        .iter()
        .map(|table| resolve(table, source, manifest_directory, diagnostics))
        .collect();
    place(&mut drafts, board, source, diagnostics);
    let context = Context {
        board,
        source,
        manifest,
        drafts: &drafts,
    };
    for check in CHECKS {
        (check.run)(&context, diagnostics);
    }
    if diagnostics.has_errors() {
        return None;
    }
    drafts.iter().map(finish).collect()
}

fn size_value(
    spanned: &Spanned<SizeValue>,
    what: &str,
    source: &Source,
    diagnostics: &mut Diagnostics,
) -> Option<u64> {
    match spanned.get_ref().bytes() {
        Ok(bytes) => Some(bytes),
        Err(error) => {
            let code = match error {
                crate::units::SizeError::Overflow(_) => Code::SizeOverflow,
                _ => Code::SizeInvalid,
            };
            diagnostics.push(
                Diagnostic::error(code, format!("invalid {what}: {error}"))
                    .with_label(source, spanned.span(), "expected a byte count")
                    .with_help("write an integer, or a string such as \"64MiB\", \"2GiB\" or \"0x4800_0000\""),
            );
            None
        }
    }
}

fn resolve<'m>(
    table: &'m Spanned<PartitionTable>,
    source: &Source,
    manifest_directory: &Path,
    diagnostics: &mut Diagnostics,
) -> Draft<'m> {
    let partition = table.get_ref();
    let memory = partition.memory.get_ref();
    let size = size_value(&memory.size, "memory size", source, diagnostics);
    let base = memory
        .base
        .as_ref()
        .and_then(|base| size_value(base, "memory base", source, diagnostics));
    let mut ram = None;
    if let (Some(base), Some(size)) = (base, size) {
        ram = AddressRange::new(base, size);
        if ram.is_none() {
            diagnostics.push(
                Diagnostic::error(
                    Code::SizeOverflow,
                    format!("memory {} + {} overflows 64 bits", hex(base), hex(size)),
                )
                .with_label(source, partition.memory.span(), "base + size overflows")
                .with_help("choose a base and size whose end fits in 64 bits"),
            );
        }
    }
    if let Some(size) = size {
        if AddressRange::new(RAM_BASE.raw(), size).is_none() {
            diagnostics.push(
                Diagnostic::error(
                    Code::SizeOverflow,
                    format!(
                        "guest RAM at IPA {} with size {} overflows 64 bits",
                        hex(RAM_BASE.raw()),
                        hex(size)
                    ),
                )
                .with_label(source, memory.size.span(), "too large")
                .with_help("choose a size that fits the guest address space"),
            );
        }
    }
    let image = resolve_image(&partition.image, source, manifest_directory, diagnostics);
    Draft {
        table,
        size,
        base,
        ram,
        image,
    }
}

fn resolve_image(
    image: &Spanned<crate::manifest::ImageTable>,
    source: &Source,
    manifest_directory: &Path,
    diagnostics: &mut Diagnostics,
) -> Option<ImageSource> {
    let table = image.get_ref();
    match (&table.crate_name, &table.file) {
        (Some(crate_name), None) => Some(ImageSource::Crate(crate_name.get_ref().clone())),
        (None, Some(file)) => Some(ImageSource::File(manifest_directory.join(file.get_ref()))),
        (both_or_none, _) => {
            let label = if both_or_none.is_some() {
                "both `crate` and `file` given"
            } else {
                "neither `crate` nor `file` given"
            };
            diagnostics.push(
                Diagnostic::error(
                    Code::ImageSourceInvalid,
                    "`image` needs exactly one of `crate` or `file`",
                )
                .with_label(source, image.span(), label)
                .with_help(
                    "write image = { crate = \"heartbeat\" } or image = { file = \"guest.elf\" }",
                ),
            );
            None
        }
    }
}

/// Gives partitions without a base the lowest free 2 MiB-aligned range at or after the end of
/// the previous allocation (initially the hypervisor reservation), inside one RAM range and
/// clear of the hypervisor and of every fixed partition.
fn place(drafts: &mut [Draft<'_>], board: &Board, source: &Source, diagnostics: &mut Diagnostics) {
    let mut taken: Vec<AddressRange> = drafts.iter().filter_map(Draft::fixed_ram).collect();
    taken.push(board.hypervisor);
    let mut cursor = board.hypervisor.end();
    for draft in drafts
        .iter_mut()
        .filter(|draft| draft.partition().memory.get_ref().base.is_none())
    {
        let Some(size) = draft.size else { continue };
        match first_fit(cursor, size, &board.ram, &taken) {
            Some(range) => {
                draft.ram = Some(range);
                taken.push(range);
                cursor = range.end();
            }
            None => {
                let free = board
                    .ram
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ");
                diagnostics.push(
                    Diagnostic::error(
                        Code::MemoryExhausted,
                        format!(
                            "no free 2 MiB-aligned {} range left in board RAM for partition `{}`",
                            human_size(size),
                            draft.name()
                        ),
                    )
                    .with_label(source, draft.partition().memory.span(), "does not fit")
                    .with_help(format!(
                        "board RAM is {free}; the hypervisor uses {}; shrink partitions or give explicit bases",
                        board.hypervisor
                    )),
                );
            }
        }
    }
}

fn first_fit(
    cursor: u64,
    size: u64,
    ram: &[AddressRange],
    taken: &[AddressRange],
) -> Option<AddressRange> {
    let mut candidate = align_up(cursor, BLOCK_2MIB)?;
    // Every iteration moves `candidate` strictly upwards or returns, so this terminates.
    loop {
        let region = ram.iter().find(|region| region.end() > candidate)?;
        if candidate < region.base() {
            candidate = align_up(region.base(), BLOCK_2MIB)?;
            continue;
        }
        let range = AddressRange::new(candidate, size)?;
        if !region.contains(range) {
            candidate = align_up(region.end(), BLOCK_2MIB)?;
            continue;
        }
        match taken
            .iter()
            .filter(|used| used.overlaps(range))
            .map(|used| used.end())
            .max()
        {
            Some(end) => candidate = align_up(end, BLOCK_2MIB)?,
            None => return Some(range),
        }
    }
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
        Some(FaultPolicyValue::Restart(max_restarts)) => FaultPolicy::Restart { max_restarts },
    };
    Some(PartitionSpec {
        name: partition.name.get_ref().clone(),
        image: draft.image.clone()?,
        ram: draft.ram?,
        placement: if draft.base.is_some() {
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
        bootargs: partition
            .bootargs
            .as_ref()
            .map(|bootargs| bootargs.get_ref().clone()),
        fault_policy,
        console: partition
            .console
            .as_ref()
            .map_or(ConsoleKind::Virtual, |console| *console.get_ref()),
        spans: PartitionSpans {
            image: partition.image.span(),
            memory: partition.memory.span(),
        },
    })
}

fn check_no_partitions(context: &Context<'_, '_>, diagnostics: &mut Diagnostics) {
    if context.drafts.is_empty() {
        diagnostics.push(
            Diagnostic::error(Code::NoPartitions, "the manifest declares no partition")
                .with_label(
                    context.source,
                    context.manifest.system.span(),
                    "no [[partition]] follows",
                )
                .with_help("add a [[partition]] table with name, image, memory and cpus"),
        );
    }
}

fn check_partition_name_invalid(context: &Context<'_, '_>, diagnostics: &mut Diagnostics) {
    for draft in context.drafts {
        let name = draft.name();
        let mut characters = name.chars();
        let valid = characters
            .next()
            .is_some_and(|first| first.is_ascii_lowercase())
            && characters
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
            && name.len() <= MAX_PARTITION_NAME_LENGTH;
        if !valid {
            diagnostics.push(
                Diagnostic::error(Code::PartitionNameInvalid, format!("partition name `{name}` is not allowed"))
                    .with_label(context.source, draft.partition().name.span(), "invalid name")
                    .with_help(format!(
                        "names start with a lowercase letter, then lowercase letters, digits, `-` or `_`, at most {MAX_PARTITION_NAME_LENGTH} characters (they prefix console lines and name output files)"
                    )),
            );
        }
    }
}

fn check_duplicate_partition_name(context: &Context<'_, '_>, diagnostics: &mut Diagnostics) {
    let mut first_seen: BTreeMap<&str, &Spanned<String>> = BTreeMap::new();
    for draft in context.drafts {
        let name = &draft.partition().name;
        match first_seen.get(name.get_ref().as_str()) {
            Some(first) => diagnostics.push(
                Diagnostic::error(
                    Code::DuplicatePartitionName,
                    format!("partition name `{}` is used twice", name.get_ref()),
                )
                .with_label(context.source, name.span(), "second use")
                .with_label(context.source, first.span(), "first use")
                .with_help("partition names identify consoles and output files; make them unique"),
            ),
            None => {
                first_seen.insert(name.get_ref(), name);
            }
        }
    }
}

fn check_cpus_empty(context: &Context<'_, '_>, diagnostics: &mut Diagnostics) {
    for draft in context
        .drafts
        .iter()
        .filter(|draft| draft.partition().cpus.get_ref().is_empty())
    {
        diagnostics.push(
            Diagnostic::error(
                Code::CpusEmpty,
                format!("partition `{}` has no vCPU", draft.name()),
            )
            .with_label(context.source, draft.partition().cpus.span(), "empty")
            .with_help("pin at least one physical core: cpus = [0]"),
        );
    }
}

fn check_too_many_vcpus(context: &Context<'_, '_>, diagnostics: &mut Diagnostics) {
    for draft in context.drafts {
        let cpus = &draft.partition().cpus;
        if cpus.get_ref().len() > MAX_VCPUS_PER_PARTITION {
            diagnostics.push(
                Diagnostic::error(
                    Code::TooManyVcpus,
                    format!(
                        "partition `{}` has {} vCPUs; at most {MAX_VCPUS_PER_PARTITION} fit the virtual redistributor window",
                        draft.name(),
                        cpus.get_ref().len()
                    ),
                )
                .with_label(context.source, cpus.span(), "too many cores")
                .with_help(format!("pin at most {MAX_VCPUS_PER_PARTITION} cores to one partition")),
            );
        }
    }
}

fn check_core_not_present(context: &Context<'_, '_>, diagnostics: &mut Diagnostics) {
    let count = context.board.cores.len();
    for draft in context.drafts {
        for cpu in draft
            .partition()
            .cpus
            .get_ref()
            .iter()
            .filter(|cpu| *cpu.get_ref() >= count)
        {
            diagnostics.push(
                Diagnostic::error(
                    Code::CoreNotPresent,
                    format!(
                        "core {} does not exist on board `{}`",
                        cpu.get_ref(),
                        context.board.name
                    ),
                )
                .with_label(
                    context.source,
                    cpu.span(),
                    format!("expected 0..={}", count.saturating_sub(1)),
                )
                .with_help(format!(
                    "the device tree lists {count} cores, numbered in /cpus order"
                )),
            );
        }
    }
}

fn check_core_pinned_twice(context: &Context<'_, '_>, diagnostics: &mut Diagnostics) {
    let mut owner: BTreeMap<usize, (&str, &Spanned<usize>)> = BTreeMap::new();
    for draft in context.drafts {
        for cpu in draft.partition().cpus.get_ref() {
            match owner.get(cpu.get_ref()) {
                Some((first_partition, first)) => diagnostics.push(
                    Diagnostic::error(
                        Code::CorePinnedTwice,
                        format!(
                            "core {} is pinned twice (partition `{first_partition}` and partition `{}`)",
                            cpu.get_ref(),
                            draft.name()
                        ),
                    )
                    .with_label(context.source, cpu.span(), "pinned again here")
                    .with_label(context.source, first.span(), "first pinned here")
                    .with_help("each physical core runs exactly one vCPU; pick a free core"),
                ),
                None => {
                    owner.insert(*cpu.get_ref(), (draft.name(), cpu));
                }
            }
        }
    }
}

fn check_memory_base_misaligned(context: &Context<'_, '_>, diagnostics: &mut Diagnostics) {
    for draft in context.drafts {
        let Some(base) = draft.base else { continue };
        if base % BLOCK_2MIB != 0 {
            let lower = base & !(BLOCK_2MIB - 1);
            diagnostics.push(
                Diagnostic::error(
                    Code::MemoryBaseMisaligned,
                    format!("memory base {} is not 2 MiB aligned", hex(base)),
                )
                .with_label(
                    context.source,
                    draft.base_span(),
                    "expected a multiple of 0x20_0000",
                )
                .with_help(format!(
                    "partition RAM is mapped with 2 MiB stage-2 blocks; use {} or {}",
                    hex(lower),
                    align_up(base, BLOCK_2MIB).map_or_else(|| "a lower base".to_owned(), hex)
                )),
            );
        }
    }
}

fn check_memory_size_not_granule(context: &Context<'_, '_>, diagnostics: &mut Diagnostics) {
    for draft in context.drafts {
        let Some(size) = draft.size else { continue };
        if size == 0 || size % GRANULE_4KIB != 0 {
            diagnostics.push(
                Diagnostic::error(
                    Code::MemorySizeNotGranule,
                    format!("memory size {} is not a non-zero multiple of 4 KiB", hex(size)),
                )
                .with_label(context.source, draft.size_span(), "expected a multiple of 0x1000")
                .with_help("stage 2 maps memory in 4 KiB pages at the finest; sizes such as \"64MiB\" are best"),
            );
        }
    }
}

fn check_memory_size_not_block(context: &Context<'_, '_>, diagnostics: &mut Diagnostics) {
    for draft in context.drafts {
        let Some(size) = draft.size else { continue };
        if size != 0 && size % GRANULE_4KIB == 0 && size % BLOCK_2MIB != 0 {
            diagnostics.push(
                Diagnostic::warning(
                    Code::MemorySizeNotBlock,
                    format!("memory size {} is not a multiple of 2 MiB", human_size(size)),
                )
                .with_label(context.source, draft.size_span(), "not a multiple of 0x20_0000")
                .with_help("the tail is mapped with 4 KiB pages, costing tables and TLB entries; round to 2 MiB"),
            );
        }
    }
}

fn check_memory_too_small(context: &Context<'_, '_>, diagnostics: &mut Diagnostics) {
    for draft in context.drafts {
        let Some(size) = draft.size else { continue };
        if size != 0 && size <= DTB_OFFSET_FROM_RAM_END {
            diagnostics.push(
                Diagnostic::error(
                    Code::MemoryTooSmall,
                    format!("memory size {} leaves no room for the guest image", human_size(size)),
                )
                .with_label(context.source, draft.size_span(), format!("must exceed {}", human_size(DTB_OFFSET_FROM_RAM_END)))
                .with_help("the guest device tree occupies the last 2 MiB of partition RAM; use at least \"4MiB\""),
            );
        }
    }
}

fn check_memory_outside_ram(context: &Context<'_, '_>, diagnostics: &mut Diagnostics) {
    for draft in context.drafts {
        let Some(range) = draft.fixed_ram() else {
            continue;
        };
        if context.board.ram_containing(range).is_none() {
            let ram = context
                .board
                .ram
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ");
            diagnostics.push(
                Diagnostic::error(
                    Code::MemoryOutsideRam,
                    format!(
                        "partition `{}` memory {range} is not inside board RAM",
                        draft.name()
                    ),
                )
                .with_label(
                    context.source,
                    draft.base_span(),
                    format!("expected inside {ram}"),
                )
                .with_help(format!(
                    "board `{}` has RAM at {ram} (from its device tree)",
                    context.board.name
                )),
            );
        }
    }
}

fn check_memory_overlaps_hypervisor(context: &Context<'_, '_>, diagnostics: &mut Diagnostics) {
    let hypervisor = context.board.hypervisor;
    for draft in context.drafts {
        let Some(range) = draft.fixed_ram() else {
            continue;
        };
        if range.overlaps(hypervisor) {
            diagnostics.push(
                Diagnostic::error(
                    Code::MemoryOverlapsHypervisor,
                    format!("partition `{}` memory {range} overlaps the hypervisor reservation {hypervisor}", draft.name()),
                )
                .with_label(context.source, draft.base_span(), "overlaps the hypervisor")
                .with_help(format!(
                    "start at or after {} (see [hypervisor] in board-configs/{}/board.toml), or omit base to allocate",
                    hex(hypervisor.end()),
                    context.board.name
                )),
            );
        }
    }
}

fn check_memory_overlap(context: &Context<'_, '_>, diagnostics: &mut Diagnostics) {
    let mut reported = HashSet::new();
    for (index, draft) in context.drafts.iter().enumerate() {
        let Some(range) = draft.ram else { continue };
        for (earlier_index, earlier) in context.drafts[..index].iter().enumerate() {
            let Some(earlier_range) = earlier.ram else {
                continue;
            };
            if range.overlaps(earlier_range) && reported.insert((earlier_index, index)) {
                diagnostics.push(
                    Diagnostic::error(
                        Code::MemoryOverlap,
                        format!(
                            "partition `{}` memory {range} overlaps partition `{}` memory {earlier_range}",
                            draft.name(),
                            earlier.name()
                        ),
                    )
                    .with_label(context.source, draft.base_span(), "overlaps")
                    .with_label(context.source, earlier.base_span(), "this partition's memory")
                    .with_help("partitions never share RAM; move one base, or omit bases to allocate"),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(base: u64, size: u64) -> AddressRange {
        AddressRange::new(base, size).unwrap()
    }

    #[test]
    fn first_fit_steps_around_taken_ranges_and_between_ram_ranges() {
        let ram = [
            range(0x4000_0000, 0x1000_0000),
            range(0x8000_0000, 0x1000_0000),
        ];
        let hypervisor = range(0x4000_0000, 0x200_0000);
        let fixed = range(0x4200_0000, 0x100_0000);
        let taken = [hypervisor, fixed];
        assert_eq!(
            first_fit(0x4200_0000, 0x400_0000, &ram, &taken),
            Some(range(0x4300_0000, 0x400_0000))
        );
        // Too big for what is left of the first RAM range: continues in the second.
        assert_eq!(
            first_fit(0x4800_0000, 0x900_0000, &ram, &taken),
            Some(range(0x8000_0000, 0x900_0000))
        );
        assert_eq!(first_fit(0x4800_0000, 0x2000_0000, &ram, &taken), None);
        assert_eq!(first_fit(u64::MAX - 0x1000, 0x1000, &ram, &taken), None);
    }

    #[test]
    fn checks_have_distinct_codes() {
        let codes: HashSet<Code> = CHECKS.iter().map(|check| check.code).collect();
        assert_eq!(codes.len(), CHECKS.len());
    }
}
