//! Every rule against its fixtures: a `flagged` tree that must produce exactly the marked
//! findings, and a `pass` tree that must produce none of the rule's.
//!
//! A fixture is a directory under `tests/fixtures/<mlr-nn-name>/<case>/` laid out like a
//! repository (`hypervisor/core/src/x.rs`, `certification/deviations.toml`, ...). The test
//! copies it to a temporary root, gives every `src/` directory's parent a `Cargo.toml`, runs
//! the whole checker on it and compares. Expected findings are marked on their line:
//! `//~ MLR-09` (an unjustified finding), `//~ MLR-10=DEV-0001` (one justified by that
//! deviation), `#~ MLR-26` in TOML files. Only the rule of the fixture directory and the
//! rules named in markers are compared, so each fixture stays about one thing.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use misra_like_lints::{Config, Rule, run};

/// (file, line, rule ID, justifying deviation)
type Expectation = (String, usize, String, Option<String>);

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("fixtures")
}

fn copy_tree(
    from: &Path,
    to: &Path,
    relative: &str,
    files: &mut Vec<(String, String)>,
) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    let mut entries: Vec<_> = std::fs::read_dir(from)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(std::fs::DirEntry::file_name);
    for entry in entries {
        let name = entry.file_name().to_string_lossy().into_owned();
        let child = if relative.is_empty() {
            name.clone()
        } else {
            format!("{relative}/{name}")
        };
        let target = to.join(&name);
        if entry.file_type()?.is_dir() {
            copy_tree(&entry.path(), &target, &child, files)?;
            if name == "src" && !to.join("Cargo.toml").exists() {
                let package = to.file_name().map_or_else(
                    || "fixture".to_owned(),
                    |n| n.to_string_lossy().into_owned(),
                );
                std::fs::write(
                    to.join("Cargo.toml"),
                    format!(
                        "[package]\nname = \"{package}\"\nversion = \"0.1.0\"\nedition = \"2024\"\n"
                    ),
                )?;
            }
        } else {
            let text = std::fs::read_to_string(entry.path())?;
            std::fs::write(&target, &text)?;
            files.push((child, text));
        }
    }
    Ok(())
}

fn expectations(files: &[(String, String)]) -> BTreeSet<Expectation> {
    let mut expected = BTreeSet::new();
    for (path, text) in files {
        let marker = if path.ends_with(".toml") { "#~" } else { "//~" };
        for (index, line) in text.lines().enumerate() {
            let Some((_, markers)) = line.split_once(marker) else {
                continue;
            };
            for token in markers.split_whitespace() {
                let (rule, deviation) = match token.split_once('=') {
                    Some((rule, deviation)) => (rule, Some(deviation.to_owned())),
                    None => (token, None),
                };
                expected.insert((path.clone(), index + 1, rule.to_owned(), deviation));
            }
        }
    }
    expected
}

fn check_fixture(case: &str) {
    let source = fixtures_dir().join(case);
    let root = std::env::temp_dir().join(format!(
        "misra-like-lints-{}-{}",
        case.replace('/', "-"),
        std::process::id()
    ));
    let _ignored = std::fs::remove_dir_all(&root);
    let mut files = Vec::new();
    if let Err(error) = copy_tree(&source, &root, "", &mut files) {
        panic!("copying fixture {case}: {error}");
    }
    let expected = expectations(&files);
    let fixture_rule = case.get(..6).map(str::to_uppercase).unwrap_or_default();
    let mut rules: BTreeSet<String> = expected
        .iter()
        .map(|(_, _, rule, _)| rule.clone())
        .collect();
    rules.insert(fixture_rule);

    let config = Config::for_root(&root).unwrap_or_else(|error| panic!("{case}: {error}"));
    let report = run(&config).unwrap_or_else(|error| panic!("{case}: {error}"));
    let actual: BTreeSet<Expectation> = report
        .findings
        .iter()
        .filter(|finding| rules.contains(finding.rule.id()))
        .map(|finding| {
            (
                finding.file.clone(),
                finding.start.line,
                finding.rule.id().to_owned(),
                finding.suppressed_by.clone(),
            )
        })
        .collect();
    if actual != expected {
        let missing: Vec<_> = expected.difference(&actual).collect();
        let unexpected: Vec<_> = actual.difference(&expected).collect();
        panic!(
            "fixture {case}\n  missing:    {missing:?}\n  unexpected: {unexpected:?}\n--- checker output ---\n{}",
            report.render(&root, true)
        );
    }
    let _ignored = std::fs::remove_dir_all(&root);
}

macro_rules! fixture {
    ($name:ident, $case:literal) => {
        #[test]
        fn $name() {
            check_fixture($case);
        }
    };
}

