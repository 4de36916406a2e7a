//! The guest console: `print!`/`println!` to the PL011 the device tree names as stdout.
//!
//! Under Bulkhead every partition's console output is collected by the hypervisor, which
//! prefixes each line with the partition name; a line split by another vCPU's output would be
//! garbled there. So a whole `print!` call is written under one lock, with IRQs masked so that
//! an interrupt handler on the same vCPU that prints cannot wait for the lock its own vCPU
//! holds. The one way to re-enter while holding it, a synchronous exception or a panic in the
//! middle of a line, is detected by recording the owner and then writes without the lock.

use core::fmt::{self, Write};
use core::sync::atomic::{AtomicUsize, Ordering};

use spin::{Mutex, Once};

use crate::device_tree::UartDescription;
use crate::pl011::Pl011;
use crate::{cpu, irq};

static UART: Once<Pl011> = Once::new();
static LINE: Mutex<()> = Mutex::new(());
/// The vCPU holding `LINE`, or `NO_OWNER`. Only ever compared with the reader's own index,
/// which only that vCPU writes, so relaxed ordering suffices.
static LINE_OWNER: AtomicUsize = AtomicUsize::new(NO_OWNER);
const NO_OWNER: usize = usize::MAX;

/// Sets up the console on the UART the device tree names (boot vCPU).
pub(crate) fn init(description: UartDescription) {
    // SAFETY: the device tree names this PL011 frame, and the identity map keeps it accessible
    // as Device memory at that address.
    UART.call_once(|| unsafe { Pl011::new(description.base) });
}

/// The console UART, for reading input or enabling its interrupt.
pub fn uart() -> Option<&'static Pl011> {
    UART.get()
}

/// Writes formatted text as one uninterrupted piece. Does nothing without a console.
pub fn print(arguments: fmt::Arguments) {
    let Some(uart) = UART.get() else { return };
    let _masked = irq::mask();
    let this_vcpu = cpu::current_index();
    if LINE_OWNER.load(Ordering::Relaxed) == this_vcpu {
        // Re-entered from an exception taken in the middle of this vCPU's own line.
        write_or_mark(uart, arguments);
        return;
    }
    let _line = LINE.lock();
    LINE_OWNER.store(this_vcpu, Ordering::Relaxed);
    write_or_mark(uart, arguments);
    LINE_OWNER.store(NO_OWNER, Ordering::Relaxed);
}

/// Writes `arguments`. Writing to the UART cannot fail, so only a `Display` implementation
/// can: the text is then cut short, and a marker and a line end say so.
fn write_or_mark(mut uart: &Pl011, arguments: fmt::Arguments) {
    if uart.write_fmt(arguments).is_err() {
        uart.write_bytes(b" [formatting failed]\n");
    }
}

/// Prints to the guest console.
#[macro_export]
macro_rules! print {
    ($($argument:tt)*) => {
        $crate::console::print(format_args!($($argument)*))
    };
}

/// Prints a line to the guest console; the line and its newline are written as one piece.
#[macro_export]
macro_rules! println {
    () => {
        $crate::console::print(format_args!("\n"))
    };
    ($($argument:tt)*) => {
        $crate::console::print(format_args!("{}\n", format_args!($($argument)*)))
    };
}
