//! The table of bad manifests: each fixture in `tests/fixtures/checks/` marks the lines its
//! diagnostics must point at (`# expect: BH0101`), and its test asserts exactly those (code,
//! line) pairs appear — nothing missing, nothing extra. Every named load-time check has a
//! fixture named after it.
//!
//! Fixtures use the real `qemu-virt` board, or the `test-gicv2` test board under
//! `tests/fixtures/board-configs/` (for facts qemu-virt lacks: a described cache, reserved
//! RAM, disabled nodes). A `# make-file: NAME BYTES` line makes the test copy the manifest to
//! a temporary directory next to a zero-filled file of that size (for files too large to
//! commit); `# make-fifo: NAME` puts a FIFO there instead.
//!
//! Verifies: [utest->dsn~config-checks~1] (the tests written out here; a `//!` tag cannot see
//! the tests `check_tests!` generates, so each fixture entry carries its own tag).

mod common;

use bulkhead_config::{Code, Diagnostics, Severity, load};
use common::{assert_markers, fixture, prepare_fixture, repo_root, root_for};

/// Loads `checks/<name>.toml` and compares its diagnostics with its markers.
fn check_fixture(name: &str) -> Diagnostics {
    let manifest = fixture(&format!("checks/{name}.toml"));
    let text = std::fs::read_to_string(&manifest).unwrap();
    let prepared = prepare_fixture(&manifest);
    let loaded = prepared.path.clone();
    let diagnostics = match load(&loaded, &root_for(&text)) {
        Ok(spec) => spec.warnings().clone(),
        Err(diagnostics) => diagnostics,
    };
    assert_markers(&diagnostics, &[loaded]);
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

        /// Every named load-time check has a fixture above, named after it.
        #[test]
        // [utest->dsn~config-checks~1]
        fn every_named_check_has_a_fixture() {
            let covered = [$($fixture),*];
            for code in bulkhead_config::validate::check_codes() {
                assert!(covered.contains(&code.name()), "no fixture for {code}");
            }
            assert!(covered.len() >= 30, "the table has {} bad manifests", covered.len());
        }
    };
}

