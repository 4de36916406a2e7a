//! The reports: `trace.json` is the single source (re-rendering it gives the same files),
//! and the HTML, Markdown and OpenFastTrace export carry what an assessor looks for.

mod common;

use common::Fixture;

#[test]
fn trace_json_rerenders_to_identical_reports() {
    let fixture = Fixture::new("rerender");
    let report = fixture.trace();
    let out = fixture.path("target/trace");
    let names = ["trace.json", "trace.html", "trace.md", "goal-tree.svg", "oft/requirements.md"];
    for name in names {
        assert!(report.outputs.contains(&out.join(name)), "{name} not written");
    }
    let again = fixture.path("target/rerendered");
    bulkhead_trace::render_from_json(&out.join("trace.json"), &again).unwrap();
    for name in names {
        let first = std::fs::read_to_string(out.join(name)).unwrap();
        let second = std::fs::read_to_string(again.join(name)).unwrap();
        assert_eq!(first, second, "{name} differs when rendered from trace.json");
    }
}

#[test]
fn trace_json_is_schema_versioned_and_other_versions_are_refused() {
    let fixture = Fixture::new("schema");
    fixture.trace();
    let path = fixture.path("target/trace/trace.json");
    let value: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(value["schema_version"], 1);
    assert_eq!(value["verdict"], "warn");
    assert_eq!(value["source"]["commit"], common::COMMIT);
    let text = std::fs::read_to_string(&path).unwrap().replacen("\"schema_version\": 1", "\"schema_version\": 2", 1);
    std::fs::write(&path, text).unwrap();
    let error = bulkhead_trace::render_from_json(&path, &fixture.path("target/other")).unwrap_err();
    assert!(error.to_string().contains("schema_version 2"), "{error}");
}

#[test]
fn the_html_report_has_every_section_and_is_self_contained() {
    let fixture = Fixture::new("html");
    fixture.trace();
    let html = std::fs::read_to_string(fixture.path("target/trace/trace.html")).unwrap();
    for section in [
        "id=\"checks\"",
        "id=\"safety-case\"",
        "id=\"matrix\"",
        "id=\"bottom-up\"",
        "id=\"tests\"",
        "id=\"hazards\"",
        "id=\"unsafe\"",
        "id=\"deviations\"",
        "id=\"lint\"",
        "id=\"coverage\"",
    ] {
        assert!(html.contains(section), "missing section {section}");
    }
    assert!(html.contains("<svg class=\"goal-tree\""));
    assert!(!html.contains("src=\"http") && !html.contains("href=\"http"), "the report must not load anything");
    assert!(html.contains("stage2::tests::overlaps_are_refused"), "the matrix lists the passing test");
    assert!(html.contains("DEV-0001"), "the deviation register is shown");
    assert!(html.contains("SAFETY: `pointer` comes from a reference"), "the unsafe inventory shows the argument");
}

#[test]
fn the_goal_tree_is_green_only_where_the_evidence_is() {
    let fixture = Fixture::new("gsn");
    let report = fixture.trace();
    let root = &report.trace.safety_case;
    assert_eq!(format!("{:?}", root.state), "Supported");
    let svg = std::fs::read_to_string(fixture.path("target/trace/goal-tree.svg")).unwrap();
    assert!(svg.contains("gsn-goal supported"));
    assert!(svg.contains("gsn-goal draft"), "the draft FSR is drawn as draft");
    assert!(svg.contains("gsn-assumption neutral"));

    std::fs::remove_file(fixture.path("target/test-results/run.json")).unwrap();
    let unsupported = fixture.trace();
    assert_eq!(format!("{:?}", unsupported.trace.safety_case.state), "Unsupported");
    let svg = std::fs::read_to_string(fixture.path("target/trace/goal-tree.svg")).unwrap();
    assert!(!svg.contains("gsn-goal supported"), "nothing is green without a run");
}

#[test]
fn the_markdown_summary_lists_verdicts_and_failing_findings() {
    let fixture = Fixture::new("markdown");
    fixture.edit("hypervisor/core/src/stage2/mod.rs", "/// [impl->dsn~walker~1]\n", "");
    fixture.trace();
    let markdown = std::fs::read_to_string(fixture.path("target/trace/trace.md")).unwrap();
    assert!(markdown.starts_with("# Bulkhead traceability summary: FAIL"));
    assert!(markdown.contains("| `coverage` | FAIL |"));
    assert!(markdown.contains("`dsn~walker~1` needs `impl` and is uncovered"));
}

#[test]
fn the_openfasttrace_export_carries_ids_covers_and_needs() {
    let fixture = Fixture::new("oft");
    fixture.trace();
    let export = std::fs::read_to_string(fixture.path("target/trace/oft/requirements.md")).unwrap();
    assert!(export.contains("`dsn~builder~1`\n"));
    assert!(export.contains("Covers:\n* `swr~exact-map~1`"));
    assert!(export.contains("Needs: impl, utest"));
}

#[test]
fn check_only_writes_nothing() {
    let fixture = Fixture::new("check-only");
    let mut options = fixture.options();
    options.check_only = true;
    let report = bulkhead_trace::run(&options).unwrap();
    assert!(report.outputs.is_empty());
    assert!(!fixture.path("target/trace").exists());
}

#[test]
fn every_check_states_what_a_pass_guarantees_and_the_html_shows_it() {
    let fixture = Fixture::new("guarantees");
    let report = fixture.trace();
    let html = std::fs::read_to_string(fixture.path("target/trace/trace.html")).unwrap();
    let checks: Vec<_> = report.trace.checks.iter().map(|check| check.id.clone()).collect();
    assert!(checks.len() >= 9, "{checks:?}");
    for id in &checks {
        let entry = bulkhead_trace::checks::guarantee(id).unwrap_or_else(|| panic!("check `{id}` has no guarantee statement"));
        assert!(html.contains(&bulkhead_trace::report::svg::escape(entry.does_not)), "{id}: statement not in the report");
    }
    assert!(!html.contains("no statement"));
}

#[test]
fn the_report_links_the_threat_model() {
    let fixture = Fixture::new("threat-model-link");
    fixture.trace();
    let html = std::fs::read_to_string(fixture.path("target/trace/trace.html")).unwrap();
    assert!(html.contains("href=\"../../docs/threat-model.md\""));
    let repository = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    assert!(repository.join("docs/threat-model.md").is_file(), "the linked file exists in the repository");
}
