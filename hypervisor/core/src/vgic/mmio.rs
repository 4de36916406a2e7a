//! The vocabulary of a trapped MMIO access: its width and how the model treated it.
//!
//! Every device model the data-abort handler calls (the vGIC frames, the vPL011) takes an
//! offset inside its frame, an [`AccessWidth`] decoded from `ESR_EL2.ISS.SAS`, and for writes
//! the value from the transfer register. What the model did is reported back as a
//! [`Disposition`] so the image can log guest accesses that hit nothing, without the model
//! formatting anything itself.
//!
//! [impl->dsn~vgic-frames~1]

/// Size of one data access, as encoded by `ESR_EL2.ISS.SAS` (Arm ARM D17.2.40).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AccessWidth {
    /// 8 bits.
    Byte,
    /// 16 bits.
    Halfword,
    /// 32 bits.
    Word,
    /// 64 bits.
    Doubleword,
}

// The access widths the distributor's and redistributors' register maps allow
// (IHI 0069 12.1.3), shared by both decoders.

/// Widths of a 32-bit register without byte access.
pub(super) const WORD: &[AccessWidth] = &[AccessWidth::Word];
/// Widths of a byte-accessible 32-bit register.
pub(super) const BYTE_OR_WORD: &[AccessWidth] = &[AccessWidth::Byte, AccessWidth::Word];
/// Widths of a 64-bit register; reserved space accepts them too, reading as zero.
pub(super) const WORD_OR_DOUBLEWORD: &[AccessWidth] = &[AccessWidth::Word, AccessWidth::Doubleword];

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
    fn alignment_is_natural() {
        assert!(AccessWidth::Word.is_aligned(0x104));
        assert!(!AccessWidth::Word.is_aligned(0x102));
        assert!(AccessWidth::Doubleword.is_aligned(0x6100));
        assert!(!AccessWidth::Doubleword.is_aligned(0x6104));
        assert!(AccessWidth::Byte.is_aligned(0x403));
    }
}
