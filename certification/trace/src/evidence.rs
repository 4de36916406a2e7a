//! The trace graph: for every item and every kind of coverage it needs, what covers it and
//! in which state — and from that, bottom up, which items are verified.
//!
//! Coverage follows OpenFastTrace's model. An item *needs* artifact types; an item of a
//! lower level *covers* it by naming its exact ID in `covers`, a source tag covers it with
//! `[impl->id]`, `[utest->id]`, `[itest->id]`, a review record by listing it. A link to an
//! older revision of the item is *outdated* and does not count. For an approved item only
//! approved lower items count (a draft cannot carry an approved claim).
//!
//! An item is *verified* when every need is satisfied — code linked, every linked test passed
//! in a valid run, reviews accepted —, every verification method it declares has evidence, and
//! every lower item counted for it is verified too. So a safety goal is verified only if the
//! whole tree under it is.
//!
//! Declared methods (`verification`) are honoured as follows, where an item's *scope* is the
//! item and every item counted as covering it, transitively (for an approved item: approved
//! items only) — the methods of a requirement are applied where it is refined:
//! - `test`: at least one test linked (`utest`/`itest`) to an item of the scope passed in a
//!   valid run;
//! - `fault-injection`: the same, with a QEMU integration test (`itest`): faults are injected
//!   in a running system. Which tests inject faults is not machine-checked; it is reviewed;
//! - `analysis`: a record in `certification/analyses.toml` lists an item of the scope and its
//!   artefact exists;
//! - `review`: an accepted record in `certification/reviews.toml` lists the item itself (a
//!   review is of the item, not of its refinements).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::analyses::Analysis;
use crate::id::SpecId;
use crate::requirements::{Item, Level, Method, Need, Status};
use crate::results::{QEMU_TEST_PACKAGE, State, TestEvidence, TestResult};
use crate::reviews::Review;
use crate::source::tags::TagKind;
use crate::source::{SourceScan, Tag, TestName};

/// What a link points from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LinkKind {
    /// A lower specification item.
    Item,
    /// A tagged piece of code.
    Code,
    /// A tagged test.
    Test,
    /// A review record.
    Review,
    /// An analysis record.
    Analysis,
}

/// One thing that covers (or tries to cover) a need.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Link {
    /// What it is.
    pub kind: LinkKind,
    /// Item ID, `file:line` of code, test name, or review ID.
    pub label: String,
    /// `file:line` where the link is written.
    pub location: Option<String>,
    /// Its state.
    pub state: State,
    /// Explanation.
    pub detail: String,
}

/// One need of one item.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NeedTrace {
    /// The need.
    pub need: Need,
    /// The combined state: the worst of the counted links, or why nothing counts.
    pub state: State,
    /// Everything linking to the item for this need, outdated links included.
    pub links: Vec<Link>,
}

/// The evidence for one declared verification method of one item.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MethodTrace {
    /// The method.
    pub method: Method,
    /// Satisfied (passed, analysed, reviewed) or why not.
    pub state: State,
    /// The tests, analyses or reviews that count for it, from the item's scope.
    pub links: Vec<Link>,
    /// Explanation when it is not satisfied.
    pub detail: String,
}

/// One item's place in the graph.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ItemTrace {
    /// Its needs in the order written.
    pub needs: Vec<NeedTrace>,
    /// Its declared verification methods, in the order written.
    #[serde(default)]
    pub methods: Vec<MethodTrace>,
    /// Items that name this exact revision in `covers` (any status).
    pub covered_by: Vec<SpecId>,
    /// Whether it is verified.
    pub verified: bool,
    /// Why not.
    pub reasons: Vec<String>,
}

/// What is wrong with a tag (empty when nothing).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagProblem {
    /// A short code: `unknown-kind`, `malformed`, `unbound`, `dangling`, `outdated`,
    /// `obsolete`, `unwanted`, `not-a-test`, `no-test-target`, `wrong-suite`.
    pub code: String,
    /// Explanation.
    pub message: String,
}

/// The whole graph.
#[derive(Clone, Debug)]
pub struct Trace {
    /// Per item, in item order.
    pub items: Vec<ItemTrace>,
    /// Per tag, in scan order: its problems.
    pub tag_problems: Vec<Vec<TagProblem>>,
    /// Every linked test's evidence.
    pub test_results: BTreeMap<TestName, TestResult>,
}

