//! Synchronous traps from a guest: hypercalls (PSCI), emulated MMIO (vGIC, vPL011),
//! trapped system registers (SGI generation) and faults.
//!
//! The handler decodes `ESR_EL2` with `bulkhead_core::esr`, lets the core models decide,
//! and writes the result back into the trap frame. Guest errors become injected exceptions
//! or the partition's fault policy, never a hypervisor panic.
//!
//! [impl->dsn~el2-trap-dispatch~1]

use crate::containment;
use crate::cores::MAILBOXES;
use crate::generated::SYSTEM;
use crate::hv_println;
use crate::partition::{PARTITIONS, PartitionState};
use crate::platform::GIC;
use crate::vcpu;
use bulkhead_arch_aarch64 as arch;
use bulkhead_arch_aarch64::guest::TrapSyndrome;
use bulkhead_arch_aarch64::vectors::TrapFrame;
use bulkhead_core::esr::injection::AbortKind;
use bulkhead_core::esr::{self, AccessSize, DataAbort, DataAccess, Direction, Register, RegisterWidth, Syndrome, SystemRegister, SystemRegisterAccess};
use bulkhead_core::layout;
use bulkhead_core::psci::PsciOutcome;
use bulkhead_core::system::VcpuRef;
use bulkhead_core::vgic::{AccessWidth, Effect, SgiRegister, VcpuSet};

/// `ICC_SGI1R_EL1` (Group 1 SGI generation); the guest's writes trap to EL2 (`HCR_EL2.IMO`).
const ICC_SGI1R_EL1: SystemRegister = SystemRegister::new(3, 0, 12, 11, 5);
/// `ICC_ASGI1R_EL1` (Group 1 SGI generation for the other Security state).
const ICC_ASGI1R_EL1: SystemRegister = SystemRegister::new(3, 1, 12, 11, 6);
/// `ICC_SGI0R_EL1` (Group 0 SGI generation).
const ICC_SGI0R_EL1: SystemRegister = SystemRegister::new(3, 2, 12, 11, 7);

/// Handles one synchronous exception from the vCPU on this core.
pub fn handle_synchronous(frame: &mut TrapFrame) {
    let core = arch::cpu::core_index();
    let Some(vcpu) = SYSTEM.vcpu_on_core(core) else { arch::cpu::halt() };
    let syndrome = arch::guest::trap_syndrome();
    // Whether the trap may have changed which virtual interrupts are pending. Most traps
    // (PSCI/SMCCC queries, register reads) cannot, and skip the list-register sync: completed
    // interrupts are retired on the next interrupt exit, and interrupts waiting for a free list
    // register raise the maintenance interrupt themselves.
    let may_change_interrupts = match esr::decode(syndrome.esr) {
        Syndrome::HypervisorCall { .. } => hypercall(core, vcpu, frame),
        Syndrome::SecureMonitorCall { .. } => {
            // A trapped SMC returns to the SMC itself (Arm ARM D1.10.1): skip it.
            frame.elr = frame.elr.wrapping_add(4);
            hypercall(core, vcpu, frame)
        }
        Syndrome::DataAbort(abort) => data_abort(core, vcpu, frame, &abort, syndrome),
        Syndrome::InstructionAbort(_) => {
            let ipa = esr::fault_ipa(syndrome.hpfar, syndrome.far);
            report_fault(vcpu, ipa.raw(), frame.elr);
            containment::fault(core, vcpu, frame, AbortKind::Instruction, syndrome.far);
            true
        }
        Syndrome::SystemRegisterAccess(access) => {
            system_register(core, vcpu, frame, access);
            true
        }
        Syndrome::WaitForInterruptOrEvent(wait) => {
            frame.elr = frame.elr.wrapping_add(wait.instruction_length.bytes());
            false
        }
        Syndrome::Other { class } => {
            defmt::warn!("core {=usize}: unhandled exception class {=u8:#x}: undefined instruction injected", core, class);
            containment::inject_undefined(core, vcpu, frame);
            true
        }
    };
    if may_change_interrupts {
        finish(core, vcpu);
    }
}

/// Brings this vCPU's list registers up to date before it resumes, and asks other cores of
/// the partition to do the same where the trap changed their interrupts.
pub fn finish(core: usize, vcpu: VcpuRef) {
    finish_after(core, vcpu, |_| {});
}

