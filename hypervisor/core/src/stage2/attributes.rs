//! What a stage-2 mapping allows and how its memory behaves, and the descriptor bits that
//! say so.
//!
//! Bit positions are those of the VMSAv8-64 stage-2 Block and Page descriptors (Arm ARM
//! D8.3, "Translation table descriptor formats"); their meaning is in D8.6, "Memory region
//! attributes" (stage 2 `MemAttr` with `HCR_EL2.FWB` = 0) and D8.4, "Memory access
//! control" (`S2AP`, `XN`). Stage 2 only ever restricts what the guest's own stage 1 asks
//! for, so Normal write-back here still lets the guest choose non-cacheable, and Device
//! here forces Device whatever the guest maps.

/// Descriptor bit 0: the descriptor is valid.
pub(super) const VALID: u64 = 1 << 0;
/// Descriptor bit 1: table (levels 1–2) or page (level 3) rather than block.
pub(super) const TABLE_OR_PAGE: u64 = 1 << 1;
/// Output address (or next-level table address) bits [47:12].
pub(super) const OUTPUT_ADDRESS_MASK: u64 = 0x0000_FFFF_FFFF_F000;
/// One past the highest address the 48-bit output-address field can hold.
pub(super) const OUTPUT_ADDRESS_LIMIT: u64 = 1 << 48;

/// Position of `MemAttr[3:0]`, bits [5:2].
const MEMORY_ATTRIBUTES_SHIFT: u32 = 2;
/// `MemAttr[3:0]` in place.
const MEMORY_ATTRIBUTES_MASK: u64 = 0b1111 << MEMORY_ATTRIBUTES_SHIFT;
/// `MemAttr[3:2]` = 0b11 outer Write-Back, `MemAttr[1:0]` = 0b11 inner Write-Back.
const MEMORY_ATTRIBUTES_NORMAL_WRITE_BACK: u64 = 0b1111;
/// `MemAttr[3:2]` = 0b00 Device, `MemAttr[1:0]` = 0b01 nGnRE.
const MEMORY_ATTRIBUTES_DEVICE_NGNRE: u64 = 0b0001;

/// Position of `S2AP[1:0]`, bits [7:6].
const STAGE2_ACCESS_PERMISSIONS_SHIFT: u32 = 6;
/// `S2AP[1:0]` in place.
const STAGE2_ACCESS_PERMISSIONS_MASK: u64 = 0b11 << STAGE2_ACCESS_PERMISSIONS_SHIFT;
/// `S2AP` = 0b01: read-only.
const STAGE2_ACCESS_PERMISSIONS_READ_ONLY: u64 = 0b01;
/// `S2AP` = 0b11: read/write.
const STAGE2_ACCESS_PERMISSIONS_READ_WRITE: u64 = 0b11;

/// Position of `SH[1:0]`, bits [9:8].
const SHAREABILITY_SHIFT: u32 = 8;
/// Inner Shareable, so that caches stay coherent between the cores a partition runs on.
/// Device memory ignores the field and is always Outer Shareable.
const SHAREABILITY_INNER: u64 = 0b11;

/// Access flag. Set up front: nothing manages it in hardware (`VTCR_EL2.HA` = 0), so a
/// clear flag would fault on first access.
pub(super) const ACCESS_FLAG: u64 = 1 << 10;
/// `XN[1:0]` = 0b10 (bit 54): not executable at EL1 or EL0, with or without FEAT_XNX.
const EXECUTE_NEVER: u64 = 1 << 54;

/// How memory behind a mapping behaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemoryType {
    /// Normal memory, inner and outer Write-Back cacheable: RAM.
    NormalWriteBack,
    /// Device-nGnRE (no gathering, no reordering, early write acknowledgement): MMIO.
    DeviceNGnRE,
}

/// What the guest may do with mapped memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Reads and writes.
    ReadWrite,
    /// Reads only; a write takes a stage-2 permission fault to EL2.
    ReadOnly,
}

/// Everything stage 2 says about a mapping besides where it goes.
// [impl->dsn~stage2-attributes~1]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stage2Attributes {
    /// Memory type.
    pub memory: MemoryType,
    /// Read/write permission.
    pub access: Access,
    /// Whether the guest may execute from it (at EL1 and EL0).
    pub executable: bool,
}

impl Stage2Attributes {
    /// Guest RAM: Normal write-back, read-write, executable.
    pub const RAM: Self =
        Self { memory: MemoryType::NormalWriteBack, access: Access::ReadWrite, executable: true };
    /// A pass-through device: Device-nGnRE, read-write, never executable.
    pub const DEVICE: Self =
        Self { memory: MemoryType::DeviceNGnRE, access: Access::ReadWrite, executable: false };

