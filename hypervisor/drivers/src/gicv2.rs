//! The physical GICv2 with virtualization extensions (GIC-400, IHI 0048B): distributor
//! (`GICD_*`), CPU interface (`GICC_*`) and virtual interface control (`GICH_*`), all
//! memory-mapped.
//!
//! - [`PhysicalGic`] drives the distributor, shared by every core, behind the image's GIC
//!   lock: boot set-up through the `arm-gic` crate (`GicV2::setup`: groups, `GICD_CTLR`, the
//!   boot core's `GICC_CTLR`/`GICC_PMR`), then single-interrupt configuration written here
//!   byte by byte. `arm-gic` writes `GICD_IPRIORITYR<n>` as whole words (clobbering the three
//!   neighbours), has no `GICD_ITARGETSR<n>` call, and indexes its arrays with `unwrap()`,
//!   which must not be reachable from a trap.
//! - [`Gicv2CpuInterface`] is the [`PhysicalCpuInterface`] of a GICv2 board: each core's
//!   banked GICC and GICH frames (one address, each core sees its own), reached without a
//!   lock. `arm-gic` has no virtualization interface, so the list registers are ours.
//! - [`Gicv2ListRegisters`] is the GICv2 backend of `bulkhead_core::vgic::delivery`:
//!   `GICH_LR<n>`, `GICH_ELRSR0/1`, `GICH_EISR0/1`, `GICH_HCR.NPIE`.
//!
//! Groups: a GIC without Security Extensions (QEMU `virt` with `secure=off`) resets every
//! interrupt to Group 0, which `GicV2::setup` keeps; one with them (ZCU102, Raspberry Pi 4,
//! where firmware left EL2 Non-secure) gives Non-secure software Group 1 only. `GICC_CTLR` =
//! bit 0 | bit 9 is right for both: bit 0 is `EnableGrp0` in the first layout and
//! `EnableGrp1` in the Non-secure view of the second, bit 9 is `EOImodeS` resp. `EOImodeNS`
//! (IHI 0048B 4.4.1): the hypervisor's interrupts are signalled as IRQs with priority drop
//! and deactivation split.
//!
//! The register-level logic is unit-tested on the host against memory laid out like the
//! frames (`cargo test -p bulkhead-drivers`).
//!
//! [impl->dsn~el2-gic-virtual-interface~1]

use crate::gicv3::{GicError, InterruptTrigger};
use bulkhead_core::system::Gic;
use bulkhead_core::vgic::{ListRegister, ListRegisterState};
use bulkhead_core::vgic::delivery::{ListRegisters, PhysicalCpuInterface};
use core::sync::atomic::{AtomicU8, Ordering};
use spin::Once;
use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::registers::{ReadOnly, ReadWrite, WriteOnly};
use tock_registers::register_structs;

/// Priority the hypervisor gives every physical interrupt it enables (as on GICv3).
pub const PRIORITY: u8 = 0x80;
/// CPU interfaces a GICv2 has at most (`GICD_TYPER.CPUNumber` is 3 bits).
pub const MAX_CPU_INTERFACES: usize = 8;
/// First INTID past the SPIs (1020–1023 are special).
const SPI_END: u32 = 1020;
/// The INTID field of `GICC_IAR` (bits [9:0]); bits [12:10] are an SGI's source `CPUID`.
const IAR_INTERRUPT_ID: u32 = 0x3ff;
/// The spurious INTID.
const SPURIOUS: u32 = 1023;

/// `GICC_CTLR`: bit 0 (`EnableGrp0`, or `EnableGrp1` in the Non-secure view) and bit 9
/// (`EOImodeS`, or `EOImodeNS`); see the module documentation.
const CPU_CONTROL: u32 = 1 << 0 | 1 << 9;
/// `GICH_HCR.En`: the virtual CPU interface forwards list-register interrupts.
const HCR_EN: u32 = 1 << 0;
/// `GICH_HCR.NPIE`: maintenance interrupt while no list register is Pending.
const HCR_NPIE: u32 = 1 << 3;
/// `GICH_VTR.ListRegs` (bits [5:0]): list registers minus one.
const VTR_LIST_REGS: u32 = 0x3f;
/// `GICH_LR<n>.CPUID` of a software SGI entry: bits [12:10] (IHI 0048B 5.3.11).
const LR_CPUID_SHIFT: u32 = 10;
/// Width mask of `GICH_LR<n>.CPUID`.
const LR_CPUID_MASK: u32 = 0x7;

