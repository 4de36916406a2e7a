//! Rate limiting of the hypervisor's `[hv]` reports about guest-caused events, per
//! partition: a token bucket, with an exact count of what it suppressed.
//!
//! Why: every stage-2 fault of a partition printed one `[hv]` line on the shared console;
//! 20 000 faults became 20 000 lines, each holding the console for the time the UART needs
//! to send it (about 5 ms at 115 200 baud), which let one partition stall the console, and
//! every neighbour that printed, at will (issue 14). A partition's reports now cost it
//! tokens: at most [`ReportLimiter::burst`] at once and one more every
//! [`ReportLimiter::refill_ticks`] counter ticks. What is refused is counted per kind and
//! reported as one summary line ("beta: 19 950 more stage-2 faults suppressed") as soon as
//! a token is available again.
//!
//! Nothing here builds a string: decisions are values ([`Decision`], [`Summary`]), and
//! [`Summary`]'s `Display` writes straight into the console's formatter.
//!
//! Invariants: no event is lost from the count (reported + suppressed = events, exactly,
//! as long as the image prints the summaries it is handed); the number of lines a partition
//! can cause in any interval of `t` ticks is at most `burst + t / refill_ticks + 1`, each
//! report line followed by at most one summary line; every call is O([`KIND_COUNT`]) with
//! no loop over time. Each partition has its own limiter, kept under that partition's lock.
//!
//! [impl->dsn~report-limit~1]

use core::fmt;

/// The kinds of guest-caused events the hypervisor reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReportKind {
    /// A stage-2 fault (an access outside the partition's map).
    Stage2Fault,
    /// A trapped instruction answered with an Undefined Instruction exception.
    UndefinedInstruction,
    /// A hypercall or SMC the hypervisor refused.
    RefusedCall,
    /// A refused access to an emulated device.
    RefusedDeviceAccess,
    /// An SError (asynchronous external abort) the partition caused.
    SystemError,
    /// A fault storm detected, or an abort that could not be injected: the partition's fault
    /// policy follows.
    Containment,
    /// The partition reset itself (PSCI `SYSTEM_RESET`) or is restarted by its fault policy.
    Restart,
}

/// Number of [`ReportKind`]s.
pub const KIND_COUNT: usize = 7;

/// Which of a partition's two budgets a report draws on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Budget {
    /// Events inside a running partition (faults, refusals).
    Events,
    /// What happens to the partition as a whole (containment, resets, restarts): its own
    /// budget, so a flood of faults cannot hide why the partition restarted, while a
    /// partition that resets itself in a loop is still limited.
    Lifecycle,
}

impl ReportKind {
    /// Every kind, in index order.
    pub const ALL: [Self; KIND_COUNT] = [
        Self::Stage2Fault,
        Self::UndefinedInstruction,
        Self::RefusedCall,
        Self::RefusedDeviceAccess,
        Self::SystemError,
        Self::Containment,
        Self::Restart,
    ];

    /// The kind's index in [`Self::ALL`].
    pub const fn index(self) -> usize {
        match self {
            Self::Stage2Fault => 0,
            Self::UndefinedInstruction => 1,
            Self::RefusedCall => 2,
            Self::RefusedDeviceAccess => 3,
            Self::SystemError => 4,
            Self::Containment => 5,
            Self::Restart => 6,
        }
    }

    /// The budget reports of this kind draw on.
    pub const fn budget(self) -> Budget {
        match self {
            Self::Stage2Fault
            | Self::UndefinedInstruction
            | Self::RefusedCall
            | Self::RefusedDeviceAccess
            | Self::SystemError => Budget::Events,
            Self::Containment | Self::Restart => Budget::Lifecycle,
        }
    }

    /// The plural noun for a summary line.
    pub const fn plural(self) -> &'static str {
        match self {
            Self::Stage2Fault => "stage-2 faults",
            Self::UndefinedInstruction => "undefined instructions",
            Self::RefusedCall => "refused calls",
            Self::RefusedDeviceAccess => "refused device accesses",
            Self::SystemError => "SErrors",
            Self::Containment => "containment reports",
            Self::Restart => "resets and restarts",
        }
    }
}

/// Events of one kind that were not reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Summary {
    /// Their kind.
    pub kind: ReportKind,
    /// How many.
    pub count: u64,
}

impl fmt::Display for Summary {
    /// `19 950 more stage-2 faults suppressed`: thousands grouped with spaces (SI style), so
    /// the number reads the same in every locale. The caller adds the `name: ` prefix.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut divisor = 1_u64;
        // BOUND: at most 6 iterations: 1000^6 is the largest power of 1000 below u64::MAX.
        while let Some(next) = divisor.checked_mul(1000).filter(|next| *next <= self.count) {
            divisor = next;
        }
        let leading = self.count.checked_div(divisor).unwrap_or(0);
        write!(formatter, "{leading}")?;
        // BOUND: `divisor` shrinks by 1000 each time until it reaches 1: at most 6 iterations.
        while divisor > 1 {
            divisor = divisor.checked_div(1000).unwrap_or(1);
            let group = self.count.checked_div(divisor).and_then(|value| value.checked_rem(1000)).unwrap_or(0);
            write!(formatter, " {group:03}")?;
        }
        write!(formatter, " more {} suppressed", self.kind.plural())
    }
}

