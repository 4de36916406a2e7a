//! The BCM2835/BCM2711 auxiliary "mini UART" (`UART1`, compatible `brcm,bcm2835-aux-uart`;
//! the Raspberry Pi 4's second console): non-blocking transmit, receive, and the transmit and
//! receive interrupts, behind [`ConsoleDriver`].
//!
//! Registers from the BCM2711 ARM Peripherals datasheet (§2.2, "Mini UART"), relative to the
//! device tree's `reg` (`0x7e21_5040`, the `AUX_MU_IO_REG`): a 16550 look-alike with 32-bit
//! registers, but not a 16550 — its `IER` bits are swapped in the datasheet and corrected in
//! its errata (bit 0 receive, bit 1 transmit, as Linux `8250_bcm2835aux.c` and QEMU
//! `bcm2835_aux.c` use them), it has no FIFO control register, `LSR` bit 5 means "the transmit
//! FIFO can take a byte" and the whole state is also in `STAT`. Hence a driver of its own
//! rather than a generic NS16550 one (`UartKind::Ns16550` boards with a byte-strided 16550
//! still have none).
//!
//! Left as firmware set them: the baud rate (`AUX_MU_BAUD`, derived from the VPU core clock,
//! which the Raspberry Pi firmware fixes when `enable_uart=1`) and `AUX_ENABLES` (bit 0, in the
//! `aux` block outside this device's `reg`: the firmware sets it for the mini UART it
//! configures; QEMU's model is always enabled). Both interrupts are level conditions of the
//! device (receive: data waits; transmit: room in the FIFO), so there is nothing to clear.

use crate::uart::{ConsoleDriver, UartInterrupts};
use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::registers::{ReadOnly, ReadWrite};
use tock_registers::{register_bitfields, register_structs};

register_bitfields! [u32,
    /// `AUX_MU_IER_REG`, interrupt enables (datasheet errata: bit 0 receive, bit 1 transmit).
    IER [
        /// Interrupt while the receive FIFO holds a byte.
        RECEIVE OFFSET(0) NUMBITS(1) [],
        /// Interrupt while the transmit FIFO has room.
        TRANSMIT OFFSET(1) NUMBITS(1) []
    ],
    /// `AUX_MU_LCR_REG`, line control.
    LCR [
        /// Data size: 0b11 is 8 bits (the datasheet says bit 0 alone; errata: both bits).
        DATA_SIZE OFFSET(0) NUMBITS(2) [
            EightBits = 0b11
        ]
    ],
    /// `AUX_MU_LSR_REG`, line status.
    LSR [
        /// The receive FIFO holds at least one byte.
        DATA_READY OFFSET(0) NUMBITS(1) [],
        /// The transmit FIFO can take at least one byte.
        TRANSMIT_EMPTY OFFSET(5) NUMBITS(1) []
    ],
    /// `AUX_MU_CNTL_REG`, extra control.
    CNTL [
        /// Receiver enable.
        RECEIVER_ENABLE OFFSET(0) NUMBITS(1) [],
        /// Transmitter enable.
        TRANSMITTER_ENABLE OFFSET(1) NUMBITS(1) []
    ]
];

register_structs! {
    /// Mini UART registers from `AUX_MU_IO_REG` on.
    pub Registers {
        (0x00 => io: ReadWrite<u32>),
        (0x04 => ier: ReadWrite<u32, IER::Register>),
        (0x08 => iir: ReadWrite<u32>),
        (0x0c => lcr: ReadWrite<u32, LCR::Register>),
        (0x10 => mcr: ReadWrite<u32>),
        (0x14 => lsr: ReadOnly<u32, LSR::Register>),
        (0x18 => msr: ReadOnly<u32>),
        (0x1c => scratch: ReadWrite<u32>),
        (0x20 => cntl: ReadWrite<u32, CNTL::Register>),
        (0x24 => stat: ReadOnly<u32>),
        (0x28 => baud: ReadWrite<u32>),
        (0x2c => @END),
    }
}

