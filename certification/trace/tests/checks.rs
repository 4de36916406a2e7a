//! Every check against the fixture repository: the fixture as shipped passes, and each test
//! breaks one thing and asserts that the right check fails with the right finding.

mod common;

use bulkhead_trace::checks::Verdict;
use bulkhead_trace::results::State;
use common::{COMMIT, Fixture, assert_fails_with, assert_passes, check};

const ITEMS: &str = "certification/requirements/items.toml";
const STAGE2: &str = "hypervisor/core/src/stage2/mod.rs";
const UNIT_TESTS: &str = "hypervisor/core/src/stage2/tests.rs";
const HOST_JUNIT: &str = "target/test-results/host-junit.xml";

#[test]
fn the_fixture_as_shipped_passes_every_check_and_verifies_its_goal() {
    let report = Fixture::new("good").trace();
    for result in &report.trace.checks {
        match result.id.as_str() {
            "code-coverage" => assert_eq!(result.verdict, Verdict::Warn, "coverage is not measured in the fixture"),
            "coverage" => {
                assert_eq!(result.verdict, Verdict::Warn, "{:#?}", result.findings);
                assert!(
                    result.findings[0].message.contains("draft refinements that are not claimed yet: `fsr~channels~1`")
                );
            }
            _ => assert_eq!(result.verdict, Verdict::Pass, "{}: {:#?}", result.id, result.findings),
        }
    }
    assert!(report.passed(), "warnings do not fail the run");
    let goal = report.trace.items.iter().find(|item| item.id.to_string() == "sg~space~1").unwrap();
    assert!(goal.verified, "{:?}", goal.reasons);
    let builder = report.trace.items.iter().find(|item| item.id.to_string() == "dsn~builder~1").unwrap();
    let utest = builder.needs.iter().find(|need| need.need.name() == "utest").unwrap();
    assert_eq!(utest.state, State::Passed);
    assert_eq!(utest.links[0].label, "fixture-core / stage2::tests::overlaps_are_refused");
    assert_eq!(report.trace.tests.untraced.len(), 1, "the untagged unit test is listed as untraced");
}

// --- items -----------------------------------------------------------------------------------

#[test]
fn a_duplicate_id_fails_the_items_check() {
    let fixture = Fixture::new("duplicate");
    fixture.append(
        ITEMS,
        "\n[[assumption]]\nid = \"aou~dma~1\"\ntitle = \"again\"\ntext = \"x\"\nstatus = \"approved\"\n",
    );
    assert_fails_with(&fixture.trace(), "items", &["aou~dma~1", "defined 2 times"]);
}

#[test]
fn a_link_to_a_missing_item_is_dangling() {
    let fixture = Fixture::new("dangling");
    fixture.edit(ITEMS, "covers = [\"fsr~stage2~1\"]", "covers = [\"fsr~stage2~1\", \"fsr~nowhere~1\"]");
    assert_fails_with(&fixture.trace(), "items", &["swr~exact-map~1", "fsr~nowhere~1", "names no item"]);
}

#[test]
fn a_link_to_an_older_revision_is_outdated_and_stops_counting() {
    let fixture = Fixture::new("outdated-item");
    fixture.edit(ITEMS, "id = \"fsr~stage2~1\"", "id = \"fsr~stage2~2\"");
    let report = fixture.trace();
    assert_fails_with(&report, "items", &["swr~exact-map~1", "fsr~stage2~1", "outdated", "revision 2"]);
    assert_fails_with(&report, "coverage", &["fsr~stage2~2", "needs `swr`", "outdated"]);
}

#[test]
fn an_approved_requirement_that_refines_nothing_fails() {
    let fixture = Fixture::new("covers-nothing");
    fixture.edit(
        ITEMS,
        "covers = [\"swr~exact-map~1\"]\nneeds = [\"impl\", \"utest\"]\n\n[[requirement]]\nid = \"dsn~walker~1\"",
        "needs = [\"impl\", \"utest\"]\n\n[[requirement]]\nid = \"dsn~walker~1\"",
    );
    assert_fails_with(&fixture.trace(), "items", &["dsn~builder~1", "covers nothing"]);
}

