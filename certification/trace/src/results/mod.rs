//! The evidence produced by running things: test results bound to a run record, lint
//! findings with the deviation register, and code coverage.
//!
//! A test result counts only if the run record says it came from a run of the commit the
//! sources are at, on a clean tree, and — for the QEMU tests — of the image that is still
//! there; the result file must also be the one the run recorded (same SHA-256). Anything
//! else is shown as *stale*, with the recorded outcome as a detail, never as passed.

pub mod coverage;
pub mod junit;
pub mod lint;
pub mod run_record;

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::git::SourceState;
use crate::source::TestName;
use junit::{JunitResults, Outcome, TestCase};
use run_record::{ResultKind, RunRecord, sha256_file};

/// The package whose tests are QEMU integration tests (`itest`); every other package's tests
/// are host unit tests (`utest`).
pub const QEMU_TEST_PACKAGE: &str = "bulkhead-qemu-tests";

/// The state of one piece of evidence.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum State {
    /// The test passed in a valid run.
    Passed,
    /// Code implements it.
    Linked,
    /// A lower item covers it.
    Covered,
    /// An accepted review covers it.
    Reviewed,
    /// An analysis record with an existing artefact covers it.
    Analysed,
    /// The test was skipped or is `#[ignore]`d.
    Skipped,
    /// The result is from another commit, a dirty tree, another image, or an altered file.
    Stale,
    /// There is no result for the test.
    Missing,
    /// Only links to an older revision exist.
    Outdated,
    /// Only draft items cover an approved one.
    DraftOnly,
    /// Nothing covers it.
    Uncovered,
    /// The test failed.
    Failed,
}

impl State {
    /// Whether this state satisfies a need.
    pub const fn is_satisfied(self) -> bool {
        matches!(self, State::Passed | State::Linked | State::Covered | State::Reviewed | State::Analysed)
    }

    /// The lower-case name used in reports.
    pub const fn name(self) -> &'static str {
        match self {
            State::Passed => "passed",
            State::Linked => "linked",
            State::Covered => "covered",
            State::Reviewed => "reviewed",
            State::Analysed => "analysed",
            State::Skipped => "skipped",
            State::Stale => "stale",
            State::Missing => "missing",
            State::Outdated => "outdated",
            State::DraftOnly => "draft-only",
            State::Uncovered => "uncovered",
            State::Failed => "failed",
        }
    }

    /// How bad it is, for taking the worst of several test results.
    pub const fn severity(self) -> u8 {
        match self {
            State::Passed | State::Linked | State::Covered | State::Reviewed | State::Analysed => 0,
            State::Skipped => 1,
            State::Missing => 2,
            State::Stale => 3,
            State::Outdated | State::DraftOnly | State::Uncovered => 4,
            State::Failed => 5,
        }
    }
}

/// Whether one result file's results count.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileValidity {
    /// Which suite.
    pub kind: ResultKind,
    /// The file name.
    pub file: String,
    /// Whether the file exists.
    pub present: bool,
    /// Whether its results count as evidence for the current sources.
    pub valid: bool,
    /// Why not, when they do not.
    pub reasons: Vec<String>,
    /// Tests listed / passed / failed / skipped.
    pub counts: [usize; 4],
}

/// One test's evidence.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TestResult {
    /// The test.
    pub test: TestName,
    /// Its state.
    pub state: State,
    /// The outcome recorded in the result file, if any (shown for stale results).
    pub recorded: Option<Outcome>,
    /// Seconds, when recorded.
    pub seconds: Option<f64>,
    /// Explanation (failure message, why stale, why missing).
    pub detail: String,
}

/// The test results of the recorded run.
#[derive(Clone, Debug, Default)]
pub struct TestEvidence {
    /// The run record, if any.
    pub run: Option<RunRecord>,
    /// Why the run as a whole does not count, if it does not (empty when it does).
    pub run_problems: Vec<String>,
    /// Each result file's validity.
    pub files: Vec<FileValidity>,
    /// Every test in every result file, with the file's kind.
    pub cases: BTreeMap<TestName, (TestCase, ResultKind)>,
}