check_tests! {
    // Language.
    // [utest->dsn~config-checks~1] [utest->dsn~config-manifest~1]
    unknown_keys_are_all_reported_with_suggestions => "unknown-key",
    // [utest->dsn~config-checks~1] [utest->dsn~config-manifest~1]
    values_of_the_wrong_type_are_rejected => "manifest-invalid",
    // [utest->dsn~config-checks~1] [utest->dsn~config-manifest~1]
    gpu_keys_are_reserved => "reserved-for-gpu-mediator",
    // [utest->dsn~config-checks~1] [utest->dsn~config-units~1]
    sizes_must_be_byte_counts => "size-invalid",
    // [utest->dsn~config-checks~1] [utest->dsn~config-units~1]
    address_arithmetic_overflow_is_an_error => "size-overflow",
    // [utest->dsn~config-checks~1] [utest->dsn~config-manifest~1]
    image_needs_exactly_one_source => "image-source-invalid",
    // [utest->dsn~config-checks~1]
    a_restart_limit_must_be_positive => "restart-limit-invalid",
    // [utest->dsn~config-checks~1] [utest->dsn~config-board~1]
    an_unknown_board_is_rejected => "board-unknown",
    // [utest->dsn~config-checks~1] [utest->dsn~config-board~1]
    the_system_console_must_be_a_supported_uart => "uart-invalid",
    // [utest->dsn~config-checks~1] [utest->dsn~config-board~1]
    the_system_log_must_be_a_supported_uart => "log-uart-invalid",
    // [utest->dsn~config-checks~1] [utest->dsn~config-board~1]
    the_system_log_cannot_be_the_console => "log-uart-is-the-console",
    // [utest->dsn~config-checks~1] [utest->dsn~config-board~1]
    the_hypervisor_memory_override_is_checked => "hypervisor-reservation-invalid",
    // Names.
    // [utest->dsn~config-checks~1]
    a_manifest_without_partitions_is_rejected => "no-partitions",
    // [utest->dsn~config-checks~1]
    partition_names_must_be_file_and_prefix_safe => "partition-name-invalid",
    // [utest->dsn~config-checks~1]
    duplicate_partition_names_are_rejected => "duplicate-partition-name",
    // [utest->dsn~config-checks~1]
    channel_and_region_names_must_be_safe => "name-invalid",
    // [utest->dsn~config-checks~1]
    duplicate_channel_names_are_rejected => "duplicate-channel-name",
    // [utest->dsn~config-checks~1]
    duplicate_region_names_are_rejected => "duplicate-region-name",
    // Cores.
    // [utest->dsn~config-checks~1]
    an_empty_cpu_list_is_rejected => "cpus-empty",
    // [utest->dsn~config-checks~1]
    more_vcpus_than_the_redistributor_window_is_rejected => "too-many-vcpus",
    // [utest->dsn~config-checks~1]
    more_vcpus_than_pinned_cores_is_rejected => "vcpus-exceed-cores",
    // [utest->dsn~config-checks~1]
    a_pinned_core_without_vcpu_warns => "core-without-vcpu",
    // [utest->dsn~config-checks~1]
    a_core_missing_from_the_device_tree_is_rejected => "core-not-present",
    // [utest->dsn~config-checks~1]
    a_core_pinned_twice_is_rejected_across_and_within_partitions => "core-pinned-twice",
    // Memory.
    // [utest->dsn~config-checks~1]
    memory_base_must_be_aligned => "memory-base-misaligned",
    // [utest->dsn~config-checks~1]
    memory_size_must_be_a_4kib_multiple => "memory-size-not-granule",
    // [utest->dsn~config-checks~1]
    memory_size_not_a_2mib_multiple_warns => "memory-size-not-block",
    // [utest->dsn~config-checks~1]
    memory_must_leave_room_for_the_device_tree => "memory-too-small",
    // [utest->dsn~config-checks~1]
    memory_crossing_the_end_of_ram_is_rejected => "memory-outside-ram",
    // [utest->dsn~config-checks~1]
    memory_overlapping_the_hypervisor_is_rejected => "memory-overlaps-hypervisor",
    // [utest->dsn~config-checks~1]
    memory_overlapping_reserved_ram_is_rejected => "memory-overlaps-reserved",
    // [utest->dsn~config-checks~1] [utest->dsn~config-board~1]
    no_partition_maps_the_raspberry_pi_firmware_framebuffer => "memory-overlaps-firmware-framebuffer",
    // [utest->dsn~config-checks~1]
    memory_overlapping_device_registers_is_rejected => "memory-overlaps-device",
    // [utest->dsn~config-checks~1]
    memory_overlap_points_at_the_second_base => "memory-overlap",
    // [utest->dsn~config-checks~1]
    allocation_reports_exhausted_ram => "memory-exhausted",
    // [utest->dsn~config-checks~1]
    a_channel_overlapping_memory_is_rejected => "channel-memory-overlap",
    // [utest->dsn~config-checks~1]
    guest_physical_overlaps_are_rejected => "ipa-overlap",
    // [utest->dsn~config-checks~1]
    guest_physical_ranges_must_fit_the_ipa_space => "ipa-out-of-range",
    // [utest->dsn~config-checks~1]
    region_contents_must_fit_the_region => "region-contents-too-large",
    // [utest->dsn~config-checks~1]
    an_initrd_must_fit_guest_ram => "initrd-too-large",
    // Devices.
    // [utest->dsn~config-checks~1] [utest->dsn~config-devices~1]
    a_device_missing_from_the_device_tree_is_rejected => "device-not-found",
    // [utest->dsn~config-checks~1] [utest->dsn~config-devices~1]
    a_device_assigned_twice_is_rejected => "device-assigned-twice",
    // [utest->dsn~config-checks~1] [utest->dsn~config-devices~1]
    hypervisor_devices_cannot_be_passed_through => "device-owned-by-hypervisor",
    // [utest->dsn~config-checks~1] [utest->dsn~config-devices~1]
    a_device_sharing_a_page_with_another_is_rejected => "device-page-shared",
    // [utest->dsn~config-checks~1] [utest->dsn~config-devices~1]
    buses_and_pci_hosts_cannot_be_passed_through => "device-unsupported",
    // [utest->dsn~config-checks~1] [utest->dsn~config-devices~1]
    a_device_behind_an_i2c_bus_is_not_memory_mapped => "device-not-memory-mapped",
    // [utest->dsn~config-checks~1] [utest->dsn~config-devices~1]
    private_interrupts_cannot_be_forwarded => "device-interrupt-unsupported",
    // [utest->dsn~config-checks~1] [utest->dsn~config-devices~1]
    interrupts_of_another_controller_cannot_be_forwarded => "device-interrupt-parent-unsupported",
    // [utest->dsn~config-checks~1] [utest->dsn~config-devices~1]
    dma_without_iommu_warns_by_default => "dma-without-iommu",
    // [utest->dsn~config-checks~1] [utest->dsn~config-devices~1]
    dma_without_iommu_is_an_error_by_policy => "dma-without-iommu-error",
    // [utest->dsn~config-checks~1] [utest->dsn~config-devices~1]
    dma_without_identity_ram_warns => "dma-without-identity-ram",
    // [utest->dsn~config-checks~1] [utest->dsn~config-devices~1]
    identity_ram_elsewhere_than_the_guest_ram_address_is_rejected => "identity-ram-misplaced",
    // [utest->dsn~config-checks~1] [utest->dsn~config-devices~1]
    identity_ram_under_the_hypervisor_is_rejected => "identity-ram-overlaps-hypervisor",
    // [utest->dsn~config-checks~1] [utest->dsn~config-devices~1]
    a_disabled_device_warns => "device-disabled",
    // [utest->dsn~config-checks~1]
    a_passthrough_console_must_be_a_uart => "console-not-uart",
    // Interrupts.
    // [utest->dsn~config-checks~1] [utest->dsn~config-devices~1]
    an_intid_outside_the_gic_range_is_rejected => "interrupt-invalid",
    // [utest->dsn~config-checks~1] [utest->dsn~config-devices~1]
    hypervisor_interrupts_cannot_be_assigned => "interrupt-reserved",
    // [utest->dsn~config-checks~1] [utest->dsn~config-devices~1]
    an_interrupt_assigned_twice_is_rejected => "interrupt-assigned-twice",
    // [utest->dsn~config-checks~1] [utest->dsn~config-devices~1]
    too_many_forwarded_interrupts_are_rejected => "guest-interrupts-exhausted",
    // Channels.
    // [utest->dsn~config-checks~1]
    a_channel_naming_an_unknown_partition_is_rejected => "channel-unknown-partition",
    // [utest->dsn~config-checks~1]
    a_channel_needs_two_ends_and_a_writer => "channel-endpoints-invalid",
    // Cache colours.
    // [utest->dsn~config-checks~1]
    colours_need_a_known_colour_count => "cache-colours-unknown",
    // [utest->dsn~config-checks~1]
    colours_must_be_in_range_and_listed_once => "cache-colour-invalid",
    // [utest->dsn~config-checks~1]
    a_colour_belongs_to_one_partition => "cache-colour-shared",
    // [utest->dsn~config-checks~1]
    colours_are_reported_as_not_enforced => "cache-colouring-not-enforced",
    // The shared screen.
    // [utest->dsn~config-checks~1] [utest->dsn~display-config~1]
    the_display_backend_resolution_period_and_compose_core_are_checked => "display-invalid",
    // [utest->dsn~config-checks~1] [utest->dsn~display-config~1]
    every_layer_must_be_composable => "display-layer-invalid",
    // [utest->dsn~config-checks~1] [utest->dsn~display-config~1]
    unsupported_pixel_formats_are_rejected => "display-format-unsupported",
    // [utest->dsn~config-checks~1] [utest->dsn~display-config~1]
    destinations_must_lie_on_the_screen => "display-rectangle-off-screen",
    // [utest->dsn~config-checks~1] [utest->dsn~display-config~1]
    no_layer_may_overlap_a_critical_one => "display-critical-overlap",
    // [utest->dsn~config-checks~1] [utest->dsn~display-config~1]
    framebuffers_lie_in_their_partitions_memory => "display-buffer-outside-partition",
    // [utest->dsn~config-checks~1] [utest->dsn~display-config~1]
    framebuffers_are_not_shared => "display-buffer-shared",
    // [utest->dsn~config-checks~1] [utest->dsn~display-config~1]
    the_whole_screen_fits_the_frame_budget => "display-over-budget",
    // [utest->dsn~config-checks~1] [utest->dsn~display-config~1]
    the_display_backends_registers_belong_to_the_hypervisor => "display-backend-device-owned-by-hypervisor",
    // [utest->dsn~config-checks~1] [utest->dsn~display-config~1]
    the_virtio_gpu_transport_and_its_page_belong_to_the_hypervisor => "display-virtio-gpu-transport-owned-by-hypervisor",
    // [utest->dsn~config-checks~1] [utest->dsn~display-config~1]
    virtio_gpu_needs_a_board_with_virtio_mmio => "display-virtio-gpu-not-on-board",
    // [utest->dsn~config-checks~1]
    the_boot_seed_rngs_transport_and_its_page_belong_to_the_hypervisor => "entropy-transport-owned-by-hypervisor",
    // Hostile inputs (issue 14; more in hostile.rs).
    // [utest->dsn~config-checks~1]
    a_region_ipa_whose_end_overflows_is_an_error_at_the_ipa => "region-ipa-overflow",
    // [utest->dsn~config-checks~1]
    zero_vcpus_is_an_error_not_a_warning => "vcpus-zero",
    // [utest->dsn~config-checks~1]
    names_of_the_hypervisor_and_its_outputs_are_reserved => "partition-name-reserved",
    // [utest->dsn~config-checks~1]
    bootargs_errors_point_at_the_bootargs_key => "bootargs-invalid",
    // [utest->dsn~config-checks~1]
    names_with_escape_sequences_are_rejected => "name-escape-sequence",
    // [utest->dsn~config-checks~1] [utest->dsn~config-images~1]
    image_initrd_and_region_files_must_be_bounded_regular_files => "input-file-invalid",
    // [utest->dsn~config-checks~1] [utest->dsn~config-images~1]
    check_rejects_a_guest_crate_that_does_not_exist => "guest-crate-unknown",
}

