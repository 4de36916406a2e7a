//! Physical interrupts taken while a guest runs: hardware-backed private interrupts (the
//! virtual timer, forwarded through a `HW` list register), forwarded SPIs, the GIC maintenance
//! interrupt, kicks from other cores, and console input.
//!
//! When only hardware-backed private interrupts fired, each takes the short delivery path
//! (its list register written at once, no scan); anything else runs the full list-register
//! synchronisation. Worst case: one partition lock for the batch (at most 8 forwarded SPIs)
//! plus one synchronisation (`delivery.rs`); under the same lock, first the power check
//! (`PartitionPower::stop_pending`, O(1), then `acknowledge` and the stop instead of the
//! sync) and the fault-storm progress note (O(1)).
//!
//! [impl->dsn~el2-trap-dispatch~1]

use crate::context::TrapContext;
use crate::cores::{KICK_SGI, MAILBOXES, MAINTENANCE_INTID};
use crate::delivery;
use crate::generated::SYSTEM;
use crate::partition::{HARDWARE_PRIVATE_INTERRUPTS, hardware_private_virtual};
use crate::{input, routes, vcpu};
use bulkhead_arch_aarch64 as arch;
use bulkhead_core::partition_power::Directive;
use bulkhead_core::vgic::VcpuSet;

/// Handles every pending physical interrupt, then brings the vCPU's list registers up to date.
pub fn handle() {
    let context = TrapContext::current();
    let core = context.core;
    // Virtual INTIDs (all below 32) of hardware-backed private interrupts that fired.
    let mut fired_private: u32 = 0;
    // Forwarded SPIs that fired, as (virtual, physical) INTIDs.
    let mut forwarded = heapless::Vec::<(u32, u32), 8>::new();
    // Whether anything but a hardware-backed private interrupt needs the full pass.
    let mut full = false;
    // BOUND: each iteration acknowledges one interrupt; the GIC returns the spurious INTID
    // once none is pending. The one source that stays asserted until the hypervisor acts, the
    // maintenance interrupt, ends the loop (the list-register sync below clears it).
    loop {
        let intid = arch::gic::acknowledge();
        if intid >= 1020 {
            break;
        }
        arch::gic::priority_drop(intid);
        if let Some(virtual_intid) = hardware_private_virtual(intid) {
            // Stays active until the guest's EOI deactivates it through the list register.
            fired_private |= 1_u32.checked_shl(virtual_intid).unwrap_or(0);
            continue;
        }
        full = true;
        if let Some(virtual_intid) = routes::virtual_of(context.partition, intid) {
            // A pass-through device's SPI: the guest's EOI deactivates it through a
            // hardware-backed list register. Past the batch size it is left pending at the
            // GIC and taken on the next exit.
            if forwarded.push((virtual_intid, intid)).is_err() {
                arch::gic::deactivate(intid);
            }
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
            arch::gic::deactivate(intid);
            break;
        } else {
            defmt::warn!("core {=usize}: unexpected physical INTID {=u32}", core, intid);
        }
        arch::gic::deactivate(intid);
    }
    let vcpu_index = context.vcpu.vcpu;
    let answer = context.state.lock().as_mut().map(|state| {
        // A stop or restart of the partition under way (kicked, or found on any exit, so even
        // a lost kick only delays it to the next timer interrupt): this vCPU acknowledges it
        // and does what the power state machine says instead of resuming.
        if state.power.stop_pending(vcpu_index) {
            return Err(state.power.acknowledge(vcpu_index).unwrap_or(Directive::Park));
        }
        // An interrupt exit is progress for the fault-storm detector's repeat rule.
        if let Some(detector) = state.storms.get_mut(vcpu_index) {
            detector.note_progress();
        }
        if !full {
            let mut kick = VcpuSet::EMPTY;
            let mut rest = fired_private;
            // BOUND: each turn clears one bit of a 32-bit mask.
            while rest != 0 {
                let virtual_intid = rest.trailing_zeros();
                rest &= rest.wrapping_sub(1);
                kick = kick.union(delivery::deliver_hardware_private(&context, state, virtual_intid));
            }
            return Ok(kick);
        }
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
        Ok(delivery::synchronise(&context, state, raised))
    });
    match answer {
        Some(Ok(kick)) => delivery::kick_vcpus(context.partition, kick),
        Some(Err(directive)) => {
            // The fired hardware-backed interrupts were acknowledged but reach no list
            // register: deactivate them, or they never fire again in the vCPU's next life.
            for &(virtual_intid, physical) in &HARDWARE_PRIVATE_INTERRUPTS {
                if fired_private & 1_u32.checked_shl(virtual_intid).unwrap_or(0) != 0 {
                    arch::gic::deactivate(physical);
                }
            }
            for &(_, physical) in &forwarded {
                arch::gic::deactivate(physical);
            }
            vcpu::follow(core, context.vcpu, directive);
        }
        None => {}
    }
}
