//! The physical console: every partition's lines and the hypervisor's plain-text messages
//! share one UART, each line prefixed with its source (`[alpha] `, `[hv] `), and no EL2 path
//! ever waits for that UART or for another core to print (issue 14, temporal isolation).
//!
//! - A partition's vPL011 transmit pushes into the partition's own [`OutputRing`] (no lock:
//!   its vCPUs are serialised by their own partition lock, the only producer). A full ring
//!   drops the byte and counts it; the drop count is printed later as an `[hv]` line.
//! - `[hv]` lines are formatted by the core that has something to say into that core's own
//!   ring (one producer per ring: EL2 runs with interrupts masked), whole or not at all.
//!   Reports of guest-caused events ([`report`]) first ask the partition's
//!   [`ReportLimiter`] (burst [`REPORT_BURST`], one more per [`REPORT_REFILL_PER_SECOND`]th
//!   of a second); what it refuses is counted and summarised ("beta: 19 950 more stage-2
//!   faults suppressed").
//! - Draining to the UART: whoever finds the drain lock free (*try*-lock, never spun on)
//!   drains one quantum: at most [`QUANTUM_CHUNKS`] chunks chosen round-robin by
//!   [`DrainPolicy`] (so a flooding partition delays a neighbour's line by at most one
//!   round), each turned into whole prefixed, escaped lines by the partition's
//!   [`LineAssembler`], written only as far as the transmit FIFO has room
//!   ([`ConsoleDriver::write_nonblocking`]). What is left waits for the UART's transmit-room
//!   interrupt, routed to the core whose quantum left it ([`on_interrupt`]), or the next
//!   print.
//!
//! Worst-case time any EL2 path holds a shared lock on this path: producers hold none (a
//! partition's vCPUs hold their own partition lock, or their own partition's limiter lock,
//! for one O(1) push per byte or one ≤ [`HV_LINE_BYTES`]-byte copy). The drain lock is held
//! for one quantum: ≤ [`QUANTUM_CHUNKS`] × (a scan of ≤ (P + C) × [`CHUNK_BYTES`] ring bytes,
//! P partitions and C cores, + formatting ≤ [`PENDING_BYTES`] bytes) + one `try_lock` per
//! partition's limiter + ≤ [`PENDING_BYTES`] device writes that never wait (the FIFO takes
//! them or the loop stops): with P = 2, C = 4, about 2 000 byte operations, a few
//! microseconds, independent of the UART's baud rate and of what any partition does. Nobody
//! waits for it: a core that finds it taken leaves its bytes to the holder
//! ([`kick`]'s request flag) or to the transmit interrupt.
//!
//! The fatal path ([`fatal`]) still writes synchronously, bypassing the rings: it is the end.
//!
//! Lock order: a partition lock, then a limiter lock or the drain lock (both only tried by
//! the drainer); the drainer takes no partition lock.
//!
//! [impl->dsn~el2-console~1] [impl->dsn~console-output-ring~1] [impl->dsn~report-limit~1]

use crate::generated::{CORE_COUNT, ConsoleUart, PARTITION_COUNT, SYSTEM};
use bulkhead_arch_aarch64 as arch;
use bulkhead_core::console::LineAssembler;
use bulkhead_core::console_ring::{DrainPolicy, OutputRing, TransmitRoom, WholeLines};
use bulkhead_core::report_limit::{Budget, Decision, ReportKind, ReportLimiter, Summary};
use bulkhead_drivers::uart::{ConsoleDriver, UartInterrupts};
use core::fmt::{self, Write};
use core::sync::atomic::{AtomicBool, Ordering, fence};
use crate::lock::Mutex;

