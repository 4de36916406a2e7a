//! A GIC driver sized for a guest: enable the distributor, wake this vCPU's redistributor,
//! open its CPU interface, and enable single interrupts with a priority. GICv3 or GICv2,
//! whichever the device tree describes: on a GIC-400 board Bulkhead gives its partitions a
//! GICv2 (`arm,cortex-a15-gic`), whose CPU interface is memory-mapped (GICC, the hardware's
//! GICV frame) instead of the `ICC_*` system registers, and whose distributor banks the SGI
//! and PPI registers per CPU and targets SPIs by CPU mask (`GICD_ITARGETSR<n>`).
//!
//! Why not the `arm-gic` crate: it does fit EL1, but its `setup()` sweeps the group, priority
//! and configuration of every SPI and writes Secure-view `GICD_CTLR` bits. A partition's
//! distributor is emulated by trapping each access, so a guest that writes only the handful of
//! registers below is both faster to boot and easier to check against the emulation.
//!
//! On a GICv3 all interrupts are made Non-secure Group 1, which the CPU interface signals as
//! IRQ at EL1. On a GICv2 they stay in the group they reset to (Group 0 on a GICv2 without
//! Security Extensions, as a virtual one is), both groups are enabled and `FIQEn` stays 0, so
//! either is signalled as IRQ (IHI 0048B 4.4.1). SPIs are routed to the vCPU that enables
//! them.

mod cpu_interface;
mod registers;

use core::hint::spin_loop;

use spin::{Mutex, Once};
use tock_registers::interfaces::{ReadWriteable, Readable, Writeable};

use core::sync::atomic::{AtomicU32, Ordering};

use registers::{
    CpuInterfaceV2Registers, DistributorRegisters, DistributorV2Registers, GICD_CTLR,
    GICD_IROUTER, GICR_CTLR, GICR_TYPER, GICR_WAKER, RedistributorRegisters,
};

use crate::device_tree::GicDescription;
use crate::{MAX_VCPUS, cpu, irq};

/// Why a GIC operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GicError {
    /// No redistributor in the region serves this vCPU's affinity.
    RedistributorNotFound {
        /// `MPIDR_EL1` affinity of the vCPU.
        affinity: u64,
    },
    /// `ICC_SRE_EL1.SRE` stays 0: the system register CPU interface is not available.
    SystemRegisterInterfaceDisabled,
    /// Not an SGI, PPI or SPI INTID (0-1019).
    InvalidIntid(u32),
}

/// Lowest INTID of the shared peripheral interrupts; below are SGIs (0-15) and PPIs (16-31).
const FIRST_SPI: u32 = 32;
/// One past the last SPI.
const SPI_LIMIT: u32 = 1020;

/// The guest's GIC (the name is kept from when it was GICv3 only; [`Gic`] is the same).
pub struct GicV3 {
    distributor: &'static DistributorRegisters,
    /// GICv2 only: the distributor in its GICv2 layout (the same frame as `distributor`) and
    /// the memory-mapped CPU interface.
    version_2: Option<(&'static DistributorV2Registers, &'static CpuInterfaceV2Registers)>,
    redistributors: usize,
    redistributors_size: usize,
    redistributor_stride: usize,
    /// Serializes read-modify-writes of distributor words, which all vCPUs share. (A
    /// redistributor is touched only by the vCPU it serves.)
    distributor_update: Mutex<()>,
}

// SAFETY: the register blocks are `!Sync` only because they are `UnsafeCell`s over device
// registers. Every access is one volatile load or store, which the GIC serializes, and the
// read-modify-write sequences on shared distributor words hold `distributor_update`.
unsafe impl Sync for GicV3 {}
// SAFETY: the struct holds only addresses of device registers, valid on every vCPU.
unsafe impl Send for GicV3 {}

/// The guest's GIC, GICv3 or GICv2.
pub type Gic = GicV3;

static GIC: Once<GicV3> = Once::new();

