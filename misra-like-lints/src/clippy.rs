//! Running `cargo clippy` with the lints each profile maps to, and turning its JSON
//! diagnostics into findings.
//!
//! Each `[[clippy]]` entry of the settings is one `cargo clippy --message-format=json`
//! invocation in its directory, with `-W <lint>` for every lint the profile's rules list (so
//! the gate does not depend on per-crate `[lints]` tables, which may add to it). The
//! checker's own `clippy.toml` (next to this crate's manifest) is used through
//! `CLIPPY_CONF_DIR`. Lints without a rule are ignored here; a hard compile error in our
//! code is an MLR-00 finding. If cargo cannot run at all (e.g. the aarch64 target is not
//! installed), the run is recorded as a note and the syn passes' approximations stand.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::config::{ClippyRun, Profile};
use crate::finding::{Finding, Origin, Position};
use crate::rules::{RULES, Rule};
use crate::workspace::{Tree, relative_path};

/// What the Clippy runs produced.
#[derive(Debug, Default)]
pub struct ClippyOutcome {
    /// Findings mapped to rules.
    pub findings: Vec<Finding>,
    /// Package directories Clippy actually checked.
    pub covered: BTreeSet<String>,
    /// Human-readable notes about runs that failed.
    pub notes: Vec<String>,
}

/// The `-W` arguments for a profile.
pub fn lint_arguments(profile: Profile) -> Vec<String> {
    let mut arguments = Vec::new();
    for info in RULES.iter().filter(|info| info.profiles.contains(&profile)) {
        let strict: &[&str] = if profile == Profile::Strict {
            info.strict_lints
        } else {
            &[]
        };
        for lint in info.lints.iter().chain(strict) {
            arguments.push("-W".to_owned());
            arguments.push((*lint).to_owned());
        }
    }
    arguments
}

/// Runs every configured invocation.
pub fn run(root: &Path, runs: &[ClippyRun], tree: &Tree, environment: &[(String, String)]) -> ClippyOutcome {
    let mut outcome = ClippyOutcome::default();
    for run in runs {
        run_one(root, run, tree, environment, &mut outcome);
    }
    outcome
}

fn run_one(root: &Path, run: &ClippyRun, tree: &Tree, environment: &[(String, String)], outcome: &mut ClippyOutcome) {
    let dir = root.join(&run.dir);
    let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()));
    command
        .current_dir(&dir)
        .envs(environment.iter().map(|(name, value)| (name, value)))
        .arg("clippy")
        .arg("--message-format=json")
        .arg("--quiet");
    for package in &run.packages {
        command.arg("-p").arg(package);
    }
    command
        .args(&run.args)
        .arg("--")
        .args(lint_arguments(run.profile));
    let configuration = root.join("misra-like-lints");
    if configuration.join("clippy.toml").is_file() {
        command.env("CLIPPY_CONF_DIR", configuration);
    }
    let output = match command.output() {
        Ok(output) => output,
        Err(error) => {
            outcome
                .notes
                .push(format!("clippy in `{}` could not start: {error}", run.dir));
            return;
        }
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    let requested: Vec<&str> = run.packages.iter().map(String::as_str).collect();
    let run_dir = relative_path(root, &dir);
    let mut checked: BTreeSet<String> = BTreeSet::new();
    let mut broken: BTreeSet<String> = BTreeSet::new();
    let mut succeeded = true;
    for line in stdout.lines() {
        let Ok(message) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        if message.get("reason").and_then(Value::as_str) == Some("build-finished") {
            succeeded = message
                .get("success")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            continue;
        }
        let Some(package_dir) = message
            .get("package_id")
            .and_then(Value::as_str)
            .and_then(|id| package_dir(root, id))
        else {
            continue;
        };
        let Some(package) = tree
            .packages
            .iter()
            .find(|package| package.dir == package_dir)
        else {
            continue;
        };
        let in_run = if requested.is_empty() {
            crate::config::path_has_prefix(&package.dir, if run_dir == "." { "" } else { &run_dir })
        } else {
            requested.contains(&package.name.as_str())
        };
        if !in_run {
            continue;
        }
        // A build script's diagnostics say nothing about whether the crate itself was checked.
        let crate_target = message
            .get("target")
            .and_then(|target| target.get("kind"))
            .and_then(Value::as_array)
            .is_some_and(|kinds| {
                kinds
                    .iter()
                    .any(|kind| kind.as_str() != Some("custom-build"))
            });
        match message.get("reason").and_then(Value::as_str) {
            Some("compiler-artifact") if crate_target => {
                checked.insert(package.dir.clone());
            }
            Some("compiler-message") => {
                // A hard error (type error, missing item) stops rustc before the late lint
                // passes: the crate's lint results are then incomplete, wherever the error is.
                if message.get("message").is_some_and(is_hard_error) {
                    broken.insert(package.dir.clone());
                }
                if let Some(finding) = message
                    .get("message")
                    .and_then(|m| to_finding(root, &dir, m))
                {
                    if crate_target && !matches!(finding.rule, Rule::Analysable) {
                        checked.insert(package.dir.clone());
                    }
                    outcome.findings.push(finding);
                }
            }
            _ => {}
        }
    }
    for package in &broken {
        checked.remove(package);
    }
    if !succeeded || checked.is_empty() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let errors: Vec<&str> = stderr
            .lines()
            .filter(|line| line.trim_start().starts_with("error"))
            .take(3)
            .collect();
        outcome.notes.push(format!(
            "clippy in `{}` did not finish ({}); fully checked: [{}]; not compiling: [{}]; the syn approximations stand for the rest: {}",
            run.dir,
            output.status,
            checked.iter().cloned().collect::<Vec<_>>().join(", "),
            broken.iter().cloned().collect::<Vec<_>>().join(", "),
            errors.join(" | ")
        ));
    }
    outcome.covered.extend(checked);
}