#[test]
fn covering_an_item_that_does_not_need_that_level_is_unwanted() {
    let fixture = Fixture::new("unwanted-item");
    fixture.edit(ITEMS, "covers = [\"swr~exact-map~1\"]", "covers = [\"swr~exact-map~1\", \"fsr~stage2~1\"]");
    assert_fails_with(&fixture.trace(), "items", &["dsn~builder~1", "fsr~stage2~1", "unwanted"]);
}

// --- lock ------------------------------------------------------------------------------------

#[test]
fn changing_text_without_a_revision_bump_fails_the_lock_check() {
    let fixture = Fixture::new("lock-text");
    fixture.edit(ITEMS, "The builder refuses overlapping mappings.", "The builder accepts overlapping mappings.");
    let report = fixture.trace();
    assert_fails_with(&report, "lock", &["dsn~builder~1", "without a revision bump", "revision to 2"]);
    let mut options = fixture.options();
    options.update_lock = true;
    let updated = bulkhead_trace::run(&options).unwrap();
    assert_fails_with(&updated, "lock", &["dsn~builder~1", "without a revision bump"]);
}

#[test]
fn a_revision_bump_needs_a_lock_update_and_outdates_old_tags() {
    let fixture = Fixture::new("lock-bump");
    fixture.edit(ITEMS, "id = \"dsn~builder~1\"", "id = \"dsn~builder~2\"");
    fixture.edit(
        ITEMS,
        "The builder refuses overlapping mappings.",
        "The builder refuses overlapping and misaligned mappings.",
    );
    let report = fixture.trace();
    assert_fails_with(&report, "lock", &["dsn~builder~2", "not in the lock"]);
    assert_fails_with(&report, "tags", &["outdated", "[impl->dsn~builder~1]", "revision 2"]);
    assert_fails_with(&report, "coverage", &["dsn~builder~2", "needs `impl`", "outdated"]);
    let mut options = fixture.options();
    options.update_lock = true;
    let updated = bulkhead_trace::run(&options).unwrap();
    assert!(updated.lock_updated);
    assert_passes(&updated, "lock");
    let lock = std::fs::read_to_string(fixture.path("certification/requirements.lock")).unwrap();
    assert!(lock.contains("dsn~builder~1") && lock.contains("dsn~builder~2"), "old revisions stay locked");
}

#[test]
fn deleting_a_locked_item_fails_the_lock_check() {
    let fixture = Fixture::new("lock-delete");
    fixture.edit(ITEMS, "[[assumption]]\nid = \"aou~dma~1\"\ntitle = \"DMA is confined\"\ntext = \"The integrator shall confine DMA-capable devices with an IOMMU.\"\nstatus = \"approved\"\n", "");
    fixture.edit(ITEMS, "assumes = [\"aou~dma~1\"]\n", "");
    assert_fails_with(&fixture.trace(), "lock", &["aou~dma~1", "never reused", "obsolete"]);
}

// --- tags ------------------------------------------------------------------------------------

#[test]
fn a_tag_that_binds_to_no_item_is_an_orphan() {
    let fixture = Fixture::new("orphan-unbound");
    fixture.edit(
        "hypervisor/core/src/lib.rs",
        "pub mod stage2;",
        "// [impl->dsn~builder~1]\nuse core::fmt;\n\npub mod stage2;",
    );
    assert_fails_with(&fixture.trace(), "tags", &["unbound", "hypervisor/core/src/lib.rs:3"]);
}

#[test]
fn a_tag_naming_no_item_is_dangling() {
    let fixture = Fixture::new("orphan-dangling");
    fixture.edit(STAGE2, "// [impl->dsn~builder~1]", "// [impl->dsn~builder~1] [impl->dsn~ghost~1]");
    assert_fails_with(&fixture.trace(), "tags", &["dangling", "dsn~ghost~1"]);
}