fixture!(unparseable_file_is_a_finding, "mlr-00-analysable/flagged");
fixture!(parseable_file_passes, "mlr-00-analysable/pass");
fixture!(heap_types_and_macros_are_flagged, "mlr-01-heap/flagged");
fixture!(heapless_collections_pass, "mlr-01-heap/pass");
fixture!(panic_macros_are_flagged, "mlr-02-panic-macro/flagged");
fixture!(const_asserts_and_tests_may_panic, "mlr-02-panic-macro/pass");
fixture!(
    unwrap_and_expect_are_flagged,
    "mlr-03-unwrap-expect/flagged"
);
fixture!(handled_options_pass, "mlr-03-unwrap-expect/pass");
fixture!(indexing_and_slicing_are_flagged, "mlr-04-indexing/flagged");
fixture!(
    checked_access_and_const_indexing_pass,
    "mlr-04-indexing/pass"
);
fixture!(unchecked_arithmetic_is_flagged, "mlr-05-arithmetic/flagged");
fixture!(
    stated_overflow_and_const_arithmetic_pass,
    "mlr-05-arithmetic/pass"
);
fixture!(numeric_as_casts_are_flagged, "mlr-06-numeric-cast/flagged");
fixture!(
    from_try_from_and_discriminants_pass,
    "mlr-06-numeric-cast/pass"
);
fixture!(
    pointer_integer_casts_outside_mmio_are_flagged,
    "mlr-07-pointer-cast/flagged"
);
fixture!(pointer_casts_in_mmio_layer_pass, "mlr-07-pointer-cast/pass");
fixture!(
    floating_point_in_el2_is_flagged,
    "mlr-08-floating-point/flagged"
);
fixture!(
    fixed_point_and_host_floats_pass,
    "mlr-08-floating-point/pass"
);
fixture!(
    recursion_direct_mutual_and_cross_module_is_flagged,
    "mlr-09-recursion/flagged"
);
fixture!(non_recursive_calls_pass, "mlr-09-recursion/pass");
fixture!(
    loops_without_bound_argument_are_flagged,
    "mlr-10-loop-bound/flagged"
);
fixture!(loops_with_bound_argument_pass, "mlr-10-loop-bound/pass");
fixture!(
    unsafe_without_safety_comment_is_flagged,
    "mlr-11-safety-comment/flagged"
);
fixture!(
    safety_comments_in_accepted_places_pass,
    "mlr-11-safety-comment/pass"
);
fixture!(
    several_unsafe_operations_per_block_are_flagged,
    "mlr-12-unsafe-ops/flagged"
);
fixture!(
    one_unsafe_operation_per_block_passes,
    "mlr-12-unsafe-ops/pass"
);
fixture!(
    unsafe_fn_without_safety_section_is_flagged,
    "mlr-13-safety-doc/flagged"
);
fixture!(safety_sections_pass, "mlr-13-safety-doc/pass");
fixture!(
    crate_without_unsafe_must_forbid_it,
    "mlr-14-forbid-unsafe/flagged"
);
fixture!(
    forbidding_or_needing_unsafe_passes,
    "mlr-14-forbid-unsafe/pass"
);
fixture!(static_mut_is_flagged, "mlr-15-static-mut/flagged");
fixture!(atomic_static_passes, "mlr-15-static-mut/pass");
fixture!(
    shadowing_in_nested_blocks_patterns_and_closures_is_flagged,
    "mlr-16-shadowing/flagged"
);
fixture!(
    distinct_names_and_sibling_scopes_pass,
    "mlr-16-shadowing/pass"
);
fixture!(
    catch_all_arms_over_enums_are_flagged,
    "mlr-17-wildcard-arm/flagged"
);
fixture!(
    exhaustive_and_integer_matches_pass,
    "mlr-17-wildcard-arm/pass"
);
fixture!(
    untyped_let_underscore_is_flagged,
    "mlr-18-unused-result/flagged"
);
fixture!(handled_or_typed_discards_pass, "mlr-18-unused-result/pass");
fixture!(large_stack_arrays_are_flagged, "mlr-19-stack-array/flagged");
fixture!(small_and_static_arrays_pass, "mlr-19-stack-array/pass");
fixture!(
    inline_asm_outside_arch_is_flagged,
    "mlr-20-inline-asm/flagged"
);
fixture!(inline_asm_in_arch_passes, "mlr-20-inline-asm/pass");
fixture!(volatile_outside_mmio_is_flagged, "mlr-21-volatile/flagged");
fixture!(volatile_in_drivers_passes, "mlr-21-volatile/pass");
fixture!(
    unreviewed_intrinsics_are_flagged,
    "mlr-22-reviewed-intrinsic/flagged"
);
fixture!(reviewed_intrinsics_pass, "mlr-22-reviewed-intrinsic/pass");
fixture!(
    macro_hiding_unsafe_is_flagged,
    "mlr-23-unsafe-macro/flagged"
);
fixture!(macro_without_unsafe_passes, "mlr-23-unsafe-macro/pass");
fixture!(
    undocumented_items_and_modules_are_flagged,
    "mlr-24-documentation/flagged"
);
fixture!(documented_items_pass, "mlr-24-documentation/pass");
fixture!(
    suppressions_without_approved_deviation_are_flagged,
    "mlr-25-suppression/flagged"
);
fixture!(
    suppressions_citing_approved_deviations_justify,
    "mlr-25-suppression/pass"
);
fixture!(
    citations_outside_a_deviation_scope_justify_nothing,
    "mlr-25-suppression/out-of-scope"
);
fixture!(
    stale_deviation_comment_and_entries_are_reported,
    "mlr-26-stale-deviation/flagged"
);
fixture!(used_deviation_is_not_stale, "mlr-26-stale-deviation/pass");
fixture!(
    missing_required_crate_attributes_are_flagged,
    "mlr-28-crate-attributes/flagged"
);
fixture!(
    required_crate_attributes_present_pass,
    "mlr-28-crate-attributes/pass"
);

/// Every rule but MLR-27 (tested on a synthetic ELF in `tests/elf.rs`) has both fixtures.
#[test]
fn every_rule_has_a_flagged_and_a_pass_fixture() {
    let present: BTreeSet<String> = std::fs::read_dir(fixtures_dir())
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    let mut missing = Vec::new();
    for info in misra_like_lints::rules::RULES {
        if info.rule == Rule::PanicReachable {
            continue;
        }
        let prefix = info.id.to_lowercase();
        let directory = present.iter().find(|name| name.starts_with(&prefix));
        for case in ["flagged", "pass"] {
            let exists =
                directory.is_some_and(|name| fixtures_dir().join(name).join(case).is_dir());
            if !exists {
                missing.push(format!("{} {case}", info.id));
            }
        }
    }
    assert!(missing.is_empty(), "rules without fixtures: {missing:?}");
}
