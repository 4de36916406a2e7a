//! Per-partition console output rings and the policy that drains them onto the one
//! physical UART: what lets a partition print without ever waiting for another.
//!
//! Why: each partition's transmitted bytes used to be turned into lines and printed under
//! one global console lock, byte by byte with busy-waiting on the UART, from the partition's
//! own core; a flooding or faulting partition held that lock for milliseconds per line and
//! its neighbours, wanting to print, waited at EL2 with interrupts masked (issue 14). Now:
//!
//! - the guest's vPL011 writes into its partition's own [`OutputRing`] ([`OutputRing::push`]):
//!   a single-producer/single-consumer byte ring built on atomics, so no lock at all
//!   between the writer and the drainer. The partition's vCPUs serialise among themselves
//!   under their own partition lock (which holds the vPL011), a lock no other partition
//!   ever takes. A full ring drops the byte and counts it; it never blocks.
//! - whoever owns the physical UART drains with a [`DrainPolicy`]: each call hands out at
//!   most one line of at most `buffer.len()` bytes, from the partitions in round-robin order,
//!   whole lines first (a partial line only when the ring holds a full buffer without a
//!   newline, or when the caller asks to flush). The image passes each chunk through the
//!   partition's `console::LineAssembler` (neutralisation and the `[name]` prefix), and
//!   writes only what the UART's transmit FIFO takes, continuing on the TX interrupt.
//!
//! Fairness: a partition whose ring holds a complete line at its head gets it drained
//! within one *drain quantum*, the next `P` drain calls for `P` partitions: every other
//! partition gets at most one line before it, however much it floods.
//!
//! Worst-case time any EL2 path holds a shared lock, with this design:
//! - producer: no shared lock; `push` is O(1) (a few atomic loads/stores), under the
//!   partition's own lock only;
//! - drain: the caller serialises drainers with a *try*-lock (a core that finds it taken
//!   leaves the draining to its holder, it never spins), and each call is bounded by
//!   `P × L` byte reads to find a line (P partitions, L = buffer length) plus `L` copies;
//!   with P ≤ 64 and L = 128 that is at most 8 320 byte reads, a few microseconds, and no
//!   wait on the UART, whose FIFO is only filled as far as it has room.
//!
//! Invariants: `push` never blocks, never overwrites unread bytes and counts every byte it
//! drops (`dropped` is exact); bytes are drained in the order they were pushed, each
//! exactly once; no allocation, no panic, all arithmetic explicit.
//!
//! [impl->dsn~console-output-ring~1]

use core::sync::atomic::{AtomicU8, AtomicU64, AtomicUsize, Ordering};

/// A byte ring of `N` bytes (`N` a power of two) between one partition and the drainer.
#[derive(Debug)]
pub struct OutputRing<const N: usize> {
    /// The bytes; slot `i % N` holds byte number `i`.
    bytes: [AtomicU8; N],
    /// Bytes ever pushed (wrapping): written only by the producer.
    head: AtomicUsize,
    /// Bytes ever drained (wrapping): written only by the consumer.
    tail: AtomicUsize,
    /// Bytes dropped because the ring was full.
    dropped: AtomicU64,
}

impl<const N: usize> Default for OutputRing<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> OutputRing<N> {
    /// Naming it makes the compiler check `N` for every ring built.
    const VALID: () = assert!(N.is_power_of_two(), "ring sizes are powers of two");

    /// An empty ring.
    pub const fn new() -> Self {
        let () = Self::VALID;
        Self {
            bytes: [const { AtomicU8::new(0) }; N],
            head: AtomicUsize::new(0),
            tail: AtomicUsize::new(0),
            dropped: AtomicU64::new(0),
        }
    }

