//! The GICv3 CPU interface as seen from EL2, and the virtual interface control registers
//! (`ICH_*_EL2`) that feed a vCPU its virtual interrupts.
//!
//! The `arm-gic` crate drives the distributor and redistributors (see `bulkhead-drivers`) but
//! has no virtualization interface, and it programs `ICC_CTLR_EL1.EOImode = 0`; the
//! hypervisor needs `EOImode = 1` (priority drop and deactivation split) so a forwarded
//! hardware interrupt stays active until the guest's own EOI deactivates it through a list
//! register with HW = 1 (GIC architecture spec IHI 0069, 4.4 and 6.2). Those registers are
//! therefore accessed here.
//!
//! [impl->dsn~el2-gic-virtual-interface~1]

use aarch64_cpu::asm::barrier;
use bulkhead_core::vgic::ListRegister;
use bulkhead_core::vgic::delivery::{ListRegisters, PhysicalCpuInterface};
use aarch64_cpu::registers::{
    ICH_AP1R0_EL2, ICH_AP1R1_EL2, ICH_AP1R2_EL2, ICH_AP1R3_EL2, ICH_HCR_EL2, ICH_LR0_EL2, ICH_LR1_EL2, ICH_LR2_EL2, ICH_LR3_EL2, ICH_LR4_EL2, ICH_LR5_EL2,
    ICH_LR6_EL2, ICH_LR7_EL2, ICH_LR8_EL2, ICH_LR9_EL2, ICH_LR10_EL2, ICH_LR11_EL2, ICH_LR12_EL2,
    ICH_LR13_EL2, ICH_LR14_EL2, ICH_LR15_EL2, ICH_VMCR_EL2, ICH_VTR_EL2, ICC_SRE_EL2,
    Readable, Writeable,
};

/// INTID the CPU interface returns when nothing is pending.
pub const SPURIOUS_INTID: u32 = 1023;

/// Enables the system-register interface at EL2 and for the guest, priority-drop/deactivate
/// split, all priorities unmasked, Group 1 on, and the virtual CPU interface on.
pub fn init_cpu_interface() {
    // ICC_SRE_EL2: SRE, DFB, DIB, Enable (lower ELs may use ICC_SRE_EL1).
    ICC_SRE_EL2.set(0b1111);
    barrier::isb(barrier::SY);
    write_icc_pmr_el1(0xff);
    // ICC_CTLR_EL1.EOImode (bit 1).
    write_icc_ctlr_el1(1 << 1);
    write_icc_igrpen1_el1(1);
    ICH_VMCR_EL2.set(0);
    ICH_HCR_EL2.write(ICH_HCR_EL2::En::SET);
    barrier::isb(barrier::SY);
}

/// `ICC_IAR1_EL1.INTID`: the acknowledged INTID (24 bits).
const INTID_MASK: u64 = 0xff_ffff;

/// Acknowledges the highest-priority pending Group 1 interrupt.
pub fn acknowledge() -> u32 {
    // INTID is 24 bits wide, so the conversion cannot fail; were it to, the spurious INTID
    // ends the caller's acknowledge loop.
    u32::try_from(read_icc_iar1_el1() & INTID_MASK).unwrap_or(SPURIOUS_INTID)
}

/// Drops the running priority of `intid` without deactivating it.
pub fn priority_drop(intid: u32) {
    write_icc_eoir1_el1(u64::from(intid));
}

/// Deactivates `intid` (after [`priority_drop`]).
pub fn deactivate(intid: u32) {
    write_icc_dir_el1(u64::from(intid));
}

/// Sends SGI `intid` (0..16) to the core with MPIDR affinity `affinity` (Aff0 < 16).
pub fn send_sgi(intid: u32, affinity: u64) {
    let aff0 = affinity & 0xf;
    let aff1 = (affinity >> 8) & 0xff;
    let aff2 = (affinity >> 16) & 0xff;
    let aff3 = (affinity >> 32) & 0xff;
    let value = (1 << aff0) | (aff1 << 16) | (u64::from(intid & 0xf) << 24) | (aff2 << 32) | (aff3 << 48);
    barrier::dsb(barrier::ISHST);
    write_icc_sgi1r_el1(value);
    barrier::isb(barrier::SY);
}

