//! The attacker partition's run, read from the console: what `chaos` (partitions/chaos) and
//! the hypervisor printed, and the properties every run must have. Shared by the QEMU test
//! (`tests/tests/chaos.rs`) and `cargo xtask soak`, so both judge a run the same way.
//!
//! The line formats are the contract with the guest (documented in `partitions/chaos/src/main.rs`)
//! and with the hypervisor ([`HYPERVISOR_COUNTER_LINE`]).

use std::collections::BTreeMap;
use std::fmt;

/// The manifest both the test and the soak boot (with their own chaos bootargs).
pub const CHAOS_MANIFEST: &str = "partitions/chaos-demo.toml";
/// The attacker's partition name in [`CHAOS_MANIFEST`].
pub const ATTACKER: &str = "chaos";
/// The neighbour's partition name in [`CHAOS_MANIFEST`].
pub const NEIGHBOUR: &str = "alpha";
/// The neighbour's heartbeat period in milliseconds (`partitions/heartbeat`).
pub const HEARTBEAT_PERIOD_MS: u64 = 100;

/// The first line chaos prints (after its `[chaos] ` prefix): `chaos: seed <N>`.
pub const SEED_PREFIX: &str = "chaos: seed ";
/// Chaos's progress line: `chaos: progress ops=<N>`.
pub const PROGRESS_PREFIX: &str = "chaos: progress ops=";
/// Chaos's tally line: `chaos: done ops=<N> <category>=<A>/<R>/<C> … bytes=<N> undef=<N> …`.
pub const DONE_PREFIX: &str = "chaos: done ";

/// The line the hypervisor prints (after `[hv] `) when the partition powers off, with what it
/// refused since the partition's last (re)start. `{partition}` is the partition's name, every
/// other placeholder a decimal count; see `partitions/chaos/src/main.rs` for what each counts.
/// The EL2 side prints exactly this shape, and these checks read it.
pub const HYPERVISOR_COUNTER_LINE: &str =
    "{partition}: refused sysreg={sysreg} psci={psci} mmio={mmio} stage2={stage2} sgi={sgi} smccc={smccc}";
/// The categories of [`HYPERVISOR_COUNTER_LINE`], in order; each must equal the refused count
/// of the same key in chaos's `done` line.
pub const COUNTED_CATEGORIES: [&str; 6] = ["sysreg", "psci", "mmio", "stage2", "sgi", "smccc"];

/// Console text meaning the hypervisor itself failed (the harness's fatal patterns).
pub const HYPERVISOR_FAULT_PATTERNS: [&str; 3] = [
    "[hv] hypervisor fault on core",
    "[hv] hypervisor panic",
    " panicked at ",
];

/// `[hv] <partition>: …` lines that mean the fault policy stopped or restarted the attacker
/// (never expected without `nested=1`).
const POLICY_ACTIONS: [&str; 4] = [
    ": halted by its fault policy",
    ": restarting (",
    ": restart limit ",
    ": cannot inject an abort",
];

/// Chaos bootargs for a run: `seed`, `ops`, and `seconds` when non-zero.
pub fn bootargs(seed: u64, operations: u64, seconds: u64) -> String {
    let mut text = format!("seed={seed} ops={operations}");
    if seconds > 0 {
        text.push_str(&format!(" seconds={seconds}"));
    }
    text
}

/// `manifest` (the text of [`CHAOS_MANIFEST`]) with the attacker's `bootargs` replaced.
pub fn with_attacker_bootargs(manifest: &str, bootargs: &str) -> Result<String, String> {
    let mut output = String::new();
    let mut in_attacker = false;
    let mut replaced = false;
    for line in manifest.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with('[') {
            in_attacker = false;
        }
        if trimmed.replace(' ', "") == format!("name=\"{ATTACKER}\"") {
            in_attacker = true;
        }
        if in_attacker && trimmed.starts_with("bootargs") {
            output.push_str(&format!("bootargs = \"{bootargs}\"\n"));
            replaced = true;
            continue;
        }
        output.push_str(line);
        output.push('\n');
    }
    if replaced {
        Ok(output)
    } else {
        Err(format!("the manifest has no `bootargs` line in partition `{ATTACKER}`"))
    }
}

/// Attempted, refused and accepted operations of one category.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Attempted.
    pub attempted: u64,
    /// Refused.
    pub refused: u64,
    /// Accepted.
    pub accepted: u64,
}