impl TestEvidence {
    /// Loads `run.json` and the JUnit files from `results_dir` and judges them against the
    /// sources as they are now (`current`).
    pub fn load(repo_root: &Path, results_dir: &Path, current: &SourceState) -> Result<TestEvidence, Error> {
        let run = RunRecord::load(results_dir)?;
        let mut run_problems = Vec::new();
        match &run {
            None => run_problems.push(format!(
                "there is no run record ({}/{}): run `cargo xtask test`",
                crate::requirements::relative_path(repo_root, results_dir),
                run_record::RUN_RECORD
            )),
            Some(run) => {
                if run.source.commit != current.commit {
                    run_problems.push(format!(
                        "the run tested commit {}, the sources are at {}",
                        short(&run.source.commit),
                        short(&current.commit)
                    ));
                }
                if run.source.dirty {
                    run_problems.push(format!(
                        "the run's tree had uncommitted changes ({})",
                        changes_summary(&run.source.changes, run.source.changed)
                    ));
                }
            }
        }
        if current.dirty {
            run_problems.push(format!(
                "the sources have uncommitted changes ({})",
                changes_summary(&current.changes, current.changed)
            ));
        }
        let mut evidence = TestEvidence { run, run_problems, files: Vec::new(), cases: BTreeMap::new() };
        for kind in [ResultKind::Host, ResultKind::Qemu] {
            let path = results_dir.join(kind.file_name());
            let present = path.exists();
            let mut reasons = evidence.run_problems.clone();
            let mut counts = [0; 4];
            if present {
                let results = JunitResults::load(&path)?;
                let (passed, failed, skipped) = results.counts();
                counts = [results.cases.len(), passed, failed, skipped];
                let recorded = evidence.run.as_ref().and_then(|run| run.results.iter().find(|file| file.kind == kind));
                match (&evidence.run, recorded) {
                    (Some(_), None) => reasons.push("the run record does not list this file".to_owned()),
                    (Some(_), Some(file)) if file.sha256 != sha256_file(&path)? => {
                        reasons.push("the file changed after the run recorded it".to_owned());
                    }
                    _ => {}
                }
                if kind == ResultKind::Qemu {
                    reasons.extend(evidence.image_problems(repo_root)?);
                }
                for (name, case) in results.cases {
                    evidence.cases.insert(name, (case, kind));
                }
            }
            evidence.files.push(FileValidity {
                kind,
                file: kind.file_name().to_owned(),
                present,
                valid: present && reasons.is_empty(),
                reasons,
                counts,
            });
        }
        Ok(evidence)
    }

    /// Why the recorded image does not match the image on disk.
    fn image_problems(&self, repo_root: &Path) -> Result<Vec<String>, Error> {
        let Some(run) = &self.run else { return Ok(Vec::new()) };
        let Some(image) = &run.image else { return Ok(vec!["the run recorded no image".to_owned()]) };
        let path = repo_root.join(&image.path);
        if !path.exists() {
            return Ok(vec![format!("the tested image {} no longer exists", image.path)]);
        }
        let now = sha256_file(&path)?;
        Ok(if now == image.sha256 {
            Vec::new()
        } else {
            vec![format!(
                "the image {} is not the one tested (sha256 {} now, {} in the run)",
                image.path,
                short(&now),
                short(&image.sha256)
            )]
        })
    }

    /// The evidence for `test`; `ignored` says whether its source carries `#[ignore]`.
    pub fn result_of(&self, test: &TestName, ignored: bool) -> TestResult {
        let result = |state, recorded, seconds, detail: String| TestResult {
            test: test.clone(),
            state,
            recorded,
            seconds,
            detail,
        };
        match self.cases.get(test) {
            Some((case, kind)) => {
                let validity = self.files.iter().find(|file| file.kind == *kind);
                match validity {
                    Some(file) if file.valid => {
                        let state = match case.outcome {
                            Outcome::Passed => State::Passed,
                            Outcome::Failed => State::Failed,
                            Outcome::Skipped => State::Skipped,
                        };
                        let mut detail = case.message.clone().unwrap_or_default();
                        if case.flaky {
                            detail = format!("flaky: passed on a retry. {detail}");
                        }
                        result(state, Some(case.outcome), case.seconds, detail.trim().to_owned())
                    }
                    _ => {
                        let reasons = validity.map(|file| file.reasons.join("; ")).unwrap_or_default();
                        result(State::Stale, Some(case.outcome), case.seconds, reasons)
                    }
                }
            }
            None if ignored => result(State::Skipped, None, None, "#[ignore]d in the source".to_owned()),
            None => {
                let kind = if test.binary_id.split("::").next() == Some(QEMU_TEST_PACKAGE) {
                    ResultKind::Qemu
                } else {
                    ResultKind::Host
                };
                let file = self.files.iter().find(|file| file.kind == kind);
                let detail = match (&self.run, file) {
                    (None, _) => "no run record".to_owned(),
                    (Some(_), Some(file)) if !file.present => {
                        format!("{} is missing: the suite did not run", file.file)
                    }
                    _ => format!("not in {} of the recorded run", kind.file_name()),
                };
                result(State::Missing, None, None, detail)
            }
        }
    }
}

/// The first few changed paths, and how many more there are.
fn changes_summary(changes: &[String], changed: usize) -> String {
    const SHOWN: usize = 5;
    let mut text = changes.iter().take(SHOWN).map(|change| change.trim()).collect::<Vec<_>>().join("; ");
    let total = changed.max(changes.len());
    if total > SHOWN {
        text.push_str(&format!("; and {} more", total - SHOWN));
    }
    text
}

/// The first 12 characters of a hash.
pub fn short(hash: &str) -> &str {
    &hash[..hash.len().min(12)]
}
