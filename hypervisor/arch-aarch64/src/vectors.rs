//! The EL2 exception vector table and the trap frame.
//!
//! A lower-EL exception saves the vCPU's general-purpose registers, `ELR_EL2` and
//! `SPSR_EL2` into a [`TrapFrame`] on this core's EL2 stack and calls the image's handler with
//! it; whatever the handler leaves in the frame is what the vCPU resumes with. Nothing else
//! of the vCPU is saved: each core runs exactly one vCPU, so its EL1 system registers, FP/SIMD
//! state and timer stay live in the hardware (the hypervisor is built soft-float and never
//! touches FP/SIMD).
//!
//! The image provides the handlers by symbol name: `bulkhead_lower_sync(frame)`,
//! `bulkhead_lower_irq(frame)`, `bulkhead_lower_serror(frame)` and
//! `bulkhead_hypervisor_fault(frame, vector)` for exceptions taken from EL2 itself.

use core::mem::{offset_of, size_of};

/// The registers of a vCPU as saved on entry to EL2.
// [impl->dsn~el2-vectors~1]
#[repr(C)]
#[derive(Clone, Debug, Default)]
pub struct TrapFrame {
    /// x0 to x30.
    pub x: [u64; 31],
    /// Where the vCPU resumes (`ELR_EL2`).
    pub elr: u64,
    /// The vCPU's PSTATE (`SPSR_EL2`).
    pub spsr: u64,
    /// Keeps the frame a multiple of 16 bytes (SP alignment at EL2).
    padding: u64,
}

impl TrapFrame {
    /// A frame that enters a vCPU at `entry` in EL1h with interrupts masked and `x0` set,
    /// as the arm64 boot protocol and PSCI `CPU_ON` both require.
    pub fn new_entry(entry: u64, x0: u64) -> Self {
        let mut frame = Self::default();
        frame.elr = entry;
        frame.spsr = SPSR_EL1H_MASKED;
        if let Some(first) = frame.x.first_mut() {
            *first = x0;
        }
        frame
    }

    /// Register `n` (0..=30) as read by an instruction, where 31 is XZR.
    pub fn register(&self, n: u8) -> u64 {
        self.x.get(usize::from(n)).copied().unwrap_or(0)
    }

    /// Writes register `n` (0..=30); writes to 31 (XZR) are discarded.
    pub fn set_register(&mut self, n: u8, value: u64) {
        if let Some(register) = self.x.get_mut(usize::from(n)) {
            *register = value;
        }
    }
}

/// PSTATE for a vCPU entering EL1h with D, A, I and F masked.
const SPSR_EL1H_MASKED: u64 = 0b1111 << 6 | 0b0101;

/// Bytes the vector entry reserves on the EL2 stack for a [`TrapFrame`].
const FRAME_SIZE: usize = size_of::<TrapFrame>();
/// Offset of [`TrapFrame::elr`], for the assembly.
const ELR_OFFSET: usize = offset_of!(TrapFrame, elr);
/// Offset of [`TrapFrame::spsr`], for the assembly.
const SPSR_OFFSET: usize = offset_of!(TrapFrame, spsr);
const _: () = assert!(FRAME_SIZE % 16 == 0, "the stack must stay 16-byte aligned");
const _: () = assert!(ELR_OFFSET == 31 * 8 && SPSR_OFFSET == ELR_OFFSET + 8);

/// Which vector an exception taken from EL2 itself came through.
#[repr(u64)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HypervisorVector {
    /// Synchronous (a hypervisor bug: a bad access or an undefined instruction).
    Synchronous = 0,
    /// IRQ/FIQ at EL2: never unmasked, so also a bug.
    Interrupt = 1,
    /// SError at EL2.
    SystemError = 2,
}

