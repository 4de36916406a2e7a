//! `console`: the console multiplexer. Several partitions' output bytes, interleaved
//! arbitrarily, go through their [`LineAssembler`]s onto one terminal as the image prints
//! them (each returned line whole, prefixed); input bytes with `Ctrl-T` focus commands go
//! through the [`InputRouter`].
//!
//! Input: a partition count, then records of a selector byte and a data byte. Invariants:
//! the terminal receives only printable ASCII, tabs and CR LF line ends (no raw control
//! character or escape sequence from any guest); every terminal line is one line of one
//! partition, `[name] ` first, never mixed with another's bytes; no line exceeds the
//! assembler's capacity; nothing is lost or reordered (per partition, the printed lines
//! plus what is pending are exactly the escaped form of what it sent, CR dropped); input
//! always goes to the focused partition, the focus is always a partition, and the focus
//! commands behave as documented (checked against a model of the router).

use std::fmt::Write as _;

use bulkhead_core::console::{ESCAPE, InputAction, InputRouter, LineAssembler};

use super::Input;

/// Line capacity: small, so that long lines are cut often.
const WIDTH: usize = 24;
/// The partitions' names.
const NAMES: [&str; 4] = ["alpha", "beta", "gamma", "delta"];
/// Input bytes the fuzzer picks from to reach the focus commands often.
const KEYS: [u8; 8] = [ESCAPE, b'n', b'1', b'2', b'3', b'4', b'9', b'x'];

/// The escaped form the console promises for one output byte.
fn escaped(byte: u8) -> String {
    if byte == b'\t' || (0x20..=0x7e).contains(&byte) { char::from(byte).to_string() } else { format!("\\x{byte:02x}") }
}

/// One partition's side of the multiplexer.
struct Source {
    assembler: LineAssembler<WIDTH>,
    /// The escaped form of everything it sent (`\n` kept as the line end, `\r` dropped).
    sent: String,
    /// What its printed lines carried: text, then `\n` for a complete line.
    printed: String,
}

/// Runs one input.
pub fn run(data: &[u8]) {
    let mut input = Input::new(data);
    let Some(count) = input.u8() else { return };
    let count = 2 + usize::from(count) % 3;
    let mut sources: Vec<Source> = (0..count)
        .map(|_| Source { assembler: LineAssembler::new(), sent: String::new(), printed: String::new() })
        .collect();
    let mut terminal = String::new();
    // What each terminal line must be: (partition, text, continued).
    let mut lines: Vec<(usize, String, bool)> = Vec::new();
    let mut router = InputRouter::new(count).expect("at least one partition");
    let mut model_focus = 0;
    let mut model_escape = false;
    // BOUND: each iteration consumes 2 bytes of the input.
    while let (Some(selector), Some(byte)) = (input.u8(), input.u8()) {
        let partition = usize::from(selector & 0x3f) % count;
        match selector >> 6 {
            0 | 1 => {
                let source = &mut sources[partition];
                if byte != b'\r' {
                    source.sent.push_str(&if byte == b'\n' { "\n".to_owned() } else { escaped(byte) });
                }
                if let Some(line) = source.assembler.feed(byte) {
                    print(&mut terminal, &mut lines, &mut source.printed, partition, line.text, line.continued);
                }
            }
            2 => {
                let source = &mut sources[partition];
                if let Some(line) = source.assembler.flush() {
                    assert!(line.continued, "a flushed line is always continued");
                    print(&mut terminal, &mut lines, &mut source.printed, partition, line.text, line.continued);
                }
            }
            _ => {
                let key = if selector & 0x20 != 0 { KEYS[usize::from(byte) % KEYS.len()] } else { byte };
                let action = router.feed(key);
                let expected = if !model_escape {
                    model_escape = key == ESCAPE;
                    if model_escape { InputAction::Nothing } else { InputAction::Deliver { partition: model_focus, byte: key } }
                } else {
                    model_escape = false;
                    match key {
                        ESCAPE => InputAction::Deliver { partition: model_focus, byte: ESCAPE },
                        b'n' => {
                            model_focus = (model_focus + 1) % count;
                            InputAction::FocusChanged { partition: model_focus }
                        }
                        b'1'..=b'9' if usize::from(key - b'1') < count => {
                            model_focus = usize::from(key - b'1');
                            InputAction::FocusChanged { partition: model_focus }
                        }
                        _ => InputAction::UnknownCommand(key),
                    }
                };
                assert_eq!(action, expected, "input byte {key:#04x}");
                assert_eq!((router.focus(), router.escape_pending()), (model_focus, model_escape));
                assert!(router.focus() < count);
            }
        }
        for (index, source) in sources.iter().enumerate() {
            let so_far = format!("{}{}", source.printed, source.assembler.pending());
            assert_eq!(so_far, source.sent, "partition {index}: output lost, reordered or altered");
        }
    }
    check_terminal(&terminal, &lines);
}

/// What the image does with a returned line: one whole write to the terminal.
fn print(terminal: &mut String, lines: &mut Vec<(usize, String, bool)>, printed: &mut String, partition: usize, text: &str, continued: bool) {
    assert!(text.len() <= WIDTH, "line of {} characters from a {WIDTH}-character assembler", text.len());
    assert!(!text.is_empty() || !continued, "an empty continued line");
    printed.push_str(text);
    if !continued {
        printed.push('\n');
    }
    let line = bulkhead_core::console::Line { text, continued };
    write!(terminal, "{}", line.prefixed(NAMES[partition])).expect("writing to a String");
    lines.push((partition, text.to_owned(), continued));
}

fn check_terminal(terminal: &str, lines: &[(usize, String, bool)]) {
    for (index, character) in terminal.char_indices() {
        let allowed = character == '\t' || (' '..='~').contains(&character) || matches!(character, '\r' | '\n');
        assert!(allowed, "control character {:#x} reached the terminal at {index}", u32::from(character));
    }
    assert!(terminal.is_empty() || terminal.ends_with("\r\n"), "terminal output ends mid-line");
    let terminal_lines: Vec<&str> = terminal.split_terminator("\r\n").collect();
    assert_eq!(terminal_lines.len(), lines.len(), "printed lines and terminal lines differ in number");
    for (shown, (partition, text, continued)) in terminal_lines.iter().zip(lines) {
        assert!(!shown.contains('\r') && !shown.contains('\n'), "a bare CR or LF inside {shown:?}");
        let body = shown
            .strip_prefix(&format!("[{}] ", NAMES[*partition]))
            .unwrap_or_else(|| panic!("line {shown:?} does not start with its partition's prefix"));
        let expected = if *continued { format!("{text}\\") } else { text.clone() };
        assert_eq!(body, expected, "terminal line mixed or altered");
    }
}