    /// Producer side: appends `byte`, or drops and counts it if the ring is full. Returns
    /// whether it was kept. Only one producer at a time (the partition's own lock).
    pub fn push(&self, byte: u8) -> bool {
        let head = self.head.load(Ordering::Relaxed);
        let tail = self.tail.load(Ordering::Acquire);
        if head.wrapping_sub(tail) >= N {
            let _: u64 = self.dropped.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        if let Some(slot) = self.bytes.get(head & N.wrapping_sub(1)) {
            slot.store(byte, Ordering::Relaxed);
        }
        self.head.store(head.wrapping_add(1), Ordering::Release);
        true
    }

    /// Bytes waiting to be drained.
    pub fn len(&self) -> usize {
        let tail = self.tail.load(Ordering::Acquire);
        self.head.load(Ordering::Acquire).wrapping_sub(tail).min(N)
    }

    /// Producer side: appends `byte` like [`OutputRing::push`] and returns whether the
    /// producer must ask for a drain (and so a drain with a `chunk`-byte buffer could take
    /// something): the byte ended a line, or the ring holds at least a whole chunk (which
    /// [`DrainPolicy::drain`] hands out without a newline; a full ring, which dropped the
    /// byte, is one). Any other byte only extends a partial line no drain would take yet: it
    /// costs its push, not a drain attempt.
    ///
    /// Invariant (with the drainer): **a ring never holds a chunk the drain would hand out
    /// without a drain pending.** A push makes a chunk ready only by ending a line within the
    /// first `chunk` bytes or by bringing the ring to `chunk` bytes, and both answer true;
    /// a drain that leaves a ready chunk behind keeps a continuation of its own
    /// ([`TransmitRoom`]). `chunk` must not exceed `N`.
    pub fn push_asking_drain(&self, byte: u8, chunk: usize) -> bool {
        let _kept: bool = self.push(byte);
        byte == b'\n' || self.len() >= chunk
    }

    /// Consumer side: whether [`DrainPolicy::drain`] with a `chunk`-byte buffer (and no
    /// flush) would take something from this ring now.
    pub fn has_ready_chunk(&self, chunk: usize) -> bool {
        self.ready_chunk(chunk, false).is_some()
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes dropped so far because the ring was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Room left, in bytes.
    pub fn free(&self) -> usize {
        N.saturating_sub(self.len())
    }

    /// Producer side: appends all of `bytes`, or none of them (counting them as dropped)
    /// when the ring lacks room for the whole. For producers whose units must not be cut
    /// (a formatted `[hv]` line, a `defmt` frame). Returns whether they were kept.
    pub fn push_all(&self, bytes: &[u8]) -> bool {
        if bytes.len() > self.free() {
            let count = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
            let _: u64 = self.dropped.fetch_add(count, Ordering::Relaxed);
            return false;
        }
        // With room for all of them checked by the one producer, no push below can fail.
        bytes.iter().all(|byte| self.push(*byte))
    }

    /// Consumer side: the byte `offset` places after the oldest unread one.
    pub fn peek(&self, offset: usize) -> Option<u8> {
        if offset >= self.len() {
            return None;
        }
        let index = self.tail.load(Ordering::Relaxed).wrapping_add(offset) & N.wrapping_sub(1);
        self.bytes.get(index).map(|slot| slot.load(Ordering::Relaxed))
    }

    /// Consumer side: the length of the chunk the drain would take now: up to and including
    /// the first newline within `limit` bytes, or `limit` bytes when there is no newline
    /// (only if the ring holds that many, or `partial` is set). `None` if nothing is ready.
    fn ready_chunk(&self, limit: usize, partial: bool) -> Option<(usize, bool)> {
        let available = self.len().min(limit);
        // BOUND: at most `limit` iterations (the caller's buffer length).
        for offset in 0..available {
            if self.peek(offset) == Some(b'\n') {
                return Some((offset.saturating_add(1), true));
            }
        }
        let full_chunk = available == limit && limit > 0;
        (full_chunk || (partial && available > 0)).then_some((available, false))
    }

    /// Consumer side: copies `count` bytes into `buffer` and releases them to the producer.
    /// Returns how many were copied (fewer if fewer wait or `buffer` is shorter).
    pub fn take(&self, count: usize, buffer: &mut [u8]) -> usize {
        let mut copied = 0;
        for (offset, slot) in buffer.iter_mut().take(count).enumerate() {
            let Some(byte) = self.peek(offset) else { break };
            *slot = byte;
            copied = offset.saturating_add(1);
        }
        let tail = self.tail.load(Ordering::Relaxed);
        self.tail.store(tail.wrapping_add(copied), Ordering::Release);
        copied
    }
}

/// One chunk handed out by [`DrainPolicy::drain`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Drained {
    /// Index of the partition whose bytes these are.
    pub partition: usize,
    /// Bytes written to the front of the buffer.
    pub len: usize,
    /// The chunk ends with the guest's newline (else: cut at the buffer size, or flushed).
    pub line_complete: bool,
}

/// Round-robin drain over every partition's ring.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DrainPolicy {
    /// The partition looked at first by the next call.
    next: usize,
}

