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
    bytes
        .len()
        .checked_add(zeroed_bytes)
        .and_then(|total| u64::try_from(total).ok())
        .filter(|&total| destination.raw().checked_add(total).is_some())
        .ok_or(LoadError::RangeOverflow)?;
    let start = destination.raw() as *mut u8;
    let mut copied: usize = 0;
    // BOUND: one iteration per `LOAD_CHUNK` bytes of `bytes` (36 for Linux's 35 MiB).
    for chunk in bytes.chunks(LOAD_CHUNK) {
        // Between chunks only: a load of one chunk (every image but a kernel's) never yields,
        // so a small partition's start is not handed to a neighbour that is still loading.
        if copied > 0 {
            crate::cpu::yield_hint();
        }
        // SAFETY: `copied + chunk.len() <= bytes.len()`, so the chunk's target lies inside the
        // caller-guaranteed range.
        let target = unsafe { start.add(copied) };
        // SAFETY: the caller guarantees the destination range is unaliased RAM; source and
        // destination cannot overlap because `bytes` is a Rust object and the destination is
        // not.
        unsafe { copy_in_blocks(target, chunk) };
        clean_to_point_of_coherency(offset(destination, copied)?, u64::try_from(chunk.len()).map_err(|_| LoadError::RangeOverflow)?);
        copied = copied.saturating_add(chunk.len());
    }
    // SAFETY: the zeroed tail is inside the same caller-guaranteed range.
    let tail = unsafe { start.add(bytes.len()) };
    // SAFETY: as above; `zeroed_bytes` bytes from `tail` stay inside the range, which is
    // Normal memory in the hypervisor's map (the caller's guarantee), as `DC ZVA` requires.
    unsafe { zero_in_blocks(tail, zeroed_bytes) };
    clean_to_point_of_coherency(offset(destination, copied)?, u64::try_from(zeroed_bytes).map_err(|_| LoadError::RangeOverflow)?);
    Ok(())
}

/// `base + bytes`, inside a range [`load`] has already checked to fit the address space.
fn offset(base: PhysAddr, bytes: usize) -> Result<PhysAddr, LoadError> {
    u64::try_from(bytes)
        .ok()
        .and_then(|distance| base.raw().checked_add(distance))
        .map(PhysAddr)
        .ok_or(LoadError::RangeOverflow)
}

/// Bytes [`load`] copies and cleans between two `YIELD`s (none before the first chunk or after
/// the last). A partition is loaded on its own
/// core while the others already run (the image's `partition::load_images`). On hardware the
/// cores run in parallel and the hint costs nothing (no SMT on the Cortex-A53/A72); an emulator
/// that runs the cores in turns on one thread (QEMU TCG, deterministic `-icount`) hands the
/// thread on at a `YIELD`, so without it `rt`'s first instructions waited behind all of
/// Linux's 35 MiB there as they did when the boot core copied every image first. 1 MiB: a
/// tenth of a millisecond of copying on hardware, 0.2 M instructions under QEMU.
const LOAD_CHUNK: usize = 1 << 20;

/// Bytes [`copy_in_blocks`] moves per loop iteration: four 16-byte load/store pairs.
const COPY_BLOCK: usize = 64;

