//! Real, unmodified device trees: QEMU `virt`'s dump, and the upstream Linux trees of the
//! Xilinx ZCU102 and the Raspberry Pi 4 as Debian ships them (fetched by
//! `common::debian_dtbs`). The compiler must read their memory, cores, GIC, timers, UARTs and
//! pass-through-able devices correctly, and accept the example manifest of each board.
//!
//! Verifies: [utest->dsn~config-board~1]

mod common;

use std::path::Path;
use std::process::Command;

use bulkhead_config::board::DeviceTreeOrigin;
use bulkhead_config::devices::{self, DeviceInterrupt};
use bulkhead_config::{Board, Code, Diagnostics, Severity, load};
use bulkhead_core::addr::PhysAddr;
use bulkhead_core::system::{Gic, SecondaryBoot, Trigger, Uart, UartKind};
use common::{debian_dtbs, repo_root};

fn board(name: &str) -> Board {
    if name != "qemu-virt" {
        debian_dtbs::ensure(name);
    }
    let mut diagnostics = Diagnostics::new();
    let directory = Board::directory_of(&repo_root(), name).expect("board directory");
    let board = Board::load(&directory, &mut diagnostics);
    assert!(diagnostics.is_empty(), "{}", diagnostics.render(false));
    board.expect("board loads")
}

fn ranges(board: &Board) -> Vec<(u64, u64)> {
    board
        .ram
        .iter()
        .map(|range| (range.base(), range.size()))
        .collect()
}

/// (pages, INTIDs, DMA-capable) of the device named `reference`.
fn device(board: &Board, reference: &str) -> (Vec<(u64, u64)>, Vec<u32>, bool) {
    let node = board
        .tree
        .resolve(reference)
        .unwrap_or_else(|| panic!("{reference} not in {}", board.name));
    let info =
        devices::describe(board, node).unwrap_or_else(|error| panic!("{reference}: {error}"));
    (
        info.pages
            .iter()
            .map(|page| (page.base(), page.size()))
            .collect(),
        info.interrupts
            .iter()
            .map(|interrupt: &DeviceInterrupt| interrupt.intid)
            .collect(),
        info.dma.is_some(),
    )
}

#[test]
fn zcu102_facts_come_from_the_upstream_tree() {
    let board = board("zcu102");
    assert!(matches!(board.origin, DeviceTreeOrigin::Debian { .. }));
    assert!(!board.ram_from_board_toml);
    // Two DDR banks: 2 GiB low, 2 GiB at 32 GiB.
    assert_eq!(
        ranges(&board),
        [(0, 0x8000_0000), (0x8_0000_0000, 0x8000_0000)]
    );
    let cores: Vec<(u64, &str)> = board
        .cores
        .iter()
        .map(|core| (core.mpidr, core.compatible[0].as_str()))
        .collect();
    assert_eq!(
        cores,
        [
            (0, "arm,cortex-a53"),
            (1, "arm,cortex-a53"),
            (2, "arm,cortex-a53"),
            (3, "arm,cortex-a53")
        ]
    );
    // GIC-400: GICD, GICC, GICH, GICV; GICC and GICV are 128 KiB with 4 KiB pages aliased over
    // 64 KiB, so their contiguous 8 KiB views start 0xF000 in.
    assert_eq!(
        board.gic,
        Gic::V2 {
            distributor: PhysAddr(0xf901_0000),
            cpu_interface: PhysAddr(0xf902_f000),
            hypervisor_interface: PhysAddr(0xf904_0000),
            virtual_cpu_interface: PhysAddr(0xf906_f000),
        }
    );
    assert_eq!(board.maintenance_intid, Some(25));
    let timer = board.timer_interrupts.expect("timer node");
    assert_eq!(
        (
            timer.secure_physical,
            timer.physical,
            timer.virtual_timer,
            timer.hypervisor_physical
        ),
        (29, 30, 27, 26)
    );
    assert_eq!(
        board.counter_frequency, None,
        "the tree leaves CNTFRQ to firmware"
    );
    assert_eq!(board.secondary_boot, SecondaryBoot::PsciSmc);
    // Cadence UARTs: SPI 21 and 22.
    assert_eq!(
        board.console.uart,
        Uart {
            kind: UartKind::Cadence,
            base: PhysAddr(0xff00_0000),
            intid: 53
        }
    );
    let uart1 = board.uart("serial1").unwrap();
    assert_eq!(
        uart1.uart,
        Uart {
            kind: UartKind::Cadence,
            base: PhysAddr(0xff01_0000),
            intid: 54
        }
    );
    assert_eq!(board.uarts().len(), 2);
    // The SMMU is in the tree but disabled: no IOMMU isolates anything.
    assert!(board.iommus.is_empty());
    assert!(board.tree.node("/axi/iommu@fd800000").is_some());
    assert_eq!(
        board.cache_colours.as_ref().map(|colours| colours.count),
        Some(16)
    );
    // Pass-through-able devices, named by alias or path.
    assert_eq!(
        device(&board, "ethernet0"),
        (vec![(0xff0e_0000, 0x1000)], vec![95], true)
    );
    assert_eq!(
        device(&board, "/axi/gpio@ff0a0000"),
        (vec![(0xff0a_0000, 0x1000)], vec![48], false)
    );
    assert_eq!(
        device(&board, "rtc0"),
        (vec![(0xffa6_0000, 0x1000)], vec![58, 59], false)
    );
    assert_eq!(
        device(&board, "/axi/can@ff070000"),
        (vec![(0xff07_0000, 0x1000)], vec![56], false)
    );
    assert!(device(&board, "/axi/dma-controller@fd500000").2);
}

