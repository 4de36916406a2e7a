//! A partition's emulated devices and the map that sends each trapped access to one of them.
//!
//! Every emulated device implements [`MmioDevice`]; [`DeviceMap`] says which device answers
//! at which guest-physical window and which SPI, if any, its interrupt output drives. The map
//! is built once per partition from the generated system tables ([`DeviceMap::for_partition`]:
//! the guest layout of [`crate::layout`] and the partition's vCPU count); the data-abort
//! handler then calls [`EmulatedDevices::access`] and acts on the returned [`AccessOutcome`].
//! Adding a device means a type implementing [`MmioDevice`] and [`EmulatedDevice`], its state
//! in [`EmulatedDevices`], and one entry in the device table ([`device_table!`] below): the
//! entry names the [`DeviceKind`], how the model borrows its state and where its window is;
//! the kind, the map and every dispatch are generated from it.
//!
//! A device's interrupt output is wired to the virtual GIC here and nowhere else: after each
//! access, and after console input ([`EmulatedDevices::push_console_input`]), the device's
//! [`MmioDevice::interrupt_line`] drives the SPI its map entry names.
//!
//! Registers whose value never changes are answered from the map alone
//! ([`DeviceMap::read_constant`]), so the trap handler need not take the partition's lock for
//! them (`GICD_TYPER`, identification registers). The console's `UARTFR`, which changes, is
//! answered from the value its model publishes ([`DeviceMap::read_lock_free_in`],
//! [`vpl011::PublishedRegisters`]): Linux reads it before every byte it writes.

use crate::addr::Ipa;
use crate::layout;
use crate::mmio::{AccessWidth, Disposition, MmioDevice, MmioError, ReadOutcome};
use crate::system::Partition;
use crate::vgic::{self, Effects, GicArchitecture, VcpuSet, VgicError, VirtualGic};
use crate::vpl011::{self, InputError, PublishedRegisters, Vpl011};

/// Devices a partition's map holds at most.
pub const MAX_DEVICES: usize = 4;

/// An [`MmioDevice`] as a partition's device map holds it: what its write effects ask of the
/// trap handler, and which of its registers never change.
pub trait EmulatedDevice: MmioDevice {
    /// Whether the model's answers depend on the list registers' state (a vGIC frame: the
    /// guest's acknowledges and EOIs happen in hardware), so the trap handler reads that state
    /// back into the model before the access.
    const OBSERVES_LIST_REGISTERS: bool = false;

    /// Adds what a write's `effects` ask of the system to `outcome`.
    fn apply(effects: Self::Effects, outcome: &mut AccessOutcome);

    /// The value a read of `width` at `offset` returns if the register never changes (and
    /// the access is one the model accepts), for a partition of `vcpu_count` vCPUs seeing a
    /// GIC of `architecture`. Such reads are answered without the partition's lock.
    fn read_constant(_offset: u64, _width: AccessWidth, _vcpu_count: usize, _architecture: GicArchitecture) -> Option<u64> {
        None
    }
}

/// Where a device's window is, for a partition of a given vCPU count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Window {
    /// First guest-physical address.
    base: Ipa,
    /// Size in bytes.
    size: u64,
    /// The SPI the device's interrupt output drives, if it has one.
    interrupt: Option<u32>,
}

