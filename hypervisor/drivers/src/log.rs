//! The `defmt` global logger: binary log frames on the board's log UART, without any EL2 path
//! waiting for the UART or for another core (issue 14: the log had a second global lock on
//! the trap path, held while the UART was busy-waited on).
//!
//! `defmt` keeps format strings in the ELF (section `.defmt`) and sends only indices and
//! arguments, so a trap-path log costs a few bytes of UART output and no formatting at EL2.
//! The host (`cargo xtask run`) decodes the stream with the same ELF. On a board without a
//! second UART the logger discards frames; the plain-text console still carries the
//! essential messages.
//!
//! How a frame travels: each core encodes its frame into its own frame buffer (no lock is
//! shared: only that core touches it, and EL2 runs with interrupts masked, so the logger is
//! never re-entered on a core); on `release` the whole frame, behind a two-byte length, goes
//! into the core's own bounded ring ([`OutputRing::push_all`]: whole or dropped, never cut,
//! so the raw encoding, which cannot resynchronise, stays decodable). A frame longer than
//! [`FRAME_BYTES`] or one that finds its ring full is dropped and counted ([`dropped`]; the
//! console reports the count). Then the core *tries* the drain lock: the holder moves at most
//! [`QUANTUM_BYTES`] bytes to the UART, as far as its transmit FIFO has room, finishing one
//! core's frame before starting another's, so frames never interleave on the wire.
//!
//! Worst-case time any EL2 path holds a shared lock here: the drain lock, for one quantum of
//! at most [`QUANTUM_BYTES`] ring reads and as many device writes that never wait, plus a
//! scan of [`MAX_CORES`] ring lengths; nobody spins on it (`try_lock`). Frames left behind go
//! out with the next log call of any core.

use crate::uart::AnyUart;
use bulkhead_core::console_ring::OutputRing;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering, fence};
use spin::{Mutex, Once};

/// Cores the logger keeps a frame buffer and ring for; frames of cores beyond are dropped.
pub const MAX_CORES: usize = 16;
/// Longest frame kept (two length bytes included).
pub const FRAME_BYTES: usize = 256;
/// Bytes of each core's ring.
const RING_BYTES: usize = 2048;
/// Most bytes one drain quantum moves to the UART.
pub const QUANTUM_BYTES: usize = 256;
/// Bytes moved per FIFO write attempt.
const CHUNK_BYTES: usize = 32;

/// One core's frame being encoded.
struct Frame {
    /// `defmt`'s frame encoder.
    encoder: defmt::Encoder,
    /// Length (2 bytes, little-endian) then the encoded frame.
    bytes: [u8; FRAME_BYTES],
    /// Used bytes, the length header included.
    len: usize,
    /// The frame outgrew `bytes` (or no sink was attached): it is dropped at release.
    dropped: bool,
}

impl Frame {
    /// An empty frame buffer.
    const fn new() -> Self {
        Self { encoder: defmt::Encoder::new(), bytes: [0; FRAME_BYTES], len: 2, dropped: false }
    }
}

/// Each core's frame; each is locked only by its own core (never contended).
static FRAMES: [Mutex<Frame>; MAX_CORES] = [const { Mutex::new(Frame::new()) }; MAX_CORES];
/// Each core's finished frames, waiting for the UART.
static RINGS: [OutputRing<RING_BYTES>; MAX_CORES] = [const { OutputRing::new() }; MAX_CORES];
/// Frames dropped although a log UART is attached (too long, or the ring full).
static DROPPED: AtomicU64 = AtomicU64::new(0);
/// Set before every try of the drain lock (see `console.rs` in the image for the pattern).
static REQUESTED: AtomicBool = AtomicBool::new(false);
/// The index of the core running the caller.
static CORE_INDEX: Once<fn() -> usize> = Once::new();
/// The transmit side: only ever `try_lock`ed.
static DRAIN: Mutex<Option<Drain>> = Mutex::new(None);

/// The UART and the frame being sent.
struct Drain {
    /// The log UART.
    uart: AnyUart,
    /// The ring whose frame is on the wire and how many of its bytes are still to go.
    current: Option<(usize, usize)>,
    /// The ring looked at first for the next frame.
    next: usize,
    /// Bytes taken from a ring that the FIFO has not taken yet.
    chunk: [u8; CHUNK_BYTES],
    /// `chunk[start..end]` is unsent.
    start: usize,
    /// End of the taken bytes.
    end: usize,
}

/// Directs log frames to `uart`; `core_index` names the calling core (until then frames are
/// discarded).
pub fn attach(uart: impl Into<AnyUart>, core_index: fn() -> usize) {
    CORE_INDEX.call_once(|| core_index);
    *DRAIN.lock() = Some(Drain { uart: uart.into(), current: None, next: 0, chunk: [0; CHUNK_BYTES], start: 0, end: 0 });
}

/// Frames dropped so far.
pub fn dropped() -> u64 {
    DROPPED.load(Ordering::Relaxed)
}

/// This core's index, if the logger knows it and keeps a buffer for it.
fn this_core() -> Option<usize> {
    CORE_INDEX.get().map(|index| index()).filter(|core| *core < MAX_CORES)
}

