//! The coding-standard evidence: the lint tool's `findings.json` and the deviation register
//! `certification/deviations.toml` (both owned by `misra-like-lints`; read, never written).
//!
//! Both are read leniently — only the fields the checks need are interpreted, everything else
//! is kept for display — so the two tools can evolve without breaking each other:
//! - findings: a JSON array of findings, or an object with a `findings` array; each finding
//!   has `rule` (`MLR-nn`), `file`, `line`, `message`, `severity` (`error`/`warning`) and
//!   `suppressed_by` (a deviation ID or null);
//! - deviations: `[[deviation]]` tables with `id`, `rules` (or `rule`), `status`
//!   (`approved` is the only status that justifies anything) and free-form fields such as
//!   `kind`, `justification`, `verification`.
//!
//! A findings file is trusted only as far as a run vouches for it: `run.json` records the
//! SHA-256 of the findings the run's lint gate wrote ([`RunRecord::lint`]), and
//! [`run_binding`] says why the file on disk is not those findings (replaced, missing from the
//! record, from another commit). Otherwise `[]` written by hand would pass the `lint` check.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, read_text, toml_error};
use crate::git::SourceState;
use crate::results::run_record::{RunRecord, sha256_file};

/// The `schema_version` of `findings.json` this reader understands (misra-like-lints'
/// `report::SCHEMA_VERSION`).
pub const FINDINGS_SCHEMA_VERSION: u64 = 1;

/// One finding of the lint tool.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LintFinding {
    /// The rule, `MLR-nn`.
    pub rule: String,
    /// Repository-relative file.
    pub file: String,
    /// 1-based line (0 when about the whole file).
    pub line: u64,
    /// What is wrong.
    pub message: String,
    /// `error` or `warning`.
    pub severity: String,
    /// The deviation cited by the suppression, if the finding is suppressed.
    pub suppressed_by: Option<String>,
}

/// One deviation record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deviation {
    /// `DEV-nnnn`.
    pub id: String,
    /// The rules it deviates from.
    pub rules: Vec<String>,
    /// `proposed`, `approved`, `rejected`, `retired`.
    pub status: String,
    /// Requirement IDs the deviation says it touches (`requirements = [...]`), checked
    /// against the specification items.
    #[serde(default)]
    pub requirements: Vec<String>,
    /// Every other field, as text, for the register table.
    pub fields: BTreeMap<String, String>,
}

impl Deviation {
    /// Whether the deviation justifies findings.
    pub fn is_approved(&self) -> bool {
        self.status == "approved"
    }
}

/// Reads `findings.json`; `None` when the lint tool did not run.
pub fn load_findings(path: &Path) -> Result<Option<Vec<LintFinding>>, Error> {
    if !path.exists() {
        return Ok(None);
    }
    let text = read_text(path)?;
    let json_error = |message: String| Error::Json { path: path.to_path_buf(), message };
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|error| json_error(error.to_string()))?;
    let array = match &value {
        serde_json::Value::Array(array) => array,
        serde_json::Value::Object(object) => {
            let version =
                object.get("schema_version").and_then(serde_json::Value::as_u64).unwrap_or(FINDINGS_SCHEMA_VERSION);
            if version != FINDINGS_SCHEMA_VERSION {
                return Err(Error::SchemaVersion {
                    path: path.to_path_buf(),
                    found: version,
                    supported: FINDINGS_SCHEMA_VERSION,
                });
            }
            object
                .get("findings")
                .and_then(serde_json::Value::as_array)
                .ok_or_else(|| json_error("expected a `findings` array".to_owned()))?
        }
        _ => return Err(json_error("expected an array of findings or an object with `findings`".to_owned())),
    };
    let text_of = |finding: &serde_json::Value, key: &str| {
        finding.get(key).and_then(serde_json::Value::as_str).map(str::to_owned)
    };
    let mut findings = Vec::new();
    for (index, finding) in array.iter().enumerate() {
        let rule = text_of(finding, "rule").ok_or_else(|| json_error(format!("finding {index} has no `rule`")))?;
        findings.push(LintFinding {
            rule,
            file: text_of(finding, "file").unwrap_or_default(),
            line: finding.get("line").and_then(serde_json::Value::as_u64).unwrap_or(0),
            message: text_of(finding, "message").unwrap_or_default(),
            severity: text_of(finding, "severity").unwrap_or_else(|| "error".to_owned()),
            suppressed_by: text_of(finding, "suppressed_by").filter(|id| !id.is_empty()),
        });
    }
    Ok(Some(findings))
}