/// Copies `bytes` to `destination`, 64 bytes per iteration.
///
/// Our own rather than `copy_nonoverlapping`: on this target (no FP/SIMD) that calls
/// compiler-builtins' generic `memcpy`, which moved about 1.5 bytes per instruction; loading a
/// 60 KiB partition image took a quarter of the whole boot. Four `LDP`/`STP` pairs move 64
/// bytes in ten instructions. Unaligned pairs are fine: both sides are Normal memory and
/// `SCTLR_EL2.A` is 0.
///
/// # Safety
/// `destination .. destination + bytes.len()` is writable Normal memory that overlaps no Rust
/// object (in particular not `bytes`).
unsafe fn copy_in_blocks(destination: *mut u8, bytes: &[u8]) {
    let blocks = bytes.len() / COPY_BLOCK;
    let mut source = bytes.as_ptr();
    let mut target = destination;
    if blocks > 0 {
        // SAFETY: the loop reads `blocks * 64` bytes from `bytes` and writes as many to the
        // caller-guaranteed destination range; both pointers advance past what was moved, so
        // the remainder below continues where the loop stopped. No stack, no flags kept.
        unsafe {
            core::arch::asm!(
                "2:",
                "ldp {a}, {b}, [{source}], #16",
                "ldp {c}, {d}, [{source}], #16",
                "stp {a}, {b}, [{target}], #16",
                "stp {c}, {d}, [{target}], #16",
                "ldp {a}, {b}, [{source}], #16",
                "ldp {c}, {d}, [{source}], #16",
                "stp {a}, {b}, [{target}], #16",
                "stp {c}, {d}, [{target}], #16",
                "subs {blocks}, {blocks}, #1",
                "b.ne 2b",
                source = inout(reg) source,
                target = inout(reg) target,
                blocks = inout(reg) blocks => _,
                a = out(reg) _,
                b = out(reg) _,
                c = out(reg) _,
                d = out(reg) _,
                options(nostack),
            );
        }
    }
    // SAFETY: the last `len % 64` bytes of both ranges, as guaranteed by the caller.
    unsafe { core::ptr::copy_nonoverlapping(source, target, bytes.len() % COPY_BLOCK) };
}

/// Zeroes `length` bytes from `start` with `DC ZVA` (one whole block, usually 64 bytes, per
/// instruction) where the architecture permits it, and plain stores for the unaligned head
/// and tail. Our own for the same reason as [`copy_in_blocks`]: compiler-builtins' `memset`
/// wrote about 2.4 bytes per instruction, a third of the boot for the bench probe's 140 KiB
/// of `.bss`.
///
/// # Safety
/// `start .. start + length` is writable Normal memory that overlaps no Rust object.
unsafe fn zero_in_blocks(start: *mut u8, length: usize) {
    let id: u64;
    // Kept as `asm!`: aarch64-cpu 11.2 has no DCZID_EL0.
    // SAFETY: reading DCZID_EL0 has no side effects.
    unsafe { core::arch::asm!("mrs {}, dczid_el0", out(reg) id, options(nomem, nostack)) };
    // DCZID_EL0 (Arm ARM D19.2.33): DZP (bit 4) prohibits DC ZVA; BS (bits 3:0) is log2 of
    // the block size in words.
    let prohibited = id & (1 << 4) != 0;
    let block = 4_usize << (id & 0xf);
    let address = start.addr();
    let head = address.next_multiple_of(block).wrapping_sub(address).min(length);
    // `block` is at least 4 (a shift of 4), so the division cannot fail.
    let blocks = if prohibited { 0 } else { length.saturating_sub(head).checked_div(block).unwrap_or(0) };
    if blocks == 0 {
        // SAFETY: the caller's range.
        unsafe { core::ptr::write_bytes(start, 0, length) };
        return;
    }
    // SAFETY: `head <= length`, inside the caller's range.
    unsafe { core::ptr::write_bytes(start, 0, head) };
    let mut block_address = address.saturating_add(head);
    let mut remaining = blocks;
    // BOUND: one iteration per four blocks, then one per block; `blocks * block <= length -
    // head`.
    while remaining >= 4 {
        // Kept as `asm!`: aarch64-cpu has no DC wrappers.
        // SAFETY: the four blocks from `block_address` are aligned to the ZVA size and lie
        // inside the caller's Normal-memory range (`head + blocks * block <= length`).
        unsafe {
            core::arch::asm!(
                "dc zva, {a}",
                "add {a}, {a}, {block}",
                "dc zva, {a}",
                "add {a}, {a}, {block}",
                "dc zva, {a}",
                "add {a}, {a}, {block}",
                "dc zva, {a}",
                "add {a}, {a}, {block}",
                a = inout(reg) block_address,
                block = in(reg) block,
                options(nostack),
            );
        }
        remaining = remaining.saturating_sub(4);
    }
    // BOUND: at most three blocks are left.
    while remaining > 0 {
        // SAFETY: as above, for one block.
        unsafe { core::arch::asm!("dc zva, {}", in(reg) block_address, options(nostack)) };
        block_address = block_address.saturating_add(block);
        remaining = remaining.saturating_sub(1);
    }
    let zeroed = head.saturating_add(blocks.saturating_mul(block));
    // SAFETY: `zeroed <= length`, so the tail starts inside the caller's range.
    let tail = unsafe { start.add(zeroed) };
    // SAFETY: the tail after the last block, inside the caller's range.
    unsafe { core::ptr::write_bytes(tail, 0, length.saturating_sub(zeroed)) };
}

