//! From reset to Rust at EL2, on every core.
//!
//! The image provides, by symbol name, what the assembly needs before Rust can run:
//! `BULKHEAD_CORE_AFFINITIES` / `BULKHEAD_CORE_COUNT` (the MPIDR affinity of each core, in
//! the order of the generated system tables), `BULKHEAD_STACKS` / `BULKHEAD_STACK_SIZE`
//! (one stack per core), and the two Rust entry points `bulkhead_primary_entry(core,
//! firmware_tree)` and `bulkhead_secondary_entry(core)`, which never return.
//!
//! `firmware_tree` is what the loader left in `x0`, kept in `x27` from the first instruction
//! (x19–x26 hold the boot path's own values; all are callee-saved under AAPCS64, so the call to
//! `bulkhead_el3_prepare` keeps them). Under the Linux arm64 boot protocol
//! (`Documentation/arch/arm64/booting.rst`), which the Raspberry Pi's `armstub8` and U-Boot's
//! `bootm` (ZCU102) follow, it is the physical address of the device tree the firmware built;
//! QEMU's ELF `-kernel` path leaves it 0. It is only a claim: the image checks where it points
//! before reading anything there (`entropy.rs`). Secondary cores get no such value.
//!
//! Each core finds its index by looking its MPIDR up in the affinity table (a core that is
//! not in the table parks: the device tree did not describe it, so nothing may run on it).
//! A core that starts at EL3 (every core of QEMU `raspi4b`, some firmware-less boards)
//! enables FP/SIMD at EL3, calls the image's `bulkhead_el3_prepare(core)` on its own stack
//! (the board's secure-side set-up: coherency, counter frequency, a GIC-400's Group 1
//! hand-over; see `el3` and the image's `secure_entry`), sets `SCR_EL3` (and `ICC_SRE_EL3` on
//! a GICv3 CPU interface; a GICv2 has no such register) and drops to EL2h. Cores that start
//! at EL2 (the Raspberry Pi's own `armstub8`, TF-A) skip all of it. Core 0 zeroes `.bss` and runs the primary
//! entry; the others wait until [`release_secondaries`] and then run the secondary entry.
//! On boards whose firmware keeps secondaries off, core 0 starts them with PSCI `CPU_ON`
//! at [`entry_point`] and they find the release flag already set.
//!
//! [impl->dsn~el2-boot~1]

use aarch64_cpu::registers::{SCR_EL3, SPSR_EL3};
use core::sync::atomic::{AtomicU32, Ordering};

/// Set by core 0 once `.bss` is zero and the shared state is initialised. Lives in `.data`
/// so a core that enters before core 0 has zeroed `.bss` reads 0, not garbage.
#[unsafe(no_mangle)]
#[unsafe(link_section = ".data.bulkhead_boot_released")]
static BULKHEAD_BOOT_RELEASED: AtomicU32 = AtomicU32::new(0);

/// Lets the secondary cores waiting in the boot path continue into Rust.
pub fn release_secondaries() {
    BULKHEAD_BOOT_RELEASED.store(1, Ordering::Release);
    crate::cpu::send_event();
}

/// Releases a core that firmware parked in a spin table (device tree `enable-method =
/// "spin-table"`: the Raspberry Pi's `armstub8` polls `cpu-release-addr` with its MMU and
/// caches off and branches to what it finds there, at EL2): writes [`entry_point`] to
/// `release_address` and wakes it.
///
/// Before that, everything the hypervisor has written since it started (`.data` and `.bss`,
/// see [`written_since_load`]) is cleaned to the point of coherency: the released core reads
/// the release flag, the affinity table and its stack address with its MMU off, so what core 0
/// wrote through its caches must be in memory. The rest of the image (code, read-only data,
/// the embedded partition images) is as the loader wrote it, and the stacks are written by
/// their own cores: cleaning the whole reservation instead cost three passes over 32 MiB at
/// boot (5.2 M instructions on `raspi4b`).
///
/// # Safety
/// `release_address` must be the 8-byte, 8-aligned spin-table slot of a parked core, in RAM
/// of the identity map that no Rust object uses.
pub unsafe fn release_from_spin_table(release_address: u64) {
    let (start, length) = written_since_load();
    crate::memory::clean_to_point_of_coherency(bulkhead_core::addr::PhysAddr(start), length);
    let slot = release_address as *mut u64;
    // SAFETY: the caller guarantees the slot is the parked core's 8-aligned spin-table entry
    // in mapped RAM that no Rust object uses; the volatile write is what firmware polls.
    unsafe { slot.write_volatile(entry_point()) };
    crate::memory::clean_to_point_of_coherency(bulkhead_core::addr::PhysAddr(release_address), 8);
    crate::cpu::send_event();
}

/// The part of the image the hypervisor writes after the loader: `.data` and `.bss`, as
/// (start, length) from the linker script's symbols.
pub fn written_since_load() -> (u64, u64) {
    unsafe extern "C" {
        static __data_start: u8;
        static __bss_end: u8;
    }
    let start = core::ptr::addr_of!(__data_start) as u64;
    let end = core::ptr::addr_of!(__bss_end) as u64;
    (start, end.saturating_sub(start))
}

