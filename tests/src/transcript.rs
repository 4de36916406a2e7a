//! What a system printed on its console, and the questions tests ask about it.
//!
//! The console is the board's first UART: every partition's output prefixed `[name] ` and
//! the hypervisor's plain-text messages prefixed `[hv] `, one whole line at a time. Only
//! complete (newline-terminated) lines are considered: the last line may still be arriving.

/// A snapshot of the console output so far.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Transcript {
    text: String,
}

impl Transcript {
    /// The transcript of `bytes` (invalid UTF-8 is replaced, never dropped).
    pub fn from_bytes(bytes: &[u8]) -> Self {
        Self {
            text: String::from_utf8_lossy(bytes).into_owned(),
        }
    }

    /// Everything received, including a partial last line.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Whether the text contains `pattern` anywhere.
    pub fn contains(&self, pattern: &str) -> bool {
        self.text.contains(pattern)
    }

    /// The complete lines, without their `\r\n`/`\n` endings.
    pub fn complete_lines(&self) -> Vec<&str> {
        let complete = match self.text.rfind('\n') {
            Some(end) => &self.text[..=end],
            None => "",
        };
        complete
            .lines()
            .map(|line| line.trim_end_matches('\r'))
            .collect()
    }

    /// Index (into [`Self::complete_lines`]) of the first complete line containing `pattern`.
    pub fn line_index(&self, pattern: &str) -> Option<usize> {
        self.complete_lines()
            .iter()
            .position(|line| line.contains(pattern))
    }

    /// What `source` (`alpha`, `hv`) printed, prefix removed, in order.
    pub fn lines_of(&self, source: &str) -> Vec<&str> {
        let prefix = format!("[{source}] ");
        self.complete_lines()
            .into_iter()
            .filter_map(|line| line.strip_prefix(prefix.as_str()))
            .collect()
    }

    /// The numbers of the `heartbeat <N>` lines `partition` printed, in order.
    pub fn heartbeats(&self, partition: &str) -> Vec<u64> {
        heartbeat_numbers(self.lines_of(partition))
    }

    /// The heartbeats `partition` printed on complete lines after line `index`.
    pub fn heartbeats_after(&self, partition: &str, index: usize) -> Vec<u64> {
        let prefix = format!("[{partition}] ");
        let lines = self.complete_lines();
        let later = lines
            .iter()
            .skip(index + 1)
            .filter_map(|line| line.strip_prefix(prefix.as_str()));
        heartbeat_numbers(later)
    }

    /// Complete lines that are not exactly one of the known shapes of their source (see
    /// [`LineShapes`]): mixed output, or text nobody should print.
    pub fn lines_not_matching<'a>(&'a self, shapes: &LineShapes) -> Vec<&'a str> {
        self.complete_lines()
            .into_iter()
            .filter(|line| !shapes.accepts(line))
            .collect()
    }

    /// Complete lines that do not start with one of `[source] ` for `sources`: output from
    /// two writers mixed into one line, or text from nobody known.
    pub fn lines_not_from<'a>(&'a self, sources: &[&str]) -> Vec<&'a str> {
        let prefixes: Vec<String> = sources
            .iter()
            .map(|source| format!("[{source}] "))
            .collect();
        self.complete_lines()
            .into_iter()
            .filter(|line| {
                !prefixes
                    .iter()
                    .any(|prefix| line.starts_with(prefix.as_str()))
            })
            .collect()
    }
}

/// The whole-line shapes each console source may print: a line that is not exactly one of
/// its source's shapes is output from two writers mixed into one line, or text nobody should
/// print. Checking only a line's prefix lets `[alpha] heart[beta] heartbeat 3beat 4` pass;
/// checking the whole line does not.
///
/// A shape is literal text with placeholders, each matching a non-empty run of characters:
/// `{n}` decimal digits, `{hex}` `0x` and hexadecimal digits (with `_` separators), `{name}`
/// letters, digits, `-` and `_`, `{list}` digits, `,` and spaces, `{char}` one input byte as
/// the guests escape it (`x`, `\'`, `\x14`). No placeholder matches `[` or `]`, so another
/// source's prefix can never hide inside one.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LineShapes {
    sources: Vec<(String, Vec<String>)>,
}

impl LineShapes {
    /// No sources yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `source` (`alpha`, `hv`) with the shapes of what follows its `[source] ` prefix.
    pub fn source(mut self, source: &str, shapes: &[&str]) -> Self {
        self.sources.push((
            source.to_owned(),
            shapes.iter().map(|shape| (*shape).to_owned()).collect(),
        ));
        self
    }

