//! `cargo xtask fuzz`: every `cargo fuzz` target of the repository for a bounded time.
//!
//! Targets: `manifest` (the configuration pipeline, `hypervisor/config/fuzz`) and `esr`,
//! `vpl011`, `psci`, `console`, `vgic` (the hypervisor core where a partition reaches it,
//! `hypervisor/core/fuzz`). Each runs for N seconds from its in-tree corpus (`fuzz/seeds/<target>/`,
//! read-only); what libFuzzer finds goes to `target/fuzz/corpus/<target>/` and crashes to
//! `target/fuzz/artifacts/<target>/`, never into the tree unless `--keep` merges the new
//! inputs that add coverage into the seeds.
//!
//! Runs on stable Rust: `RUSTC_BOOTSTRAP=1` lets stable `rustc` take the `-Z` flags
//! cargo-fuzz passes (sanitizer coverage and AddressSanitizer). Targets build with debug
//! assertions, so an arithmetic overflow is a crash too. cargo-fuzz is installed with
//! `cargo install --locked cargo-fuzz` when missing.
//!
//! A crash fails the command with the input's path and the commands that reproduce it; the
//! input then belongs in `fuzz/regressions/<target>/`, which the crate's plain `cargo test`
//! (`tests/fuzz_regressions.rs`) replays through the same harness.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use xtask::paths::Repository;
use xtask::progress::{CommandError, Progress};

use super::Failure;

/// Seconds per target when not told otherwise (what `cargo xtask test` uses).
pub const DEFAULT_SECONDS: u64 = 20;
/// libFuzzer's limit for one input: a slower one is a hang, reported like a crash.
const INPUT_TIMEOUT_SECONDS: u64 = 10;

/// One fuzz crate: its directory (whose `fuzz/` cargo-fuzz builds) and its targets.
struct FuzzCrate {
    /// The crate the fuzz directory belongs to, repository-relative.
    parent: &'static str,
    /// Short name for the build directory and messages.
    key: &'static str,
    /// Its targets with their extra read-only input directories (parent-relative).
    targets: &'static [(&'static str, &'static [&'static str])],
    /// The test that replays its seeds and regressions.
    replay: &'static str,
}

/// Every fuzz crate of the repository.
const CRATES: [FuzzCrate; 2] = [
    FuzzCrate {
        parent: "hypervisor/config",
        key: "config",
        targets: &[("manifest", &["tests/fixtures/checks"])],
        replay: "cargo test -p bulkhead-config --test fuzz_regressions",
    },
    FuzzCrate {
        parent: "hypervisor/core",
        key: "core",
        targets: &[("esr", &[]), ("vpl011", &[]), ("psci", &[]), ("console", &[]), ("vgic", &[])],
        replay: "cargo test -p bulkhead-core --test fuzz_regressions",
    },
];

/// The names of every target, in the order they run.
pub fn target_names() -> Vec<&'static str> {
    CRATES.iter().flat_map(|fuzz_crate| fuzz_crate.targets.iter().map(|(name, _)| *name)).collect()
}

/// What to run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// Seconds per target.
    pub seconds: u64,
    /// Only this target.
    pub target: Option<String>,
    /// Merge new coverage-increasing inputs into the in-tree seeds afterwards.
    pub keep: bool,
}

/// libFuzzer's final statistics for one target.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Inputs executed.
    pub executions: u64,
    /// Average executions per second.
    pub per_second: u64,
    /// Coverage counters (edges) reached at the end.
    pub coverage: u64,
}

/// One target's run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetRun {
    /// The target.
    pub name: &'static str,
    /// What libFuzzer reported.
    pub stats: Stats,
    /// Wall-clock time of the run, building excluded.
    pub elapsed: Duration,
}