/// Chaos's `done` line, parsed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Done {
    /// Operations executed.
    pub operations: u64,
    /// Per category (`sysreg`, …, `console`).
    pub categories: BTreeMap<String, Counts>,
    /// The plain counts (`bytes`, `undef`, `abort`, `fault`, `serror`, `irq`, `stray`).
    pub totals: BTreeMap<String, u64>,
}

impl Done {
    /// Parses the text after `[chaos] `, `None` unless it is a well-formed `done` line.
    pub fn parse(line: &str) -> Option<Self> {
        let fields = line.strip_prefix(DONE_PREFIX)?;
        let mut done = Done::default();
        let mut saw_operations = false;
        for field in fields.split_ascii_whitespace() {
            let (key, value) = field.split_once('=')?;
            let parts: Vec<&str> = value.split('/').collect();
            match (key, parts.as_slice()) {
                ("ops", [number]) => {
                    done.operations = number.parse().ok()?;
                    saw_operations = true;
                }
                (_, [attempted, refused, accepted]) => {
                    let counts = Counts {
                        attempted: attempted.parse().ok()?,
                        refused: refused.parse().ok()?,
                        accepted: accepted.parse().ok()?,
                    };
                    done.categories.insert(key.to_owned(), counts);
                }
                (_, [number]) => {
                    done.totals.insert(key.to_owned(), number.parse().ok()?);
                }
                _ => return None,
            }
        }
        saw_operations.then_some(done)
    }

    /// The counts of `category` (zero when absent).
    pub fn counts(&self, category: &str) -> Counts {
        self.categories.get(category).copied().unwrap_or_default()
    }
}

/// Parses the text after `[hv] ` as [`HYPERVISOR_COUNTER_LINE`] for `partition`.
pub fn parse_counter_line(line: &str, partition: &str) -> Option<BTreeMap<String, u64>> {
    let fields = line.strip_prefix(partition)?.strip_prefix(": refused ")?;
    let mut counters = BTreeMap::new();
    for field in fields.split_ascii_whitespace() {
        let (key, value) = field.split_once('=')?;
        counters.insert(key.to_owned(), value.parse().ok()?);
    }
    COUNTED_CATEGORIES
        .iter()
        .all(|key| counters.contains_key(*key))
        .then_some(counters)
}

/// One `checksum 0x<hex> at heartbeat <N>, <M> ms` line of the neighbour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Checksum {
    /// The checksum.
    pub value: u64,
    /// The heartbeat it follows.
    pub heartbeat: u64,
    /// Counter time in milliseconds.
    pub milliseconds: u64,
}

impl Checksum {
    /// Parses the text after `[alpha] `.
    pub fn parse(line: &str) -> Option<Self> {
        let rest = line.strip_prefix("checksum 0x")?;
        let (value, rest) = rest.split_once(" at heartbeat ")?;
        let (heartbeat, rest) = rest.split_once(", ")?;
        let milliseconds = rest.strip_suffix(" ms")?;
        Some(Self {
            value: u64::from_str_radix(value, 16).ok()?,
            heartbeat: heartbeat.parse().ok()?,
            milliseconds: milliseconds.parse().ok()?,
        })
    }
}

/// The complete lines of `console` (without line endings; a partial last line is dropped).
pub fn complete_lines(console: &str) -> Vec<&str> {
    let complete = console.rfind('\n').map_or("", |end| &console[..=end]);
    complete.lines().map(|line| line.trim_end_matches('\r')).collect()
}

/// What `source` printed (prefix `[source] ` removed), in order.
pub fn lines_of<'a>(lines: &[&'a str], source: &str) -> Vec<&'a str> {
    let prefix = format!("[{source}] ");
    lines
        .iter()
        .filter_map(|line| line.strip_prefix(prefix.as_str()))
        .collect()
}

/// `lines` with the hypervisor's continuation fragments joined: it cuts a partition's line
/// at its line buffer (160 characters) and ends each fragment but the last with `\`.
pub fn join_continued(lines: &[&str]) -> Vec<String> {
    let mut joined: Vec<String> = Vec::new();
    let mut open = false;
    for line in lines {
        match (open, joined.last_mut()) {
            (true, Some(last)) => last.push_str(line),
            _ => joined.push((*line).to_owned()),
        }
        open = line.ends_with('\\');
        if open {
            if let Some(last) = joined.last_mut() {
                last.pop();
            }
        }
    }
    joined
}