#[test]
fn unknown_kinds_unwanted_coverage_and_malformed_ids_are_reported() {
    let fixture = Fixture::new("orphan-kinds");
    fixture.edit(
        STAGE2,
        "// [impl->dsn~builder~1]",
        "// [impl->dsn~builder~1] [review->dsn~builder~1] [impl->sg~space~1] [impl->dsn~builder]",
    );
    let report = fixture.trace();
    assert_fails_with(&report, "tags", &["unknown-kind", "review"]);
    assert_fails_with(&report, "tags", &["unwanted", "sg~space~1", "does not need `impl`"]);
    assert_fails_with(&report, "tags", &["malformed", "dsn~builder"]);
}

#[test]
fn a_test_tag_must_stand_on_a_test_of_the_right_suite() {
    let fixture = Fixture::new("orphan-tests");
    fixture.edit(STAGE2, "// [impl->dsn~builder~1]", "// [impl->dsn~builder~1]\n// [utest->dsn~builder~1]");
    fixture.edit(UNIT_TESTS, "// [utest->dsn~walker~1]", "// [itest->swr~exact-map~1]");
    let report = fixture.trace();
    assert_fails_with(&report, "tags", &["not-a-test", "struct `Builder`"]);
    assert_fails_with(&report, "tags", &["wrong-suite", "host unit test", "utest"]);
}

#[test]
fn a_file_that_does_not_parse_is_reported() {
    let fixture = Fixture::new("unparsable");
    fixture.append("hypervisor/core/src/broken.rs", "//! Broken.\nfn ( {\n");
    assert_fails_with(&fixture.trace(), "tags", &["hypervisor/core/src/broken.rs", "syn cannot parse"]);
}

// --- coverage ---------------------------------------------------------------------------------

#[test]
fn a_design_item_without_code_is_uncovered() {
    let fixture = Fixture::new("no-impl");
    fixture.edit(STAGE2, "/// [impl->dsn~walker~1]\n", "");
    let report = fixture.trace();
    assert_fails_with(&report, "coverage", &["dsn~walker~1", "needs `impl`", "uncovered"]);
    let goal = report.trace.items.iter().find(|item| item.id.to_string() == "sg~space~1").unwrap();
    assert!(!goal.verified, "a gap anywhere below a goal leaves the goal unsupported");
}

#[test]
fn an_approved_item_covered_only_by_drafts_is_not_covered() {
    let fixture = Fixture::new("draft-only");
    fixture.edit(ITEMS, "title = \"Stage-2 isolation\"\ntext = \"Every partition access shall be translated by its own stage-2 tables.\"\nintegrity = \"ASIL B\"\nstatus = \"approved\"", "title = \"Stage-2 isolation\"\ntext = \"Every partition access shall be translated by its own stage-2 tables.\"\nintegrity = \"ASIL B\"\nstatus = \"draft\"");
    let report = fixture.trace();
    assert_fails_with(&report, "coverage", &["sg~space~1", "needs `fsr`", "draft-only"]);
}

#[test]
fn a_review_need_is_met_only_by_an_accepted_review_of_that_revision() {
    let fixture = Fixture::new("review");
    fixture.edit(
        ITEMS,
        "covers = [\"swr~exact-map~1\"]\nneeds = [\"impl\", \"utest\"]\n\n[[assumption]]",
        "covers = [\"swr~exact-map~1\"]\nneeds = [\"impl\", \"utest\", \"review\"]\n\n[[assumption]]",
    );
    assert_fails_with(&fixture.trace(), "coverage", &["dsn~walker~1", "needs `review`", "uncovered"]);
    let review = "[[review]]\nid = \"REV-0001\"\nitems = [\"dsn~walker~1\"]\nreviewer = \"R. Viewer\"\ndate = \"2026-11-25\"\ncommit = \"0123456789ab\"\noutcome = \"accepted\"\n";
    fixture.append("certification/reviews.toml", review);
    let report = fixture.trace();
    assert_passes(&report, "coverage");
    let walker = report.trace.items.iter().find(|item| item.id.to_string() == "dsn~walker~1").unwrap();
    assert!(walker.verified, "{:?}", walker.reasons);
    fixture.edit("certification/reviews.toml", "outcome = \"accepted\"", "outcome = \"rejected\"");
    assert_fails_with(&fixture.trace(), "coverage", &["dsn~walker~1", "needs `review`"]);
}

