//! Per-core virtualization controls: what a vCPU may do without trapping, its stage-2
//! translation, and entering it.

use aarch64_cpu::asm::barrier;
use aarch64_cpu::registers::{
    CNTHCTL_EL2, CNTVOFF_EL2, CPTR_EL2, HCR_EL2, MDCR_EL2, MIDR_EL1, Readable, VMPIDR_EL2, VTCR_EL2, VTTBR_EL2,
    Writeable,
};

// `HCR_EL2` while a vCPU runs (Arm ARM D19.2.48), written in `configure_core` with
// aarch64-cpu's typed fields: stage 2 on (`VM`); set/way invalidation upgraded to
// clean+invalidate (`SWIO`); physical IRQ, FIQ and SError to EL2 with virtual ones to the guest
// (`IMO`, `FMO`, `AMO`); the guest's TLB/cache maintenance broadcast (`FB`) and its barriers at
// least inner shareable (`BSU`); `SMC` trapped so PSCI is emulated and firmware never reached
// (`TSC`); EL1 in AArch64 (`RW`); pointer authentication left to the guest, which owns the core
// (`APK`, `API`). WFI/WFE do not trap: the core belongs to this vCPU, so sleeping in the guest
// is the cheapest idle there is.

/// CNTHCTL_EL2 (E2H = 0): EL1PCTEN lets the guest read the physical counter.
const CNTHCTL_EL1PCTEN: u64 = 1 << 0;
/// CNTHCTL_EL2 (E2H = 0): EL1PCEN gives the guest the EL1 physical timer (`CNTP_*_EL0`); its
/// PPI 30 is forwarded hardware-backed like the virtual timer's (the image's
/// `HARDWARE_PRIVATE_INTERRUPTS`). The hypervisor never uses the EL1 timers itself.
const CNTHCTL_EL1PCEN: u64 = 1 << 1;

/// MDCR_EL2 trap bits (Arm ARM D19.3, `MDCR_EL2`; the same offsets as aarch64-cpu's
/// `MDCR_EL2` fields): TPMCR (bit 5) and TPM (bit 6) trap every Performance Monitors register
/// access from EL1/EL0 to EL2; TDA (bit 9), TDOSA (bit 10) and TDRA (bit 11) trap the debug,
/// OS-lock/power-down and debug-ROM registers. HPME (bit 7) = 0 keeps the counters reserved
/// for EL2 disabled and TDE (bit 8) = 0 leaves debug exceptions at EL1. The trap handler
/// emulates the trapped registers as read-as-zero/write-ignored (a PMU with no counters that
/// counts nothing, debug hardware that does nothing): the guest can neither time EL2 with the
/// cycle counter nor keep PMU or breakpoint state the hypervisor would have to partition.
const MDCR_EL2_TRAPS: u64 = (1 << 5) | (1 << 6) | (1 << 9) | (1 << 10) | (1 << 11);
/// MDCR_EL2.HPMN (bits 4:0): kept at its reset value (PMCR_EL0.N), since 0 is only allowed
/// with FEAT_HPMN0; with TPM set it has no effect on the guest.
const MDCR_EL2_HPMN: u64 = 0x1f;

/// CPTR_EL2 (E2H = 0): RES1 bits 13:12 and 9:0; TFP = 0 so the guest owns FP/SIMD.
const CPTR_EL2_RES1: u64 = (0b11 << 12) | 0x3ff;

/// Per-core traps and timer controls for running a vCPU whose virtual MPIDR affinity is
/// `virtual_affinity`.
// [impl->dsn~el2-guest-controls~1]
pub fn configure_core(virtual_affinity: u64) {
    #[expect(clippy::arithmetic_side_effects, reason = "DEV-0050: `+` combines register fields")]
    HCR_EL2.write(
        HCR_EL2::VM::Enable
            + HCR_EL2::SWIO::SET
            + HCR_EL2::FMO::EnableVirtualFIQ
            + HCR_EL2::IMO::EnableVirtualIRQ
            + HCR_EL2::AMO::SET
            + HCR_EL2::FB::SET
            + HCR_EL2::BSU::InnerShareable
            + HCR_EL2::TSC::EnableTrapEl1SmcToEl2
            + HCR_EL2::RW::EL1IsAarch64
            + HCR_EL2::APK::DisableTrapPointerAuthKeyRegsToEl2
            + HCR_EL2::API::DisableTrapPointerAuthInstToEl2,
    );
    CNTHCTL_EL2.set(CNTHCTL_EL1PCTEN | CNTHCTL_EL1PCEN);
    MDCR_EL2.set((MDCR_EL2.get() & MDCR_EL2_HPMN) | MDCR_EL2_TRAPS);
    CNTVOFF_EL2.set(0);
    CPTR_EL2.set(CPTR_EL2_RES1);
    // Bit 31 of MPIDR is RES1; U (bit 30) = 0: part of a multiprocessor system.
    VMPIDR_EL2.set((1 << 31) | virtual_affinity);
    let midr = MIDR_EL1.get();
    // Kept as `asm!`: aarch64-cpu 11.2 has no VPIDR_EL2.
    // SAFETY: VPIDR_EL2 only sets the value the guest reads from MIDR_EL1; aarch64-cpu has
    // no wrapper for it.
    unsafe { core::arch::asm!("msr vpidr_el2, {}", in(reg) midr, options(nostack)) };
    barrier::isb(barrier::SY);
}

