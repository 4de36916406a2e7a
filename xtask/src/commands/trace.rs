//! `cargo xtask trace`: the safety-case traceability report (certification/README.md).
//!
//! Reads the evidence `cargo xtask test` left in `target/test-results/` and the lint findings,
//! checks every approved requirement down to passing tests of this exact commit, and writes
//! `target/trace/` (JSON, HTML, Markdown, goal-tree SVG). `--update-lock` first adds new item
//! revisions to `certification/requirements.lock`, as `bulkhead-trace --update-lock` does.
//!
//! `cargo xtask test` uses [`evaluate`] for its last stage and [`TraceOutcome::verdict`] to
//! decide it. On a tree with uncommitted changes only the evidence-counting checks
//! ([`bulkhead_trace::checks::EVIDENCE_COUNTING`]) are excused, because no result can count
//! there; a broken lock, an orphan tag, a missing coverage link or an unjustified lint finding
//! fails the stage on any tree. Whether the tree is dirty is what git said when the trace ran
//! (the report's source state): a git query that fails is an error, never taken as "dirty".

use xtask::paths::Repository;

use super::Failure;

/// What the trace concluded.
#[derive(Debug)]
pub struct TraceOutcome {
    /// The checks that failed, in report order.
    pub failed: Vec<String>,
    /// The sources had uncommitted changes when the trace ran.
    pub dirty: bool,
    /// Whether the lock file was rewritten (`--update-lock`).
    pub lock_updated: bool,
    /// One line per check.
    pub summary: String,
}

/// How the trace decides a stage.
#[derive(Debug, PartialEq, Eq)]
pub enum StageVerdict {
    /// Every check passed.
    Passed,
    /// Only evidence-counting checks failed, on a tree with uncommitted changes: the results
    /// cannot count as evidence, which is not a defect of the sources.
    NotEvidence,
    /// These checks failed, and a dirty tree does not excuse them.
    Failed(Vec<String>),
}

impl TraceOutcome {
    /// The stage verdict: failures of evidence-counting checks are excused on a dirty tree,
    /// every other failure stands.
    pub fn verdict(&self) -> StageVerdict {
        if self.failed.is_empty() {
            return StageVerdict::Passed;
        }
        let standing: Vec<String> = self
            .failed
            .iter()
            .filter(|check| {
                !(self.dirty && bulkhead_trace::checks::EVIDENCE_COUNTING.contains(&check.as_str()))
            })
            .cloned()
            .collect();
        if standing.is_empty() {
            StageVerdict::NotEvidence
        } else {
            StageVerdict::Failed(standing)
        }
    }
}

/// Runs the checks with `options` and writes the reports.
pub fn evaluate_with(options: &bulkhead_trace::Options) -> Result<TraceOutcome, Failure> {
    let report = bulkhead_trace::run(options).map_err(|error| Failure::Trace(error.to_string()))?;
    Ok(TraceOutcome {
        failed: report
            .failed_checks()
            .into_iter()
            .map(str::to_owned)
            .collect(),
        dirty: report.trace.source.dirty,
        lock_updated: report.lock_updated,
        summary: report.summary(),
    })
}

/// Runs the checks on the repository and writes the reports.
pub fn evaluate(repository: &Repository, update_lock: bool) -> Result<TraceOutcome, Failure> {
    let mut options = bulkhead_trace::Options::new(repository.root());
    options.update_lock = update_lock;
    evaluate_with(&options)
}

/// `cargo xtask trace [--update-lock]`.
pub fn trace(repository: &Repository, update_lock: bool) -> Result<(), Failure> {
    let outcome = evaluate(repository, update_lock)?;
    if outcome.lock_updated {
        eprintln!("updated {}", bulkhead_trace::LOCK_FILE);
    }
    eprintln!("{}", outcome.summary);
    eprintln!("report: target/trace/trace.html (Markdown: target/trace/trace.md)");
    if outcome.failed.is_empty() {
        Ok(())
    } else {
        Err(Failure::Stages(vec!["trace".to_owned()]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(failed: &[&str], dirty: bool) -> TraceOutcome {
        TraceOutcome {
            failed: failed.iter().map(|check| (*check).to_owned()).collect(),
            dirty,
            lock_updated: false,
            summary: String::new(),
        }
    }

    #[test]
    fn a_dirty_tree_excuses_only_the_evidence_counting_checks() {
        assert_eq!(outcome(&[], true).verdict(), StageVerdict::Passed);
        assert_eq!(
            outcome(&["evidence"], true).verdict(),
            StageVerdict::NotEvidence
        );
        for structural in [
            "items", "lock", "tags", "coverage", "methods", "unsafe", "lint",
        ] {
            assert_eq!(
                outcome(&[structural, "evidence"], true).verdict(),
                StageVerdict::Failed(vec![structural.to_owned()]),
                "{structural} fails on a dirty tree"
            );
        }
    }

    #[test]
    fn on_a_clean_tree_every_failure_stands() {
        assert_eq!(
            outcome(&["evidence"], false).verdict(),
            StageVerdict::Failed(vec!["evidence".to_owned()])
        );
        assert_eq!(
            outcome(&["lock", "evidence"], false).verdict(),
            StageVerdict::Failed(vec!["lock".to_owned(), "evidence".to_owned()])
        );
    }

    /// A directory with no git repository around it and no specification.
    fn outside_any_repository(label: &str) -> std::path::PathBuf {
        let directory =
            std::env::temp_dir().join(format!("xtask-trace-{}-{label}", std::process::id()));
        let _ = std::fs::remove_dir_all(&directory);
        std::fs::create_dir_all(directory.join("certification/requirements"))
            .expect("temporary directory");
        std::fs::write(
            directory.join("certification/requirements.lock"),
            "schema_version = 1\n",
        )
        .expect("lock file");
        directory
    }

    #[test]
    fn a_failed_git_query_is_an_error_not_a_dirty_tree() {
        let root = outside_any_repository("no-git");
        let options = bulkhead_trace::Options::new(&root);
        match evaluate_with(&options) {
            Err(Failure::Trace(message)) => assert!(message.contains("git"), "{message}"),
            Err(other) => panic!("unexpected failure: {other}"),
            Ok(outcome) => panic!(
                "a failed git query produced a verdict: {:?}",
                outcome.verdict()
            ),
        }
    }

    #[test]
    fn dirtiness_is_what_the_trace_saw_not_a_second_guess() {
        let root = outside_any_repository("given-state");
        let mut options = bulkhead_trace::Options::new(&root);
        options.check_only = true;
        options.source_state = Some(bulkhead_trace::git::SourceState {
            commit: "0".repeat(40),
            dirty: false,
            changes: Vec::new(),
            changed: 0,
        });
        let outcome = evaluate_with(&options).expect("the trace runs on the given source state");
        assert!(
            !outcome.dirty,
            "no git repository here: a second git query would have said dirty"
        );
        assert_eq!(
            outcome.verdict(),
            StageVerdict::Failed(vec!["evidence".to_owned(), "lint".to_owned()])
        );
    }
}
