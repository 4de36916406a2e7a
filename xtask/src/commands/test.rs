//! `cargo xtask test`: the whole suite, as CI runs it (`.ci/run` calls exactly this).
//!
//! Stages, each reported on one line and again in the final summary:
//! 1. toolchain and host tools (installed when missing and running as root);
//! 2. host unit tests of the root workspace (everything but the QEMU tests);
//! 3. the partitions and the default system image (the `build` pipeline);
//! 4. the QEMU integration tests (`bulkhead-qemu-tests`), told where stage 3 put the image.
//!
//! A failing stage 2 does not stop stages 3 and 4 (they do not depend on it, and CI should
//! report every failure of a run); stage 4 needs stage 3's image. The command fails if any
//! stage failed.

use std::path::Path;
use std::process::Command;

use xtask::host_tools::{self, Need};
use xtask::paths::{GEN_DIR_VARIABLE, IMAGE_VARIABLE, MANIFEST_VARIABLE, Repository};
use xtask::pipeline::{BuildRequest, BuiltSystem, Pipeline};
use xtask::progress::{CommandError, CommandOutput, Progress};
use xtask::toolchain::BareMetalCargo;

use super::Failure;

/// The crate holding the QEMU integration tests.
const QEMU_TESTS: &str = "bulkhead-qemu-tests";

/// How one stage ended.
enum Outcome {
    Passed(String),
    Failed(String),
    Skipped(&'static str),
}

/// Runs the stages and prints the summary.
pub fn test(repository: &Repository) -> Result<(), Failure> {
    let progress = Progress::terminal();
    let mut results: Vec<(&str, Outcome)> = Vec::new();

    banner(1, "toolchain and host tools");
    let cargo = BareMetalCargo::ensure(&progress)?;
    let tools = host_tools::ensure(Need::QemuAndDtc, &progress)?;
    let qemu = tools
        .qemu
        .map_or_else(|| "no QEMU".to_owned(), |version| format!("QEMU {version}"));
    results.push((
        "toolchain and host tools",
        Outcome::Passed(format!("{}; {qemu}; dtc", cargo.core_library())),
    ));

    banner(2, "host unit tests");
    results.push(("host unit tests", host_unit_tests(repository, &progress)));

    banner(3, "partitions and default system image");
    let request = BuildRequest {
        manifest: repository.default_manifest(),
        board: None,
    };
    let built = Pipeline::new(repository, cargo, progress).build(&request);
    let built = match built {
        Ok(built) => {
            let image = built.hypervisor_elf();
            results.push((
                "system image",
                Outcome::Passed(
                    image
                        .strip_prefix(repository.root())
                        .unwrap_or(&image)
                        .display()
                        .to_string(),
                ),
            ));
            Some(built)
        }
        Err(error) => {
            eprintln!("{error}");
            results.push(("system image", Outcome::Failed("build failed".to_owned())));
            None
        }
    };

    banner(4, "QEMU integration tests");
    match &built {
        Some(built) => results.push((
            "QEMU integration tests",
            qemu_tests(repository, built, &progress),
        )),
        None => results.push((
            "QEMU integration tests",
            Outcome::Skipped("no system image"),
        )),
    }

    eprintln!("\nsummary:");
    let mut failed = Vec::new();
    for (stage, outcome) in &results {
        let (verdict, detail) = match outcome {
            Outcome::Passed(detail) => ("ok", detail.as_str()),
            Outcome::Failed(detail) => {
                failed.push((*stage).to_owned());
                ("FAILED", detail.as_str())
            }
            Outcome::Skipped(reason) => {
                failed.push((*stage).to_owned());
                ("SKIPPED", *reason)
            }
        };
        eprintln!("  {verdict:<8} {stage:<26} {detail}");
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(Failure::Stages(failed))
    }
}

fn banner(number: usize, stage: &str) {
    eprintln!("[{number}/4] {stage}");
}

/// Which runner executes the host unit tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum HostTestRunner {
    /// cargo-nextest: per-test processes and timing, and the place where JUnit XML for the
    /// certification evidence will come from (a `[profile.ci.junit]` in
    /// `.config/nextest.toml`, selected with `--profile ci`, writes
    /// `target/nextest/ci/junit.xml`). It does not run doctests, so `cargo test --doc` follows.
    Nextest,
    /// Plain `cargo test`, for machines without cargo-nextest.
    CargoTest,
}

