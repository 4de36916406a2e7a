//! The secure side's part of a GIC-400 with Security Extensions, for a core that starts at
//! EL3 and will run the hypervisor at Non-secure EL2: what the Raspberry Pi's `armstub8`
//! (`setup_gic`) does before it enters an image at EL2.
//!
//! With Security Extensions, every interrupt resets to Group 0 (Secure): Non-secure software
//! can neither see nor configure it, and a Non-secure write to `GICC_PMR` is ignored while the
//! mask is in the Secure half (reset value 0: everything masked). So, from the Secure side:
//! every interrupt to Group 1 (`GICD_IGROUPR<n>`, `IGROUPR0` banked per core, hence run on
//! every core), Group 1 forwarding on in `GICD_CTLR`, and `GICC_PMR` = 0xff. This is
//! `arm-gic`'s `GicV2::setup` when `GICD_TYPER.SecurityExtn` is set, which is used as is
//! (boot code: its `unwrap()`s are on constant in-range indices and no trap reaches here).
//!
//! Without Security Extensions (QEMU `raspi4b` and `virt` model none) there are no groups to
//! hand over: the hypervisor's own set-up at EL2 (`gicv2::PhysicalGic::initialise`) owns the
//! GIC, and nothing is written here.

use arm_gic::gicv2::GicV2;
use arm_gic::gicv2::registers::{Gicc, Gicd};

/// What [`hand_over_to_non_secure`] found and did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HandOver {
    /// A frame address is null: nothing written.
    NoFrames,
    /// `GICD_TYPER.SecurityExtn` is clear: nothing to hand over, nothing written.
    NoSecurityExtensions,
    /// Every interrupt is Group 1 (Non-secure), Group 1 forwarding is on and this core's
    /// priority mask lets Non-secure software use every priority.
    NonSecureGroup1,
}

/// Hands the GIC whose distributor and (banked) CPU interface frames are at the addresses
/// `distributor` and `cpu_interface` over to Non-secure software; run on every core, in Secure state.
///
/// # Safety
/// Both addresses must be the GIC's frames (or memory laid out like them), reachable at
/// these addresses, and nothing else may drive the GIC meanwhile except other cores running
/// this same function.
pub unsafe fn hand_over_to_non_secure(distributor: usize, cpu_interface: usize) -> HandOver {
    if distributor == 0 || cpu_interface == 0 {
        return HandOver::NoFrames;
    }
    // SAFETY: the caller guarantees both non-null addresses are the GIC's frames and that no
    // other driver instance uses them meanwhile (other cores write the same values).
    let mut gic = unsafe { GicV2::new(distributor as *mut Gicd, cpu_interface as *mut Gicc) };
    if !gic.typer().has_security_extension() {
        return HandOver::NoSecurityExtensions;
    }
    gic.setup();
    HandOver::NonSecureGroup1
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_memory::RegisterMemory;

    const GICD_CTLR: usize = 0x000;
    const GICD_TYPER: usize = 0x004;
    const GICD_IGROUPR: usize = 0x080;
    const GICC_PMR: usize = 0x004;
    /// `GICD_TYPER.SecurityExtn`.
    const SECURITY_EXTN: u32 = 1 << 10;

    fn frames() -> (&'static RegisterMemory<{ 0x1000 / 4 }>, &'static RegisterMemory<{ 0x2000 / 4 }>) {
        (RegisterMemory::leak(), RegisterMemory::leak())
    }

    fn hand_over(
        distributor: &'static RegisterMemory<{ 0x1000 / 4 }>,
        cpu_interface: &'static RegisterMemory<{ 0x2000 / 4 }>,
    ) -> HandOver {
        assert!(size_of::<Gicd>() <= 0x1000 && size_of::<Gicc>() <= 0x2000);
        let gicd = core::ptr::from_ref(distributor) as usize;
        let gicc = core::ptr::from_ref(cpu_interface) as usize;
        // SAFETY: (test) both blocks are as large as the frames, live forever and are only
        // used by this call.
        unsafe { hand_over_to_non_secure(gicd, gicc) }
    }

    #[test]
    fn with_security_extensions_every_interrupt_goes_to_group_1_and_the_mask_opens() {
        let (distributor, cpu_interface) = frames();
        distributor.set(GICD_TYPER, SECURITY_EXTN | 0b111);
        assert_eq!(hand_over(distributor, cpu_interface), HandOver::NonSecureGroup1);
        for register in 0..8 {
            assert_eq!(distributor.get(GICD_IGROUPR + 4 * register), u32::MAX, "IGROUPR{register}: Group 1");
        }
        assert_eq!(distributor.get(GICD_CTLR) & 0b10, 0b10, "GICD_CTLR.EnableGrp1");
        assert_eq!(cpu_interface.get(GICC_PMR), 0xff, "Non-secure may now set any priority mask");
    }

    #[test]
    fn without_security_extensions_nothing_is_written() {
        let (distributor, cpu_interface) = frames();
        distributor.set(GICD_TYPER, 0b111);
        assert_eq!(hand_over(distributor, cpu_interface), HandOver::NoSecurityExtensions);
        assert_eq!(distributor.get(GICD_IGROUPR), 0);
        assert_eq!(distributor.get(GICD_CTLR), 0);
        assert_eq!(cpu_interface.get(GICC_PMR), 0);
    }

    #[test]
    fn a_missing_frame_is_no_hand_over() {
        let (distributor, _) = frames();
        distributor.set(GICD_TYPER, SECURITY_EXTN);
        let gicd = core::ptr::from_ref(distributor) as usize;
        // SAFETY: (test) a null CPU interface is refused before anything is dereferenced.
        let outcome = unsafe { hand_over_to_non_secure(gicd, 0) };
        assert_eq!(outcome, HandOver::NoFrames);
        assert_eq!(distributor.get(GICD_IGROUPR), 0);
    }
}
