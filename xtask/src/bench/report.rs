//! The bench's result: `report.json` (schema-versioned, for tools), `report.md` (for people).
//!
//! Each row puts one metric side by side on every platform as a cost: for operations the
//! probe's measurement frame (`counter_read`) is subtracted, so a cell is what the operation
//! itself costs; latencies and boot counts are shown as measured. Bulkhead's median is
//! checked against its target and the ratio to Xen is given where both were measured.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use super::catalog::{self, FRAME_METRIC, MetricDefinition, MetricKind, Source};
use super::image_facts::{ImageSize, StaticMemory};
use super::lines_of_code::CrateLines;
use super::probe_output::{MetricResult, ProbeRun, Run};
use super::profile::TrapProfile;
use super::stage2_mix::PartitionMapping;

/// Version of the `report.json` layout; bump it on any change a reader would notice.
pub const SCHEMA_VERSION: u32 = 2;

/// Everything one `cargo xtask bench` run found.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// [`SCHEMA_VERSION`] of the writer.
    pub schema_version: u32,
    /// How the numbers were taken.
    pub settings: Settings,
    /// Each platform's raw probe output (or why there is none).
    pub platforms: Vec<PlatformResult>,
    /// One row per metric, costs side by side.
    pub rows: Vec<Row>,
    /// The EL2 image's size.
    pub image: ImageSize,
    /// The RAM the EL2 image occupies.
    pub static_memory: StaticMemory,
    /// Lines of code of the image's crates.
    pub lines_of_code: Vec<CrateLines>,
    /// Stage-2 mapping mix per partition.
    pub stage2: Vec<PartitionMapping>,
    /// With `--profile`: Bulkhead's measured traps broken down by function.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub profile: Vec<TrapProfile>,
    /// Things a reader must know to interpret the numbers.
    pub notes: Vec<String>,
    /// The real-time partition's timer beside Linux (full runs; schema 2).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rt_neighbours: Vec<super::rt_neighbours::NeighbourCase>,
    /// The display mediator's composition cost and critical latency (full runs on qemu-virt).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display: Option<super::display::DisplayMeasurement>,
}

/// How the numbers were taken.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    /// Samples per metric.
    pub samples: u64,
    /// A `--quick` run (one sample, no Xen): checks the bench works, measures little.
    pub quick: bool,
    /// What one unit is.
    pub unit: String,
    /// QEMU `-M`.
    pub qemu_machine: String,
    /// QEMU `-cpu`.
    pub qemu_cpu: String,
    /// QEMU `-smp`.
    pub qemu_smp: usize,
    /// QEMU `-m`.
    pub qemu_memory: String,
    /// The deterministic-mode arguments.
    pub qemu_arguments: Vec<String>,
}

/// A platform the probe runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Platform {
    /// Bare QEMU with the do-nothing EL2 stub: the architectural minimum.
    Floor,
    /// Bulkhead.
    Bulkhead,
    /// Xen 4.17 dom0less.
    Xen,
}

impl Platform {
    /// Column order.
    pub const ALL: [Platform; 3] = [Platform::Floor, Platform::Bulkhead, Platform::Xen];

    /// Column heading.
    pub fn heading(self) -> &'static str {
        match self {
            Self::Floor => "floor",
            Self::Bulkhead => "Bulkhead",
            Self::Xen => "Xen 4.17",
        }
    }
}

/// One platform's run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlatformResult {
    /// Which.
    pub platform: Platform,
    /// What exactly ran (versions, configuration).
    pub description: String,
    /// The run's outcome.
    pub outcome: PlatformOutcome,
}

/// Whether a platform was measured.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum PlatformOutcome {
    /// The probe ran to its end.
    Measured {
        /// The QEMU command line.
        command_line: String,
        /// Everything the probe printed, parsed.
        probe: ProbeRun,
    },
    /// The platform could not be run here.
    Unavailable {
        /// Exactly why.
        reason: String,
    },
}

