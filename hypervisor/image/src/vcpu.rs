//! Running the one vCPU pinned to this core: preparing the core, waiting for PSCI `CPU_ON`,
//! entering the guest, and keeping its list registers in step with the vGIC model.
//!
//! [impl->dsn~el2-trap-dispatch~1]

use crate::cores::{self, MAILBOXES, request};
use crate::generated::SYSTEM;
use crate::partition::{PARTITIONS, PartitionState, RunState};
use crate::platform::GIC;
use bulkhead_arch_aarch64 as arch;
use bulkhead_core::layout;
use bulkhead_core::system::VcpuRef;
use bulkhead_core::vgic::{Backing, ListRegister};
use bulkhead_drivers::gicv3::InterruptTrigger;
use core::sync::atomic::{AtomicBool, Ordering};

/// SGI one core sends another to make it look at its mailbox.
pub const KICK_SGI: u32 = 8;
/// The GIC maintenance interrupt (PPI 9).
pub const MAINTENANCE_INTID: u32 = 25;

/// Per core: set while the core is parked at EL2 and runs no guest code.
static PARKED: [AtomicBool; crate::generated::CORE_COUNT] = [const { AtomicBool::new(true) }; crate::generated::CORE_COUNT];

/// Whether `core` is parked (runs no guest code).
pub fn is_parked(core: usize) -> bool {
    PARKED.get(core).is_none_or(|parked| parked.load(Ordering::Acquire))
}

/// Takes this core from boot to its vCPU: configures the virtualization registers, then
/// enters vCPU 0 directly or waits for PSCI `CPU_ON` for any other vCPU.
pub fn run(core: usize) -> ! {
    let Some(vcpu) = SYSTEM.vcpu_on_core(core) else {
        defmt::info!("core {=usize} has no vCPU: parked", core);
        arch::cpu::halt()
    };
    prepare_core(core, vcpu);
    let Some(partition) = SYSTEM.partitions.get(vcpu.partition) else { arch::cpu::halt() };
    if vcpu.vcpu == 0 {
        enter(core, partition.entry.raw(), partition.dtb_ipa.raw())
    }
    wait_for_start(core)
}

/// Programs this core's virtualization registers for `vcpu` (virtual MPIDR, stage 2) and
/// enables its private interrupts at the GIC.
fn prepare_core(core: usize, vcpu: VcpuRef) {
    // A vCPU index is below `MAX_VCPUS_PER_PARTITION`, so it always fits; the fallback only
    // keeps the conversion total.
    arch::guest::configure_core(u64::try_from(vcpu.vcpu).unwrap_or(0));
    let vttbr = PARTITIONS
        .get(vcpu.partition)
        .and_then(|slot| slot.lock().as_ref().map(|state| state.vttbr))
        .unwrap_or(0);
    arch::guest::install_stage2(crate::partition::vtcr_el2(), vttbr);
    let affinity = SYSTEM.cores.get(core).map_or(0, |c| c.mpidr);
    if let Some(gic) = GIC.lock().as_mut() {
        let private = [
            (layout::timer_intid::VIRTUAL, InterruptTrigger::Level),
            (MAINTENANCE_INTID, InterruptTrigger::Level),
            (KICK_SGI, InterruptTrigger::Edge),
        ];
        for (intid, trigger) in private {
            if gic.enable(intid, core, affinity, trigger).is_err() {
                defmt::error!("core {=usize}: cannot enable INTID {=u32}", core, intid);
            }
        }
    }
}

/// Parks this core until a start request arrives, then enters the vCPU. The parked loop runs
/// on a fresh stack, so parking from inside a trap handler never deepens the stack.
// DEVIATION(DEV-0051, MLR-09) parking and restarting form a cycle, each turn on a fresh stack.
pub fn wait_for_start(core: usize) -> ! {
    let Some(stack_top) = cores::stack_top(core) else { arch::cpu::halt() };
    // `self::parked_loop` is written as a path so that the call-graph check (MLR-09) sees
    // this edge: the cycle through it is deliberate and bounded (DEV-0051).
    #[expect(unsafe_code, reason = "discarding the trap handler's stack while parking")]
    // SAFETY: `stack_top` is this core's EL2 stack top; everything on the stack belongs to the
    // trap being abandoned, and nothing refers to it afterwards.
    unsafe {
        arch::stack::continue_on_stack(core, stack_top, self::parked_loop)
    }
}

/// This core's parked state, on an empty stack: waits for a start or restart request
/// (everything else, e.g. refresh kicks, only wakes it) and enters the vCPU.
// DEVIATION(DEV-0051, MLR-09) parking and restarting form a cycle, each turn on a fresh stack.
extern "C" fn parked_loop(core: usize) -> ! {
    if let Some(parked) = PARKED.get(core) {
        parked.store(true, Ordering::Release);
    }
    // BOUND: a parked core waits for as long as its vCPU is off; that is its job.
    loop {
        let Some(mailbox) = MAILBOXES.get(core) else { arch::cpu::halt() };
        let requests = mailbox.take();
        if requests & request::RESTART != 0 {
            crate::containment::restart_here(core);
        }
        if requests & request::START != 0 {
            let (entry, context) = mailbox.start_arguments();
            if let Some(vcpu) = SYSTEM.vcpu_on_core(core) {
                if let Some(slot) = PARTITIONS.get(vcpu.partition) {
                    if let Some(state) = slot.lock().as_mut() {
                        if state.run_state == RunState::Running && state.psci.vcpu_started(vcpu.vcpu).is_ok() {
                            drop_list_registers(state, vcpu.vcpu);
                        } else {
                            continue;
                        }
                    }
                }
            }
            enter(core, entry, context);
        }
        arch::cpu::wait_for_event();
    }
}