/// Everything one run showed, and what is wrong with it.
#[derive(Clone, Debug, Default)]
pub struct Verdict {
    /// The seed chaos printed first, if it did.
    pub seed: Option<u64>,
    /// The last progress line's operation count.
    pub progress: u64,
    /// The `done` line.
    pub done: Option<Done>,
    /// The hypervisor's counter line.
    pub counters: Option<BTreeMap<String, u64>>,
    /// The neighbour's heartbeats: how many, first and last number.
    pub heartbeats: (usize, u64, u64),
    /// Numbers skipped or repeated in the neighbour's heartbeat sequence.
    pub heartbeat_gaps: u64,
    /// Heartbeats the neighbour should have printed by its counter but did not.
    pub missed_heartbeats: u64,
    /// Longest counter time between two consecutive checksum lines, in milliseconds.
    pub longest_gap_ms: u64,
    /// Distinct checksums the neighbour printed (1 when its memory never changed).
    pub checksums: Vec<u64>,
    /// `[hv] chaos: stage-2 fault` lines (informational: rate limiting may fold them).
    pub stage2_fault_lines: u64,
    /// Failed checks, each with its explanation.
    pub failures: Vec<String>,
}

impl Verdict {
    /// Judges a console transcript. `minimum_operations` is what the attacker must have run
    /// (0 when a time limit decides).
    pub fn judge(console: &str, minimum_operations: u64) -> Self {
        let lines = complete_lines(console);
        let attacker_lines = join_continued(&lines_of(&lines, ATTACKER));
        let attacker: Vec<&str> = attacker_lines.iter().map(String::as_str).collect();
        let neighbour = lines_of(&lines, NEIGHBOUR);
        let hypervisor = lines_of(&lines, "hv");
        // Seed first, exactly once (a second seed line means chaos was restarted).
        let mut verdict = Verdict {
            seed: attacker
                .first()
                .and_then(|line| line.strip_prefix(SEED_PREFIX))
                .and_then(|seed| seed.parse().ok()),
            ..Verdict::default()
        };
        if verdict.seed.is_none() {
            verdict.failures.push(format!(
                "chaos's first line is not `{SEED_PREFIX}<N>`: {:?}",
                attacker.first()
            ));
        }
        let seeds = attacker.iter().filter(|line| line.starts_with(SEED_PREFIX)).count();
        if seeds > 1 {
            verdict
                .failures
                .push(format!("chaos printed its seed {seeds} times: it was restarted"));
        }
        verdict.progress = attacker
            .iter()
            .filter_map(|line| line.strip_prefix(PROGRESS_PREFIX)?.parse().ok())
            .max()
            .unwrap_or(0);

        // The done line.
        verdict.done = attacker.iter().find_map(|line| Done::parse(line));
        match &verdict.done {
            None => verdict.failures.push(format!(
                "chaos printed no `{DONE_PREFIX}…` line (last progress: {} operations)",
                verdict.progress
            )),
            Some(done) => {
                if done.operations < minimum_operations {
                    verdict.failures.push(format!(
                        "chaos ran {} operations, fewer than {minimum_operations}",
                        done.operations
                    ));
                }
                if done.totals.get("stray").copied().unwrap_or(0) > 0 {
                    verdict.failures.push(format!(
                        "chaos took {} exceptions outside its operations",
                        done.totals.get("stray").copied().unwrap_or(0)
                    ));
                }
            }
        }

        // The hypervisor: no fault of its own, and no policy action against chaos.
        for line in &lines {
            if HYPERVISOR_FAULT_PATTERNS.iter().any(|pattern| line.contains(pattern)) {
                verdict.failures.push(format!("fatal console line: `{line}`"));
            }
        }
        for line in &hypervisor {
            let about_attacker = line.strip_prefix(ATTACKER).unwrap_or("");
            if POLICY_ACTIONS.iter().any(|action| about_attacker.starts_with(action)) {
                verdict.failures.push(format!("the hypervisor stopped chaos: `[hv] {line}`"));
            }
            if line.starts_with(&format!("{NEIGHBOUR}: ")) && !line.contains(" MiB at ") {
                verdict.failures.push(format!("the hypervisor acted on the neighbour: `[hv] {line}`"));
            }
        }
        verdict.stage2_fault_lines = hypervisor
            .iter()
            .filter(|line| line.starts_with(&format!("{ATTACKER}: stage-2 fault at IPA ")))
            .count() as u64;

        verdict.judge_neighbour(&neighbour);
        verdict.judge_console(&lines, console);

        // The accounting.
        verdict.counters = hypervisor
            .iter()
            .find_map(|line| parse_counter_line(line, ATTACKER));
        match (&verdict.done, &verdict.counters) {
            (Some(_), None) => verdict.failures.push(format!(
                "the hypervisor printed no counter line `[hv] {}`",
                HYPERVISOR_COUNTER_LINE.replace("{partition}", ATTACKER)
            )),
            (Some(done), Some(counters)) => {
                for category in COUNTED_CATEGORIES {
                    let guest = done.counts(category).refused;
                    let hypervisor = counters.get(category).copied().unwrap_or(0);
                    if guest != hypervisor {
                        verdict.failures.push(format!(
                            "{category}: chaos saw {guest} refused, the hypervisor counted {hypervisor}"
                        ));
                    }
                }
            }
            (None, _) => {}
        }
        verdict
    }