impl DrainPolicy {
    /// A policy starting with partition 0.
    pub const fn new() -> Self {
        Self { next: 0 }
    }

    /// The ring the next [`DrainPolicy::drain`] (without flush) with a `chunk`-byte buffer
    /// would serve first, if any: whose work a drain that stopped at its quantum's end with
    /// more ready leaves behind, and so whose core continues it (not the core of the chunk
    /// drained last, whose owner may have nothing left: a neighbour's flood would then be
    /// written on its time).
    pub fn next_ready<const N: usize>(&self, rings: &[OutputRing<N>], chunk: usize) -> Option<usize> {
        let count = rings.len();
        let start = self.next.checked_rem(count)?;
        // BOUND: one iteration per ring, each scanning at most `chunk` bytes.
        (0..count)
            .map(|step| start.wrapping_add(step).checked_rem(count).unwrap_or(0))
            .find(|&index| rings.get(index).is_some_and(|ring| ring.has_ready_chunk(chunk)))
    }

    /// Copies the next chunk into `buffer`: starting at the round-robin position, the first
    /// partition with a complete line (or a ring holding a full buffer without one); with
    /// `flush`, failing that, the first with any byte. The position then moves past the
    /// partition served. `None` if nothing is ready.
    pub fn drain<const N: usize>(&mut self, rings: &[OutputRing<N>], buffer: &mut [u8], flush: bool) -> Option<Drained> {
        let count = rings.len();
        if count == 0 || buffer.is_empty() {
            return None;
        }
        let start = self.next.checked_rem(count).unwrap_or(0);
        let passes: &[bool] = if flush { &[false, true] } else { &[false] };
        for &partial in passes {
            // BOUND: one iteration per partition.
            for step in 0..count {
                let partition = start.wrapping_add(step).checked_rem(count).unwrap_or(0);
                let Some(ring) = rings.get(partition) else { continue };
                let Some((len, line_complete)) = ring.ready_chunk(buffer.len(), partial) else { continue };
                let copied = ring.take(len, buffer);
                self.next = partition.wrapping_add(1);
                return Some(Drained { partition, len: copied, line_complete });
            }
        }
        None
    }
}

/// The drainer's handling of the console UART's transmit-room interrupt: when it clears the
/// interrupt status, and when the interrupt is unmasked. It is the continuation of a drain
/// quantum that left work.
///
/// - **Cleared only right before bytes go into the FIFO.** A PL011 raises its transmit
///   interrupt status when the FIFO passes its level on the way down (PL011 TRM, `UARTTXINTR`;
///   QEMU raises it for every byte written), and only `UARTICR` or filling the FIFO clears it.
///   A quantum that cleared it and then wrote nothing (its chunks only extended a line longer
///   than a quantum's chunks, which stays in the line assembler) left it clear: the interrupt
///   it unmasked for the work it left never came. Cleared by [`TransmitRoom::before_write`],
///   the status is raised again by what is written, or was never cleared: **whenever a quantum
///   leaves the interrupt unmasked, its status is raised or about to be** (once anything was
///   written since the UART was enabled).
/// - **Masked while a quantum runs** ([`TransmitRoom::start_quantum`]), unmasked at its end
///   only if work is left. Left unmasked, the level-triggered interrupt kept firing on the core
///   it was routed to while another core held the drain lock: that core's handler found the
///   lock taken, returned, and took the interrupt again, for as long as the holder drained (an
///   interrupt storm on a neighbour's core: 24 M instructions of the probe's timer sample
///   beside chaos on `qemu-virt-gicv2`, where QEMU had descheduled the holder).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TransmitRoom {
    /// The transmit interrupt is unmasked (`UARTIMSC.TXIM`).
    enabled: bool,
    /// This quantum cleared the status already.
    acknowledged: bool,
}

impl TransmitRoom {
    /// Masked, as the UART starts.
    pub const fn new() -> Self {
        Self { enabled: false, acknowledged: false }
    }

    /// A quantum starts: whether the interrupt must be masked now (it was unmasked).
    pub fn start_quantum(&mut self) -> bool {
        self.acknowledged = false;
        core::mem::replace(&mut self.enabled, false)
    }

