//! Address newtypes: host-physical, guest-physical (IPA) and hypervisor-virtual addresses.
//!
//! A stage-2 bug is usually an IPA used where a physical address was meant. The types make
//! the three spaces distinct; converting between them is always an explicit call.
//!
//! [impl->dsn~core-addresses~1]

use core::fmt;

/// Declares one address newtype: a `u64` wrapper with checked offsetting, an alignment test
/// and hexadecimal formatting, identical for the three address spaces.
macro_rules! address_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
        #[repr(transparent)]
        pub struct $name(pub u64);

        impl $name {
            /// The raw 64-bit value.
            pub const fn raw(self) -> u64 {
                self.0
            }

            /// `self + offset`, or `None` on overflow.
            pub const fn checked_add(self, offset: u64) -> Option<Self> {
                match self.0.checked_add(offset) {
                    Some(value) => Some(Self(value)),
                    None => None,
                }
            }

            /// Whether the address is a multiple of `alignment` (a power of two).
            pub const fn is_aligned(self, alignment: u64) -> bool {
                self.0 & (alignment.wrapping_sub(1)) == 0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({:#x})"), self.0)
            }
        }

        impl fmt::LowerHex for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::LowerHex::fmt(&self.0, f)
            }
        }
    };
}

address_type!(
    /// A host-physical address: what the hardware puts on the bus.
    PhysAddr
);
address_type!(
    /// An intermediate physical address: a guest's view of physical memory, translated by
    /// stage 2.
    Ipa
);
address_type!(
    /// A hypervisor (EL2 stage-1) virtual address.
    VirtAddr
);

/// A contiguous range of guest-physical memory backed by a contiguous host-physical range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryRegion {
    /// Where the guest sees the region.
    pub ipa: Ipa,
    /// Where the region really is.
    pub phys: PhysAddr,
    /// Length in bytes.
    pub size: u64,
}

impl MemoryRegion {
    /// Whether `ipa .. ipa + len` lies wholly inside the region.
    pub const fn contains_ipa(&self, ipa: Ipa, len: u64) -> bool {
        let start = self.ipa.0;
        match (ipa.0.checked_add(len), start.checked_add(self.size)) {
            (Some(end), Some(region_end)) => ipa.0 >= start && end <= region_end,
            _ => false,
        }
    }

    /// The host-physical address behind `ipa`, if the region maps it.
    pub const fn translate(&self, ipa: Ipa) -> Option<PhysAddr> {
        if !self.contains_ipa(ipa, 1) {
            return None;
        }
        // `contains_ipa` keeps the subtraction from failing; a region whose host-physical end
        // overflows translates nothing past the overflow.
        match ipa.0.checked_sub(self.ipa.0) {
            Some(offset) => self.phys.checked_add(offset),
            None => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // [utest->dsn~core-addresses~1]
    #[test]
    fn region_translates_only_inside_itself() {
        let region = MemoryRegion { ipa: Ipa(0x4000_0000), phys: PhysAddr(0x4800_0000), size: 0x1000 };
        assert_eq!(region.translate(Ipa(0x4000_0010)), Some(PhysAddr(0x4800_0010)));
        assert_eq!(region.translate(Ipa(0x4000_1000)), None);
        assert_eq!(region.translate(Ipa(0x3fff_ffff)), None);
        assert!(!region.contains_ipa(Ipa(0x4000_0ff0), 0x20));
        assert!(!region.contains_ipa(Ipa(u64::MAX), 2));
    }

    // [utest->dsn~core-addresses~1]
    #[test]
    fn alignment_is_checked_against_powers_of_two() {
        assert!(PhysAddr(0x20_0000).is_aligned(0x20_0000));
        assert!(!PhysAddr(0x20_1000).is_aligned(0x20_0000));
    }
}
