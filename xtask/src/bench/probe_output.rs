//! Reads the probe's `BENCH` lines out of a console transcript.
//!
//! The format is defined by `partitions/probe/src/report.rs`; this is its only parser. Lines
//! are found by their `BENCH` token wherever it is on the line, because each platform's
//! console puts its own prefix in front (`[probe] `, `(XEN) DOM1: `), and everything else on
//! the console (the hypervisor's own messages) is ignored.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The line format this parser understands (`format=` of the header line).
pub const SUPPORTED_FORMAT: u32 = 1;

/// One distinct sample value and how often it occurred.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Run {
    /// The value, in counter ticks.
    pub value: u64,
    /// How many samples had it.
    pub count: u64,
}

/// Samples of one metric: the probe's summary and the full distribution.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Samples {
    /// How many samples.
    pub count: u64,
    /// Smallest.
    pub minimum: u64,
    /// Median (the lower middle sample for an even count).
    pub median: u64,
    /// Largest.
    pub maximum: u64,
    /// Every distinct value with its count, ascending.
    pub distribution: Vec<Run>,
}

/// What the probe reported for one metric.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum MetricResult {
    /// Measured.
    Measured(Samples),
    /// The platform does not offer what the metric needs.
    Unavailable {
        /// The probe's reason token.
        reason: String,
    },
    /// The measurement went wrong.
    Failed {
        /// The probe's reason token.
        reason: String,
    },
}

/// One metric of a run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeMetric {
    /// The probe's metric name.
    pub name: String,
    /// What it reported.
    pub result: MetricResult,
}

/// Everything one probe run printed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeRun {
    /// `format=` of the header.
    pub format: u32,
    /// Samples per metric the probe took.
    pub samples: u64,
    /// `CNTFRQ_EL0` the probe saw.
    pub counter_frequency: u64,
    /// Metrics in output order.
    pub metrics: Vec<ProbeMetric>,
}

impl ProbeRun {
    /// The result of metric `name`.
    pub fn metric(&self, name: &str) -> Option<&MetricResult> {
        self.metrics
            .iter()
            .find(|metric| metric.name == name)
            .map(|metric| &metric.result)
    }
}

/// Why a transcript does not hold a complete probe run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProbeOutputError {
    /// No `BENCH probe` header line.
    NoHeader,
    /// The header names a format this parser does not know.
    UnsupportedFormat(u32),
    /// The run did not reach `BENCH end` (the probe or the platform stopped early).
    NoEnd,
    /// A `BENCH` line could not be read.
    Malformed {
        /// The line, from its `BENCH` token.
        line: String,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// A metric's distribution does not add up to its summary.
    InconsistentDistribution {
        /// The metric.
        metric: String,
    },
}

impl fmt::Display for ProbeOutputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoHeader => write!(f, "the probe printed no `BENCH probe` header"),
            Self::UnsupportedFormat(format) => write!(
                f,
                "the probe prints format {format}, this xtask reads format {SUPPORTED_FORMAT}"
            ),
            Self::NoEnd => write!(f, "the probe output stops before `BENCH end`"),
            Self::Malformed { line, problem } => write!(f, "{problem}: `{line}`"),
            Self::InconsistentDistribution { metric } => write!(
                f,
                "the distribution of {metric} does not match its count, minimum and maximum"
            ),
        }
    }
}

impl std::error::Error for ProbeOutputError {}

/// Whether `line` is the probe's last line.
pub fn is_end_line(line: &str) -> bool {
    bench_part(line).is_some_and(|part| part.trim_end() == "BENCH end")
}

/// The metric name of a `BENCH metric=` line (for progress display).
pub fn metric_of_line(line: &str) -> Option<&str> {
    let part = bench_part(line)?;
    let mut words = part.split_whitespace();
    (words.next()? == "BENCH").then_some(())?;
    words.next()?.strip_prefix("metric=")
}

