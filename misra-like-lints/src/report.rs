//! The result of a run: `findings.json` (schema-versioned, read by the traceability report)
//! and rustc-style diagnostics for people.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use crate::elf::ElfReport;
use crate::finding::{Finding, Severity};
use crate::register::{DeviationKind, DeviationStatus, Register};
use crate::suppress::DeviationUse;

/// `schema` field of `findings.json`.
pub const SCHEMA: &str = "bulkhead/misra-like-lints/findings";
/// `schema_version` field of `findings.json`; bumped on any incompatible change.
pub const SCHEMA_VERSION: u32 = 1;

/// Counts for one rule.
#[derive(Clone, Debug, Default, Serialize)]
pub struct RuleCount {
    /// Unsuppressed errors.
    pub unjustified: usize,
    /// Findings justified by a deviation.
    pub suppressed: usize,
    /// Unsuppressed warnings.
    pub warnings: usize,
}

/// Totals.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Summary {
    /// Source files analysed.
    pub files: usize,
    /// All findings.
    pub findings: usize,
    /// Unsuppressed errors: the gate fails when this is not zero.
    pub unjustified_errors: usize,
    /// Unsuppressed warnings.
    pub warnings: usize,
    /// Findings justified by deviations.
    pub suppressed: usize,
    /// Per rule ID.
    pub by_rule: BTreeMap<String, RuleCount>,
    /// Suppressed findings per rule ID (the "deviations by rule" count).
    pub deviations_by_rule: BTreeMap<String, usize>,
}

/// One register entry as used by this run.
#[derive(Clone, Debug, Serialize)]
pub struct DeviationSummary {
    /// `DEV-nnnn`.
    pub id: String,
    /// Rules it covers.
    pub rules: Vec<String>,
    /// Its kind.
    pub kind: DeviationKind,
    /// Its status.
    pub status: DeviationStatus,
    /// One line.
    pub summary: String,
    /// What it suppressed in this run.
    #[serde(flatten)]
    pub usage: DeviationUse,
    /// Approved but unused.
    pub stale: bool,
}

/// The tool that wrote the report.
#[derive(Clone, Debug, Serialize)]
pub struct ToolInfo {
    /// `misra-like-lints`.
    pub name: &'static str,
    /// The crate version.
    pub version: &'static str,
}

/// Everything a run found.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// [`SCHEMA`].
    pub schema: &'static str,
    /// [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// Which tool.
    pub tool: ToolInfo,
    /// The analysed root.
    pub root: String,
    /// The register used, repository-relative.
    pub register: String,
    /// Whether Clippy ran, and notes about runs that could not check our code.
    pub clippy: ClippyStatus,
    /// The release-ELF check, if it ran.
    pub elf: Option<ElfReport>,
    /// Wall-clock duration of the run in milliseconds.
    pub duration_ms: u64,
    /// Totals.
    pub summary: Summary,
    /// The register entries and their use.
    pub deviations: Vec<DeviationSummary>,
    /// The findings, sorted by file and position.
    pub findings: Vec<Finding>,
}

/// Clippy stage status.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ClippyStatus {
    /// Clippy was asked for.
    pub ran: bool,
    /// Package directories it checked.
    pub covered: Vec<String>,
    /// Problems running it.
    pub notes: Vec<String>,
}

impl Report {
    /// Assembles a report.
    pub fn new(
        root: &Path,
        register: &Register,
        uses: &BTreeMap<String, DeviationUse>,
        stale: &[String],
        findings: Vec<Finding>,
        files: usize,
    ) -> Report {
        let mut summary = Summary {
            files,
            findings: findings.len(),
            ..Summary::default()
        };
        for finding in &findings {
            let count = summary
                .by_rule
                .entry(finding.rule.id().to_owned())
                .or_default();
            if finding.suppressed_by.is_some() {
                count.suppressed = count.suppressed.saturating_add(1);
                summary.suppressed = summary.suppressed.saturating_add(1);
                let by_rule = summary
                    .deviations_by_rule
                    .entry(finding.rule.id().to_owned())
                    .or_default();
                *by_rule = by_rule.saturating_add(1);
            } else if finding.severity == Severity::Error {
                count.unjustified = count.unjustified.saturating_add(1);
                summary.unjustified_errors = summary.unjustified_errors.saturating_add(1);
            } else {
                count.warnings = count.warnings.saturating_add(1);
                summary.warnings = summary.warnings.saturating_add(1);
            }
        }
        let deviations = register
            .deviations
            .iter()
            .map(|deviation| DeviationSummary {
                id: deviation.id.clone(),
                rules: deviation.rules.clone(),
                kind: deviation.kind,
                status: deviation.status,
                summary: deviation.summary.clone(),
                usage: uses.get(&deviation.id).cloned().unwrap_or_default(),
                stale: stale.contains(&deviation.id),
            })
            .collect();
        Report {
            schema: SCHEMA,
            schema_version: SCHEMA_VERSION,
            tool: ToolInfo {
                name: env!("CARGO_PKG_NAME"),
                version: env!("CARGO_PKG_VERSION"),
            },
            root: root.display().to_string(),
            register: register.path.clone(),
            clippy: ClippyStatus::default(),
            elf: None,
            duration_ms: 0,
            summary,
            deviations,
            findings,
        }
    }

