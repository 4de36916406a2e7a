//! The HTML report: one self-contained file (inline CSS and SVG, no network, no external
//! assets) an assessor can archive with the release.
//!
//! Sections: verdict per check; the safety case as a goal tree; the top-down matrix (goal →
//! requirement → design → code → tests → result); the bottom-up view (every tag, orphans
//! first); test evidence with the run record; hazards and assumptions of use; the unsafe
//! inventory; the deviation register and lint findings; code coverage. A few lines of
//! script measure, after layout, how many tables and goal-tree nodes were rendered and write
//! it into `#render-check`, which is what the browser test reads.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use crate::checks::Verdict;
use crate::evidence::{LinkKind, NeedTrace};
use crate::id::SpecId;
use crate::report::svg::{escape, render as render_svg};
use crate::report::{ItemReport, TraceReport};
use crate::requirements::{Level, Status};
use crate::results::State;

/// The stylesheet.
const STYLE: &str = r#"
body { font-family: system-ui, sans-serif; margin: 0 24px 48px; color: #1b1b1b; font-size: 14px; }
h1 { margin: 16px 0 4px; } h2 { margin-top: 36px; border-bottom: 2px solid #ccc; padding-bottom: 4px; }
table { border-collapse: collapse; margin: 8px 0 16px; width: 100%; }
th, td { border: 1px solid #ccc; padding: 3px 6px; text-align: left; vertical-align: top; }
th { background: #f0f0f0; position: sticky; top: 0; }
code, .mono { font-family: ui-monospace, monospace; font-size: 12px; }
.verdict { display: inline-block; padding: 2px 8px; border-radius: 4px; font-weight: bold; color: #fff; }
.pass, .passed, .linked, .covered, .reviewed, .verified { background: #2e7d32; color: #fff; }
.warn, .skipped, .stale, .missing, .draft-only, .draft { background: #b26a00; color: #fff; }
.fail, .failed, .uncovered, .outdated, .not-verified { background: #c62828; color: #fff; }
.badge { display: inline-block; padding: 0 5px; border-radius: 3px; font-size: 11px; margin: 1px 2px 1px 0; }
.neutral { background: #5c6f8f; color: #fff; }
.banner { padding: 10px 14px; border-radius: 6px; margin: 10px 0; font-size: 16px; }
.banner.pass { background: #e4f4e1; color: #1b5e20; border: 1px solid #2e7d32; }
.banner.warn { background: #fff4e0; color: #7a4800; border: 1px solid #b26a00; }
.banner.fail { background: #fde8e8; color: #8e0000; border: 1px solid #c62828; }
tr.orphan td { background: #fff0f0; }
tr.level-sg td:first-child { font-weight: bold; }
.indent-1 { padding-left: 18px; } .indent-2 { padding-left: 36px; } .indent-3 { padding-left: 54px; }
.tree { overflow: auto; border: 1px solid #ccc; max-height: 900px; background: #fff; }
.small { font-size: 12px; color: #444; }
ul.links { margin: 0; padding-left: 16px; }
ul.links li, td { overflow-wrap: anywhere; }
nav a { margin-right: 12px; }
"#;

/// The script that records what the browser laid out.
const RENDER_CHECK: &str = r#"
window.addEventListener('load', function () {
  var tables = Array.prototype.slice.call(document.querySelectorAll('table.report-table'));
  var laidOut = tables.filter(function (table) { return table.getBoundingClientRect().height > 0; }).length;
  var svg = document.querySelector('svg.goal-tree');
  var box = svg ? svg.getBBox() : { width: 0, height: 0 };
  var result = { tables: tables.length, laid_out_tables: laidOut,
    goal_tree_nodes: document.querySelectorAll('svg.goal-tree .gsn-node').length,
    goal_tree_width: Math.round(box.width), goal_tree_height: Math.round(box.height) };
  var target = document.getElementById('render-check');
  target.setAttribute('data-render', JSON.stringify(result));
  target.textContent = 'Rendered ' + laidOut + ' of ' + tables.length + ' tables and ' + result.goal_tree_nodes + ' goal-tree nodes.';
});
"#;

/// Escapes for HTML.
fn esc(text: &str) -> String {
    escape(text)
}

/// Escapes for HTML and shows `code` spans of a message as code.
fn esc_code(text: &str) -> String {
    let mut html = String::new();
    for (index, part) in esc(text).split('`').enumerate() {
        if index % 2 == 1 {
            let _ = write!(html, "<code>{part}</code>");
        } else {
            html.push_str(part);
        }
    }
    html
}

/// A verdict badge.
fn verdict_badge(verdict: Verdict) -> String {
    let (class, text) = match verdict {
        Verdict::Pass => ("pass", "PASS"),
        Verdict::Warn => ("warn", "WARN"),
        Verdict::Fail => ("fail", "FAIL"),
    };
    format!("<span class=\"verdict {class}\">{text}</span>")
}

/// A state badge.
fn state_badge(state: State) -> String {
    format!("<span class=\"badge {0}\">{0}</span>", state.name())
}

/// An item's verification badge.
fn item_badge(item: &ItemReport) -> String {
    if item.needs.is_empty() {
        return "<span class=\"badge neutral\">no evidence needed</span>".to_owned();
    }
    match item.status {
        Status::Approved if item.verified => "<span class=\"badge verified\">verified</span>".to_owned(),
        Status::Approved => "<span class=\"badge not-verified\">not verified</span>".to_owned(),
        Status::Draft => "<span class=\"badge draft\">draft</span>".to_owned(),
        Status::Obsolete => "<span class=\"badge neutral\">obsolete</span>".to_owned(),
    }
}

/// Renders the report.
pub fn render(report: &TraceReport) -> String {
    let mut html = String::new();
    let title = format!("Bulkhead safety-case traceability report — {}", crate::results::short(&report.source.commit));
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        esc(&title)
    );
    header(&mut html, report);
    checks(&mut html, report);
    goal_tree(&mut html, report);
    matrix(&mut html, report);
    bottom_up(&mut html, report);
    tests(&mut html, report);
    hazards_and_assumptions(&mut html, report);
    unsafe_inventory(&mut html, report);
    deviations(&mut html, report);
    lint(&mut html, report);
    coverage(&mut html, report);
    let _ = write!(
        html,
        "<p id=\"render-check\" class=\"small\">Render check did not run (scripts disabled).</p>\n<script>{RENDER_CHECK}</script>\n</body>\n</html>\n"
    );
    html
}

/// Title, verdict banner, source state and navigation.
fn header(html: &mut String, report: &TraceReport) {
    let verdict = match report.verdict {
        Verdict::Pass => ("pass", "All checks pass."),
        Verdict::Warn => ("warn", "All checks pass, with warnings."),
        Verdict::Fail => ("fail", "Checks fail: the evidence does not support the safety case as it stands."),
    };
    let _ = write!(
        html,
        "<h1>Bulkhead safety-case traceability report</h1>\n<div class=\"banner {}\">{} {}</div>\n",
        verdict.0,
        verdict_badge(report.verdict),
        verdict.1
    );
    let run = match &report.tests.run {
        Some(run) => format!(
            "tests run by <code>{}</code> from {} to {} at commit <code>{}</code>{}",
            esc(&run.command),
            esc(&run.started),
            esc(&run.finished),
            esc(crate::results::short(&run.source.commit)),
            if run.source.dirty { " <strong>(dirty tree)</strong>" } else { "" }
        ),
        None => "<strong>no test run recorded</strong>".to_owned(),
    };
    let _ = writeln!(
        html,
        "<p class=\"small\">Sources at commit <code>{}</code>{}; {run}. Generated by {}; the data is in <code>trace.json</code> (schema {}).</p>",
        esc(&report.source.commit),
        if report.source.dirty { " <strong>with uncommitted changes</strong>" } else { " (clean)" },
        esc(&report.generator),
        report.schema_version
    );
    html.push_str(
        "<nav class=\"small\"><a href=\"#checks\">Checks</a><a href=\"#safety-case\">Safety case</a><a href=\"#matrix\">Top-down matrix</a><a href=\"#bottom-up\">Bottom-up</a><a href=\"#tests\">Test evidence</a><a href=\"#hazards\">Hazards &amp; assumptions</a><a href=\"#unsafe\">Unsafe inventory</a><a href=\"#deviations\">Deviations</a><a href=\"#lint\">Lint findings</a><a href=\"#coverage\">Coverage</a><a href=\"../../docs/threat-model.md\">Threat model</a></nav>\n",
    );
}

/// The checks table with every finding.
fn checks(html: &mut String, report: &TraceReport) {
    html.push_str("<h2 id=\"checks\">Checks</h2>\n<table class=\"report-table checks\"><tr><th>Check</th><th>Verdict</th><th>Summary</th><th>A pass guarantees / does not guarantee</th><th>Findings</th></tr>\n");
    for check in &report.checks {
        let guarantee = crate::checks::guarantee(&check.id).map_or_else(
            || "<span class=\"badge warn\">no statement</span>".to_owned(),
            |entry| format!("{}<br><span class=\"small\">not: {}</span>", esc(entry.guarantees), esc(entry.does_not)),
        );
        let mut findings = String::new();
        if !check.findings.is_empty() {
            let open = if check.findings.len() <= 8 { " open" } else { "" };
            let _ = write!(
                findings,
                "<details{open}><summary>{} findings</summary><ul class=\"links\">",
                check.findings.len()
            );
            for finding in &check.findings {
                let _ = write!(
                    findings,
                    "<li>{}{}{}</li>",
                    if finding.severity == Verdict::Warn { "<span class=\"badge warn\">warn</span> " } else { "" },
                    finding
                        .location
                        .as_ref()
                        .map(|location| format!("<code>{}</code> ", esc(location)))
                        .unwrap_or_default(),
                    esc_code(&finding.message)
                );
            }
            findings.push_str("</ul></details>");
        }
        let _ = writeln!(
            html,
            "<tr><td><code>{}</code><br><span class=\"small\">{}</span></td><td>{}</td><td>{}</td><td>{guarantee}</td><td>{findings}</td></tr>",
            esc(&check.id),
            esc(&check.title),
            verdict_badge(check.verdict),
            esc(&check.summary)
        );
    }
    html.push_str("</table>\n");
}

/// The GSN goal tree.
fn goal_tree(html: &mut String, report: &TraceReport) {
    html.push_str("<h2 id=\"safety-case\">Safety case (GSN goal tree)</h2>\n<p class=\"small\">Green: supported by verified evidence. Red: approved but not supported. Grey dashed: draft (not claimed). Blue: context and assumptions of use. Hover a node for its full text.</p>\n<div class=\"tree\">\n");
    html.push_str(&render_svg(&report.safety_case));
    html.push_str("</div>\n");
}

/// Links of a need as a list.
fn links(need: &NeedTrace) -> String {
    if need.links.is_empty() {
        return state_badge(need.state);
    }
    let mut list = String::from("<ul class=\"links\">");
    for link in &need.links {
        let location =
            link.location.as_ref().map(|location| format!(" <code>{}</code>", esc(location))).unwrap_or_default();
        let detail = if link.detail.is_empty() {
            String::new()
        } else {
            format!(" <span class=\"small\">{}</span>", esc(&link.detail))
        };
        let label = if link.kind == LinkKind::Item {
            format!("<a href=\"#{0}\">{0}</a>", esc(&link.label))
        } else {
            esc(&link.label)
        };
        let _ = write!(list, "<li>{} {label}{location}{detail}</li>", state_badge(link.state));
    }
    list.push_str("</ul>");
    list
}

/// The top-down matrix.
fn matrix(html: &mut String, report: &TraceReport) {
    html.push_str("<h2 id=\"matrix\">Top-down matrix: goal → requirement → design → code → tests → result</h2>\n<table class=\"report-table matrix\"><tr><th>Item</th><th>Title and text</th><th>Integrity / status</th><th>Refined by / code</th><th>Tests</th><th>Result</th></tr>\n");
    let mut shown = BTreeSet::new();
    let goals: Vec<&ItemReport> = report.of_level(Level::SafetyGoal).collect();
    for goal in goals {
        matrix_rows(html, report, goal, 0, &mut shown);
    }
    let rest: Vec<&ItemReport> = report
        .items
        .iter()
        .filter(|item| {
            !shown.contains(&item.id)
                && !matches!(item.level, Level::Hazard | Level::AssumptionOfUse | Level::SafetyGoal)
        })
        .collect();
    if !rest.is_empty() {
        html.push_str("<tr><th colspan=\"6\">Not reached from any safety goal</th></tr>\n");
        for item in rest {
            matrix_row(html, item, 0);
        }
    }
    html.push_str("</table>\n");
}

/// A row for `item` and rows for everything refining it.
fn matrix_rows(html: &mut String, report: &TraceReport, item: &ItemReport, depth: usize, shown: &mut BTreeSet<SpecId>) {
    matrix_row(html, item, depth);
    if !shown.insert(item.id.clone()) {
        return;
    }
    let children: Vec<&ItemReport> = report.children(&item.id).filter(|child| child.level != Level::Hazard).collect();
    for child in children {
        matrix_rows(html, report, child, depth + 1, shown);
    }
}

/// One matrix row.
fn matrix_row(html: &mut String, item: &ItemReport, depth: usize) {
    let mut refinement = String::new();
    let mut tests = String::new();
    for need in &item.needs {
        let cell = format!("<div><strong>{}</strong> {}</div>", need.need.name(), links(need));
        if need.need.is_test() {
            tests.push_str(&cell);
        } else {
            refinement.push_str(&cell);
        }
    }
    let result = if item.reasons.is_empty() || item.status != Status::Approved {
        item_badge(item)
    } else {
        format!("{}<div class=\"small\">{}</div>", item_badge(item), esc(&item.reasons.join("; ")))
    };
    let _ = writeln!(
        html,
        "<tr class=\"level-{}\" id=\"{}\"><td class=\"indent-{}\"><code>{}</code><div class=\"small\">{}</div></td><td><strong>{}</strong><div class=\"small\">{}</div></td><td>{}<br>{:?}</td><td>{refinement}</td><td>{tests}</td><td>{result}</td></tr>",
        item.level.artifact_type(),
        esc(&item.id.to_string()),
        depth.min(3),
        esc(&item.id.to_string()),
        esc(item.level.title()),
        esc(&item.title),
        esc(&item.text),
        esc(item.integrity.as_deref().unwrap_or("—")),
        item.status
    );
}

/// The bottom-up view.
fn bottom_up(html: &mut String, report: &TraceReport) {
    let orphans = report.tags.iter().filter(|tag| !tag.problems.is_empty()).count();
    let _ = write!(
        html,
        "<h2 id=\"bottom-up\">Bottom-up: code and tests → items</h2>\n<p>{} tags, {orphans} orphans (listed first).</p>\n<table class=\"report-table bottom-up\"><tr><th>Where</th><th>Tag</th><th>Bound to</th><th>Target</th><th>Problems</th></tr>\n",
        report.tags.len()
    );
    let mut tags: Vec<&crate::report::TagReport> = report.tags.iter().collect();
    tags.sort_by_key(|tag| tag.problems.is_empty());
    for tag in tags {
        let bound = match &tag.bound {
            Some(bound) => {
                format!("{} <code>{}</code> (line {})", esc(bound.kind.title()), esc(&bound.name), bound.line)
            }
            None => "—".to_owned(),
        };
        let target = tag
            .target
            .parse::<SpecId>()
            .ok()
            .and_then(|id| report.item(&id))
            .map(|item| {
                format!("<a href=\"#{0}\"><code>{0}</code></a> {1}", esc(&item.id.to_string()), esc(&item.title))
            })
            .unwrap_or_else(|| format!("<code>{}</code>", esc(&tag.target)));
        let problems = tag
            .problems
            .iter()
            .map(|problem| {
                format!("<span class=\"badge fail\">{}</span> {}", esc(&problem.code), esc_code(&problem.message))
            })
            .collect::<Vec<_>>()
            .join("<br>");
        let _ = writeln!(
            html,
            "<tr{}><td><code>{}:{}</code></td><td><code>{}</code></td><td>{bound}</td><td>{target}</td><td>{problems}</td></tr>",
            if tag.problems.is_empty() { "" } else { " class=\"orphan\"" },
            esc(&tag.file),
            tag.line,
            esc(&tag.text)
        );
    }
    html.push_str("</table>\n");
    let _ = write!(
        html,
        "<details><summary>{} tests ran without a tag (not evidence for any item)</summary><ul class=\"small mono\">",
        report.tests.untraced.len()
    );
    for test in &report.tests.untraced {
        let _ = write!(html, "<li>{} / {}</li>", esc(&test.binary_id), esc(&test.name));
    }
    html.push_str("</ul></details>\n");
}

/// Run record, result files and linked test results.
fn tests(html: &mut String, report: &TraceReport) {
    html.push_str("<h2 id=\"tests\">Test evidence</h2>\n");
    if !report.tests.run_problems.is_empty() {
        html.push_str("<div class=\"banner fail\">Test results do not count as evidence:<ul>");
        for problem in &report.tests.run_problems {
            let _ = write!(html, "<li>{}</li>", esc(problem));
        }
        html.push_str("</ul></div>\n");
    }
    html.push_str("<h3>Run record</h3>\n<table class=\"report-table run-record\">");
    match &report.tests.run {
        Some(run) => {
            let mut rows = vec![
                ("command".to_owned(), run.command.clone()),
                ("started".to_owned(), run.started.clone()),
                ("finished".to_owned(), run.finished.clone()),
                ("commit".to_owned(), run.source.commit.clone()),
                (
                    "dirty".to_owned(),
                    if run.source.dirty { format!("yes: {}", run.source.changes.join("; ")) } else { "no".to_owned() },
                ),
                (
                    "image".to_owned(),
                    run.image
                        .as_ref()
                        .map_or_else(|| "none".to_owned(), |image| format!("{} sha256 {}", image.path, image.sha256)),
                ),
            ];
            rows.extend(run.tools.iter().map(|(tool, version)| (tool.clone(), version.clone())));
            for (key, value) in rows {
                let _ = write!(html, "<tr><th>{}</th><td class=\"mono\">{}</td></tr>", esc(&key), esc(&value));
            }
        }
        None => html.push_str("<tr><td>No run record: run <code>cargo xtask test</code>.</td></tr>"),
    }
    html.push_str("</table>\n<h3>Result files</h3>\n<table class=\"report-table result-files\"><tr><th>File</th><th>Present</th><th>Counts</th><th>Tests</th><th>Passed</th><th>Failed</th><th>Skipped</th><th>Why not</th></tr>\n");
    for file in &report.tests.files {
        let _ = writeln!(
            html,
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&file.file),
            if file.present { "yes" } else { "no" },
            if file.valid { verdict_badge(Verdict::Pass) } else { verdict_badge(Verdict::Fail) },
            file.counts[0],
            file.counts[1],
            file.counts[2],
            file.counts[3],
            esc(&file.reasons.join("; "))
        );
    }
    html.push_str("</table>\n<h3>Results of linked tests</h3>\n<table class=\"report-table linked-tests\"><tr><th>Binary</th><th>Test</th><th>State</th><th>Recorded</th><th>Seconds</th><th>Detail</th></tr>\n");
    for result in &report.tests.linked {
        let _ = writeln!(
            html,
            "<tr><td><code>{}</code></td><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td class=\"small\">{}</td></tr>",
            esc(&result.test.binary_id),
            esc(&result.test.name),
            state_badge(result.state),
            result.recorded.map_or_else(|| "—".to_owned(), |outcome| format!("{outcome:?}").to_lowercase()),
            result.seconds.map_or_else(|| "—".to_owned(), |seconds| format!("{seconds:.3}")),
            esc(&result.detail)
        );
    }
    html.push_str("</table>\n");
}

/// Hazards and assumptions of use.
fn hazards_and_assumptions(html: &mut String, report: &TraceReport) {
    html.push_str("<h2 id=\"hazards\">Hazards and assumptions of use</h2>\n<table class=\"report-table hazards\"><tr><th>Hazard</th><th>Event</th><th>Cause / situation / consequence</th><th>Integrity</th><th>Addressed by</th></tr>\n");
    for hazard in report.of_level(Level::Hazard) {
        let details = hazard
            .extra
            .iter()
            .map(|(key, value)| format!("<strong>{}</strong>: {}", esc(key), esc(value)))
            .collect::<Vec<_>>()
            .join("<br>");
        let goals = hazard.needs.iter().map(links).collect::<String>();
        let _ = writeln!(
            html,
            "<tr id=\"{0}\"><td><code>{0}</code><br>{1}</td><td>{2}</td><td class=\"small\">{details}</td><td>{3}</td><td>{goals}</td></tr>",
            esc(&hazard.id.to_string()),
            esc(&hazard.title),
            esc(&hazard.text),
            esc(hazard.integrity.as_deref().unwrap_or("—"))
        );
    }
    html.push_str("</table>\n<table class=\"report-table assumptions\"><tr><th>Assumption of use</th><th>The integrator shall</th><th>Why</th><th>Relied on by</th></tr>\n");
    for assumption in report.of_level(Level::AssumptionOfUse) {
        let relied: Vec<String> = report
            .items
            .iter()
            .filter(|item| item.assumes.contains(&assumption.id))
            .map(|item| format!("<code>{}</code>", esc(&item.id.to_string())))
            .collect();
        let _ = writeln!(
            html,
            "<tr id=\"{0}\"><td><code>{0}</code><br>{1}</td><td>{2}</td><td class=\"small\">{3}</td><td>{4}</td></tr>",
            esc(&assumption.id.to_string()),
            esc(&assumption.title),
            esc(&assumption.text),
            esc(&assumption.rationale),
            relied.join(" ")
        );
    }
    html.push_str("</table>\n");
}

/// The unsafe inventory.
fn unsafe_inventory(html: &mut String, report: &TraceReport) {
    let justified = report.unsafe_sites.iter().filter(|site| site.justification.is_some()).count();
    let _ = write!(
        html,
        "<h2 id=\"unsafe\">Unsafe-code inventory</h2>\n<p>{} unsafe sites, {justified} with a safety argument.</p>\n<table class=\"report-table unsafe\"><tr><th>Where</th><th>Kind</th><th>In</th><th>Safety argument</th><th>Cites</th></tr>\n",
        report.unsafe_sites.len()
    );
    for site in &report.unsafe_sites {
        let justification = site
            .justification
            .as_ref()
            .map_or_else(|| "<span class=\"badge fail\">missing</span>".to_owned(), |text| esc(text));
        let _ = writeln!(
            html,
            "<tr><td><code>{}:{}</code></td><td>{}</td><td><code>{}</code></td><td class=\"small\">{justification}</td><td>{}</td></tr>",
            esc(&site.file),
            site.line,
            format!("{:?}", site.kind).to_lowercase(),
            esc(&site.context),
            site.cites.iter().map(|cite| format!("<code>{}</code>", esc(cite))).collect::<Vec<_>>().join(" ")
        );
    }
    html.push_str("</table>\n");
}

/// The deviation register.
fn deviations(html: &mut String, report: &TraceReport) {
    html.push_str("<h2 id=\"deviations\">Deviation register</h2>\n");
    let Some(deviations) = &report.deviations else {
        html.push_str("<p>No deviation register (<code>certification/deviations.toml</code>).</p>\n");
        return;
    };
    html.push_str(
        "<table class=\"report-table deviations\"><tr><th>ID</th><th>Rules</th><th>Status</th><th>Record</th></tr>\n",
    );
    for deviation in deviations {
        let fields = deviation
            .fields
            .iter()
            .map(|(key, value)| format!("<strong>{}</strong>: {}", esc(key), esc(value)))
            .collect::<Vec<_>>()
            .join("<br>");
        let _ = writeln!(
            html,
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td class=\"small\">{fields}</td></tr>",
            esc(&deviation.id),
            esc(&deviation.rules.join(", ")),
            esc(&deviation.status)
        );
    }
    html.push_str("</table>\n");
}

/// Lint findings.
fn lint(html: &mut String, report: &TraceReport) {
    html.push_str("<h2 id=\"lint\">Coding-standard findings</h2>\n");
    let Some(findings) = &report.lint_findings else {
        html.push_str("<p><span class=\"badge fail\">not run</span> No <code>target/lint/findings.json</code>: run <code>cargo xtask lint</code>.</p>\n");
        return;
    };
    let _ = write!(
        html,
        "<p>{} findings.</p>\n<table class=\"report-table lint\"><tr><th>Rule</th><th>Where</th><th>Severity</th><th>Message</th><th>Suppressed by</th></tr>\n",
        findings.len()
    );
    for finding in findings {
        let _ = writeln!(
            html,
            "<tr><td><code>{}</code></td><td><code>{}:{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&finding.rule),
            esc(&finding.file),
            finding.line,
            esc(&finding.severity),
            esc(&finding.message),
            finding.suppressed_by.as_deref().map_or_else(|| "—".to_owned(), esc)
        );
    }
    html.push_str("</table>\n");
}

/// Code coverage.
fn coverage(html: &mut String, report: &TraceReport) {
    html.push_str("<h2 id=\"coverage\">Code coverage of the host-tested core</h2>\n");
    let Some(coverage) = &report.coverage else {
        html.push_str("<p><span class=\"badge warn\">not measured</span> No <code>target/test-results/coverage.json</code>: run <code>cargo xtask coverage</code>.</p>\n");
        return;
    };
    let percent = |counter: Option<crate::results::coverage::Counter>| match counter {
        Some(counter) => match counter.percent() {
            Some(value) => format!("{value:.1}% ({}/{})", counter.covered, counter.count),
            None => "—".to_owned(),
        },
        None => "not measured".to_owned(),
    };
    let _ = write!(
        html,
        "<p class=\"small\">{} via <code>{}</code> at <code>{}</code>{}.</p>\n<table class=\"report-table coverage\"><tr><th>File</th><th>Regions (statements)</th><th>Branches</th><th>Lines</th><th>Functions</th></tr>\n",
        esc(&coverage.tool),
        esc(&coverage.command),
        esc(crate::results::short(&coverage.commit)),
        if coverage.dirty { " (dirty tree)" } else { "" }
    );
    let _ = writeln!(
        html,
        "<tr><th>total ({})</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>",
        esc(&coverage.scope),
        percent(Some(coverage.totals.regions)),
        percent(coverage.totals.branches),
        percent(Some(coverage.totals.lines)),
        percent(Some(coverage.totals.functions))
    );
    for file in &coverage.files {
        let _ = writeln!(
            html,
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&file.file),
            percent(Some(file.counters.regions)),
            percent(file.counters.branches),
            percent(Some(file.counters.lines)),
            percent(Some(file.counters.functions))
        );
    }
    html.push_str("</table>\n");
}
