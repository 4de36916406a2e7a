//! Emulated Arm PrimeCell UART (PL011) r1p5: each partition's console device.
//!
//! Every partition finds a PL011 at [`layout::VUART_BASE`](crate::layout::VUART_BASE) with
//! interrupt [`layout::VUART_INTID`](crate::layout::VUART_INTID), whatever UART the board
//! really has. The frame is unmapped at stage 2; the image's data-abort handler calls
//! [`Vpl011::read`]/[`Vpl011::write`], prints what [`WriteOutcome::effect`] says was
//! transmitted, feeds input from the physical console through [`Vpl011::push_input`], and
//! after each of those drives the partition's virtual SPI with [`Vpl011::interrupt_line`].
//! Register behaviour follows the PL011 TRM (Arm DDI 0183G, chapter 3) with these
//! simplifications, each chosen so that Linux's `amba-pl011` driver and small bare-metal
//! guests work without ever losing output:
//!
//! - Transmission is instantaneous: the transmit FIFO is always empty, so `UARTFR` reads
//!   `TXFE` = 1, `TXFF` = 0, `BUSY` = 0, and every byte written to `UARTDR` is reported at
//!   once. Bytes are reported even while `UARTCR.UARTEN`/`TXE` are clear (real hardware
//!   would hold them in the FIFO); the effect flags this so the image can warn.
//! - Loopback (`UARTCR.LBE`) is modelled: the byte goes to the guest's own receiver, not to
//!   the console. Older Linux drivers write a dummy byte in loopback at start-up.
//! - The transmit interrupt is asserted whenever the transmitter is enabled (`UARTEN` and
//!   `TXE`): an empty FIFO is always at or below the trigger level. `UARTICR.TXIC` therefore
//!   cannot keep it cleared; drivers mask it with `UARTIMSC.TXIM` when done, as Linux does.
//! - The receive timeout needs no idle time: `RTRIS` is raised as soon as a byte arrives
//!   and stays until the FIFO is drained or `UARTICR.RTIC` is written. The receive
//!   interrupt `RXRIS` follows the `UARTIFLS` trigger level as in the TRM.
//! - Input is only accepted while `UARTEN` and `RXE` are set; a full FIFO is an overrun
//!   (`OE` in `UARTRSR`, `UARTDR` and `UARTRIS`, the byte is lost) as in the TRM.
//! - Modem status inputs read as inactive, DMA (`UARTDMACR`) and IrDA are not implemented,
//!   break, parity and framing errors never occur.
//! - Accesses of 8, 16 or 32 bits are accepted. Reads may address any naturally aligned
//!   part of a register; writes must start at the register's first byte.
//!
//! `UARTFR` is also published lock-free ([`PublishedRegisters`]): Linux's console reads it
//! before every byte it writes, and a read answered from the published value costs the trap
//! no partition lock and no device dispatch. The model publishes it itself, under whatever
//! lock guards the model, at every change of the state it depends on, so a lock-free read
//! returns what a locked read would have returned at some moment between the trap and its
//! answer.

use crate::mmio::MmioError;
use core::sync::atomic::{AtomicU32, Ordering};
use heapless::Deque;

pub use crate::mmio::{AccessWidth, Disposition, ReadOutcome};

/// Receive FIFO depth of PL011 r1p5 (revision 3 in `UARTPeriphID2`).
pub const FIFO_DEPTH: usize = 32;
/// Size of the register frame.
pub const FRAME_SIZE: u64 = 0x1000;

/// `UARTDR`: data (TRM Table 3-1 gives every offset here).
const DR: u64 = 0x000;
/// `UARTRSR` when read, `UARTECR` when written: receive status / error clear.
const RSR_ECR: u64 = 0x004;
/// `UARTFR`: flags.
const FR: u64 = 0x018;
/// `UARTILPR`: IrDA low-power counter.
const ILPR: u64 = 0x020;
/// `UARTIBRD`: integer baud rate divisor.
const IBRD: u64 = 0x024;
/// `UARTFBRD`: fractional baud rate divisor.
const FBRD: u64 = 0x028;
/// `UARTLCR_H`: line control.
const LCR_H: u64 = 0x02c;
/// `UARTCR`: control.
const CR: u64 = 0x030;
/// `UARTIFLS`: interrupt FIFO level select.
const IFLS: u64 = 0x034;
/// `UARTIMSC`: interrupt mask set/clear.
const IMSC: u64 = 0x038;
/// `UARTRIS`: raw interrupt status.
const RIS: u64 = 0x03c;
/// `UARTMIS`: masked interrupt status.
const MIS: u64 = 0x040;
/// `UARTICR`: interrupt clear.
const ICR: u64 = 0x044;
/// `UARTDMACR`: DMA control.
const DMACR: u64 = 0x048;
/// `UARTPeriphID0`, the first of the eight identification registers up to 0xffc.
const IDENTIFICATION: u64 = 0xfe0;
/// The last identification register, `UARTPCellID3`.
const IDENTIFICATION_LAST: u64 = 0xffc;

/// `UARTPeriphID0-3` then `UARTPCellID0-3` (TRM 3.3.14-3.3.15): part 0x011, designer
/// 0x41 (Arm), revision 3 (r1p5), which Linux reads as AMBA id 0x00341011 and, from the
/// revision, a 32-byte FIFO.
const IDENTIFICATION_BYTES: [u8; 8] = [0x11, 0x10, 0x34, 0x00, 0x0d, 0xf0, 0x05, 0xb1];

/// `UARTDR` read: overrun error.
const DR_OE: u32 = 1 << 11;
/// `UARTRSR`: overrun error.
const RSR_OE: u32 = 1 << 3;

