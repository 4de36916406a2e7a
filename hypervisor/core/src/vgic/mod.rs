//! Emulated GICv3 distributor and redistributors, or GICv2 distributor, for one partition.
//!
//! A partition sees the GIC architecture of the board it runs on ([`GicArchitecture`]),
//! because its CPU interface is the hardware's virtual one: on a GICv3 board a GICv3, on a
//! GIC-400 board a GICv2 (IHI 0048B; [`distributor_v2`] says what differs). One model serves
//! both: the interrupt state, delivery and list-register logic are shared.
//!
//! On a GICv3 board a partition sees a GICv3 (IHI 0069) with affinity routing always on, a single Security
//! state (`GICD_CTLR.DS` = 1) and no LPIs. Its CPU interface is the real hardware virtual CPU
//! interface (`ICV_*` registers reached through `ICC_*`), so only the memory-mapped frames
//! are emulated here: the distributor at [`layout::VGICD_BASE`] and one RD_base + SGI_base
//! pair per vCPU at [`layout::VGICR_BASE`]. Stage 2 leaves both unmapped, and the image's
//! data-abort handler passes each access to [`VirtualGic::distributor_read`] and friends.
//!
//! Because each vCPU is pinned to its own physical core, the image owns that core's list
//! registers outright. It asks [`VirtualGic::next_pending`] what to put in them, reports
//! what it did with [`VirtualGic::mark_delivered`] and [`VirtualGic::end_of_interrupt`], and
//! raises interrupts with the `set_*` methods. Between `mark_delivered` and
//! `end_of_interrupt` the model counts the interrupt as active, whether or not the guest has
//! acknowledged it yet: the list register holds the finer truth.
//!
//! Choices this model makes where the architecture leaves room, all visible to the guest:
//! - `GICD_IIDR`/`GICR_IIDR` read [`IMPLEMENTATION_ID`]: implementer code 0 (no JEP106
//!   identity code is 0, so no driver quirk table can match it), ProductID `'B'`.
//! - `GICD_TYPER.No1N` = 1: 1-of-N SPI routing is not offered, so `GICD_IROUTER<n>.IRM` is
//!   RES0 and every SPI goes to the vCPU its affinity names. An affinity naming no vCPU of
//!   the partition delivers the interrupt nowhere until it is re-routed.
//! - All interrupts reset to Group 1; groups stay writable, and Group 0 interrupts reach the
//!   guest as vFIQs if it asks for them.
//! - Priorities keep all 8 bits; the hardware ignores the low bits it does not implement.
//! - `GICR_WAKER.ProcessorSleep` only drives `ChildrenAsleep`; delivery does not depend on
//!   it, since the virtual CPU interface is never powered down.
//! - PPIs and SPIs reset level-sensitive; `GICR_ICFGR1` and the SPI `GICD_ICFGR<n>` are
//!   writable, `GICR_ICFGR0` (SGIs, always edge) is read-only.
//!
//! Invariants: no allocation, no panics on any input (guest or image), and every access the
//! guest can make yields either a value or a [`VgicError`] the image turns into an abort.

mod bank;
pub mod delivery;
mod distributor;
mod distributor_v2;
mod effects;
mod list_register;
mod mmio;
mod redistributor;
mod sgi;

pub use effects::{Effect, Effects, WriteOutcome};
pub use list_register::{Backing, Gicv2EncodingError, ListRegister, ListRegisterState};
pub use crate::mmio::{AccessWidth, Disposition, ReadOutcome};
pub use sgi::{SgiRegister, SgiRequest, SgiRouting};

use crate::layout;
use bank::{BANK_SIZE, GroupEnables, InterruptBank, take_lowest};

/// Most vCPUs one virtual GIC serves.
pub const MAX_VCPUS: usize = layout::MAX_VCPUS_PER_PARTITION;
/// SGIs are INTIDs 0–15.
pub const SGI_COUNT: u32 = 16;
/// SGIs and PPIs: INTIDs 0–31, banked per vCPU.
pub const PRIVATE_INTERRUPT_COUNT: u32 = 32;
/// First SPI.
pub const FIRST_SPI: u32 = 32;
/// `GICD_IIDR` and `GICR_IIDR`: ProductID `'B'` (0x42), Variant 0, Revision 0,
/// Implementer 0.
pub const IMPLEMENTATION_ID: u32 = 0x4200_0000;
/// `GICD_PIDR2` and `GICR_PIDR2`: ArchRev (bits 7:4) = 3, GICv3. The JEP106 fields stay 0
/// like the implementer code.
pub const PERIPHERAL_ID2: u32 = 0x30;
/// Size of the distributor frame.
pub const DISTRIBUTOR_FRAME_SIZE: u64 = 0x1_0000;
/// Size of one vCPU's redistributor (RD_base and SGI_base frames).
pub const REDISTRIBUTOR_STRIDE: u64 = layout::VGICR_STRIDE;

/// `GICD_PIDR2` of the GICv2 distributor: ArchRev = 2 (IHI 0048B 4.3.14 and Table 4-39).
pub const PERIPHERAL_ID2_V2: u32 = 0x20;
/// Size of the GICv2 distributor's register map (IHI 0048B Table 4-1); the guest's window is
/// [`DISTRIBUTOR_FRAME_SIZE`], and the rest of it is reserved (RAZ/WI).
pub const DISTRIBUTOR_V2_REGISTER_MAP_SIZE: u64 = 0x1000;