/// The repository-relative directory of a `path+file://..#name@version` package ID.
fn package_dir(root: &Path, id: &str) -> Option<String> {
    let start = id.find("file://")?.saturating_add("file://".len());
    let rest = id.get(start..)?;
    let end = rest.find(['#', ')', ' ']).unwrap_or(rest.len());
    let path = Path::new(rest.get(..end)?);
    path.starts_with(root).then(|| relative_path(root, path))
}

/// An error that is not a lint: it stops compilation before all lints ran.
fn is_hard_error(message: &Value) -> bool {
    let level = message.get("level").and_then(Value::as_str);
    let code = message
        .get("code")
        .and_then(|code| code.get("code"))
        .and_then(Value::as_str);
    level == Some("error")
        && code.is_none_or(|code| code.starts_with('E'))
        && message
            .get("spans")
            .and_then(Value::as_array)
            .is_some_and(|spans| !spans.is_empty())
}

/// Maps one rustc diagnostic to a finding: a mapped lint, or any other error (MLR-00): a
/// hard error, or a deny-level lint no rule maps (such as Clippy's
/// `absurd_extreme_comparisons`), which stops Clippy as surely as a type error and was once
/// dropped here, so that `cargo xtask lint` passed while Clippy had not finished.
fn to_finding(root: &Path, dir: &Path, message: &Value) -> Option<Finding> {
    let level = message.get("level").and_then(Value::as_str)?;
    let code = message
        .get("code")
        .and_then(|code| code.get("code"))
        .and_then(Value::as_str);
    let rule = match code.and_then(Rule::for_lint) {
        Some(rule) => rule,
        None if level == "error" => Rule::Analysable,
        None => return None,
    };
    let text = message
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let spans = message.get("spans").and_then(Value::as_array)?;
    let primary = spans
        .iter()
        .find(|span| span.get("is_primary").and_then(Value::as_bool) == Some(true))
        .or_else(|| spans.first())?;
    let (file, start, end) = locate(root, dir, primary)?;
    let mut finding = Finding::new(rule, &file, start, end, text);
    finding.origin = Origin::Clippy(code.unwrap_or("error").to_owned());
    Some(finding)
}