/// What to do with one event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Print the event's line, preceded by the summary of earlier suppressed events of the
    /// same kind if there is one.
    Report {
        /// Events of this kind suppressed since the last report of it.
        summary: Option<Summary>,
    },
    /// Do not print anything; the event is counted.
    Suppress,
}

/// One partition's report budget.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReportLimiter {
    /// Most tokens held (reports allowed in a burst).
    burst: u32,
    /// Counter ticks per new token.
    refill_ticks: u64,
    /// Tokens available.
    tokens: u32,
    /// Counter value the next token is counted from.
    refilled_at: u64,
    /// Suppressed events per kind, not yet summarised.
    suppressed: [u64; KIND_COUNT],
}

impl ReportLimiter {
    /// A limiter allowing `burst` reports at once and one more every `refill_ticks` ticks,
    /// starting full at counter value `now`. A `refill_ticks` of 0 is taken as 1.
    pub const fn new(burst: u32, refill_ticks: u64, now: u64) -> Self {
        let refill = if refill_ticks == 0 { 1 } else { refill_ticks };
        Self { burst, refill_ticks: refill, tokens: burst, refilled_at: now, suppressed: [0; KIND_COUNT] }
    }

    /// Reports allowed at once.
    pub const fn burst(&self) -> u32 {
        self.burst
    }

    /// Counter ticks per new token.
    pub const fn refill_ticks(&self) -> u64 {
        self.refill_ticks
    }

    /// Events of `kind` suppressed and not yet summarised.
    pub fn suppressed(&self, kind: ReportKind) -> u64 {
        self.suppressed.get(kind.index()).copied().unwrap_or(0)
    }

    /// Decides about one event of `kind` at counter value `now`.
    pub fn event(&mut self, kind: ReportKind, now: u64) -> Decision {
        self.refill(now);
        match self.tokens.checked_sub(1) {
            Some(left) => {
                self.tokens = left;
                Decision::Report { summary: self.take_summary(kind) }
            }
            None => {
                if let Some(count) = self.suppressed.get_mut(kind.index()) {
                    *count = count.saturating_add(1);
                }
                Decision::Suppress
            }
        }
    }

    /// A summary the image may print now without an event (call it when convenient, e.g.
    /// on the partition's timer tick, so a storm that ended is still summarised). Costs a
    /// token; `None` if nothing is suppressed or no token is available.
    pub fn pending_summary(&mut self, now: u64) -> Option<Summary> {
        self.refill(now);
        let kind = ReportKind::ALL.into_iter().find(|kind| self.suppressed(*kind) > 0)?;
        self.tokens = self.tokens.checked_sub(1)?;
        self.take_summary(kind)
    }

    /// Adds the tokens earned since `refilled_at`. A counter that went backwards earns none.
    fn refill(&mut self, now: u64) {
        let Some(elapsed) = now.checked_sub(self.refilled_at) else {
            self.refilled_at = now;
            return;
        };
        let earned = elapsed.checked_div(self.refill_ticks).unwrap_or(0);
        let room = u64::from(self.burst.saturating_sub(self.tokens));
        if earned >= room {
            self.tokens = self.burst;
            self.refilled_at = now;
        } else {
            // `earned < room <= u32::MAX`, so both conversions and the sum are exact.
            self.tokens = self.tokens.saturating_add(u32::try_from(earned).unwrap_or(0));
            let spent = earned.saturating_mul(self.refill_ticks);
            self.refilled_at = self.refilled_at.saturating_add(spent);
        }
    }

    /// The summary of `kind`, clearing its count.
    fn take_summary(&mut self, kind: ReportKind) -> Option<Summary> {
        let count = self.suppressed.get_mut(kind.index())?;
        let summary = (*count > 0).then_some(Summary { kind, count: *count });
        *count = 0;
        summary
    }
}

// [utest->dsn~report-limit~1]
#[cfg(test)]
mod tests {
    use super::*;
    use core::fmt::Write;

    /// 62.5 MHz counter: one report per 100 ms, bursts of 10.
    const TICK: u64 = 6_250_000;

    fn text(summary: Summary) -> heapless::String<64> {
        let mut line = heapless::String::new();
        write!(line, "{summary}").unwrap();
        line
    }

    #[test]
    fn twenty_thousand_faults_give_a_bounded_number_of_lines_and_an_exact_count() {
        // Issue 14: 20 000 faults, one every 10 µs (625 ticks): 0.2 s in all.
        let mut limiter = ReportLimiter::new(10, TICK, 0);
        let (mut reported, mut summarised, mut lines) = (0_u64, 0_u64, 0_u64);
        let mut now = 0;
        for _ in 0..20_000 {
            if let Decision::Report { summary } = limiter.event(ReportKind::Stage2Fault, now) {
                reported += 1;
                lines += 1;
                if let Some(summary) = summary {
                    summarised += summary.count;
                    lines += 1;
                }
            }
            now += 625;
        }
        // 10 at once, then one per 6.25 M ticks; the last fault comes at 12 499 375 ticks,
        // before the second refill: 11 reports.
        assert_eq!(reported, 11);
        assert!(lines <= 2 * 11, "{lines} lines");
        now += TICK;
        let last = limiter.pending_summary(now).expect("the rest is summarised once a token is back");
        summarised += last.count;
        assert_eq!(reported + summarised, 20_000, "every fault is accounted for");
        assert_eq!(limiter.pending_summary(now), None);
    }

