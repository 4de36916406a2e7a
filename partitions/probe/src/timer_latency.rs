//! Virtual timer interrupt latency: ticks from the timer's deadline to the first instruction
//! of the guest's IRQ handler, with the vCPU spinning or asleep in WFI.
//!
//! guest-rt's IRQ path saves a full frame and looks up a handler before any code of the probe
//! runs, which would hide the hypervisor's cost behind the runtime's. So for the measurement
//! the probe installs a vector table of its own whose IRQ entry reads the counter as its very
//! first instruction. To need no memory and no saved registers, that handler uses only
//! `x9`-`x11`, which the waiting code declares clobbered: an IRQ can only arrive inside the
//! waiting code, the one place IRQs are unmasked while the table is installed. Every other
//! exception goes on to guest-rt's vectors (same slot), which report it.
//!
//! The handler acknowledges the interrupt (`ICC_IAR1_EL1`), stops the timer so that its level
//! drops, and ends the interrupt (`ICC_EOIR1_EL1`, EOImode 0 as guest-rt sets it): under a
//! hypervisor the list register's hardware link then deactivates the physical timer
//! interrupt too (GICv3 spec, "Hardware-backed virtual interrupts"). On a GICv2 (the device
//! tree's GIC has a CPU interface frame) a second table does the same through the
//! memory-mapped `GICC_IAR`/`GICC_EOIR`, with the frame's address in `x12`, which the waiting
//! code sets: the same instruction count, so the rows compare across the two GICs.

use core::arch::asm;

use aarch64_cpu::asm::barrier;
use aarch64_cpu::registers::{Readable, VBAR_EL1, Writeable};

/// How the vCPU waits for the interrupt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Waiting {
    /// A one-instruction loop polling a register.
    Spinning,
    /// `WFI` in that loop: the hypervisor may deschedule or idle the vCPU.
    WaitForInterrupt,
}

/// What one measurement saw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sample {
    /// Ticks from the deadline to the handler's first instruction.
    pub latency: u64,
    /// The INTID the handler acknowledged.
    pub intid: u32,
}

// The measurement's IRQ entry on a GICv3: the counter first, then acknowledge
// (`ICC_IAR1_EL1`), stop the timer so that its line drops, end the interrupt
// (`ICC_EOIR1_EL1`: priority drop and deactivation) and tell the waiting loop (x11).
vector_table!(
    "probe_vectors",
    "mrs x9, cntvct_el0",
    "mrs x10, S3_0_C12_C12_0",
    "msr cntv_ctl_el0, xzr",
    "isb",
    "msr S3_0_C12_C12_1, x10",
    "mov x11, #1",
    "eret",
);

// The same on a GICv2, through the CPU interface frame in x12 (`GICC_IAR` at +0x0c,
// `GICC_EOIR` at +0x10): the same instruction count.
vector_table!(
    "probe_vectors_gicv2",
    "mrs x9, cntvct_el0",
    "ldr w10, [x12, #0x0c]",
    "msr cntv_ctl_el0, xzr",
    "isb",
    "str w10, [x12, #0x10]",
    "mov x11, #1",
    "eret",
);

unsafe extern "C" {
    /// The probe's vector table for a GICv3 (above).
    static probe_vectors: u8;
    /// The probe's vector table for a GICv2 (above).
    static probe_vectors_gicv2: u8;
}

/// `GICC_IAR.InterruptID` of a GICv2 (bits [9:0]; above them an SGI's source CPU).
const GICV2_INTERRUPT_ID: u64 = 0x3ff;
/// `ICC_IAR1_EL1.INTID` of a GICv3 (bits [23:0]).
const GICV3_INTERRUPT_ID: u64 = 0xff_ffff;

/// Installs the probe's vector table until dropped; the previous table comes back then.
pub struct ProbeVectors {
    previous: u64,
    /// The GICv2 CPU interface frame the handler uses, or 0 on a GICv3 (whose handler reads
    /// system registers and ignores `x12`).
    cpu_interface: usize,
}

impl ProbeVectors {
    /// Installs the probe's vector table on this vCPU: the GICv2 one when the device tree's
    /// GIC has a memory-mapped CPU interface (`cpu_interface`), else the GICv3 one.
    pub fn install(cpu_interface: Option<usize>) -> Self {
        let previous = VBAR_EL1.get();
        let table = match cpu_interface {
            Some(_) => core::ptr::addr_of!(probe_vectors_gicv2),
            None => core::ptr::addr_of!(probe_vectors),
        };
        VBAR_EL1.set(table as u64);
        barrier::isb(barrier::SY);
        Self { previous, cpu_interface: cpu_interface.unwrap_or(0) }
    }