/// One metric on every platform.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// The probe's metric name.
    pub metric: String,
    /// Human title.
    pub title: String,
    /// `operation`, `latency` or `since_reset`.
    pub kind: String,
    /// Cost per platform, in [`Platform::ALL`] order.
    pub costs: Vec<PlatformCost>,
    /// Bulkhead's target and how the median compares.
    pub target: Option<TargetCheck>,
    /// The Xen range measured when the targets were set (instructions).
    pub xen_reference: Option<[u64; 2]>,
    /// Xen's median cost divided by Bulkhead's.
    pub xen_over_bulkhead: Option<f64>,
    /// Bulkhead's median cost minus the floor's (negative when Bulkhead is cheaper, which
    /// happens for boot counts: the floor boots with QEMU's larger device tree).
    pub bulkhead_above_floor: Option<i64>,
}

/// One cell.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlatformCost {
    /// The column.
    pub platform: Platform,
    /// The value.
    pub cost: Cost,
}

/// A cell's value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Cost {
    /// Measured, frame already subtracted for operations.
    Measured {
        /// Samples.
        count: u64,
        /// Smallest cost.
        minimum: u64,
        /// Median cost.
        median: u64,
        /// Largest cost.
        maximum: u64,
        /// Every distinct cost with its count, ascending.
        distribution: Vec<Run>,
    },
    /// The platform lacks what the metric needs (or the platform did not run).
    Unavailable {
        /// Why.
        reason: String,
    },
    /// The measurement went wrong.
    Failed {
        /// Why.
        reason: String,
    },
}

impl Cost {
    /// The median, when measured.
    pub fn median(&self) -> Option<u64> {
        match self {
            Self::Measured { median, .. } => Some(*median),
            _ => None,
        }
    }
}

/// Bulkhead against its target.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetCheck {
    /// The most the median may cost.
    pub limit: u64,
    /// The verdict.
    pub verdict: Verdict,
    /// By how much the median exceeds the limit (misses only).
    pub over_by: Option<u64>,
}

/// Whether a target is met.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Median at or below the limit.
    Pass,
    /// Median above the limit.
    Miss,
    /// Bulkhead has no measurement for this metric.
    NotMeasured,
}

/// The rows for the platforms' results, in catalog order.
pub fn rows(platforms: &[PlatformResult]) -> Vec<Row> {
    catalog::METRICS
        .iter()
        .map(|definition| row(definition, platforms))
        .collect()
}

fn row(definition: &MetricDefinition, platforms: &[PlatformResult]) -> Row {
    let costs: Vec<PlatformCost> = Platform::ALL
        .iter()
        .filter_map(|&platform| {
            let result = platforms
                .iter()
                .find(|result| result.platform == platform)?;
            Some(PlatformCost {
                platform,
                cost: cost(definition, &result.outcome),
            })
        })
        .collect();
    let median_of = |platform| {
        costs
            .iter()
            .find(|cell| cell.platform == platform)
            .and_then(|cell| cell.cost.median())
    };
    let bulkhead = median_of(Platform::Bulkhead);
    let target = definition.target.map(|limit| match bulkhead {
        Some(median) if median <= limit => TargetCheck {
            limit,
            verdict: Verdict::Pass,
            over_by: None,
        },
        Some(median) => TargetCheck {
            limit,
            verdict: Verdict::Miss,
            over_by: Some(median - limit),
        },
        None => TargetCheck {
            limit,
            verdict: Verdict::NotMeasured,
            over_by: None,
        },
    });
    Row {
        metric: definition.name.to_owned(),
        title: definition.title.to_owned(),
        kind: match definition.kind {
            MetricKind::Operation => "operation",
            MetricKind::Latency => "latency",
            MetricKind::SinceReset => "since_reset",
        }
        .to_owned(),
        target,
        xen_reference: definition.xen_reference.map(|(low, high)| [low, high]),
        xen_over_bulkhead: match (median_of(Platform::Xen), bulkhead) {
            (Some(xen), Some(bulkhead)) if bulkhead > 0 => Some(xen as f64 / bulkhead as f64),
            _ => None,
        },
        bulkhead_above_floor: match (bulkhead, median_of(Platform::Floor)) {
            (Some(bulkhead), Some(floor)) => Some(
                i64::try_from(bulkhead).unwrap_or(i64::MAX)
                    - i64::try_from(floor).unwrap_or(i64::MAX),
            ),
            _ => None,
        },
        costs,
    }
}