register_structs! {
    /// The distributor frame as the hypervisor uses it (IHI 0048B Table 4-1).
    pub DistributorRegisters {
        (0x000 => ctlr: ReadWrite<u32>),
        (0x004 => typer: ReadOnly<u32>),
        (0x008 => _reserved0),
        (0x080 => igroupr: [ReadWrite<u32>; 32]),
        (0x100 => isenabler: [ReadWrite<u32>; 32]),
        (0x180 => icenabler: [ReadWrite<u32>; 32]),
        (0x200 => _reserved1),
        (0x400 => ipriorityr: [ReadWrite<u8>; 1024]),
        (0x800 => itargetsr: [ReadWrite<u8>; 1024]),
        (0xc00 => icfgr: [ReadWrite<u32>; 64]),
        (0xd00 => _reserved2),
        (0xf00 => sgir: WriteOnly<u32>),
        (0xf04 => _reserved3),
        (0x1000 => @END),
    }
}

register_structs! {
    /// The CPU interface frame, 8 KiB (IHI 0048B Table 4-2), banked per core.
    pub CpuInterfaceRegisters {
        (0x0000 => ctlr: ReadWrite<u32>),
        (0x0004 => pmr: ReadWrite<u32>),
        (0x0008 => bpr: ReadWrite<u32>),
        (0x000c => iar: ReadOnly<u32>),
        (0x0010 => eoir: WriteOnly<u32>),
        (0x0014 => _reserved0),
        (0x1000 => dir: WriteOnly<u32>),
        (0x1004 => @END),
    }
}

register_structs! {
    /// The virtual interface control frame (IHI 0048B Table 5-1), banked per core.
    pub HypervisorInterfaceRegisters {
        (0x000 => hcr: ReadWrite<u32>),
        (0x004 => vtr: ReadOnly<u32>),
        (0x008 => vmcr: ReadWrite<u32>),
        (0x00c => _reserved0),
        (0x010 => misr: ReadOnly<u32>),
        (0x014 => _reserved1),
        (0x020 => eisr: [ReadOnly<u32>; 2]),
        (0x028 => _reserved2),
        (0x030 => elrsr: [ReadOnly<u32>; 2]),
        (0x038 => _reserved3),
        (0x0f0 => apr: ReadWrite<u32>),
        (0x0f4 => _reserved4),
        (0x100 => lr: [ReadWrite<u32>; 64]),
        (0x200 => @END),
    }
}

/// Each core's CPU interface and virtual interface control frames, and the distributor's
/// `GICD_SGIR` and banked `GICD_ITARGETSR0`: what [`Gicv2CpuInterface`] reaches without the
/// GIC lock.
struct Frames {
    /// The distributor (only `GICD_SGIR` and the banked `GICD_ITARGETSR0` are used here).
    distributor: &'static DistributorRegisters,
    /// GICC, banked per core.
    cpu_interface: &'static CpuInterfaceRegisters,
    /// GICH, banked per core.
    hypervisor_interface: &'static HypervisorInterfaceRegisters,
}

// SAFETY: the frames are MMIO reachable identically from every core. GICC and GICH are
// banked (each core reaches its own registers at the same address) and only ever accessed by
// their own core; the distributor registers used here are `GICD_SGIR` (one write raises one
// SGI, atomic at the GIC) and the read-only banked `GICD_ITARGETSR0`.
unsafe impl Sync for Frames {}
// SAFETY: as above; the struct holds only references to device registers.
unsafe impl Send for Frames {}

/// The frames, recorded once by [`PhysicalGic::from_board`] on the boot core.
static FRAMES: Once<Frames> = Once::new();