#[test]
fn rpi4_facts_come_from_the_upstream_tree() {
    let board = board("rpi4");
    // The upstream memory node is `reg = <0 0 0>` (firmware fills it): RAM is board.toml's.
    let memory = board.tree.node("/memory@0").expect("memory node");
    assert_eq!(
        memory.physical_reg.as_ref().map(|regs| regs[0].size),
        Some(0)
    );
    assert!(board.ram_from_board_toml);
    assert_eq!(
        ranges(&board),
        [(0, 0x3b40_0000), (0x4000_0000, 0x4000_0000)]
    );
    let mpidrs: Vec<u64> = board.cores.iter().map(|core| core.mpidr).collect();
    assert_eq!(mpidrs, [0, 1, 2, 3]);
    assert_eq!(board.cores[0].compatible, ["arm,cortex-a72"]);
    // GIC-400 behind /soc's `ranges` (0x4000_0000 → 0xff80_0000).
    assert_eq!(
        board.gic,
        Gic::V2 {
            distributor: PhysAddr(0xff84_1000),
            cpu_interface: PhysAddr(0xff84_2000),
            hypervisor_interface: PhysAddr(0xff84_4000),
            virtual_cpu_interface: PhysAddr(0xff84_6000),
        }
    );
    assert_eq!(board.maintenance_intid, Some(25));
    let timer = board.timer_interrupts.expect("timer node");
    assert_eq!((timer.physical, timer.virtual_timer), (30, 27));
    // PL011 UART0 and the mini-UART, translated from 0x7e… bus addresses.
    assert_eq!(
        board.console.uart,
        Uart {
            kind: UartKind::Pl011,
            base: PhysAddr(0xfe20_1000),
            intid: 153
        }
    );
    let mini = board.uart("serial1").unwrap();
    assert_eq!(
        mini.uart,
        Uart {
            kind: UartKind::Bcm2835Aux,
            base: PhysAddr(0xfe21_5040),
            intid: 125
        }
    );
    assert_eq!(mini.path, "/soc/serial@7e215040");
    // The L2 cache node: 1024 sets × 64-byte lines = 64 KiB ways = 16 colours.
    let colours = board.cache_colours.as_ref().expect("cache described");
    assert_eq!(colours.count, 16);
    assert!(colours.source.contains("l2-cache"), "{}", colours.source);
    // From the tree: the armstub page only; board.toml adds the firmware framebuffer's window.
    let from_tree: Vec<_> = board
        .reserved
        .iter()
        .filter(|reserved| !reserved.source.starts_with("board.toml"))
        .collect();
    assert_eq!(from_tree.len(), 1, "the armstub page: {:?}", board.reserved);
    assert_eq!(
        (
            board.reserved[0].range.base(),
            board.reserved[0].range.size()
        ),
        (0, 0x1000)
    );
    // armstub8's spin table: the slots are in that reserved page, so no partition lands there.
    assert_eq!(board.secondary_boot, SecondaryBoot::SpinTable);
    let slots: Vec<Option<u64>> = board.cores.iter().map(|core| core.release_address).collect();
    assert_eq!(slots, [Some(0xd8), Some(0xe0), Some(0xe8), Some(0xf0)]);
    assert_eq!(
        device(&board, "/soc/gpio@7e200000"),
        (vec![(0xfe20_0000, 0x1000)], vec![145, 146, 147, 148], false)
    );
    assert_eq!(
        device(&board, "/soc/i2c@7e804000"),
        (vec![(0xfe80_4000, 0x1000)], vec![149], false)
    );
    assert!(device(&board, "ethernet0").2, "GENET masters the bus");
}