/// `UARTFR.BUSY`: transmitting (TRM 3.3.3, as the other `UARTFR` bits).
const FR_BUSY: u32 = 1 << 3;
/// `UARTFR.RXFE`: receive FIFO empty.
const FR_RXFE: u32 = 1 << 4;
/// `UARTFR.TXFF`: transmit FIFO full.
const FR_TXFF: u32 = 1 << 5;
/// `UARTFR.RXFF`: receive FIFO full.
const FR_RXFF: u32 = 1 << 6;
/// `UARTFR.TXFE`: transmit FIFO empty.
const FR_TXFE: u32 = 1 << 7;

/// `UARTLCR_H.FEN`: FIFOs enabled (TRM 3.3.7).
const LCR_H_FEN: u32 = 1 << 4;

/// `UARTCR.UARTEN`: UART enabled (TRM 3.3.8, as the other `UARTCR` bits).
const CR_UARTEN: u32 = 1 << 0;
/// `UARTCR.LBE`: loopback.
const CR_LBE: u32 = 1 << 7;
/// `UARTCR.TXE`: transmitter enabled.
const CR_TXE: u32 = 1 << 8;
/// `UARTCR.RXE`: receiver enabled.
const CR_RXE: u32 = 1 << 9;
/// Implemented `UARTCR` bits; 6:3 are reserved.
const CR_MASK: u32 = 0xff87;
/// `UARTCR` reset: `TXE` and `RXE` set, `UARTEN` clear.
const CR_RESET: u32 = CR_TXE | CR_RXE;
/// `UARTIFLS` reset: both trigger levels at half full.
const IFLS_RESET: u32 = 0x12;

/// Receive interrupt; this and the next bits are shared by `UARTIMSC`, `UARTRIS`, `UARTMIS`
/// and `UARTICR` (TRM 3.3.11-3.3.14).
const INT_RX: u32 = 1 << 4;
/// Transmit interrupt.
const INT_TX: u32 = 1 << 5;
/// Receive timeout interrupt.
const INT_RT: u32 = 1 << 6;
/// Overrun error interrupt.
const INT_OE: u32 = 1 << 10;
/// The eleven implemented interrupt bits.
const INT_MASK: u32 = 0x7ff;

/// Why [`Vpl011::push_input`] could not take a byte. Either way the byte is not delivered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum InputError {
    /// The receive FIFO was full: an overrun, now flagged to the guest.
    FifoFull,
    /// The guest has not enabled its receiver (`UARTCR.UARTEN` and `RXE`).
    ReceiverDisabled,
}

/// What a guest write sent somewhere.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Effect {
    /// The guest transmitted `byte`: it belongs on the partition's console.
    Transmit {
        /// The character.
        byte: u8,
        /// The guest wrote it with `UARTEN` or `TXE` clear; real hardware would have held it.
        transmitter_disabled: bool,
    },
    /// The guest transmitted `byte` in loopback mode: it went to its own receiver.
    LoopedBack {
        /// The character.
        byte: u8,
        /// Whether the receiver took it (it was enabled and had room).
        received: bool,
    },
}

/// Result of a write the model accepted.
#[must_use = "a write can transmit a byte the image must print"]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WriteOutcome {
    /// How the model handled the write.
    pub disposition: Disposition,
    /// The byte it transmitted, if it was a `UARTDR` write.
    pub effect: Option<Effect>,
}

impl WriteOutcome {
    /// A write that sent nothing anywhere.
    const fn plain(disposition: Disposition) -> Self {
        Self { disposition, effect: None }
    }
}

/// One partition's emulated PL011.
// [impl->dsn~vpl011~1]
#[derive(Clone, Debug)]
pub struct Vpl011 {
    /// Received characters the guest has not read; with the FIFOs disabled it holds one.
    receive_fifo: Deque<u8, FIFO_DEPTH>,
    /// `UARTRSR` error flags.
    receive_status: u32,
    /// `UARTDR.OE`: set by an overrun, cleared when the next character is stored.
    overrun: bool,
    /// `UARTILPR`, stored and read back only: there is no IrDA encoder.
    irda_low_power: u32,
    /// `UARTIBRD`, stored and read back only: transmission has no baud rate.
    integer_baud: u32,
    /// `UARTFBRD`, stored and read back only.
    fractional_baud: u32,
    /// `UARTLCR_H`; only `FEN` changes the model's behaviour.
    line_control: u32,
    /// `UARTCR`.
    control: u32,
    /// `UARTIFLS`.
    fifo_levels: u32,
    /// `UARTIMSC`: 1 lets the raw interrupt through to `UARTINTR`.
    interrupt_mask: u32,
    /// Latched raw interrupts (receive, receive timeout, overrun); transmit is computed.
    latched_interrupts: u32,
    /// Where `UARTFR` is published for lock-free reads, once attached
    /// ([`Vpl011::publish_to`]); kept across [`Vpl011::reset`].
    published: Option<&'static PublishedRegisters>,
}

impl Default for Vpl011 {
    fn default() -> Self {
        Self::new()
    }
}

impl Vpl011 {
    /// A PL011 in its reset state (TRM Table 3-1).
    pub const fn new() -> Self {
        Self {
            receive_fifo: Deque::new(),
            receive_status: 0,
            overrun: false,
            irda_low_power: 0,
            integer_baud: 0,
            fractional_baud: 0,
            line_control: 0,
            control: CR_RESET,
            fifo_levels: IFLS_RESET,
            interrupt_mask: 0,
            latched_interrupts: 0,
            published: None,
        }
    }

