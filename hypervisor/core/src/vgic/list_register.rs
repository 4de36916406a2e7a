//! One list-register entry, the unit of virtual interrupt delivery, and its two encodings:
//! GICv3 `ICH_LR<n>_EL2` ([`ListRegister::to_bits`], IHI 0069 12.5.10, Arm ARM D23.2) and
//! GICv2 `GICH_LR<n>` ([`ListRegister::to_gicv2`], IHI 0048B 5.3.11).
//!
//! [`ListRegister`] is what delivery ([`super::delivery`]) decides; a backend of
//! [`super::delivery::ListRegisters`] encodes it for its hardware. Both encodings are pure, so
//! the bit layouts are tested on the host. GICv3 decoding accepts any 64-bit value: RES0 bits
//! are dropped, so `from_bits(to_bits(x)) == x` for every [`ListRegister`] whose physical
//! INTID fits the 13-bit field.
//!
//! [impl->dsn~vgic-list-registers~1]

use super::Group;

/// `vINTID` is bits [31:0].
const VIRTUAL_INTID_MASK: u64 = 0xffff_ffff;
/// Position of `pINTID`.
const PHYSICAL_INTID_SHIFT: u32 = 32;
/// `pINTID` is bits [44:32].
const PHYSICAL_INTID_MASK: u64 = 0x1fff;
/// With `HW` clear, bit 41 is `EOI`: request a maintenance interrupt on deactivation.
const EOI_BIT: u64 = 1 << 41;
/// `Priority` is bits [55:48].
const PRIORITY_SHIFT: u32 = 48;
/// Width mask of `Priority`.
const PRIORITY_MASK: u64 = 0xff;
/// `Group`, bit 60.
const GROUP_BIT: u64 = 1 << 60;
/// `HW`, bit 61.
const HW_BIT: u64 = 1 << 61;
/// `State` is bits [63:62].
const STATE_SHIFT: u32 = 62;

/// `ICH_LR<n>_EL2.State`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ListRegisterState {
    /// `0b00`: the entry holds no interrupt.
    Invalid,
    /// `0b01`.
    Pending,
    /// `0b10`.
    Active,
    /// `0b11`.
    PendingAndActive,
}

impl ListRegisterState {
    /// The two-bit `State` field value.
    const fn to_bits(self) -> u64 {
        match self {
            Self::Invalid => 0b00,
            Self::Pending => 0b01,
            Self::Active => 0b10,
            Self::PendingAndActive => 0b11,
        }
    }

    /// The state encoded in the low two bits of `bits`.
    const fn from_bits(bits: u64) -> Self {
        match bits & 0b11 {
            0b00 => Self::Invalid,
            0b01 => Self::Pending,
            0b10 => Self::Active,
            _ => Self::PendingAndActive,
        }
    }
}

/// What stands behind a list-register entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Backing {
    /// A purely virtual interrupt (`HW` = 0).
    Software {
        /// `EOI`: raise a maintenance interrupt when the guest deactivates it, so the image
        /// learns of the deactivation (`ICH_MISR_EL2.EOI`, `ICH_EISR_EL2`).
        maintenance_on_eoi: bool,
    },
    /// A virtual interrupt tied to a physical one (`HW` = 1): the guest's deactivation also
    /// deactivates `physical_intid` at the physical distributor/redistributor.
    Hardware {
        /// `pINTID`; only the low 13 bits are encodable.
        physical_intid: u16,
    },
}

/// A decoded `ICH_LR<n>_EL2` value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ListRegister {
    /// `vINTID`: the INTID the guest acknowledges.
    pub virtual_intid: u32,
    /// `Priority`; the hardware ignores the bits below `ICH_VTR_EL2.PRIbits`.
    pub priority: u8,
    /// `Group`: Group 1 entries are signalled as vIRQ, Group 0 as vFIQ.
    pub group: Group,
    /// `State`.
    pub state: ListRegisterState,
    /// `HW` with `pINTID`, or `EOI`.
    pub backing: Backing,
}