/// How far the run record vouches for the findings file.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunBinding {
    /// Why the file is not the findings of a recorded run of these sources (fails `lint`).
    pub problems: Vec<String>,
    /// What limits them without disowning them (a run on a dirty tree; warns).
    pub warnings: Vec<String>,
}

/// Judges the findings file at `path` against the run record: it must be the file the run
/// recorded (same SHA-256), and the run must be of the commit the sources are at. Nothing to
/// judge when there is no file (the `lint` check reports it as not run).
pub fn run_binding(path: &Path, run: Option<&RunRecord>, current: &SourceState) -> Result<RunBinding, Error> {
    let mut binding = RunBinding::default();
    if !path.exists() {
        return Ok(binding);
    }
    let Some(run) = run else {
        binding.problems.push("there is no run record to vouch for the findings: run `cargo xtask test`".to_owned());
        return Ok(binding);
    };
    match &run.lint {
        None => binding.problems.push(
            "the run record lists no findings file: the lint gate did not write these findings in the recorded run"
                .to_owned(),
        ),
        Some(recorded) => {
            let now = sha256_file(path)?;
            if now != recorded.sha256 {
                binding.problems.push(format!(
                    "the findings file is not the one the run recorded (sha256 {} now, {} in the run)",
                    crate::results::short(&now),
                    crate::results::short(&recorded.sha256)
                ));
            }
        }
    }
    if run.source.commit != current.commit {
        binding.problems.push(format!(
            "the findings are of commit {}, the sources are at {}",
            crate::results::short(&run.source.commit),
            crate::results::short(&current.commit)
        ));
    }
    if run.source.dirty || current.dirty {
        binding.warnings.push("the findings describe a tree with uncommitted changes, not the commit alone".to_owned());
    }
    Ok(binding)
}

