//! `trace.json`, the single source of every report, and the renderings made from it: the
//! self-contained HTML report, the Markdown summary and an OpenFastTrace export.
//!
//! Renderers take a [`TraceReport`] and nothing else, so the HTML and Markdown can be
//! regenerated from a stored `trace.json` (`bulkhead-trace render`) and always agree with it.

pub mod html;
pub mod markdown;
pub mod oft;
pub mod safety_case;
pub mod svg;

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::checks::{CheckResult, Verdict};
use crate::evidence::{NeedTrace, TagProblem, Trace};
use crate::git::SourceState;
use crate::id::SpecId;
use crate::requirements::{Item, Level, Method, Status};
use crate::results::coverage::Coverage;
use crate::results::lint::{Deviation, LintFinding};
use crate::results::run_record::RunRecord;
use crate::results::{FileValidity, TestEvidence, TestResult};
use crate::reviews::Review;
use crate::source::items::AnchorKind;
use crate::source::{SourceScan, TestName, UnsafeSite};
use safety_case::GsnNode;

/// `trace.json`'s schema version.
pub const SCHEMA_VERSION: u64 = 1;

/// `trace.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TraceReport {
    /// [`SCHEMA_VERSION`].
    pub schema_version: u64,
    /// `bulkhead-trace <version>`.
    pub generator: String,
    /// Fail if any check failed, warn if any warned, else pass.
    pub verdict: Verdict,
    /// The sources the report describes.
    pub source: SourceState,
    /// Every check, in order.
    pub checks: Vec<CheckResult>,
    /// Every item, in file order.
    pub items: Vec<ItemReport>,
    /// Every tag, in file order.
    pub tags: Vec<TagReport>,
    /// Test evidence.
    pub tests: TestReport,
    /// The unsafe inventory.
    pub unsafe_sites: Vec<UnsafeSite>,
    /// The deviation register, if there is one.
    pub deviations: Option<Vec<Deviation>>,
    /// Lint findings, if the lint tool ran.
    pub lint_findings: Option<Vec<LintFinding>>,
    /// Code coverage, if measured.
    pub coverage: Option<Coverage>,
    /// Review records.
    pub reviews: Vec<Review>,
    /// The safety argument as a GSN goal tree.
    pub safety_case: GsnNode,
}

/// One item with its trace.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ItemReport {
    /// ID.
    pub id: SpecId,
    /// Level.
    pub level: Level,
    /// Title.
    pub title: String,
    /// Text.
    pub text: String,
    /// Rationale.
    pub rationale: String,
    /// ASIL/SIL.
    pub integrity: Option<String>,
    /// Status.
    pub status: Status,
    /// Verification methods.
    pub verification: Vec<Method>,
    /// Parents.
    pub covers: Vec<SpecId>,
    /// Assumptions relied on.
    pub assumes: Vec<SpecId>,
    /// Needs with their links and states.
    pub needs: Vec<NeedTrace>,
    /// Declared verification methods with their evidence.
    #[serde(default)]
    pub methods: Vec<crate::evidence::MethodTrace>,
    /// Items covering this exact revision.
    pub covered_by: Vec<SpecId>,
    /// Whether verified (bottom up).
    pub verified: bool,
    /// Why not.
    pub reasons: Vec<String>,
    /// Further fields (hazard cause, consequence, situation).
    pub extra: std::collections::BTreeMap<String, String>,
    /// Defining file.
    pub file: String,
    /// Defining line.
    pub line: usize,
    /// Hash of its text (the lock's value).
    pub sha256: String,
}

/// One tag with its binding and problems.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TagReport {
    /// Kind as written.
    pub kind: String,
    /// Target as written (or the malformed text).
    pub target: String,
    /// File.
    pub file: String,
    /// Line.
    pub line: usize,
    /// The tag text.
    pub text: String,
    /// What it is bound to.
    pub bound: Option<BoundReport>,
    /// Its problems (empty: a good link).
    pub problems: Vec<TagProblem>,
}

/// The item a tag stands on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BoundReport {
    /// What it is.
    pub kind: AnchorKind,
    /// Its name.
    pub name: String,
    /// Its line.
    pub line: usize,
    /// The tests it stands for.
    pub tests: Vec<TestName>,
}