    /// Whether `line` (without its line ending) is exactly one known shape of its source.
    pub fn accepts(&self, line: &str) -> bool {
        self.sources.iter().any(|(source, shapes)| {
            line.strip_prefix('[')
                .and_then(|rest| rest.strip_prefix(source.as_str()))
                .and_then(|rest| rest.strip_prefix("] "))
                .is_some_and(|text| shapes.iter().any(|shape| shape_matches(shape, text)))
        })
    }
}

/// Whether `text` is exactly `shape` (see [`LineShapes`]).
fn shape_matches(shape: &str, text: &str) -> bool {
    match shape.find('{') {
        None => shape == text,
        Some(open) => {
            let (literal, rest) = shape.split_at(open);
            let Some(text) = text.strip_prefix(literal) else {
                return false;
            };
            let Some(close) = rest.find('}') else {
                return false;
            };
            let placeholder = &rest[1..close];
            let after = &rest[close + 1..];
            // Every split point of a run the placeholder accepts, shortest first (the rest of
            // the shape decides where the run ends).
            (1..=text.len())
                .filter(|&end| text.is_char_boundary(end))
                .take_while(|&end| placeholder_accepts(placeholder, &text[..end]).is_some())
                .any(|end| {
                    placeholder_accepts(placeholder, &text[..end]) == Some(true)
                        && shape_matches(after, &text[end..])
                })
        }
    }
}

/// Whether `run` is a complete match of `placeholder` (`Some(true)`), a prefix of one that
/// may still grow (`Some(false)`), or neither (`None`).
fn placeholder_accepts(placeholder: &str, run: &str) -> Option<bool> {
    let all = |allowed: fn(char) -> bool| run.chars().all(allowed).then_some(true);
    match placeholder {
        "n" => all(|c| c.is_ascii_digit()),
        "name" => all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
        "list" => all(|c| c.is_ascii_digit() || c == ',' || c == ' '),
        "hex" => match run {
            "0" => Some(false),
            _ => {
                let digits = run.strip_prefix("0x")?;
                digits
                    .chars()
                    .all(|c| c.is_ascii_hexdigit() || c == '_')
                    .then_some(!digits.is_empty())
            }
        },
        "char" => match run.as_bytes() {
            [b'\\'] | [b'\\', b'x'] | [b'\\', b'x', _] => Some(false),
            [b'\\', b'x', high, low] => {
                (high.is_ascii_hexdigit() && low.is_ascii_hexdigit()).then_some(true)
            }
            [b'\\', escaped] => b"'\"\\tnr0".contains(escaped).then_some(true),
            [byte] => ((byte.is_ascii_graphic() && *byte != b'\\' && *byte != b'\'')
                || *byte == b' ')
                .then_some(true),
            _ => None,
        },
        _ => None,
    }
}

fn heartbeat_numbers<'a>(lines: impl IntoIterator<Item = &'a str>) -> Vec<u64> {
    lines
        .into_iter()
        .filter_map(|line| line.strip_prefix("heartbeat ")?.trim().parse().ok())
        .collect()
}

/// A hexadecimal number as the hypervisor and guests print it (`0x1_0000_0000` or
/// `0x100000000`), read from the start of `text`; `None` when `text` does not start with one.
pub fn parse_hex_prefix(text: &str) -> Option<u64> {
    let digits: String = text
        .strip_prefix("0x")?
        .chars()
        .take_while(|c| c.is_ascii_hexdigit() || *c == '_')
        .filter(|c| *c != '_')
        .collect();
    u64::from_str_radix(&digits, 16).ok()
}

