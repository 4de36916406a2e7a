//! Synchronous traps from a guest: hypercalls (PSCI), emulated MMIO (the partition's device
//! map), trapped system registers (SGI generation) and faults.
//!
//! The handler decodes `ESR_EL2` with `bulkhead_core::esr`, looks up the [`TrapContext`] once,
//! lets the core models decide, writes the result back into the trap frame and carries out
//! the vCPU's [`Fate`]. Guest errors become injected exceptions or the partition's fault
//! policy, never a hypervisor panic.
//!
//! Two short paths answer without the partition lock: PSCI/SMCCC queries whose answer is
//! constant (`bulkhead_core::psci::constant_answer`, no context either), and reads of vGIC
//! registers whose value never changes or of the console's `UARTFR`, which its vPL011
//! publishes (`DeviceMap::read_lock_free_in`, the recorded context only). Worst case of the general paths:
//! one partition lock held for one device access or PSCI call plus one list-register
//! synchronisation (`delivery.rs`); the GIC or console lock may be taken inside it.
//!
//! [impl->dsn~el2-trap-dispatch~1]

use crate::containment::{self, Fault};
use crate::context::TrapContext;
use crate::cores::MAILBOXES;
use crate::delivery;
use crate::generated::{GUEST_SPI_BLOCKS, SYSTEM};
use crate::partition::{self, PartitionState};
use crate::platform::{CpuInterface, GIC};
use bulkhead_core::vgic::delivery::PhysicalCpuInterface;
use crate::refusals::{self, Refusal};
use crate::vcpu::{self, Fate};
use bulkhead_arch_aarch64 as arch;
use bulkhead_arch_aarch64::guest::TrapSyndrome;
use bulkhead_arch_aarch64::vectors::TrapFrame;
use bulkhead_core::devices::{DeviceKind, MappedDevice};
use bulkhead_core::esr::injection::AbortKind;
use bulkhead_core::esr::{self, exception_class, DataAccess, Direction, Register, RegisterWidth, Syndrome, SystemRegisterAccess};
use bulkhead_core::mmio::{AccessWidth, MmioError};
use bulkhead_core::partition_power::Request;
use bulkhead_core::psci::{self, PsciOutcome};
use bulkhead_core::vgic::{Effect, Effects, SgiRegister, VcpuSet};

/// Handles one synchronous exception from the vCPU on this core.
///
/// The short paths (constant PSCI/SMCCC answers, constant vGIC reads, the console's
/// published `UARTFR`) are decided here, in a function small enough to need few saved
/// registers; everything else goes on to
/// [`handle_general`] or [`device_access`], kept out of line so that their larger frames are
/// not paid for by the short paths.
#[inline]
pub fn handle_synchronous(frame: &mut TrapFrame) {
    let syndrome = arch::guest::trap_syndrome();
    match esr::exception_class(syndrome.esr) {
        exception_class::HYPERVISOR_CALL_64 => {
            if let Some(value) = psci::constant_answer(frame.register(0), frame.register(1)) {
                count_constant_answer(frame.register(0), value);
                frame.set_register(0, value);
                return;
            }
        }
        exception_class::SECURE_MONITOR_CALL_64 => {
            // A trapped SMC returns to the SMC itself (Arm ARM D1.10.1): skip it.
            frame.elr = frame.elr.wrapping_add(4);
            if let Some(value) = psci::constant_answer(frame.register(0), frame.register(1)) {
                count_constant_answer(frame.register(0), value);
                frame.set_register(0, value);
                return;
            }
        }
        exception_class::DATA_ABORT_LOWER_EL => {
            let context = TrapContext::current();
            let ipa = esr::fault_ipa(syndrome.hpfar, syndrome.far).raw();
            match context.devices.locate(ipa) {
                Some((window, offset)) => {
                    if !lock_free_read(context, frame, syndrome.esr, window, offset) {
                        device_access(context, frame, syndrome, (ipa, window, offset));
                    }
                }
                None => outside_devices(context, frame, syndrome, ipa),
            }
            return;
        }
        _ => {}
    }
    handle_general(frame, syndrome);
}

