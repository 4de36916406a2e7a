//! `cargo xtask trace`: the safety-case traceability report (certification/README.md).
//!
//! Reads the evidence `cargo xtask test` left in `target/test-results/` and the lint findings,
//! checks every approved requirement down to passing tests of this exact commit, and writes
//! `target/trace/` (JSON, HTML, Markdown, goal-tree SVG).

use xtask::paths::Repository;

use super::Failure;

/// What the trace concluded.
pub struct TraceOutcome {
    /// No check failed.
    pub passed: bool,
    /// The evidence was taken on a tree with uncommitted changes (so it cannot count).
    pub dirty: bool,
    /// One line per check.
    pub summary: String,
}

/// Runs the checks and writes the reports.
pub fn evaluate(repository: &Repository) -> Result<TraceOutcome, Failure> {
    let options = bulkhead_trace::Options::new(repository.root());
    let report = bulkhead_trace::run(&options).map_err(|error| Failure::Trace(error.to_string()))?;
    let dirty = bulkhead_trace::git::SourceState::query(repository.root()).map(|state| state.dirty).unwrap_or(true);
    Ok(TraceOutcome { passed: report.passed(), dirty, summary: report.summary() })
}

/// `cargo xtask trace`.
pub fn trace(repository: &Repository) -> Result<(), Failure> {
    let outcome = evaluate(repository)?;
    eprintln!("{}", outcome.summary);
    eprintln!("report: target/trace/trace.html (Markdown: target/trace/trace.md)");
    if outcome.passed { Ok(()) } else { Err(Failure::Stages(vec!["trace".to_owned()])) }
}