/// Number of list registers this core implements (`ICH_VTR_EL2.ListRegs + 1`).
pub fn list_register_count() -> usize {
    // ListRegs is a 5-bit field: the conversion cannot fail and the sum cannot overflow.
    // Were the conversion to fail, no list register would be used.
    usize::try_from(ICH_VTR_EL2.read(ICH_VTR_EL2::ListRegs)).map_or(0, |list_regs| list_regs.saturating_add(1))
}

/// Reads `ICH_EISR_EL2` (encoding `S3_4_C12_C11_3`; aarch64-cpu does not wrap it).
fn read_ich_eisr_el2() -> u64 {
    let value: u64;
    // SAFETY: ICH_EISR_EL2 is a read-only status register whose read has no side effect;
    // the instruction writes only `value`.
    unsafe { core::arch::asm!("mrs {}, s3_4_c12_c11_3", out(reg) value, options(nostack)) };
    value
}

/// Reads list register `n` (0 for a register the architecture does not have).
fn read_list_register(n: usize) -> u64 {
    match n {
        0 => ICH_LR0_EL2.get(),
        1 => ICH_LR1_EL2.get(),
        2 => ICH_LR2_EL2.get(),
        3 => ICH_LR3_EL2.get(),
        4 => ICH_LR4_EL2.get(),
        5 => ICH_LR5_EL2.get(),
        6 => ICH_LR6_EL2.get(),
        7 => ICH_LR7_EL2.get(),
        8 => ICH_LR8_EL2.get(),
        9 => ICH_LR9_EL2.get(),
        10 => ICH_LR10_EL2.get(),
        11 => ICH_LR11_EL2.get(),
        12 => ICH_LR12_EL2.get(),
        13 => ICH_LR13_EL2.get(),
        14 => ICH_LR14_EL2.get(),
        15 => ICH_LR15_EL2.get(),
        _ => 0,
    }
}

/// Writes list register `n`; returns false if the architecture has no such register.
#[inline]
fn write_list_register(n: usize, value: u64) -> bool {
    match n {
        0 => ICH_LR0_EL2.set(value),
        1 => ICH_LR1_EL2.set(value),
        2 => ICH_LR2_EL2.set(value),
        3 => ICH_LR3_EL2.set(value),
        4 => ICH_LR4_EL2.set(value),
        5 => ICH_LR5_EL2.set(value),
        6 => ICH_LR6_EL2.set(value),
        7 => ICH_LR7_EL2.set(value),
        8 => ICH_LR8_EL2.set(value),
        9 => ICH_LR9_EL2.set(value),
        10 => ICH_LR10_EL2.set(value),
        11 => ICH_LR11_EL2.set(value),
        12 => ICH_LR12_EL2.set(value),
        13 => ICH_LR13_EL2.set(value),
        14 => ICH_LR14_EL2.set(value),
        15 => ICH_LR15_EL2.set(value),
        _ => return false,
    }
    true
}

/// Deactivates at the physical GIC every hardware interrupt a list register of this core
/// still holds (`HW` = 1, Pending or Active), then empties the list registers.
///
/// A vCPU that stops (its partition halts, powers off or restarts) never deactivates them
/// itself, and the physical interrupt behind such an entry (the virtual timer PPI) stays
/// active, so it would never fire again for the vCPU's next life. `ICC_DIR_EL1` is written
/// only for an INTID the entry shows active at the GIC (EL2 acknowledged it and only dropped
/// its priority). Cost: one read and one write per list register, at most 16 of each.
pub fn release_hardware_interrupts() {
    use bulkhead_core::vgic::{Backing, ListRegisterState};
    for n in 0..list_register_count() {
        let entry = ListRegister::from_bits(read_list_register(n));
        if let (Backing::Hardware { physical_intid }, false) = (entry.backing, entry.state == ListRegisterState::Invalid) {
            deactivate(u32::from(physical_intid));
        }
        write_list_register(n, 0);
    }
}

