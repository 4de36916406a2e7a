//! The one interface the hypervisor's console and log paths drive a UART through, whatever
//! its register model (PL011, Cadence): write what the transmit FIFO takes *now*, read what
//! was received, and switch the transmit-room and receive interrupts.
//!
//! Why a trait of our own rather than `embedded-io` or `embedded-hal-nb` (both named by the
//! project and considered): `embedded_io::Write::write` must block until at least one byte
//! is written (it may not return `Ok(0)` for a non-empty buffer), which is exactly the wait
//! the console path must never do at EL2 (issue 14); `embedded-hal-nb`'s `serial::Write`
//! is non-blocking but one word per call with a `WouldBlock` error, which turns "fill the FIFO
//! as far as it has room" into one error value per byte. Neither covers interrupt control
//! (enable/disable/acknowledge transmit-room and receive), which the interrupt-driven drain
//! needs. The whole contract here is five operations plus `core::fmt::Write` (for the
//! synchronous fatal-error path); a driver implements it in a page, and the generated
//! `ConsoleUart`/`LogUart` types (from the board) name the implementation.
//!
//! Invariants every implementation keeps: no method waits for the line (only
//! [`write_blocking`](ConsoleDriver::write_blocking), used on the fatal path, does, and its
//! wait is bounded); every method touches only its own UART's registers.

/// UART interrupt sources the console path uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UartInterrupts {
    /// The transmit FIFO has room again (PL011 TXIM, Cadence TEMPTY).
    pub transmit_room: bool,
    /// Received data waits (PL011 RXIM + RTIM, Cadence RTRIG + TIMEOUT).
    pub receive: bool,
}

impl UartInterrupts {
    /// No source.
    pub const NONE: Self = Self { transmit_room: false, receive: false };
    /// Transmit room only.
    pub const TRANSMIT: Self = Self { transmit_room: true, receive: false };
    /// Receive only.
    pub const RECEIVE: Self = Self { transmit_room: false, receive: true };
    /// Both.
    pub const ALL: Self = Self { transmit_room: true, receive: true };
}

/// Most iterations [`ConsoleDriver::write_blocking`] spends waiting for room per byte: about
/// 1 ms of polling on a 1 GHz core, longer than one character takes at 9600 baud. A UART
/// that never drains loses the byte instead of hanging the fatal path.
pub const BLOCKING_SPIN_LIMIT: u32 = 1_000_000;

/// A UART the hypervisor owns.
pub trait ConsoleDriver: core::fmt::Write + Send {
    /// Takes over the UART at `base`.
    ///
    /// # Safety
    /// `base` must be the register block of a UART of this model, mapped as Device memory
    /// for as long as the driver lives; other instances for the same UART may only exist as
    /// the [`ConsoleDriver::new`] caller argues (the console keeps a receive-only one).
    unsafe fn new(base: usize) -> Self
    where
        Self: Sized;

    /// Enables the transmitter and receiver (keeping the baud rate firmware set), clears
    /// every pending interrupt and masks every source.
    fn enable(&mut self);

    /// Writes as many of `bytes` as the transmit FIFO takes now, without waiting; returns
    /// how many (0 when the FIFO is full).
    fn write_nonblocking(&mut self, bytes: &[u8]) -> usize;

    /// Takes one received byte, if any.
    fn read_byte(&mut self) -> Option<u8>;

    /// Unmasks the sources set in `interrupts` (others are left as they are).
    fn enable_interrupts(&mut self, interrupts: UartInterrupts);

    /// Masks the sources set in `interrupts` (others are left as they are).
    fn disable_interrupts(&mut self, interrupts: UartInterrupts);

    /// Clears the pending state of the sources set in `interrupts`.
    fn acknowledge(&mut self, interrupts: UartInterrupts);

    /// The unmasked sources that are pending.
    fn pending_interrupts(&self) -> UartInterrupts;

    /// Writes every byte, waiting for room at most [`BLOCKING_SPIN_LIMIT`] polls per byte.
    /// Only for paths that are the end (a fatal EL2 error) or run before anything else
    /// (boot): everything else goes through the non-blocking console path.
    fn write_blocking(&mut self, bytes: &[u8]) {
        let mut rest = bytes;
        let mut idle: u32 = 0;
        // BOUND: each iteration writes at least one byte or counts one idle poll; at most
        // `BLOCKING_SPIN_LIMIT` idle polls per byte before the byte is given up.
        while !rest.is_empty() {
            let written = self.write_nonblocking(rest);
            if written == 0 {
                idle = idle.saturating_add(1);
                if idle < BLOCKING_SPIN_LIMIT {
                    core::hint::spin_loop();
                    continue;
                }
            }
            idle = 0;
            rest = rest.get(written.max(1)..).unwrap_or_default();
        }
    }
}

/// Any UART model this crate drives, for code that takes a UART chosen at build time without
/// being generic over it (the `defmt` logger, which is a `static`).
pub enum AnyUart {
    /// An Arm PL011.
    Pl011(crate::pl011::Pl011),
    /// A Cadence UART.
    Cadence(crate::cadence::Cadence),
    /// A BCM2835/BCM2711 mini UART.
    MiniUart(crate::mini_uart::MiniUart),
}

impl From<crate::pl011::Pl011> for AnyUart {
    fn from(uart: crate::pl011::Pl011) -> Self {
        Self::Pl011(uart)
    }
}

impl From<crate::cadence::Cadence> for AnyUart {
    fn from(uart: crate::cadence::Cadence) -> Self {
        Self::Cadence(uart)
    }
}

impl From<crate::mini_uart::MiniUart> for AnyUart {
    fn from(uart: crate::mini_uart::MiniUart) -> Self {
        Self::MiniUart(uart)
    }
}

impl AnyUart {
    /// The driver inside.
    fn driver(&mut self) -> &mut dyn ConsoleDriver {
        match self {
            Self::Pl011(uart) => uart,
            Self::Cadence(uart) => uart,
            Self::MiniUart(uart) => uart,
        }
    }

    /// [`ConsoleDriver::write_nonblocking`] of the driver inside.
    pub fn write_nonblocking(&mut self, bytes: &[u8]) -> usize {
        self.driver().write_nonblocking(bytes)
    }
}
