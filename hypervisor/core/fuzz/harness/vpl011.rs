//! `vpl011`: every offset and width a partition can use on its emulated PL011, interleaved
//! with console input.
//!
//! Input: records of an operation byte, a 16-bit offset and a 32-bit value. Invariants: an
//! access is refused exactly when it is outside the frame, 64-bit, misaligned, or a sub-word
//! write not at a register's first byte; a read returns no bits beyond its width; the
//! receive FIFO never loses, duplicates or reorders a byte it accepted (checked against a
//! model queue) and never holds more than [`FIFO_DEPTH`]; `UARTFR` shows the transmitter
//! idle and `RXFE` exactly when the model queue is empty; each `UARTDR` write transmits the
//! written byte, and only `UARTDR` writes transmit; writable registers read back what was
//! written (masked to their implemented bits); the interrupt line is the OR of the masked
//! status.

use std::collections::VecDeque;

use bulkhead_core::mmio::MmioError;
use bulkhead_core::vpl011::{AccessWidth, Effect, FIFO_DEPTH, FRAME_SIZE, Vpl011};

use super::Input;

/// `UARTDR`.
const DR: u64 = 0x000;
/// `UARTFR`.
const FR: u64 = 0x018;
/// Offsets the fuzzer picks from to hit registers more often than raw offsets would.
const REGISTERS: [u64; 20] = [
    0x000, 0x004, 0x018, 0x020, 0x024, 0x028, 0x02c, 0x030, 0x034, 0x038, 0x03c, 0x040, 0x044, 0x048, 0xfe0,
    0xfe8, 0xff0, 0xffc, 0x04c, 0x1000,
];
/// Read/write registers and their implemented bits.
const READ_BACK: [(u64, u32); 7] =
    [(0x020, 0xff), (0x024, 0xffff), (0x028, 0x3f), (0x02c, 0xff), (0x030, 0xff87), (0x034, 0x3f), (0x038, 0x7ff)];
/// The widths, by two bits of the operation byte.
const WIDTHS: [AccessWidth; 4] = [AccessWidth::Byte, AccessWidth::Halfword, AccessWidth::Word, AccessWidth::Doubleword];

/// The refusal an access must get, if any.
fn expected_error(offset: u64, width: AccessWidth, write: bool) -> Option<MmioError> {
    if offset >= FRAME_SIZE {
        Some(MmioError::OutsideWindow { offset })
    } else if width == AccessWidth::Doubleword {
        Some(MmioError::UnsupportedWidth { offset, width })
    } else if offset % width.bytes() != 0 {
        Some(MmioError::Misaligned { offset, width })
    } else if write && offset % 4 != 0 {
        Some(MmioError::PartialWrite { offset, width })
    } else {
        None
    }
}

/// Runs one input.
pub fn run(data: &[u8]) {
    let mut input = Input::new(data);
    let mut uart = Vpl011::new();
    // What the guest has received and not yet read, in order.
    let mut model: VecDeque<u8> = VecDeque::new();
    // BOUND: each iteration consumes 7 bytes of the input.
    while let (Some(operation), Some(raw_offset), Some(value)) = (input.u8(), input.u16(), input.u32()) {
        let width = WIDTHS[usize::from(operation >> 2) & 3];
        let offset = if operation & 0x80 != 0 {
            REGISTERS[usize::from(raw_offset) % REGISTERS.len()] + u64::from(raw_offset >> 14)
        } else {
            u64::from(raw_offset)
        };
        match operation & 3 {
            0 | 1 => read(&mut uart, &mut model, offset, width),
            2 => write(&mut uart, &mut model, offset, width, value),
            _ => {
                let byte = value.to_le_bytes()[0];
                if uart.push_input(byte).is_ok() {
                    model.push_back(byte);
                }
            }
        }
        assert!(model.len() <= FIFO_DEPTH, "{} bytes held by a {FIFO_DEPTH}-byte FIFO", model.len());
        let raw = uart.raw_interrupt_status();
        let masked = uart.masked_interrupt_status();
        assert_eq!(raw & !0x7ff, 0, "unimplemented interrupt bits {raw:#x}");
        assert_eq!(masked & !raw, 0, "masked status {masked:#x} not within raw {raw:#x}");
        assert_eq!(uart.interrupt_line(), masked != 0);
        if model.len() == FIFO_DEPTH {
            assert!(!uart.accepts_input(), "accepts input with a full FIFO");
        }
    }
}

fn read(uart: &mut Vpl011, model: &mut VecDeque<u8>, offset: u64, width: AccessWidth) {
    let result = uart.read(offset, width);
    if let Some(error) = expected_error(offset, width, false) {
        assert_eq!(result, Err(error), "read {offset:#x} {width:?}");
        return;
    }
    let outcome = result.unwrap_or_else(|error| panic!("read {offset:#x} {width:?} refused: {error:?}"));
    assert_eq!(outcome.value & !width.value_mask(), 0, "read {offset:#x} {width:?} returned {:#x}", outcome.value);
    match offset & !3 {
        DR => {
            let received = model.pop_front();
            if offset == DR {
                assert_eq!(outcome.value & 0xff, u64::from(received.unwrap_or(0)), "UARTDR returned the wrong byte");
            }
        }
        FR if offset == FR => {
            assert_eq!(outcome.value & 0xa8, 0x80, "UARTFR: TXFE must be set, BUSY and TXFF clear");
            assert_eq!(outcome.value & 0x10 != 0, model.is_empty(), "UARTFR.RXFE disagrees with the FIFO");
        }
        _ => {}
    }
}

fn write(uart: &mut Vpl011, model: &mut VecDeque<u8>, offset: u64, width: AccessWidth, value: u32) {
    let result = uart.write(offset, width, u64::from(value));
    if let Some(error) = expected_error(offset, width, true) {
        assert_eq!(result, Err(error), "write {offset:#x} {width:?}");
        return;
    }
    let outcome = result.unwrap_or_else(|error| panic!("write {offset:#x} {width:?} refused: {error:?}"));
    let byte = value.to_le_bytes()[0];
    match outcome.effect {
        None => assert_ne!(offset, DR, "a UARTDR write transmitted nothing"),
        Some(Effect::Transmit { byte: sent, .. }) => {
            assert_eq!(offset, DR, "a write to {offset:#x} transmitted");
            assert_eq!(sent, byte);
        }
        Some(Effect::LoopedBack { byte: sent, received }) => {
            assert_eq!(offset, DR, "a write to {offset:#x} looped back");
            assert_eq!(sent, byte);
            if received {
                model.push_back(byte);
            }
        }
    }
    if let Some((_, implemented)) = READ_BACK.iter().find(|(register, _)| *register == offset) {
        let expected = u64::from(value) & width.value_mask() & u64::from(*implemented);
        let read_back = uart.read(offset, AccessWidth::Word).map(|outcome| outcome.value);
        assert_eq!(read_back, Ok(expected), "register {offset:#x} does not read back what was written");
    }
}
