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
    // Kept as `asm!`: aarch64-cpu 11.2 has no CTR_EL0.
    // SAFETY: reading CTR_EL0 has no side effects.
    unsafe { core::arch::asm!("mrs {}, ctr_el0", out(reg) ctr, options(nomem, nostack)) };
    4 << ((ctr >> 16) & 0xf)
}

/// Why [`load`] refused a range (before writing anything).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoadError {
    /// The range's length or end does not fit the address space.
    RangeOverflow,
}

/// Copies `bytes` to physical address `destination` and zeroes the following `zeroed` bytes.
///
/// # Safety
/// `destination .. destination + bytes.len() + zeroed` must be RAM in the hypervisor's
/// identity map that no Rust object lives in and no other core writes meanwhile (a
/// partition's memory before its vCPUs run).
pub unsafe fn load(destination: PhysAddr, bytes: &[u8], zeroed: u64) -> Result<(), LoadError> {
    let zeroed_bytes = usize::try_from(zeroed).map_err(|_| LoadError::RangeOverflow)?;
    let length = bytes
        .len()
        .checked_add(zeroed_bytes)
        .and_then(|total| u64::try_from(total).ok())
        .filter(|&total| destination.raw().checked_add(total).is_some())
        .ok_or(LoadError::RangeOverflow)?;
    let start = destination.raw() as *mut u8;
    // SAFETY: the caller guarantees the destination range is unaliased RAM; source and
    // destination cannot overlap because `bytes` is a Rust object and the destination is not.
    unsafe { core::ptr::copy_nonoverlapping(bytes.as_ptr(), start, bytes.len()) };
    // SAFETY: the zeroed tail is inside the same caller-guaranteed range.
    let tail = unsafe { start.add(bytes.len()) };
    // SAFETY: as above; `zeroed_bytes` bytes from `tail` stay inside the range.
    unsafe { core::ptr::write_bytes(tail, 0, zeroed_bytes) };
    clean_to_point_of_coherency(destination, length);
    Ok(())
}

/// Cleans the data cache over a range to the point of coherency and invalidates the
/// instruction cache, so a guest running with caches off sees what EL2 wrote.
pub fn clean_to_point_of_coherency(start: PhysAddr, length: u64) {
    let line = data_cache_line();
    // `line` is a power of two of at least 4 bytes, so `line - 1` is its offset mask.
    let mut address = start.raw() & !line.saturating_sub(1);
    let end = start.raw().saturating_add(length);
    // BOUND: one iteration per cache line of the range; the saturating step ends the loop at
    // the top of the address space.
    while address < end {
        // Kept as `asm!`: aarch64-cpu has no DC wrappers.
        // SAFETY: DC CVAC only writes dirty lines back to memory; it changes no values.
        // [impl->dsn~el2-guest-memory~1]
        unsafe { core::arch::asm!("dc cvac, {}", in(reg) address, options(nostack)) };
        address = address.saturating_add(line);
    }
    barrier::dsb(barrier::SY);
    // Kept as `asm!`: aarch64-cpu has no IC wrappers.
    // SAFETY: invalidating the instruction caches only forces refetches.
    unsafe { core::arch::asm!("ic iallu", options(nostack)) };
    barrier::dsb(barrier::SY);
    barrier::isb(barrier::SY);
}
