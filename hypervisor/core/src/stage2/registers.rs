//! The values of the system registers that switch stage 2 on: `VTCR_EL2` (the regime) and
//! `VTTBR_EL2` (which tables, which VMID).
//!
//! Computed here, as plain numbers, so that the EL2 image only writes them and the field
//! encodings are tested on the host.

use super::attributes::OUTPUT_ADDRESS_MASK;
use super::{IPA_BITS, Stage2Error};
use crate::addr::PhysAddr;

/// `VTCR_EL2.T0SZ`: the IPA space is `2^(64 - T0SZ)` bytes.
const T0SZ: u64 = 64 - IPA_BITS as u64;
/// `VTCR_EL2.SL0` = 0b01: with the 4 KiB granule the walk starts at level 1.
const START_LEVEL_1: u64 = 0b01 << 6;
/// `VTCR_EL2.IRGN0` = 0b01: table walks are inner Write-Back Read-Allocate Write-Allocate.
const INNER_WRITE_BACK_WALKS: u64 = 0b01 << 8;
/// `VTCR_EL2.ORGN0` = 0b01: table walks are outer Write-Back Read-Allocate Write-Allocate.
const OUTER_WRITE_BACK_WALKS: u64 = 0b01 << 10;
/// `VTCR_EL2.SH0` = 0b11: table walks are Inner Shareable.
const INNER_SHAREABLE_WALKS: u64 = 0b11 << 12;
/// `VTCR_EL2.TG0` = 0b00: 4 KiB granule.
const GRANULE_4K: u64 = 0b00 << 14;
/// Position of `VTCR_EL2.PS`, bits [18:16].
const PHYSICAL_SIZE_SHIFT: u32 = 16;
/// `VTCR_EL2` bit 31 is RES1.
const RES1: u64 = 1 << 31;

/// Largest output size usable with the 4 KiB granule without FEAT_LPA2 (`VTCR_EL2.DS` = 0):
/// the descriptors hold output-address bits [47:12] only.
const MAX_OUTPUT_BITS: u8 = 48;

/// The physical address size, in bits, that `ID_AA64MMFR0_EL1.PARange` (bits [3:0])
/// reports, or `None` for a reserved encoding.
// [impl->dsn~stage2-registers~1]
pub const fn physical_address_bits(id_aa64mmfr0_el1: u64) -> Option<u8> {
    match id_aa64mmfr0_el1 & 0xf {
        0b0000 => Some(32),
        0b0001 => Some(36),
        0b0010 => Some(40),
        0b0011 => Some(42),
        0b0100 => Some(44),
        0b0101 => Some(48),
        0b0110 => Some(52),
        0b0111 => Some(56),
        _ => None,
    }
}

/// `VTCR_EL2.PS` for the widest encodable output size not above `bits`, and that size.
const fn physical_size_field(bits: u8) -> (u64, u8) {
    match bits {
        48.. => (0b101, 48),
        44..=47 => (0b100, 44),
        42..=43 => (0b011, 42),
        40..=41 => (0b010, 40),
        36..=39 => (0b001, 36),
        _ => (0b000, 32),
    }
}

/// `VTCR_EL2` for this module's regime on a machine with `physical_address_size_bits` of
/// physical address space (see [`physical_address_bits`]).
///
/// `PS` is the largest supported size not above the machine's, capped at 48 bits; an 8-bit
/// VMID is used (`VS` = 0) and hardware access/dirty flag updates stay off.
// [impl->dsn~stage2-registers~1]
pub const fn vtcr_el2(physical_address_size_bits: u8) -> Result<u64, Stage2Error> {
    let capped = if physical_address_size_bits > MAX_OUTPUT_BITS {
        MAX_OUTPUT_BITS
    } else {
        physical_address_size_bits
    };
    let (physical_size, output_bits) = physical_size_field(capped);
    if (output_bits as u32) < IPA_BITS {
        return Err(Stage2Error::PhysicalAddressSizeTooSmall { bits: physical_address_size_bits });
    }
    Ok(RES1
        | (physical_size << PHYSICAL_SIZE_SHIFT)
        | GRANULE_4K
        | INNER_SHAREABLE_WALKS
        | OUTER_WRITE_BACK_WALKS
        | INNER_WRITE_BACK_WALKS
        | START_LEVEL_1
        | T0SZ)
}

