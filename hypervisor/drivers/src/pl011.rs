//! Arm PrimeCell PL011 UART (DDI 0183): non-blocking transmit, receive, and the transmit and
//! receive interrupts, behind [`ConsoleDriver`].
//!
//! The driver holds a reference to its register block, so host tests point it at plain
//! memory laid out like the device ([`Pl011::from_registers`]) and check what it writes.

use crate::uart::{ConsoleDriver, UartInterrupts};
use tock_registers::interfaces::{ReadWriteable, Readable, Writeable};
use tock_registers::registers::{ReadOnly, ReadWrite, WriteOnly};
use tock_registers::{register_bitfields, register_structs};

register_bitfields! [u32,
    /// `UARTFR`, flag register (DDI 0183 3.3.3).
    FR [
        /// Busy transmitting.
        BUSY OFFSET(3) NUMBITS(1) [],
        /// Receive FIFO empty.
        RXFE OFFSET(4) NUMBITS(1) [],
        /// Transmit FIFO full.
        TXFF OFFSET(5) NUMBITS(1) []
    ],
    /// `UARTCR`, control register (3.3.8).
    CR [
        /// UART enable.
        UARTEN OFFSET(0) NUMBITS(1) [],
        /// Transmit enable.
        TXE OFFSET(8) NUMBITS(1) [],
        /// Receive enable.
        RXE OFFSET(9) NUMBITS(1) []
    ],
    /// `UARTIMSC`/`UARTMIS`/`UARTICR`: interrupt bits (3.3.10-3.3.13).
    INT [
        /// Receive.
        RX OFFSET(4) NUMBITS(1) [],
        /// Transmit.
        TX OFFSET(5) NUMBITS(1) [],
        /// Receive timeout.
        RT OFFSET(6) NUMBITS(1) [],
        /// Every source (bits 10:0).
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
        (0x038 => imsc: ReadWrite<u32, INT::Register>),
        (0x03c => ris: ReadOnly<u32, INT::Register>),
        (0x040 => mis: ReadOnly<u32, INT::Register>),
        (0x044 => icr: WriteOnly<u32, INT::Register>),
        (0x048 => @END),
    }
}

/// A PL011 the hypervisor owns.
pub struct Pl011 {
    /// The UART's register block (MMIO, interior mutability).
    registers: &'static Registers,
}

// SAFETY: the register block is MMIO, valid from every core; the console serialises
// transmit-side use under its drain lock and receive-side use on the one input core.
unsafe impl Send for Pl011 {}

impl Pl011 {
    /// Drives the register block `registers` (a device, or memory laid out like one).
    pub const fn from_registers(registers: &'static Registers) -> Self {
        Self { registers }
    }

    /// The `IMSC`/`ICR` bits of `interrupts`.
    fn bits(interrupts: UartInterrupts) -> u32 {
        let transmit = if interrupts.transmit_room { INT::TX::SET.value } else { 0 };
        let receive = if interrupts.receive { INT::RX::SET.value | INT::RT::SET.value } else { 0 };
        transmit | receive
    }
}

impl ConsoleDriver for Pl011 {
    unsafe fn new(base: usize) -> Self {
        // SAFETY: the caller guarantees `base` points to a live, mapped PL011 register block;
        // the registers use interior mutability, so shared references are sound.
        let registers = unsafe { &*(base as *const Registers) };
        Self { registers }
    }

    fn enable(&mut self) {
        self.registers.imsc.set(0);
        self.registers.icr.write(INT::ALL.val(0x7ff));
        #[expect(clippy::arithmetic_side_effects, reason = "DEV-0050: `+` combines register fields")]
        self.registers.cr.write(CR::UARTEN::SET + CR::TXE::SET + CR::RXE::SET);
    }

    fn write_nonblocking(&mut self, bytes: &[u8]) -> usize {
        let mut written: usize = 0;
        for &byte in bytes {
            if self.registers.fr.is_set(FR::TXFF) {
                break;
            }
            self.registers.dr.set(u32::from(byte));
            written = written.saturating_add(1);
        }
        written
    }

    fn read_byte(&mut self) -> Option<u8> {
        if self.registers.fr.is_set(FR::RXFE) {
            return None;
        }
        // UARTDR bits 7:0 are the received byte (bits 11:8 its error flags).
        let [byte, ..] = self.registers.dr.get().to_le_bytes();
        Some(byte)
    }