    /// Puts the model back into its reset state in place (a partition restart), still
    /// publishing where it did, and publishes the reset `UARTFR`.
    pub fn reset(&mut self) {
        *self = Self { published: self.published, ..Self::new() };
        self.publish();
    }

    /// From now on publishes `UARTFR` to `registers` at every change (and once now), for
    /// readers without the lock that guards the model. The caller gives each model its own
    /// `registers` and attaches it while holding that lock.
    pub fn publish_to(&mut self, registers: &'static PublishedRegisters) {
        self.published = Some(registers);
        self.publish();
    }

    /// Stores the current `UARTFR` where it is published. Called at every change of what
    /// [`Vpl011::flags`] depends on (the receive FIFO's contents and `UARTLCR_H.FEN`): a
    /// received or looped-back byte, a `UARTDR` read, a `UARTLCR_H` write, a reset.
    fn publish(&self) {
        if let Some(registers) = self.published {
            registers.store_flags(self.flags());
        }
    }

    /// Reads `width` bytes at `offset` inside the frame. Reading `UARTDR` consumes a byte.
    pub fn read(&mut self, offset: u64, width: AccessWidth) -> Result<ReadOutcome, MmioError> {
        check(offset, width)?;
        let register = offset & !3;
        let value = match register {
            DR => self.read_data(),
            RSR_ECR => self.receive_status,
            FR => self.flags(),
            ILPR => self.irda_low_power,
            IBRD => self.integer_baud,
            FBRD => self.fractional_baud,
            LCR_H => self.line_control,
            CR => self.control,
            IFLS => self.fifo_levels,
            IMSC => self.interrupt_mask,
            RIS => self.raw_interrupt_status(),
            MIS => self.masked_interrupt_status(),
            IDENTIFICATION..=IDENTIFICATION_LAST => {
                // The block starts at a multiple of its size: the low bits are the offset into it.
                let index = ((register & 0x1f) / 4) as usize;
                u32::from(IDENTIFICATION_BYTES.get(index).copied().unwrap_or(0))
            }
            // UARTICR is write-only; UARTDMACR has no DMA interface behind it (RAZ/WI).
            ICR | DMACR => return Ok(ReadOutcome::read_as_zero()),
            _ => return Ok(ReadOutcome::read_as_zero()),
        };
        // A sub-word read returns its byte lanes at the bottom; the shift is at most 24 bits.
        let lane = (offset & 3).saturating_mul(8);
        Ok(ReadOutcome::emulated((u64::from(value) >> lane) & width.value_mask()))
    }

    /// Writes `value` (its low `width` bytes) at `offset` inside the frame.
    pub fn write(&mut self, offset: u64, width: AccessWidth, value: u64) -> Result<WriteOutcome, MmioError> {
        check(offset, width)?;
        if offset & 3 != 0 {
            return Err(MmioError::PartialWrite { offset, width });
        }
        let word = width.written_word(value);
        let outcome = match offset {
            // UARTDR.DATA is bits [7:0] (TRM 3.3.1).
            DR => WriteOutcome { disposition: Disposition::Emulated, effect: Some(self.transmit((word & 0xff) as u8)) },
            RSR_ECR => {
                // Any write to UARTECR clears every error flag (TRM 3.3.2).
                self.receive_status = 0;
                WriteOutcome::plain(Disposition::Emulated)
            }
            ILPR => self.store(|uart| &mut uart.irda_low_power, word & 0xff),
            IBRD => self.store(|uart| &mut uart.integer_baud, word & 0xffff),
            FBRD => self.store(|uart| &mut uart.fractional_baud, word & 0x3f),
            LCR_H => {
                let outcome = self.store(|uart| &mut uart.line_control, word & 0xff);
                self.reevaluate_receive_level();
                // FEN sets the receive capacity, hence RXFF.
                self.publish();
                outcome
            }
            CR => self.store(|uart| &mut uart.control, word & CR_MASK),
            IFLS => {
                let outcome = self.store(|uart| &mut uart.fifo_levels, word & 0x3f);
                self.reevaluate_receive_level();
                outcome
            }
            IMSC => self.store(|uart| &mut uart.interrupt_mask, word & INT_MASK),
            ICR => {
                self.latched_interrupts &= !word;
                WriteOutcome::plain(Disposition::Emulated)
            }
            FR | RIS | MIS | IDENTIFICATION..=IDENTIFICATION_LAST => WriteOutcome::plain(Disposition::ReadOnly),
            DMACR => WriteOutcome::plain(Disposition::RazWi),
            _ => WriteOutcome::plain(Disposition::RazWi),
        };
        Ok(outcome)
    }

    /// Delivers one byte of console input to the guest's receive FIFO.
    pub fn push_input(&mut self, byte: u8) -> Result<(), InputError> {
        if !self.receiver_enabled() {
            return Err(InputError::ReceiverDisabled);
        }
        self.receive(byte)
    }

    /// Level of the UART's interrupt output (`UARTINTR`): any unmasked raw interrupt.
    pub const fn interrupt_line(&self) -> bool {
        self.masked_interrupt_status() != 0
    }

    /// Whether a read at `offset` may change the model's state, and so its interrupt line:
    /// only a read of `UARTDR` does (it pops the receive FIFO, TRM 3.3.1); every other register
    /// reads without side effects.
    pub const fn read_changes_state(offset: u64) -> bool {
        offset & !3 == DR
    }

    /// `UARTRIS`.
    pub const fn raw_interrupt_status(&self) -> u32 {
        let transmit = if self.transmitter_enabled() { INT_TX } else { 0 };
        self.latched_interrupts | transmit
    }

