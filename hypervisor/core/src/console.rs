//! Sharing one physical UART between the partitions' consoles.
//!
//! Output: each partition's transmitted bytes (from its vPL011) go through its own
//! [`LineAssembler`], which hands back whole lines; the image prints each one, prefixed with
//! the partition's name, while holding the console lock, so lines of different partitions
//! never interleave. The assembler also neutralises the output: every byte that is not
//! printable ASCII (or a tab) is shown as a `\xHH` escape, so no guest can send terminal
//! control sequences that clear, move over or recolour what other partitions printed.
//!
//! Input: the physical UART's receive side feeds an [`InputRouter`], which delivers bytes to
//! the partition holding the focus and interprets [`ESCAPE`] (Ctrl-T) commands that move it.

use core::fmt;

/// Ctrl-T: starts a console command.
pub const ESCAPE: u8 = 0x14;

/// Reminder the image can print after [`InputAction::UnknownCommand`].
pub const HELP: &str = "Ctrl-T 1-9: focus partition N, Ctrl-T n: next partition, Ctrl-T Ctrl-T: send Ctrl-T";

/// One line of a partition's output, ready to print.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Line<'a> {
    /// The text: printable ASCII, tabs and `\xHH` escapes only. No line terminator.
    pub text: &'a str,
    /// The guest has not ended the line: it was cut at the assembler's capacity or flushed.
    pub continued: bool,
}

impl<'a> Line<'a> {
    /// The line as the console shows it: `[name] text` and CR LF; a continued line ends in
    /// a backslash before the CR LF, as a shell continuation does.
    pub const fn prefixed<'n>(&self, name: &'n str) -> PrefixedLine<'a, 'n> {
        PrefixedLine { name, line: *self }
    }
}

/// A [`Line`] with its partition's name, formatted by [`fmt::Display`].
// [impl->dsn~console-line-assembler~1]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PrefixedLine<'a, 'n> {
    /// The partition's name, from the manifest.
    name: &'n str,
    /// The line to print.
    line: Line<'a>,
}

impl fmt::Display for PrefixedLine<'_, '_> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let continuation = if self.line.continued { "\\" } else { "" };
        write!(formatter, "[{}] {}{}\r\n", self.name, self.line.text, continuation)
    }
}

/// The printable form of one output byte: itself, or `\xHH`.
fn escape(byte: u8) -> heapless::String<4> {
    // At most four characters always fit in a String<4>: the error case cannot happen, and
    // would print nothing rather than something unescaped.
    escaped_form(byte).unwrap_or_default()
}

/// [`escape`]'s result, or the capacity error no input causes.
fn escaped_form(byte: u8) -> Result<heapless::String<4>, heapless::CapacityError> {
    let mut escaped = heapless::String::new();
    if byte == b'\t' || (0x20..=0x7e).contains(&byte) {
        escaped.push(char::from(byte))?;
        return Ok(escaped);
    }
    escaped.push_str("\\x")?;
    for nibble in [byte >> 4, byte & 0xf] {
        // A nibble is always a hexadecimal digit; '?' is never printed.
        escaped.push(char::from_digit(u32::from(nibble), 16).unwrap_or('?'))?;
    }
    Ok(escaped)
}

/// Collects one partition's output bytes into printable lines of at most `N` characters.
///
/// `\n` ends a line and `\r` is dropped (the console adds CR LF itself). A line that would
/// grow past `N` characters is returned as [`Line::continued`] and the byte that did not fit
/// starts the next one; an escape is never split. A line of exactly `N` characters followed
/// by `\n` is one complete line.
// [impl->dsn~console-line-assembler~1]
#[derive(Clone, Debug)]
pub struct LineAssembler<const N: usize> {
    /// The line being collected, already escaped.
    text: heapless::String<N>,
    /// `text` holds a line already returned; it is cleared on the next byte.
    returned: bool,
    /// The escaped byte that did not fit in the returned line.
    carry: heapless::String<4>,
}

impl<const N: usize> Default for LineAssembler<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> LineAssembler<N> {
    /// An empty assembler. `N` must hold at least one escape (4 characters).
    pub const fn new() -> Self {
        const { assert!(N >= 4, "a line must have room for one \\xHH escape") };
        Self { text: heapless::String::new(), returned: false, carry: heapless::String::new() }
    }

