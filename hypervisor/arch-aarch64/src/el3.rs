//! What a core that starts at EL3 sets up before the boot assembly drops it to EL2, beyond
//! `SCR_EL3` (which [`crate::boot`] writes): the pieces the Raspberry Pi's `armstub8` writes
//! on real hardware before it enters an image at EL2, for images entered at EL3 instead
//! (QEMU `raspi4b` starts every core of a non-Linux ELF there).
//!
//! - [`enable_coherency`]: `CPUECTLR_EL1.SMPEN` on the Cortex-A53/A57/A72, which must be set
//!   before caches and MMU are enabled for the core to take part in coherency (the A72
//!   TRM, `CPUECTLR_EL1`; `armstub8` sets it). The register is IMPLEMENTATION DEFINED, so it is
//!   written only on those cores (`bulkhead_core::cpu_model::has_smpen`, by `MIDR_EL1`); QEMU
//!   models it as a constant and ignores the write.
//! - [`set_counter_frequency`]: `CNTFRQ_EL0` is writable only at the highest EL; firmware
//!   normally programs it (`armstub8`: 54 MHz, the BCM2711 crystal). QEMU resets it to the
//!   frequency its counter really runs at, so it is written only when the board's device tree
//!   states one (`clock-frequency` of the timer node); the Raspberry Pi's tree does not.
//!
//! The GIC's secure-side hand-over is the interrupt controller driver's job
//! (`bulkhead_drivers::gicv2_secure`), chosen by the image from the board's tables.

use aarch64_cpu::registers::{MIDR_EL1, Readable};
use bulkhead_core::cpu_model::{CPUECTLR_SMPEN, has_smpen};

/// Sets `CPUECTLR_EL1.SMPEN` on cores that have it; call at EL3, MMU and caches off.
pub fn enable_coherency() {
    if !has_smpen(MIDR_EL1.get()) {
        return;
    }
    // Kept as `asm!`: `CPUECTLR_EL1` (S3_1_C15_C2_1) is IMPLEMENTATION DEFINED and
    // aarch64-cpu does not wrap it.
    // SAFETY: on the cores `has_smpen` accepts, S3_1_C15_C2_1 is CPUECTLR_EL1, accessible at
    // EL3; setting SMPEN before the caches are on is what their TRMs require. No memory is
    // touched.
    unsafe {
        core::arch::asm!(
            "mrs {value}, S3_1_C15_C2_1",
            "orr {value}, {value}, {smpen}",
            "msr S3_1_C15_C2_1, {value}",
            "isb",
            value = out(reg) _,
            smpen = const CPUECTLR_SMPEN,
            options(nostack, preserves_flags),
        );
    }
}

/// Programs `CNTFRQ_EL0` with `hertz` (only possible at the highest EL, here EL3).
pub fn set_counter_frequency(hertz: u64) {
    // Kept as `asm!`: aarch64-cpu offers `CNTFRQ_EL0` read-only (writable at the highest EL
    // only).
    // SAFETY: at EL3 CNTFRQ_EL0 is writable; it only tells software the counter's frequency
    // and touches no memory.
    unsafe {
        core::arch::asm!("msr cntfrq_el0, {hertz}", hertz = in(reg) hertz, options(nostack, preserves_flags));
    }
}
