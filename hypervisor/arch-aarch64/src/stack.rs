//! The per-core EL2 stacks, and restarting a core's EL2 work on an empty one.
//!
//! A core that parks (its vCPU turned off, its partition halted or restarting) gives up
//! whatever trap it was handling for good. Running the parked loop on a fresh stack, instead
//! of calling it from deep inside the trap handler, keeps the EL2 stack depth bounded however
//! many times a partition stops and restarts.

use core::cell::UnsafeCell;

/// One core's EL2 stack: `SIZE` bytes, aligned to 16 bytes as SP must be at EL2.
///
/// Rust code never forms a reference to the bytes: only SP points into the stack (the boot
/// assembly, the vector entry, [`continue_on_stack`] and `vectors::enter` place it), which
/// is why the stack's address is all this type hands out.
#[repr(C, align(16))]
pub struct Stack<const SIZE: usize>(UnsafeCell<[u8; SIZE]>);

// SAFETY: each core uses only its own stack, and only through SP; Rust code reads nothing
// but the stack's address, so sharing a `Stack` between cores cannot race.
unsafe impl<const SIZE: usize> Sync for Stack<SIZE> {}

impl<const SIZE: usize> Stack<SIZE> {
    /// A zero-filled stack (for a `static`).
    pub const fn new() -> Self {
        Self(UnsafeCell::new([0; SIZE]))
    }

    /// Where SP starts on this stack: one past its highest byte (stacks grow down).
    pub fn top(&self) -> u64 {
        // One past the end of the array: the pointer arithmetic stays inside the allocation
        // (its one-past-the-end address) and never wraps.
        let top: *mut [u8; SIZE] = self.0.get().wrapping_add(1);
        top as u64
    }
}

core::arch::global_asm!(
    r#"
    .section .text.bulkhead_continue_on_stack, "ax"
    .global bulkhead_continue_on_stack
    // bulkhead_continue_on_stack(argument: usize, stack_top: u64, function: extern "C" fn(usize) -> !)
bulkhead_continue_on_stack:
    mov     sp, x1
    mov     x29, xzr
    mov     x30, xzr
    br      x2
    "#
);

/// Abandons the current stack and calls `function(argument)` with SP at `stack_top`.
///
/// # Safety
/// `stack_top` must be the top of this core's EL2 stack, and nothing on that stack may be
/// needed again (the current call chain is discarded, no destructors run).
pub unsafe fn continue_on_stack(argument: usize, stack_top: u64, function: extern "C" fn(usize) -> !) -> ! {
    unsafe extern "C" {
        fn bulkhead_continue_on_stack(argument: usize, stack_top: u64, function: extern "C" fn(usize) -> !) -> !;
    }
    // SAFETY: the caller guarantees the stack may be discarded and `stack_top` is this
    // core's; the routine only moves SP and branches, writing no memory.
    unsafe { bulkhead_continue_on_stack(argument, stack_top, function) }
}
