//! The static description of one built system: board, cores and partitions.
//!
//! `bulkhead-config` validates a manifest against the board's device tree and emits Rust that
//! builds one [`System`] as a `static`. The hypervisor reads nothing else to learn what to run:
//! no parsing happens at EL2, and every size here is fixed when the image is linked.

use crate::addr::{Ipa, MemoryRegion, PhysAddr};

/// Everything the hypervisor knows about the system it runs.
// [impl->dsn~core-system-tables~1]
#[derive(Debug)]
pub struct System {
    /// The board and its hypervisor-owned devices.
    pub board: Board,
    /// Physical cores, indexed by the hypervisor's core number (position in the device tree).
    pub cores: &'static [Core],
    /// Partitions in manifest order; a partition's index is its identity (VMID = index + 1).
    pub partitions: &'static [Partition],
    /// Shared-memory channels between partitions, in manifest order (a channel's index is
    /// its identity). Partitions share nothing that no channel declares.
    pub channels: &'static [Channel],
}

/// The board-level facts the hypervisor needs at run time.
#[derive(Debug)]
pub struct Board {
    /// Board name from `board.toml`.
    pub name: &'static str,
    /// RAM ranges from the device tree's memory nodes (host-physical).
    pub ram: &'static [PhysRange],
    /// Range the hypervisor image, stacks and tables live in.
    pub hypervisor: PhysRange,
    /// The interrupt controller.
    pub gic: Gic,
    /// UART carrying the partitions' consoles and the hypervisor's plain-text messages.
    pub console: Uart,
    /// Optional second UART for the binary `defmt` log.
    pub log: Option<Uart>,
    /// Device MMIO ranges the hypervisor itself maps at EL2 (GIC, UARTs).
    pub hypervisor_mmio: &'static [PhysRange],
    /// How the hypervisor starts secondary physical cores.
    pub secondary_boot: SecondaryBoot,
    /// Generic timer counter frequency in Hz, when the device tree states it; `None` means
    /// read `CNTFRQ_EL0`.
    pub counter_frequency: Option<u64>,
    /// The random-number generator the hypervisor draws the partitions' boot seeds from
    /// (`board.toml`'s `[entropy]`), when the board has one it drives.
    pub entropy: Option<Entropy>,
}

/// A random-number generator the hypervisor owns; its registers are in
/// [`Board::hypervisor_mmio`] and no partition maps them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entropy {
    /// What it is.
    pub device: EntropyDevice,
    /// Its register block.
    pub registers: PhysAddr,
}

/// The kinds of random-number generator the hypervisor drives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntropyDevice {
    /// A virtio entropy device on a virtio-mmio transport (QEMU `virt`'s
    /// `-device virtio-rng-device`).
    VirtioRng,
    /// Broadcom's `iproc-rng200` (the Raspberry Pi 4's BCM2711).
    IprocRng200,
}

impl EntropyDevice {
    /// Its name in `board.toml` and in the hypervisor's messages.
    pub const fn name(self) -> &'static str {
        match self {
            Self::VirtioRng => "virtio-rng",
            Self::IprocRng200 => "iproc-rng200",
        }
    }

    /// The device-tree `compatible` of the node it sits in.
    pub const fn compatible(self) -> &'static str {
        match self {
            Self::VirtioRng => "virtio,mmio",
            Self::IprocRng200 => "brcm,bcm2711-rng200",
        }
    }
}

/// A host-physical range `[base, base + size)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PhysRange {
    /// First byte.
    pub base: PhysAddr,
    /// Length in bytes.
    pub size: u64,
}

impl PhysRange {
    /// Whether `[start, start + length)` lies wholly inside this range (`false` when either
    /// end does not fit the address space).
    pub const fn contains(&self, start: u64, length: u64) -> bool {
        let (Some(end), Some(own_end)) = (start.checked_add(length), self.base.raw().checked_add(self.size)) else {
            return false;
        };
        start >= self.base.raw() && end <= own_end
    }

    /// Whether `[start, start + length)` shares a byte with this range (`true` when its end
    /// does not fit the address space: such a range is refused, not trusted).
    pub const fn overlaps(&self, start: u64, length: u64) -> bool {
        let (Some(end), Some(own_end)) = (start.checked_add(length), self.base.raw().checked_add(self.size)) else {
            return true;
        };
        length != 0 && self.size != 0 && start < own_end && self.base.raw() < end
    }
}