/// Every synchronous exception the short paths did not finish: PSCI calls, accesses outside
/// the device windows (doorbells, faults), trapped system registers, WFx and the rest.
#[inline(never)]
fn handle_general(frame: &mut TrapFrame, syndrome: TrapSyndrome) {
    let context = TrapContext::current();
    let fate = match esr::decode(syndrome.esr) {
        Syndrome::HypervisorCall { .. } | Syndrome::SecureMonitorCall { .. } => hypercall(context, frame),
        Syndrome::DataAbort(_) => {
            // Handled by `handle_synchronous` before it comes here; kept total.
            let ipa = esr::fault_ipa(syndrome.hpfar, syndrome.far).raw();
            match context.devices.locate(ipa) {
                Some((window, offset)) => device_access(context, frame, syndrome, (ipa, window, offset)),
                None => outside_devices(context, frame, syndrome, ipa),
            }
            Fate::Resume
        }
        Syndrome::InstructionAbort(_) => {
            let ipa = esr::fault_ipa(syndrome.hpfar, syndrome.far).raw();
            let fault = Fault { kind: AbortKind::Instruction, ipa, address: syndrome.far, write_not_read: false };
            containment::fault(context, frame, fault)
        }
        Syndrome::SystemRegisterAccess(access) => system_register(context, frame, access),
        Syndrome::WaitForInterruptOrEvent(wait) => {
            frame.elr = frame.elr.wrapping_add(wait.instruction_length.bytes());
            Fate::Resume
        }
        Syndrome::Other { class } => {
            defmt::warn!("core {=usize}: unhandled exception class {=u8:#x}: undefined instruction injected", context.core, class);
            containment::inject_undefined(context, frame)
        }
    };
    vcpu::carry_out(context, fate);
}

/// The short path for a load from a vGIC register whose value never changes (`GICD_TYPER`,
/// identification registers, `GICR_TYPER`) or from the console's `UARTFR` (polled by Linux
/// before every console byte), located by the caller in `window` at `offset`: answered from
/// the device map or the value the vPL011 last published (`TrapContext::console`), without
/// the partition lock, and the vCPU resumes after the load. Returns false, having changed
/// nothing, for any other access. Worst case: the syndrome decode, one device-kind
/// comparison, a constant lookup or one atomic load, one register write; no lock.
#[inline]
fn lock_free_read(context: &TrapContext, frame: &mut TrapFrame, esr_value: u64, window: &MappedDevice, offset: u64) -> bool {
    let Some(access) = esr::data_load(esr_value) else { return false };
    let Some(value) = context.devices.read_lock_free_in::<GUEST_SPI_BLOCKS>(window, offset, access.size, context.console)
    else {
        return false;
    };
    if let Register::X(n) = access.register {
        frame.set_register(n, extend(value, access));
    }
    frame.elr = frame.elr.wrapping_add(esr::instruction_length(esr_value).bytes());
    true
}

/// Counts a refused call answered on the lock-free constant path (an unknown function ID).
/// The caller's partition is looked up only for a refusal: a constant query that succeeds
/// (`SMCCC_VERSION`, the hot case) pays for one test of the answer's sign.
#[inline]
fn count_constant_answer(function: u64, value: u64) {
    if !refusals::is_refusal(value) {
        return;
    }
    if let Some(vcpu) = SYSTEM.vcpu_on_core(arch::cpu::core_index()) {
        refusals::count_call(vcpu.partition, function, value);
    }
}