    /// `UARTMIS`.
    pub const fn masked_interrupt_status(&self) -> u32 {
        self.raw_interrupt_status() & self.interrupt_mask
    }

    /// Whether input would currently be accepted (receiver enabled, FIFO not full).
    pub fn accepts_input(&self) -> bool {
        self.receiver_enabled() && self.receive_fifo.len() < self.receive_capacity()
    }

    /// `UARTEN` and `TXE` are both set.
    const fn transmitter_enabled(&self) -> bool {
        self.control & CR_UARTEN != 0 && self.control & CR_TXE != 0
    }

    /// `UARTEN` and `RXE` are both set.
    const fn receiver_enabled(&self) -> bool {
        self.control & CR_UARTEN != 0 && self.control & CR_RXE != 0
    }

    /// Stores `value` in the register `field` selects; a plain emulated write.
    fn store(&mut self, field: impl FnOnce(&mut Self) -> &mut u32, value: u32) -> WriteOutcome {
        *field(self) = value;
        WriteOutcome::plain(Disposition::Emulated)
    }

    /// With the FIFOs disabled (`UARTLCR_H.FEN` = 0) the receiver holds one character.
    const fn receive_capacity(&self) -> usize {
        if self.line_control & LCR_H_FEN != 0 { FIFO_DEPTH } else { 1 }
    }

    /// Receive FIFO level at which `RXRIS` rises (`UARTIFLS.RXIFLSEL`, TRM 3.3.10). The
    /// reserved encodings behave as the reset value, half full.
    const fn receive_trigger(&self) -> usize {
        if self.line_control & LCR_H_FEN == 0 {
            return 1;
        }
        match (self.fifo_levels >> 3) & 0b111 {
            0b000 => FIFO_DEPTH / 8,
            0b001 => FIFO_DEPTH / 4,
            0b011 => FIFO_DEPTH * 3 / 4,
            0b100 => FIFO_DEPTH * 7 / 8,
            _ => FIFO_DEPTH / 2,
        }
    }

    /// `UARTFR`. Depends only on the receive FIFO's contents and `UARTLCR_H.FEN`; every change
    /// of either publishes it ([`Vpl011::publish`]).
    fn flags(&self) -> u32 {
        let mut flags = FR_TXFE;
        if self.receive_fifo.is_empty() {
            flags |= FR_RXFE;
        }
        if self.receive_fifo.len() >= self.receive_capacity() {
            flags |= FR_RXFF;
        }
        // Transmission is instantaneous: never busy, never full.
        flags & !(FR_BUSY | FR_TXFF)
    }

    /// A `UARTDR` read: takes the oldest character (0 if none) and updates the receive
    /// interrupts.
    fn read_data(&mut self) -> u32 {
        let byte = self.receive_fifo.pop_front().unwrap_or(0);
        if self.receive_fifo.is_empty() {
            self.latched_interrupts &= !INT_RT;
        }
        if self.receive_fifo.len() < self.receive_trigger() {
            self.latched_interrupts &= !INT_RX;
        }
        self.publish();
        let error = if self.overrun { DR_OE } else { 0 };
        u32::from(byte) | error
    }

    /// A `UARTDR` write: the byte goes out at once, or to the receiver in loopback.
    fn transmit(&mut self, byte: u8) -> Effect {
        let enabled = self.transmitter_enabled();
        if self.control & CR_LBE != 0 {
            let received = enabled && self.receiver_enabled() && self.receive(byte).is_ok();
            return Effect::LoopedBack { byte, received };
        }
        Effect::Transmit { byte, transmitter_disabled: !enabled }
    }

    /// Stores a received character, or flags an overrun when there is no room.
    fn receive(&mut self, byte: u8) -> Result<(), InputError> {
        if self.receive_fifo.len() >= self.receive_capacity() || self.receive_fifo.push_back(byte).is_err() {
            // TRM 3.3.2: the FIFO keeps its contents, the new character is lost.
            self.receive_status |= RSR_OE;
            self.overrun = true;
            self.latched_interrupts |= INT_OE;
            return Err(InputError::FifoFull);
        }
        self.publish();
        self.overrun = false;
        self.latched_interrupts |= INT_RT;
        self.reevaluate_receive_level();
        Ok(())
    }

    /// `RXRIS` is asserted at the trigger level and dropped below it (TRM 3.4.2).
    fn reevaluate_receive_level(&mut self) {
        if self.receive_fifo.len() >= self.receive_trigger() {
            self.latched_interrupts |= INT_RX;
        } else {
            self.latched_interrupts &= !INT_RX;
        }
    }
}

/// Marks a published value: a model has published since the registers were created (bit 31
/// is not a `UARTFR` bit; the register's implemented bits are 8:0).
const PUBLISHED: u32 = 1 << 31;

/// `UARTFR` of one [`Vpl011`], as the model last published it ([`Vpl011::publish_to`]), for
/// reads without the lock that guards the model: the trap handler answers a guest's load of
/// `UARTFR` from here ([`PublishedRegisters::read`]), with no partition lock and no device
/// dispatch.
///
/// Exactness: the model stores the new value under its lock at every change of what `UARTFR`
/// depends on, before that lock is released. A lock-free read therefore returns the value a
/// locked read would have returned at some instant between the trap and its answer; one
/// racing with a change (input arriving on another core) sees the value just before or just
/// after it, as a real UART's flags change under the CPU. `Relaxed` suffices: the value
/// orders nothing else, and a locked access that follows it (a `UARTDR` read after `RXFE` was
/// seen clear) cannot take the lock before the change's critical section released it (its
/// load, program-ordered before that lock, read a store made inside that section).
#[derive(Debug)]
pub struct PublishedRegisters {
    /// `UARTFR` with [`PUBLISHED`] set, or 0 before any model published.
    flags: AtomicU32,
}

