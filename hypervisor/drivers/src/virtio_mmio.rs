//! The virtio-mmio transport (version 2, "modern") and split virtqueues, as far as the
//! hypervisor's own virtio devices need them: one queue, driven by polling at boot.
//! [`virtio_gpu`](crate::virtio_gpu) (the display backend) and
//! [`virtio_rng`](crate::virtio_rng) (the boot seed) are built on it.
//!
//! Where the facts come from (OASIS *Virtual I/O Device (VIRTIO) Version 1.2*, cited by
//! section; cross-checked against Linux's `include/uapi/linux/virtio_mmio.h` and
//! `virtio_ring.h`):
//!
//! * §4.2.2: the MMIO register block (magic `"virt"`, version 2, device ID, feature
//!   words behind selectors, queue selection, size and the three 64-bit ring addresses,
//!   `QueueReady`, `QueueNotify`, `Status`); §4.2.3.1 and §3.1.1: the initialisation order
//!   (reset, ACKNOWLEDGE, DRIVER, features, FEATURES_OK read back, queues, DRIVER_OK).
//! * §6.1: `VIRTIO_F_VERSION_1` is feature bit 32; a modern device refuses a driver that
//!   does not accept it.
//! * §2.7: split virtqueues: 16-byte descriptors (`addr`, `len`, `flags`, `next`;
//!   `NEXT` = 1, `WRITE` = 2), the available ring (`flags`, `idx`, `ring[]`; flag
//!   `NO_INTERRUPT` = 1) and the used ring (`flags`, `idx`, `ring[]` of `id`/`len`);
//!   alignments 16, 2 and 4 (§2.7 table "Virtqueue Part Alignment"); a queue's size is a
//!   power of 2.
//!
//! The rings live in the driver's own memory, which the caller keeps in a `static` in
//! identity-mapped RAM (their addresses are what the device is told, so they never move).
//! Which transport a driver may touch is decided at build time by the configuration
//! compiler: the hypervisor never probes transports that may belong to partitions.

use crate::deadline::Deadline;
use core::sync::atomic::{Ordering, fence};
use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::register_structs;
use tock_registers::registers::{ReadOnly, ReadWrite, WriteOnly};

register_structs! {
    /// virtio-mmio version 2 registers (VIRTIO 1.2 §4.2.2, table "MMIO Device Register
    /// Layout"), up to the device-specific configuration space at 0x100.
    pub Registers {
        (0x000 => magic_value: ReadOnly<u32>),
        (0x004 => version: ReadOnly<u32>),
        (0x008 => device_id: ReadOnly<u32>),
        (0x00c => vendor_id: ReadOnly<u32>),
        (0x010 => device_features: ReadOnly<u32>),
        (0x014 => device_features_sel: WriteOnly<u32>),
        (0x018 => _reserved0),
        (0x020 => driver_features: WriteOnly<u32>),
        (0x024 => driver_features_sel: WriteOnly<u32>),
        (0x028 => _reserved1),
        (0x030 => queue_sel: WriteOnly<u32>),
        (0x034 => queue_num_max: ReadOnly<u32>),
        (0x038 => queue_num: WriteOnly<u32>),
        (0x03c => _reserved2),
        (0x044 => queue_ready: ReadWrite<u32>),
        (0x048 => _reserved3),
        (0x050 => queue_notify: WriteOnly<u32>),
        (0x054 => _reserved4),
        (0x060 => interrupt_status: ReadOnly<u32>),
        (0x064 => interrupt_ack: WriteOnly<u32>),
        (0x068 => _reserved5),
        (0x070 => status: ReadWrite<u32>),
        (0x074 => _reserved6),
        (0x080 => queue_desc_low: WriteOnly<u32>),
        (0x084 => queue_desc_high: WriteOnly<u32>),
        (0x088 => _reserved7),
        (0x090 => queue_driver_low: WriteOnly<u32>),
        (0x094 => queue_driver_high: WriteOnly<u32>),
        (0x098 => _reserved8),
        (0x0a0 => queue_device_low: WriteOnly<u32>),
        (0x0a4 => queue_device_high: WriteOnly<u32>),
        (0x0a8 => _reserved9),
        (0x0fc => config_generation: ReadOnly<u32>),
        (0x100 => @END),
    }
}

/// `MagicValue`: "virt" as a little-endian word (§4.2.2).
pub const MAGIC: u32 = 0x7472_6976;
/// `Version` of a modern (non-legacy) transport (§4.2.2).
pub const MODERN_VERSION: u32 = 2;

