//! `cargo xtask test`: the whole suite, as CI runs it (`.ci/run` calls exactly this).
//!
//! Stages, each reported on one line and again in the final summary:
//! 1. toolchain and host tools (installed when missing and running as root), the SD card
//!    tools of `cargo xtask flash` among them;
//! 2. host unit tests of the root workspace (everything but the QEMU tests);
//! 3. the partitions and the default system image (the `build` pipeline);
//! 4. the QEMU integration tests (`bulkhead-qemu-tests`), told where stage 3 put the image;
//!    then, on each GICv2 board of [`BOARD_VARIANTS`], that board's demo and the tests that
//!    reach its interrupt and console path (`BULKHEAD_TEST_BOARD`, `tests/README.md`);
//! 5. every fuzz target for a bounded time from the in-tree corpus (`cargo xtask fuzz`);
//! 6. the coding standard (`cargo xtask lint`);
//! 7. the traceability evidence (`cargo xtask trace`) of this run.
//!
//! A failing stage 2 does not stop stages 3 and 4 (they do not depend on it, and CI should
//! report every failure of a run); stage 4 needs stage 3's image. The command fails if any
//! stage failed.

use std::path::Path;
use std::process::Command;

use xtask::host_tools::{self, Need};
use xtask::paths::{GEN_DIR_VARIABLE, IMAGE_VARIABLE, MANIFEST_VARIABLE, Repository, TEST_BOARD_VARIABLE};
use xtask::pipeline::{BuildRequest, BuiltSystem, Pipeline};
use xtask::progress::{CommandError, CommandOutput, Progress};
use xtask::toolchain::BareMetalCargo;

use bulkhead_trace::run_record::{self, Capture, ResultKind, RunStart};

use super::Failure;

/// Platforms the quick bench must produce a column for (read by `tests/tests/bench_quick.rs`).
const BENCH_REQUIRE_VARIABLE: &str = "BULKHEAD_BENCH_REQUIRE";

/// Stages the suite runs, for the `[n/N]` banners.
const STAGES: usize = 7;

/// Seconds each fuzz target runs in the suite (`cargo xtask fuzz --seconds N` runs longer).
const SUITE_FUZZ_SECONDS: u64 = 15;

/// The crate holding the QEMU integration tests.
const QEMU_TESTS: &str = "bulkhead-qemu-tests";

/// A board the suite boots besides `qemu-virt`: its demo (`partitions/demo-<board>.toml`) is
/// built, and the QEMU test binaries `binaries` run with [`TEST_BOARD_VARIABLE`] naming it.
struct BoardVariant {
    board: &'static str,
    /// The stage's name in the summary.
    stage: &'static str,
    /// Test binaries (`tests/tests/<name>.rs`) to run there.
    binaries: &'static [&'static str],
    /// Tests of those binaries not run there (name substrings): those needing a device the
    /// board lacks (ramfb is QEMU `virt`'s).
    skip: &'static [&'static str],
}

/// Tests the default system's run (stage 4 on `qemu-virt`) leaves to a board's stage: they
/// name that board themselves (the Raspberry Pi 4's mailbox framebuffer runs in the rpi4
/// stage, not twice).
const DEFAULT_SYSTEM_SKIP: &[&str] = &["rpi4_mailbox"];

/// What a GICv2 board of another machine runs: the tests that reach what differs there (the
/// demo: banners, PSCI, virtual-timer heartbeats through GICH, the contained fault, console
/// input, vCPU pinning; SGIs between two vCPUs through `GICD_SGIR`), not the whole suite a
/// second time; and the display: the RAM-capture tests of `display_sharing` (pixel read-back
/// of the scan-out buffer, the fail-safe image, the frame tick), and on the Raspberry Pi 4
/// its mailbox framebuffer test.
const ZCU102_BINARIES: &[&str] = &["demo_system", "sgi_between_vcpus", "display_sharing"];
const RPI4_BINARIES: &[&str] = ZCU102_BINARIES;


