//! QEMU in deterministic mode, and collecting what the probe prints.
//!
//! `-icount shift=0,sleep=off` makes QEMU advance its virtual clock by one nanosecond per
//! executed instruction (on any core) and jump it over idle periods instead of sleeping;
//! with `-cpu …,cntfrq=1000000000` the generic timer counts nanoseconds. So one counter tick
//! is one instruction, and a run gives the same numbers on any host.
//!
//! Every platform of the bench is booted on the board's own QEMU machine (the same
//! `[qemu]` table the hypervisor runs on), changed only by these settings, so the columns
//! differ in nothing but the software under the probe.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use crate::progress::{self, Step};
use crate::qemu::QemuBoard;

use super::probe_output;

/// Counter frequency that makes one tick one nanosecond of QEMU's virtual clock.
pub const COUNTER_FREQUENCY: u64 = 1_000_000_000;

/// The QEMU arguments of the deterministic mode.
pub const ICOUNT_ARGUMENTS: [&str; 2] = ["-icount", "shift=0,sleep=off"];

/// The board's machine with the counter frequency QEMU's deterministic mode needs.
pub fn deterministic_board(board: &QemuBoard) -> QemuBoard {
    QemuBoard {
        cpu: format!("{},cntfrq={COUNTER_FREQUENCY}", board.cpu),
        ..board.clone()
    }
}

/// What a platform printed, up to the probe's last line or QEMU's exit.
#[derive(Clone, Debug, Default)]
pub struct Transcript {
    /// Console output, line by line.
    pub console: String,
    /// QEMU's own messages (stderr).
    pub diagnostics: String,
    /// Whether the probe's `BENCH end` line was seen.
    pub ended: bool,
    /// QEMU's exit status, when it exited by itself.
    pub exit: Option<ExitStatus>,
}

/// Why a run produced no complete transcript.
#[derive(Debug)]
pub enum CaptureError {
    /// QEMU could not be started.
    Spawn {
        /// The command line.
        command: String,
        /// Why.
        source: std::io::Error,
    },
    /// The probe did not finish in time; QEMU was stopped.
    Timeout {
        /// The limit.
        limit: Duration,
        /// What was printed until then.
        transcript: Transcript,
    },
}

/// Runs `command` (a QEMU command line with the console on stdout), showing each metric the
/// probe reports in `step`, until the probe prints `BENCH end`, QEMU exits, or `limit`
/// passes. QEMU is stopped once the probe has finished: under a hypervisor the machine keeps
/// running after the probe powers its partition off.
pub fn capture(
    command: &mut Command,
    limit: Duration,
    step: &Step,
) -> Result<Transcript, CaptureError> {
    capture_until(command, limit, step, &probe_output::is_end_line)
}

/// As [`capture`], ending at the first line for which `is_end` holds instead of the probe's
/// end line (the Linux row ends at Linux's init marker).
pub fn capture_until(
    command: &mut Command,
    limit: Duration,
    step: &Step,
    is_end: &dyn Fn(&str) -> bool,
) -> Result<Transcript, CaptureError> {
    let description = progress::describe(command);
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| CaptureError::Spawn {
            command: description,
            source,
        })?;
    let (sender, lines) = mpsc::channel::<String>();
    if let Some(stdout) = child.stdout.take() {
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
    }
    let stderr = child.stderr.take().map(|mut pipe| {
        thread::spawn(move || {
            let mut text = String::new();
            // A read error only shortens the diagnostics.
            let _ = pipe.read_to_string(&mut text);
            text
        })
    });
    let deadline = Instant::now() + limit;
    let mut transcript = Transcript::default();
    let mut timed_out = false;
    // BOUND: each iteration consumes one line or ends the loop; QEMU's output is finite
    // within the time limit.
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(remaining) {
            Ok(line) => {
                if let Some(metric) = probe_output::metric_of_line(&line) {
                    step.set_detail(metric);
                }
                let ended = is_end(&line);
                transcript.console.push_str(line.trim_end_matches('\r'));
                transcript.console.push('\n');
                if ended {
                    transcript.ended = true;
                    break;
                }
            }
            Err(RecvTimeoutError::Disconnected) => break,
            Err(RecvTimeoutError::Timeout) => {
                timed_out = true;
                break;
            }
        }
    }
    transcript.exit = stop(&mut child);
    transcript.diagnostics = stderr
        .and_then(|reader| reader.join().ok())
        .unwrap_or_default();
    if timed_out {
        return Err(CaptureError::Timeout { limit, transcript });
    }
    Ok(transcript)
}

/// Ends QEMU (this process's own child) unless it already exited; returns its exit status
/// when it exited by itself.
fn stop(child: &mut Child) -> Option<ExitStatus> {
    if let Ok(Some(status)) = child.try_wait() {
        return Some(status);
    }
    // The probe is done (or out of time): nothing QEMU does from here on is measured.
    let _ = child.kill();
    let _ = child.wait();
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::Progress;

    #[test]
    fn counter_frequency_is_added_to_the_board_cpu() {
        let board = QemuBoard {
            machine: "virt".to_owned(),
            cpu: "cortex-a72".to_owned(),
            smp: 4,
            memory: "1G".to_owned(),
            extra_args: vec![],
            serial_ports: 2,
        };
        let deterministic = deterministic_board(&board);
        assert_eq!(deterministic.cpu, "cortex-a72,cntfrq=1000000000");
        assert_eq!(deterministic.smp, board.smp);
        assert_eq!(deterministic.machine, board.machine);
    }

    #[test]
    fn capture_stops_at_the_end_line_and_keeps_what_came_before() {
        let step = Progress::quiet().step("capturing");
        let mut command = Command::new("sh");
        command.args([
            "-c",
            "echo '[probe] BENCH metric=x unit=ticks'; echo '[probe] BENCH end'; exec sleep 30",
        ]);
        let started = Instant::now();
        let transcript =
            capture(&mut command, Duration::from_secs(20), &step).expect("the script runs");
        assert!(transcript.ended);
        assert!(started.elapsed() < Duration::from_secs(20));
        assert_eq!(
            transcript.console,
            "[probe] BENCH metric=x unit=ticks\n[probe] BENCH end\n"
        );
        assert_eq!(transcript.exit, None);
    }

    #[test]
    fn capture_gives_up_after_the_limit() {
        let step = Progress::quiet().step("waiting");
        let mut command = Command::new("sh");
        command.args(["-c", "echo started; exec sleep 30"]);
        match capture(&mut command, Duration::from_millis(300), &step) {
            Err(CaptureError::Timeout { transcript, .. }) => {
                assert_eq!(transcript.console, "started\n");
                assert!(!transcript.ended);
            }
            other => panic!("expected a timeout, got {other:?}"),
        }
    }
}