    fn enable_interrupts(&mut self, interrupts: UartInterrupts) {
        let bits = Self::bits(interrupts);
        self.registers.imsc.modify(INT::ALL.val(self.registers.imsc.get() | bits));
    }

    fn disable_interrupts(&mut self, interrupts: UartInterrupts) {
        let bits = Self::bits(interrupts);
        self.registers.imsc.modify(INT::ALL.val(self.registers.imsc.get() & !bits));
    }

    fn acknowledge(&mut self, interrupts: UartInterrupts) {
        self.registers.icr.set(Self::bits(interrupts));
    }

    fn pending_interrupts(&self) -> UartInterrupts {
        let masked = self.registers.mis.extract();
        UartInterrupts {
            transmit_room: masked.is_set(INT::TX),
            receive: masked.is_set(INT::RX) || masked.is_set(INT::RT),
        }
    }
}

impl core::fmt::Write for Pl011 {
    fn write_str(&mut self, text: &str) -> core::fmt::Result {
        self.write_blocking(text.as_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_memory::RegisterMemory;

    fn uart() -> (&'static RegisterMemory<{ 0x48 / 4 }>, Pl011) {
        let memory = RegisterMemory::leak();
        // SAFETY: (test) the memory is as large as the register block and lives forever.
        let registers = unsafe { memory.as_registers::<Registers>() };
        (memory, Pl011::from_registers(registers))
    }

    #[test]
    fn the_register_block_has_the_trm_layout() {
        assert_eq!(core::mem::size_of::<Registers>(), 0x48);
        assert_eq!(core::mem::offset_of!(Registers, fr), 0x18);
        assert_eq!(core::mem::offset_of!(Registers, cr), 0x30);
        assert_eq!(core::mem::offset_of!(Registers, imsc), 0x38);
        assert_eq!(core::mem::offset_of!(Registers, mis), 0x40);
        assert_eq!(core::mem::offset_of!(Registers, icr), 0x44);
    }

    #[test]
    fn enabling_turns_on_uart_transmit_and_receive_with_every_source_masked() {
        let (memory, mut uart) = uart();
        memory.set(0x38, 0x7ff);
        uart.enable();
        assert_eq!(memory.get(0x30), 1 | 1 << 8 | 1 << 9);
        assert_eq!(memory.get(0x38), 0, "every source masked");
        assert_eq!(memory.get(0x44), 0x7ff, "every pending interrupt cleared");
    }

    #[test]
    fn a_full_transmit_fifo_takes_nothing_and_room_takes_bytes_in_order() {
        let (memory, mut uart) = uart();
        memory.set(0x18, 1 << 5);
        assert_eq!(uart.write_nonblocking(b"abc"), 0);
        assert_eq!(memory.get(0x00), 0, "nothing written to UARTDR");
        memory.set(0x18, 0);
        assert_eq!(uart.write_nonblocking(b"abc"), 3);
        assert_eq!(memory.get(0x00), u32::from(b'c'), "the last byte written is the last in UARTDR");
    }

    #[test]
    fn receive_reads_the_data_register_only_when_the_fifo_holds_a_byte() {
        let (memory, mut uart) = uart();
        memory.set(0x18, 1 << 4);
        memory.set(0x00, 0x541);
        assert_eq!(uart.read_byte(), None);
        memory.set(0x18, 0);
        assert_eq!(uart.read_byte(), Some(b'A'), "error flags in bits 11:8 are dropped");
    }

    #[test]
    fn interrupt_sources_map_to_txim_rxim_and_rtim() {
        let (memory, mut uart) = uart();
        uart.enable_interrupts(UartInterrupts::RECEIVE);
        assert_eq!(memory.get(0x38), 1 << 4 | 1 << 6);
        uart.enable_interrupts(UartInterrupts::TRANSMIT);
        assert_eq!(memory.get(0x38), 1 << 4 | 1 << 5 | 1 << 6);
        uart.disable_interrupts(UartInterrupts::RECEIVE);
        assert_eq!(memory.get(0x38), 1 << 5);
        uart.acknowledge(UartInterrupts::TRANSMIT);
        assert_eq!(memory.get(0x44), 1 << 5);
        memory.set(0x40, 1 << 6);
        assert_eq!(uart.pending_interrupts(), UartInterrupts::RECEIVE);
    }
}