impl Default for PublishedRegisters {
    fn default() -> Self {
        Self::new()
    }
}

impl PublishedRegisters {
    /// Registers no model has published to yet: every read is left to the locked path.
    pub const fn new() -> Self {
        Self { flags: AtomicU32::new(0) }
    }

    /// Publishes `flags` as the current `UARTFR` (the model's lock held).
    fn store_flags(&self, flags: u32) {
        self.flags.store(flags | PUBLISHED, Ordering::Relaxed);
    }

    /// The value a guest load of `width` at `offset` in the frame returns, if it reads
    /// `UARTFR` (any naturally aligned part of it) and a model has published; `None` for any
    /// other access, which the caller sends to the model under its lock (so an access the
    /// model refuses is refused there). Worst case: two comparisons, the alignment check, one
    /// atomic load, one shift and one mask; no lock.
    #[inline]
    pub fn read(&self, offset: u64, width: AccessWidth) -> Option<u64> {
        if offset & !3 != FR || check(offset, width).is_err() {
            return None;
        }
        let word = self.flags.load(Ordering::Relaxed);
        if word & PUBLISHED == 0 {
            return None;
        }
        // As `Vpl011::read`: the lanes of the part read, at the bottom (a shift of at most 24).
        let lane = (offset & 3).saturating_mul(8);
        Some((u64::from(word & !PUBLISHED) >> lane) & width.value_mask())
    }
}

/// Frame bounds, width and alignment checks shared by reads and writes.
fn check(offset: u64, width: AccessWidth) -> Result<(), MmioError> {
    if offset >= FRAME_SIZE {
        return Err(MmioError::OutsideWindow { offset });
    }
    if width == AccessWidth::Doubleword {
        return Err(MmioError::UnsupportedWidth { offset, width });
    }
    if !width.is_aligned(offset) {
        return Err(MmioError::Misaligned { offset, width });
    }
    Ok(())
}

// [utest->dsn~vpl011~1]
#[cfg(test)]
mod tests {
    use super::*;

    fn read(uart: &mut Vpl011, offset: u64) -> u32 {
        uart.read(offset, AccessWidth::Word).expect("word read").value as u32
    }

    fn write(uart: &mut Vpl011, offset: u64, value: u32) -> WriteOutcome {
        uart.write(offset, AccessWidth::Word, u64::from(value)).expect("word write")
    }

    /// Enabled the way Linux's `pl011_startup` leaves it: FIFOs on, UART, TX and RX on,
    /// receive and receive-timeout interrupts unmasked.
    fn started() -> Vpl011 {
        let mut uart = Vpl011::new();
        let _ = write(&mut uart, ICR, 0x7ff);
        let _ = write(&mut uart, IBRD, 1);
        let _ = write(&mut uart, FBRD, 0x28);
        let _ = write(&mut uart, LCR_H, 0x70);
        let _ = write(&mut uart, IFLS, 0x12);
        let _ = write(&mut uart, CR, CR_UARTEN | CR_TXE | CR_RXE);
        let _ = write(&mut uart, IMSC, INT_RT | INT_RX);
        uart
    }

    #[test]
    fn identification_matches_what_the_amba_bus_probes() {
        let mut uart = Vpl011::new();
        let id =
            |uart: &mut Vpl011, base: u64| (0..4).fold(0, |id, index| id | read(uart, base + 4 * index) << (8 * index));
        let peripheral = id(&mut uart, 0xfe0);
        let cell = id(&mut uart, 0xff0);
        assert_eq!(peripheral & 0x000f_ffff, 0x0004_1011, "Linux amba-pl011 id/mask");
        assert_eq!((peripheral >> 20) & 0xf, 3, "revision 3: Linux sizes the FIFO at 32");
        assert_eq!(cell, 0xb105_f00d, "PrimeCell id");
    }

    #[test]
    fn reset_values_follow_the_trm() {
        let mut uart = Vpl011::new();
        assert_eq!(read(&mut uart, CR), 0x0300);
        assert_eq!(read(&mut uart, IFLS), 0x12);
        assert_eq!(read(&mut uart, FR), FR_TXFE | FR_RXFE);
        assert_eq!(read(&mut uart, RIS), 0, "transmitter disabled out of reset");
        assert_eq!(read(&mut uart, IMSC), 0);
        assert!(!uart.interrupt_line());
    }

    #[test]
    fn transmitted_bytes_are_reported_immediately() {
        let mut uart = started();
        let outcome = write(&mut uart, DR, u32::from(b'h'));
        assert_eq!(outcome.effect, Some(Effect::Transmit { byte: b'h', transmitter_disabled: false }));
        // Linux earlycon writes DR with a byte store, the driver with a halfword.
        let byte = uart.write(DR, AccessWidth::Byte, 0x1_69).unwrap();
        assert_eq!(byte.effect, Some(Effect::Transmit { byte: b'i', transmitter_disabled: false }));
        let halfword = uart.write(DR, AccessWidth::Halfword, 0x0a).unwrap();
        assert_eq!(halfword.effect, Some(Effect::Transmit { byte: b'\n', transmitter_disabled: false }));
        assert_eq!(read(&mut uart, FR) & (FR_TXFE | FR_TXFF | FR_BUSY), FR_TXFE, "never full, never busy");
    }

