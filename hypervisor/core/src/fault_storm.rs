//! Fault-storm and nested-fault detection for one vCPU: whether an abort the fault policy
//! would inject can still help the guest, or whether injecting only feeds a loop.
//!
//! Why: under `inject-abort` the hypervisor makes the guest take a synchronous external
//! abort at its own `VBAR_EL1` vector. When that vector is not there (every vCPU starts
//! with `VBAR_EL1 = 0`, outside a partition's RAM) or the handler itself faults, every
//! injection causes the next fault: issue 14 measured thousands of `stage-2 fault at IPA
//! 0x200 (pc 0x200)` reports per second, forever. [`FaultStormDetector::on_fault`] is asked
//! before each injection and answers [`Verdict::Inject`] or [`Verdict::Storm`] with one
//! reason; on a storm the image applies the partition's halt/restart policy through
//! `partition_power` (`Request::Fault`) and prints one `[hv]` line with the reason.
//!
//! The rules, checked in this order:
//! 1. Nested fault: the faulting instruction (`ELR_EL2`) lies in the vector table
//!    `[VBAR_EL1, VBAR_EL1 + 0x800)`, or the faulting address (`FAR_EL2`, a virtual address
//!    like `VBAR_EL1`) does: the guest's own exception handler faults, so an injection
//!    enters the same handler again.
//! 2. Vector outside RAM: with the guest's stage-1 MMU off (`SCTLR_EL1.M` = 0, virtual
//!    addresses are IPAs) the vector table, whichever of its synchronous vectors the
//!    injection enters (0x000, 0x200, 0x400, 0x600), is not wholly inside the partition's
//!    executable RAM (`VBAR_EL1 = 0` included). With the MMU
//!    on, the vector's IPA is unknown here, and rules 1 and 3 catch the loop instead.
//! 3. No progress: the same fault (same `pc` and address) repeated more than
//!    [`StormLimits::max_repeats`] times and for at least [`StormLimits::window_ticks`], with no
//!    [`FaultStormDetector::note_progress`] (an interrupt exit) in between: a retry loop that
//!    keeps the guest from everything else for a whole window. A guest that faults at one
//!    site in bursts (a loop over a faulting read, handled each time) and takes its timer
//!    interrupts in between is not in a storm.
//!
//! The rate of faults alone is deliberately no rule: a guest that faults often but moves on
//! (the demo's `beta` reads outside its map once per 100 ms heartbeat; the `chaos` attacker
//! takes tens of thousands of stage-2 faults at ever new addresses) burns only its own pinned
//! core, its `[hv]` reports are rate-limited per partition (`report_limit`), and every fault
//! is counted. Stopping it would be a policy the manifest does not ask for; what the detector
//! stops is an injection that cannot help (rules 1-3).
//!
//! Invariants: the detector keeps O(1) state per vCPU (no history buffer), each call is
//! O(number of RAM regions), it never panics, and a storm verdict is sticky until
//! [`FaultStormDetector::reset`] (called when the partition restarts), so a partition in a
//! storm is never injected into again. Each vCPU has its own detector, touched only on its
//! own core: no lock.
//!
//! [impl->dsn~fault-storm~1]

use crate::addr::{Ipa, MemoryRegion};

/// Size of the AArch64 vector table: 16 entries of 0x80 bytes (Arm ARM D1.10).
pub const VECTOR_TABLE_SIZE: u64 = 0x800;
/// `VBAR_EL1` bits [10:0] are RES0.
const VBAR_ADDRESS_MASK: u64 = !0x7ff;
/// `SCTLR_EL1.M`: stage-1 translation enabled.
const SCTLR_M: u64 = 1;

/// One fault about to be answered with an injection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FaultEvent {
    /// `ELR_EL2`: the faulting instruction.
    pub pc: u64,
    /// `FAR_EL2`: the faulting virtual address (the `pc` for an instruction abort).
    pub address: u64,
    /// The guest's `VBAR_EL1`.
    pub vbar_el1: u64,
    /// The guest's `SCTLR_EL1` (only `M` is used).
    pub sctlr_el1: u64,
    /// The counter (`CNTPCT_EL0`) when the fault was taken.
    pub now: u64,
}

/// The thresholds of rule 3.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StormLimits {
    /// How long the same fault must repeat without progress, in counter ticks.
    pub window_ticks: u64,
    /// Most repeats of the same fault allowed without progress, however long they take.
    pub max_repeats: u32,
}

