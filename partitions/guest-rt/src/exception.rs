//! The EL1 exception vectors: IRQs go to [`crate::irq`], synchronous exceptions to a handler
//! the guest may register, everything else is reported and ends the guest.
//!
//! A synchronous exception is reported with the three registers that explain it: `ESR_EL1`
//! (what happened), `FAR_EL1` (the faulting address, for aborts) and `ELR_EL1` (the faulting
//! instruction). The guest's handler then decides whether execution resumes after that
//! instruction, at it, or not at all. This is how a partition survives the synchronous external
//! abort the hypervisor injects when it touches memory it does not own.

use core::arch::global_asm;
use core::mem::{offset_of, size_of};

use aarch64_cpu::registers::{ESR_EL1, FAR_EL1, Readable};
use spin::Mutex;

use crate::irq;

/// The interrupted context, saved on the stack by the vector code.
#[repr(C)]
pub struct ExceptionFrame {
    /// x0 to x30.
    pub registers: [u64; 31],
    /// `ELR_EL1`: where execution resumes on return.
    pub exception_link_register: u64,
    /// `SPSR_EL1`: the interrupted PSTATE.
    pub saved_program_status: u64,
    /// Keeps the frame a multiple of 16 bytes, as the stack pointer must stay aligned.
    _padding: u64,
}

// The vector code stores x0..x30 at 8-byte steps from the start of the frame.
const _: () = assert!(offset_of!(ExceptionFrame, registers) == 0);
const _: () = assert!(size_of::<ExceptionFrame>() % 16 == 0);
const FRAME_SIZE: usize = size_of::<ExceptionFrame>();
const LINK_REGISTER_OFFSET: usize = offset_of!(ExceptionFrame, exception_link_register);
const PROGRAM_STATUS_OFFSET: usize = offset_of!(ExceptionFrame, saved_program_status);
const _: () = assert!(PROGRAM_STATUS_OFFSET == LINK_REGISTER_OFFSET + 8);

/// A synchronous exception, as the guest's handler sees it.
#[derive(Clone, Copy, Debug)]
pub struct SynchronousException {
    /// `ESR_EL1`: exception class and syndrome.
    pub syndrome: u64,
    /// `FAR_EL1`: the faulting virtual address, meaningful for aborts and alignment faults.
    pub fault_address: u64,
    /// `ELR_EL1`: address of the instruction that caused the exception.
    pub instruction_address: u64,
}

impl SynchronousException {
    /// `ESR_EL1.EC`, the exception class.
    pub fn exception_class(&self) -> u8 {
        (self.syndrome >> 26) as u8 & 0x3f
    }

    /// A data abort taken from EL1 itself (EC 0x25), such as an external abort on a load.
    pub fn is_data_abort_from_current_el(&self) -> bool {
        self.exception_class() == ESR_EL1::EC::Value::DataAbortCurrentEL as u8
    }

    /// `ESR_EL1.ISS.DFSC` (data fault status code) when this is a data abort: 0x10 is a
    /// synchronous external abort, 0x04-0x07 translation faults, 0x21 an alignment fault.
    pub fn data_fault_status(&self) -> Option<u8> {
        self.is_data_abort_from_current_el()
            .then_some(self.syndrome as u8 & 0x3f)
    }
}

/// What to do after a synchronous exception.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resolution {
    /// Resume at the next instruction: the faulting one is skipped (all A64 instructions are
    /// 4 bytes, `ESR_EL1.IL` = 1).
    SkipInstruction,
    /// Resume at the faulting instruction again, e.g. after fixing its cause.
    Retry,
    /// The guest cannot continue: the runtime panics with the report.
    Fatal,
}

/// A guest's synchronous exception handler.
pub type SynchronousHandler = fn(&SynchronousException) -> Resolution;

static SYNCHRONOUS_HANDLER: Mutex<Option<SynchronousHandler>> = Mutex::new(None);

/// Makes `handler` decide about every synchronous exception from now on (replacing an
/// earlier one). Without a handler, every synchronous exception is fatal.
pub fn set_synchronous_handler(handler: SynchronousHandler) {
    let _masked = irq::mask();
    *SYNCHRONOUS_HANDLER.lock() = Some(handler);
}

/// Where an exception came from and what kind it is: the vector table's 16 slots in order
/// (Arm ARM, "Exception vectors": four origins times four kinds).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Vector {
    CurrentElSp0,
    CurrentElSpx,
    LowerElAarch64,
    LowerElAarch32,
}

const SYNCHRONOUS: u64 = 0;
const IRQ: u64 = 1;
const FIQ: u64 = 2;
const SERROR: u64 = 3;