/// Per core (index in the system tables), its CPU interface's bit in `GICD_ITARGETSR<n>` and
/// `GICD_SGIR.CPUTargetList`, read by the core itself from its banked `GICD_ITARGETSR0`
/// (IHI 0048B 4.3.12). Zero until the core has initialised.
static CPU_TARGETS: [AtomicU8; MAX_CPU_INTERFACES] = [const { AtomicU8::new(0) }; MAX_CPU_INTERFACES];

/// Core `core`'s CPU interface bit: the one it read itself, or, before it has initialised
/// (the boot core routes SPIs before releasing the others), bit `core`. A GIC-400 numbers its
/// CPU interfaces by the cores' positions in their cluster (GIC-400 TRM, "CPU interfaces"),
/// which is the core index on the single-cluster boards it serves (ZCU102, Raspberry Pi 4,
/// QEMU `virt`); the recorded value replaces the guess as soon as the core is up.
fn cpu_target(core: usize) -> Option<u8> {
    let recorded = CPU_TARGETS.get(core)?.load(Ordering::Relaxed);
    if recorded != 0 {
        return Some(recorded);
    }
    u32::try_from(core).ok().and_then(|index| 1_u8.checked_shl(index))
}

/// The physical GICv2 distributor.
pub struct PhysicalGic {
    /// The `arm-gic` driver, for the boot-time set-up.
    gic: arm_gic::gicv2::GicV2<'static>,
    /// The distributor frame, for everything after boot.
    distributor: &'static DistributorRegisters,
}

// SAFETY: the distributor is MMIO reachable identically from every core; the hypervisor
// keeps the one `PhysicalGic` behind a lock, so accesses are serialised.
unsafe impl Send for PhysicalGic {}

impl PhysicalGic {
    /// Takes over the board's GICv2 (`Gic::V2`; any other GIC is refused with
    /// [`GicError::Driver`]) for `core_count` cores.
    ///
    /// # Safety
    /// The board's GICD, GICC and GICH frames must be mapped as Device memory at their
    /// addresses for the rest of the program, and no other code may drive them.
    pub unsafe fn from_board(board_gic: &Gic, core_count: usize) -> Result<Self, GicError> {
        let Gic::V2 { distributor, cpu_interface, hypervisor_interface, .. } = *board_gic else {
            return Err(GicError::Driver);
        };
        if core_count > MAX_CPU_INTERFACES {
            return Err(GicError::Driver);
        }
        let address = |physical: bulkhead_core::addr::PhysAddr| {
            usize::try_from(physical.raw()).ok().filter(|&address| address != 0).ok_or(GicError::Driver)
        };
        let distributor_address = address(distributor)?;
        let cpu_interface_address = address(cpu_interface)?;
        let hypervisor_interface_address = address(hypervisor_interface)?;
        // SAFETY: the caller guarantees the distributor frame is mapped at this non-null
        // address for the rest of the program; registers are only accessed volatilely.
        let distributor_registers = unsafe { &*(distributor_address as *const DistributorRegisters) };
        // SAFETY: as above, for the (banked) CPU interface frame.
        let cpu_interface_registers = unsafe { &*(cpu_interface_address as *const CpuInterfaceRegisters) };
        // SAFETY: as above, for the (banked) virtual interface control frame.
        let hypervisor_registers = unsafe { &*(hypervisor_interface_address as *const HypervisorInterfaceRegisters) };
        // SAFETY: the caller guarantees both frames are mapped and ours alone; the addresses
        // are non-null, so `GicV2::new`'s `NonNull` unwrap cannot fail.
        let gic = unsafe {
            arm_gic::gicv2::GicV2::new(
                distributor_address as *mut arm_gic::gicv2::registers::Gicd,
                cpu_interface_address as *mut arm_gic::gicv2::registers::Gicc,
            )
        };
        FRAMES.call_once(|| Frames {
            distributor: distributor_registers,
            cpu_interface: cpu_interface_registers,
            hypervisor_interface: hypervisor_registers,
        });
        Ok(Self { gic, distributor: distributor_registers })
    }

