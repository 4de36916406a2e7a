//! Byte counts and address ranges as written in manifests and `board.toml`, and how they print.
//!
//! Sizes come from people ("64MiB", `0x4800_0000`, `67108864`), so parsing is strict: one
//! optional binary suffix, no fractions, and every multiplication is checked, because a size
//! that silently wrapped would place a partition on top of another. [`AddressRange`] keeps the
//! invariant that `base + size` fits in 64 bits, so code holding one never re-checks it.
//!
//! Design: [impl->dsn~config-units~1]

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

/// 4 KiB: the smallest stage-2 translation granule; every RAM size is a multiple of it.
pub const GRANULE_4KIB: u64 = 0x1000;
/// 2 MiB: a level-2 block with a 4 KiB granule (Arm ARM D8.2.8). Partition RAM is placed on
/// this alignment so stage 2 maps it with blocks rather than pages.
pub const BLOCK_2MIB: u64 = 0x20_0000;

/// A byte count or address as written in TOML: an integer, or a string with an optional
/// binary suffix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SizeValue {
    /// A TOML integer (`0x4800_0000`, `67108864`).
    Integer(i64),
    /// A TOML string (`"64MiB"`, `"0x4800_0000"`, `"2 GiB"`).
    Text(String),
}

/// Why a [`SizeValue`] is not a byte count.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SizeError {
    /// A negative integer.
    Negative(i64),
    /// Text that is not `<number>[suffix]`.
    Malformed(String),
    /// The value does not fit in 64 bits.
    Overflow(String),
}

impl fmt::Display for SizeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Negative(value) => write!(f, "{value} is negative"),
            Self::Malformed(text) => write!(f, "`{text}` is not a byte count"),
            Self::Overflow(text) => write!(f, "`{text}` does not fit in 64 bits"),
        }
    }
}

/// The suffixes a size may carry, with their multipliers (binary, as memory is sized).
const SUFFIXES: &[(&str, u64)] = &[
    ("TiB", 1 << 40),
    ("GiB", 1 << 30),
    ("MiB", 1 << 20),
    ("KiB", 1 << 10),
    ("B", 1),
];

impl SizeValue {
    /// The value in bytes.
    pub fn bytes(&self) -> Result<u64, SizeError> {
        match self {
            Self::Integer(value) => u64::try_from(*value).map_err(|_| SizeError::Negative(*value)),
            Self::Text(text) => parse_size_text(text),
        }
    }
}

/// Parses `<number>[suffix]` where number is decimal or `0x` hex, `_` separators allowed.
fn parse_size_text(text: &str) -> Result<u64, SizeError> {
    let trimmed = text.trim();
    let (number, multiplier) = SUFFIXES
        .iter()
        .find_map(|(suffix, multiplier)| {
            trimmed
                .strip_suffix(suffix)
                .map(|number| (number.trim_end(), *multiplier))
        })
        .unwrap_or((trimmed, 1));
    let digits: String = number.chars().filter(|c| *c != '_').collect();
    let (radix, digits) = match digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        Some(hex) => (16, hex.to_owned()),
        None => (10, digits),
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return Err(SizeError::Malformed(text.to_owned()));
    }
    let value =
        u64::from_str_radix(&digits, radix).map_err(|_| SizeError::Overflow(text.to_owned()))?;
    value
        .checked_mul(multiplier)
        .ok_or_else(|| SizeError::Overflow(text.to_owned()))
}

impl<'de> Deserialize<'de> for SizeValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SizeVisitor;

        impl Visitor<'_> for SizeVisitor {
            type Value = SizeValue;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "a byte count: an integer or a string such as \"64MiB\" or \"0x4800_0000\"",
                )
            }

            fn visit_i64<E: de::Error>(self, value: i64) -> Result<SizeValue, E> {
                Ok(SizeValue::Integer(value))
            }

            fn visit_u64<E: de::Error>(self, value: u64) -> Result<SizeValue, E> {
                i64::try_from(value)
                    .map(SizeValue::Integer)
                    .or_else(|_| Ok(SizeValue::Text(value.to_string())))
            }

            fn visit_str<E: de::Error>(self, value: &str) -> Result<SizeValue, E> {
                Ok(SizeValue::Text(value.to_owned()))
            }
        }

        deserializer.deserialize_any(SizeVisitor)
    }
}

/// A range of addresses `[base, base + size)` whose end fits in 64 bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AddressRange {
    base: u64,
    size: u64,
}

impl AddressRange {
    /// The empty range at address 0 (what the generated tables hold for "none").
    pub const EMPTY: Self = Self { base: 0, size: 0 };

    /// The range, or `None` when `base + size` overflows.
    pub const fn new(base: u64, size: u64) -> Option<Self> {
        match base.checked_add(size) {
            Some(_) => Some(Self { base, size }),
            None => None,
        }
    }

    /// First address.
    pub const fn base(self) -> u64 {
        self.base
    }

    /// Length in bytes.
    pub const fn size(self) -> u64 {
        self.size
    }

    /// One past the last address (cannot overflow: checked at construction).
    pub const fn end(self) -> u64 {
        self.base + self.size
    }

    /// Whether the two ranges share at least one byte.
    pub const fn overlaps(self, other: Self) -> bool {
        self.size != 0 && other.size != 0 && self.base < other.end() && other.base < self.end()
    }

