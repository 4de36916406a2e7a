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
