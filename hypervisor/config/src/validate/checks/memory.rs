//! Memory: host-physical ranges (partition RAM, regions, channels) are aligned, inside board
//! RAM and disjoint from each other, the hypervisor, reserved RAM and device registers; each
//! partition's IPA map is free of overlaps and inside the stage-2 input range.
//!
//! Design: [impl->dsn~config-checks~1]

use std::ops::Range;

use bulkhead_core::layout::{DTB_OFFSET_FROM_RAM_END, RAM_BASE};
use bulkhead_core::stage2::IPA_SPACE_SIZE;

use crate::diagnostic::{Code, Diagnostic, Diagnostics};
use crate::units::{AddressRange, BLOCK_2MIB, GRANULE_4KIB, align_up, hex, human_size};
use crate::validate::{Context, report};

/// What kind of thing holds a host range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Holder {
    Partition,
    Region,
    Channel,
}

/// One host-physical range the manifest asks for.
struct Claim {
    range: Option<AddressRange>,
    size: Option<u64>,
    base: Option<u64>,
    owner: String,
    holder: Holder,
    base_span: Range<usize>,
    size_span: Range<usize>,
    /// Partition RAM with `identity = true`: its base is not the user's to move.
    identity: bool,
}

impl Claim {
    /// The range when its base was written (allocated ones are correct by construction).
    fn fixed(&self) -> Option<AddressRange> {
        self.base.and(self.range)
    }

    /// Required base alignment: partition RAM is mapped with 2 MiB blocks.
    fn alignment(&self) -> u64 {
        match self.holder {
            Holder::Partition => BLOCK_2MIB,
            Holder::Region | Holder::Channel => GRANULE_4KIB,
        }
    }
}

fn claims(context: &Context<'_, '_>) -> Vec<Claim> {
    let mut claims = Vec::new();
    for draft in context.drafts {
        claims.push(Claim {
            range: draft.ram,
            size: draft.size,
            base: draft.base,
            owner: format!("partition `{}` memory", draft.name()),
            holder: Holder::Partition,
            base_span: match (&draft.partition().memory.get_ref().base, &draft.identity) {
                (None, Some(identity)) => identity.clone(),
                _ => draft.base_span(),
            },
            size_span: draft.size_span(),
            identity: draft.identity.is_some(),
        });
        for region in &draft.regions {
            claims.push(Claim {
                range: region.host,
                size: region.size,
                base: region.base,
                owner: format!("region `{}` of partition `{}`", region.name(), draft.name()),
                holder: Holder::Region,
                base_span: region.base_span(),
                size_span: region.table.get_ref().size.span(),
                identity: false,
            });
        }
    }
    for channel in context.channels {
        claims.push(Claim {
            range: channel.memory,
            size: channel.size,
            base: channel.base,
            owner: format!("channel `{}`", channel.name()),
            holder: Holder::Channel,
            base_span: channel.base_span(),
            size_span: channel.table.get_ref().size.span(),
            identity: false,
        });
    }
    claims
}

pub(crate) fn check_memory_base_misaligned(
    context: &Context<'_, '_>,
    diagnostics: &mut Diagnostics,
) {
    for claim in claims(context) {
        let Some(base) = claim.base else { continue };
        let alignment = claim.alignment();
        if base % alignment != 0 {
            let lower = base & !(alignment - 1);
            report(
                diagnostics,
                Code::MemoryBaseMisaligned,
                format!(
                    "{} base {} is not {} aligned",
                    claim.owner,
                    hex(base),
                    human_size(alignment)
                ),
                context.source,
                claim.base_span,
                format!("expected a multiple of {}", hex(alignment)),
                format!(
                    "{}; use {} or {}",
                    if alignment == BLOCK_2MIB {
                        "partition RAM is mapped with 2 MiB stage-2 blocks"
                    } else {
                        "stage 2 maps 4 KiB pages at the finest"
                    },
                    hex(lower),
                    align_up(base, alignment).map_or_else(|| "a lower base".to_owned(), hex)
                ),
            );
        }
    }
    check_region_ipa_misaligned(context, diagnostics);
}

