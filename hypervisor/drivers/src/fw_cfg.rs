//! QEMU's firmware configuration device (`qemu,fw-cfg-mmio`), as far as the display
//! mediator's ramfb backend needs it: find a file by name and write it by DMA.
//!
//! Interface (QEMU `docs/specs/fw_cfg.rst`, MMIO variant): a data register at offset 0
//! (byte reads stream the selected item), a 16-bit big-endian selector at 8, and a 64-bit
//! big-endian DMA address register at 16 whose low half (offset 20) starts a transfer. A
//! transfer is described by a `FWCfgDmaAccess` in memory (big-endian `control`, `length`,
//! `address`); the device clears `control` when done, or leaves the error bit. The file
//! directory is item `0x19`: a big-endian count, then 64-byte entries (`size`, `select`,
//! reserved, a 56-byte NUL-padded name). Writable items (like `etc/ramfb`) take writes only
//! by DMA.

use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::registers::{ReadOnly, WriteOnly};
use tock_registers::register_structs;

register_structs! {
    /// fw_cfg MMIO registers.
    pub Registers {
        (0x00 => data: ReadOnly<u8>),
        (0x01 => _reserved0),
        (0x08 => selector: WriteOnly<u16>),
        (0x0a => _reserved1),
        (0x10 => dma_high: WriteOnly<u32>),
        (0x14 => dma_low: WriteOnly<u32>),
        (0x18 => @END),
    }
}

/// The file directory's selector.
const FILE_DIRECTORY: u16 = 0x19;
/// Bytes of one directory entry.
const ENTRY_BYTES: usize = 64;
/// Bytes of an entry's name field.
const NAME_BYTES: usize = 56;
/// Most directory entries looked at (QEMU `virt` has a few dozen).
const MAX_ENTRIES: u32 = 1024;
/// `FWCfgDmaAccess.control` bits.
const CONTROL_ERROR: u32 = 0x01;
/// Select the item in bits 31:16 first.
const CONTROL_SELECT: u32 = 0x08;
/// Write `length` bytes from `address` to the item.
const CONTROL_WRITE: u32 = 0x10;
/// Status polls after starting a transfer before giving up (QEMU completes it during the
/// register write; real devices may take a little longer).
const DMA_POLLS: u32 = 1_000_000;

/// A `FWCfgDmaAccess` descriptor (fields stored big-endian, as the device reads them).
#[repr(C, align(16))]
#[derive(Debug, Default)]
pub struct DmaAccess {
    /// Command bits, then status (0: done).
    control: u32,
    /// Bytes to transfer.
    length: u32,
    /// Physical address of the bytes.
    address: u64,
}

impl DmaAccess {
    /// An idle descriptor.
    pub const fn new() -> Self {
        Self {
            control: 0,
            length: 0,
            address: 0,
        }
    }
}

/// What can go wrong talking to fw_cfg.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FwCfgError {
    /// No file of that name in the directory.
    FileNotFound,
    /// The transfer is longer than 4 GiB.
    TooLong,
    /// The device set the error bit, or never finished.
    Dma,
}

/// The ramfb configuration (`etc/ramfb`, QEMU `hw/display/ramfb.c` `RAMFBCfg`): all
/// big-endian, 28 bytes.
pub fn ramfb_configuration(address: u64, width: u32, height: u32, stride: u32) -> [u8; 28] {
    /// `DRM_FORMAT_XRGB8888`: fourcc `XR24`.
    const XRGB8888: u32 = u32::from_le_bytes(*b"XR24");
    let mut bytes = [0u8; 28];
    let fields: [&[u8]; 6] = [
        &address.to_be_bytes(),
        &XRGB8888.to_be_bytes(),
        &0u32.to_be_bytes(),
        &width.to_be_bytes(),
        &height.to_be_bytes(),
        &stride.to_be_bytes(),
    ];
    for (target, source) in bytes.iter_mut().zip(fields.iter().flat_map(|field| field.iter())) {
        *target = *source;
    }
    bytes
}

/// The ramfb configuration showing `pixels` (XRGB8888, `width × height`, rows of `width`
/// pixels, identity-mapped: its address is the one the device reads), or `None` when the
/// sizes overflow.
pub fn ramfb_configuration_of(pixels: &[u32], width: u32, height: u32) -> Option<[u8; 28]> {
    let stride = width.checked_mul(4)?;
    Some(ramfb_configuration(pixels.as_ptr() as u64, width, height, stride))
}