    /// Bytes are about to be written into the FIFO: whether to clear the status first (once
    /// per quantum).
    pub fn before_write(&mut self) -> bool {
        !core::mem::replace(&mut self.acknowledged, true)
    }

    /// The quantum ends with `work_left` (the FIFO filled up, or the quantum ran out of chunks
    /// with more ready): whether to unmask the interrupt.
    pub fn end_quantum(&mut self, work_left: bool) -> bool {
        self.enabled = work_left;
        work_left
    }

    /// Whether the interrupt is unmasked (no quantum runs, and the last one left work).
    pub const fn enabled(&self) -> bool {
        self.enabled
    }
}

/// Gathers bytes drained in chunks back into whole lines, for rings whose producers write
/// ready-made lines (the hypervisor's `[hv]` lines): the drainer interleaves chunks of
/// different rings, so a line longer than one chunk must be written only once it is whole,
/// or another source's line could land in its middle.
#[derive(Clone, Debug)]
pub struct WholeLines<const N: usize> {
    /// The line so far.
    bytes: [u8; N],
    /// Bytes used.
    len: usize,
}

impl<const N: usize> Default for WholeLines<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> WholeLines<N> {
    /// Nothing gathered.
    pub const fn new() -> Self {
        Self { bytes: [0; N], len: 0 }
    }

    /// Adds one byte; returns the whole line (newline included) when `byte` ends it, or when
    /// the line fills all `N` bytes (a producer wrote a longer line than it may: it is passed
    /// on in `N`-byte pieces rather than dropped).
    pub fn feed(&mut self, byte: u8) -> Option<&[u8]> {
        if self.len >= N {
            self.len = 0;
        }
        let slot = self.bytes.get_mut(self.len)?;
        *slot = byte;
        self.len = self.len.saturating_add(1);
        if byte == b'\n' || self.len >= N {
            let line = self.bytes.get(..self.len);
            self.len = 0;
            return line;
        }
        None
    }
}

// [utest->dsn~console-output-ring~1]
#[cfg(test)]
mod tests {
    use super::*;
    extern crate std;
    use std::string::String;
    use std::vec;
    use std::vec::Vec;

    type Ring = OutputRing<256>;

    fn push_all(ring: &Ring, bytes: &[u8]) -> usize {
        bytes.iter().filter(|byte| ring.push(**byte)).count()
    }

    #[test]
    fn a_full_ring_drops_and_counts_exactly() {
        let ring = Ring::new();
        let kept = (0..1_000_u32).filter(|n| ring.push(b'a' + (n % 26) as u8)).count();
        assert_eq!(kept, 256);
        assert_eq!(ring.dropped(), 1_000 - 256);
        let mut buffer = [0_u8; 256];
        let drained = DrainPolicy::new().drain(core::slice::from_ref(&ring), &mut buffer, true).unwrap();
        assert_eq!(drained.len, 256);
        assert!(buffer.iter().enumerate().all(|(n, byte)| *byte == b'a' + (n % 26) as u8), "oldest bytes kept, in order");
        assert!(ring.is_empty());
        assert!(ring.push(b'x'), "space again after draining");
        assert_eq!(ring.dropped(), 744);
    }

    #[test]
    fn a_drain_is_asked_for_exactly_when_it_could_take_something() {
        const CHUNK: usize = 8;
        let ring = Ring::new();
        let mut buffer = [0_u8; CHUNK];
        for (count, byte) in b"abcdefg".iter().enumerate() {
            assert!(!ring.push_asking_drain(*byte, CHUNK), "{} bytes of a partial line", count + 1);
            assert!(!ring.has_ready_chunk(CHUNK));
            assert_eq!(DrainPolicy::new().drain(core::slice::from_ref(&ring), &mut buffer, false), None);
        }
        assert!(ring.push_asking_drain(b'h', CHUNK), "a whole chunk");
        assert!(DrainPolicy::new().drain(core::slice::from_ref(&ring), &mut buffer, false).is_some());
        assert!(ring.push_asking_drain(b'\n', CHUNK), "a line end");
        assert!(DrainPolicy::new().drain(core::slice::from_ref(&ring), &mut buffer, false).is_some());
        let full = OutputRing::<8>::new();
        for byte in *b"12345678" {
            let _ = full.push_asking_drain(byte, CHUNK);
        }
        assert!(full.push_asking_drain(b'x', CHUNK), "a dropped byte still finds a full ring asking");
    }

