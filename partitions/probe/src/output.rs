//! Where the probe's lines go: guest-rt's console when the device tree names a PL011, else
//! the first SBSA generic UART (`arm,sbsa-uart`).
//!
//! Xen gives a dom0less domain an emulated SBSA UART, a PL011 subset without the control
//! register that guest-rt's PL011 driver sets up (Arm Server Base System Architecture,
//! "Generic UART"). Writing a byte to it needs only the data and flag registers, so that is
//! all this sink touches.

use core::fmt::{self, Write};
use core::hint::spin_loop;

use guest_rt::{BootInfo, console};
use spin::Once;
use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::registers::{ReadOnly, WriteOnly};
use tock_registers::{register_bitfields, register_structs};

register_bitfields! {u32,
    /// Flag Register.
    UARTFR [
        /// Transmit FIFO full.
        TXFF OFFSET(5) NUMBITS(1) [],
    ],
}

register_structs! {
    /// The generic UART registers the sink uses.
    SbsaUartRegisters {
        (0x000 => dr: WriteOnly<u32>),
        (0x004 => _reserved),
        (0x018 => fr: ReadOnly<u32, UARTFR::Register>),
        (0x01c => @END),
    }
}

/// An SBSA generic UART, transmit only.
struct SbsaUart {
    registers: &'static SbsaUartRegisters,
}

// SAFETY: the register block is `!Sync` only because it is an `UnsafeCell` over device
// registers; the probe writes from its one vCPU, and each access is a single volatile one.
unsafe impl Sync for SbsaUart {}
// SAFETY: the struct holds only the address of device registers, valid on every vCPU.
unsafe impl Send for SbsaUart {}

impl Write for &SbsaUart {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        for &byte in text.as_bytes() {
            if byte == b'\n' {
                self.write_byte(b'\r');
            }
            self.write_byte(byte);
        }
        Ok(())
    }
}

impl SbsaUart {
    fn write_byte(&self, byte: u8) {
        while self.registers.fr.is_set(UARTFR::TXFF) {
            spin_loop();
        }
        self.registers.dr.set(u32::from(byte));
    }
}

static SBSA_UART: Once<Option<SbsaUart>> = Once::new();

/// Picks the sink (boot vCPU, once). Without any UART, lines are dropped.
pub fn init(boot: &BootInfo) {
    SBSA_UART.call_once(|| {
        if console::uart().is_some() {
            return None;
        }
        let node = boot.device_tree.find_compatible(&["arm,sbsa-uart"])?;
        let base = node.reg()?.next()?.starting_address as usize;
        // SAFETY: the device tree names a generic UART frame at `base`, which guest-rt's
        // identity map keeps accessible as Device memory.
        let registers = unsafe { &*(base as *const SbsaUartRegisters) };
        Some(SbsaUart { registers })
    });
}

/// The base address of the UART lines go to, for the flag-register measurement.
pub fn uart_base(boot: &BootInfo) -> Option<usize> {
    match SBSA_UART.get() {
        Some(Some(uart)) => Some(core::ptr::from_ref(uart.registers) as usize),
        _ => boot.console.map(|uart| uart.base),
    }
}

/// A `fmt::Write` over the chosen sink. Each `write_str` goes straight through; the lines the
/// probe writes end with `\n`, which is where both hypervisors' consoles flush.
pub struct Lines;

impl Write for Lines {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        match SBSA_UART.get() {
            Some(Some(uart)) => {
                let mut writer: &SbsaUart = uart;
                writer.write_str(text)
            }
            _ => {
                guest_rt::print!("{text}");
                Ok(())
            }
        }
    }
}
