//! The trap context: the current core, its vCPU, that vCPU's partition description, run-time
//! state and device map, looked up once when a trap starts and passed by reference after.
//!
//! Every handler used to repeat `SYSTEM.partitions.get(..)` and `PARTITIONS.get(..)` for the
//! same partition; one lookup per trap is cheaper and leaves no handler holding a different
//! answer than another. The context holds only `'static` references into the generated tables
//! and the per-partition statics, so it is `Copy` and never outlives what it names.
//!
//! It also names the partition's [`PublishedRegisters`]: the console `UARTFR` its vPL011
//! publishes, which the trap handler's short path reads without the partition lock.

use crate::generated::{CORE_COUNT, PARTITION_COUNT, SYSTEM};
use crate::partition::{self, PartitionSlot};
use spin::Once;
use bulkhead_arch_aarch64 as arch;
use bulkhead_core::devices::DeviceMap;
use bulkhead_core::system::{Partition, VcpuRef};
use bulkhead_core::vpl011::PublishedRegisters;

/// Everything a trap on this core needs to know about where it came from.
#[derive(Clone, Copy)]
pub struct TrapContext {
    /// This core's index in the system tables.
    pub core: usize,
    /// The vCPU pinned to it.
    pub vcpu: VcpuRef,
    /// Its partition's description in the generated tables.
    pub partition: &'static Partition,
    /// Its partition's run-time state (behind the partition lock).
    pub state: &'static PartitionSlot,
    /// Its partition's emulated devices' windows (immutable after boot: no lock).
    pub devices: &'static DeviceMap,
    /// Its partition's console `UARTFR`, as the vPL011 last published it (no lock).
    pub console: &'static PublishedRegisters,
}

/// Each partition's console registers readable without its lock, published by its vPL011
/// once [`attach_published_registers`] has attached them.
// [impl->dsn~el2-static-state~1]
static CONSOLE_REGISTERS: [PublishedRegisters; PARTITION_COUNT] = [const { PublishedRegisters::new() }; PARTITION_COUNT];

/// Makes every partition's vPL011 publish its `UARTFR` to the partition's own
/// [`CONSOLE_REGISTERS`] entry, under the partition's lock. Called once on the boot core after
/// the partitions are set up and before any vCPU runs; a restart keeps the attachment (the
/// model resets in place). A partition left unattached would only lose the short path: its
/// entry reads as unpublished, and its loads go to the locked model.
pub fn attach_published_registers() {
    for (index, registers) in CONSOLE_REGISTERS.iter().enumerate() {
        let Some(slot) = partition::slot(index) else { continue };
        if let Some(state) = slot.lock().as_mut() {
            state.devices.publish_console_to(registers);
        }
    }
}

/// Each core's context, recorded once before the core first runs its guest (each slot only by
/// its own core) and read-only after.
static CONTEXTS: [Once<TrapContext>; CORE_COUNT] = [const { Once::new() }; CORE_COUNT];

impl TrapContext {
    /// The context of `core`, if a vCPU is pinned to it and its partition is set up.
    pub fn of_core(core: usize) -> Option<Self> {
        let vcpu = SYSTEM.vcpu_on_core(core)?;
        let description = SYSTEM.partitions.get(vcpu.partition)?;
        let state = partition::slot(vcpu.partition)?;
        let devices = partition::device_map(vcpu.partition)?;
        let console = CONSOLE_REGISTERS.get(vcpu.partition)?;
        Some(Self { core, vcpu, partition: description, state, devices, console })
    }

    /// The context of the core this runs on; a core without one has no guest that could
    /// have trapped, so it stops.
    ///
    /// The context is looked up once per core, before the core first enters its vCPU
    /// ([`TrapContext::record`]), and read here without a search: one system-register read,
    /// one bounds check and one load. It names only `'static` tables that never change after
    /// boot (a restart rebuilds a partition's state in place, in the same slot), so the
    /// recorded answer stays the one [`TrapContext::of_core`] would give.
    #[inline]
    pub fn current() -> &'static Self {
        let core = arch::cpu::core_index();
        match CONTEXTS.get(core).and_then(Once::get) {
            Some(context) => context,
            None => arch::cpu::halt(),
        }
    }

    /// Records `context` as its core's for [`TrapContext::current`]. Called by each core for
    /// itself, before it first enters its vCPU (never from a trap: recording may panic on a
    /// poisoned slot, which nothing on a trap path may do), once the partitions are set up.
    pub fn record(self) -> &'static Self {
        match CONTEXTS.get(self.core) {
            Some(slot) => slot.call_once(|| self),
            None => arch::cpu::halt(),
        }
    }

    /// The physical core running vCPU `vcpu` of this partition.
    pub fn core_of(&self, vcpu: usize) -> Option<usize> {
        self.partition.cores.get(vcpu).copied()
    }
}
