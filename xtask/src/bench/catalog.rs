//! What the bench reports: every metric, how its samples become a cost, and Bulkhead's target
//! for it (issue 6, "Targets").
//!
//! One table drives the parser's expectations, the report's rows, the verdicts and the plot,
//! so adding a metric to the probe means adding one entry here.

/// How a metric's raw samples turn into the cost the report shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetricKind {
    /// Counter ticks around one operation: the measurement frame ([`FRAME_METRIC`]) is
    /// subtracted, leaving the operation's own cost.
    Operation,
    /// Ticks from an event (a timer deadline) to the first instruction of the code that
    /// reacts; no frame to subtract.
    Latency,
    /// The physical count since machine reset at some point of the probe's boot; one sample.
    SinceReset,
}

/// Where a metric's numbers come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// A `BENCH metric=<name>` line of the probe.
    Probe,
    /// Booting the Linux demo to userspace (`bench::linux`), in full runs only: a quick run
    /// and the Xen column leave the row unavailable.
    LinuxBoot,
    /// Nothing can measure it yet; the row is reported with this reason.
    NotYetMeasurable(&'static str),
}

/// One row of the report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MetricDefinition {
    /// The probe's metric name (also the row's key in `report.json`).
    pub name: &'static str,
    /// What the row is called in the table and the plot.
    pub title: &'static str,
    /// How samples become a cost.
    pub kind: MetricKind,
    /// Where the numbers come from.
    pub source: Source,
    /// Bulkhead's target for the median cost, in instructions.
    pub target: Option<u64>,
    /// The cost measured for Xen 4.17 dom0less when the issue was written (instructions).
    pub xen_reference: Option<(u64, u64)>,
}

/// The probe's measurement-frame metric, subtracted from every [`MetricKind::Operation`].
pub const FRAME_METRIC: &str = "counter_read";

/// Every row, in report order. The frame metric is not a row: it is folded into the others.
pub const METRICS: &[MetricDefinition] = &[
    MetricDefinition {
        name: "hypercall_smccc_version",
        title: "hypercall round trip (SMCCC_VERSION)",
        kind: MetricKind::Operation,
        source: Source::Probe,
        target: Some(100),
        xen_reference: Some((370, 460)),
    },
    MetricDefinition {
        name: "hypercall_unknown_function",
        title: "hypercall round trip (unknown function)",
        kind: MetricKind::Operation,
        source: Source::Probe,
        target: Some(100),
        xen_reference: Some((370, 460)),
    },
    MetricDefinition {
        name: "mmio_read_gicd_typer",
        title: "emulated MMIO read (GICD_TYPER)",
        kind: MetricKind::Operation,
        source: Source::Probe,
        target: Some(150),
        xen_reference: Some((600, 630)),
    },
    MetricDefinition {
        name: "mmio_read_uart_fr",
        title: "emulated MMIO read (UART FR)",
        kind: MetricKind::Operation,
        source: Source::Probe,
        target: Some(150),
        xen_reference: Some((600, 630)),
    },
    MetricDefinition {
        name: "timer_interrupt_spinning",
        title: "timer IRQ latency, vCPU spinning",
        kind: MetricKind::Latency,
        source: Source::Probe,
        target: Some(250),
        xen_reference: Some((900, 1100)),
    },
    MetricDefinition {
        name: "timer_interrupt_wait_for_interrupt",
        title: "timer IRQ latency, vCPU in WFI",
        kind: MetricKind::Latency,
        source: Source::Probe,
        target: Some(400),
        xen_reference: Some((4300, 4600)),
    },
    MetricDefinition {
        name: "doorbell_round_trip",
        title: "inter-partition doorbell round trip",
        kind: MetricKind::Operation,
        source: Source::Probe,
        target: None,
        xen_reference: None,
    },
    MetricDefinition {
        name: "entry_first_instruction",
        title: "reset → guest's first instruction",
        kind: MetricKind::SinceReset,
        source: Source::Probe,
        target: Some(150_000),
        xen_reference: Some((30_000_000, 30_000_000)),
    },
    MetricDefinition {
        name: "entry_main",
        title: "reset → guest's main (runtime booted)",
        kind: MetricKind::SinceReset,
        source: Source::Probe,
        target: None,
        xen_reference: None,
    },
    MetricDefinition {
        name: "linux_time_to_userspace",
        title: "reset → Linux userspace (floor: direct boot)",
        kind: MetricKind::SinceReset,
        source: Source::LinuxBoot,
        target: None,
        xen_reference: None,
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    fn definition(name: &str) -> Option<&'static MetricDefinition> {
        METRICS.iter().find(|metric| metric.name == name)
    }

    #[test]
    fn metric_names_are_unique_and_the_frame_is_not_a_row() {
        for (index, metric) in METRICS.iter().enumerate() {
            assert!(
                METRICS[index + 1..]
                    .iter()
                    .all(|other| other.name != metric.name),
                "{} twice",
                metric.name
            );
        }
        assert!(definition(FRAME_METRIC).is_none());
        assert_eq!(
            definition("timer_interrupt_spinning").map(|metric| metric.target),
            Some(Some(250))
        );
    }
}
