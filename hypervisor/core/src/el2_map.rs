//! The hypervisor's own (EL2 stage-1) identity map.
//!
//! The hypervisor runs with its MMU on so that its data is cacheable (exclusive accesses and
//! spin locks need Normal memory on real hardware) and so that a stray pointer to an address
//! no board device lives at faults instead of reaching the bus. The map is an identity map
//! built from 1 GiB level-1 blocks (VMSAv8-64, 4 KiB granule, 39-bit VA, Arm ARM D8.3):
//! RAM as Normal write-back memory, the hypervisor's own devices as Device-nGnRE, execute
//! never. Everything else is invalid.
//!
//! [impl->dsn~el2-map~1]

use crate::system::PhysRange;

/// Entries in the level-1 table: one per GiB of the 39-bit address space.
pub const ENTRIES: usize = 512;
/// Bytes covered by one level-1 block.
pub const BLOCK_SIZE: u64 = 1 << 30;

/// `MAIR_EL2` index of Device-nGnRE memory.
pub const MAIR_DEVICE_INDEX: u64 = 0;
/// `MAIR_EL2` index of Normal write-back read/write-allocate memory.
pub const MAIR_NORMAL_INDEX: u64 = 1;
/// `MAIR_EL2` value matching the two indices above (Arm ARM D19.2.97: Attr0 = 0x04
/// Device-nGnRE, Attr1 = 0xff Normal inner/outer write-back non-transient RW-allocate).
pub const MAIR_EL2: u64 = 0x04 | (0xff << 8);

/// Descriptor bits [1:0] of a valid level-1 block (Arm ARM D8.3).
const VALID_BLOCK: u64 = 0b01;
/// `AF`: set up front, so no access flag fault is ever taken at EL2.
const ACCESS_FLAG: u64 = 1 << 10;
/// `SH` = 0b11, Inner Shareable: what spin locks shared between cores need.
const INNER_SHAREABLE: u64 = 0b11 << 8;
/// `XN` in the EL2 translation regime (bit 54): devices are never executed from.
const EXECUTE_NEVER: u64 = 1 << 54;

/// What a 1 GiB slot of the identity map holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Slot {
    /// Not mapped.
    Invalid,
    /// Normal cacheable memory.
    Normal,
    /// Device memory.
    Device,
}

/// Why a map cannot be built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapError {
    /// A range reaches beyond the 39-bit address space.
    OutOfRange,
    /// A GiB holds both RAM and a device: a 1 GiB block cannot give both attributes.
    MixedSlot {
        /// Index of the GiB.
        slot: usize,
    },
}

/// The indices of the GiB slots `range` touches (empty for an empty range).
fn overlapping_slots(range: &PhysRange) -> Result<core::ops::Range<usize>, MapError> {
    let Some(last_byte_offset) = range.size.checked_sub(1) else { return Ok(0..0) };
    let last_byte = range.base.raw().checked_add(last_byte_offset).ok_or(MapError::OutOfRange)?;
    let first = usize::try_from(range.base.raw() / BLOCK_SIZE).map_err(|_| MapError::OutOfRange)?;
    let last = usize::try_from(last_byte / BLOCK_SIZE).map_err(|_| MapError::OutOfRange)?;
    if last >= ENTRIES {
        return Err(MapError::OutOfRange);
    }
    // `last` is below ENTRIES, so the end of the range cannot overflow.
    let end = last.checked_add(1).ok_or(MapError::OutOfRange)?;
    Ok(first..end)
}

/// Classifies each GiB: RAM first, then devices; a GiB claimed by both is an error.
pub fn slots(ram: &[PhysRange], devices: &[PhysRange]) -> Result<[Slot; ENTRIES], MapError> {
    let mut slots = [Slot::Invalid; ENTRIES];
    for range in ram {
        for slot in overlapping_slots(range)? {
            if let Some(entry) = slots.get_mut(slot) {
                *entry = Slot::Normal;
            }
        }
    }
    for range in devices {
        for slot in overlapping_slots(range)? {
            match slots.get_mut(slot) {
                Some(entry @ (Slot::Invalid | Slot::Device)) => *entry = Slot::Device,
                Some(Slot::Normal) => return Err(MapError::MixedSlot { slot }),
                None => return Err(MapError::OutOfRange),
            }
        }
    }
    Ok(slots)
}

