//! IRQs: masking them, sleeping until one comes, and handing each to the handler registered
//! for its INTID.
//!
//! Handlers run on the vCPU that took the interrupt, with IRQs masked (exception entry sets
//! `PSTATE.I`), so they never nest. Locks that a handler may take are only ever held with IRQs
//! masked, which is what [`mask`] is for: otherwise a handler could spin forever on a lock its
//! own vCPU holds.

use core::marker::PhantomData;

use aarch64_cpu::asm::wfi;
use aarch64_cpu::registers::{DAIF, ReadWriteable, Readable, Writeable};
use spin::Mutex;

use crate::gic::{self, GicError};
use crate::println;

/// An interrupt handler; it receives the INTID it was registered for.
pub type Handler = fn(intid: u32);

/// Why an interrupt could not be set up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IrqError {
    /// All [`MAX_HANDLERS`] handler slots are in use.
    TableFull,
    /// The device tree describes no GIC.
    NoGic,
    /// The GIC refused.
    Gic(GicError),
}

/// How many INTIDs can have a handler: a guest owns few devices.
pub const MAX_HANDLERS: usize = 8;

static HANDLERS: Mutex<[Option<(u32, Handler)>; MAX_HANDLERS]> = Mutex::new([None; MAX_HANDLERS]);

/// Registers `handler` for `intid` (replacing an earlier one) and enables the interrupt at
/// the GIC with `priority`, routed to this vCPU.
pub fn enable(intid: u32, priority: u8, handler: Handler) -> Result<(), IrqError> {
    register_handler(intid, handler)?;
    let gic = gic::get().ok_or(IrqError::NoGic)?;
    gic.enable_interrupt(intid, priority).map_err(IrqError::Gic)
}

/// Registers `handler` for `intid`, replacing an earlier one, without touching the GIC.
pub fn register_handler(intid: u32, handler: Handler) -> Result<(), IrqError> {
    let _masked = mask();
    let mut handlers = HANDLERS.lock();
    let slot = match handlers
        .iter()
        .position(|slot| matches!(slot, Some((id, _)) if *id == intid))
    {
        Some(existing) => existing,
        None => handlers
            .iter()
            .position(Option::is_none)
            .ok_or(IrqError::TableFull)?,
    };
    handlers[slot] = Some((intid, handler));
    Ok(())
}

/// Lets IRQs in on this vCPU (`PSTATE.I` = 0).
pub fn unmask() {
    DAIF.modify(DAIF::I::Unmasked);
}

/// Keeps IRQs out on this vCPU until the returned guard is dropped, which restores the
/// previous state (so guards nest).
pub fn mask() -> MaskGuard {
    let saved = DAIF.get();
    DAIF.modify(DAIF::I::Masked);
    MaskGuard {
        saved,
        _this_vcpu_only: PhantomData,
    }
}

/// Keeps IRQs out on this vCPU from now on, with no guard to restore them: for a vCPU that is
/// going down (the panic handler).
pub(crate) fn mask_for_good() {
    DAIF.modify(DAIF::I::Masked);
}

/// Restores the IRQ mask saved by [`mask`] when dropped.
pub struct MaskGuard {
    saved: u64,
    /// The saved state belongs to one vCPU: the guard must not move to another thread.
    _this_vcpu_only: PhantomData<*const ()>,
}

impl Drop for MaskGuard {
    fn drop(&mut self) {
        DAIF.set(self.saved);
    }
}

/// Sleeps in WFI for as long as `condition` holds, letting interrupt handlers run in between.
/// Call it with IRQs unmasked.
///
/// The condition is checked with IRQs masked, and WFI still wakes for an interrupt that
/// PSTATE.I masks (Arm ARM, "Wait for Interrupt" wake-up events): an interrupt that arrives between
/// the check and the WFI is handled right after it, instead of being slept through.
pub fn wait_while(mut condition: impl FnMut() -> bool) {
    loop {
        let masked = mask();
        if !condition() {
            return;
        }
        wfi();
        // Unmasking takes the pending IRQ here; its handler may change the condition.
        drop(masked);
    }
}

/// Handles IRQs until none is pending (called from the exception vector).
pub(crate) fn handle() {
    while let Some(intid) = gic::acknowledge() {
        let handler = HANDLERS
            .lock()
            .iter()
            .flatten()
            .find_map(|(id, handler)| (*id == intid).then_some(*handler));
        match handler {
            Some(registered) => registered(intid),
            None => {
                // Left enabled, a level-triggered source would interrupt again at once.
                let disabled = gic::get().map(|gic| gic.disable_interrupt(intid));
                println!("unhandled interrupt {intid}, disabled: {disabled:?}");
            }
        }
        gic::end_of_interrupt(intid);
    }
}
