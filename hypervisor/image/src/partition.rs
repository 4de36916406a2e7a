//! Partitions at run time: their device models and PSCI state, their
//! stage-2 tables, and (re)loading their images.
//!
//! State shared by a partition's vCPUs lives behind one lock per partition. Lock order:
//! a partition lock, then the console lock or the GIC lock; never two partition locks at
//! once. Per-core state (the vCPU's registers, its list registers) needs no lock: each core
//! runs exactly one vCPU.
#![expect(unsafe_code, reason = "loads guest images into the partition's own RAM")]

use crate::generated::{GUEST_SPI_BLOCKS, PARTITION_COUNT, STAGE2_TABLE_POOL, SYSTEM};
use bulkhead_arch_aarch64 as arch;
use bulkhead_core::addr::{Ipa, MemoryRegion, PhysAddr};
use bulkhead_core::boot_seed::{KASLR_SEED_BYTES, RNG_SEED_BYTES, SeedMixer, SeedSource};
use bulkhead_core::devices::{DeviceMap, EmulatedDevices};
use bulkhead_core::fault_storm::{FaultStormDetector, StormLimits};
use bulkhead_core::layout;
use bulkhead_core::partition_power::{PartitionPower, PowerState};
use bulkhead_core::psci::PsciPartition;
use bulkhead_core::stage2::{self, MemoryType, Stage2Attributes, Stage2Builder, Table};
use bulkhead_core::system::{Access, FirstLoad, Partition};
use bulkhead_core::vgic::delivery::ListRegisterShadow;
use crate::lock::Mutex;
use spin::Once;
use core::sync::atomic::{AtomicBool, Ordering};

/// The private interrupts backed by a physical one on every vCPU's core, as (virtual INTID,
/// physical INTID): the EL1 virtual timer and the EL1 physical timer. The one list used to
/// declare them to the vGIC ([`new_devices`]), to enable them at the physical GIC
/// (`vcpu.rs`), to take the short delivery path when they fire (`interrupts.rs`) and to
/// release them when a vCPU stops.
///
/// The guest owns both EL1 timers (`CNTHCTL_EL2.EL1PCEN` = 1, `arch::guest::configure_core`):
/// its device tree lists all four architected timer PPIs, as the `arm,armv8-timer` binding
/// requires (positionally: secure physical, non-secure physical, virtual, hypervisor), and a
/// guest that picks the physical timer must get a working one, not UNDEF. Each core runs one
/// vCPU and the hypervisor uses neither EL1 timer, so nothing needs saving; both are reset
/// (`CNTV_CTL_EL0`, `CNTP_CTL_EL0` = 0) before every vCPU start, restarts included.
pub const HARDWARE_PRIVATE_INTERRUPTS: [(u32, u32); 2] = [
    (layout::timer_intid::VIRTUAL, layout::timer_intid::VIRTUAL),
    (layout::timer_intid::PHYSICAL, layout::timer_intid::PHYSICAL),
];

/// The virtual INTID a physical private interrupt is forwarded as, if it is one of
/// [`HARDWARE_PRIVATE_INTERRUPTS`].
pub fn hardware_private_virtual(physical: u32) -> Option<u32> {
    HARDWARE_PRIVATE_INTERRUPTS.iter().find(|&&(_, backing)| backing == physical).map(|&(virtual_intid, _)| virtual_intid)
}

/// Everything about a partition that more than one core may touch.
pub struct PartitionState {
    /// Its emulated devices: virtual GIC and console UART.
    pub devices: EmulatedDevices<GUEST_SPI_BLOCKS>,
    /// Power state of its vCPUs.
    pub psci: PsciPartition,
    /// Per vCPU, which virtual INTID each list register holds (as last written). Each entry
    /// is only touched by its vCPU's own core.
    pub list_registers: [ListRegisterShadow; layout::MAX_VCPUS_PER_PARTITION],
    /// Whether it runs, stops or restarts: every request to stop or restart it, from any
    /// vCPU or its fault policy, goes through this one state machine (kept across restarts).
    pub power: PartitionPower,
    /// Per vCPU, its fault-storm detector (touched only on the vCPU's own core, under this
    /// lock because containment holds it anyway); reset when the partition restarts.
    pub storms: [FaultStormDetector; layout::MAX_VCPUS_PER_PARTITION],
    /// `VTTBR_EL2` for its vCPUs (VMID and stage-2 root).
    pub vttbr: u64,
}