    /// Drives the distributor frame `distributor` (a device, or memory laid out like one)
    /// after boot; [`PhysicalGic::from_board`] is the constructor the image uses.
    #[cfg(test)]
    fn distributor_only(distributor: &'static DistributorRegisters) -> Self {
        // SAFETY: (test) `GicV2::new` only stores the pointers; the tests never call a method
        // that would use them.
        let gic = unsafe {
            arm_gic::gicv2::GicV2::new(
                core::ptr::from_ref(distributor).cast_mut().cast(),
                core::ptr::NonNull::<arm_gic::gicv2::registers::Gicc>::dangling().as_ptr(),
            )
        };
        Self { gic, distributor }
    }

    /// Global set-up, once, on the boot core (`core` is its index): `arm-gic`'s `setup`
    /// (every interrupt in the group Non-secure software can use, that group enabled, the
    /// boot core's CPU interface open), then every interrupt disabled.
    pub fn initialise(&mut self, core: usize) {
        self.gic.setup();
        for register in &self.distributor.icenabler {
            register.set(u32::MAX);
        }
        self.initialise_core(core);
    }

    /// Per-core set-up: nothing in the distributor beyond what [`Gicv2CpuInterface`] does on
    /// the core itself; kept so every GIC driver offers the same calls.
    pub fn initialise_core(&mut self, _core: usize) {}

    /// Configures and enables interrupt `raw` at [`PRIORITY`]: SGIs and PPIs in the calling
    /// core's banked registers (the image calls this for `core`'s private interrupts on
    /// `core` itself), SPIs targeted at `core`'s CPU interface. `affinity` is unused: GICv2
    /// targets CPU interfaces, not affinities.
    pub fn enable(&mut self, raw: u32, core: usize, _affinity: u64, trigger: InterruptTrigger) -> Result<(), GicError> {
        let index = Self::index(raw)?;
        let priority = self.distributor.ipriorityr.get(index).ok_or(GicError::InvalidIntid(raw))?;
        priority.set(PRIORITY);
        if raw >= 16 {
            self.set_trigger(raw, trigger)?;
        }
        if raw >= 32 {
            self.route(raw, core, 0)?;
        }
        self.set_enabled(raw, core, true)
    }

    /// Targets SPI `raw` at core `core`'s CPU interface (`GICD_ITARGETSR<n>`, one byte).
    /// Runs on trap paths: every index is checked, nothing can panic.
    pub fn route(&mut self, raw: u32, core: usize, _affinity: u64) -> Result<(), GicError> {
        if !(32..SPI_END).contains(&raw) {
            return Err(GicError::InvalidIntid(raw));
        }
        let target = cpu_target(core).ok_or(GicError::Driver)?;
        let register = self.distributor.itargetsr.get(Self::index(raw)?).ok_or(GicError::InvalidIntid(raw))?;
        register.set(target);
        Ok(())
    }

    /// Enables or disables interrupt `raw` (`GICD_ISENABLER<n>`/`GICD_ICENABLER<n>`,
    /// write-one-to-change; those of INTIDs 0–31 are the calling core's, which is always
    /// `core` where the image asks). Runs on trap paths: nothing can panic.
    pub fn set_enabled(&mut self, raw: u32, _core: usize, enabled: bool) -> Result<(), GicError> {
        if raw >= SPI_END {
            return Err(GicError::InvalidIntid(raw));
        }
        let bank = Self::index(raw / 32)?;
        let registers = if enabled { &self.distributor.isenabler } else { &self.distributor.icenabler };
        registers.get(bank).ok_or(GicError::InvalidIntid(raw))?.set(1 << (raw % 32));
        Ok(())
    }

    /// Disables interrupt `raw`.
    pub fn disable(&mut self, raw: u32, core: usize) -> Result<(), GicError> {
        self.set_enabled(raw, core, false)
    }

