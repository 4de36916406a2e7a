//! `bulkhead-trace`: Bulkhead's traceability and safety-case evidence generator.
//!
//! It reads the specification items (`certification/requirements/*.toml`) and their lock,
//! the OpenFastTrace tags in the sources, the results of the last `cargo xtask test` run,
//! the coding-standard findings with the deviation register, review records and code
//! coverage; traces every safety goal down to code and passing tests; runs the checks that
//! decide the exit code; and writes `trace.json` with the HTML and Markdown reports made
//! from it. Nothing is marked verified unless a linked test passed in a recorded run of the
//! current commit on a clean tree with the image that is on disk.
//!
//! Entry points: [`run`] (what `cargo xtask trace` calls), [`run_record`] (what
//! `cargo xtask test` calls to write the run record), [`browser`] (the headless-Chromium
//! render check) and [`coverage`] (measuring coverage of the hypervisor core). The input
//! files and their formats are specified in `certification/README.md`.
#![forbid(unsafe_code)]

pub mod analyses;
pub mod apt;
pub mod browser;
pub mod checks;
pub mod coverage;
pub mod error;
pub mod evidence;
pub mod git;
pub mod id;
pub mod lock;
pub mod report;
pub mod requirements;
pub mod results;
pub mod reviews;
pub mod source;
pub mod timestamp;

pub use error::Error;
pub use results::run_record;

use std::path::{Path, PathBuf};

use checks::{CheckInputs, Verdict};
use git::SourceState;
use lock::Lock;
use report::{ReportInputs, TraceReport};
use results::TestEvidence;
use results::coverage::Coverage;

/// The directory of the specification items, relative to the repository root.
pub const REQUIREMENTS_DIR: &str = "certification/requirements";
/// The lock file.
pub const LOCK_FILE: &str = "certification/requirements.lock";
/// The deviation register (owned by `misra-like-lints`).
pub const DEVIATIONS_FILE: &str = "certification/deviations.toml";
/// Review records.
pub const REVIEWS_FILE: &str = "certification/reviews.toml";
/// Analysis records.
pub const ANALYSES_FILE: &str = "certification/analyses.toml";
/// Where `cargo xtask test` leaves results.
pub const RESULTS_DIR: &str = "target/test-results";
/// Where the lint tool leaves its findings.
pub const LINT_FINDINGS: &str = "target/lint/findings.json";
/// Where the reports go.
pub const OUT_DIR: &str = "target/trace";

/// What to do.
#[derive(Clone, Debug)]
pub struct Options {
    /// The repository root.
    pub repo_root: PathBuf,
    /// Test results, run record and coverage ([`RESULTS_DIR`]).
    pub results_dir: PathBuf,
    /// The lint tool's findings ([`LINT_FINDINGS`]).
    pub lint_findings: PathBuf,
    /// Where reports are written ([`OUT_DIR`]).
    pub out_dir: PathBuf,
    /// Only run the checks; write no reports.
    pub check_only: bool,
    /// Add new item revisions to the lock file before checking.
    pub update_lock: bool,
    /// The source state to judge evidence against; `None` asks git.
    pub source_state: Option<SourceState>,
    /// Source roots to scan for tags and unsafe code, relative to the root.
    pub source_roots: Vec<String>,
}

impl Options {
    /// The default options for the repository at `repo_root`.
    pub fn new(repo_root: impl Into<PathBuf>) -> Options {
        let repo_root = repo_root.into();
        Options {
            results_dir: repo_root.join(RESULTS_DIR),
            lint_findings: repo_root.join(LINT_FINDINGS),
            out_dir: repo_root.join(OUT_DIR),
            check_only: false,
            update_lock: false,
            source_state: None,
            source_roots: source::DEFAULT_ROOTS.iter().map(|root| (*root).to_owned()).collect(),
            repo_root,
        }
    }
}

/// What a run produced.
#[derive(Clone, Debug)]
pub struct Report {
    /// Everything, as written to `trace.json`.
    pub trace: TraceReport,
    /// Files written (empty with `check_only`).
    pub outputs: Vec<PathBuf>,
    /// Whether the lock file was rewritten.
    pub lock_updated: bool,
}

impl Report {
    /// Whether no check failed (warnings allowed): the exit code.
    pub fn passed(&self) -> bool {
        self.trace.verdict != Verdict::Fail
    }

    /// The IDs of the checks that failed, in report order.
    pub fn failed_checks(&self) -> Vec<&str> {
        self.trace.checks.iter().filter(|check| check.verdict == Verdict::Fail).map(|check| check.id.as_str()).collect()
    }

    /// One line per check, for the terminal.
    pub fn summary(&self) -> String {
        let mut lines = Vec::new();
        for check in &self.trace.checks {
            let verdict = match check.verdict {
                Verdict::Pass => "ok",
                Verdict::Warn => "warn",
                Verdict::Fail => "FAILED",
            };
            lines.push(format!("  {verdict:<7} {:<14} {}", check.id, check.summary));
        }
        lines.join("\n")
    }
}

/// `value` as a float, for percentages and drawing coordinates: exact below 2^32, which every
/// count here stays far below (larger values saturate rather than wrap).
pub(crate) fn display_f64(value: u64) -> f64 {
    f64::from(u32::try_from(value).unwrap_or(u32::MAX))
}

