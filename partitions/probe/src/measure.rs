//! The timed operations: each returns the virtual-counter ticks between two reads around it.
//!
//! Every measurement has the same frame, `isb; mrs cntvct_el0; <operation>; isb; mrs
//! cntvct_el0`, so the frame's own cost is the same in all of them and is measured once on its
//! own ([`counter_read`]); the host subtracts it. The ISBs keep each counter read in program
//! order with the operation (Arm ARM, "Reading the Generic Timer counters": without a context
//! synchronization event the read may be performed early). Under QEMU's deterministic mode
//! (`-icount shift=0` with a 1 GHz counter) one tick is one executed instruction, the
//! hypervisor's included.
//!
//! The probe runs with IRQs masked here: a virtual interrupt must not land inside a sample.
//! Physical interrupts still reach the hypervisor, which is part of what is measured.
//!
//! The trapping operations are never inlined, so that `cargo xtask bench --profile` can tell
//! from the guest's program counter (by symbol) which measurement a trap belongs to; the
//! call happens outside the timed window.

use core::arch::asm;

/// `SMCCC_VERSION` (Arm DEN0028, "SMCCC_VERSION"): the cheapest call every SMCCC 1.1
/// hypervisor answers.
pub const SMCCC_VERSION: u32 = 0x8000_0000;

/// A Fast Call in the SiP service range (owner 2) that no hypervisor here implements: the
/// cost of being told "unknown function" (DEN0028: `NOT_SUPPORTED`, -1).
pub const UNKNOWN_FUNCTION: u32 = 0x82FF_FF00;

/// Ticks between two back-to-back counter reads in the measurement frame: the frame's cost,
/// which every other measurement includes once.
pub fn counter_read() -> u64 {
    let start: u64;
    let end: u64;
    // SAFETY: reads of CNTVCT_EL0 and ISBs touch no memory and no other register.
    unsafe {
        asm!(
            "isb",
            "mrs {start}, cntvct_el0",
            "isb",
            "mrs {end}, cntvct_el0",
            start = out(reg) start,
            end = out(reg) end,
            options(nomem, nostack),
        )
    };
    end.wrapping_sub(start)
}

/// Ticks of one `hvc #0` with `function` in `w0` and zero arguments, and the value returned
/// in `x0`.
#[inline(never)]
pub fn hypercall(function: u32) -> (u64, u64) {
    let start: u64;
    let end: u64;
    let result: u64;
    // SAFETY: an SMCCC call touches no memory of the caller and preserves x18-x30 and sp;
    // SMCCC 1.0 lets it change x0-x17, all declared as outputs. The function IDs used are
    // discovery calls or unknown ones: they change no state of the caller.
    unsafe {
        asm!(
            "isb",
            "mrs {start}, cntvct_el0",
            "hvc #0",
            "isb",
            "mrs {end}, cntvct_el0",
            start = out(reg) start,
            end = out(reg) end,
            inout("x0") u64::from(function) => result,
            inout("x1") 0_u64 => _,
            inout("x2") 0_u64 => _,
            inout("x3") 0_u64 => _,
            out("x4") _, out("x5") _, out("x6") _, out("x7") _,
            out("x8") _, out("x9") _, out("x10") _, out("x11") _,
            out("x12") _, out("x13") _, out("x14") _, out("x15") _,
            out("x16") _, out("x17") _,
            options(nostack),
        )
    };
    (end.wrapping_sub(start), result)
}

/// Ticks of one 32-bit load from the device register at `address`, and the value read.
///
/// # Safety
///
/// `address` must be a 4-byte aligned device register that may be read any number of times
/// without side effects (an ID or status register), mapped by the identity map.
#[inline(never)]
pub unsafe fn mmio_read(address: usize) -> (u64, u32) {
    let start: u64;
    let end: u64;
    let value: u32;
    // SAFETY: the caller guarantees a mapped, side-effect-free register at `address`; the
    // load writes only the `value` register.
    unsafe {
        asm!(
            "isb",
            "mrs {start}, cntvct_el0",
            "ldr {value:w}, [{address}]",
            "isb",
            "mrs {end}, cntvct_el0",
            start = out(reg) start,
            end = out(reg) end,
            value = out(reg) value,
            address = in(reg) address,
            options(nostack, readonly),
        )
    };
    (end.wrapping_sub(start), value)
}

/// The physical count now.
pub fn physical_count() -> u64 {
    let count: u64;
    // SAFETY: reading CNTPCT_EL0 after an ISB touches no memory.
    unsafe { asm!("isb", "mrs {}, cntpct_el0", out(reg) count, options(nomem, nostack)) };
    count
}