/// Reads the deviation register; `None` when there is no register.
pub fn load_deviations(path: &Path) -> Result<Option<Vec<Deviation>>, Error> {
    if !path.exists() {
        return Ok(None);
    }
    let text = read_text(path)?;
    let table: toml::Table = toml::from_str(&text).map_err(|error| toml_error(path, &text, &error))?;
    let entries = table.get("deviation").or_else(|| table.get("deviations")).and_then(toml::Value::as_array);
    let mut deviations = Vec::new();
    for entry in entries.into_iter().flatten() {
        let Some(entry) = entry.as_table() else { continue };
        let id = entry.get("id").and_then(toml::Value::as_str).unwrap_or_default().to_owned();
        let rules = match entry.get("rules").or_else(|| entry.get("rule")) {
            Some(toml::Value::Array(rules)) => {
                rules.iter().filter_map(toml::Value::as_str).map(str::to_owned).collect()
            }
            Some(toml::Value::String(rule)) => vec![rule.clone()],
            _ => Vec::new(),
        };
        let status = entry.get("status").and_then(toml::Value::as_str).unwrap_or_default().to_owned();
        let requirements = entry
            .get("requirements")
            .and_then(toml::Value::as_array)
            .map(|ids| ids.iter().filter_map(toml::Value::as_str).map(str::to_owned).collect())
            .unwrap_or_default();
        let fields = entry
            .iter()
            .filter(|(key, _)| !matches!(key.as_str(), "id" | "rules" | "rule" | "status" | "requirements"))
            .map(|(key, value)| {
                let text = match value {
                    toml::Value::String(text) => text.clone(),
                    toml::Value::Array(values) => values
                        .iter()
                        .map(|value| value.as_str().map_or_else(|| value.to_string(), str::to_owned))
                        .collect::<Vec<_>>()
                        .join(", "),
                    other => other.to_string(),
                };
                (key.clone(), text)
            })
            .collect();
        deviations.push(Deviation { id, rules, status, requirements, fields });
    }
    Ok(Some(deviations))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn findings_load_from_an_array_or_an_object() {
        let directory = crate::test_support::temp_dir("lint");
        let path = directory.join("findings.json");
        std::fs::write(
            &path,
            r#"{"schema_version": 1, "findings": [
                {"rule": "MLR-04", "file": "a.rs", "line": 3, "column": 9, "message": "index", "severity": "error", "origin": {"kind": "syn"}, "suppressed_by": "DEV-0001"},
                {"rule": "MLR-26", "file": "b.rs", "line": 0, "message": "stale", "severity": "warning", "suppressed_by": null}
            ]}"#,
        )
        .unwrap();
        let findings = load_findings(&path).unwrap().unwrap();
        assert_eq!(findings.len(), 2);
        assert_eq!(findings[0].suppressed_by.as_deref(), Some("DEV-0001"));
        assert_eq!(findings[1].severity, "warning");
        std::fs::write(&path, r#"[{"rule": "MLR-01", "file": "c.rs", "line": 1, "message": "alloc"}]"#).unwrap();
        assert_eq!(load_findings(&path).unwrap().unwrap()[0].severity, "error");
        std::fs::write(&path, r#"[{"file": "c.rs"}]"#).unwrap();
        assert!(load_findings(&path).is_err());
        std::fs::write(&path, r#"{"schema_version": 2, "findings": []}"#).unwrap();
        assert!(matches!(load_findings(&path), Err(Error::SchemaVersion { found: 2, .. })));
        assert_eq!(load_findings(&directory.join("absent.json")).unwrap(), None);
    }

    #[test]
    fn findings_count_only_as_the_file_the_run_recorded() {
        use crate::results::run_record::LintRecord;
        let directory = crate::test_support::temp_dir("lint-binding");
        let path = directory.join("findings.json");
        let findings = r#"[{"rule": "MLR-01", "file": "a.rs", "line": 1, "message": "Box::new", "severity": "error"}]"#;
        std::fs::write(&path, findings).unwrap();
        let source = SourceState { commit: "a".repeat(40), dirty: false, changes: Vec::new(), changed: 0 };
        let mut run = RunRecord {
            schema_version: crate::run_record::SCHEMA_VERSION,
            command: "cargo xtask test".to_owned(),
            started: String::new(),
            finished: String::new(),
            source: source.clone(),
            tools: BTreeMap::new(),
            image: None,
            results: Vec::new(),
            lint: Some(LintRecord { path: crate::LINT_FINDINGS.to_owned(), sha256: sha256_file(&path).unwrap() }),
        };
        assert_eq!(run_binding(&path, Some(&run), &source).unwrap(), RunBinding::default());
        std::fs::write(&path, "[]").unwrap();
        let tampered = run_binding(&path, Some(&run), &source).unwrap();
        assert!(tampered.problems[0].contains("not the one the run recorded"), "{tampered:?}");
        run.lint = None;
        assert!(run_binding(&path, Some(&run), &source).unwrap().problems[0].contains("lists no findings file"));
        assert!(run_binding(&path, None, &source).unwrap().problems[0].contains("no run record"));
        let other = SourceState { commit: "b".repeat(40), ..source };
        assert!(run_binding(&path, Some(&run), &other).unwrap().problems.iter().any(|p| p.contains("of commit")));
    }

    #[test]
    fn deviations_keep_rules_status_and_other_fields() {
        let directory = crate::test_support::temp_dir("deviations");
        let path = directory.join("deviations.toml");
        std::fs::write(
            &path,
            "[[deviation]]\nid = \"DEV-0001\"\nrules = [\"MLR-04\"]\nkind = \"deliberate\"\nstatus = \"approved\"\njustification = \"bounded\"\nrequirements = [\"dsn~a~1\"]\n\n[[deviation]]\nid = \"DEV-0002\"\nrule = \"MLR-05\"\nstatus = \"draft\"\n",
        )
        .unwrap();
        let deviations = load_deviations(&path).unwrap().unwrap();
        assert_eq!(deviations[0].rules, ["MLR-04"]);
        assert!(deviations[0].is_approved());
        assert_eq!(deviations[0].fields.get("kind").map(String::as_str), Some("deliberate"));
        assert_eq!(deviations[0].requirements, ["dsn~a~1"]);
        assert_eq!(deviations[1].rules, ["MLR-05"]);
        assert!(!deviations[1].is_approved());
    }
}
