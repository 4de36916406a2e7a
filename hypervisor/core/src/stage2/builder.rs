//! Builds one partition's stage-2 tables in a pool of tables the caller owns.
//!
//! A mapping is laid down chunk by chunk from its first IPA: each chunk is the largest
//! block or page that fits at the current address, and each is reached by a walk from the
//! root that is at most three levels deep. Every mapping is done in two passes: the first
//! checks for overlaps and counts the tables the mapping will add, the second writes. So a
//! refused mapping leaves the tables exactly as they were.

use super::attributes::{OUTPUT_ADDRESS_LIMIT, OUTPUT_ADDRESS_MASK, TABLE_OR_PAGE, VALID};
use super::sizing::tables_below_slot;
use super::walk::{self, Translation};
use super::{IPA_SPACE_SIZE, Level, PAGE_SIZE, Stage2Attributes, Stage2Error, Table};
use crate::addr::{Ipa, PhysAddr};

/// Index of the root table in the pool.
const ROOT_TABLE: usize = 0;

/// Maps guest regions into stage-2 tables held in a caller-provided pool.
///
/// The root table is `pool[0]`; further tables are taken from the pool in order.
// [impl->dsn~stage2-builder~1]
pub struct Stage2Builder<'pool> {
    /// The tables: the root first, then those in use, then free ones.
    pool: &'pool mut [Table],
    /// Host-physical address of `pool[0]`.
    pool_phys: PhysAddr,
    /// Tables of the pool in use, root included.
    tables_used: usize,
}

/// A validated request: map `start .. end` to `start + offset ..` with `leaf_bits`.
struct Mapping {
    /// First IPA.
    start: u64,
    /// First IPA past the mapping.
    end: u64,
    /// Physical minus IPA address, wrapping.
    offset: u64,
    /// Attribute bits of every block and page descriptor of the mapping.
    leaf_bits: u64,
}

impl Mapping {
    /// Checks a request against the regime's limits.
    fn new(
        ipa: Ipa,
        phys: PhysAddr,
        size: u64,
        attributes: Stage2Attributes,
    ) -> Result<Self, Stage2Error> {
        if size == 0 {
            return Err(Stage2Error::EmptyRegion { ipa });
        }
        if !ipa.is_aligned(PAGE_SIZE) || !phys.is_aligned(PAGE_SIZE) || size % PAGE_SIZE != 0 {
            return Err(Stage2Error::Misaligned { ipa, phys, size });
        }
        let end = match ipa.raw().checked_add(size) {
            Some(end) if end <= IPA_SPACE_SIZE => end,
            Some(_) | None => return Err(Stage2Error::OutsideIpaSpace { ipa, size }),
        };
        match phys.raw().checked_add(size) {
            Some(phys_end) if phys_end <= OUTPUT_ADDRESS_LIMIT => {}
            Some(_) | None => return Err(Stage2Error::OutsideOutputAddressRange { phys, size }),
        }
        Ok(Self {
            start: ipa.raw(),
            end,
            offset: phys.raw().wrapping_sub(ipa.raw()),
            leaf_bits: attributes.descriptor_bits(),
        })
    }

    /// Whether the mapping can map the whole `level` slot starting at `ipa` with one block
    /// or page: `ipa` starts the slot, the slot ends inside the mapping, and the output
    /// address is aligned to the slot size (Arm ARM D8.3: a block's output address is
    /// aligned to its size).
    const fn fits_leaf(&self, ipa: u64, level: Level) -> bool {
        let mask = level.offset_mask();
        ipa & mask == 0 && self.offset & mask == 0 && level.span_end(ipa) <= self.end
    }

    /// A block (levels 1–2) or page (level 3) descriptor mapping the slot at `ipa`.
    const fn leaf_descriptor(&self, ipa: u64, level: Level) -> u64 {
        let kind = match level {
            Level::One | Level::Two => VALID,
            Level::Three => VALID | TABLE_OR_PAGE,
        };
        (ipa.wrapping_add(self.offset) & OUTPUT_ADDRESS_MASK) | self.leaf_bits | kind
    }
}