/// Why a partition could not be set up.
#[derive(Clone, Copy, Debug)]
#[allow(dead_code, reason = "the fields are shown through Debug in boot error messages")]
pub enum SetupError {
    /// The stage-2 builder refused a mapping.
    Stage2(stage2::Stage2Error),
    /// The generated tables sized the pool too small (a generator bug).
    PoolTooSmall,
    /// The vGIC or PSCI model refused the vCPU count.
    VcpuCount,
    /// The physical address size does not allow our stage-2 layout.
    AddressSize,
    /// An image or device tree does not fit the partition's RAM.
    ImageOutsideRam,
    /// A pass-through interrupt the virtual GIC cannot represent.
    Interrupt(u32),
    /// More partitions than 8-bit VMIDs can number.
    Vmid,
}

/// Per-partition state, created at boot.
// [impl->dsn~el2-static-state~1]
pub static PARTITIONS: [PartitionSlot; PARTITION_COUNT] = [const { Mutex::new(None) }; PARTITION_COUNT];

/// A partition's run-time state behind its lock (`None` before boot).
pub type PartitionSlot = Mutex<Option<PartitionState>>;

/// Each partition's device map, built from the generated tables at boot and read without a
/// lock after.
// [impl->dsn~el2-static-state~1]
static DEVICE_MAPS: [Once<DeviceMap>; PARTITION_COUNT] = [const { Once::new() }; PARTITION_COUNT];

/// Each partition's RAM that stage 2 maps executable (its RAM, then its extra regions):
/// where PSCI `CPU_ON` entry points and, with the guest's MMU off, its vector table must lie.
/// Built at boot, read without a lock after.
// [impl->dsn~el2-static-state~1]
static EXECUTABLE_RAM: [Once<heapless::Vec<MemoryRegion, MAX_STAGE2_REGIONS>>; PARTITION_COUNT] =
    [const { Once::new() }; PARTITION_COUNT];

/// The executable RAM regions of partition `index` (empty before boot).
pub fn executable_ram(index: usize) -> &'static [MemoryRegion] {
    EXECUTABLE_RAM.get(index).and_then(Once::get).map_or(&[], |regions| regions.as_slice())
}

/// The regions of `partition` that stage 2 maps executable, as [`stage2_regions`] maps them.
fn executable_regions(partition: &Partition) -> heapless::Vec<MemoryRegion, MAX_STAGE2_REGIONS> {
    let mut regions = heapless::Vec::new();
    for (region, attributes) in stage2_regions(partition) {
        // The capacity is the stage-2 region bound the boot checks: nothing is dropped.
        if attributes.executable && attributes.memory == MemoryType::NormalWriteBack && regions.push(region).is_err() {
            break;
        }
    }
    regions
}

/// The state slot of partition `index`.
pub fn slot(index: usize) -> Option<&'static PartitionSlot> {
    PARTITIONS.get(index)
}

/// The device map of partition `index`, once it is set up.
pub fn device_map(index: usize) -> Option<&'static DeviceMap> {
    DEVICE_MAPS.get(index).and_then(Once::get)
}

/// Prints the unfinished console line of stopped partition `index`. Returns whether every
/// partition is now off (by its own `SYSTEM_OFF`).
pub fn flush_stopped(index: usize) -> bool {
    crate::console::flush_partition(index);
    PARTITIONS.iter().all(|slot| slot.lock().as_ref().is_none_or(|state| state.power.state() == PowerState::Off))
}