/// A region's written `ipa` must be page aligned too (stage 2 maps whole pages).
fn check_region_ipa_misaligned(context: &Context<'_, '_>, diagnostics: &mut Diagnostics) {
    for draft in context.drafts {
        for region in &draft.regions {
            let (Some(ipa), Some(written)) = (region.ipa, &region.table.get_ref().ipa) else {
                continue;
            };
            if region.fixed_ipa && ipa % GRANULE_4KIB != 0 {
                report(
                    diagnostics,
                    Code::MemoryBaseMisaligned,
                    format!(
                        "region `{}` of partition `{}` ipa {} is not 4 KiB aligned",
                        region.name(),
                        draft.name(),
                        hex(ipa)
                    ),
                    context.source,
                    written.span(),
                    "expected a multiple of 0x1000",
                    "stage 2 maps 4 KiB pages at the finest",
                );
            }
        }
    }
}

pub(crate) fn check_memory_size_not_granule(
    context: &Context<'_, '_>,
    diagnostics: &mut Diagnostics,
) {
    for claim in claims(context) {
        let Some(size) = claim.size else { continue };
        if size == 0 || size % GRANULE_4KIB != 0 {
            report(
                diagnostics,
                Code::MemorySizeNotGranule,
                format!(
                    "{} size {} is not a non-zero multiple of 4 KiB",
                    claim.owner,
                    hex(size)
                ),
                context.source,
                claim.size_span,
                "expected a multiple of 0x1000",
                "stage 2 maps memory in 4 KiB pages at the finest; sizes such as \"64MiB\" are best",
            );
        }
    }
}