// --- methods ----------------------------------------------------------------------------------

/// An approved design item that declares `verification`, with code tagged for it but no test.
fn add_untested_design_item(fixture: &Fixture, verification: &str) {
    fixture.append(
        ITEMS,
        &format!(
            "\n[[requirement]]\nid = \"dsn~el2-copy~1\"\nlevel = \"design\"\ntitle = \"Copy\"\ntext = \"Copies.\"\nstatus = \"approved\"\nverification = {verification}\ncovers = [\"swr~exact-map~1\"]\nneeds = [\"impl\"]\n"
        ),
    );
    fixture.edit("hypervisor/core/src/lib.rs", "/// Copies a value", "/// Copies a value [impl->dsn~el2-copy~1]");
}

fn traced_item<'a>(report: &'a bulkhead_trace::Report, id: &str) -> &'a bulkhead_trace::report::ItemReport {
    report.trace.items.iter().find(|item| item.id.to_string() == id).unwrap()
}

#[test]
fn an_item_declaring_test_is_not_verified_by_an_impl_tag_alone() {
    let fixture = Fixture::new("test-method");
    add_untested_design_item(&fixture, "[\"test\"]");
    let mut options = fixture.options();
    options.update_lock = true;
    let report = bulkhead_trace::run(&options).unwrap();
    assert_passes(&report, "tags");
    assert_passes(&report, "coverage");
    assert_fails_with(&report, "methods", &["dsn~el2-copy~1", "declares verification `test`", "no test is linked"]);
    let item = traced_item(&report, "dsn~el2-copy~1");
    assert!(!item.verified, "an impl tag is not a test");
    assert!(!traced_item(&report, "sg~space~1").verified, "nor is anything above it verified");
}

#[test]
fn test_evidence_may_come_from_the_items_that_refine_a_requirement() {
    let fixture = Fixture::new("test-method-scope");
    let report = fixture.trace();
    let goal = traced_item(&report, "sg~space~1");
    assert_eq!(goal.methods[0].state, State::Passed, "{:?}", goal.methods);
    assert!(goal.methods[0].links.iter().any(|link| link.detail.contains("via `dsn~builder~1`")));
    // Results that do not count leave the method linked (methods passes) but unproven (evidence fails).
    fixture.record_run("fedcba9876543210fedcba9876543210fedcba98", false);
    let stale = fixture.trace();
    assert_passes(&stale, "methods");
    assert_fails_with(&stale, "evidence", &["sg~space~1", "declares verification `test`", "none of its", "stale"]);
}

#[test]
fn an_item_declaring_analysis_needs_a_record_whose_artefact_exists() {
    let fixture = Fixture::new("analysis-method");
    fixture.edit(
        ITEMS,
        "verification = [\"test\"]\ncovers = [\"hzd~overwrite~1\"]",
        "verification = [\"test\", \"analysis\"]\ncovers = [\"hzd~overwrite~1\"]",
    );
    assert_fails_with(
        &fixture.trace(),
        "methods",
        &["sg~space~1", "`analysis`", "no record in certification/analyses.toml"],
    );
    let record = "[[analysis]]\nid = \"ANA-0001\"\nitems = [\"dsn~builder~1\"]\nmethod = \"lint gate\"\nartefact = \"target/lint/findings.json\"\ncommit = \"0123456789ab\"\n";
    fixture.append("certification/analyses.toml", record);
    let report = fixture.trace();
    assert_passes(&report, "methods");
    assert_eq!(traced_item(&report, "sg~space~1").methods[1].state, State::Analysed);
    assert!(traced_item(&report, "sg~space~1").verified);
    std::fs::remove_file(fixture.path("target/lint/findings.json")).unwrap();
    assert_fails_with(&fixture.trace(), "methods", &["sg~space~1", "`analysis`", "artefacts", "do not exist"]);
}