impl HostTestRunner {
    fn detect() -> Self {
        let nextest = cargo()
            .args(["nextest", "--version"])
            .output()
            .is_ok_and(|output| output.status.success());
        if nextest {
            Self::Nextest
        } else {
            Self::CargoTest
        }
    }

    /// The commands to run, in order, from the repository root, each with its step name.
    fn commands(self, root: &Path) -> Vec<(&'static str, Command)> {
        let exclude = ["--workspace", "--exclude", QEMU_TESTS];
        let mut commands = Vec::new();
        match self {
            Self::Nextest => {
                let mut run = cargo();
                run.current_dir(root)
                    .args([
                        "nextest",
                        "run",
                        "--no-fail-fast",
                        "--no-tests=warn",
                        "--status-level=fail",
                    ])
                    .args(exclude);
                commands.push(("running host unit tests (nextest)", run));
                let mut doctests = cargo();
                doctests
                    .current_dir(root)
                    .args(["test", "--doc", "--no-fail-fast"])
                    .args(exclude);
                commands.push(("running doctests", doctests));
            }
            Self::CargoTest => {
                let mut test = cargo();
                test.current_dir(root)
                    .args(["test", "--no-fail-fast"])
                    .args(exclude);
                commands.push(("running host unit tests and doctests", test));
            }
        }
        commands
    }
}

fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

fn host_unit_tests(repository: &Repository, progress: &Progress) -> Outcome {
    let runner = HostTestRunner::detect();
    let mut counts = TestCounts::default();
    for (name, mut command) in runner.commands(repository.root()) {
        let step = progress.step(name);
        let result = step.run(&mut command);
        let output = match &result {
            Ok(output) | Err(CommandError::Failed { output, .. }) => output.clone(),
            Err(CommandError::Spawn { .. }) => CommandOutput::default(),
        };
        let these = TestCounts::parse(&output);
        counts.add(these);
        match result {
            Ok(_) => step.succeed(&these.to_string()),
            Err(error) => {
                step.fail(&these.to_string());
                eprintln!("{error}");
                return Outcome::Failed(counts.to_string());
            }
        }
    }
    Outcome::Passed(counts.to_string())
}

fn qemu_tests(repository: &Repository, built: &BuiltSystem, progress: &Progress) -> Outcome {
    let mut command = cargo();
    command
        .current_dir(repository.root())
        .args(["test", "--no-fail-fast", "-p", QEMU_TESTS])
        .env(MANIFEST_VARIABLE, built.spec.manifest_path())
        .env(IMAGE_VARIABLE, built.hypervisor_elf())
        .env(GEN_DIR_VARIABLE, built.output.path());
    let step = progress.step("booting QEMU for the integration tests");
    match step.run(&mut command) {
        Ok(output) => {
            let counts = TestCounts::parse(&output);
            step.succeed(&counts.to_string());
            Outcome::Passed(counts.to_string())
        }
        Err(error) => {
            let counts = match &error {
                CommandError::Failed { output, .. } => TestCounts::parse(output),
                CommandError::Spawn { .. } => TestCounts::default(),
            };
            step.fail(&counts.to_string());
            eprintln!("{error}");
            Outcome::Failed(counts.to_string())
        }
    }
}

/// Passed/failed/ignored totals read from test runner output.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct TestCounts {
    passed: u64,
    failed: u64,
    ignored: u64,
}