/// What the GICv2 board of the machine the suite already knows also runs: channels and their
/// doorbells (forwarded SPIs targeted by `GICD_ITARGETSR<n>`), the hostile guests' fault
/// policies, partition power-off, and the attacker beside the probe under icount (chaos and the
/// probe on a GICv2 CPU interface), and the Linux demo on a virtual GICv2
/// (`partitions/linux-demo-qemu-virt-gicv2.toml`): about 70 s more on a loaded 2-core machine.
const GICV2_QEMU_VIRT_BINARIES: &[&str] = &[
    "demo_system",
    "sgi_between_vcpus",
    "channels",
    "hostile_guests",
    "partition_power_off",
    "neighbour_timing_under_attack",
    "linux_beside_rt",
];

/// The GICv2 boards: 30-60 s each on a loaded 2-core machine, image build included.
/// `docs/gicv2.md` names the commands that run everything on these boards.
const BOARD_VARIANTS: &[BoardVariant] = &[
    BoardVariant { board: "qemu-virt-gicv2", stage: "QEMU on qemu-virt-gicv2", binaries: GICV2_QEMU_VIRT_BINARIES, skip: &[] },
    // ramfb and virtio-gpu are QEMU `virt` devices; the mailbox test boots its own board; the
    // vblank test reads the hypervisor's defmt log, which the zcu102 systems have no UART for
    // (their spare UART is the partitions' console).
    BoardVariant {
        board: "zcu102",
        stage: "QEMU on zcu102",
        binaries: ZCU102_BINARIES,
        skip: &["ramfb", "virtio_gpu", "rpi4_mailbox", "vblank_paces"],
    },
    BoardVariant { board: "rpi4", stage: "QEMU on rpi4", binaries: RPI4_BINARIES, skip: &["ramfb", "virtio_gpu"] },
];

impl BoardVariant {
    /// The runner arguments that select [`BoardVariant::binaries`] without
    /// [`BoardVariant::skip`].
    fn selection(&self, runner: HostTestRunner) -> Vec<String> {
        match runner {
            HostTestRunner::Nextest => {
                let expression: Vec<String> = self.binaries.iter().map(|binary| format!("binary({binary})")).collect();
                let mut expression = format!("({})", expression.join(" or "));
                for test in self.skip {
                    expression.push_str(&format!(" and not test({test})"));
                }
                vec!["-E".to_owned(), expression]
            }
            HostTestRunner::CargoTest => {
                let mut arguments: Vec<String> =
                    self.binaries.iter().flat_map(|binary| ["--test".to_owned(), (*binary).to_owned()]).collect();
                arguments.extend(skipping(runner, self.skip));
                arguments
            }
        }
    }
}

/// The runner arguments that leave out the tests named by `skip` (all binaries run).
fn skipping(runner: HostTestRunner, skip: &[&str]) -> Vec<String> {
    if skip.is_empty() {
        return Vec::new();
    }
    match runner {
        HostTestRunner::Nextest => {
            let tests: Vec<String> = skip.iter().map(|test| format!("not test({test})")).collect();
            vec!["-E".to_owned(), tests.join(" and ")]
        }
        HostTestRunner::CargoTest => std::iter::once("--".to_owned())
            .chain(skip.iter().flat_map(|test| ["--skip".to_owned(), (*test).to_owned()]))
            .collect(),
    }
}