#[test]
fn an_item_declaring_review_needs_an_accepted_review_of_itself() {
    let fixture = Fixture::new("review-method");
    fixture.edit(
        ITEMS,
        "verification = [\"test\"]\ncovers = [\"fsr~stage2~1\"]",
        "verification = [\"test\", \"review\"]\ncovers = [\"fsr~stage2~1\"]",
    );
    assert_fails_with(&fixture.trace(), "methods", &["swr~exact-map~1", "`review`", "no accepted review"]);
    // A review of an item under it does not count: a review is of the item itself.
    let review = |item: &str| {
        format!(
            "[[review]]\nid = \"REV-0001\"\nitems = [\"{item}\"]\nreviewer = \"R. Viewer\"\ndate = \"2026-11-25\"\ncommit = \"0123456789ab\"\noutcome = \"accepted\"\n"
        )
    };
    std::fs::write(fixture.path("certification/reviews.toml"), review("dsn~builder~1")).unwrap();
    assert_fails_with(&fixture.trace(), "methods", &["swr~exact-map~1", "`review`"]);
    std::fs::write(fixture.path("certification/reviews.toml"), review("swr~exact-map~1")).unwrap();
    let report = fixture.trace();
    assert_passes(&report, "methods");
    assert!(traced_item(&report, "swr~exact-map~1").verified);
}

// --- evidence ---------------------------------------------------------------------------------

#[test]
fn a_failed_linked_test_fails_the_evidence_check() {
    let fixture = Fixture::new("failed-test");
    fixture.edit(
        HOST_JUNIT,
        "<testcase name=\"stage2::tests::overlaps_are_refused\" classname=\"fixture-core\" time=\"0.001\"/>",
        "<testcase name=\"stage2::tests::overlaps_are_refused\" classname=\"fixture-core\"><failure message=\"assertion failed\"/></testcase>",
    );
    fixture.record_run(COMMIT, false);
    assert_fails_with(
        &fixture.trace(),
        "evidence",
        &["dsn~builder~1", "overlaps_are_refused", "failed", "assertion failed"],
    );
}

#[test]
fn results_of_another_commit_are_stale_not_passed() {
    let fixture = Fixture::new("other-commit");
    fixture.record_run("fedcba9876543210fedcba9876543210fedcba98", false);
    let report = fixture.trace();
    assert_fails_with(&report, "evidence", &["the run tested commit fedcba987654"]);
    assert_fails_with(&report, "evidence", &["dsn~builder~1", "is stale"]);
    assert!(report.trace.tests.linked.iter().all(|result| result.state == State::Stale));
}

#[test]
fn a_run_on_a_dirty_tree_or_dirty_sources_now_does_not_count() {
    let fixture = Fixture::new("dirty-run");
    fixture.record_run(COMMIT, true);
    assert_fails_with(&fixture.trace(), "evidence", &["the run's tree had uncommitted changes"]);
    let mut fixture = Fixture::new("dirty-now");
    fixture.source.dirty = true;
    fixture.source.changes = vec![" M hypervisor/core/src/lib.rs".to_owned()];
    assert_fails_with(&fixture.trace(), "evidence", &["the sources have uncommitted changes", "lib.rs"]);
}

#[test]
fn a_changed_image_makes_only_the_qemu_results_stale() {
    let fixture = Fixture::new("image-changed");
    std::fs::write(fixture.path("target/image.elf"), "another image").unwrap();
    let report = fixture.trace();
    assert_fails_with(
        &report,
        "evidence",
        &["swr~exact-map~1", "a_guest_access_outside_its_map_faults", "stale", "not the one tested"],
    );
    let host =
        report.trace.tests.linked.iter().find(|result| result.test.name.ends_with("overlaps_are_refused")).unwrap();
    assert_eq!(host.state, State::Passed, "host results do not depend on the image");
}