/// The GIC architecture a partition's virtual GIC presents.
///
/// It is the board's: the guest's CPU interface is the hardware's virtual CPU interface
/// (`ICV_*` system registers on GICv3, the GICV frame mapped at the guest's GICC address on
/// GICv2), so the emulated frames must be of the same architecture.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum GicArchitecture {
    /// GICv3: distributor plus one redistributor per vCPU, affinity routing, SGIs through
    /// `ICC_SGI*R_EL1`.
    #[default]
    V3,
    /// GICv2 (GIC-400): a distributor alone, SPIs targeted by `GICD_ITARGETSR<n>` CPU masks,
    /// SGIs through `GICD_SGIR`, SGI/PPI state banked per vCPU in the distributor.
    V2,
}

/// Why an access or a call was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum VgicError {
    /// The register at `offset` does not support accesses of `width` (IHI 0069 12.1.3).
    UnsupportedWidth {
        /// Offset inside the frame or window.
        offset: u64,
        /// The refused width.
        width: AccessWidth,
    },
    /// `offset` is not a multiple of the access size.
    Misaligned {
        /// Offset inside the frame or window.
        offset: u64,
        /// The access width.
        width: AccessWidth,
    },
    /// `offset` lies outside the distributor frame or past the partition's last
    /// redistributor.
    OutsideWindow {
        /// The offending offset.
        offset: u64,
    },
    /// The partition has no vCPU with this index.
    NoSuchVcpu {
        /// The index asked for.
        vcpu: usize,
    },
    /// The INTID is not implemented, or not of the class the call handles.
    NoSuchInterrupt {
        /// The INTID asked for.
        intid: u32,
    },
    /// A line level was driven for a hardware-backed interrupt; the physical GIC tracks its
    /// line, so the image raises it with a `set_*_pending` call instead.
    HardwareBacked {
        /// The INTID asked for.
        intid: u32,
    },
    /// A partition needs between 1 and [`MAX_VCPUS`] vCPUs.
    InvalidVcpuCount {
        /// The count asked for.
        count: usize,
    },
}

/// Interrupt group (`IGROUPR` bit, `ICH_LR<n>_EL2.Group`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Group {
    /// Group 0: signalled to the guest as a vFIQ.
    Group0,
    /// Group 1: signalled to the guest as a vIRQ.
    Group1,
}

/// A set of vCPU indices of one partition.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct VcpuSet(u32);

impl VcpuSet {
    /// No vCPU.
    pub const EMPTY: Self = Self(0);

    /// Only `vcpu` (empty if `vcpu` is 32 or more, which no partition has).
    pub const fn single(vcpu: usize) -> Self {
        Self::EMPTY.with(vcpu)
    }

    /// The set with `vcpu` added (unchanged if `vcpu` is 32 or more).
    pub const fn with(self, vcpu: usize) -> Self {
        if vcpu < 32 { Self(self.0 | 1 << vcpu) } else { self }
    }

    /// The union of two sets.
    pub const fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    /// Whether `vcpu` is in the set.
    pub const fn contains(self, vcpu: usize) -> bool {
        vcpu < 32 && self.0 & (1 << vcpu) != 0
    }

    /// Whether the set is empty.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The set whose members are the bits set in `bits`, bit `n` for vCPU `n`.
    pub const fn from_bits(bits: u32) -> Self {
        Self(bits)
    }

    /// One bit per vCPU, bit `n` for vCPU `n`.
    pub const fn bits(self) -> u32 {
        self.0
    }

    /// Removes and returns the lowest vCPU index.
    pub fn pop_first(&mut self) -> Option<usize> {
        take_lowest(&mut self.0).and_then(|vcpu| usize::try_from(vcpu).ok())
    }

    /// The members in ascending order.
    pub fn iter(self) -> impl Iterator<Item = usize> {
        let mut rest = self;
        core::iter::from_fn(move || rest.pop_first())
    }
}

/// The interrupt [`VirtualGic::next_pending`] chose for a vCPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PendingInterrupt {
    /// Its INTID.
    pub intid: u32,
    /// Its priority (lower is more urgent).
    pub priority: u8,
    /// Its group.
    pub group: Group,
    /// The physical INTID behind it, for a hardware-backed interrupt (its deactivation by
    /// the guest deactivates that one too).
    pub physical_intid: Option<u16>,
    /// Level-sensitive: its line is sampled again when the guest deactivates it, so the
    /// deactivation must be reported (EOI maintenance).
    pub level_sensitive: bool,
    /// For an SGI, the vCPU that sent it last (a GICv2 guest reads it from `GICC_IAR.CPUID`);
    /// 0 for every other interrupt.
    pub sgi_source: u8,
}

impl PendingInterrupt {
    /// The list-register entry that delivers it. Hardware-backed interrupts use `HW` = 1 with
    /// the physical INTID stored by [`VirtualGic::set_hardware_backed`] (forwarded SPIs are
    /// renumbered for the guest, so it differs from the virtual one), so the guest's EOI
    /// deactivates the physical interrupt. Level-sensitive software interrupts request an EOI
    /// maintenance interrupt (their line is sampled again then); an edge-triggered one does
    /// not: its register reads empty once the guest is done and the next sync retires it,
    /// unless delivery arms the request because something waits for that deactivation
    /// ([`delivery::synchronise`]). This saves the maintenance exit of every IPI and doorbell.
    // [impl->dsn~vgic-list-registers~1]
    pub const fn list_register(&self) -> ListRegister {
        ListRegister {
            virtual_intid: self.intid,
            priority: self.priority,
            group: self.group,
            state: ListRegisterState::Pending,
            backing: match self.physical_intid {
                Some(physical_intid) => Backing::Hardware { physical_intid },
                None => Backing::Software { maintenance_on_eoi: self.level_sensitive },
            },
        }
    }
}

