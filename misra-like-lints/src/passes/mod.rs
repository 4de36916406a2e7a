//! The syn passes: one module per concern, each reporting into a shared [`Cx`].
//!
//! Passes report everything they see; the driver then keeps only findings whose rule applies
//! to the profile at that line (test code is host code) and drops compile-time constructs for
//! rules that exempt them. That keeps each pass about one question.

use proc_macro2::Span;

use crate::config::Settings;
use crate::facts::CrateFacts;
use crate::finding::{Finding, Position};
use crate::rules::Rule;
use crate::syntax::positions;
use crate::unit::FileUnit;

pub mod arithmetic;
pub mod casts;
pub mod crate_level;
pub mod docs;
pub mod float;
pub mod heap;
pub mod layers;
pub mod let_underscore;
pub mod loops;
pub mod panics;
pub mod recursion;
pub mod shadowing;
pub mod stack;
pub mod unsafe_code;
pub mod wildcard;

/// What a per-file pass sees and where it reports.
pub struct Cx<'a> {
    /// The file.
    pub unit: &'a FileUnit,
    /// Facts about the file's crate.
    pub facts: &'a CrateFacts,
    /// The settings.
    pub settings: &'a Settings,
    /// Findings so far.
    pub findings: Vec<Finding>,
}

impl<'a> Cx<'a> {
    /// A context for one file.
    pub fn new(unit: &'a FileUnit, facts: &'a CrateFacts, settings: &'a Settings) -> Self {
        Self {
            unit,
            facts,
            settings,
            findings: Vec::new(),
        }
    }

    /// Reports `rule` at `span`.
    pub fn report(&mut self, rule: Rule, span: Span, message: impl Into<String>) {
        let (start, end) = positions(span);
        self.report_at(rule, start, end, message);
    }

    /// Reports `rule` between two positions. Findings of rules where Clippy is authoritative
    /// are marked as approximations (see [`Finding::approximates_clippy`]).
    pub fn report_at(
        &mut self,
        rule: Rule,
        start: Position,
        end: Position,
        message: impl Into<String>,
    ) {
        let mut finding = Finding::new(rule, &self.unit.file.relative, start, end, message.into());
        finding.approximates_clippy = rule.info().clippy_authoritative;
        self.findings.push(finding);
    }

    /// Reports a finding that no Clippy lint reproduces, whatever the rule.
    pub fn report_own(
        &mut self,
        rule: Rule,
        start: Position,
        end: Position,
        message: impl Into<String>,
    ) {
        self.findings.push(Finding::new(
            rule,
            &self.unit.file.relative,
            start,
            end,
            message.into(),
        ));
    }

    /// The file's repository-relative path.
    pub fn path(&self) -> &str {
        &self.unit.file.relative
    }

    /// Whether the file lies in one of the layers (path prefixes) given.
    pub fn in_layer(&self, layer: &[String]) -> bool {
        layer
            .iter()
            .any(|prefix| crate::config::path_has_prefix(self.path(), prefix))
    }
}

/// Runs every per-file pass on one parsed file.
pub fn run_file_passes(cx: &mut Cx<'_>, ast: &syn::File) {
    heap::check(cx, ast);
    panics::check(cx, ast);
    arithmetic::check(cx, ast);
    casts::check(cx, ast);
    float::check(cx, ast);
    loops::check(cx, ast);
    unsafe_code::check(cx, ast);
    shadowing::check(cx, ast);
    wildcard::check(cx, ast);
    let_underscore::check(cx, ast);
    stack::check(cx, ast);
    layers::check(cx, ast);
    docs::check(cx, ast);
}