    /// Adds one byte the guest transmitted; returns a line when one is complete or full.
    pub fn feed(&mut self, byte: u8) -> Option<Line<'_>> {
        self.start_next_line();
        match byte {
            b'\r' => None,
            b'\n' => {
                self.returned = true;
                Some(Line { text: &self.text, continued: false })
            }
            _ => {
                let escaped = escape(byte);
                if self.text.push_str(&escaped).is_ok() {
                    return None;
                }
                self.carry = escaped;
                self.returned = true;
                Some(Line { text: &self.text, continued: true })
            }
        }
    }

    /// Returns the unfinished line, if any (for a prompt that waits for input, or when the
    /// partition stops), marked as continued.
    pub fn flush(&mut self) -> Option<Line<'_>> {
        self.start_next_line();
        if self.text.is_empty() {
            return None;
        }
        self.returned = true;
        Some(Line { text: &self.text, continued: true })
    }

    /// The unfinished line collected so far.
    pub fn pending(&self) -> &str {
        if self.returned { &self.carry } else { &self.text }
    }

    /// After a line was returned: starts the next one with the carried escape.
    fn start_next_line(&mut self) {
        if self.returned {
            self.returned = false;
            // The carry is at most 4 characters and `new` asserts N >= 4: it always fits, and
            // the error case (an empty line) cannot happen.
            self.text = heapless::String::try_from(self.carry.as_str()).unwrap_or_default();
            self.carry.clear();
        }
    }
}

/// What the image does with one byte of console input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum InputAction {
    /// Give `byte` to partition `partition` (its vPL011 receive FIFO).
    Deliver {
        /// Index of the partition in manifest order.
        partition: usize,
        /// The byte.
        byte: u8,
    },
    /// The focus moved to `partition`; the image may print a notice.
    FocusChanged {
        /// Index of the partition in manifest order.
        partition: usize,
    },
    /// Ctrl-T was followed by a byte that is no command (or names no partition); it was
    /// dropped. The image may print [`HELP`].
    UnknownCommand(u8),
    /// Ctrl-T was read; the next byte says what to do.
    Nothing,
}

/// [`InputRouter::new`] needs at least one partition to give input to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NoPartitions;

/// Routes console input to the partition with the focus.
///
/// Commands, after [`ESCAPE`]: `1`–`9` focus that partition (1-based, manifest order), `n`
/// focuses the next one (wrapping), a second Ctrl-T sends one Ctrl-T to the focused
/// partition. The focus starts on the first partition.
// [impl->dsn~console-input-router~1]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InputRouter {
    /// Partitions that can take the focus, at least one.
    partition_count: usize,
    /// Index of the partition with the focus, below `partition_count`.
    focus: usize,
    /// Ctrl-T was read; the next byte is a command.
    escape_pending: bool,
}

impl InputRouter {
    /// A router over `partition_count` partitions, focused on the first.
    pub const fn new(partition_count: usize) -> Result<Self, NoPartitions> {
        if partition_count == 0 {
            return Err(NoPartitions);
        }
        Ok(Self { partition_count, focus: 0, escape_pending: false })
    }

    /// The partition that currently receives input.
    pub const fn focus(&self) -> usize {
        self.focus
    }

    /// Whether Ctrl-T was read and a command byte is awaited.
    pub const fn escape_pending(&self) -> bool {
        self.escape_pending
    }

    /// Handles one byte from the physical console.
    pub fn feed(&mut self, byte: u8) -> InputAction {
        if !self.escape_pending {
            if byte == ESCAPE {
                self.escape_pending = true;
                return InputAction::Nothing;
            }
            return InputAction::Deliver { partition: self.focus, byte };
        }
        self.escape_pending = false;
        match byte {
            ESCAPE => InputAction::Deliver { partition: self.focus, byte: ESCAPE },
            b'n' => self.focus_on(self.focus.wrapping_add(1).checked_rem(self.partition_count).unwrap_or(0)),
            b'1'..=b'9' => {
                // The arm's pattern keeps `byte` at or above b'1': this never saturates.
                let partition = usize::from(byte.saturating_sub(b'1'));
                if partition < self.partition_count {
                    self.focus_on(partition)
                } else {
                    InputAction::UnknownCommand(byte)
                }
            }
            _ => InputAction::UnknownCommand(byte),
        }
    }