/// Where one bank of interrupt state lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BankLocation {
    /// INTIDs 0–31 of a vCPU.
    Private(usize),
    /// SPI bank `n`: INTIDs `32 * (n + 1) ..`.
    Shared(usize),
}

/// The emulated distributor and redistributors of one partition.
///
/// `SPI_BLOCKS` is the number of 32-SPI blocks implemented: INTIDs 32 to
/// `32 * (SPI_BLOCKS + 1) - 1`, which is also the `GICD_TYPER.ITLinesNumber` the guest reads.
/// The default, 2, covers SPIs 32–95.
// [impl->dsn~vgic-frames~1]
#[derive(Clone, Debug)]
pub struct VirtualGic<const SPI_BLOCKS: usize = 2> {
    /// The architecture the guest sees.
    architecture: GicArchitecture,
    /// vCPUs in the partition, 1 to [`MAX_VCPUS`]; the banks and frames past it are unused.
    vcpu_count: usize,
    /// `GICD_CTLR.EnableGrp0` and `EnableGrp1`.
    group_enables: GroupEnables,
    /// `GICR_WAKER.ProcessorSleep`, one bit per vCPU.
    processor_sleep: u32,
    /// Each vCPU's SGIs and PPIs (INTIDs 0–31), held by its redistributor.
    private: [InterruptBank; MAX_VCPUS],
    /// The SPIs, 32 per bank: bank `n` holds INTIDs `32 * (n + 1) ..`.
    shared: [InterruptBank; SPI_BLOCKS],
    /// Per SPI: on GICv3 the `GICD_IROUTER<n>` affinity packed as `Aff3:Aff2:Aff1:Aff0`,
    /// one byte each; on GICv2 the `GICD_ITARGETSR<n>` CPU target mask (one bit per vCPU).
    routes: [[u32; BANK_SIZE as usize]; SPI_BLOCKS],
    /// Per vCPU and SGI, the vCPU that last sent it ([`PendingInterrupt::sgi_source`]).
    sgi_sources: [[u8; SGI_COUNT as usize]; MAX_VCPUS],
}

/// SGIs are always edge-triggered (IHI 0069 12.11.7: `GICR_ICFGR0` is read-only).
const SGI_EDGE_MASK: u32 = 0xffff;

impl<const SPI_BLOCKS: usize> VirtualGic<SPI_BLOCKS> {
    /// Number of SPIs implemented.
    pub const SPI_COUNT: u32 = {
        // INTIDs above 1019 are special (IHI 0069 2.2.1): ITLinesNumber stops at 30.
        assert!(SPI_BLOCKS <= 30, "at most 30 blocks of 32 SPIs fit below INTID 1020");
        BANK_SIZE * SPI_BLOCKS as u32
    };

    /// One past the last implemented INTID.
    const INTID_LIMIT: u32 = FIRST_SPI + Self::SPI_COUNT;

    /// A virtual GICv3 in its reset state for a partition of `vcpu_count` vCPUs.
    pub fn new(vcpu_count: usize) -> Result<Self, VgicError> {
        Self::with_architecture(vcpu_count, GicArchitecture::V3)
    }

    /// A virtual GIC of `architecture` in its reset state for a partition of `vcpu_count`
    /// vCPUs. A GICv2 names its CPUs with 3-bit `CPUID`s, which [`MAX_VCPUS`] (8) fits.
    pub fn with_architecture(vcpu_count: usize, architecture: GicArchitecture) -> Result<Self, VgicError> {
        if vcpu_count == 0 || vcpu_count > MAX_VCPUS {
            return Err(VgicError::InvalidVcpuCount { count: vcpu_count });
        }
        // Naming the constant makes the compiler evaluate it, and with it the assertion on
        // SPI_BLOCKS, for every SPI_BLOCKS a VirtualGic is built with.
        let _: u32 = Self::SPI_COUNT;
        let group = Self::reset_group(architecture);
        Ok(Self {
            architecture,
            vcpu_count,
            group_enables: GroupEnables::default(),
            processor_sleep: u32::MAX,
            private: [InterruptBank::new(SGI_EDGE_MASK, group); MAX_VCPUS],
            shared: [InterruptBank::new(0, group); SPI_BLOCKS],
            routes: [[0; BANK_SIZE as usize]; SPI_BLOCKS],
            sgi_sources: [[0; SGI_COUNT as usize]; MAX_VCPUS],
        })
    }

    /// The `IGROUPR` bits every bank resets to: all Group 1 on GICv3 (see
    /// [`InterruptBank::new`]); all Group 0 on GICv2, its architectural reset value
    /// (IHI 0048B 4.3.4: `GICD_IGROUPR<n>` resets to zero), which a GICv2 guest that never
    /// touches the groups relies on. `GICV_CTLR.FIQEn` = 0 signals Group 0 as a vIRQ
    /// (IHI 0048B 5.3.1), so such a guest takes them as IRQs; KVM's GICv2 model does the same.
    const fn reset_group(architecture: GicArchitecture) -> u32 {
        match architecture {
            GicArchitecture::V3 => u32::MAX,
            GicArchitecture::V2 => 0,
        }
    }