/// [`finish`], after `raise` has updated the partition's interrupt state under the same lock
/// (the interrupt path raises and syncs in one critical section).
pub fn finish_after(core: usize, vcpu: VcpuRef, raise: impl FnOnce(&mut PartitionState)) {
    let Some(partition) = SYSTEM.partitions.get(vcpu.partition) else { return };
    let others = with_partition(vcpu, |state| {
        raise(state);
        vcpu::sync_list_registers(partition, state, vcpu.vcpu)
    })
    .unwrap_or(VcpuSet::EMPTY);
    kick_others(core, vcpu.partition, others);
}

/// Kicks the cores of those `vcpus` of `partition` that run elsewhere than on `core`, so they
/// refill their list registers.
fn kick_others(core: usize, partition: usize, vcpus: VcpuSet) {
    if vcpus.is_empty() {
        return;
    }
    let Some(description) = SYSTEM.partitions.get(partition) else { return };
    let mut others = VcpuSet::EMPTY;
    for vcpu in vcpus.iter() {
        if description.cores.get(vcpu).is_some_and(|&target| target != core) {
            others = others.with(vcpu);
        }
    }
    vcpu::kick_vcpus(partition, others);
}

/// Runs `action` on the partition's state under its lock.
pub fn with_partition<T>(vcpu: VcpuRef, action: impl FnOnce(&mut PartitionState) -> T) -> Option<T> {
    PARTITIONS.get(vcpu.partition).and_then(|slot| slot.lock().as_mut().map(action))
}

/// An `HVC` or trapped `SMC`: PSCI, emulated for the partition.
/// Handles a PSCI/SMCCC call; returns whether it may have changed pending interrupts.
fn hypercall(core: usize, vcpu: VcpuRef, frame: &mut TrapFrame) -> bool {
    let Some(partition) = SYSTEM.partitions.get(vcpu.partition) else { return false };
    let function = frame.register(0);
    let arguments = [frame.register(1), frame.register(2), frame.register(3)];
    let Some(outcome) = with_partition(vcpu, |state| state.psci.handle(vcpu.vcpu, function, arguments, &partition.ram)) else {
        return false;
    };
    match outcome {
        PsciOutcome::Return(value) => {
            frame.set_register(0, value);
            false
        }
        PsciOutcome::WaitForInterrupt => {
            frame.set_register(0, 0);
            false
        }
        PsciOutcome::StartVcpu { vcpu: target, entry, context_id } => {
            frame.set_register(0, 0);
            let started = partition.cores.get(target).copied();
            if let Some((target_core, mailbox)) = started.and_then(|c| MAILBOXES.get(c).map(|mailbox| (c, mailbox))) {
                mailbox.post_start(entry.raw(), context_id);
                arch::cpu::send_event();
                defmt::info!("{=str}: vCPU {=usize} started on core {=usize}", partition.name, target, target_core);
            }
            false
        }
        PsciOutcome::StopCaller => vcpu::wait_for_start(core),
        PsciOutcome::PartitionOff => {
            hv_println!("{}: powered off (PSCI SYSTEM_OFF)", partition.name);
            containment::stop(core, vcpu, crate::partition::RunState::Off)
        }
        PsciOutcome::PartitionReset => {
            hv_println!("{}: reset (PSCI SYSTEM_RESET)", partition.name);
            containment::restart(core, vcpu)
        }
    }
}

/// The emulated device an IPA falls in, with the offset inside it.
#[derive(Clone, Copy)]
enum EmulatedDevice {
    /// The virtual distributor (`GICD_*`).
    Distributor(u64),
    /// The virtual redistributors (`GICR_*`), one frame pair per vCPU.
    Redistributors(u64),
    /// The virtual PL011.
    Uart(u64),
}

/// Which emulated device, if any, the IPA `ipa` of a partition with `vcpu_count` vCPUs falls in.
fn emulated_device(ipa: u64, vcpu_count: usize) -> Option<EmulatedDevice> {
    let inside = |base: u64, size: u64| ipa.checked_sub(base).filter(|&offset| offset < size);
    if let Some(offset) = inside(layout::VGICD_BASE.raw(), layout::VGICD_SIZE) {
        return Some(EmulatedDevice::Distributor(offset));
    }
    // At most `MAX_VCPUS_PER_PARTITION` frames: neither the conversion nor the product can
    // overflow; were one to, the window would be empty.
    let redistributors_size = u64::try_from(vcpu_count).ok().and_then(|count| layout::VGICR_STRIDE.checked_mul(count)).unwrap_or(0);
    if let Some(offset) = inside(layout::VGICR_BASE.raw(), redistributors_size) {
        return Some(EmulatedDevice::Redistributors(offset));
    }
    inside(layout::VUART_BASE.raw(), layout::VUART_SIZE).map(EmulatedDevice::Uart)
}