/// The physical interrupt controller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gic {
    /// GICv3: distributor and redistributor region.
    V3 {
        /// GICD base.
        distributor: PhysAddr,
        /// First redistributor.
        redistributors: PhysAddr,
        /// Distance between two cores' redistributors.
        redistributor_stride: u64,
    },
    /// GICv2 with virtualization extensions (GIC-400).
    V2 {
        /// GICD base.
        distributor: PhysAddr,
        /// The physical CPU interface (GICC) as 8 contiguous KiB: its `reg` base, or on a
        /// GIC-400 whose 4 KiB pages are aliased over 64 KiB (ZCU102: a 128 KiB region) the
        /// base + 0xF000, where the first page's last alias meets the second page.
        cpu_interface: PhysAddr,
        /// GICH base (virtual interface control).
        hypervisor_interface: PhysAddr,
        /// The virtual CPU interface (GICV, mapped to guests as their GICC) as 8 contiguous
        /// KiB, chosen as for `cpu_interface`.
        virtual_cpu_interface: PhysAddr,
    },
}

impl Gic {
    /// The stage-2 mapping that gives a partition its CPU interface on this GIC: on GICv2 the
    /// board's GICV frame at the guest's GICC address ([`crate::layout::VGICC_BASE`],
    /// [`crate::layout::VGICC_SIZE`]); none on GICv3, whose CPU interface the guest reaches
    /// through system registers. The configuration compiler counts it into the stage-2 table
    /// pool and the image maps it, both from here.
    pub const fn guest_cpu_interface(&self) -> Option<crate::addr::MemoryRegion> {
        match *self {
            Self::V2 { virtual_cpu_interface, .. } => Some(crate::addr::MemoryRegion {
                ipa: crate::layout::VGICC_BASE,
                phys: virtual_cpu_interface,
                size: crate::layout::VGICC_SIZE,
            }),
            Self::V3 { .. } => None,
        }
    }
}

/// A physical UART.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Uart {
    /// Which register model.
    pub kind: UartKind,
    /// MMIO base.
    pub base: PhysAddr,
    /// Its interrupt ID at the GIC.
    pub intid: u32,
}

/// UART register models the hypervisor drives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UartKind {
    /// Arm PrimeCell PL011.
    Pl011,
    /// Cadence UART (Zynq UltraScale+).
    Cadence,
    /// The BCM2835/BCM2711 auxiliary mini UART (Raspberry Pi `UART1`).
    Bcm2835Aux,
    /// An 8250/16550-style UART.
    Ns16550,
}

/// How secondary cores are brought up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SecondaryBoot {
    /// Firmware PSCI `CPU_ON` through `smc`.
    PsciSmc,
    /// Firmware PSCI `CPU_ON` through `hvc` (only when entered below EL2's owner).
    PsciHvc,
    /// All cores enter the image at once (e.g. an ELF started at EL3 on every core).
    AllCoresEnter,
    /// Firmware enters core 0 and parks the others in a spin table (the device tree's
    /// `enable-method = "spin-table"`; the Raspberry Pi's `armstub8`): each waits for an entry
    /// address at its [`Core::release_address`].
    SpinTable,
}

/// One physical core.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Core {
    /// `MPIDR_EL1` affinity bits (Aff3..Aff0) of the core, from the device tree `reg`.
    pub mpidr: u64,
    /// The vCPU pinned to this core, if any.
    pub vcpu: Option<VcpuRef>,
    /// Where firmware makes the core wait for its entry address (the cpu node's
    /// `cpu-release-addr`), on [`SecondaryBoot::SpinTable`] boards; `None` elsewhere.
    pub release_address: Option<u64>,
}

/// A vCPU named by its partition and its index inside it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VcpuRef {
    /// Index into [`System::partitions`].
    pub partition: usize,
    /// vCPU number inside the partition (0 is the boot vCPU).
    pub vcpu: usize,
}

