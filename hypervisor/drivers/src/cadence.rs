//! Cadence UART (Xilinx Zynq UltraScale+ `UART0`/`UART1`, compatible `cdns,uart-r1p12`):
//! non-blocking transmit, receive, and the transmit and receive interrupts, behind
//! [`ConsoleDriver`].
//!
//! Register map and bits from the Zynq UltraScale+ MPSoC Register Reference (UG1087, module
//! `UART`) and TRM (UG1085, chapter 21), as Linux `drivers/tty/serial/xilinx_uartps.c` and
//! Xen `asm/cadence-uart.h` use them: interrupt enable/disable are write-one registers
//! (`IER`/`IDR`), the mask is read in `IMR`, and `ISR` is write-one-to-clear, so no
//! read-modify-write of the mask is ever needed. The baud rate (`BAUDGEN`, `BAUDDIV`) and
//! frame format (`MR`) are left as firmware set them.

use crate::uart::{ConsoleDriver, UartInterrupts};
use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::registers::{ReadOnly, ReadWrite, WriteOnly};
use tock_registers::{register_bitfields, register_structs};

register_bitfields! [u32,
    /// `CR`, control register.
    CR [
        /// Receiver logic reset (self-clearing).
        RXRES OFFSET(0) NUMBITS(1) [],
        /// Transmitter logic reset (self-clearing).
        TXRES OFFSET(1) NUMBITS(1) [],
        /// Receive enable.
        RXEN OFFSET(2) NUMBITS(1) [],
        /// Receive disable (wins over RXEN).
        RXDIS OFFSET(3) NUMBITS(1) [],
        /// Transmit enable.
        TXEN OFFSET(4) NUMBITS(1) [],
        /// Transmit disable (wins over TXEN).
        TXDIS OFFSET(5) NUMBITS(1) [],
        /// Restart the receiver timeout counter.
        RSTTO OFFSET(6) NUMBITS(1) []
    ],
    /// `SR`, channel status register.
    SR [
        /// Receive FIFO empty.
        RXEMPTY OFFSET(1) NUMBITS(1) [],
        /// Transmit FIFO empty.
        TXEMPTY OFFSET(3) NUMBITS(1) [],
        /// Transmit FIFO full.
        TXFULL OFFSET(4) NUMBITS(1) []
    ],
    /// `IER`/`IDR`/`IMR`/`ISR`: interrupt bits (the same in all four).
    IXR [
        /// Receive FIFO reached the `RXWM` trigger level.
        RTRIG OFFSET(0) NUMBITS(1) [],
        /// Transmit FIFO empty.
        TEMPTY OFFSET(3) NUMBITS(1) [],
        /// Receiver timeout (`RXTOUT` idle character times with data waiting).
        TIMEOUT OFFSET(8) NUMBITS(1) [],
        /// Every source (bits 13:0).
        ALL OFFSET(0) NUMBITS(14) []
    ]
];

register_structs! {
    /// Cadence UART registers.
    pub Registers {
        (0x00 => cr: ReadWrite<u32, CR::Register>),
        (0x04 => mr: ReadWrite<u32>),
        (0x08 => ier: WriteOnly<u32, IXR::Register>),
        (0x0c => idr: WriteOnly<u32, IXR::Register>),
        (0x10 => imr: ReadOnly<u32, IXR::Register>),
        (0x14 => isr: ReadWrite<u32, IXR::Register>),
        (0x18 => baudgen: ReadWrite<u32>),
        (0x1c => rxtout: ReadWrite<u32>),
        (0x20 => rxwm: ReadWrite<u32>),
        (0x24 => modemcr: ReadWrite<u32>),
        (0x28 => modemsr: ReadOnly<u32>),
        (0x2c => sr: ReadOnly<u32, SR::Register>),
        (0x30 => fifo: ReadWrite<u32>),
        (0x34 => bauddiv: ReadWrite<u32>),
        (0x38 => flowdel: ReadWrite<u32>),
        (0x3c => _reserved0),
        (0x44 => txwm: ReadWrite<u32>),
        (0x48 => @END),
    }
}

/// Receive trigger level: interrupt as soon as one byte waits (console input is typed).
const RECEIVE_TRIGGER_LEVEL: u32 = 1;
/// Receiver timeout, in units of 4 bit times: the last bytes of a paste are not left behind.
const RECEIVE_TIMEOUT: u32 = 10;

/// A Cadence UART the hypervisor owns.
pub struct Cadence {
    /// The UART's register block (MMIO, interior mutability).
    registers: &'static Registers,
}

