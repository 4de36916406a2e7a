//! A software stage-2 walk: what the hardware would make of an IPA, given the tables.
//!
//! The tests use it to check the builder's output the way the MMU will read it; the
//! hypervisor can use it to explain a guest's fault. It reads tables only from the pool it
//! is given, so a descriptor pointing elsewhere ends the walk.

use super::attributes::{ACCESS_FLAG, OUTPUT_ADDRESS_MASK, TABLE_OR_PAGE, VALID};
use super::{IPA_SPACE_SIZE, Level, PAGE_SIZE, Stage2Attributes, Table};
use crate::addr::{Ipa, PhysAddr};

/// Where an IPA goes and how.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Translation {
    /// The host-physical address of the byte at the IPA.
    pub phys: PhysAddr,
    /// The mapping's attributes.
    pub attributes: Stage2Attributes,
    /// Level of the descriptor that mapped it: 1 (1 GiB block), 2 (2 MiB block), 3 (page).
    pub level: u8,
}

/// Walks the tables rooted at `root` for `ipa`, reading tables from `pool` (whose first
/// table is at host-physical `pool_phys`).
///
/// `None` wherever the hardware would fault: an IPA outside the 39-bit space, an invalid
/// or reserved descriptor (translation fault), a clear access flag (access flag fault). Also
/// `None` when a table lies outside `pool`, or a leaf's attributes are an encoding the
/// builder never writes.
// [impl->dsn~stage2-walk~1]
pub fn translate(
    pool: &[Table],
    pool_phys: PhysAddr,
    root: PhysAddr,
    ipa: Ipa,
) -> Option<Translation> {
    if ipa.raw() >= IPA_SPACE_SIZE {
        return None;
    }
    let mut table = table_at(pool, pool_phys, root)?;
    let mut level = Level::One;
    // BOUND: each iteration goes one level down; there are three levels.
    loop {
        let descriptor = *table.entries.get(level.index(ipa.raw()))?;
        if descriptor & VALID == 0 {
            return None;
        }
        match (level.next(), descriptor & TABLE_OR_PAGE != 0) {
            (Some(next), true) => {
                table = table_at(pool, pool_phys, PhysAddr(descriptor & OUTPUT_ADDRESS_MASK))?;
                level = next;
            }
            // Bit 1 clear at level 3 is a reserved encoding, which faults like an invalid
            // one (Arm ARM D8.3, "Translation table descriptor formats").
            (None, false) => return None,
            // A block at level 1 or 2, or a page at level 3.
            (Some(_), false) | (None, true) => return leaf(descriptor, level, ipa),
        }
    }
}

/// The translation a block or page descriptor at `level` gives `ipa`.
fn leaf(descriptor: u64, level: Level, ipa: Ipa) -> Option<Translation> {
    if descriptor & ACCESS_FLAG == 0 {
        return None;
    }
    let output = descriptor & OUTPUT_ADDRESS_MASK & !level.offset_mask();
    Some(Translation {
        phys: PhysAddr(output | (ipa.raw() & level.offset_mask())),
        attributes: Stage2Attributes::from_descriptor(descriptor)?,
        level: level.number(),
    })
}

/// The pool table at host-physical `address`, if there is one.
fn table_at(pool: &[Table], pool_phys: PhysAddr, address: PhysAddr) -> Option<&Table> {
    let offset = address.raw().checked_sub(pool_phys.raw())?;
    if offset % PAGE_SIZE != 0 {
        return None;
    }
    pool.get(usize::try_from(offset / PAGE_SIZE).ok()?)
}