/// An `HVC` or trapped `SMC` that needs the partition's PSCI state.
fn hypercall(context: &TrapContext, frame: &mut TrapFrame) -> Fate {
    // Bulkhead's own calls (the vendor-hypervisor range, which the constant fast path leaves
    // to this path): the display mediator's.
    if let Some(value) = crate::display::hypercall(frame.register(0), [frame.register(1), frame.register(2)]) {
        frame.set_register(0, value);
        return Fate::Resume;
    }
    let partition = context.partition;
    let function = frame.register(0);
    let arguments = [frame.register(1), frame.register(2), frame.register(3)];
    let executable_ram = partition::executable_ram(context.vcpu.partition);
    let vcpu = context.vcpu.vcpu;
    let Some(outcome) = context.state.lock().as_mut().map(|state| {
        let outcome = state.psci.handle_in(vcpu, function, arguments, executable_ram);
        // `CPU_OFF` during a stop counts as this vCPU's acknowledgement.
        let off = (outcome == PsciOutcome::StopCaller).then(|| state.power.vcpu_stopped(vcpu).ok()).flatten();
        (outcome, off)
    }) else {
        return Fate::Resume;
    };
    match outcome {
        (PsciOutcome::Return(value), _) => {
            refusals::count_call(context.vcpu.partition, function, value);
            frame.set_register(0, value);
            Fate::Resume
        }
        (PsciOutcome::WaitForInterrupt, _) => {
            frame.set_register(0, 0);
            Fate::Resume
        }
        (PsciOutcome::StartVcpu { vcpu: target, entry, context_id }, _) => {
            frame.set_register(0, 0);
            let started = context.core_of(target);
            if let Some((target_core, mailbox)) = started.and_then(|core| MAILBOXES.get(core).map(|mailbox| (core, mailbox))) {
                mailbox.post_start(entry.raw(), context_id);
                arch::cpu::send_event();
                defmt::info!("{=str}: vCPU {=usize} started on core {=usize}", partition.name, target, target_core);
            }
            Fate::Resume
        }
        (PsciOutcome::StopCaller, off) => {
            Fate::Follow(off.unwrap_or(bulkhead_core::partition_power::Directive::Park))
        }
        (PsciOutcome::PartitionOff, _) => Fate::Power(Request::Off),
        (PsciOutcome::PartitionReset, _) => Fate::Power(Request::Reset),
    }
}

/// A stage-2 data abort at `ipa`, outside every device window: a doorbell, or a fault for the
/// partition's policy. Carries out the vCPU's fate.
#[inline(never)]
fn outside_devices(context: &TrapContext, frame: &mut TrapFrame, syndrome: TrapSyndrome, ipa: u64) {
    // A doorbell needs only the direction and the instruction's length, read field by field;
    // the full decode is for the fault report.
    if esr::data_abort_is_write(syndrome.esr)
        && crate::routes::ring_doorbell(context.vcpu.partition, bulkhead_core::addr::Ipa(ipa))
    {
        frame.elr = frame.elr.wrapping_add(esr::instruction_length(syndrome.esr).bytes());
        return;
    }
    let abort = esr::decode_data_abort(syndrome.esr);
    let fault = Fault { kind: AbortKind::Data, ipa, address: syndrome.far, write_not_read: abort.write_not_read };
    let fate = resynchronised(context, containment::fault(context, frame, fault));
    vcpu::carry_out(context, fate);
}

/// A stage-2 data abort inside an emulated device's window (`at`: the IPA, the window, the
/// offset in it): the access is emulated, or refused with an injected abort. Carries out the
/// vCPU's fate.
#[inline(never)]
fn device_access(context: &TrapContext, frame: &mut TrapFrame, syndrome: TrapSyndrome, at: (u64, &MappedDevice, u64)) {
    let (ipa, window, offset) = at;
    // Only the access, its direction and the instruction's length matter here: decoded
    // field by field, the rest of the syndrome is not.
    let result = match esr::data_access(syndrome.esr) {
        Some(access) => emulate(context, frame, (ipa, window, offset), access, esr::data_abort_is_write(syndrome.esr)),
        None => Err(MmioError::Undescribed { ipa }),
    };
    let fate = match result {
        Ok(()) => {
            frame.elr = frame.elr.wrapping_add(esr::instruction_length(syndrome.esr).bytes());
            Fate::Resume
        }
        Err(error) => {
            defmt::warn!(
                "{=str}: MMIO access refused ({=str} at {=u64:#x}, IPA {=u64:#x}): abort injected",
                context.partition.name,
                error.kind(),
                error.address(),
                ipa
            );
            refusals::count(context.vcpu.partition, Refusal::Mmio);
            let write_not_read = esr::data_abort_is_write(syndrome.esr);
            let fault = Fault { kind: AbortKind::Data, ipa, address: syndrome.far, write_not_read };
            resynchronised(context, containment::inject_abort(context, frame, fault))
        }
    };
    vcpu::carry_out(context, fate);
}

