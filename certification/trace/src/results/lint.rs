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

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, read_text, toml_error};

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