/// Every target's run, and the whole time including builds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// The targets, in the order they ran.
    pub targets: Vec<TargetRun>,
    /// Wall-clock time of everything, cargo-fuzz installation and builds included.
    pub elapsed: Duration,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let executions: u64 = self.targets.iter().map(|run| run.stats.executions).sum();
        write!(
            f,
            "{} targets, {executions} inputs, no crash, {:.0} s",
            self.targets.len(),
            self.elapsed.as_secs_f64()
        )
    }
}

/// A crash (or hang, or out-of-memory) libFuzzer reported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Crash {
    /// The target.
    pub target: String,
    /// libFuzzer's one-line reason (`deadly signal`, `timeout`, the panic message…).
    pub reason: String,
    /// The input that crashed, if libFuzzer wrote it.
    pub artifact: Option<PathBuf>,
    /// The commands that reproduce it.
    pub reproduce: String,
}

impl fmt::Display for Crash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "fuzz target `{}` crashed: {}", self.target, self.reason)?;
        match &self.artifact {
            Some(path) => writeln!(f, "  input: {}", path.display())?,
            None => writeln!(f, "  input: not written (see the output above)")?,
        }
        write!(f, "  reproduce:\n{}", self.reproduce)
    }
}

/// `cargo xtask fuzz [--seconds N] [--target NAME] [--keep]`.
pub fn fuzz(repository: &Repository, options: &Options) -> Result<(), Failure> {
    let summary = run(repository, options, &Progress::terminal())?;
    eprintln!("fuzz: {summary}");
    Ok(())
}

/// The test-suite stage: every target for `seconds` seconds from the in-tree corpus, new
/// inputs kept under `target/` only. `Ok` with the statistics when nothing crashed.
#[allow(dead_code, reason = "the fuzz stage of `cargo xtask test` calls it")]
pub fn gate(repository: &Repository, seconds: u64, progress: &Progress) -> Result<Summary, Failure> {
    run(repository, &Options { seconds, target: None, keep: false }, progress)
}

fn run(repository: &Repository, options: &Options, progress: &Progress) -> Result<Summary, Failure> {
    let started = Instant::now();
    if let Some(target) = &options.target
        && !target_names().contains(&target.as_str())
    {
        return Err(Failure::Fuzz(format!("no fuzz target `{target}` (targets: {})", target_names().join(", "))));
    }
    ensure_cargo_fuzz(progress)?;
    let root = repository.root();
    let mut summary = Summary::default();
    for fuzz_crate in &CRATES {
        let selected: Vec<_> = fuzz_crate
            .targets
            .iter()
            .filter(|(name, _)| options.target.as_deref().is_none_or(|wanted| wanted == *name))
            .collect();
        if selected.is_empty() {
            continue;
        }
        let build_dir = root.join("target/fuzz/build").join(fuzz_crate.key);
        let step = progress.step(format!("building the fuzz targets of {}", fuzz_crate.parent));
        let mut build = cargo_fuzz(root, fuzz_crate);
        build.arg("build").args(["--debug-assertions", "--target-dir"]).arg(&build_dir);
        if let [(only, _)] = selected.as_slice()
            && selected.len() < fuzz_crate.targets.len()
        {
            build.arg(only);
        }
        step.run(&mut build).map_err(|error| Failure::Fuzz(error.to_string()))?;
        step.succeed("");
        for (name, extra_inputs) in selected {
            let run = run_target(root, fuzz_crate, name, extra_inputs, &build_dir, options, progress)?;
            summary.targets.push(run);
        }
    }
    summary.elapsed = started.elapsed();
    Ok(summary)
}

/// Installs cargo-fuzz unless `cargo fuzz` already works.
fn ensure_cargo_fuzz(progress: &Progress) -> Result<(), Failure> {
    let works = Command::new("cargo").args(["fuzz", "--version"]).output().is_ok_and(|output| output.status.success());
    if works {
        return Ok(());
    }
    let step = progress.step("installing cargo-fuzz (cargo install --locked cargo-fuzz)");
    let mut install = Command::new("cargo");
    install.args(["install", "--locked", "cargo-fuzz"]);
    step.run(&mut install).map_err(|error| Failure::Fuzz(error.to_string()))?;
    step.succeed("installed");
    Ok(())
}