    #[test]
    fn output_of_a_disabled_transmitter_is_still_reported_and_flagged() {
        let mut uart = Vpl011::new();
        let outcome = write(&mut uart, DR, u32::from(b'x'));
        assert_eq!(outcome.effect, Some(Effect::Transmit { byte: b'x', transmitter_disabled: true }));
        let _ = write(&mut uart, CR, CR_UARTEN | CR_RXE);
        let outcome = write(&mut uart, DR, u32::from(b'y'));
        assert_eq!(outcome.effect, Some(Effect::Transmit { byte: b'y', transmitter_disabled: true }));
    }

    #[test]
    fn loopback_keeps_the_byte_off_the_console() {
        let mut uart = Vpl011::new();
        // Older Linux pl011_startup: UARTEN | TXE | LBE, a dummy byte, wait for !BUSY.
        let _ = write(&mut uart, CR, CR_UARTEN | CR_TXE | CR_LBE);
        let outcome = write(&mut uart, DR, 0);
        assert_eq!(outcome.effect, Some(Effect::LoopedBack { byte: 0, received: false }));
        assert_eq!(read(&mut uart, FR) & FR_BUSY, 0);
        assert_ne!(read(&mut uart, RIS) & INT_TX, 0, "TX interrupt provoked");

        let _ = write(&mut uart, CR, CR_UARTEN | CR_TXE | CR_RXE | CR_LBE);
        let outcome = write(&mut uart, DR, u32::from(b'z'));
        assert_eq!(outcome.effect, Some(Effect::LoopedBack { byte: b'z', received: true }));
        assert_eq!(read(&mut uart, DR), u32::from(b'z'));
    }

    #[test]
    fn input_is_read_in_order_and_raises_the_timeout_interrupt() {
        let mut uart = started();
        assert!(!uart.interrupt_line());
        uart.push_input(b'a').unwrap();
        uart.push_input(b'b').unwrap();
        assert_eq!(read(&mut uart, FR) & FR_RXFE, 0);
        assert_eq!(read(&mut uart, MIS), INT_RT, "below the trigger level only the timeout fires");
        assert!(uart.interrupt_line());
        assert_eq!(read(&mut uart, DR), u32::from(b'a'));
        assert!(uart.interrupt_line(), "still data in the FIFO");
        assert_eq!(read(&mut uart, DR), u32::from(b'b'));
        assert!(!uart.interrupt_line(), "drained");
        assert_eq!(read(&mut uart, FR) & FR_RXFE, FR_RXFE);
        assert_eq!(read(&mut uart, DR), 0, "empty FIFO reads zero");
    }

    #[test]
    fn timeout_interrupt_can_be_cleared_and_rearms_on_new_data() {
        let mut uart = started();
        uart.push_input(b'a').unwrap();
        let _ = write(&mut uart, ICR, INT_RT);
        assert!(!uart.interrupt_line());
        uart.push_input(b'b').unwrap();
        assert!(uart.interrupt_line());
    }

    #[test]
    fn receive_interrupt_follows_the_trigger_level() {
        let mut uart = started();
        let _ = write(&mut uart, IMSC, INT_RX);
        for byte in 0..15 {
            uart.push_input(byte).unwrap();
        }
        assert!(!uart.interrupt_line(), "15 < half of 32");
        uart.push_input(15).unwrap();
        assert_eq!(read(&mut uart, RIS) & INT_RX, INT_RX);
        let _ = read(&mut uart, DR);
        assert_eq!(read(&mut uart, RIS) & INT_RX, 0, "cleared below the trigger level");
        let _ = write(&mut uart, IFLS, 0b000 << 3);
        assert_eq!(read(&mut uart, RIS) & INT_RX, INT_RX, "1/8 trigger: 15 bytes are enough");
        let _ = write(&mut uart, ICR, INT_RX);
        assert!(!uart.interrupt_line());
    }

    #[test]
    fn overrun_loses_the_new_byte_and_flags_it_everywhere() {
        let mut uart = started();
        let _ = write(&mut uart, IMSC, INT_OE);
        for byte in 0..FIFO_DEPTH as u8 {
            uart.push_input(byte).unwrap();
        }
        assert_eq!(read(&mut uart, FR) & FR_RXFF, FR_RXFF);
        assert!(!uart.accepts_input());
        assert_eq!(uart.push_input(0xff), Err(InputError::FifoFull));
        assert_eq!(read(&mut uart, RSR_ECR), RSR_OE);
        assert!(uart.interrupt_line());
        assert_eq!(read(&mut uart, DR), DR_OE, "first byte, with the overrun flag");

        uart.push_input(b'n').unwrap();
        assert_eq!(read(&mut uart, DR), 1, "flag cleared once a new character was stored");
        assert_eq!(read(&mut uart, RSR_ECR), RSR_OE, "UARTRSR keeps it until UARTECR");
        let _ = write(&mut uart, RSR_ECR, 0);
        assert_eq!(read(&mut uart, RSR_ECR), 0);
        let _ = write(&mut uart, ICR, INT_OE);
        assert!(!uart.interrupt_line());
        // Bytes 2..=31 and 'n' remain: 0xff was lost, not queued.
        let received: heapless::Vec<u32, 32> = (0..FIFO_DEPTH - 1).map(|_| read(&mut uart, DR)).collect();
        assert_eq!(received.first(), Some(&2));
        assert_eq!(received.last(), Some(&u32::from(b'n')));
        assert_eq!(read(&mut uart, FR) & FR_RXFE, FR_RXFE);
    }

