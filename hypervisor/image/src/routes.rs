//! Forwarded interrupts and doorbells: the translation between the physical INTIDs the board
//! raises and the virtual INTIDs a partition sees (the config compiler renumbers pass-through
//! SPIs from 48 up, so a guest's interrupt map never depends on the board).

use crate::delivery;
use crate::generated::SYSTEM;
use crate::partition::PARTITIONS;
use crate::platform;
use bulkhead_core::addr::Ipa;
use bulkhead_core::system::{Partition, Trigger};
use bulkhead_core::vgic::VcpuSet;
use bulkhead_drivers::gicv3::InterruptTrigger;

/// The virtual INTID a physical one is forwarded as, in `partition`.
pub fn virtual_of(partition: &Partition, physical: u32) -> Option<u32> {
    partition.interrupt_routes.iter().find(|route| route.physical == physical).map(|route| route.virtual_intid)
}

/// Configures every forwarded SPI at boot: trigger, routed to its partition's first core,
/// left disabled until the guest enables the virtual one.
pub fn configure_forwarded_interrupts() {
    let Some(gic) = &mut *platform::GIC.lock() else { return };
    for partition in SYSTEM.partitions {
        let core = partition.cores.first().copied().unwrap_or(0);
        let affinity = SYSTEM.cores.get(core).map_or(0, |c| c.mpidr);
        for route in partition.interrupt_routes {
            let trigger = match route.trigger {
                Trigger::Edge => InterruptTrigger::Edge,
                Trigger::Level => InterruptTrigger::Level,
            };
            if gic.enable(route.physical, core, affinity, trigger).and_then(|()| gic.set_enabled(route.physical, core, false)).is_err() {
                defmt::error!("{=str}: physical INTID {=u32} cannot be forwarded", partition.name, route.physical);
            }
        }
    }
}

/// If `ipa` is one of `partition`'s doorbell registers, rings it: raises the doorbell
/// interrupt in every other partition on that channel (its peers, resolved at build time).
/// Returns whether it was a doorbell. Called with no partition lock held (it takes the
/// peers' locks one at a time).
pub fn ring_doorbell(partition_index: usize, ipa: Ipa) -> bool {
    let Some(partition) = SYSTEM.partitions.get(partition_index) else { return false };
    let page = ipa.raw() & !0xfff;
    let Some(doorbell) =
        partition.channel_endpoints.iter().find_map(|end| end.doorbell.filter(|doorbell| doorbell.register.raw() == page))
    else {
        return false;
    };
    for peer in doorbell.peers {
        let (Some(other), Some(slot)) = (SYSTEM.partitions.get(peer.partition), PARTITIONS.get(peer.partition)) else {
            continue;
        };
        let target = slot.lock().as_mut().map(|state| state.devices.vgic.set_spi_pending(peer.intid));
        if let Some(Ok(Some(vcpu_index))) = target {
            delivery::kick_vcpus(other, VcpuSet::single(vcpu_index));
        }
    }
    true
}