/// What a descriptor currently holds, as far as building is concerned.
enum Slot {
    /// Invalid: free to use.
    Invalid,
    /// A block or page (or a reserved encoding, which is never overwritten either).
    Leaf,
    /// A table descriptor.
    Table {
        /// Address of the next-level table.
        address: PhysAddr,
        /// Its level.
        level: Level,
    },
}

impl Slot {
    /// Classifies a descriptor found in a table at `level`.
    const fn classify(descriptor: u64, level: Level) -> Self {
        if descriptor & VALID == 0 {
            return Slot::Invalid;
        }
        match level.next() {
            Some(next) if descriptor & TABLE_OR_PAGE != 0 => {
                Slot::Table { address: PhysAddr(descriptor & OUTPUT_ADDRESS_MASK), level: next }
            }
            Some(_) | None => Slot::Leaf,
        }
    }
}

impl<'pool> Stage2Builder<'pool> {
    /// Starts empty tables in `pool`, whose first table is at host-physical `pool_phys`.
    ///
    /// At EL2 the image is identity-mapped, so `pool_phys` is the pool's own address.
    pub fn new(pool: &'pool mut [Table], pool_phys: PhysAddr) -> Result<Self, Stage2Error> {
        if !pool_phys.is_aligned(PAGE_SIZE) {
            return Err(Stage2Error::PoolMisaligned { pool_phys });
        }
        let pool_bytes = u64::try_from(pool.len()).unwrap_or(u64::MAX).saturating_mul(PAGE_SIZE);
        match pool_phys.checked_add(pool_bytes) {
            Some(pool_end) if pool_end.raw() <= OUTPUT_ADDRESS_LIMIT => {}
            Some(_) | None => {
                return Err(Stage2Error::OutsideOutputAddressRange {
                    phys: pool_phys,
                    size: pool_bytes,
                });
            }
        }
        let Some(root) = pool.first_mut() else {
            return Err(Stage2Error::PoolExhausted { capacity: 0, needed: 1 });
        };
        *root = Table::EMPTY;
        Ok(Self { pool, pool_phys, tables_used: 1 })
    }

    /// Host-physical address of the root table, for `VTTBR_EL2`.
    pub fn root(&self) -> PhysAddr {
        self.pool_phys
    }

    /// Tables of the pool in use, root included.
    pub fn tables_used(&self) -> usize {
        self.tables_used
    }

    /// Maps `size` bytes at guest `ipa` to host `phys` with `attributes`, using the largest
    /// blocks the alignment of both addresses allows.
    ///
    /// Refused, with nothing written, when the request is empty or not 4 KiB aligned, leaves
    /// the IPA space or the output-address range, overlaps an existing mapping, or needs
    /// more tables than the pool has left.
    pub fn map(
        &mut self,
        ipa: Ipa,
        phys: PhysAddr,
        size: u64,
        attributes: Stage2Attributes,
    ) -> Result<(), Stage2Error> {
        let mapping = Mapping::new(ipa, phys, size, attributes)?;
        let needed = self.tables_to_add(&mapping)?;
        let available = self.pool.len().saturating_sub(self.tables_used);
        if needed > u64::try_from(available).unwrap_or(u64::MAX) {
            return Err(Stage2Error::PoolExhausted {
                capacity: self.pool.len(),
                needed: usize::try_from(needed).unwrap_or(usize::MAX),
            });
        }
        let mut cursor = mapping.start;
        // BOUND: each chunk maps at least one page, so at most `size / 4 KiB` iterations.
        while cursor < mapping.end {
            cursor = self.install_chunk(cursor, &mapping)?;
        }
        Ok(())
    }

    /// Translates `ipa` through the tables built so far, as the hardware would.
    pub fn translate(&self, ipa: Ipa) -> Option<Translation> {
        walk::translate(self.pool, self.pool_phys, self.root(), ipa)
    }

