//! The deviation register (`certification/deviations.toml`): every justified exception to a
//! rule, with its argument and how the argument was verified.
//!
//! A suppression in code only counts if it cites an entry here that is `approved`, lists the
//! rule, and was approved for the place of the citation: every entry carries a scope, the
//! `paths` (and optionally the `items`) it was approved for, so one approval cannot silently
//! cover new sites elsewhere. Entries of kind `disapplied` are not cited: the rule does not
//! apply under their `paths` at all. Entries for MLR-27 are scoped by the panic `symbols` of
//! the release image they accept.

use serde::{Deserialize, Serialize};

use crate::config::path_has_prefix;
use crate::error::Error;
use crate::finding::{Finding, Origin, Position, Severity};
use crate::rules::Rule;

/// Why a deviation exists (MISRA Compliance:2020 vocabulary, adapted).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeviationKind {
    /// The code is safe for a reason the rule cannot see.
    Safe,
    /// The violation is a deliberate design choice with a safety argument.
    Deliberate,
    /// The checker's approximation flags correct code.
    FalsePositive,
    /// The rule does not apply to the listed paths at all.
    Disapplied,
}

/// Where a deviation stands in review.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeviationStatus {
    /// Written, not yet reviewed: does not justify anything.
    Proposed,
    /// Reviewed and accepted.
    Approved,
    /// Reviewed and refused.
    Rejected,
    /// No longer needed; kept so the ID is never reused.
    Retired,
}

/// One register entry.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Deviation {
    /// `DEV-nnnn`, never reused.
    pub id: String,
    /// The rules it covers (`MLR-nn`).
    pub rules: Vec<String>,
    /// Why it exists.
    pub kind: DeviationKind,
    /// Review state.
    pub status: DeviationStatus,
    /// One line.
    pub summary: String,
    /// The safety argument.
    pub justification: String,
    /// How the argument was checked (review, test, analysis).
    pub verification: String,
    /// Who approved it.
    #[serde(default)]
    pub approved_by: Option<String>,
    /// When (ISO date).
    #[serde(default)]
    pub date: Option<String>,
    /// The scope: repository-relative files or directory prefixes where the entry may be
    /// cited (for `disapplied` entries, where the rules do not apply at all). Required for
    /// every proposed or approved entry with a rule other than MLR-27.
    #[serde(default)]
    pub paths: Vec<String>,
    /// Optional narrower scope: the items (functions, methods, macros, ...) the entry was
    /// approved for, as a path suffix (`containment::stop`, `Pl011::enable`, `entry`). A
    /// citation inside such an item (or inside an item nested in it) is in scope.
    #[serde(default)]
    pub items: Vec<String>,
    /// MLR-27 only: substrings of the panic symbols it accepts.
    #[serde(default)]
    pub symbols: Vec<String>,
    /// Requirement IDs the deviation relates to (e.g. `dsn~stage2-isolation~1`).
    #[serde(default)]
    pub requirements: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RegisterFile {
    schema_version: u32,
    #[serde(default, rename = "deviation")]
    deviations: Vec<Deviation>,
}

/// The parsed register.
#[derive(Clone, Debug, Default)]
pub struct Register {
    /// Repository-relative path of the register.
    pub path: String,
    /// The entries in file order.
    pub deviations: Vec<Deviation>,
    /// The line of each entry's `id = ..` (same order).
    pub lines: Vec<usize>,
}

/// Why a citation of a deviation does not justify a finding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CitationError {
    /// No entry has the ID.
    Unknown,
    /// The entry is not approved.
    NotApproved(DeviationStatus),
    /// The entry does not list the rule.
    WrongRule,
    /// The citation is outside the paths or items the entry was approved for.
    OutOfScope,
}

/// Where a deviation is cited: the file, and the path of the innermost item around the
/// citation (see [`crate::unit::FileUnit::item_path_at`]).
#[derive(Clone, Copy, Debug)]
pub struct CitationPlace<'a> {
    /// Repository-relative file.
    pub file: &'a str,
    /// Module path followed by the names of the enclosing items.
    pub item: &'a [String],
}

