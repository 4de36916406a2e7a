//! The physical console: every partition's lines and the hypervisor's plain-text messages
//! share one UART, each line prefixed with its source (`[alpha] `, `[hv] `).
//!
//! Lines are written whole under one lock, so output of different cores never interleaves
//! mid-line. Lock order: a partition's lock may be held while taking this one, never the
//! reverse (see `partition.rs`).
//!
//! [impl->dsn~el2-console~1]

use bulkhead_drivers::pl011::Pl011;
use core::fmt::{self, Write};
use spin::Mutex;

/// The console UART (`None` until [`attach`]).
static CONSOLE: Mutex<Option<Pl011>> = Mutex::new(None);

/// Ends a line whose formatting failed. The UART cannot fail, so only a `Display`
/// implementation can; the reader learns the line is incomplete instead of guessing.
const FORMAT_FAILED: &[u8] = b" [formatting failed]";

/// Starts the console on `uart`.
pub fn attach(mut uart: Pl011) {
    uart.enable(true);
    *CONSOLE.lock() = Some(uart);
}

/// Writes a hypervisor message as one `[hv] ...` line.
pub fn hv_message(arguments: fmt::Arguments<'_>) {
    let mut console = CONSOLE.lock();
    if let Some(uart) = console.as_mut() {
        uart.write_bytes(b"[hv] ");
        if uart.write_fmt(arguments).is_err() {
            uart.write_bytes(FORMAT_FAILED);
        }
        uart.write_bytes(b"\r\n");
    }
}

/// Writes something that displays as whole console lines (e.g. a partition's
/// `PrefixedLine`).
pub fn write_display(item: impl fmt::Display) {
    let mut console = CONSOLE.lock();
    if let Some(uart) = console.as_mut() {
        if write!(uart, "{item}").is_err() {
            uart.write_bytes(FORMAT_FAILED);
            uart.write_bytes(b"\r\n");
        }
    }
}

/// Takes one byte of input, if the console received any.
pub fn read_byte() -> Option<u8> {
    CONSOLE.lock().as_mut().and_then(Pl011::read_byte)
}

/// Prints a `[hv]` line on the console (plain text: readable on any serial terminal).
#[macro_export]
macro_rules! hv_println {
    ($($argument:tt)*) => {
        $crate::console::hv_message(format_args!($($argument)*))
    };
}
