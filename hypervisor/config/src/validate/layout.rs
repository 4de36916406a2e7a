//! *Lay out*: decides what each partition sees — where its regions and channel ends sit in
//! its guest-physical (IPA) space, and which virtual INTID each forwarded interrupt and
//! doorbell gets.
//!
//! IPA map of every partition (documented in `docs/manifest.md`):
//! * the emulated devices at their `bulkhead_core::layout` addresses (vGICD, vGICR, vPL011);
//! * guest RAM at `RAM_BASE`;
//! * pass-through device pages identity-mapped (IPA = physical address), so the copied
//!   device tree nodes keep their addresses;
//! * regions with a written `ipa` there; the others, then channel ends (in channel order),
//!   allocated upwards from the first 2 MiB boundary after RAM, skipping anything already
//!   there. A channel with a doorbell is followed by its 4 KiB doorbell page.
//!
//! Guest INTIDs: forwarded interrupts are renumbered densely from
//! [`FIRST_FORWARDED_INTID`]: first each device's interrupts (manifest order, then the order
//! of its `interrupts` property; a line two of the partition's devices share gets one INTID),
//! then the extra `interrupts`, then one doorbell INTID per channel end with a doorbell.
//!
//! Design: [impl->dsn~config-checks~1]

use std::ops::Range;

use bulkhead_core::layout::{
    MAX_VCPUS_PER_PARTITION, RAM_BASE, VGICD_BASE, VGICD_SIZE, VGICR_BASE, VGICR_STRIDE,
    VUART_BASE, VUART_SIZE,
};
use bulkhead_core::stage2::IPA_SPACE_SIZE;
use bulkhead_core::system::Trigger;

use crate::spec::{DoorbellSpec, EndpointSpec, InterruptAssignment, InterruptSource};
use crate::units::{AddressRange, BLOCK_2MIB, GRANULE_4KIB, align_up};

use super::draft::{ChannelDraft, Draft, IpaItem};
use super::place::first_fit;

/// First virtual INTID given to forwarded interrupts and doorbells (SPI 16). SPIs 0–15
/// (INTIDs 32–47) are kept for the hypervisor's emulated devices (the vPL011 is INTID 33).
pub const FIRST_FORWARDED_INTID: u32 = 48;
/// Largest INTID a GIC can signal as an interrupt (1020–1023 are special, IHI 0069 §2.2.1).
pub const LAST_INTID: u32 = 1019;
/// Size of a channel doorbell page.
pub const DOORBELL_PAGE_SIZE: u64 = GRANULE_4KIB;

/// Lays out every partition.
pub(crate) fn lay_out(drafts: &mut [Draft<'_>], channels: &[ChannelDraft<'_>]) {
    for (index, draft) in drafts.iter_mut().enumerate() {
        lay_out_partition(index, draft, channels);
    }
}

fn fixed_item(base: u64, size: u64, what: &str) -> Option<IpaItem> {
    Some(IpaItem {
        range: AddressRange::new(base, size)?,
        what: what.to_owned(),
        span: None,
    })
}

fn lay_out_partition(index: usize, draft: &mut Draft<'_>, channels: &[ChannelDraft<'_>]) {
    let mut items: Vec<IpaItem> = Vec::new();
    let vcpus = draft.vcpus().clamp(1, MAX_VCPUS_PER_PARTITION) as u64;
    items.extend(fixed_item(
        VGICD_BASE.raw(),
        VGICD_SIZE,
        "the virtual GIC distributor",
    ));
    items.extend(fixed_item(
        VGICR_BASE.raw(),
        VGICR_STRIDE * vcpus,
        "the virtual GIC redistributors",
    ));
    items.extend(fixed_item(
        VUART_BASE.raw(),
        VUART_SIZE,
        "the virtual PL011",
    ));
    let memory_span = draft.partition().memory.span();
    let ram_end = match draft
        .size
        .map(|size| AddressRange::new(RAM_BASE.raw(), size))
    {
        Some(Some(range)) => {
            items.push(IpaItem {
                range,
                what: "guest RAM".to_owned(),
                span: Some(memory_span.clone()),
            });
            range.end()
        }
        Some(None) => u64::MAX,
        None => RAM_BASE.raw(),
    };
    for (device, info) in draft.resolved_devices() {
        for page in &info.pages {
            items.push(IpaItem {
                range: *page,
                what: format!("device {}", info.path),
                span: Some(device.span.clone()),
            });
        }
    }
    for region in draft.regions.iter().filter(|region| region.fixed_ipa) {
        if let (Some(ipa), Some(size)) = (region.ipa, region.size) {
            items.extend(AddressRange::new(ipa, size).map(|range| IpaItem {
                range,
                what: format!("region `{}`", region.name()),
                span: region.table.get_ref().ipa.as_ref().map(|ipa| ipa.span()),
            }));
        }
    }

    let mut unplaced: Vec<(String, Range<usize>)> = Vec::new();
    let mut cursor = align_up(ram_end, BLOCK_2MIB).unwrap_or(u64::MAX);
    let mut allocate = |items: &mut Vec<IpaItem>, size: u64, what: String, span: Range<usize>| {
        let taken: Vec<AddressRange> = items.iter().map(|item| item.range).collect();
        match allocate_ipa(cursor, size, &taken) {
            Some(range) => {
                cursor = range.end();
                items.push(IpaItem {
                    range,
                    what,
                    span: Some(span),
                });
                Some(range.base())
            }
            None => {
                unplaced.push((what, span));
                None
            }
        }
    };
    for region in draft.regions.iter_mut().filter(|region| !region.fixed_ipa) {
        let Some(size) = region.size.filter(|size| *size != 0) else {
            continue;
        };
        region.ipa = allocate(
            &mut items,
            size,
            format!("region `{}`", region.name()),
            region.table.get_ref().name.span(),
        );
    }
    let mut endpoints = Vec::new();
    for (channel_index, channel) in channels.iter().enumerate() {
        let Some((_, access, span)) = channel
            .endpoints
            .iter()
            .find(|(partition, _, _)| *partition == index)
        else {
            continue;
        };
        let Some(size) = channel.size.filter(|size| *size != 0) else {
            continue;
        };
        let shared = align_up(size, GRANULE_4KIB).unwrap_or(size);
        let footprint = if channel.doorbell() {
            shared.saturating_add(DOORBELL_PAGE_SIZE)
        } else {
            shared
        };
        let what = format!("channel `{}`", channel.name());
        if let Some(ipa) = allocate(&mut items, footprint, what, span.clone()) {
            endpoints.push(EndpointSpec {
                channel: channel_index,
                ipa,
                access: *access,
                doorbell: channel.doorbell().then_some(DoorbellSpec {
                    register: ipa + shared,
                    intid: 0,
                }),
            });
        }
    }

    let (interrupts, exhausted) = number_interrupts(draft, &mut endpoints);
    draft.layout.items = items;
    draft.layout.unplaced = unplaced;
    draft.layout.interrupts = interrupts;
    draft.layout.endpoints = endpoints;
    draft.layout.intids_exhausted = exhausted;
}

