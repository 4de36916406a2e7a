//! One finding: a place in a file where a rule is broken, and whether an approved deviation
//! justifies it.

use serde::Serialize;

use crate::rules::Rule;

/// How bad a finding is. Only unjustified errors fail the gate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// A rule violation.
    Error,
    /// Housekeeping: a stale deviation or suppression.
    Warning,
}

/// Which stage produced a finding.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase", tag = "kind", content = "lint")]
pub enum Origin {
    /// One of our syn passes.
    Syn,
    /// rustc or Clippy, with the lint name.
    Clippy(String),
    /// The deviation register.
    Register,
    /// The release-ELF check.
    Elf,
}

/// A position in a file: 1-based line and column (columns count characters, as rustc's do).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Position {
    /// 1-based line; 0 when the finding is about the whole file.
    pub line: usize,
    /// 1-based column; 0 when the finding is about the whole line or file.
    pub column: usize,
}

impl Position {
    /// A position.
    pub const fn new(line: usize, column: usize) -> Self {
        Self { line, column }
    }

    /// The position of a proc-macro2 line/column (line 1-based, column 0-based).
    pub fn from_line_column(location: proc_macro2::LineColumn) -> Self {
        Self {
            line: location.line,
            column: location.column.saturating_add(1),
        }
    }
}

/// A rule violation at a place.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The rule broken.
    pub rule: Rule,
    /// Repository-relative path, '/'-separated.
    pub file: String,
    /// Where it starts.
    #[serde(flatten)]
    pub start: Position,
    /// Where it ends (for the caret line); equals `start` when unknown.
    #[serde(skip)]
    pub end: Position,
    /// What is wrong, specifically.
    pub message: String,
    /// Error or warning.
    pub severity: Severity,
    /// Which stage found it.
    pub origin: Origin,
    /// The approved deviation that justifies it, if any.
    pub suppressed_by: Option<String>,
    /// A syntactic approximation of a type-aware Clippy lint: dropped when Clippy ran on the
    /// crate and so reported the exact findings itself.
    #[serde(skip)]
    pub approximates_clippy: bool,
}

impl Finding {
    /// An unsuppressed error of `rule` from a syn pass.
    pub fn new(rule: Rule, file: &str, start: Position, end: Position, message: String) -> Self {
        Self {
            rule,
            file: file.to_owned(),
            start,
            end,
            message,
            severity: Severity::Error,
            origin: Origin::Syn,
            suppressed_by: None,
            approximates_clippy: false,
        }
    }

    /// Whether the finding fails the gate.
    pub fn is_unjustified_error(&self) -> bool {
        self.severity == Severity::Error && self.suppressed_by.is_none()
    }
}