/// A store to the partition's console UART (`at`: the IPA, its window, the offset in it): the vPL011 write and the
/// byte it transmits, without the general write path's outcome (no vGIC effects can come of
/// it). The list registers are synchronised only when the write raised the UART's interrupt
/// line for a vCPU, as after a read (a write moves no other vGIC state; a lowered line is
/// taken back by the next synchronisation, as a data read's is): the synchronisation was 239
/// of the 566 instructions of a console byte.
fn console_write(context: &TrapContext, at: (u64, &MappedDevice, u64), width: AccessWidth, value: u64) -> Result<(), MmioError> {
    let (ipa, window, offset) = at;
    let mut guard = context.state.lock();
    let state = guard.as_mut().ok_or(MmioError::Unmapped { ipa })?;
    let (transmit, raised) = state.devices.write_console_in(window, offset, width, value)?;
    let drain_wanted = transmit.is_some_and(|byte| crate::console::partition_output(context.vcpu.partition, byte));
    let kick = if raised.is_empty() { VcpuSet::EMPTY } else { delivery::synchronise(context, state, raised) };
    drop(guard);
    after_device_access(context, drain_wanted, kick);
    Ok(())
}

/// What a device access leaves to do once the partition lock is released: drain the console
/// if the access asked for it, and kick the vCPUs it made an interrupt pending for.
fn after_device_access(context: &TrapContext, drain_wanted: bool, kick: VcpuSet) {
    if drain_wanted {
        crate::console::kick();
    }
    if !kick.is_empty() {
        delivery::kick_vcpus(context.partition, kick);
    }
}

/// Performs one trapped load or store on an emulated device.
/// `at` is the IPA with the window it falls in and the offset inside that window.
fn emulate(
    context: &TrapContext,
    frame: &mut TrapFrame,
    at: (u64, &MappedDevice, u64),
    access: DataAccess,
    is_write: bool,
) -> Result<(), MmioError> {
    let (ipa, window, offset) = at;
    let width: AccessWidth = access.size;
    if !is_write {
        // A read asks nothing of the system but the value and, when it moved a device's
        // interrupt line (a UART data read), a refill.
        let mut guard = context.state.lock();
        let state = guard.as_mut().ok_or(MmioError::Unmapped { ipa })?;
        let retired = observe_if_vgic(context, state, window);
        let (value, line_raised) = state.devices.read_in(window, context.vcpu.vcpu, offset, width)?;
        let raised = line_raised.union(retired);
        if let Register::X(n) = access.register {
            frame.set_register(n, extend(value, access));
        }
        let kick = if raised.is_empty() { VcpuSet::EMPTY } else { delivery::synchronise(context, state, raised) };
        drop(guard);
        delivery::kick_vcpus(context.partition, kick);
        return Ok(());
    }
    let written = match access.register {
        Register::X(n) => frame.register(n) & width.value_mask(),
        Register::Zero => 0,
    };
    if window.device == DeviceKind::ConsoleUart {
        return console_write(context, (ipa, window, offset), width, written);
    }
    let mut guard = context.state.lock();
    let state = guard.as_mut().ok_or(MmioError::Unmapped { ipa })?;
    let retired = observe_if_vgic(context, state, window);
    let outcome = state.devices.access_in(window, context.vcpu.vcpu, offset, width, is_write.then_some(written))?;
    if let (Some(value), Register::X(n)) = (outcome.read, access.register) {
        frame.set_register(n, extend(value, access));
    }
    let drain_wanted =
        outcome.transmit.is_some_and(|byte| crate::console::partition_output(context.vcpu.partition, byte));
    let mut raised = outcome.refill.union(retired);
    if let Some(effects) = outcome.gic_effects {
        raised = raised.union(apply_effects(context, state, effects));
    }
    let kick = if is_write || !raised.is_empty() { delivery::synchronise(context, state, raised) } else { VcpuSet::EMPTY };
    drop(guard);
    after_device_access(context, drain_wanted, kick);
    Ok(())
}