/// `GICD_CTLR` of a GICv2 without Security Extensions: `EnableGrp0` | `EnableGrp1`
/// (IHI 0048B 4.3.1).
const GICV2_DISTRIBUTOR_ENABLE: u32 = 0b11;
/// `GICC_CTLR` of that GICv2: `EnableGrp0` | `EnableGrp1` | `AckCtl`; `FIQEn` and `EOImode`
/// 0 (both groups are signalled as IRQ, and a `GICC_EOIR` write both drops the priority and
/// deactivates; IHI 0048B 4.4.1). `AckCtl` makes `GICC_IAR` acknowledge a Group 1 interrupt
/// too: without it, an interrupt moved to Group 1 (`GICD_IGROUPR<n>`) is signalled but reads
/// as 1022 from `GICC_IAR`, so the IRQ is taken again and again and never acknowledged.
const GICV2_CPU_INTERFACE_ENABLE: u32 = 0b111;
/// `GICC_IAR.InterruptID` (bits [9:0]); bits [12:10] are an SGI's source `CPUID`.
const GICV2_INTERRUPT_ID: u32 = 0x3ff;
/// INTIDs 1020-1023 are special: nothing (more) to acknowledge.
const FIRST_SPECIAL_INTID: u32 = 1020;

/// Per vCPU, the last `GICC_IAR` value of an SGI it acknowledged on a GICv2: its
/// `GICC_EOIR` write must name the same source `CPUID` (IHI 0048B 4.4.5), which
/// [`end_of_interrupt`]'s INTID alone does not carry. Handlers do not nest (IRQs stay masked
/// in them), so one slot per vCPU holds the one SGI in progress.
static SGI_ACKNOWLEDGED: [AtomicU32; MAX_VCPUS] = [const { AtomicU32::new(0) }; MAX_VCPUS];

/// Acknowledges the highest-priority pending interrupt: its INTID, or `None` when there is
/// none (a spurious INTID).
pub fn acknowledge() -> Option<u32> {
    let Some((_, cpu_interface)) = GIC.get().and_then(|gic| gic.version_2) else {
        return cpu_interface::acknowledge();
    };
    let acknowledged = cpu_interface.iar.get();
    let intid = acknowledged & GICV2_INTERRUPT_ID;
    if intid < 16 {
        if let Some(slot) = SGI_ACKNOWLEDGED.get(cpu::current_index()) {
            slot.store(acknowledged, Ordering::Relaxed);
        }
    }
    (intid < FIRST_SPECIAL_INTID).then_some(intid)
}

/// Ends the interrupt `intid` returned by [`acknowledge`]: drops the running priority and
/// deactivates it.
pub fn end_of_interrupt(intid: u32) {
    let Some((_, cpu_interface)) = GIC.get().and_then(|gic| gic.version_2) else {
        return cpu_interface::end_of_interrupt(intid);
    };
    let mut value = intid;
    if intid < 16 {
        let acknowledged = SGI_ACKNOWLEDGED
            .get(cpu::current_index())
            .map_or(intid, |slot| slot.load(Ordering::Relaxed));
        if acknowledged & GICV2_INTERRUPT_ID == intid {
            value = acknowledged;
        }
    }
    cpu_interface.eoir.set(value);
}

/// Creates the guest's GIC from the device tree description (boot vCPU only).
pub(crate) fn init(description: GicDescription) -> &'static GicV3 {
    // SAFETY: the description comes from the device tree, which names the GICv3 frames of
    // this guest; the identity map makes them accessible as Device memory at those addresses.
    GIC.call_once(|| unsafe { GicV3::new(description) })
}

/// The guest's GIC, once the runtime has set it up (before `main` runs).
pub fn get() -> Option<&'static GicV3> {
    GIC.get()
}

impl GicV3 {
    /// A driver for the GIC described by `description`.
    ///
    /// # Safety
    ///
    /// The description must name a GICv3 distributor frame and redistributor region, or a
    /// GICv2 distributor and CPU interface, that are mapped at those addresses for the rest of
    /// the program.
    pub unsafe fn new(description: GicDescription) -> Self {
        // SAFETY: the caller guarantees a mapped distributor frame at this address; register
        // blocks are only accessed through volatile operations.
        let distributor = unsafe { &*(description.distributor as *const DistributorRegisters) };
        let version_2 = description.cpu_interface.map(|cpu_interface_base| {
            // SAFETY: as above: the same distributor frame, seen with the GICv2 layout.
            let distributor_v2 =
                unsafe { &*(description.distributor as *const DistributorV2Registers) };
            // SAFETY: the caller guarantees a mapped CPU interface frame at this address.
            let cpu_interface_v2 =
                unsafe { &*(cpu_interface_base as *const CpuInterfaceV2Registers) };
            (distributor_v2, cpu_interface_v2)
        });
        Self {
            distributor,
            version_2,
            redistributors: description.redistributors,
            redistributors_size: description.redistributors_size,
            redistributor_stride: description.redistributor_stride,
            distributor_update: Mutex::new(()),
        }
    }

