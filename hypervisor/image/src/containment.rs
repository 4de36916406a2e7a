//! What happens when a partition misbehaves or asks to stop: its fault policy (inject an
//! abort, restart it, halt it) and PSCI `SYSTEM_OFF`/`SYSTEM_RESET` of the partition.
//!
//! Only the partition concerned is touched: its own cores are asked to park, its own memory
//! is reloaded. Other partitions run on, unaware.
//!
//! [impl->dsn~el2-trap-dispatch~1]

use crate::cores::request;
use crate::generated::SYSTEM;
use crate::partition::{self, PARTITIONS, RunState};
use crate::vcpu;
use crate::hv_println;
use bulkhead_arch_aarch64 as arch;
use bulkhead_arch_aarch64::vectors::TrapFrame;
use bulkhead_core::esr::injection::{self, AbortKind, GuestState};
use bulkhead_core::system::{FaultPolicy, VcpuRef};

/// Applies the partition's fault policy to an access it may not make. Returns only when the
/// vCPU should resume (with the frame pointing wherever it must).
pub fn fault(core: usize, vcpu: VcpuRef, frame: &mut TrapFrame, kind: AbortKind, address: u64) {
    let Some(partition) = SYSTEM.partitions.get(vcpu.partition) else { return };
    match partition.fault_policy {
        FaultPolicy::InjectAbort => inject_abort(core, vcpu, frame, kind, address),
        FaultPolicy::Halt => {
            hv_println!("{}: halted by its fault policy", partition.name);
            stop(core, vcpu, RunState::Halted)
        }
        FaultPolicy::Restart { max_restarts } => {
            let restarts = PARTITIONS
                .get(vcpu.partition)
                .and_then(|slot| slot.lock().as_ref().map(|state| state.restarts))
                .unwrap_or(u32::MAX);
            if restarts < max_restarts {
                hv_println!("{}: restarting ({} of {})", partition.name, restarts.saturating_add(1), max_restarts);
                restart(core, vcpu)
            } else {
                hv_println!("{}: restart limit {} reached: halted", partition.name, max_restarts);
                stop(core, vcpu, RunState::Halted)
            }
        }
        FaultPolicy::StopSystem => {
            hv_println!("{}: fault policy stops the system: powering the machine off", partition.name);
            arch::psci::system_off_smc();
            // SYSTEM_OFF returned (no PSCI, or it failed): at least contain the partition.
            stop(core, vcpu, RunState::Halted)
        }
    }
}

/// Makes the guest take a synchronous external abort at `address`, as real hardware would
/// for a bus error, so a robust guest can handle it.
pub fn inject_abort(core: usize, vcpu: VcpuRef, frame: &mut TrapFrame, kind: AbortKind, address: u64) {
    let guest = GuestState {
        spsr_el2: frame.spsr,
        elr_el2: frame.elr,
        vbar_el1: arch::guest::vector_base(),
        sctlr_el1: arch::guest::system_control(),
    };
    match injection::inject_external_abort(&guest, kind, address) {
        Ok(entry) => {
            arch::guest::set_exception_registers(entry.esr_el1, entry.far_el1.unwrap_or(0), entry.elr_el1, entry.spsr_el1);
            frame.elr = entry.pc;
            frame.spsr = entry.pstate;
        }
        Err(_) => {
            let name = SYSTEM.partitions.get(vcpu.partition).map_or("?", |p| p.name);
            hv_println!("{}: cannot inject an abort (guest state {:#x}): halted", name, frame.spsr);
            stop(core, vcpu, RunState::Halted)
        }
    }
}

/// Makes the guest take an Undefined Instruction exception (a trapped instruction the
/// hypervisor does not emulate).
pub fn inject_undefined(core: usize, vcpu: VcpuRef, frame: &mut TrapFrame) {
    let guest = GuestState {
        spsr_el2: frame.spsr,
        elr_el2: frame.elr,
        vbar_el1: arch::guest::vector_base(),
        sctlr_el1: arch::guest::system_control(),
    };
    match injection::inject_undefined_instruction(&guest) {
        Ok(entry) => {
            arch::guest::set_exception_registers(entry.esr_el1, entry.far_el1.unwrap_or(0), entry.elr_el1, entry.spsr_el1);
            frame.elr = entry.pc;
            frame.spsr = entry.pstate;
        }
        Err(_) => stop(core, vcpu, RunState::Halted),
    }
}

/// Stops every vCPU of the partition; this core parks. Powers the machine off when every
/// partition has powered itself off.
// DEVIATION(DEV-0051, MLR-09) parking and restarting form a cycle, each turn on a fresh stack.
pub fn stop(core: usize, vcpu: VcpuRef, state: RunState) -> ! {
    let mut all_off = true;
    if let Some(slot) = PARTITIONS.get(vcpu.partition) {
        if let Some(partition) = slot.lock().as_mut() {
            partition.run_state = state;
            if let Some(line) = partition.output.flush() {
                let name = SYSTEM.partitions.get(vcpu.partition).map_or("?", |p| p.name);
                crate::console::write_display(line.prefixed(name));
            }
        }
    }
    for slot in &PARTITIONS {
        if slot.lock().as_ref().is_some_and(|p| p.run_state != RunState::Off) {
            all_off = false;
        }
    }
    stop_other_vcpus(core, vcpu.partition);
    if all_off {
        hv_println!("every partition is off: powering the machine off");
        arch::psci::system_off_smc();
    }
    vcpu::wait_for_start(core)
}

/// Asks every other core of `partition` to park its vCPU.
fn stop_other_vcpus(core: usize, partition: usize) {
    let Some(description) = SYSTEM.partitions.get(partition) else { return };
    for &other in description.cores {
        if other != core {
            vcpu::kick(other, request::STOP);
        }
    }
}

/// Restarts the partition: every vCPU stops, its image and device tree are reloaded and
/// vCPU 0 boots again on its own core.
pub fn restart(core: usize, vcpu: VcpuRef) -> ! {
    let Some(description) = SYSTEM.partitions.get(vcpu.partition) else { vcpu::wait_for_start(core) };
    stop_other_vcpus(core, vcpu.partition);
    let first_core = description.cores.first().copied().unwrap_or(core);
    if first_core == core {
        restart_here(core)
    }
    vcpu::kick(first_core, request::RESTART);
    vcpu::wait_for_start(core)
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
        while other != core && !vcpu::is_parked(other) {
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
    vcpu::enter(core, description.entry.raw(), description.dtb_ipa.raw())
}
