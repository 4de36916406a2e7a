//! The boot-time drivers' [`Deadline`]: a point on the physical counter.

use bulkhead_arch_aarch64 as arch;
use bulkhead_drivers::deadline::Deadline;

/// A deadline on the physical counter; each poll yields the core (QEMU's round robin then
/// runs the device's side sooner).
pub struct CounterDeadline {
    /// Counter value at which the wait ends.
    end: u64,
}

impl CounterDeadline {
    /// A deadline `milliseconds` from now.
    pub fn after_ms(milliseconds: u64) -> Self {
        let wait = arch::cpu::counter_frequency().saturating_mul(milliseconds) / 1_000;
        Self { end: arch::cpu::counter().saturating_add(wait) }
    }
}

impl Deadline for CounterDeadline {
    fn passed(&mut self) -> bool {
        arch::cpu::yield_hint();
        arch::cpu::counter() >= self.end
    }
}