    /// Puts the model back into the state [`VirtualGic::with_architecture`] builds, in place
    /// (no second copy of the model is made: the restart path runs on an EL2 stack). Hardware
    /// backing is cleared too; the caller declares it again.
    pub fn reset(&mut self) {
        let group = Self::reset_group(self.architecture);
        self.group_enables = GroupEnables::default();
        self.processor_sleep = u32::MAX;
        for bank in &mut self.private {
            *bank = InterruptBank::new(SGI_EDGE_MASK, group);
        }
        for bank in &mut self.shared {
            *bank = InterruptBank::new(0, group);
        }
        for bank in &mut self.routes {
            *bank = [0; BANK_SIZE as usize];
        }
        self.sgi_sources = [[0; SGI_COUNT as usize]; MAX_VCPUS];
    }

    /// The architecture the guest sees.
    pub const fn architecture(&self) -> GicArchitecture {
        self.architecture
    }

    /// Makes SPI `intid` edge-triggered at reset, as the partition's device tree describes it
    /// (a channel doorbell: each ring is one event). The reset value of an SPI's `GICD_ICFGR`
    /// field is IMPLEMENTATION DEFINED (IHI 0069); the guest may still change it. An
    /// edge-triggered interrupt's end costs no maintenance interrupt. Like hardware backing,
    /// it is declared again after [`VirtualGic::reset`].
    pub fn configure_edge(&mut self, intid: u32) -> Result<(), VgicError> {
        if intid < PRIVATE_INTERRUPT_COUNT {
            return Err(VgicError::NoSuchInterrupt { intid });
        }
        let bank = self.shared_bank_mut(intid).ok_or(VgicError::NoSuchInterrupt { intid })?;
        bank.edge |= 1 << (intid % BANK_SIZE);
        Ok(())
    }

    /// Number of vCPUs in the partition.
    pub const fn vcpu_count(&self) -> usize {
        self.vcpu_count
    }

    /// Size of the redistributor window the guest's device tree describes.
    pub const fn redistributor_window_size(&self) -> u64 {
        // At most MAX_VCPUS strides: far from saturating.
        (self.vcpu_count as u64).saturating_mul(REDISTRIBUTOR_STRIDE)
    }

    /// Whether `intid` is an SGI, PPI or implemented SPI.
    pub const fn is_implemented(intid: u32) -> bool {
        intid < Self::INTID_LIMIT
    }

    /// Declares `intid` backed by physical interrupt `physical_intid`: a PPI (on every vCPU,
    /// each backed by its own core's PPI) or an SPI passed through to the partition (the
    /// configuration compiler renumbers those, so the two INTIDs differ). The physical INTID
    /// is stored here, once: guest writes touching the interrupt then yield [`Effect`]s whose
    /// physical twin [`VirtualGic::physical_intid`] names without a search, and
    /// [`PendingInterrupt::list_register`] uses a `HW` entry with it.
    pub fn set_hardware_backed(&mut self, intid: u32, physical_intid: u32) -> Result<(), VgicError> {
        if intid < SGI_COUNT || !Self::is_implemented(intid) {
            return Err(VgicError::NoSuchInterrupt { intid });
        }
        // A physical SGI cannot back anything, and INTIDs from 1020 up are special.
        let physical = u16::try_from(physical_intid)
            .ok()
            .filter(|&physical| (SGI_COUNT..1020).contains(&u32::from(physical)))
            .ok_or(VgicError::NoSuchInterrupt { intid: physical_intid })?;
        let index = intid % BANK_SIZE;
        let bit = 1 << index;
        if intid < PRIVATE_INTERRUPT_COUNT {
            for bank in &mut self.private {
                bank.hardware |= bit;
                if let Some(slot) = bank.physical.get_mut(index as usize) {
                    *slot = physical;
                }
            }
        } else if let Some(bank) = self.shared_bank_mut(intid) {
            bank.hardware |= bit;
            if let Some(slot) = bank.physical.get_mut(index as usize) {
                *slot = physical;
            }
        }
        Ok(())
    }

    /// The physical INTID behind hardware-backed `intid` (as stored by
    /// [`VirtualGic::set_hardware_backed`]); `None` for a purely virtual one.
    pub fn physical_intid(&self, intid: u32) -> Option<u32> {
        let location = if intid < PRIVATE_INTERRUPT_COUNT { BankLocation::Private(0) } else { Self::shared_location(intid) };
        let bank = self.bank(location)?;
        let index = intid % BANK_SIZE;
        if bank.hardware & (1 << index) == 0 {
            return None;
        }
        bank.physical.get(index as usize).map(|&physical| u32::from(physical))
    }

    /// Latches SGI or PPI `intid` of `vcpu` pending (an SGI from the image, or a
    /// hardware-backed PPI that fired). Returns the vCPU to refill if it became deliverable.
    pub fn set_private_pending(&mut self, vcpu: usize, intid: u32) -> Result<Option<usize>, VgicError> {
        let bank = self.private_bank_mut(vcpu, intid)?;
        bank.pending_latch |= 1 << intid;
        Ok(self.deliverable_target(BankLocation::Private(vcpu), intid))
    }

