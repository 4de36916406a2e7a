//! Arm PrimeCell PL011 UART (DDI 0183), polled transmit and interrupt-driven receive.

use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::registers::{ReadOnly, ReadWrite, WriteOnly};
use tock_registers::{register_bitfields, register_structs};

register_bitfields! [u32,
    FR [
        RXFE OFFSET(4) NUMBITS(1) [],
        TXFF OFFSET(5) NUMBITS(1) [],
        BUSY OFFSET(3) NUMBITS(1) []
    ],
    CR [
        UARTEN OFFSET(0) NUMBITS(1) [],
        TXE OFFSET(8) NUMBITS(1) [],
        RXE OFFSET(9) NUMBITS(1) []
    ],
    IMSC [
        RXIM OFFSET(4) NUMBITS(1) [],
        RTIM OFFSET(6) NUMBITS(1) []
    ],
    ICR [
        ALL OFFSET(0) NUMBITS(11) []
    ]
];

register_structs! {
    /// PL011 registers (TRM table 3-1).
    pub Registers {
        (0x000 => dr: ReadWrite<u32>),
        (0x004 => rsr_ecr: ReadWrite<u32>),
        (0x008 => _reserved0),
        (0x018 => fr: ReadOnly<u32, FR::Register>),
        (0x01c => _reserved1),
        (0x030 => cr: ReadWrite<u32, CR::Register>),
        (0x034 => ifls: ReadWrite<u32>),
        (0x038 => imsc: ReadWrite<u32, IMSC::Register>),
        (0x03c => ris: ReadOnly<u32>),
        (0x040 => mis: ReadOnly<u32>),
        (0x044 => icr: WriteOnly<u32, ICR::Register>),
        (0x048 => @END),
    }
}

/// A PL011 the hypervisor owns.
pub struct Pl011 {
    /// The UART's register block (MMIO, interior mutability).
    registers: &'static Registers,
}

// SAFETY: the register block is MMIO, valid from every core; concurrent use is serialised by
// the lock the console wraps each `Pl011` in.
unsafe impl Send for Pl011 {}

impl Pl011 {
    /// Takes over the PL011 at `base`.
    ///
    /// # Safety
    /// `base` must be the register block of a PL011, mapped as Device memory for as long as
    /// the driver lives, and no other code may drive that UART.
    pub unsafe fn new(base: usize) -> Self {
        // SAFETY: the caller guarantees `base` points to a live, mapped PL011 register block
        // that nothing else aliases mutably; the registers use interior mutability.
        let registers = unsafe { &*(base as *const Registers) };
        Self { registers }
    }

    /// Enables transmit and receive (keeping the baud rate firmware or QEMU set) and the
    /// receive interrupt.
    pub fn enable(&mut self, receive_interrupt: bool) {
        #[expect(clippy::arithmetic_side_effects, reason = "DEV-0050: `+` combines register fields")]
        self.registers.cr.write(CR::UARTEN::SET + CR::TXE::SET + CR::RXE::SET);
        self.registers.icr.write(ICR::ALL.val(0x7ff));
        if receive_interrupt {
            #[expect(clippy::arithmetic_side_effects, reason = "DEV-0050: `+` combines register fields")]
            self.registers.imsc.write(IMSC::RXIM::SET + IMSC::RTIM::SET);
        }
    }

    /// Sends one byte, waiting while the transmit FIFO is full.
    pub fn write_byte(&mut self, byte: u8) {
        // BOUND: the FIFO drains at the line rate; a UART that never drains is a hardware
        // failure this loop cannot fix, and output is the hypervisor's only witness.
        while self.registers.fr.is_set(FR::TXFF) {
            core::hint::spin_loop();
        }
        self.registers.dr.set(u32::from(byte));
    }

    /// Sends `bytes`.
    pub fn write_bytes(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.write_byte(byte);
        }
    }

    /// Takes one received byte, if any.
    pub fn read_byte(&mut self) -> Option<u8> {
        if self.registers.fr.is_set(FR::RXFE) {
            None
        } else {
            // UARTDR bits 7:0 are the received byte (bits 11:8 its error flags).
            let [byte, ..] = self.registers.dr.get().to_le_bytes();
            Some(byte)
        }
    }
}

impl core::fmt::Write for Pl011 {
    fn write_str(&mut self, text: &str) -> core::fmt::Result {
        self.write_bytes(text.as_bytes());
        Ok(())
    }
}
