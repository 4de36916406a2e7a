//! How many tables mapping some regions takes, computed at compile time so the generated
//! system can size each partition's static table pool exactly.
//!
//! The count follows the builder's rule: a descriptor slot wholly covered by a region whose
//! IPA-to-PA offset is aligned to the slot size becomes a block (1 GiB, 2 MiB) or page
//! (4 KiB); any other slot the region touches needs a next-level table. Everything is
//! closed-form arithmetic on slot counts, without loops over slots or recursion.

use super::{IPA_SPACE_SIZE, Level};
use crate::addr::MemoryRegion;

/// An upper bound on the tables (root included) a [`Stage2Builder`](super::Stage2Builder)
/// uses to map `regions`, in any order.
///
/// Exact for a single region; for several, tables the regions could share are counted once
/// per region. Regions reaching beyond the IPA space count only their part inside it (the
/// builder refuses them anyway).
// [impl->dsn~stage2-sizing~1]
pub const fn tables_needed(regions: &[MemoryRegion]) -> usize {
    let mut tables: u64 = 1;
    let mut remaining = regions;
    // BOUND: each iteration drops one region: `regions.len()` iterations.
    while let [region, rest @ ..] = remaining {
        let start = smaller(region.ipa.raw(), IPA_SPACE_SIZE);
        let end = smaller(region.ipa.raw().saturating_add(region.size), IPA_SPACE_SIZE);
        let offset = region.phys.raw().wrapping_sub(region.ipa.raw());
        tables = tables.saturating_add(tables_for_range(start, end, offset));
        remaining = rest;
    }
    // `usize` is at least 32 bits on every target the hypervisor supports.
    if tables > 0xffff_ffff { usize::MAX } else { (tables & 0xffff_ffff) as usize }
}

/// Tables below the root needed to map `start .. end` to `start + offset ..` (wrapping)
/// into empty tables.
const fn tables_for_range(start: u64, end: u64, offset: u64) -> u64 {
    let level_2_tables = slots_needing_tables(start, end, offset, Level::One);
    let level_3_tables = if is_aligned(offset, Level::One) {
        // Whole 1 GiB slots are blocks: only the parts of the range before the first and
        // after the last 1 GiB boundary it contains sit in level-2 tables.
        let head_end = smaller(end, align_up(start, Level::One));
        let tail_start = larger(head_end, align_down(end, Level::One));
        slots_needing_tables(start, head_end, offset, Level::Two)
            .saturating_add(slots_needing_tables(tail_start, end, offset, Level::Two))
    } else {
        slots_needing_tables(start, end, offset, Level::Two)
    };
    level_2_tables.saturating_add(level_3_tables)
}

/// Tables needed below a still-invalid slot of a table at `level`, to map `start .. end`,
/// the part of the range inside that slot, when that part cannot be one block.
pub(super) const fn tables_below_slot(start: u64, end: u64, offset: u64, level: Level) -> u64 {
    match level {
        // A level-2 table, and a level-3 table for each of its 2 MiB slots that cannot be
        // a block.
        Level::One => slots_needing_tables(start, end, offset, Level::Two).saturating_add(1),
        Level::Two => 1,
        Level::Three => 0,
    }
}

/// Slots of a table at `level` that `start .. end` touches and that need a next-level table:
/// all touched slots, less those wholly covered when the offset allows blocks there.
const fn slots_needing_tables(start: u64, end: u64, offset: u64, level: Level) -> u64 {
    let touched = slots_touched(start, end, level);
    if is_aligned(offset, level) {
        touched.saturating_sub(slots_covered(start, end, level))
    } else {
        touched
    }
}

/// Number of `level` slots `start .. end` touches.
const fn slots_touched(start: u64, end: u64, level: Level) -> u64 {
    if start >= end {
        return 0;
    }
    let first = start >> level.shift();
    let last = end.saturating_sub(1) >> level.shift();
    last.saturating_sub(first).saturating_add(1)
}

/// Number of `level` slots wholly inside `start .. end`.
const fn slots_covered(start: u64, end: u64, level: Level) -> u64 {
    let first = align_up(start, level) >> level.shift();
    let past_last = align_down(end, level) >> level.shift();
    past_last.saturating_sub(first)
}