/// The Pi 4 draws its boot seeds from the BCM2711's iproc-rng200 (when the firmware's tree
/// lists it, which the image checks at boot): its page is the hypervisor's, not a partition's.
#[test]
fn rpi4_keeps_the_page_of_its_iproc_rng200() {
    let board = board("rpi4");
    let entropy = board.entropy.as_ref().expect("rpi4 has [entropy]");
    assert_eq!(entropy.device, bulkhead_core::system::EntropyDevice::IprocRng200);
    assert_eq!(entropy.node, "/soc/rng@7e104000");
    assert_eq!((entropy.registers.base(), entropy.registers.size()), (0xfe10_4000, 0x28));
    assert_eq!(entropy.qemu_bus, None);
    let page = board.hypervisor_mmio().into_iter().find(|range| range.contains(entropy.registers));
    assert_eq!(page.map(|range| (range.base(), range.size())), Some((0xfe10_4000, 0x1000)), "the whole page");
}

// [utest->dsn~config-devices~1]
#[test]
fn qemu_virt_pass_through_devices_come_from_its_dump() {
    let board = board("qemu-virt");
    assert_eq!(
        device(&board, "/pl061@9030000"),
        (vec![(0x0903_0000, 0x1000)], vec![39], false)
    );
    assert_eq!(
        device(&board, "/virtio_mmio@a000000"),
        (vec![(0x0a00_0000, 0x1000)], vec![48], true)
    );
    let node = board.tree.resolve("/pl031@9010000").unwrap();
    let info = devices::describe(&board, node).unwrap();
    assert_eq!(info.interrupts[0].trigger(), Trigger::Level);
}

// [utest->dsn~config-board~1]
#[test]
fn a_zcu102_system_can_take_uart1_for_the_log_and_then_no_partition_has_it() {
    debian_dtbs::ensure("zcu102");
    let directory = tempfile::tempdir().unwrap();
    let system = "[system]\nboard = \"zcu102\"\nlog = \"serial1\"\n\n[[partition]]\nname = \"alpha\"\nimage = { crate = \"heartbeat\" }\nmemory = { size = \"16MiB\" }\ncpus = [0]\n";
    let manifest = directory.path().join("log.toml");
    std::fs::write(&manifest, system).unwrap();
    let spec = load(&manifest, &repo_root()).unwrap_or_else(|diagnostics| panic!("{diagnostics:#}"));
    let log = spec.board().log.as_ref().expect("[system] log names UART1");
    assert_eq!(
        log.uart,
        Uart {
            kind: UartKind::Cadence,
            base: PhysAddr(0xff01_0000),
            intid: 54
        }
    );
    assert!(spec.board().hypervisor_mmio().iter().any(|range| range.base() == 0xff01_0000));
    // The board alone has no log; UART1 is a partition's to take.
    assert!(board("zcu102").log.is_none());
    // Once the log, UART1 is the hypervisor's: passing it through is refused.
    std::fs::write(&manifest, format!("{system}devices = [\"serial1\"]\n")).unwrap();
    let diagnostics = load(&manifest, &repo_root()).expect_err("the log UART passed through");
    assert!(
        diagnostics.errors().any(|item| item.code() == Code::DeviceOwnedByHypervisor),
        "{}",
        diagnostics.render(false)
    );
}