/// Device status bits (§2.1).
pub(crate) mod status {
    /// The driver found the device.
    pub const ACKNOWLEDGE: u32 = 1;
    /// The driver knows how to drive it.
    pub const DRIVER: u32 = 2;
    /// The driver is ready.
    pub const DRIVER_OK: u32 = 4;
    /// The driver accepted the features.
    pub const FEATURES_OK: u32 = 8;
    /// The driver gave up on the device.
    pub const FAILED: u32 = 128;
}

/// `VIRTIO_F_VERSION_1` (feature bit 32) in the high feature word (§6.1).
pub(crate) const VERSION_1_HIGH_BIT: u32 = 1;
/// Descriptor flag: the chain continues at `next` (§2.7.5).
pub(crate) const DESCRIPTOR_NEXT: u16 = 1;
/// Descriptor flag: the device writes this buffer (§2.7.5).
pub(crate) const DESCRIPTOR_WRITE: u16 = 2;
/// Available-ring flag: the driver polls and wants no interrupts (§2.7.7).
pub(crate) const AVAILABLE_NO_INTERRUPT: u16 = 1;

/// What can go wrong while setting up a transport or waiting on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransportError {
    /// The transport's magic value is not "virt" (no virtio-mmio transport there).
    NotVirtio(u32),
    /// The transport is legacy (version 1): QEMU needs `-global virtio-mmio.force-legacy=false`.
    NotModern(u32),
    /// The transport holds another device (0: none; QEMU started without the device there).
    WrongDevice {
        /// The device ID the driver drives.
        expected: u32,
        /// The device ID the transport reports.
        found: u32,
    },
    /// The device does not offer `VIRTIO_F_VERSION_1`.
    NoVersion1,
    /// The device did not accept the features (`FEATURES_OK` did not stay set).
    FeaturesRefused,
    /// Queue 0 is in use already or smaller than the driver's queue (its `QueueNumMax`).
    Queue(u32),
    /// The device did not reset, or did not answer a request, before the deadline.
    NoAnswerBeforeDeadline,
}

/// A split-virtqueue descriptor (§2.7.5).
#[repr(C, align(16))]
#[derive(Clone, Copy, Debug, Default)]
pub struct Descriptor {
    /// Physical address of the buffer.
    pub address: u64,
    /// Its length in bytes.
    pub length: u32,
    /// `NEXT`, `WRITE`.
    pub flags: u16,
    /// The chain's next descriptor, with `NEXT`.
    pub next: u16,
}

impl Descriptor {
    /// A descriptor pointing nowhere.
    pub const EMPTY: Self = Self { address: 0, length: 0, flags: 0, next: 0 };
}

/// The available ring (§2.7.6) of a queue of `SIZE` entries: what the driver offers.
#[repr(C, align(2))]
#[derive(Debug)]
pub struct AvailableRing<const SIZE: usize> {
    /// `NO_INTERRUPT`.
    pub flags: u16,
    /// Where the driver puts the next entry (free-running).
    pub index: u16,
    /// Heads of descriptor chains.
    pub ring: [u16; SIZE],
    /// Unused (no `VIRTIO_F_EVENT_IDX`).
    pub used_event: u16,
}

impl<const SIZE: usize> AvailableRing<SIZE> {
    /// An empty ring that asks for no interrupts.
    pub const fn new() -> Self {
        Self { flags: AVAILABLE_NO_INTERRUPT, index: 0, ring: [0; SIZE], used_event: 0 }
    }
}

/// One used-ring entry (§2.7.8).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct UsedElement {
    /// Head of the chain the device finished.
    pub id: u32,
    /// Bytes it wrote.
    pub length: u32,
}

/// The used ring (§2.7.8) of a queue of `SIZE` entries: what the device finished.
#[repr(C, align(4))]
#[derive(Debug)]
pub struct UsedRing<const SIZE: usize> {
    /// Written by the device.
    pub flags: u16,
    /// Where the device puts the next entry (free-running).
    pub index: u16,
    /// Finished chains.
    pub ring: [UsedElement; SIZE],
    /// Unused (no `VIRTIO_F_EVENT_IDX`).
    pub available_event: u16,
}

impl<const SIZE: usize> UsedRing<SIZE> {
    /// An empty ring.
    pub const fn new() -> Self {
        Self { flags: 0, index: 0, ring: [UsedElement { id: 0, length: 0 }; SIZE], available_event: 0 }
    }

