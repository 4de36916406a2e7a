//! One test per load-time check: each fixture in `tests/fixtures/checks/` marks the lines its
//! diagnostics must point at, and the test asserts exactly those (code, line) pairs appear.

mod common;

use bulkhead_config::{Code, Severity, load};
use common::{assert_markers, fixture, repo_root};

/// Loads `checks/<name>.toml` against the real boards and compares diagnostics with markers.
fn check_fixture(name: &str) -> bulkhead_config::Diagnostics {
    let manifest = fixture(&format!("checks/{name}.toml"));
    let diagnostics = match load(&manifest, &repo_root()) {
        Ok(spec) => spec.warnings().clone(),
        Err(diagnostics) => diagnostics,
    };
    assert_markers(&diagnostics, &[manifest]);
    diagnostics
}

macro_rules! check_tests {
    ($($test:ident => $fixture:literal,)*) => {
        $(
            #[test]
            fn $test() {
                check_fixture($fixture);
            }
        )*

        /// Every named load-time check has a fixture above.
        #[test]
        fn every_named_check_has_a_fixture() {
            let covered = [$($fixture),*];
            for code in bulkhead_config::validate::check_codes() {
                assert!(covered.contains(&code.name()), "no fixture for {code}");
            }
        }
    };
}

check_tests! {
    memory_overlap_points_at_the_second_base => "memory-overlap",
    memory_overlapping_the_hypervisor_is_rejected => "memory-overlaps-hypervisor",
    memory_crossing_the_end_of_ram_is_rejected => "memory-outside-ram",
    memory_base_must_be_2mib_aligned => "memory-base-misaligned",
    memory_size_must_be_a_4kib_multiple => "memory-size-not-granule",
    memory_size_not_a_2mib_multiple_warns => "memory-size-not-block",
    allocation_reports_exhausted_ram => "memory-exhausted",
    address_arithmetic_overflow_is_an_error => "size-overflow",
    memory_must_leave_room_for_the_device_tree => "memory-too-small",
    a_core_pinned_twice_is_rejected_across_and_within_partitions => "core-pinned-twice",
    a_core_missing_from_the_device_tree_is_rejected => "core-not-present",
    an_empty_cpu_list_is_rejected => "cpus-empty",
    more_vcpus_than_the_redistributor_window_is_rejected => "too-many-vcpus",
    duplicate_partition_names_are_rejected => "duplicate-partition-name",
    a_manifest_without_partitions_is_rejected => "no-partitions",
    partition_names_must_be_file_and_prefix_safe => "partition-name-invalid",
    image_needs_exactly_one_source => "image-source-invalid",
    sizes_must_be_byte_counts => "size-invalid",
    an_unknown_board_is_rejected => "board-unknown",
    unknown_manifest_keys_are_rejected => "manifest-invalid",
}

#[test]
fn the_size_warning_does_not_stop_the_build() {
    let manifest = fixture("checks/memory-size-not-block.toml");
    let spec = load(&manifest, &repo_root()).expect("a warning must not fail loading");
    let warning = spec.warnings().iter().next().expect("warning kept");
    assert_eq!(warning.code(), Code::MemorySizeNotBlock);
    assert_eq!(warning.severity(), Severity::Warning);
    assert_eq!(spec.partitions()[0].ram.size(), 0x400_1000);
}

#[test]
fn several_problems_are_reported_in_one_run() {
    let diagnostics = check_fixture("core-pinned-twice");
    assert_eq!(diagnostics.errors().count(), 2);
}

#[test]
fn reports_show_file_line_value_and_help() {
    let manifest = fixture("checks/memory-base-misaligned.toml");
    let diagnostics = load(&manifest, &repo_root()).expect_err("misaligned base accepted");
    let report = diagnostics.render(false);
    assert!(report.contains("BH0104 memory-base-misaligned"), "{report}");
    assert!(
        report.contains("memory-base-misaligned.toml:7:35"),
        "{report}"
    );
    assert!(report.contains("0x4810_0000"), "{report}");
    assert!(
        report.contains("expected a multiple of 0x20_0000"),
        "{report}"
    );
    assert!(
        report.contains("use 0x4800_0000 or 0x4820_0000"),
        "{report}"
    );
    assert_eq!(format!("{diagnostics:#}"), report);
}
