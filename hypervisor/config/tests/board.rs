//! Board loading: facts read from real and test device trees, and errors reported against
//! `board.toml`.
//!
//! Verifies: [utest->dsn~config-board~1]

mod common;

use bulkhead_config::{Board, Diagnostics, load};
use bulkhead_core::addr::PhysAddr;
use bulkhead_core::system::{Gic, SecondaryBoot, Uart, UartKind};
use common::{assert_markers, fixture, repo_root};

fn qemu_virt() -> Board {
    let mut diagnostics = Diagnostics::new();
    let directory = Board::directory_of(&repo_root(), "qemu-virt").expect("qemu-virt board exists");
    let board = Board::load(&directory, &mut diagnostics);
    assert!(diagnostics.is_empty(), "{}", diagnostics.render(false));
    board.expect("qemu-virt loads")
}

#[test]
fn qemu_virt_facts_come_from_its_device_tree() {
    let board = qemu_virt();
    assert_eq!(board.name, "qemu-virt");
    let ram: Vec<(u64, u64)> = board
        .ram
        .iter()
        .map(|range| (range.base(), range.size()))
        .collect();
    assert_eq!(ram, [(0x4000_0000, 0x4000_0000)]);
    assert_eq!(
        (board.hypervisor.base(), board.hypervisor.size()),
        (0x4000_0000, 32 << 20)
    );
    let mpidrs: Vec<u64> = board.cores.iter().map(|core| core.mpidr).collect();
    assert_eq!(mpidrs, [0, 1, 2, 3]);
    assert_eq!(board.cores[2].compatible, ["arm,cortex-a72"]);
    assert_eq!(
        board.gic,
        Gic::V3 {
            distributor: PhysAddr(0x0800_0000),
            redistributors: PhysAddr(0x080a_0000),
            redistributor_stride: 0x2_0000
        }
    );
    assert_eq!(
        board.console.uart,
        Uart {
            kind: UartKind::Pl011,
            base: PhysAddr(0x0900_0000),
            intid: 33
        }
    );
    assert_eq!(board.console.path, "/pl011@9000000");
    let log = board.log.as_ref().expect("log UART");
    assert_eq!(
        log.uart,
        Uart {
            kind: UartKind::Pl011,
            base: PhysAddr(0x0904_0000),
            intid: 40
        }
    );
    assert_eq!(board.secondary_boot, SecondaryBoot::PsciSmc);
    assert_eq!(board.counter_frequency, None);
    // Redistributors of the four cores only, not the whole 0xf6_0000 region QEMU declares.
    let mmio: Vec<(u64, u64)> = board
        .hypervisor_mmio()
        .iter()
        .map(|range| (range.base(), range.size()))
        .collect();
    assert_eq!(
        mmio,
        [
            (0x0800_0000, 0x1_0000),
            (0x080a_0000, 0x8_0000),
            (0x0900_0000, 0x1000),
            (0x0904_0000, 0x1000),
            (0x0a00_2000, 0x1000),
        ],
        "GICD, GICR, both UARTs and the boot-seed virtio-rng's page"
    );
    assert_eq!(board.qemu.machine, "virt,virtualization=on,gic-version=3");
    assert_eq!(board.qemu.smp, 4);
    assert_eq!(board.qemu.serial_ports, 2);
    assert!(
        board.dtb.starts_with(&[0xd0, 0x0d, 0xfe, 0xed]),
        "not an FDT"
    );
}