    /// Whether `other` lies wholly inside `self`.
    pub const fn contains(self, other: Self) -> bool {
        other.base >= self.base && other.end() <= self.end()
    }
}

impl fmt::Display for AddressRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}..{}", hex(self.base), hex(self.end()))
    }
}

/// `value` rounded up to a multiple of `alignment` (a power of two), or `None` on overflow.
pub const fn align_up(value: u64, alignment: u64) -> Option<u64> {
    match value.checked_add(alignment - 1) {
        Some(bumped) => Some(bumped & !(alignment - 1)),
        None => None,
    }
}

/// `value` as hex with `_` every four digits (`0x4000_0000`), as Rust source and humans read it.
pub fn hex(value: u64) -> String {
    let digits = format!("{value:x}");
    let mut grouped = String::with_capacity(digits.len() + digits.len() / 4 + 2);
    grouped.push_str("0x");
    for (index, digit) in digits.chars().enumerate() {
        if index != 0 && (digits.len() - index) % 4 == 0 {
            grouped.push('_');
        }
        grouped.push(digit);
    }
    grouped
}

/// A byte count in the largest binary unit that divides it exactly (`64 MiB`, `4100 KiB`).
pub fn human_size(bytes: u64) -> String {
    SUFFIXES
        .iter()
        .find(|(_, multiplier)| *multiplier > 1 && bytes != 0 && bytes % multiplier == 0)
        .map(|(suffix, multiplier)| format!("{} {suffix}", bytes / multiplier))
        .unwrap_or_else(|| format!("{bytes} B"))
}

/// `bytes` rounded to one decimal of the largest unit below it (`31.4 MiB`, `1.6 KiB`,
/// `512 B`): for blob sizes in reports, which are rarely whole units.
pub fn approximate_size(bytes: u64) -> String {
    const KIB: u64 = 1 << 10;
    const MIB: u64 = 1 << 20;
    const GIB: u64 = 1 << 30;
    let (unit, divisor) = match bytes {
        GIB.. => ("GiB", GIB),
        MIB.. => ("MiB", MIB),
        KIB.. => ("KiB", KIB),
        _ => return format!("{bytes} B"),
    };
    format!("{:.1} {unit}", bytes as f64 / divisor as f64)
}

// [utest->dsn~config-units~1]
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn approximate_sizes_keep_one_decimal_of_the_largest_unit() {
        assert_eq!(approximate_size(512), "512 B");
        assert_eq!(approximate_size(1620), "1.6 KiB");
        assert_eq!(approximate_size(32_954_880), "31.4 MiB");
        assert_eq!(approximate_size(40 << 20), "40.0 MiB");
        assert_eq!(approximate_size(3 << 30), "3.0 GiB");
    }

    fn text(value: &str) -> Result<u64, SizeError> {
        SizeValue::Text(value.to_owned()).bytes()
    }

    #[test]
    fn sizes_accept_suffixes_hex_and_separators() {
        assert_eq!(text("64MiB"), Ok(64 << 20));
        assert_eq!(text("2 GiB"), Ok(2 << 30));
        assert_eq!(text("0x4800_0000"), Ok(0x4800_0000));
        assert_eq!(text("4096"), Ok(4096));
        assert_eq!(text("0x10KiB"), Ok(16 << 10));
        assert_eq!(SizeValue::Integer(0x20_0000).bytes(), Ok(0x20_0000));
    }

    #[test]
    fn sizes_reject_garbage_negative_and_overflow() {
        assert_eq!(text("64 MB"), Err(SizeError::Malformed("64 MB".into())));
        assert_eq!(text("MiB"), Err(SizeError::Malformed("MiB".into())));
        assert_eq!(text("1.5GiB"), Err(SizeError::Malformed("1.5GiB".into())));
        assert_eq!(SizeValue::Integer(-1).bytes(), Err(SizeError::Negative(-1)));
        assert_eq!(
            text("16777216TiB"),
            Err(SizeError::Overflow("16777216TiB".into()))
        );
        assert_eq!(
            text("0x1_0000_0000_0000_0000"),
            Err(SizeError::Overflow("0x1_0000_0000_0000_0000".into()))
        );
    }

    #[test]
    fn ranges_refuse_to_wrap_and_compare_by_bytes() {
        assert_eq!(AddressRange::new(u64::MAX, 1), None);
        let low = AddressRange::new(0x1000, 0x1000).unwrap();
        let high = AddressRange::new(0x2000, 0x1000).unwrap();
        assert!(!low.overlaps(high));
        assert!(AddressRange::new(0x1fff, 2).unwrap().overlaps(high));
        assert!(AddressRange::new(0, 0x4000).unwrap().contains(high));
        assert!(!high.contains(low));
    }

    #[test]
    fn hex_groups_by_four_digits_and_sizes_use_the_largest_exact_unit() {
        assert_eq!(hex(0x4000_0000), "0x4000_0000");
        assert_eq!(hex(0x20_0000), "0x20_0000");
        assert_eq!(hex(0), "0x0");
        assert_eq!(human_size(64 << 20), "64 MiB");
        assert_eq!(human_size(0x1001), "4097 B");
        assert_eq!(align_up(0x20_0001, BLOCK_2MIB), Some(0x40_0000));
        assert_eq!(align_up(u64::MAX, BLOCK_2MIB), None);
    }
}
