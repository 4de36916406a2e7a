//! The safety argument as a Goal Structuring Notation tree (GSN Community Standard v3):
//! the top claim, argued over each safety goal, each refined into functional and software
//! safety requirements and design items, down to solutions — the code links, test results
//! and reviews of the trace. Every node's state comes from the trace, so the picture can
//! only be green where the evidence is.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::id::SpecId;
use crate::report::ItemReport;
use crate::requirements::{Level, Need, Status};
use crate::results::State;

/// GSN element types used here.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GsnKind {
    /// A claim (rectangle).
    Goal,
    /// How a goal is argued (parallelogram).
    Strategy,
    /// Evidence (circle).
    Solution,
    /// Context (rounded rectangle).
    Context,
    /// An assumption (oval marked A).
    Assumption,
}

/// How well a node is supported.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GsnState {
    /// Supported by verified evidence.
    Supported,
    /// Not (yet) supported.
    Unsupported,
    /// A draft item: shown, not claimed.
    Draft,
    /// Context and assumptions: not judged.
    Neutral,
}

/// One node and its children.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GsnNode {
    /// GSN identifier (`G1`, `S1`, `Sn1`, `C1`, `A1`).
    pub id: String,
    /// Element type.
    pub kind: GsnKind,
    /// Short heading (the item ID for items).
    pub title: String,
    /// The claim or description.
    pub text: String,
    /// Support state.
    pub state: GsnState,
    /// Whether this node repeats one drawn earlier (its children are there).
    pub reference: bool,
    /// Children: supporting nodes first, then context and assumptions.
    pub children: Vec<GsnNode>,
}

/// Numbering per kind.
#[derive(Default)]
struct Numbers {
    /// Goals.
    goal: usize,
    /// Strategies.
    strategy: usize,
    /// Solutions.
    solution: usize,
    /// Contexts.
    context: usize,
    /// Assumptions.
    assumption: usize,
}

impl Numbers {
    /// The next ID for `kind`.
    fn next(&mut self, kind: GsnKind) -> String {
        let (counter, prefix) = match kind {
            GsnKind::Goal => (&mut self.goal, "G"),
            GsnKind::Strategy => (&mut self.strategy, "S"),
            GsnKind::Solution => (&mut self.solution, "Sn"),
            GsnKind::Context => (&mut self.context, "C"),
            GsnKind::Assumption => (&mut self.assumption, "A"),
        };
        *counter += 1;
        format!("{prefix}{counter}")
    }
}

/// Builder state.
struct Builder<'a> {
    /// Items.
    items: &'a [ItemReport],
    /// Numbering.
    numbers: Numbers,
    /// Items already drawn with their subtree.
    drawn: BTreeSet<SpecId>,
}

/// A node.
fn node(id: String, kind: GsnKind, title: String, text: String, state: GsnState, children: Vec<GsnNode>) -> GsnNode {
    GsnNode { id, kind, title, text, state, reference: false, children }
}

/// The support state of an item.
fn item_state(item: &ItemReport) -> GsnState {
    match item.status {
        Status::Draft | Status::Obsolete => GsnState::Draft,
        Status::Approved if item.verified => GsnState::Supported,
        Status::Approved => GsnState::Unsupported,
    }
}

/// Builds the tree.
pub fn build(items: &[ItemReport]) -> GsnNode {
    let mut builder = Builder { items, numbers: Numbers::default(), drawn: BTreeSet::new() };
    let top_id = builder.numbers.next(GsnKind::Goal);
    let goals: Vec<&ItemReport> =
        ordered(items.iter().filter(|item| item.level == Level::SafetyGoal && item.status != Status::Obsolete));
    let approved: Vec<&&ItemReport> = goals.iter().filter(|goal| goal.status == Status::Approved).collect();
    let supported = !approved.is_empty() && approved.iter().all(|goal| goal.verified);
    let strategy_id = builder.numbers.next(GsnKind::Strategy);
    let goal_nodes = goals.iter().map(|goal| builder.item_node(goal)).collect();
    let mut children = vec![node(
        strategy_id,
        GsnKind::Strategy,
        "Argument over the safety goals".to_owned(),
        "Argument over each safety goal derived from the hazard analysis".to_owned(),
        if supported { GsnState::Supported } else { GsnState::Unsupported },
        goal_nodes,
    )];
    let hazards = items.iter().filter(|item| item.level == Level::Hazard && item.status != Status::Obsolete).count();
    let context_id = builder.numbers.next(GsnKind::Context);
    children.push(node(
        context_id,
        GsnKind::Context,
        "Hazard analysis".to_owned(),
        format!("{hazards} hazards of the partitioning function (certification/requirements)"),
        GsnState::Neutral,
        Vec::new(),
    ));
    for assumption in
        items.iter().filter(|item| item.level == Level::AssumptionOfUse && item.status != Status::Obsolete)
    {
        let id = builder.numbers.next(GsnKind::Assumption);
        children.push(node(
            id,
            GsnKind::Assumption,
            assumption.id.to_string(),
            assumption.title.clone(),
            GsnState::Neutral,
            Vec::new(),
        ));
    }
    node(
        top_id,
        GsnKind::Goal,
        "Bulkhead is acceptably safe".to_owned(),
        "Bulkhead keeps its partitions free from interference and reaches a safe state on its own faults, within its assumptions of use".to_owned(),
        if supported { GsnState::Supported } else { GsnState::Unsupported },
        children,
    )
}