    /// The invariant of [`OutputRing::push_asking_drain`]: over any interleaving of pushes and
    /// bounded drains, a ring never holds a chunk the drain would take while no drain is
    /// pending. A drain clears the request only when it leaves nothing ready (otherwise it
    /// keeps its own continuation, as the image's quantum does with the transmit interrupt).
    #[test]
    fn no_ready_chunk_ever_sits_without_a_drain_pending() {
        const CHUNK: usize = 8;
        let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for round in 0..200 {
            let ring = OutputRing::<64>::new();
            let mut policy = DrainPolicy::new();
            let mut buffer = [0_u8; CHUNK];
            let mut requested = false;
            for step in 0..2_000 {
                let roll = next() % 100;
                if roll < 80 {
                    // Lines of every length, from empty to several chunks.
                    let byte = if next() % (1 + round % 40) == 0 { b'\n' } else { b'a' };
                    requested |= ring.push_asking_drain(byte, CHUNK);
                } else if requested {
                    // One bounded quantum of up to 3 chunks.
                    for _ in 0..=(next() % 3) {
                        let _ = policy.drain(core::slice::from_ref(&ring), &mut buffer, false);
                    }
                    requested = ring.has_ready_chunk(CHUNK);
                }
                assert!(!ring.has_ready_chunk(CHUNK) || requested, "round {round}, step {step}: a ready chunk with no drain pending");
            }
        }
    }

    /// QEMU's PL011 transmit side as the drainer sees it: the transmit-room status is raised by
    /// every byte written and cleared by `UARTICR`; the interrupt is the status while unmasked.
    struct QemuTransmit {
        status: bool,
        unmasked: bool,
        written: Vec<u8>,
    }

    /// One drain quantum as the image runs it (`console::Drainer::quantum`), over one ring with
    /// a line assembler that outputs only whole lines: at most `QUANTUM` chunks; work is left
    /// when the quantum ran out with a chunk still ready. `clear_at_start` plants the bug.
    fn quantum(
        room: &mut TransmitRoom,
        uart: &mut QemuTransmit,
        ring: &Ring,
        line: &mut Vec<u8>,
        clear_at_start: bool,
    ) {
        const QUANTUM: usize = 2;
        const CHUNK: usize = 8;
        if room.start_quantum() {
            uart.unmasked = false;
        }
        if clear_at_start {
            uart.status = false;
        }
        let mut policy = DrainPolicy::new();
        let mut buffer = [0_u8; CHUNK];
        for _ in 0..QUANTUM {
            let Some(drained) = policy.drain(core::slice::from_ref(ring), &mut buffer, false) else { break };
            line.extend_from_slice(&buffer[..drained.len]);
            if line.last() == Some(&b'\n') {
                if room.before_write() && !clear_at_start {
                    uart.status = false;
                }
                uart.written.append(line);
                uart.status = true;
            }
        }
        assert!(!uart.unmasked, "masked while the quantum runs");
        uart.unmasked = room.end_quantum(ring.has_ready_chunk(CHUNK));
    }

    /// Runs a long line and a short one through bounded quanta continued only by the transmit
    /// interrupt; returns what reached the UART.
    fn drain_by_transmit_interrupt(clear_at_start: bool) -> Vec<u8> {
        let ring = Ring::new();
        // Boot lines went out before: the status is raised.
        let mut uart = QemuTransmit { status: true, unmasked: false, written: Vec::new() };
        let mut room = TransmitRoom::new();
        let mut line = Vec::new();
        let mut asked = false;
        // The producer's kicks folded into one (the others found the drain lock taken).
        for &byte in [b'a'; 60].iter().chain(b"\nprobe: BENCH end\n") {
            asked |= ring.push_asking_drain(byte, 8);
        }
        assert!(asked);
        quantum(&mut room, &mut uart, &ring, &mut line, clear_at_start);
        // BOUND (test): each interrupt drains up to two chunks of a finite ring.
        for _ in 0..100 {
            if !(uart.status && uart.unmasked) {
                break;
            }
            quantum(&mut room, &mut uart, &ring, &mut line, clear_at_start);
        }
        uart.written
    }

    #[test]
    fn the_transmit_interrupt_continues_a_quantum_that_wrote_nothing() {
        let mut expected = vec![b'a'; 60];
        expected.extend_from_slice(b"\nprobe: BENCH end\n");
        assert_eq!(drain_by_transmit_interrupt(false), expected);
    }