#[test]
fn warnings_do_not_stop_the_build() {
    let manifest = fixture("checks/memory-size-not-block.toml");
    let spec = load(&manifest, &repo_root()).expect("a warning must not fail loading");
    let warning = spec.warnings().iter().next().expect("warning kept");
    assert_eq!(warning.code(), Code::MemorySizeNotBlock);
    assert_eq!(warning.severity(), Severity::Warning);
    assert_eq!(spec.partitions()[0].ram.size(), 0x400_1000);
    let dma = load(&fixture("checks/dma-without-iommu.toml"), &repo_root())
        .expect("DMA without IOMMU is a warning by default");
    assert!(
        dma.warnings()
            .iter()
            .all(|item| item.severity() == Severity::Warning)
    );
    let error = load(
        &fixture("checks/dma-without-iommu-error.toml"),
        &repo_root(),
    )
    .expect_err("the error policy fails the build");
    assert_eq!(error.errors().count(), 1);
}

#[test]
fn several_problems_are_reported_in_one_run() {
    let diagnostics = check_fixture("core-pinned-twice");
    assert_eq!(diagnostics.errors().count(), 2);
    let diagnostics = check_fixture("unknown-key");
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

// [utest->dsn~config-manifest~1]
#[test]
fn unknown_keys_suggest_the_closest_known_key() {
    let diagnostics = check_fixture("unknown-key");
    let helps: Vec<&str> = diagnostics.iter().filter_map(|item| item.help()).collect();
    assert_eq!(
        helps,
        ["did you mean `base`?", "did you mean `fault_policy`?"]
    );
}

#[test]
fn a_warning_and_an_error_are_told_apart_in_the_rendering() {
    let diagnostics = check_fixture("cache-colour-shared");
    let report = diagnostics.render(false);
    assert!(report.contains("1 error(s), 2 warning(s)"), "{report}");
    assert!(report.contains("NOT enforced"), "{report}");
}

/// Control characters in names reach messages and labels escaped (`\u{1b}`), never raw:
/// `ESC [2J` in a partition name must not clear the terminal of whoever runs `check`.
#[test]
fn escape_sequences_in_names_are_escaped_in_the_rendering() {
    let diagnostics = check_fixture("name-escape-sequence");
    let rendered = diagnostics.render(false);
    assert!(
        !rendered.contains('\u{1b}') && !rendered.contains('\u{7}'),
        "raw control characters in:\n{rendered}"
    );
    assert!(rendered.contains("`\\u{1b}[2Jowned`"), "{rendered}");
    assert!(rendered.contains("\\u{1b}]0;title\\u{7}"), "{rendered}");
    // The programmatic message keeps the name as written; only what is printed is escaped.
    let message = diagnostics.iter().next().unwrap().message().to_owned();
    assert!(message.contains('\u{1b}'), "{message}");
}

// [utest->dsn~config-checks~1]
#[test]
fn identity_ram_is_placed_at_the_guest_ram_address_and_points_at_the_hypervisor_fix() {
    let directory = tempfile::tempdir().unwrap();
    let manifest = directory.path().join("identity.toml");
    std::fs::write(
        &manifest,
        "[system]\nboard = \"qemu-virt\"\nhypervisor_memory = { base = 0x5000_0000, size = \"32MiB\" }\n\n\
         [[partition]]\nname = \"alpha\"\nimage = { crate = \"heartbeat\" }\nmemory = { size = \"64MiB\", identity = true }\ncpus = [0]\n\n\
         [[partition]]\nname = \"beta\"\nimage = { crate = \"heartbeat\" }\nmemory = { size = \"16MiB\" }\ncpus = [1]\n",
    )
    .unwrap();
    let spec = load(&manifest, &repo_root()).unwrap_or_else(|diagnostics| panic!("{diagnostics:#}"));
    let alpha = &spec.partitions()[0];
    assert_eq!(alpha.ram.base(), 0x4000_0000, "IPA = PA");
    assert_eq!(alpha.placement, bulkhead_config::Placement::Identity);
    assert_ne!(spec.partitions()[1].placement, bulkhead_config::Placement::Identity);
    // Under the board's hypervisor the error says how to move it.
    let rejected = check_fixture("identity-ram-overlaps-hypervisor");
    let text = format!("{rejected:#}");
    assert!(text.contains("hypervisor_memory = { base = 0x4400_0000"), "{text}");
}