    /// Drives the line of PPI `intid` of `vcpu` (a software-modelled device).
    pub fn set_private_level(&mut self, vcpu: usize, intid: u32, level: bool) -> Result<Option<usize>, VgicError> {
        if intid < SGI_COUNT {
            return Err(VgicError::NoSuchInterrupt { intid });
        }
        let bank = self.private_bank_mut(vcpu, intid)?;
        if bank.hardware & (1 << intid) != 0 {
            return Err(VgicError::HardwareBacked { intid });
        }
        bank.set_line(intid, level);
        Ok(self.deliverable_target(BankLocation::Private(vcpu), intid))
    }

    /// Latches SPI `intid` pending (a passed-through SPI that fired at EL2). Returns the vCPU
    /// it is routed to if it became deliverable there.
    pub fn set_spi_pending(&mut self, intid: u32) -> Result<Option<usize>, VgicError> {
        let bank = self.shared_bank_mut(intid).ok_or(VgicError::NoSuchInterrupt { intid })?;
        bank.pending_latch |= 1 << (intid % BANK_SIZE);
        Ok(self.deliverable_target(Self::shared_location(intid), intid))
    }

    /// Drives the line of SPI `intid` (a software-modelled device such as the vPL011, whose
    /// line is [`Vpl011::interrupt_line`](crate::vpl011::Vpl011::interrupt_line)).
    pub fn set_spi_level(&mut self, intid: u32, level: bool) -> Result<Option<usize>, VgicError> {
        let bank = self.shared_bank_mut(intid).ok_or(VgicError::NoSuchInterrupt { intid })?;
        let bit = intid % BANK_SIZE;
        if bank.hardware & (1 << bit) != 0 {
            return Err(VgicError::HardwareBacked { intid });
        }
        bank.set_line(bit, level);
        Ok(self.deliverable_target(Self::shared_location(intid), intid))
    }

    /// Raises the SGI that vCPU `sender` requested by writing `value` to `register`.
    /// Returns the vCPUs whose list registers need refilling.
    ///
    /// An SGI raised through `ICC_SGI0R_EL1` or `ICC_ASGI1R_EL1` only becomes pending at
    /// targets that configured it as Group 0 (IHI 0069 12.2.21).
    // [impl->dsn~vgic-sgi~1]
    pub fn send_sgi(&mut self, sender: usize, register: SgiRegister, value: u64) -> Result<VcpuSet, VgicError> {
        if sender >= self.vcpu_count {
            return Err(VgicError::NoSuchVcpu { vcpu: sender });
        }
        let request = SgiRequest::from_bits(value);
        let mut refill = VcpuSet::EMPTY;
        for target in request.targets(sender, self.vcpu_count).iter() {
            let Some(bank) = self.private.get_mut(target) else { continue };
            let group1 = bank.group & (1 << request.intid) != 0;
            if group1 && register != SgiRegister::Sgi1r {
                continue;
            }
            bank.pending_latch |= 1 << request.intid;
            self.record_sgi_source(target, request.intid, sender);
            if let Some(vcpu) = self.deliverable_target(BankLocation::Private(target), request.intid) {
                refill = refill.with(vcpu);
            }
        }
        Ok(refill)
    }

    /// Records `sender` as the source of SGI `intid` pending at `target`. A GICv2 keeps one
    /// pending state per source (IHI 0048B 3.2.4); this model keeps one per SGI, as GICv3
    /// does, and presents the latest sender: an SGI from two senders at once is delivered
    /// once, as on GICv3 (KVM's GICv2 model keeps them apart; no guest of ours needs that).
    fn record_sgi_source(&mut self, target: usize, intid: u32, sender: usize) {
        let source = u8::try_from(sender).unwrap_or(0);
        if let Some(slot) =
            self.sgi_sources.get_mut(target).and_then(|sources| sources.get_mut(usize::try_from(intid).ok()?))
        {
            *slot = source;
        }
    }

    /// The recorded source of SGI `intid` at `vcpu` (0 for anything else).
    fn sgi_source(&self, vcpu: usize, intid: u32) -> u8 {
        if intid >= SGI_COUNT {
            return 0;
        }
        self.sgi_sources
            .get(vcpu)
            .and_then(|sources| sources.get(usize::try_from(intid).ok()?))
            .copied()
            .unwrap_or(0)
    }

    /// The interrupt the image should put in a free list register of `vcpu` next: the
    /// deliverable interrupt (pending, enabled, inactive, group enabled in `GICD_CTLR`)
    /// routed to `vcpu` with the highest priority, the lowest INTID among equals. `None` if
    /// there is none or `vcpu` is not in the partition.
    // [impl->dsn~vgic-list-registers~1]
    pub fn next_pending(&self, vcpu: usize) -> Option<PendingInterrupt> {
        self.next_pending_with_rivals(vcpu).map(|(pending, _)| pending)
    }