/// Whether the partition runs (its vCPUs may take input and interrupts).
pub fn is_running(state: &PartitionState) -> bool {
    state.power.state() == PowerState::Running
}

/// The stage-2 tables of every partition, written once at boot and read by the MMU after.
// [impl->dsn~el2-static-state~1]
static STAGE2_POOL: Mutex<[Table; STAGE2_TABLE_POOL]> = Mutex::new([Table::EMPTY; STAGE2_TABLE_POOL]);

/// `VTCR_EL2`, the same for every partition.
static VTCR_EL2: spin::Once<u64> = spin::Once::new();

/// `VTCR_EL2` value computed at boot (0 before).
pub fn vtcr_el2() -> u64 {
    VTCR_EL2.get().copied().unwrap_or(0)
}

/// Builds every partition's stage-2 tables, checks where its image and device tree go, and
/// creates its run-time state. Runs once on the boot core before any vCPU starts; the images
/// are copied later, each on its partition's own core ([`load_images`]).
#[expect(clippy::large_stack_frames, reason = "DEV-0052: boot-only; the release frame is far smaller")]
pub fn set_up_all() -> Result<(), (usize, SetupError)> {
    let address_bits = stage2::physical_address_bits(arch::cpu::id_aa64mmfr0()).ok_or((0, SetupError::AddressSize))?;
    let vtcr = stage2::vtcr_el2(address_bits).map_err(|_| (0, SetupError::AddressSize))?;
    VTCR_EL2.call_once(|| vtcr);

    let mut pool = STAGE2_POOL.lock();
    let mut next_table: usize = 0;
    for (index, partition) in SYSTEM.partitions.iter().enumerate() {
        let needed = stage2_tables(partition).ok_or((index, SetupError::PoolTooSmall))?;
        let end = next_table.checked_add(needed).ok_or((index, SetupError::PoolTooSmall))?;
        let tables = pool.get_mut(next_table..end).ok_or((index, SetupError::PoolTooSmall))?;
        // The MMU walks the tables by physical address.
        let tables_base = arch::mmu::physical_address_of(&*tables);
        next_table = end;
        let vttbr = build_stage2(partition, tables, tables_base).map_err(|error| (index, error))?;
        check_images(partition).map_err(|error| (index, error))?;
        if let Some(slot) = PARTITIONS.get(index) {
            *slot.lock() = Some(new_state(partition, vttbr).map_err(|error| (index, error))?);
        }
        if let Some(map) = DEVICE_MAPS.get(index) {
            map.call_once(|| DeviceMap::for_partition_on(partition, crate::platform::gic_architecture()));
        }
        if let Some(executable) = EXECUTABLE_RAM.get(index) {
            executable.call_once(|| executable_regions(partition));
        }
    }
    Ok(())
}

/// Every region of the partition's stage 2, in the order the generated `STAGE2_TABLE_POOL`
/// sums them: RAM, pass-through devices, extra regions, channel ends, and on a GICv2 board the
/// GICV frame as the guest's GICC (`Gic::guest_cpu_interface`).
fn stage2_regions(partition: &Partition) -> impl Iterator<Item = (MemoryRegion, Stage2Attributes)> + '_ {
    let normal = |access: Access, executable: bool| Stage2Attributes {
        memory: MemoryType::NormalWriteBack,
        access: match access {
            Access::ReadWrite => stage2::Access::ReadWrite,
            Access::ReadOnly => stage2::Access::ReadOnly,
        },
        executable,
    };
    core::iter::once((partition.ram, Stage2Attributes::RAM))
        .chain(partition.devices.iter().map(|device| (*device, Stage2Attributes::DEVICE)))
        .chain(partition.regions.iter().map(move |region| (region.region, normal(region.access, true))))
        .chain(partition.channel_endpoints.iter().map(move |end| (end.region, normal(end.access, false))))
        .chain(SYSTEM.board.gic.guest_cpu_interface().map(|region| (region, Stage2Attributes::DEVICE)))
}