/// Longest console line a partition prints before the hypervisor cuts it (escaped
/// characters): Linux's longest `printk` record (`PRINTK_MESSAGE_MAX`, 1024 with its
/// prefix), so a kernel's lines arrive whole rather than continued with a trailing `\`.
pub const LINE_LENGTH: usize = 1024;
/// Bytes of each ring (a partition's output, a core's `[hv]` lines).
const RING_BYTES: usize = 1024;
/// Longest `[hv]` line, prefix and CR LF included; longer ones are cut.
pub const HV_LINE_BYTES: usize = 200;
/// Raw bytes taken from a ring per chunk: small, because the drainer scans every ring for
/// one chunk while it holds the drain lock (independent of the line length).
pub const CHUNK_BYTES: usize = 40;
/// Formatted bytes waiting for the FIFO: the longest prefixed line one chunk can complete,
/// plus what the rest of the chunk formats (`CHUNK_BYTES` escaped bytes, each of which may
/// end a short prefixed line).
pub const PENDING_BYTES: usize = LINE_LENGTH + 512;
/// Chunks per drain quantum.
pub const QUANTUM_CHUNKS: usize = 4;
/// Times [`kick`] retries when another core released the drain lock with work left.
const KICK_ATTEMPTS: usize = 4;
/// Reports a partition may cause at once.
pub const REPORT_BURST: u32 = 10;
/// Further reports per second.
pub const REPORT_REFILL_PER_SECOND: u64 = 10;

/// Ends a line whose formatting failed: only a `Display` implementation can fail, and the
/// reader learns the line is incomplete instead of guessing.
const FORMAT_FAILED: &[u8] = b" [formatting failed]";

// `OutputRing::push_asking_drain` asks for a drain once a ring holds a whole chunk: a full
// ring must hold one.
const _: () = assert!(CHUNK_BYTES <= RING_BYTES, "a full ring holds a whole chunk");

/// Rings `0..PARTITION_COUNT`: each partition's console output; then one per core for the
/// `[hv]` lines that core formats.
const RING_COUNT: usize = PARTITION_COUNT + CORE_COUNT;
/// Every ring, drained round-robin.
static RINGS: [OutputRing<RING_BYTES>; RING_COUNT] = [const { OutputRing::new() }; RING_COUNT];
/// Budgets per partition: events and lifecycle ([`Budget`]).
const BUDGETS: usize = 2;
/// Each partition's report budgets (`None` until [`attach`]), partition `p`'s at
/// `BUDGETS * p ..`. Taken by the partition's own vCPUs to report, and *tried* by the
/// drainer for pending summaries.
static LIMITERS: [Mutex<Option<ReportLimiter>>; PARTITION_COUNT * BUDGETS] = [const { Mutex::new(None) }; PARTITION_COUNT * BUDGETS];
/// Partitions whose unfinished line must be printed (they stopped).
static FLUSH: [AtomicBool; PARTITION_COUNT] = [const { AtomicBool::new(false) }; PARTITION_COUNT];
/// Set by every producer before it tries the drain lock; cleared by the drainer before a
/// quantum, read again after the release, so no work is left behind by a failed try.
static REQUESTED: AtomicBool = AtomicBool::new(false);
/// The transmit side of the console (its UART `None` until [`attach`]): only ever
/// `try_lock`ed.
/// The drainer's buffers are part of the static, initialised at compile time (not by a
/// function, whose frame would hold them), so nothing large is ever built on a stack.
static DRAIN: Mutex<Drainer> = Mutex::new(Drainer {
    uart: None,
    policy: DrainPolicy::new(),
    assemblers: [const { LineAssembler::new() }; PARTITION_COUNT],
    hv_lines: [const { WholeLines::new() }; CORE_COUNT],
    pending: [0; PENDING_BYTES],
    start: 0,
    end: 0,
    reported_drops: [0; RING_COUNT],
    reported_log_drops: 0,
    transmit_room: TransmitRoom::new(),
    pending_owner_core: 0,
    routed_core: usize::MAX,
});
/// The receive side of the console, used by the input core alone.
static INPUT: Mutex<Option<ConsoleUart>> = Mutex::new(None);

/// Starts the console: `uart` transmits, `receiver` (a second handle on the same UART)
/// receives; every partition gets its report budget.
pub fn attach(mut uart: ConsoleUart, receiver: ConsoleUart) {
    uart.enable();
    let hertz = arch::cpu::counter_frequency();
    let refill = hertz.checked_div(REPORT_REFILL_PER_SECOND).unwrap_or(1);
    let now = arch::cpu::counter();
    for limiter in &LIMITERS {
        *limiter.lock() = Some(ReportLimiter::new(REPORT_BURST, refill, now));
    }
    *INPUT.lock() = Some(receiver);
    // Only the UART is moved in: the drainer's buffers are already in the static.
    DRAIN.lock().uart = Some(uart);
    kick();
}