/// Generates, from one table of devices, [`DeviceKind`], the map's windows and the dispatch of
/// [`EmulatedDevices`] and [`DeviceMap`]. An entry reads
/// `Kind: Model<..> = |devices, vcpu| borrow of the model as `vcpu` sees it,
/// window = |vcpus, architecture| Option<Window>;`.
macro_rules! device_table {
    ($(
        $(#[$doc:meta])*
        $kind:ident: $model:ty = |$devices:ident, $vcpu:ident| $borrow:expr,
            window = |$vcpus:ident, $architecture:ident| $window:expr;
    )+) => {
        /// Which emulated device a window belongs to.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum DeviceKind {
            $($(#[$doc])* $kind,)+
        }

        impl DeviceKind {
            /// Every device, in table order.
            pub const ALL: &'static [Self] = &[$(Self::$kind),+];

            /// Whether the device's answers depend on the list registers' state
            /// ([`EmulatedDevice::OBSERVES_LIST_REGISTERS`]).
            pub fn observes_list_registers(self) -> bool {
                // Any SPI_BLOCKS gives the same answer; 1 names the type.
                const SPI_BLOCKS: usize = 1;
                match self {
                    $(Self::$kind => <$model as EmulatedDevice>::OBSERVES_LIST_REGISTERS,)+
                }
            }

            /// The device's window in a partition of `vcpu_count` vCPUs seeing a GIC of
            /// `gic` (`None`: it has none there).
            fn window(self, vcpu_count: usize, gic: GicArchitecture) -> Option<Window> {
                match self {
                    $(Self::$kind => {
                        let $vcpus = vcpu_count;
                        let $architecture = gic;
                        $window
                    })+
                }
            }
        }

        impl DeviceMap {
            /// [`DeviceMap::read_constant`] for an access already located by [`DeviceMap::find`].
            pub fn read_constant_in<const SPI_BLOCKS: usize>(&self, window: &MappedDevice, offset: u64, width: AccessWidth) -> Option<u64> {
                match window.device {
                    $(DeviceKind::$kind => {
                        <$model as EmulatedDevice>::read_constant(offset, width, self.vcpu_count, self.architecture)
                    })+
                }
            }
        }

        impl<const SPI_BLOCKS: usize> EmulatedDevices<SPI_BLOCKS> {
            /// [`EmulatedDevices::access_by`] for an access by `vcpu` already located by
            /// [`DeviceMap::find`].
            pub fn access_in(
                &mut self,
                window: &MappedDevice,
                vcpu: usize,
                offset: u64,
                width: AccessWidth,
                write: Option<u64>,
            ) -> Result<AccessOutcome, MmioError> {
                let (mut outcome, line) = match window.device {
                    $(DeviceKind::$kind => {
                        let $devices = &mut *self;
                        let $vcpu = vcpu;
                        access_device(&mut $borrow, offset, width, write)?
                    })+
                };
                outcome.refill = outcome.refill.union(self.drive_interrupt(window.device, window.interrupt, line));
                Ok(outcome)
            }

            /// [`EmulatedDevices::access_in`] for a read, which asks nothing of the system but
            /// its value and, when it moved the device's interrupt line (a UART data read pops
            /// the receive FIFO), the vCPU that may now take the interrupt: the trap path's
            /// read, without building an [`AccessOutcome`].
            // [impl->dsn~vgic-frames~1] [impl->dsn~vpl011~1]
            pub fn read_in(
                &mut self,
                window: &MappedDevice,
                vcpu: usize,
                offset: u64,
                width: AccessWidth,
            ) -> Result<(u64, VcpuSet), MmioError> {
                let (value, line) = match window.device {
                    $(DeviceKind::$kind => {
                        let $devices = &mut *self;
                        let $vcpu = vcpu;
                        read_device(&mut $borrow, offset, width)?
                    })+
                };
                Ok((value, self.drive_interrupt(window.device, window.interrupt, line)))
            }
        }
    };
}

impl<const SPI_BLOCKS: usize> EmulatedDevices<SPI_BLOCKS> {
    /// [`EmulatedDevices::access_in`] for a write to the console UART (`window` must be its
    /// window): the byte the guest transmitted, if any, and the vCPU that may now take the
    /// UART's interrupt, the same as `access_in` gives, without building an [`AccessOutcome`].
    /// The trap path's hot write (Linux stores `UARTDR` once per console byte): the outcome's
    /// room for vGIC effects made it 144 bytes, copied with `memcpy` on every byte.
    pub fn write_console_in(
        &mut self,
        window: &MappedDevice,
        offset: u64,
        width: AccessWidth,
        value: u64,
    ) -> Result<(Option<u8>, VcpuSet), MmioError> {
        let outcome = self.console.write(offset, width, value)?;
        let transmit = match outcome.effect {
            Some(vpl011::Effect::Transmit { byte, .. }) => Some(byte),
            Some(vpl011::Effect::LoopedBack { .. }) | None => None,
        };
        let line = Some(self.console.interrupt_line());
        Ok((transmit, self.drive_interrupt(window.device, window.interrupt, line)))
    }
}

/// The redistributor window's size for `vcpu_count` vCPUs: one frame pair each. At most
/// `MAX_VCPUS_PER_PARTITION` strides, so neither the conversion nor the product can overflow;
/// were one to, the window would be empty.
fn redistributors_size(vcpu_count: usize) -> u64 {
    u64::try_from(vcpu_count).ok().and_then(|count| layout::VGICR_STRIDE.checked_mul(count)).unwrap_or(0)
}

// The table's order is the order in which `DeviceMap::locate` searches the windows: the
// console first, because Linux traps on it twice for every byte it prints (`UARTFR`, then
// `UARTDR`) and each window passed costs the search one comparison and one loop turn (seven
// instructions); the vGIC frames are reached far less often.
device_table! {
    /// The partition's console, an emulated PL011.
    ConsoleUart: ConsoleUart<'_> = |devices, _vcpu| ConsoleUart(&mut devices.console),
        window = |_vcpus, _architecture| {
            Some(Window { base: layout::VUART_BASE, size: layout::VUART_SIZE, interrupt: Some(layout::VUART_INTID) })
        };
    /// The vGIC distributor frame (`GICD_*`), as the accessing vCPU sees it (GICv2 banks the
    /// registers of INTIDs 0-31 per vCPU).
    Distributor: Distributor<'_, SPI_BLOCKS> = |devices, vcpu| Distributor(&mut devices.vgic, vcpu),
        window = |_vcpus, _architecture| Some(Window { base: layout::VGICD_BASE, size: layout::VGICD_SIZE, interrupt: None });
    /// The vGIC redistributor frames (`GICR_*`), one pair per vCPU; GICv3 only (on GICv2 the
    /// guest's GICC is the GICV frame, mapped by stage 2, not emulated).
    Redistributors: Redistributors<'_, SPI_BLOCKS> = |devices, _vcpu| Redistributors(&mut devices.vgic),
        window = |vcpus, architecture| match architecture {
            GicArchitecture::V3 => Some(Window { base: layout::VGICR_BASE, size: redistributors_size(vcpus), interrupt: None }),
            GicArchitecture::V2 => None,
        };
}

const _: () = assert!(DeviceKind::ALL.len() <= MAX_DEVICES, "the device table outgrew MAX_DEVICES");

/// One window of the device map.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MappedDevice {
    /// First guest-physical address of the window.
    pub base: Ipa,
    /// Size of the window in bytes.
    pub size: u64,
    /// The device answering in it.
    pub device: DeviceKind,
    /// The SPI the device's interrupt output drives, if it has one.
    pub interrupt: Option<u32>,
}

impl MappedDevice {
    /// An unused slot of the map: a window of no bytes.
    const EMPTY: Self = Self { base: Ipa(0), size: 0, device: DeviceKind::ALL[0], interrupt: None };
}

/// The emulated devices of one partition and where the guest finds them. Immutable after boot,
/// so it is read without the partition's lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeviceMap {
    /// The windows, disjoint; unused slots are empty (size 0), which no address falls in.
    /// Not `Option`s: the trap path's search is then one subtraction and one comparison per
    /// slot, the same for every slot, with no tag to test.
    windows: [MappedDevice; MAX_DEVICES],
    /// The partition's vCPU count (the redistributor window's size, `GICR_TYPER.Last`,
    /// GICv2 `GICD_TYPER.CPUNumber`).
    vcpu_count: usize,
    /// The GIC architecture the partition sees (which frames exist, which constants they read).
    architecture: GicArchitecture,
}