/// Tables the partition's stage 2 needs: the bound the generated `STAGE2_TABLE_POOL` sums.
fn stage2_tables(partition: &Partition) -> Option<usize> {
    let mut regions: heapless::Vec<MemoryRegion, MAX_STAGE2_REGIONS> = heapless::Vec::new();
    for (region, _) in stage2_regions(partition) {
        regions.push(region).ok()?;
    }
    Some(stage2::tables_needed(&regions))
}

/// Stage-2 regions a partition may have (RAM, devices, regions, channel ends).
pub const MAX_STAGE2_REGIONS: usize = 64;

// The boot code collects a partition's stage-2 regions (RAM first, then its pass-through
// device pages) into a fixed-capacity list: the largest partition must fit.
const _: () = assert!(crate::generated::MAX_DEVICE_REGIONS < MAX_STAGE2_REGIONS);
// Every forwarded physical interrupt is given a virtual SPI, so the virtual distributor's SPI
// blocks must be able to name at least as many.
// (As a subtraction that must not underflow: written as `<=`, it compares against 0 in a
// system that forwards none, which Clippy refuses as an always-true comparison.)
const _: () = assert!((GUEST_SPI_BLOCKS * 32).checked_sub(crate::generated::MAX_INTERRUPT_ROUTES).is_some());


/// Maps every region of the partition into `tables` (whose physical address is
/// `tables_base`); returns its `VTTBR_EL2`. Doorbell pages stay unmapped: writes to them trap.
fn build_stage2(partition: &Partition, tables: &mut [Table], tables_base: PhysAddr) -> Result<u64, SetupError> {
    let mut builder = Stage2Builder::new(tables, tables_base).map_err(SetupError::Stage2)?;
    for (region, attributes) in stage2_regions(partition) {
        builder.map(region.ipa, region.phys, region.size, attributes).map_err(SetupError::Stage2)?;
    }
    Ok(stage2::vttbr_el2(vmid(partition)?, builder.root()))
}

/// The partition's VMID: its manifest index plus one (VMID 0 is left unused).
fn vmid(partition: &Partition) -> Result<u8, SetupError> {
    let index = SYSTEM.partitions.iter().position(|p| core::ptr::eq(p, partition)).unwrap_or(0);
    index.checked_add(1).and_then(|vmid| u8::try_from(vmid).ok()).ok_or(SetupError::Vmid)
}

/// The run-time state of a partition that has just been (re)loaded.
#[expect(clippy::large_stack_frames, reason = "DEV-0052: boot-only; the release frame is far smaller")]
fn new_state(partition: &Partition, vttbr: u64) -> Result<PartitionState, SetupError> {
    Ok(PartitionState {
        devices: new_devices(partition)?,
        psci: new_psci(partition)?,
        list_registers: NO_LIST_REGISTERS,
        power: PartitionPower::new(partition.cores.len(), partition.fault_policy).map_err(|_| SetupError::VcpuCount)?,
        storms: fresh_storm_detectors(),
        vttbr,
    })
}

/// Fault-storm detectors with no history, with the limits for this board's counter.
fn fresh_storm_detectors() -> [FaultStormDetector; layout::MAX_VCPUS_PER_PARTITION] {
    [FaultStormDetector::new(StormLimits::for_counter_frequency(arch::cpu::counter_frequency())); layout::MAX_VCPUS_PER_PARTITION]
}

/// The list-register shadow of vCPUs that hold no interrupt.
const NO_LIST_REGISTERS: [ListRegisterShadow; layout::MAX_VCPUS_PER_PARTITION] =
    [ListRegisterShadow::EMPTY; layout::MAX_VCPUS_PER_PARTITION];

