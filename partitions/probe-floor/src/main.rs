//! `probe-floor`: the least an EL2 can do, so that the benchmark probe measures the
//! architecture's own cost of each operation (the "floor" column of `cargo xtask bench`).
//!
//! QEMU `virt` with `virtualization=on` enters an arm64 `Image` at EL2 with `x0` = its device
//! tree. This stub configures EL2 so that it stays out of the way, then drops to EL1 at the
//! probe (loaded separately at [`PROBE_ENTRY`]) with `x0` unchanged:
//!
//! - `HCR_EL2` = RW only: no stage 2 (`VM` = 0), so the probe's device accesses are real
//!   device accesses; IRQs and FIQs go to EL1 (`IMO`/`FMO` = 0), so the timer interrupt is
//!   the physical one; SMCs are not trapped (`TSC` = 0), so PSCI reaches QEMU's firmware.
//! - `CNTHCTL_EL2`: EL1 may use the physical counter and timer; `CNTVOFF_EL2` = 0.
//! - `CPTR_EL2`: no FP/SIMD trap. `ICC_SRE_EL2`: EL1 may use the GIC system registers, on a
//!   GICv3 (`ID_AA64PFR0_EL1.GIC` non-zero); a GICv2 has none, and its CPU interface is memory.
//! - `VPIDR_EL2`/`VMPIDR_EL2`: EL1 reads the real `MIDR_EL1`/`MPIDR_EL1` through them.
//!
//! With those settings only `HVC` can reach EL2 from the probe, and its vector is a single
//! `ERET`: a hypercall round trip costs exactly the `HVC`, the exception entry and the return.
//! Every other vector parks the core; nothing is expected there.
#![no_std]
#![no_main]
// Not `forbid(unsafe_code)`: rustc counts `global_asm!` as unsafe code, and the stub is
// nothing but assembly.
#![forbid(unsafe_op_in_unsafe_fn)]

use core::arch::global_asm;
use core::panic::PanicInfo;

/// Where the probe starts: guest-rt links every guest at RAM base + 512 KiB.
const PROBE_ENTRY: u64 = 0x4008_0000;
/// `Image` header `text_offset`: 16 MiB into RAM (see `probe-floor.ld`).
const TEXT_OFFSET: u64 = 0x100_0000;
/// `Image` header flags: little-endian, 4 KiB pages, 2 MiB-aligned base near RAM start.
const IMAGE_FLAGS: u64 = 0b0010;

/// `HCR_EL2.RW` (Arm ARM, HCR_EL2): EL1 is AArch64. Every other control stays 0.
const HCR_EL2_VALUE: u64 = 1 << 31;
/// `CNTHCTL_EL2` with `HCR_EL2.E2H` = 0: EL1PCTEN and EL1PCEN.
const CNTHCTL_EL2_VALUE: u64 = 0b11;
/// `CPTR_EL2` with E2H = 0: the RES1 bits (13:12, 9:0), TFP = 0.
const CPTR_EL2_VALUE: u64 = (0b11 << 12) | 0x3ff;
/// `ICC_SRE_EL2`: SRE, DFB, DIB and Enable (EL1 may set its own SRE).
const ICC_SRE_EL2_VALUE: u64 = 0b1111;
/// `SPSR_EL2` for the drop: EL1h with D, A, I and F masked, as the boot protocol asks.
const SPSR_EL2_VALUE: u64 = (0b1111 << 6) | 0b0101;

global_asm!(
    r#"
    .section .text.head, "ax"
    .global _start
_start:
    b       stub_entry                      // code0
    .long   0                               // code1
    .quad   {text_offset}                   // text_offset
    .quad   __image_size                    // image_size
    .quad   {flags}                         // flags
    .quad   0                               // res2
    .quad   0                               // res3
    .quad   0                               // res4
    .ascii  "ARM\x64"                       // magic
    .long   0                               // res5

stub_entry:
    adrp    x1, stub_vectors
    add     x1, x1, :lo12:stub_vectors
    msr     vbar_el2, x1
    ldr     x1, ={hcr}
    msr     hcr_el2, x1
    mov     x1, #{cnthctl}
    msr     cnthctl_el2, x1
    msr     cntvoff_el2, xzr
    ldr     x1, ={cptr}
    msr     cptr_el2, x1
    mrs     x1, midr_el1
    msr     vpidr_el2, x1
    mrs     x1, mpidr_el1
    msr     vmpidr_el2, x1
    mrs     x1, id_aa64pfr0_el1
    ubfx    x1, x1, #24, #4                 // GIC: the system register interface exists
    cbz     x1, 1f                          // a GICv2: no ICC_* registers, nothing to open
    mov     x1, #{icc_sre}
    msr     S3_4_C12_C9_5, x1               // ICC_SRE_EL2
1:
    ldr     x1, ={spsr}
    msr     spsr_el2, x1
    ldr     x1, ={probe_entry}
    msr     elr_el2, x1
    mov     x1, xzr
    isb
    eret                                    // to the probe, x0 = device tree

    .ltorg

    .macro park_vector
    .balign 0x80
1:  wfe
    b       1b
    .endm

    .balign 0x800
stub_vectors:
    // Current EL, SP_EL0 and SP_EL2: nothing at EL2 should ever fault.
    park_vector
    park_vector
    park_vector
    park_vector
    park_vector
    park_vector
    park_vector
    park_vector
    // Lower EL, AArch64, synchronous: only HVC gets here. Return at once.
    .balign 0x80
    eret
    park_vector
    park_vector
    park_vector
    // Lower EL, AArch32.
    park_vector
    park_vector
    park_vector
    park_vector
"#,
    text_offset = const TEXT_OFFSET,
    flags = const IMAGE_FLAGS,
    hcr = const HCR_EL2_VALUE,
    cnthctl = const CNTHCTL_EL2_VALUE,
    cptr = const CPTR_EL2_VALUE,
    icc_sre = const ICC_SRE_EL2_VALUE,
    spsr = const SPSR_EL2_VALUE,
    probe_entry = const PROBE_ENTRY,
);

/// The stub has no Rust code that could panic; the handler exists because every `no_std`
/// binary needs one.
#[panic_handler]
fn panic(_info: &PanicInfo) -> ! {
    loop {
        core::hint::spin_loop();
    }
}
