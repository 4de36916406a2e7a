//! The checks whose verdicts decide the exit code: each returns findings, and any failing
//! finding fails the run.
//!
//! | check          | fails when                                                              |
//! |----------------|-------------------------------------------------------------------------|
//! | `items`        | duplicate, dangling, outdated or obsolete links between items; an approved item that refines nothing; coverage the parent does not need |
//! | `lock`         | text changed without a revision bump; revision not locked; revision went back; item deleted |
//! | `tags`         | orphan tags: unknown kind, malformed, bound to nothing, dangling/outdated/obsolete target, unwanted, test tag off a test, wrong suite; files that do not parse |
//! | `coverage`     | an approved item lacks a kind of coverage it needs (from the safety goals down) |
//! | `methods`      | an approved item declares a verification method with nothing to show for it: `test`/`fault-injection` with no test linked in its scope, `analysis` without a record whose artefact exists, `review` without an accepted review |
//! | `evidence`     | an approved item's linked tests did not all pass in a valid run of this commit; an item declaring `test` none of whose linked tests passed |
//! | `unsafe`       | an `unsafe` block/impl/extern without `// SAFETY:`, an unsafe fn/trait without `# Safety` |
//! | `lint`         | no findings file; a findings file the run record does not vouch for (other hash, not recorded, other commit); a suppressed finding without an approved deviation for its rule; an unjustified error |
//! | `code-coverage`| never fails: warns when coverage was not measured or is stale          |

use serde::{Deserialize, Serialize};

use crate::evidence::{Index, Trace};
use crate::git::SourceState;
use crate::lock::LockProblem;
use crate::requirements::{Item, Level, Status};
use crate::results::TestEvidence;
use crate::results::coverage::Coverage;
use crate::results::lint::{Deviation, LintFinding, RunBinding};
use crate::source::SourceScan;

/// The checks that count evidence: whether a recorded run's results count for the sources
/// as they are. On a tree with uncommitted changes no result can count, so these fail for a
/// reason that is not a defect; a caller may downgrade them there (`cargo xtask test` does).
/// Every other check judges the sources, the specification or the run's own outputs, which
/// a dirty tree does not excuse.
pub const EVIDENCE_COUNTING: &[&str] = &["evidence"];

/// What a passing check guarantees, and what it does not: shown next to every verdict in
/// the report, so a green row is never read as more than it is. The certification README
/// carries the same table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Guarantee {
    /// The check's ID.
    pub check: &'static str,
    /// What a pass establishes.
    pub guarantees: &'static str,
    /// What a pass does not establish.
    pub does_not: &'static str,
}

/// One entry per check the tool runs (a test fails when a check has none).
pub const GUARANTEES: &[Guarantee] = &[
    Guarantee {
        check: "items",
        guarantees: "the specification is one consistent graph of current revisions",
        does_not: "that the items are right or complete (people review them)",
    },
    Guarantee {
        check: "lock",
        guarantees: "no requirement text changed without a revision bump and a lock entry",
        does_not: "that the lock diff was reviewed (the code review's job)",
    },
    Guarantee {
        check: "tags",
        guarantees: "every tag names a current item that wants that kind and binds to code or a test of the right suite",
        does_not: "that tagged code implements the item or that a tagged test checks it: a tag on an empty test is evidence only of the test's name, so tests are reviewed with their tags",
    },
    Guarantee {
        check: "coverage",
        guarantees: "every need of an approved item has a link of that kind",
        does_not: "anything about results",
    },
    Guarantee {
        check: "methods",
        guarantees: "each declared verification method has a test, an analysis record with an existing artefact, or an accepted review",
        does_not: "that the test exercises the item, that the analysis shows what it claims, or that a fault-injection test injects a fault",
    },
    Guarantee {
        check: "evidence",
        guarantees: "every linked test passed in a run of this commit on a clean tree, with the result files and image that run recorded and wrote",
        does_not: "that run.json itself was not rewritten: the record is evidence of a process, not a signature",
    },
    Guarantee {
        check: "unsafe",
        guarantees: "every unsafe site carries a safety argument",
        does_not: "that the argument is correct",
    },
    Guarantee {
        check: "lint",
        guarantees: "the findings are the ones the recorded run's gate wrote, and every suppression cites an approved deviation in its scope",
        does_not: "more than the lint rules find (they approximate MISRA: misra-like-lints/RULES.md)",
    },
    Guarantee {
        check: "code-coverage",
        guarantees: "nothing: it is informative",
        does_not: "that covered lines are checked by an assertion",
    },
];