#[test]
fn results_edited_after_the_run_are_stale() {
    let fixture = Fixture::new("edited-results");
    fixture.edit(HOST_JUNIT, "time=\"0.001\"", "time=\"0.002\"");
    assert_fails_with(&fixture.trace(), "evidence", &["dsn~builder~1", "stale", "changed after the run"]);
}

#[test]
fn without_a_run_record_nothing_is_verified() {
    let fixture = Fixture::new("no-run");
    std::fs::remove_file(fixture.path("target/test-results/run.json")).unwrap();
    let report = fixture.trace();
    assert_fails_with(&report, "evidence", &["no run record"]);
    assert!(report.trace.items.iter().filter(|item| !item.needs.is_empty()).all(|item| !item.verified));
}

#[test]
fn a_missing_suite_shows_its_tests_as_missing() {
    let fixture = Fixture::new("no-qemu");
    std::fs::remove_file(fixture.path("target/test-results/qemu-junit.xml")).unwrap();
    fixture.record_run(COMMIT, false);
    let report = fixture.trace();
    assert_fails_with(&report, "evidence", &["qemu-junit.xml is missing"]);
    assert_fails_with(&report, "evidence", &["swr~exact-map~1", "missing", "the suite did not run"]);
}

#[test]
fn an_ignored_test_is_skipped_not_passed() {
    let fixture = Fixture::new("ignored");
    fixture.edit(UNIT_TESTS, "#[test]\nfn overlaps_are_refused", "#[test]\n#[ignore]\nfn overlaps_are_refused");
    fixture.edit(
        HOST_JUNIT,
        "<testcase name=\"stage2::tests::overlaps_are_refused\" classname=\"fixture-core\" time=\"0.001\"/>",
        "",
    );
    fixture.record_run(COMMIT, false);
    assert_fails_with(&fixture.trace(), "evidence", &["overlaps_are_refused", "skipped", "#[ignore]"]);
}

// --- unsafe -----------------------------------------------------------------------------------

#[test]
fn an_unsafe_block_without_a_safety_comment_fails() {
    let fixture = Fixture::new("unsafe");
    fixture.edit(
        "hypervisor/core/src/lib.rs",
        "    // SAFETY: `pointer` comes from a reference, so it is valid and aligned.\n",
        "",
    );
    let report = fixture.trace();
    assert_fails_with(&report, "unsafe", &["hypervisor/core/src/lib.rs:8", "unsafe block in `copy`", "SAFETY"]);
    assert_eq!(report.trace.unsafe_sites[0].justification, None);
}

// --- lint -------------------------------------------------------------------------------------

#[test]
fn without_lint_findings_the_lint_check_did_not_run() {
    let fixture = Fixture::new("no-lint");
    std::fs::remove_file(fixture.path("target/lint/findings.json")).unwrap();
    assert_fails_with(&fixture.trace(), "lint", &["no findings file"]);
}

#[test]
fn suppressions_need_an_approved_deviation_for_their_rule() {
    let fixture = Fixture::new("lint-deviations");
    std::fs::write(
        fixture.path("target/lint/findings.json"),
        r#"[
            {"rule": "MLR-05", "file": "a.rs", "line": 1, "message": "wrapping", "severity": "error", "suppressed_by": "DEV-0002"},
            {"rule": "MLR-07", "file": "b.rs", "line": 2, "message": "cast", "severity": "error", "suppressed_by": "DEV-0001"},
            {"rule": "MLR-04", "file": "c.rs", "line": 3, "message": "index", "severity": "error", "suppressed_by": "DEV-0099"},
            {"rule": "MLR-01", "file": "d.rs", "line": 4, "message": "Box::new", "severity": "error", "suppressed_by": null},
            {"rule": "MLR-26", "file": "e.rs", "line": 5, "message": "stale deviation", "severity": "warning", "suppressed_by": null}
        ]"#,
    )
    .unwrap();
    fixture.record_run(COMMIT, false);
    let report = fixture.trace();
    assert_fails_with(&report, "lint", &["a.rs:1", "DEV-0002", "`draft`"]);
    assert_fails_with(&report, "lint", &["b.rs:2", "DEV-0001", "does not deviate from MLR-07"]);
    assert_fails_with(&report, "lint", &["c.rs:3", "DEV-0099", "not in the deviation register"]);
    assert_fails_with(&report, "lint", &["d.rs:4", "MLR-01 unjustified"]);
    let warning =
        check(&report, "lint").findings.iter().find(|finding| finding.message.contains("stale deviation")).unwrap();
    assert_eq!(warning.severity, Verdict::Warn);
}