/// Enables the console UART's receive interrupt (input starts).
pub fn enable_receive_interrupt() {
    if let Some(uart) = INPUT.lock().as_mut() {
        uart.enable_interrupts(UartInterrupts::RECEIVE);
    }
}

/// One byte a partition's vPL011 transmitted. Called with the partition's lock held (its
/// only producer); returns whether a drain could now take something (the byte ended a line,
/// or the ring holds a whole chunk: `OutputRing::push_asking_drain`), in which case the
/// caller [`kick`]s it after releasing the lock. A byte in the middle of a line asks for
/// nothing: no drain would take it yet, and asking cost a Linux boot 13.6 M instructions of
/// empty drain attempts. What a drain leaves behind it continues itself ([`TransmitRoom`]).
pub fn partition_output(partition: usize, byte: u8) -> bool {
    RINGS.get(partition).is_some_and(|ring| ring.push_asking_drain(byte, CHUNK_BYTES))
}

/// Partition `partition` stopped: its unfinished line is printed by the next drain.
pub fn flush_partition(partition: usize) {
    if let Some(flag) = FLUSH.get(partition) {
        flag.store(true, Ordering::Release);
    }
    kick();
}

/// Writes a hypervisor message as one `[hv] ...` line (through this core's ring).
pub fn hv_message(arguments: fmt::Arguments<'_>) {
    let mut line = LineBuffer::new();
    line.start();
    line.append(arguments);
    line.finish();
    push_line(&line);
    kick();
}

/// Reports a guest-caused event of partition `partition` as an `[hv] <name>: ...` line,
/// within the partition's report budget: refused reports are counted and summarised.
pub fn report(partition: usize, kind: ReportKind, arguments: fmt::Arguments<'_>) {
    let budget_index = match kind.budget() {
        Budget::Events => 0,
        Budget::Lifecycle => 1,
    };
    let slot = partition.saturating_mul(BUDGETS).saturating_add(budget_index);
    let (Some(limiter), Some(description)) = (LIMITERS.get(slot), SYSTEM.partitions.get(partition)) else {
        return;
    };
    {
        // Only this partition's own vCPUs take this lock (the drainer only tries it), and each
        // holds it for one decision and at most two line copies.
        let mut guard = limiter.lock();
        let Some(budget) = guard.as_mut() else { return };
        let Decision::Report { summary: suppressed } = budget.event(kind, arch::cpu::counter()) else {
            return;
        };
        if let Some(summary) = suppressed {
            push_summary(description.name, summary);
        }
        let mut line = LineBuffer::new();
        line.start();
        line.append(format_args!("{}: ", description.name));
        line.append(arguments);
        line.finish();
        push_line(&line);
    }
    kick();
}

/// Writes a last message synchronously, bypassing the rings and the drain lock: for a fatal
/// EL2 error (the core stops after it) and panics.
#[expect(unsafe_code, reason = "takes a last handle on the console UART to report a fatal error")]
pub fn fatal(arguments: fmt::Arguments<'_>) {
    let Ok(base) = usize::try_from(SYSTEM.board.console.base.raw()) else { return };
    // SAFETY: the console UART's address comes from the validated board tables and is in
    // the EL2 identity map. This core is about to stop: a write racing with the drainer may
    // interleave bytes on the line, which is the price of getting the last word out.
    let mut uart = unsafe { ConsoleUart::new(base) };
    let mut line = LineBuffer::new();
    line.start();
    line.append(arguments);
    line.finish();
    uart.write_blocking(line.bytes());
}

/// Clears the console UART's receive interrupt status, before the input core reads what
/// waits. A Cadence UART latches `RTRIG`/`TIMEOUT` in its `ISR` until they are written back,
/// so without this its level interrupt stays asserted after the FIFO is empty and the core
/// that takes it never leaves the hypervisor (seen on `zcu102`: the input core's partition
/// stopped at the first key); a PL011 clears `RXRIS`/`RTRIS` itself as its FIFO drains, and
/// the write changes nothing there. Clearing before reading means a byte arriving during
/// the read raises the status again instead of being left unsignalled.
pub fn acknowledge_input() {
    if let Some(uart) = INPUT.lock().as_mut() {
        uart.acknowledge(UartInterrupts::RECEIVE);
    }
}