    /// `GICD_ICFGR<n>` `Int_config[1]` of `raw` (PPIs and SPIs; SGIs are always edge).
    fn set_trigger(&mut self, raw: u32, trigger: InterruptTrigger) -> Result<(), GicError> {
        let register = self.distributor.icfgr.get(Self::index(raw / 16)?).ok_or(GicError::InvalidIntid(raw))?;
        // Int_config[1] of `raw`: bit 2n + 1 for the n-th interrupt of the register.
        let bit = 1_u32.checked_shl(raw.wrapping_rem(16).wrapping_mul(2).wrapping_add(1)).unwrap_or(0);
        let value = register.get();
        register.set(match trigger {
            InterruptTrigger::Edge => value | bit,
            InterruptTrigger::Level => value & !bit,
        });
        Ok(())
    }

    /// `raw` as an array index, if it is an SGI, PPI or SPI.
    fn index(raw: u32) -> Result<usize, GicError> {
        if raw >= SPI_END {
            return Err(GicError::InvalidIntid(raw));
        }
        usize::try_from(raw).map_err(|_| GicError::InvalidIntid(raw))
    }
}

/// The calling core's GICv2 CPU interface and virtual interface control (the generated
/// `CpuInterface` of a GIC-400 board). Usable once [`PhysicalGic::from_board`] has recorded
/// the frames; before that every call does nothing and [`Gicv2CpuInterface::acknowledge`]
/// reads spurious.
#[derive(Clone, Copy, Debug, Default)]
pub struct Gicv2CpuInterface;

impl PhysicalCpuInterface for Gicv2CpuInterface {
    type ListRegisters = Gicv2ListRegisters;

    fn initialise(core: usize) {
        let Some(frames) = FRAMES.get() else { return };
        // The banked GICD_ITARGETSR0 reads this core's own bit in every byte.
        let own = frames.distributor.itargetsr.first().map_or(0, Readable::get);
        if let Some(slot) = CPU_TARGETS.get(core) {
            slot.store(own, Ordering::Relaxed);
        }
        frames.cpu_interface.pmr.set(0xff);
        frames.cpu_interface.bpr.set(0);
        frames.cpu_interface.ctlr.set(CPU_CONTROL);
        frames.hypervisor_interface.vmcr.set(0);
        frames.hypervisor_interface.hcr.set(HCR_EN);
    }

    fn acknowledge() -> u32 {
        FRAMES.get().map_or(SPURIOUS, |frames| frames.cpu_interface.iar.get())
    }

    fn interrupt_id(acknowledged: u32) -> u32 {
        acknowledged & IAR_INTERRUPT_ID
    }

    fn priority_drop(acknowledged: u32) {
        if let Some(frames) = FRAMES.get() {
            frames.cpu_interface.eoir.set(acknowledged);
        }
    }

    fn deactivate(acknowledged: u32) {
        if let Some(frames) = FRAMES.get() {
            frames.cpu_interface.dir.set(acknowledged);
        }
    }

    fn send_sgi(intid: u32, core: usize, _affinity: u64) {
        let Some(frames) = FRAMES.get() else { return };
        let target = cpu_target(core).unwrap_or(0);
        // TargetListFilter 0 (the list), CPUTargetList, SGIINTID.
        frames.distributor.sgir.set(u32::from(target) << 16 | (intid & 0xf));
    }

    fn reset_virtual_interface() {
        let Some(frames) = FRAMES.get() else { return };
        let mut list_registers = Gicv2ListRegisters::default();
        // BOUND: at most 64 list registers (GICH_VTR.ListRegs is 6 bits).
        for index in 0..list_registers.count() {
            list_registers.clear(index);
        }
        frames.hypervisor_interface.apr.set(0);
        frames.hypervisor_interface.vmcr.set(0);
    }
}

/// This core's GICv2 list registers (`GICH_LR<n>` and their status registers), the GICv2
/// backend of interrupt delivery in `bulkhead-core`. It holds only the banked frame's
/// address: each core reaches its own registers.
#[derive(Clone, Copy)]
pub struct Gicv2ListRegisters {
    /// The calling core's GICH frame (`None` before the GIC was taken over: no registers).
    registers: Option<&'static HypervisorInterfaceRegisters>,
}