    /// [`next_pending`](Self::next_pending) and whether any other interrupt is deliverable to
    /// `vcpu` beside it, from the same single scan: with none, delivering the chosen one
    /// leaves nothing to place, and the caller need not scan again to learn that.
    pub fn next_pending_with_rivals(&self, vcpu: usize) -> Option<(PendingInterrupt, bool)> {
        if vcpu >= self.vcpu_count {
            return None;
        }
        let mut best: Option<PendingInterrupt> = None;
        let mut any_candidate = false;
        let mut rivals = false;
        let mut consider = |bank: &InterruptBank, first_intid: u32, candidates: u32| {
            if candidates != 0 {
                // A second candidate in this bank, or one in an earlier bank. (Not
                // `count_ones`: without FP/SIMD at EL2 it is a dozen instructions.)
                rivals |= any_candidate || candidates & candidates.wrapping_sub(1) != 0;
                any_candidate = true;
            }
            let mut rest = candidates;
            // BOUND: each iteration clears one bit of a 32-bit mask: at most 32 iterations.
            while let Some(bit) = take_lowest(&mut rest) {
                let priority =
                    usize::try_from(bit).ok().and_then(|index| bank.priority.get(index)).copied().unwrap_or(u8::MAX);
                // Banks are visited in INTID order, so keeping the first of equal priority
                // keeps the lowest INTID.
                if best.is_none_or(|chosen| priority < chosen.priority) {
                    best = Some(PendingInterrupt {
                        // A bank starts at most at INTID 992 and `bit` is below 32: no saturation.
                        intid: first_intid.saturating_add(bit),
                        priority,
                        group: bank.group_of(bit),
                        physical_intid: if bank.hardware & (1 << bit) != 0 {
                            usize::try_from(bit).ok().and_then(|index| bank.physical.get(index)).copied()
                        } else {
                            None
                        },
                        level_sensitive: bank.edge & (1 << bit) == 0,
                        sgi_source: 0,
                    });
                }
            }
        };
        if let Some(bank) = self.private.get(vcpu) {
            consider(bank, 0, bank.deliverable(self.group_enables));
        }
        // Counted along rather than computed per bank (a saturating multiply each time):
        // SPI_BLOCKS banks of 32 end far below u32::MAX.
        let mut first_intid = FIRST_SPI;
        for (index, bank) in self.shared.iter().enumerate() {
            let routed = self.routed_to(index, bank.deliverable(self.group_enables), vcpu);
            consider(bank, first_intid, routed);
            first_intid = first_intid.wrapping_add(BANK_SIZE);
        }
        best.map(|chosen| (PendingInterrupt { sgi_source: self.sgi_source(vcpu, chosen.intid), ..chosen }, rivals))
    }

    /// Records that the image put `intid` into a list register of `vcpu`: it becomes
    /// active; an edge-triggered one stops being pending, a level-sensitive one stays
    /// pending while its line is high.
    pub fn mark_delivered(&mut self, vcpu: usize, intid: u32) -> Result<(), VgicError> {
        let (bank, bit) = self.bank_of_mut(vcpu, intid)?;
        bank.acknowledge(bit);
        Ok(())
    }

    /// The list-register entry for SGI or PPI `intid` of `vcpu` as it stands (priority,
    /// group, `HW` and physical INTID), without looking at what else is pending: the short
    /// delivery path of a hardware-backed PPI that is known to be deliverable.
    pub fn private_entry(&self, vcpu: usize, intid: u32) -> Option<ListRegister> {
        if vcpu >= self.vcpu_count || intid >= PRIVATE_INTERRUPT_COUNT {
            return None;
        }
        let bank = self.private.get(vcpu)?;
        let index = usize::try_from(intid).ok()?;
        let pending = PendingInterrupt {
            intid,
            priority: *bank.priority.get(index)?,
            group: bank.group_of(intid),
            physical_intid: if bank.hardware & (1 << intid) != 0 { bank.physical.get(index).copied() } else { None },
            level_sensitive: bank.edge & (1 << intid) == 0,
            sgi_source: self.sgi_source(vcpu, intid),
        };
        Some(pending.list_register())
    }

    /// The short delivery path of hardware-backed PPI `intid` of `vcpu` that has just fired:
    /// retires the previous instance if `previous_finished` (its list register was found
    /// empty), latches the interrupt pending and, if the vCPU can take it now, marks it
    /// delivered and returns its list-register entry. One bank touched, nothing scanned; the
    /// same state changes as [`VirtualGic::end_of_interrupt`], [`VirtualGic::set_private_pending`]
    /// and [`VirtualGic::mark_delivered`] in turn.
    pub fn fire_private(&mut self, vcpu: usize, intid: u32, previous_finished: bool) -> Result<Option<ListRegister>, VgicError> {
        let enables = self.group_enables;
        let bank = self.private_bank_mut(vcpu, intid)?;
        let mask = 1 << intid;
        if previous_finished {
            bank.deactivate(intid);
        }
        bank.pending_latch |= mask;
        if bank.deliverable(enables) & mask == 0 {
            return Ok(None);
        }
        bank.acknowledge(intid);
        let index = usize::try_from(intid).map_err(|_| VgicError::NoSuchInterrupt { intid })?;
        let pending = PendingInterrupt {
            intid,
            priority: bank.priority.get(index).copied().unwrap_or(u8::MAX),
            group: bank.group_of(intid),
            physical_intid: if bank.hardware & mask != 0 { bank.physical.get(index).copied() } else { None },
            level_sensitive: bank.edge & mask == 0,
            sgi_source: 0,
        };
        Ok(Some(pending.list_register()))
    }