    /// Heartbeats consecutive, none missed by the clock, checksum constant, no foreign lines.
    fn judge_neighbour(&mut self, neighbour: &[&str]) {
        let beats: Vec<u64> = neighbour
            .iter()
            .filter_map(|line| line.strip_prefix("heartbeat ")?.parse().ok())
            .collect();
        self.heartbeats = (
            beats.len(),
            beats.first().copied().unwrap_or(0),
            beats.last().copied().unwrap_or(0),
        );
        if beats.first() != Some(&1) {
            self.failures.push(format!(
                "{NEIGHBOUR}'s heartbeats do not start at 1: {:?}",
                beats.first()
            ));
        }
        self.heartbeat_gaps = beats
            .windows(2)
            .filter(|pair| pair[1] != pair[0] + 1)
            .count() as u64;
        if self.heartbeat_gaps > 0 {
            self.failures.push(format!(
                "{NEIGHBOUR}'s heartbeat numbers skip or repeat {} times",
                self.heartbeat_gaps
            ));
        }
        let checksums: Vec<Checksum> = neighbour.iter().filter_map(|line| Checksum::parse(line)).collect();
        for checksum in &checksums {
            if !self.checksums.contains(&checksum.value) {
                self.checksums.push(checksum.value);
            }
        }
        if checksums.is_empty() {
            self.failures
                .push(format!("{NEIGHBOUR} printed no checksum (bootargs `checksum=1`?)"));
        } else if self.checksums.len() > 1 {
            self.failures.push(format!(
                "{NEIGHBOUR}'s memory checksum changed: {:x?}",
                self.checksums
            ));
        }
        if let (Some(first), Some(last)) = (checksums.first(), checksums.last()) {
            let elapsed = last.milliseconds.saturating_sub(first.milliseconds);
            // A beat is missed when the timer handler ran more than a period late.
            let expected = elapsed / HEARTBEAT_PERIOD_MS + 1;
            let printed = last.heartbeat.saturating_sub(first.heartbeat) + 1;
            self.missed_heartbeats = expected.saturating_sub(printed);
            self.longest_gap_ms = checksums
                .windows(2)
                .map(|pair| pair[1].milliseconds.saturating_sub(pair[0].milliseconds))
                .max()
                .unwrap_or(0);
            if self.missed_heartbeats > 0 {
                self.failures.push(format!(
                    "{NEIGHBOUR} missed {} heartbeats: {printed} in {elapsed} ms (longest gap {} ms)",
                    self.missed_heartbeats, self.longest_gap_ms
                ));
            }
        }
        let foreign: Vec<&&str> = neighbour
            .iter()
            .filter(|line| {
                !["hello from ", "vCPU ", "heartbeat ", "checksum "]
                    .iter()
                    .any(|start| line.starts_with(start))
            })
            .collect();
        if !foreign.is_empty() {
            self.failures.push(format!(
                "{NEIGHBOUR} printed lines it never prints undisturbed (an interrupt or fault \
                 crossed partitions?): {:?}",
                foreign.iter().take(5).collect::<Vec<_>>()
            ));
        }
    }