/// How one stage ended.
enum Outcome {
    Passed(String),
    Failed(String),
    Skipped(&'static str),
    /// Ran, but cannot count (e.g. traceability evidence from an uncommitted tree).
    NotEvidence(&'static str),
}

/// Runs the stages and prints the summary.
pub fn test(repository: &Repository) -> Result<(), Failure> {
    let progress = Progress::terminal();
    let mut results: Vec<(&str, Outcome)> = Vec::new();
    let mut totals = TestCounts::default();
    let evidence = RunStart::begin(repository.root(), &repository.root().join(bulkhead_trace::RESULTS_DIR), "cargo xtask test")
        .map_err(|error| Failure::Trace(error.to_string()))?;

    banner(1, "toolchain and host tools");
    let cargo = BareMetalCargo::ensure(&progress)?;
    let tools = host_tools::ensure(Need::QemuAndDtc, &progress)?;
    let qemu = tools
        .qemu
        .map_or_else(|| "no QEMU".to_owned(), |version| format!("QEMU {version}"));
    for board in repository.boards() {
        let mut settings = xtask::board_dts::board_qemu_settings(repository, &board)?;
        // The display tests add QEMU `virt`'s ramfb, whose option ROM is one more file.
        if board == "qemu-virt" {
            settings.extra_args.extend(["-device".to_owned(), "ramfb".to_owned()]);
        }
        xtask::qemu_preflight::ensure(&settings, &progress)?;
    }
    // The flash tests (stage 4) make and read SD card files, compare the kernel file with an
    // independent `objcopy -O binary`, and boot the ZCU102's boot files under U-Boot on QEMU.
    xtask::flash::tools::FlashTools::ensure(&progress).map_err(|error| Failure::Flash(error.to_string()))?;
    xtask::flash::tools::ensure_reference_objcopy(&progress).map_err(|error| Failure::Flash(error.to_string()))?;
    xtask::flash::tools::ensure_uboot_for_qemu(&progress).map_err(|error| Failure::Flash(error.to_string()))?;
    results.push((
        "toolchain and host tools",
        Outcome::Passed(format!(
            "{}; {qemu}; dtc; mkimage, mtools, mkfs.vfat, objcopy, U-Boot for QEMU; every board's QEMU machine starts",
            cargo.core_library()
        )),
    ));
    let runner = HostTestRunner::ensure(&progress);

    banner(2, "host unit tests");
    let (outcome, counts) = host_unit_tests(repository, runner, &progress);
    totals.add(counts);
    results.push(("host unit tests", outcome));
    collect_junit(&evidence, ResultKind::Host);

    banner(3, "partitions and default system image");
    let request = BuildRequest {
        manifest: repository.default_manifest(),
        board: None,
    };
    let built = Pipeline::new(repository, cargo.clone(), progress).denying_warnings().build(&request);
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
        Some(built) => {
            let (outcome, counts) = qemu_tests(repository, runner, built, None, &progress);
            totals.add(counts);
            results.push(("QEMU integration tests", outcome));
        }
        None => results.push((
            "QEMU integration tests",
            Outcome::Skipped("no system image"),
        )),
    }
    // The evidence is the default system's run; the board runs below write the same profile.
    collect_junit(&evidence, ResultKind::Qemu);
    for variant in BOARD_VARIANTS {
        let (outcome, counts) = board_variant_tests(repository, runner, &cargo, variant, &progress);
        totals.add(counts);
        results.push((variant.stage, outcome));
    }

    banner(5, "fuzzing where attackers reach");
    let fuzz = match super::fuzz::gate(repository, SUITE_FUZZ_SECONDS, &progress) {
        Ok(summary) => Outcome::Passed(format!("{summary} ({SUITE_FUZZ_SECONDS} s per target)")),
        Err(error) => {
            eprintln!("{error}");
            Outcome::Failed("a fuzz target crashed or could not run".to_owned())
        }
    };
    results.push(("fuzzing", fuzz));

    banner(6, "coding standard");
    let lint = match super::lint::gate(repository, built.as_ref(), &progress) {
        Ok(outcome) if outcome.passed => Outcome::Passed(outcome.summary),
        Ok(outcome) => Outcome::Failed(outcome.summary),
        Err(error) => Outcome::Failed(error.to_string()),
    };
    results.push(("coding standard", lint));

    banner(7, "traceability evidence");
    let coverage_step = progress.step("measuring statement and branch coverage of the hypervisor core");
    match bulkhead_trace::coverage::measure(&bulkhead_trace::coverage::MeasureOptions::core(repository.root())) {
        Ok(_) => coverage_step.succeed("target/test-results/coverage.json"),
        // Coverage is shown when measured and reported as "not measured" otherwise: a missing
        // LLVM toolchain must not hide the test results themselves.
        Err(error) => coverage_step.fail(&format!("not measured: {error}")),
    }
    let image = built.as_ref().map(BuiltSystem::hypervisor_elf);
    let captured = run_record::capture(&evidence, &Capture { image: image.as_deref(), extra_tools: Vec::new() });
    let trace = match captured
        .map_err(|error| Failure::Trace(error.to_string()))
        .and_then(|_| super::trace::evaluate(repository, false))
    {
        Ok(outcome) => {
            eprintln!("{}", outcome.summary);
            use super::trace::StageVerdict;
            match outcome.verdict() {
                StageVerdict::Passed => Outcome::Passed(
                    "every approved requirement verified by this run (target/trace/trace.html)".to_owned(),
                ),
                // Evidence is only ever taken from a committed tree; a developer's uncommitted
                // work cannot produce it, and that alone is not a test failure. Every other
                // check (lock, tags, coverage, unsafe, lint) still fails the stage.
                StageVerdict::NotEvidence => {
                    Outcome::NotEvidence("uncommitted changes: results cannot count as evidence (commit, then rerun)")
                }
                StageVerdict::Failed(checks) => Outcome::Failed(format!(
                    "failed checks: {} (target/trace/trace.html)",
                    checks.join(", ")
                )),
            }
        }
        Err(error) => Outcome::Failed(error.to_string()),
    };
    results.push(("traceability evidence", trace));

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
            Outcome::NotEvidence(reason) => ("warning", *reason),
        };
        eprintln!("  {verdict:<8} {stage:<26} {detail}");
    }
    // The plain closing line CI reads: every test of the run, host and QEMU.
    println!("total: {} passed, {} failed", totals.passed, totals.failed);
    if failed.is_empty() {
        Ok(())
    } else {
        Err(Failure::Stages(failed))
    }
}

