//! The vocabulary every emulated device speaks: one trapped MMIO access (offset, width,
//! value), how the model treated it, and why it was refused.
//!
//! A data abort on a page that stage 2 leaves unmapped reaches a device model through the
//! [`MmioDevice`] trait, whatever the device: the vGIC distributor and redistributors, the
//! vPL011, and any model added later. The width is decoded once from `ESR_EL2.ISS.SAS`
//! ([`crate::esr`]) into [`AccessWidth`], the same type the models take, so there is nothing to
//! convert on the trap path. A refusal is an [`MmioError`], a value the image logs and turns
//! into an injected abort; the models never format text.
//!
//! Invariants: no allocation, no panic on any offset, width or value.
//!
//! [impl->dsn~vgic-frames~1]

/// Size of one data access, as encoded by `ESR_EL2.ISS.SAS` (Arm ARM D17.2.40).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AccessWidth {
    /// 8 bits (`SAS` = 0b00).
    Byte,
    /// 16 bits (`SAS` = 0b01).
    Halfword,
    /// 32 bits (`SAS` = 0b10).
    Word,
    /// 64 bits (`SAS` = 0b11).
    Doubleword,
}

impl AccessWidth {
    /// Number of bytes transferred.
    pub const fn bytes(self) -> u64 {
        match self {
            Self::Byte => 1,
            Self::Halfword => 2,
            Self::Word => 4,
            Self::Doubleword => 8,
        }
    }

    /// The width transferring `bytes` bytes, if there is one.
    pub const fn from_bytes(bytes: u64) -> Option<Self> {
        match bytes {
            1 => Some(Self::Byte),
            2 => Some(Self::Halfword),
            4 => Some(Self::Word),
            8 => Some(Self::Doubleword),
            _ => None,
        }
    }

    /// The width named by a two-bit `ISS.SAS` field (only the low two bits count).
    pub const fn from_sas(sas: u64) -> Self {
        match sas & 0b11 {
            0b00 => Self::Byte,
            0b01 => Self::Halfword,
            0b10 => Self::Word,
            _ => Self::Doubleword,
        }
    }

    /// The bits of a register value an access of this width carries.
    pub const fn value_mask(self) -> u64 {
        match self {
            Self::Byte => 0xff,
            Self::Halfword => 0xffff,
            Self::Word => 0xffff_ffff,
            Self::Doubleword => u64::MAX,
        }
    }

    /// Whether an access of this width at `offset` is naturally aligned.
    pub const fn is_aligned(self, offset: u64) -> bool {
        // `bytes()` is 1, 2, 4 or 8: never zero, so the subtraction cannot wrap.
        offset & self.bytes().wrapping_sub(1) == 0
    }

    /// The low 32 bits of what a write of this width carries in `value`: the value stored by
    /// a write to a 32-bit register. The models accept doubleword accesses only where a
    /// 64-bit register or reserved space is, so no 32-bit register loses written bits.
    pub(crate) const fn written_word(self, value: u64) -> u32 {
        (value & self.value_mask() & 0xffff_ffff) as u32
    }
}

/// How a model handled an access that was valid in size and alignment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Disposition {
    /// A register the model implements; the access had its architectural effect.
    Emulated,
    /// No implemented register at this offset (reserved, or a register this configuration
    /// makes RAZ/WI): the read returned zero, the write was dropped.
    RazWi,
    /// A write to a read-only register; the architecture ignores it, so the model did too.
    ReadOnly,
}

/// Result of a read the model accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadOutcome {
    /// The value for the guest's transfer register (only the accessed width is meaningful).
    pub value: u64,
    /// How the model handled the read.
    pub disposition: Disposition,
}

impl ReadOutcome {
    /// A read of an implemented register.
    pub const fn emulated(value: u64) -> Self {
        Self { value, disposition: Disposition::Emulated }
    }

    /// A read of an offset that holds no implemented register.
    pub const fn read_as_zero() -> Self {
        Self { value: 0, disposition: Disposition::RazWi }
    }
}

/// Why a device refused an access. The image logs it (kind and offset) and makes the guest
/// take a synchronous external abort, as a bus error on real hardware would.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MmioError {
    /// The register at `offset` does not support accesses of `width`.
    UnsupportedWidth {
        /// Offset inside the device's window.
        offset: u64,
        /// The refused width.
        width: AccessWidth,
    },
    /// `offset` is not a multiple of the access size.
    Misaligned {
        /// Offset inside the device's window.
        offset: u64,
        /// The access width.
        width: AccessWidth,
    },
    /// A sub-word write that does not start at a register's first byte.
    PartialWrite {
        /// Offset inside the device's window.
        offset: u64,
        /// The access width.
        width: AccessWidth,
    },
    /// `offset` lies outside what the device implements (past the last redistributor, or
    /// outside the frame).
    OutsideWindow {
        /// The offending offset.
        offset: u64,
    },
    /// The access hit no device of the partition's device map.
    Unmapped {
        /// The guest-physical address accessed.
        ipa: u64,
    },
    /// The syndrome did not describe the access (`ESR_EL2.ISS.ISV` = 0: a load/store pair,
    /// a write-back addressing mode...), so no device model can emulate it.
    Undescribed {
        /// The guest-physical address accessed.
        ipa: u64,
    },
}

