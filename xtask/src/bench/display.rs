//! The display rows: what composing a frame costs at EL2 and how late the critical layer's
//! presents reach the scan-out buffer, from `partitions/display-demo.toml` booted in the
//! deterministic mode.
//!
//! The demo's two painters present their whole layer every 16 ms and sleep in WFI in
//! between, and its `statistics_every` makes the compose core print one line per window of
//! frames (`hypervisor/image/src/display/mod.rs`, `report_statistics`). The bench waits for
//! the second window: the first holds frame 0, which composes the whole screen once, and the
//! partitions' boot.
//!
//! Under `-icount shift=0` the counter advances with every core's instructions, so a compose
//! time includes whatever another vCPU executed meanwhile; with the painters asleep between
//! presents that is at most a present trap, and the minimum is composition alone. The
//! latency is counted from a critical present to the end of the composition that shows it:
//! up to one frame period of waiting for the frame tick, plus composition.

use std::fmt::Write as _;
use std::fs;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::paths::Repository;
use crate::pipeline::{BuildRequest, Pipeline};
use crate::progress::Progress;
use crate::toolchain::BareMetalCargo;

use super::bulkhead_qemu_run;
use super::machine::{self, COUNTER_FREQUENCY};
use super::report::thousands;

/// The system the display rows boot.
pub const DISPLAY_MANIFEST: &str = "partitions/display-demo.toml";
/// What starts a statistics line (after the console's `[hv] `).
const LINE_START: &str = "display: frames ";
/// Bound for the run (a few seconds of frames; the painters sleep between presents).
const RUN_LIMIT: Duration = Duration::from_secs(600);

/// Minimum, median and maximum.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Spread {
    /// Smallest.
    pub minimum: u64,
    /// Middle.
    pub median: u64,
    /// Largest.
    pub maximum: u64,
}

/// One statistics line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    /// The window's first frame.
    pub first_frame: u64,
    /// Frames in it.
    pub frames: u64,
    /// Counter ticks (instructions) from planning a frame to the end of its composition.
    pub compose_ticks: Spread,
    /// Pixel operations the frames cost.
    pub pixel_operations: Spread,
    /// Critical present to composed, in ticks; `None` when no critical layer presented.
    pub critical_latency: Option<Spread>,
    /// Frames that deferred non-critical work.
    pub deferred: u64,
}

impl Window {
    /// Instructions per pixel operation, from the fastest frame (composition alone).
    pub fn ticks_per_pixel_operation(&self) -> Option<f64> {
        (self.pixel_operations.minimum > 0)
            .then(|| self.compose_ticks.minimum as f64 / self.pixel_operations.minimum as f64)
    }
}

/// The display measurement of one bench run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DisplayMeasurement {
    /// The QEMU command line.
    pub command_line: String,
    /// The steady-state window, or why there is none.
    pub outcome: Result<Window, String>,
}

/// Builds and boots the display demo; failures are reported in the outcome, so the rest of
/// the bench stands.
pub fn measure(repository: &Repository, cargo: &BareMetalCargo, directory: &Path, progress: &Progress) -> DisplayMeasurement {
    let failed = |command_line: String, reason: String| DisplayMeasurement {
        command_line,
        outcome: Err(reason),
    };
    let request = BuildRequest {
        manifest: repository.root().join(DISPLAY_MANIFEST),
        board: None,
    };
    let built = match Pipeline::new(repository, cargo.clone(), *progress).build(&request) {
        Ok(built) => built,
        Err(error) => return failed(String::new(), format!("{DISPLAY_MANIFEST} could not be built: {error:#}")),
    };
    let board = machine::deterministic_board(&built.qemu);
    let run = bulkhead_qemu_run(&board, built.hypervisor_elf(), directory.join("display-hv-log.bin"));
    let command_line = run.command_line();
    let step = progress.step("measuring the display mediator (two painters, 60 Hz)");
    let steady = |line: &str| parse_line(line).is_some_and(|window| window.first_frame > 0);
    let transcript = match machine::capture_until(&mut run.command(), RUN_LIMIT, &step, &steady) {
        Ok(transcript) => transcript,
        Err(error) => {
            step.fail("");
            let reason = match error {
                machine::CaptureError::Spawn { command, source } => format!("{command} did not start: {source}"),
                machine::CaptureError::Timeout { limit, transcript } => {
                    let _ = fs::write(directory.join("display.log"), format!("{}{}", transcript.console, transcript.diagnostics));
                    format!("no steady-state statistics line within {} s (display.log)", limit.as_secs())
                }
            };
            return failed(command_line, reason);
        }
    };
    let _ = fs::write(directory.join("display.log"), format!("{}{}", transcript.console, transcript.diagnostics));
    match transcript.console.lines().filter_map(parse_line).find(|window| window.first_frame > 0) {
        Some(window) => {
            step.succeed(&format!("compose median {} instructions", thousands(window.compose_ticks.median)));
            DisplayMeasurement {
                command_line,
                outcome: Ok(window),
            }
        }
        None => {
            step.fail("no steady-state statistics line");
            failed(command_line, "QEMU stopped before the second statistics window".to_owned())
        }
    }
}

