//! chaos's own EL1 exception vectors: every exception is counted and survived.
//!
//! guest-rt's vectors treat an SError or an unexpected exception as fatal; an attacker takes
//! such exceptions on purpose, so chaos installs this table instead. A synchronous exception
//! is classified by its syndrome (see [`Refusal`]) and the faulting instruction is skipped:
//! execution resumes at the next instruction, or, for an instruction abort or PC alignment
//! fault (a branch to a bad address, only ever made by the `fetch` stub), at the return
//! address the branch left in `x30`. IRQs are acknowledged and completed here; an SError is
//! counted. What the exception meant for the operation in flight is left in [`take`].

use core::arch::global_asm;
use core::mem::{offset_of, size_of};
use core::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};

use guest_rt::gic;

/// The interrupted context, saved on the stack by the vector code.
#[repr(C)]
pub struct Frame {
    /// x0 to x30.
    registers: [u64; 31],
    /// `ELR_EL1`: where execution resumes on return.
    link: u64,
    /// `SPSR_EL1`.
    status: u64,
    /// Keeps the frame a multiple of 16 bytes.
    _padding: u64,
}

const _: () = assert!(offset_of!(Frame, registers) == 0);
const _: () = assert!(size_of::<Frame>() % 16 == 0);
const FRAME_SIZE: usize = size_of::<Frame>();
const LINK_OFFSET: usize = offset_of!(Frame, link);
const _: () = assert!(offset_of!(Frame, status) == LINK_OFFSET + 8);

/// Who refused an operation, as far as the syndrome tells.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// No exception.
    None,
    /// An Undefined Instruction exception (EC 0): injected by EL2 for a trapped instruction,
    /// or taken locally for an instruction EL1 may never execute. Only the operation tells
    /// which (see `tally`).
    Undefined,
    /// A synchronous external abort (data or instruction, FSC 0x10): what EL2 injects for an
    /// access it refuses.
    ExternalAbort,
    /// An SError: asynchronous, from EL2 (virtual SError) or the platform.
    SystemError,
    /// Anything the guest's own EL1 decided: stage-1 alignment, translation or permission
    /// faults, PC alignment, other exception classes.
    LocalFault,
}

const NONE: u8 = 0;
const UNDEFINED: u8 = 1;
const EXTERNAL_ABORT: u8 = 2;
const SYSTEM_ERROR: u8 = 3;
const LOCAL_FAULT: u8 = 4;

/// Whether an operation is in flight (exceptions outside one are *stray*).
static IN_OPERATION: AtomicBool = AtomicBool::new(false);
/// The first exception taken during the operation in flight.
static OPERATION_REFUSAL: AtomicU8 = AtomicU8::new(NONE);

/// Exceptions taken, by kind, since boot.
pub struct ExceptionCounts {
    /// Undefined Instruction exceptions.
    pub undefined: AtomicU64,
    /// Synchronous external aborts.
    pub external_aborts: AtomicU64,
    /// Local faults (alignment, translation, permission, other classes).
    pub local_faults: AtomicU64,
    /// SErrors.
    pub system_errors: AtomicU64,
    /// IRQs handled.
    pub interrupts: AtomicU64,
    /// Exceptions taken outside an operation or from an unexpected origin.
    pub stray: AtomicU64,
}

/// The counts.
pub static COUNTS: ExceptionCounts = ExceptionCounts {
    undefined: AtomicU64::new(0),
    external_aborts: AtomicU64::new(0),
    local_faults: AtomicU64::new(0),
    system_errors: AtomicU64::new(0),
    interrupts: AtomicU64::new(0),
    stray: AtomicU64::new(0),
};

/// The virtual timer's PPI (the only interrupt chaos asks for: it wakes `WFI`).
pub const VIRTUAL_TIMER_INTID: u32 = 27;
/// Most interrupts acknowledged per IRQ exception: a level-triggered source chaos enabled by
/// accident cannot keep the vCPU in the handler.
const MAX_INTERRUPTS_PER_EXCEPTION: usize = 16;

/// Starts an operation: exceptions from now on are attributed to it.
pub fn begin() {
    OPERATION_REFUSAL.store(NONE, Ordering::Relaxed);
    IN_OPERATION.store(true, Ordering::Relaxed);
}

/// Ends the operation and says which exception it took first, if any.
pub fn take() -> Refusal {
    IN_OPERATION.store(false, Ordering::Relaxed);
    match OPERATION_REFUSAL.swap(NONE, Ordering::Relaxed) {
        UNDEFINED => Refusal::Undefined,
        EXTERNAL_ABORT => Refusal::ExternalAbort,
        SYSTEM_ERROR => Refusal::SystemError,
        LOCAL_FAULT => Refusal::LocalFault,
        _ => Refusal::None,
    }
}

/// Records `kind` for the operation in flight (the first one wins), or counts a stray
/// exception.
fn attribute(kind: u8) {
    if IN_OPERATION.load(Ordering::Relaxed) {
        // Only the first exception of an operation is its outcome; a second one (a nested
        // fault) keeps the first.
        let _first = OPERATION_REFUSAL.compare_exchange(NONE, kind, Ordering::Relaxed, Ordering::Relaxed);
    } else {
        COUNTS.stray.fetch_add(1, Ordering::Relaxed);
    }
}