impl DeviceMap {
    /// The map of `partition`: the vGIC distributor and one redistributor pair per vCPU at
    /// the fixed guest layout, and the console PL011 driving [`layout::VUART_INTID`].
    pub fn for_partition(partition: &Partition) -> Self {
        Self::with_vcpus(partition.cores.len())
    }

    /// The map of `partition` on a board whose GIC is of `architecture`.
    pub fn for_partition_on(partition: &Partition, architecture: GicArchitecture) -> Self {
        Self::with_vcpus_on(partition.cores.len(), architecture)
    }

    /// The GICv3 map of a partition of `vcpu_count` vCPUs (what [`DeviceMap::for_partition`]
    /// builds).
    pub fn with_vcpus(vcpu_count: usize) -> Self {
        Self::with_vcpus_on(vcpu_count, GicArchitecture::V3)
    }

    /// The map of a partition of `vcpu_count` vCPUs seeing a GIC of `architecture`: every
    /// device of the table that has a window there.
    pub fn with_vcpus_on(vcpu_count: usize, architecture: GicArchitecture) -> Self {
        let mut windows = [MappedDevice::EMPTY; MAX_DEVICES];
        let placed = DeviceKind::ALL.iter().filter_map(|&device| {
            let window = device.window(vcpu_count, architecture)?;
            Some(MappedDevice { base: window.base, size: window.size, device, interrupt: window.interrupt })
        });
        // At most MAX_DEVICES devices (checked at compile time), so every one gets a slot.
        for (slot, mapped) in windows.iter_mut().zip(placed) {
            *slot = mapped;
        }
        Self { windows, vcpu_count, architecture }
    }