// [impl->dsn~el2-vectors~1]
core::arch::global_asm!(
    r#"
    .macro save_frame
    sub     sp, sp, #{frame_size}
    stp     x0, x1, [sp, #16 * 0]
    stp     x2, x3, [sp, #16 * 1]
    stp     x4, x5, [sp, #16 * 2]
    stp     x6, x7, [sp, #16 * 3]
    stp     x8, x9, [sp, #16 * 4]
    stp     x10, x11, [sp, #16 * 5]
    stp     x12, x13, [sp, #16 * 6]
    stp     x14, x15, [sp, #16 * 7]
    stp     x16, x17, [sp, #16 * 8]
    stp     x18, x19, [sp, #16 * 9]
    stp     x20, x21, [sp, #16 * 10]
    stp     x22, x23, [sp, #16 * 11]
    stp     x24, x25, [sp, #16 * 12]
    stp     x26, x27, [sp, #16 * 13]
    stp     x28, x29, [sp, #16 * 14]
    mrs     x0, elr_el2
    mrs     x1, spsr_el2
    stp     x30, x0, [sp, #16 * 15]
    str     x1, [sp, #{spsr_offset}]
    mov     x0, sp
    .endm

    .macro lower_vector handler
    .balign 0x80
    save_frame
    bl      \handler
    b       bulkhead_restore_frame
    .endm

    .macro hypervisor_vector kind
    .balign 0x80
    save_frame
    mov     x1, #\kind
    bl      bulkhead_hypervisor_fault
    b       .
    .endm

    .section .text.vectors, "ax"
    .balign 0x800
    .global bulkhead_exception_vectors
bulkhead_exception_vectors:
    // Current EL with SP_EL0: the hypervisor always runs on SP_EL2.
    hypervisor_vector 0
    hypervisor_vector 1
    hypervisor_vector 1
    hypervisor_vector 2
    // Current EL with SP_EL2.
    hypervisor_vector 0
    hypervisor_vector 1
    hypervisor_vector 1
    hypervisor_vector 2
    // Lower EL, AArch64.
    lower_vector bulkhead_lower_sync
    lower_vector bulkhead_lower_irq
    lower_vector bulkhead_lower_irq
    lower_vector bulkhead_lower_serror
    // Lower EL, AArch32 (an EL0 AArch32 task of a guest): same handlers, ESR says which.
    lower_vector bulkhead_lower_sync
    lower_vector bulkhead_lower_irq
    lower_vector bulkhead_lower_irq
    lower_vector bulkhead_lower_serror

    .global bulkhead_restore_frame
bulkhead_restore_frame:
    ldp     x30, x0, [sp, #16 * 15]
    ldr     x1, [sp, #{spsr_offset}]
    msr     elr_el2, x0
    msr     spsr_el2, x1
    ldp     x0, x1, [sp, #16 * 0]
    ldp     x2, x3, [sp, #16 * 1]
    ldp     x4, x5, [sp, #16 * 2]
    ldp     x6, x7, [sp, #16 * 3]
    ldp     x8, x9, [sp, #16 * 4]
    ldp     x10, x11, [sp, #16 * 5]
    ldp     x12, x13, [sp, #16 * 6]
    ldp     x14, x15, [sp, #16 * 7]
    ldp     x16, x17, [sp, #16 * 8]
    ldp     x18, x19, [sp, #16 * 9]
    ldp     x20, x21, [sp, #16 * 10]
    ldp     x22, x23, [sp, #16 * 11]
    ldp     x24, x25, [sp, #16 * 12]
    ldp     x26, x27, [sp, #16 * 13]
    ldp     x28, x29, [sp, #16 * 14]
    add     sp, sp, #{frame_size}
    eret

    // bulkhead_enter_frame(frame: *const TrapFrame, stack_top: u64) -> !
    // Empties SP_EL2 to the stack top and loads the vCPU's registers straight from the
    // frame (which may sit anywhere on the old stack: nothing is written before ERET).
    .global bulkhead_enter_frame
bulkhead_enter_frame:
    mov     sp, x1
    ldp     x2, x3, [x0, #{elr_offset}]
    msr     elr_el2, x2
    msr     spsr_el2, x3
    ldp     x2, x3, [x0, #16 * 1]
    ldp     x4, x5, [x0, #16 * 2]
    ldp     x6, x7, [x0, #16 * 3]
    ldp     x8, x9, [x0, #16 * 4]
    ldp     x10, x11, [x0, #16 * 5]
    ldp     x12, x13, [x0, #16 * 6]
    ldp     x14, x15, [x0, #16 * 7]
    ldp     x16, x17, [x0, #16 * 8]
    ldp     x18, x19, [x0, #16 * 9]
    ldp     x20, x21, [x0, #16 * 10]
    ldp     x22, x23, [x0, #16 * 11]
    ldp     x24, x25, [x0, #16 * 12]
    ldp     x26, x27, [x0, #16 * 13]
    ldp     x28, x29, [x0, #16 * 14]
    ldr     x30, [x0, #16 * 15]
    ldp     x0, x1, [x0, #16 * 0]
    eret
    "#,
    frame_size = const FRAME_SIZE,
    spsr_offset = const SPSR_OFFSET,
    elr_offset = const ELR_OFFSET,
);

/// Installs the vector table on this core (`VBAR_EL2`).
// [impl->dsn~el2-vectors~1]
pub fn install() {
    unsafe extern "C" {
        static bulkhead_exception_vectors: u8;
    }
    use aarch64_cpu::registers::{VBAR_EL2, Writeable};
    VBAR_EL2.set(core::ptr::addr_of!(bulkhead_exception_vectors) as u64);
    aarch64_cpu::asm::barrier::isb(aarch64_cpu::asm::barrier::SY);
}

/// Leaves EL2 for the vCPU described by `frame`, with this core's EL2 stack emptied to
/// `stack_top`.
///
/// # Safety
/// `stack_top` must be the top of this core's EL2 stack, and nothing on that stack may be
/// needed again: the call never returns and later traps reuse the stack from the top.
pub unsafe fn enter(frame: &TrapFrame, stack_top: u64) -> ! {
    unsafe extern "C" {
        fn bulkhead_enter_frame(frame: *const TrapFrame, stack_top: u64) -> !;
    }
    // SAFETY: the caller guarantees `stack_top` is this core's empty stack top; the routine
    // only reads the frame, and writes nothing to memory before leaving EL2.
    unsafe { bulkhead_enter_frame(frame, stack_top) }
}
