//! How each partition's memory is mapped at stage 2: bytes behind 1 GiB blocks, 2 MiB blocks
//! and 4 KiB pages.
//!
//! Large blocks mean fewer TLB entries and shorter walks for the guest (published
//! measurements put the guest slowdown about ten times lower with 2 MiB blocks than with
//! 4 KiB pages). The mix is not estimated: the partition's stage-2 regions (the same list the
//! config compiler emits for the image) are mapped with `bulkhead_core::stage2`, the builder
//! the image runs at boot, and the resulting tables are walked with its own walker.

use bulkhead_config::SystemSpec;
use bulkhead_core::addr::PhysAddr;
use bulkhead_core::stage2::{
    PAGE_SIZE, Stage2Attributes, Stage2Builder, Stage2Error, Table, tables_needed, translate,
};
use serde::{Deserialize, Serialize};

/// Where the host-side table pool pretends to live. The walker only needs table addresses
/// to be consistent with the pool; any 4 KiB-aligned address in the output range will do.
const HOST_POOL_ADDRESS: PhysAddr = PhysAddr(0x1_0000_0000);

/// The mapping of one partition.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionMapping {
    /// Partition name.
    pub partition: String,
    /// Bytes mapped by 1 GiB level-1 blocks.
    pub block_1gib: u64,
    /// Bytes mapped by 2 MiB level-2 blocks.
    pub block_2mib: u64,
    /// Bytes mapped by 4 KiB level-3 pages.
    pub page_4kib: u64,
    /// Translation tables used, root included.
    pub tables: usize,
}

impl PartitionMapping {
    /// All mapped bytes.
    pub fn total(&self) -> u64 {
        self.block_1gib + self.block_2mib + self.page_4kib
    }
}

/// Why a partition's stage 2 could not be built on the host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MappingError {
    /// The partition.
    pub partition: String,
    /// What the builder said.
    pub error: Stage2Error,
}

/// The mapping mix of every partition of `spec`.
pub fn mix(spec: &SystemSpec) -> Result<Vec<PartitionMapping>, MappingError> {
    spec.partitions()
        .iter()
        .map(|partition| {
            let regions = partition.stage2_regions(spec.channels());
            // stage2_regions lists RAM first, then the device pages, then the rest.
            let device_range = 1..1 + partition.device_pages.len();
            let mapping = map_regions(&partition.name, &regions, |index| {
                if device_range.contains(&index) {
                    Stage2Attributes::DEVICE
                } else {
                    Stage2Attributes::RAM
                }
            });
            mapping.map_err(|error| MappingError {
                partition: partition.name.clone(),
                error,
            })
        })
        .collect()
}

/// Maps `regions` into fresh tables sized as the image sizes them, then walks every region.
pub fn map_regions(
    name: &str,
    regions: &[bulkhead_core::addr::MemoryRegion],
    attributes_of: impl Fn(usize) -> Stage2Attributes,
) -> Result<PartitionMapping, Stage2Error> {
    let mut pool: Vec<Table> = (0..tables_needed(regions)).map(|_| Table::EMPTY).collect();
    let mut builder = Stage2Builder::new(&mut pool, HOST_POOL_ADDRESS)?;
    for (index, region) in regions.iter().enumerate() {
        builder.map(region.ipa, region.phys, region.size, attributes_of(index))?;
    }
    let root = builder.root();
    let tables = builder.tables_used();
    let mut mapping = PartitionMapping {
        partition: name.to_owned(),
        tables,
        ..PartitionMapping::default()
    };
    for region in regions {
        let end = region.ipa.raw() + region.size;
        let mut ipa = region.ipa.raw();
        // BOUND: each step advances by at least one page, to the end of the region.
        while ipa < end {
            let level = translate(
                &pool,
                HOST_POOL_ADDRESS,
                root,
                bulkhead_core::addr::Ipa(ipa),
            )
            .map_or(3, |translation| translation.level);
            let span = match level {
                1 => 1 << 30,
                2 => 1 << 21,
                _ => PAGE_SIZE,
            };
            let next = ((ipa / span) + 1) * span;
            let bytes = next.min(end) - ipa;
            match level {
                1 => mapping.block_1gib += bytes,
                2 => mapping.block_2mib += bytes,
                _ => mapping.page_4kib += bytes,
            }
            ipa = next;
        }
    }
    Ok(mapping)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bulkhead_core::addr::{Ipa, MemoryRegion};

    #[test]
    fn aligned_memory_gets_blocks_and_the_ragged_edges_pages() {
        let regions = [
            // 1 GiB-aligned on both sides: one 1 GiB block.
            MemoryRegion {
                ipa: Ipa(0x4000_0000),
                phys: PhysAddr(0x8000_0000),
                size: 1 << 30,
            },
            // 2 MiB + 8 KiB at a 2 MiB boundary: one block, two pages.
            MemoryRegion {
                ipa: Ipa(0x1_0000_0000),
                phys: PhysAddr(0x2_0000_0000),
                size: (2 << 20) + 0x2000,
            },
        ];
        let mapping = map_regions("p", &regions, |_| Stage2Attributes::RAM).expect("valid regions");
        assert_eq!(mapping.block_1gib, 1 << 30);
        assert_eq!(mapping.block_2mib, 2 << 20);
        assert_eq!(mapping.page_4kib, 0x2000);
        assert_eq!(
            mapping.total(),
            regions.iter().map(|region| region.size).sum::<u64>()
        );
        assert!(mapping.tables >= 3);
    }

    #[test]
    fn misaligned_offsets_force_pages() {
        let regions = [MemoryRegion {
            ipa: Ipa(0x4000_0000),
            phys: PhysAddr(0x4200_1000),
            size: 4 << 20,
        }];
        let mapping = map_regions("p", &regions, |_| Stage2Attributes::RAM).expect("valid region");
        assert_eq!(mapping.page_4kib, 4 << 20);
        assert_eq!(mapping.block_2mib + mapping.block_1gib, 0);
    }
}