// SAFETY: the register block is MMIO, valid from every core; the console serialises
// transmit-side use under its drain lock and receive-side use on the one input core.
unsafe impl Send for Cadence {}

impl Cadence {
    /// Drives the register block `registers` (a device, or memory laid out like one).
    pub const fn from_registers(registers: &'static Registers) -> Self {
        Self { registers }
    }

    /// The interrupt register bits of `interrupts`.
    fn bits(interrupts: UartInterrupts) -> u32 {
        let transmit = if interrupts.transmit_room { IXR::TEMPTY::SET.value } else { 0 };
        let receive = if interrupts.receive { IXR::RTRIG::SET.value | IXR::TIMEOUT::SET.value } else { 0 };
        transmit | receive
    }
}

impl ConsoleDriver for Cadence {
    unsafe fn new(base: usize) -> Self {
        // SAFETY: the caller guarantees `base` points to a live, mapped Cadence UART register
        // block; the registers use interior mutability, so shared references are sound.
        let registers = unsafe { &*(base as *const Registers) };
        Self { registers }
    }

    fn enable(&mut self) {
        self.registers.idr.write(IXR::ALL.val(0x3fff));
        self.registers.isr.write(IXR::ALL.val(0x3fff));
        self.registers.rxwm.set(RECEIVE_TRIGGER_LEVEL);
        self.registers.rxtout.set(RECEIVE_TIMEOUT);
        // The receive FIFO may hold noise from before the hypervisor; the transmit FIFO holds
        // what firmware printed last, so it is not reset.
        #[expect(clippy::arithmetic_side_effects, reason = "DEV-0050: `+` combines register fields")]
        self.registers.cr.write(CR::RXRES::SET + CR::RXEN::SET + CR::TXEN::SET);
    }

    fn write_nonblocking(&mut self, bytes: &[u8]) -> usize {
        let mut written: usize = 0;
        for &byte in bytes {
            if self.registers.sr.is_set(SR::TXFULL) {
                break;
            }
            self.registers.fifo.set(u32::from(byte));
            written = written.saturating_add(1);
        }
        written
    }

    fn read_byte(&mut self) -> Option<u8> {
        if self.registers.sr.is_set(SR::RXEMPTY) {
            return None;
        }
        let [byte, ..] = self.registers.fifo.get().to_le_bytes();
        Some(byte)
    }

    fn enable_interrupts(&mut self, interrupts: UartInterrupts) {
        self.registers.ier.set(Self::bits(interrupts));
    }

    fn disable_interrupts(&mut self, interrupts: UartInterrupts) {
        self.registers.idr.set(Self::bits(interrupts));
    }

    fn acknowledge(&mut self, interrupts: UartInterrupts) {
        self.registers.isr.set(Self::bits(interrupts));
    }

    fn pending_interrupts(&self) -> UartInterrupts {
        let status = self.registers.isr.extract();
        let mask = self.registers.imr.extract();
        UartInterrupts {
            transmit_room: status.is_set(IXR::TEMPTY) && mask.is_set(IXR::TEMPTY),
            receive: (status.is_set(IXR::RTRIG) && mask.is_set(IXR::RTRIG))
                || (status.is_set(IXR::TIMEOUT) && mask.is_set(IXR::TIMEOUT)),
        }
    }
}

