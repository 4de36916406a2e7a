//! `probe`: measures, from inside a partition, what the hypervisor under it costs.
//!
//! The same binary runs under Bulkhead, under Xen (as a dom0less domain) and on bare QEMU
//! behind a do-nothing EL2 stub (`probe-floor`, the architectural floor). It learns its UART,
//! GIC, timer interrupt and PSCI conduit from the device tree in `x0`, so nothing in it is
//! specific to one hypervisor. For each metric it takes N samples and prints one summary line
//! and its distribution (format: [`report`]); `cargo xtask bench` boots it three ways and
//! compares. Under QEMU's deterministic mode (`-icount shift=0,sleep=off` with
//! `-cpu cortex-a72,cntfrq=1000000000`) one counter tick is one executed instruction.
//!
//! Metrics, in output order (all in counter ticks):
//! - `counter_read`: the measurement frame alone, included once in every sample below;
//! - `hypercall_smccc_version`, `hypercall_unknown_function`: `hvc #0` round trips;
//! - `mmio_read_gicd_typer`, `mmio_read_uart_fr`: one load from the (virtual) GIC
//!   distributor's `GICD_TYPER` and the UART's flag register;
//! - `timer_interrupt_spinning`, `timer_interrupt_wait_for_interrupt`: virtual timer deadline
//!   to the IRQ handler's first instruction ([`timer_latency`]);
//! - `doorbell_round_trip`: ring the first channel's doorbell to a peer partition running
//!   this image with `role=doorbell-echo`, until the peer's answering interrupt reaches the
//!   handler ([`doorbell`]); unavailable (`no-channel`) when the device tree has no channel
//!   with a doorbell (bare QEMU, Xen, the bench's single-partition system);
//! - `entry_first_instruction`, `entry_main`: the physical count (from machine reset) at the
//!   probe's first instruction ([`entry`]) and when `main` starts, one sample each.
//!
//! Bootargs: `samples=<N>` (default 101, at most 1001); `only=<metric>` measures just that
//! metric (the frame `counter_read` is always measured); `role=doorbell-echo` makes this
//! partition the doorbell peer instead of measuring anything, `role=spin` a load that
//! computes forever without trapping; `start=<count>` waits (in WFI, for a virtual-timer
//! deadline) until the count since machine reset reaches `<count>` before measuring, and says
//! so on a `probe: measuring from count <n>` line, so that the samples fall where a neighbour
//! is doing something known (the bench's "beside Linux under load" case).
#![cfg_attr(not(test), no_std)]
#![cfg_attr(not(test), no_main)]
#![forbid(unsafe_op_in_unsafe_fn)]

// The output format is portable and tested on the host
// (`cargo test -p probe --target x86_64-unknown-linux-gnu`); the rest is aarch64 code.
mod report;

#[cfg(target_arch = "aarch64")]
#[macro_use]
mod vector_table;

#[cfg(target_arch = "aarch64")]
mod doorbell;
#[cfg(target_arch = "aarch64")]
mod entry;
#[cfg(target_arch = "aarch64")]
mod measure;
#[cfg(target_arch = "aarch64")]
mod output;
#[cfg(target_arch = "aarch64")]
mod timer_latency;

#[cfg(target_arch = "aarch64")]
mod run {
    use core::fmt::{self, Write};

    use aarch64_cpu::registers::{CNTFRQ_EL0, Readable};
    use guest_rt::{BootInfo, gic, psci};
    use spin::Mutex;

    use crate::report::{self, Absence};
    use crate::timer_latency::{ProbeVectors, Waiting};
    use crate::{doorbell, entry, measure, output};

    guest_rt::entry!(main);

    /// Samples per metric when the bootargs do not say.
    pub(crate) const DEFAULT_SAMPLES: usize = 101;
    /// Most samples per metric: the size of the sample buffer.
    pub(crate) const MAX_SAMPLES: usize = 1001;

    /// `GICD_TYPER`: read-only, no side effects (GICv3 spec, GICD_TYPER).
    const GICD_TYPER: usize = 0x0004;
    /// PL011/SBSA `UARTFR`: read-only, no side effects.
    const UARTFR: usize = 0x0018;
    /// Ticks between setting a timer deadline and reaching it: long enough for any
    /// hypervisor here to be back in the guest and waiting before the deadline passes.
    const TIMER_LEAD: u64 = 20_000;
    /// Priority of the timer interrupt; nothing else is enabled.
    const TIMER_PRIORITY: u8 = 0x80;

    /// The samples of the metric being measured.
    static SAMPLES: Mutex<[u64; MAX_SAMPLES]> = Mutex::new([0; MAX_SAMPLES]);