    /// The index as the device last wrote it; what it wrote before it (the used elements,
    /// the buffers) may be read after this (§2.7.13).
    pub fn device_index(&self) -> u16 {
        let index = core::ptr::addr_of!(self.index);
        // SAFETY: `index` points into `self`, which is borrowed; the device writes it by DMA
        // behind the compiler's back, so the read is volatile.
        let value = unsafe { core::ptr::read_volatile(index) };
        fence(Ordering::Acquire);
        value
    }

    /// The entry the device wrote at free-running position `position`.
    pub fn element(&self, position: u16) -> Option<UsedElement> {
        let element = self.ring.get(usize::from(position).checked_rem(SIZE)?)?;
        // SAFETY: `element` is a valid reference into `self`; the device wrote it by DMA.
        Some(unsafe { core::ptr::read_volatile(element) })
    }
}

/// A split virtqueue's three parts, laid out for the device (each part at its alignment).
#[repr(C, align(16))]
#[derive(Debug)]
pub struct SplitQueue<const SIZE: usize> {
    /// Descriptor table.
    pub descriptors: [Descriptor; SIZE],
    /// Driver area.
    pub available: AvailableRing<SIZE>,
    /// Device area.
    pub used: UsedRing<SIZE>,
}

impl<const SIZE: usize> SplitQueue<SIZE> {
    /// Empty rings and descriptors pointing nowhere.
    pub const fn new() -> Self {
        Self { descriptors: [Descriptor::EMPTY; SIZE], available: AvailableRing::new(), used: UsedRing::new() }
    }

    /// Where its parts are (its address must not change while the device uses it).
    pub fn addresses(&self) -> QueueAddresses {
        QueueAddresses {
            descriptors: core::ptr::addr_of!(self.descriptors) as u64,
            driver: core::ptr::addr_of!(self.available) as u64,
            device: core::ptr::addr_of!(self.used) as u64,
            size: SIZE,
        }
    }
}

/// Where a queue's three parts are, and its size: what the device is told.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueAddresses {
    /// The descriptor table.
    pub descriptors: u64,
    /// The available ring (driver area).
    pub driver: u64,
    /// The used ring (device area).
    pub device: u64,
    /// Entries in the queue.
    pub size: usize,
}

/// The virtio-mmio register block at `base`.
///
/// # Safety
/// `base` must be a virtio-mmio transport mapped as Device memory at EL2 for the rest of the
/// program, driven by nobody else.
pub unsafe fn registers_at(base: usize) -> &'static Registers {
    // SAFETY: the caller's guarantee; the registers use interior mutability.
    unsafe { &*(base as *const Registers) }
}

/// Checks that `registers` is a modern virtio-mmio transport holding device `device_id`.
pub fn identify(registers: &Registers, device_id: u32) -> Result<(), TransportError> {
    let magic = registers.magic_value.get();
    if magic != MAGIC {
        return Err(TransportError::NotVirtio(magic));
    }
    let version = registers.version.get();
    if version != MODERN_VERSION {
        return Err(TransportError::NotModern(version));
    }
    let found = registers.device_id.get();
    if found != device_id {
        return Err(TransportError::WrongDevice { expected: device_id, found });
    }
    Ok(())
}