#[test]
fn findings_replaced_after_the_run_fail_the_lint_check() {
    let fixture = Fixture::new("lint-tampered");
    std::fs::write(
        fixture.path("target/lint/findings.json"),
        r#"[{"rule": "MLR-01", "file": "d.rs", "line": 4, "message": "Box::new", "severity": "error", "suppressed_by": null}]"#,
    )
    .unwrap();
    fixture.record_run(COMMIT, false);
    assert_fails_with(&fixture.trace(), "lint", &["MLR-01 unjustified"]);
    // Emptying the findings does not make the gate pass: the run recorded the other file.
    std::fs::write(fixture.path("target/lint/findings.json"), "[]").unwrap();
    assert_fails_with(&fixture.trace(), "lint", &["findings.json", "not the one the run recorded"]);
}

#[test]
fn findings_the_run_did_not_record_fail_the_lint_check() {
    let fixture = Fixture::new("lint-unrecorded");
    let run = fixture.path("target/test-results/run.json");
    let mut record: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&run).unwrap()).unwrap();
    record.as_object_mut().unwrap().remove("lint");
    std::fs::write(&run, record.to_string()).unwrap();
    assert_fails_with(&fixture.trace(), "lint", &["the run record lists no findings file"]);
    fixture.record_run("fedcba9876543210fedcba9876543210fedcba98", false);
    assert_fails_with(&fixture.trace(), "lint", &["the findings are of commit fedcba987654"]);
}

#[test]
fn a_deviation_naming_a_missing_requirement_fails() {
    let fixture = Fixture::new("deviation-requirement");
    fixture.edit(
        "certification/deviations.toml",
        "status = \"approved\"",
        "status = \"approved\"\nrequirements = [\"dsn~builder~1\", \"dsn~gone~1\"]",
    );
    assert_fails_with(&fixture.trace(), "lint", &["DEV-0001", "dsn~gone~1", "names no item"]);
}

// --- code coverage ----------------------------------------------------------------------------

#[test]
fn measured_coverage_passes_and_stale_coverage_warns() {
    use bulkhead_trace::results::coverage::{Counter, Counters, Coverage, FileCoverage};
    let fixture = Fixture::new("coverage");
    let counters = Counters {
        lines: Counter { covered: 8, count: 10 },
        regions: Counter { covered: 15, count: 20 },
        functions: Counter { covered: 3, count: 3 },
        branches: Some(Counter { covered: 3, count: 4 }),
    };
    let mut coverage = Coverage {
        schema_version: 1,
        tool: "llvm-cov 22.1.8".to_owned(),
        command: "bulkhead-trace coverage".to_owned(),
        commit: COMMIT.to_owned(),
        dirty: false,
        scope: "fixture-core".to_owned(),
        totals: counters.clone(),
        files: vec![FileCoverage { file: "hypervisor/core/src/lib.rs".to_owned(), counters }],
    };
    let path = fixture.path("target/test-results/coverage.json");
    coverage.write(&path).unwrap();
    let report = fixture.trace();
    let result = check(&report, "code-coverage");
    assert_eq!(result.verdict, Verdict::Pass, "{:#?}", result.findings);
    assert!(
        result.summary.contains("regions 75.0%") && result.summary.contains("branches 75.0%"),
        "{}",
        result.summary
    );
    coverage.commit = "f".repeat(40);
    coverage.write(&path).unwrap();
    let stale = fixture.trace();
    assert_eq!(check(&stale, "code-coverage").verdict, Verdict::Warn);
    assert!(stale.passed(), "coverage never fails the run");
}