impl Default for Gicv2ListRegisters {
    fn default() -> Self {
        Self { registers: FRAMES.get().map(|frames| frames.hypervisor_interface) }
    }
}

impl Gicv2ListRegisters {
    /// Drives the frame `registers` (a device, or memory laid out like one).
    pub const fn from_registers(registers: &'static HypervisorInterfaceRegisters) -> Self {
        Self { registers: Some(registers) }
    }

    /// A 64-bit status mask from its two 32-bit registers.
    fn status(registers: &[ReadOnly<u32>; 2]) -> u64 {
        let [low, high] = registers;
        u64::from(low.get()) | u64::from(high.get()) << 32
    }
}

impl ListRegisters for Gicv2ListRegisters {
    fn count(&self) -> usize {
        self.registers.map_or(0, |registers| {
            // ListRegs is 6 bits: the conversion cannot fail.
            usize::try_from(registers.vtr.get() & VTR_LIST_REGS).map_or(0, |list_regs| list_regs.saturating_add(1))
        })
    }

    fn empty(&self) -> u64 {
        self.registers.map_or(0, |registers| Self::status(&registers.elrsr))
    }

    fn end_of_interrupt_status(&self) -> u64 {
        self.registers.map_or(0, |registers| Self::status(&registers.eisr))
    }

    fn read(&self, index: usize) -> ListRegister {
        let bits = self.registers.and_then(|registers| registers.lr.get(index)).map_or(0, Readable::get);
        ListRegister::from_gicv2(bits)
    }

    fn write(&mut self, index: usize, entry: &ListRegister, sgi_source: u8) {
        let Some(register) = self.registers.and_then(|registers| registers.lr.get(index)) else { return };
        // A held SGI rewritten in place (delivery arms its EOI maintenance so) keeps the
        // source it was written with: the guest may have acknowledged it with that CPUID.
        let current = register.get();
        let held = ListRegister::from_gicv2(current);
        let source = if held.state != ListRegisterState::Invalid && held.virtual_intid == entry.virtual_intid {
            u8::try_from((current >> LR_CPUID_SHIFT) & LR_CPUID_MASK).unwrap_or(sgi_source)
        } else {
            sgi_source
        };
        // Every INTID and source the model produces fits the fields (INTIDs below 1020,
        // sources below 8); an entry that did not would be left out rather than mangled.
        let Ok(bits) = entry.to_gicv2(source) else { return };
        register.set(bits);
    }

    fn clear(&mut self, index: usize) {
        if let Some(register) = self.registers.and_then(|registers| registers.lr.get(index)) {
            register.set(0);
        }
    }

    fn set_refill_maintenance(&mut self, enabled: bool) {
        if let Some(registers) = self.registers {
            registers.hcr.set(if enabled { HCR_EN | HCR_NPIE } else { HCR_EN });
        }
    }