/// The test evidence.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TestReport {
    /// The run record.
    pub run: Option<RunRecord>,
    /// Why the run does not count, if it does not.
    pub run_problems: Vec<String>,
    /// Each result file.
    pub files: Vec<FileValidity>,
    /// Every linked test's evidence.
    pub linked: Vec<TestResult>,
    /// Tests that ran but carry no tag (informational).
    pub untraced: Vec<TestName>,
}

/// Everything the report is built from.
pub struct ReportInputs<'a> {
    /// Items.
    pub items: &'a [Item],
    /// Graph.
    pub trace: &'a Trace,
    /// Checks.
    pub checks: Vec<CheckResult>,
    /// Scan.
    pub scan: &'a SourceScan,
    /// Tests.
    pub tests: &'a TestEvidence,
    /// Deviations.
    pub deviations: Option<Vec<Deviation>>,
    /// Lint findings.
    pub lint_findings: Option<Vec<LintFinding>>,
    /// Coverage.
    pub coverage: Option<Coverage>,
    /// Reviews.
    pub reviews: Vec<Review>,
    /// Source state.
    pub source: SourceState,
}

/// Assembles `trace.json`.
pub fn build(inputs: ReportInputs<'_>) -> TraceReport {
    let items: Vec<ItemReport> = inputs
        .items
        .iter()
        .zip(&inputs.trace.items)
        .map(|(item, trace)| ItemReport {
            id: item.id.clone(),
            level: item.level,
            title: item.title.clone(),
            text: item.text.clone(),
            rationale: item.rationale.clone(),
            integrity: item.integrity.clone(),
            status: item.status,
            verification: item.verification.clone(),
            covers: item.covers.clone(),
            assumes: item.assumes.clone(),
            needs: trace.needs.clone(),
            methods: trace.methods.clone(),
            covered_by: trace.covered_by.clone(),
            verified: trace.verified,
            reasons: trace.reasons.clone(),
            extra: item.extra.clone(),
            file: item.file.clone(),
            line: item.line,
            sha256: item.text_hash(),
        })
        .collect();
    let tags = inputs
        .scan
        .tags
        .iter()
        .zip(&inputs.trace.tag_problems)
        .map(|(tag, problems)| TagReport {
            kind: tag.kind.clone(),
            target: match &tag.target {
                Ok(id) => id.to_string(),
                Err(_) => tag.text.trim_matches(['[', ']']).split("->").nth(1).unwrap_or_default().trim().to_owned(),
            },
            file: tag.file.clone(),
            line: tag.line,
            text: tag.text.clone(),
            bound: tag.bound.as_ref().ok().map(|bound| BoundReport {
                kind: bound.kind,
                name: bound.name.clone(),
                line: bound.line,
                tests: bound.tests.iter().map(|(test, _)| test.clone()).collect(),
            }),
            problems: problems.clone(),
        })
        .collect();
    let linked_names: BTreeSet<&TestName> = inputs.trace.test_results.keys().collect();
    let untraced = inputs.tests.cases.keys().filter(|name| !linked_names.contains(name)).cloned().collect();
    let verdict = inputs.checks.iter().map(|check| check.verdict).max().unwrap_or(Verdict::Pass);
    let safety_case = safety_case::build(&items);
    TraceReport {
        schema_version: SCHEMA_VERSION,
        generator: format!("bulkhead-trace {}", env!("CARGO_PKG_VERSION")),
        verdict,
        source: inputs.source,
        checks: inputs.checks,
        items,
        tags,
        tests: TestReport {
            run: inputs.tests.run.clone(),
            run_problems: inputs.tests.run_problems.clone(),
            files: inputs.tests.files.clone(),
            linked: inputs.trace.test_results.values().cloned().collect(),
            untraced,
        },
        unsafe_sites: inputs.scan.unsafe_sites.clone(),
        deviations: inputs.deviations,
        lint_findings: inputs.lint_findings,
        coverage: inputs.coverage,
        reviews: inputs.reviews,
        safety_case,
    }
}

impl TraceReport {
    /// The item with `id`.
    pub fn item(&self, id: &SpecId) -> Option<&ItemReport> {
        self.items.iter().find(|item| item.id == *id)
    }

    /// Items of `level`.
    pub fn of_level(&self, level: Level) -> impl Iterator<Item = &ItemReport> {
        self.items.iter().filter(move |item| item.level == level)
    }

    /// Items that name `id` in `covers`.
    pub fn children(&self, id: &SpecId) -> impl Iterator<Item = &ItemReport> {
        self.items.iter().filter(move |item| item.covers.contains(id))
    }
}
