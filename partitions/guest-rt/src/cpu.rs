//! Facts about the running vCPU, and parking it.

use aarch64_cpu::asm::wfi;
use aarch64_cpu::registers::{CurrentEL, DAIF, MPIDR_EL1, Readable};
use tock_registers::interfaces::ReadWriteable;

use crate::BootInfo;

/// The exception level the code runs at (1 for a guest).
pub fn current_el() -> u8 {
    CurrentEL.read(CurrentEL::EL) as u8
}

/// This vCPU's index: `MPIDR_EL1.Aff0`, which is also how the boot code picks its stack.
pub fn current_index() -> usize {
    MPIDR_EL1.read(MPIDR_EL1::Aff0) as usize
}

/// This vCPU's affinity (`MPIDR_EL1` Aff3..Aff0, other bits cleared), the form device trees
/// and PSCI use.
pub fn current_affinity() -> u64 {
    const AFFINITY_MASK: u64 = 0xff_00ff_ffff;
    MPIDR_EL1.get() & AFFINITY_MASK
}

/// Stops this vCPU for good: interrupts masked, waiting forever.
pub fn park() -> ! {
    DAIF.modify(DAIF::I::Masked + DAIF::F::Masked);
    loop {
        wfi();
    }
}

/// The secondary entry of guests declared with `entry!(main)` alone.
pub fn park_secondary(_vcpu: usize, _boot: &'static BootInfo) -> ! {
    park()
}