    fn deactivate_physical(&mut self, physical_intid: u32) {
        // GICC_DIR of this core's banked CPU interface (EOImode = 1: the priority was dropped
        // when the hypervisor acknowledged it).
        Gicv2CpuInterface::deactivate(physical_intid);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_memory::RegisterMemory;
    use bulkhead_core::vgic::{Backing, Group, ListRegisterState};

    fn list_registers() -> (&'static RegisterMemory<{ 0x200 / 4 }>, Gicv2ListRegisters) {
        let memory = RegisterMemory::leak();
        // SAFETY: (test) the memory is as large as the frame and lives forever.
        let registers = unsafe { memory.as_registers::<HypervisorInterfaceRegisters>() };
        (memory, Gicv2ListRegisters::from_registers(registers))
    }

    fn distributor() -> (&'static RegisterMemory<{ 0x1000 / 4 }>, PhysicalGic) {
        let memory = RegisterMemory::leak();
        // SAFETY: (test) the memory is as large as the frame and lives forever.
        let registers = unsafe { memory.as_registers::<DistributorRegisters>() };
        (memory, PhysicalGic::distributor_only(registers))
    }

    #[test]
    fn the_frames_have_the_architected_layout() {
        assert_eq!(core::mem::size_of::<HypervisorInterfaceRegisters>(), 0x200);
        assert_eq!(core::mem::offset_of!(HypervisorInterfaceRegisters, vtr), 0x004);
        assert_eq!(core::mem::offset_of!(HypervisorInterfaceRegisters, misr), 0x010);
        assert_eq!(core::mem::offset_of!(HypervisorInterfaceRegisters, eisr), 0x020);
        assert_eq!(core::mem::offset_of!(HypervisorInterfaceRegisters, elrsr), 0x030);
        assert_eq!(core::mem::offset_of!(HypervisorInterfaceRegisters, apr), 0x0f0);
        assert_eq!(core::mem::offset_of!(HypervisorInterfaceRegisters, lr), 0x100);
        assert_eq!(core::mem::offset_of!(CpuInterfaceRegisters, iar), 0x00c);
        assert_eq!(core::mem::offset_of!(CpuInterfaceRegisters, eoir), 0x010);
        assert_eq!(core::mem::offset_of!(CpuInterfaceRegisters, dir), 0x1000);
        assert_eq!(core::mem::offset_of!(DistributorRegisters, ipriorityr), 0x400);
        assert_eq!(core::mem::offset_of!(DistributorRegisters, itargetsr), 0x800);
        assert_eq!(core::mem::offset_of!(DistributorRegisters, icfgr), 0xc00);
        assert_eq!(core::mem::offset_of!(DistributorRegisters, sgir), 0xf00);
        assert_eq!(core::mem::size_of::<DistributorRegisters>(), 0x1000);
    }

    #[test]
    fn list_register_count_is_vtr_list_regs_plus_one() {
        let (memory, registers) = list_registers();
        // GIC-400: ListRegs = 3 (four registers), PREbits/PRIbits = 4 (five bits) above.
        memory.set(0x004, 0x9000_0003);
        assert_eq!(registers.count(), 4);
    }

    #[test]
    fn status_masks_join_both_words() {
        let (memory, registers) = list_registers();
        memory.set(0x030, 0x0000_000b);
        memory.set(0x034, 0x8000_0001);
        memory.set(0x020, 0x0000_0004);
        memory.set(0x024, 0x0000_0002);
        assert_eq!(registers.empty(), 0x8000_0001_0000_000b);
        assert_eq!(registers.end_of_interrupt_status(), 0x0000_0002_0000_0004);
    }

    #[test]
    fn a_software_sgi_entry_is_written_with_its_source_and_read_back() {
        let (memory, mut registers) = list_registers();
        let entry = ListRegister {
            virtual_intid: 2,
            priority: 0xa0,
            group: Group::Group0,
            state: ListRegisterState::Pending,
            backing: Backing::Software { maintenance_on_eoi: true },
        };
        registers.write(1, &entry, 3);
        // Pending (28), priority 0xa0 >> 3 = 0x14 at 23, EOI (19), CPUID 3 at 10, vINTID 2.
        assert_eq!(memory.get(0x104), 1 << 28 | 0x14 << 23 | 1 << 19 | 3 << 10 | 2);
        assert_eq!(registers.read(1), entry);
        registers.clear(1);
        assert_eq!(memory.get(0x104), 0);
    }

    #[test]
    fn rewriting_a_held_sgi_keeps_the_source_it_was_written_with() {
        let (memory, mut registers) = list_registers();
        let mut entry = ListRegister {
            virtual_intid: 4,
            priority: 0x80,
            group: Group::Group0,
            state: ListRegisterState::Pending,
            backing: Backing::Software { maintenance_on_eoi: false },
        };
        registers.write(0, &entry, 5);
        // The guest acknowledged it (Active); delivery then arms its EOI maintenance, naming
        // a later sender of the same SGI.
        memory.set(0x100, memory.get(0x100) & !(0b11 << 28) | 0b10 << 28);
        entry.state = ListRegisterState::Active;
        entry.backing = Backing::Software { maintenance_on_eoi: true };
        registers.write(0, &entry, 1);
        assert_eq!(memory.get(0x100) >> 10 & 0x7, 5, "CPUID still names the sender");
        assert_eq!(memory.get(0x100) & (1 << 19), 1 << 19, "EOI set");
        // A different interrupt written over it takes the source given.
        entry.virtual_intid = 6;
        registers.clear(0);
        registers.write(0, &entry, 2);
        assert_eq!(memory.get(0x100) >> 10 & 0x7, 2);
    }

    #[test]
    fn a_hardware_timer_entry_carries_the_physical_intid() {
        let (memory, mut registers) = list_registers();
        let entry = ListRegister {
            virtual_intid: 27,
            priority: 0,
            group: Group::Group0,
            state: ListRegisterState::Pending,
            backing: Backing::Hardware { physical_intid: 27 },
        };
        registers.write(0, &entry, 5);
        assert_eq!(memory.get(0x100), 1 << 31 | 1 << 28 | 27 << 10 | 27, "HW entries carry no source");
    }

    #[test]
    fn an_entry_without_a_gicv2_encoding_is_not_written() {
        let (memory, mut registers) = list_registers();
        memory.set(0x108, 0x1234);
        let entry = ListRegister {
            virtual_intid: 1020,
            priority: 0,
            group: Group::Group1,
            state: ListRegisterState::Pending,
            backing: Backing::Software { maintenance_on_eoi: false },
        };
        registers.write(2, &entry, 0);
        assert_eq!(memory.get(0x108), 0x1234);
    }

    #[test]
    fn refill_maintenance_sets_npie_and_keeps_the_interface_enabled() {
        let (memory, mut registers) = list_registers();
        registers.set_refill_maintenance(true);
        assert_eq!(memory.get(0x000), HCR_EN | HCR_NPIE);
        registers.set_refill_maintenance(false);
        assert_eq!(memory.get(0x000), HCR_EN);
    }

    #[test]
    fn registers_past_the_frame_are_ignored() {
        let (_memory, mut registers) = list_registers();
        assert_eq!(registers.read(64).state, ListRegisterState::Invalid);
        registers.clear(64);
    }

    #[test]
    fn enabling_an_spi_sets_its_priority_byte_level_trigger_target_and_enable_bit() {
        let (memory, mut gic) = distributor();
        CPU_TARGETS[2].store(0x04, Ordering::Relaxed);
        memory.set(0x400 + 32, 0x1111_1111);
        memory.set(0xc00 + 8, u32::MAX);
        gic.enable(33, 2, 0, InterruptTrigger::Level).unwrap();
        assert_eq!(memory.get(0x400 + 32), 0x1111_8011, "only INTID 33's priority byte changes");
        assert_eq!(memory.get(0x800 + 32), 0x0000_0400, "targeted at core 2's interface");
        assert_eq!(memory.get(0xc00 + 8), u32::MAX & !(1 << 3), "level: Int_config[1] of INTID 33 clear");
        assert_eq!(memory.get(0x100 + 4), 1 << 1);
    }

    #[test]
    fn disabling_writes_the_clear_enable_register() {
        let (memory, mut gic) = distributor();
        gic.set_enabled(27, 0, false).unwrap();
        assert_eq!(memory.get(0x180), 1 << 27);
    }

    #[test]
    fn out_of_range_requests_are_refused_without_touching_registers() {
        let (_memory, mut gic) = distributor();
        assert_eq!(gic.set_enabled(1020, 0, true), Err(GicError::InvalidIntid(1020)));
        assert_eq!(gic.route(31, 0, 0), Err(GicError::InvalidIntid(31)));
        assert_eq!(gic.route(40, 8, 0), Err(GicError::Driver), "a GICv2 has no ninth CPU interface");
    }

    #[test]
    fn a_core_not_yet_up_is_targeted_by_its_index() {
        let (memory, mut gic) = distributor();
        gic.route(40, 6, 0).unwrap();
        assert_eq!(memory.get(0x800 + 40), 1 << 6);
    }
}