/// The device-initialisation sequence of §3.1.1 for a modern transport (§4.2.3): resets
/// the device (waiting at most until `deadline`), accepts `VIRTIO_F_VERSION_1` alone, hands
/// it queue 0 at `queue` (whose memory the caller has prepared) and sets `DRIVER_OK`.
pub fn initialise(registers: &Registers, queue: QueueAddresses, deadline: &mut dyn Deadline) -> Result<(), TransportError> {
    registers.status.set(0);
    // BOUND: until the deadline; a reset completes when the status reads 0 (§4.2.3.1).
    while registers.status.get() != 0 {
        if deadline.passed() {
            return Err(TransportError::NoAnswerBeforeDeadline);
        }
    }
    registers.status.set(status::ACKNOWLEDGE);
    registers.status.set(status::ACKNOWLEDGE | status::DRIVER);
    registers.device_features_sel.set(1);
    if registers.device_features.get() & VERSION_1_HIGH_BIT == 0 {
        registers.status.set(status::FAILED);
        return Err(TransportError::NoVersion1);
    }
    registers.driver_features_sel.set(0);
    registers.driver_features.set(0);
    registers.driver_features_sel.set(1);
    registers.driver_features.set(VERSION_1_HIGH_BIT);
    let features_ok = status::ACKNOWLEDGE | status::DRIVER | status::FEATURES_OK;
    registers.status.set(features_ok);
    if registers.status.get() & status::FEATURES_OK == 0 {
        registers.status.set(status::FAILED);
        return Err(TransportError::FeaturesRefused);
    }
    registers.queue_sel.set(0);
    let maximum = registers.queue_num_max.get();
    let valid_size = u32::try_from(queue.size).ok().filter(|entries| entries.is_power_of_two() && *entries <= maximum);
    let (true, Some(entries)) = (registers.queue_ready.get() == 0, valid_size) else {
        registers.status.set(status::FAILED);
        return Err(TransportError::Queue(maximum));
    };
    registers.queue_num.set(entries);
    for (low, high, address) in [
        (&registers.queue_desc_low, &registers.queue_desc_high, queue.descriptors),
        (&registers.queue_driver_low, &registers.queue_driver_high, queue.driver),
        (&registers.queue_device_low, &registers.queue_device_high, queue.device),
    ] {
        low.set(u32::try_from(address & 0xffff_ffff).unwrap_or(0));
        high.set(u32::try_from(address.wrapping_shr(32)).unwrap_or(0));
    }
    // The rings are written before the device may read them.
    fence(Ordering::SeqCst);
    registers.queue_ready.set(1);
    registers.status.set(features_ok | status::DRIVER_OK);
    Ok(())
}

/// Publishes the available ring's entries up to `offered` (free-running) and notifies
/// queue 0.
pub fn publish<const SIZE: usize>(registers: &Registers, available: &mut AvailableRing<SIZE>, offered: u16) {
    // The descriptors and buffers are written before the index that publishes them, and
    // the index before the notification (§2.7.13).
    fence(Ordering::SeqCst);
    let index = core::ptr::addr_of_mut!(available.index);
    // SAFETY: `index` points into `available`, borrowed mutably; the device reads it by DMA,
    // so the write is volatile.
    unsafe { core::ptr::write_volatile(index, offered) };
    fence(Ordering::SeqCst);
    registers.queue_notify.set(0);
}