    /// Records that `intid`, put into a list register of `vcpu` but not yet acknowledged by
    /// the guest, was taken back out (evicted for a higher-priority interrupt): it is pending
    /// again and will be delivered later.
    pub fn requeue(&mut self, vcpu: usize, intid: u32) -> Result<(), VgicError> {
        let (bank, bit) = self.bank_of_mut(vcpu, intid)?;
        bank.requeue(bit);
        Ok(())
    }

    /// Records that the guest deactivated `intid` on `vcpu` (EOI maintenance interrupt or a
    /// list register found empty). Returns the vCPU to refill if the interrupt is
    /// deliverable again (re-raised meanwhile, or a level line still high).
    pub fn end_of_interrupt(&mut self, vcpu: usize, intid: u32) -> Result<Option<usize>, VgicError> {
        let (bank, bit) = self.bank_of_mut(vcpu, intid)?;
        bank.deactivate(bit);
        let location =
            if intid < PRIVATE_INTERRUPT_COUNT { BankLocation::Private(vcpu) } else { Self::shared_location(intid) };
        Ok(self.deliverable_target(location, intid))
    }

    /// Whether `intid`, which `vcpu` holds in a list register, needs that register looked at
    /// (read back and maybe changed) at the next sync: it is still listed as unacknowledged
    /// and the guest has since disabled it, cleared its pending state, turned its group off,
    /// or raised it again. O(1), no register access: delivery asks this for every held entry
    /// and reads only the registers it names.
    pub fn needs_attention(&self, vcpu: usize, intid: u32) -> bool {
        self.bank_of(vcpu, intid).is_some_and(|(bank, bit)| bank.needs_attention(bit, self.group_enables))
    }

    /// Whether `intid`, held by `vcpu` and still listed as unacknowledged, must be taken back
    /// out of its list register (see [`VirtualGic::withdraw`]).
    pub fn must_withdraw(&self, vcpu: usize, intid: u32) -> bool {
        self.bank_of(vcpu, intid).is_some_and(|(bank, bit)| bank.must_withdraw(bit, self.group_enables))
    }

    /// Whether `intid` of `vcpu` is pending (latched or held by its line) while active: it
    /// waits for the guest's deactivation of the instance in a list register.
    pub fn pending_again(&self, vcpu: usize, intid: u32) -> bool {
        self.bank_of(vcpu, intid).is_some_and(|(bank, bit)| bank.pending() & bank.active & (1 << bit) != 0)
    }

    /// Whether `intid` is in a list register of `vcpu` with its acknowledgement not yet seen.
    pub fn is_listed(&self, vcpu: usize, intid: u32) -> bool {
        self.bank_of(vcpu, intid).is_some_and(|(bank, bit)| bank.listed & (1 << bit) != 0)
    }

    /// The image took `intid` out of a list register of `vcpu` that still held it Pending
    /// (the guest had not acknowledged it) because the guest disabled it, cleared it or
    /// turned its group off: it is no longer active; it stays pending unless it was cleared.
    /// (IHI 0069 4.1.2 and 12.9.x: a disabled or cleared interrupt is not forwarded to the PE;
    /// an interrupt the PE has not acknowledged yet can still be recalled.)
    /// Returns whether it is still pending.
    pub fn withdraw(&mut self, vcpu: usize, intid: u32) -> Result<bool, VgicError> {
        let (bank, bit) = self.bank_of_mut(vcpu, intid)?;
        Ok(bank.withdraw(bit))
    }

    /// The image read `intid` back from a list register of `vcpu` as Active or Pending and
    /// Active: the guest acknowledged it, so it now reads as active.
    pub fn note_acknowledged(&mut self, vcpu: usize, intid: u32) -> Result<(), VgicError> {
        let (bank, bit) = self.bank_of_mut(vcpu, intid)?;
        bank.note_acknowledged(bit);
        Ok(())
    }

    // ---- helpers shared by the frames ----

    /// The bank holding `intid` as seen by `vcpu`, and its bit, if both exist.
    fn bank_of(&self, vcpu: usize, intid: u32) -> Option<(&InterruptBank, u32)> {
        if vcpu >= self.vcpu_count {
            return None;
        }
        let location = if intid < PRIVATE_INTERRUPT_COUNT {
            BankLocation::Private(vcpu)
        } else if Self::is_implemented(intid) {
            Self::shared_location(intid)
        } else {
            return None;
        };
        Some((self.bank(location)?, intid % BANK_SIZE))
    }

    /// The private bank of `vcpu`, if `intid` is an SGI or PPI and `vcpu` is in the partition.
    fn private_bank_mut(&mut self, vcpu: usize, intid: u32) -> Result<&mut InterruptBank, VgicError> {
        if intid >= PRIVATE_INTERRUPT_COUNT {
            return Err(VgicError::NoSuchInterrupt { intid });
        }
        if vcpu >= self.vcpu_count {
            return Err(VgicError::NoSuchVcpu { vcpu });
        }
        self.private.get_mut(vcpu).ok_or(VgicError::NoSuchVcpu { vcpu })
    }

    /// The bank holding SPI `intid`, if it is implemented.
    fn shared_bank_mut(&mut self, intid: u32) -> Option<&mut InterruptBank> {
        self.bank_mut(Self::shared_location(intid))
    }

