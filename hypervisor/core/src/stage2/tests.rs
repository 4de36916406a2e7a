//! Builder, walker and sizing checked together: the tables are read back the way the MMU
//! reads them.
//!
//! [utest->dsn~stage2-builder~1] [utest->dsn~stage2-walk~1]

extern crate std;

use std::vec::Vec;

use super::*;
use crate::addr::MemoryRegion;

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;
/// A made-up host-physical address for the pool: host tests never give it to hardware.
const POOL_PHYS: PhysAddr = PhysAddr(0x7_0000_0000);

fn pool(tables: usize) -> Vec<Table> {
    (0..tables).map(|_| Table::EMPTY).collect()
}

/// The pool table a table descriptor points to.
fn next_table(tables: &[Table], descriptor: u64) -> &Table {
    assert_eq!(descriptor & 0b11, 0b11, "table descriptor");
    let address = descriptor & 0x0000_ffff_ffff_f000;
    &tables[((address - POOL_PHYS.raw()) / PAGE_SIZE) as usize]
}

/// Asserts that `ipa` translates to `phys` through a descriptor at `level`.
fn assert_maps(builder: &Stage2Builder<'_>, ipa: u64, phys: u64, level: u8) {
    let translation = builder.translate(Ipa(ipa));
    assert_eq!(
        translation.map(|t| (t.phys, t.level)),
        Some((PhysAddr(phys), level)),
        "translating IPA {ipa:#x}"
    );
}

#[test]
fn sixty_four_mib_at_2_mib_aligned_addresses_uses_only_2_mib_blocks() {
    let mut tables = pool(4);
    let mut builder = Stage2Builder::new(&mut tables, POOL_PHYS).unwrap();
    let (ipa, phys) = (0x4020_0000, 0x8_0060_0000);
    builder.map(Ipa(ipa), PhysAddr(phys), 64 * MIB, Stage2Attributes::RAM).unwrap();

    assert_eq!(builder.tables_used(), 2, "root and one level-2 table");
    for offset in (0..64 * MIB).step_by(2 * MIB as usize) {
        assert_maps(&builder, ipa + offset, phys + offset, 2);
    }
    let level_2 = &tables[1];
    let blocks = level_2.entries().iter().filter(|d| **d & 0b11 == 0b01).count();
    let others = level_2.entries().iter().filter(|d| **d & 0b11 != 0b01 && **d != 0).count();
    assert_eq!((blocks, others), (32, 0));
}

#[test]
fn a_gib_aligned_gib_is_one_level_1_block() {
    let mut tables = pool(1);
    let mut builder = Stage2Builder::new(&mut tables, POOL_PHYS).unwrap();
    builder.map(Ipa(GIB), PhysAddr(3 * GIB), GIB, Stage2Attributes::RAM).unwrap();
    assert_eq!(builder.tables_used(), 1);
    assert_maps(&builder, GIB, 3 * GIB, 1);
    assert_maps(&builder, 2 * GIB - 1, 4 * GIB - 1, 1);
}

#[test]
fn a_region_not_aligned_to_2_mib_uses_pages_at_its_edges() {
    let mut tables = pool(8);
    let mut builder = Stage2Builder::new(&mut tables, POOL_PHYS).unwrap();
    // Three pages before a 2 MiB boundary, one 2 MiB block, five pages after it.
    let ipa = 0x4020_0000 - 3 * PAGE_SIZE;
    let phys = 0x9020_0000 - 3 * PAGE_SIZE;
    let size = 3 * PAGE_SIZE + 2 * MIB + 5 * PAGE_SIZE;
    builder.map(Ipa(ipa), PhysAddr(phys), size, Stage2Attributes::RAM).unwrap();

    assert_eq!(builder.tables_used(), 1 + 1 + 2, "root, level 2, a level-3 table per edge");
    for page in 0..3 {
        assert_maps(&builder, ipa + page * PAGE_SIZE, phys + page * PAGE_SIZE, 3);
    }
    assert_maps(&builder, 0x4020_0000, 0x9020_0000, 2);
    for page in 0..5 {
        let offset = 3 * PAGE_SIZE + 2 * MIB + page * PAGE_SIZE;
        assert_maps(&builder, ipa + offset, phys + offset, 3);
    }
}

