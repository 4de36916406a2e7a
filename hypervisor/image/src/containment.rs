//! What happens when a partition misbehaves or asks to stop: its fault policy (inject an
//! abort, restart it, halt it) and the exceptions the hypervisor makes a guest take.
//!
//! Only the partition concerned is touched. This module decides and edits the trap frame; it
//! returns a [`Fate`] that the trap handler carries out (`vcpu::carry_out`), so containment
//! never calls back into the vCPU code.
//!
//! [impl->dsn~el2-trap-dispatch~1]

use crate::context::TrapContext;
use crate::hv_println;
use crate::partition::RunState;
use crate::vcpu::Fate;
use bulkhead_arch_aarch64 as arch;
use bulkhead_arch_aarch64::vectors::TrapFrame;
use bulkhead_core::esr::injection::{self, AbortKind, GuestState};
use bulkhead_core::system::FaultPolicy;

/// The partition's fault policy applied to an access it may not make.
pub fn fault(context: &TrapContext, frame: &mut TrapFrame, kind: AbortKind, address: u64) -> Fate {
    let partition = context.partition;
    match partition.fault_policy {
        FaultPolicy::InjectAbort => inject_abort(context, frame, kind, address),
        FaultPolicy::Halt => {
            hv_println!("{}: halted by its fault policy", partition.name);
            Fate::Stop(RunState::Halted)
        }
        FaultPolicy::Restart { max_restarts } => {
            let restarts = context.state.lock().as_ref().map_or(u32::MAX, |state| state.restarts);
            if restarts < max_restarts {
                hv_println!("{}: restarting ({} of {})", partition.name, restarts.saturating_add(1), max_restarts);
                Fate::Restart
            } else {
                hv_println!("{}: restart limit {} reached: halted", partition.name, max_restarts);
                Fate::Stop(RunState::Halted)
            }
        }
        FaultPolicy::StopSystem => {
            hv_println!("{}: fault policy stops the system: powering the machine off", partition.name);
            arch::psci::system_off_smc();
            // SYSTEM_OFF returned (no PSCI, or it failed): at least contain the partition.
            Fate::Stop(RunState::Halted)
        }
    }
}

/// The guest's exception state, as injection needs it.
fn guest_state(frame: &TrapFrame) -> GuestState {
    GuestState {
        spsr_el2: frame.spsr,
        elr_el2: frame.elr,
        vbar_el1: arch::guest::vector_base(),
        sctlr_el1: arch::guest::system_control(),
    }
}

/// Makes the guest take a synchronous external abort at `address`, as real hardware would
/// for a bus error, so a robust guest can handle it.
pub fn inject_abort(context: &TrapContext, frame: &mut TrapFrame, kind: AbortKind, address: u64) -> Fate {
    match injection::inject_external_abort(&guest_state(frame), kind, address) {
        Ok(entry) => {
            arch::guest::set_exception_registers(entry.esr_el1, entry.far_el1.unwrap_or(0), entry.elr_el1, entry.spsr_el1);
            frame.elr = entry.pc;
            frame.spsr = entry.pstate;
            Fate::Resume
        }
        Err(_) => {
            hv_println!("{}: cannot inject an abort (guest state {:#x}): halted", context.partition.name, frame.spsr);
            Fate::Stop(RunState::Halted)
        }
    }
}

/// Makes the guest take an Undefined Instruction exception (a trapped instruction the
/// hypervisor does not emulate).
pub fn inject_undefined(frame: &mut TrapFrame) -> Fate {
    match injection::inject_undefined_instruction(&guest_state(frame)) {
        Ok(entry) => {
            arch::guest::set_exception_registers(entry.esr_el1, entry.far_el1.unwrap_or(0), entry.elr_el1, entry.spsr_el1);
            frame.elr = entry.pc;
            frame.spsr = entry.pstate;
            Fate::Resume
        }
        Err(_) => Fate::Stop(RunState::Halted),
    }
}
