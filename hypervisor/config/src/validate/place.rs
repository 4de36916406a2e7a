//! *Place*: gives every partition RAM, region and channel without a `base` the lowest free
//! range of board RAM after the previous allocation (initially the hypervisor reservation),
//! in manifest order — partitions first, then their regions, then channels — stepping around
//! fixed ranges, the hypervisor, reserved memory and device registers. When nothing is free
//! above that point (a hypervisor placed at the top of RAM), the search starts again at the
//! lowest RAM address, so RAM below the hypervisor is used too.
//!
//! Allocations are 2 MiB aligned when their size is a multiple of 2 MiB (so stage 2 can use
//! blocks, Arm ARM D8.2.8), else 4 KiB aligned.
//!
//! Design: [impl->dsn~config-checks~1]

use crate::board::Board;
use crate::devices::MmioMap;
use crate::diagnostic::{Code, Diagnostic, Diagnostics, Source};
use crate::units::{AddressRange, BLOCK_2MIB, GRANULE_4KIB, align_up, human_size};

use super::draft::{ChannelDraft, Draft};

/// The alignment an allocation of `size` bytes gets.
pub(crate) fn alignment_for(size: u64) -> u64 {
    if size % BLOCK_2MIB == 0 {
        BLOCK_2MIB
    } else {
        GRANULE_4KIB
    }
}

/// Places everything without a base; reports what does not fit.
pub(crate) fn place(
    drafts: &mut [Draft<'_>],
    channels: &mut [ChannelDraft<'_>],
    board: &Board,
    mmio: &MmioMap,
    source: &Source,
    diagnostics: &mut Diagnostics,
) {
    let mut taken: Vec<AddressRange> = drafts.iter().filter_map(Draft::fixed_ram).collect();
    for draft in drafts.iter() {
        taken.extend(
            draft
                .regions
                .iter()
                .filter_map(|region| region.fixed_host()),
        );
    }
    taken.extend(channels.iter().filter_map(ChannelDraft::fixed_memory));
    taken.push(board.hypervisor);
    taken.extend(board.reserved.iter().map(|reserved| reserved.range));
    taken.extend(
        mmio.iter()
            .map(|(range, _)| range)
            .filter(|range| board.ram.iter().any(|ram| ram.overlaps(*range))),
    );
    let mut allocator = Allocator {
        cursor: board.hypervisor.end(),
        taken,
        ram: &board.ram,
    };
    let mut failures: Vec<(String, u64, std::ops::Range<usize>)> = Vec::new();
    for draft in drafts.iter_mut() {
        if draft.base.is_none() {
            if let Some(size) = draft.size {
                match allocator.allocate(size) {
                    Some(range) => draft.ram = Some(range),
                    None => failures.push((
                        format!("partition `{}`", draft.name()),
                        size,
                        draft.partition().memory.span(),
                    )),
                }
            }
        }
    }
    for draft in drafts.iter_mut() {
        let partition_name = draft.name().to_owned();
        for region in draft
            .regions
            .iter_mut()
            .filter(|region| region.base.is_none())
        {
            let Some(size) = region.size else { continue };
            match allocator.allocate(size) {
                Some(range) => region.host = Some(range),
                None => failures.push((
                    format!("region `{}` of partition `{partition_name}`", region.name()),
                    size,
                    region.table.get_ref().name.span(),
                )),
            }
        }
    }
    for channel in channels.iter_mut().filter(|channel| channel.base.is_none()) {
        let Some(size) = channel.size else { continue };
        match allocator.allocate(size) {
            Some(range) => channel.memory = Some(range),
            None => failures.push((
                format!("channel `{}`", channel.name()),
                size,
                channel.table.get_ref().name.span(),
            )),
        }
    }
    for (what, size, span) in failures {
        let ram = board
            .ram
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        diagnostics.push(
            Diagnostic::error(
                Code::MemoryExhausted,
                format!(
                    "no free {} range left in board RAM for {what}",
                    human_size(size)
                ),
            )
            .with_label(source, span, "does not fit")
            .with_help(format!(
                "board RAM is {ram}; the hypervisor uses {}; shrink partitions, regions or channels, or give explicit bases",
                board.hypervisor
            )),
        );
    }
}

/// First-fit allocation of board RAM, moving upwards from a cursor.
struct Allocator<'a> {
    cursor: u64,
    taken: Vec<AddressRange>,
    ram: &'a [AddressRange],
}

impl Allocator<'_> {
    /// The lowest free range of `size` bytes at or after the cursor or, when there is none
    /// (the hypervisor sits at the top of RAM, or what is above it is full), anywhere in RAM
    /// from its lowest address: free RAM below the hypervisor is as good as above it.
    fn allocate(&mut self, size: u64) -> Option<AddressRange> {
        if size == 0 {
            return None;
        }
        let alignment = alignment_for(size);
        let lowest = self.ram.iter().map(|ram| ram.base()).min()?;
        let range = first_fit(self.cursor, size, alignment, self.ram, &self.taken)
            .or_else(|| first_fit(lowest, size, alignment, self.ram, &self.taken))?;
        self.taken.push(range);
        self.cursor = range.end();
        Some(range)
    }
}

/// The lowest `alignment`-aligned range of `size` bytes at or after `cursor` that lies in one
/// RAM range and overlaps nothing in `taken`.
pub(crate) fn first_fit(
    cursor: u64,
    size: u64,
    alignment: u64,
    ram: &[AddressRange],
    taken: &[AddressRange],
) -> Option<AddressRange> {
    let mut candidate = align_up(cursor, alignment)?;
    // Every iteration moves `candidate` strictly upwards or returns, so this terminates.
    loop {
        let region = ram.iter().find(|region| region.end() > candidate)?;
        if candidate < region.base() {
            candidate = align_up(region.base(), alignment)?;
            continue;
        }
        let range = AddressRange::new(candidate, size)?;
        if !region.contains(range) {
            candidate = align_up(region.end(), alignment)?;
            continue;
        }
        match taken
            .iter()
            .filter(|used| used.overlaps(range))
            .map(|used| used.end())
            .max()
        {
            Some(end) => candidate = align_up(end, alignment)?,
            None => return Some(range),
        }
    }
}

// [utest->dsn~config-checks~1]
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
            first_fit(0x4200_0000, 0x400_0000, BLOCK_2MIB, &ram, &taken),
            Some(range(0x4300_0000, 0x400_0000))
        );
        // Too big for what is left of the first RAM range: continues in the second.
        assert_eq!(
            first_fit(0x4800_0000, 0x900_0000, BLOCK_2MIB, &ram, &taken),
            Some(range(0x8000_0000, 0x900_0000))
        );
        assert_eq!(
            first_fit(0x4800_0000, 0x2000_0000, BLOCK_2MIB, &ram, &taken),
            None
        );
        assert_eq!(
            first_fit(u64::MAX - 0x1000, 0x1000, BLOCK_2MIB, &ram, &taken),
            None
        );
        // Small allocations are page aligned.
        assert_eq!(
            first_fit(0x4300_1000, 0x1_0000, GRANULE_4KIB, &ram, &taken),
            Some(range(0x4300_1000, 0x1_0000))
        );
        assert_eq!(alignment_for(0x40_0000), BLOCK_2MIB);
        assert_eq!(alignment_for(0x1_0000), GRANULE_4KIB);
    }
}