impl Deviation {
    /// Whether a citation at `place` lies in this entry's scope.
    pub fn scope_covers(&self, place: CitationPlace<'_>) -> bool {
        let in_paths = self
            .paths
            .iter()
            .any(|prefix| path_has_prefix(place.file, prefix));
        let in_items = self.items.is_empty()
            || self
                .items
                .iter()
                .any(|item| item_path_within(place.item, item));
        in_paths && in_items
    }

    /// Whether the entry needs a scope of `paths`: proposed or approved, and about a rule
    /// checked in source (MLR-27 entries are scoped by `symbols`).
    fn needs_paths(&self) -> bool {
        matches!(
            self.status,
            DeviationStatus::Proposed | DeviationStatus::Approved
        ) && self.rules.iter().any(|rule| rule != Rule::PanicReachable.id())
    }
}

/// Whether `item` (a `::`-separated path suffix such as `containment::stop`) names the item
/// at `path` or one of its enclosing items, matching whole path components.
fn item_path_within(path: &[String], item: &str) -> bool {
    let wanted: Vec<&str> = item.split("::").map(str::trim).collect();
    (1..=path.len()).any(|length| {
        path.get(..length).is_some_and(|ancestor| {
            ancestor.len() >= wanted.len()
                && ancestor
                    .iter()
                    .rev()
                    .zip(wanted.iter().rev())
                    .all(|(have, want)| have == want)
        })
    })
}

impl Register {
    /// Reads the register at `root/relative`; a missing file is an empty register.
    pub fn load(root: &std::path::Path, relative: &str) -> Result<Register, Error> {
        let path = root.join(relative);
        match std::fs::read_to_string(&path) {
            Ok(text) => Register::parse(&text, relative),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(Register {
                path: relative.to_owned(),
                ..Register::default()
            }),
            Err(error) => Err(Error::Io { path, error }),
        }
    }

    /// Parses register text.
    pub fn parse(text: &str, relative: &str) -> Result<Register, Error> {
        let file: RegisterFile = toml::from_str(text).map_err(|error| Error::Register {
            path: relative.to_owned(),
            message: error.to_string(),
        })?;
        if file.schema_version != 1 {
            return Err(Error::Register {
                path: relative.to_owned(),
                message: format!("unsupported schema_version {}", file.schema_version),
            });
        }
        let lines = file
            .deviations
            .iter()
            .map(|deviation| {
                text.lines()
                    .position(|line| {
                        let line = line.trim();
                        line.starts_with("id") && line.contains(&format!("\"{}\"", deviation.id))
                    })
                    .map_or(0, |index| index.saturating_add(1))
            })
            .collect();
        Ok(Register {
            path: relative.to_owned(),
            deviations: file.deviations,
            lines,
        })
    }

    /// The entry with `id`.
    pub fn get(&self, id: &str) -> Option<&Deviation> {
        self.deviations.iter().find(|deviation| deviation.id == id)
    }

    /// The line of the entry with `id` (0 if unknown).
    pub fn line_of(&self, id: &str) -> usize {
        self.deviations
            .iter()
            .position(|deviation| deviation.id == id)
            .and_then(|index| self.lines.get(index).copied())
            .unwrap_or(0)
    }

    /// Whether `id`, cited at `place`, justifies a finding of `rule`.
    pub fn justifies(
        &self,
        id: &str,
        rule: Rule,
        place: CitationPlace<'_>,
    ) -> Result<(), CitationError> {
        let deviation = self.get(id).ok_or(CitationError::Unknown)?;
        if deviation.status != DeviationStatus::Approved {
            return Err(CitationError::NotApproved(deviation.status));
        }
        if !deviation.rules.iter().any(|listed| listed == rule.id()) {
            return Err(CitationError::WrongRule);
        }
        if !deviation.scope_covers(place) {
            return Err(CitationError::OutOfScope);
        }
        Ok(())
    }