#[test]
fn a_region_whose_physical_address_is_only_page_aligned_uses_pages_throughout() {
    let mut tables = pool(8);
    let mut builder = Stage2Builder::new(&mut tables, POOL_PHYS).unwrap();
    builder.map(Ipa(0x4000_0000), PhysAddr(0x4000_1000), 4 * MIB, Stage2Attributes::RAM).unwrap();
    assert_eq!(builder.tables_used(), 1 + 1 + 2);
    assert_maps(&builder, 0x4000_0000, 0x4000_1000, 3);
    assert_maps(&builder, 0x403f_f000, 0x4040_0000, 3);
}

#[test]
fn every_byte_of_a_region_translates_and_the_bytes_around_it_do_not() {
    let mut tables = pool(8);
    let mut builder = Stage2Builder::new(&mut tables, POOL_PHYS).unwrap();
    let ipa = 0x4020_0000 - 2 * PAGE_SIZE;
    let phys = 0x6_0020_0000 - 2 * PAGE_SIZE;
    let size = 2 * PAGE_SIZE + 2 * MIB + 2 * PAGE_SIZE;
    builder.map(Ipa(ipa), PhysAddr(phys), size, Stage2Attributes::RAM).unwrap();

    for offset in 0..size {
        let translated = builder.translate(Ipa(ipa + offset)).map(|t| t.phys);
        assert_eq!(translated, Some(PhysAddr(phys + offset)), "IPA {:#x}", ipa + offset);
    }
    assert_eq!(builder.translate(Ipa(ipa - 1)), None);
    assert_eq!(builder.translate(Ipa(ipa + size)), None);
}

#[test]
fn addresses_outside_the_ipa_space_do_not_translate() {
    let mut tables = pool(4);
    let mut builder = Stage2Builder::new(&mut tables, POOL_PHYS).unwrap();
    builder.map(Ipa(IPA_SPACE_SIZE - GIB), PhysAddr(GIB), GIB, Stage2Attributes::RAM).unwrap();
    assert_maps(&builder, IPA_SPACE_SIZE - 1, 2 * GIB - 1, 1);
    // The index bits of IPA_SPACE_SIZE + x alias x's: only the range check stops it.
    assert_eq!(builder.translate(Ipa(IPA_SPACE_SIZE + (IPA_SPACE_SIZE - GIB))), None);
    assert_eq!(builder.translate(Ipa(u64::MAX)), None);
}

#[test]
fn overlapping_mappings_are_refused_and_leave_the_tables_unchanged() {
    let mut tables = pool(16);
    let mut builder = Stage2Builder::new(&mut tables, POOL_PHYS).unwrap();
    builder.map(Ipa(0x4000_0000), PhysAddr(0x4000_0000), 4 * MIB, Stage2Attributes::RAM).unwrap();
    let used = builder.tables_used();

    // Starts in a free page-mapped area and runs into the existing 2 MiB block.
    let straddling = builder.map(
        Ipa(0x4000_0000 - 2 * PAGE_SIZE),
        PhysAddr(0x1000_0000),
        4 * PAGE_SIZE,
        Stage2Attributes::RAM,
    );
    assert_eq!(straddling, Err(Stage2Error::Overlap { ipa: Ipa(0x4000_0000) }));
    assert_eq!(builder.translate(Ipa(0x4000_0000 - 2 * PAGE_SIZE)), None);
    assert_eq!(builder.tables_used(), used);

    // Wholly covers the existing mapping.
    let covering = builder.map(Ipa(0), PhysAddr(0), 2 * GIB, Stage2Attributes::DEVICE);
    assert_eq!(covering, Err(Stage2Error::Overlap { ipa: Ipa(0x4000_0000) }));
    assert_eq!(builder.translate(Ipa(0)), None);

    // The very same mapping twice.
    let again =
        builder.map(Ipa(0x4000_0000), PhysAddr(0x4000_0000), 4 * MIB, Stage2Attributes::RAM);
    assert_eq!(again, Err(Stage2Error::Overlap { ipa: Ipa(0x4000_0000) }));
    assert_eq!(builder.tables_used(), used);
}

