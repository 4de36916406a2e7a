//! Writing guest memory from EL2 (loading images and device trees) and making it visible to
//! a guest that starts with its MMU and caches off.
//!
//! [impl->dsn~el2-guest-memory~1]

use aarch64_cpu::asm::barrier;
use bulkhead_core::addr::PhysAddr;

/// Smallest data-cache line the architecture allows; the real size (`CTR_EL0.DminLine`) is
/// read at run time.
fn data_cache_line() -> u64 {
    let ctr: u64;
    // SAFETY: reading CTR_EL0 has no side effects.
    unsafe { core::arch::asm!("mrs {}, ctr_el0", out(reg) ctr, options(nomem, nostack)) };
    4 << ((ctr >> 16) & 0xf)
}

/// Copies `bytes` to physical address `destination` and zeroes the following `zeroed` bytes.
///
/// # Safety
/// `destination .. destination + bytes.len() + zeroed` must be RAM in the hypervisor's
/// identity map that no Rust object lives in and no other core writes meanwhile (a
/// partition's memory before its vCPUs run).
pub unsafe fn load(destination: PhysAddr, bytes: &[u8], zeroed: u64) {
    let start = destination.raw() as *mut u8;
    // SAFETY: the caller guarantees the destination range is unaliased RAM; source and
    // destination cannot overlap because `bytes` is a Rust object and the destination is not.
    unsafe { core::ptr::copy_nonoverlapping(bytes.as_ptr(), start, bytes.len()) };
    // SAFETY: the zeroed tail is inside the same caller-guaranteed range.
    let tail = unsafe { start.add(bytes.len()) };
    // SAFETY: as above; `zeroed` bytes from `tail` stay inside the range.
    unsafe { core::ptr::write_bytes(tail, 0, zeroed as usize) };
    clean_to_point_of_coherency(destination, bytes.len() as u64 + zeroed);
}

/// Cleans the data cache over a range to the point of coherency and invalidates the
/// instruction cache, so a guest running with caches off sees what EL2 wrote.
pub fn clean_to_point_of_coherency(start: PhysAddr, length: u64) {
    let line = data_cache_line();
    let mut address = start.raw() & !(line - 1);
    let end = start.raw().saturating_add(length);
    // BOUND: one iteration per cache line of the range.
    while address < end {
        // SAFETY: DC CVAC only writes dirty lines back to memory; it changes no values.
        // [impl->dsn~el2-guest-memory~1]
        unsafe { core::arch::asm!("dc cvac, {}", in(reg) address, options(nostack)) };
        address += line;
    }
    barrier::dsb(barrier::SY);
    // SAFETY: invalidating the instruction caches only forces refetches.
    unsafe { core::arch::asm!("ic iallu", options(nostack)) };
    barrier::dsb(barrier::SY);
    barrier::isb(barrier::SY);
}