/// Parses the probe's lines in `transcript`.
pub fn parse(transcript: &str) -> Result<ProbeRun, ProbeOutputError> {
    let mut header: Option<(u32, u64, u64)> = None;
    let mut metrics: Vec<ProbeMetric> = Vec::new();
    let mut ended = false;
    for part in transcript.lines().filter_map(bench_part) {
        let part = part.trim_end();
        let malformed = |problem| ProbeOutputError::Malformed {
            line: part.to_owned(),
            problem,
        };
        let mut words = part.split_whitespace();
        let kind = words.next().ok_or_else(|| malformed("empty line"))?;
        let fields: Vec<(&str, &str)> = words
            .clone()
            .filter_map(|word| word.split_once('='))
            .collect();
        let field = |key: &str| {
            fields
                .iter()
                .find(|(name, _)| *name == key)
                .map(|(_, value)| *value)
        };
        let number = |key: &str| -> Result<u64, ProbeOutputError> {
            field(key)
                .and_then(|value| value.parse().ok())
                .ok_or_else(|| malformed("a number field is missing or not a number"))
        };
        match (kind, words.clone().next()) {
            ("BENCH", Some("probe")) => {
                let format = number("format")?;
                let format = u32::try_from(format).map_err(|_| malformed("format too large"))?;
                if format != SUPPORTED_FORMAT {
                    return Err(ProbeOutputError::UnsupportedFormat(format));
                }
                header = Some((format, number("samples")?, number("counter_frequency")?));
                metrics.clear();
            }
            ("BENCH", Some("end")) => {
                ended = true;
                break;
            }
            ("BENCH", _) => {
                let name = field("metric").ok_or_else(|| malformed("no metric= field"))?;
                let result = match field("status") {
                    Some("unavailable") => MetricResult::Unavailable {
                        reason: field("reason").unwrap_or("").to_owned(),
                    },
                    Some("failed") => MetricResult::Failed {
                        reason: field("reason").unwrap_or("").to_owned(),
                    },
                    Some(_) => return Err(malformed("unknown status")),
                    None => MetricResult::Measured(Samples {
                        count: number("n")?,
                        minimum: number("min")?,
                        median: number("median")?,
                        maximum: number("max")?,
                        distribution: Vec::new(),
                    }),
                };
                metrics.push(ProbeMetric {
                    name: name.to_owned(),
                    result,
                });
            }
            ("BENCH-DIST", _) => {
                let name = field("metric").ok_or_else(|| malformed("no metric= field"))?;
                let runs = field("runs").ok_or_else(|| malformed("no runs= field"))?;
                let Some(MetricResult::Measured(samples)) = metrics
                    .iter_mut()
                    .rev()
                    .find(|metric| metric.name == name)
                    .map(|metric| &mut metric.result)
                else {
                    return Err(malformed("distribution of a metric without samples"));
                };
                for run in runs.split(',') {
                    let (value, count) = run
                        .split_once('x')
                        .and_then(|(value, count)| Some((value.parse().ok()?, count.parse().ok()?)))
                        .ok_or_else(|| malformed("a run is not <value>x<count>"))?;
                    samples.distribution.push(Run { value, count });
                }
            }
            _ => {}
        }
    }
    let (format, samples, counter_frequency) = header.ok_or(ProbeOutputError::NoHeader)?;
    if !ended {
        return Err(ProbeOutputError::NoEnd);
    }
    for metric in &metrics {
        if let MetricResult::Measured(samples) = &metric.result
            && !distribution_matches(samples)
        {
            return Err(ProbeOutputError::InconsistentDistribution {
                metric: metric.name.clone(),
            });
        }
    }
    Ok(ProbeRun {
        format,
        samples,
        counter_frequency,
        metrics,
    })
}

/// Whether the distribution adds up to the summary: counts sum to `count`, values ascend and
/// span exactly `minimum..=maximum`, and the median is one of them.
pub fn distribution_matches(samples: &Samples) -> bool {
    let total: u64 = samples.distribution.iter().map(|run| run.count).sum();
    let ascending = samples
        .distribution
        .windows(2)
        .all(|pair| pair[0].value < pair[1].value);
    total == samples.count
        && ascending
        && samples.distribution.first().map(|run| run.value) == Some(samples.minimum)
        && samples.distribution.last().map(|run| run.value) == Some(samples.maximum)
        && samples
            .distribution
            .iter()
            .any(|run| run.value == samples.median)
}