/// Whether `value` is a multiple of the slot size at `level`.
const fn is_aligned(value: u64, level: Level) -> bool {
    value & level.offset_mask() == 0
}

/// `value` rounded down to a slot boundary of `level`.
const fn align_down(value: u64, level: Level) -> u64 {
    value & !level.offset_mask()
}

/// `value` rounded up to a slot boundary of `level` (saturating, which IPAs never reach).
const fn align_up(value: u64, level: Level) -> u64 {
    if is_aligned(value, level) { value } else { level.span_end(value) }
}

/// The smaller of two values (`Ord::min` is not `const`).
const fn smaller(a: u64, b: u64) -> u64 {
    if a < b { a } else { b }
}

/// The larger of two values (`Ord::max` is not `const`).
const fn larger(a: u64, b: u64) -> u64 {
    if a > b { a } else { b }
}

// [utest->dsn~stage2-sizing~1]
#[cfg(test)]
mod tests {
    use super::*;
    use crate::addr::{Ipa, PhysAddr};
    use crate::stage2::ENTRIES_PER_TABLE;

    const GIB: u64 = 1 << 30;
    const MIB: u64 = 1 << 20;

    fn region(ipa: u64, phys: u64, size: u64) -> MemoryRegion {
        MemoryRegion { ipa: Ipa(ipa), phys: PhysAddr(phys), size }
    }

    #[test]
    fn no_regions_need_only_the_root() {
        assert_eq!(tables_needed(&[]), 1);
    }

    #[test]
    fn a_gib_aligned_gib_is_one_level_1_block() {
        assert_eq!(tables_needed(&[region(GIB, 2 * GIB, GIB)]), 1);
    }

    #[test]
    fn two_mib_aligned_memory_inside_one_gib_needs_one_level_2_table() {
        assert_eq!(tables_needed(&[region(GIB, GIB + 64 * MIB, 64 * MIB)]), 2);
    }

    #[test]
    fn a_page_aligned_offset_needs_a_level_3_table_per_2_mib_slot() {
        // 4 MiB mapped with an offset of one page: two 2 MiB slots, all pages.
        assert_eq!(tables_needed(&[region(GIB, GIB + 0x1000, 4 * MIB)]), 1 + 1 + 2);
        // A whole GiB that way: one level-2 table and 512 level-3 tables.
        assert_eq!(tables_needed(&[region(GIB, GIB + 0x1000, GIB)]), 1 + 1 + ENTRIES_PER_TABLE);
    }

    #[test]
    fn a_region_straddling_a_gib_boundary_needs_a_level_2_table_on_each_side() {
        // 2 MiB-aligned: level-2 blocks on both sides.
        assert_eq!(tables_needed(&[region(GIB - 4 * MIB, GIB - 4 * MIB, 8 * MIB)]), 3);
        // Unaligned edges add a level-3 table at each end.
        assert_eq!(tables_needed(&[region(GIB - 0x1000, GIB - 0x1000, 0x2000)]), 5);
        // Whole GiBs in the middle are blocks; the partial ends need tables.
        assert_eq!(
            tables_needed(&[region(GIB - 2 * MIB, GIB - 2 * MIB, 2 * GIB + 4 * MIB)]),
            1 + 2
        );
    }

    #[test]
    fn regions_outside_the_ipa_space_are_clamped_without_overflow() {
        assert_eq!(tables_needed(&[region(u64::MAX - 0xfff, 0, u64::MAX)]), 1);
        assert_eq!(tables_needed(&[region(IPA_SPACE_SIZE - GIB, 0, u64::MAX)]), 1);
    }

    #[test]
    fn tables_needed_is_usable_in_a_const() {
        const REGIONS: &[MemoryRegion] = &[MemoryRegion {
            ipa: Ipa(0x4000_0000),
            phys: PhysAddr(0x4800_0000),
            size: 0x0800_0000,
        }];
        const TABLES: usize = tables_needed(REGIONS);
        assert_eq!(TABLES, 2);
    }
}