/// Lookups over the items.
pub struct Index<'a> {
    /// The items.
    pub items: &'a [Item],
    /// Exact ID → positions (more than one is a duplicate).
    pub by_id: BTreeMap<&'a SpecId, Vec<usize>>,
    /// `type~name` → positions.
    pub by_name: BTreeMap<String, Vec<usize>>,
}

impl<'a> Index<'a> {
    /// Indexes `items`.
    pub fn new(items: &'a [Item]) -> Index<'a> {
        let mut by_id: BTreeMap<&SpecId, Vec<usize>> = BTreeMap::new();
        let mut by_name: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (position, item) in items.iter().enumerate() {
            by_id.entry(&item.id).or_default().push(position);
            by_name.entry(item.id.unversioned()).or_default().push(position);
        }
        Index { items, by_id, by_name }
    }

    /// The item with exactly `id`.
    pub fn get(&self, id: &SpecId) -> Option<&'a Item> {
        self.by_id.get(id).and_then(|positions| positions.first()).map(|position| &self.items[*position])
    }

    /// The highest revision defined for `id`'s name.
    pub fn current_revision(&self, id: &SpecId) -> Option<u32> {
        self.by_name.get(&id.unversioned())?.iter().map(|position| self.items[*position].id.revision).max()
    }

    /// How a link to `id` resolves: `Ok(item)`, or a problem code and message.
    pub fn resolve(&self, id: &SpecId) -> Result<&'a Item, TagProblem> {
        if let Some(item) = self.get(id) {
            if item.status == Status::Obsolete {
                return Err(TagProblem { code: "obsolete".to_owned(), message: format!("`{id}` is obsolete") });
            }
            return Ok(item);
        }
        match self.current_revision(id) {
            Some(current) if current > id.revision => Err(TagProblem {
                code: "outdated".to_owned(),
                message: format!("`{id}` is outdated: the item is at revision {current}"),
            }),
            Some(current) => Err(TagProblem {
                code: "dangling".to_owned(),
                message: format!("`{id}` does not exist (the item is at revision {current})"),
            }),
            None => Err(TagProblem { code: "dangling".to_owned(), message: format!("`{id}` names no item") }),
        }
    }
}

/// The problems of one tag.
pub fn tag_problems(index: &Index<'_>, tag: &Tag) -> Vec<TagProblem> {
    let problem = |code: &str, message: String| TagProblem { code: code.to_owned(), message };
    let mut problems = Vec::new();
    let kind = TagKind::from_name(&tag.kind);
    if kind.is_none() {
        problems.push(problem("unknown-kind", format!("`{}` is not a tag kind (impl, utest, itest)", tag.kind)));
    }
    match &tag.target {
        Err(reason) => problems.push(problem("malformed", reason.clone())),
        Ok(target) => match index.resolve(target) {
            Err(resolution) => problems.push(resolution),
            Ok(item) => {
                if let Some(kind) = kind
                    && !item.needs.iter().any(|need| need.name() == kind.name())
                {
                    problems.push(problem("unwanted", format!("`{target}` does not need `{}` coverage", kind.name())));
                }
            }
        },
    }
    match &tag.bound {
        Err(reason) => problems.push(problem("unbound", format!("the tag binds to nothing: {reason}"))),
        Ok(bound) if matches!(kind, Some(TagKind::Utest | TagKind::Itest)) => {
            if !bound.is_test {
                problems.push(problem(
                    "not-a-test",
                    format!("a test tag on {} `{}`, which is not a test", bound.kind.title(), bound.name),
                ));
            } else if bound.tests.is_empty() {
                problems.push(problem("no-test-target", "the test is in a file no test target compiles".to_owned()));
            } else {
                let qemu =
                    bound.tests.iter().any(|(test, _)| test.binary_id.split("::").next() == Some(QEMU_TEST_PACKAGE));
                if qemu != (kind == Some(TagKind::Itest)) {
                    let expected = if qemu { "itest" } else { "utest" };
                    problems.push(problem(
                        "wrong-suite",
                        format!(
                            "a `{}` tag on a {} test: use `{expected}`",
                            tag.kind,
                            if qemu { "QEMU integration" } else { "host unit" }
                        ),
                    ));
                }
            }
        }
        Ok(_) => {}
    }
    problems
}

