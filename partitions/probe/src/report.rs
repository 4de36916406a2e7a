//! The probe's output: one machine-readable line per metric, and the sample distribution
//! behind it.
//!
//! The format is a contract with `cargo xtask bench` (`xtask/src/bench/probe_output.rs`
//! parses it); bump [`FORMAT_VERSION`] on any change a parser would notice. Every line starts
//! with the token `BENCH` so that it can be found after whatever prefix the hypervisor's
//! console puts in front (`[probe] ` under Bulkhead, `DOM1: ` under Xen), and is at most 120
//! bytes long, shorter than the console line buffers of both hypervisors.
//!
//! ```text
//! BENCH probe format=1 samples=101 counter_frequency=1000000000
//! BENCH metric=hypercall_smccc_version unit=ticks n=101 min=331 median=331 max=347
//! BENCH-DIST metric=hypercall_smccc_version runs=331x100,347x1
//! BENCH metric=doorbell_round_trip status=unavailable reason=no-channel
//! BENCH end
//! ```
//!
//! `runs` lists each distinct sample value with its count (`value x count`), ascending; a
//! metric with many distinct values continues on further `BENCH-DIST` lines. Under QEMU's
//! deterministic mode most metrics have one or two distinct values, so the whole
//! distribution costs a line or two.

use core::fmt::{self, Write};

/// Version of the line format.
pub const FORMAT_VERSION: u32 = 1;

/// Runs per `BENCH-DIST` line: with the longest metric name (34 characters), three runs of
/// a 10-digit value and a 4-digit count still fit in 120 bytes.
const RUNS_PER_LINE: usize = 3;

/// Minimum, median and maximum of a set of samples.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Summary {
    /// How many samples.
    pub count: usize,
    /// Smallest sample.
    pub minimum: u64,
    /// Middle sample (the lower of the two middle ones for an even count).
    pub median: u64,
    /// Largest sample.
    pub maximum: u64,
}

/// The distinct values of sorted `samples` with how often each occurs, ascending.
pub fn runs(sorted: &[u64]) -> impl Iterator<Item = (u64, usize)> + '_ {
    let mut rest = sorted;
    core::iter::from_fn(move || {
        let (&value, _) = rest.split_first()?;
        let length = rest.iter().take_while(|&&sample| sample == value).count();
        rest = &rest[length..];
        Some((value, length))
    })
}

/// Why a metric has no samples.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Absence {
    /// The platform does not offer what the metric measures (e.g. no doorbell exists).
    Unavailable(&'static str),
    /// The measurement went wrong (e.g. an interrupt other than the timer came in).
    Failed(&'static str),
}

/// Writes the header line.
pub fn write_header(out: &mut impl Write, samples: usize, counter_frequency: u64) -> fmt::Result {
    writeln!(
        out,
        "BENCH probe format={FORMAT_VERSION} samples={samples} counter_frequency={counter_frequency}"
    )
}

/// Writes a metric's summary line and the distribution lines for its sorted samples.
pub fn write_metric(out: &mut impl Write, metric: &str, sorted: &[u64]) -> fmt::Result {
    let Some(summary) = summarize(sorted) else {
        return write_absence(out, metric, Absence::Failed("no-samples"));
    };
    writeln!(
        out,
        "BENCH metric={metric} unit=ticks n={} min={} median={} max={}",
        summary.count, summary.minimum, summary.median, summary.maximum
    )?;
    let mut all_runs = runs(sorted).peekable();
    while all_runs.peek().is_some() {
        write!(out, "BENCH-DIST metric={metric} runs=")?;
        for (index, (value, count)) in all_runs.by_ref().take(RUNS_PER_LINE).enumerate() {
            let separator = if index == 0 { "" } else { "," };
            write!(out, "{separator}{value}x{count}")?;
        }
        writeln!(out)?;
    }
    Ok(())
}

/// Writes the line of a metric that has no samples.
pub fn write_absence(out: &mut impl Write, metric: &str, absence: Absence) -> fmt::Result {
    let (status, reason) = match absence {
        Absence::Unavailable(reason) => ("unavailable", reason),
        Absence::Failed(reason) => ("failed", reason),
    };
    writeln!(out, "BENCH metric={metric} status={status} reason={reason}")
}

/// Writes the last line: the host stops reading (and QEMU) when it sees it.
pub fn write_end(out: &mut impl Write) -> fmt::Result {
    writeln!(out, "BENCH end")
}

/// Summarizes samples sorted in ascending order; `None` when there are none.
pub fn summarize(sorted: &[u64]) -> Option<Summary> {
    Some(Summary {
        count: sorted.len(),
        minimum: *sorted.first()?,
        median: *sorted.get((sorted.len() - 1) / 2)?,
        maximum: *sorted.last()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Longest line the format allows, the `BENCH` token included.
    const MAX_LINE: usize = 120;

    #[test]
    fn summary_takes_the_lower_middle_sample() {
        assert_eq!(
            summarize(&[3, 3, 5, 9]),
            Some(Summary {
                count: 4,
                minimum: 3,
                median: 3,
                maximum: 9
            })
        );
        assert_eq!(summarize(&[7]).map(|summary| summary.median), Some(7));
        assert_eq!(summarize(&[]), None);
    }

    #[test]
    fn runs_count_equal_neighbours() {
        let collected: Vec<_> = runs(&[1, 1, 1, 4, 7, 7]).collect();
        assert_eq!(collected, [(1, 3), (4, 1), (7, 2)]);
        assert_eq!(runs(&[]).count(), 0);
    }

    #[test]
    fn metric_lines_carry_summary_and_distribution() {
        let mut text = String::new();
        write_metric(&mut text, "hypercall_smccc_version", &[331, 331, 347]).unwrap();
        assert_eq!(
            text,
            "BENCH metric=hypercall_smccc_version unit=ticks n=3 min=331 median=331 max=347\n\
             BENCH-DIST metric=hypercall_smccc_version runs=331x2,347x1\n"
        );
    }

    #[test]
    fn long_distributions_are_split_and_every_line_fits() {
        let mut samples: Vec<u64> = (0..8).map(|index| 9_999_999_990 + index).collect();
        samples.extend([9_999_999_999; 1000]);
        let mut text = String::new();
        write_metric(&mut text, "timer_interrupt_wait_for_interrupt", &samples).unwrap();
        let lines: Vec<_> = text.lines().collect();
        assert_eq!(lines.len(), 1 + 3);
        assert!(lines.iter().all(|line| line.len() <= MAX_LINE), "{text}");
        assert!(
            lines[3].ends_with("runs=9999999996x1,9999999997x1,9999999999x1000"),
            "{text}"
        );
    }

    #[test]
    fn absent_metrics_say_why() {
        let mut text = String::new();
        write_absence(
            &mut text,
            "doorbell_round_trip",
            Absence::Unavailable("no-channel"),
        )
        .unwrap();
        write_metric(&mut text, "entry", &[]).unwrap();
        assert_eq!(
            text,
            "BENCH metric=doorbell_round_trip status=unavailable reason=no-channel\n\
             BENCH metric=entry status=failed reason=no-samples\n"
        );
    }

    #[test]
    fn header_and_end_lines() {
        let mut text = String::new();
        write_header(&mut text, 101, 1_000_000_000).unwrap();
        write_end(&mut text).unwrap();
        assert_eq!(
            text,
            "BENCH probe format=1 samples=101 counter_frequency=1000000000\nBENCH end\n"
        );
    }
}
