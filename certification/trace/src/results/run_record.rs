//! The run record (`target/test-results/run.json`): what was tested, with what, and which
//! result files the run produced — the link between test results and the exact sources and
//! image they speak for.
//!
//! `cargo xtask test` calls [`RunStart::begin`] before its first test, copies each nextest
//! JUnit file into the results directory with [`collect_nextest_junit`], and calls
//! [`capture`] at the end, which writes `run.json`. The record hashes the image, every
//! result file and the lint gate's findings, so files swapped in afterwards are detected as
//! not belonging to the run.
//!
//! Results must be *produced* by the run that records them. A tool that does not run (nextest
//! when the tests do not compile, the plain `cargo test` fallback, which writes no JUnit) leaves
//! an earlier run's file where it was, so `begin` deletes every file a run is expected to
//! produce — ours and the tools' own (`target/nextest/<profile>/junit.xml`) — and a file is
//! only taken if it was last written after the run started (a file older than that was not
//! written by this run, whatever put it back).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, read_text};
use crate::git::SourceState;
use crate::requirements::{hex, relative_path};
use crate::results::junit::JunitResults;

/// The run record's schema version.
pub const SCHEMA_VERSION: u64 = 1;
/// The run record's file name in the results directory.
pub const RUN_RECORD: &str = "run.json";
/// Host unit-test results (nextest profile `ci`).
pub const HOST_JUNIT: &str = "host-junit.xml";
/// QEMU integration-test results (nextest profile `qemu`).
pub const QEMU_JUNIT: &str = "qemu-junit.xml";
/// Code coverage of the host-tested core (see `coverage`).
pub const COVERAGE: &str = "coverage.json";

/// Which suite a result file holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ResultKind {
    /// Host unit tests of the root workspace (everything but the QEMU tests).
    Host,
    /// QEMU integration tests (`bulkhead-qemu-tests`).
    Qemu,
}

impl ResultKind {
    /// The file name in the results directory.
    pub const fn file_name(self) -> &'static str {
        match self {
            ResultKind::Host => HOST_JUNIT,
            ResultKind::Qemu => QEMU_JUNIT,
        }
    }

    /// The nextest profile that writes it (see `.config/nextest.toml`).
    pub const fn nextest_profile(self) -> &'static str {
        match self {
            ResultKind::Host => "ci",
            ResultKind::Qemu => "qemu",
        }
    }
}

/// The image the QEMU tests booted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageRecord {
    /// Repository-relative path of the hypervisor ELF.
    pub path: String,
    /// Its SHA-256, hex.
    pub sha256: String,
}

/// One result file the run produced.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResultFile {
    /// Which suite.
    pub kind: ResultKind,
    /// File name in the results directory.
    pub file: String,
    /// Its SHA-256, hex.
    pub sha256: String,
    /// Tests listed.
    pub tests: usize,
    /// Of which passed.
    pub passed: usize,
    /// Of which failed.
    pub failed: usize,
    /// Of which skipped.
    pub skipped: usize,
}

/// `run.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRecord {
    /// [`SCHEMA_VERSION`].
    pub schema_version: u64,
    /// The command that ran the tests, e.g. `cargo xtask test`.
    pub command: String,
    /// When the run started (RFC 3339, UTC).
    pub started: String,
    /// When the record was written.
    pub finished: String,
    /// Commit and cleanliness. `dirty` is true if the tree was dirty at the start or at the
    /// end, or `HEAD` moved during the run.
    pub source: SourceState,
    /// Tool name → version line (`rustc`, `llvm`, `cargo`, `cargo-nextest`,
    /// `qemu-system-aarch64`, `host`, plus what the caller adds).
    pub tools: BTreeMap<String, String>,
    /// The image the QEMU tests booted, if one was built.
    pub image: Option<ImageRecord>,
    /// Result files, in kind order.
    pub results: Vec<ResultFile>,
    /// The coding-standard findings this run produced (`target/lint/findings.json`), if the
    /// lint gate wrote them during the run. Absent in a record written before the field
    /// existed, which therefore vouches for no findings file.
    #[serde(default)]
    pub lint: Option<LintRecord>,
}

/// The lint gate's findings file as the run left it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LintRecord {
    /// Repository-relative path ([`crate::LINT_FINDINGS`]).
    pub path: String,
    /// Its SHA-256, hex.
    pub sha256: String,
}