/// `cargo fuzz` in `fuzz_crate`'s directory, on stable Rust.
fn cargo_fuzz(root: &Path, fuzz_crate: &FuzzCrate) -> Command {
    let mut command = Command::new("cargo");
    command.current_dir(root.join(fuzz_crate.parent)).env("RUSTC_BOOTSTRAP", "1");
    command.arg("fuzz");
    command
}

fn run_target(
    root: &Path,
    fuzz_crate: &FuzzCrate,
    name: &'static str,
    extra_inputs: &[&str],
    build_dir: &Path,
    options: &Options,
    progress: &Progress,
) -> Result<TargetRun, Failure> {
    let parent = root.join(fuzz_crate.parent);
    let seeds = parent.join("fuzz/seeds").join(name);
    let scratch = root.join("target/fuzz/corpus").join(name);
    let artifacts = root.join("target/fuzz/artifacts").join(name);
    for directory in [&scratch, &artifacts] {
        std::fs::create_dir_all(directory).map_err(|source| Failure::Io { path: directory.clone(), source })?;
    }
    let step = progress.step(format!("fuzzing `{name}` for {} s", options.seconds));
    let started = Instant::now();
    let mut command = cargo_fuzz(root, fuzz_crate);
    command.args(["run", "--debug-assertions", "--target-dir"]).arg(build_dir).arg(name).arg(&scratch).arg(&seeds);
    command.args(extra_inputs.iter().map(|extra| parent.join(extra)));
    command.arg("--").args([
        format!("-max_total_time={}", options.seconds),
        format!("-timeout={INPUT_TIMEOUT_SECONDS}"),
        format!("-artifact_prefix={}/", artifacts.display()),
        "-print_final_stats=1".to_owned(),
    ]);
    let (succeeded, stderr) = match step.run(&mut command) {
        Ok(output) => (true, output.stderr),
        Err(CommandError::Failed { output, .. }) => (false, output.stderr),
        Err(error) => return Err(Failure::Fuzz(error.to_string())),
    };
    match verdict(succeeded, &stderr) {
        Ok(stats) => {
            step.succeed(&format!("{} inputs, {}/s, cov {}", stats.executions, stats.per_second, stats.coverage));
            if options.keep {
                keep_new_inputs(root, fuzz_crate, name, build_dir, &seeds, &scratch, progress)?;
            }
            Ok(TargetRun { name, stats, elapsed: started.elapsed() })
        }
        Err(reason) => {
            step.fail(&reason);
            eprintln!("{}", report_excerpt(&stderr));
            let artifact = artifact_path(&stderr);
            let reproduce = reproduce_commands(fuzz_crate, name, artifact.as_deref());
            Err(Failure::Fuzz(Crash { target: name.to_owned(), reason, artifact, reproduce }.to_string()))
        }
    }
}

/// Merges the inputs of `scratch` that add coverage into the in-tree `seeds`.
fn keep_new_inputs(
    root: &Path,
    fuzz_crate: &FuzzCrate,
    name: &str,
    build_dir: &Path,
    seeds: &Path,
    scratch: &Path,
    progress: &Progress,
) -> Result<(), Failure> {
    let step = progress.step(format!("merging new `{name}` inputs into {}", seeds.display()));
    let mut merge = cargo_fuzz(root, fuzz_crate);
    merge.args(["run", "--debug-assertions", "--target-dir"]).arg(build_dir).arg(name).arg(seeds).arg(scratch);
    merge.args(["--", "-merge=1"]);
    let output = step.run(&mut merge).map_err(|error| Failure::Fuzz(error.to_string()))?;
    let added = output.stderr.lines().find(|line| line.starts_with("MERGE-OUTER:") && line.contains("new files")).unwrap_or("");
    step.succeed(added.trim_start_matches("MERGE-OUTER: "));
    Ok(())
}

