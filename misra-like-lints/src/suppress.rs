//! Suppressions: the two ways code may cite a deviation, checking the citations against the
//! register, applying them to findings, and reporting the stale ones.
//!
//! - `#[expect(lint, reason = "DEV-nnnn: ..")]` on an item, statement or expression (or
//!   `#![expect]` for a whole file): suppresses findings of the rule the lint maps to inside
//!   that node. `#[allow]` of a mapped lint is itself a finding, since it cannot go stale
//!   visibly; every `allow`/`expect` needs a `reason`.
//! - `// DEVIATION(DEV-nnnn, MLR-xx[, MLR-yy])` in the comment block directly above a line:
//!   suppresses findings of those rules on that line (the first code line after the block).
//!
//! A citation of an unknown, unapproved or wrong-rule deviation, or of one cited outside the
//! scope it was approved for (its `paths` and `items`), suppresses nothing and is an MLR-25
//! finding. A `DEVIATION` comment that suppresses nothing, and an approved register
//! entry that nothing cites, are MLR-26 warnings. An `#[expect]` that suppresses nothing is
//! rustc's `unfulfilled_lint_expectations` (mapped to MLR-26 when Clippy runs): syn alone
//! cannot see everything a lint sees, so the tool does not call an `expect` stale itself.

use std::collections::BTreeMap;

use crate::config::path_has_prefix;
use crate::finding::{Finding, Position, Severity};
use crate::register::{
    CitationError, CitationPlace, DeviationKind, DeviationStatus, Register, parse_deviation_id,
};
use crate::rules::Rule;
use crate::source::CommentKind;
use crate::unit::{FileUnit, LintLevel};

/// A `// DEVIATION(..)` comment.
#[derive(Clone, Debug)]
struct CommentSite {
    file: String,
    position: Position,
    target_line: Option<usize>,
    deviation: String,
    /// The cited rules that the deviation justifies.
    rules: Vec<Rule>,
    used: bool,
}

/// An `#[expect(.., reason = "DEV-..")]` with a valid citation.
#[derive(Clone, Debug)]
struct AttributeSite {
    file: String,
    covers: (Position, Position),
    deviation: String,
    rules: Vec<Rule>,
}

/// How one deviation was used.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct DeviationUse {
    /// Findings it suppressed, per rule ID.
    pub suppressed: BTreeMap<String, usize>,
    /// `#[expect]` sites citing it.
    pub expect_sites: usize,
}

/// The suppression state of a run.
#[derive(Debug, Default)]
pub struct Suppressions {
    comments: Vec<CommentSite>,
    attributes: Vec<AttributeSite>,
    /// Use of each deviation, by ID.
    pub uses: BTreeMap<String, DeviationUse>,
}

fn citation_problem(
    register: &Register,
    deviation: &str,
    rule: Rule,
    place: CitationPlace<'_>,
    error: &CitationError,
) -> String {
    match error {
        CitationError::Unknown => format!("{deviation} is not in the deviation register"),
        CitationError::NotApproved(status) => {
            format!("{deviation} is {status:?}, not approved").to_lowercase()
        }
        CitationError::WrongRule => format!("{deviation} does not cover {rule}"),
        CitationError::OutOfScope => {
            let (paths, items) = register.get(deviation).map_or_else(
                || (String::new(), String::new()),
                |entry| (entry.paths.join(", "), entry.items.join(", ")),
            );
            let scope = if items.is_empty() {
                format!("paths: [{paths}]")
            } else {
                format!("paths: [{paths}]; items: [{items}]")
            };
            format!(
                "{deviation} is not approved for `{}` in {}: its scope is {scope}; a new site needs its own review (widen the entry's scope or add an entry)",
                place.item.join("::"),
                place.file
            )
        }
    }
}

fn problem(file: &str, position: Position, message: String) -> Finding {
    Finding::new(Rule::Suppression, file, position, position, message)
}

/// Parses `DEVIATION(DEV-nnnn, MLR-xx, ..)` at the start of a comment.
fn parse_deviation_comment(text: &str) -> Option<Result<(String, Vec<String>), String>> {
    let rest = text.trim().strip_prefix("DEVIATION")?;
    let Some(arguments) = rest
        .trim_start()
        .strip_prefix('(')
        .and_then(|inner| inner.split_once(')'))
    else {
        return Some(Err(
            "malformed `DEVIATION` comment: expected `DEVIATION(DEV-nnnn, MLR-xx)`".to_owned(),
        ));
    };
    let parts: Vec<String> = arguments
        .0
        .split(',')
        .map(|part| part.trim().to_owned())
        .collect();
    let Some((deviation, rules)) = parts.split_first() else {
        return Some(Err("empty `DEVIATION()` comment".to_owned()));
    };
    if parse_deviation_id(deviation).is_none() {
        return Some(Err(format!(
            "`{deviation}` is not a deviation ID (DEV-nnnn)"
        )));
    }
    if rules.is_empty() || rules.iter().any(|rule| rule.is_empty()) {
        return Some(Err(format!("`DEVIATION({deviation})` names no rule")));
    }
    Some(Ok((deviation.clone(), rules.to_vec())))
}

