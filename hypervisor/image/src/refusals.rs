//! Per-partition counters of what the hypervisor refused a partition, since its last
//! (re)start, and the one `[hv]` line that reports them when the partition powers itself off.
//!
//! Why: a partition that probes the hypervisor (issue 14's attacker, `partitions/chaos`) must
//! be able to check that every operation it saw refused was refused on purpose, category by
//! category; the counters are that account. The line's format is the contract with
//! `partitions/chaos` and `xtask::chaos::HYPERVISOR_COUNTER_LINE`:
//!
//! ```text
//! [hv] <partition>: refused sysreg=<N> psci=<N> mmio=<N> stage2=<N> sgi=<N> smccc=<N>
//! ```
//!
//! - `sysreg`: trapped instructions answered with an Undefined Instruction exception (any
//!   exception class, SGI register writes excepted);
//! - `psci`: HVC/SMC with a PSCI function ID (`0x8400_0000`–`0x8400_001F`,
//!   `0xC400_0000`–`0xC400_001F`) that returned a negative status;
//! - `smccc`: every other HVC/SMC that returned a negative status (unknown function IDs);
//! - `mmio`: accesses inside an emulated device's window refused with an injected abort
//!   (`MmioError`);
//! - `stage2`: stage-2 data and instruction aborts elsewhere that the fault policy answered;
//! - `sgi`: SGI register writes answered with an exception (none today: an SGI whose targets
//!   are outside the partition is dropped, as a GIC drops SGIs to absent PEs, and counted as
//!   accepted).
//!
//! The counters are relaxed atomics, one set per partition, written only by that partition's
//! own cores: counting costs one uncontended atomic add on the refusing path and needs no
//! lock, so even the lock-free constant PSCI path counts. Worst case: one atomic add per
//! refusal; the report is six loads and one console line.

use crate::generated::PARTITION_COUNT;
use crate::hv_println;
use core::sync::atomic::{AtomicU64, Ordering};

/// A refused operation's category.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// An instruction answered with UNDEF.
    SystemRegister,
    /// A PSCI call that returned an error.
    Psci,
    /// An emulated-device access refused with an abort.
    Mmio,
    /// A stage-2 abort outside the emulated windows.
    Stage2,
    /// An SGI register write answered with an exception.
    Sgi,
    /// Any other SMCCC call that returned an error.
    Smccc,
}

/// Number of categories.
const CATEGORIES: usize = 6;

impl Refusal {
    /// The counter slot of this category.
    const fn slot(self) -> usize {
        match self {
            Refusal::SystemRegister => 0,
            Refusal::Psci => 1,
            Refusal::Mmio => 2,
            Refusal::Stage2 => 3,
            Refusal::Sgi => 4,
            Refusal::Smccc => 5,
        }
    }
}

/// Each partition's counters, by [`Refusal::slot`].
// [impl->dsn~el2-static-state~1]
static COUNTERS: [[AtomicU64; CATEGORIES]; PARTITION_COUNT] =
    [const { [const { AtomicU64::new(0) }; CATEGORIES] }; PARTITION_COUNT];

/// Counts one refusal of `category` for partition `partition`.
#[inline]
pub fn count(partition: usize, category: Refusal) {
    if let Some(counter) = COUNTERS.get(partition).and_then(|set| set.get(category.slot())) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// Whether `x0 = value` answering an HVC/SMC refuses it: SMCCC returns a signed 32-bit status
/// in `w0`, and a negative one is an error.
#[inline]
pub const fn is_refusal(value: u64) -> bool {
    value & 0x8000_0000 != 0
}

/// Counts the answer `x0 = value` to an HVC/SMC with function ID `function` (`x0` at the
/// call): a negative status is a refusal, of PSCI or of SMCCC by the function ID.
#[inline]
pub fn count_call(partition: usize, function: u64, value: u64) {
    if !is_refusal(value) {
        return;
    }
    let function_id = function & 0xffff_ffff;
    let psci = matches!(function_id, 0x8400_0000..=0x8400_001f | 0xc400_0000..=0xc400_001f);
    count(partition, if psci { Refusal::Psci } else { Refusal::Smccc });
}

/// Forgets partition `partition`'s counts (it restarted).
pub fn reset(partition: usize) {
    if let Some(set) = COUNTERS.get(partition) {
        for counter in set {
            counter.store(0, Ordering::Relaxed);
        }
    }
}

/// Prints the counter line for partition `partition` named `name`.
pub fn report(partition: usize, name: &str) {
    let Some(set) = COUNTERS.get(partition) else { return };
    let value = |category: Refusal| set.get(category.slot()).map_or(0, |counter| counter.load(Ordering::Relaxed));
    hv_println!(
        "{}: refused sysreg={} psci={} mmio={} stage2={} sgi={} smccc={}",
        name,
        value(Refusal::SystemRegister),
        value(Refusal::Psci),
        value(Refusal::Mmio),
        value(Refusal::Stage2),
        value(Refusal::Sgi),
        value(Refusal::Smccc)
    );
}
