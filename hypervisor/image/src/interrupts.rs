//! Physical interrupts taken while a guest runs: the virtual timer (forwarded to the guest
//! through a hardware-backed list register), the GIC maintenance interrupt, kicks from other
//! cores, and console input.
//!
//! [impl->dsn~el2-trap-dispatch~1]

use crate::cores::{MAILBOXES, request};
use crate::generated::SYSTEM;
use crate::{containment, input, trap, vcpu};
use bulkhead_arch_aarch64 as arch;
use bulkhead_core::layout;

/// Handles every pending physical interrupt, then refreshes the vCPU's list registers.
pub fn handle() {
    let core = arch::cpu::core_index();
    let Some(vcpu) = SYSTEM.vcpu_on_core(core) else { arch::cpu::halt() };
    let mut timer_fired = false;
    let mut forwarded = heapless::Vec::<u32, 8>::new();
    let mut requests = 0;
    let partition = SYSTEM.partitions.get(vcpu.partition);
    // BOUND: each iteration acknowledges one interrupt; the GIC returns the spurious INTID
    // once none is pending. The one source that stays asserted until the hypervisor acts, the
    // maintenance interrupt, ends the loop (the list-register sync below clears it).
    loop {
        let intid = arch::gic::acknowledge();
        if intid >= 1020 {
            break;
        }
        arch::gic::priority_drop(intid);
        if intid == layout::timer_intid::VIRTUAL {
            // Stays active until the guest's EOI deactivates it through the list register.
            timer_fired = true;
            continue;
        }
        if let Some(virtual_intid) = partition.and_then(|p| crate::routes::virtual_of(p, intid)) {
            // A pass-through device's SPI: like the timer, the guest's EOI deactivates it
            // through a hardware-backed list register. Past the batch size it is left
            // pending at the GIC and taken on the next exit.
            if forwarded.push(virtual_intid).is_err() {
                arch::gic::deactivate(intid);
            }
            continue;
        }
        if intid == vcpu::KICK_SGI {
            requests |= MAILBOXES.get(core).map_or(0, |mailbox| mailbox.take());
        } else if intid == SYSTEM.board.console.intid {
            // Level-triggered: empty the receive FIFO before deactivating, or it fires again.
            input::drain(core);
        } else if intid == vcpu::MAINTENANCE_INTID {
            // Level: asserted while a list register holds a finished interrupt with its EOI
            // bit set (ICH_EISR_EL2) or while refill is wanted (NPIE). Only rewriting the list
            // registers clears it, so stop acknowledging and sync; interrupts still pending
            // are taken again as soon as the vCPU resumes.
            arch::gic::deactivate(intid);
            break;
        } else {
            defmt::warn!("core {=usize}: unexpected physical INTID {=u32}", core, intid);
        }
        arch::gic::deactivate(intid);
    }
    if requests & request::STOP != 0 {
        vcpu::wait_for_start(core);
    }
    if requests & request::RESTART != 0 {
        containment::restart_here(core);
    }
    trap::finish_after(core, vcpu, |state| {
        if timer_fired && state.vgic.set_private_pending(vcpu.vcpu, layout::timer_intid::VIRTUAL).is_err() {
            defmt::warn!("core {=usize}: virtual timer could not be raised", core);
        }
        for intid in forwarded {
            if state.vgic.set_spi_pending(intid).is_err() {
                defmt::warn!("core {=usize}: pass-through INTID {=u32} could not be raised", core, intid);
            }
        }
    });
}