/// Installs the partition's stage-2 translation on this core and drops stale entries for its
/// VMID.
// [impl->dsn~el2-guest-controls~1]
pub fn install_stage2(vtcr: u64, vttbr: u64) {
    VTCR_EL2.set(vtcr);
    VTTBR_EL2.set(vttbr);
    barrier::isb(barrier::SY);
    barrier::dsb(barrier::ISHST);
    // Kept as `asm!`: aarch64-cpu has no TLBI wrappers.
    // SAFETY: TLBI VMALLS12E1IS invalidates stage-1 and stage-2 entries of the current VMID
    // on all cores; it changes no memory and only costs refills.
    // [impl->dsn~el2-guest-controls~1]
    unsafe { core::arch::asm!("tlbi vmalls12e1is", options(nostack)) };
    barrier::dsb(barrier::ISH);
    barrier::isb(barrier::SY);
}

/// SCTLR_EL1 RES1 bits (Arm ARM D19.2.124) with M, C and I clear: the arm64 boot protocol
/// wants the guest entered with its MMU and data cache off.
const SCTLR_EL1_RESET: u64 = (1 << 11) | (1 << 20) | (1 << 22) | (1 << 23) | (1 << 28) | (1 << 29);

/// Puts the EL1 state a guest boot depends on into its reset form (used before every vCPU
/// start, so a restarted partition does not inherit its previous life's MMU setup), through
/// aarch64-cpu's typed registers: `SCTLR_EL1` with M, C and I clear (its RES1 bits have no
/// fields in the crate, so the value is written whole), FP/SIMD, SVE and trace accesses
/// trapped to the guest's EL1 until its own kernel enables them (`CPACR_EL1` = 0), both EL1
/// timers (virtual and physical) off, and no guest vector table.
// [impl->dsn~el2-guest-controls~1]
pub fn reset_el1_state() {
    use aarch64_cpu::registers::{CNTP_CTL_EL0, CNTV_CTL_EL0, CPACR_EL1, SCTLR_EL1, VBAR_EL1};
    SCTLR_EL1.set(SCTLR_EL1_RESET);
    #[expect(clippy::arithmetic_side_effects, reason = "DEV-0050: `+` combines register fields")]
    CPACR_EL1.write(CPACR_EL1::FPEN::TrapEl0El1 + CPACR_EL1::ZEN::TrapEl0El1 + CPACR_EL1::TTA::NoTrap);
    #[expect(clippy::arithmetic_side_effects, reason = "DEV-0050: `+` combines register fields")]
    CNTV_CTL_EL0.write(CNTV_CTL_EL0::ENABLE::CLEAR + CNTV_CTL_EL0::IMASK::CLEAR);
    #[expect(clippy::arithmetic_side_effects, reason = "DEV-0050: `+` combines register fields")]
    CNTP_CTL_EL0.write(CNTP_CTL_EL0::ENABLE::CLEAR + CNTP_CTL_EL0::IMASK::CLEAR);
    VBAR_EL1.set(0);
    barrier::isb(barrier::SY);
}

/// What the hardware recorded about the trap being handled: `ESR_EL2`, `FAR_EL2`,
/// `HPFAR_EL2`.
#[derive(Clone, Copy, Debug)]
pub struct TrapSyndrome {
    /// Exception syndrome.
    pub esr: u64,
    /// Faulting virtual address (valid for aborts).
    pub far: u64,
    /// Faulting IPA page (valid for stage-2 aborts).
    pub hpfar: u64,
}

/// Reads the syndrome registers of the current trap.
pub fn trap_syndrome() -> TrapSyndrome {
    use aarch64_cpu::registers::{ESR_EL2, FAR_EL2, HPFAR_EL2};
    TrapSyndrome { esr: ESR_EL2.get(), far: FAR_EL2.get(), hpfar: HPFAR_EL2.get() }
}

/// The guest's exception vector base (`VBAR_EL1`).
pub fn vector_base() -> u64 {
    aarch64_cpu::registers::VBAR_EL1.get()
}

/// Makes the guest's EL1 see an exception: the syndrome, fault address, return address and
/// saved PSTATE it will find on entry to its handler. The caller then points the trap frame
/// at the handler.
pub fn set_exception_registers(esr: u64, far: u64, elr: u64, spsr: u64) {
    use aarch64_cpu::registers::{ELR_EL1, ESR_EL1, FAR_EL1, SPSR_EL1};
    ESR_EL1.set(esr);
    FAR_EL1.set(far);
    ELR_EL1.set(elr);
    SPSR_EL1.set(spsr);
}

/// The guest's `SCTLR_EL1` (exception entry depends on some of its bits).
pub fn system_control() -> u64 {
    aarch64_cpu::registers::SCTLR_EL1.get()
}