/// The partition's emulated devices at reset, with the hardware-backed private interrupts
/// and its pass-through interrupts declared with the physical INTID behind each (stored once
/// here, never searched for on a trap).
#[expect(clippy::large_stack_frames, reason = "DEV-0052: boot-only; the release frame is far smaller")]
fn new_devices(partition: &Partition) -> Result<EmulatedDevices<GUEST_SPI_BLOCKS>, SetupError> {
    let mut devices = EmulatedDevices::with_architecture(partition.cores.len(), crate::platform::gic_architecture())
        .map_err(|_| SetupError::VcpuCount)?;
    declare_hardware_backed(&mut devices, partition)?;
    Ok(devices)
}

/// Declares the hardware-backed private interrupts and the partition's pass-through
/// interrupts to its vGIC, each with the physical INTID behind it, and its doorbells as
/// edge-triggered.
fn declare_hardware_backed(devices: &mut EmulatedDevices<GUEST_SPI_BLOCKS>, partition: &Partition) -> Result<(), SetupError> {
    for (virtual_intid, physical) in HARDWARE_PRIVATE_INTERRUPTS {
        devices.vgic.set_hardware_backed(virtual_intid, physical).map_err(|_| SetupError::Interrupt(virtual_intid))?;
    }
    for route in partition.interrupt_routes {
        devices
            .vgic
            .set_hardware_backed(route.virtual_intid, route.physical)
            .map_err(|_| SetupError::Interrupt(route.virtual_intid))?;
    }
    // Doorbells are edge-triggered, as the guest device tree says (`bulkhead,channel`).
    for doorbell in partition.channel_endpoints.iter().filter_map(|end| end.doorbell) {
        devices.vgic.configure_edge(doorbell.intid).map_err(|_| SetupError::Interrupt(doorbell.intid))?;
    }
    Ok(())
}

/// The partition's PSCI state at reset: vCPU 0 on, the others off.
fn new_psci(partition: &Partition) -> Result<PsciPartition, SetupError> {
    PsciPartition::new(partition.cores.len()).map_err(|_| SetupError::VcpuCount)
}

impl PartitionState {
    /// Puts the models back to their reset state for a restart (stage 2 and the power state
    /// machine, which drives the restart, are kept). Resets in place, so the restart path never holds a second
    /// `PartitionState` on its stack.
    pub fn reset(&mut self, partition: &Partition) -> Result<(), SetupError> {
        // The PSCI model is checked first; the devices are rebuilt in place (no second copy on
        // the restart path's stack) from the same tables boot accepted, so they cannot be
        // refused now.
        let fresh_psci = new_psci(partition)?;
        // Every field is named, so a field added later cannot be forgotten here.
        let Self { devices, psci, list_registers, power: _, storms, vttbr: _ } = self;
        devices.reset();
        declare_hardware_backed(devices, partition)?;
        *psci = fresh_psci;
        *list_registers = NO_LIST_REGISTERS;
        *storms = fresh_storm_detectors();
        Ok(())
    }
}

/// Whether the boot loader placed the ELF's preload segments this boot: the loader marker
/// was there ([`note_loader_placement`]). A flat image of the same ELF (U-Boot's FIT, a raw
/// binary) leaves the marker and the placed files out, and the partitions are then copied
/// as on any other board.
static LOADER_PLACED: AtomicBool = AtomicBool::new(false);

/// Reads and clears the loader marker, on the boot core before any partition starts. Cleared
/// (and cleaned to the point of coherency) so that a later boot of a flat image, which leaves
/// RAM as it was, cannot mistake this boot's marker for its own. `O(1)`.
pub fn note_loader_placement() {
    let marker = crate::generated::LOADER_MARKER.swap(0, Ordering::AcqRel);
    // The image is identity-mapped, so the static's address is its physical address.
    if let Ok(address) = u64::try_from(crate::generated::LOADER_MARKER.as_ptr().addr()) {
        arch::memory::clean_to_point_of_coherency(PhysAddr(address), 8);
    }
    let placed = crate::generated::LOADER_MARKER_VALUE != 0 && marker == crate::generated::LOADER_MARKER_VALUE;
    LOADER_PLACED.store(placed, Ordering::Release);
    if placed {
        defmt::info!("the boot loader placed the partitions' first images");
    }
}