/// The guarantee of the check `id`, when it has one.
pub fn guarantee(id: &str) -> Option<&'static Guarantee> {
    GUARANTEES.iter().find(|entry| entry.check == id)
}

/// A check's or a finding's verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Nothing wrong.
    Pass,
    /// Shown, does not fail the run.
    Warn,
    /// Fails the run.
    Fail,
}

/// One problem.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// Fail or warn.
    pub severity: Verdict,
    /// What is wrong and what to do.
    pub message: String,
    /// `file:line`, when there is a place.
    pub location: Option<String>,
    /// The item concerned, when there is one.
    pub item: Option<String>,
}

/// One check's result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckResult {
    /// Stable ID (`items`, `lock`, …).
    pub id: String,
    /// What it checks.
    pub title: String,
    /// The worst finding's severity (pass when none).
    pub verdict: Verdict,
    /// One line for the summary table.
    pub summary: String,
    /// Its findings.
    pub findings: Vec<Finding>,
}

impl CheckResult {
    /// A result from findings.
    fn new(id: &str, title: &str, summary: String, findings: Vec<Finding>) -> CheckResult {
        let verdict = findings.iter().map(|finding| finding.severity).max().unwrap_or(Verdict::Pass);
        CheckResult { id: id.to_owned(), title: title.to_owned(), verdict, summary, findings }
    }
}

/// Builds a finding.
fn finding(severity: Verdict, message: String, location: Option<String>, item: Option<&Item>) -> Finding {
    Finding { severity, message, location, item: item.map(|item| item.id.to_string()) }
}

/// `file:line` of an item.
fn at(item: &Item) -> Option<String> {
    Some(format!("{}:{}", item.file, item.line))
}

/// Everything the checks look at.
pub struct CheckInputs<'a> {
    /// The items.
    pub items: &'a [Item],
    /// The graph.
    pub trace: &'a Trace,
    /// Lock problems.
    pub lock_problems: &'a [LockProblem],
    /// Tags and unsafe sites.
    pub scan: &'a SourceScan,
    /// Test results.
    pub tests: &'a TestEvidence,
    /// Lint findings, if the lint tool ran.
    pub lint_findings: Option<&'a [LintFinding]>,
    /// Whether the run record vouches for the findings file.
    pub lint_binding: &'a RunBinding,
    /// The deviation register, if there is one.
    pub deviations: Option<&'a [Deviation]>,
    /// Coverage, if measured.
    pub coverage: Option<&'a Coverage>,
    /// The sources now.
    pub source: &'a SourceState,
}

/// Runs every check, in report order.
pub fn run_all(inputs: &CheckInputs<'_>) -> Vec<CheckResult> {
    vec![
        items(inputs.items),
        lock(inputs.items, inputs.lock_problems),
        tags(inputs),
        coverage(inputs.items, inputs.trace),
        methods(inputs.items, inputs.trace),
        evidence(inputs),
        unsafe_code(inputs.scan),
        lint(inputs.items, inputs.lint_findings, inputs.lint_binding, inputs.deviations),
        code_coverage(inputs.coverage, inputs.source),
    ]
}