    #[test]
    fn character_mode_holds_one_byte() {
        let mut uart = Vpl011::new();
        let _ = write(&mut uart, CR, CR_UARTEN | CR_RXE);
        let _ = write(&mut uart, IMSC, INT_RX);
        uart.push_input(b'1').unwrap();
        assert!(uart.interrupt_line(), "FIFO disabled: one character fills the holding register");
        assert_eq!(read(&mut uart, FR) & FR_RXFF, FR_RXFF);
        assert_eq!(uart.push_input(b'2'), Err(InputError::FifoFull));
        assert_eq!(read(&mut uart, DR) & 0xff, u32::from(b'1'));
        assert!(!uart.interrupt_line());
    }

    #[test]
    fn input_needs_an_enabled_receiver() {
        let mut uart = Vpl011::new();
        assert_eq!(uart.push_input(b'a'), Err(InputError::ReceiverDisabled), "UARTEN clear at reset");
        let _ = write(&mut uart, CR, CR_UARTEN | CR_TXE);
        assert_eq!(uart.push_input(b'a'), Err(InputError::ReceiverDisabled));
        assert_eq!(read(&mut uart, RSR_ECR), 0, "not an overrun");
    }

    #[test]
    fn transmit_interrupt_is_pending_whenever_the_transmitter_is_enabled() {
        let mut uart = started();
        assert_eq!(read(&mut uart, RIS) & INT_TX, INT_TX);
        assert!(!uart.interrupt_line(), "masked");
        let _ = write(&mut uart, IMSC, INT_TX);
        assert!(uart.interrupt_line(), "Linux unmasks TXIM and expects the interrupt");
        let _ = write(&mut uart, ICR, INT_TX);
        assert!(uart.interrupt_line(), "the FIFO is still empty: the condition persists");
        let _ = write(&mut uart, CR, CR_UARTEN | CR_RXE);
        assert!(!uart.interrupt_line(), "transmitter disabled");
        assert_eq!(read(&mut uart, MIS), 0);
    }

    #[test]
    fn configuration_registers_keep_their_implemented_bits() {
        let mut uart = Vpl011::new();
        for (offset, mask) in
            [(ILPR, 0xff), (IBRD, 0xffff), (FBRD, 0x3f), (LCR_H, 0xff), (CR, 0xff87), (IFLS, 0x3f), (IMSC, 0x7ff)]
        {
            assert_eq!(write(&mut uart, offset, u32::MAX).disposition, Disposition::Emulated);
            assert_eq!(read(&mut uart, offset), mask, "{offset:#x}");
        }
    }

    #[test]
    fn read_only_write_only_and_unimplemented_registers() {
        let mut uart = started();
        for offset in [FR, RIS, MIS, 0xfe0, 0xffc] {
            assert_eq!(write(&mut uart, offset, 0).disposition, Disposition::ReadOnly, "{offset:#x}");
        }
        for offset in [ICR, DMACR, 0x008, 0x01c, 0x04c, 0x080, 0xfdc] {
            assert_eq!(uart.read(offset, AccessWidth::Word), Ok(ReadOutcome::read_as_zero()), "{offset:#x}");
        }
        for offset in [DMACR, 0x008, 0x080] {
            assert_eq!(write(&mut uart, offset, u32::MAX).disposition, Disposition::RazWi, "{offset:#x}");
        }
    }

    #[test]
    fn access_rules() {
        let mut uart = Vpl011::new();
        assert_eq!(
            uart.read(CR, AccessWidth::Doubleword),
            Err(MmioError::UnsupportedWidth { offset: CR, width: AccessWidth::Doubleword })
        );
        assert_eq!(
            uart.read(0x31, AccessWidth::Halfword),
            Err(MmioError::Misaligned { offset: 0x31, width: AccessWidth::Halfword })
        );
        assert_eq!(uart.read(0x1000, AccessWidth::Byte), Err(MmioError::OutsideWindow { offset: 0x1000 }));
        assert_eq!(
            uart.write(0x31, AccessWidth::Byte, 0).map(|outcome| outcome.disposition),
            Err(MmioError::PartialWrite { offset: 0x31, width: AccessWidth::Byte })
        );
        // Reading the upper byte of UARTCR sees TXE and RXE.
        assert_eq!(uart.read(0x31, AccessWidth::Byte).unwrap().value, 0x03);
        assert_eq!(uart.read(0x32, AccessWidth::Halfword).unwrap().value, 0);
    }

    #[test]
    fn linux_console_sequence() {
        let mut uart = started();
        // pl011_enable_interrupts drains stale input, then the console writes polling TXFF.
        while read(&mut uart, FR) & FR_RXFE == 0 {
            let _ = read(&mut uart, DR);
        }
        let mut printed: heapless::Vec<u8, 16> = heapless::Vec::new();
        for &byte in b"login: " {
            assert_eq!(read(&mut uart, FR) & FR_TXFF, 0);
            if let Some(Effect::Transmit { byte, .. }) = write(&mut uart, DR, u32::from(byte)).effect {
                printed.push(byte).unwrap();
            }
            assert_eq!(read(&mut uart, FR) & FR_BUSY, 0);
        }
        assert_eq!(printed.as_slice(), b"login: ");
    }

    /// Every part of `UARTFR` a guest may load, answered from `published`, against the locked
    /// read of the same model.
    fn assert_published_matches(uart: &mut Vpl011, published: &PublishedRegisters, step: &str) {
        for (offset, width) in [
            (FR, AccessWidth::Word),
            (FR, AccessWidth::Halfword),
            (FR + 2, AccessWidth::Halfword),
            (FR, AccessWidth::Byte),
            (FR + 1, AccessWidth::Byte),
            (FR + 3, AccessWidth::Byte),
        ] {
            let locked = uart.read(offset, width).expect("FR read").value;
            assert_eq!(published.read(offset, width), Some(locked), "{step}: {offset:#x} {width:?}");
        }
    }