/// Clears every list register and the virtual CPU interface state (partition restart).
pub fn reset_virtual_interface() {
    for n in 0..list_register_count() {
        write_list_register(n, 0);
    }
    // ICH_VTR_EL2.PREbits (bits 28:26) = preemption bits - 1: 5 bits need AP1R0 only, 6 add
    // AP1R1, 7 add AP1R2 and AP1R3. Touching one that does not exist is UNDEFINED.
    let registers = match ICH_VTR_EL2.read(ICH_VTR_EL2::PREbits) {
        6 => 4,
        5 => 2,
        _ => 1,
    };
    for register in 0..registers {
        write_active_priority(register, 0);
    }
    ICH_VMCR_EL2.set(0);
    barrier::isb(barrier::SY);
}

/// Writes the Group 1 active priorities register `ICH_AP1R<n>_EL2` (`n` above 3 writes
/// `ICH_AP1R3_EL2`; the caller only passes registers that exist).
fn write_active_priority(n: usize, value: u64) {
    match n {
        0 => ICH_AP1R0_EL2.set(value),
        1 => ICH_AP1R1_EL2.set(value),
        2 => ICH_AP1R2_EL2.set(value),
        _ => ICH_AP1R3_EL2.set(value),
    }
}

/// Turns the maintenance interrupt for "no list register pending" on or off
/// (`ICH_HCR_EL2.NPIE`), so queued interrupts can be refilled as soon as room appears.
pub fn set_refill_maintenance(enabled: bool) {
    let npie = if enabled { ICH_HCR_EL2::NPIE::SET } else { ICH_HCR_EL2::NPIE::CLEAR };
    #[expect(clippy::arithmetic_side_effects, reason = "DEV-0050: `+` combines register fields")]
    ICH_HCR_EL2.write(ICH_HCR_EL2::En::SET + npie);
    barrier::isb(barrier::SY);
}

/// The calling core's GICv3 CPU interface and virtual interface control (`ICC_*`, `ICH_*`
/// system registers): the generated `CpuInterface` of a GICv3 board.
#[derive(Clone, Copy, Debug, Default)]
pub struct Gicv3CpuInterface;

impl PhysicalCpuInterface for Gicv3CpuInterface {
    type ListRegisters = Gicv3ListRegisters;

    fn initialise(_core: usize) {
        init_cpu_interface();
    }

    fn acknowledge() -> u32 {
        acknowledge()
    }

    fn priority_drop(acknowledged: u32) {
        priority_drop(acknowledged);
    }

    fn deactivate(acknowledged: u32) {
        deactivate(acknowledged);
    }

    fn send_sgi(intid: u32, _core: usize, affinity: u64) {
        send_sgi(intid, affinity);
    }

    fn reset_virtual_interface() {
        reset_virtual_interface();
    }

    fn set_refill_maintenance(enabled: bool) {
        set_refill_maintenance(enabled);
    }

    fn release_hardware_interrupts() {
        release_hardware_interrupts();
    }
}

/// This core's GICv3 list registers (`ICH_LR<n>_EL2` and their status registers), the GICv3
/// backend of interrupt delivery in `bulkhead-core`. It holds nothing: each core reaches only
/// its own registers, so any number of these refer to the same hardware.
#[derive(Clone, Copy, Debug, Default)]
pub struct Gicv3ListRegisters;

impl ListRegisters for Gicv3ListRegisters {
    fn count(&self) -> usize {
        list_register_count()
    }

    fn empty(&self) -> u64 {
        read_ich_elrsr_el2()
    }

    fn end_of_interrupt_status(&self) -> u64 {
        read_ich_eisr_el2()
    }

    fn read(&self, index: usize) -> ListRegister {
        ListRegister::from_bits(read_list_register(index))
    }

    #[inline]
    fn write(&mut self, index: usize, entry: &ListRegister, _sgi_source: u8) {
        write_list_register(index, entry.to_bits());
    }

    fn clear(&mut self, index: usize) {
        write_list_register(index, 0);
    }

    fn set_refill_maintenance(&mut self, enabled: bool) {
        set_refill_maintenance(enabled);
    }

    fn deactivate_physical(&mut self, physical_intid: u32) {
        deactivate(physical_intid);
    }
}