/// Approved items first, then drafts, each in file order.
fn ordered<'a>(items: impl Iterator<Item = &'a ItemReport>) -> Vec<&'a ItemReport> {
    let mut list: Vec<&ItemReport> = items.collect();
    list.sort_by_key(|item| item.status != Status::Approved);
    list
}

impl Builder<'_> {
    /// A goal node for `item`, with its refinement and evidence below it.
    fn item_node(&mut self, item: &ItemReport) -> GsnNode {
        let id = self.numbers.next(GsnKind::Goal);
        let title = item.id.to_string();
        if !self.drawn.insert(item.id.clone()) {
            let mut reference = node(
                id,
                GsnKind::Goal,
                title,
                format!("{} (developed above)", item.title),
                item_state(item),
                Vec::new(),
            );
            reference.reference = true;
            return reference;
        }
        let mut children = Vec::new();
        let lower: Vec<&ItemReport> = ordered(self.items.iter().filter(|other| {
            other.covers.contains(&item.id) && other.status != Status::Obsolete && other.level != Level::Hazard
        }));
        if !lower.is_empty() {
            let lower_nodes: Vec<GsnNode> = lower.iter().map(|other| self.item_node(other)).collect();
            if item.level == Level::SafetyGoal {
                // One strategy per safety goal says how it is argued; below that, goals are
                // supported directly by the goals that refine them (GSN allows goal-to-goal
                // support), which keeps the picture readable.
                let strategy_id = self.numbers.next(GsnKind::Strategy);
                children.push(node(
                    strategy_id,
                    GsnKind::Strategy,
                    format!("Refinement of {}", item.id.name),
                    format!(
                        "Argument over each {} refining it, down to design, code and tests",
                        lower[0].level.title()
                    ),
                    item_state(item),
                    lower_nodes,
                ));
            } else {
                children.extend(lower_nodes);
            }
        }
        for need in item.needs.iter().filter(|need| need.need.covering_level().is_none()) {
            let id = self.numbers.next(GsnKind::Solution);
            let state = if need.state.is_satisfied() {
                GsnState::Supported
            } else if item.status == Status::Approved {
                GsnState::Unsupported
            } else {
                GsnState::Draft
            };
            children.push(node(
                id,
                GsnKind::Solution,
                need_title(need.need).to_owned(),
                solution_text(need),
                state,
                Vec::new(),
            ));
        }
        for covered in &item.covers {
            if let Some(hazard) = self.items.iter().find(|other| other.id == *covered && other.level == Level::Hazard) {
                let id = self.numbers.next(GsnKind::Context);
                children.push(node(
                    id,
                    GsnKind::Context,
                    hazard.id.to_string(),
                    hazard.title.clone(),
                    GsnState::Neutral,
                    Vec::new(),
                ));
            }
        }
        node(id, GsnKind::Goal, title, item.title.clone(), item_state(item), children)
    }
}

/// Heading of a solution.
fn need_title(need: Need) -> &'static str {
    match need {
        Need::Impl => "Code",
        Need::Utest => "Unit tests",
        Need::Itest => "QEMU tests",
        Need::Review => "Review",
        Need::Sg | Need::Fsr | Need::Swr | Need::Dsn => "Refinement",
    }
}

/// One line describing a solution's evidence.
fn solution_text(need: &crate::evidence::NeedTrace) -> String {
    let count = |state: State| need.links.iter().filter(|link| link.state == state).count();
    match need.need {
        Need::Impl if count(State::Linked) > 0 => format!("{} tagged code items", count(State::Linked)),
        Need::Utest | Need::Itest if !need.links.is_empty() => {
            let mut parts = Vec::new();
            for state in [State::Passed, State::Failed, State::Stale, State::Missing, State::Skipped, State::Outdated] {
                let number = count(state);
                if number > 0 {
                    parts.push(format!("{number} {}", state.name()));
                }
            }
            format!("tests: {}", parts.join(", "))
        }
        Need::Review if count(State::Reviewed) > 0 => format!("{} accepted reviews", count(State::Reviewed)),
        _ => need.state.name().to_owned(),
    }
}
