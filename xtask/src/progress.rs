//! Named steps with a spinner, and child commands run inside them with their output captured.
//!
//! Long steps (cargo builds, apt, QEMU) show a spinner with the step name and the last line
//! the child printed, so a terminal user sees progress without pages of cargo output. The
//! full output is kept and shown only when the command fails. Each finished step leaves one
//! line on stderr (`ok`/`FAILED`, duration), which is what CI logs show: indicatif draws
//! nothing when stderr is not a terminal.

use std::fmt;
use std::io::{self, BufRead, BufReader, Read};
use std::process::{Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Whether steps report on stderr.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    visible: bool,
}

impl Progress {
    /// Spinners on a terminal, one line per finished step everywhere.
    pub fn terminal() -> Self {
        Self { visible: true }
    }

    /// No output at all (the test harness builds systems inside `cargo test`).
    pub fn quiet() -> Self {
        Self { visible: false }
    }

    /// Prints a note (a warning, a hint) on stderr unless quiet.
    pub fn note(&self, text: &str) {
        if self.visible {
            eprintln!("{}", text.trim_end());
        }
    }

    /// Starts a step called `name` ("building partitions").
    pub fn step(&self, name: impl Into<String>) -> Step {
        let name = name.into();
        let target = if self.visible {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let bar = ProgressBar::with_draw_target(None, target);
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.set_message(name.clone());
        bar.enable_steady_tick(Duration::from_millis(120));
        Step {
            name,
            bar,
            started: Instant::now(),
            visible: self.visible,
            finished: false,
        }
    }
}

/// One running step; finish it with [`Step::succeed`] or [`Step::fail`].
pub struct Step {
    name: String,
    bar: ProgressBar,
    started: Instant,
    visible: bool,
    finished: bool,
}

impl Step {
    /// Shows `detail` after the step name (e.g. the line cargo printed last).
    pub fn set_detail(&self, detail: &str) {
        let detail = detail.trim();
        if detail.is_empty() {
            return;
        }
        let shortened: String = detail.chars().take(70).collect();
        self.bar.set_message(format!("{}: {shortened}", self.name));
    }

    /// Prints `text` on stderr without tearing the spinner.
    pub fn println(&self, text: &str) {
        if self.visible {
            self.bar.suspend(|| eprintln!("{text}"));
        }
    }

    /// Ends the step as passed, with an optional short outcome ("12 passed").
    pub fn succeed(mut self, outcome: &str) {
        self.finish("ok", outcome);
    }

    /// Ends the step as failed.
    pub fn fail(mut self, outcome: &str) {
        self.finish("FAILED", outcome);
    }

    fn finish(&mut self, verdict: &str, outcome: &str) {
        self.finished = true;
        self.bar.finish_and_clear();
        if self.visible {
            let seconds = self.started.elapsed().as_secs_f32();
            let outcome = if outcome.is_empty() {
                String::new()
            } else {
                format!("{outcome}, ")
            };
            eprintln!("{verdict:>6} {} ({outcome}{seconds:.1} s)", self.name);
        }
    }

    /// Runs `command` to completion, capturing its output and showing its latest line.
    pub fn run(&self, command: &mut Command) -> Result<CommandOutput, CommandError> {
        let description = describe(command);
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| CommandError::Spawn {
                command: description.clone(),
                source,
            })?;
        let stdout = child.stdout.take().map(|pipe| self.collect_lines(pipe));
        let stderr = child.stderr.take().map(|pipe| self.collect_lines(pipe));
        let status = child.wait().map_err(|source| CommandError::Spawn {
            command: description.clone(),
            source,
        })?;
        let output = CommandOutput {
            stdout: joined(stdout),
            stderr: joined(stderr),
        };
        if status.success() {
            Ok(output)
        } else {
            Err(CommandError::Failed {
                command: description,
                status,
                output,
            })
        }
    }

    /// Reads `pipe` line by line on a thread, mirroring each line into the spinner.
    fn collect_lines(&self, pipe: impl Read + Send + 'static) -> thread::JoinHandle<String> {
        let bar = self.bar.clone();
        let name = self.name.clone();
        thread::spawn(move || {
            let mut text = String::new();
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                if let Some(shown) = progress_detail(&line) {
                    bar.set_message(format!("{name}: {shown}"));
                }
                text.push_str(&line);
                text.push('\n');
            }
            text
        })
    }
}

impl Drop for Step {
    fn drop(&mut self) {
        if !self.finished {
            self.bar.finish_and_clear();
        }
    }
}