    /// The window holding `ipa` and the offset of `ipa` inside it.
    pub fn find(&self, ipa: u64) -> Option<(MappedDevice, u64)> {
        self.locate(ipa).map(|(window, offset)| (*window, offset))
    }

    /// [`DeviceMap::find`] by reference: what the trap path uses, so that no window is copied
    /// (a copy of the packed `Option<MappedDevice>` costs a `memcpy` call at EL2).
    #[inline]
    pub fn locate(&self, ipa: u64) -> Option<(&MappedDevice, u64)> {
        self.windows.iter().find_map(|window| {
            // Below the base the difference wraps to more than 2^64 - base, above the size of
            // any window that ends inside the address space: one comparison rejects both sides.
            let offset = ipa.wrapping_sub(window.base.raw());
            (offset < window.size).then_some((window, offset))
        })
    }

    /// The window of `device`, if the partition has one.
    pub fn window(&self, device: DeviceKind) -> Option<MappedDevice> {
        self.windows.iter().find(|window| window.size != 0 && window.device == device).copied()
    }

    /// The partition's vCPU count.
    pub const fn vcpu_count(&self) -> usize {
        self.vcpu_count
    }

    /// The value a read of `width` at `offset` in `window` returns, answered without the
    /// partition's lock: a register whose value never changes ([`DeviceMap::read_constant_in`])
    /// or, in the console's window, `UARTFR` as the console model last published it to
    /// `console` (the partition's [`PublishedRegisters`], attached with
    /// [`EmulatedDevices::publish_console_to`]). `None` for every other access, which the
    /// caller performs under the lock. Worst case: one comparison, then either lookup.
    #[inline]
    pub fn read_lock_free_in<const SPI_BLOCKS: usize>(
        &self,
        window: &MappedDevice,
        offset: u64,
        width: AccessWidth,
        console: &PublishedRegisters,
    ) -> Option<u64> {
        match window.device {
            DeviceKind::ConsoleUart => console.read(offset, width),
            DeviceKind::Distributor | DeviceKind::Redistributors => self.read_constant_in::<SPI_BLOCKS>(window, offset, width),
        }
    }

    /// The value a read of `width` at `ipa` returns if it is a register whose value never
    /// changes (and the access is one the model accepts), for a vGIC of `SPI_BLOCKS` blocks.
    pub fn read_constant<const SPI_BLOCKS: usize>(&self, ipa: u64, width: AccessWidth) -> Option<u64> {
        let (window, offset) = self.find(ipa)?;
        self.read_constant_in::<SPI_BLOCKS>(&window, offset, width)
    }

}