impl ListRegister {
    /// The register value. A `physical_intid` above 13 bits is truncated to the field.
    pub const fn to_bits(&self) -> u64 {
        let mut bits =
            self.virtual_intid as u64 | (self.priority as u64) << PRIORITY_SHIFT | self.state.to_bits() << STATE_SHIFT;
        if let Group::Group1 = self.group {
            bits |= GROUP_BIT;
        }
        match self.backing {
            Backing::Software { maintenance_on_eoi } => {
                if maintenance_on_eoi {
                    bits |= EOI_BIT;
                }
            }
            Backing::Hardware { physical_intid } => {
                bits |= HW_BIT | ((physical_intid as u64) & PHYSICAL_INTID_MASK) << PHYSICAL_INTID_SHIFT;
            }
        }
        bits
    }

    /// Decodes a register value read back from the hardware.
    pub const fn from_bits(bits: u64) -> Self {
        let backing = if bits & HW_BIT != 0 {
            Backing::Hardware { physical_intid: ((bits >> PHYSICAL_INTID_SHIFT) & PHYSICAL_INTID_MASK) as u16 }
        } else {
            Backing::Software { maintenance_on_eoi: bits & EOI_BIT != 0 }
        };
        Self {
            virtual_intid: (bits & VIRTUAL_INTID_MASK) as u32,
            priority: ((bits >> PRIORITY_SHIFT) & PRIORITY_MASK) as u8,
            group: if bits & GROUP_BIT != 0 { Group::Group1 } else { Group::Group0 },
            state: ListRegisterState::from_bits(bits >> STATE_SHIFT),
            backing,
        }
    }

    /// Whether the entry is free for a new interrupt.
    pub const fn is_free(&self) -> bool {
        matches!(self.state, ListRegisterState::Invalid)
    }
}

/// `GICH_LR<n>` (GICv2, IHI 0048B 5.3.11; the GIC-400 implements four): `VirtualID` [9:0],
/// `PhysicalID` [19:10] with `HW` = 1, otherwise `EOI` [19] and, for an SGI, the source
/// `CPUID` [12:10]; `Priority` [27:23], the top five bits of the 8-bit priority; `State`
/// [29:28]; `Grp1` [30]; `HW` [31].
mod gicv2 {
    /// INTIDs 1020–1023 are special (spurious); everything below fits the 10-bit fields.
    pub(super) const SPECIAL_INTIDS: u32 = 1020;
    /// `VirtualID`/`PhysicalID` width: 10 bits.
    pub(super) const INTID_MASK: u32 = 0x3ff;
    /// Position of `PhysicalID` (and of the SGI source `CPUID`).
    pub(super) const PHYSICAL_SHIFT: u32 = 10;
    /// `CPUID` of an SGI's source: 3 bits.
    pub(super) const CPUID_MASK: u32 = 0x7;
    /// `EOI` (with `HW` = 0).
    pub(super) const EOI_BIT: u32 = 1 << 19;
    /// Position of the 5-bit `Priority` field.
    pub(super) const PRIORITY_SHIFT: u32 = 23;
    /// Position of `State`.
    pub(super) const STATE_SHIFT: u32 = 28;
    /// `Grp1`.
    pub(super) const GROUP1_BIT: u32 = 1 << 30;
    /// `HW`.
    pub(super) const HW_BIT: u32 = 1 << 31;
}

/// Why an entry has no `GICH_LR<n>` encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Gicv2EncodingError {
    /// A virtual or physical INTID of 1020 or more: special or beyond the 10-bit fields.
    IntidTooLarge(u32),
    /// An SGI source CPU above the 3-bit `CPUID` field (GICv2 has at most 8 CPU interfaces).
    SourceTooLarge(u8),
}

