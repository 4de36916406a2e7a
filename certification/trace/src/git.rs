//! The state of the source tree: which commit, and whether anything differs from it.
//!
//! Evidence only counts for the exact sources it was produced from, so both the run record
//! (at test time) and the trace (at report time) ask git the same two questions.

use std::path::Path;
use std::process::Command;

use crate::error::Error;

/// Commit and cleanliness of a work tree.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SourceState {
    /// The full commit hash of `HEAD`.
    pub commit: String,
    /// Whether tracked files differ from `HEAD` or untracked, non-ignored files exist.
    pub dirty: bool,
    /// The first changed paths (`git status --porcelain` lines), at most 20.
    pub changes: Vec<String>,
    /// How many paths changed in all.
    #[serde(default)]
    pub changed: usize,
}

/// How many changed paths are kept.
const MAX_CHANGES: usize = 20;

impl SourceState {
    /// Asks git about the tree at `repo_root`.
    pub fn query(repo_root: &Path) -> Result<SourceState, Error> {
        let commit = git(repo_root, &["rev-parse", "HEAD"])?.trim().to_owned();
        let status = git(repo_root, &["status", "--porcelain", "--untracked-files=normal"])?;
        let changes: Vec<String> = status.lines().filter(|line| !line.trim().is_empty()).map(str::to_owned).collect();
        Ok(SourceState {
            commit,
            dirty: !changes.is_empty(),
            changed: changes.len(),
            changes: changes.into_iter().take(MAX_CHANGES).collect(),
        })
    }
}

/// Runs git in `repo_root` and returns its stdout.
fn git(repo_root: &Path, arguments: &[&str]) -> Result<String, Error> {
    let output = Command::new("git")
        .arg("-C")
        .arg(repo_root)
        .args(arguments)
        .output()
        .map_err(|error| Error::Tool { program: "git".to_owned(), message: error.to_string() })?;
    if !output.status.success() {
        return Err(Error::Tool {
            program: "git".to_owned(),
            message: format!(
                "`git {}` failed: {}",
                arguments.join(" "),
                String::from_utf8_lossy(&output.stderr).trim()
            ),
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(directory: &Path, arguments: &[&str]) {
        let status = Command::new("git").arg("-C").arg(directory).args(arguments).output().unwrap();
        assert!(status.status.success(), "git {arguments:?}: {}", String::from_utf8_lossy(&status.stderr));
    }

    #[test]
    fn a_fresh_commit_is_clean_and_an_edit_makes_it_dirty() {
        let directory = crate::test_support::temp_dir("git");
        run(&directory, &["init", "-q"]);
        std::fs::write(directory.join("a.txt"), "a").unwrap();
        run(&directory, &["add", "a.txt"]);
        run(&directory, &["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "a"]);
        let clean = SourceState::query(&directory).unwrap();
        assert_eq!(clean.commit.len(), 40);
        assert!(!clean.dirty && clean.changes.is_empty());
        std::fs::write(directory.join("a.txt"), "b").unwrap();
        let dirty = SourceState::query(&directory).unwrap();
        assert_eq!(dirty.commit, clean.commit);
        assert!(dirty.dirty);
        assert_eq!(dirty.changes, [" M a.txt"]);
    }

    #[test]
    fn outside_a_repository_is_an_error() {
        let directory = crate::test_support::temp_dir("nogit");
        assert!(matches!(SourceState::query(&directory), Err(Error::Tool { .. })));
    }
}