/// The `items` check.
pub fn items(items: &[Item]) -> CheckResult {
    let index = Index::new(items);
    let mut findings = Vec::new();
    for (id, positions) in &index.by_id {
        if positions.len() > 1 {
            let places: Vec<String> = positions.iter().filter_map(|position| at(&items[*position])).collect();
            findings.push(finding(
                Verdict::Fail,
                format!("`{id}` is defined {} times ({})", positions.len(), places.join(", ")),
                at(&items[positions[0]]),
                Some(&items[positions[0]]),
            ));
        }
    }
    for (name, positions) in &index.by_name {
        let mut revisions: Vec<u32> = positions.iter().map(|position| items[*position].id.revision).collect();
        revisions.sort_unstable();
        revisions.dedup();
        if revisions.len() > 1 {
            findings.push(finding(
                Verdict::Fail,
                format!("`{name}` is defined at several revisions ({revisions:?}): keep only the current one"),
                at(&items[positions[0]]),
                Some(&items[positions[0]]),
            ));
        }
    }
    for item in items.iter().filter(|item| item.status != Status::Obsolete) {
        for (field, links) in [("covers", &item.covers), ("assumes", &item.assumes)] {
            for link in links {
                match index.resolve(link) {
                    Err(problem) => findings.push(finding(
                        Verdict::Fail,
                        format!("`{}` {field} {}", item.id, problem.message),
                        at(item),
                        Some(item),
                    )),
                    Ok(target) if field == "assumes" && target.level != Level::AssumptionOfUse => {
                        findings.push(finding(
                            Verdict::Fail,
                            format!("`{}` assumes `{link}`, which is not an assumption of use", item.id),
                            at(item),
                            Some(item),
                        ))
                    }
                    Ok(target)
                        if field == "covers"
                            && !target.needs.iter().any(|need| need.covering_level() == Some(item.level)) =>
                    {
                        findings.push(finding(
                            Verdict::Fail,
                            format!(
                                "`{}` covers `{link}`, which does not need `{}` coverage (unwanted coverage)",
                                item.id,
                                item.level.artifact_type()
                            ),
                            at(item),
                            Some(item),
                        ));
                    }
                    Ok(_) => {}
                }
            }
        }
        let refines = !matches!(item.level, Level::Hazard | Level::AssumptionOfUse);
        if item.status == Status::Approved && refines && item.covers.is_empty() {
            findings.push(finding(
                Verdict::Fail,
                format!("approved `{}` covers nothing: every {} refines a higher item", item.id, item.level.title()),
                at(item),
                Some(item),
            ));
        }
    }
    let approved = items.iter().filter(|item| item.status == Status::Approved).count();
    CheckResult::new(
        "items",
        "Specification items: unique IDs, links resolve to current revisions",
        format!("{} items ({approved} approved), {} problems", items.len(), findings.len()),
        findings,
    )
}

/// The `lock` check.
pub fn lock(items: &[Item], problems: &[LockProblem]) -> CheckResult {
    let index = Index::new(items);
    let findings = problems
        .iter()
        .map(|problem| {
            let id = match problem {
                LockProblem::TextChanged { id, .. }
                | LockProblem::NotLocked { id }
                | LockProblem::RevisionRegressed { id, .. }
                | LockProblem::Removed { id } => id,
            };
            let item = index.get(id);
            finding(
                Verdict::Fail,
                problem.to_string(),
                item.and_then(at).or_else(|| Some("certification/requirements.lock".to_owned())),
                item,
            )
        })
        .collect::<Vec<_>>();
    CheckResult::new(
        "lock",
        "Requirement text matches certification/requirements.lock",
        if findings.is_empty() {
            format!("{} items match their locked hash", items.len())
        } else {
            format!("{} lock problems", findings.len())
        },
        findings,
    )
}

/// The `tags` check.
pub fn tags(inputs: &CheckInputs<'_>) -> CheckResult {
    let mut findings = Vec::new();
    for (tag, problems) in inputs.scan.tags.iter().zip(&inputs.trace.tag_problems) {
        for problem in problems {
            findings.push(Finding {
                severity: Verdict::Fail,
                message: format!("{} {}: {}", problem.code, tag.text, problem.message),
                location: Some(format!("{}:{}", tag.file, tag.line)),
                item: tag.target.as_ref().ok().map(ToString::to_string),
            });
        }
    }
    for problem in &inputs.scan.problems {
        findings.push(Finding {
            severity: Verdict::Fail,
            message: problem.message.clone(),
            location: Some(format!("{}:{}", problem.file, problem.line)),
            item: None,
        });
    }
    let orphans = inputs.trace.tag_problems.iter().filter(|problems| !problems.is_empty()).count();
    CheckResult::new(
        "tags",
        "Source tags bind to an item and name a current, wanted item (no orphans)",
        format!("{} tags in {} files, {orphans} orphans", inputs.scan.tags.len(), inputs.scan.files),
        findings,
    )
}