/// Which start a (re)load prepares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Start {
    /// The partition's first start after the board booted.
    First,
    /// A restart (PSCI `SYSTEM_RESET`, a fault policy's restart): RAM holds what the guest left.
    Restart,
}

/// Copies the partition's image and device tree into its RAM: on the core of its vCPU 0 just
/// before that vCPU first enters (`vcpu::run`), and by the last vCPU to leave on a restart.
/// At the first start of a partition whose image the boot loader placed
/// ([`FirstLoad::PlacedByLoader`], zeroed tails included) only the device tree is copied.
/// Worst case: one copy of the partition's own image, initrd, device tree and regions (35 MiB
/// for `linux-demo`'s Linux), on its own core only, so no other partition's start waits for it.
// [impl->dsn~el2-guest-memory~1]
pub fn load_images(partition: &Partition, start: Start) -> Result<(), SetupError> {
    let placed = start == Start::First
        && partition.first_load == FirstLoad::PlacedByLoader
        && LOADER_PLACED.load(Ordering::Acquire);
    for_each_load(partition, |destination, bytes, zeroed, placeable| {
        if placed && placeable {
            // The loader put the bytes there and zeroed the tail after them (a NOLOAD section
            // in the same segment).
            return Ok(());
        }
        // SAFETY: `for_each_load` checked the range lies inside the partition's RAM (or is a
        // region the config compiler gave this partition alone), which belongs to no Rust
        // object (board RAM outside the hypervisor's reservation) and on which no vCPU of the
        // partition runs while it is (re)loaded.
        unsafe { arch::memory::load(destination, bytes, zeroed) }.map_err(|_| SetupError::ImageOutsideRam)
    })?;
    fill_boot_seeds(partition)
}

/// Checks, without writing anything, that every range [`load_images`] writes lies inside the
/// partition's memory: run at boot for every partition, so a partition that cannot be loaded
/// stops the boot with its name as before, not later on its own core.
pub fn check_images(partition: &Partition) -> Result<(), SetupError> {
    for_each_load(partition, |_, _, _, _| Ok(()))
}