impl ListRegister {
    /// The `GICH_LR<n>` value (GICv2). `sgi_source` is the `CPUID` of the vCPU that sent
    /// the SGI (a GICv2 guest reads it from `GICC_IAR`); it is ignored for other INTIDs and
    /// for hardware-backed entries. Priority keeps its top five bits, which is all a
    /// GIC-400 implements.
    pub const fn to_gicv2(&self, sgi_source: u8) -> Result<u32, Gicv2EncodingError> {
        if self.virtual_intid >= gicv2::SPECIAL_INTIDS {
            return Err(Gicv2EncodingError::IntidTooLarge(self.virtual_intid));
        }
        let mut bits = self.virtual_intid
            | ((self.priority as u32) >> 3) << gicv2::PRIORITY_SHIFT
            | ((self.state.to_bits() & 0b11) as u32) << gicv2::STATE_SHIFT;
        if let Group::Group1 = self.group {
            bits |= gicv2::GROUP1_BIT;
        }
        match self.backing {
            Backing::Hardware { physical_intid } => {
                if physical_intid as u32 >= gicv2::SPECIAL_INTIDS {
                    return Err(Gicv2EncodingError::IntidTooLarge(physical_intid as u32));
                }
                bits |= gicv2::HW_BIT | (physical_intid as u32) << gicv2::PHYSICAL_SHIFT;
            }
            Backing::Software { maintenance_on_eoi } => {
                if maintenance_on_eoi {
                    bits |= gicv2::EOI_BIT;
                }
                if self.virtual_intid < 16 {
                    if sgi_source as u32 > gicv2::CPUID_MASK {
                        return Err(Gicv2EncodingError::SourceTooLarge(sgi_source));
                    }
                    bits |= (sgi_source as u32) << gicv2::PHYSICAL_SHIFT;
                }
            }
        }
        Ok(bits)
    }

    /// Decodes a `GICH_LR<n>` value (the SGI source `CPUID` is dropped; priority comes back
    /// with its three low bits zero).
    pub const fn from_gicv2(bits: u32) -> Self {
        let backing = if bits & gicv2::HW_BIT != 0 {
            Backing::Hardware { physical_intid: ((bits >> gicv2::PHYSICAL_SHIFT) & gicv2::INTID_MASK) as u16 }
        } else {
            Backing::Software { maintenance_on_eoi: bits & gicv2::EOI_BIT != 0 }
        };
        Self {
            virtual_intid: bits & gicv2::INTID_MASK,
            priority: (((bits >> gicv2::PRIORITY_SHIFT) & 0x1f) as u8) << 3,
            group: if bits & gicv2::GROUP1_BIT != 0 { Group::Group1 } else { Group::Group0 },
            state: ListRegisterState::from_bits((bits >> gicv2::STATE_SHIFT) as u64),
            backing,
        }
    }
}