/// Builds the graph.
pub fn build(
    items: &[Item],
    scan: &SourceScan,
    tests: &TestEvidence,
    reviews: &[Review],
    analyses: &[Analysis],
) -> Trace {
    let index = Index::new(items);
    let tag_problems: Vec<Vec<TagProblem>> = scan.tags.iter().map(|tag| tag_problems(&index, tag)).collect();
    let mut test_results = BTreeMap::new();
    let mut traces: Vec<ItemTrace> = items
        .iter()
        .map(|item| {
            let covered_by =
                items.iter().filter(|other| other.covers.contains(&item.id)).map(|other| other.id.clone()).collect();
            let needs = item
                .needs
                .iter()
                .map(|need| need_trace(items, item, *need, scan, tests, reviews, &mut test_results))
                .collect();
            ItemTrace { needs, methods: Vec::new(), covered_by, verified: false, reasons: Vec::new() }
        })
        .collect();
    // Assumptions of use are discharged by the integrator and hazards are not verified: only
    // requirements' declared methods are ours to show evidence for.
    for position in (0..items.len()).filter(|position| items[*position].level.is_requirement()) {
        let scope = scope(&index, &traces, position);
        traces[position].methods = items[position]
            .verification
            .iter()
            .map(|method| method_trace(items, &traces, &scope, position, *method, reviews, analyses))
            .collect();
    }
    let mut memo: Vec<Option<(bool, Vec<String>)>> = vec![None; items.len()];
    for position in 0..items.len() {
        let (verified, reasons) = verify(&index, &traces, position, &mut memo, &mut BTreeSet::new());
        traces[position].verified = verified;
        traces[position].reasons = reasons;
    }
    Trace { items: traces, tag_problems, test_results }
}

/// The links and state of one need.
fn need_trace(
    items: &[Item],
    item: &Item,
    need: Need,
    scan: &SourceScan,
    tests: &TestEvidence,
    reviews: &[Review],
    test_results: &mut BTreeMap<TestName, TestResult>,
) -> NeedTrace {
    let older = |id: &SpecId| id.unversioned() == item.id.unversioned() && id.revision < item.id.revision;
    let mut links = Vec::new();
    let mut counted = Vec::new();
    if let Some(level) = need.covering_level() {
        let mut current_links = 0usize;
        for other in items.iter().filter(|other| other.level == level && other.status != Status::Obsolete) {
            let location = Some(format!("{}:{}", other.file, other.line));
            if other.covers.contains(&item.id) {
                current_links += 1;
                let counts = other.status == Status::Approved || item.status != Status::Approved;
                let state = if counts { State::Covered } else { State::DraftOnly };
                if counts {
                    counted.push(State::Covered);
                }
                let detail =
                    if counts { String::new() } else { "draft: does not count for an approved item".to_owned() };
                links.push(Link { kind: LinkKind::Item, label: other.id.to_string(), location, state, detail });
            } else if let Some(old) = other.covers.iter().find(|id| older(id)) {
                links.push(Link {
                    kind: LinkKind::Item,
                    label: other.id.to_string(),
                    location,
                    state: State::Outdated,
                    detail: format!("covers `{old}`"),
                });
            }
        }
        let state = if !counted.is_empty() {
            State::Covered
        } else if current_links > 0 {
            State::DraftOnly
        } else {
            outdated_or_uncovered(&links)
        };
        return NeedTrace { need, state, links };
    }
    match need {
        Need::Impl | Need::Utest | Need::Itest => {
            for tag in scan.tags.iter().filter(|tag| tag.kind == need.name()) {
                let (Ok(target), Ok(bound)) = (&tag.target, &tag.bound) else { continue };
                let location = Some(format!("{}:{}", tag.file, tag.line));
                if older(target) {
                    links.push(Link {
                        kind: if need == Need::Impl { LinkKind::Code } else { LinkKind::Test },
                        label: format!("{} {}", bound.kind.title(), bound.name),
                        location,
                        state: State::Outdated,
                        detail: format!("tagged `{target}`"),
                    });
                    continue;
                }
                if *target != item.id {
                    continue;
                }
                if need == Need::Impl {
                    counted.push(State::Linked);
                    links.push(Link {
                        kind: LinkKind::Code,
                        label: format!("{} {}", bound.kind.title(), bound.name),
                        location,
                        state: State::Linked,
                        detail: String::new(),
                    });
                    continue;
                }
                if !bound.is_test || bound.tests.is_empty() {
                    counted.push(State::Missing);
                    let detail = if bound.is_test { "in no test target" } else { "not a test" };
                    links.push(Link {
                        kind: LinkKind::Test,
                        label: bound.name.clone(),
                        location,
                        state: State::Missing,
                        detail: detail.to_owned(),
                    });
                    continue;
                }
                for (test, ignored) in &bound.tests {
                    let result = tests.result_of(test, *ignored);
                    counted.push(result.state);
                    links.push(Link {
                        kind: LinkKind::Test,
                        label: format!("{} / {}", test.binary_id, test.name),
                        location: location.clone(),
                        state: result.state,
                        detail: result.detail.clone(),
                    });
                    test_results.insert(test.clone(), result);
                }
            }
        }
        Need::Review => {
            for review in reviews.iter().filter(|review| review.is_accepted()) {
                if review.items.contains(&item.id) {
                    counted.push(State::Reviewed);
                    links.push(Link {
                        kind: LinkKind::Review,
                        label: review.id.clone(),
                        location: None,
                        state: State::Reviewed,
                        detail: format!(
                            "{} on {} at {}",
                            review.reviewer,
                            review.date,
                            crate::results::short(&review.commit)
                        ),
                    });
                } else if let Some(old) = review.items.iter().find(|id| older(id)) {
                    links.push(Link {
                        kind: LinkKind::Review,
                        label: review.id.clone(),
                        location: None,
                        state: State::Outdated,
                        detail: format!("reviewed `{old}`"),
                    });
                }
            }
        }
        Need::Sg | Need::Fsr | Need::Swr | Need::Dsn => {}
    }
    let state =
        counted.iter().copied().max_by_key(|state| state.severity()).unwrap_or_else(|| outdated_or_uncovered(&links));
    NeedTrace { need, state, links }
}