/// The physical address cores start at (for PSCI `CPU_ON`).
pub fn entry_point() -> u64 {
    unsafe extern "C" {
        fn _start();
    }
    _start as *const () as u64
}

/// SCR_EL3 bits 5:4, RES1 (aarch64-cpu names no field for them).
const SCR_EL3_RES1: u64 = 0b11 << 4;
/// SCR_EL3 for the drop to EL2 (Arm ARM D19.2.118): NS (EL2 and below are Non-secure),
/// bits 5:4 RES1, HCE (HVC enabled), RW (EL2 is AArch64). SMD stays 0 so PSCI calls to any
/// firmware still work. (`armstub8` also sets SMD: it offers no SMC service.)
const SCR_EL3_VALUE: u64 = SCR_EL3::NS::NonSecure.value
    | SCR_EL3_RES1
    | SCR_EL3::HCE::HvcEnabled.value
    | SCR_EL3::RW::NextELIsAarch64.value;
/// SPSR for entering EL2h with D, A, I and F masked.
const SPSR_EL2H_MASKED: u64 = SPSR_EL3::D::Masked.value
    | SPSR_EL3::A::Masked.value
    | SPSR_EL3::I::Masked.value
    | SPSR_EL3::F::Masked.value
    | SPSR_EL3::M::EL2h.value;
/// ICC_SRE_EL3: SRE, DFB, DIB, Enable — lets EL2 use the GICv3 system-register interface.
const ICC_SRE_EL3_VALUE: u64 = 0b1111;

core::arch::global_asm!(
    r#"
    // sp = the top of core x23's stack (BULKHEAD_STACKS + (x23 + 1) × BULKHEAD_STACK_SIZE),
    // clobbering x24-x26: needed at EL3 for the secure-side set-up and again at EL2.
    .macro core_stack_top
    ldr     x24, =BULKHEAD_STACKS
    ldr     x25, =BULKHEAD_STACK_SIZE
    ldr     x25, [x25]
    add     x26, x23, #1
    madd    x24, x25, x26, x24
    mov     sp, x24
    .endm

    .section .text.boot, "ax"
    .global _start
_start:
    mov     x27, x0
    mrs     x19, mpidr_el1
    ldr     x20, ={affinity_mask}
    and     x19, x19, x20

    ldr     x21, =BULKHEAD_CORE_AFFINITIES
    ldr     x22, =BULKHEAD_CORE_COUNT
    ldr     x22, [x22]
    mov     x23, #0
1:  cmp     x23, x22
    b.hs    .Lpark
    ldr     x24, [x21, x23, lsl #3]
    cmp     x24, x19
    b.eq    2f
    add     x23, x23, #1
    b       1b

2:  mrs     x0, CurrentEL
    cmp     x0, #(3 << 2)
    b.ne    .Lat_el2
    // FP/SIMD untrapped (CPTR_EL3 resets UNKNOWN on hardware), then the board's secure-side
    // set-up in Rust, on this core's stack (x19-x23 and x27 survive the call).
    msr     cptr_el3, xzr
    isb
    core_stack_top
    mov     x0, x23
    bl      bulkhead_el3_prepare
    ldr     x0, ={scr_el3}
    msr     scr_el3, x0
    mrs     x0, id_aa64pfr0_el1
    ubfx    x0, x0, #24, #4
    cbz     x0, 3f
    mov     x0, #{icc_sre_el3}
    msr     S3_6_C12_C12_5, x0
    isb
3:  mov     x0, #{spsr_el2h}
    msr     spsr_el3, x0
    adr     x0, .Lat_el2
    msr     elr_el3, x0
    eret

.Lat_el2:
    core_stack_top

    cbnz    x23, .Lsecondary
    ldr     x0, =__bss_start
    ldr     x1, =__bss_end
    // 64 bytes per iteration: `.bss` starts page-aligned and ends 64-byte aligned (link.x),
    // and the loop is a quarter of boot time at 8 bytes per store.
4:  cmp     x0, x1
    b.hs    5f
    stp     xzr, xzr, [x0]
    stp     xzr, xzr, [x0, #16]
    stp     xzr, xzr, [x0, #32]
    stp     xzr, xzr, [x0, #48]
    add     x0, x0, #64
    b       4b
5:  mov     x0, x23
    mov     x1, x27
    bl      bulkhead_primary_entry
    b       .Lpark

.Lsecondary:
    ldr     x0, =BULKHEAD_BOOT_RELEASED
6:  ldar    w1, [x0]
    cbnz    w1, 7f
    wfe
    b       6b
7:  mov     x0, x23
    bl      bulkhead_secondary_entry

.Lpark:
    wfe
    b       .Lpark
    .ltorg
    "#,
    affinity_mask = const crate::cpu::MPIDR_AFFINITY_MASK,
    scr_el3 = const SCR_EL3_VALUE,
    spsr_el2h = const SPSR_EL2H_MASKED,
    icc_sre_el3 = const ICC_SRE_EL3_VALUE,
);
