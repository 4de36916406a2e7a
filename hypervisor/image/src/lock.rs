//! The hypervisor's spin lock: `spin`'s mutex with a relax step that executes `YIELD`
//! ([`arch::cpu::yield_hint`]) while it waits.
//!
//! Why not `spin::Mutex` as it comes: its relax step is `core::hint::spin_loop`, an `ISB` on
//! AArch64. Both are hints to hardware, but QEMU running the cores round-robin on one thread
//! (TCG, and so the deterministic `-icount` mode every measurement uses) moves to the next core
//! at a `YIELD` and not at an `ISB`: a core waiting for a partition lock whose holder QEMU had
//! descheduled spun out its whole time slice, 4.8 M turns (19 M instructions) in one Linux
//! boot of the bench, counted as if the hypervisor had executed them. On hardware the waiting
//! is the same either way.

use bulkhead_arch_aarch64 as arch;

/// Relax step of [`Mutex`]: one `YIELD`.
pub struct YieldRelax;

impl spin::RelaxStrategy for YieldRelax {
    #[inline(always)]
    fn relax() {
        arch::cpu::yield_hint();
    }
}

/// A spin lock whose waiters `YIELD`.
pub type Mutex<T> = spin::mutex::Mutex<T, YieldRelax>;
/// The guard of a [`Mutex`].
pub type MutexGuard<'a, T> = spin::mutex::MutexGuard<'a, T, YieldRelax>;
