//! What happens when a partition misbehaves or asks to stop: its fault policy (inject an
//! abort, restart it, halt it, stop the system), fault-storm detection, and the exceptions the
//! hypervisor makes a guest take.
//!
//! Only the partition concerned is touched. This module decides and edits the trap frame; it
//! returns a [`Fate`] that the trap handler carries out (`vcpu::carry_out`), so containment
//! never calls back into the vCPU code. Every stop or restart is a `Request::Fault` to the
//! partition's power state machine (`bulkhead_core::partition_power`), which applies the
//! policy and its restart limit.
//!
//! Under `inject-abort` each fault first asks the vCPU's `FaultStormDetector`
//! (`bulkhead_core::fault_storm`): a fault at the guest's own vector table, a vector table
//! outside executable RAM, or too many faults without progress is a storm, reported in one
//! `[hv]` line, after which the partition is halted instead of being injected into forever.
//!
//! Worst case at EL2: one partition lock held for one detector decision (O(executable RAM regions))
//! and, for a stage-2 fault, one `[hv]` line printed after the lock is released.
//!
//! [impl->dsn~el2-trap-dispatch~1] [impl->dsn~fault-storm~1]

use crate::console;
use crate::context::TrapContext;
use crate::refusals::{self, Refusal};
use crate::vcpu::Fate;
use bulkhead_arch_aarch64 as arch;
use bulkhead_arch_aarch64::vectors::TrapFrame;
use bulkhead_core::esr::injection::{self, AbortKind, ExceptionEntry, GuestState, InjectionError};
use bulkhead_core::fault_storm::{FaultEvent, StormReason, Verdict};
use bulkhead_core::partition_power::Request;
use bulkhead_core::report_limit::ReportKind;
use bulkhead_core::system::FaultPolicy;

/// A stage-2 abort the partition may not cause, at `ipa` (reported) and guest virtual
/// address `address` (injected). `write_not_read` is the data access's direction (false for
/// instruction aborts and SErrors).
#[derive(Clone, Copy, Debug)]
pub struct Fault {
    /// Data or instruction abort.
    pub kind: AbortKind,
    /// The faulting IPA, for the report.
    pub ipa: u64,
    /// `FAR_EL2`, for the injected abort.
    pub address: u64,
    /// A store (the injected abort carries `WnR` = 1).
    pub write_not_read: bool,
}

/// The partition's fault policy applied to a stage-2 fault; reports it in one `[hv]` line
/// (the storm's, if this fault ends one).
pub fn fault(context: &TrapContext, frame: &mut TrapFrame, fault: Fault) -> Fate {
    refusals::count(context.vcpu.partition, Refusal::Stage2);
    let partition = context.partition;
    match partition.fault_policy {
        FaultPolicy::InjectAbort => match storm_verdict(context, frame, fault.address) {
            Verdict::Inject => {
                report(context, fault.ipa, frame.elr);
                inject_abort(context, frame, fault)
            }
            Verdict::Storm(reason) => {
                report_storm(context, fault.ipa, frame.elr, reason);
                Fate::Power(Request::Fault)
            }
        },
        FaultPolicy::Halt | FaultPolicy::Restart { .. } | FaultPolicy::StopSystem => {
            report(context, fault.ipa, frame.elr);
            Fate::Power(Request::Fault)
        }
    }
}

/// Asks the vCPU's fault-storm detector about a fault at `address`.
fn storm_verdict(context: &TrapContext, frame: &TrapFrame, address: u64) -> Verdict {
    let event = FaultEvent {
        pc: frame.elr,
        address,
        vbar_el1: arch::guest::vector_base(),
        sctlr_el1: arch::guest::system_control(),
        now: arch::cpu::counter(),
    };
    let ram = crate::partition::executable_ram(context.vcpu.partition);
    let vcpu = context.vcpu.vcpu;
    context
        .state
        .lock()
        .as_mut()
        .and_then(|state| state.storms.get_mut(vcpu).map(|detector| detector.on_fault(&event, ram)))
        .unwrap_or(Verdict::Inject)
}

/// Reports a stage-2 fault of the partition as an `[hv]` line, within its report budget
/// (`console::report` rate-limits guest-caused lines per partition and summarises the rest).
fn report(context: &TrapContext, ipa: u64, pc: u64) {
    let arguments = format_args!("stage-2 fault at IPA {:#x} (pc {:#x})", ipa, pc);
    console::report(context.vcpu.partition, ReportKind::Stage2Fault, arguments);
}

/// Prints the one `[hv]` line of a fault storm (within the partition's lifecycle budget: a
/// partition restarted into the same storm again and again is limited too).
fn report_storm(context: &TrapContext, ipa: u64, pc: u64, reason: StormReason) {
    let partition = context.vcpu.partition;
    let kind = ReportKind::Containment;
    match reason {
        StormReason::FaultInVectorTable { vbar_el1, .. } | StormReason::FaultOnVectorTable { vbar_el1, .. } => console::report(
            partition,
            kind,
            format_args!("fault storm: stage-2 fault at IPA {:#x} (pc {:#x}) inside its own vector table at {:#x}", ipa, pc, vbar_el1),
        ),
        StormReason::VectorOutsideRam { vbar_el1 } => console::report(
            partition,
            kind,
            format_args!(
                "fault storm: stage-2 fault at IPA {:#x} (pc {:#x}) with its vector table at {:#x}, outside its RAM",
                ipa, pc, vbar_el1
            ),
        ),
        StormReason::NoProgress { repeats, .. } => console::report(
            partition,
            kind,
            format_args!("fault storm: stage-2 fault at IPA {:#x} (pc {:#x}) repeated {} times without progress", ipa, pc, repeats),
        ),
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

/// Makes the guest take `entry` on its return.
fn take(frame: &mut TrapFrame, entry: Result<ExceptionEntry, InjectionError>) -> Fate {
    match entry {
        Ok(exception) => {
            arch::guest::set_exception_registers(exception.esr_el1, exception.far_el1.unwrap_or(0), exception.elr_el1, exception.spsr_el1);
            frame.elr = exception.pc;
            frame.spsr = exception.pstate;
            Fate::Resume
        }
        // The saved guest state is corrupt: nothing can be injected, the fault policy decides.
        Err(_) => Fate::Power(Request::Fault),
    }
}

/// Makes the guest take a synchronous external abort at `fault.address`, as real hardware
/// would for a bus error, so a robust guest can handle it; a Data Abort carries the access's
/// direction (`ESR_EL1.ISS.WnR`).
pub fn inject_abort(context: &TrapContext, frame: &mut TrapFrame, fault: Fault) -> Fate {
    let guest = guest_state(frame);
    let entry = match fault.kind {
        AbortKind::Data => injection::inject_external_data_abort(&guest, fault.address, fault.write_not_read),
        AbortKind::Instruction => injection::inject_external_abort(&guest, AbortKind::Instruction, fault.address),
    };
    let fate = take(frame, entry);
    if fate != Fate::Resume {
        let arguments = format_args!("cannot inject an abort (guest state {:#x})", frame.spsr);
        console::report(context.vcpu.partition, ReportKind::Containment, arguments);
    }
    fate
}

/// Makes the guest take an Undefined Instruction exception (a trapped instruction the
/// hypervisor does not emulate); counted as a refused system-register access.
pub fn inject_undefined(context: &TrapContext, frame: &mut TrapFrame) -> Fate {
    refusals::count(context.vcpu.partition, Refusal::SystemRegister);
    take(frame, injection::inject_undefined_instruction(&guest_state(frame)))
}
