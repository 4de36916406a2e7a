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
use aarch64_cpu::registers::{
    ICH_HCR_EL2, ICH_LR0_EL2, ICH_LR1_EL2, ICH_LR2_EL2, ICH_LR3_EL2, ICH_LR4_EL2, ICH_LR5_EL2,
    ICH_LR6_EL2, ICH_LR7_EL2, ICH_LR8_EL2, ICH_LR9_EL2, ICH_LR10_EL2, ICH_LR11_EL2, ICH_LR12_EL2,
    ICH_LR13_EL2, ICH_LR14_EL2, ICH_LR15_EL2, ICH_MISR_EL2, ICH_VMCR_EL2, ICH_VTR_EL2, ICC_SRE_EL2,
    Readable, Writeable,
};

/// INTID the CPU interface returns when nothing is pending.
pub const SPURIOUS_INTID: u32 = 1023;

macro_rules! read_sysreg {
    ($name:literal) => {{
        let value: u64;
        // SAFETY: reading this GIC CPU interface register has no side effect besides the
        // ones the architecture documents for it, which the caller wants.
        unsafe { core::arch::asm!(concat!("mrs {}, ", $name), out(reg) value, options(nostack)) };
        value
    }};
}

macro_rules! write_sysreg {
    ($name:literal, $value:expr) => {{
        let value: u64 = $value;
        // SAFETY: writing this GIC CPU interface register affects only interrupt delivery on
        // this core, as the caller intends.
        unsafe { core::arch::asm!(concat!("msr ", $name, ", {}"), in(reg) value, options(nostack)) };
    }};
}

/// Enables the system-register interface at EL2 and for the guest, priority-drop/deactivate
/// split, all priorities unmasked, Group 1 on, and the virtual CPU interface on.
pub fn init_cpu_interface() {
    // ICC_SRE_EL2: SRE, DFB, DIB, Enable (lower ELs may use ICC_SRE_EL1).
    ICC_SRE_EL2.set(0b1111);
    barrier::isb(barrier::SY);
    write_sysreg!("icc_pmr_el1", 0xff);
    // ICC_CTLR_EL1.EOImode (bit 1).
    write_sysreg!("icc_ctlr_el1", 1 << 1);
    write_sysreg!("icc_igrpen1_el1", 1);
    ICH_VMCR_EL2.set(0);
    ICH_HCR_EL2.set(ICH_HCR_EN);
    barrier::isb(barrier::SY);
}

const ICH_HCR_EN: u64 = 1 << 0;

/// Acknowledges the highest-priority pending Group 1 interrupt.
pub fn acknowledge() -> u32 {
    (read_sysreg!("icc_iar1_el1") & 0xff_ffff) as u32
}

/// Drops the running priority of `intid` without deactivating it.
pub fn priority_drop(intid: u32) {
    write_sysreg!("icc_eoir1_el1", u64::from(intid));
}

/// Deactivates `intid` (after [`priority_drop`]).
pub fn deactivate(intid: u32) {
    write_sysreg!("icc_dir_el1", u64::from(intid));
}

/// Sends SGI `intid` (0..16) to the core with MPIDR affinity `affinity` (Aff0 < 16).
pub fn send_sgi(intid: u32, affinity: u64) {
    let aff0 = affinity & 0xf;
    let aff1 = (affinity >> 8) & 0xff;
    let aff2 = (affinity >> 16) & 0xff;
    let aff3 = (affinity >> 32) & 0xff;
    let value = (1 << aff0) | (aff1 << 16) | (u64::from(intid & 0xf) << 24) | (aff2 << 32) | (aff3 << 48);
    barrier::dsb(barrier::ISHST);
    write_sysreg!("icc_sgi1r_el1", value);
    barrier::isb(barrier::SY);
}

/// Number of list registers this core implements (`ICH_VTR_EL2.ListRegs + 1`).
pub fn list_register_count() -> usize {
    (ICH_VTR_EL2.get() & 0x1f) as usize + 1
}

/// Bit `n` set means list register `n` holds no interrupt (`ICH_ELRSR_EL2`, which
/// aarch64-cpu does not wrap).
pub fn empty_list_registers() -> u16 {
    (read_sysreg!("s3_4_c12_c11_5") & 0xffff) as u16
}

/// `ICH_MISR_EL2`: which maintenance conditions hold.
pub fn maintenance_status() -> u64 {
    ICH_MISR_EL2.get()
}

/// Reads list register `n`; `None` if the architecture has no such register.
pub fn read_list_register(n: usize) -> Option<u64> {
    Some(match n {
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
        _ => return None,
    })
}

/// Writes list register `n`; returns false if the architecture has no such register.
pub fn write_list_register(n: usize, value: u64) -> bool {
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

/// Clears every list register and the virtual CPU interface state (partition restart).
pub fn reset_virtual_interface() {
    for n in 0..list_register_count() {
        write_list_register(n, 0);
    }
    // ICH_VTR_EL2.PREbits (bits 28:26) = preemption bits - 1: 5 bits need AP1R0 only, 6 add
    // AP1R1, 7 add AP1R2 and AP1R3. Touching one that does not exist is UNDEFINED.
    let preemption_bits = ((ICH_VTR_EL2.get() >> 26) & 0b111) + 1;
    let registers = match preemption_bits {
        7 => 4,
        6 => 2,
        _ => 1,
    };
    for register in 0..registers {
        write_active_priority(register, 0);
    }
    ICH_VMCR_EL2.set(0);
    barrier::isb(barrier::SY);
}

fn write_active_priority(n: usize, value: u64) {
    match n {
        0 => write_sysreg!("ich_ap1r0_el2", value),
        1 => write_sysreg!("ich_ap1r1_el2", value),
        2 => write_sysreg!("ich_ap1r2_el2", value),
        _ => write_sysreg!("ich_ap1r3_el2", value),
    }
}

/// Turns the maintenance interrupt for "no list register pending" on or off
/// (`ICH_HCR_EL2.NPIE`), so queued interrupts can be refilled as soon as room appears.
pub fn set_refill_maintenance(enabled: bool) {
    const NPIE: u64 = 1 << 3;
    let value = if enabled { ICH_HCR_EN | NPIE } else { ICH_HCR_EN };
    ICH_HCR_EL2.set(value);
    barrier::isb(barrier::SY);
}