    #[test]
    fn published_flags_follow_every_change_of_the_receive_fifo_and_line_control() {
        static PUBLISHED: PublishedRegisters = PublishedRegisters::new();
        let mut uart = Vpl011::new();
        assert_eq!(PUBLISHED.read(FR, AccessWidth::Word), None, "nothing published: the locked path answers");
        uart.publish_to(&PUBLISHED);
        assert_published_matches(&mut uart, &PUBLISHED, "attached");
        let mut uart = started();
        uart.publish_to(&PUBLISHED);
        // A deterministic walk over every way the state changes: input (receive and overrun),
        // data reads, FIFOs on and off, loopback transmission, receiver off, resets.
        let mut random: u64 = 0x2545_f491_4f6c_dd1d;
        // Which `UARTFR` values the walk went through: it must have seen the FIFO empty,
        // holding bytes and full, or it checked less than it claims.
        let mut seen = [false; 3];
        for step in 0..20_000 {
            random ^= random << 13;
            random ^= random >> 7;
            random ^= random << 17;
            let value = (random >> 32) as u32;
            let what = match random % 16 {
                0..=4 => {
                    let _ = uart.push_input(value as u8);
                    "input"
                }
                5..=7 => {
                    let _ = read(&mut uart, DR);
                    "data read"
                }
                8 => {
                    let _ = uart.read(DR + (value as u64 & 3), AccessWidth::Byte);
                    "data byte read"
                }
                9 => {
                    let _ = write(&mut uart, LCR_H, value & 0xff);
                    "line control"
                }
                10 => {
                    let mut control = CR_UARTEN | CR_TXE | CR_RXE;
                    if value & 1 != 0 {
                        control |= CR_LBE;
                    }
                    if value & 2 != 0 {
                        control &= !CR_RXE;
                    }
                    let _ = write(&mut uart, CR, control);
                    "control"
                }
                11 | 12 => {
                    let _ = write(&mut uart, DR, value & 0xff);
                    "transmit"
                }
                13 => {
                    let _ = write(&mut uart, [RSR_ECR, ICR, IMSC, IFLS][value as usize % 4], value);
                    "other register"
                }
                14 => {
                    let _ = uart.read([FR, RIS, MIS, RSR_ECR][value as usize % 4], AccessWidth::Word);
                    "other read"
                }
                _ => {
                    if value % 64 == 0 {
                        uart.reset();
                        let _ = write(&mut uart, LCR_H, LCR_H_FEN);
                        let _ = write(&mut uart, CR, CR_UARTEN | CR_TXE | CR_RXE);
                    }
                    "reset"
                }
            };
            assert_published_matches(&mut uart, &PUBLISHED, &label(step, what));
            let flags = read(&mut uart, FR);
            let state = if flags & FR_RXFF != 0 { 2 } else { usize::from(flags & FR_RXFE == 0) };
            if let Some(seen) = seen.get_mut(state) {
                *seen = true;
            }
        }
        assert_eq!(seen, [true; 3], "empty, holding, full");
    }

    /// `what` at `step`, for an assertion message (the crate is `no_std`, its tests too).
    fn label(step: usize, what: &str) -> heapless::String<48> {
        let mut label = heapless::String::new();
        let _ = core::fmt::write(&mut label, format_args!("step {step} ({what})"));
        label
    }

    #[test]
    fn published_flags_answer_only_loads_of_the_flag_register_the_model_would_accept() {
        static PUBLISHED: PublishedRegisters = PublishedRegisters::new();
        let mut uart = started();
        uart.publish_to(&PUBLISHED);
        uart.push_input(b'x').unwrap();
        assert_eq!(PUBLISHED.read(FR, AccessWidth::Word), Some(u64::from(FR_TXFE)), "RXFE clear");
        for offset in [DR, RSR_ECR, 0x01c, CR, MIS, IDENTIFICATION] {
            assert_eq!(PUBLISHED.read(offset, AccessWidth::Word), None, "{offset:#x}");
        }
        assert_eq!(PUBLISHED.read(FR, AccessWidth::Doubleword), None, "refused by the model: left to it");
        assert_eq!(PUBLISHED.read(FR + 1, AccessWidth::Halfword), None, "misaligned: left to the model");
        assert_eq!(PUBLISHED.read(FR + 2, AccessWidth::Word), None);
        uart.reset();
        assert_eq!(
            PUBLISHED.read(FR, AccessWidth::Word),
            Some(u64::from(FR_TXFE | FR_RXFE)),
            "a reset keeps publishing, the reset value"
        );
    }

    /// Every offset and width, reads and writes of all-ones, answer with a value or an
    /// error; RAZ/WI reads return zero.
    #[test]
    fn any_guest_access_is_answered_without_panicking() {
        let mut uart = started();
        for offset in 0..FRAME_SIZE + 8 {
            for width in [AccessWidth::Byte, AccessWidth::Halfword, AccessWidth::Word, AccessWidth::Doubleword] {
                let _ = uart.push_input(offset as u8);
                if let Ok(read) = uart.read(offset, width) {
                    assert!(read.disposition != Disposition::RazWi || read.value == 0, "{offset:#x}");
                    assert_eq!(read.value & !width.value_mask(), 0, "{offset:#x}: value wider than the access");
                }
                let _ = uart.write(offset, width, u64::MAX);
            }
        }
    }
}