/// What one access asks of the rest of the system.
#[derive(Clone, Debug)]
pub struct AccessOutcome {
    /// The value for the guest's transfer register (reads only).
    pub read: Option<u64>,
    /// How the device treated the access.
    pub disposition: Disposition,
    /// vCPUs that may have a newly deliverable interrupt.
    pub refill: VcpuSet,
    /// Physical-GIC updates a vGIC write requires (hardware-backed interrupts).
    pub gic_effects: Option<Effects>,
    /// A byte the guest transmitted on its console.
    pub transmit: Option<u8>,
}

impl AccessOutcome {
    /// An outcome that asks nothing.
    const fn plain(read: Option<u64>, disposition: Disposition) -> Self {
        Self { read, disposition, refill: VcpuSet::EMPTY, gic_effects: None, transmit: None }
    }
}

/// A vGIC model error as an MMIO error of the frame at `at`.
const fn vgic_error(error: VgicError, at: u64) -> MmioError {
    match error {
        VgicError::UnsupportedWidth { offset, width } => MmioError::UnsupportedWidth { offset, width },
        VgicError::Misaligned { offset, width } => MmioError::Misaligned { offset, width },
        VgicError::OutsideWindow { offset } => MmioError::OutsideWindow { offset },
        // Not produced by register accesses; reported at the access's offset all the same.
        VgicError::NoSuchVcpu { .. }
        | VgicError::NoSuchInterrupt { .. }
        | VgicError::HardwareBacked { .. }
        | VgicError::InvalidVcpuCount { .. } => MmioError::OutsideWindow { offset: at },
    }
}

/// The distributor frame of a vGIC as the vCPU making the access sees it (a GICv2
/// distributor banks the registers of INTIDs 0–31 per vCPU), as an MMIO device.
pub struct Distributor<'a, const SPI_BLOCKS: usize>(pub &'a mut VirtualGic<SPI_BLOCKS>, pub usize);

impl<const SPI_BLOCKS: usize> MmioDevice for Distributor<'_, SPI_BLOCKS> {
    type Effects = vgic::WriteOutcome;

    fn read(&mut self, offset: u64, width: AccessWidth) -> Result<ReadOutcome, MmioError> {
        self.0.distributor_read_by(self.1, offset, width).map_err(|error| vgic_error(error, offset))
    }

    fn write(&mut self, offset: u64, width: AccessWidth, value: u64) -> Result<(Disposition, Self::Effects), MmioError> {
        let outcome =
            self.0.distributor_write_by(self.1, offset, width, value).map_err(|error| vgic_error(error, offset))?;
        Ok((outcome.disposition, outcome))
    }
}

impl<const SPI_BLOCKS: usize> EmulatedDevice for Distributor<'_, SPI_BLOCKS> {
    const OBSERVES_LIST_REGISTERS: bool = true;

    fn apply(effects: Self::Effects, outcome: &mut AccessOutcome) {
        apply_gic_write(effects, outcome);
    }

    fn read_constant(offset: u64, width: AccessWidth, vcpu_count: usize, architecture: GicArchitecture) -> Option<u64> {
        VirtualGic::<SPI_BLOCKS>::distributor_constant_of(architecture, offset, width, vcpu_count)
    }
}

/// What a vGIC frame write asks: refills and physical-GIC updates.
fn apply_gic_write(write: vgic::WriteOutcome, outcome: &mut AccessOutcome) {
    outcome.refill = write.refill();
    outcome.gic_effects = Some(write.effects());
}

/// The redistributor frames of a vGIC, as an MMIO device.
pub struct Redistributors<'a, const SPI_BLOCKS: usize>(pub &'a mut VirtualGic<SPI_BLOCKS>);

impl<const SPI_BLOCKS: usize> MmioDevice for Redistributors<'_, SPI_BLOCKS> {
    type Effects = vgic::WriteOutcome;

    fn read(&mut self, offset: u64, width: AccessWidth) -> Result<ReadOutcome, MmioError> {
        self.0.redistributor_read(offset, width).map_err(|error| vgic_error(error, offset))
    }

    fn write(&mut self, offset: u64, width: AccessWidth, value: u64) -> Result<(Disposition, Self::Effects), MmioError> {
        let outcome = self.0.redistributor_write(offset, width, value).map_err(|error| vgic_error(error, offset))?;
        Ok((outcome.disposition, outcome))
    }
}

