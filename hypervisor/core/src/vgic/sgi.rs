//! Decoding a guest's SGI request (`ICC_SGI1R_EL1` and its siblings).
//!
//! With affinity routing, a PE raises an SGI by writing a system register, which traps to
//! EL2 when `HCR_EL2.IMO` is set. The value names the targets by affinity (IHI 0069 12.2.22):
//!
//! | bits  | field        |
//! |-------|--------------|
//! | 15:0  | `TargetList` (one bit per Aff0 value `RS * 16 + bit`) |
//! | 23:16 | `Aff1`       |
//! | 27:24 | `INTID`      |
//! | 39:32 | `Aff2`       |
//! | 40    | `IRM`: 1 = every PE except the sender |
//! | 47:44 | `RS` (range selector) |
//! | 55:48 | `Aff3`       |
//!
//! Inside a partition, vCPU `n` has affinity `0.0.0.n` (the image programs `VMPIDR_EL2` so);
//! targets naming any other affinity are not in the partition and are dropped.
//!
//! [impl->dsn~vgic-sgi~1]

use super::{BankLocation, PRIVATE_INTERRUPT_COUNT, VcpuSet, VgicError, VirtualGic};
use crate::esr::SystemRegister;

/// Which system register the guest wrote.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SgiRegister {
    /// `ICC_SGI1R_EL1`. With `GICD_CTLR.DS` = 1 it raises SGIs of either group, whichever
    /// the target configured (IHI 0069 12.2.22 and Table 12-14).
    Sgi1r,
    /// `ICC_SGI0R_EL1`: raises only SGIs the target configured as Group 0.
    Sgi0r,
    /// `ICC_ASGI1R_EL1`: with a single Security state there is no other Group 1, so it acts
    /// as `ICC_SGI0R_EL1` (note to IHI 0069 Table 12-14; KVM does the same).
    Asgi1r,
}

impl SgiRegister {
    /// `ICC_SGI1R_EL1`: `S3_0_C12_C11_5`.
    pub const ICC_SGI1R_EL1: SystemRegister = SystemRegister::new(3, 0, 12, 11, 5);
    /// `ICC_ASGI1R_EL1`: `S3_0_C12_C11_6`.
    pub const ICC_ASGI1R_EL1: SystemRegister = SystemRegister::new(3, 0, 12, 11, 6);
    /// `ICC_SGI0R_EL1`: `S3_0_C12_C11_7`.
    pub const ICC_SGI0R_EL1: SystemRegister = SystemRegister::new(3, 0, 12, 11, 7);

    /// The SGI register a trapped `MSR` names, if it is one (`ESR_EL2.ISS` of EC 0x18).
    ///
    /// All three are `op1` = 0 in AArch64 and differ in `op2` only (Arm ARM, the
    /// `ICC_SGI1R_EL1`, `ICC_ASGI1R_EL1` and `ICC_SGI0R_EL1` register descriptions; Linux
    /// `SYS_ICC_*` and LLVM's assembler agree). The `opc1` values 0, 1 and 2 belong to the
    /// AArch32 `MCRR p15, <opc1>, <Rt>, <Rt2>, c12` forms; using them for AArch64, as the
    /// image's trap decoder did, made `ICC_ASGI1R_EL1` and `ICC_SGI0R_EL1` writes UNDEF
    /// (issue 14).
    pub const fn from_system_register(register: SystemRegister) -> Option<Self> {
        let SystemRegister { op0: 3, op1: 0, crn: 12, crm: 11, op2 } = register else { return None };
        match op2 {
            5 => Some(SgiRegister::Sgi1r),
            6 => Some(SgiRegister::Asgi1r),
            7 => Some(SgiRegister::Sgi0r),
            _ => None,
        }
    }
}

/// How the targets are named.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SgiRouting {
    /// `IRM` = 0: the PEs in `target_list` at affinity `aff3.aff2.aff1.(RS * 16 + bit)`.
    Targeted {
        /// `TargetList`.
        target_list: u16,
        /// `RS`: which block of 16 Aff0 values `target_list` covers.
        range_selector: u8,
        /// `Aff1`.
        aff1: u8,
        /// `Aff2`.
        aff2: u8,
        /// `Aff3`.
        aff3: u8,
    },
    /// `IRM` = 1: every PE but the sender.
    AllButSelf,
}

