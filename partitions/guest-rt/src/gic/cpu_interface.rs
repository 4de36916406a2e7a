//! The GICv3 CPU interface, reached through `ICC_*_EL1` system registers (Arm IHI 0069,
//! "The GIC CPU interface" and the ICC_* register descriptions).
//!
//! `aarch64-cpu` does not define these registers (it only has a read-only `ICC_CTLR_EL1`
//! with one field), so each access is one `mrs`/`msr` here. Under a hypervisor with
//! `HCR_EL2.IMO` set the same instructions reach the virtual CPU interface (`ICV_*`), so the
//! guest needs no code of its own for running virtualized.
//!
//! The registers are named by their encodings (op0_op1_Cn_Cm_op2, from the register
//! descriptions) so that the assembler needs no GIC-specific extension enabled.

use core::arch::asm;

use aarch64_cpu::asm::barrier;

use super::GicError;

/// `ICC_SRE_EL1.SRE`: use the system register interface rather than a memory-mapped GICC.
const SYSTEM_REGISTER_ENABLE: u64 = 1 << 0;
/// INTIDs 1020-1023 are special: nothing (more) to acknowledge for this interrupt group.
const FIRST_SPECIAL_INTID: u32 = 1020;
/// `ICC_PMR_EL1` value that lets every priority through.
const PRIORITY_MASK_OPEN: u64 = 0xff;

/// Prepares this vCPU's CPU interface to signal Group 1 interrupts as IRQs.
pub(super) fn init() -> Result<(), GicError> {
    let system_register_enable: u64;
    // SAFETY: ICC_SRE_EL1 reads have no side effect.
    unsafe {
        asm!("mrs {}, S3_0_C12_C12_5", out(reg) system_register_enable, options(nomem, nostack))
    };
    // SAFETY: setting SRE only selects how this vCPU reaches its own CPU interface; no memory
    // is involved. A higher level may hold the bit fixed, which the read-back below detects.
    unsafe {
        asm!(
            "msr S3_0_C12_C12_5, {}",
            in(reg) system_register_enable | SYSTEM_REGISTER_ENABLE,
            options(nomem, nostack),
        )
    };
    barrier::isb(barrier::SY);
    let read_back: u64;
    // SAFETY: as for the first read of ICC_SRE_EL1.
    unsafe { asm!("mrs {}, S3_0_C12_C12_5", out(reg) read_back, options(nomem, nostack)) };
    if read_back & SYSTEM_REGISTER_ENABLE == 0 {
        return Err(GicError::SystemRegisterInterfaceDisabled);
    }
    // SAFETY: ICC_PMR_EL1 only sets which priorities this vCPU's interface signals.
    unsafe { asm!("msr S3_0_C4_C6_0, {}", in(reg) PRIORITY_MASK_OPEN, options(nomem, nostack)) };
    // SAFETY: ICC_CTLR_EL1 = 0 selects EOImode 0 (a write to ICC_EOIR1_EL1 both drops the
    // running priority and deactivates, so no ICC_DIR_EL1 write is needed) and separate
    // binary points; it affects only this vCPU's interface.
    unsafe { asm!("msr S3_0_C12_C12_4, xzr", options(nomem, nostack)) };
    // SAFETY: ICC_IGRPEN1_EL1 = 1 enables Group 1 interrupts at this vCPU's interface only.
    unsafe { asm!("msr S3_0_C12_C12_7, {}", in(reg) 1_u64, options(nomem, nostack)) };
    barrier::isb(barrier::SY);
    Ok(())
}

/// Sends SGI `intid` to the vCPU with affinity `0.0.0.target` (`ICC_SGI1R_EL1`: TargetList
/// bit `target` below 16, RS = `target / 16`, INTID at [27:24]).
pub(super) fn send_sgi(intid: u32, target: usize) {
    let value = (1_u64 << (target % 16)) | (u64::from(intid & 0xf) << 24) | ((target as u64 / 16) << 44);
    barrier::dsb(barrier::ISHST);
    // SAFETY: ICC_SGI1R_EL1 only raises an SGI (trapped to the hypervisor, which emulates it
    // for this partition's vCPUs); it touches no memory.
    unsafe { asm!("msr S3_0_C12_C11_5, {}", in(reg) value, options(nomem, nostack)) };
    barrier::isb(barrier::SY);
}

/// Acknowledges the highest-priority pending Group 1 interrupt: its INTID, or `None` when
/// there is none (a spurious INTID).
pub(super) fn acknowledge() -> Option<u32> {
    let interrupt_acknowledge: u64;
    // SAFETY: reading ICC_IAR1_EL1 marks the interrupt active in the GIC, which is the point;
    // it touches no memory. Neither `pure` (two reads acknowledge two interrupts) nor `nomem`
    // (the handler's device accesses must stay after it).
    unsafe { asm!("mrs {}, S3_0_C12_C12_0", out(reg) interrupt_acknowledge, options(nostack)) };
    // INTID is bits [23:0]; with 16-bit INTIDs the upper bits read as zero.
    let intid = (interrupt_acknowledge & 0xff_ffff) as u32;
    (intid < FIRST_SPECIAL_INTID).then_some(intid)
}

/// Ends the interrupt `intid` returned by [`acknowledge`]: drops the running priority and,
/// with EOImode 0, deactivates it.
pub(super) fn end_of_interrupt(intid: u32) {
    // SAFETY: writing ICC_EOIR1_EL1 completes an interrupt this vCPU acknowledged; it touches
    // no memory. Not `nomem`: the handler's write that silenced the device must come first.
    unsafe { asm!("msr S3_0_C12_C12_1, {}", in(reg) u64::from(intid), options(nostack)) };
}