/// Takes one byte of input, if the console received any (the input core only).
pub fn read_byte() -> Option<u8> {
    INPUT.lock().as_mut().and_then(ConsoleDriver::read_byte)
}

/// The console UART's interrupt (after input was read): continues the drain when the
/// transmit FIFO has room again, on this core's time only if the work left is its own: work of
/// another core's partition (it printed since the interrupt was routed here) is handed to that
/// core, which the still-asserted interrupt reaches next.
pub fn on_interrupt() {
    let core = arch::cpu::core_index();
    let handed_over = DRAIN.try_lock().is_some_and(|mut drainer| drainer.hand_over(core));
    if !handed_over {
        kick();
    }
}

/// Asks for a drain and drains one quantum if the drain lock is free; never waits.
pub fn kick() {
    REQUESTED.store(true, Ordering::SeqCst);
    // BOUND: at most KICK_ATTEMPTS quanta.
    for attempt in 1..=KICK_ATTEMPTS {
        let Some(mut guard) = DRAIN.try_lock() else { return };
        if guard.uart.is_none() {
            return;
        }
        REQUESTED.store(false, Ordering::SeqCst);
        // The last attempt leaves the transmit interrupt on whatever it finds: a producer
        // whose try failed during it is seen only after the release, when no attempt is left,
        // and its bytes must not wait for the next kick (there may be none).
        let continued = guard.quantum(attempt == KICK_ATTEMPTS);
        let own_work_left = continued && guard.routed_core == arch::cpu::core_index();
        drop(guard);
        if own_work_left {
            // This core's own partition (or its `[hv]` lines) has more ready: drained now, on
            // the time of the access that printed it, rather than by an interrupt that would
            // land later in whatever the partition does next (the probe's first timer sample
            // after its report lines, delayed 19 k ticks beside a flooding neighbour).
            continue;
        }
        if continued {
            // The transmit interrupt, routed to whoever's work is left, takes over, with the
            // bytes of any producer whose try failed meanwhile (pushed before that try, so
            // before this release): this core does not drain a neighbour's flood on its time.
            return;
        }
        // A producer whose try failed while this core drained set the flag before trying:
        // seen here, its bytes are drained by the next attempt.
        fence(Ordering::SeqCst);
        if !REQUESTED.load(Ordering::SeqCst) {
            return;
        }
    }
}

/// Routes the console UART's interrupt to `core`, the core of whoever printed the bytes the
/// transmit-room interrupt will continue: what is left is written on that partition's own
/// time, never on a neighbour's (it used to go to the input core, so a partition flooding the
/// console made the hypervisor drain its bytes on another partition's core; issue 14,
/// `neighbour_timing_under_attack`). Receive interrupts follow the route: input is handled on
/// whichever core takes them. Called with the drain lock held, only when the owner changes;
/// the GIC lock is held by others only for one register update.
fn route_console_interrupt(core: usize) {
    let affinity = SYSTEM.cores.get(core).map_or(0, |c| c.mpidr);
    if let Some(gic) = crate::physical_gic::GIC.lock().as_mut() {
        if gic.route(SYSTEM.board.console.intid, core, affinity).is_err() {
            defmt::warn!("core {=usize}: the console interrupt could not be routed there", core);
        }
    }
}

/// The core on whose time ring `ring`'s bytes are written: a partition's first core, or the
/// core whose `[hv]` lines the ring holds.
fn owner_core(ring: usize) -> Option<usize> {
    match ring.checked_sub(PARTITION_COUNT) {
        Some(core) => Some(core),
        None => SYSTEM.partitions.get(ring).and_then(|partition| partition.cores.first().copied()),
    }
}

/// Appends a whole line to this core's ring, or drops it (counted).
fn push_line(line: &LineBuffer) {
    let index = PARTITION_COUNT.saturating_add(arch::cpu::core_index());
    if let Some(ring) = RINGS.get(index) {
        // A full ring drops the line and counts it; the drainer reports the count.
        let _: bool = ring.push_all(line.bytes());
    }
}