/// The item at `position` and every item counted as covering it, transitively, in
/// discovery order (cycle-safe).
fn scope(index: &Index<'_>, traces: &[ItemTrace], position: usize) -> Vec<usize> {
    let mut seen = vec![position];
    let mut next = 0;
    while next < seen.len() {
        let current = seen[next];
        next += 1;
        for need in traces[current].needs.iter().filter(|need| need.need.covering_level().is_some()) {
            for link in need.links.iter().filter(|link| link.state == State::Covered) {
                let Ok(child) = link.label.parse::<SpecId>() else { continue };
                let Some(child_position) = index.by_id.get(&child).and_then(|positions| positions.first()) else {
                    continue;
                };
                if !seen.contains(child_position) {
                    seen.push(*child_position);
                }
            }
        }
    }
    seen
}

/// The evidence for one declared method of the item at `position`, whose scope is `scope`.
fn method_trace(
    items: &[Item],
    traces: &[ItemTrace],
    scope: &[usize],
    position: usize,
    method: Method,
    reviews: &[Review],
    analyses: &[Analysis],
) -> MethodTrace {
    let item = &items[position];
    let mut links = Vec::new();
    match method {
        Method::Test | Method::FaultInjection => {
            for &member in scope {
                let needs = traces[member].needs.iter().filter(|need| match method {
                    Method::FaultInjection => need.need == Need::Itest,
                    _ => need.need.is_test(),
                });
                for need in needs {
                    for link in need.links.iter().filter(|link| link.state != State::Outdated) {
                        let mut link = link.clone();
                        if member != position {
                            link.detail = format!("via `{}`. {}", items[member].id, link.detail).trim().to_owned();
                        }
                        links.push(link);
                    }
                }
            }
            let (state, detail) = if links.iter().any(|link| link.state == State::Passed) {
                (State::Passed, String::new())
            } else if let Some(best) = links.iter().map(|link| link.state).min_by_key(|state| state.severity()) {
                (best, format!("none of its {} linked tests passed in a valid run", links.len()))
            } else {
                let kind = if method == Method::Test { "test" } else { "QEMU integration test (itest)" };
                (State::Uncovered, format!("no {kind} is linked to it or to an item under it"))
            };
            MethodTrace { method, state, links, detail }
        }
        Method::Analysis => {
            for &member in scope {
                for analysis in analyses.iter().filter(|analysis| analysis.items.contains(&items[member].id)) {
                    let via = if member == position { String::new() } else { format!("via `{}`: ", items[member].id) };
                    let (state, detail) = if analysis.artefact_present {
                        (State::Analysed, format!("{via}{} (artefact {})", analysis.method, analysis.artefact))
                    } else {
                        (State::Missing, format!("{via}artefact {} does not exist", analysis.artefact))
                    };
                    links.push(Link {
                        kind: LinkKind::Analysis,
                        label: analysis.id.clone(),
                        location: Some(crate::ANALYSES_FILE.to_owned()),
                        state,
                        detail,
                    });
                }
            }
            let (state, detail) = if links.iter().any(|link| link.state == State::Analysed) {
                (State::Analysed, String::new())
            } else if links.is_empty() {
                (State::Uncovered, format!("no record in {} lists it or an item under it", crate::ANALYSES_FILE))
            } else {
                (State::Missing, "the artefacts of its analysis records do not exist".to_owned())
            };
            MethodTrace { method, state, links, detail }
        }
        Method::Review => {
            for review in reviews.iter().filter(|review| review.is_accepted() && review.items.contains(&item.id)) {
                links.push(Link {
                    kind: LinkKind::Review,
                    label: review.id.clone(),
                    location: Some(crate::REVIEWS_FILE.to_owned()),
                    state: State::Reviewed,
                    detail: format!("{} on {}", review.reviewer, review.date),
                });
            }
            let (state, detail) = if links.is_empty() {
                (State::Uncovered, format!("no accepted review in {} lists this revision", crate::REVIEWS_FILE))
            } else {
                (State::Reviewed, String::new())
            };
            MethodTrace { method, state, links, detail }
        }
    }
}

