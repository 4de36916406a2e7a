//! Every QEMU command line xtask and the tests build, for every board and mode, asks for
//! exactly the devices Bulkhead uses: nothing that loads a firmware file a minimal QEMU
//! installation lacks (a fresh machine once failed with `failed to find romfile
//! "efi-virtio.rom"` because QEMU `virt` adds a default virtio NIC).

use std::fs;
use std::path::{Path, PathBuf};

use xtask::bench::{self, floor, machine, xen};
use xtask::board_dts;
use xtask::paths::Repository;
use xtask::qemu::{QemuBoard, QemuRun};

fn repository() -> Repository {
    Repository::at(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."))
}

/// Every board in `board-configs/` with its `[qemu]` table.
fn boards() -> Vec<(String, QemuBoard)> {
    let repository = repository();
    let mut boards: Vec<_> = fs::read_dir(repository.root().join("board-configs"))
        .expect("board-configs/ is readable")
        .filter_map(Result::ok)
        .filter(|entry| entry.path().join("board.toml").is_file())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .map(|name| {
            let board = board_dts::board_qemu_settings(&repository, &name)
                .unwrap_or_else(|error| panic!("{name}: {error}"));
            (name, board)
        })
        .collect();
    boards.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(boards.len() >= 3, "expected the three boards, found {boards:?}");
    boards
}

/// Each mode's argument list for `board`, named.
fn command_lines(board: &QemuBoard) -> Vec<(&'static str, Vec<String>)> {
    let kernel = PathBuf::from("/out/bulkhead-hypervisor");
    let log = PathBuf::from("/out/hv-log.bin");
    let deterministic = machine::deterministic_board(board);
    let xen_image = xen::XenImage {
        image: PathBuf::from("/out/xen"),
        version: "4.17".to_owned(),
    };
    vec![
        (
            "run",
            QemuRun::interactive(board, kernel.clone(), Some(log.clone())).arguments(),
        ),
        (
            "test",
            QemuRun::piped(board, kernel.clone(), Some(log.clone()), Vec::new()).arguments(),
        ),
        (
            "bench",
            bench::bulkhead_qemu_run(&deterministic, kernel.clone(), log).arguments(),
        ),
        (
            "floor",
            floor::qemu_run(&deterministic, &kernel, Path::new("/out/probe.bin"), 0x4008_0000, 3)
                .arguments(),
        ),
        (
            "xen",
            xen::qemu_run(&deterministic, &xen_image, Path::new("/out/xen.dtb"), Path::new("/out/probe.bin"))
                .arguments(),
        ),
        ("dumpdtb", board_dts::dump_arguments(board, "board.dtb")),
    ]
}

/// Why `arguments` would make QEMU create a device Bulkhead did not ask for, if it would.
fn unwanted_devices(arguments: &[String]) -> Vec<String> {
    let mut problems = Vec::new();
    if !arguments.windows(2).any(|pair| pair == ["-nic", "none"]) {
        problems.push("no `-nic none`: QEMU adds its default NIC and loads its option ROM".to_owned());
    }
    for pair in arguments.windows(2) {
        let (option, value) = (pair[0].as_str(), pair[1].as_str());
        let loads_firmware = match option {
            // The generic loader copies a file we built into RAM; it has no ROM.
            "-device" => !value.starts_with("loader,"),
            "-nic" => value != "none",
            "-netdev" | "-net" | "-bios" | "-pflash" | "-drive" | "-option-rom" | "-usb" => true,
            _ => false,
        };
        if loads_firmware {
            problems.push(format!("`{option} {value}` asks for a device with firmware"));
        }
    }
    problems
}

#[test]
fn every_board_and_mode_disables_default_devices_and_loads_no_firmware() {
    let mut checked = 0;
    for (name, board) in boards() {
        for (mode, arguments) in command_lines(&board) {
            let problems = unwanted_devices(&arguments);
            assert!(problems.is_empty(), "{name} {mode}: {problems:?}\n{arguments:?}");
            checked += 1;
        }
    }
    assert!(checked >= 18, "checked only {checked} command lines");
}

#[test]
fn the_check_rejects_a_command_line_with_qemus_default_nic() {
    let plain = ["-M", "virt", "-kernel", "image"].map(str::to_owned);
    assert_eq!(unwanted_devices(&plain).len(), 1);
    let virtio = ["-M", "virt", "-nic", "none", "-device", "virtio-net-device"].map(str::to_owned);
    assert_eq!(unwanted_devices(&virtio).len(), 1);
}