impl RunRecord {
    /// Reads `run.json` from `results_dir`; `None` when there is none.
    pub fn load(results_dir: &Path) -> Result<Option<RunRecord>, Error> {
        let path = results_dir.join(RUN_RECORD);
        if !path.exists() {
            return Ok(None);
        }
        let text = read_text(&path)?;
        let value: serde_json::Value = serde_json::from_str(&text)
            .map_err(|error| Error::Json { path: path.clone(), message: error.to_string() })?;
        let version = value.get("schema_version").and_then(serde_json::Value::as_u64).unwrap_or(0);
        if version != SCHEMA_VERSION {
            return Err(Error::SchemaVersion { path, found: version, supported: SCHEMA_VERSION });
        }
        serde_json::from_value(value).map(Some).map_err(|error| Error::Json { path, message: error.to_string() })
    }
}

/// What is known when a test run starts.
#[derive(Clone, Debug)]
pub struct RunStart {
    /// The repository.
    pub repo_root: PathBuf,
    /// Where results go (normally `<repo>/target/test-results`).
    pub results_dir: PathBuf,
    /// The command, for the record.
    pub command: String,
    /// Start time.
    pub started: String,
    /// The tree at the start.
    pub source: SourceState,
    /// Start time, for judging whether a file was written by this run.
    pub started_at: SystemTime,
}

/// How much older than the run's start, after rounding down to the second, a file may look
/// and still count as written by the run (see [`RunStart::check_written_by_run`]).
const CLOCK_TOLERANCE_SECONDS: u64 = 1;

impl RunStart {
    /// Records the tree and time, creates `results_dir` and removes every evidence file of an
    /// earlier run: the copies in `results_dir`, the nextest JUnit files they are copied from
    /// and the lint findings, so a suite or gate that does not run this time leaves no result.
    pub fn begin(repo_root: &Path, results_dir: &Path, command: &str) -> Result<RunStart, Error> {
        let source = SourceState::query(repo_root)?;
        std::fs::create_dir_all(results_dir).map_err(|error| Error::io(results_dir, error))?;
        let mut earlier: Vec<PathBuf> =
            [RUN_RECORD, HOST_JUNIT, QEMU_JUNIT, COVERAGE].iter().map(|name| results_dir.join(name)).collect();
        earlier.extend([ResultKind::Host, ResultKind::Qemu].map(|kind| nextest_junit(repo_root, kind)));
        earlier.push(repo_root.join(crate::LINT_FINDINGS));
        for path in earlier {
            remove_if_present(&path)?;
        }
        Ok(RunStart {
            repo_root: repo_root.to_path_buf(),
            results_dir: results_dir.to_path_buf(),
            command: command.to_owned(),
            started: crate::timestamp::now(),
            source,
            started_at: SystemTime::now(),
        })
    }

    /// Fails unless `path` was last written after this run started. The start is rounded down
    /// to the whole second, so a file system that keeps modification times in seconds does
    /// not make a file of this run look older than the run, and a second more: Linux stamps
    /// files from its coarse clock, which lags the clock `started_at` read by up to a tick, so a
    /// file written just after the start of a second could look older than the run (the
    /// fresh-clone suite saw that once, in this module's test that writes right after `begin`).
    pub fn check_written_by_run(&self, path: &Path) -> Result<(), Error> {
        let modified =
            std::fs::metadata(path).and_then(|metadata| metadata.modified()).map_err(|error| Error::io(path, error))?;
        let since_epoch = self.started_at.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
        let start = UNIX_EPOCH + Duration::from_secs(since_epoch.as_secs().saturating_sub(CLOCK_TOLERANCE_SECONDS));
        if modified >= start {
            return Ok(());
        }
        let age = start.duration_since(modified).unwrap_or(Duration::ZERO);
        Err(Error::NotOfThisRun {
            path: path.to_path_buf(),
            message: format!(
                "last written {} s before the run started at {}: an earlier run left it",
                age.as_secs(),
                self.started
            ),
        })
    }
}

/// Where nextest writes the JUnit file of `kind`'s profile (nextest's store directory is
/// relative to the workspace root; see `.config/nextest.toml`).
pub fn nextest_junit(repo_root: &Path, kind: ResultKind) -> PathBuf {
    repo_root.join("target/nextest").join(kind.nextest_profile()).join("junit.xml")
}