impl MmioError {
    /// A short, fixed name of the error kind, for logs that carry no formatted text.
    pub const fn kind(&self) -> &'static str {
        match self {
            Self::UnsupportedWidth { .. } => "unsupported width",
            Self::Misaligned { .. } => "misaligned",
            Self::PartialWrite { .. } => "partial write",
            Self::OutsideWindow { .. } => "outside the device window",
            Self::Unmapped { .. } => "no device",
            Self::Undescribed { .. } => "access not described by the syndrome",
        }
    }

    /// The offset (or, for [`MmioError::Unmapped`]/[`MmioError::Undescribed`], the IPA) the
    /// error is about.
    pub const fn address(&self) -> u64 {
        match *self {
            Self::UnsupportedWidth { offset, .. }
            | Self::Misaligned { offset, .. }
            | Self::PartialWrite { offset, .. }
            | Self::OutsideWindow { offset } => offset,
            Self::Unmapped { ipa } | Self::Undescribed { ipa } => ipa,
        }
    }
}

/// An emulated memory-mapped device: what the data-abort handler calls for an access inside
/// the device's window. `offset` is relative to the window's base.
///
/// A model keeps its own state only. What an access asks of the rest of the system (print a
/// byte, update the physical GIC, refill a vCPU's list registers) it reports through
/// `Self::Effects`, which the device map ([`crate::devices`]) turns into actions; a model's
/// interrupt output is read with [`MmioDevice::interrupt_line`] after every access and wired
/// to the vGIC in one place.
pub trait MmioDevice {
    /// What a write may ask of the rest of the system.
    type Effects;

    /// Reads `width` bytes at `offset`. Reads may change state (a FIFO pops).
    fn read(&mut self, offset: u64, width: AccessWidth) -> Result<ReadOutcome, MmioError>;

    /// Writes the low `width` bytes of `value` at `offset`.
    fn write(&mut self, offset: u64, width: AccessWidth, value: u64) -> Result<(Disposition, Self::Effects), MmioError>;

    /// The level of the device's interrupt output, for devices that have one (`None`: the
    /// device raises no interrupt of its own).
    fn interrupt_line(&self) -> Option<bool> {
        None
    }

    /// Whether a read at `offset` may change the device's interrupt output. A device whose
    /// reads have no side effects there answers `false`, and the device map then skips
    /// re-reading its line after such a read (the line cannot have moved). The default is the
    /// safe answer.
    fn read_may_change_line(&self, _offset: u64) -> bool {
        true
    }
}

// [utest->dsn~vgic-frames~1]
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths_round_trip_through_byte_counts() {
        for width in [AccessWidth::Byte, AccessWidth::Halfword, AccessWidth::Word, AccessWidth::Doubleword] {
            assert_eq!(AccessWidth::from_bytes(width.bytes()), Some(width));
        }
        assert_eq!(AccessWidth::from_bytes(3), None);
        assert_eq!(AccessWidth::from_bytes(16), None);
    }

    #[test]
    fn sas_field_names_each_width() {
        assert_eq!(AccessWidth::from_sas(0b00), AccessWidth::Byte);
        assert_eq!(AccessWidth::from_sas(0b01), AccessWidth::Halfword);
        assert_eq!(AccessWidth::from_sas(0b10), AccessWidth::Word);
        assert_eq!(AccessWidth::from_sas(0b111), AccessWidth::Doubleword, "only two bits count");
    }

    #[test]
    fn alignment_is_natural() {
        assert!(AccessWidth::Word.is_aligned(0x104));
        assert!(!AccessWidth::Word.is_aligned(0x102));
        assert!(AccessWidth::Doubleword.is_aligned(0x6100));
        assert!(!AccessWidth::Doubleword.is_aligned(0x6104));
        assert!(AccessWidth::Byte.is_aligned(0x403));
    }

    #[test]
    fn errors_name_their_kind_and_address() {
        let error = MmioError::Misaligned { offset: 0x102, width: AccessWidth::Word };
        assert_eq!(error.kind(), "misaligned");
        assert_eq!(error.address(), 0x102);
        assert_eq!(MmioError::Unmapped { ipa: 0x900_1000 }.address(), 0x900_1000);
    }
}