/// A decoded SGI request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SgiRequest {
    /// The SGI's INTID, 0–15.
    pub intid: u32,
    /// Who receives it.
    pub routing: SgiRouting,
}

impl SgiRequest {
    /// Decodes a value written to any of the SGI registers (they share the layout).
    pub const fn from_bits(value: u64) -> Self {
        let routing = if value & (1 << 40) != 0 {
            SgiRouting::AllButSelf
        } else {
            SgiRouting::Targeted {
                target_list: (value & 0xffff) as u16,
                range_selector: ((value >> 44) & 0xf) as u8,
                aff1: ((value >> 16) & 0xff) as u8,
                aff2: ((value >> 32) & 0xff) as u8,
                aff3: ((value >> 48) & 0xff) as u8,
            }
        };
        Self { intid: ((value >> 24) & 0xf) as u32, routing }
    }

    /// The vCPUs of a partition with `vcpu_count` vCPUs that receive the SGI sent by vCPU
    /// `sender`.
    pub fn targets(&self, sender: usize, vcpu_count: usize) -> VcpuSet {
        let mut targets = VcpuSet::EMPTY;
        match self.routing {
            SgiRouting::AllButSelf => {
                for vcpu in (0..vcpu_count).filter(|&vcpu| vcpu != sender) {
                    targets = targets.with(vcpu);
                }
            }
            SgiRouting::Targeted { target_list, range_selector, aff1, aff2, aff3 } => {
                if aff1 != 0 || aff2 != 0 || aff3 != 0 {
                    return targets;
                }
                // `RS` is 4 bits, so nothing here saturates; a saturated value would still
                // name no vCPU of the partition.
                let base = usize::from(range_selector).saturating_mul(16);
                for bit in (0..16).filter(|bit| target_list & (1 << bit) != 0) {
                    let vcpu = base.saturating_add(bit);
                    if vcpu < vcpu_count {
                        targets = targets.with(vcpu);
                    }
                }
            }
        }
        targets
    }
}

impl<const SPI_BLOCKS: usize> VirtualGic<SPI_BLOCKS> {
    /// The image found `intid` still in one of `vcpu`'s list registers in the Pending state:
    /// the guest has not acknowledged it. Any edge latched since [`VirtualGic::mark_delivered`]
    /// (a repeated SGI, an `ISPENDR` write) is the same pending state, so the latch is
    /// cleared; the interrupt is then delivered once, not once more after its EOI.
    ///
    /// Why: the model counts an interrupt as active from the moment it is put in a list
    /// register, so a second SGI sent while the guest kept interrupts masked latched it
    /// again and it was delivered twice (issue 14: an SGI sent 10 000 times to a vCPU with
    /// interrupts masked). Pending is one bit per interrupt (IHI 0069 4.1.2), so only
    /// an interrupt the guest has acknowledged (list register Active or Pending+Active) may
    /// become pending a second time. The image calls this on the vCPU's own core, where the
    /// guest cannot run, whenever it reads a list register back in the Pending state.
    pub fn merge_unacknowledged(&mut self, vcpu: usize, intid: u32) -> Result<(), VgicError> {
        if vcpu >= self.vcpu_count {
            return Err(VgicError::NoSuchVcpu { vcpu });
        }
        let location = if intid < PRIVATE_INTERRUPT_COUNT {
            BankLocation::Private(vcpu)
        } else if Self::is_implemented(intid) {
            Self::shared_location(intid)
        } else {
            return Err(VgicError::NoSuchInterrupt { intid });
        };
        let bank = self.bank_mut(location).ok_or(VgicError::NoSuchInterrupt { intid })?;
        let bit = intid.checked_rem(32).and_then(|bit| 1_u32.checked_shl(bit)).unwrap_or(0);
        bank.pending_latch &= !bit;
        Ok(())
    }
}

// [utest->dsn~vgic-sgi~1]
#[cfg(test)]
mod tests {
    use super::*;
    use crate::esr::{Direction, Register, Syndrome, SystemRegisterAccess, decode};
    use crate::vgic::AccessWidth;