/// Deletes `path` if it exists.
fn remove_if_present(path: &Path) -> Result<(), Error> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(Error::io(path, error)),
    }
}

/// Copies nextest's JUnit file for `kind` ([`nextest_junit`]) into the results directory.
/// Returns the copy's path, or `None` when nextest wrote no file in this run (the tests did not
/// run or did not compile; the trace will show their results as missing). A file older than
/// the run is refused with [`Error::NotOfThisRun`] and nothing is copied.
pub fn collect_nextest_junit(start: &RunStart, kind: ResultKind) -> Result<Option<PathBuf>, Error> {
    let source = nextest_junit(&start.repo_root, kind);
    if !source.exists() {
        return Ok(None);
    }
    start.check_written_by_run(&source)?;
    let destination = start.results_dir.join(kind.file_name());
    std::fs::copy(&source, &destination).map_err(|error| Error::io(&source, error))?;
    Ok(Some(destination))
}

/// What the caller adds at the end of a run.
#[derive(Clone, Debug, Default)]
pub struct Capture<'a> {
    /// The hypervisor ELF the QEMU tests booted, if one was built.
    pub image: Option<&'a Path>,
    /// Further tool versions (e.g. `("bare-metal rustc", "rustc 1.96 (Debian)")`, `("dtc", …)`).
    pub extra_tools: Vec<(String, String)>,
}

/// Writes `run.json` for the run that `start` began and returns it.
pub fn capture(start: &RunStart, capture: &Capture<'_>) -> Result<RunRecord, Error> {
    let end = SourceState::query(&start.repo_root)?;
    let mut source = end.clone();
    source.dirty = start.source.dirty || end.dirty || start.source.commit != end.commit;
    if start.source.commit != end.commit {
        source.changes.insert(0, format!("HEAD moved during the run (from {})", start.source.commit));
    }
    for change in &start.source.changes {
        if !source.changes.contains(change) {
            source.changes.push(change.clone());
        }
    }
    let image = match capture.image {
        Some(path) => Some(ImageRecord { path: relative_path(&start.repo_root, path), sha256: sha256_file(path)? }),
        None => None,
    };
    let mut results = Vec::new();
    for kind in [ResultKind::Host, ResultKind::Qemu] {
        let path = start.results_dir.join(kind.file_name());
        if !path.exists() {
            continue;
        }
        let junit = JunitResults::load(&path)?;
        let (passed, failed, skipped) = junit.counts();
        results.push(ResultFile {
            kind,
            file: kind.file_name().to_owned(),
            sha256: sha256_file(&path)?,
            tests: junit.cases.len(),
            passed,
            failed,
            skipped,
        });
    }
    let findings = start.repo_root.join(crate::LINT_FINDINGS);
    let lint = if findings.exists() {
        match start.check_written_by_run(&findings) {
            Ok(()) => Some(LintRecord { path: crate::LINT_FINDINGS.to_owned(), sha256: sha256_file(&findings)? }),
            // Not this run's findings: the record vouches for none, and the `lint` check says so.
            Err(Error::NotOfThisRun { .. }) => None,
            Err(error) => return Err(error),
        }
    } else {
        None
    };
    let mut tools = tool_versions();
    for (name, version) in &capture.extra_tools {
        tools.insert(name.clone(), version.clone());
    }
    let record = RunRecord {
        schema_version: SCHEMA_VERSION,
        command: start.command.clone(),
        started: start.started.clone(),
        finished: crate::timestamp::now(),
        source,
        tools,
        image,
        results,
        lint,
    };
    let path = start.results_dir.join(RUN_RECORD);
    let text = serde_json::to_string_pretty(&record)
        .map_err(|error| Error::Json { path: path.clone(), message: error.to_string() })?;
    std::fs::write(&path, text + "\n").map_err(|error| Error::io(&path, error))?;
    Ok(record)
}

/// SHA-256 of a file, hex.
pub fn sha256_file(path: &Path) -> Result<String, Error> {
    let bytes = std::fs::read(path).map_err(|error| Error::io(path, error))?;
    Ok(hex(&Sha256::digest(&bytes)))
}

