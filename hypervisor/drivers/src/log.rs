//! The `defmt` global logger: binary log frames on the board's log UART.
//!
//! `defmt` keeps format strings in the ELF (section `.defmt`) and sends only indices and
//! arguments, so a trap-path log costs a few bytes of UART output and no formatting at EL2.
//! The host (`cargo xtask run`) decodes the stream with the same ELF. On a board without a
//! second UART the logger discards frames; the plain-text console still carries the
//! essential messages.

use crate::pl011::Pl011;
use core::sync::atomic::{AtomicBool, Ordering};
use spin::Mutex;

/// Where frames go, and the encoder state of the frame being written.
struct LogSink {
    /// The log UART, once attached.
    uart: Option<Pl011>,
    /// `defmt`'s frame encoder (framing as the selected `defmt` encoding defines).
    encoder: defmt::Encoder,
}

/// The one sink every core logs to.
static SINK: Mutex<LogSink> = Mutex::new(LogSink { uart: None, encoder: defmt::Encoder::new() });
/// Set while a core is writing a frame (between `acquire` and `release`).
static TAKEN: AtomicBool = AtomicBool::new(false);

/// Directs log frames to `uart` (until then they are dropped).
pub fn attach(uart: Pl011) {
    SINK.lock().uart = Some(uart);
}

/// The `defmt` global logger.
#[defmt::global_logger]
struct Logger;

// SAFETY: `acquire` admits one frame at a time across all cores (the TAKEN flag), and
// `write`/`flush`/`release` are only reached between an `acquire` and its `release`, as the
// `defmt::Logger` contract requires. EL2 never unmasks interrupts, so no handler can
// re-enter the logger on the same core.
unsafe impl defmt::Logger for Logger {
    fn acquire() {
        // BOUND: another core holds the flag only for the duration of one log frame.
        while TAKEN.compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed).is_err() {
            core::hint::spin_loop();
        }
        let mut sink = SINK.lock();
        let LogSink { uart, encoder } = &mut *sink;
        encoder.start_frame(|bytes| write(uart, bytes));
    }

    unsafe fn flush() {}

    unsafe fn release() {
        {
            let mut sink = SINK.lock();
            let LogSink { uart, encoder } = &mut *sink;
            encoder.end_frame(|bytes| write(uart, bytes));
        }
        TAKEN.store(false, Ordering::Release);
    }

    unsafe fn write(bytes: &[u8]) {
        let mut sink = SINK.lock();
        let LogSink { uart, encoder } = &mut *sink;
        encoder.write(bytes, |encoded| write(uart, encoded));
    }
}

/// Sends encoded frame bytes to the log UART, or drops them if none is attached.
fn write(uart: &mut Option<Pl011>, bytes: &[u8]) {
    if let Some(attached) = uart {
        attached.write_bytes(bytes);
    }
}