/// Gives forwarded interrupts and doorbells their guest INTIDs.
fn number_interrupts(
    draft: &Draft<'_>,
    endpoints: &mut [EndpointSpec],
) -> (Vec<InterruptAssignment>, Option<Range<usize>>) {
    let mut next = FIRST_FORWARDED_INTID;
    let mut exhausted = None;
    let mut assignments: Vec<InterruptAssignment> = Vec::new();
    let mut take = |span: &Range<usize>| {
        let intid = next;
        next = next.saturating_add(1);
        if intid > LAST_INTID && exhausted.is_none() {
            exhausted = Some(span.clone());
        }
        intid
    };
    for (device, info) in draft.resolved_devices() {
        for interrupt in &info.interrupts {
            if assignments
                .iter()
                .any(|known| known.physical == interrupt.intid)
            {
                continue;
            }
            assignments.push(InterruptAssignment {
                physical: interrupt.intid,
                guest: take(&device.span),
                trigger: interrupt.trigger(),
                source: InterruptSource::Device(info.path.clone()),
            });
        }
    }
    for extra in &draft.interrupts {
        let Ok(physical) = u32::try_from(extra.intid) else {
            continue;
        };
        if !(32..=LAST_INTID).contains(&physical)
            || assignments.iter().any(|known| known.physical == physical)
        {
            continue;
        }
        assignments.push(InterruptAssignment {
            physical,
            guest: take(&extra.span),
            trigger: extra.trigger,
            source: InterruptSource::Extra,
        });
    }
    let memory_span = draft.partition().memory.span();
    for endpoint in endpoints.iter_mut() {
        if let Some(doorbell) = endpoint.doorbell.as_mut() {
            doorbell.intid = take(&memory_span);
        }
    }
    (assignments, exhausted)
}

/// The trigger a doorbell is signalled with.
pub const DOORBELL_TRIGGER: Trigger = Trigger::Edge;

/// The lowest range of `size` bytes at or after `cursor`, aligned for its size, below the end
/// of the IPA space and clear of `taken`.
fn allocate_ipa(cursor: u64, size: u64, taken: &[AddressRange]) -> Option<AddressRange> {
    // Regions of 2 MiB or more start on a block boundary so stage 2 can use blocks.
    let alignment = if size >= BLOCK_2MIB {
        BLOCK_2MIB
    } else {
        GRANULE_4KIB
    };
    // The whole IPA space is one "RAM range" to the host allocator's first fit.
    let space = AddressRange::new(0, IPA_SPACE_SIZE)?;
    first_fit(cursor, size, alignment, &[space], taken)
}

// [utest->dsn~config-checks~1]
#[cfg(test)]
mod tests {
    use super::*;

    fn range(base: u64, size: u64) -> AddressRange {
        AddressRange::new(base, size).unwrap()
    }

    #[test]
    fn ipa_allocation_skips_taken_ranges_and_stops_at_the_end_of_the_space() {
        let taken = [range(0x4400_0000, 0x1000)];
        assert_eq!(
            allocate_ipa(0x4400_0000, 0x20_0000, &taken),
            Some(range(0x4420_0000, 0x20_0000))
        );
        assert_eq!(
            allocate_ipa(0x4400_0000, 0x1000, &taken),
            Some(range(0x4400_1000, 0x1000))
        );
        assert_eq!(allocate_ipa(IPA_SPACE_SIZE - 0x1000, 0x2000, &[]), None);
    }
}