    #[test]
    fn clearing_the_status_before_writing_nothing_stalls_the_console() {
        // The bug this guards against, planted: the last line never comes out.
        let written = drain_by_transmit_interrupt(true);
        assert!(!written.ends_with(b"BENCH end\n"), "{}", String::from_utf8_lossy(&written));
    }

    #[test]
    fn the_work_a_quantum_leaves_is_the_next_ready_rings_not_the_last_drained_ones() {
        const CHUNK: usize = 8;
        let rings = [Ring::new(), Ring::new(), Ring::new()];
        let mut policy = DrainPolicy::new();
        let mut buffer = [0_u8; CHUNK];
        assert_eq!(policy.next_ready(&rings, CHUNK), None);
        // Partition 0 floods; partition 1 prints one line; partition 2 an unfinished one.
        let _ = push_all(&rings[0], &[b'x'; 100]);
        let _ = push_all(&rings[1], b"end\n");
        let _ = push_all(&rings[2], b"half");
        assert_eq!(policy.drain(&rings, &mut buffer, false).map(|d| d.partition), Some(0));
        assert_eq!(policy.next_ready(&rings, CHUNK), Some(1));
        assert_eq!(policy.drain(&rings, &mut buffer, false).map(|d| d.partition), Some(1));
        // Partition 1's line is out: what is left is partition 0's, whoever was served last.
        assert_eq!(policy.next_ready(&rings, CHUNK), Some(0), "the flood continues on its own core");
        while policy.drain(&rings, &mut buffer, false).is_some() {}
        assert_eq!(policy.next_ready(&rings, CHUNK), None, "a partial line is no work left");
        assert_eq!(DrainPolicy::new().next_ready::<256>(&[], CHUNK), None);
    }

    #[test]
    fn whole_lines_come_first_and_partial_lines_wait_for_a_flush() {
        let rings = [Ring::new(), Ring::new()];
        let _ = push_all(&rings[0], b"no newline yet");
        let _ = push_all(&rings[1], b"done\nnext");
        let mut policy = DrainPolicy::new();
        let mut buffer = [0_u8; 64];
        let first = policy.drain(&rings, &mut buffer, false).unwrap();
        assert_eq!(first, Drained { partition: 1, len: 5, line_complete: true });
        assert_eq!(&buffer[..5], b"done\n");
        assert_eq!(policy.drain(&rings, &mut buffer, false), None, "only partial lines left");
        let flushed = policy.drain(&rings, &mut buffer, true).unwrap();
        assert_eq!(flushed, Drained { partition: 0, len: 14, line_complete: false });
        assert_eq!(&buffer[..14], b"no newline yet");
    }

    #[test]
    fn a_line_longer_than_the_buffer_comes_out_in_cut_chunks() {
        let ring = Ring::new();
        let _ = push_all(&ring, &[b'a'; 100]);
        let mut buffer = [0_u8; 40];
        let mut policy = DrainPolicy::new();
        let rings = core::slice::from_ref(&ring);
        for _ in 0..2 {
            assert_eq!(policy.drain(rings, &mut buffer, false), Some(Drained { partition: 0, len: 40, line_complete: false }));
        }
        assert_eq!(policy.drain(rings, &mut buffer, false), None, "20 bytes wait for a newline or a flush");
    }

    #[test]
    fn a_flooding_partition_delays_a_neighbours_line_by_at_most_one_quantum() {
        // Partition 0 floods: its ring is refilled to the brim before every drain call.
        // Partition 2 prints one line at an arbitrary moment; it must come out within the
        // next 3 calls (one quantum for 3 partitions), with at most one line of each other
        // partition before it.
        for delay in 0..6 {
            let rings = [Ring::new(), Ring::new(), Ring::new()];
            let mut policy = DrainPolicy::new();
            let mut buffer = [0_u8; 64];
            let flood = |ring: &Ring| {
                // BOUND (test): the ring holds 256 bytes.
                while ring.push(b'A') {}
                let _ = ring.push(b'\n');
            };
            for _ in 0..delay {
                flood(&rings[0]);
                let _ = policy.drain(&rings, &mut buffer, false);
            }
            let _ = push_all(&rings[2], b"heartbeat 4\n");
            let mut served = None;
            for call in 1..=3 {
                flood(&rings[0]);
                let drained = policy.drain(&rings, &mut buffer, false).unwrap();
                if drained.partition == 2 {
                    assert_eq!(&buffer[..drained.len], b"heartbeat 4\n");
                    served = Some(call);
                    break;
                }
                assert!(drained.len <= buffer.len());
            }
            assert!(served.is_some(), "delay {delay}: the neighbour's line waited more than one quantum");
            assert!(rings[0].dropped() > 0, "the flood did overflow its own ring");
            assert_eq!(rings[2].dropped(), 0, "the neighbour lost nothing");
        }
    }

