//! A copy of the fixture repository (`tests/fixtures/repo`) in a temporary directory, with
//! helpers to edit it, record a test run for it and trace it.
//!
//! The fixture is a miniature Bulkhead: one branch of the specification (hazard → goal →
//! FSR → SWR → two design items, a draft FSR, an assumption), a core crate with tagged code
//! and unit tests, a QEMU test crate with a tagged integration test, JUnit results, lint
//! findings and a deviation register. Traced as shipped, every check passes; each test
//! breaks one thing and asserts the check that must notice.

#![allow(dead_code, reason = "each test binary uses a different subset of the helpers")]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use bulkhead_trace::checks::{CheckResult, Verdict};
use bulkhead_trace::git::SourceState;
use bulkhead_trace::results::run_record::{ImageRecord, LintRecord, ResultFile, ResultKind, RunRecord, sha256_file};
use bulkhead_trace::{Options, Report};

/// The commit the fixture pretends to be at.
pub const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

/// A fixture copy.
pub struct Fixture {
    /// Its root.
    pub root: PathBuf,
    /// The source state the trace is judged against.
    pub source: SourceState,
}

/// Copies a directory tree.
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

impl Fixture {
    /// A fresh copy with a clean, passing test run recorded.
    pub fn new(label: &str) -> Fixture {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let number = NEXT.fetch_add(1, Ordering::Relaxed);
        let root = std::env::temp_dir().join(format!("bulkhead-trace-fixture-{}-{label}-{number}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        copy_tree(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/repo"), &root);
        let results = root.join("target/test-results");
        std::fs::create_dir_all(&results).unwrap();
        std::fs::create_dir_all(root.join("target/lint")).unwrap();
        std::fs::rename(root.join("results/host-junit.xml"), results.join("host-junit.xml")).unwrap();
        std::fs::rename(root.join("results/qemu-junit.xml"), results.join("qemu-junit.xml")).unwrap();
        std::fs::rename(root.join("results/findings.json"), root.join("target/lint/findings.json")).unwrap();
        std::fs::rename(root.join("results/image.elf"), root.join("target/image.elf")).unwrap();
        let fixture = Fixture {
            root,
            source: SourceState { commit: COMMIT.to_owned(), dirty: false, changes: Vec::new(), changed: 0 },
        };
        fixture.record_run(COMMIT, false);
        fixture
    }

    /// Path of a file in the copy.
    pub fn path(&self, relative: &str) -> PathBuf {
        self.root.join(relative)
    }

    /// Replaces `from` (which must occur) by `to` in a file.
    pub fn edit(&self, relative: &str, from: &str, to: &str) {
        let path = self.path(relative);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(from), "{relative} does not contain {from:?}");
        std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
    }

    /// Appends to a file (creating it).
    pub fn append(&self, relative: &str, text: &str) {
        let path = self.path(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let mut existing = std::fs::read_to_string(&path).unwrap_or_default();
        existing.push_str(text);
        std::fs::write(&path, existing).unwrap();
    }

    /// Writes `run.json` for the current result files, findings and image, as `capture` would
    /// (the findings file must exist).
    pub fn record_run(&self, commit: &str, dirty: bool) {
        let results = self.path("target/test-results");
        let mut files = Vec::new();
        for kind in [ResultKind::Host, ResultKind::Qemu] {
            let path = results.join(kind.file_name());
            if path.exists() {
                files.push(ResultFile {
                    kind,
                    file: kind.file_name().to_owned(),
                    sha256: sha256_file(&path).unwrap(),
                    tests: 0,
                    passed: 0,
                    failed: 0,
                    skipped: 0,
                });
            }
        }
        let record = RunRecord {
            schema_version: bulkhead_trace::run_record::SCHEMA_VERSION,
            command: "cargo xtask test".to_owned(),
            started: "2026-11-25T10:00:00Z".to_owned(),
            finished: "2026-11-25T10:05:00Z".to_owned(),
            source: SourceState {
                commit: commit.to_owned(),
                dirty,
                changes: if dirty { vec![" M hypervisor/core/src/lib.rs".to_owned()] } else { Vec::new() },
                changed: usize::from(dirty),
            },
            tools: [("rustc".to_owned(), "rustc 1.95.0".to_owned())].into_iter().collect(),
            image: Some(ImageRecord {
                path: "target/image.elf".to_owned(),
                sha256: sha256_file(&self.path("target/image.elf")).unwrap(),
            }),
            results: files,
            lint: Some(LintRecord {
                path: bulkhead_trace::LINT_FINDINGS.to_owned(),
                sha256: sha256_file(&self.path(bulkhead_trace::LINT_FINDINGS)).unwrap(),
            }),
        };
        std::fs::write(results.join("run.json"), serde_json::to_string_pretty(&record).unwrap()).unwrap();
    }

    /// Options for tracing the copy (reports into `target/trace`).
    pub fn options(&self) -> Options {
        let mut options = Options::new(&self.root);
        options.source_state = Some(self.source.clone());
        options
    }

    /// Traces the copy.
    pub fn trace(&self) -> Report {
        bulkhead_trace::run(&self.options()).unwrap()
    }
}

/// The check with `id`.
pub fn check<'a>(report: &'a Report, id: &str) -> &'a CheckResult {
    report.trace.checks.iter().find(|check| check.id == id).unwrap_or_else(|| panic!("no check {id}"))
}

/// Asserts that check `id` failed with a finding containing every fragment, and prints the
/// findings when it did not.
pub fn assert_fails_with(report: &Report, id: &str, fragments: &[&str]) {
    let result = check(report, id);
    let messages: Vec<String> = result
        .findings
        .iter()
        .map(|finding| format!("{} {}", finding.location.clone().unwrap_or_default(), finding.message))
        .collect();
    assert_eq!(result.verdict, Verdict::Fail, "{id} should fail; findings: {messages:#?}");
    assert!(
        messages.iter().any(|message| fragments.iter().all(|fragment| message.contains(fragment))),
        "{id}: no finding contains {fragments:?}; findings: {messages:#?}"
    );
    assert!(!report.passed());
}

/// Asserts that check `id` passed (no failing finding).
pub fn assert_passes(report: &Report, id: &str) {
    let result = check(report, id);
    assert_ne!(result.verdict, Verdict::Fail, "{id} should pass; findings: {:#?}", result.findings);
}