    /// The attribute bits of a Block or Page descriptor with these attributes.
    pub(super) const fn descriptor_bits(self) -> u64 {
        let memory_attributes = match self.memory {
            MemoryType::NormalWriteBack => MEMORY_ATTRIBUTES_NORMAL_WRITE_BACK,
            MemoryType::DeviceNGnRE => MEMORY_ATTRIBUTES_DEVICE_NGNRE,
        };
        let permissions = match self.access {
            Access::ReadWrite => STAGE2_ACCESS_PERMISSIONS_READ_WRITE,
            Access::ReadOnly => STAGE2_ACCESS_PERMISSIONS_READ_ONLY,
        };
        let execute_never = if self.executable { 0 } else { EXECUTE_NEVER };
        (memory_attributes << MEMORY_ATTRIBUTES_SHIFT)
            | (permissions << STAGE2_ACCESS_PERMISSIONS_SHIFT)
            | (SHAREABILITY_INNER << SHAREABILITY_SHIFT)
            | ACCESS_FLAG
            | execute_never
    }

    /// The attributes a Block or Page descriptor encodes, or `None` for encodings this
    /// module never writes (other memory types, no-access or write-only permissions).
    pub(super) const fn from_descriptor(descriptor: u64) -> Option<Self> {
        let memory = match (descriptor & MEMORY_ATTRIBUTES_MASK) >> MEMORY_ATTRIBUTES_SHIFT {
            MEMORY_ATTRIBUTES_NORMAL_WRITE_BACK => MemoryType::NormalWriteBack,
            MEMORY_ATTRIBUTES_DEVICE_NGNRE => MemoryType::DeviceNGnRE,
            _ => return None,
        };
        let access = match (descriptor & STAGE2_ACCESS_PERMISSIONS_MASK)
            >> STAGE2_ACCESS_PERMISSIONS_SHIFT
        {
            STAGE2_ACCESS_PERMISSIONS_READ_WRITE => Access::ReadWrite,
            STAGE2_ACCESS_PERMISSIONS_READ_ONLY => Access::ReadOnly,
            _ => return None,
        };
        Some(Self { memory, access, executable: descriptor & EXECUTE_NEVER == 0 })
    }
}

// [utest->dsn~stage2-attributes~1]
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ram_descriptor_bits_are_normal_write_back_inner_shareable_read_write_executable() {
        let bits = Stage2Attributes::RAM.descriptor_bits();
        assert_eq!((bits >> 2) & 0b1111, 0b1111, "MemAttr");
        assert_eq!((bits >> 6) & 0b11, 0b11, "S2AP");
        assert_eq!((bits >> 8) & 0b11, 0b11, "SH");
        assert_eq!((bits >> 10) & 1, 1, "AF");
        assert_eq!((bits >> 54) & 1, 0, "XN");
        assert_eq!(bits & 0b11, 0, "type bits are the builder's business");
    }

    #[test]
    fn device_descriptor_bits_are_device_ngnre_and_execute_never() {
        let bits = Stage2Attributes::DEVICE.descriptor_bits();
        assert_eq!((bits >> 2) & 0b1111, 0b0001, "MemAttr");
        assert_eq!((bits >> 6) & 0b11, 0b11, "S2AP");
        assert_eq!((bits >> 10) & 1, 1, "AF");
        assert_eq!((bits >> 54) & 1, 1, "XN");
    }

    #[test]
    fn read_only_sets_s2ap_to_read_only() {
        let read_only = Stage2Attributes { access: Access::ReadOnly, ..Stage2Attributes::RAM };
        assert_eq!((read_only.descriptor_bits() >> 6) & 0b11, 0b01);
    }

    #[test]
    fn every_attribute_combination_survives_a_round_trip() {
        for memory in [MemoryType::NormalWriteBack, MemoryType::DeviceNGnRE] {
            for access in [Access::ReadWrite, Access::ReadOnly] {
                for executable in [false, true] {
                    let attributes = Stage2Attributes { memory, access, executable };
                    let decoded = Stage2Attributes::from_descriptor(attributes.descriptor_bits());
                    assert_eq!(decoded, Some(attributes));
                }
            }
        }
    }

    #[test]
    fn foreign_encodings_do_not_decode() {
        let no_access = Stage2Attributes::RAM.descriptor_bits() & !STAGE2_ACCESS_PERMISSIONS_MASK;
        assert_eq!(Stage2Attributes::from_descriptor(no_access), None);
        let normal_non_cacheable = (Stage2Attributes::RAM.descriptor_bits()
            & !MEMORY_ATTRIBUTES_MASK)
            | (0b0101 << MEMORY_ATTRIBUTES_SHIFT);
        assert_eq!(Stage2Attributes::from_descriptor(normal_non_cacheable), None);
    }
}