/// The `coverage` check.
pub fn coverage(items: &[Item], trace: &Trace) -> CheckResult {
    let mut findings = Vec::new();
    let mut needs = 0usize;
    for (item, item_trace) in items.iter().zip(&trace.items).filter(|(item, _)| item.status == Status::Approved) {
        for need in &item_trace.needs {
            needs += 1;
            let linked = need.links.iter().any(|link| {
                link.state != crate::results::State::Outdated && link.state != crate::results::State::DraftOnly
            });
            let covered = need.state.is_satisfied() || (need.need.is_test() && linked);
            if !covered {
                findings.push(finding(
                    Verdict::Fail,
                    format!("`{}` needs `{}` and is {}", item.id, need.need.name(), need.state.name()),
                    at(item),
                    Some(item),
                ));
            }
        }
    }
    let missing = findings.len();
    for (item, item_trace) in items.iter().zip(&trace.items).filter(|(item, _)| item.status == Status::Approved) {
        let drafts: Vec<String> = item_trace
            .needs
            .iter()
            .filter(|need| need.need.covering_level().is_some())
            .flat_map(|need| need.links.iter())
            .filter(|link| link.state == crate::results::State::DraftOnly)
            .map(|link| format!("`{}`", link.label))
            .collect();
        if !drafts.is_empty() {
            findings.push(finding(
                Verdict::Warn,
                format!("`{}` has draft refinements that are not claimed yet: {}", item.id, drafts.join(", ")),
                at(item),
                Some(item),
            ));
        }
    }
    CheckResult::new(
        "coverage",
        "Every approved item is covered by each kind it needs",
        format!("{} of {needs} needs of approved items covered", needs - missing),
        findings,
    )
}

/// The `methods` check: every declared verification method of an approved item has something
/// to show for it. Whether linked tests passed is the `evidence` check's business (it depends
/// on the run); this one fails on any tree.
pub fn methods(items: &[Item], trace: &Trace) -> CheckResult {
    use crate::requirements::Method;
    let mut findings = Vec::new();
    let mut declared = 0usize;
    for (item, item_trace) in items.iter().zip(&trace.items).filter(|(item, _)| item.status == Status::Approved) {
        for method in &item_trace.methods {
            declared += 1;
            let missing = match method.method {
                Method::Test | Method::FaultInjection => method.links.is_empty(),
                Method::Analysis | Method::Review => !method.state.is_satisfied(),
            };
            if missing {
                findings.push(finding(
                    Verdict::Fail,
                    format!("`{}` declares verification `{}`: {}", item.id, method.method.name(), method.detail),
                    at(item),
                    Some(item),
                ));
            }
        }
    }
    CheckResult::new(
        "methods",
        "Every declared verification method of an approved item has a test, analysis or review behind it",
        format!("{} of {declared} declared methods of approved items have evidence linked", declared - findings.len()),
        findings,
    )
}

