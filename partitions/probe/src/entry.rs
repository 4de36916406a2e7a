//! The probe's first instruction: a timestamp of the physical counter, before anything else.
//!
//! "Reset to first guest instruction" is what a hypervisor's boot costs a partition, so the
//! counter must be read by the very first instruction the loader runs, not once the runtime
//! is up. guest-rt's boot code starts with its own `Image` header; the probe puts a second
//! header in front of it (`probe-entry.ld` inserts `.probe_entry` first), so that the
//! image's first bytes are this code:
//!
//! * `code0` reads `CNTPCT_EL0` into `x1`, which the arm64 boot protocol (Linux
//!   `Documentation/arch/arm64/booting.rst`) reserves as zero and nobody reads;
//! * `code1` branches past the header, where the value is parked in `TPIDR_EL1` (a register
//!   no runtime, hypervisor or firmware here uses, and which every hypervisor saves and
//!   restores with the vCPU) before guest-rt's `_start` runs with `x0` untouched.
//!
//! The physical counter, not the virtual one: a hypervisor may offset the virtual count per
//! partition (Xen sets `CNTVOFF_EL2` to the domain's creation time), while the physical
//! count runs from the machine's reset. Under QEMU's deterministic mode that count is the
//! number of instructions every core executed since reset.

use core::arch::global_asm;

use aarch64_cpu::registers::{Readable, TPIDR_EL1};

/// `Image` header `text_offset`: the image sits 512 KiB above a 2 MiB-aligned RAM base, where
/// guest-rt links it (0x4008_0000).
const TEXT_OFFSET: u64 = 0x8_0000;

/// `Image` header flags: little-endian, 4 KiB pages, placed near the start of RAM (the image
/// is not position-independent); the same as guest-rt's own header.
const IMAGE_FLAGS: u64 = 0b0010;

global_asm!(
    r#"
    .section .probe_entry, "ax"
    .global __probe_entry
__probe_entry:
    mrs     x1, cntpct_el0                  // code0: the timestamp, first of all
    b       1f                              // code1
    .quad   {text_offset}                   // text_offset
    .quad   __image_size                    // image_size, from guest-rt.ld (includes this header)
    .quad   {flags}                         // flags
    .quad   0                               // res2
    .quad   0                               // res3
    .quad   0                               // res4
    .ascii  "ARM\x64"                       // magic
    .long   0                               // res5: no PE/COFF header
1:  msr     tpidr_el1, x1
    mov     x1, xzr
    b       _start
"#,
    text_offset = const TEXT_OFFSET,
    flags = const IMAGE_FLAGS,
);

/// The physical count at the probe's first instruction.
pub fn first_instruction_count() -> u64 {
    TPIDR_EL1.get()
}