    /// Moves the focus to `partition` (an index the caller checked).
    fn focus_on(&mut self, partition: usize) -> InputAction {
        self.focus = partition;
        InputAction::FocusChanged { partition }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::fmt::Write;

    /// Feeds `bytes` and collects every returned line as `(text, continued)`.
    fn lines<const N: usize>(
        assembler: &mut LineAssembler<N>,
        bytes: &[u8],
    ) -> heapless::Vec<(heapless::String<64>, bool), 8> {
        let mut lines = heapless::Vec::new();
        for &byte in bytes {
            if let Some(line) = assembler.feed(byte) {
                let text = heapless::String::try_from(line.text).expect("test lines fit");
                lines.push((text, line.continued)).expect("test line count fits");
            }
        }
        lines
    }

    fn texts<const N: usize>(assembler: &mut LineAssembler<N>, bytes: &[u8]) -> heapless::Vec<heapless::String<64>, 8> {
        lines(assembler, bytes).into_iter().map(|(text, _)| text).collect()
    }

    // [utest->dsn~console-line-assembler~1]
    #[test]
    fn lines_end_at_newline_and_carriage_returns_vanish() {
        let mut assembler = LineAssembler::<80>::new();
        let lines = lines(&mut assembler, b"hello\r\nworld\n\n");
        assert_eq!(lines.len(), 3);
        assert_eq!((lines[0].0.as_str(), lines[0].1), ("hello", false));
        assert_eq!((lines[1].0.as_str(), lines[1].1), ("world", false));
        assert_eq!((lines[2].0.as_str(), lines[2].1), ("", false), "an empty line is still a line");
        assert_eq!(assembler.pending(), "");
    }

    // [utest->dsn~console-line-assembler~1]
    #[test]
    fn terminal_escape_sequences_are_shown_not_executed() {
        let mut assembler = LineAssembler::<80>::new();
        // Clear screen, home the cursor, red text, bell.
        let texts = texts(&mut assembler, b"\x1b[2J\x1b[H\x1b[31mgotcha\x07\n");
        assert_eq!(texts[0].as_str(), "\\x1b[2J\\x1b[H\\x1b[31mgotcha\\x07");
        assert!(texts[0].bytes().all(|byte| (0x20..=0x7e).contains(&byte)), "only printable ASCII leaves");
    }

    // [utest->dsn~console-line-assembler~1]
    #[test]
    fn tabs_stay_and_other_control_and_high_bytes_are_escaped() {
        let mut assembler = LineAssembler::<80>::new();
        let texts = texts(&mut assembler, b"a\tb\x00\x7f\x9b\xc3\xa9\x08\n");
        assert_eq!(texts[0].as_str(), "a\tb\\x00\\x7f\\x9b\\xc3\\xa9\\x08");
    }

    // [utest->dsn~console-line-assembler~1]
    #[test]
    fn long_lines_are_cut_and_flagged_as_continued() {
        let mut assembler = LineAssembler::<8>::new();
        let lines = lines(&mut assembler, b"0123456789abcdefXY\n");
        let expected = [("01234567", true), ("89abcdef", true), ("XY", false)];
        assert_eq!(lines.len(), expected.len());
        for ((text, continued), (expected_text, expected_continued)) in lines.iter().zip(expected) {
            assert_eq!((text.as_str(), *continued), (expected_text, expected_continued));
        }
    }

    // [utest->dsn~console-line-assembler~1]
    #[test]
    fn a_line_of_exactly_capacity_is_complete() {
        let mut assembler = LineAssembler::<8>::new();
        let lines = lines(&mut assembler, b"01234567\nnext\n");
        assert_eq!(lines.len(), 2);
        assert_eq!((lines[0].0.as_str(), lines[0].1), ("01234567", false));
        assert_eq!(lines[1].0.as_str(), "next");
    }

    // [utest->dsn~console-line-assembler~1]
    #[test]
    fn escapes_are_never_split_across_lines() {
        let mut assembler = LineAssembler::<6>::new();
        let texts = texts(&mut assembler, b"abc\x1bd\n");
        assert_eq!(texts.len(), 2);
        assert_eq!(texts[0].as_str(), "abc");
        assert_eq!(texts[1].as_str(), "\\x1bd");
    }

    // [utest->dsn~console-line-assembler~1]
    #[test]
    fn flush_hands_out_a_waiting_prompt() {
        let mut assembler = LineAssembler::<80>::new();
        assert!(assembler.feed(b'$').is_none());
        assert!(assembler.feed(b' ').is_none());
        assert_eq!(assembler.pending(), "$ ");
        assert_eq!(assembler.flush(), Some(Line { text: "$ ", continued: true }));
        assert_eq!(assembler.flush(), None, "nothing new");
        assert_eq!(assembler.feed(b'\n'), Some(Line { text: "", continued: false }));
    }

    // [utest->dsn~console-line-assembler~1]
    #[test]
    fn pending_shows_the_carried_byte_after_a_cut() {
        let mut assembler = LineAssembler::<4>::new();
        let _ = lines(&mut assembler, b"abcd\x01");
        assert_eq!(assembler.pending(), "\\x01");
        assert_eq!(assembler.flush(), Some(Line { text: "\\x01", continued: true }));
    }

    // [utest->dsn~console-line-assembler~1]
    #[test]
    fn prefixed_lines_carry_name_and_terminator() {
        let mut out: heapless::String<64> = heapless::String::new();
        write!(out, "{}", Line { text: "booted", continued: false }.prefixed("linux")).unwrap();
        write!(out, "{}", Line { text: "abc", continued: true }.prefixed("rt")).unwrap();
        assert_eq!(out.as_str(), "[linux] booted\r\n[rt] abc\\\r\n");
    }

    // [utest->dsn~console-input-router~1]
    #[test]
    fn input_goes_to_the_focused_partition() {
        let mut router = InputRouter::new(3).unwrap();
        assert_eq!(router.focus(), 0);
        assert_eq!(router.feed(b'x'), InputAction::Deliver { partition: 0, byte: b'x' });
        assert_eq!(router.feed(0x03), InputAction::Deliver { partition: 0, byte: 0x03 }, "Ctrl-C is ordinary input");
    }

    // [utest->dsn~console-input-router~1]
    #[test]
    fn escape_then_digit_focuses_that_partition() {
        let mut router = InputRouter::new(3).unwrap();
        assert_eq!(router.feed(ESCAPE), InputAction::Nothing);
        assert!(router.escape_pending());
        assert_eq!(router.feed(b'3'), InputAction::FocusChanged { partition: 2 });
        assert!(!router.escape_pending());
        assert_eq!(router.feed(b'y'), InputAction::Deliver { partition: 2, byte: b'y' });
        assert_eq!(router.feed(ESCAPE), InputAction::Nothing);
        assert_eq!(router.feed(b'1'), InputAction::FocusChanged { partition: 0 });
    }

    // [utest->dsn~console-input-router~1]
    #[test]
    fn escape_then_n_cycles_through_partitions() {
        let mut router = InputRouter::new(3).unwrap();
        let mut visited: heapless::Vec<usize, 4> = heapless::Vec::new();
        for _ in 0..4 {
            assert_eq!(router.feed(ESCAPE), InputAction::Nothing);
            if let InputAction::FocusChanged { partition } = router.feed(b'n') {
                visited.push(partition).unwrap();
            }
        }
        assert_eq!(visited.as_slice(), &[1, 2, 0, 1]);
    }

    // [utest->dsn~console-input-router~1]
    #[test]
    fn double_escape_sends_one_literal_ctrl_t() {
        let mut router = InputRouter::new(2).unwrap();
        assert_eq!(router.feed(ESCAPE), InputAction::Nothing);
        assert_eq!(router.feed(ESCAPE), InputAction::Deliver { partition: 0, byte: ESCAPE });
        assert!(!router.escape_pending(), "the second Ctrl-T does not start another command");
        assert_eq!(router.feed(b'2'), InputAction::Deliver { partition: 0, byte: b'2' });
    }

    // [utest->dsn~console-input-router~1]
    #[test]
    fn unknown_commands_are_dropped_and_reported() {
        let mut router = InputRouter::new(2).unwrap();
        for byte in [b'x', b'0', b'N', b'\r'] {
            assert_eq!(router.feed(ESCAPE), InputAction::Nothing);
            assert_eq!(router.feed(byte), InputAction::UnknownCommand(byte));
            assert_eq!(router.focus(), 0);
        }
        assert_eq!(router.feed(b'a'), InputAction::Deliver { partition: 0, byte: b'a' }, "back to normal input");
    }

    // [utest->dsn~console-input-router~1]
    #[test]
    fn focus_cannot_land_on_a_missing_partition() {
        let mut router = InputRouter::new(2).unwrap();
        assert_eq!(router.feed(ESCAPE), InputAction::Nothing);
        assert_eq!(router.feed(b'3'), InputAction::UnknownCommand(b'3'));
        assert_eq!(router.feed(ESCAPE), InputAction::Nothing);
        assert_eq!(router.feed(b'9'), InputAction::UnknownCommand(b'9'));
        assert_eq!(router.focus(), 0);
    }

    // [utest->dsn~console-input-router~1]
    #[test]
    fn single_partition_and_empty_systems() {
        assert_eq!(InputRouter::new(0), Err(NoPartitions));
        let mut router = InputRouter::new(1).unwrap();
        assert_eq!(router.feed(ESCAPE), InputAction::Nothing);
        assert_eq!(router.feed(b'n'), InputAction::FocusChanged { partition: 0 });
    }
}