/// The `DEV-nnnn` at the start of an `#[expect]` reason.
fn reason_deviation(reason: &str) -> Option<String> {
    let head: String = reason
        .trim()
        .chars()
        .take_while(|c| *c == '-' || c.is_ascii_alphanumeric())
        .collect();
    parse_deviation_id(&head).map(|_| head)
}

impl Suppressions {
    /// Collects the suppression sites of all files, reporting invalid ones.
    pub fn collect(units: &[FileUnit], register: &Register) -> (Suppressions, Vec<Finding>) {
        let mut suppressions = Suppressions::default();
        let mut findings = Vec::new();
        for unit in units {
            suppressions.collect_comments(unit, register, &mut findings);
            suppressions.collect_attributes(unit, register, &mut findings);
        }
        for deviation in &register.deviations {
            suppressions.uses.entry(deviation.id.clone()).or_default();
        }
        for site in &suppressions.attributes {
            let entry = suppressions.uses.entry(site.deviation.clone()).or_default();
            entry.expect_sites = entry.expect_sites.saturating_add(1);
        }
        (suppressions, findings)
    }

    fn collect_comments(
        &mut self,
        unit: &FileUnit,
        register: &Register,
        findings: &mut Vec<Finding>,
    ) {
        let file = &unit.file.relative;
        for comment in &unit.source.comments {
            if !matches!(comment.kind, CommentKind::Line | CommentKind::Block) {
                continue;
            }
            let Some(parsed) = parse_deviation_comment(&comment.text) else {
                continue;
            };
            let position = Position::new(comment.line, comment.column);
            let (deviation, rule_ids) = match parsed {
                Ok(parsed) => parsed,
                Err(message) => {
                    findings.push(problem(file, position, message));
                    continue;
                }
            };
            let item = unit.item_path_at(
                unit.source
                    .next_code_line(comment.end_line)
                    .unwrap_or(comment.line),
            );
            let place = CitationPlace { file, item: &item };
            let mut rules = Vec::new();
            for rule_id in rule_ids {
                let Some(rule) = Rule::from_id(&rule_id) else {
                    findings.push(problem(
                        file,
                        position,
                        format!("`{rule_id}` is not a rule ID"),
                    ));
                    continue;
                };
                match register.justifies(&deviation, rule, place) {
                    Ok(()) => rules.push(rule),
                    Err(error) => findings.push(problem(
                        file,
                        position,
                        citation_problem(register, &deviation, rule, place, &error),
                    )),
                }
            }
            if !rules.is_empty() {
                self.comments.push(CommentSite {
                    file: file.clone(),
                    position,
                    target_line: unit.source.next_code_line(comment.end_line),
                    deviation,
                    rules,
                    used: false,
                });
            }
        }
    }

    fn collect_attributes(
        &mut self,
        unit: &FileUnit,
        register: &Register,
        findings: &mut Vec<Finding>,
    ) {
        let file = &unit.file.relative;
        for attribute in &unit.lint_attributes {
            let keyword = match attribute.level {
                LintLevel::Allow => "allow",
                LintLevel::Expect => "expect",
                LintLevel::Warn | LintLevel::Deny | LintLevel::Forbid => continue,
            };
            let lints = attribute.lints.join(", ");
            let Some(reason) = &attribute.reason else {
                findings.push(problem(
                    file,
                    attribute.position,
                    format!("`#[{keyword}({lints})]` without a `reason`"),
                ));
                continue;
            };
            let profile = unit.profile_at(attribute.position.line);
            let item = unit.item_path_at(attribute.position.line);
            let place = CitationPlace { file, item: &item };
            let mut rules = Vec::new();
            let mut deviation_cited = None;
            for lint in &attribute.lints {
                let Some(rule) = Rule::for_lint(lint) else {
                    continue;
                };
                if !rule.applies_to(profile) {
                    continue;
                }
                if attribute.level == LintLevel::Allow {
                    findings.push(problem(
                        file,
                        attribute.position,
                        format!("`#[allow({lint})]` silences {rule} without a deviation: use `#[expect({lint}, reason = \"DEV-nnnn: ..\")]`"),
                    ));
                    continue;
                }
                let Some(deviation) = reason_deviation(reason) else {
                    findings.push(problem(
                        file,
                        attribute.position,
                        format!("`#[expect({lint})]` silences {rule}: its reason must start with the deviation ID (`DEV-nnnn: ..`)"),
                    ));
                    continue;
                };
                match register.justifies(&deviation, rule, place) {
                    Ok(()) => {
                        rules.push(rule);
                        deviation_cited = Some(deviation);
                    }
                    Err(error) => findings.push(problem(
                        file,
                        attribute.position,
                        citation_problem(register, &deviation, rule, place, &error),
                    )),
                }
            }
            if let Some(deviation) = deviation_cited {
                self.attributes.push(AttributeSite {
                    file: file.clone(),
                    covers: attribute.covers,
                    deviation,
                    rules,
                });
            }
        }
    }