/// The repository-relative file and positions of a span, following macro expansions back to
/// a call site inside the repository.
fn locate(root: &Path, dir: &Path, span: &Value) -> Option<(String, Position, Position)> {
    let mut current = span;
    // BOUND: each step follows one `expansion` link; rustc's chains are finite.
    for _ in 0..64 {
        let file_name = current.get("file_name").and_then(Value::as_str)?;
        let path = dir.join(file_name);
        let path = path.canonicalize().unwrap_or(path);
        if path.starts_with(root) {
            let number = |key: &str| {
                current
                    .get(key)
                    .and_then(Value::as_u64)
                    .and_then(|n| usize::try_from(n).ok())
                    .unwrap_or(0)
            };
            return Some((
                relative_path(root, &path),
                Position::new(number("line_start"), number("column_start")),
                Position::new(number("line_end"), number("column_end")),
            ));
        }
        current = current.get("expansion")?.get("span")?;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_profile_passes_the_mapped_lints() {
        let arguments = lint_arguments(Profile::Strict);
        assert!(
            arguments
                .windows(2)
                .any(|pair| pair == ["-W", "clippy::indexing_slicing"])
        );
        let host = lint_arguments(Profile::Host);
        assert!(!host.iter().any(|lint| lint == "clippy::indexing_slicing"));
        assert!(
            host.iter()
                .any(|lint| lint == "clippy::undocumented_unsafe_blocks")
        );
    }

    #[test]
    fn package_ids_give_directories() {
        let root = Path::new("/work/main");
        assert_eq!(
            package_dir(
                root,
                "path+file:///work/main/hypervisor/core#bulkhead-core@0.1.0"
            ),
            Some("hypervisor/core".to_owned())
        );
        assert_eq!(
            package_dir(
                root,
                "registry+https://github.com/rust-lang/crates.io-index#syn@2.0.0"
            ),
            None
        );
    }

    #[test]
    fn an_unmapped_deny_level_lint_is_a_finding_not_dropped() {
        let root = Path::new("/nonexistent-root");
        let message: Value = serde_json::json!({
            "level": "error",
            "message": "this comparison involving the minimum or maximum element for this type contains a case that is always true or always false",
            "code": { "code": "clippy::absurd_extreme_comparisons" },
            "spans": [{
                "file_name": "src/partition.rs", "is_primary": true,
                "line_start": 224, "column_start": 23, "line_end": 224, "column_end": 80
            }]
        });
        let Some(finding) = to_finding(root, root, &message) else {
            panic!("an error Clippy stopped at was dropped")
        };
        assert_eq!(finding.rule, Rule::Analysable);
        assert_eq!(finding.origin, Origin::Clippy("clippy::absurd_extreme_comparisons".to_owned()));
        // A warning no rule maps stays out.
        let warning = serde_json::json!({
            "level": "warning", "message": "x", "code": { "code": "clippy::needless_return" },
            "spans": [{ "file_name": "src/lib.rs", "is_primary": true,
                        "line_start": 1, "column_start": 1, "line_end": 1, "column_end": 2 }]
        });
        assert!(to_finding(root, root, &warning).is_none());
    }

    #[test]
    fn lint_diagnostics_become_findings() {
        let root = Path::new("/nonexistent-root");
        let message: Value = serde_json::json!({
            "level": "warning",
            "message": "used `unwrap()` on an `Option` value",
            "code": { "code": "clippy::unwrap_used" },
            "spans": [{
                "file_name": "src/lib.rs", "is_primary": true,
                "line_start": 7, "column_start": 13, "line_end": 7, "column_end": 21
            }]
        });
        let finding = to_finding(root, root, &message);
        let Some(finding) = finding else {
            panic!("no finding")
        };
        assert_eq!(finding.rule, Rule::UnwrapExpect);
        assert_eq!(finding.file, "src/lib.rs");
        assert_eq!(finding.start, Position::new(7, 13));
        assert_eq!(
            finding.origin,
            Origin::Clippy("clippy::unwrap_used".to_owned())
        );
    }
}