impl<const SPI_BLOCKS: usize> EmulatedDevice for Redistributors<'_, SPI_BLOCKS> {
    const OBSERVES_LIST_REGISTERS: bool = true;

    fn apply(effects: Self::Effects, outcome: &mut AccessOutcome) {
        apply_gic_write(effects, outcome);
    }

    fn read_constant(offset: u64, width: AccessWidth, vcpu_count: usize, _architecture: GicArchitecture) -> Option<u64> {
        VirtualGic::<SPI_BLOCKS>::redistributor_constant(offset, width, vcpu_count)
    }
}

/// The console UART (a vPL011), as an MMIO device.
pub struct ConsoleUart<'a>(pub &'a mut Vpl011);

impl MmioDevice for ConsoleUart<'_> {
    type Effects = Option<vpl011::Effect>;

    fn read(&mut self, offset: u64, width: AccessWidth) -> Result<ReadOutcome, MmioError> {
        self.0.read(offset, width)
    }

    fn write(&mut self, offset: u64, width: AccessWidth, value: u64) -> Result<(Disposition, Self::Effects), MmioError> {
        let outcome = self.0.write(offset, width, value)?;
        Ok((outcome.disposition, outcome.effect))
    }

    fn interrupt_line(&self) -> Option<bool> {
        Some(self.0.interrupt_line())
    }

    fn read_may_change_line(&self, offset: u64) -> bool {
        Vpl011::read_changes_state(offset)
    }
}

impl EmulatedDevice for ConsoleUart<'_> {
    fn apply(effects: Self::Effects, outcome: &mut AccessOutcome) {
        if let Some(vpl011::Effect::Transmit { byte, .. }) = effects {
            outcome.transmit = Some(byte);
        }
    }
}

/// Reads one device: the value, and its interrupt output afterwards when the read may have
/// moved it (`None` otherwise: the line is where the last access left it).
#[inline]
fn read_device<D: MmioDevice>(device: &mut D, offset: u64, width: AccessWidth) -> Result<(u64, Option<bool>), MmioError> {
    let outcome = device.read(offset, width)?;
    let line = if device.read_may_change_line(offset) { device.interrupt_line() } else { None };
    Ok((outcome.value, line))
}

/// Reads or writes one device: what the access asks of the system, and the device's interrupt
/// output afterwards (`None` also when the access cannot have changed it: a read without side
/// effects).
fn access_device<D: EmulatedDevice>(
    device: &mut D,
    offset: u64,
    width: AccessWidth,
    write: Option<u64>,
) -> Result<(AccessOutcome, Option<bool>), MmioError> {
    match write {
        None => {
            let outcome = device.read(offset, width)?;
            // A read without side effects leaves the line where the last access left it.
            let line = if device.read_may_change_line(offset) { device.interrupt_line() } else { None };
            Ok((AccessOutcome::plain(Some(outcome.value), outcome.disposition), line))
        }
        Some(value) => {
            let (disposition, effects) = device.write(offset, width, value)?;
            let mut outcome = AccessOutcome::plain(None, disposition);
            D::apply(effects, &mut outcome);
            Ok((outcome, device.interrupt_line()))
        }
    }
}

/// A partition's emulated devices.
#[derive(Clone, Debug)]
pub struct EmulatedDevices<const SPI_BLOCKS: usize> {
    /// Its virtual distributor and redistributors (also the target of every device's
    /// interrupt output).
    pub vgic: VirtualGic<SPI_BLOCKS>,
    /// Its console UART. Private: the model publishes `UARTFR` itself once attached
    /// ([`EmulatedDevices::publish_console_to`]), and replacing it would end that.
    console: Vpl011,
    /// The level each device's interrupt output last drove its SPI to, one bit per map slot:
    /// an unchanged line costs no vGIC update.
    driven_lines: u32,
}