/// Appends `name: <summary>` as an `[hv]` line to this core's ring.
fn push_summary(name: &str, summary: Summary) {
    let mut line = LineBuffer::new();
    line.start();
    line.append(format_args!("{name}: {summary}"));
    line.finish();
    push_line(&line);
}

/// One `[hv]` line being formatted, cut at [`HV_LINE_BYTES`].
struct LineBuffer {
    /// The bytes.
    bytes: [u8; HV_LINE_BYTES],
    /// How many are used.
    len: usize,
}

impl LineBuffer {
    /// Room kept for the CR LF.
    const END: usize = HV_LINE_BYTES - 2;

    /// An empty line.
    const fn new() -> Self {
        Self { bytes: [0; HV_LINE_BYTES], len: 0 }
    }

    /// Writes the `[hv] ` prefix.
    fn start(&mut self) {
        self.append(format_args!("[hv] "));
    }

    /// Ends the line with CR LF.
    fn finish(&mut self) {
        for byte in *b"\r\n" {
            if let Some(slot) = self.bytes.get_mut(self.len) {
                *slot = byte;
                self.len = self.len.saturating_add(1);
            }
        }
    }

    /// Formats `arguments` onto the line; a line cut at [`HV_LINE_BYTES`] ends in `~`, and one
    /// whose formatting failed says so (only a `Display` implementation can fail).
    fn append(&mut self, arguments: fmt::Arguments<'_>) {
        if self.write_fmt(arguments).is_err() {
            let mark: &[u8] = if self.len >= Self::END { b"~" } else { FORMAT_FAILED };
            self.len = self.len.min(Self::END.saturating_sub(mark.len()));
            for &byte in mark {
                if let Some(slot) = self.bytes.get_mut(self.len) {
                    *slot = byte;
                    self.len = self.len.saturating_add(1);
                }
            }
        }
    }

    /// The formatted bytes.
    fn bytes(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or_default()
    }
}

impl Write for LineBuffer {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        for byte in text.bytes() {
            if self.len >= Self::END {
                return Err(fmt::Error);
            }
            if let Some(slot) = self.bytes.get_mut(self.len) {
                *slot = byte;
            }
            self.len = self.len.saturating_add(1);
        }
        Ok(())
    }
}

/// The transmit side: the UART, the round-robin position, each partition's line assembler
/// and the formatted bytes the FIFO has not taken yet.
struct Drainer {
    /// The console UART (transmit side); `None` until [`attach`].
    uart: Option<ConsoleUart>,
    /// Which ring is served next.
    policy: DrainPolicy,
    /// Each partition's unfinished line.
    assemblers: [LineAssembler<LINE_LENGTH>; PARTITION_COUNT],
    /// Each core's unfinished `[hv]` line: written only once whole, so that no other
    /// source's line lands in its middle.
    hv_lines: [WholeLines<HV_LINE_BYTES>; CORE_COUNT],
    /// Formatted bytes; `start..end` still to be written.
    pending: [u8; PENDING_BYTES],
    /// First unwritten byte of `pending`.
    start: usize,
    /// End of the formatted bytes in `pending`.
    end: usize,
    /// Each ring's drop count as last reported.
    reported_drops: [u64; RING_COUNT],
    /// The `defmt` log's dropped-frame count as last reported.
    reported_log_drops: u64,
    /// When the transmit-room status is cleared, and whether its interrupt is unmasked.
    transmit_room: TransmitRoom,
    /// The core whose time the bytes in `pending` are written on when the transmit-room
    /// interrupt continues them: the first core of the partition that printed them, or the
    /// core that formatted the `[hv]` lines.
    pending_owner_core: usize,
    /// The core the console interrupt is routed to (`usize::MAX`: the input core, as at boot).
    routed_core: usize,
}

