//! The seeded pseudo-random generator that drives every decision, so that a seed replays a
//! run exactly (as far as the hypervisor's answers are deterministic).
//!
//! SplitMix64 (Steele, Lea, Flood: "Fast splittable pseudorandom number generators", 2014):
//! one 64-bit state advanced by a fixed odd constant and scrambled on output. Every seed,
//! 0 included, gives a full-period sequence.

/// The generator.
#[derive(Clone, Debug)]
pub struct Rng {
    /// The state, advanced by the golden-ratio increment on each draw.
    state: u64,
}

impl Rng {
    /// A generator whose sequence is fixed by `seed`.
    pub const fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut mixed = self.state;
        mixed = (mixed ^ (mixed >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        mixed = (mixed ^ (mixed >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        mixed ^ (mixed >> 31)
    }

    /// A number in `0..bound` (0 when `bound` is 0). The modulo bias is irrelevant here.
    pub fn below(&mut self, bound: u64) -> u64 {
        self.next_u64().checked_rem(bound).unwrap_or(0)
    }

    /// An index into a collection of `length` items (0 when empty).
    pub fn index(&mut self, length: usize) -> usize {
        let bound = u64::try_from(length).unwrap_or(u64::MAX);
        usize::try_from(self.below(bound)).unwrap_or(0)
    }

    /// True with probability `numerator / denominator`.
    pub fn chance(&mut self, numerator: u64, denominator: u64) -> bool {
        self.below(denominator) < numerator
    }

    /// One of `items` (the first one when `items` has a single entry).
    pub fn pick<T: Copy>(&mut self, items: &[T], fallback: T) -> T {
        let at = self.index(items.len());
        items.get(at).copied().unwrap_or(fallback)
    }

    /// A value that tends to find edge cases: all zeros or ones, single bits, small and
    /// sign-boundary numbers, and plain random bits.
    pub fn interesting(&mut self) -> u64 {
        match self.below(8) {
            0 => 0,
            1 => u64::MAX,
            2 => 1_u64 << self.below(64),
            3 => self.below(256),
            4 => self.pick(&[0x7fff_ffff, 0x8000_0000, 0xffff_ffff, 0x8000_0000_0000_0000, 0x7fff_ffff_ffff_ffff], 0),
            5 => self.next_u64() & 0xffff_ffff,
            _ => self.next_u64(),
        }
    }
}