    /// Turns on affinity routing and Group 1 forwarding (GICv3), or both groups (GICv2)
    /// (boot vCPU, once).
    pub fn enable_distributor(&self) {
        if let Some((distributor, _)) = self.version_2 {
            distributor.ctlr.set(GICV2_DISTRIBUTOR_ENABLE);
            return;
        }
        // Affinity routing is switched on before the group is enabled: changing ARE while a
        // group is enabled is UNPREDICTABLE (GICv3 spec, GICD_CTLR).
        self.distributor.ctlr.write(GICD_CTLR::ARE::SET);
        self.wait_for_distributor_write();
        self.distributor
            .ctlr
            .write(GICD_CTLR::ARE::SET + GICD_CTLR::EnableGrp1::SET);
        self.wait_for_distributor_write();
    }

    /// Wakes this vCPU's redistributor and opens its CPU interface (every vCPU, once). On a
    /// GICv2 there is no redistributor: the CPU interface is opened through GICC.
    pub fn init_this_cpu(&self) -> Result<(), GicError> {
        if let Some((_, cpu_interface)) = self.version_2 {
            cpu_interface.pmr.set(0xff);
            cpu_interface.bpr.set(0);
            cpu_interface.ctlr.set(GICV2_CPU_INTERFACE_ENABLE);
            return Ok(());
        }
        let redistributor = self.this_redistributor()?;
        // A redistributor starts asleep and forwards nothing until the PE says it is awake
        // (GICv3 spec, GICR_WAKER); ChildrenAsleep clears once the interface is up.
        redistributor
            .waker
            .modify(GICR_WAKER::ProcessorSleep::CLEAR);
        while redistributor.waker.is_set(GICR_WAKER::ChildrenAsleep) {
            spin_loop();
        }
        cpu_interface::init()
    }

    /// Enables `intid` as a Group 1 interrupt of `priority` (lower is more urgent) for this
    /// vCPU: an SGI or PPI in its redistributor, an SPI in the distributor, routed here. (On
    /// a GICv2: in its reset group, the SGI/PPI registers banked for this vCPU, an SPI
    /// targeted at this vCPU's CPU interface.)
    pub fn enable_interrupt(&self, intid: u32, priority: u8) -> Result<(), GicError> {
        if let Some((distributor, _)) = self.version_2 {
            return self.enable_interrupt_v2(distributor, intid, priority);
        }
        let bit = 1 << (intid % 32);
        let word = (intid / 32) as usize;
        let priority_word = (intid / 4) as usize;
        let priority_shift = (intid % 4) * 8;
        let with_priority =
            |old: u32| (old & !(0xff << priority_shift)) | (u32::from(priority) << priority_shift);
        if intid < FIRST_SPI {
            let redistributor = self.this_redistributor()?;
            redistributor
                .igroupr0
                .set(redistributor.igroupr0.get() | bit);
            let priorities = &redistributor.ipriorityr[priority_word];
            priorities.set(with_priority(priorities.get()));
            redistributor.isenabler0.set(bit);
        } else if intid < SPI_LIMIT {
            // IRQs are masked so that a handler on this vCPU cannot wait for the lock it holds.
            let _masked = irq::mask();
            let _update = self.distributor_update.lock();
            let distributor = self.distributor;
            distributor.igroupr[word].set(distributor.igroupr[word].get() | bit);
            let priorities = &distributor.ipriorityr[priority_word];
            priorities.set(with_priority(priorities.get()));
            let affinity = cpu::current_affinity();
            distributor.irouter[(intid - FIRST_SPI) as usize].write(
                GICD_IROUTER::Interrupt_Routing_Mode::CLEAR
                    + GICD_IROUTER::Aff3.val(affinity >> 32)
                    + GICD_IROUTER::Aff2.val(affinity >> 16)
                    + GICD_IROUTER::Aff1.val(affinity >> 8)
                    + GICD_IROUTER::Aff0.val(affinity),
            );
            distributor.isenabler[word].set(bit);
        } else {
            return Err(GicError::InvalidIntid(intid));
        }
        Ok(())
    }