/// Reads `display: frames F+N: compose a/b/c ticks, d/e/f pixel ops, critical latency g/h/i
/// ticks, deferred D` (latency `-` when none) anywhere in `line`.
pub fn parse_line(line: &str) -> Option<Window> {
    let (_, rest) = line.split_once(LINE_START)?;
    let (first_frame, rest) = rest.split_once('+')?;
    let (frames, rest) = rest.split_once(": compose ")?;
    let (compose, rest) = rest.split_once(" ticks, ")?;
    let (operations, rest) = rest.split_once(" pixel ops, critical latency ")?;
    let (latency, rest) = rest.split_once(" ticks, deferred ")?;
    let latency = match latency {
        "-" => None,
        text => Some(spread(text)?),
    };
    Some(Window {
        first_frame: first_frame.parse().ok()?,
        frames: frames.parse().ok()?,
        compose_ticks: spread(compose)?,
        pixel_operations: spread(operations)?,
        critical_latency: latency,
        deferred: rest.trim().parse().ok()?,
    })
}

/// `min/median/max`.
fn spread(text: &str) -> Option<Spread> {
    let mut numbers = text.split('/').map(|number| number.parse::<u64>().ok());
    let spread = Spread {
        minimum: numbers.next()??,
        median: numbers.next()??,
        maximum: numbers.next()??,
    };
    numbers.next().is_none().then_some(spread)
}

/// The report's display section.
pub fn markdown(measurement: &DisplayMeasurement) -> String {
    let mut text = String::new();
    let _ = writeln!(
        text,
        "\n## Display mediator\n\n`{DISPLAY_MANIFEST}` (640×480, two painters presenting their whole 320×240 layer at \
         60 Hz, asleep in between), instructions (one counter tick each); min / median / max over one window of frames.\n"
    );
    let window = match &measurement.outcome {
        Ok(window) => window,
        Err(reason) => {
            let _ = writeln!(text, "Not measured: {reason}.");
            return text;
        }
    };
    let three = |spread: &Spread| {
        format!(
            "{} / {} / {}",
            thousands(spread.minimum),
            thousands(spread.median),
            thousands(spread.maximum)
        )
    };
    let _ = writeln!(text, "| frames {}–{} | min / median / max |", window.first_frame, window.first_frame + window.frames - 1);
    let _ = writeln!(text, "|---|---:|");
    let _ = writeln!(text, "| composition per frame (instructions at EL2) | {} |", three(&window.compose_ticks));
    let _ = writeln!(text, "| pixel operations per frame | {} |", three(&window.pixel_operations));
    let _ = writeln!(
        text,
        "| critical layer: present → composed (instructions) | {} |",
        window.critical_latency.as_ref().map_or_else(|| "no critical present".to_owned(), three)
    );
    let _ = writeln!(text, "| frames that deferred work | {} |", window.deferred);
    if let Some(per_operation) = window.ticks_per_pixel_operation() {
        // One tick is one nanosecond of QEMU's clock: pixel operations per µs at that rate.
        let rate = COUNTER_FREQUENCY as f64 / 1_000_000.0 / per_operation;
        let _ = writeln!(
            text,
            "\n{per_operation:.1} instructions per pixel operation: at one instruction per nanosecond that is \
             {rate:.0} pixel operations per µs, against the compiler's default `compose_rate` of 40 (an estimate; \
             a board states its measured rate). The latency's upper bound is one frame period (16 667 000 ticks) \
             plus composition: a present waits for the compose core's frame tick."
        );
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_statistics_line_is_read_with_and_without_a_critical_latency() {
        let line = "[hv] display: frames 120+120: compose 901/950/2000 ticks, 230400/230400/230401 pixel ops, \
                    critical latency 10/20/30 ticks, deferred 0";
        let window = parse_line(line).expect("a statistics line");
        assert_eq!(window.first_frame, 120);
        assert_eq!(window.frames, 120);
        assert_eq!(window.compose_ticks, Spread { minimum: 901, median: 950, maximum: 2000 });
        assert_eq!(window.pixel_operations.maximum, 230_401);
        assert_eq!(window.critical_latency, Some(Spread { minimum: 10, median: 20, maximum: 30 }));
        assert_eq!(window.deferred, 0);
        let quiet = parse_line("display: frames 0+5: compose 1/2/3 ticks, 4/5/6 pixel ops, critical latency - ticks, deferred 2")
            .expect("no latency is a line too");
        assert_eq!(quiet.critical_latency, None);
        assert_eq!(quiet.deferred, 2);
    }

    #[test]
    fn malformed_lines_are_not_windows() {
        for line in [
            "display: frames 0+5: compose 1/2 ticks, 4/5/6 pixel ops, critical latency - ticks, deferred 2",
            "display: frames 0+5: compose 1/2/3/4 ticks, 4/5/6 pixel ops, critical latency - ticks, deferred 2",
            "display: frames x+5: compose 1/2/3 ticks, 4/5/6 pixel ops, critical latency - ticks, deferred 2",
            "display: ramfb shows the scan-out buffer",
        ] {
            assert_eq!(parse_line(line), None, "{line}");
        }
    }

    #[test]
    fn the_section_gives_the_measured_rate_or_the_reason() {
        let window = Window {
            first_frame: 120,
            frames: 120,
            compose_ticks: Spread { minimum: 2_304_000, median: 2_400_000, maximum: 2_500_000 },
            pixel_operations: Spread { minimum: 230_400, median: 230_400, maximum: 230_400 },
            critical_latency: Some(Spread { minimum: 1, median: 2, maximum: 3 }),
            deferred: 0,
        };
        let text = markdown(&DisplayMeasurement { command_line: String::new(), outcome: Ok(window) });
        assert!(text.contains("10.0 instructions per pixel operation"), "{text}");
        assert!(text.contains("100 pixel operations per µs"), "{text}");
        assert!(text.contains("| 2 304 000 / 2 400 000 / 2 500 000 |"), "{text}");
        let failed = markdown(&DisplayMeasurement { command_line: String::new(), outcome: Err("no line".to_owned()) });
        assert!(failed.contains("Not measured: no line."), "{failed}");
    }
}