pub(crate) fn check_memory_size_not_block(
    context: &Context<'_, '_>,
    diagnostics: &mut Diagnostics,
) {
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

pub(crate) fn check_memory_too_small(context: &Context<'_, '_>, diagnostics: &mut Diagnostics) {
    for draft in context.drafts {
        let Some(size) = draft.size else { continue };
        if size != 0 && size <= DTB_OFFSET_FROM_RAM_END {
            report(
                diagnostics,
                Code::MemoryTooSmall,
                format!(
                    "memory size {} leaves no room for the guest image",
                    human_size(size)
                ),
                context.source,
                draft.size_span(),
                format!("must exceed {}", human_size(DTB_OFFSET_FROM_RAM_END)),
                "the guest device tree occupies the last 2 MiB of partition RAM; use at least \"4MiB\"",
            );
        }
    }
}

fn ram_list(context: &Context<'_, '_>) -> String {
    context
        .board
        .ram
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

pub(crate) fn check_memory_outside_ram(context: &Context<'_, '_>, diagnostics: &mut Diagnostics) {
    for claim in claims(context) {
        let Some(range) = claim.fixed() else { continue };
        if context.board.ram_containing(range).is_none() {
            report(
                diagnostics,
                Code::MemoryOutsideRam,
                format!("{} {range} is not inside board RAM", claim.owner),
                context.source,
                claim.base_span,
                format!("expected inside {}", ram_list(context)),
                format!(
                    "board `{}` has RAM at {} (from its {})",
                    context.board.name,
                    ram_list(context),
                    if context.board.ram_from_board_toml {
                        "board.toml"
                    } else {
                        "device tree"
                    }
                ),
            );
        }
    }
}

pub(crate) fn check_memory_overlaps_hypervisor(
    context: &Context<'_, '_>,
    diagnostics: &mut Diagnostics,
) {
    let hypervisor = context.board.hypervisor;
    for claim in claims(context) {
        let Some(range) = claim.fixed() else { continue };
        if range.overlaps(hypervisor) {
            report(
                diagnostics,
                Code::MemoryOverlapsHypervisor,
                format!(
                    "{} {range} overlaps the hypervisor reservation {hypervisor}",
                    claim.owner
                ),
                context.source,
                claim.base_span,
                "overlaps the hypervisor",
                if claim.identity {
                    format!(
                        "identity-mapped RAM must start at {} (where guests see their RAM): move the hypervisor instead, e.g. `hypervisor_memory = {{ base = {}, size = \"{}\" }}` in [system]",
                        hex(RAM_BASE.raw()),
                        align_up(range.end(), BLOCK_2MIB).map_or_else(|| "a higher base".to_owned(), hex),
                        human_size(hypervisor.size())
                    )
                } else {
                    format!(
                        "start at or after {} (board.toml [hypervisor] or [system] hypervisor_memory), or omit base to allocate",
                        hex(hypervisor.end())
                    )
                },
            );
        }
    }
}

pub(crate) fn check_memory_overlaps_reserved(
    context: &Context<'_, '_>,
    diagnostics: &mut Diagnostics,
) {
    for claim in claims(context) {
        let Some(range) = claim.fixed() else { continue };
        for reserved in context
            .board
            .reserved
            .iter()
            .filter(|reserved| reserved.range.overlaps(range))
        {
            report(
                diagnostics,
                Code::MemoryOverlapsReserved,
                format!(
                    "{} {range} overlaps {} reserved by the device tree ({})",
                    claim.owner, reserved.range, reserved.source
                ),
                context.source,
                claim.base_span.clone(),
                "overlaps reserved RAM",
                "firmware or other masters use reserved RAM; move the base, or omit it to allocate",
            );
        }
    }
}

pub(crate) fn check_memory_overlaps_device(
    context: &Context<'_, '_>,
    diagnostics: &mut Diagnostics,
) {
    for claim in claims(context) {
        let Some(range) = claim.fixed() else { continue };
        let devices = context.mmio.overlapping(range);
        if let Some(first) = devices.first() {
            report(
                diagnostics,
                Code::MemoryOverlapsDevice,
                format!(
                    "{} {range} overlaps the registers of {first}{}",
                    claim.owner,
                    if devices.len() > 1 {
                        format!(" and {} other device(s)", devices.len() - 1)
                    } else {
                        String::new()
                    }
                ),
                context.source,
                claim.base_span,
                "overlaps device MMIO",
                "memory must be RAM; choose a base inside a memory node's range",
            );
        }
    }
}

/// Reports every overlapping pair of fixed claims where `wanted` selects the pair's kind.
fn overlapping_pairs(
    context: &Context<'_, '_>,
    diagnostics: &mut Diagnostics,
    code: Code,
    wanted: fn(Holder, Holder) -> bool,
) {
    let claims = claims(context);
    for (index, claim) in claims.iter().enumerate() {
        let Some(range) = claim.range else { continue };
        for earlier in &claims[..index] {
            let Some(earlier_range) = earlier.range else {
                continue;
            };
            if range.overlaps(earlier_range) && wanted(claim.holder, earlier.holder) {
                diagnostics.push(
                    Diagnostic::error(
                        code,
                        format!(
                            "{} {range} overlaps {} {earlier_range}",
                            claim.owner, earlier.owner
                        ),
                    )
                    .with_label(context.source, claim.base_span.clone(), "overlaps")
                    .with_label(context.source, earlier.base_span.clone(), "this memory")
                    .with_help("partitions share nothing but channels; move one base, or omit bases to allocate"),
                );
            }
        }
    }
}

pub(crate) fn check_memory_overlap(context: &Context<'_, '_>, diagnostics: &mut Diagnostics) {
    overlapping_pairs(context, diagnostics, Code::MemoryOverlap, |left, right| {
        left != Holder::Channel && right != Holder::Channel
    });
}

pub(crate) fn check_channel_memory_overlap(
    context: &Context<'_, '_>,
    diagnostics: &mut Diagnostics,
) {
    overlapping_pairs(
        context,
        diagnostics,
        Code::ChannelMemoryOverlap,
        |left, right| left == Holder::Channel || right == Holder::Channel,
    );
}

pub(crate) fn check_ipa_overlap(context: &Context<'_, '_>, diagnostics: &mut Diagnostics) {
    for draft in context.drafts {
        let items = &draft.layout.items;
        for (index, item) in items.iter().enumerate() {
            for earlier in &items[..index] {
                // Two devices of one partition may share a page: both map it identically.
                let both_devices =
                    item.what.starts_with("device ") && earlier.what.starts_with("device ");
                if !item.range.overlaps(earlier.range) || item.what == earlier.what || both_devices
                {
                    continue;
                }
                // Point at whichever of the two the manifest wrote later.
                let (span, other) = match (&item.span, &earlier.span) {
                    (Some(span), _) => (span.clone(), earlier),
                    (None, Some(span)) => (span.clone(), item),
                    (None, None) => continue,
                };
                report(
                    diagnostics,
                    Code::IpaOverlap,
                    format!(
                        "in partition `{}`, {} (IPA {}) overlaps {} (IPA {})",
                        draft.name(),
                        item.what,
                        item.range,
                        earlier.what,
                        earlier.range
                    ),
                    context.source,
                    span,
                    format!("overlaps {}", other.what),
                    "pass-through devices are identity-mapped and the virtual GIC and PL011 sit at fixed IPAs (docs/manifest.md, \"The guest's view\"); shrink guest RAM, move the region's ipa, or choose another device",
                );
            }
        }
    }
}

pub(crate) fn check_ipa_out_of_range(context: &Context<'_, '_>, diagnostics: &mut Diagnostics) {
    for draft in context.drafts {
        let beyond = draft
            .layout
            .items
            .iter()
            .filter(|item| item.range.end() > IPA_SPACE_SIZE)
            .filter_map(|item| Some((item.what.clone(), item.span.clone()?)));
        let guest_ram_overflow = draft
            .size
            .filter(|size| AddressRange::new(RAM_BASE.raw(), *size).is_none())
            .map(|_| ("guest RAM".to_owned(), draft.size_span()));
        for (what, span) in beyond
            .chain(guest_ram_overflow)
            .chain(draft.layout.unplaced.iter().cloned())
        {
            report(
                diagnostics,
                Code::IpaOutOfRange,
                format!(
                    "in partition `{}`, {what} does not fit below the end of the {} IPA space",
                    draft.name(),
                    human_size(IPA_SPACE_SIZE)
                ),
                context.source,
                span,
                format!("beyond IPA {}", hex(IPA_SPACE_SIZE)),
                "stage 2 translates 39-bit IPAs; make guest RAM or the region smaller",
            );
        }
    }
}

pub(crate) fn check_region_contents_too_large(
    context: &Context<'_, '_>,
    diagnostics: &mut Diagnostics,
) {
    for draft in context.drafts {
        for region in &draft.regions {
            let (Some((path, length)), Some(size)) = (&region.file, region.size) else {
                continue;
            };
            if *length > size {
                let span = region
                    .table
                    .get_ref()
                    .file
                    .as_ref()
                    .map_or_else(|| region.table.get_ref().name.span(), |file| file.span());
                report(
                    diagnostics,
                    Code::RegionContentsTooLarge,
                    format!(
                        "{} is {} bytes, more than region `{}` ({})",
                        path.display(),
                        length,
                        region.name(),
                        human_size(size)
                    ),
                    context.source,
                    span,
                    "does not fit",
                    "raise the region's size or shorten the file",
                );
            }
        }
    }
}

pub(crate) fn check_initrd_too_large(context: &Context<'_, '_>, diagnostics: &mut Diagnostics) {
    for draft in context.drafts {
        let (Some((path, length)), Some(size), Some(initrd)) =
            (&draft.initrd, draft.size, &draft.partition().initrd)
        else {
            continue;
        };
        let room = size.saturating_sub(DTB_OFFSET_FROM_RAM_END);
        if *length >= room {
            report(
                diagnostics,
                Code::InitrdTooLarge,
                format!(
                    "initrd {} ({} bytes) does not fit partition `{}`'s RAM below the device tree",
                    path.display(),
                    length,
                    draft.name()
                ),
                context.source,
                initrd.span(),
                "too large",
                format!(
                    "the initrd and the image share guest RAM minus the last {}: raise memory.size",
                    human_size(DTB_OFFSET_FROM_RAM_END)
                ),
            );
        }
    }
}

/// `identity = true` asks for RAM whose physical base equals its guest-physical one; every
/// guest sees its RAM at [`RAM_BASE`], so a written `base` must be that address.
pub(crate) fn check_identity_ram_misplaced(context: &Context<'_, '_>, diagnostics: &mut Diagnostics) {
    for draft in context.drafts {
        let (Some(identity), Some(base)) = (&draft.identity, draft.base) else { continue };
        if base == RAM_BASE.raw() {
            continue;
        }
        diagnostics.push(
            Diagnostic::error(
                Code::IdentityRamMisplaced,
                format!(
                    "partition `{}` asks for identity-mapped RAM at base {}, but its guest sees RAM at {}",
                    draft.name(),
                    hex(base),
                    hex(RAM_BASE.raw())
                ),
            )
            .with_label(context.source, draft.base_span(), "not the guest RAM address")
            .with_label(context.source, identity.clone(), "IPA = PA asked here")
            .with_help(format!(
                "write `base = {}` or leave `base` out (identity RAM is placed there)",
                hex(RAM_BASE.raw())
            )),
        );
    }
}