    /// Where SPI `intid` lives. An INTID below the SPIs yields an index no bank has, so it
    /// can never reach the state of another interrupt.
    fn shared_location(intid: u32) -> BankLocation {
        let index = intid.checked_sub(FIRST_SPI).and_then(|spi| usize::try_from(spi / BANK_SIZE).ok());
        BankLocation::Shared(index.unwrap_or(usize::MAX))
    }

    /// The bank holding `intid` as seen by `vcpu`, and its bit.
    fn bank_of_mut(&mut self, vcpu: usize, intid: u32) -> Result<(&mut InterruptBank, u32), VgicError> {
        if vcpu >= self.vcpu_count {
            return Err(VgicError::NoSuchVcpu { vcpu });
        }
        let bank = if intid < PRIVATE_INTERRUPT_COUNT {
            self.private_bank_mut(vcpu, intid)?
        } else {
            self.shared_bank_mut(intid).ok_or(VgicError::NoSuchInterrupt { intid })?
        };
        Ok((bank, intid % BANK_SIZE))
    }

    /// The bank at `location`, if the partition has it.
    fn bank(&self, location: BankLocation) -> Option<&InterruptBank> {
        match location {
            BankLocation::Private(vcpu) => self.private.get(vcpu),
            BankLocation::Shared(index) => self.shared.get(index),
        }
    }

    /// The bank at `location`, if the partition has it, for writing.
    fn bank_mut(&mut self, location: BankLocation) -> Option<&mut InterruptBank> {
        match location {
            BankLocation::Private(vcpu) => self.private.get_mut(vcpu),
            BankLocation::Shared(index) => self.shared.get_mut(index),
        }
    }

    /// The INTID of bit 0 of the bank at `location`. For an index no bank has, the result
    /// saturates at `u32::MAX`, which is no implemented INTID.
    fn first_intid(location: BankLocation) -> u32 {
        match location {
            BankLocation::Private(_) => 0,
            BankLocation::Shared(index) => {
                u32::try_from(index).map_or(u32::MAX, |block| BANK_SIZE.saturating_mul(block).saturating_add(FIRST_SPI))
            }
        }
    }

    /// The vCPU an SPI's route names, if it is one of the partition's. On GICv2 that is the
    /// lowest vCPU of its `GICD_ITARGETSR<n>` mask: 1-of-N delivery to several targets is
    /// resolved at the moment the route is written, not when the interrupt fires, as KVM's
    /// GICv2 model does (`vgic_mmio_write_target`), so a hardware-backed SPI has one physical
    /// target core to follow.
    fn route_target(&self, index: usize, bit: u32) -> Option<usize> {
        let route = *self.routes.get(index)?.get(bit as usize)?;
        match self.architecture {
            GicArchitecture::V3 => {
                let aff0 = (route & 0xff) as usize;
                (route >> 8 == 0 && aff0 < self.vcpu_count).then_some(aff0)
            }
            GicArchitecture::V2 => {
                let mut targets = route & self.all_vcpus().bits();
                take_lowest(&mut targets).and_then(|vcpu| usize::try_from(vcpu).ok())
            }
        }
    }

    /// The subset of SPI bank `index`'s `mask` routed to `vcpu`.
    fn routed_to(&self, index: usize, mask: u32, vcpu: usize) -> u32 {
        let mut routed = 0;
        let mut rest = mask;
        // BOUND: each iteration clears one bit of a 32-bit mask: at most 32 iterations.
        while let Some(bit) = take_lowest(&mut rest) {
            if self.route_target(index, bit) == Some(vcpu) {
                routed |= 1 << bit;
            }
        }
        routed
    }

    /// The vCPUs that must sync for one of `mask`'s interrupts in bank `location`: it can be
    /// taken now, or it waits for an instance the guest may already have finished
    /// ([`InterruptBank::needs_sync`]).
    fn refill_targets(&self, location: BankLocation, mask: u32) -> VcpuSet {
        let Some(bank) = self.bank(location) else { return VcpuSet::EMPTY };
        let deliverable = bank.needs_sync(self.group_enables) & mask;
        if deliverable == 0 {
            return VcpuSet::EMPTY;
        }
        match location {
            BankLocation::Private(vcpu) => VcpuSet::single(vcpu),
            BankLocation::Shared(index) => {
                let mut targets = VcpuSet::EMPTY;
                let mut rest = deliverable;
                // BOUND: each iteration clears one bit of a 32-bit mask: at most 32 iterations.
                while let Some(bit) = take_lowest(&mut rest) {
                    if let Some(vcpu) = self.route_target(index, bit) {
                        targets = targets.with(vcpu);
                    }
                }
                targets
            }
        }
    }

    /// The vCPU that must sync for `intid`, if any: [`VirtualGic::refill_targets`] for one
    /// interrupt, without building a set (it runs on every raise and every end).
    fn deliverable_target(&self, location: BankLocation, intid: u32) -> Option<usize> {
        let bank = self.bank(location)?;
        let bit = intid % BANK_SIZE;
        if bank.needs_sync(self.group_enables) & (1 << bit) == 0 {
            return None;
        }
        match location {
            BankLocation::Private(vcpu) => Some(vcpu),
            BankLocation::Shared(index) => self.route_target(index, bit),
        }
    }

    /// Every vCPU of the partition.
    fn all_vcpus(&self) -> VcpuSet {
        (0..self.vcpu_count).fold(VcpuSet::EMPTY, VcpuSet::with)
    }
}

#[cfg(test)]
mod tests;
