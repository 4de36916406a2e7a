//! An Arm PrimeCell PL011 UART driver: polled transmit, interrupt-driven receive (Arm DDI 0183,
//! PL011 Technical Reference Manual, chapter 3).
//!
//! The driver never programs the baud rate or line format: firmware or QEMU has already set
//! them, and under Bulkhead the UART is the hypervisor's emulated console, where they mean
//! nothing. It only enables the transmitter and receiver and the receive interrupts.

use core::hint::spin_loop;

use tock_registers::interfaces::{ReadWriteable, Readable, Writeable};
use tock_registers::registers::{ReadOnly, ReadWrite, WriteOnly};
use tock_registers::{register_bitfields, register_structs};

register_bitfields! {u32,
    /// Data Register.
    UARTDR [
        DATA OFFSET(0) NUMBITS(8) [],
    ],
    /// Flag Register.
    UARTFR [
        /// Transmit FIFO full (or, with FIFOs off, the holding register is full).
        TXFF OFFSET(5) NUMBITS(1) [],
        /// Receive FIFO empty.
        RXFE OFFSET(4) NUMBITS(1) [],
    ],
    /// Control Register.
    UARTCR [
        RXE OFFSET(9) NUMBITS(1) [],
        TXE OFFSET(8) NUMBITS(1) [],
        UARTEN OFFSET(0) NUMBITS(1) [],
    ],
    /// Interrupt mask, raw/masked status and clear registers share this layout.
    UARTINT [
        /// Receive timeout: data waits in the FIFO below the trigger level.
        RT OFFSET(6) NUMBITS(1) [],
        /// Receive: the FIFO reached its trigger level (or, with FIFOs off, one byte came).
        RX OFFSET(4) NUMBITS(1) [],
    ],
}

register_structs! {
    /// The PL011 register frame.
    Pl011Registers {
        (0x000 => dr: ReadWrite<u32, UARTDR::Register>),
        (0x004 => _reserved0),
        (0x018 => fr: ReadOnly<u32, UARTFR::Register>),
        (0x01c => _reserved1),
        (0x030 => cr: ReadWrite<u32, UARTCR::Register>),
        (0x034 => _reserved2),
        /// UARTIMSC: 1 = interrupt enabled.
        (0x038 => imsc: ReadWrite<u32, UARTINT::Register>),
        (0x03c => _reserved3),
        /// UARTICR: write 1 to clear an interrupt.
        (0x044 => icr: WriteOnly<u32, UARTINT::Register>),
        (0x048 => @END),
    }
}

/// A PL011 UART.
pub struct Pl011 {
    registers: &'static Pl011Registers,
}

// SAFETY: the register block is `!Sync` only because it is an `UnsafeCell` over device
// registers. Each method does single volatile accesses, which the UART serializes; two vCPUs
// writing at once interleave bytes, which the console's line lock prevents, but cannot make
// an access unsound.
unsafe impl Sync for Pl011 {}
// SAFETY: the struct holds only the address of device registers, valid on every vCPU.
unsafe impl Send for Pl011 {}

impl Pl011 {
    /// A driver for the PL011 at `base`, with transmitter and receiver enabled.
    ///
    /// # Safety
    ///
    /// `base` must be the address of a PL011 register frame, mapped for the rest of the
    /// program.
    pub unsafe fn new(base: usize) -> Self {
        // SAFETY: the caller guarantees a mapped PL011 frame at `base`; register blocks are
        // only accessed through volatile operations.
        let registers = unsafe { &*(base as *const Pl011Registers) };
        registers
            .cr
            .modify(UARTCR::UARTEN::SET + UARTCR::TXE::SET + UARTCR::RXE::SET);
        Self { registers }
    }

    /// Sends one byte, waiting for room in the transmit FIFO.
    pub fn write_byte(&self, byte: u8) {
        while self.registers.fr.is_set(UARTFR::TXFF) {
            spin_loop();
        }
        self.registers.dr.write(UARTDR::DATA.val(u32::from(byte)));
    }

    /// Sends `bytes`, turning each `\n` into `\r\n` as terminals expect.
    pub fn write_bytes(&self, bytes: &[u8]) {
        for &byte in bytes {
            if byte == b'\n' {
                self.write_byte(b'\r');
            }
            self.write_byte(byte);
        }
    }

    /// The next received byte, if one is waiting. Error flags (bits 8-11 of UARTDR) are
    /// dropped: a console has nothing better to do with a damaged byte than show it.
    pub fn read_byte(&self) -> Option<u8> {
        if self.registers.fr.is_set(UARTFR::RXFE) {
            return None;
        }
        Some(self.registers.dr.read(UARTDR::DATA) as u8)
    }

    /// Makes the UART interrupt when input arrives. Both receive interrupts are needed: with
    /// FIFOs on, RX fires only at the trigger level and RT covers the bytes below it.
    pub fn enable_receive_interrupt(&self) {
        self.registers
            .imsc
            .modify(UARTINT::RX::SET + UARTINT::RT::SET);
    }

    /// Clears the receive interrupts. Call it before draining the FIFO with
    /// [`Pl011::read_byte`]: a byte that arrives after the last read then raises the
    /// interrupt again instead of waiting unseen for the next one.
    pub fn clear_receive_interrupt(&self) {
        self.registers
            .icr
            .write(UARTINT::RX::SET + UARTINT::RT::SET);
    }
}

impl core::fmt::Write for &Pl011 {
    fn write_str(&mut self, text: &str) -> core::fmt::Result {
        self.write_bytes(text.as_bytes());
        Ok(())
    }
}