/// The `evidence` check.
pub fn evidence(inputs: &CheckInputs<'_>) -> CheckResult {
    let mut findings = Vec::new();
    for problem in &inputs.tests.run_problems {
        findings.push(Finding {
            severity: Verdict::Fail,
            message: format!("test results do not count: {problem}"),
            location: None,
            item: None,
        });
    }
    for file in inputs.tests.files.iter().filter(|file| !file.present) {
        findings.push(Finding {
            severity: Verdict::Fail,
            message: format!("{} is missing: its tests did not run", file.file),
            location: None,
            item: None,
        });
    }
    let mut verified = 0usize;
    let mut approved = 0usize;
    for (item, item_trace) in inputs
        .items
        .iter()
        .zip(&inputs.trace.items)
        .filter(|(item, _)| item.status == Status::Approved && !item.needs.is_empty())
    {
        approved += 1;
        if item_trace.verified {
            verified += 1;
        }
        for need in item_trace.needs.iter().filter(|need| need.need.is_test()) {
            for link in need
                .links
                .iter()
                .filter(|link| !link.state.is_satisfied() && link.state != crate::results::State::Outdated)
            {
                findings.push(finding(
                    Verdict::Fail,
                    format!(
                        "`{}` {}: {} is {}{}",
                        item.id,
                        need.need.name(),
                        link.label,
                        link.state.name(),
                        if link.detail.is_empty() { String::new() } else { format!(" ({})", link.detail) }
                    ),
                    link.location.clone(),
                    Some(item),
                ));
            }
        }
        for method in item_trace.methods.iter().filter(|method| {
            matches!(method.method, crate::requirements::Method::Test | crate::requirements::Method::FaultInjection)
                && !method.links.is_empty()
                && !method.state.is_satisfied()
        }) {
            findings.push(finding(
                Verdict::Fail,
                format!(
                    "`{}` declares verification `{}`: {} (best: {})",
                    item.id,
                    method.method.name(),
                    method.detail,
                    method.state.name()
                ),
                at(item),
                Some(item),
            ));
        }
        if item.level == Level::SafetyGoal && !item_trace.verified {
            findings.push(finding(
                Verdict::Fail,
                format!(
                    "safety goal `{}` is not supported by verified evidence: {}",
                    item.id,
                    item_trace.reasons.join("; ")
                ),
                at(item),
                Some(item),
            ));
        }
    }
    CheckResult::new(
        "evidence",
        "Linked tests passed in a recorded run of this commit, clean tree, same image",
        format!("{verified} of {approved} approved items that need evidence are verified"),
        findings,
    )
}

/// The `unsafe` check. Blocks, impls, functions and traits without their argument fail;
/// an `unsafe extern` block without a `// SAFETY:` comment only warns (Clippy does not ask
/// for one; the declarations' correctness is argued where they are called).
pub fn unsafe_code(scan: &SourceScan) -> CheckResult {
    use crate::source::items::UnsafeKind;
    let findings: Vec<Finding> = scan
        .unsafe_sites
        .iter()
        .filter(|site| site.justification.is_none())
        .map(|site| {
            let (what, wanted, severity) = match site.kind {
                UnsafeKind::Function => ("unsafe fn", "a `# Safety` doc section", Verdict::Fail),
                UnsafeKind::Trait => ("unsafe trait", "a `# Safety` doc section", Verdict::Fail),
                UnsafeKind::Block => ("unsafe block", "a `// SAFETY:` comment", Verdict::Fail),
                UnsafeKind::Impl => ("unsafe impl", "a `// SAFETY:` comment", Verdict::Fail),
                UnsafeKind::ExternBlock => ("unsafe extern block", "a `// SAFETY:` comment", Verdict::Warn),
            };
            Finding {
                severity,
                message: format!("{what} in `{}` has no safety argument: add {wanted}", site.context),
                location: Some(format!("{}:{}", site.file, site.line)),
                item: None,
            }
        })
        .collect();
    let missing = findings.iter().filter(|finding| finding.severity == Verdict::Fail).count();
    CheckResult::new(
        "unsafe",
        "Every unsafe site carries its safety argument",
        format!("{} unsafe sites, {missing} without a required argument", scan.unsafe_sites.len()),
        findings,
    )
}