/// Resets the device: it stops using the queue, whose memory is then the driver's again.
pub fn reset(registers: &Registers) {
    registers.status.set(0);
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::test_memory::RegisterMemory;

    /// A register block holding a modern transport with device `device_id`, offering
    /// `VERSION_1` and queues of up to 256 entries.
    pub(crate) fn transport(device_id: u32) -> (&'static RegisterMemory<{ 0x100 / 4 }>, &'static Registers) {
        let memory = RegisterMemory::leak();
        // SAFETY: (test) the memory is as large as the register block and lives forever.
        let registers = unsafe { memory.as_registers::<Registers>() };
        memory.set(0x000, MAGIC);
        memory.set(0x004, MODERN_VERSION);
        memory.set(0x008, device_id);
        memory.set(0x010, VERSION_1_HIGH_BIT);
        memory.set(0x034, 256);
        (memory, registers)
    }

    /// Counts down polls.
    pub(crate) struct Polls(pub u32);

    impl Deadline for Polls {
        fn passed(&mut self) -> bool {
            self.0 = self.0.saturating_sub(1);
            self.0 == 0
        }
    }

    /// A deadline that answers as a fake device from inside a driver's wait (the driver
    /// only reads the used index there, as the real device's DMA would race), then counts
    /// down polls.
    pub(crate) struct AnsweringDeadline<'a, Driver> {
        /// The driver waiting (it outlives the deadline).
        pub driver: *mut Driver,
        /// What the fake device does with the driver's rings.
        pub answer: &'a mut dyn FnMut(&mut Driver),
        /// Polls left.
        pub polls: u32,
    }

    impl<Driver> Deadline for AnsweringDeadline<'_, Driver> {
        fn passed(&mut self) -> bool {
            // SAFETY: (test) the driver outlives the deadline; inside its wait loop it only
            // reads the used index, as the real device's DMA would race.
            (self.answer)(unsafe { &mut *self.driver });
            self.polls = self.polls.saturating_sub(1);
            self.polls == 0
        }
    }

    fn queue(size: usize) -> QueueAddresses {
        QueueAddresses { descriptors: 0x1_2345_6000, driver: 0x4000_1000, device: 0x4000_2000, size }
    }

    #[test]
    fn the_register_block_has_the_spec_offsets() {
        assert_eq!(core::mem::offset_of!(Registers, device_id), 0x008);
        assert_eq!(core::mem::offset_of!(Registers, driver_features_sel), 0x024);
        assert_eq!(core::mem::offset_of!(Registers, queue_num_max), 0x034);
        assert_eq!(core::mem::offset_of!(Registers, queue_ready), 0x044);
        assert_eq!(core::mem::offset_of!(Registers, queue_notify), 0x050);
        assert_eq!(core::mem::offset_of!(Registers, status), 0x070);
        assert_eq!(core::mem::offset_of!(Registers, queue_desc_low), 0x080);
        assert_eq!(core::mem::offset_of!(Registers, queue_driver_low), 0x090);
        assert_eq!(core::mem::offset_of!(Registers, queue_device_high), 0x0a4);
        assert_eq!(core::mem::size_of::<Registers>(), 0x100);
    }

    #[test]
    fn the_split_ring_parts_have_the_spec_layout() {
        assert_eq!(core::mem::size_of::<Descriptor>(), 16);
        assert_eq!(core::mem::offset_of!(Descriptor, flags), 12);
        assert_eq!(core::mem::offset_of!(AvailableRing<16>, ring), 4);
        assert_eq!(core::mem::size_of::<AvailableRing<16>>(), 4 + 2 * 16 + 2);
        assert_eq!(core::mem::offset_of!(UsedRing<4>, ring), 4);
        assert_eq!(core::mem::size_of::<UsedElement>(), 8);
        assert_eq!(core::mem::align_of::<UsedRing<4>>(), 4);
        assert_eq!(core::mem::offset_of!(SplitQueue<16>, descriptors) % 16, 0);
        assert_eq!(core::mem::offset_of!(SplitQueue<16>, available) % 2, 0);
        assert_eq!(core::mem::offset_of!(SplitQueue<16>, used) % 4, 0);
    }

    #[test]
    fn another_device_or_a_legacy_transport_is_named_in_the_error() {
        let (memory, registers) = transport(4);
        assert_eq!(identify(registers, 4), Ok(()));
        assert_eq!(identify(registers, 16), Err(TransportError::WrongDevice { expected: 16, found: 4 }));
        memory.set(0x004, 1);
        assert_eq!(identify(registers, 4), Err(TransportError::NotModern(1)));
        memory.set(0x000, 0);
        assert_eq!(identify(registers, 4), Err(TransportError::NotVirtio(0)));
    }

    #[test]
    fn initialise_negotiates_version_1_and_hands_over_queue_0() {
        let (memory, registers) = transport(4);
        assert_eq!(initialise(registers, queue(8), &mut Polls(10)), Ok(()));
        assert_eq!(memory.get(0x070), 0xf, "ACKNOWLEDGE | DRIVER | FEATURES_OK | DRIVER_OK");
        assert_eq!((memory.get(0x024), memory.get(0x020)), (1, VERSION_1_HIGH_BIT), "the high word accepted last");
        assert_eq!(memory.get(0x038), 8);
        assert_eq!(memory.get(0x044), 1, "queue ready");
        assert_eq!((memory.get(0x084), memory.get(0x080)), (0x1, 0x2345_6000));
        assert_eq!((memory.get(0x094), memory.get(0x090)), (0, 0x4000_1000));
        assert_eq!((memory.get(0x0a4), memory.get(0x0a0)), (0, 0x4000_2000));
    }

    #[test]
    fn a_device_that_refuses_is_failed_and_named() {
        let (memory, registers) = transport(4);
        memory.set(0x010, 0);
        assert_eq!(initialise(registers, queue(8), &mut Polls(10)), Err(TransportError::NoVersion1));
        assert_eq!(memory.get(0x070), status::FAILED);
        memory.set(0x010, VERSION_1_HIGH_BIT);
        memory.set(0x034, 4);
        assert_eq!(initialise(registers, queue(8), &mut Polls(10)), Err(TransportError::Queue(4)), "larger than offered");
        memory.set(0x034, 256);
        assert_eq!(initialise(registers, queue(6), &mut Polls(10)), Err(TransportError::Queue(256)), "not a power of 2");
        memory.set(0x044, 1);
        assert_eq!(initialise(registers, queue(8), &mut Polls(10)), Err(TransportError::Queue(256)), "queue in use");
    }
}
