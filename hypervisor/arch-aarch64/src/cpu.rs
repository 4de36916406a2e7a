//! Small per-core primitives: identity, barriers, waiting for events, counters.

use aarch64_cpu::asm;
use aarch64_cpu::asm::barrier;
use aarch64_cpu::registers::{CNTFRQ_EL0, CNTPCT_EL0, ID_AA64ISAR0_EL1, ID_AA64MMFR0_EL1, MPIDR_EL1, Readable, Writeable};

/// Affinity fields Aff3..Aff0 of `MPIDR_EL1` (Arm ARM D19.2.101): what identifies a core.
pub const MPIDR_AFFINITY_MASK: u64 = 0xff_00ff_ffff;

/// This core's affinity (`MPIDR_EL1` with only Aff3..Aff0 kept).
pub fn affinity() -> u64 {
    MPIDR_EL1.get() & MPIDR_AFFINITY_MASK
}

/// Sleeps until an event (`SEV` from another core, or an interrupt becoming pending).
pub fn wait_for_event() {
    asm::wfe();
}

/// Wakes every core waiting in [`wait_for_event`], after making earlier stores visible.
pub fn send_event() {
    barrier::dsb(barrier::ISH);
    asm::sev();
}

/// The spin-wait hint `YIELD`, for a core waiting on another (a lock's relax step).
///
/// Kept as `asm!`: aarch64-cpu 11.2 has no `YIELD`. On the Cortex-A53/A72 (no SMT) it does
/// nothing; an emulator running cores round-robin on one thread (QEMU TCG, deterministic
/// `-icount` mode) hands the thread to the next core at it, so a waiter lets the holder run
/// instead of spinning out its time slice.
#[inline(always)]
pub fn yield_hint() {
    // SAFETY: `YIELD` is a hint with no architectural effect on registers, memory or flags.
    unsafe { core::arch::asm!("yield", options(nomem, nostack, preserves_flags)) };
}

/// The physical counter (`CNTPCT_EL0`).
pub fn counter() -> u64 {
    CNTPCT_EL0.get()
}

/// A 64-bit random number from the Armv8.5 `RNDR` register (FEAT_RNG), or `None` when this
/// core does not implement it (`ID_AA64ISAR0_EL1.RNDR` is 0; reading `RNDR` would then be
/// an Undefined Instruction at EL2) or the generator reports no entropy now (`PSTATE.Z`
/// set, Arm ARM D23.2.145).
pub fn random_number() -> Option<u64> {
    if ID_AA64ISAR0_EL1.read(ID_AA64ISAR0_EL1::RNDR) == 0 {
        return None;
    }
    let value: u64;
    let failed: u64;
    // SAFETY: `RNDR` (S3_3_C2_C4_0) exists on this core (checked above); reading it only
    // writes the destination register and the condition flags, which `cset` consumes.
    unsafe {
        core::arch::asm!(
            "mrs {value}, s3_3_c2_c4_0",
            "cset {failed}, eq",
            value = out(reg) value,
            failed = out(reg) failed,
            options(nomem, nostack),
        );
    }
    (failed == 0).then_some(value)
}

/// The counter frequency in Hz (`CNTFRQ_EL0`).
pub fn counter_frequency() -> u64 {
    CNTFRQ_EL0.get()
}

/// `ID_AA64MMFR0_EL1.PARange`: the encoded physical address size of this core.
pub fn physical_address_range() -> u64 {
    ID_AA64MMFR0_EL1.read(ID_AA64MMFR0_EL1::PARange)
}

/// Parks this core for good: interrupts stay masked at EL2, so only reset wakes it.
pub fn halt() -> ! {
    loop {
        asm::wfe();
    }
}

/// Parks a core that runs nothing, for good: like [`halt`], but waiting with `WFI`. Nothing
/// is ever routed to such a core, so no interrupt ends a wait, and QEMU sleeps there instead
/// of yielding at every turn as its `WFE` does (118 k instructions of a Linux boot under
/// `-icount`). Not for a core that may have an interrupt pending: masked, it would end every
/// `WFI` and the core would spin without yielding.
pub fn halt_idle() -> ! {
    loop {
        asm::wfi();
    }
}

/// Records this core's index in the system tables (`TPIDR_EL2`, which only EL2 can read), so
/// trap handlers know which vCPU they serve without searching.
pub fn set_core_index(core: usize) {
    // `usize` is 64 bits wide on AArch64, so neither conversion here or in `core_index` can
    // fail; were one to, the index would name no core and its trap handlers would park it.
    aarch64_cpu::registers::TPIDR_EL2.set(u64::try_from(core).unwrap_or(u64::MAX));
}

/// This core's index, as recorded by [`set_core_index`].
pub fn core_index() -> usize {
    usize::try_from(aarch64_cpu::registers::TPIDR_EL2.get()).unwrap_or(usize::MAX)
}

/// `ID_AA64MMFR0_EL1` (memory model features).
pub fn id_aa64mmfr0() -> u64 {
    ID_AA64MMFR0_EL1.get()
}

/// INTID of the EL2 physical timer (`CNTHP`): PPI 10, the fourth interrupt of the
/// `arm,armv8-timer` binding (Arm BSA: 26).
pub const HYPERVISOR_TIMER_INTID: u32 = 26;

/// Arms this core's EL2 physical timer (`CNTHP_*`, Arm ARM D11.2) to raise
/// [`HYPERVISOR_TIMER_INTID`] once `CNTPCT_EL0` reaches `deadline`. The interrupt is level:
/// it stays asserted until the timer is re-armed later or stopped.
pub fn arm_hypervisor_timer(deadline: u64) {
    // Kept as `asm!`: aarch64-cpu 11.2 has CNTHP_CTL_EL2 but no CNTHP_CVAL_EL2.
    // SAFETY: writing CNTHP_CVAL_EL2 sets the EL2 timer's compare value and nothing else.
    unsafe { core::arch::asm!("msr cnthp_cval_el2, {}", in(reg) deadline, options(nomem, nostack)) };
    // ENABLE (bit 0) set, IMASK (bit 1) clear.
    aarch64_cpu::registers::CNTHP_CTL_EL2.set(1);
    barrier::isb(barrier::SY);
}