/// `Outdated` if some link is outdated, else `Uncovered`.
fn outdated_or_uncovered(links: &[Link]) -> State {
    if links.iter().any(|link| link.state == State::Outdated) { State::Outdated } else { State::Uncovered }
}

/// Whether the item at `position` is verified, with reasons; children first, memoised, and
/// safe against `covers` cycles (a cycle is not verified).
fn verify(
    index: &Index<'_>,
    traces: &[ItemTrace],
    position: usize,
    memo: &mut Vec<Option<(bool, Vec<String>)>>,
    visiting: &mut BTreeSet<usize>,
) -> (bool, Vec<String>) {
    if let Some(known) = &memo[position] {
        return known.clone();
    }
    let item = &index.items[position];
    if !visiting.insert(position) {
        return (false, vec![format!("`{}` is part of a `covers` cycle", item.id)]);
    }
    let mut reasons = Vec::new();
    for method in traces[position].methods.iter().filter(|method| !method.state.is_satisfied()) {
        reasons.push(format!("verification `{}`: {} ({})", method.method.name(), method.state.name(), method.detail));
    }
    for need in &traces[position].needs {
        if !need.state.is_satisfied() {
            reasons.push(format!("{}: {}", need.need.name(), need.state.name()));
            continue;
        }
        if need.need.covering_level().is_some() {
            for link in need.links.iter().filter(|link| link.state == State::Covered) {
                let Ok(child_id) = link.label.parse::<SpecId>() else { continue };
                let Some(child_position) = index.by_id.get(&child_id).and_then(|positions| positions.first()) else {
                    continue;
                };
                let (child_verified, _) = verify(index, traces, *child_position, memo, visiting);
                if !child_verified {
                    reasons.push(format!("{}: `{child_id}` is not verified", need.need.name()));
                }
            }
        }
    }
    visiting.remove(&position);
    let result = (reasons.is_empty(), reasons);
    memo[position] = Some(result.clone());
    result
}

/// Items of `level`, in order.
pub fn of_level(items: &[Item], level: Level) -> impl Iterator<Item = (usize, &Item)> {
    items.iter().enumerate().filter(move |(_, item)| item.level == level)
}