/// The part of `line` from its `BENCH` token on, if it has one.
fn bench_part(line: &str) -> Option<&str> {
    let start = line.find("BENCH")?;
    let part = &line[start..];
    let token = part.split_whitespace().next()?;
    matches!(token, "BENCH" | "BENCH-DIST").then_some(part)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BULKHEAD: &str = "\
[hv] Bulkhead hypervisor on qemu-virt: 1 partitions, 4 cores
[probe] BENCH probe format=1 samples=3 counter_frequency=1000000000\r
[probe] BENCH metric=counter_read unit=ticks n=3 min=2 median=2 max=2
[probe] BENCH-DIST metric=counter_read runs=2x3
[probe] BENCH metric=hypercall_smccc_version unit=ticks n=3 min=339 median=339 max=400
[probe] BENCH-DIST metric=hypercall_smccc_version runs=339x2
[probe] BENCH-DIST metric=hypercall_smccc_version runs=400x1
[probe] BENCH metric=doorbell_round_trip status=unavailable reason=no-doorbell
[probe] BENCH end
[hv] probe: powered off (PSCI SYSTEM_OFF)
";

    #[test]
    fn reads_metrics_behind_any_console_prefix() {
        let run = parse(BULKHEAD).expect("well-formed");
        assert_eq!((run.format, run.samples), (1, 3));
        assert_eq!(run.counter_frequency, 1_000_000_000);
        assert_eq!(run.metrics.len(), 3);
        assert_eq!(
            run.metric("hypercall_smccc_version"),
            Some(&MetricResult::Measured(Samples {
                count: 3,
                minimum: 339,
                median: 339,
                maximum: 400,
                distribution: vec![
                    Run {
                        value: 339,
                        count: 2
                    },
                    Run {
                        value: 400,
                        count: 1
                    }
                ],
            }))
        );
        assert_eq!(
            run.metric("doorbell_round_trip"),
            Some(&MetricResult::Unavailable {
                reason: "no-doorbell".to_owned()
            })
        );
        let xen = BULKHEAD.replace("[probe] ", "(XEN) DOM1: ");
        assert_eq!(parse(&xen), Ok(run));
    }

    #[test]
    fn a_run_cut_short_is_an_error() {
        let cut: String = BULKHEAD
            .lines()
            .filter(|line| !line.ends_with("BENCH end"))
            .map(|line| format!("{line}\n"))
            .collect();
        assert_eq!(parse(&cut), Err(ProbeOutputError::NoEnd));
        assert_eq!(parse("[hv] nothing\n"), Err(ProbeOutputError::NoHeader));
    }

    #[test]
    fn distributions_must_add_up() {
        let wrong = BULKHEAD.replace("runs=2x3", "runs=2x2");
        assert_eq!(
            parse(&wrong),
            Err(ProbeOutputError::InconsistentDistribution {
                metric: "counter_read".to_owned()
            })
        );
    }

    #[test]
    fn other_formats_and_garbage_are_refused() {
        let future = BULKHEAD.replace("format=1", "format=2");
        assert_eq!(parse(&future), Err(ProbeOutputError::UnsupportedFormat(2)));
        let garbage = BULKHEAD.replace("median=339", "median=x");
        assert!(matches!(
            parse(&garbage),
            Err(ProbeOutputError::Malformed { .. })
        ));
    }

    #[test]
    fn end_and_metric_lines_are_recognised_for_progress() {
        assert!(is_end_line("(XEN) DOM1: BENCH end\r"));
        assert!(!is_end_line("BENCHMARK end"));
        assert_eq!(
            metric_of_line("[probe] BENCH metric=mmio_read_uart_fr unit=ticks"),
            Some("mmio_read_uart_fr")
        );
        assert_eq!(metric_of_line("[probe] BENCH-DIST metric=x runs=1x1"), None);
    }
}