fn collect_junit(evidence: &RunStart, kind: ResultKind) {
    if let Err(error) = run_record::collect_nextest_junit(evidence, kind) {
        eprintln!("warning: test results not kept as evidence: {error}");
    }
}

fn banner(number: usize, stage: &str) {
    eprintln!("[{number}/{STAGES}] {stage}");
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
    fn available() -> bool {
        cargo()
            .args(["nextest", "--version"])
            .output()
            .is_ok_and(|output| output.status.success())
    }

    /// cargo-nextest when it is installed or can be installed now (it produces the JUnit
    /// evidence the traceability report needs); plain `cargo test` otherwise.
    fn ensure(progress: &Progress) -> Self {
        if Self::available() {
            return Self::Nextest;
        }
        let step = progress.step("installing cargo-nextest (test evidence as JUnit)");
        let mut install = cargo();
        install.args(["install", "--locked", "cargo-nextest"]);
        match step.run(&mut install) {
            Ok(_) if Self::available() => {
                step.succeed("installed");
                Self::Nextest
            }
            _ => {
                step.fail("unavailable: host tests run with cargo test, without JUnit evidence");
                Self::CargoTest
            }
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
                        "--profile",
                        "ci",
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

fn host_unit_tests(repository: &Repository, runner: HostTestRunner, progress: &Progress) -> (Outcome, TestCounts) {
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
                return (Outcome::Failed(counts.to_string()), counts);
            }
        }
    }
    (Outcome::Passed(counts.to_string()), counts)
}

/// Builds `variant`'s demo and runs its tests on it.
fn board_variant_tests(
    repository: &Repository,
    runner: HostTestRunner,
    cargo: &BareMetalCargo,
    variant: &BoardVariant,
    progress: &Progress,
) -> (Outcome, TestCounts) {
    let request = BuildRequest {
        manifest: repository.board_demo_manifest(variant.board),
        board: Some(variant.board.to_owned()),
    };
    match Pipeline::new(repository, cargo.clone(), *progress).denying_warnings().build(&request) {
        Ok(built) => qemu_tests(repository, runner, &built, Some(variant), progress),
        Err(error) => {
            eprintln!("{error}");
            (Outcome::Failed(format!("the {} demo did not build", variant.board)), TestCounts::default())
        }
    }
}