    /// Whether the gate passes: no unjustified errors (and, if `deny_warnings`, no warnings).
    pub fn passed(&self, deny_warnings: bool) -> bool {
        self.summary.unjustified_errors == 0 && (!deny_warnings || self.summary.warnings == 0)
    }

    /// `findings.json`.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self)
            .unwrap_or_else(|error| format!("{{\"error\": \"{error}\"}}"))
    }

    /// rustc-style diagnostics followed by a summary. Source lines are read from `root`.
    pub fn render(&self, root: &Path, show_suppressed: bool) -> String {
        let mut out = String::new();
        let mut sources: HashMap<String, Vec<String>> = HashMap::new();
        for finding in &self.findings {
            if finding.suppressed_by.is_some() && !show_suppressed {
                continue;
            }
            let lines = sources.entry(finding.file.clone()).or_insert_with(|| {
                std::fs::read_to_string(root.join(&finding.file))
                    .map(|text| text.lines().map(str::to_owned).collect())
                    .unwrap_or_default()
            });
            render_finding(&mut out, finding, lines);
        }
        for note in &self.clippy.notes {
            let _ = writeln!(out, "note: {note}");
        }
        if let Some(elf) = &self.elf {
            let _ = writeln!(
                out,
                "note: {}: {} functions reached from {} by direct branches; {} indirect branches not followed",
                elf.path,
                elf.functions_reached,
                elf.roots.join(", "),
                elf.indirect_branches
            );
        }
        let summary = &self.summary;
        let used: Vec<String> = self
            .deviations
            .iter()
            .filter(|deviation| !deviation.usage.suppressed.is_empty())
            .map(|deviation| {
                let rules: Vec<String> = deviation
                    .usage
                    .suppressed
                    .iter()
                    .map(|(rule, count)| format!("{rule} ×{count}"))
                    .collect();
                format!("{} ({})", deviation.id, rules.join(", "))
            })
            .collect();
        let _ = writeln!(
            out,
            "misra-like-lints: {} files, {} unjustified error(s), {} warning(s), {} finding(s) justified by {} deviation(s) in {} ms",
            summary.files,
            summary.unjustified_errors,
            summary.warnings,
            summary.suppressed,
            used.len(),
            self.duration_ms
        );
        if !used.is_empty() {
            let _ = writeln!(out, "  deviations used: {}", used.join("; "));
        }
        if !summary.deviations_by_rule.is_empty() {
            let by_rule: Vec<String> = summary
                .deviations_by_rule
                .iter()
                .map(|(rule, count)| format!("{rule} ×{count}"))
                .collect();
            let _ = writeln!(out, "  suppressed by rule: {}", by_rule.join(", "));
        }
        out
    }
}

fn render_finding(out: &mut String, finding: &Finding, lines: &[String]) {
    let info = finding.rule.info();
    let level = match (&finding.suppressed_by, finding.severity) {
        (Some(_), _) => "note",
        (None, Severity::Error) => "error",
        (None, Severity::Warning) => "warning",
    };
    let _ = writeln!(out, "{level}[{}]: {}", info.id, finding.message);
    let location = if finding.start.line == 0 {
        finding.file.clone()
    } else {
        format!(
            "{}:{}:{}",
            finding.file, finding.start.line, finding.start.column
        )
    };
    let line_text = finding
        .start
        .line
        .checked_sub(1)
        .and_then(|index| lines.get(index));
    let gutter = " ".repeat(finding.start.line.to_string().len());
    let _ = writeln!(out, "{gutter}--> {location}");
    if let Some(text) = line_text {
        let start = finding.start.column.max(1);
        let end = if finding.end.line == finding.start.line && finding.end.column > start {
            finding.end.column
        } else {
            start.saturating_add(1)
        };
        let indent: String = text
            .chars()
            .take(start.saturating_sub(1))
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        let _ = writeln!(out, "{gutter} |");
        let _ = writeln!(out, "{} | {text}", finding.start.line);
        let _ = writeln!(
            out,
            "{gutter} | {indent}{}",
            "^".repeat(end.saturating_sub(start).max(1))
        );
    }
    if let Some(deviation) = &finding.suppressed_by {
        let _ = writeln!(out, "{gutter} = note: justified by {deviation}");
    }
    let _ = writeln!(out, "{gutter} = help: {}", info.help);
    let _ = writeln!(
        out,
        "{gutter} = note: {} {}; {} (misra-like-lints/RULES.md)",
        info.id, info.title, info.mirrors
    );
    let _ = writeln!(out);
}