#[test]
fn gicv2_board_addresses_are_translated_through_bus_ranges() {
    let spec = load(&fixture("boards/test-gicv2.toml"), &fixture(""))
        .unwrap_or_else(|error| panic!("{error:#}"));
    let board = spec.board();
    assert_eq!(
        board.gic,
        Gic::V2 {
            distributor: PhysAddr(0xf901_0000),
            cpu_interface: PhysAddr(0xf902_f000),
            hypervisor_interface: PhysAddr(0xf904_0000),
            virtual_cpu_interface: PhysAddr(0xf906_f000),
        }
    );
    // SPI 21 is INTID 53.
    assert_eq!(
        board.console.uart,
        Uart {
            kind: UartKind::Cadence,
            base: PhysAddr(0xff00_0000),
            intid: 53
        }
    );
    assert!(board.log.is_none());
    let mpidrs: Vec<u64> = board.cores.iter().map(|core| core.mpidr).collect();
    assert_eq!(mpidrs, [0x0, 0x100]);
    let ram: Vec<(u64, u64)> = board
        .ram
        .iter()
        .map(|range| (range.base(), range.size()))
        .collect();
    assert_eq!(
        ram,
        [(0, 0x4000_0000), (0x8_0000_0000, 0x4000_0000)],
        "sorted by address"
    );
    assert_eq!(board.secondary_boot, SecondaryBoot::PsciHvc);
    assert_eq!(board.counter_frequency, Some(100_000_000));
    // The GICV frame belongs to guests (stage 2), not to the hypervisor's own mappings.
    assert!(
        !board
            .hypervisor_mmio()
            .iter()
            .any(|range| range.base() == 0xf906_0000)
    );
    // Allocation starts right after the hypervisor reservation.
    assert_eq!(spec.partitions()[0].ram.base(), 0x1100_0000);
}

fn board_errors(board: &str) -> Diagnostics {
    let manifest = fixture(&format!("boards/{board}.toml"));
    let diagnostics = load(&manifest, &fixture("")).expect_err("broken board accepted");
    assert_markers(
        &diagnostics,
        &[
            manifest,
            fixture(&format!("board-configs/{board}/board.toml")),
        ],
    );
    diagnostics
}

#[test]
fn board_toml_mistakes_are_reported_against_board_toml() {
    let diagnostics = board_errors("broken");
    assert_eq!(
        diagnostics.warnings().count(),
        1,
        "the smp mismatch is only a warning"
    );
}

/// `[entropy]` must name an enabled node of the kind `source` says: the hypervisor maps and
/// drives its registers at boot.
#[test]
fn an_entropy_source_that_is_not_in_the_tree_or_not_an_rng_is_rejected_at_its_line() {
    let wrong_kind = board_errors("entropy-wrong-kind").render(false);
    assert!(wrong_kind.contains("is not an enabled `brcm,bcm2711-rng200` node"), "{wrong_kind}");
    let missing = board_errors("entropy-missing-node").render(false);
    assert!(missing.contains("`/virtio_mmio@a002000` is neither a node path"), "{missing}");
}

/// The QEMU `virt` boards draw their boot seeds from a virtio-rng on the transport
/// `board.toml` names: QEMU's bus 16, a page the hypervisor keeps.
#[test]
fn qemu_virt_keeps_the_page_of_its_virtio_rng_transport() {
    let board = qemu_virt();
    let entropy = board.entropy.as_ref().expect("qemu-virt has [entropy]");
    assert_eq!(entropy.device, bulkhead_core::system::EntropyDevice::VirtioRng);
    assert_eq!((entropy.registers.base(), entropy.registers.size()), (0x0a00_2000, 0x200));
    assert_eq!(entropy.qemu_bus, Some(16), "the 17th transport by address");
    let page = board.hypervisor_mmio().into_iter().find(|range| range.contains(entropy.registers));
    assert_eq!(page.map(|range| (range.base(), range.size())), Some((0x0a00_2000, 0x1000)), "the whole page");
}

#[test]
fn a_device_tree_without_a_gic_is_rejected() {
    board_errors("no-gic");
}

/// `secondary_boot = "spin-table"` needs every secondary cpu node's `cpu-release-addr`: the
/// hypervisor would have nowhere to write the entry of a core the tree gives no slot.
#[test]
fn a_spin_table_board_whose_cores_have_no_release_address_is_rejected() {
    let report = board_errors("spin-table-no-slot").render(false);
    assert!(report.contains("/cpus/cpu@100 have no cpu-release-addr"), "{report}");
}

#[test]
fn a_dts_that_dtc_rejects_is_reported_with_dtc_output() {
    let diagnostics = board_errors("bad-dts");
    let report = diagnostics.render(false);
    assert!(report.contains("bad-dts.dts"), "{report}");
}
