//! The fuzz harnesses of the hypervisor core: one `run(data)` per target.
//!
//! Each harness turns the fuzzer's bytes into what a partition can do to one part of the
//! core (trap syndromes, device register accesses, PSCI calls, console bytes) and asserts
//! the invariants that part promises; a failed assertion is a crash libFuzzer reports.
//! The same functions replay `seeds/` and `regressions/` under plain `cargo test`
//! (`hypervisor/core/tests/fuzz_regressions.rs`), so every crash found becomes a test.
//!
//! Only `std` and `bulkhead-core` are used here: the test includes this module by path.

pub mod console;
pub mod esr;
pub mod psci;
pub mod vgic;
pub mod vpl011;

/// The target names with their harness, for the regression test.
pub const TARGETS: [(&str, fn(&[u8])); 5] = [
    ("console", console::run),
    ("esr", esr::run),
    ("psci", psci::run),
    ("vgic", vgic::run),
    ("vpl011", vpl011::run),
];

/// Reads fixed-size little-endian values off the fuzzer's bytes; `None` once they run out,
/// which ends the harness's sequence of operations.
pub struct Input<'a> {
    /// What is left.
    rest: &'a [u8],
}

impl<'a> Input<'a> {
    /// A reader over `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Self { rest: data }
    }

    /// The next `N` bytes, if there are that many.
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, tail) = self.rest.split_first_chunk::<N>()?;
        self.rest = tail;
        Some(*head)
    }

    /// One byte.
    pub fn u8(&mut self) -> Option<u8> {
        self.take::<1>().map(|[byte]| byte)
    }

    /// A little-endian `u16`.
    pub fn u16(&mut self) -> Option<u16> {
        self.take().map(u16::from_le_bytes)
    }

    /// A little-endian `u32`.
    pub fn u32(&mut self) -> Option<u32> {
        self.take().map(u32::from_le_bytes)
    }

    /// A little-endian `u64`.
    pub fn u64(&mut self) -> Option<u64> {
        self.take().map(u64::from_le_bytes)
    }
}