/// The QEMU integration tests on `built`: all of them, or with a board variant its
/// binaries only.
fn qemu_tests(
    repository: &Repository,
    runner: HostTestRunner,
    built: &BuiltSystem,
    variant: Option<&BoardVariant>,
    progress: &Progress,
) -> (Outcome, TestCounts) {
    let mut command = cargo();
    command.current_dir(repository.root());
    match runner {
        HostTestRunner::Nextest => command.args(["nextest", "run", "--profile", "qemu", "--no-fail-fast", "-p", QEMU_TESTS]),
        HostTestRunner::CargoTest => command.args(["test", "--no-fail-fast", "-p", QEMU_TESTS]),
    };
    command
        .env(MANIFEST_VARIABLE, built.spec.manifest_path())
        .env(IMAGE_VARIABLE, built.hypervisor_elf())
        .env(GEN_DIR_VARIABLE, built.output.path());
    match variant {
        Some(variant) => command.env(TEST_BOARD_VARIABLE, variant.board).args(variant.selection(runner)),
        None => command.args(skipping(runner, DEFAULT_SYSTEM_SKIP)),
    };
    // The suite asks the quick bench for the Xen column, so a Xen comparison that can no
    // longer be produced fails CI instead of showing "unavailable" (`BULKHEAD_BENCH_REQUIRE=`
    // set empty opts out on a machine that cannot fetch Debian's Xen).
    if std::env::var_os(BENCH_REQUIRE_VARIABLE).is_none() {
        command.env(BENCH_REQUIRE_VARIABLE, "xen");
    }
    let step = progress.step(match variant {
        Some(variant) => format!("booting QEMU for the integration tests on {}", variant.board),
        None => "booting QEMU for the integration tests".to_owned(),
    });
    match step.run(&mut command) {
        Ok(output) => {
            let counts = TestCounts::parse(&output);
            step.succeed(&counts.to_string());
            (Outcome::Passed(counts.to_string()), counts)
        }
        Err(error) => {
            let counts = match &error {
                CommandError::Failed { output, .. } => TestCounts::parse(output),
                CommandError::Spawn { .. } => TestCounts::default(),
            };
            step.fail(&counts.to_string());
            eprintln!("{error}");
            (Outcome::Failed(counts.to_string()), counts)
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

    #[test]
    fn every_board_variant_names_a_board_with_a_demo_and_tests_that_exist() {
        let repository = Repository::locate();
        let boards = repository.boards();
        let tests_dir = repository.root().join("tests").join("tests");
        for variant in BOARD_VARIANTS {
            assert!(boards.iter().any(|board| board == variant.board), "{}: no board-configs/ entry", variant.board);
            assert!(
                repository.board_demo_manifest(variant.board).is_file(),
                "{}: no partitions/demo-{}.toml",
                variant.board,
                variant.board
            );
            assert!(!variant.binaries.is_empty(), "{}: selects no test binary", variant.board);
            for binary in variant.binaries {
                assert!(tests_dir.join(format!("{binary}.rs")).is_file(), "{}: no test binary {binary}", variant.board);
            }
        }
    }

    #[test]
    fn a_board_variant_selects_its_binaries_with_either_runner() {
        let variant = BoardVariant { board: "b", stage: "s", binaries: &["one", "two"], skip: &[] };
        assert_eq!(variant.selection(HostTestRunner::Nextest), ["-E", "(binary(one) or binary(two))"]);
        assert_eq!(variant.selection(HostTestRunner::CargoTest), ["--test", "one", "--test", "two"]);
    }

    #[test]
    fn a_board_variant_leaves_out_its_skipped_tests_with_either_runner() {
        let variant = BoardVariant { board: "b", stage: "s", binaries: &["one", "two"], skip: &["ramfb", "x"] };
        assert_eq!(
            variant.selection(HostTestRunner::Nextest),
            ["-E", "(binary(one) or binary(two)) and not test(ramfb) and not test(x)"]
        );
        assert_eq!(
            variant.selection(HostTestRunner::CargoTest),
            ["--test", "one", "--test", "two", "--", "--skip", "ramfb", "--skip", "x"]
        );
        assert_eq!(skipping(HostTestRunner::Nextest, &["rpi4_mailbox"]), ["-E", "not test(rpi4_mailbox)"]);
        assert!(skipping(HostTestRunner::CargoTest, &[]).is_empty());
    }

    #[test]
    fn every_skipped_test_exists_in_the_tests_it_is_skipped_from() {
        let repository = Repository::locate();
        let tests_dir = repository.root().join("tests").join("tests");
        let sources: Vec<String> = std::fs::read_dir(&tests_dir)
            .unwrap()
            .map(|entry| std::fs::read_to_string(entry.unwrap().path()).unwrap())
            .collect();
        for skipped in BOARD_VARIANTS.iter().flat_map(|variant| variant.skip).chain(DEFAULT_SYSTEM_SKIP) {
            assert!(
                sources.iter().any(|source| source.lines().any(|line| line.starts_with("fn ") && line.contains(skipped))),
                "no test function's name contains {skipped}"
            );
        }
    }
}