/// The `lint` check.
pub fn lint(
    items: &[Item],
    findings_file: Option<&[LintFinding]>,
    binding: &RunBinding,
    deviations: Option<&[Deviation]>,
) -> CheckResult {
    let title = "Coding-standard findings: every suppression has an approved deviation";
    let Some(lint_findings) = findings_file else {
        return CheckResult::new(
            "lint",
            title,
            "not run".to_owned(),
            vec![Finding {
                severity: Verdict::Fail,
                message: "no findings file: run `cargo xtask lint` (target/lint/findings.json)".to_owned(),
                location: None,
                item: None,
            }],
        );
    };
    let register = deviations.unwrap_or_default();
    let mut findings = Vec::new();
    for (severity, messages) in [(Verdict::Fail, &binding.problems), (Verdict::Warn, &binding.warnings)] {
        for message in messages {
            findings.push(Finding {
                severity,
                message: format!("{}: {message}", crate::LINT_FINDINGS),
                location: None,
                item: None,
            });
        }
    }
    let mut suppressed = 0usize;
    for lint in lint_findings {
        let location = Some(format!("{}:{}", lint.file, lint.line));
        match &lint.suppressed_by {
            Some(id) => {
                suppressed += 1;
                let problem = match register.iter().find(|deviation| deviation.id == *id) {
                    None if deviations.is_none() => Some(format!("cites {id} but there is no deviation register")),
                    None => Some(format!("cites {id}, which is not in the deviation register")),
                    Some(deviation) if !deviation.is_approved() => {
                        Some(format!("cites {id}, whose status is `{}`, not `approved`", deviation.status))
                    }
                    Some(deviation) if !deviation.rules.contains(&lint.rule) => {
                        Some(format!("cites {id}, which does not deviate from {}", lint.rule))
                    }
                    Some(_) => None,
                };
                if let Some(problem) = problem {
                    findings.push(Finding {
                        severity: Verdict::Fail,
                        message: format!("{} suppression {problem}: {}", lint.rule, lint.message),
                        location,
                        item: None,
                    });
                }
            }
            None if lint.severity == "error" => {
                findings.push(Finding {
                    severity: Verdict::Fail,
                    message: format!("{} unjustified: {}", lint.rule, lint.message),
                    location,
                    item: None,
                });
            }
            None => findings.push(Finding {
                severity: Verdict::Warn,
                message: format!("{}: {}", lint.rule, lint.message),
                location,
                item: None,
            }),
        }
    }
    let index = Index::new(items);
    for deviation in register {
        for requirement in &deviation.requirements {
            let problem = match requirement.parse::<crate::id::SpecId>() {
                Err(error) => Some(error.to_string()),
                Ok(id) => index.resolve(&id).err().map(|problem| problem.message),
            };
            if let Some(problem) = problem {
                findings.push(Finding {
                    severity: Verdict::Fail,
                    message: format!("{} names requirement {problem}", deviation.id),
                    location: Some(crate::DEVIATIONS_FILE.to_owned()),
                    item: None,
                });
            }
        }
    }
    CheckResult::new(
        "lint",
        title,
        format!(
            "{} findings, {suppressed} suppressed by deviations, {} deviations in the register",
            lint_findings.len(),
            register.len()
        ),
        findings,
    )
}

/// The `code-coverage` check.
pub fn code_coverage(coverage: Option<&Coverage>, source: &SourceState) -> CheckResult {
    let title = "Statement and branch coverage of the host-tested core is measured";
    let Some(coverage) = coverage else {
        return CheckResult::new(
            "code-coverage",
            title,
            "not measured".to_owned(),
            vec![Finding {
                severity: Verdict::Warn,
                message: "coverage was not measured: run `cargo xtask coverage` (target/test-results/coverage.json)"
                    .to_owned(),
                location: None,
                item: None,
            }],
        );
    };
    let percent = |counter: Option<crate::results::coverage::Counter>| {
        counter
            .and_then(crate::results::coverage::Counter::percent)
            .map_or_else(|| "not measured".to_owned(), |value| format!("{value:.1}%"))
    };
    let summary = format!(
        "{}: regions {}, lines {}, branches {}",
        coverage.scope,
        percent(Some(coverage.totals.regions)),
        percent(Some(coverage.totals.lines)),
        percent(coverage.totals.branches)
    );
    let mut findings = Vec::new();
    if coverage.commit != source.commit || coverage.dirty || source.dirty {
        findings.push(Finding {
            severity: Verdict::Warn,
            message: format!(
                "coverage is stale: measured at {}{}",
                crate::results::short(&coverage.commit),
                if coverage.dirty { " on a dirty tree" } else { "" }
            ),
            location: None,
            item: None,
        });
    }
    if coverage.totals.branches.is_none() {
        findings.push(Finding {
            severity: Verdict::Warn,
            message: "branch coverage was not measured".to_owned(),
            location: None,
            item: None,
        });
    }
    CheckResult::new("code-coverage", title, summary, findings)
}