    /// Checks the whole mapping for overlaps and counts the tables it will add.
    fn tables_to_add(&self, mapping: &Mapping) -> Result<u64, Stage2Error> {
        let mut needed: u64 = 0;
        let mut cursor = mapping.start;
        // BOUND: each step covers at least one page, so at most `size / 4 KiB` iterations.
        while cursor < mapping.end {
            let (next, tables) = self.check_chunk(cursor, mapping)?;
            needed = needed.saturating_add(tables);
            cursor = next;
        }
        Ok(needed)
    }

    /// Walks from the root for `cursor` without writing. Returns the first IPA not yet
    /// checked and the tables needed for `cursor` up to it: either one block or page, or,
    /// where the walk meets an invalid slot that needs a table, the mapping's whole part of
    /// that slot (the tables below it are all new, so they are counted in closed form).
    fn check_chunk(&self, cursor: u64, mapping: &Mapping) -> Result<(u64, u64), Stage2Error> {
        let mut table = ROOT_TABLE;
        let mut level = Level::One;
        // BOUND: each iteration goes one level down; there are three levels.
        loop {
            let part_end = level.span_end(cursor).min(mapping.end);
            match Slot::classify(self.entry(table, level, cursor)?, level) {
                Slot::Invalid if mapping.fits_leaf(cursor, level) => {
                    return Ok((self.free_leaf_run_end(table, level, cursor, mapping)?, 0));
                }
                Slot::Invalid => {
                    let tables = tables_below_slot(cursor, part_end, mapping.offset, level);
                    return Ok((part_end, tables));
                }
                Slot::Leaf => return Err(Stage2Error::Overlap { ipa: Ipa(cursor) }),
                Slot::Table { address, level: next } => {
                    table = self.table_index(address)?;
                    level = next;
                }
            }
        }
    }

    /// Walks from the root for `cursor`, creating tables on the way, and writes the block
    /// or page descriptor mapping the largest chunk that fits there. Returns the first IPA
    /// after that chunk.
    fn install_chunk(&mut self, cursor: u64, mapping: &Mapping) -> Result<u64, Stage2Error> {
        let mut table = ROOT_TABLE;
        let mut level = Level::One;
        // BOUND: each iteration goes one level down; there are three levels.
        loop {
            let descriptor = self.entry(table, level, cursor)?;
            let (next_table, next_level) = match (Slot::classify(descriptor, level), level.next()) {
                // Level 3 has no next level: its slots always take a page.
                (Slot::Invalid, None) => return self.write_leaves(table, level, cursor, mapping),
                (Slot::Invalid, Some(_)) if mapping.fits_leaf(cursor, level) => {
                    return self.write_leaves(table, level, cursor, mapping);
                }
                (Slot::Invalid, Some(next_level)) => {
                    let new_table = self.allocate_table()?;
                    let table_entry = table_descriptor(self.table_phys(new_table));
                    *self.entry_mut(table, level, cursor)? = table_entry;
                    (new_table, next_level)
                }
                (Slot::Leaf, _) => return Err(Stage2Error::Overlap { ipa: Ipa(cursor) }),
                (Slot::Table { address, level: next_level }, _) => {
                    (self.table_index(address)?, next_level)
                }
            };
            table = next_table;
            level = next_level;
        }
    }

    /// From `start`, whose slot in pool table `table` (of `level`) is free and fits a leaf,
    /// the end of the run of such slots in that table: the walk for the next chunk would
    /// end in the same table, so the check can go on from here.
    fn free_leaf_run_end(
        &self,
        table: usize,
        level: Level,
        start: u64,
        mapping: &Mapping,
    ) -> Result<u64, Stage2Error> {
        let table_end = level.table_span_end(start).min(mapping.end);
        let mut cursor = start;
        // BOUND: one iteration per descriptor of one table: at most 512.
        while cursor < table_end && self.is_free_leaf_slot(table, level, cursor, mapping)? {
            cursor = level.span_end(cursor);
        }
        Ok(cursor)
    }