/// Prints a `[hv]` line about a stage-2 fault of the partition.
fn report_fault(vcpu: VcpuRef, ipa: u64, pc: u64) {
    let name = SYSTEM.partitions.get(vcpu.partition).map_or("?", |p| p.name);
    hv_println!("{}: stage-2 fault at IPA {:#x} (pc {:#x})", name, ipa, pc);
}

/// A stage-2 data abort: an emulated device access, or a fault for the partition's policy.
fn data_abort(core: usize, vcpu: VcpuRef, frame: &mut TrapFrame, abort: &DataAbort, syndrome: TrapSyndrome) -> bool {
    let ipa = esr::fault_ipa(syndrome.hpfar, syndrome.far).raw();
    let vcpu_count = SYSTEM.partitions.get(vcpu.partition).map_or(0, |p| p.cores.len());
    let Some(device) = emulated_device(ipa, vcpu_count) else {
        if abort.write_not_read && crate::routes::ring_doorbell(vcpu.partition, bulkhead_core::addr::Ipa(ipa)) {
            frame.elr = frame.elr.wrapping_add(abort.instruction_length.bytes());
            return false;
        }
        report_fault(vcpu, ipa, frame.elr);
        containment::fault(core, vcpu, frame, AbortKind::Data, syndrome.far);
        return true;
    };
    let emulated = abort.access.and_then(|access| emulate(core, vcpu, frame, device, access, abort.write_not_read));
    match emulated {
        Some(()) => {
            frame.elr = frame.elr.wrapping_add(abort.instruction_length.bytes());
            abort.write_not_read || changes_on_read(device)
        }
        None => {
            defmt::warn!("core {=usize}: unemulatable access at IPA {=u64:#x}: abort injected", core, ipa);
            containment::inject_abort(core, vcpu, frame, AbortKind::Data, syndrome.far);
            true
        }
    }
}

/// Whether reading this register changes device state: only the PL011 data register (it pops
/// the receive FIFO, which may lower the UART's interrupt line).
fn changes_on_read(device: EmulatedDevice) -> bool {
    matches!(device, EmulatedDevice::Uart(0))
}

/// Performs one trapped load or store on an emulated device; `None` if the model refused it.
fn emulate(core: usize, vcpu: VcpuRef, frame: &mut TrapFrame, device: EmulatedDevice, access: DataAccess, is_write: bool) -> Option<()> {
    let width = AccessWidth::from_bytes(access.size.bytes())?;
    let written = match access.register {
        Register::X(n) => frame.register(n) & width.value_mask(),
        Register::Zero => 0,
    };
    let name = SYSTEM.partitions.get(vcpu.partition).map_or("?", |p| p.name);
    let (read, refill) = with_partition(vcpu, |state| -> Option<(Option<u64>, VcpuSet)> {
        let mut refill = VcpuSet::EMPTY;
        let read = match (device, is_write) {
            (EmulatedDevice::Distributor(offset), false) => Some(state.vgic.distributor_read(offset, width).ok()?.value),
            (EmulatedDevice::Redistributors(offset), false) => Some(state.vgic.redistributor_read(offset, width).ok()?.value),
            (EmulatedDevice::Uart(offset), false) => Some(state.uart.read(offset, width).ok()?.value),
            (EmulatedDevice::Distributor(offset), true) => {
                let outcome = state.vgic.distributor_write(offset, width, written).ok()?;
                refill = refill.union(outcome.refill()).union(apply_effects(core, vcpu, outcome.effects()));
                None
            }
            (EmulatedDevice::Redistributors(offset), true) => {
                let outcome = state.vgic.redistributor_write(offset, width, written).ok()?;
                refill = refill.union(outcome.refill()).union(apply_effects(core, vcpu, outcome.effects()));
                None
            }
            (EmulatedDevice::Uart(offset), true) => {
                let outcome = state.uart.write(offset, width, written).ok()?;
                if let Some(bulkhead_core::vpl011::Effect::Transmit { byte, .. }) = outcome.effect {
                    if let Some(line) = state.output.feed(byte) {
                        crate::console::write_display(line.prefixed(name));
                    }
                }
                None
            }
        };
        if matches!(device, EmulatedDevice::Uart(_)) && (is_write || changes_on_read(device)) {
            if let Ok(Some(target)) = state.vgic.set_spi_level(layout::VUART_INTID, state.uart.interrupt_line()) {
                refill = refill.with(target);
            }
        }
        Some((read, refill))
    })??;
    if let (Some(value), Register::X(n)) = (read, access.register) {
        frame.set_register(n, extend(value, access));
    }
    kick_others(core, vcpu.partition, refill);
    Some(())
}