// Kept as `asm!`: the CPU interface registers aarch64-cpu 11.2 does not wrap (ICC_IAR1_EL1,
// ICC_PMR_EL1, ICC_IGRPEN1_EL1, ICC_EOIR1_EL1, ICC_DIR_EL1, ICC_SGI1R_EL1, ICH_ELRSR_EL2,
// ICH_EISR_EL2) or wraps read-only (ICC_CTLR_EL1), one function
// per register and direction so that each `asm!` carries its own argument. None of them
// touches memory; each keeps the default memory clobber so that the compiler does not move
// memory accesses across a change in interrupt state. Register behaviour: GIC architecture
// specification IHI 0069, chapter 12, the description of each register.

/// Reads `ICC_IAR1_EL1`: acknowledges the highest-priority pending Group 1 interrupt.
fn read_icc_iar1_el1() -> u64 {
    let value: u64;
    // SAFETY: reading ICC_IAR1_EL1 makes the returned interrupt active on this core's CPU
    // interface, which is the acknowledgement the caller asks for; the instruction writes
    // only `value` and accesses no memory.
    unsafe { core::arch::asm!("mrs {}, icc_iar1_el1", out(reg) value, options(nostack)) };
    value
}

/// Writes `ICC_PMR_EL1`, the priority mask of this core's CPU interface.
fn write_icc_pmr_el1(value: u64) {
    // SAFETY: the priority mask only decides which interrupts this core's CPU interface
    // signals; EL2 runs with PSTATE.I set, so no handler is entered because of it, and no
    // memory is accessed.
    unsafe { core::arch::asm!("msr icc_pmr_el1, {}", in(reg) value, options(nostack)) };
}

/// Writes `ICC_CTLR_EL1` (aarch64-cpu wraps it read-only).
fn write_icc_ctlr_el1(value: u64) {
    // SAFETY: ICC_CTLR_EL1 selects how this core's CPU interface ends interrupts (EOImode);
    // it affects no memory and no other core.
    unsafe { core::arch::asm!("msr icc_ctlr_el1, {}", in(reg) value, options(nostack)) };
}

/// Writes `ICC_IGRPEN1_EL1`, the Group 1 enable of this core's CPU interface.
fn write_icc_igrpen1_el1(value: u64) {
    // SAFETY: enabling Group 1 lets this core's CPU interface signal Group 1 interrupts;
    // EL2 keeps PSTATE.I set, so they are only taken while a guest runs. No memory is
    // accessed.
    unsafe { core::arch::asm!("msr icc_igrpen1_el1, {}", in(reg) value, options(nostack)) };
}

/// Writes `ICC_EOIR1_EL1`: the priority drop (with EOImode = 1) of the interrupt it names.
fn write_icc_eoir1_el1(value: u64) {
    // SAFETY: with EOImode = 1 an end-of-interrupt write only lowers this core's running
    // priority; the interrupt stays active. No memory is accessed.
    unsafe { core::arch::asm!("msr icc_eoir1_el1, {}", in(reg) value, options(nostack)) };
}

/// Writes `ICC_DIR_EL1`: deactivates the interrupt it names.
fn write_icc_dir_el1(value: u64) {
    // SAFETY: a deactivate write only clears the active state of the named interrupt at the
    // GIC; no memory is accessed.
    unsafe { core::arch::asm!("msr icc_dir_el1, {}", in(reg) value, options(nostack)) };
}

/// Writes `ICC_SGI1R_EL1`: generates the Group 1 SGI that `value` describes.
fn write_icc_sgi1r_el1(value: u64) {
    // SAFETY: the write only makes the GIC send an SGI, which the target core takes as an
    // interrupt (EL2 never unmasks interrupts, so only while its guest runs); no memory is
    // accessed.
    unsafe { core::arch::asm!("msr icc_sgi1r_el1, {}", in(reg) value, options(nostack)) };
}

/// Reads `ICH_ELRSR_EL2` (encoding `S3_4_C12_C11_5`; aarch64-cpu does not wrap it).
fn read_ich_elrsr_el2() -> u64 {
    let value: u64;
    // SAFETY: ICH_ELRSR_EL2 is a read-only status register whose read has no side effect;
    // the instruction writes only `value`.
    unsafe { core::arch::asm!("mrs {}, s3_4_c12_c11_5", out(reg) value, options(nostack)) };
    value
}