/// Cleans the data cache over a range to the point of coherency and invalidates the
/// instruction cache, so a guest running with caches off sees what EL2 wrote.
pub fn clean_to_point_of_coherency(start: PhysAddr, length: u64) {
    let line = data_cache_line();
    // `line` is a power of two of at least 4 bytes, so `line - 1` is its offset mask.
    let mut address = start.raw() & !line.saturating_sub(1);
    let end = start.raw().saturating_add(length);
    let four_lines = line.saturating_mul(4);
    // Four lines per iteration while four remain (the loop's own instructions cost as much
    // as the cleaning), then one at a time.
    // BOUND: one iteration per four cache lines of the range; the saturating steps end the
    // loop at the top of the address space.
    while end.saturating_sub(address) >= four_lines {
        // Kept as `asm!`: aarch64-cpu has no DC wrappers.
        // SAFETY: DC CVAC only writes dirty lines back to memory; it changes no values. The
        // four lines lie inside the range, which the caller's map covers.
        // [impl->dsn~el2-guest-memory~1]
        unsafe {
            core::arch::asm!(
                "dc cvac, {a}",
                "add {a}, {a}, {line}",
                "dc cvac, {a}",
                "add {a}, {a}, {line}",
                "dc cvac, {a}",
                "add {a}, {a}, {line}",
                "dc cvac, {a}",
                "add {a}, {a}, {line}",
                a = inout(reg) address,
                line = in(reg) line,
                options(nostack),
            );
        }
    }
    // BOUND: at most three lines are left.
    while address < end {
        // SAFETY: as above, for one line.
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

/// Copies `out.len()` bytes of guest memory at physical address `source` into `out`, one
/// volatile byte read each: the guest may be writing the bytes meanwhile (a framebuffer it
/// draws into), so every value read is some value it wrote and the compiler assumes nothing
/// about them. Returns false, reading nothing, when the range does not fit the address space.
///
/// # Safety
/// `source .. source + out.len()` must be RAM in the hypervisor's identity map (Normal
/// memory: the reads cannot fault and have no side effects).
pub unsafe fn read_guest(source: PhysAddr, out: &mut [u8]) -> bool {
    let Some(length) = u64::try_from(out.len()).ok() else {
        return false;
    };
    if source.raw().checked_add(length).is_none() {
        return false;
    }
    let start = source.raw() as *const u8;
    for (index, byte) in out.iter_mut().enumerate() {
        // SAFETY: `index < out.len()`, so the address is inside the caller-guaranteed range.
        let address = unsafe { start.add(index) };
        // SAFETY: Normal memory in the identity map (the caller's guarantee): the read cannot
        // fault; volatile because the guest may write the byte concurrently.
        *byte = unsafe { core::ptr::read_volatile(address) };
    }
    true
}

/// The `length` bytes of RAM at physical address `start`, to read what firmware left there
/// (the device tree it passes in `x0`, see `boot`). `None` when the range is empty, starts at
/// 0 or does not fit the address space.
///
/// # Safety
/// `start .. start + length` must be RAM in the hypervisor's identity map (Normal memory)
/// that no Rust object lives in and that nothing writes for as long as the slice is used.
pub unsafe fn ram_bytes(start: PhysAddr, length: usize) -> Option<&'static [u8]> {
    let end = u64::try_from(length).ok().and_then(|bytes| start.raw().checked_add(bytes))?;
    if length == 0 || start.raw() == 0 || isize::try_from(length).is_err() || usize::try_from(end).is_err() {
        return None;
    }
    let first = start.raw() as *const u8;
    // SAFETY: `first` is non-null, the range fits the address space and is at most
    // `isize::MAX` long; the caller guarantees it is mapped RAM, initialised (every byte of
    // RAM holds some value), outside every Rust object, and not written while the slice lives.
    Some(unsafe { core::slice::from_raw_parts(first, length) })
}