/// The run's statistics if it ended without a crash; otherwise libFuzzer's reason.
///
/// A crash is any unsuccessful exit (libFuzzer exits non-zero on a crash, a timeout, an
/// out-of-memory or a leak) and any run that wrote a crash artifact.
pub fn verdict(succeeded: bool, stderr: &str) -> Result<Stats, String> {
    if succeeded && artifact_path(stderr).is_none() {
        return Ok(stats(stderr));
    }
    if stderr.contains("failed to build fuzz script") {
        return Err("the fuzz target did not build (compiler errors above)".to_owned());
    }
    let reason = stderr
        .lines()
        .find_map(|line| {
            let line = line.trim();
            line.strip_prefix("==").and_then(|rest| rest.split_once("ERROR: libFuzzer: ")).map(|(_, why)| why.to_owned())
        })
        .or_else(|| stderr.lines().find(|line| line.contains("panicked at")).map(|line| line.trim().to_owned()))
        .unwrap_or_else(|| "the run failed without a libFuzzer report".to_owned());
    let panic = stderr
        .lines()
        .skip_while(|line| !line.contains("panicked at"))
        .nth(1)
        .map(str::trim)
        .filter(|message| !message.is_empty());
    Err(match panic {
        Some(message) => format!("{reason}: {message}"),
        None => reason,
    })
}

/// The input libFuzzer saved (`Test unit written to <path>`).
pub fn artifact_path(stderr: &str) -> Option<PathBuf> {
    stderr.lines().find_map(|line| line.split_once("Test unit written to ").map(|(_, path)| PathBuf::from(path.trim())))
}

/// libFuzzer's final statistics (`-print_final_stats=1`) and the last coverage count.
pub fn stats(stderr: &str) -> Stats {
    let value = |key: &str| {
        stderr
            .lines()
            .find_map(|line| line.trim().strip_prefix(key).and_then(|rest| rest.trim().parse::<u64>().ok()))
            .unwrap_or(0)
    };
    let coverage = stderr
        .lines()
        .rev()
        .find_map(|line| {
            let (_, after) = line.split_once(" cov: ")?;
            after.split_whitespace().next()?.parse::<u64>().ok()
        })
        .unwrap_or(0);
    Stats {
        executions: value("stat::number_of_executed_units:"),
        per_second: value("stat::average_exec_per_sec:"),
        coverage,
    }
}

/// How to reproduce a crash of `name` and keep it as a regression test.
fn reproduce_commands(fuzz_crate: &FuzzCrate, name: &str, artifact: Option<&Path>) -> String {
    let input = artifact.map_or_else(|| "<crash file>".to_owned(), |path| path.display().to_string());
    format!(
        "    (cd {parent} && RUSTC_BOOTSTRAP=1 cargo fuzz run --debug-assertions --target-dir ../../target/fuzz/build/{key} {name} {input})\n\
         then, once fixed, keep it as a regression test:\n    \
         cp {input} {parent}/fuzz/regressions/{name}/ && {replay}",
        parent = fuzz_crate.parent,
        key = fuzz_crate.key,
        replay = fuzz_crate.replay,
    )
}