    #[test]
    fn every_kind_has_its_index_and_lifecycle_reports_have_their_own_budget() {
        for (position, kind) in ReportKind::ALL.iter().enumerate() {
            assert_eq!(kind.index(), position, "{kind:?}");
        }
        let lifecycle = ReportKind::ALL.iter().filter(|kind| kind.budget() == Budget::Lifecycle);
        assert!(lifecycle.eq(&[ReportKind::Containment, ReportKind::Restart]));
    }

    #[test]
    fn a_partition_resetting_itself_in_a_loop_gets_a_bounded_number_of_lines() {
        // A reset every millisecond (62 500 ticks) for one second: ten lines at once, one
        // more per 6.25 M ticks (nine refills before the last reset at 62 437 500 ticks), the
        // rest counted and summarised.
        let mut limiter = ReportLimiter::new(10, TICK, 0);
        let mut reported = 0_u64;
        let mut suppressed = 0_u64;
        for step in 0..1_000_u64 {
            match limiter.event(ReportKind::Restart, step * 62_500) {
                Decision::Report { summary } => {
                    reported += 1;
                    suppressed += summary.map_or(0, |summary| summary.count);
                }
                Decision::Suppress => {}
            }
        }
        assert_eq!(reported, 19);
        let last = limiter.pending_summary(1_000 * 62_500 + TICK).expect("a summary");
        assert_eq!(last.kind, ReportKind::Restart);
        assert!(text(last).as_str().ends_with(" more resets and restarts suppressed"), "{}", text(last).as_str());
        assert_eq!(reported + suppressed + last.count, 1_000);
    }

    #[test]
    fn the_summary_line_reads_like_the_issue_says() {
        let summary = Summary { kind: ReportKind::Stage2Fault, count: 19_950 };
        assert_eq!(text(summary).as_str(), "19 950 more stage-2 faults suppressed");
        let cases: [(u64, &str); 5] = [
            (1, "1 more"),
            (999, "999 more"),
            (1_000, "1 000 more"),
            (1_002_003, "1 002 003 more"),
            (u64::MAX, "18 446 744 073 709 551 615 more"),
        ];
        for (count, start) in cases {
            let line = text(Summary { kind: ReportKind::RefusedCall, count });
            assert!(line.starts_with(start), "{count}: {line}");
        }
    }

    #[test]
    fn a_quiet_partition_reports_everything() {
        let mut limiter = ReportLimiter::new(2, TICK, 0);
        for n in 0..100 {
            assert_eq!(limiter.event(ReportKind::Stage2Fault, n * TICK), Decision::Report { summary: None });
        }
    }

    #[test]
    fn kinds_are_counted_and_summarised_separately() {
        let mut limiter = ReportLimiter::new(1, TICK, 0);
        assert_eq!(limiter.event(ReportKind::Stage2Fault, 0), Decision::Report { summary: None });
        for _ in 0..3 {
            assert_eq!(limiter.event(ReportKind::Stage2Fault, 0), Decision::Suppress);
        }
        assert_eq!(limiter.event(ReportKind::RefusedCall, 0), Decision::Suppress);
        assert_eq!(
            limiter.event(ReportKind::RefusedCall, TICK),
            Decision::Report { summary: Some(Summary { kind: ReportKind::RefusedCall, count: 1 }) }
        );
        assert_eq!(limiter.suppressed(ReportKind::Stage2Fault), 3);
        assert_eq!(
            limiter.pending_summary(2 * TICK),
            Some(Summary { kind: ReportKind::Stage2Fault, count: 3 })
        );
    }

    #[test]
    fn tokens_never_exceed_the_burst_and_a_counter_going_back_earns_nothing() {
        let mut limiter = ReportLimiter::new(3, TICK, 0);
        let reports = (0..10).filter(|_| limiter.event(ReportKind::Stage2Fault, 1_000 * TICK) != Decision::Suppress);
        assert_eq!(reports.count(), 3, "a long silence refills only the burst");
        assert_eq!(limiter.event(ReportKind::Stage2Fault, 0), Decision::Suppress);
        assert_eq!(limiter.event(ReportKind::Stage2Fault, TICK - 1), Decision::Suppress);
        assert!(matches!(limiter.event(ReportKind::Stage2Fault, TICK), Decision::Report { .. }));
        let mut zero = ReportLimiter::new(1, 0, 0);
        assert_eq!(zero.refill_ticks(), 1);
        assert!(matches!(zero.event(ReportKind::Stage2Fault, u64::MAX), Decision::Report { .. }));
    }
}