/// What the hypervisor does when a partition faults (stage-2 abort it cannot emulate).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FaultPolicy {
    /// Inject a synchronous external abort into the guest and let it handle it.
    InjectAbort,
    /// Reload the partition's image and boot it again, at most `max_restarts` times; then halt.
    Restart {
        /// How many restarts are allowed before the partition is halted.
        max_restarts: u32,
    },
    /// Stop the partition's vCPUs; the other partitions run on.
    Halt,
    /// Stop the whole system (every partition): for partitions whose failure leaves the
    /// system unsafe to continue.
    StopSystem,
}

/// One partition.
#[derive(Debug)]
pub struct Partition {
    /// Name, used as the console prefix.
    pub name: &'static str,
    /// Guest RAM (the only memory stage 2 maps besides pass-through devices).
    pub ram: MemoryRegion,
    /// Physical core of each vCPU: `cores[i]` runs vCPU `i`.
    pub cores: &'static [usize],
    /// The guest image bytes, copied to `image_ipa` at (re)start.
    pub image: &'static [u8],
    /// Where the image is placed.
    pub image_ipa: Ipa,
    /// Bytes after the image that must read as zero (ELF `.bss`).
    pub zeroed_after_image: u64,
    /// Entry point of the boot vCPU.
    pub entry: Ipa,
    /// The generated guest device tree, copied to `dtb_ipa` and passed in `x0`.
    pub dtb: &'static [u8],
    /// Where the device tree is placed.
    pub dtb_ipa: Ipa,
    /// What happens when the partition faults.
    pub fault_policy: FaultPolicy,
    /// Pass-through MMIO regions (mapped as device memory). They are identity-mapped
    /// (`ipa == phys`), page-granular, sorted and pairwise disjoint.
    pub devices: &'static [MemoryRegion],
    /// Physical INTIDs routed to this partition, ascending. The INTID the guest sees for
    /// each is in [`Partition::interrupt_routes`] (usually a different number).
    pub interrupts: &'static [u32],
    /// Free-text criticality label from the manifest (e.g. `"ASIL-D"`), for reports and
    /// logs; empty when the manifest gives none.
    pub criticality: &'static str,
    /// Each physical interrupt forwarded to the partition with the INTID its guest sees.
    pub interrupt_routes: &'static [InterruptRoute],
    /// Memory regions besides `ram` (mapped as normal memory with their access).
    pub regions: &'static [GuestRegion],
    /// This partition's ends of shared-memory channels.
    pub channel_endpoints: &'static [ChannelEndpoint],
    /// Initial RAM disk, copied into guest RAM at (re)start, if any.
    pub initrd: Option<Initrd>,
    /// Where the partition's console goes.
    pub console: PartitionConsole,
    /// Cache colours requested (bit `n` = colour `n`; 0 = none). Recorded only: the
    /// hypervisor does not implement cache colouring yet, and `ram` is contiguous.
    pub cache_colours: u64,
    /// Where `dtb` holds `/chosen/kaslr-seed` and `/chosen/rng-seed`, which the hypervisor
    /// fills at every (re)start (see [`crate::boot_seed`]).
    pub boot_seeds: Option<crate::boot_seed::BootSeeds>,
    /// Who puts `image`, `initrd` and the regions' contents in place for the first start.
    pub first_load: FirstLoad,
}

/// Who places a partition's image, initrd and region contents (with the zeroed ranges after
/// them) for its first start. Restarts always copy them from the hypervisor's kept copies; the
/// device tree (with this start's boot seeds) is always written by the hypervisor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FirstLoad {
    /// The hypervisor copies them, on the partition's own core.
    Copy,
    /// The boot loader has placed them: the board loads the EL2 ELF segment by segment
    /// (board.toml `[hypervisor] loader = "elf-segments"`), and the ELF carries each of them a
    /// second time as a segment at its physical address in the partition's RAM, its zeroed
    /// range as the segment's memory beyond its file bytes.
    PlacedByLoader,
}

/// How stage 2 lets a partition access a memory region.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Read and write.
    ReadWrite,
    /// Read only: a write is a stage-2 permission fault, handled by the fault policy.
    ReadOnly,
}