/// Before an access to a vGIC frame, retires what the guest finished and notes what it
/// acknowledged since its list registers were written (`ISACTIVER` and `ISPENDR` answer from
/// that); returns the vCPUs that must sync. Other devices do not depend on list-register
/// state, so their accesses skip the read-back.
#[inline(always)]
fn observe_if_vgic(context: &TrapContext, state: &mut PartitionState, window: &MappedDevice) -> VcpuSet {
    if window.device.observes_list_registers() { observe_vgic(context, state) } else { VcpuSet::EMPTY }
}

/// The vGIC half of [`observe_if_vgic`], out of line: the other devices' accesses (the UART's
/// flag register, polled in tight loops) pay one comparison for it, not a call.
#[inline(never)]
fn observe_vgic(context: &TrapContext, state: &mut PartitionState) -> VcpuSet {
    delivery::observe(context, state)
}

/// Sign- or zero-extends a loaded value as the trapped instruction would (ISS.SSE, ISS.SF).
#[inline]
fn extend(value: u64, access: DataAccess) -> u64 {
    // The register bits above the loaded value.
    let unused_bits: u32 = match access.size {
        AccessWidth::Byte => 56,
        AccessWidth::Halfword => 48,
        AccessWidth::Word => 32,
        AccessWidth::Doubleword => 0,
    };
    let extended = if access.sign_extend && unused_bits > 0 {
        // Move the value's sign bit to bit 63 and back with an arithmetic shift (the shift is
        // below 64, so neither wraps); `from_ne_bytes` reinterprets the bits between u64 and
        // i64 unchanged.
        let signed = i64::from_ne_bytes(value.wrapping_shl(unused_bits).to_ne_bytes()).wrapping_shr(unused_bits);
        u64::from_ne_bytes(signed.to_ne_bytes())
    } else {
        value
    };
    match access.register_width {
        RegisterWidth::Bits32 => extended & 0xffff_ffff,
        RegisterWidth::Bits64 => extended,
    }
}

