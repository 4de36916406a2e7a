//! The generated guest device tree: `dtc` decompiles it without complaint and it holds the
//! nodes guests rely on; the `fdt` crate (what a Rust guest uses) reads the same values.
//!
//! Verifies: [utest->dsn~config-guest-dtb~1]

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use bulkhead_config::{CompiledSystem, Options, compile};
use common::{demo_guest, fixture, repo_root};

fn compile_good(directory: &Path) -> CompiledSystem {
    let mut guest_images = BTreeMap::new();
    for name in ["heartbeat", "probe"] {
        let path = directory.join(format!("{name}.elf"));
        std::fs::write(&path, demo_guest(name.as_bytes())).unwrap();
        guest_images.insert(name.to_owned(), path);
    }
    compile(&Options {
        manifest: fixture("good-qemu-virt.toml"),
        repo_root: repo_root(),
        out_dir: directory.join("out"),
        guest_images,
    })
    .unwrap_or_else(|diagnostics| panic!("{diagnostics:#}"))
}

/// `dtc -I dtb -O dts` of `path`; fails on any dtc warning.
fn decompile(path: &Path) -> String {
    let output = Command::new("dtc")
        .args(["-I", "dtb", "-O", "dts", "-o", "-"])
        .arg(path)
        .output()
        .expect("dtc runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stderr.trim().is_empty(),
        "dtc complained:\n{stderr}"
    );
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn guest_device_tree_decompiles_with_every_expected_node() {
    let directory = tempfile::tempdir().unwrap();
    let compiled = compile_good(directory.path());
    let dts = decompile(&compiled.partitions[0].dtb);
    for expected in [
        "compatible = \"bulkhead,partition\\0linux,dummy-virt\";",
        "model = \"alpha\";",
        "#address-cells = <0x02>;",
        "#size-cells = <0x02>;",
        "interrupt-parent = <0x01>;",
        "bootargs = \"heartbeats\";",
        "stdout-path = \"/pl011@9000000\";",
        "serial0 = \"/pl011@9000000\";",
        "memory@40000000 {",
        "device_type = \"memory\";",
        // 64 MiB of guest RAM at IPA 0x4000_0000.
        "reg = <0x00 0x40000000 0x00 0x4000000>;",
        "cpu@0 {",
        "cpu@1 {",
        "compatible = \"arm,cortex-a72\";",
        "enable-method = \"psci\";",
        "compatible = \"arm,psci-1.0\\0arm,psci-0.2\\0arm,psci\";",
        "method = \"hvc\";",
        "intc@8000000 {",
        "compatible = \"arm,gic-v3\";",
        "#interrupt-cells = <0x03>;",
        "interrupt-controller;",
        // vGICD 64 KiB, then one 128 KiB redistributor per vCPU (two vCPUs).
        "reg = <0x00 0x8000000 0x00 0x10000 0x00 0x80a0000 0x00 0x40000>;",
        "#redistributor-regions = <0x01>;",
        "phandle = <0x01>;",
        "compatible = \"arm,armv8-timer\";",
        // PPIs 13, 14, 11, 10, level-high.
        "interrupts = <0x01 0x0d 0x04 0x01 0x0e 0x04 0x01 0x0b 0x04 0x01 0x0a 0x04>;",
        "always-on;",
        "apb-pclk {",
        "compatible = \"fixed-clock\";",
        "clock-frequency = <0x16e3600>;",
        "pl011@9000000 {",
        "compatible = \"arm,pl011\\0arm,primecell\";",
        "reg = <0x00 0x9000000 0x00 0x1000>;",
        "interrupts = <0x00 0x01 0x04>;",
        "clocks = <0x02 0x02>;",
        "clock-names = \"uartclk\\0apb_pclk\";",
    ] {
        assert!(dts.contains(expected), "missing `{expected}` in:\n{dts}");
    }
    assert!(!dts.contains("cpu@2"), "alpha has two vCPUs:\n{dts}");
}

#[test]
fn guest_device_tree_reads_back_with_the_fdt_crate() {
    let directory = tempfile::tempdir().unwrap();
    let compiled = compile_good(directory.path());
    let blob = std::fs::read(&compiled.partitions[1].dtb).unwrap();
    let tree = fdt::Fdt::new(&blob).expect("valid FDT");
    assert_eq!(tree.root().model(), "beta");
    assert_eq!(tree.chosen().bootargs(), Some("heartbeats fault-after=3"));
    assert_eq!(
        tree.chosen().stdout().map(|node| node.name),
        Some("pl011@9000000")
    );
    let memory: Vec<(usize, Option<usize>)> = tree
        .memory()
        .regions()
        .map(|region| (region.starting_address as usize, region.size))
        .collect();
    assert_eq!(memory, [(0x4000_0000, Some(32 << 20))]);
    assert_eq!(tree.cpus().count(), 1);
    let gic = tree.find_compatible(&["arm,gic-v3"]).expect("GIC node");
    let frames: Vec<(usize, Option<usize>)> = gic
        .reg()
        .unwrap()
        .map(|region| (region.starting_address as usize, region.size))
        .collect();
    assert_eq!(
        frames,
        [(0x0800_0000, Some(0x1_0000)), (0x080a_0000, Some(0x2_0000))]
    );
    let parent = tree
        .root()
        .property("interrupt-parent")
        .and_then(|property| property.as_usize())
        .expect("root interrupt-parent");
    assert_eq!(
        tree.find_phandle(parent as u32).map(|node| node.name),
        Some("intc@8000000")
    );
}

#[test]
fn chosen_carries_seed_placeholders_whose_offsets_the_generated_table_records() {
    // Linux reads `/chosen/kaslr-seed` (8 bytes) and `/chosen/rng-seed`; the hypervisor
    // fills them per boot at the offsets `Partition::boot_seeds` gives.
    let directory = tempfile::tempdir().unwrap();
    let compiled = compile_good(directory.path());
    let blob = std::fs::read(&compiled.partitions[0].dtb).unwrap();
    let tree = fdt::Fdt::new(&blob).expect("valid FDT");
    let chosen = tree.find_node("/chosen").expect("/chosen");
    let kaslr = chosen.property("kaslr-seed").expect("kaslr-seed");
    let rng = chosen.property("rng-seed").expect("rng-seed");
    assert_eq!(kaslr.value, [0u8; 8]);
    assert_eq!(rng.value.len(), bulkhead_core::boot_seed::RNG_SEED_BYTES);
    let seeds = bulkhead_core::boot_seed::locate(&blob).expect("seeds located");
    // The located value bytes are the ones the fdt crate reads.
    let offset_of = |value: &[u8]| value.as_ptr() as usize - blob.as_ptr() as usize;
    assert_eq!(seeds.kaslr_seed, offset_of(kaslr.value));
    assert_eq!(seeds.rng_seed, offset_of(rng.value));
    let system_rs = std::fs::read_to_string(directory.path().join("out/system.rs")).unwrap();
    assert!(
        system_rs.contains(&format!("kaslr_seed: {}", seeds.kaslr_seed))
            && system_rs.contains(&format!("rng_seed_name: {}", seeds.rng_seed_name)),
        "system.rs does not record the seed offsets:\n{system_rs}"
    );
}

/// A partition with a display layer sees its framebuffer as a `simple-framebuffer` node (what
/// Linux's simpledrm binds to) with its pixels kept out of the allocator; a partition
/// without one sees neither node.
// [utest->dsn~display-config~1]
#[test]
fn a_display_layer_is_a_simple_framebuffer_in_its_partitions_tree() {
    let directory = tempfile::tempdir().unwrap();
    let mut guest_images = std::collections::BTreeMap::new();
    let image = directory.path().join("heartbeat.elf");
    std::fs::write(&image, common::demo_guest(b"heartbeat code")).unwrap();
    guest_images.insert("heartbeat".to_owned(), image);
    let compiled = bulkhead_config::compile(&bulkhead_config::Options {
        manifest: common::fixture("good-display.toml"),
        repo_root: common::repo_root(),
        out_dir: directory.path().join("out"),
        guest_images,
    })
    .unwrap_or_else(|diagnostics| panic!("{diagnostics:#}"));
    let media = decompile(&compiled.partitions[1].dtb);
    for expected in [
        "reserved-memory {",
        "ranges;",
        "no-map;",
        "framebuffer@40800000 {",
        "compatible = \"simple-framebuffer\";",
        // 240 rows of 1024 bytes.
        "reg = <0x00 0x40800000 0x00 0x3c000>;",
        "width = <0x140>;",
        "height = <0xf0>;",
        "stride = <0x400>;",
        "format = \"r5g6b5\";",
        "bulkhead,layer = <0x01>;",
        // The virtual vblank: PPI 0 (INTID 16), edge-triggered.
        "interrupts = <0x01 0x00 0x01>;",
    ] {
        assert!(media.contains(expected), "missing `{expected}` in:\n{media}");
    }
    assert!(!media.contains("bulkhead,freeze-threshold"), "media is not critical:\n{media}");
    let cluster = decompile(&compiled.partitions[0].dtb);
    assert!(cluster.contains("format = \"x8r8g8b8\";"), "{cluster}");
    assert!(cluster.contains("bulkhead,freeze-threshold = <0x1e>;"), "{cluster}");
    let plain = compile_good(directory.path());
    assert!(!decompile(&plain.partitions[0].dtb).contains("framebuffer"));
}