/// The level-1 block descriptor for `slot` number `index`.
///
/// The output address is `index` GiB; an `index` whose address would not fit in 64 bits
/// (no table has one) gets an invalid descriptor.
pub const fn descriptor(index: usize, slot: Slot) -> u64 {
    let Some(output) = (index as u64).checked_mul(BLOCK_SIZE) else { return 0 };
    match slot {
        Slot::Invalid => 0,
        Slot::Normal => output | VALID_BLOCK | ACCESS_FLAG | INNER_SHAREABLE | (MAIR_NORMAL_INDEX << 2),
        Slot::Device => output | VALID_BLOCK | ACCESS_FLAG | EXECUTE_NEVER | (MAIR_DEVICE_INDEX << 2),
    }
}

/// Fills `table` with the identity map of `ram` and `devices`.
pub fn build(table: &mut [u64; ENTRIES], ram: &[PhysRange], devices: &[PhysRange]) -> Result<(), MapError> {
    let slots = slots(ram, devices)?;
    for (index, (entry, slot)) in table.iter_mut().zip(slots).enumerate() {
        *entry = descriptor(index, slot);
    }
    Ok(())
}

/// `TCR_EL2` for this map (Arm ARM D19.2.139): T0SZ = 25 (39-bit VA, walk starts at level 1),
/// inner/outer write-back walks, inner shareable, 4 KiB granule, and the physical address
/// size from `ID_AA64MMFR0_EL1.PARange` (`pa_range`, capped at 48 bits: 52-bit output needs
/// the LPA2 descriptor format, which this map does not use).
pub const fn tcr_el2(pa_range: u64) -> u64 {
    const T0SZ: u64 = 25;
    const IRGN0_WBWA: u64 = 0b01 << 8;
    const ORGN0_WBWA: u64 = 0b01 << 10;
    const SH0_INNER: u64 = 0b11 << 12;
    const RES1: u64 = (1 << 31) | (1 << 23);
    let ps = if pa_range > 0b101 { 0b101 } else { pa_range };
    T0SZ | IRGN0_WBWA | ORGN0_WBWA | SH0_INNER | RES1 | (ps << 16)
}

// [utest->dsn~el2-map~1]
#[cfg(test)]
mod tests {
    use super::*;
    use crate::addr::PhysAddr;

    fn range(base: u64, size: u64) -> PhysRange {
        PhysRange { base: PhysAddr(base), size }
    }

    #[test]
    fn qemu_virt_maps_devices_low_and_ram_at_one_gib() {
        let mut table = [0; ENTRIES];
        build(&mut table, &[range(0x4000_0000, 0x4000_0000)], &[range(0x0800_0000, 0x1_0000), range(0x0900_0000, 0x1000)])
            .unwrap();
        assert_eq!(table[0], 0x0040_0000_0000_0401);
        assert_eq!(table[1], 0x4000_0000 | 0x701 | 0x4);
        assert!(table[2..].iter().all(|&entry| entry == 0));
    }

    #[test]
    fn ram_spanning_gibs_maps_each_one() {
        let slots = slots(&[range(0x8000_0000, 0x8000_0001)], &[]).unwrap();
        assert_eq!(&slots[1..5], &[Slot::Invalid, Slot::Normal, Slot::Normal, Slot::Normal]);
    }

    #[test]
    fn device_in_a_ram_gib_is_rejected() {
        let error = slots(&[range(0x4000_0000, 0x1000_0000)], &[range(0x7000_0000, 0x1000)]).unwrap_err();
        assert_eq!(error, MapError::MixedSlot { slot: 1 });
    }

    #[test]
    fn ranges_beyond_the_address_space_are_rejected() {
        assert_eq!(slots(&[range(1 << 39, 0x1000)], &[]).unwrap_err(), MapError::OutOfRange);
        assert_eq!(slots(&[range(u64::MAX - 10, 0x1000)], &[]).unwrap_err(), MapError::OutOfRange);
    }

    #[test]
    fn tcr_caps_the_physical_address_size() {
        assert_eq!(tcr_el2(0b010) >> 16 & 0b111, 0b010);
        assert_eq!(tcr_el2(0b110) >> 16 & 0b111, 0b101);
        assert_eq!(tcr_el2(0) & 0x3f, 25);
    }
}
