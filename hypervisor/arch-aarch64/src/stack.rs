//! Restarting a core's EL2 work on an empty stack.
//!
//! A core that parks (its vCPU turned off, its partition halted or restarting) gives up
//! whatever trap it was handling for good. Running the parked loop on a fresh stack, instead
//! of calling it from deep inside the trap handler, keeps the EL2 stack depth bounded however
//! many times a partition stops and restarts.

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