/// The cost of `definition` in one platform's outcome.
fn cost(definition: &MetricDefinition, outcome: &PlatformOutcome) -> Cost {
    if let Source::NotYetMeasurable(reason) = definition.source {
        return Cost::Unavailable {
            reason: reason.to_owned(),
        };
    }
    let probe = match outcome {
        PlatformOutcome::Measured { probe, .. } => probe,
        PlatformOutcome::Unavailable { .. } => {
            return Cost::Unavailable {
                reason: "platform not measured".to_owned(),
            };
        }
    };
    match probe.metric(definition.name) {
        None if definition.source == Source::LinuxBoot => Cost::Unavailable {
            reason: "Linux not booted in this run (quick runs, the Xen column and other boards than \
                     qemu-virt do not)"
                .to_owned(),
        },
        None => Cost::Failed {
            reason: "the probe did not report it".to_owned(),
        },
        Some(MetricResult::Unavailable { reason }) => Cost::Unavailable {
            reason: reason.clone(),
        },
        Some(MetricResult::Failed { reason }) => Cost::Failed {
            reason: reason.clone(),
        },
        Some(MetricResult::Measured(samples)) => {
            let frame = match (definition.kind, probe.metric(FRAME_METRIC)) {
                (MetricKind::Operation, Some(MetricResult::Measured(frame))) => frame.minimum,
                _ => 0,
            };
            let net = |value: u64| value.saturating_sub(frame);
            let mut distribution: Vec<Run> = Vec::new();
            for run in &samples.distribution {
                match distribution.last_mut() {
                    Some(last) if last.value == net(run.value) => last.count += run.count,
                    _ => distribution.push(Run {
                        value: net(run.value),
                        count: run.count,
                    }),
                }
            }
            Cost::Measured {
                count: samples.count,
                minimum: net(samples.minimum),
                median: net(samples.median),
                maximum: net(samples.maximum),
                distribution,
            }
        }
    }
}

/// A cell of the Markdown table.
fn cell(cost: Option<&Cost>) -> String {
    match cost {
        Some(Cost::Measured {
            minimum,
            median,
            maximum,
            ..
        }) if minimum == maximum => thousands(*median),
        Some(Cost::Measured {
            minimum,
            median,
            maximum,
            ..
        }) => format!(
            "{} ({}–{})",
            thousands(*median),
            thousands(*minimum),
            thousands(*maximum)
        ),
        Some(Cost::Unavailable { reason }) => format!("n/a ({reason})"),
        Some(Cost::Failed { reason }) => format!("failed ({reason})"),
        None => "—".to_owned(),
    }
}

/// `1234567` as `1 234 567` (thin spaces would not survive every terminal).
pub fn thousands(value: u64) -> String {
    let digits = value.to_string();
    let mut text = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index) % 3 == 0 {
            text.push(' ');
        }
        text.push(digit);
    }
    text
}

fn bytes(value: u64) -> String {
    const MIB: u64 = 1 << 20;
    if value >= MIB {
        format!(
            "{} ({:.1} MiB)",
            thousands(value),
            value as f64 / MIB as f64
        )
    } else if value >= 1024 {
        format!("{} ({:.1} KiB)", thousands(value), value as f64 / 1024.0)
    } else {
        thousands(value)
    }
}

/// A signed difference with grouped digits.
fn signed_thousands(value: i64) -> String {
    if value < 0 {
        format!("−{}", thousands(value.unsigned_abs()))
    } else {
        thousands(value.unsigned_abs())
    }
}