    /// Every line from a known source, and no raw control character on the console.
    fn judge_console(&mut self, lines: &[&str], console: &str) {
        let sources = [ATTACKER, NEIGHBOUR, "hv"].map(|source| format!("[{source}] "));
        let unattributed: Vec<&&str> = lines
            .iter()
            .filter(|line| !sources.iter().any(|prefix| line.starts_with(prefix.as_str())))
            .collect();
        if !unattributed.is_empty() {
            self.failures.push(format!(
                "{} console lines from no known source, e.g. {:?}",
                unattributed.len(),
                unattributed.iter().take(3).collect::<Vec<_>>()
            ));
        }
        let raw = console
            .bytes()
            .filter(|byte| byte.is_ascii_control() && !matches!(byte, b'\r' | b'\n' | b'\t'))
            .count();
        if raw > 0 {
            self.failures
                .push(format!("{raw} raw control bytes reached the console (escape sequences?)"));
        }
    }

    /// Whether every check passed.
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// The summary: seed, operations, tallies against the hypervisor's counters, the neighbour.
impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let seed = self.seed.map_or("?".to_owned(), |seed| seed.to_string());
        writeln!(f, "chaos seed {seed} (replay: bootargs `seed={seed}`)")?;
        match &self.done {
            Some(done) => {
                writeln!(f, "operations: {}", done.operations)?;
                writeln!(f, "  category   attempted    refused   accepted   hypervisor")?;
                for (category, counts) in &done.categories {
                    let hypervisor = match (&self.counters, COUNTED_CATEGORIES.contains(&category.as_str())) {
                        (Some(counters), true) => counters
                            .get(category)
                            .map_or("?".to_owned(), ToString::to_string),
                        (None, true) => "(no line)".to_owned(),
                        (_, false) => "-".to_owned(),
                    };
                    writeln!(
                        f,
                        "  {category:9} {:10} {:10} {:10}   {hypervisor}",
                        counts.attempted, counts.refused, counts.accepted
                    )?;
                }
                let totals: Vec<String> = done.totals.iter().map(|(key, value)| format!("{key}={value}")).collect();
                writeln!(f, "  {}", totals.join(" "))?;
            }
            None => writeln!(f, "operations: no done line (last progress {})", self.progress)?,
        }
        writeln!(
            f,
            "hypervisor stage-2 fault lines for {ATTACKER}: {}",
            self.stage2_fault_lines
        )?;
        let (count, first, last) = self.heartbeats;
        writeln!(
            f,
            "{NEIGHBOUR}: {count} heartbeats ({first}..{last}), {} numbering gaps, {} missed by the clock, longest gap {} ms, checksums {:x?}",
            self.heartbeat_gaps, self.missed_heartbeats, self.longest_gap_ms, self.checksums
        )?;
        if self.failures.is_empty() {
            writeln!(f, "all checks passed")
        } else {
            writeln!(f, "{} failed checks:", self.failures.len())?;
            for failure in &self.failures {
                writeln!(f, "  - {failure}")?;
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DONE: &str = "chaos: done ops=10 sysreg=3/1/2 psci=1/1/0 mmio=1/0/1 stage2=2/2/0 sgi=1/0/1 smccc=1/1/0 local=1/1/0 wfx=0/0/0 console=0/0/0 bytes=0 undef=2 abort=2 fault=1 serror=0 irq=0 stray=0";

    fn run(counter: &str) -> String {
        format!(
            "[hv] Bulkhead hypervisor on qemu-virt: 2 partitions, 4 cores\r\n\
             [chaos] chaos: seed 42\r\n[alpha] hello from alpha on vCPU 0 at EL1\r\n\
             [alpha] heartbeat 1\r\n[alpha] checksum 0x00000000000000ab at heartbeat 1, 100 ms\r\n\
             [hv] chaos: stage-2 fault at IPA 0x100000000 (pc 0x40080000)\r\n\
             [chaos] \\x1b[2J\r\n[alpha] heartbeat 2\r\n[alpha] checksum 0x00000000000000ab at heartbeat 2, 200 ms\r\n\
             [chaos] {DONE}\r\n[hv] chaos: powered off (PSCI SYSTEM_OFF)\r\n{counter}"
        )
    }

    #[test]
    fn a_clean_run_with_matching_counters_passes() {
        let verdict = Verdict::judge(
            &run("[hv] chaos: refused sysreg=1 psci=1 mmio=0 stage2=2 sgi=0 smccc=1\r\n"),
            10,
        );
        assert!(verdict.passed(), "{verdict}");
        assert_eq!(verdict.seed, Some(42));
        assert_eq!(verdict.stage2_fault_lines, 1);
    }

    #[test]
    fn a_missing_or_different_counter_fails_per_category() {
        let missing = Verdict::judge(&run(""), 10);
        assert_eq!(missing.failures.len(), 1, "{missing}");
        assert!(missing.failures[0].contains("no counter line"));
        let off = Verdict::judge(
            &run("[hv] chaos: refused sysreg=1 psci=1 mmio=0 stage2=3 sgi=0 smccc=0\r\n"),
            10,
        );
        assert_eq!(off.failures.len(), 2, "{off}");
    }

    #[test]
    fn changed_checksum_skipped_beat_and_raw_escape_fail() {
        let console = run("[hv] chaos: refused sysreg=1 psci=1 mmio=0 stage2=2 sgi=0 smccc=1\r\n")
            .replace("heartbeat 2\r\n[alpha] checksum 0x00000000000000ab", "heartbeat 3\r\n[alpha] checksum 0x00000000000000ac")
            .replace("[chaos] \\x1b[2J", "[chaos] \x1b[2J");
        let verdict = Verdict::judge(&console, 10);
        let text = verdict.failures.join("\n");
        assert!(text.contains("skip or repeat"), "{text}");
        assert!(text.contains("checksum changed"), "{text}");
        assert!(text.contains("raw control bytes"), "{text}");
    }

    #[test]
    fn lateness_is_measured_by_the_neighbours_counter() {
        let console = run("").replace("2, 200 ms", "2, 450 ms");
        let verdict = Verdict::judge(&console, 0);
        assert_eq!(verdict.missed_heartbeats, 2, "{verdict}");
        assert_eq!(verdict.longest_gap_ms, 350);
    }

    #[test]
    fn a_done_line_cut_by_the_hypervisor_is_joined() {
        let (head, tail) = DONE.split_at(100);
        let console = run("[hv] chaos: refused sysreg=1 psci=1 mmio=0 stage2=2 sgi=0 smccc=1\r\n")
            .replace(&format!("[chaos] {DONE}\r\n"), &format!("[chaos] {head}\\\r\n[alpha] vCPU 1 online at EL1\r\n[chaos] {tail}\r\n"));
        let verdict = Verdict::judge(&console, 10);
        assert!(verdict.passed(), "{verdict}");
    }

    #[test]
    fn done_and_counter_lines_parse() {
        let done = Done::parse(DONE).expect("well formed");
        assert_eq!(done.operations, 10);
        assert_eq!(done.counts("sysreg"), Counts { attempted: 3, refused: 1, accepted: 2 });
        assert_eq!(done.totals.get("undef"), Some(&2));
        assert!(Done::parse("chaos: done ops=x").is_none());
        let counters = parse_counter_line("chaos: refused sysreg=1 psci=2 mmio=3 stage2=4 sgi=5 smccc=6", "chaos")
            .expect("well formed");
        assert_eq!(counters.get("smccc"), Some(&6));
        assert!(parse_counter_line("chaos: refused sysreg=1", "chaos").is_none());
        let example = HYPERVISOR_COUNTER_LINE
            .replace("{partition}", "chaos")
            .replace("{sysreg}", "1")
            .replace("{psci}", "2")
            .replace("{mmio}", "3")
            .replace("{stage2}", "4")
            .replace("{sgi}", "5")
            .replace("{smccc}", "6");
        assert_eq!(parse_counter_line(&example, "chaos"), Some(counters));
    }

    #[test]
    fn the_attackers_bootargs_are_replaced_in_its_partition_only() {
        let manifest = "[[partition]]\nname = \"alpha\"\nbootargs = \"checksum=1\"\n\n[[partition]]\nname = \"chaos\"\nbootargs = \"ops=5\"\n";
        let replaced = with_attacker_bootargs(manifest, &bootargs(7, 9, 0)).expect("has bootargs");
        assert!(replaced.contains("bootargs = \"checksum=1\""));
        assert!(replaced.contains("bootargs = \"seed=7 ops=9\""));
        assert!(with_attacker_bootargs("[[partition]]\nname = \"chaos\"\n", "x").is_err());
        let real = std::fs::read_to_string(crate::paths::Repository::locate().root().join(CHAOS_MANIFEST))
            .expect("chaos-demo.toml");
        assert!(with_attacker_bootargs(&real, "seed=1").is_ok());
    }
}