    /// From `start`, whose slot in pool table `table` (of `level`) is free and fits a leaf,
    /// writes block or page descriptors for the run of such slots in that table. Returns
    /// the first IPA after them.
    fn write_leaves(
        &mut self,
        table: usize,
        level: Level,
        start: u64,
        mapping: &Mapping,
    ) -> Result<u64, Stage2Error> {
        // The run is the one the check walks: each slot is judged on its own descriptor,
        // so writing one leaf does not change whether the next slot belongs to the run.
        let run_end = self.free_leaf_run_end(table, level, start, mapping)?;
        let mut cursor = start;
        // BOUND: one iteration per descriptor of one table: at most 512.
        while cursor < run_end {
            *self.entry_mut(table, level, cursor)? = mapping.leaf_descriptor(cursor, level);
            cursor = level.span_end(cursor);
        }
        Ok(run_end)
    }

    /// Whether the slot for `ipa` in pool table `table` (of `level`) is invalid and the
    /// mapping can fill it with one block or page.
    fn is_free_leaf_slot(
        &self,
        table: usize,
        level: Level,
        ipa: u64,
        mapping: &Mapping,
    ) -> Result<bool, Stage2Error> {
        let free = matches!(Slot::classify(self.entry(table, level, ipa)?, level), Slot::Invalid);
        Ok(free && (level == Level::Three || mapping.fits_leaf(ipa, level)))
    }

    /// The descriptor for `ipa` in pool table `table` (of `level`).
    fn entry(&self, table: usize, level: Level, ipa: u64) -> Result<u64, Stage2Error> {
        self.pool
            .get(table)
            .and_then(|tables| tables.entries.get(level.index(ipa)))
            .copied()
            .ok_or(Stage2Error::TableOutsidePool { table: self.table_phys(table) })
    }

    /// The descriptor for `ipa` in pool table `table` (of `level`), to write.
    fn entry_mut(&mut self, table: usize, level: Level, ipa: u64) -> Result<&mut u64, Stage2Error> {
        let address = self.table_phys(table);
        self.pool
            .get_mut(table)
            .and_then(|tables| tables.entries.get_mut(level.index(ipa)))
            .ok_or(Stage2Error::TableOutsidePool { table: address })
    }

    /// Takes the next free table of the pool, cleared.
    fn allocate_table(&mut self) -> Result<usize, Stage2Error> {
        let index = self.tables_used;
        let table = self
            .pool
            .get_mut(index)
            .ok_or(Stage2Error::PoolExhausted { capacity: index, needed: 1 })?;
        *table = Table::EMPTY;
        self.tables_used = index.saturating_add(1);
        Ok(index)
    }

    /// Host-physical address of pool table `index`. No overflow: [`new`](Self::new) checked
    /// that the whole pool lies below 2^48.
    fn table_phys(&self, index: usize) -> PhysAddr {
        let offset = u64::try_from(index).unwrap_or(u64::MAX).saturating_mul(PAGE_SIZE);
        PhysAddr(self.pool_phys.raw().saturating_add(offset))
    }

    /// Pool index of the in-use table at `address`.
    fn table_index(&self, address: PhysAddr) -> Result<usize, Stage2Error> {
        let outside = Stage2Error::TableOutsidePool { table: address };
        let offset = address.raw().checked_sub(self.pool_phys.raw()).ok_or(outside)?;
        let index = usize::try_from(offset / PAGE_SIZE).map_err(|_| outside)?;
        if offset % PAGE_SIZE == 0 && index < self.tables_used { Ok(index) } else { Err(outside) }
    }
}

/// A table descriptor pointing to the table at `table`. Its upper attributes (`NSTable`,
/// `APTable`, `XNTable`, `PXNTable`) do not exist at stage 2 and stay 0.
const fn table_descriptor(table: PhysAddr) -> u64 {
    (table.raw() & OUTPUT_ADDRESS_MASK) | TABLE_OR_PAGE | VALID
}
