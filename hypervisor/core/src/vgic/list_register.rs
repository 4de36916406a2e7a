//! `ICH_LR<n>_EL2`: one virtual interrupt handed to the hardware virtual CPU interface.
//!
//! The image writes these registers; this module only encodes and decodes them, so the bit
//! layout is tested on the host (IHI 0069 12.5.10, Arm ARM D23.2 `ICH_LR<n>_EL2`).
//! Decoding accepts any 64-bit value: RES0 bits are dropped, so `from_bits(to_bits(x)) == x`
//! for every [`ListRegister`] whose physical INTID fits the 13-bit field.
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
}