impl core::fmt::Write for Cadence {
    fn write_str(&mut self, text: &str) -> core::fmt::Result {
        self.write_blocking(text.as_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_memory::RegisterMemory;

    const CR_OFFSET: usize = 0x00;
    const IER: usize = 0x08;
    const IDR: usize = 0x0c;
    const IMR: usize = 0x10;
    const ISR: usize = 0x14;
    const RXWM: usize = 0x20;
    const SR_OFFSET: usize = 0x2c;
    const FIFO: usize = 0x30;

    fn uart() -> (&'static RegisterMemory<{ 0x48 / 4 }>, Cadence) {
        let memory = RegisterMemory::leak();
        // SAFETY: (test) the memory is as large as the register block and lives forever.
        let registers = unsafe { memory.as_registers::<Registers>() };
        (memory, Cadence::from_registers(registers))
    }

    #[test]
    fn the_register_block_has_the_ug1087_layout() {
        // register_structs! already fails to compile on a gap or overlap; these pin the
        // offsets the TRM gives against a typo in both places.
        assert_eq!(core::mem::size_of::<Registers>(), 0x48);
        let offsets = [
            (core::mem::offset_of!(Registers, cr), 0x00),
            (core::mem::offset_of!(Registers, mr), 0x04),
            (core::mem::offset_of!(Registers, ier), 0x08),
            (core::mem::offset_of!(Registers, idr), 0x0c),
            (core::mem::offset_of!(Registers, imr), 0x10),
            (core::mem::offset_of!(Registers, isr), 0x14),
            (core::mem::offset_of!(Registers, baudgen), 0x18),
            (core::mem::offset_of!(Registers, rxtout), 0x1c),
            (core::mem::offset_of!(Registers, rxwm), 0x20),
            (core::mem::offset_of!(Registers, sr), 0x2c),
            (core::mem::offset_of!(Registers, fifo), 0x30),
            (core::mem::offset_of!(Registers, bauddiv), 0x34),
            (core::mem::offset_of!(Registers, txwm), 0x44),
        ];
        for (actual, expected) in offsets {
            assert_eq!(actual, expected);
        }
    }

    #[test]
    fn enabling_sets_txen_and_rxen_masks_every_source_and_keeps_the_baud_rate() {
        let (memory, mut uart) = uart();
        memory.set(0x18, 0x7c);
        memory.set(0x34, 6);
        uart.enable();
        let control = memory.get(CR_OFFSET);
        assert_eq!(control & (1 << 4), 1 << 4, "TXEN");
        assert_eq!(control & (1 << 2), 1 << 2, "RXEN");
        assert_eq!(control & (1 << 5 | 1 << 3), 0, "neither TXDIS nor RXDIS");
        assert_eq!(control & (1 << 1), 0, "the transmit FIFO is not reset");
        assert_eq!(memory.get(IDR), 0x3fff, "every source masked");
        assert_eq!(memory.get(ISR), 0x3fff, "every pending interrupt cleared");
        assert_eq!(memory.get(RXWM), 1);
        assert_eq!((memory.get(0x18), memory.get(0x34)), (0x7c, 6), "BAUDGEN and BAUDDIV untouched");
    }

    #[test]
    fn a_full_transmit_fifo_takes_nothing() {
        let (memory, mut uart) = uart();
        memory.set(SR_OFFSET, 1 << 4);
        assert_eq!(uart.write_nonblocking(b"hello"), 0);
        assert_eq!(memory.get(FIFO), 0);
        memory.set(SR_OFFSET, 1 << 3);
        assert_eq!(uart.write_nonblocking(b"hi"), 2);
        assert_eq!(memory.get(FIFO), u32::from(b'i'));
        assert_eq!(uart.write_nonblocking(&[]), 0);
    }

    #[test]
    fn receive_reads_the_fifo_only_when_rxempty_is_clear() {
        let (memory, mut uart) = uart();
        memory.set(FIFO, u32::from(b'x'));
        memory.set(SR_OFFSET, 1 << 1);
        assert_eq!(uart.read_byte(), None);
        memory.set(SR_OFFSET, 0);
        assert_eq!(uart.read_byte(), Some(b'x'));
    }

    #[test]
    fn interrupt_sources_use_the_write_one_enable_disable_and_clear_registers() {
        let (memory, mut uart) = uart();
        uart.enable_interrupts(UartInterrupts::RECEIVE);
        assert_eq!(memory.get(IER), 1 << 0 | 1 << 8, "RTRIG and TIMEOUT");
        uart.enable_interrupts(UartInterrupts::TRANSMIT);
        assert_eq!(memory.get(IER), 1 << 3, "TEMPTY alone: IER is write-one, no read-modify-write");
        uart.disable_interrupts(UartInterrupts::ALL);
        assert_eq!(memory.get(IDR), 1 << 0 | 1 << 3 | 1 << 8);
        uart.acknowledge(UartInterrupts::TRANSMIT);
        assert_eq!(memory.get(ISR), 1 << 3);
        memory.set(ISR, 1 << 3 | 1 << 0);
        memory.set(IMR, 1 << 0);
        assert_eq!(uart.pending_interrupts(), UartInterrupts::RECEIVE, "a masked TEMPTY is not pending");
    }

    #[test]
    fn blocking_writes_give_up_on_a_fifo_that_never_drains() {
        let (memory, mut uart) = uart();
        memory.set(SR_OFFSET, 1 << 4);
        uart.write_blocking(b"ab");
        assert_eq!(memory.get(FIFO), 0, "nothing fitted, and the call returned");
    }
}