impl Drainer {
    /// One bounded quantum: writes what the FIFO takes, refilling `pending` at most
    /// [`QUANTUM_CHUNKS`] times; leaves the transmit-room interrupt on while work is left (or
    /// when `continue_anyway`: the caller cannot come back for what arrives meanwhile).
    /// Returns whether it left it on.
    fn quantum(&mut self, continue_anyway: bool) -> bool {
        // The UART is taken out for the quantum so that `refill` can borrow the rest; it is
        // put back at the end (no path returns early after this).
        let Some(mut uart) = self.uart.take() else { return false };
        if self.transmit_room.start_quantum() {
            uart.disable_interrupts(UartInterrupts::TRANSMIT);
        }
        let mut refills = 0;
        // Work is left when the FIFO filled up or the quantum ended with chunks still ready;
        // not when a ring only holds the start of a line (that waits for its newline, and an
        // interrupt asked for it would fire with nothing to do).
        let mut work_left = continue_anyway;
        // BOUND: each turn writes into the FIFO and stops when it is full, or refills
        // `pending`, at most QUANTUM_CHUNKS times.
        loop {
            if self.start < self.end {
                let unwritten = self.pending.get(self.start..self.end).unwrap_or_default();
                // Cleared only now, right before bytes whose transmission raises it again: a
                // quantum that writes nothing leaves it raised for the work it leaves.
                if self.transmit_room.before_write() {
                    uart.acknowledge(UartInterrupts::TRANSMIT);
                }
                let written = uart.write_nonblocking(unwritten);
                self.start = self.start.saturating_add(written).min(self.end);
                if self.start < self.end {
                    work_left = true;
                    break;
                }
            }
            if refills >= QUANTUM_CHUNKS {
                work_left = true;
                break;
            }
            if !self.refill() {
                break;
            }
            refills = refills.saturating_add(1);
        }
        if work_left {
            // Bytes the FIFO did not take continue on the time of whoever printed them; a
            // quantum that ran out of chunks continues on the time of the next ring it would
            // serve (the last chunk's owner may have nothing left, and would then pay for a
            // neighbour's flood: seen as the probe's timer samples delayed past their
            // deadline, `neighbour_timing_under_attack` on `qemu-virt-gicv2`); with nothing
            // ready, on the kicking core's own.
            let owner = if self.start < self.end {
                self.pending_owner_core
            } else {
                self.policy.next_ready(&RINGS, CHUNK_BYTES).and_then(owner_core).unwrap_or_else(arch::cpu::core_index)
            };
            if self.routed_core != owner {
                route_console_interrupt(owner);
                self.routed_core = owner;
            }
        }
        if self.transmit_room.end_quantum(work_left) {
            uart.enable_interrupts(UartInterrupts::TRANSMIT);
        }
        self.uart = Some(uart);
        work_left
    }

    /// On the transmit interrupt taken by `core`: if the work left (nothing waits for the
    /// FIFO, so the next ready ring's) belongs to another core, routes the interrupt there,
    /// unmasked, and returns true.
    fn hand_over(&mut self, core: usize) -> bool {
        if self.start < self.end || !self.transmit_room.enabled() {
            return false;
        }
        let Some(owner) = self.policy.next_ready(&RINGS, CHUNK_BYTES).and_then(owner_core) else { return false };
        if owner == core {
            return false;
        }
        route_console_interrupt(owner);
        self.routed_core = owner;
        true
    }

    /// Formats the next thing to print into the empty `pending`; false if nothing waits.
    fn refill(&mut self) -> bool {
        self.start = 0;
        self.end = 0;
        if self.report_drops() {
            return true;
        }
        self.collect_summaries();
        let mut chunk = [0_u8; CHUNK_BYTES];
        let ready = self.policy.drain(&RINGS, &mut chunk, false).or_else(|| {
            FLUSH.iter().any(|flag| flag.load(Ordering::Acquire)).then(|| self.policy.drain(&RINGS, &mut chunk, true)).flatten()
        });
        let Some(drained) = ready else {
            return self.flush_stopped();
        };
        let bytes = chunk.get(..drained.len).unwrap_or_default();
        self.pending_owner_core = owner_core(drained.partition).unwrap_or(self.pending_owner_core);
        if let Some(core) = drained.partition.checked_sub(PARTITION_COUNT) {
            // A core's ring holds formatted `[hv]` lines; a chunk may end mid-line.
            let mut pending = Pending { bytes: &mut self.pending, end: &mut self.end };
            if let Some(lines) = self.hv_lines.get_mut(core) {
                for &byte in bytes {
                    if let Some(line) = lines.feed(byte) {
                        pending.push(line);
                    }
                }
            }
            return true;
        }
        let name = SYSTEM.partitions.get(drained.partition).map_or("?", |p| p.name);
        let Some(assembler) = self.assemblers.get_mut(drained.partition) else { return true };
        let mut pending = Pending { bytes: &mut self.pending, end: &mut self.end };
        for &byte in bytes {
            if let Some(line) = assembler.feed(byte) {
                pending.append(format_args!("{}", line.prefixed(name)));
            }
        }
        true
    }