impl<const SPI_BLOCKS: usize> EmulatedDevices<SPI_BLOCKS> {
    /// The devices at reset, for a partition of `vcpu_count` vCPUs seeing a GICv3.
    pub fn new(vcpu_count: usize) -> Result<Self, VgicError> {
        Self::with_architecture(vcpu_count, GicArchitecture::V3)
    }

    /// The devices at reset, for a partition of `vcpu_count` vCPUs seeing a GIC of
    /// `architecture`.
    pub fn with_architecture(vcpu_count: usize, architecture: GicArchitecture) -> Result<Self, VgicError> {
        Ok(Self {
            vgic: VirtualGic::with_architecture(vcpu_count, architecture)?,
            console: Vpl011::new(),
            driven_lines: 0,
        })
    }

    /// Puts every device back into its reset state, in place (for a partition restart). The
    /// console keeps publishing where it did (the reset `UARTFR`).
    pub fn reset(&mut self) {
        self.vgic.reset();
        self.console.reset();
        self.driven_lines = 0;
    }

    /// Makes the console publish its `UARTFR` to `registers` from now on (and once now), for
    /// [`DeviceMap::read_lock_free_in`]: the image attaches each partition's own registers
    /// once, under the partition's lock, before any vCPU runs. Until then lock-free reads
    /// find nothing published and are left to the locked path.
    pub fn publish_console_to(&mut self, registers: &'static PublishedRegisters) {
        self.console.publish_to(registers);
    }

    /// Performs one trapped access at `ipa` by vCPU 0: a read (`write` = `None`) or a write of
    /// `value` ([`EmulatedDevices::access_by`] names the vCPU).
    // [impl->dsn~vgic-frames~1] [impl->dsn~vpl011~1]
    pub fn access(
        &mut self,
        map: &DeviceMap,
        ipa: u64,
        width: AccessWidth,
        write: Option<u64>,
    ) -> Result<AccessOutcome, MmioError> {
        self.access_by(map, 0, ipa, width, write)
    }

    /// Performs one trapped access at `ipa` by `vcpu` (whose banked registers a GICv2
    /// distributor access reaches).
    pub fn access_by(
        &mut self,
        map: &DeviceMap,
        vcpu: usize,
        ipa: u64,
        width: AccessWidth,
        write: Option<u64>,
    ) -> Result<AccessOutcome, MmioError> {
        let (window, offset) = map.find(ipa).ok_or(MmioError::Unmapped { ipa })?;
        self.access_in(&window, vcpu, offset, width, write)
    }

    /// Delivers a byte of console input to the console UART and drives its interrupt.
    /// Returns the vCPUs that may now take it.
    pub fn push_console_input(&mut self, map: &DeviceMap, byte: u8) -> Result<VcpuSet, InputError> {
        self.console.push_input(byte)?;
        let interrupt = map.window(DeviceKind::ConsoleUart).and_then(|window| window.interrupt);
        let line = Some(self.console.interrupt_line());
        Ok(self.drive_interrupt(DeviceKind::ConsoleUart, interrupt, line))
    }

    /// Drives SPI `interrupt` with `device`'s `line` if it changed (the one place device
    /// outputs meet the vGIC); returns the vCPU that may now take it.
    #[inline]
    fn drive_interrupt(&mut self, device: DeviceKind, interrupt: Option<u32>, line: Option<bool>) -> VcpuSet {
        let (Some(intid), Some(level)) = (interrupt, line) else { return VcpuSet::EMPTY };
        let bit = 1 << device as u32;
        if (self.driven_lines & bit != 0) == level {
            return VcpuSet::EMPTY;
        }
        if level {
            self.driven_lines |= bit;
        } else {
            self.driven_lines &= !bit;
        }
        match self.vgic.set_spi_level(intid, level) {
            Ok(Some(vcpu)) => VcpuSet::single(vcpu),
            Ok(None) | Err(_) => VcpuSet::EMPTY,
        }
    }
}

#[cfg(test)]
mod tests;