impl StormLimits {
    /// Defaults for a counter running at `frequency` Hz (`CNTFRQ_EL0`): 100 ms and 8 repeats.
    /// A guest faulting on purpose takes its timer interrupts and stays below; a retry loop at
    /// one site with interrupts masked is stopped after 100 ms.
    pub const fn for_counter_frequency(frequency: u64) -> Self {
        let window_ticks = match frequency.checked_div(10) {
            Some(ticks) => ticks,
            None => 0,
        };
        Self { window_ticks, max_repeats: 8 }
    }
}

/// Why the detector stopped injecting: one clear reason for the `[hv]` line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StormReason {
    /// The faulting instruction is in the partition's own vector table.
    FaultInVectorTable {
        /// The faulting instruction.
        pc: u64,
        /// The vector table.
        vbar_el1: u64,
    },
    /// The faulting address is in the partition's own vector table (a vector fetch failed).
    FaultOnVectorTable {
        /// The faulting address.
        address: u64,
        /// The vector table.
        vbar_el1: u64,
    },
    /// The vector table is not in the partition's executable RAM (MMU off).
    VectorOutsideRam {
        /// The vector table.
        vbar_el1: u64,
    },
    /// The same fault repeated without progress.
    NoProgress {
        /// The faulting instruction.
        pc: u64,
        /// The faulting address.
        address: u64,
        /// How many times in a row.
        repeats: u32,
    },
}

/// The detector's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Inject the abort as the policy says.
    Inject,
    /// Do not inject: apply the partition's halt/restart policy now.
    Storm(StormReason),
}

/// The fault history of one vCPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FaultStormDetector {
    /// Thresholds.
    limits: StormLimits,
    /// When the current run of the same fault began, if one is running.
    streak_start: Option<u64>,
    /// The last fault's `pc` and address, if no progress was noted since.
    last: Option<(u64, u64)>,
    /// Consecutive faults equal to `last`.
    repeats: u32,
    /// A storm already decided (sticky until reset).
    storm: Option<StormReason>,
}

impl FaultStormDetector {
    /// A detector with `limits` and no history.
    pub const fn new(limits: StormLimits) -> Self {
        Self { limits, streak_start: None, last: None, repeats: 0, storm: None }
    }

    /// Forgets the history (the partition restarted).
    pub fn reset(&mut self) {
        *self = Self::new(self.limits);
    }

    /// The guest made progress (it returned from the handler to a new `pc`, or took
    /// another kind of exit): repeated faults start counting again.
    pub fn note_progress(&mut self) {
        self.last = None;
        self.repeats = 0;
        self.streak_start = None;
    }

    /// Decides about one fault. `executable_ram` are the partition's RAM regions mapped
    /// executable at stage 2.
    pub fn on_fault(&mut self, event: &FaultEvent, executable_ram: &[MemoryRegion]) -> Verdict {
        if let Some(reason) = self.storm {
            return Verdict::Storm(reason);
        }
        let verdict = self.judge(event, executable_ram);
        if let Verdict::Storm(reason) = verdict {
            self.storm = Some(reason);
        }
        verdict
    }

    /// The rules of the module docs, in order.
    fn judge(&mut self, event: &FaultEvent, executable_ram: &[MemoryRegion]) -> Verdict {
        let vbar = event.vbar_el1 & VBAR_ADDRESS_MASK;
        if in_vector_table(event.pc, vbar) {
            return Verdict::Storm(StormReason::FaultInVectorTable { pc: event.pc, vbar_el1: vbar });
        }
        if in_vector_table(event.address, vbar) {
            return Verdict::Storm(StormReason::FaultOnVectorTable { address: event.address, vbar_el1: vbar });
        }
        let mmu_off = event.sctlr_el1 & SCTLR_M == 0;
        let vectors_in_ram = executable_ram.iter().any(|region| region.contains_ipa(Ipa(vbar), VECTOR_TABLE_SIZE));
        if mmu_off && !vectors_in_ram {
            return Verdict::Storm(StormReason::VectorOutsideRam { vbar_el1: vbar });
        }
        self.count(event)
    }