    fn collect(set: VcpuSet) -> heapless::Vec<usize, 32> {
        set.iter().collect()
    }

    #[test]
    fn targeted_sgi_decodes_every_field() {
        // INTID 5, Aff3 3, RS 2, Aff2 1, Aff1 7, TargetList 0b1010.
        let request = SgiRequest::from_bits(0x0003_2001_0507_000a);
        assert_eq!(request.intid, 5);
        assert_eq!(
            request.routing,
            SgiRouting::Targeted { target_list: 0b1010, range_selector: 2, aff1: 7, aff2: 1, aff3: 3 }
        );
    }

    #[test]
    fn target_list_selects_vcpus_by_aff0() {
        let request = SgiRequest::from_bits(0x0100_0005);
        assert_eq!(request.intid, 1);
        assert_eq!(collect(request.targets(0, 4)).as_slice(), &[0, 2]);
    }

    #[test]
    fn sender_may_target_itself_explicitly() {
        let request = SgiRequest::from_bits(0x0300_0002);
        assert_eq!(collect(request.targets(1, 2)).as_slice(), &[1]);
    }

    #[test]
    fn irm_targets_everyone_but_the_sender_and_ignores_the_list() {
        let request = SgiRequest::from_bits((1 << 40) | 0x0f00_0001);
        assert_eq!(request.intid, 15);
        assert_eq!(collect(request.targets(1, 4)).as_slice(), &[0, 2, 3]);
        assert!(request.targets(0, 1).is_empty(), "a lone vCPU broadcasts to nobody");
    }

    #[test]
    fn range_selector_shifts_the_target_list() {
        // RS = 1 names Aff0 16..31: outside an 8-vCPU partition.
        let request = SgiRequest::from_bits((1 << 44) | 0xffff);
        assert!(request.targets(0, 8).is_empty());
        let request = SgiRequest::from_bits(0xffff);
        assert_eq!(collect(request.targets(0, 3)).as_slice(), &[0, 1, 2]);
    }

    #[test]
    fn targets_in_other_clusters_are_dropped() {
        for value in [1 << 16, 1 << 32, 1 << 48] {
            assert!(SgiRequest::from_bits(value | 0x1).targets(0, 8).is_empty(), "{value:#x}");
        }
    }

    /// `ESR_EL2` for a trapped `MSR` instruction word: EC 0x18, IL, and the instruction's
    /// op0/op1/CRn/CRm/op2/Rt moved into the ISS layout (Arm ARM, ISS encoding for an
    /// exception from MSR, MRS or System instruction execution).
    fn trapped_msr(instruction: u32) -> u64 {
        let field = |shift: u32, width: u32| u64::from((instruction >> shift) & ((1 << width) - 1));
        let op0 = 2 + field(19, 1);
        let iss = (op0 << 20) | (field(5, 3) << 17) | (field(16, 3) << 14) | (field(12, 4) << 10)
            | (field(0, 5) << 5) | (field(8, 4) << 1);
        (0x18 << 26) | (1 << 25) | iss
    }

    #[test]
    fn all_three_sgi_registers_decode_from_the_instructions_an_assembler_emits() {
        // Issue 14: ICC_SGI0R_EL1 and ICC_ASGI1R_EL1 writes got UNDEF. The words are what
        // LLVM's assembler emits (its test/MC/AArch64/gicv3-regs.s): `msr icc_sgi1r_el1, x21`,
        // `msr icc_asgi1r_el1, x25`, `msr icc_sgi0r_el1, x28`.
        let cases = [
            (0xd518_cbb5_u32, SgiRegister::Sgi1r, 21),
            (0xd518_cbd9, SgiRegister::Asgi1r, 25),
            (0xd518_cbfc, SgiRegister::Sgi0r, 28),
        ];
        for (instruction, expected, rt) in cases {
            let Syndrome::SystemRegisterAccess(access) = decode(trapped_msr(instruction)) else {
                panic!("{instruction:#x} is not a system register trap")
            };
            assert_eq!(
                access,
                SystemRegisterAccess {
                    register: access.register,
                    transfer_register: Register::X(rt),
                    direction: Direction::Write
                }
            );
            assert_eq!(SgiRegister::from_system_register(access.register), Some(expected), "{instruction:#x}");
        }
        assert_eq!(SgiRegister::ICC_SGI0R_EL1, SystemRegister::new(3, 0, 12, 11, 7));
        assert_eq!(SgiRegister::ICC_ASGI1R_EL1, SystemRegister::new(3, 0, 12, 11, 6));
    }

