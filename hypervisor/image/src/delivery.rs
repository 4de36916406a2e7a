//! Interrupt delivery on this core: the board's list registers (GICv3 `ICH_LR<n>_EL2` or
//! GICv2 `GICH_LR<n>`, [`ListRegisters`]) driven by
//! `bulkhead_core::vgic::delivery`, and kicks to the cores of other vCPUs.
//!
//! Every decision (what goes into which list register, which vCPUs must be kicked) is made in
//! `bulkhead-core` and host-tested there; this module only supplies the backend and carries
//! out the kicks. Lock order: called with the partition lock held, takes none itself.
//!
//! Worst case per call: [`synchronise`] is `bulkhead_core::vgic::delivery::synchronise` (at
//! most 16 retirements and 32 placements, each a scan of 1 + `GUEST_SPI_BLOCKS` banks); the
//! hardware-backed PPI path is one status read, two bank updates and one register write;
//! [`observe`] reads the status registers and at most one list register per held,
//! unacknowledged entry.
//!
//! [impl->dsn~el2-gic-virtual-interface~1]

use crate::context::TrapContext;
use crate::cores::{self, request};
use crate::partition::PartitionState;
use crate::platform::ListRegisters;
use bulkhead_core::system::Partition;
use bulkhead_core::vgic::VcpuSet;
use bulkhead_core::vgic::delivery::{self, FastDelivery};

/// Brings this core's list registers in line with the partition's vGIC; returns the other
/// vCPUs to kick (`raised`, the vCPUs the caller's action may have given an interrupt,
/// included).
pub fn synchronise(context: &TrapContext, state: &mut PartitionState, raised: VcpuSet) -> VcpuSet {
    let Some(shadow) = state.list_registers.get_mut(context.vcpu.vcpu) else { return VcpuSet::EMPTY };
    delivery::synchronise(&mut state.devices.vgic, shadow, context.vcpu.vcpu, &mut ListRegisters::default(), raised)
}

/// Brings the vGIC model up to date with this vCPU's list registers before an emulated vGIC
/// access reads or changes their state (so `ISACTIVER` reads what the guest did): retires
/// finished entries, notes acknowledged ones. Returns the vCPUs that must sync.
pub fn observe(context: &TrapContext, state: &mut PartitionState) -> VcpuSet {
    let Some(shadow) = state.list_registers.get_mut(context.vcpu.vcpu) else { return VcpuSet::EMPTY };
    delivery::observe(&mut state.devices.vgic, shadow, context.vcpu.vcpu, &mut ListRegisters::default())
}

/// A hardware-backed PPI fired on this core: its entry is written at once when a list
/// register is free, otherwise the full [`synchronise`] runs.
pub fn deliver_hardware_private(context: &TrapContext, state: &mut PartitionState, intid: u32) -> VcpuSet {
    let vcpu = context.vcpu.vcpu;
    let fast = match state.list_registers.get_mut(vcpu) {
        Some(shadow) => {
            delivery::deliver_hardware_private(&mut state.devices.vgic, shadow, vcpu, intid, &mut ListRegisters::default())
        }
        None => FastDelivery::NeedsSynchronise,
    };
    match fast {
        FastDelivery::Done => VcpuSet::EMPTY,
        FastDelivery::NeedsSynchronise => synchronise(context, state, VcpuSet::EMPTY),
    }
}

/// Runs `action` on the partition's state under its lock, then synchronises this core's list
/// registers in the same critical section; kicks the other vCPUs that need it afterwards,
/// with the lock released. `action` returns the vCPUs it may have given an interrupt.
pub fn with_state_then_synchronise(context: &TrapContext, action: impl FnOnce(&mut PartitionState) -> VcpuSet) {
    let kick = context.state.lock().as_mut().map(|state| {
        let raised = action(state);
        synchronise(context, state, raised)
    });
    kick_vcpus(context.partition, kick.unwrap_or(VcpuSet::EMPTY));
}

/// Asks the cores of `vcpus` of `partition` to refill their list registers.
#[inline]
pub fn kick_vcpus(partition: &Partition, vcpus: VcpuSet) {
    if vcpus.is_empty() {
        return;
    }
    kick_cores(partition, vcpus);
}

/// [`kick_vcpus`] for a non-empty set (kept out of line: the common case kicks no one).
#[inline(never)]
fn kick_cores(partition: &Partition, vcpus: VcpuSet) {
    for vcpu in vcpus.iter() {
        if let Some(&core) = partition.cores.get(vcpu) {
            cores::kick(core, request::REFRESH);
        }
    }
}