/// A memory region of a partition besides its RAM.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GuestRegion {
    /// Name from the manifest.
    pub name: &'static str,
    /// Where the guest sees it and where it really is.
    pub region: MemoryRegion,
    /// Stage-2 access.
    pub access: Access,
    /// Bytes copied to the start of the region at (re)start; the rest is zeroed.
    pub contents: &'static [u8],
}

/// How a physical interrupt reaches a guest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InterruptRoute {
    /// Physical INTID at the GIC (an SPI).
    pub physical: u32,
    /// INTID the guest sees at its virtual GIC.
    pub virtual_intid: u32,
    /// Trigger from the device tree's interrupt specifier.
    pub trigger: Trigger,
}

/// Interrupt trigger.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trigger {
    /// Level-sensitive.
    Level,
    /// Edge-triggered.
    Edge,
}

/// A shared-memory channel: one host-physical range mapped into every endpoint partition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Channel {
    /// Name from the manifest.
    pub name: &'static str,
    /// The shared memory (host-physical).
    pub memory: PhysRange,
}

/// One partition's end of a channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChannelEndpoint {
    /// Index into [`System::channels`].
    pub channel: usize,
    /// Where this partition sees the shared memory.
    pub region: MemoryRegion,
    /// Stage-2 access of this side.
    pub access: Access,
    /// The doorbell, when the channel has one.
    pub doorbell: Option<Doorbell>,
}

/// A channel doorbell as one endpoint sees it: a 4 KiB page left unmapped at stage 2, a
/// write to which the hypervisor turns into `intid` at every other endpoint of the channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Doorbell {
    /// The trapped register page (IPA) this side writes to ring the others.
    pub register: Ipa,
    /// Virtual INTID (an SPI, edge) raised in this partition when another side rings.
    pub intid: u32,
    /// The other ends a ring from this side raises, resolved at build time.
    pub peers: &'static [DoorbellPeer],
}

/// One other end of a channel that a doorbell ring raises.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DoorbellPeer {
    /// Index into [`System::partitions`].
    pub partition: usize,
    /// The doorbell's virtual INTID in that partition.
    pub intid: u32,
}

/// An initial RAM disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Initrd {
    /// The bytes.
    pub bytes: &'static [u8],
    /// Where they are copied (inside guest RAM, below the device tree).
    pub ipa: Ipa,
}

/// Where a partition's console goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PartitionConsole {
    /// The emulated PL011, multiplexed onto the board console with a name prefix.
    Virtual,
    /// A UART passed through to the partition (it is in `devices`); the emulated PL011
    /// still exists but the guest's `stdout-path` names the passed-through one.
    Passthrough,
}

// [impl->dsn~core-system-tables~1]
impl System {
    /// The partition and vCPU pinned to physical core `core`, if any.
    pub fn vcpu_on_core(&self, core: usize) -> Option<VcpuRef> {
        self.cores.get(core).and_then(|c| c.vcpu)
    }

    /// The physical core index whose MPIDR affinity is `mpidr` (only Aff3..Aff0 compared).
    pub fn core_by_mpidr(&self, mpidr: u64) -> Option<usize> {
        const AFFINITY_MASK: u64 = 0xff_00ff_ffff;
        self.cores.iter().position(|c| c.mpidr & AFFINITY_MASK == mpidr & AFFINITY_MASK)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RANGE: PhysRange = PhysRange { base: PhysAddr(0x1000), size: 0x1000 };

    #[test]
    fn contains_takes_only_ranges_wholly_inside() {
        assert!(RANGE.contains(0x1000, 0x1000));
        assert!(RANGE.contains(0x1800, 40));
        assert!(!RANGE.contains(0xfff, 2));
        assert!(!RANGE.contains(0x1fd8, 41));
        assert!(!RANGE.contains(u64::MAX, 2));
    }

    #[test]
    fn overlaps_sees_any_shared_byte_and_refuses_an_overflowing_range() {
        assert!(RANGE.overlaps(0xfff, 2));
        assert!(RANGE.overlaps(0x1fff, 0x10));
        assert!(!RANGE.overlaps(0x2000, 0x10));
        assert!(!RANGE.overlaps(0, 0x1000));
        assert!(!RANGE.overlaps(0x1800, 0));
        assert!(RANGE.overlaps(u64::MAX, 2));
    }
}