/// `VTTBR_EL2` for a partition: its 8-bit VMID in bits [55:48] and its root table in
/// `BADDR` (the builder's roots are 4 KiB aligned, as this regime requires). `CnP` stays 0,
/// so no core relies on TLB entries another core filled.
// [impl->dsn~stage2-registers~1]
pub const fn vttbr_el2(vmid: u8, root: PhysAddr) -> u64 {
    ((vmid as u64) << 48) | (root.raw() & OUTPUT_ADDRESS_MASK)
}

// [utest->dsn~stage2-registers~1]
#[cfg(test)]
mod tests {
    use super::*;

    fn field(value: u64, low: u32, width: u32) -> u64 {
        (value >> low) & ((1 << width) - 1)
    }

    #[test]
    fn parange_encodings_give_their_sizes() {
        let expected = [32, 36, 40, 42, 44, 48, 52, 56];
        for (parange, bits) in expected.into_iter().enumerate() {
            assert_eq!(physical_address_bits(parange as u64), Some(bits));
        }
        assert_eq!(physical_address_bits(0b1000), None);
        // Only PARange is looked at: the other ID fields do not disturb it.
        assert_eq!(physical_address_bits(0x0000_0000_0000_1122), Some(40));
    }

    #[test]
    fn vtcr_for_a_40_bit_machine_has_every_field_of_the_regime() {
        let vtcr = vtcr_el2(40).unwrap();
        assert_eq!(field(vtcr, 0, 6), 25, "T0SZ");
        assert_eq!(field(vtcr, 6, 2), 0b01, "SL0");
        assert_eq!(field(vtcr, 8, 2), 0b01, "IRGN0");
        assert_eq!(field(vtcr, 10, 2), 0b01, "ORGN0");
        assert_eq!(field(vtcr, 12, 2), 0b11, "SH0");
        assert_eq!(field(vtcr, 14, 2), 0b00, "TG0");
        assert_eq!(field(vtcr, 16, 3), 0b010, "PS");
        assert_eq!(field(vtcr, 19, 1), 0, "VS");
        assert_eq!(field(vtcr, 31, 1), 1, "RES1");
        assert_eq!(vtcr >> 32, 0);
    }

    #[test]
    fn vtcr_ps_follows_the_machine_and_caps_at_48_bits() {
        let ps = |bits| field(vtcr_el2(bits).unwrap(), 16, 3);
        assert_eq!(ps(42), 0b011);
        assert_eq!(ps(44), 0b100);
        assert_eq!(ps(48), 0b101);
        assert_eq!(ps(52), 0b101);
        assert_eq!(ps(56), 0b101);
        let from_parange = physical_address_bits(0b0100).unwrap();
        assert_eq!(ps(from_parange), 0b100);
    }

    #[test]
    fn vtcr_refuses_machines_narrower_than_the_ipa_space() {
        assert_eq!(vtcr_el2(36), Err(Stage2Error::PhysicalAddressSizeTooSmall { bits: 36 }));
        assert_eq!(vtcr_el2(39), Err(Stage2Error::PhysicalAddressSizeTooSmall { bits: 39 }));
        assert!(vtcr_el2(32).is_err());
    }

    #[test]
    fn vttbr_puts_the_vmid_above_the_root_address() {
        let vttbr = vttbr_el2(3, PhysAddr(0x4012_3000));
        assert_eq!(field(vttbr, 48, 8), 3);
        assert_eq!(vttbr & 0x0000_ffff_ffff_ffff, 0x4012_3000);
        assert_eq!(vttbr_el2(0xff, PhysAddr(0x1000)) >> 56, 0);
    }
}