/// The versions of the tools a run depends on; a tool that is not installed is recorded as
/// `not found`.
pub fn tool_versions() -> BTreeMap<String, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    let mut tools = BTreeMap::new();
    let verbose = first_lines(&rustc, &["-vV"], usize::MAX);
    let field = |name: &str| {
        verbose
            .as_deref()
            .and_then(|text| text.lines().find_map(|line| line.strip_prefix(name)).map(|value| value.trim().to_owned()))
    };
    tools.insert("rustc".to_owned(), first_lines(&rustc, &["--version"], 1).unwrap_or_else(|| "not found".to_owned()));
    tools.insert("llvm".to_owned(), field("LLVM version:").unwrap_or_else(|| "unknown".to_owned()));
    tools.insert("host".to_owned(), field("host:").unwrap_or_else(|| "unknown".to_owned()));
    tools.insert("cargo".to_owned(), first_lines(&cargo, &["--version"], 1).unwrap_or_else(|| "not found".to_owned()));
    tools.insert(
        "cargo-nextest".to_owned(),
        first_lines(&cargo, &["nextest", "--version"], 1).unwrap_or_else(|| "not found".to_owned()),
    );
    tools.insert(
        "qemu-system-aarch64".to_owned(),
        first_lines("qemu-system-aarch64", &["--version"], 1).unwrap_or_else(|| "not found".to_owned()),
    );
    tools
}