const SYNCHRONOUS: u64 = 0;
const IRQ: u64 = 1;
const SERROR: u64 = 3;
/// Vector slots 4-7: taken from EL1 using SP_EL1, the only origin chaos runs in.
const CURRENT_EL_SPX: u64 = 1;

/// Exception classes (`ESR_EL1.EC`).
mod class {
    pub(super) const UNKNOWN: u64 = 0x00;
    pub(super) const INSTRUCTION_ABORT_SAME_EL: u64 = 0x21;
    pub(super) const PC_ALIGNMENT: u64 = 0x22;
    pub(super) const DATA_ABORT_SAME_EL: u64 = 0x25;
}
/// Fault status code of a synchronous external abort (not on a table walk).
const SYNCHRONOUS_EXTERNAL_ABORT: u64 = 0x10;

/// Called by the vector code with the slot number (origin * 4 + kind) and the saved frame.
extern "C" fn handle_exception(slot: u64, frame: &mut Frame) {
    let origin = slot / 4;
    match slot % 4 {
        SYNCHRONOUS => synchronous(frame, origin == CURRENT_EL_SPX),
        IRQ => interrupts(),
        SERROR => {
            COUNTS.system_errors.fetch_add(1, Ordering::Relaxed);
            attribute(SYSTEM_ERROR);
        }
        _ => {
            COUNTS.stray.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Classifies a synchronous exception and moves the return address past its cause.
fn synchronous(frame: &mut Frame, expected_origin: bool) {
    let syndrome = syndrome_register();
    let exception_class = (syndrome >> 26) & 0x3f;
    let fault_status = syndrome & 0x3f;
    let kind = match exception_class {
        class::UNKNOWN => {
            COUNTS.undefined.fetch_add(1, Ordering::Relaxed);
            UNDEFINED
        }
        class::DATA_ABORT_SAME_EL | class::INSTRUCTION_ABORT_SAME_EL
            if fault_status == SYNCHRONOUS_EXTERNAL_ABORT =>
        {
            COUNTS.external_aborts.fetch_add(1, Ordering::Relaxed);
            EXTERNAL_ABORT
        }
        _ => {
            COUNTS.local_faults.fetch_add(1, Ordering::Relaxed);
            LOCAL_FAULT
        }
    };
    if expected_origin {
        attribute(kind);
    } else {
        COUNTS.stray.fetch_add(1, Ordering::Relaxed);
    }
    frame.link = match exception_class {
        // The fetch went to a bad address: resume where the branch would have returned.
        class::INSTRUCTION_ABORT_SAME_EL | class::PC_ALIGNMENT => frame.registers[30],
        // Every A64 instruction is 4 bytes.
        _ => frame.link.wrapping_add(4),
    };
}

/// `ESR_EL1`.
fn syndrome_register() -> u64 {
    let value: u64;
    // SAFETY: reading ESR_EL1 has no side effect and touches no memory.
    unsafe { core::arch::asm!("mrs {}, esr_el1", out(reg) value, options(nomem, nostack, preserves_flags)) };
    value
}

/// Acknowledges and completes pending interrupts: the virtual timer's by stopping the timer
/// (it woke a `WFI`), any other (one chaos enabled by writing the vGIC) by disabling it.
fn interrupts() {
    for _ in 0..MAX_INTERRUPTS_PER_EXCEPTION {
        let Some(intid) = gic::acknowledge() else {
            return;
        };
        COUNTS.interrupts.fetch_add(1, Ordering::Relaxed);
        if intid == VIRTUAL_TIMER_INTID {
            guest_rt::timer::VirtualTimer.stop();
        } else if let Some(controller) = gic::get() {
            // A failure leaves the interrupt enabled; the bound above keeps it from
            // holding the vCPU here.
            let _disabled = controller.disable_interrupt(intid);
        }
        gic::end_of_interrupt(intid);
    }
}

/// Makes this table the vCPU's `VBAR_EL1`.
pub fn install() {
    // SAFETY: `chaos_vectors` is the 2 KiB-aligned table below; writing VBAR_EL1 only
    // changes where this vCPU's own exceptions go. The ISB makes it effective at once.
    unsafe {
        core::arch::asm!(
            "adrp {table}, chaos_vectors",
            "add {table}, {table}, :lo12:chaos_vectors",
            "msr vbar_el1, {table}",
            "isb",
            table = out(reg) _,
            options(nostack),
        )
    };
}

global_asm!(
    r#"
    .macro chaos_vector slot
    .balign 0x80
    sub     sp, sp, #{frame_size}
    stp     x0, x1, [sp, #0]
    mov     x0, #\slot
    b       chaos_exception_common
    .endm

    .section .text.chaos_vectors, "ax"
    .balign 0x800
    .global chaos_vectors
chaos_vectors:
    chaos_vector 0
    chaos_vector 1
    chaos_vector 2
    chaos_vector 3
    chaos_vector 4
    chaos_vector 5
    chaos_vector 6
    chaos_vector 7
    chaos_vector 8
    chaos_vector 9
    chaos_vector 10
    chaos_vector 11
    chaos_vector 12
    chaos_vector 13
    chaos_vector 14
    chaos_vector 15

chaos_exception_common:
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
    mrs     x1, elr_el1
    mrs     x2, spsr_el1
    stp     x1, x2, [sp, #{link}]
    mov     x1, sp
    bl      {handler}
    ldp     x1, x2, [sp, #{link}]
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
    link = const LINK_OFFSET,
    handler = sym handle_exception,
);