/// Called by the vector code with the slot number (origin * 4 + kind) and the saved frame.
extern "C" fn handle_exception(slot: u64, frame: &mut ExceptionFrame) {
    let origin = match slot / 4 {
        0 => Vector::CurrentElSp0,
        1 => Vector::CurrentElSpx,
        2 => Vector::LowerElAarch64,
        _ => Vector::LowerElAarch32,
    };
    // This runtime runs EL1 on SP_EL1 only and has no EL0: every other origin is a bug.
    match (origin, slot % 4) {
        (Vector::CurrentElSpx, SYNCHRONOUS) => handle_synchronous(frame),
        (Vector::CurrentElSpx, IRQ) => irq::handle(),
        (_, slot_kind) => {
            let kind = match slot_kind {
                SYNCHRONOUS => "synchronous",
                IRQ => "IRQ",
                FIQ => "FIQ",
                SERROR => "SError",
                _ => "unknown",
            };
            panic!(
                "unexpected {kind} exception from {origin:?}: ESR 0x{:x} FAR 0x{:x} ELR 0x{:x}",
                ESR_EL1.get(),
                FAR_EL1.get(),
                frame.exception_link_register,
            );
        }
    }
}

fn handle_synchronous(frame: &mut ExceptionFrame) {
    let exception = SynchronousException {
        syndrome: ESR_EL1.get(),
        fault_address: FAR_EL1.get(),
        instruction_address: frame.exception_link_register,
    };
    // try_lock: the lock is held only with IRQs masked while a handler is being set, so it
    // can only be busy here if setting it faulted; then there is no handler to call.
    let handler = SYNCHRONOUS_HANDLER.try_lock().and_then(|handler| *handler);
    match handler.map_or(Resolution::Fatal, |registered| registered(&exception)) {
        Resolution::SkipInstruction => frame.exception_link_register += 4,
        Resolution::Retry => {}
        Resolution::Fatal => panic!(
            "synchronous exception (class 0x{:02x}): ESR 0x{:x} FAR 0x{:x} ELR 0x{:x}",
            exception.exception_class(),
            exception.syndrome,
            exception.fault_address,
            exception.instruction_address,
        ),
    }
}

global_asm!(
    r#"
    // Each of the 16 vectors has 0x80 bytes: room to save x0/x1, load the slot number and
    // branch to the common code. The table must be 2 KiB-aligned (VBAR_EL1.VBA).
    .macro vector slot
    .balign 0x80
    sub     sp, sp, #{frame_size}
    stp     x0, x1, [sp, #0]
    mov     x0, #\slot
    b       exception_common
    .endm

    .section .text.vectors, "ax"
    .balign 0x800
    .global exception_vectors
exception_vectors:
    vector 0
    vector 1
    vector 2
    vector 3
    vector 4
    vector 5
    vector 6
    vector 7
    vector 8
    vector 9
    vector 10
    vector 11
    vector 12
    vector 13
    vector 14
    vector 15

exception_common:
    stp     x2, x3, [sp, #16]
    stp     x4, x5, [sp, #32]
    stp     x6, x7, [sp, #48]
    stp     x8, x9, [sp, #64]
    stp     x10, x11, [sp, #80]
    stp     x12, x13, [sp, #96]
    stp     x14, x15, [sp, #112]
    stp     x16, x17, [sp, #128]
    stp     x18, x19, [sp, #144]
    stp     x20, x21, [sp, #160]
    stp     x22, x23, [sp, #176]
    stp     x24, x25, [sp, #192]
    stp     x26, x27, [sp, #208]
    stp     x28, x29, [sp, #224]
    str     x30, [sp, #240]
    // ELR and SPSR live in the frame, not in the registers: a handler may move the return
    // address, and a nested exception would overwrite the registers.
    mrs     x1, elr_el1
    mrs     x2, spsr_el1
    stp     x1, x2, [sp, #{link_register}]
    mov     x1, sp
    bl      {handle_exception}
    ldp     x1, x2, [sp, #{link_register}]
    msr     elr_el1, x1
    msr     spsr_el1, x2
    ldp     x0, x1, [sp, #0]
    ldp     x2, x3, [sp, #16]
    ldp     x4, x5, [sp, #32]
    ldp     x6, x7, [sp, #48]
    ldp     x8, x9, [sp, #64]
    ldp     x10, x11, [sp, #80]
    ldp     x12, x13, [sp, #96]
    ldp     x14, x15, [sp, #112]
    ldp     x16, x17, [sp, #128]
    ldp     x18, x19, [sp, #144]
    ldp     x20, x21, [sp, #160]
    ldp     x22, x23, [sp, #176]
    ldp     x24, x25, [sp, #192]
    ldp     x26, x27, [sp, #208]
    ldp     x28, x29, [sp, #224]
    ldr     x30, [sp, #240]
    add     sp, sp, #{frame_size}
    eret
"#,
    frame_size = const FRAME_SIZE,
    link_register = const LINK_REGISTER_OFFSET,
    handle_exception = sym handle_exception,
);