/// A mini UART the hypervisor owns.
pub struct MiniUart {
    /// The UART's register block (MMIO, interior mutability).
    registers: &'static Registers,
}

// SAFETY: the register block is MMIO, valid from every core; the console serialises
// transmit-side use under its drain lock and receive-side use on the one input core (the
// logger under its own drain lock).
unsafe impl Send for MiniUart {}

impl MiniUart {
    /// Drives the register block `registers` (a device, or memory laid out like one).
    pub const fn from_registers(registers: &'static Registers) -> Self {
        Self { registers }
    }

    /// The `IER` bits of `interrupts`.
    fn bits(interrupts: UartInterrupts) -> u32 {
        let transmit = if interrupts.transmit_room { IER::TRANSMIT::SET.value } else { 0 };
        let receive = if interrupts.receive { IER::RECEIVE::SET.value } else { 0 };
        transmit | receive
    }
}

impl ConsoleDriver for MiniUart {
    unsafe fn new(base: usize) -> Self {
        // SAFETY: the caller guarantees `base` points to a live, mapped mini UART register
        // block; the registers use interior mutability, so shared references are sound.
        let registers = unsafe { &*(base as *const Registers) };
        Self { registers }
    }

    fn enable(&mut self) {
        self.registers.ier.set(0);
        self.registers.lcr.write(LCR::DATA_SIZE::EightBits);
        self.registers.cntl.set(CNTL::RECEIVER_ENABLE::SET.value | CNTL::TRANSMITTER_ENABLE::SET.value);
    }

    fn write_nonblocking(&mut self, bytes: &[u8]) -> usize {
        let mut written: usize = 0;
        for &byte in bytes {
            if !self.registers.lsr.is_set(LSR::TRANSMIT_EMPTY) {
                break;
            }
            self.registers.io.set(u32::from(byte));
            written = written.saturating_add(1);
        }
        written
    }

    fn read_byte(&mut self) -> Option<u8> {
        if !self.registers.lsr.is_set(LSR::DATA_READY) {
            return None;
        }
        let [byte, ..] = self.registers.io.get().to_le_bytes();
        Some(byte)
    }

    fn enable_interrupts(&mut self, interrupts: UartInterrupts) {
        self.registers.ier.set(self.registers.ier.get() | Self::bits(interrupts));
    }

    fn disable_interrupts(&mut self, interrupts: UartInterrupts) {
        self.registers.ier.set(self.registers.ier.get() & !Self::bits(interrupts));
    }

    fn acknowledge(&mut self, _interrupts: UartInterrupts) {
        // Level conditions of the FIFOs: reading the byte or filling the FIFO ends them.
    }

    fn pending_interrupts(&self) -> UartInterrupts {
        let enabled = self.registers.ier.extract();
        let status = self.registers.lsr.extract();
        UartInterrupts {
            transmit_room: enabled.is_set(IER::TRANSMIT) && status.is_set(LSR::TRANSMIT_EMPTY),
            receive: enabled.is_set(IER::RECEIVE) && status.is_set(LSR::DATA_READY),
        }
    }
}