#[test]
fn page_level_overlaps_are_found_inside_shared_tables() {
    let mut tables = pool(16);
    let mut builder = Stage2Builder::new(&mut tables, POOL_PHYS).unwrap();
    builder.map(Ipa(0x4000_3000), PhysAddr(0x5000_3000), PAGE_SIZE, Stage2Attributes::RAM).unwrap();
    let overlap =
        builder.map(Ipa(0x4000_0000), PhysAddr(0x6000_0000), 16 * PAGE_SIZE, Stage2Attributes::RAM);
    assert_eq!(overlap, Err(Stage2Error::Overlap { ipa: Ipa(0x4000_3000) }));
    assert_eq!(builder.translate(Ipa(0x4000_0000)), None);
}

#[test]
fn adjacent_regions_share_tables() {
    let mut tables = pool(8);
    let mut builder = Stage2Builder::new(&mut tables, POOL_PHYS).unwrap();
    builder.map(Ipa(0x4000_0000), PhysAddr(0x4000_0000), 0x1000, Stage2Attributes::RAM).unwrap();
    builder.map(Ipa(0x4000_1000), PhysAddr(0x9000_0000), 0x1000, Stage2Attributes::DEVICE).unwrap();
    assert_eq!(builder.tables_used(), 3);
    assert_maps(&builder, 0x4000_0fff, 0x4000_0fff, 3);
    assert_maps(&builder, 0x4000_1000, 0x9000_0000, 3);
}

#[test]
fn device_and_normal_memory_are_encoded_as_asked() {
    let mut tables = pool(8);
    let mut builder = Stage2Builder::new(&mut tables, POOL_PHYS).unwrap();
    builder
        .map(Ipa(0x0900_0000), PhysAddr(0x0900_0000), PAGE_SIZE, Stage2Attributes::DEVICE)
        .unwrap();
    builder.map(Ipa(0x4000_0000), PhysAddr(0x4000_0000), 2 * MIB, Stage2Attributes::RAM).unwrap();

    let device = builder.translate(Ipa(0x0900_0010)).unwrap();
    assert_eq!(device.attributes, Stage2Attributes::DEVICE);
    let ram = builder.translate(Ipa(0x4000_0010)).unwrap();
    assert_eq!(ram.attributes, Stage2Attributes::RAM);

    // The raw descriptors. The UART: root[0] -> level 2 [0x48] -> level 3 [0].
    let level_2 = next_table(&tables, tables[0].entries()[0]);
    let page = next_table(&tables, level_2.entries()[0x48]).entries()[0];
    assert_eq!(page & 0b11, 0b11, "valid page descriptor");
    assert_eq!(page & 0x0000_ffff_ffff_f000, 0x0900_0000);
    assert_eq!((page >> 2) & 0b1111, 0b0001, "MemAttr Device-nGnRE");
    assert_eq!((page >> 54) & 1, 1, "XN");
    // The RAM: root[1] -> level 2 [0], a block.
    let block = next_table(&tables, tables[0].entries()[1]).entries()[0];
    assert_eq!(block & 0b11, 0b01, "valid block descriptor");
    assert_eq!(block & 0x0000_ffff_ffff_f000, 0x4000_0000);
    assert_eq!((block >> 2) & 0b1111, 0b1111, "MemAttr Normal Write-Back");
    assert_eq!((block >> 8) & 0b11, 0b11, "SH Inner Shareable");
    assert_eq!((block >> 54) & 1, 0, "executable");
}

#[test]
fn read_only_mappings_read_back_as_read_only() {
    let mut tables = pool(4);
    let mut builder = Stage2Builder::new(&mut tables, POOL_PHYS).unwrap();
    let read_only = Stage2Attributes { access: Access::ReadOnly, ..Stage2Attributes::RAM };
    builder.map(Ipa(0x4000_0000), PhysAddr(0x4000_0000), 2 * MIB, read_only).unwrap();
    let translation = builder.translate(Ipa(0x4000_0000)).unwrap();
    assert_eq!(translation.attributes.access, Access::ReadOnly);
    let level_2 = &tables[1];
    assert_eq!((level_2.entries()[0] >> 6) & 0b11, 0b01, "S2AP read-only");
}

#[test]
fn a_full_pool_refuses_the_mapping_without_writing_and_still_takes_ones_that_fit() {
    let mut tables = pool(2);
    let mut builder = Stage2Builder::new(&mut tables, POOL_PHYS).unwrap();
    // One page needs a level-2 and a level-3 table: two more than the one left.
    let refused =
        builder.map(Ipa(0x4000_0000), PhysAddr(0x4000_0000), PAGE_SIZE, Stage2Attributes::RAM);
    assert_eq!(refused, Err(Stage2Error::PoolExhausted { capacity: 2, needed: 2 }));
    assert_eq!(builder.tables_used(), 1);
    assert_eq!(builder.translate(Ipa(0x4000_0000)), None);

    builder.map(Ipa(0x4000_0000), PhysAddr(0x4000_0000), 2 * MIB, Stage2Attributes::RAM).unwrap();
    assert_eq!(builder.tables_used(), 2);
}