// [utest->dsn~config-board~1]
#[test]
fn log_none_frees_the_boards_log_uart_for_a_partition() {
    let directory = tempfile::tempdir().unwrap();
    let manifest = directory.path().join("no-log.toml");
    let partition = "[[partition]]\nname = \"alpha\"\nimage = { crate = \"heartbeat\" }\nmemory = { size = \"16MiB\" }\ncpus = [0]\nconsole = { passthrough = \"serial1\" }\n";
    // qemu-virt's board.toml makes the second PL011 the log: passing it through is refused…
    std::fs::write(&manifest, format!("[system]\nboard = \"qemu-virt\"\n\n{partition}")).unwrap();
    let diagnostics = load(&manifest, &repo_root()).expect_err("the log UART passed through");
    assert!(
        diagnostics.errors().any(|item| item.code() == Code::DeviceOwnedByHypervisor),
        "{}",
        diagnostics.render(false)
    );
    // …until the system has no log.
    std::fs::write(&manifest, format!("[system]\nboard = \"qemu-virt\"\nlog = \"none\"\n\n{partition}")).unwrap();
    let spec = load(&manifest, &repo_root()).unwrap_or_else(|diagnostics| panic!("{diagnostics:#}"));
    assert!(spec.board().log.is_none());
    assert!(!spec.board().hypervisor_mmio().iter().any(|range| range.base() == 0x0904_0000));
}

// [utest->dsn~config-devices~1]
#[test]
fn the_rpi4_mini_uart_shares_its_page_with_the_aux_block() {
    debian_dtbs::ensure("rpi4");
    let directory = tempfile::tempdir().unwrap();
    let manifest = directory.path().join("mini-uart.toml");
    std::fs::write(
        &manifest,
        "[system]\nboard = \"rpi4\"\n\n[[partition]]\nname = \"alpha\"\nimage = { crate = \"heartbeat\" }\nmemory = { size = \"16MiB\" }\ncpus = [0]\ndevices = [\"serial1\"]\n",
    )
    .unwrap();
    let diagnostics = load(&manifest, &repo_root()).expect_err("a shared page is an error");
    let shared = diagnostics
        .errors()
        .find(|item| item.code() == Code::DevicePageShared)
        .unwrap_or_else(|| panic!("{}", diagnostics.render(false)));
    assert!(
        shared.message().contains("/soc/aux@7e215000"),
        "{}",
        shared.message()
    );
    assert!(
        shared.message().contains("/soc/spi@7e215080"),
        "{}",
        shared.message()
    );
    assert_eq!(shared.line(), Some(9));
}

/// `dtc -I dtb -O dts` of `blob`; fails on any dtc warning.
fn decompile(path: &Path) -> String {
    let output = Command::new("dtc")
        .args(["-I", "dtb", "-O", "dts", "-o", "-"])
        .arg(path)
        .output()
        .expect("dtc runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stderr.trim().is_empty(),
        "dtc complained about {}:\n{stderr}",
        path.display()
    );
    String::from_utf8(output.stdout).unwrap()
}

/// Checks `board-configs/<board>/example.toml` (no images: their checks are skipped), writing
/// the outputs; returns the warnings' codes and the output directory.
fn check_example(board: &str) -> (Vec<Code>, tempfile::TempDir) {
    // The QEMU boards' trees are committed DTS files; the others come from Debian.
    if !board.starts_with("qemu-virt") {
        debian_dtbs::ensure(board);
    }
    let out = tempfile::tempdir().unwrap();
    let report = bulkhead_config::check(&bulkhead_config::CheckOptions {
        manifest: repo_root()
            .join("board-configs")
            .join(board)
            .join("example.toml"),
        repo_root: repo_root(),
        guest_images: Default::default(),
        out_dir: Some(out.path().to_path_buf()),
    })
    .unwrap_or_else(|diagnostics| panic!("{diagnostics:#}"));
    assert!(
        report
            .warnings
            .iter()
            .all(|item| item.severity() == Severity::Warning)
    );
    assert_eq!(report.skipped().count(), report.spec.partitions().len());
    assert!(!report.system_rs_generated);
    for partition in report.spec.partitions() {
        decompile(&out.path().join(format!("{}.dtb", partition.name)));
    }
    let codes = report.warnings.iter().map(|item| item.code()).collect();
    (codes, out)
}