    /// Disables `intid` (for an SGI or PPI: on this vCPU). Returns once the GIC no longer
    /// signals it.
    pub fn disable_interrupt(&self, intid: u32) -> Result<(), GicError> {
        let bit = 1 << (intid % 32);
        if let Some((distributor, _)) = self.version_2 {
            // A GICv2 has no RWP: the write takes effect before the next access completes.
            if intid >= SPI_LIMIT {
                return Err(GicError::InvalidIntid(intid));
            }
            distributor.icenabler[(intid / 32) as usize].set(bit);
            return Ok(());
        }
        if intid < FIRST_SPI {
            let redistributor = self.this_redistributor()?;
            redistributor.icenabler0.set(bit);
            while redistributor.ctlr.is_set(GICR_CTLR::RWP) {
                spin_loop();
            }
        } else if intid < SPI_LIMIT {
            self.distributor.icenabler[(intid / 32) as usize].set(bit);
            self.wait_for_distributor_write();
        } else {
            return Err(GicError::InvalidIntid(intid));
        }
        Ok(())
    }

    /// Sends SGI `intid` (0-15) to vCPU `target` of this partition: through
    /// `ICC_SGI1R_EL1` on a GICv3 (Aff0 = `target` in the target list; the partition's vCPUs
    /// are `0.0.0.n`), through `GICD_SGIR` (`CPUTargetList` bit `target`) on a GICv2.
    pub fn send_sgi(&self, intid: u32, target: usize) -> Result<(), GicError> {
        if intid >= 16 || target >= MAX_VCPUS {
            return Err(GicError::InvalidIntid(intid));
        }
        if let Some((distributor, _)) = self.version_2 {
            distributor.sgir.set((1 << target) << 16 | intid);
            return Ok(());
        }
        cpu_interface::send_sgi(intid, target);
        Ok(())
    }

    /// [`GicV3::enable_interrupt`] on a GICv2: priority byte, for an SPI this vCPU's
    /// `GICD_ITARGETSR<n>` byte (its own bit, which the banked `GICD_ITARGETSR0` reads), then
    /// the enable bit.
    fn enable_interrupt_v2(
        &self,
        distributor: &'static DistributorV2Registers,
        intid: u32,
        priority: u8,
    ) -> Result<(), GicError> {
        if intid >= SPI_LIMIT {
            return Err(GicError::InvalidIntid(intid));
        }
        let word = (intid / 4) as usize;
        let shift = (intid % 4) * 8;
        // IRQs are masked so that a handler on this vCPU cannot wait for the lock it holds.
        let _masked = irq::mask();
        let _update = self.distributor_update.lock();
        let priorities = &distributor.ipriorityr[word];
        priorities.set((priorities.get() & !(0xff << shift)) | (u32::from(priority) << shift));
        if intid >= FIRST_SPI {
            let own = distributor.itargetsr[0].get() & 0xff;
            let targets = &distributor.itargetsr[word];
            targets.set((targets.get() & !(0xff << shift)) | (own << shift));
        }
        distributor.isenabler[(intid / 32) as usize].set(1 << (intid % 32));
        Ok(())
    }

    fn wait_for_distributor_write(&self) {
        while self.distributor.ctlr.is_set(GICD_CTLR::RWP) {
            spin_loop();
        }
    }

    /// The redistributor whose `GICR_TYPER.Affinity` names this vCPU. Redistributors are
    /// found by walking the region rather than computed from the vCPU index, because only
    /// `GICR_TYPER` ties a frame to a PE (GICv3 spec, GICR_TYPER).
    fn this_redistributor(&self) -> Result<&'static RedistributorRegisters, GicError> {
        let affinity = cpu::current_affinity();
        // GICR_TYPER packs Aff3 into bits [31:24] where MPIDR_EL1 has it in [39:32].
        let typer_affinity = ((affinity >> 8) & 0xff00_0000) | (affinity & 0xff_ffff);
        let stride = self.redistributor_stride.max(1);
        for offset in (0..self.redistributors_size).step_by(stride) {
            // SAFETY: the frame lies inside the redistributor region the device tree names,
            // mapped for the whole program; it is only accessed through volatile operations.
            let redistributor =
                unsafe { &*((self.redistributors + offset) as *const RedistributorRegisters) };
            if redistributor.typer.read(GICR_TYPER::Affinity) == typer_affinity {
                return Ok(redistributor);
            }
            if redistributor.typer.is_set(GICR_TYPER::Last) {
                break;
            }
        }
        Err(GicError::RedistributorNotFound { affinity })
    }
}