#[test]
fn malformed_requests_are_refused() {
    let mut tables = pool(4);
    let mut builder = Stage2Builder::new(&mut tables, POOL_PHYS).unwrap();
    let ram = Stage2Attributes::RAM;
    assert_eq!(
        builder.map(Ipa(0x4000_0000), PhysAddr(0), 0, ram),
        Err(Stage2Error::EmptyRegion { ipa: Ipa(0x4000_0000) })
    );
    for (ipa, phys, size) in
        [(0x4000_0800, 0, 0x1000), (0x4000_0000, 0x10, 0x1000), (0x4000_0000, 0, 0x1800)]
    {
        assert_eq!(
            builder.map(Ipa(ipa), PhysAddr(phys), size, ram),
            Err(Stage2Error::Misaligned { ipa: Ipa(ipa), phys: PhysAddr(phys), size })
        );
    }
    let beyond = builder.map(Ipa(IPA_SPACE_SIZE - PAGE_SIZE), PhysAddr(0), 2 * PAGE_SIZE, ram);
    assert_eq!(
        beyond,
        Err(Stage2Error::OutsideIpaSpace {
            ipa: Ipa(IPA_SPACE_SIZE - PAGE_SIZE),
            size: 2 * PAGE_SIZE
        })
    );
    let wrapping = builder.map(Ipa(u64::MAX - 0xfff), PhysAddr(0), 2 * PAGE_SIZE, ram);
    assert!(matches!(wrapping, Err(Stage2Error::OutsideIpaSpace { .. })));
    let too_high = builder.map(Ipa(0), PhysAddr((1 << 48) - PAGE_SIZE), 2 * PAGE_SIZE, ram);
    assert!(matches!(too_high, Err(Stage2Error::OutsideOutputAddressRange { .. })));
    assert_eq!(builder.tables_used(), 1);
}

#[test]
fn unusable_pools_are_refused() {
    let mut tables = pool(1);
    assert!(matches!(
        Stage2Builder::new(&mut tables, PhysAddr(0x7000_0800)),
        Err(Stage2Error::PoolMisaligned { .. })
    ));
    assert!(matches!(
        Stage2Builder::new(&mut tables, PhysAddr(1 << 48)),
        Err(Stage2Error::OutsideOutputAddressRange { .. })
    ));
    assert!(matches!(
        Stage2Builder::new(&mut [], POOL_PHYS),
        Err(Stage2Error::PoolExhausted { capacity: 0, needed: 1 })
    ));
}

#[test]
fn a_reused_pool_starts_empty() {
    let mut tables = pool(4);
    {
        let mut builder = Stage2Builder::new(&mut tables, POOL_PHYS).unwrap();
        builder
            .map(Ipa(0x4000_0000), PhysAddr(0x4000_0000), PAGE_SIZE, Stage2Attributes::RAM)
            .unwrap();
    }
    let mut builder = Stage2Builder::new(&mut tables, POOL_PHYS).unwrap();
    assert_eq!(builder.translate(Ipa(0x4000_0000)), None);
    builder.map(Ipa(0x4000_0000), PhysAddr(0x5000_0000), PAGE_SIZE, Stage2Attributes::RAM).unwrap();
    assert_maps(&builder, 0x4000_0000, 0x5000_0000, 3);
}

#[test]
fn the_walker_faults_like_hardware_on_access_flag_and_reserved_encodings() {
    let mut tables = pool(4);
    let root = {
        let mut builder = Stage2Builder::new(&mut tables, POOL_PHYS).unwrap();
        builder
            .map(Ipa(0x4000_0000), PhysAddr(0x4000_0000), 2 * PAGE_SIZE, Stage2Attributes::RAM)
            .unwrap();
        builder.root()
    };
    assert!(translate(&tables, POOL_PHYS, root, Ipa(0x4000_1000)).is_some());
    // Level-3 table is the third in the pool.
    tables[2].entries[0] &= !(1 << 10);
    assert_eq!(translate(&tables, POOL_PHYS, root, Ipa(0x4000_0000)), None, "access flag clear");
    tables[2].entries[1] &= !0b10;
    assert_eq!(
        translate(&tables, POOL_PHYS, root, Ipa(0x4000_1000)),
        None,
        "reserved level-3 encoding"
    );
    // A table descriptor pointing outside the pool ends the walk.
    tables[1].entries[0] = (POOL_PHYS.raw() + 100 * PAGE_SIZE) | 0b11;
    assert_eq!(translate(&tables, POOL_PHYS, root, Ipa(0x4000_1000)), None);
}