/// The part of a child's output line worth showing in the spinner: lines that start a new
/// message (`Compiling foo`, `warning: …`, `Unpacking qemu…`), shortened. Indented lines and
/// the `|`/`-->` source excerpts of compiler diagnostics would only make the spinner flicker.
fn progress_detail(line: &str) -> Option<String> {
    let trimmed = line.trim();
    trimmed.chars().next().filter(char::is_ascii_alphabetic)?;
    Some(trimmed.chars().take(70).collect())
}

fn joined(reader: Option<thread::JoinHandle<String>>) -> String {
    reader
        .and_then(|handle| handle.join().ok())
        .unwrap_or_default()
}

/// What a finished command printed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CommandOutput {
    /// Its standard output.
    pub stdout: String,
    /// Its standard error.
    pub stderr: String,
}

/// A child command that could not run or did not succeed.
#[derive(Debug)]
pub enum CommandError {
    /// The program could not be started (not installed, not executable).
    Spawn {
        /// The command line.
        command: String,
        /// Why it could not start.
        source: io::Error,
    },
    /// The program ran and exited unsuccessfully.
    Failed {
        /// The command line.
        command: String,
        /// Its exit status.
        status: ExitStatus,
        /// Everything it printed.
        output: CommandOutput,
    },
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Spawn { command, source } => write!(f, "could not run `{command}`: {source}"),
            Self::Failed {
                command,
                status,
                output,
            } => {
                writeln!(f, "`{command}` failed ({status})")?;
                if !output.stdout.trim().is_empty() {
                    writeln!(f, "--- stdout ---\n{}", output.stdout.trim_end())?;
                }
                if !output.stderr.trim().is_empty() {
                    writeln!(f, "--- stderr ---\n{}", output.stderr.trim_end())?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for CommandError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Spawn { source, .. } => Some(source),
            Self::Failed { .. } => None,
        }
    }
}

/// `KEY=value program args…` with the variables the command sets, for error messages.
pub fn describe(command: &Command) -> String {
    let mut words: Vec<String> = command
        .get_envs()
        .filter_map(|(key, value)| {
            value.map(|value| format!("{}={}", key.to_string_lossy(), value.to_string_lossy()))
        })
        .collect();
    words.push(command.get_program().to_string_lossy().into_owned());
    words.extend(
        command
            .get_args()
            .map(|argument| argument.to_string_lossy().into_owned()),
    );
    words.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captured_output_is_returned_on_success() {
        let step = Progress::quiet().step("echoing");
        let output = step
            .run(Command::new("sh").args(["-c", "echo out; echo err >&2"]))
            .expect("sh runs");
        assert_eq!(output.stdout, "out\n");
        assert_eq!(output.stderr, "err\n");
        step.succeed("");
    }

    #[test]
    fn failure_keeps_the_output_for_the_report() {
        let step = Progress::quiet().step("failing");
        let error = step
            .run(Command::new("sh").args(["-c", "echo why >&2; exit 3"]))
            .expect_err("exit 3 is a failure");
        let report = error.to_string();
        assert!(report.contains("sh -c"), "{report}");
        assert!(report.contains("why"), "{report}");
        assert!(matches!(error, CommandError::Failed { status, .. } if status.code() == Some(3)));
        step.fail("");
    }

    #[test]
    fn missing_program_is_a_spawn_error() {
        let step = Progress::quiet().step("missing");
        let error = step
            .run(&mut Command::new("/nonexistent/bulkhead-tool"))
            .expect_err("no such program");
        assert!(matches!(error, CommandError::Spawn { .. }));
    }

    #[test]
    fn spinner_shows_message_lines_but_not_diagnostic_excerpts() {
        assert_eq!(
            progress_detail("   Compiling heartbeat v0.1.0").as_deref(),
            Some("Compiling heartbeat v0.1.0")
        );
        assert_eq!(
            progress_detail("warning: unused import").as_deref(),
            Some("warning: unused import")
        );
        assert_eq!(progress_detail("  --> src/console.rs:21:8"), None);
        assert_eq!(progress_detail("21 | pub fn write_line("), None);
        assert_eq!(progress_detail("   |"), None);
        assert_eq!(progress_detail(""), None);
        assert_eq!(
            progress_detail(&"x".repeat(100)).map(|shown| shown.len()),
            Some(70)
        );
    }

    #[test]
    fn description_shows_set_variables_and_arguments() {
        let mut command = Command::new("cargo");
        command
            .env("RUSTC_BOOTSTRAP", "1")
            .env_remove("RUSTFLAGS")
            .args(["build", "--release"]);
        assert_eq!(
            describe(&command),
            "RUSTC_BOOTSTRAP=1 cargo build --release"
        );
    }
}