// [utest->dsn~vgic-list-registers~1]
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hardware_timer_entry_encodes_every_field() {
        let entry = ListRegister {
            virtual_intid: 27,
            priority: 0xa0,
            group: Group::Group1,
            state: ListRegisterState::Pending,
            backing: Backing::Hardware { physical_intid: 27 },
        };
        // State 01, HW, Group 1, priority 0xa0, pINTID 27, vINTID 27.
        assert_eq!(entry.to_bits(), 0x70a0_001b_0000_001b);
        assert_eq!(ListRegister::from_bits(entry.to_bits()), entry);
    }

    #[test]
    fn software_entry_carries_the_eoi_request_in_bit_41() {
        let entry = ListRegister {
            virtual_intid: 33,
            priority: 0x80,
            group: Group::Group0,
            state: ListRegisterState::PendingAndActive,
            backing: Backing::Software { maintenance_on_eoi: true },
        };
        assert_eq!(entry.to_bits(), 0xc080_0200_0000_0021);
        assert_eq!(ListRegister::from_bits(entry.to_bits()), entry);
    }

    #[test]
    fn every_state_and_group_round_trips() {
        for state in [
            ListRegisterState::Invalid,
            ListRegisterState::Pending,
            ListRegisterState::Active,
            ListRegisterState::PendingAndActive,
        ] {
            for group in [Group::Group0, Group::Group1] {
                for backing in [
                    Backing::Software { maintenance_on_eoi: false },
                    Backing::Software { maintenance_on_eoi: true },
                    Backing::Hardware { physical_intid: 0x1fff },
                    Backing::Hardware { physical_intid: 0 },
                ] {
                    let entry = ListRegister { virtual_intid: u32::MAX, priority: 0xff, group, state, backing };
                    assert_eq!(ListRegister::from_bits(entry.to_bits()), entry);
                }
            }
        }
    }

    #[test]
    fn decoding_drops_res0_bits() {
        // Bits 59:56 and, with HW clear, 44:42 and 40:32 are RES0.
        let decoded = ListRegister::from_bits(0x4f00_1fff_0000_0020);
        assert_eq!(decoded.to_bits(), 0x4000_0200_0000_0020);
        assert_eq!(decoded.backing, Backing::Software { maintenance_on_eoi: true });
        assert!(!decoded.is_free());
        assert!(ListRegister::from_bits(0).is_free());
    }

    #[test]
    fn oversized_physical_intid_is_truncated_to_the_field() {
        let entry = ListRegister {
            virtual_intid: 40,
            priority: 0,
            group: Group::Group1,
            state: ListRegisterState::Pending,
            backing: Backing::Hardware { physical_intid: 0xe028 },
        };
        assert_eq!((entry.to_bits() >> 32) & 0x1fff, 0x28);
        assert_eq!(entry.to_bits() & (0x7 << 45), 0, "nothing spills into bits 47:45");
    }

    #[test]
    fn gicv2_hardware_entry_uses_ten_bit_ids_and_five_priority_bits() {
        let entry = ListRegister {
            virtual_intid: 48,
            priority: 0xa0,
            group: Group::Group1,
            state: ListRegisterState::Pending,
            backing: Backing::Hardware { physical_intid: 79 },
        };
        // HW, Grp1, State 01, Priority 0xa0 >> 3 = 0b10100, PhysicalID 79, VirtualID 48.
        let expected = (1 << 31) | (1 << 30) | (0b01 << 28) | (0b10100 << 23) | (79 << 10) | 48;
        assert_eq!(entry.to_gicv2(0), Ok(expected));
        assert_eq!(ListRegister::from_gicv2(expected), entry);
    }

    #[test]
    fn gicv2_software_sgi_carries_eoi_and_its_source_cpu() {
        let entry = ListRegister {
            virtual_intid: 5,
            priority: 0x87,
            group: Group::Group0,
            state: ListRegisterState::Active,
            backing: Backing::Software { maintenance_on_eoi: true },
        };
        let bits = entry.to_gicv2(3).unwrap();
        assert_eq!(bits, (0b10 << 28) | (0b10000 << 23) | (1 << 19) | (3 << 10) | 5);
        let decoded = ListRegister::from_gicv2(bits);
        assert_eq!(decoded.priority, 0x80, "GICv2 keeps five priority bits");
        assert_eq!(decoded.backing, entry.backing);
        assert_eq!(decoded.virtual_intid, 5);
    }

    #[test]
    fn gicv2_refuses_what_its_fields_cannot_hold() {
        let mut entry = ListRegister {
            virtual_intid: 1020,
            priority: 0,
            group: Group::Group1,
            state: ListRegisterState::Pending,
            backing: Backing::Software { maintenance_on_eoi: false },
        };
        assert_eq!(entry.to_gicv2(0), Err(Gicv2EncodingError::IntidTooLarge(1020)));
        entry.virtual_intid = 2;
        assert_eq!(entry.to_gicv2(8), Err(Gicv2EncodingError::SourceTooLarge(8)));
        entry.backing = Backing::Hardware { physical_intid: 0x400 };
        assert_eq!(entry.to_gicv2(0), Err(Gicv2EncodingError::IntidTooLarge(0x400)));
    }
}
