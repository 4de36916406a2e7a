//! The access widths each vGIC register accepts (IHI 0069 12.1.3), shared by the
//! distributor and redistributor decoders. The access vocabulary itself (width, disposition,
//! error) is [`crate::mmio`], common to every device model.
//!
//! [impl->dsn~vgic-frames~1]

use crate::mmio::AccessWidth;

// The access widths the distributor's and redistributors' register maps allow
// (IHI 0069 12.1.3), shared by both decoders.

/// Widths of a 32-bit register without byte access.
pub(super) const WORD: &[AccessWidth] = &[AccessWidth::Word];
/// Widths of a byte-accessible 32-bit register.
pub(super) const BYTE_OR_WORD: &[AccessWidth] = &[AccessWidth::Byte, AccessWidth::Word];
/// Widths of a 64-bit register; reserved space accepts them too, reading as zero.
pub(super) const WORD_OR_DOUBLEWORD: &[AccessWidth] = &[AccessWidth::Word, AccessWidth::Doubleword];