    /// Rule 3.
    fn count(&mut self, event: &FaultEvent) -> Verdict {
        let site = (event.pc, event.address);
        let streak_start = match self.streak_start {
            // A counter that went backwards (it should not) starts the run again.
            Some(start) if self.last == Some(site) && event.now >= start => start,
            _ => {
                self.last = Some(site);
                self.repeats = 0;
                self.streak_start = Some(event.now);
                event.now
            }
        };
        self.repeats = self.repeats.saturating_add(1);
        let lasted = event.now.saturating_sub(streak_start);
        if self.repeats > self.limits.max_repeats && lasted >= self.limits.window_ticks {
            return Verdict::Storm(StormReason::NoProgress {
                pc: event.pc,
                address: event.address,
                repeats: self.repeats,
            });
        }
        Verdict::Inject
    }
}

/// Whether `address` lies in the vector table at `vbar`.
fn in_vector_table(address: u64, vbar: u64) -> bool {
    address.checked_sub(vbar).is_some_and(|offset| offset < VECTOR_TABLE_SIZE)
}

// [utest->dsn~fault-storm~1]
#[cfg(test)]
mod tests {
    use super::*;
    use crate::addr::PhysAddr;

    const RAM: [MemoryRegion; 1] =
        [MemoryRegion { ipa: Ipa(0x4000_0000), phys: PhysAddr(0x4600_0000), size: 0x0400_0000 }];
    /// 62.5 MHz, QEMU `virt`'s counter.
    const FREQUENCY: u64 = 62_500_000;
    const LIMITS: StormLimits = StormLimits::for_counter_frequency(FREQUENCY);
    const VBAR: u64 = 0x4008_0800;
    const PC: u64 = 0x4008_1b58;

    fn fault(pc: u64, address: u64, vbar_el1: u64, now: u64) -> FaultEvent {
        FaultEvent { pc, address, vbar_el1, sctlr_el1: 0, now }
    }

    #[test]
    fn beta_faulting_once_per_heartbeat_is_never_stopped() {
        let mut detector = FaultStormDetector::new(LIMITS);
        let heartbeat = FREQUENCY / 10;
        for beat in 0..10_000_u64 {
            let event = fault(PC, 0x1_0000_0000, VBAR, beat * heartbeat);
            assert_eq!(detector.on_fault(&event, &RAM), Verdict::Inject, "heartbeat {beat}");
            // Each heartbeat is a timer interrupt: the exit to EL2 notes progress.
            detector.note_progress();
        }
    }

    #[test]
    fn a_guest_faulting_a_few_times_per_heartbeat_with_progress_is_not_stopped() {
        let mut detector = FaultStormDetector::new(LIMITS);
        let mut now = 0;
        for _ in 0..1_000 {
            for site in 0..4 {
                let event = fault(PC + 4 * site, 0x1_0000_0000, VBAR, now);
                assert_eq!(detector.on_fault(&event, &RAM), Verdict::Inject);
                detector.note_progress();
                now += 1_000;
            }
            now += FREQUENCY / 10;
        }
    }

    #[test]
    fn vbar_zero_outside_ram_is_a_storm_at_the_first_fault() {
        // Issue 14: every vCPU starts with VBAR_EL1 = 0; the injected abort vectors to 0x200.
        let mut detector = FaultStormDetector::new(LIMITS);
        let verdict = detector.on_fault(&fault(PC, 0x1_0000_0000, 0, 0), &RAM);
        assert_eq!(verdict, Verdict::Storm(StormReason::VectorOutsideRam { vbar_el1: 0 }));
    }

    #[test]
    fn the_issue_14_loop_at_pc_0x200_is_a_nested_fault() {
        let mut detector = FaultStormDetector::new(LIMITS);
        let verdict = detector.on_fault(&fault(0x200, 0x200, 0, 0), &RAM);
        assert_eq!(verdict, Verdict::Storm(StormReason::FaultInVectorTable { pc: 0x200, vbar_el1: 0 }));
    }

    #[test]
    fn vbar_just_past_the_end_of_ram_is_a_storm() {
        let mut detector = FaultStormDetector::new(LIMITS);
        let last_page = 0x4400_0000;
        let inside = FaultStormDetector::new(LIMITS).on_fault(&fault(PC, 0x1_0000_0000, last_page - 0x800, 0), &RAM);
        assert_eq!(inside, Verdict::Inject, "the last 2 KiB of RAM hold a whole table");
        let verdict = detector.on_fault(&fault(PC, 0x1_0000_0000, last_page, 0), &RAM);
        assert_eq!(verdict, Verdict::Storm(StormReason::VectorOutsideRam { vbar_el1: last_page }));
    }