/// A fw_cfg device the hypervisor owns.
pub struct FwCfg {
    /// The register block (MMIO).
    registers: &'static Registers,
}

impl FwCfg {
    /// Drives the fw_cfg register block at `base`.
    ///
    /// # Safety
    /// `base` must be a fw_cfg MMIO register block mapped as Device memory at EL2, driven by
    /// nobody else.
    pub unsafe fn new(base: usize) -> Self {
        // SAFETY: the caller's guarantee; the registers use interior mutability.
        let registers = unsafe { &*(base as *const Registers) };
        Self { registers }
    }

    /// Reads `out.len()` bytes of the selected item.
    fn read(&self, out: &mut [u8]) {
        for byte in out.iter_mut() {
            *byte = self.registers.data.get();
        }
    }

    /// The selector and size of the file called `name`.
    pub fn find_file(&self, name: &[u8]) -> Result<(u16, u32), FwCfgError> {
        self.registers.selector.set(FILE_DIRECTORY.to_be());
        let mut count = [0u8; 4];
        self.read(&mut count);
        let mut entry = [0u8; ENTRY_BYTES];
        // BOUND: at most MAX_ENTRIES entries of 64 bytes each.
        for _ in 0..u32::from_be_bytes(count).min(MAX_ENTRIES) {
            self.read(&mut entry);
            let [s0, s1, s2, s3, e0, e1, _, _, entry_name @ ..] = entry;
            let length = entry_name.iter().position(|byte| *byte == 0).unwrap_or(NAME_BYTES);
            if entry_name.get(..length) == Some(name) {
                return Ok((u16::from_be_bytes([e0, e1]), u32::from_be_bytes([s0, s1, s2, s3])));
            }
        }
        Err(FwCfgError::FileNotFound)
    }

    /// Writes `bytes` to the item `select` by DMA, using `access` as the descriptor. Both must
    /// be identity-mapped RAM (their addresses are what the device reads).
    pub fn write_file(&self, select: u16, bytes: &[u8], access: &mut DmaAccess) -> Result<(), FwCfgError> {
        let length = u32::try_from(bytes.len()).map_err(|_| FwCfgError::TooLong)?;
        access.control = (u32::from(select).wrapping_shl(16) | CONTROL_SELECT | CONTROL_WRITE).to_be();
        access.length = length.to_be();
        access.address = (bytes.as_ptr() as u64).to_be();
        let descriptor = core::ptr::addr_of_mut!(*access) as u64;
        // SAFETY: the descriptor and the bytes are written before the device is told where
        // they are; the barrier orders the stores before the MMIO write that starts the DMA.
        core::sync::atomic::fence(core::sync::atomic::Ordering::SeqCst);
        self.registers.dma_high.set(u32::try_from(descriptor.wrapping_shr(32)).unwrap_or(0).to_be());
        self.registers.dma_low.set(u32::try_from(descriptor & 0xffff_ffff).unwrap_or(0).to_be());
        let control = core::ptr::addr_of!(access.control);
        // BOUND: at most DMA_POLLS reads of the status word.
        for _ in 0..DMA_POLLS {
            // SAFETY: `control` points into `access`, which this function borrows mutably;
            // the device writes it, so the read is volatile.
            let status = u32::from_be(unsafe { core::ptr::read_volatile(control) });
            if status & CONTROL_ERROR != 0 {
                return Err(FwCfgError::Dma);
            }
            if status == 0 {
                return Ok(());
            }
        }
        Err(FwCfgError::Dma)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ramfb_configuration_is_big_endian_in_qemus_field_order() {
        let bytes = ramfb_configuration(0x4002_8000, 640, 480, 2560);
        assert_eq!(&bytes[0..8], &0x4002_8000u64.to_be_bytes());
        assert_eq!(&bytes[8..12], b"42RX", "XR24 as a big-endian word of its little-endian fourcc");
        assert_eq!(&bytes[12..16], &[0; 4]);
        assert_eq!(&bytes[16..20], &640u32.to_be_bytes());
        assert_eq!(&bytes[20..24], &480u32.to_be_bytes());
        assert_eq!(&bytes[24..28], &2560u32.to_be_bytes());
    }

    #[test]
    fn the_register_block_has_qemus_offsets() {
        assert_eq!(core::mem::offset_of!(Registers, selector), 8);
        assert_eq!(core::mem::offset_of!(Registers, dma_high), 0x10);
        assert_eq!(core::mem::offset_of!(Registers, dma_low), 0x14);
        assert_eq!(core::mem::size_of::<Registers>(), 0x18);
    }
}