/// Calls `write(destination, bytes, zeroed, placeable)` for each range of a (re)load, in the
/// order they are written (image, device tree, initrd, extra regions), each checked to lie
/// inside the partition's memory first. `placeable` is false only for the device tree, which
/// the hypervisor writes at every start (its boot seeds change): the others are the files a
/// boot loader may have placed. `O(regions)`.
fn for_each_load(
    partition: &Partition,
    mut write: impl FnMut(PhysAddr, &'static [u8], u64, bool) -> Result<(), SetupError>,
) -> Result<(), SetupError> {
    let image_length = u64::try_from(partition.image.len())
        .ok()
        .and_then(|length| length.checked_add(partition.zeroed_after_image))
        .ok_or(SetupError::ImageOutsideRam)?;
    let dtb_length = u64::try_from(partition.dtb.len()).map_err(|_| SetupError::ImageOutsideRam)?;
    let image = physical(&partition.ram, partition.image_ipa, image_length)?;
    let device_tree = physical(&partition.ram, partition.dtb_ipa, dtb_length)?;
    write(image, partition.image, partition.zeroed_after_image, true)?;
    write(device_tree, partition.dtb, 0, false)?;
    if let Some(initrd) = partition.initrd {
        let length = u64::try_from(initrd.bytes.len()).map_err(|_| SetupError::ImageOutsideRam)?;
        let destination = physical(&partition.ram, initrd.ipa, length)?;
        write(destination, initrd.bytes, 0, true)?;
    }
    for region in partition.regions {
        let contents = u64::try_from(region.contents.len()).map_err(|_| SetupError::ImageOutsideRam)?;
        let rest = region.region.size.checked_sub(contents).ok_or(SetupError::ImageOutsideRam)?;
        // The region is memory the config compiler gave this partition alone (checked
        // disjoint from every other partition, channel and the hypervisor), and the contents
        // plus the zeroed rest are exactly its size.
        write(region.region.phys, region.contents, rest, true)?;
    }
    Ok(())
}

/// The seed bytes for one (re)start and where they came from: the partition's generator,
/// keyed from the board's RNG at boot (`entropy`), else the counter mixed with the partition's
/// RAM base (its identity) by `SeedMixer` — fresh per boot, not secret
/// (`bulkhead_core::boot_seed`).
fn boot_seed_bytes(partition: &Partition, bytes: &mut [u8]) -> SeedSource {
    if let Some(source) = crate::entropy::seeds_for_start(partition, bytes) {
        return SeedSource::Hardware(source);
    }
    let identity = usize::try_from(partition.ram.phys.raw()).unwrap_or(usize::MAX);
    SeedMixer::new(arch::cpu::counter(), identity, 0).fill(bytes);
    SeedSource::Counter
}

/// Writes this boot's `/chosen/kaslr-seed` and `/chosen/rng-seed` into the device tree just
/// copied into the partition's RAM; without a hardware source, `rng-seed` is renamed
/// (`BootSeeds::withheld_name`) so that Linux does not credit predictable bytes as entropy.
fn fill_boot_seeds(partition: &Partition) -> Result<(), SetupError> {
    let Some(seeds) = partition.boot_seeds else { return Ok(()) };
    let mut bytes = [0u8; KASLR_SEED_BYTES + RNG_SEED_BYTES];
    let source = boot_seed_bytes(partition, &mut bytes);
    let (kaslr, rng) = bytes.split_at(KASLR_SEED_BYTES);
    let withheld_name = seeds.withheld_name.to_be_bytes();
    let (rng_offset, rng_bytes) = match source {
        SeedSource::Hardware(_) => (seeds.rng_seed, rng),
        SeedSource::Counter => (seeds.rng_seed_name, &withheld_name[..]),
    };
    match source {
        SeedSource::Hardware(name) => defmt::info!("{=str}: boot seeds from {=str}", partition.name, name),
        SeedSource::Counter => defmt::info!("{=str}: no hardware RNG: kaslr-seed from the counter (not secret), rng-seed withheld", partition.name),
    }
    for (offset, value) in [(seeds.kaslr_seed, kaslr), (rng_offset, rng_bytes)] {
        let length = u64::try_from(value.len()).map_err(|_| SetupError::ImageOutsideRam)?;
        let inside_tree = offset.checked_add(value.len()).is_some_and(|end| end <= partition.dtb.len());
        let seed_ipa = u64::try_from(offset).ok().and_then(|into_tree| partition.dtb_ipa.raw().checked_add(into_tree));
        let (true, Some(target)) = (inside_tree, seed_ipa) else { return Err(SetupError::ImageOutsideRam) };
        let destination = physical(&partition.ram, Ipa(target), length)?;
        // SAFETY: the bytes lie inside the device tree just copied into the partition's RAM
        // (checked against the tree's length and the RAM), which no vCPU of the partition
        // runs on while it is (re)loaded; see `load_images`.
        unsafe { arch::memory::load(destination, value, 0) }.map_err(|_| SetupError::ImageOutsideRam)?;
    }
    Ok(())
}

/// The physical address of `length` bytes at `ipa`, if they lie inside the partition's RAM.
fn physical(ram: &MemoryRegion, ipa: Ipa, length: u64) -> Result<PhysAddr, SetupError> {
    if ram.contains_ipa(ipa, length) { ram.translate(ipa).ok_or(SetupError::ImageOutsideRam) } else { Err(SetupError::ImageOutsideRam) }
}