/// libFuzzer's report from the panic or error on (30 lines at most), without cargo-fuzz's
/// own backtrace; the last 30 lines if there is no report.
fn report_excerpt(stderr: &str) -> String {
    let lines: Vec<&str> = stderr.lines().collect();
    let start = lines
        .iter()
        .position(|line| line.contains("panicked at") || line.contains("ERROR: libFuzzer") || line.starts_with("error"))
        .unwrap_or(lines.len().saturating_sub(30));
    lines.iter().skip(start).take(30).copied().collect::<Vec<_>>().join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLEAN: &str = "\
INFO: Seed: 1
#2\tINITED cov: 213 ft: 1202 corp: 297/169Kb exec/s: 0 rss: 40Mb
#445153\tDONE   cov: 214 ft: 1210 corp: 299/170Kb lim: 4096 exec/s: 74192 rss: 404Mb
Done 445153 runs in 6 second(s)
stat::number_of_executed_units: 445153
stat::average_exec_per_sec:     74192
stat::new_units_added:          2
";

    const PANIC: &str = "\
#1024\tpulse  cov: 250 ft: 1400 corp: 500/100Kb exec/s: 512 rss: 60Mb

thread '<unnamed>' panicked at harness/vpl011.rs:97:13:
assertion failed: UARTDR returned the wrong byte
note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace
==4242== ERROR: libFuzzer: deadly signal
    #0 0x55 in __sanitizer_print_stack_trace
MS: 2 ChangeBit-CopyPart-; base unit: 0000
artifact_prefix='/r/target/fuzz/artifacts/vpl011/'; Test unit written to /r/target/fuzz/artifacts/vpl011/crash-0a1b2c
Base64: AAAA
";

    const TIMEOUT: &str = "\
ALARM: working on the last Unit for 11 seconds
==77== ERROR: libFuzzer: timeout after 11 seconds
artifact_prefix='a/'; Test unit written to a/timeout-ffee
";

    #[test]
    fn a_clean_run_passes_with_its_statistics() {
        assert_eq!(verdict(true, CLEAN), Ok(Stats { executions: 445_153, per_second: 74_192, coverage: 214 }));
    }

    #[test]
    fn a_panic_fails_with_its_message_and_input() {
        let reason = verdict(false, PANIC).expect_err("a crash");
        assert_eq!(reason, "deadly signal: assertion failed: UARTDR returned the wrong byte");
        assert_eq!(artifact_path(PANIC), Some(PathBuf::from("/r/target/fuzz/artifacts/vpl011/crash-0a1b2c")));
        assert!(report_excerpt(PANIC).starts_with("thread '<unnamed>' panicked at harness/vpl011.rs:97:13:"));
    }

    #[test]
    fn a_hang_fails_as_a_timeout() {
        assert_eq!(verdict(false, TIMEOUT), Err("timeout after 11 seconds".to_owned()));
        assert_eq!(artifact_path(TIMEOUT), Some(PathBuf::from("a/timeout-ffee")));
    }

    #[test]
    fn an_artifact_fails_the_run_even_with_a_zero_exit() {
        let written = format!("{CLEAN}Test unit written to x/crash-1\n");
        assert!(verdict(true, &written).is_err());
    }

    #[test]
    fn a_build_failure_is_not_called_a_crash() {
        let stderr = "error[E0609]: no field `hardware`\nError: failed to build fuzz script: RUSTFLAGS=...\n";
        assert_eq!(verdict(false, stderr), Err("the fuzz target did not build (compiler errors above)".to_owned()));
    }

    #[test]
    fn a_failed_exit_without_a_report_still_fails() {
        assert_eq!(verdict(false, "error: could not compile\n"), Err("the run failed without a libFuzzer report".to_owned()));
    }

    #[test]
    fn reproduction_names_the_input_and_the_replay_test() {
        let text = reproduce_commands(&CRATES[1], "vgic", Some(Path::new("/r/crash-9")));
        assert!(text.contains(
            "cd hypervisor/core && RUSTC_BOOTSTRAP=1 cargo fuzz run --debug-assertions \
             --target-dir ../../target/fuzz/build/core vgic /r/crash-9"
        ));
        assert!(text.contains("hypervisor/core/fuzz/regressions/vgic/"));
        assert!(text.contains("cargo test -p bulkhead-core --test fuzz_regressions"));
    }

    #[test]
    fn every_target_has_an_in_tree_corpus() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        for fuzz_crate in &CRATES {
            for (name, _) in fuzz_crate.targets {
                let seeds = root.join(fuzz_crate.parent).join("fuzz/seeds").join(name);
                let count = std::fs::read_dir(&seeds).map(Iterator::count).unwrap_or(0);
                assert!(count > 0, "{} is empty or missing", seeds.display());
            }
        }
        assert_eq!(target_names(), ["manifest", "esr", "vpl011", "psci", "console", "vgic"]);
    }
}