    /// Marks the findings that an approved deviation justifies (findings already marked are
    /// left alone, so this can run again after more findings arrive).
    pub fn apply(&mut self, findings: &mut [Finding], register: &Register) {
        for finding in findings.iter_mut() {
            let settled = finding.suppressed_by.is_some();
            if settled
                || matches!(
                    finding.rule,
                    Rule::Analysable
                        | Rule::Suppression
                        | Rule::StaleDeviation
                        | Rule::CrateAttributes
                )
            {
                continue;
            }
            let deviation = self.justify(finding, register);
            if let Some(deviation) = deviation {
                let entry = self.uses.entry(deviation.clone()).or_default();
                let count = entry
                    .suppressed
                    .entry(finding.rule.id().to_owned())
                    .or_default();
                *count = count.saturating_add(1);
                finding.suppressed_by = Some(deviation);
            }
        }
    }

    fn justify(&mut self, finding: &Finding, register: &Register) -> Option<String> {
        if let Some(site) = self.comments.iter_mut().find(|site| {
            site.file == finding.file
                && site.target_line == Some(finding.start.line)
                && site.rules.contains(&finding.rule)
        }) {
            site.used = true;
            return Some(site.deviation.clone());
        }
        if let Some(site) = self.attributes.iter().find(|site| {
            site.file == finding.file
                && site.covers.0 <= finding.start
                && finding.start <= site.covers.1
                && site.rules.contains(&finding.rule)
        }) {
            return Some(site.deviation.clone());
        }
        register
            .deviations
            .iter()
            .filter(|deviation| deviation.status == DeviationStatus::Approved)
            .filter(|deviation| deviation.rules.iter().any(|rule| rule == finding.rule.id()))
            .find(|deviation| {
                let by_path = deviation.kind == DeviationKind::Disapplied
                    && deviation
                        .paths
                        .iter()
                        .any(|prefix| path_has_prefix(&finding.file, prefix));
                let by_symbol = finding.rule == Rule::PanicReachable
                    && deviation
                        .symbols
                        .iter()
                        .any(|symbol| finding.message.contains(symbol.as_str()));
                by_path || by_symbol
            })
            .map(|deviation| deviation.id.clone())
    }

    /// IDs of approved register entries that nothing cites.
    pub fn stale_deviations(&self, register: &Register) -> Vec<String> {
        register
            .deviations
            .iter()
            .filter(|deviation| deviation.status == DeviationStatus::Approved)
            .filter(|deviation| {
                self.uses
                    .get(&deviation.id)
                    .is_none_or(|usage| usage.suppressed.is_empty() && usage.expect_sites == 0)
            })
            .map(|deviation| deviation.id.clone())
            .collect()
    }

    /// MLR-26 warnings: unused `DEVIATION` comments and approved entries nothing cites.
    pub fn stale(&self, register: &Register) -> Vec<Finding> {
        let mut findings = Vec::new();
        for site in self.comments.iter().filter(|site| !site.used) {
            let rules: Vec<&str> = site.rules.iter().map(|rule| rule.id()).collect();
            let mut finding = Finding::new(
                Rule::StaleDeviation,
                &site.file,
                site.position,
                site.position,
                format!(
                    "`DEVIATION({}, {})` suppresses nothing on the line below",
                    site.deviation,
                    rules.join(", ")
                ),
            );
            finding.severity = Severity::Warning;
            findings.push(finding);
        }
        for id in self.stale_deviations(register) {
            if let Some(deviation) = register.get(&id) {
                findings.push(register.stale(deviation));
            }
        }
        findings
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deviation_comments_parse() {
        assert_eq!(
            parse_deviation_comment("DEVIATION(DEV-0001, MLR-10) the idle loop"),
            Some(Ok(("DEV-0001".to_owned(), vec!["MLR-10".to_owned()])))
        );
        assert_eq!(
            parse_deviation_comment("DEVIATION(DEV-0001, MLR-10, MLR-09)"),
            Some(Ok((
                "DEV-0001".to_owned(),
                vec!["MLR-10".to_owned(), "MLR-09".to_owned()]
            )))
        );
        assert!(matches!(
            parse_deviation_comment("DEVIATION(DEV-1, MLR-10)"),
            Some(Err(_))
        ));
        assert!(matches!(
            parse_deviation_comment("DEVIATION(DEV-0001)"),
            Some(Err(_))
        ));
        assert!(matches!(
            parse_deviation_comment("DEVIATION DEV-0001"),
            Some(Err(_))
        ));
        assert_eq!(parse_deviation_comment("a note about deviations"), None);
    }

    #[test]
    fn expect_reasons_start_with_the_deviation() {
        assert_eq!(
            reason_deviation("DEV-0007: the table is sized by the config"),
            Some("DEV-0007".to_owned())
        );
        assert_eq!(reason_deviation("because"), None);
    }
}