/// Enters the vCPU at `entry` with `x0`, in the state the arm64 boot protocol and PSCI
/// `CPU_ON` require (EL1h, DAIF masked, MMU and caches off, fresh virtual interface).
pub fn enter(core: usize, entry: u64, x0: u64) -> ! {
    // Which physical core runs which vCPU, with the affinity read from this core's own
    // MPIDR_EL1 (the guest only sees its virtual MPIDR): what the pinning tests check.
    if let Some(vcpu) = SYSTEM.vcpu_on_core(core) {
        let name = SYSTEM.partitions.get(vcpu.partition).map_or("?", |p| p.name);
        defmt::info!("{=str}: vCPU {=usize} entered on core {=usize} (MPIDR affinity {=u64:#x})", name, vcpu.vcpu, core, arch::cpu::affinity());
    }
    arch::guest::reset_el1_state();
    arch::gic::reset_virtual_interface();
    arch::gic::set_refill_maintenance(false);
    if let Some(parked) = PARKED.get(core) {
        parked.store(false, Ordering::Release);
    }
    let frame = arch::vectors::TrapFrame::new_entry(entry, x0);
    let Some(stack_top) = cores::stack_top(core) else { arch::cpu::halt() };
    #[expect(unsafe_code, reason = "leaving EL2 for the guest")]
    // SAFETY: `stack_top` is this core's EL2 stack top, and nothing on the stack is needed
    // again: `enter` never returns and later traps start from the top.
    unsafe {
        arch::vectors::enter(&frame, stack_top)
    }
}

/// Forgets what `vcpu`'s list registers held (a vCPU starting afresh has none in flight).
fn drop_list_registers(state: &mut PartitionState, vcpu: usize) {
    if let Some(shadow) = state.list_registers.get_mut(vcpu) {
        *shadow = [None; crate::partition::MAX_LIST_REGISTERS];
    }
}

/// Brings this core's list registers in line with the model: retires what the guest has
/// finished, then fills free registers with the highest-priority deliverable interrupts.
/// Returns the vCPUs on other cores that need a refill of their own.
pub fn sync_list_registers(
    partition: &bulkhead_core::system::Partition,
    state: &mut PartitionState,
    vcpu: usize,
) -> bulkhead_core::vgic::VcpuSet {
    let mut others = bulkhead_core::vgic::VcpuSet::EMPTY;
    let count = arch::gic::list_register_count().min(crate::partition::MAX_LIST_REGISTERS);
    let empty = arch::gic::finished_list_registers();
    let Some(shadow) = state.list_registers.get_mut(vcpu) else { return others };
    for (n, slot) in shadow.iter_mut().enumerate().take(count) {
        if let Some(intid) = *slot {
            if empty & (1 << n) != 0 {
                // Writing the register clears its EOI-maintenance status too.
                arch::gic::write_list_register(n, 0);
                *slot = None;
                if let Ok(Some(target)) = state.vgic.end_of_interrupt(vcpu, intid) {
                    if target != vcpu {
                        others = others.with(target);
                    }
                }
            }
        }
    }
    let mut waiting = false;
    // BOUND: at most one iteration per list register, plus the final one that finds none.
    while let Some(pending) = state.vgic.next_pending(vcpu) {
        let free = shadow_free_slot(state, vcpu, count);
        let Some(n) = free else {
            waiting = true;
            break;
        };
        let mut register: ListRegister = pending.list_register();
        if let Backing::Hardware { physical_intid } = &mut register.backing {
            // Forwarded SPIs are renumbered for the guest: deactivate the board's INTID.
            let physical = crate::routes::physical_of(partition, pending.intid).and_then(|p| u16::try_from(p).ok());
            *physical_intid = physical.unwrap_or(*physical_intid);
        }
        arch::gic::write_list_register(n, register.to_bits());
        if state.vgic.mark_delivered(vcpu, pending.intid).is_err() {
            arch::gic::write_list_register(n, 0);
            break;
        }
        if let Some(slot) = state.list_registers.get_mut(vcpu).and_then(|s| s.get_mut(n)) {
            *slot = Some(pending.intid);
        }
    }
    arch::gic::set_refill_maintenance(waiting);
    others
}

/// The first of the `count` usable list registers of `vcpu` that holds no interrupt.
fn shadow_free_slot(state: &PartitionState, vcpu: usize, count: usize) -> Option<usize> {
    state.list_registers.get(vcpu)?.iter().take(count).position(Option::is_none)
}

/// Asks the cores of `vcpus` (of `partition`) to refill their list registers.
pub fn kick_vcpus(partition: usize, vcpus: bulkhead_core::vgic::VcpuSet) {
    if vcpus.is_empty() {
        return;
    }
    let Some(description) = SYSTEM.partitions.get(partition) else { return };
    for vcpu in vcpus.iter() {
        if let Some(&core) = description.cores.get(vcpu) {
            kick(core, request::REFRESH);
        }
    }
}

/// Posts `requests` to `core` and interrupts it (or wakes it, if parked).
pub fn kick(core: usize, requests: u32) {
    let Some(mailbox) = MAILBOXES.get(core) else { return };
    mailbox.post(requests);
    if let Some(target) = SYSTEM.cores.get(core) {
        arch::gic::send_sgi(KICK_SGI, target.mpidr);
    }
    arch::cpu::send_event();
}