    #[test]
    fn the_aarch32_opc1_values_and_neighbours_are_not_sgi_registers() {
        for register in [
            SystemRegister::new(3, 1, 12, 11, 6),
            SystemRegister::new(3, 2, 12, 11, 7),
            SystemRegister::new(3, 0, 12, 11, 4),
            SystemRegister::new(3, 0, 12, 12, 5),
            SystemRegister::new(2, 0, 12, 11, 5),
        ] {
            assert_eq!(SgiRegister::from_system_register(register), None, "{register:?}");
        }
    }

    /// A one-vCPU GIC with SGI 3 enabled (Group 1 enabled in GICD_CTLR).
    fn gic_with_sgi_3_enabled() -> VirtualGic {
        let mut gic = VirtualGic::<2>::new(1).unwrap();
        let _ = gic.distributor_write(0x0000, AccessWidth::Word, 0b10).unwrap();
        let _ = gic.redistributor_write(0x1_0100, AccessWidth::Word, 1 << 3).unwrap();
        gic
    }

    /// The guest with interrupts masked sends SGI 3 to itself `count` times; the image puts
    /// the first in a list register, where it stays Pending.
    fn send_while_masked(gic: &mut VirtualGic, count: u32, merge: bool) {
        for _ in 0..count {
            let _ = gic.send_sgi(0, SgiRegister::Sgi1r, 0x0300_0001).unwrap();
            if let Some(pending) = gic.next_pending(0) {
                gic.mark_delivered(0, pending.intid).unwrap();
            }
            if merge {
                // The image's sync on exit: the list register still reads Pending.
                gic.merge_unacknowledged(0, 3).unwrap();
            }
        }
    }

    #[test]
    fn an_sgi_sent_10000_times_while_masked_is_delivered_once() {
        let mut gic = gic_with_sgi_3_enabled();
        send_while_masked(&mut gic, 10_000, true);
        // The guest unmasks, acknowledges and EOIs the one list register entry.
        assert_eq!(gic.end_of_interrupt(0, 3), Ok(None), "nothing left to deliver");
        assert_eq!(gic.next_pending(0), None);
    }

    #[test]
    fn without_the_merge_the_latched_copy_is_delivered_a_second_time() {
        // The finding, reproduced on the model as the image drives it today.
        let mut gic = gic_with_sgi_3_enabled();
        send_while_masked(&mut gic, 10_000, false);
        assert_eq!(gic.end_of_interrupt(0, 3), Ok(Some(0)));
        assert_eq!(gic.next_pending(0).map(|pending| pending.intid), Some(3), "second delivery");
    }

    #[test]
    fn an_sgi_sent_after_the_guest_acknowledged_is_delivered_again() {
        // Active and pending is a real second interrupt: no merge when the list register
        // reads Active.
        let mut gic = gic_with_sgi_3_enabled();
        send_while_masked(&mut gic, 1, true);
        let _ = gic.send_sgi(0, SgiRegister::Sgi1r, 0x0300_0001).unwrap();
        assert_eq!(gic.end_of_interrupt(0, 3), Ok(Some(0)));
        assert_eq!(gic.next_pending(0).map(|pending| pending.intid), Some(3));
    }

    #[test]
    fn merging_checks_its_arguments() {
        let mut gic = gic_with_sgi_3_enabled();
        assert_eq!(gic.merge_unacknowledged(1, 3), Err(VgicError::NoSuchVcpu { vcpu: 1 }));
        assert_eq!(gic.merge_unacknowledged(0, 1020), Err(VgicError::NoSuchInterrupt { intid: 1020 }));
        assert_eq!(gic.merge_unacknowledged(0, 40), Ok(()));
    }
}