/// The number printed right after `marker` in `line` (`"at IPA "` → the IPA).
pub fn hex_after(line: &str, marker: &str) -> Option<u64> {
    let start = line.find(marker)? + marker.len();
    parse_hex_prefix(&line[start..])
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &[u8] = b"[hv] Bulkhead starting\r\n[alpha] hello from alpha on vCPU 0 at EL1\r\n[beta] heartbeat 1\r\n\
        [alpha] heartbeat 1\r\n[alpha] heartbeat 2\r\n[hv] beta: stage-2 fault at IPA 0x1_0000_0000 (pc 0x4008_1234)\r\n\
        [alpha] heartbeat 3\r\n[alpha] heart";

    #[test]
    fn partial_last_line_is_not_a_line_yet() {
        let transcript = Transcript::from_bytes(SAMPLE);
        assert_eq!(transcript.complete_lines().len(), 7);
        assert_eq!(transcript.complete_lines()[6], "[alpha] heartbeat 3");
        assert!(transcript.contains("[alpha] heart"));
    }

    #[test]
    fn heartbeats_are_read_per_partition() {
        let transcript = Transcript::from_bytes(SAMPLE);
        assert_eq!(transcript.heartbeats("alpha"), [1, 2, 3]);
        assert_eq!(transcript.heartbeats("beta"), [1]);
        let fault = transcript.line_index("stage-2 fault").expect("fault line");
        assert_eq!(transcript.heartbeats_after("alpha", fault), [3]);
    }

    #[test]
    fn lines_are_attributed_by_prefix() {
        let transcript = Transcript::from_bytes(SAMPLE);
        assert_eq!(
            transcript.lines_of("hv"),
            [
                "Bulkhead starting",
                "beta: stage-2 fault at IPA 0x1_0000_0000 (pc 0x4008_1234)"
            ]
        );
        assert!(
            transcript
                .lines_not_from(&["alpha", "beta", "hv"])
                .is_empty()
        );
        let torn = Transcript::from_bytes(b"[alpha] heart[beta] heartbeat 2\nbeat 4\n");
        assert_eq!(torn.lines_not_from(&["alpha", "beta", "hv"]), ["beat 4"]);
    }

    fn demo_like_shapes() -> LineShapes {
        LineShapes::new()
            .source(
                "alpha",
                &[
                    "heartbeat {n}",
                    "received '{char}'",
                    "hello from {name} on vCPU {n} at EL{n}",
                ],
            )
            .source(
                "beta",
                &["heartbeat {n}", "caught data abort at {hex} (ESR {hex})"],
            )
            .source(
                "hv",
                &[
                    "Bulkhead starting",
                    "{name}: stage-2 fault at IPA {hex} (pc {hex})",
                    "{name}: {n} MiB at {hex}, cores [{list}], VMID {n}",
                ],
            )
    }

    #[test]
    fn whole_lines_must_have_a_known_shape() {
        let shapes = demo_like_shapes();
        let transcript = Transcript::from_bytes(SAMPLE);
        assert!(
            transcript.lines_not_matching(&shapes).is_empty(),
            "{:?}",
            transcript.lines_not_matching(&shapes)
        );
        for good in [
            "[alpha] received 'x'",
            "[alpha] received '\\x14'",
            "[alpha] received '\\''",
            "[alpha] received ' '",
            "[hv] alpha: 64 MiB at 0x42000000, cores [0, 1], VMID 1",
            "[beta] caught data abort at 0x100000000 (ESR 0x96000010)",
        ] {
            assert!(shapes.accepts(good), "{good}");
        }
    }

    #[test]
    fn a_line_mixing_two_sources_is_rejected() {
        let shapes = demo_like_shapes();
        let mixed = Transcript::from_bytes(
            b"[alpha] heartbeat 3\r\n[alpha] heart[beta] heartbeat 3beat 4\r\n[beta] heartbeat 4\r\n",
        );
        // The prefix-only check sees nothing wrong with it.
        assert!(mixed.lines_not_from(&["alpha", "beta", "hv"]).is_empty());
        assert_eq!(
            mixed.lines_not_matching(&shapes),
            ["[alpha] heart[beta] heartbeat 3beat 4"]
        );
        for bad in [
            "[alpha] heartbeat 4[beta] heartbeat 4",
            "[alpha] heartbeat ",
            "[alpha] heartbeat 4 ",
            "[alpha] received 'xy'",
            "[alpha] received '[beta]'",
            "[beta] received 'x'",
            "[gamma] heartbeat 1",
            "heartbeat 1",
            "[hv] beta: stage-2 fault at IPA 0x (pc 0x4)",
        ] {
            assert!(!shapes.accepts(bad), "{bad}");
        }
    }

    #[test]
    fn hex_numbers_read_with_or_without_separators() {
        assert_eq!(
            hex_after("stage-2 fault at IPA 0x1_0000_0000 (pc 0x40)", "IPA "),
            Some(0x1_0000_0000)
        );
        assert_eq!(
            hex_after("caught data abort at 0x100000000 (ESR 0x92000010)", "at "),
            Some(0x1_0000_0000)
        );
        assert_eq!(
            hex_after("caught data abort at 0x100000000 (ESR 0x92000010)", "ESR "),
            Some(0x9200_0010)
        );
        assert_eq!(parse_hex_prefix("100"), None);
        assert_eq!(hex_after("no marker", "IPA "), None);
    }
}
