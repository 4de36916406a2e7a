//! Stage-2 translation tables: how each partition's guest-physical addresses (IPAs) reach
//! host-physical memory.
//!
//! Stage 2 is the isolation boundary between partitions: a guest can touch exactly what its
//! tables map and nothing else. The tables are built once, before a partition first runs,
//! from the static system description, into a pool of tables the caller owns (a `static`
//! sized with [`tables_needed`]), so nothing is allocated and nothing can run out at run time.
//!
//! The translation regime is fixed (Arm ARM D8, VMSAv8-64 stage 2 with the 4 KiB granule):
//! a 39-bit IPA space (`VTCR_EL2.T0SZ` = 25) whose walk starts at level 1 with a single
//! 4 KiB root table (`VTCR_EL2.SL0` = 0b01), blocks of 1 GiB at level 1 and 2 MiB at
//! level 2, and 4 KiB pages at level 3. `HCR_EL2.FWB` is assumed to be 0, which is what
//! gives the descriptors' `MemAttr` field the meaning used here.
//!
//! Invariants: the builder never overwrites a valid descriptor (overlaps are errors), it
//! checks that a mapping fits in the pool before writing anything, and every table a
//! descriptor points to lies in the pool.

mod attributes;
mod builder;
mod registers;
mod sizing;
mod walk;

#[cfg(test)]
mod tests;

pub use attributes::{Access, MemoryType, Stage2Attributes};
pub use builder::Stage2Builder;
pub use registers::{physical_address_bits, vtcr_el2, vttbr_el2};
pub use sizing::tables_needed;
pub use walk::{Translation, translate};

use crate::addr::{Ipa, PhysAddr};

/// Size of the translation granule, of a level-3 page and of one table.
pub const PAGE_SIZE: u64 = 4096;
/// Width of the IPA space every partition gets.
pub const IPA_BITS: u32 = 39;
/// Size of the IPA space: the IPAs stage 2 can translate are `0 .. IPA_SPACE_SIZE`.
pub const IPA_SPACE_SIZE: u64 = 1 << IPA_BITS;
/// Descriptors per table: a 4 KiB table of 8-byte descriptors.
pub const ENTRIES_PER_TABLE: usize = 512;

/// A lookup level of this regime's walk (Arm ARM D8.2, "Translation using the 4KB
/// granule"): each resolves 9 IPA bits above the 12-bit page offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Level {
    /// The root table; its descriptors map 1 GiB each, as blocks or as level-2 tables.
    One,
    /// Descriptors map 2 MiB each, as blocks or as level-3 tables.
    Two,
    /// Descriptors map 4 KiB pages.
    Three,
}

impl Level {
    /// The level number, 1 to 3.
    const fn number(self) -> u8 {
        match self {
            Level::One => 1,
            Level::Two => 2,
            Level::Three => 3,
        }
    }

    /// Bit position of the IPA bits this level resolves: its entries span `1 << shift`.
    const fn shift(self) -> u32 {
        match self {
            Level::One => 30,
            Level::Two => 21,
            Level::Three => 12,
        }
    }

    /// The offset bits within one entry's span: `entry_size() - 1`.
    const fn offset_mask(self) -> u64 {
        match self {
            Level::One => (1 << 30) - 1,
            Level::Two => (1 << 21) - 1,
            Level::Three => (1 << 12) - 1,
        }
    }

    /// Index of the descriptor for `ipa` in a table at this level.
    const fn index(self, ipa: u64) -> usize {
        ((ipa >> self.shift()) & 0x1ff) as usize
    }

    /// First IPA after the entry span containing `ipa` (saturating at the top of the
    /// 64-bit space, far above any IPA this regime takes).
    const fn span_end(self, ipa: u64) -> u64 {
        (ipa | self.offset_mask()).saturating_add(1)
    }

    /// First IPA after the span of the whole table at this level that holds the descriptor
    /// for `ipa` (the root table spans the IPA space).
    const fn table_span_end(self, ipa: u64) -> u64 {
        match self {
            Level::One => IPA_SPACE_SIZE,
            Level::Two => Level::One.span_end(ipa),
            Level::Three => Level::Two.span_end(ipa),
        }
    }

    /// The level a table descriptor at this level points to.
    const fn next(self) -> Option<Level> {
        match self {
            Level::One => Some(Level::Two),
            Level::Two => Some(Level::Three),
            Level::Three => None,
        }
    }
}

/// One 4 KiB translation table, aligned as the hardware requires.
///
/// The EL2 image declares the pool, e.g. `[Table::EMPTY; tables_needed(REGIONS)]`, and lends
/// it to a [`Stage2Builder`].
#[repr(C, align(4096))]
pub struct Table {
    /// The descriptors, indexed by the IPA bits the table's level resolves.
    entries: [u64; ENTRIES_PER_TABLE],
}

impl Table {
    /// A table whose descriptors are all invalid.
    pub const EMPTY: Table = Table { entries: [0; ENTRIES_PER_TABLE] };

    /// The raw descriptors, as the hardware reads them.
    pub const fn entries(&self) -> &[u64; ENTRIES_PER_TABLE] {
        &self.entries
    }
}

/// Why a stage-2 operation was refused. Nothing is written when one of these is returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage2Error {
    /// A region of zero bytes was asked for.
    EmptyRegion {
        /// Where it would have started.
        ipa: Ipa,
    },
    /// The IPA, physical address or size is not a multiple of [`PAGE_SIZE`].
    Misaligned {
        /// Requested IPA.
        ipa: Ipa,
        /// Requested physical address.
        phys: PhysAddr,
        /// Requested size.
        size: u64,
    },
    /// The region reaches beyond the 39-bit IPA space.
    OutsideIpaSpace {
        /// Requested IPA.
        ipa: Ipa,
        /// Requested size.
        size: u64,
    },
    /// A physical address (of the region or of the pool) does not fit the descriptors'
    /// 48-bit output-address field.
    OutsideOutputAddressRange {
        /// The offending physical address.
        phys: PhysAddr,
        /// Bytes from there that had to be addressable.
        size: u64,
    },
    /// Part of the region is already mapped.
    Overlap {
        /// First IPA of the request found already mapped.
        ipa: Ipa,
    },
    /// The pool has too few tables left for this mapping.
    PoolExhausted {
        /// Tables in the pool.
        capacity: usize,
        /// Tables the mapping needed beyond those already in use.
        needed: usize,
    },
    /// The pool's physical address is not 4 KiB aligned.
    PoolMisaligned {
        /// The address given.
        pool_phys: PhysAddr,
    },
    /// A table descriptor points outside the pool: the tables were changed behind the
    /// builder's back.
    TableOutsidePool {
        /// Address the descriptor holds.
        table: PhysAddr,
    },
    /// The physical address size is narrower than the 39-bit IPA space. Such a machine
    /// could not back the IPA space anyway; like KVM (`kvm_ipa_limit`), stage 2 never
    /// translates IPAs wider than the PA size `VTCR_EL2.PS` selects.
    PhysicalAddressSizeTooSmall {
        /// Bits reported by the caller.
        bits: u8,
    },
}