/// Reads everything, runs the checks and (unless `check_only`) writes the reports.
pub fn run(options: &Options) -> Result<Report, Error> {
    let root = &options.repo_root;
    let items = requirements::load(root, &root.join(REQUIREMENTS_DIR))?;
    let lock_path = root.join(LOCK_FILE);
    let mut lock = Lock::load(&lock_path)?;
    let mut lock_updated = false;
    if options.update_lock {
        let updated = lock.updated(&items);
        if updated != lock || !lock_path.exists() {
            updated.write(&lock_path)?;
            lock_updated = true;
        }
        lock = updated;
    }
    let lock_problems = lock.check(&items);
    let source = match &options.source_state {
        Some(state) => state.clone(),
        None => SourceState::query(root)?,
    };
    let roots: Vec<&str> = options.source_roots.iter().map(String::as_str).collect();
    let scan = source::scan(root, &roots)?;
    let tests = TestEvidence::load(root, &options.results_dir, &source)?;
    let lint_findings = results::lint::load_findings(&options.lint_findings)?;
    let lint_binding = results::lint::run_binding(&options.lint_findings, tests.run.as_ref(), &source)?;
    let deviations = results::lint::load_deviations(&root.join(DEVIATIONS_FILE))?;
    let coverage = Coverage::load(&options.results_dir.join(run_record::COVERAGE))?;
    let reviews = reviews::load(&root.join(REVIEWS_FILE))?;
    let analyses = analyses::load(root, &root.join(ANALYSES_FILE))?;
    let trace = evidence::build(&items, &scan, &tests, &reviews, &analyses);
    let check_results = checks::run_all(&CheckInputs {
        items: &items,
        trace: &trace,
        lock_problems: &lock_problems,
        scan: &scan,
        tests: &tests,
        lint_findings: lint_findings.as_deref(),
        lint_binding: &lint_binding,
        deviations: deviations.as_deref(),
        coverage: coverage.as_ref(),
        source: &source,
    });
    let trace_report = report::build(ReportInputs {
        items: &items,
        trace: &trace,
        checks: check_results,
        scan: &scan,
        tests: &tests,
        deviations,
        lint_findings,
        coverage,
        reviews,
        source,
    });
    let outputs = if options.check_only { Vec::new() } else { write_reports(&trace_report, &options.out_dir)? };
    Ok(Report { trace: trace_report, outputs, lock_updated })
}

/// Writes `trace.json`, `trace.html`, `trace.md`, `goal-tree.svg` and `oft/requirements.md`
/// into `out_dir` and returns their paths.
pub fn write_reports(report: &TraceReport, out_dir: &Path) -> Result<Vec<PathBuf>, Error> {
    std::fs::create_dir_all(out_dir.join("oft")).map_err(|error| Error::io(out_dir, error))?;
    let json_path = out_dir.join("trace.json");
    let json = serde_json::to_string_pretty(report)
        .map_err(|error| Error::Json { path: json_path.clone(), message: error.to_string() })?;
    let files = [
        (json_path, json + "\n"),
        (out_dir.join("trace.html"), report::html::render(report)),
        (out_dir.join("trace.md"), report::markdown::render(report)),
        (out_dir.join("goal-tree.svg"), report::svg::render(&report.safety_case)),
        (out_dir.join("oft/requirements.md"), report::oft::render(report)),
    ];
    let mut written = Vec::new();
    for (path, text) in files {
        std::fs::write(&path, text).map_err(|error| Error::io(&path, error))?;
        written.push(path);
    }
    Ok(written)
}

/// Re-renders the reports from a stored `trace.json` (the single source) into `out_dir`.
pub fn render_from_json(trace_json: &Path, out_dir: &Path) -> Result<Vec<PathBuf>, Error> {
    let text = error::read_text(trace_json)?;
    let value: serde_json::Value = serde_json::from_str(&text)
        .map_err(|error| Error::Json { path: trace_json.to_path_buf(), message: error.to_string() })?;
    let version = value.get("schema_version").and_then(serde_json::Value::as_u64).unwrap_or(0);
    if version != report::SCHEMA_VERSION {
        return Err(Error::SchemaVersion {
            path: trace_json.to_path_buf(),
            found: version,
            supported: report::SCHEMA_VERSION,
        });
    }
    let report: TraceReport = serde_json::from_value(value)
        .map_err(|error| Error::Json { path: trace_json.to_path_buf(), message: error.to_string() })?;
    write_reports(&report, out_dir)
}

#[cfg(test)]
pub(crate) mod test_support {
    //! Helpers shared by the unit tests.

    use std::path::PathBuf;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A fresh, empty directory for one test.
    pub fn temp_dir(label: &str) -> PathBuf {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let number = NEXT.fetch_add(1, Ordering::Relaxed);
        let directory = std::env::temp_dir().join(format!("bulkhead-trace-{}-{label}-{number}", std::process::id()));
        let _ = std::fs::remove_dir_all(&directory);
        std::fs::create_dir_all(&directory).unwrap();
        directory
    }
}