/// xorshift64*: a deterministic stream of test inputs.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }
}

/// A page-aligned region near interesting boundaries, with an IPA-to-PA offset aligned to
/// 1 GiB, 2 MiB or only 4 KiB.
fn random_region(random: &mut Random) -> Option<MemoryRegion> {
    let gib = 1 + random.below(500);
    let ipa = match random.below(4) {
        // Just below a GiB boundary, by pages or by 2 MiB blocks: straddles it.
        0 => gib * GIB - (1 + random.below(700)) * PAGE_SIZE,
        1 => gib * GIB - (1 + random.below(8)) * 2 * MIB,
        // Just below a 2 MiB boundary.
        2 => {
            gib * GIB + random.below(511) * 2 * MIB + 2 * MIB - (1 + random.below(511)) * PAGE_SIZE
        }
        _ => gib * GIB,
    };
    let size = match random.below(4) {
        0 => (1 + random.below(1200)) * PAGE_SIZE,
        1 => (1 + random.below(40)) * 2 * MIB + random.below(3) * PAGE_SIZE,
        2 => GIB + random.below(3) * 2 * MIB + random.below(3) * PAGE_SIZE,
        _ => GIB - random.below(2) * PAGE_SIZE,
    };
    let offset_in_gib = match random.below(3) {
        0 => 0,
        1 => random.below(512) * 2 * MIB,
        _ => random.below(512 * 512) * PAGE_SIZE,
    };
    let phys = (random.below(1 << 10) * GIB) + (ipa % GIB) + offset_in_gib;
    let region = MemoryRegion { ipa: Ipa(ipa), phys: PhysAddr(phys), size };
    (ipa + size <= IPA_SPACE_SIZE).then_some(region)
}

fn overlaps(a: &MemoryRegion, b: &MemoryRegion) -> bool {
    a.ipa.raw() < b.ipa.raw() + b.size && b.ipa.raw() < a.ipa.raw() + a.size
}

// [utest->dsn~stage2-sizing~1]
#[test]
fn tables_needed_is_exact_for_one_region_and_enough_for_several() {
    let mut random = Random(0x9e37_79b9_7f4a_7c15);
    let mut sets_checked = 0;
    while sets_checked < 150 {
        let mut regions: Vec<MemoryRegion> = Vec::new();
        for _ in 0..1 + random.below(4) {
            let Some(region) = random_region(&mut random) else { continue };
            if !regions.iter().any(|other| overlaps(other, &region)) {
                regions.push(region);
            }
        }
        if regions.is_empty() {
            continue;
        }
        sets_checked += 1;

        let bound = tables_needed(&regions);
        let mut tables = pool(bound);
        let mut builder = Stage2Builder::new(&mut tables, POOL_PHYS).unwrap();
        for region in &regions {
            let result = builder.map(region.ipa, region.phys, region.size, Stage2Attributes::RAM);
            assert_eq!(result, Ok(()), "mapping {region:?} of {regions:?} into {bound} tables");
        }
        if regions.len() == 1 {
            assert_eq!(builder.tables_used(), bound, "{regions:?}");
        }
        for region in &regions {
            let (ipa, phys, size) = (region.ipa.raw(), region.phys.raw(), region.size);
            for offset in [0, size - 1, random.below(size)] {
                let translated = builder.translate(Ipa(ipa + offset)).map(|t| t.phys);
                assert_eq!(translated, Some(PhysAddr(phys + offset)), "{region:?}");
            }
            for outside in [ipa - 1, ipa + size] {
                if !regions.iter().any(|other| other.contains_ipa(Ipa(outside), 1)) {
                    assert_eq!(builder.translate(Ipa(outside)), None, "{outside:#x}");
                }
            }
        }
    }
}