/// Sign- or zero-extends a loaded value as the trapped instruction would (ISS.SSE, ISS.SF).
fn extend(value: u64, access: DataAccess) -> u64 {
    // The register bits above the loaded value.
    let unused_bits: u32 = match access.size {
        AccessSize::Byte => 56,
        AccessSize::Halfword => 48,
        AccessSize::Word => 32,
        AccessSize::Doubleword => 0,
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

/// Mirrors vGIC decisions onto the physical GIC; returns vCPUs that need a refill.
fn apply_effects(core: usize, vcpu: VcpuRef, effects: impl Iterator<Item = Effect>) -> VcpuSet {
    let mut refill = VcpuSet::EMPTY;
    let Some(partition) = SYSTEM.partitions.get(vcpu.partition) else { return refill };
    for effect in effects {
        match effect {
            Effect::PhysicalEnable { intid: virtual_intid, vcpu: target, enabled } => {
                let Some(intid) = crate::routes::physical_of(partition, virtual_intid) else { continue };
                let target_core = partition.cores.get(target.unwrap_or(0)).copied().unwrap_or(core);
                let affinity = SYSTEM.cores.get(target_core).map_or(0, |c| c.mpidr);
                if let Some(gic) = GIC.lock().as_mut() {
                    let routed = match target {
                        None => gic.route(intid, affinity),
                        Some(_) => Ok(()),
                    };
                    if routed.and_then(|()| gic.set_enabled(intid, target_core, enabled)).is_err() {
                        defmt::warn!("physical INTID {=u32} could not follow the guest's enable", intid);
                    }
                }
            }
            Effect::PhysicalRoute { intid: virtual_intid, target } => {
                let Some(intid) = crate::routes::physical_of(partition, virtual_intid) else { continue };
                let target_core = partition.cores.get(target.unwrap_or(0)).copied().unwrap_or(core);
                let affinity = SYSTEM.cores.get(target_core).map_or(0, |c| c.mpidr);
                if let Some(gic) = GIC.lock().as_mut() {
                    if gic.route(intid, affinity).is_err() {
                        defmt::warn!("physical INTID {=u32} could not follow the guest's routing", intid);
                    }
                }
            }
            Effect::PhysicalActive { intid, .. } => {
                // Only the virtual timer is hardware-backed today, and its active state is
                // owned by the list register (HW = 1): the guest's EOI deactivates it.
                defmt::debug!("guest changed the active state of hardware INTID {=u32}", intid);
            }
            Effect::RefillListRegisters { vcpu: target } => refill = refill.with(target),
        }
    }
    refill
}

/// A trapped system register access: SGI generation is emulated through the vGIC; anything
/// else makes the guest take an Undefined Instruction exception.
fn system_register(core: usize, vcpu: VcpuRef, frame: &mut TrapFrame, access: SystemRegisterAccess) {
    let sgi_register = match access.register {
        ICC_SGI1R_EL1 => Some(SgiRegister::Sgi1r),
        ICC_ASGI1R_EL1 => Some(SgiRegister::Asgi1r),
        ICC_SGI0R_EL1 => Some(SgiRegister::Sgi0r),
        _ => None,
    };
    match (sgi_register, access.direction) {
        (Some(register), Direction::Write) => {
            let value = match access.transfer_register {
                Register::X(n) => frame.register(n),
                Register::Zero => 0,
            };
            let targets = with_partition(vcpu, |state| state.vgic.send_sgi(vcpu.vcpu, register, value).unwrap_or(VcpuSet::EMPTY));
            kick_others(core, vcpu.partition, targets.unwrap_or(VcpuSet::EMPTY));
            frame.elr = frame.elr.wrapping_add(4);
        }
        (Some(_), Direction::Read) | (None, Direction::Read | Direction::Write) => {
            defmt::debug!("core {=usize}: trapped system register access: undefined instruction injected", core);
            containment::inject_undefined(core, vcpu, frame)
        }
    }
}