    /// Prints the unfinished line of every partition that stopped and whose ring is empty.
    fn flush_stopped(&mut self) -> bool {
        let mut pending = Pending { bytes: &mut self.pending, end: &mut self.end };
        for (partition, flag) in FLUSH.iter().enumerate() {
            let ring_empty = RINGS.get(partition).is_none_or(OutputRing::is_empty);
            if !ring_empty || !flag.swap(false, Ordering::AcqRel) {
                continue;
            }
            let name = SYSTEM.partitions.get(partition).map_or("?", |p| p.name);
            if let Some(line) = self.assemblers.get_mut(partition).and_then(LineAssembler::flush) {
                pending.append(format_args!("{}", line.prefixed(name)));
            }
        }
        *pending.end > 0
    }

    /// Formats one "bytes dropped" line for the first ring whose drops are unreported, or
    /// one for the `defmt` log's dropped frames.
    fn report_drops(&mut self) -> bool {
        let log_drops = bulkhead_drivers::log::dropped();
        if log_drops != self.reported_log_drops {
            let lost = log_drops.wrapping_sub(self.reported_log_drops);
            self.reported_log_drops = log_drops;
            let mut pending = Pending { bytes: &mut self.pending, end: &mut self.end };
            pending.append(format_args!("[hv] {} log frames dropped (log faster than its UART)\r\n", lost));
            return true;
        }
        for (index, (ring, reported)) in RINGS.iter().zip(self.reported_drops.iter_mut()).enumerate() {
            let dropped = ring.dropped();
            if dropped == *reported {
                continue;
            }
            let lost = dropped.wrapping_sub(*reported);
            *reported = dropped;
            let mut pending = Pending { bytes: &mut self.pending, end: &mut self.end };
            match SYSTEM.partitions.get(index) {
                Some(partition) => pending.append(format_args!(
                    "[hv] {}: {} console bytes dropped (output faster than the UART)\r\n",
                    partition.name, lost
                )),
                None => pending.append(format_args!("[hv] {} bytes of hypervisor messages dropped\r\n", lost)),
            }
            return true;
        }
        false
    }

    /// Asks every partition's limiter, without waiting for it, for a summary due now.
    fn collect_summaries(&mut self) {
        let now = arch::cpu::counter();
        let owners = SYSTEM.partitions.iter().flat_map(|description| [description; BUDGETS]);
        for (limiter, description) in LIMITERS.iter().zip(owners) {
            let Some(mut guard) = limiter.try_lock() else { continue };
            if let Some(summary) = guard.as_mut().and_then(|budget| budget.pending_summary(now)) {
                // The limiter lock is held: this core is the only producer of the line.
                push_summary(description.name, summary);
            }
        }
    }

}

/// Appends to the drainer's `pending` bytes (cut at its capacity).
struct Pending<'a> {
    /// The buffer.
    bytes: &'a mut [u8; PENDING_BYTES],
    /// End of the used part.
    end: &'a mut usize,
}

impl Pending<'_> {
    /// Formats `arguments` (cut at the capacity); marks a failed `Display` implementation.
    fn append(&mut self, arguments: fmt::Arguments<'_>) {
        if self.write_fmt(arguments).is_err() {
            self.push(FORMAT_FAILED);
        }
    }

    /// Appends `bytes`, as many as fit.
    fn push(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            let Some(slot) = self.bytes.get_mut(*self.end) else { return };
            *slot = byte;
            *self.end = self.end.saturating_add(1);
        }
    }
}

impl Write for Pending<'_> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        self.push(text.as_bytes());
        Ok(())
    }
}

/// Prints a `[hv]` line on the console (plain text: readable on any serial terminal).
#[macro_export]
macro_rules! hv_println {
    ($($argument:tt)*) => {
        $crate::console::hv_message(format_args!($($argument)*))
    };
}