#[test]
fn the_qemu_virt_example_is_accepted_without_warnings() {
    let (codes, out) = check_example("qemu-virt");
    assert!(codes.is_empty(), "{codes:?}");
    let dts = decompile(&out.path().join("control.dtb"));
    // The GPIO controller at its physical address, SPI 7 renumbered to guest INTID 48, its
    // fixed APB clock copied along.
    assert!(dts.contains("pl061@9030000 {"), "{dts}");
    assert!(dts.contains("interrupts = <0x00 0x10 0x04>;"), "{dts}");
    assert!(dts.contains("passthrough-clock-3 {"), "{dts}");
    assert!(dts.contains("compatible = \"bulkhead,channel\";"), "{dts}");
    assert!(
        dts.contains("compatible = \"bulkhead,memory-region\";"),
        "{dts}"
    );
}

#[test]
fn the_qemu_virt_gicv2_example_gives_its_guests_a_gicv2() {
    let (codes, out) = check_example("qemu-virt-gicv2");
    assert!(codes.is_empty(), "{codes:?}");
    let dts = decompile(&out.path().join("control.dtb"));
    // The distributor (4 KiB register map) and the CPU interface, which is the board's GICV
    // frame mapped at 0x0801_0000; no redistributors, no GICH/GICV, no maintenance interrupt.
    assert!(dts.contains("compatible = \"arm,cortex-a15-gic\";"), "{dts}");
    assert!(
        dts.contains("reg = <0x00 0x8000000 0x00 0x1000 0x00 0x8010000 0x00 0x2000>;"),
        "{dts}"
    );
    assert!(!dts.contains("arm,gic-v3"), "{dts}");
    assert!(!dts.contains("#redistributor-regions"), "{dts}");
}

#[test]
fn the_zcu102_example_is_accepted_with_honest_warnings() {
    let (codes, out) = check_example("zcu102");
    assert_eq!(
        codes,
        [
            Code::DmaWithoutIommu,
            Code::CacheColouringNotEnforced,
            Code::CacheColouringNotEnforced,
            // No BH0510 since the GICv2 backend exists (its Cadence UART has a driver too).
        ]
    );
    let dts = decompile(&out.path().join("safety.dtb"));
    assert!(dts.contains("stdout-path = \"/serial@ff010000\";"), "{dts}");
    // RTC: SPIs 26 and 27 become guest INTIDs 49 and 50 (SPIs 17, 18), in specifier order.
    assert!(
        dts.contains("interrupts = <0x00 0x11 0x04 0x00 0x12 0x04>;"),
        "{dts}"
    );
    let report = std::fs::read_to_string(out.path().join("report.md")).unwrap();
    assert!(report.contains("**Not enforced:**"), "{report}");
    assert!(
        report.contains("power-domains"),
        "dropped properties are listed:\n{report}"
    );
}

#[test]
fn the_rpi4_example_is_accepted_with_honest_warnings() {
    let (codes, out) = check_example("rpi4");
    assert_eq!(
        codes,
        [
            Code::CacheColouringNotEnforced,
            Code::CacheColouringNotEnforced,
            // No BH0510 since the GICv2 backend exists (the console is a PL011).
        ]
    );
    let dts = decompile(&out.path().join("control.dtb"));
    // The GPIO block at its CPU address (not the 0x7e… bus address).
    assert!(dts.contains("gpio@fe200000 {"), "{dts}");
    assert!(dts.contains("reg = <0x00 0xfe200000 0x00 0xb4>;"), "{dts}");
    let svg = std::fs::read_to_string(out.path().join("memory-map.svg")).unwrap();
    assert!(svg.starts_with("<?xml") && svg.trim_end().ends_with("</svg>"));
}