/// Appends encoded bytes to a frame's `buffer` (of which `len` are used), marking it
/// `dropped` when they do not fit.
fn append(buffer: &mut [u8; FRAME_BYTES], len: &mut usize, dropped: &mut bool, bytes: &[u8]) {
    let end = len.saturating_add(bytes.len());
    match buffer.get_mut(*len..end) {
        Some(slots) if !*dropped => {
            // Byte by byte: `copy_from_slice` would keep a length-mismatch panic path.
            for (slot, byte) in slots.iter_mut().zip(bytes) {
                *slot = *byte;
            }
            *len = end;
        }
        _ => *dropped = true,
    }
}

/// The `defmt` global logger.
#[defmt::global_logger]
struct Logger;

// SAFETY: each core encodes into its own frame buffer, and `write`/`flush`/`release` are only
// reached between an `acquire` and its `release` on the same core, as the `defmt::Logger`
// contract requires; EL2 never unmasks interrupts, so no handler re-enters the logger on a
// core. Frames of different cores meet only as whole frames in the drain.
unsafe impl defmt::Logger for Logger {
    fn acquire() {
        // Without a log UART (not attached yet, or the board has none) frames are discarded
        // by design, not dropped: nothing is counted.
        let Some(core) = this_core() else { return };
        if let Some(slot) = FRAMES.get(core) {
            let mut frame = slot.lock();
            let Frame { encoder, bytes, len, dropped } = &mut *frame;
            *len = 2;
            *dropped = false;
            encoder.start_frame(|encoded| append(bytes, len, dropped, encoded));
        }
    }

    unsafe fn flush() {}

    unsafe fn release() {
        let Some(core) = this_core() else { return };
        let (Some(slot), Some(ring)) = (FRAMES.get(core), RINGS.get(core)) else { return };
        {
            let mut frame = slot.lock();
            let Frame { encoder, bytes, len, dropped } = &mut *frame;
            encoder.end_frame(|encoded| append(bytes, len, dropped, encoded));
            let body = frame.len.saturating_sub(2);
            let [low, high, ..] = u32::try_from(body).unwrap_or(0).to_le_bytes();
            if let Some([first, second, ..]) = frame.bytes.get_mut(..2) {
                *first = low;
                *second = high;
            }
            let kept = !frame.dropped && ring.push_all(frame.bytes.get(..frame.len).unwrap_or_default());
            if !kept {
                let _: u64 = DROPPED.fetch_add(1, Ordering::Relaxed);
            }
        }
        kick();
    }

    unsafe fn write(bytes: &[u8]) {
        let Some(core) = this_core() else { return };
        if let Some(slot) = FRAMES.get(core) {
            let mut frame = slot.lock();
            let Frame { encoder, bytes: buffer, len, dropped } = &mut *frame;
            encoder.write(bytes, |encoded| append(buffer, len, dropped, encoded));
        }
    }
}

/// Asks for a drain and drains one quantum if the drain lock is free; never waits.
fn kick() {
    REQUESTED.store(true, Ordering::SeqCst);
    // BOUND: at most two quanta.
    for _ in 0..2 {
        let Some(mut guard) = DRAIN.try_lock() else { return };
        let Some(drain) = guard.as_mut() else { return };
        REQUESTED.store(false, Ordering::SeqCst);
        drain.quantum();
        drop(guard);
        fence(Ordering::SeqCst);
        if !REQUESTED.load(Ordering::SeqCst) {
            return;
        }
    }
}

impl Drain {
    /// Moves at most [`QUANTUM_BYTES`] bytes to the UART, as far as its FIFO has room.
    fn quantum(&mut self) {
        let mut moved: usize = 0;
        // BOUND: each turn sends bytes and stops when the FIFO is full, or takes at least one
        // byte from a ring; at most QUANTUM_BYTES bytes are taken.
        while moved < QUANTUM_BYTES {
            if self.start < self.end {
                let unsent = self.chunk.get(self.start..self.end).unwrap_or_default();
                let written = self.uart.write_nonblocking(unsent);
                self.start = self.start.saturating_add(written).min(self.end);
                if self.start < self.end {
                    return;
                }
            }
            let Some((ring_index, remaining)) = self.current.or_else(|| self.next_frame()) else { return };
            let Some(ring) = RINGS.get(ring_index) else { return };
            let want = remaining.min(CHUNK_BYTES);
            let taken = ring.take(want, &mut self.chunk);
            self.start = 0;
            self.end = taken;
            let left = remaining.saturating_sub(taken);
            self.current = (left > 0 && taken > 0).then_some((ring_index, left));
            moved = moved.saturating_add(taken.max(1));
        }
    }

    /// Starts the next frame, round-robin over the cores' rings: consumes its length header.
    fn next_frame(&mut self) -> Option<(usize, usize)> {
        // BOUND: one look per ring.
        for step in 0..MAX_CORES {
            let index = self.next.wrapping_add(step).checked_rem(MAX_CORES).unwrap_or(0);
            let Some(ring) = RINGS.get(index) else { continue };
            if ring.len() < 2 {
                continue;
            }
            let mut header = [0_u8; 2];
            let _: usize = ring.take(2, &mut header);
            self.next = index.wrapping_add(1);
            let length = usize::from(u16::from_le_bytes(header));
            return (length > 0).then_some((index, length));
        }
        None
    }
}
