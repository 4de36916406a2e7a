//! Per-core resources: stacks, the identity table the boot assembly reads, and mailboxes
//! through which one core asks another to start, stop or refresh its vCPU.
//!
//! The stacks and the affinity table are exported by symbol name to the boot assembly, which
//! is why this module may declare `no_mangle` statics.
#![expect(unsafe_code, reason = "symbols shared with the boot assembly")]

use crate::generated::{CORE_COUNT, SYSTEM};
use crate::platform::CpuInterface;
use bulkhead_core::vgic::delivery::PhysicalCpuInterface;
use bulkhead_arch_aarch64 as arch;
use bulkhead_arch_aarch64::stack::Stack;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// SGI one core sends another to make it look at its mailbox.
pub const KICK_SGI: u32 = 8;
/// The GIC maintenance interrupt (PPI 9).
pub const MAINTENANCE_INTID: u32 = 25;

/// Bytes of EL2 stack per core. Trap handling is shallow (no recursion); the deepest use
/// is boot on core 0, where partition state is built before it is moved into its lock.
pub const STACK_SIZE: usize = 64 * 1024;

/// Every core's EL2 stack, in system-table order. The boot assembly finds core `n`'s stack
/// top at `BULKHEAD_STACKS + (n + 1) * BULKHEAD_STACK_SIZE`, hence the packed layout.
#[repr(C, align(4096))]
struct Stacks([Stack<STACK_SIZE>; CORE_COUNT]);

const _: () = assert!(size_of::<Stack<STACK_SIZE>>() == STACK_SIZE, "the boot assembly steps by STACK_SIZE");

/// The stacks, by symbol name for the boot assembly.
// [impl->dsn~el2-boot~1]
#[unsafe(no_mangle)]
#[unsafe(link_section = ".stacks")]
static BULKHEAD_STACKS: Stacks = Stacks([const { Stack::new() }; CORE_COUNT]);

/// [`STACK_SIZE`], for the boot assembly.
// [impl->dsn~el2-boot~1]
#[unsafe(no_mangle)]
static BULKHEAD_STACK_SIZE: u64 = STACK_SIZE as u64;

/// [`CORE_COUNT`], for the boot assembly.
// [impl->dsn~el2-boot~1]
#[unsafe(no_mangle)]
static BULKHEAD_CORE_COUNT: u64 = CORE_COUNT as u64;

/// The MPIDR affinity of each core in system-table order: the boot assembly finds a core's
/// index by looking its own affinity up here.
// [impl->dsn~el2-boot~1]
#[unsafe(no_mangle)]
static BULKHEAD_CORE_AFFINITIES: [u64; CORE_COUNT] = {
    let mut affinities = [0; CORE_COUNT];
    let mut core = 0;
    while core < CORE_COUNT {
        affinities[core] = SYSTEM.cores[core].mpidr;
        core += 1;
    }
    affinities
};

/// The top of `core`'s EL2 stack (where SP stands while its vCPU runs); `None` for a core
/// the system tables do not have.
pub fn stack_top(core: usize) -> Option<u64> {
    BULKHEAD_STACKS.0.get(core).map(Stack::top)
}

/// What one core asks of another.
pub mod request {
    /// Start the core's vCPU at the entry stored in the mailbox.
    pub const START: u32 = 1 << 0;
    /// Look at the partition's power state (`bulkhead_core::partition_power`): a stop or
    /// restart is under way and this vCPU must acknowledge it. Only a hint: what the core
    /// does follows from the state machine alone, so a request is never lost to a kick.
    pub const POWER: u32 = 1 << 1;
    /// Re-evaluate the vCPU's pending virtual interrupts (another core raised one).
    pub const REFRESH: u32 = 1 << 2;
    /// The partition was reloaded: boot vCPU 0 at the image entry (sent to vCPU 0's core).
    pub const BOOT: u32 = 1 << 3;
}

/// A core's mailbox.
pub struct Mailbox {
    /// Pending requests, bits of [`request`].
    requests: AtomicU32,
    /// Entry point of the last start request.
    entry: AtomicU64,
    /// `x0` of the last start request (PSCI `CPU_ON` context ID).
    context: AtomicU64,
}

impl Mailbox {
    /// An empty mailbox.
    const fn new() -> Self {
        Self { requests: AtomicU32::new(0), entry: AtomicU64::new(0), context: AtomicU64::new(0) }
    }

    /// Posts a start request: the vCPU enters at `entry` with `x0 = context`.
    pub fn post_start(&self, entry: u64, context: u64) {
        self.entry.store(entry, Ordering::Relaxed);
        self.context.store(context, Ordering::Relaxed);
        self.requests.fetch_or(request::START, Ordering::Release);
    }

    /// Posts `requests` (bits of [`request`]).
    pub fn post(&self, requests: u32) {
        self.requests.fetch_or(requests, Ordering::Release);
    }

    /// Takes every pending request.
    pub fn take(&self) -> u32 {
        self.requests.swap(0, Ordering::Acquire)
    }

    /// The entry point and context of the last start request.
    pub fn start_arguments(&self) -> (u64, u64) {
        (self.entry.load(Ordering::Relaxed), self.context.load(Ordering::Relaxed))
    }
}

/// One mailbox per core.
pub static MAILBOXES: [Mailbox; CORE_COUNT] = [const { Mailbox::new() }; CORE_COUNT];

/// Posts `requests` to `core` and interrupts it (or wakes it, if parked).
pub fn kick(core: usize, requests: u32) {
    let Some(mailbox) = MAILBOXES.get(core) else { return };
    mailbox.post(requests);
    if let Some(target) = SYSTEM.cores.get(core) {
        CpuInterface::send_sgi(KICK_SGI, core, target.mpidr);
    }
    arch::cpu::send_event();
}
