//! Turning on the EL2 stage-1 MMU with the identity map built by `bulkhead_core::el2_map`.
//!
//! [impl->dsn~el2-mmu~1]

use aarch64_cpu::asm::barrier;
use aarch64_cpu::registers::{MAIR_EL2, SCTLR_EL2, TCR_EL2, TTBR0_EL2, Writeable};
use bulkhead_core::addr::PhysAddr;
use bulkhead_core::el2_map;

/// A level-1 translation table, aligned as the architecture requires (4 KiB).
#[repr(C, align(4096))]
pub struct Level1Table(pub [u64; el2_map::ENTRIES]);

// SCTLR_EL2 (Arm ARM D19.2.125, E2H = 0): the RES1 bits, plus M (MMU on), C (data cache),
// SA (stack alignment check), I (instruction cache). WXN stays off: the image's sections are
// not yet split into separate text/data mappings (1 GiB blocks).
/// The RES1 bits of `SCTLR_EL2` with `HCR_EL2.E2H` = 0.
const SCTLR_EL2_RES1: u64 = (1 << 4) | (1 << 5) | (1 << 11) | (1 << 16) | (1 << 18) | (1 << 22) | (1 << 23) | (1 << 28) | (1 << 29);
/// `SCTLR_EL2` with the MMU, both caches and the stack alignment check on.
const SCTLR_EL2_ON: u64 = SCTLR_EL2_RES1 | (1 << 0) | (1 << 2) | (1 << 3) | (1 << 12);

/// Enables the MMU and caches at EL2 with `table` as the identity map.
///
/// # Safety
/// `table` must map, as Normal memory, every address this core executes or touches from now
/// on (the image, its stacks and data), and as Device memory every MMIO block it uses; it
/// must stay unchanged while any core uses it. The caller runs at EL2 with the MMU off.
pub unsafe fn enable(table: &'static Level1Table) {
    MAIR_EL2.set(el2_map::MAIR_EL2);
    TCR_EL2.set(el2_map::tcr_el2(crate::cpu::physical_address_range()));
    TTBR0_EL2.set(physical_address_of(table).raw());
    barrier::dsb(barrier::ISH);
    // Kept as `asm!`: aarch64-cpu has no TLBI wrappers.
    // SAFETY: invalidating all EL2 TLB entries has no memory effect; it only discards
    // translations that might be stale from before reset.
    // [impl->dsn~el2-mmu~1]
    unsafe { core::arch::asm!("tlbi alle2", options(nostack)) };
    barrier::dsb(barrier::ISH);
    barrier::isb(barrier::SY);
    SCTLR_EL2.set(SCTLR_EL2_ON);
    barrier::isb(barrier::SY);
}

/// The physical address of `object`, for handing hypervisor memory to hardware that walks it
/// by physical address (translation tables). EL2 runs on the identity map [`enable`]
/// installs (and before that with the MMU off), so an EL2 address is its physical address.
pub fn physical_address_of<T: ?Sized>(object: &T) -> PhysAddr {
    let start: *const u8 = core::ptr::from_ref(object).cast();
    PhysAddr(start as u64)
}