/// The first `count` lines of a successful command's stdout.
fn first_lines(program: &str, arguments: &[&str], count: usize) -> Option<String> {
    let output = Command::new(program).args(arguments).output().ok()?;
    if !output.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&output.stdout);
    Some(text.lines().take(count).collect::<Vec<_>>().join("\n").trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn git(directory: &Path, arguments: &[&str]) {
        let output = Command::new("git").arg("-C").arg(directory).args(arguments).output().unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    }

    /// A committed repository with an ignored `target/` holding a nextest JUnit file.
    fn repository() -> PathBuf {
        let root = crate::test_support::temp_dir("run-record");
        git(&root, &["init", "-q"]);
        std::fs::write(root.join(".gitignore"), "target/\n").unwrap();
        git(&root, &["add", ".gitignore"]);
        git(&root, &["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "init"]);
        std::fs::create_dir_all(root.join("target")).unwrap();
        std::fs::write(root.join("target/image.elf"), b"\x7fELF image").unwrap();
        root
    }

    /// What nextest writes for the `ci` profile: one passed and one failed test.
    fn write_host_junit(root: &Path) -> PathBuf {
        let path = nextest_junit(root, ResultKind::Host);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(
            &path,
            r#"<testsuites><testsuite name="p"><testcase name="a" classname="p"/><testcase name="b" classname="p"><failure message="x"/></testcase></testsuite></testsuites>"#,
        )
        .unwrap();
        path
    }

    #[test]
    fn a_clean_run_records_commit_image_results_and_tools() {
        let root = repository();
        let results = root.join("target/test-results");
        std::fs::create_dir_all(&results).unwrap();
        std::fs::write(results.join(QEMU_JUNIT), "stale results of an earlier run").unwrap();
        let start = RunStart::begin(&root, &results, "cargo xtask test").unwrap();
        assert!(!results.join(QEMU_JUNIT).exists(), "begin clears an earlier run's results");
        write_host_junit(&root);
        assert!(collect_nextest_junit(&start, ResultKind::Host).unwrap().is_some());
        assert!(collect_nextest_junit(&start, ResultKind::Qemu).unwrap().is_none());
        let image = root.join("target/image.elf");
        let record =
            capture(&start, &Capture { image: Some(&image), extra_tools: vec![("dtc".to_owned(), "1.7".to_owned())] })
                .unwrap();
        assert!(!record.source.dirty);
        assert_eq!(record.image.as_ref().unwrap().path, "target/image.elf");
        assert_eq!(record.image.as_ref().unwrap().sha256, sha256_file(&image).unwrap());
        assert_eq!(record.results.len(), 1);
        assert_eq!((record.results[0].tests, record.results[0].passed, record.results[0].failed), (2, 1, 1));
        assert_eq!(record.tools.get("dtc").map(String::as_str), Some("1.7"));
        assert!(record.tools.contains_key("rustc") && record.tools.contains_key("qemu-system-aarch64"));
        assert_eq!(record.lint, None, "the lint gate did not run");
        assert_eq!(RunRecord::load(&results).unwrap(), Some(record));
    }

    #[test]
    fn the_run_records_the_findings_its_lint_gate_wrote_and_only_those() {
        let root = repository();
        let findings = root.join(crate::LINT_FINDINGS);
        std::fs::create_dir_all(findings.parent().unwrap()).unwrap();
        std::fs::write(&findings, "[]").unwrap();
        let results = root.join("target/test-results");
        let start = RunStart::begin(&root, &results, "cargo xtask test").unwrap();
        assert!(!findings.exists(), "begin deletes an earlier run's findings");
        std::fs::write(&findings, r#"[{"rule": "MLR-01", "file": "a.rs"}]"#).unwrap();
        let record = capture(&start, &Capture::default()).unwrap();
        let lint = record.lint.expect("findings written during the run are recorded");
        assert_eq!((lint.path.as_str(), lint.sha256), (crate::LINT_FINDINGS, sha256_file(&findings).unwrap()));
        let file = std::fs::File::options().write(true).open(&findings).unwrap();
        file.set_modified(SystemTime::now() - Duration::from_secs(3600)).unwrap();
        drop(file);
        assert_eq!(capture(&start, &Capture::default()).unwrap().lint, None, "an older file is not this run's");
    }

    #[test]
    fn a_tree_dirty_at_the_start_stays_dirty_in_the_record() {
        let root = repository();
        std::fs::write(root.join("untracked.rs"), "").unwrap();
        let results = root.join("target/test-results");
        let start = RunStart::begin(&root, &results, "cargo xtask test").unwrap();
        std::fs::remove_file(root.join("untracked.rs")).unwrap();
        let record = capture(&start, &Capture::default()).unwrap();
        assert!(record.source.dirty);
        assert!(record.source.changes.iter().any(|change| change.contains("untracked.rs")));
        assert!(record.image.is_none());
    }

    #[test]
    fn a_run_whose_tests_did_not_compile_keeps_no_earlier_results() {
        let root = repository();
        let earlier = write_host_junit(&root);
        let results = root.join("target/test-results");
        let start = RunStart::begin(&root, &results, "cargo xtask test").unwrap();
        assert!(!earlier.exists(), "begin deletes nextest's own file of an earlier run");
        // nextest fails to compile the tests and writes nothing (as does plain `cargo test`).
        assert_eq!(collect_nextest_junit(&start, ResultKind::Host).unwrap(), None);
        assert!(!results.join(HOST_JUNIT).exists());
        let record = capture(&start, &Capture::default()).unwrap();
        assert!(record.results.is_empty(), "no result file is hashed as this run's: {:?}", record.results);
    }

    #[test]
    fn a_junit_file_older_than_the_run_is_refused_and_nothing_is_copied() {
        let root = repository();
        let results = root.join("target/test-results");
        let start = RunStart::begin(&root, &results, "cargo xtask test").unwrap();
        // An earlier run's file put back after `begin` (restored from a cache, copied by hand):
        // its modification time is an hour before the run.
        let stale = write_host_junit(&root);
        let file = std::fs::File::options().write(true).open(&stale).unwrap();
        file.set_modified(SystemTime::now() - Duration::from_secs(3600)).unwrap();
        drop(file);
        let error = collect_nextest_junit(&start, ResultKind::Host).unwrap_err();
        assert!(matches!(error, Error::NotOfThisRun { .. }), "{error}");
        assert!(error.to_string().contains("earlier run"), "{error}");
        assert!(!results.join(HOST_JUNIT).exists(), "nothing copied");
        assert!(capture(&start, &Capture::default()).unwrap().results.is_empty());
    }

    #[test]
    fn other_schema_versions_are_refused() {
        let directory = crate::test_support::temp_dir("run-record-version");
        std::fs::write(directory.join(RUN_RECORD), r#"{"schema_version": 7}"#).unwrap();
        assert!(matches!(RunRecord::load(&directory), Err(Error::SchemaVersion { found: 7, .. })));
        assert_eq!(RunRecord::load(&crate::test_support::temp_dir("empty")).unwrap(), None);
    }
}