impl TestCounts {
    /// Reads nextest's `Summary` line when there is one (nextest also echoes the libtest
    /// output of failing tests, `test result:` lines included, which must not count twice);
    /// otherwise sums libtest's `test result:` lines, one per test binary.
    fn parse(output: &CommandOutput) -> Self {
        let lines = || {
            output
                .stdout
                .lines()
                .chain(output.stderr.lines())
                .map(str::trim)
        };
        if let Some(summary) =
            lines().find(|line| line.starts_with("Summary [") && line.contains(" tests run: "))
        {
            return Self {
                passed: number_before(summary, " passed"),
                failed: number_before(summary, " failed"),
                ignored: number_before(summary, " skipped"),
            };
        }
        let mut counts = Self::default();
        for rest in lines().filter_map(|line| line.strip_prefix("test result: ")) {
            counts.passed += number_before(rest, " passed");
            counts.failed += number_before(rest, " failed");
            counts.ignored += number_before(rest, " ignored");
        }
        counts
    }

    fn add(&mut self, other: Self) {
        self.passed += other.passed;
        self.failed += other.failed;
        self.ignored += other.ignored;
    }
}

impl std::fmt::Display for TestCounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} passed, {} failed", self.passed, self.failed)?;
        if self.ignored > 0 {
            write!(f, ", {} ignored", self.ignored)?;
        }
        Ok(())
    }
}

/// The number written just before `label` in `text` (`"3 passed"` → 3), 0 when absent.
fn number_before(text: &str, label: &str) -> u64 {
    let Some(end) = text.find(label) else {
        return 0;
    };
    let digits: String = text[..end]
        .chars()
        .rev()
        .take_while(char::is_ascii_digit)
        .collect();
    digits
        .chars()
        .rev()
        .collect::<String>()
        .parse()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn output(stdout: &str, stderr: &str) -> CommandOutput {
        CommandOutput {
            stdout: stdout.to_owned(),
            stderr: stderr.to_owned(),
        }
    }

    #[test]
    fn libtest_results_of_every_binary_are_summed() {
        let stdout = "running 3 tests\n...\ntest result: ok. 3 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.01s\n\n\
                      test result: FAILED. 10 passed; 2 failed; 0 ignored; 0 measured; 0 filtered out; finished in 1.20s\n";
        assert_eq!(
            TestCounts::parse(&output(stdout, "")),
            TestCounts {
                passed: 13,
                failed: 2,
                ignored: 1
            }
        );
    }

    #[test]
    fn nextest_summary_line_wins_over_echoed_libtest_results() {
        let stderr = "        PASS [   0.004s] xtask paths::tests::x\n        FAIL [   0.146s] lints fixtures x\n\
                      test result: FAILED. 0 passed; 1 failed; 0 ignored; 0 measured; 54 filtered out\n\
                      ────────────\n     Summary [   1.532s] 58 tests run: 57 passed, 1 failed, 3 skipped\n";
        assert_eq!(
            TestCounts::parse(&output("", stderr)),
            TestCounts {
                passed: 57,
                failed: 1,
                ignored: 3
            }
        );
    }

    #[test]
    fn output_without_results_counts_nothing() {
        assert_eq!(
            TestCounts::parse(&output("error[E0425]: cannot find value", "")),
            TestCounts::default()
        );
    }

    #[test]
    fn counts_read_as_a_sentence() {
        assert_eq!(
            TestCounts {
                passed: 4,
                failed: 0,
                ignored: 0
            }
            .to_string(),
            "4 passed, 0 failed"
        );
        assert_eq!(
            TestCounts {
                passed: 4,
                failed: 1,
                ignored: 2
            }
            .to_string(),
            "4 passed, 1 failed, 2 ignored"
        );
    }

    #[test]
    fn unit_tests_exclude_the_qemu_tests_with_either_runner() {
        for runner in [HostTestRunner::Nextest, HostTestRunner::CargoTest] {
            for (_, command) in runner.commands(Path::new("/repo")) {
                let arguments: Vec<_> = command
                    .get_args()
                    .map(|argument| argument.to_string_lossy().into_owned())
                    .collect();
                assert!(
                    arguments
                        .windows(2)
                        .any(|pair| pair == ["--exclude", QEMU_TESTS]),
                    "{arguments:?}"
                );
                assert_eq!(command.get_current_dir(), Some(Path::new("/repo")));
            }
        }
        assert_eq!(
            HostTestRunner::Nextest.commands(Path::new("/repo")).len(),
            2,
            "nextest needs a separate doctest run"
        );
    }
}