impl Report {
    /// The platform result of `platform`, if it was part of the run.
    pub fn platform(&self, platform: Platform) -> Option<&PlatformResult> {
        self.platforms
            .iter()
            .find(|result| result.platform == platform)
    }

    /// The report as Markdown: settings, the side-by-side table, then the image facts.
    pub fn markdown(&self) -> String {
        let mut text = String::new();
        let settings = &self.settings;
        let _ = writeln!(text, "# Bulkhead benchmark\n");
        let _ = writeln!(
            text,
            "QEMU `{}`, `-cpu {}`, `-smp {}`, `-m {}`, `{}`: {}. {} sample(s) per metric{}; \
             cells show the median, with the range when samples differ. Operation costs \
             exclude the probe's measurement frame.\n",
            settings.qemu_machine,
            settings.qemu_cpu,
            settings.qemu_smp,
            settings.qemu_memory,
            settings.qemu_arguments.join(" "),
            settings.unit,
            settings.samples,
            if settings.quick { " (quick run)" } else { "" },
        );
        for platform in &self.platforms {
            let status = match &platform.outcome {
                PlatformOutcome::Measured { .. } => "measured".to_owned(),
                PlatformOutcome::Unavailable { reason } => format!("**unavailable**: {reason}"),
            };
            let _ = writeln!(
                text,
                "- **{}**: {} — {status}",
                platform.platform.heading(),
                platform.description
            );
        }
        let columns: Vec<Platform> = Platform::ALL
            .into_iter()
            .filter(|platform| self.platform(*platform).is_some())
            .collect();
        let with_xen = columns.contains(&Platform::Xen);
        let _ = write!(text, "\n| metric |");
        for platform in &columns {
            let _ = write!(text, " {} |", platform.heading());
        }
        if with_xen {
            let _ = write!(text, " Xen ÷ Bulkhead |");
        }
        let _ = writeln!(text, " Bulkhead − floor | Bulkhead target | verdict |");
        let _ = write!(text, "|---|");
        for _ in &columns {
            let _ = write!(text, "---:|");
        }
        if with_xen {
            let _ = write!(text, "---:|");
        }
        let _ = writeln!(text, "---:|---:|---|");
        for row in &self.rows {
            let _ = write!(text, "| {} |", row.title);
            for platform in &columns {
                let cost = row
                    .costs
                    .iter()
                    .find(|cell| cell.platform == *platform)
                    .map(|cell| &cell.cost);
                let _ = write!(text, " {} |", cell(cost));
            }
            if with_xen {
                let ratio = row
                    .xen_over_bulkhead
                    .map_or_else(|| "—".to_owned(), |ratio| format!("{ratio:.2}×"));
                let _ = write!(text, " {ratio} |");
            }
            let above = row
                .bulkhead_above_floor
                .map_or_else(|| "—".to_owned(), signed_thousands);
            let (limit, verdict) = match &row.target {
                None => ("—".to_owned(), "—".to_owned()),
                Some(check) => (
                    format!("≤ {}", thousands(check.limit)),
                    match (check.verdict, check.over_by) {
                        (Verdict::Pass, _) => "pass".to_owned(),
                        (Verdict::Miss, Some(over)) => format!(
                            "**miss** by {} ({:.1}× the target)",
                            thousands(over),
                            (check.limit + over) as f64 / check.limit as f64
                        ),
                        (Verdict::Miss, None) => "**miss**".to_owned(),
                        (Verdict::NotMeasured, _) => "not measured".to_owned(),
                    },
                ),
            };
            let _ = writeln!(text, " {above} | {limit} | {verdict} |");
        }

        let image = &self.image;
        let _ = writeln!(text, "\n## EL2 image\n");
        let _ = writeln!(text, "| section | bytes |\n|---|---:|");
        for (name, value) in [
            ("text", image.text),
            ("rodata (hypervisor)", image.rodata),
            (
                "rodata (embedded partition images and device trees)",
                image.embedded_partitions,
            ),
            ("data", image.data),
            ("bss", image.bss),
            ("stacks", image.stacks),
        ] {
            let _ = writeln!(text, "| {name} | {} |", bytes(value));
        }
        let memory = &self.static_memory;
        let _ = writeln!(text, "\n## Static RAM footprint\n");
        let _ = writeln!(text, "| part | bytes |\n|---|---:|");
        for (name, value) in [
            (
                "whole image in RAM (nothing is allocated at run time)",
                memory.total,
            ),
            (
                "translation tables (stage 2 and EL2)",
                memory.translation_tables,
            ),
            ("per-partition state", memory.partition_state),
            ("stacks", memory.stacks),
            ("other data and bss", memory.other_data),
        ] {
            let _ = writeln!(text, "| {name} | {} |", bytes(value));
        }
        if !memory.largest.is_empty() {
            let _ = writeln!(text, "\nLargest statics:\n");
            for symbol in &memory.largest {
                let _ = writeln!(
                    text,
                    "- `{}` ({}): {}",
                    symbol.name,
                    symbol.section,
                    bytes(symbol.size)
                );
            }
        }
        let _ = writeln!(text, "\n## Lines of code (non-blank, non-comment)\n");
        let _ = writeln!(
            text,
            "| crate | files | code | tests |\n|---|---:|---:|---:|"
        );
        for lines in &self.lines_of_code {
            let _ = writeln!(
                text,
                "| `{}` | {} | {} | {} |",
                lines.path,
                lines.files,
                thousands(lines.code),
                thousands(lines.tests)
            );
        }
        let _ = writeln!(
            text,
            "| **total** | {} | {} | {} |",
            self.lines_of_code
                .iter()
                .map(|lines| lines.files)
                .sum::<u64>(),
            thousands(self.lines_of_code.iter().map(|lines| lines.code).sum()),
            thousands(self.lines_of_code.iter().map(|lines| lines.tests).sum()),
        );
        let _ = writeln!(text, "\n## Stage-2 mapping mix\n");
        let _ = writeln!(
            text,
            "| partition | 1 GiB blocks | 2 MiB blocks | 4 KiB pages | tables |\n|---|---:|---:|---:|---:|"
        );
        for mapping in &self.stage2 {
            let _ = writeln!(
                text,
                "| {} | {} | {} | {} | {} |",
                mapping.partition,
                bytes(mapping.block_1gib),
                bytes(mapping.block_2mib),
                bytes(mapping.page_4kib),
                mapping.tables
            );
        }
        if !self.profile.is_empty() {
            let _ = writeln!(
                text,
                "\n## Where Bulkhead's instructions go\n\nThe median trap of each metric, \
                 instruction by instruction at EL2 (QEMU exec trace), by function in the order \
                 they ran.\n"
            );
            for trap in &self.profile {
                let title = self
                    .rows
                    .iter()
                    .find(|row| row.metric == trap.metric)
                    .map_or(trap.metric.as_str(), |row| row.title.as_str());
                let _ = writeln!(
                    text,
                    "**{title}**: {} instructions at EL2 ({} traps seen)\n",
                    thousands(trap.instructions),
                    trap.traps
                );
                let _ = writeln!(text, "| function | instructions |\n|---|---:|");
                for stage in &trap.stages {
                    let _ = writeln!(text, "| `{}` | {} |", stage.function, stage.instructions);
                }
                let _ = writeln!(text);
            }
        }
        if !self.rt_neighbours.is_empty() {
            text.push_str(&super::rt_neighbours::markdown(&self.rt_neighbours));
        }
        if let Some(display) = &self.display {
            text.push_str(&super::display::markdown(display));
        }
        if !self.notes.is_empty() {
            let _ = writeln!(text, "\n## Notes\n");
            for note in &self.notes {
                let _ = writeln!(text, "- {note}");
            }
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::probe_output::{ProbeMetric, Samples};

    fn measured(value: u64, count: u64) -> MetricResult {
        MetricResult::Measured(Samples {
            count,
            minimum: value,
            median: value,
            maximum: value,
            distribution: vec![Run { value, count }],
        })
    }

    fn platform(platform: Platform, metrics: &[(&str, MetricResult)]) -> PlatformResult {
        PlatformResult {
            platform,
            description: String::new(),
            outcome: PlatformOutcome::Measured {
                command_line: String::new(),
                probe: ProbeRun {
                    format: 1,
                    samples: 3,
                    counter_frequency: 1_000_000_000,
                    metrics: metrics
                        .iter()
                        .map(|(name, result)| ProbeMetric {
                            name: (*name).to_owned(),
                            result: result.clone(),
                        })
                        .collect(),
                },
            },
        }
    }

    #[test]
    fn operations_lose_the_frame_and_are_checked_against_the_target() {
        let platforms = [
            platform(
                Platform::Floor,
                &[
                    ("counter_read", measured(2, 3)),
                    ("hypercall_smccc_version", measured(4, 3)),
                ],
            ),
            platform(
                Platform::Bulkhead,
                &[
                    ("counter_read", measured(2, 3)),
                    ("hypercall_smccc_version", measured(339, 3)),
                ],
            ),
            platform(
                Platform::Xen,
                &[
                    ("counter_read", measured(2, 3)),
                    ("hypercall_smccc_version", measured(457, 3)),
                ],
            ),
        ];
        let rows = rows(&platforms);
        let hypercall = rows
            .iter()
            .find(|row| row.metric == "hypercall_smccc_version")
            .expect("a row per metric");
        let medians: Vec<_> = hypercall
            .costs
            .iter()
            .map(|cell| cell.cost.median())
            .collect();
        assert_eq!(medians, [Some(2), Some(337), Some(455)]);
        assert_eq!(
            hypercall.target,
            Some(TargetCheck {
                limit: 100,
                verdict: Verdict::Miss,
                over_by: Some(237)
            })
        );
        assert_eq!(hypercall.bulkhead_above_floor, Some(335));
        let ratio = hypercall.xen_over_bulkhead.expect("both measured");
        assert!((ratio - 455.0 / 337.0).abs() < 1e-9);
        let doorbell = rows
            .iter()
            .find(|row| row.metric == "doorbell_round_trip")
            .expect("a row per metric");
        assert!(matches!(doorbell.costs[1].cost, Cost::Failed { .. }));
    }

    #[test]
    fn latencies_are_kept_as_measured_and_unavailable_platforms_say_so() {
        let platforms = [
            platform(
                Platform::Bulkhead,
                &[
                    ("counter_read", measured(2, 3)),
                    ("timer_interrupt_spinning", measured(240, 3)),
                ],
            ),
            PlatformResult {
                platform: Platform::Xen,
                description: String::new(),
                outcome: PlatformOutcome::Unavailable {
                    reason: "no apt".to_owned(),
                },
            },
        ];
        let rows = rows(&platforms);
        let timer = rows
            .iter()
            .find(|row| row.metric == "timer_interrupt_spinning")
            .expect("a row per metric");
        assert_eq!(timer.costs[0].cost.median(), Some(240));
        assert_eq!(
            timer.target.as_ref().map(|check| check.verdict),
            Some(Verdict::Pass)
        );
        assert!(matches!(timer.costs[1].cost, Cost::Unavailable { .. }));
        let linux = rows
            .iter()
            .find(|row| row.metric == "linux_time_to_userspace")
            .expect("the Linux row is reserved");
        assert!(
            matches!(&linux.costs[0].cost, Cost::Unavailable { reason } if reason.contains("Linux"))
        );
    }

    #[test]
    fn large_numbers_are_grouped() {
        assert_eq!(thousands(7), "7");
        assert_eq!(thousands(1000), "1 000");
        assert_eq!(thousands(683_805_066), "683 805 066");
    }
}