    /// The INTID in what the handler acknowledged.
    fn interrupt_id(&self, acknowledged: u64) -> u32 {
        let mask = if self.cpu_interface == 0 { GICV3_INTERRUPT_ID } else { GICV2_INTERRUPT_ID };
        (acknowledged & mask) as u32
    }

    /// Sets the virtual timer `lead` ticks ahead, waits for its interrupt as `waiting` says,
    /// and returns what the handler saw. Never inlined: `cargo xtask bench --profile` finds
    /// the interrupted program counter inside this function's symbol.
    #[inline(never)]
    pub fn measure(&self, waiting: Waiting, lead: u64) -> Sample {
        let deadline: u64;
        let entry: u64;
        let intid: u64;
        // CNTV_CTL_EL0: ENABLE = 1, IMASK = 0.
        let enable: u64 = 1;
        match waiting {
            // SAFETY: the block programs only this vCPU's virtual timer and unmasks IRQs
            // only while the probe's table is installed (`self` exists), whose IRQ handler
            // writes x9-x11 (declared clobbered), system registers and, on a GICv2, the
            // CPU interface frame in x12 (device registers, no Rust object). IRQs are masked
            // again before the block ends.
            Waiting::Spinning => unsafe {
                asm!(
                    "isb",
                    "mrs {deadline}, cntvct_el0",
                    "add {deadline}, {deadline}, {lead}",
                    "msr cntv_cval_el0, {deadline}",
                    "mov x11, #0",
                    "msr cntv_ctl_el0, {enable}",
                    "isb",
                    "msr daifclr, #2",
                    "2:",
                    "cbz x11, 2b",
                    "msr daifset, #2",
                    deadline = out(reg) deadline,
                    lead = in(reg) lead,
                    enable = in(reg) enable,
                    in("x12") self.cpu_interface,
                    out("x9") entry,
                    out("x10") intid,
                    out("x11") _,
                    options(nostack),
                )
            },
            // SAFETY: as for the spinning arm; WFI only waits.
            Waiting::WaitForInterrupt => unsafe {
                asm!(
                    "isb",
                    "mrs {deadline}, cntvct_el0",
                    "add {deadline}, {deadline}, {lead}",
                    "msr cntv_cval_el0, {deadline}",
                    "mov x11, #0",
                    "msr cntv_ctl_el0, {enable}",
                    "isb",
                    "msr daifclr, #2",
                    "2:",
                    "wfi",
                    "cbz x11, 2b",
                    "msr daifset, #2",
                    deadline = out(reg) deadline,
                    lead = in(reg) lead,
                    enable = in(reg) enable,
                    in("x12") self.cpu_interface,
                    out("x9") entry,
                    out("x10") intid,
                    out("x11") _,
                    options(nostack),
                )
            },
        }
        Sample { latency: entry.wrapping_sub(deadline), intid: self.interrupt_id(intid) }
    }
}

impl ProbeVectors {
    /// Rings the doorbell whose register is at `register` and waits in `WFI` for the
    /// answer's interrupt ([`crate::doorbell`]); returns the ticks from just before the ring
    /// to the handler's first instruction, and the INTID it acknowledged. Never inlined, as
    /// [`Self::measure`].
    ///
    /// # Safety
    ///
    /// `register` must be a doorbell register from the device tree: a page the hypervisor
    /// leaves unmapped, so that the store traps to it and writes no memory.
    #[inline(never)]
    pub unsafe fn measure_doorbell(&self, register: usize) -> Sample {
        let start: u64;
        let entry: u64;
        let intid: u64;
        // SAFETY: the caller guarantees the store only traps. IRQs are unmasked only while
        // the probe's table is installed (`self` exists), whose IRQ handler writes x9-x11
        // (declared clobbered), system registers and, on a GICv2, the CPU interface frame in
        // x12 (device registers, no Rust object); they are masked again before the block ends.
        unsafe {
            asm!(
                "mov x11, #0",
                "mov {one:w}, #1",
                "msr daifclr, #2",
                "isb",
                "mrs {start}, cntvct_el0",
                "str {one:w}, [{register}]",
                "2:",
                "wfi",
                "cbz x11, 2b",
                "msr daifset, #2",
                start = out(reg) start,
                one = out(reg) _,
                register = in(reg) register,
                in("x12") self.cpu_interface,
                out("x9") entry,
                out("x10") intid,
                out("x11") _,
                options(nostack),
            )
        }
        Sample { latency: entry.wrapping_sub(start), intid: self.interrupt_id(intid) }
    }
}

impl Drop for ProbeVectors {
    fn drop(&mut self) {
        VBAR_EL1.set(self.previous);
        barrier::isb(barrier::SY);
    }
}
