//! Inter-partition doorbell round trip: the probe rings a channel's doorbell, a second copy of
//! the probe in another partition (`role=doorbell-echo`) rings back from its interrupt
//! handler, and the probe's handler takes the answer.
//!
//! The measuring side reuses the probe's IRQ vector ([`crate::timer_latency`]): its first
//! instruction reads the counter, so a sample is the ticks from just before the probe's
//! store to its doorbell register to the first instruction of the handler for the answer.
//! Under QEMU's deterministic mode all cores share one instruction clock, so a sample counts
//! every instruction executed on both cores in between: the hypervisor's trap of the store,
//! the raising of the peer's interrupt and its return to the probe, which then sleeps in
//! `WFI`; the peer's hypervisor entry, its handler with its own doorbell store and that
//! store's trap, and its way back to `WFI`; the probe's hypervisor entry for the answer.
//!
//! Both sides wait in `WFI`, not in a spin loop: QEMU runs one core at a time in its
//! deterministic mode and switches cores when the running one sleeps (or after a time slice
//! of tens of millions of instructions). A spinning probe would count that time slice, not
//! the doorbell: the first version did, and measured 24.6 M instructions per round trip.
//!
//! The echo side installs a vector table whose IRQ entry does only that: acknowledge, ring,
//! end the interrupt, return. Its registers are fixed by the loop that waits for interrupts
//! (`x12` holds the doorbell register, `x13` a GICv2's CPU interface frame), so it needs no
//! stack and no memory. Before waiting it
//! stores [`READY`] at the start of the channel's shared memory; the probe rings only once it
//! sees it, so no ring is lost and the peer's boot never falls inside a measurement.

use core::arch::asm;
use core::ptr;

use aarch64_cpu::asm::barrier;
use aarch64_cpu::registers::{VBAR_EL1, Writeable};
use guest_rt::BootInfo;
use guest_rt::device_tree::DoorbellDescription;

use crate::measure;

/// What the echo side stores at the start of the shared memory once it listens.
pub const READY: u32 = 0x4543_484f; // "ECHO"

/// Longest the probe waits for the echo side to be ready, in counter ticks (one second at
/// the deterministic 1 GHz counter).
pub const READY_WAIT: u64 = 1_000_000_000;

/// Priority of the doorbell interrupt.
const DOORBELL_PRIORITY: u8 = 0x80;

/// The first channel end with a doorbell: its shared memory and doorbell.
#[derive(Clone, Copy, Debug)]
pub struct Bell {
    /// Guest physical address of the shared memory (identity-mapped).
    pub shared_memory: usize,
    /// The doorbell register and interrupt.
    pub doorbell: DoorbellDescription,
}

/// The first channel of `boot` that has a doorbell.
pub fn first_bell(boot: &BootInfo) -> Option<Bell> {
    boot.channels.iter().find_map(|channel| {
        Some(Bell {
            shared_memory: channel.shared_memory,
            doorbell: channel.doorbell?,
        })
    })
}

/// Enables the doorbell interrupt of `bell` at the (virtual) GIC.
pub fn enable(bell: &Bell) -> Result<(), ()> {
    let gic = guest_rt::gic::get().ok_or(())?;
    gic.enable_interrupt(bell.doorbell.intid, DOORBELL_PRIORITY)
        .map_err(|_| ())
}

/// Waits until the echo side has stored [`READY`] in the shared memory, at most
/// [`READY_WAIT`] ticks; returns whether it did.
pub fn wait_until_ready(bell: &Bell) -> bool {
    let start = measure::physical_count();
    // BOUND: at most READY_WAIT ticks of the counter.
    while measure::physical_count().wrapping_sub(start) < READY_WAIT {
        // SAFETY: the start of the channel's shared memory, which the device tree names and
        // guest-rt's identity map covers; no Rust object lives there.
        let marker = unsafe { ptr::read_volatile(bell.shared_memory as *const u32) };
        if marker == READY {
            return true;
        }
        core::hint::spin_loop();
    }
    false
}

// The echo's IRQ entry on a GICv3: acknowledge (`ICC_IAR1_EL1`); unless spurious
// (1020-1023), ring the peer back with a store to the doorbell register in x12 (it traps to
// the hypervisor) and end the interrupt (`ICC_EOIR1_EL1`).
vector_table!(
    "echo_vectors",
    "mrs x10, S3_0_C12_C12_0",
    "cmp w10, #1020",
    "b.hs 1f",
    "str w10, [x12]",
    "msr S3_0_C12_C12_1, x10",
    "1: eret",
);

// The same on a GICv2, through the CPU interface frame in x13; the INTID is `GICC_IAR`'s bits
// [9:0] (above them an SGI's source CPU).
vector_table!(
    "echo_vectors_gicv2",
    "ldr w10, [x13, #0x0c]",
    "and w11, w10, #0x3ff",
    "cmp w11, #1020",
    "b.hs 1f",
    "str w10, [x12]",
    "str w10, [x13, #0x10]",
    "1: eret",
);

unsafe extern "C" {
    /// The echo side's vector table for a GICv3 (above).
    static echo_vectors: u8;
    /// The echo side's vector table for a GICv2 (above).
    static echo_vectors_gicv2: u8;
}

/// The echo side: answers every ring of `bell`'s doorbell by ringing back, forever; through
/// the GICv2 CPU interface frame `cpu_interface` when the GIC has one.
pub fn echo(bell: &Bell, cpu_interface: Option<usize>) -> ! {
    let table = match cpu_interface {
        Some(_) => core::ptr::addr_of!(echo_vectors_gicv2),
        None => core::ptr::addr_of!(echo_vectors),
    };
    VBAR_EL1.set(table as u64);
    barrier::isb(barrier::SY);
    // SAFETY: the start of the channel's shared memory (see `wait_until_ready`).
    unsafe { ptr::write_volatile(bell.shared_memory as *mut u32, READY) };
    barrier::dsb(barrier::ISH);
    // SAFETY: IRQs are unmasked only here, with the echo table installed, whose IRQ entry
    // uses x10-x13 (x12: the doorbell register, x13: the GICv2 CPU interface, both set here)
    // and stores only to the doorbell register, a page the hypervisor leaves unmapped so that
    // the store traps, and to the CPU interface's device registers. The loop never ends, so
    // no register of the caller needs to survive it.
    unsafe {
        asm!(
            "msr daifclr, #2",
            "2:",
            "wfi",
            "b 2b",
            in("x12") bell.doorbell.register,
            in("x13") cpu_interface.unwrap_or(0),
            options(noreturn, nostack),
        )
    }
}