    #[test]
    fn with_the_mmu_on_vbar_is_a_virtual_address_and_not_checked_against_ram() {
        let mut detector = FaultStormDetector::new(LIMITS);
        let event = FaultEvent { sctlr_el1: 1, ..fault(0xffff_0000_0000_1000, 0x10, 0xffff_0000_0008_0000, 0) };
        assert_eq!(detector.on_fault(&event, &RAM), Verdict::Inject);
    }

    #[test]
    fn a_fault_inside_the_handler_is_nested() {
        let mut detector = FaultStormDetector::new(LIMITS);
        let handler = VBAR + 0x200 + 0x10;
        let verdict = detector.on_fault(&fault(handler, 0x1_0000_0000, VBAR | 0x7ff, 0), &RAM);
        assert_eq!(verdict, Verdict::Storm(StormReason::FaultInVectorTable { pc: handler, vbar_el1: VBAR }));
    }

    #[test]
    fn a_failed_vector_fetch_is_nested() {
        let mut detector = FaultStormDetector::new(LIMITS);
        let verdict = detector.on_fault(&fault(PC, VBAR + 0x7fc, VBAR, 0), &RAM);
        assert_eq!(
            verdict,
            Verdict::Storm(StormReason::FaultOnVectorTable { address: VBAR + 0x7fc, vbar_el1: VBAR })
        );
        assert_eq!(FaultStormDetector::new(LIMITS).on_fault(&fault(PC, VBAR + 0x800, VBAR, 0), &RAM), Verdict::Inject);
    }

    #[test]
    fn the_same_fault_repeated_without_progress_for_a_window_is_a_storm() {
        let step = LIMITS.window_ticks / 8;
        let mut detector = FaultStormDetector::new(LIMITS);
        for n in 0..8 {
            assert_eq!(detector.on_fault(&fault(PC, 0x10, VBAR, n * step), &RAM), Verdict::Inject, "fault {n}");
        }
        assert_eq!(
            detector.on_fault(&fault(PC, 0x10, VBAR, 8 * step), &RAM),
            Verdict::Storm(StormReason::NoProgress { pc: PC, address: 0x10, repeats: 9 })
        );
        // Sticky: the partition is being stopped; nothing is injected any more.
        assert!(matches!(detector.on_fault(&fault(PC + 4, 0x20, VBAR, 9), &RAM), Verdict::Storm(_)));
        detector.reset();
        assert_eq!(detector.on_fault(&fault(PC, 0x10, VBAR, 10 * step), &RAM), Verdict::Inject);
    }

    #[test]
    fn bursts_at_one_site_between_timer_interrupts_are_not_a_storm() {
        // The heartbeat's `fault-storm=400`: 400 handled faults at one load after each
        // heartbeat, then the timer interrupt of the next one (progress).
        let mut detector = FaultStormDetector::new(LIMITS);
        for heartbeat in 0..20_u64 {
            for n in 0..400 {
                let now = heartbeat * LIMITS.window_ticks + n;
                assert_eq!(detector.on_fault(&fault(PC, 0x10, VBAR, now), &RAM), Verdict::Inject);
            }
            detector.note_progress();
        }
    }

    #[test]
    fn progress_between_repeats_restarts_the_repeat_count() {
        let mut detector = FaultStormDetector::new(LIMITS);
        for n in 0..40 {
            assert_eq!(detector.on_fault(&fault(PC, 0x10, VBAR, n), &RAM), Verdict::Inject, "fault {n}");
            detector.note_progress();
        }
    }

    #[test]
    fn many_faults_at_ever_new_sites_within_one_window_are_not_a_storm() {
        // The chaos attacker: tens of thousands of faults, each at a new pc and address. They
        // cost only its own core; the detector stops injections that cannot help, not rates.
        let mut detector = FaultStormDetector::new(LIMITS);
        for n in 0..10_000_u64 {
            let event = fault(PC + 4 * (n % 64), 0x10 + 8 * n, VBAR, n / 1000);
            assert_eq!(detector.on_fault(&event, &RAM), Verdict::Inject, "fault {n}");
        }
    }

    #[test]
    fn a_counter_going_backwards_opens_a_new_window() {
        let mut detector = FaultStormDetector::new(LIMITS);
        for n in 0..1_000_u64 {
            let now = if n % 2 == 0 { u64::MAX - n } else { n };
            assert_eq!(detector.on_fault(&fault(PC + 4 * n, 0x10, VBAR, now), &RAM), Verdict::Inject);
        }
    }
}