/// Mirrors vGIC decisions onto the physical GIC (lock order: partition, then GIC); returns
/// vCPUs that need a refill. The physical INTID of each hardware-backed interrupt is the one
/// stored when the partition was set up.
fn apply_effects(context: &TrapContext, state: &PartitionState, effects: Effects) -> VcpuSet {
    let mut refill = VcpuSet::EMPTY;
    let partition = context.partition;
    let core_of = |target: Option<usize>| partition.cores.get(target.unwrap_or(0)).copied().unwrap_or(context.core);
    for effect in effects {
        match effect {
            Effect::PhysicalEnable { intid: virtual_intid, vcpu: target, enabled } => {
                let Some(intid) = state.devices.vgic.physical_intid(virtual_intid) else { continue };
                let target_core = core_of(target);
                let affinity = SYSTEM.cores.get(target_core).map_or(0, |c| c.mpidr);
                if let Some(gic) = GIC.lock().as_mut() {
                    let routed = match target {
                        None => gic.route(intid, target_core, affinity),
                        Some(_) => Ok(()),
                    };
                    if routed.and_then(|()| gic.set_enabled(intid, target_core, enabled)).is_err() {
                        defmt::warn!("physical INTID {=u32} could not follow the guest's enable", intid);
                    }
                }
            }
            Effect::PhysicalRoute { intid: virtual_intid, target } => {
                let Some(intid) = state.devices.vgic.physical_intid(virtual_intid) else { continue };
                let target_core = core_of(target);
                let affinity = SYSTEM.cores.get(target_core).map_or(0, |c| c.mpidr);
                if let Some(gic) = GIC.lock().as_mut() {
                    if gic.route(intid, target_core, affinity).is_err() {
                        defmt::warn!("physical INTID {=u32} could not follow the guest's routing", intid);
                    }
                }
            }
            Effect::PhysicalActive { intid: virtual_intid, vcpu: target, active: false } => {
                // The guest cleared a hardware-backed interrupt the model held (fired while
                // disabled). While a list register holds it, that register owns the physical
                // active state (HW = 1: the guest's EOI or delivery's withdrawal ends it);
                // otherwise nothing else would release it, and it would never fire again.
                // ICC_DIR_EL1 (GICv3) or GICC_DIR (GICv2) reaches this core's PPIs and every SPI.
                let Some(intid) = state.devices.vgic.physical_intid(virtual_intid) else { continue };
                let own = target.is_none_or(|vcpu| vcpu == context.vcpu.vcpu);
                let listed = state.list_registers.get(context.vcpu.vcpu).is_some_and(|shadow| shadow.holds(virtual_intid));
                if own && !listed {
                    CpuInterface::deactivate(intid);
                }
            }
            Effect::PhysicalActive { intid, active: true, .. } => {
                // Setting the active or pending state of a hardware-backed interrupt is not
                // mirrored: its list register (HW = 1) owns the physical active state.
                defmt::debug!("guest set the active state of hardware-backed INTID {=u32}", intid);
            }
            Effect::RefillListRegisters { vcpu: target } => refill = refill.with(target),
        }
    }
    refill
}

/// A trapped system register access: SGI generation is emulated through the vGIC, the PMU and
/// debug registers read as zero and ignore writes; anything else makes the guest take an
/// Undefined Instruction exception.
fn system_register(context: &TrapContext, frame: &mut TrapFrame, access: SystemRegisterAccess) -> Fate {
    match (SgiRegister::from_system_register(access.register), access.direction) {
        (Some(register), Direction::Write) => {
            let value = match access.transfer_register {
                Register::X(n) => frame.register(n),
                Register::Zero => 0,
            };
            let sender = context.vcpu.vcpu;
            delivery::with_state_then_synchronise(context, |state| {
                state.devices.vgic.send_sgi(sender, register, value).unwrap_or(VcpuSet::EMPTY)
            });
            frame.elr = frame.elr.wrapping_add(4);
            Fate::Resume
        }
        (None, direction) if access.register.is_performance_monitor_or_debug() => {
            // MDCR_EL2 traps the PMU and debug registers (`arch::guest::configure_core`):
            // read as zero, writes ignored, so the guest never counts EL2 cycles and holds no
            // PMU or breakpoint state.
            if let (Direction::Read, Register::X(n)) = (direction, access.transfer_register) {
                frame.set_register(n, 0);
            }
            frame.elr = frame.elr.wrapping_add(4);
            Fate::Resume
        }
        (Some(_), Direction::Read) | (None, Direction::Read | Direction::Write) => {
            defmt::debug!("core {=usize}: trapped system register access: undefined instruction injected", context.core);
            resynchronised(context, containment::inject_undefined(context, frame))
        }
    }
}

/// `fate`, after bringing the list registers up to date if the vCPU resumes (an injected
/// exception changes what the guest runs next, so interrupts it may now take are placed).
fn resynchronised(context: &TrapContext, fate: Fate) -> Fate {
    if fate == Fate::Resume {
        delivery::with_state_then_synchronise(context, |_| VcpuSet::EMPTY);
    }
    fate
}