    /// Problems with the register itself: malformed or duplicate IDs, unknown rules, missing
    /// paths on a disapplication.
    pub fn validate(&self) -> Vec<Finding> {
        let mut findings = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for (deviation, line) in self.deviations.iter().zip(&self.lines) {
            let mut problem = |message: String| {
                let mut finding = Finding::new(
                    Rule::Suppression,
                    &self.path,
                    Position::new(*line, 1),
                    Position::new(*line, 1),
                    message,
                );
                finding.origin = Origin::Register;
                findings.push(finding);
            };
            if parse_deviation_id(&deviation.id).is_none() {
                problem(format!("`{}` is not of the form DEV-nnnn", deviation.id));
            }
            if !seen.insert(deviation.id.clone()) {
                problem(format!("`{}` is used by more than one entry", deviation.id));
            }
            for rule in &deviation.rules {
                match Rule::from_id(rule) {
                    None => problem(format!("`{}` cites unknown rule `{rule}`", deviation.id)),
                    Some(
                        Rule::Suppression
                        | Rule::StaleDeviation
                        | Rule::Analysable
                        | Rule::CrateAttributes,
                    ) => {
                        problem(format!("`{}`: {rule} cannot be deviated", deviation.id));
                    }
                    Some(_) => {}
                }
            }
            if deviation.rules.is_empty() {
                problem(format!("`{}` lists no rules", deviation.id));
            }
            if deviation.kind == DeviationKind::Disapplied && deviation.paths.is_empty() {
                problem(format!(
                    "`{}` is a disapplication without `paths`",
                    deviation.id
                ));
            } else if deviation.needs_paths() && deviation.paths.is_empty() {
                problem(format!(
                    "`{}` has no scope: list the `paths` (and, where it makes sense, the `items`) it is approved for",
                    deviation.id
                ));
            }

            if deviation.justification.trim().is_empty() || deviation.verification.trim().is_empty()
            {
                problem(format!(
                    "`{}` needs a justification and a verification",
                    deviation.id
                ));
            }
        }
        findings
    }

    /// A warning that an approved deviation suppressed nothing.
    pub fn stale(&self, deviation: &Deviation) -> Finding {
        let line = self.line_of(&deviation.id);
        let mut finding = Finding::new(
            Rule::StaleDeviation,
            &self.path,
            Position::new(line, 1),
            Position::new(line, 1),
            format!(
                "deviation {} ({}) suppresses nothing",
                deviation.id,
                deviation.rules.join(", ")
            ),
        );
        finding.origin = Origin::Register;
        finding.severity = Severity::Warning;
        finding
    }
}

