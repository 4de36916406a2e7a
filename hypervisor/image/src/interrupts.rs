//! Physical interrupts taken while a guest runs: hardware-backed private interrupts (the EL1
//! virtual and physical timers, forwarded through `HW` list registers), forwarded SPIs, the
//! GIC maintenance interrupt, kicks from other cores, and console input/transmit room.
//!
//! A hardware-backed private interrupt acknowledged first takes the short delivery path: one
//! acknowledge, one partition lock around the power check, the fault-storm progress note, one
//! bank update and one list-register write; no scan, no second acknowledge. A kick from
//! another core acknowledged first takes the kick path: the power check, the progress note and
//! the list-register synchronisation under one partition lock, no second acknowledge. Anything
//! else runs the batch: every pending interrupt, then under one partition lock the power check
//! (`PartitionPower::stop_pending`, O(1); a pending stop is acknowledged and followed instead
//! of the sync), the progress note (O(1)) and the full list-register synchronisation. Worst
//! case: one partition lock for the batch (at most 8 forwarded SPIs) plus one synchronisation
//! (`delivery.rs`).
//!
//! [impl->dsn~el2-trap-dispatch~1]

use crate::context::TrapContext;
use crate::cores::{KICK_SGI, MAILBOXES, MAINTENANCE_INTID};
use crate::delivery;
use crate::generated::SYSTEM;
use crate::partition::{HARDWARE_PRIVATE_INTERRUPTS, PartitionState, hardware_private_virtual};
use crate::platform::CpuInterface;
use crate::{input, routes, vcpu};
use bulkhead_core::partition_power::Directive;
use bulkhead_core::vgic::VcpuSet;
use bulkhead_core::vgic::delivery::PhysicalCpuInterface;

/// INTIDs from here up are special (1020..1023; 1023: nothing pending).
const FIRST_SPECIAL_INTID: u32 = 1020;

/// Handles the pending physical interrupts, then brings the vCPU's list registers up to date.
///
/// Short path: when the first interrupt acknowledged is a hardware-backed private one (a
/// timer), it is delivered alone (its physical INTID is fixed at set-up, so nothing is looked
/// up) and the handler returns at once. Anything else still pending at the GIC is taken as
/// soon as the vCPU resumes (physical IRQs are routed to EL2, `HCR_EL2.IMO`, whatever the
/// guest's PSTATE.I), and handled then: nothing is lost, a rare coincidence costs one more
/// exit, and the common case costs no second acknowledge.
pub fn handle() {
    let acknowledged = CpuInterface::acknowledge();
    let intid = CpuInterface::interrupt_id(acknowledged);
    if intid >= FIRST_SPECIAL_INTID {
        return;
    }
    CpuInterface::priority_drop(acknowledged);
    if let Some(virtual_intid) = hardware_private_virtual(intid) {
        // Stays active until the guest's EOI deactivates it through the list register.
        let context = TrapContext::current();
        let vcpu_index = context.vcpu.vcpu;
        let answer = context.state.lock().as_mut().map(|state| {
            before_resuming(state, vcpu_index)?;
            Ok(delivery::deliver_hardware_private(context, state, virtual_intid))
        });
        finish(context, answer, 1_u32.checked_shl(virtual_intid).unwrap_or(0), &[]);
        return;
    }
    if intid == KICK_SGI {
        CpuInterface::deactivate(acknowledged);
        handle_kick();
        return;
    }
    handle_batch(acknowledged);
}

/// Another core kicked this one (an interrupt raised for this vCPU, or a power request):
/// the power check and the list-register sync, with no batch around them. Like the timer's
/// short path, anything else pending at the GIC is taken as soon as the vCPU resumes.
#[inline(never)]
fn handle_kick() {
    let context = TrapContext::current();
    // The requests are hints (refresh, look at the power state): the power check and the
    // sync below run whatever they say.
    let _hints = MAILBOXES.get(context.core).map_or(0, |mailbox| mailbox.take());
    let vcpu_index = context.vcpu.vcpu;
    let answer = context.state.lock().as_mut().map(|state| {
        before_resuming(state, vcpu_index)?;
        Ok(delivery::synchronise(context, state, VcpuSet::EMPTY))
    });
    finish(context, answer, 0, &[]);
}

/// Under the partition lock, on every interrupt exit: a stop or restart of the partition under
/// way (kicked, or found on any exit, so even a lost kick only delays it to the next timer
/// interrupt) is acknowledged and its directive returned instead of resuming; otherwise the
/// exit counts as progress for the fault-storm detector's repeat rule.
fn before_resuming(state: &mut PartitionState, vcpu_index: usize) -> Result<(), Directive> {
    if state.power.stop_pending(vcpu_index) {
        return Err(state.power.acknowledge(vcpu_index).unwrap_or(Directive::Park));
    }
    if let Some(detector) = state.storms.get_mut(vcpu_index) {
        detector.note_progress();
    }
    Ok(())
}