    fn main(boot: &'static BootInfo) -> ! {
        let main_count = measure::physical_count();
        let first_instruction_count = entry::first_instruction_count();
        output::init(boot);
        match boot.bootarg("role") {
            Some("doorbell-echo") => echo(boot),
            Some("spin") => spin(),
            _ => {}
        }
        if let Some(start) = boot.bootarg("start").and_then(|value| value.parse::<u64>().ok()) {
            wait_until(boot, start);
        }
        let only = boot.bootarg("only");
        let wanted = |metric: &str| only.is_none_or(|name| name == metric);
        let samples = boot
            .bootarg("samples")
            .and_then(|value| value.parse().ok())
            .unwrap_or(DEFAULT_SAMPLES)
            .clamp(1, MAX_SAMPLES);
        let mut out = output::Lines;
        let mut all_samples = SAMPLES.lock();
        let buffer = &mut all_samples[..samples];
        written(report::write_header(&mut out, samples, CNTFRQ_EL0.get()));

        record(&mut out, "counter_read", buffer, || {
            Ok(measure::counter_read())
        });
        if wanted("hypercall_smccc_version") {
            record(&mut out, "hypercall_smccc_version", buffer, || {
                Ok(measure::hypercall(measure::SMCCC_VERSION).0)
            });
        }
        if wanted("hypercall_unknown_function") {
            record(&mut out, "hypercall_unknown_function", buffer, || {
                Ok(measure::hypercall(measure::UNKNOWN_FUNCTION).0)
            });
        }
        let distributor = boot.gic.map(|gic| gic.distributor + GICD_TYPER);
        if wanted("mmio_read_gicd_typer") {
            record(&mut out, "mmio_read_gicd_typer", buffer, || {
                let address = distributor.ok_or(Absence::Unavailable("no-gicv3"))?;
                // SAFETY: GICD_TYPER of the distributor the device tree names: aligned,
                // read-only, mapped as Device memory by guest-rt's identity map.
                Ok(unsafe { measure::mmio_read(address) }.0)
            });
        }
        let flag_register = output::uart_base(boot).map(|base| base + UARTFR);
        if wanted("mmio_read_uart_fr") {
            record(&mut out, "mmio_read_uart_fr", buffer, || {
                let address = flag_register.ok_or(Absence::Unavailable("no-uart"))?;
                // SAFETY: UARTFR of the UART the device tree names: aligned, read-only,
                // mapped as Device memory by guest-rt's identity map.
                Ok(unsafe { measure::mmio_read(address) }.0)
            });
        }
        timer_metrics(&mut out, boot, buffer, &wanted);
        if wanted("doorbell_round_trip") {
            doorbell_metric(&mut out, boot, buffer);
        }
        if wanted("entry_first_instruction") {
            record(
                &mut out,
                "entry_first_instruction",
                &mut buffer[..1],
                || Ok(first_instruction_count),
            );
        }
        if wanted("entry_main") {
            record(&mut out, "entry_main", &mut buffer[..1], || Ok(main_count));
        }
        written(report::write_end(&mut out));
        psci::system_off()
    }

    /// Fills `buffer` with one sample per call of `take` and writes the metric's lines, or
    /// why it has none.
    fn record(
        out: &mut impl Write,
        metric: &str,
        buffer: &mut [u64],
        mut take: impl FnMut() -> Result<u64, Absence>,
    ) {
        let mut outcome = Ok(());
        for slot in buffer.iter_mut() {
            match take() {
                Ok(sample) => *slot = sample,
                Err(absence) => {
                    outcome = Err(absence);
                    break;
                }
            }
        }
        written(match outcome {
            Ok(()) => {
                buffer.sort_unstable();
                report::write_metric(out, metric, buffer)
            }
            Err(absence) => report::write_absence(out, metric, absence),
        });
    }

    /// Takes the outcome of writing a line. Output is best effort: a line the console cannot
    /// take has nowhere else to be reported, and the host notices it missing.
    fn written(outcome: fmt::Result) {
        match outcome {
            Ok(()) | Err(fmt::Error) => {}
        }
    }

    /// Waits until the counter reaches `start`, then prints where measuring begins. It waits
    /// in WFI for a virtual-timer deadline at `start` (the measurement's own routine with
    /// the whole wait as its lead), not by spinning: under QEMU's icount round robin a
    /// spinning vCPU takes long turns, and a Linux beside it made no visible progress in
    /// 2 G instructions of a spinning wait. Without a timer interrupt it spins.
    fn wait_until(boot: &BootInfo, start: u64) {
        let now = measure::physical_count();
        if start > now {
            let enabled = match (boot.virtual_timer_intid, gic::get()) {
                (Some(intid), Some(gic)) => gic.enable_interrupt(intid, TIMER_PRIORITY).is_ok(),
                _ => false,
            };
            if enabled {
                let vectors = ProbeVectors::install(cpu_interface(boot));
                // One deadline; an early wake-up by another interrupt is impossible (nothing
                // else is enabled), and a late one only starts the samples later.
                // The wait's own latency is no sample: discarded.
                let _wait: crate::timer_latency::Sample = vectors.measure(Waiting::WaitForInterrupt, start - now);
                drop(vectors);
            }
            // BOUND: the counter advances by at least one per loop iteration (one
            // instruction is one tick under icount; the counter never stops on hardware).
            while measure::physical_count() < start {
                core::hint::spin_loop();
            }
        }
        let mut out = output::Lines;
        written(writeln!(out, "probe: measuring from count {}", measure::physical_count()));
    }