/// The number of a `DEV-nnnn` ID (four or more digits).
pub fn parse_deviation_id(text: &str) -> Option<u32> {
    let digits = text.strip_prefix("DEV-")?;
    if digits.len() < 4 || !digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"
schema_version = 1

[[deviation]]
id = "DEV-0001"
rules = ["MLR-10"]
kind = "deliberate"
status = "approved"
summary = "s"
justification = "j"
verification = "v"
paths = ["hypervisor/drivers/src/uart.rs"]
items = ["Uart::flush"]

[[deviation]]
id = "DEV-0002"
rules = ["MLR-99"]
kind = "safe"
status = "proposed"
summary = "s"
justification = "j"
verification = "v"
paths = ["hypervisor/core"]

[[deviation]]
id = "DEV-0003"
rules = ["MLR-09"]
kind = "deliberate"
status = "approved"
summary = "s"
justification = "j"
verification = "v"
"#;

    fn place<'a>(file: &'a str, item: &'a [String]) -> CitationPlace<'a> {
        CitationPlace { file, item }
    }

    fn item(path: &str) -> Vec<String> {
        path.split("::").map(str::to_owned).collect()
    }

    #[test]
    fn citations_need_an_approved_entry_for_the_rule() {
        let register = Register::parse(SAMPLE, "deviations.toml").map_err(|e| e.to_string());
        let Ok(register) = register else {
            panic!("{register:?}")
        };
        let flush = item("uart::Uart::flush");
        let here = place("hypervisor/drivers/src/uart.rs", &flush);
        assert_eq!(register.justifies("DEV-0001", Rule::LoopBound, here), Ok(()));
        assert_eq!(
            register.justifies("DEV-0001", Rule::Recursion, here),
            Err(CitationError::WrongRule)
        );
        assert_eq!(
            register.justifies("DEV-0002", Rule::LoopBound, here),
            Err(CitationError::NotApproved(DeviationStatus::Proposed))
        );
        assert_eq!(
            register.justifies("DEV-0009", Rule::LoopBound, here),
            Err(CitationError::Unknown)
        );
        assert_eq!(register.line_of("DEV-0002"), 16);
    }

    #[test]
    fn malformed_entries_are_findings() {
        let Ok(register) = Register::parse(SAMPLE, "deviations.toml") else {
            panic!("parse")
        };
        let messages: Vec<String> = register.validate().into_iter().map(|f| f.message).collect();
        assert_eq!(
            messages,
            [
                "`DEV-0002` cites unknown rule `MLR-99`",
                "`DEV-0003` has no scope: list the `paths` (and, where it makes sense, the `items`) it is approved for",
            ]
        );
    }

    #[test]
    fn citations_outside_the_approved_scope_justify_nothing() {
        let Ok(register) = Register::parse(SAMPLE, "deviations.toml") else {
            panic!("parse")
        };
        let flush = item("uart::Uart::flush");
        let nested = item("uart::Uart::flush::drain");
        let write = item("uart::Uart::write");
        let elsewhere = item("gic::Gic::flush");
        assert_eq!(
            register.justifies(
                "DEV-0001",
                Rule::LoopBound,
                place("hypervisor/drivers/src/uart.rs", &nested)
            ),
            Ok(()),
            "an item nested in the approved one is in scope"
        );
        assert_eq!(
            register.justifies(
                "DEV-0001",
                Rule::LoopBound,
                place("hypervisor/drivers/src/uart.rs", &write)
            ),
            Err(CitationError::OutOfScope),
            "another function of the approved file"
        );
        assert_eq!(
            register.justifies(
                "DEV-0001",
                Rule::LoopBound,
                place("hypervisor/drivers/src/gic.rs", &elsewhere)
            ),
            Err(CitationError::OutOfScope),
            "another file"
        );
        assert_eq!(
            register.justifies(
                "DEV-0001",
                Rule::LoopBound,
                place("hypervisor/drivers/src/uart.rs.orig", &flush)
            ),
            Err(CitationError::OutOfScope),
            "paths match whole components"
        );
        assert_eq!(
            register.justifies(
                "DEV-0003",
                Rule::Recursion,
                place("hypervisor/core/src/lib.rs", &flush)
            ),
            Err(CitationError::OutOfScope),
            "an entry without a scope covers nothing"
        );
    }

    #[test]
    fn item_paths_match_whole_components() {
        assert!(item_path_within(&item("containment::stop"), "stop"));
        assert!(item_path_within(&item("containment::stop"), "containment::stop"));
        assert!(item_path_within(&item("containment::stop::inner"), "containment::stop"));
        assert!(!item_path_within(&item("containment::full_stop"), "stop"));
        assert!(!item_path_within(&item("vcpu::stop"), "containment::stop"));
        assert!(!item_path_within(&item("containment"), "containment::stop"));
    }

    #[test]
    fn deviation_ids_have_four_digits() {
        assert_eq!(parse_deviation_id("DEV-0042"), Some(42));
        assert_eq!(parse_deviation_id("DEV-42"), None);
        assert_eq!(parse_deviation_id("DEV-00x2"), None);
    }
}