/// Kicks the vCPUs the delivery named, or follows the power directive. Interrupts acknowledged
/// for a vCPU that stops reach no list register: they are deactivated here, or they would
/// never fire again in the vCPU's next life.
fn finish(context: &TrapContext, answer: Option<Result<VcpuSet, Directive>>, fired_private: u32, forwarded: &[(u32, u32)]) {
    match answer {
        Some(Ok(kick)) => delivery::kick_vcpus(context.partition, kick),
        Some(Err(directive)) => {
            for &(virtual_intid, physical) in &HARDWARE_PRIVATE_INTERRUPTS {
                if fired_private & 1_u32.checked_shl(virtual_intid).unwrap_or(0) != 0 {
                    CpuInterface::deactivate(physical);
                }
            }
            for &(_, physical) in forwarded {
                CpuInterface::deactivate(physical);
            }
            vcpu::follow(context.core, context.vcpu, directive);
        }
        None => {}
    }
}

/// Handles `first` (acknowledged, priority dropped; as the acknowledge register read it) and
/// every interrupt pending after it,
/// then runs the full list-register synchronisation. Kept out of line so the timer's short
/// path in [`handle`] saves and restores only the registers it uses.
#[inline(never)]
fn handle_batch(first: u32) {
    let context = TrapContext::current();
    let core = context.core;
    // Virtual INTIDs (all below 32) of hardware-backed private interrupts that fired.
    let mut fired_private: u32 = 0;
    // Forwarded SPIs that fired, as (virtual, physical) INTIDs.
    let mut forwarded = heapless::Vec::<(u32, u32), 8>::new();
    let mut next = Some(first);
    // BOUND: each iteration acknowledges one interrupt; the GIC returns the spurious INTID
    // once none is pending. The one source that stays asserted until the hypervisor acts, the
    // maintenance interrupt, ends the loop (the list-register sync below clears it).
    loop {
        let acknowledged = match next.take() {
            Some(value) => value,
            None => {
                let value = CpuInterface::acknowledge();
                if CpuInterface::interrupt_id(value) >= FIRST_SPECIAL_INTID {
                    break;
                }
                CpuInterface::priority_drop(value);
                value
            }
        };
        let intid = CpuInterface::interrupt_id(acknowledged);
        if let Some(virtual_intid) = hardware_private_virtual(intid) {
            // Stays active until the guest's EOI deactivates it through the list register.
            fired_private |= 1_u32.checked_shl(virtual_intid).unwrap_or(0);
            continue;
        }
        if let Some(virtual_intid) = routes::virtual_of(context.partition, intid) {
            // A pass-through device's SPI: the guest's EOI deactivates it through a
            // hardware-backed list register. Past the batch size it is left pending at the
            // GIC and taken on the next exit.
            if forwarded.push((virtual_intid, intid)).is_err() {
                CpuInterface::deactivate(acknowledged);
            }
            continue;
        }
        if intid == bulkhead_arch_aarch64::cpu::HYPERVISOR_TIMER_INTID {
            // The display's frame tick (only ever enabled on its compose core): bounded
            // composition (`display` module), no lock held here; re-armed inside.
            crate::display::tick();
            CpuInterface::deactivate(acknowledged);
            continue;
        }
        if intid == KICK_SGI {
            // The requests are hints (refresh, look at the power state): the list-register
            // sync and the power check below run on every exit anyway.
            let _hints = MAILBOXES.get(core).map_or(0, |mailbox| mailbox.take());
        } else if intid == SYSTEM.board.console.intid {
            // Level-triggered: empty the receive FIFO before deactivating, or it fires again.
            input::drain(core);
            // The same line signals transmit room: the console drain continues.
            crate::console::on_interrupt();
        } else if intid == MAINTENANCE_INTID {
            // Level: asserted while a list register holds a finished interrupt with its EOI
            // bit set (ICH_EISR_EL2) or while refill is wanted (NPIE). Only rewriting the list
            // registers clears it, so stop acknowledging and sync; interrupts still pending
            // are taken again as soon as the vCPU resumes.
            CpuInterface::deactivate(acknowledged);
            break;
        } else {
            defmt::warn!("core {=usize}: unexpected physical INTID {=u32}", core, intid);
        }
        CpuInterface::deactivate(acknowledged);
    }
    let vcpu_index = context.vcpu.vcpu;
    let answer = context.state.lock().as_mut().map(|state| {
        before_resuming(state, vcpu_index)?;
        let mut raised = VcpuSet::EMPTY;
        let mut rest = fired_private;
        // BOUND: each turn clears one bit of a 32-bit mask.
        while rest != 0 {
            let virtual_intid = rest.trailing_zeros();
            rest &= rest.wrapping_sub(1);
            if state.devices.vgic.set_private_pending(vcpu_index, virtual_intid).is_err() {
                defmt::warn!("core {=usize}: INTID {=u32} could not be raised", core, virtual_intid);
            }
        }
        for &(intid, _) in &forwarded {
            match state.devices.vgic.set_spi_pending(intid) {
                Ok(Some(target)) => raised = raised.with(target),
                Ok(None) => {}
                Err(_) => defmt::warn!("core {=usize}: pass-through INTID {=u32} could not be raised", core, intid),
            }
        }
        Ok(delivery::synchronise(context, state, raised))
    });
    finish(context, answer, fired_private, &forwarded);
}
