//! Running the one vCPU pinned to this core: preparing the core, waiting for PSCI `CPU_ON`,
//! entering the guest, and carrying out what happens to a vCPU when its partition stops or
//! restarts ([`Fate`]).
//!
//! Containment (`containment.rs`) decides a partition's fate and returns it; this module acts
//! on it, so neither calls back into the other.
//!
//! [impl->dsn~el2-trap-dispatch~1]

use crate::context::TrapContext;
use crate::cores::{self, MAILBOXES, MAINTENANCE_INTID, KICK_SGI, request};
use crate::generated::SYSTEM;
use crate::hv_println;
use crate::partition::{self, HARDWARE_PRIVATE_INTERRUPTS, PARTITIONS, RunState};
use crate::platform::GIC;
use bulkhead_arch_aarch64 as arch;
use bulkhead_core::system::VcpuRef;
use bulkhead_core::vgic::delivery::ListRegisterShadow;
use bulkhead_drivers::gicv3::InterruptTrigger;

/// What becomes of the trapping vCPU after containment or a PSCI call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fate {
    /// It resumes (with the trap frame as the handler left it).
    Resume,
    /// Its partition stops in this run state; every vCPU of it parks.
    Stop(RunState),
    /// Its partition restarts: every vCPU parks, vCPU 0's core reloads it.
    Restart,
    /// Only this vCPU stops (PSCI `CPU_OFF`); it waits for a new `CPU_ON`.
    Park,
}

/// Carries out `fate` for the vCPU of `context`; returns only for [`Fate::Resume`].
#[inline]
pub fn carry_out(context: &TrapContext, fate: Fate) {
    match fate {
        Fate::Resume => {}
        Fate::Stop(run_state) => stop(context.core, context.vcpu, run_state),
        Fate::Restart => restart(context.core, context.vcpu),
        Fate::Park => wait_for_start(context.core),
    }
}

/// Takes this core from boot to its vCPU: configures the virtualization registers, then
/// enters vCPU 0 directly or waits for PSCI `CPU_ON` for any other vCPU.
pub fn run(core: usize) -> ! {
    let Some(vcpu) = SYSTEM.vcpu_on_core(core) else {
        defmt::info!("core {=usize} has no vCPU: parked", core);
        arch::cpu::halt()
    };
    prepare_core(core, vcpu);
    let Some(found) = TrapContext::of_core(core) else { arch::cpu::halt() };
    let context = found.record();
    if vcpu.vcpu == 0 {
        enter(core, context.partition.entry.raw(), context.partition.dtb_ipa.raw())
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
        let hardware = HARDWARE_PRIVATE_INTERRUPTS.iter().map(|&(_, physical)| (physical, InterruptTrigger::Level));
        let own = [(MAINTENANCE_INTID, InterruptTrigger::Level), (KICK_SGI, InterruptTrigger::Edge)];
        for (intid, trigger) in hardware.chain(own) {
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
    cores::set_parked(core, true);
    // BOUND: a parked core waits for as long as its vCPU is off; that is its job.
    loop {
        let Some(mailbox) = MAILBOXES.get(core) else { arch::cpu::halt() };
        let requests = mailbox.take();
        if requests & request::RESTART != 0 {
            restart_here(core);
        }
        if requests & request::START != 0 {
            let (entry, context) = mailbox.start_arguments();
            if let Some(vcpu) = SYSTEM.vcpu_on_core(core) {
                if let Some(slot) = PARTITIONS.get(vcpu.partition) {
                    if let Some(state) = slot.lock().as_mut() {
                        if state.run_state == RunState::Running && state.psci.vcpu_started(vcpu.vcpu).is_ok() {
                            // A vCPU starting afresh has nothing in flight.
                            if let Some(shadow) = state.list_registers.get_mut(vcpu.vcpu) {
                                *shadow = ListRegisterShadow::EMPTY;
                            }
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
    cores::set_parked(core, false);
    let frame = arch::vectors::TrapFrame::new_entry(entry, x0);
    let Some(stack_top) = cores::stack_top(core) else { arch::cpu::halt() };
    #[expect(unsafe_code, reason = "leaving EL2 for the guest")]
    // SAFETY: `stack_top` is this core's EL2 stack top, and nothing on the stack is needed
    // again: `enter` never returns and later traps start from the top.
    unsafe {
        arch::vectors::enter(&frame, stack_top)
    }
}

/// Stops every vCPU of the partition; this core parks. Powers the machine off when every
/// partition has powered itself off.
// DEVIATION(DEV-0051, MLR-09) parking and restarting form a cycle, each turn on a fresh stack.
pub fn stop(core: usize, vcpu: VcpuRef, run_state: RunState) -> ! {
    let all_off = partition::mark_stopped(vcpu.partition, run_state);
    stop_other_vcpus(core, vcpu.partition);
    if all_off {
        hv_println!("every partition is off: powering the machine off");
        arch::psci::system_off_smc();
    }
    wait_for_start(core)
}

/// Asks every other core of `partition` to park its vCPU.
fn stop_other_vcpus(core: usize, partition: usize) {
    let Some(description) = SYSTEM.partitions.get(partition) else { return };
    for &other in description.cores {
        if other != core {
            cores::kick(other, request::STOP);
        }
    }
}

/// Restarts the partition: every vCPU stops, its image and device tree are reloaded and
/// vCPU 0 boots again on its own core.
pub fn restart(core: usize, vcpu: VcpuRef) -> ! {
    let Some(description) = SYSTEM.partitions.get(vcpu.partition) else { wait_for_start(core) };
    stop_other_vcpus(core, vcpu.partition);
    let first_core = description.cores.first().copied().unwrap_or(core);
    if first_core == core {
        restart_here(core)
    }
    cores::kick(first_core, request::RESTART);
    wait_for_start(core)
}

/// On vCPU 0's core: waits for the partition's other cores to park, reloads the partition and
/// enters vCPU 0 again.
// DEVIATION(DEV-0051, MLR-09) parking and restarting form a cycle, each turn on a fresh stack.
pub fn restart_here(core: usize) -> ! {
    let Some(vcpu) = SYSTEM.vcpu_on_core(core) else { arch::cpu::halt() };
    let Some(description) = SYSTEM.partitions.get(vcpu.partition) else { arch::cpu::halt() };
    for &other in description.cores {
        // BOUND: each other core parks as soon as it takes the kick SGI; guests cannot mask
        // physical interrupts, which are routed to EL2.
        while other != core && !cores::is_parked(other) {
            core::hint::spin_loop();
        }
    }
    let reset = PARTITIONS.get(vcpu.partition).and_then(|slot| {
        slot.lock().as_mut().map(|state| {
            state.restarts = state.restarts.saturating_add(1);
            state.reset(description)
        })
    });
    if !matches!(reset, Some(Ok(()))) || partition::load_images(description).is_err() {
        hv_println!("{}: cannot be reloaded: halted", description.name);
        stop(core, vcpu, RunState::Halted)
    }
    enter(core, description.entry.raw(), description.dtb_ipa.raw())
}
