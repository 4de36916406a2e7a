//! chaos's own stage-1 translation: guest-rt's identity map, plus Normal executable memory
//! in the two gigabytes above guest RAM.
//!
//! guest-rt maps only the gigabyte holding guest RAM as Normal memory; everything else is
//! Device-nGnRnE and never executable. That stops several attacks at stage 1, inside the
//! guest: `DC ZVA` on Device memory is an alignment fault, unaligned Device accesses fault,
//! and a branch into Device memory is a permission fault. With 0x8000_0000..0x1_0000_0000
//! mapped Normal and executable, the same instructions reach the hypervisor's stage 2 (where
//! nothing is mapped for chaos), which is where the attack is meant to land.
//!
//! The gigabyte holding the image (0x4000_0000) is mapped exactly as guest-rt maps it, so
//! switching tables under the running code changes nothing for it.

/// Entries in one 4 KiB translation table.
const ENTRIES: usize = 512;
/// Size of a level-1 block with the 4 KiB granule.
const BLOCK_SIZE: u64 = 1 << 30;
/// The gigabyte blocks mapped as Normal memory: guest RAM and the two above it.
const NORMAL_BLOCKS: core::ops::Range<usize> = 1..4;

/// `MAIR_EL1` index of Device-nGnRnE memory (guest-rt's `MAIR_EL1` value).
const ATTRIBUTE_DEVICE: u64 = 0;
/// `MAIR_EL1` index of Normal write-back memory (guest-rt's `MAIR_EL1` value).
const ATTRIBUTE_NORMAL: u64 = 1;

/// Block descriptor bits (Arm ARM, VMSAv8-64 block descriptors).
const VALID_BLOCK: u64 = 0b01;
/// SH: inner shareable.
const INNER_SHAREABLE: u64 = 0b11 << 8;
/// AF: set, so no Access flag fault is taken.
const ACCESS_FLAG: u64 = 1 << 10;
/// PXN: EL1 may not execute.
const PRIVILEGED_EXECUTE_NEVER: u64 = 1 << 53;
/// UXN: EL0 may not execute.
const UNPRIVILEGED_EXECUTE_NEVER: u64 = 1 << 54;

/// A 4 KiB-aligned translation table, as `TTBR0_EL1` requires.
#[repr(C, align(4096))]
pub struct TranslationTable([u64; ENTRIES]);

/// The table chaos runs on.
pub static CHAOS_MAP: TranslationTable = chaos_map();

const fn chaos_map() -> TranslationTable {
    let mut entries = [0; ENTRIES];
    let mut index = 0;
    while index < ENTRIES {
        let output_address = index as u64 * BLOCK_SIZE;
        let attributes = if index >= NORMAL_BLOCKS.start && index < NORMAL_BLOCKS.end {
            // As guest-rt maps guest RAM: executable at EL1, not at EL0.
            (ATTRIBUTE_NORMAL << 2) | INNER_SHAREABLE | UNPRIVILEGED_EXECUTE_NEVER
        } else {
            (ATTRIBUTE_DEVICE << 2) | PRIVILEGED_EXECUTE_NEVER | UNPRIVILEGED_EXECUTE_NEVER
        };
        entries[index] = output_address | attributes | ACCESS_FLAG | VALID_BLOCK;
        index += 1;
    }
    TranslationTable(entries)
}

/// Switches this vCPU to [`CHAOS_MAP`].
pub fn install() {
    let table = core::ptr::addr_of!(CHAOS_MAP) as u64;
    // SAFETY: CHAOS_MAP maps the gigabyte holding this image, its stacks and data exactly as
    // the table it replaces (identity, Normal write-back), so every address the program uses
    // keeps its meaning; the other blocks only add Normal mappings of addresses no Rust
    // object lives at. The barriers and TLB invalidation make the switch complete before
    // the next access.
    unsafe {
        core::arch::asm!(
            "dsb ish",
            "msr ttbr0_el1, {table}",
            "isb",
            "tlbi vmalle1",
            "dsb nsh",
            "isb",
            table = in(reg) table,
            options(nostack),
        )
    };
}
