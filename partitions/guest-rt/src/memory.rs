//! The guest's stage-1 translation: a fixed identity map, built at compile time.
//!
//! Why turn the MMU on at all in a tiny guest: with it off, every data access is
//! Device-nGnRnE (Arm ARM, "The effects of disabling an address translation stage").
//! Device memory is uncached, forbids unaligned accesses and, on many real cores, does not
//! support the exclusive load/store pair that every lock and atomic read-modify-write compiles
//! to, so a spin lock could hang on hardware while it works on QEMU. An identity map with RAM
//! as Normal write-back memory removes all three problems.
//!
//! Why a fixed map: the table lives in `.rodata`, loaded and cleaned to the point of coherency
//! by whoever loaded the image (Linux `booting.rst` asks the loader for that). The boot code
//! never writes memory before the MMU and caches are on, so no cache maintenance is needed.
//!
//! The map: a single level-1 table of 1 GiB blocks covering the 39-bit address space. The
//! block at 1 GiB (0x4000_0000..0x8000_0000, the first RAM region of QEMU `virt` and of every
//! partition, which holds this image) is Normal memory; every other block is Device-nGnRnE and
//! never executable. Memory outside that gigabyte therefore still works, only uncached. The
//! Device blocks matter for the fault demonstration too: an access to an address that is not
//! RAM reaches stage 2 (the hypervisor), instead of stopping at a stage-1 translation fault.

/// Entries in one 4 KiB translation table.
const ENTRIES: usize = 512;
/// Size of a level-1 block with the 4 KiB granule.
const BLOCK_SIZE: u64 = 1 << 30;
/// The 1 GiB block holding guest RAM (and this image, linked at 0x4008_0000).
const RAM_BLOCK: usize = 1;

/// `MAIR_EL1` attribute index of Device-nGnRnE memory.
const ATTRIBUTE_DEVICE: u64 = 0;
/// `MAIR_EL1` attribute index of Normal, inner and outer write-back memory.
const ATTRIBUTE_NORMAL: u64 = 1;

/// `MAIR_EL1` (Arm ARM register description): Attr0 = 0x00 Device-nGnRnE, Attr1 = 0xff Normal write-back
/// non-transient, read- and write-allocate, inner and outer.
pub(crate) const MAIR_EL1_VALUE: u64 = 0xff << (8 * ATTRIBUTE_NORMAL);

/// `TCR_EL1` (Arm ARM register description).
pub(crate) const TCR_EL1_VALUE: u64 = {
    // 39-bit virtual addresses: with the 4 KiB granule the walk starts at level 1 and one
    // 512-entry table of 1 GiB blocks covers it all.
    let t0sz = 64 - 39;
    // Table walks are cacheable (write-back, write-allocate) and inner shareable, matching
    // how RAM is mapped, so walks see what the loader cleaned.
    let irgn0 = 0b01 << 8;
    let orgn0 = 0b01 << 10;
    let sh0 = 0b11 << 12;
    // TG0 = 0b00: 4 KiB granule.
    let tg0 = 0b00 << 14;
    // No TTBR1 walks: nothing lives in the upper half.
    let epd1 = 1 << 23;
    // IPS = 40 bits, enough for every block of the 39-bit map. A core with a smaller physical
    // address range treats a larger IPS as its own size (Arm ARM, `TCR_EL1.IPS`).
    let ips = 0b010 << 32;
    t0sz | irgn0 | orgn0 | sh0 | tg0 | epd1 | ips
};

/// `SCTLR_EL1` (Arm ARM register description), written whole because its reset value is UNKNOWN.
pub(crate) const SCTLR_EL1_VALUE: u64 = {
    // Bits that are RES1 without the features that give them a meaning (EOS, TSCXT, EIS,
    // SPAN, nTLSMD, LSMAOE), set as Linux does so that exception entry and return stay
    // context-synchronizing and PAN is left alone.
    let reserved_ones = (1 << 11) | (1 << 20) | (1 << 22) | (1 << 23) | (1 << 28) | (1 << 29);
    let mmu = 1 << 0; // M
    let data_cache = 1 << 2; // C
    let stack_alignment_check = (1 << 3) | (1 << 4); // SA, SA0
    let instruction_cache = 1 << 12; // I
    // Left at zero on purpose: A (alignment faults), WXN (which would make writable RAM,
    // where the code lives, non-executable) and EE (little-endian data).
    reserved_ones | mmu | data_cache | stack_alignment_check | instruction_cache
};

/// A 4 KiB-aligned translation table, as `TTBR0_EL1` requires.
#[repr(C, align(4096))]
pub(crate) struct TranslationTable([u64; ENTRIES]);

/// The identity map the boot code installs in `TTBR0_EL1` on every vCPU.
pub(crate) static IDENTITY_MAP: TranslationTable = identity_map();

/// Level-1 block descriptor fields (Arm ARM, VMSAv8-64 "Block descriptor" and its attribute
/// fields).
mod descriptor {
    pub(super) const VALID_BLOCK: u64 = 0b01;
    pub(super) const fn attribute_index(index: u64) -> u64 {
        index << 2
    }
    /// SH = inner shareable, so all vCPUs see one coherent RAM.
    pub(super) const INNER_SHAREABLE: u64 = 0b11 << 8;
    /// AF: set up front so that no Access flag fault is ever taken (nothing handles one).
    pub(super) const ACCESS_FLAG: u64 = 1 << 10;
    /// PXN: EL1 may not execute from the block.
    pub(super) const PRIVILEGED_EXECUTE_NEVER: u64 = 1 << 53;
    /// UXN: EL0 may not execute from the block (there is no EL0 code).
    pub(super) const UNPRIVILEGED_EXECUTE_NEVER: u64 = 1 << 54;
    // AP[2:1] = 0b00 (EL1 read/write, no EL0 access) is the zero value and needs no constant.
}

const fn identity_map() -> TranslationTable {
    use descriptor::*;
    let mut entries = [0; ENTRIES];
    let mut index = 0;
    while index < ENTRIES {
        let output_address = index as u64 * BLOCK_SIZE;
        let attributes = if index == RAM_BLOCK {
            attribute_index(ATTRIBUTE_NORMAL) | INNER_SHAREABLE | UNPRIVILEGED_EXECUTE_NEVER
        } else {
            attribute_index(ATTRIBUTE_DEVICE)
                | PRIVILEGED_EXECUTE_NEVER
                | UNPRIVILEGED_EXECUTE_NEVER
        };
        entries[index] = output_address | attributes | ACCESS_FLAG | VALID_BLOCK;
        index += 1;
    }
    TranslationTable(entries)
}