    #[test]
    fn drop_counters_are_per_partition_and_exact_under_a_flood() {
        let rings = [Ring::new(), Ring::new()];
        let mut policy = DrainPolicy::new();
        let mut buffer = [0_u8; 64];
        let (mut pushed, mut kept, mut drained) = (0_u64, 0_u64, 0_u64);
        for round in 0..10_000_u64 {
            for byte in *b"0123456789\n" {
                pushed += 1;
                kept += u64::from(rings[0].push(byte));
            }
            if round % 2 == 0 {
                let _ = rings[1].push(b'\n');
            }
            if let Some(chunk) = policy.drain(&rings, &mut buffer, false) {
                if chunk.partition == 0 {
                    drained += chunk.len as u64;
                }
            }
        }
        // BOUND (test): each call drains at least one byte while any is left.
        while let Some(chunk) = policy.drain(&rings, &mut buffer, true) {
            if chunk.partition == 0 {
                drained += chunk.len as u64;
            }
        }
        assert_eq!(rings[0].dropped(), pushed - kept);
        assert_eq!(drained, kept, "every kept byte drained exactly once");
        assert_eq!(rings[1].dropped(), 0);
    }

    #[test]
    fn push_all_keeps_a_unit_whole_or_drops_and_counts_all_of_it() {
        let ring = OutputRing::<8>::new();
        assert!(ring.push_all(b"[hv] x\n"));
        assert_eq!(ring.free(), 1);
        assert!(!ring.push_all(b"ab"), "two bytes do not fit in one");
        assert_eq!(ring.dropped(), 2);
        assert_eq!(ring.len(), 7, "nothing of the refused unit was kept");
        let mut buffer = [0_u8; 8];
        assert_eq!(ring.peek(5), Some(b'x'));
        assert_eq!(ring.take(3, &mut buffer), 3);
        assert_eq!(&buffer[..3], b"[hv");
        assert!(ring.push_all(b"abcd"));
        assert_eq!(ring.take(8, &mut buffer), 8);
        assert_eq!(&buffer, b"] x\nabcd", "in order, across the wrap");
    }

    #[test]
    fn nothing_to_drain_and_degenerate_inputs_are_none() {
        let rings: [Ring; 0] = [];
        let mut buffer = [0_u8; 8];
        assert_eq!(DrainPolicy::new().drain(&rings, &mut buffer, true), None);
        let ring = Ring::new();
        let _ = ring.push(b'\n');
        assert_eq!(DrainPolicy::new().drain(core::slice::from_ref(&ring), &mut [], true), None);
        assert_eq!(ring.len(), 1);
    }

    #[test]
    fn chunked_lines_come_out_whole_and_only_when_complete() {
        let mut lines = WholeLines::<64>::new();
        let text = b"[hv] chaos: stage-2 fault at IPA 0xd86ef67 (pc 0x40080808)\r\n[hv] x\r\n";
        let mut out: Vec<Vec<u8>> = Vec::new();
        for chunk in text.chunks(7) {
            for &byte in chunk {
                if let Some(line) = lines.feed(byte) {
                    out.push(line.to_vec());
                }
            }
        }
        assert_eq!(out, [b"[hv] chaos: stage-2 fault at IPA 0xd86ef67 (pc 0x40080808)\r\n".to_vec(), b"[hv] x\r\n".to_vec()]);
    }

    #[test]
    fn an_overlong_line_is_passed_on_in_pieces_not_dropped() {
        let mut lines = WholeLines::<4>::new();
        let pieces: Vec<Vec<u8>> = b"abcdefg\n".iter().filter_map(|&byte| lines.feed(byte).map(<[u8]>::to_vec)).collect();
        assert_eq!(pieces, [b"abcd".to_vec(), b"efg\n".to_vec()]);
    }
}