impl core::fmt::Write for MiniUart {
    fn write_str(&mut self, text: &str) -> core::fmt::Result {
        self.write_blocking(text.as_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_memory::RegisterMemory;

    const IO: usize = 0x00;
    const IER_OFFSET: usize = 0x04;
    const LCR_OFFSET: usize = 0x0c;
    const LSR_OFFSET: usize = 0x14;
    const CNTL_OFFSET: usize = 0x20;
    const BAUD: usize = 0x28;

    fn uart() -> (&'static RegisterMemory<{ 0x2c / 4 }>, MiniUart) {
        let memory = RegisterMemory::leak();
        // SAFETY: (test) the memory is as large as the register block and lives forever.
        let registers = unsafe { memory.as_registers::<Registers>() };
        (memory, MiniUart::from_registers(registers))
    }

    #[test]
    fn the_register_block_has_the_bcm2711_layout() {
        assert_eq!(core::mem::size_of::<Registers>(), 0x2c);
        let offsets = [
            (core::mem::offset_of!(Registers, io), 0x00),
            (core::mem::offset_of!(Registers, ier), 0x04),
            (core::mem::offset_of!(Registers, iir), 0x08),
            (core::mem::offset_of!(Registers, lcr), 0x0c),
            (core::mem::offset_of!(Registers, mcr), 0x10),
            (core::mem::offset_of!(Registers, lsr), 0x14),
            (core::mem::offset_of!(Registers, msr), 0x18),
            (core::mem::offset_of!(Registers, scratch), 0x1c),
            (core::mem::offset_of!(Registers, cntl), 0x20),
            (core::mem::offset_of!(Registers, stat), 0x24),
            (core::mem::offset_of!(Registers, baud), 0x28),
        ];
        for (actual, expected) in offsets {
            assert_eq!(actual, expected);
        }
    }

    #[test]
    fn enabling_masks_interrupts_sets_eight_bits_and_both_directions_and_keeps_the_baud_rate() {
        let (memory, mut uart) = uart();
        memory.set(IER_OFFSET, 0b11);
        memory.set(BAUD, 270);
        uart.enable();
        assert_eq!(memory.get(IER_OFFSET), 0, "every interrupt masked");
        assert_eq!(memory.get(LCR_OFFSET), 0b11, "8 data bits");
        assert_eq!(memory.get(CNTL_OFFSET), 0b11, "receiver and transmitter enabled");
        assert_eq!(memory.get(BAUD), 270, "baud rate as firmware left it");
    }

    #[test]
    fn transmit_writes_only_while_lsr_says_there_is_room() {
        let (memory, mut uart) = uart();
        assert_eq!(uart.write_nonblocking(b"hello"), 0, "LSR bit 5 clear: FIFO full");
        assert_eq!(memory.get(IO), 0);
        memory.set(LSR_OFFSET, 1 << 5);
        assert_eq!(uart.write_nonblocking(b"hi"), 2);
        assert_eq!(memory.get(IO), u32::from(b'i'));
        assert_eq!(uart.write_nonblocking(&[]), 0);
    }

    #[test]
    fn receive_reads_io_only_when_data_is_ready() {
        let (memory, mut uart) = uart();
        memory.set(IO, u32::from(b'x'));
        assert_eq!(uart.read_byte(), None);
        memory.set(LSR_OFFSET, 1 << 0);
        assert_eq!(uart.read_byte(), Some(b'x'));
    }

    #[test]
    fn interrupt_enables_use_the_errata_bits_and_pending_needs_enable_and_condition() {
        let (memory, mut uart) = uart();
        uart.enable_interrupts(UartInterrupts::RECEIVE);
        assert_eq!(memory.get(IER_OFFSET), 1 << 0, "receive is bit 0");
        uart.enable_interrupts(UartInterrupts::TRANSMIT);
        assert_eq!(memory.get(IER_OFFSET), 1 << 0 | 1 << 1, "transmit is bit 1, receive kept");
        uart.disable_interrupts(UartInterrupts::RECEIVE);
        assert_eq!(memory.get(IER_OFFSET), 1 << 1);
        memory.set(LSR_OFFSET, 1 << 0 | 1 << 5);
        assert_eq!(uart.pending_interrupts(), UartInterrupts::TRANSMIT, "receive data waits but is masked");
        uart.acknowledge(UartInterrupts::ALL);
        assert_eq!(memory.get(IER_OFFSET), 1 << 1, "acknowledging changes no enable");
    }

    #[test]
    fn blocking_writes_give_up_on_a_fifo_that_never_drains() {
        let (memory, mut uart) = uart();
        uart.write_blocking(b"ab");
        assert_eq!(memory.get(IO), 0, "nothing fitted, and the call returned");
    }
}