    /// The reference load (`role=spin`): computes forever without trapping, so that a
    /// neighbour measured under icount shares the emulator's cores exactly as it does beside
    /// a partition that traps all the time (the attacker); what differs between the two is
    /// the hypervisor's doing.
    fn spin() -> ! {
        let mut out = output::Lines;
        written(writeln!(out, "spin: computing without trapping"));
        let mut state: u64 = 1;
        loop {
            state = core::hint::black_box(state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1));
        }
    }

    /// The doorbell peer (`role=doorbell-echo`): answers every ring of the first channel's
    /// doorbell, forever; powers off when there is nothing to answer.
    fn echo(boot: &BootInfo) -> ! {
        let mut out = output::Lines;
        let Some(bell) = doorbell::first_bell(boot) else {
            written(writeln!(out, "doorbell echo: no channel with a doorbell"));
            psci::system_off()
        };
        if doorbell::enable(&bell).is_err() {
            written(writeln!(
                out,
                "doorbell echo: its interrupt cannot be enabled"
            ));
            psci::system_off()
        }
        written(writeln!(
            out,
            "doorbell echo: answering INTID {}",
            bell.doorbell.intid
        ));
        doorbell::echo(&bell, cpu_interface(boot))
    }

    /// The GICv2 CPU interface frame the device tree names; `None` on a GICv3, whose CPU
    /// interface is the `ICC_*` system registers.
    fn cpu_interface(boot: &BootInfo) -> Option<usize> {
        boot.gic.and_then(|gic| gic.cpu_interface)
    }

    /// Round trips to the doorbell peer ([`doorbell`]).
    fn doorbell_metric(out: &mut impl Write, boot: &BootInfo, buffer: &mut [u64]) {
        let ready_bell = doorbell::first_bell(boot)
            .ok_or(Absence::Unavailable("no-channel"))
            .and_then(|bell| {
                doorbell::enable(&bell)
                    .map(|()| bell)
                    .map_err(|()| Absence::Failed("doorbell-interrupt-not-enabled"))
            })
            .and_then(|bell| {
                if doorbell::wait_until_ready(&bell) {
                    Ok(bell)
                } else {
                    Err(Absence::Failed("peer-not-ready"))
                }
            });
        let vectors = ProbeVectors::install(cpu_interface(boot));
        record(out, "doorbell_round_trip", buffer, || {
            let bell = ready_bell?;
            // SAFETY: the doorbell register the device tree names for this channel end.
            let sample = unsafe { vectors.measure_doorbell(bell.doorbell.register) };
            if sample.intid == bell.doorbell.intid {
                Ok(sample.latency)
            } else {
                Err(Absence::Failed("other-interrupt-taken"))
            }
        });
        drop(vectors);
    }

    fn timer_metrics(
        out: &mut impl Write,
        boot: &BootInfo,
        buffer: &mut [u64],
        wanted: &impl Fn(&str) -> bool,
    ) {
        let metrics = [
            ("timer_interrupt_spinning", Waiting::Spinning),
            (
                "timer_interrupt_wait_for_interrupt",
                Waiting::WaitForInterrupt,
            ),
        ];
        let enabled = match (boot.virtual_timer_intid, gic::get()) {
            (Some(intid), Some(gic)) => gic
                .enable_interrupt(intid, TIMER_PRIORITY)
                .map(|()| intid)
                .map_err(|_| Absence::Failed("timer-interrupt-not-enabled")),
            (None, _) => Err(Absence::Unavailable("no-timer-interrupt")),
            (_, None) => Err(Absence::Unavailable("no-gic")),
        };
        let vectors = ProbeVectors::install(cpu_interface(boot));
        for (metric, waiting) in metrics.into_iter().filter(|(metric, _)| wanted(metric)) {
            record(out, metric, buffer, || {
                let intid = enabled?;
                let sample = vectors.measure(waiting, TIMER_LEAD);
                if sample.intid == intid {
                    Ok(sample.latency)
                } else {
                    Err(Absence::Failed("other-interrupt-taken"))
                }
            });
        }
        drop(vectors);
    }
}
