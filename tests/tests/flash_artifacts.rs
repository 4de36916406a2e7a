//! The SD card files `cargo xtask flash` makes for the Raspberry Pi 4 and the ZCU102, checked
//! the way the boards read them, from the very image the QEMU tests of those boards boot.
//!
//! Each board's system is its demo (`partitions/demo-<board>.toml`, the manifest the board's
//! QEMU test boots, built through the same harness cache) or, until that exists, its checked
//! example (`board-configs/<board>/example.toml`). The files are made with the library
//! `cargo xtask flash` uses, which already refuses any failed check; this test restates the
//! facts a board depends on against independent tools, then plants violations (a kernel
//! loaded 512 KiB too high, a corrupted `boot.scr`, a `config.txt` naming the wrong address,
//! a card missing a file) and requires every check to catch its own.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, MutexGuard, PoisonError};

use bulkhead_qemu_tests::TestSystem;
use xtask::flash::fat::{self, CardFile};
use xtask::flash::tools::FlashTools;
use xtask::flash::{self, Artifacts, FlashBoard, FlashRequest, rpi4, uimage, verify, zcu102};
use xtask::paths::Repository;
use xtask::progress::Progress;

/// The board's demo manifest when it exists, else its example (repository-relative).
fn manifest_of(repository: &Repository, board: FlashBoard) -> String {
    let demo = format!("partitions/demo-{}.toml", board.name());
    if repository.root().join(&demo).is_file() {
        demo
    } else {
        format!("board-configs/{}/example.toml", board.name())
    }
}

/// Builds the board's system (harness cache) and makes its flash files in `target/flash-test/`.
fn make(board: FlashBoard, tools: &FlashTools, firmware: Option<&Path>) -> (TestSystem, Artifacts, u64) {
    let repository = Repository::locate();
    let manifest = manifest_of(&repository, board);
    let system = TestSystem::from_manifest_file(&manifest);
    let spec = bulkhead_config::load(&repository.root().join(&manifest), repository.root())
        .unwrap_or_else(|diagnostics| panic!("{manifest}: {diagnostics:#}"));
    let board_config = spec.board();
    let out = repository.root().join("target").join("flash-test").join(board.name()).join(if firmware.is_some() { "with-firmware" } else { "plain" });
    let artifacts = flash::create(
        &FlashRequest { board, system: system.name(), elf: system.image(), board_config, out: &out, firmware },
        tools,
        &Progress::quiet(),
    )
    .unwrap_or_else(|error| panic!("flash files for {} ({manifest}): {error}", board.name()));
    (system, artifacts, board_config.hypervisor.base())
}

/// The kernel file equals `objcopy -O binary` of the ELF the QEMU test boots.
fn assert_kernel_is_objcopy_of(elf: &Path, kernel: &[u8], scratch: &Path) {
    let Some(reference) = verify::objcopy_binary(elf, scratch) else {
        panic!("no objcopy that reads AArch64 (llvm-objcopy or aarch64-linux-gnu-objcopy): run `cargo xtask test`, which installs binutils-aarch64-linux-gnu");
    };
    let _ = fs::remove_file(scratch);
    assert!(reference == kernel, "the kernel file ({} bytes) differs from objcopy -O binary of {} ({} bytes)", kernel.len(), elf.display(), reference.len());
}

fn tools() -> FlashTools {
    FlashTools::ensure(&Progress::quiet()).unwrap_or_else(|error| panic!("{error}"))
}

/// Both boards' examples are systems called `example` sharing `target/bulkhead/example/`:
/// under plain `cargo test` (threads in one process) the two tests take turns.
fn one_board_at_a_time() -> MutexGuard<'static, ()> {
    static TURN: Mutex<()> = Mutex::new(());
    TURN.lock().unwrap_or_else(PoisonError::into_inner)
}

#[test]
fn zcu102_fit_and_boot_script_load_the_hypervisor_at_its_base() {
    let _turn = one_board_at_a_time();
    let tools = tools();
    let (system, artifacts, base) = make(FlashBoard::Zcu102, &tools, None);
    let build = artifacts.out.join("build");
    let kernel = fs::read(&artifacts.kernel_file).expect("kernel file");
    assert_kernel_is_objcopy_of(system.image(), &kernel, &build.join("objcopy.bin"));

    let fit = artifacts.out.join("boot").join(zcu102::FIT_FILE);
    let listing = verify::list_fit(&tools, &fit).expect("mkimage -l");
    let hypervisor = listing.images.iter().find(|image| image.name == "hypervisor").expect("hypervisor image listed");
    assert_eq!((hypervisor.load, hypervisor.entry), (Some(base), Some(base)), "{listing:#?}");
    assert_eq!(verify::fit_image_bytes(&tools, &fit, 0, &build.join("fit-kernel.bin")).expect("dumpimage"), kernel);

    let plan = artifacts.zcu102_plan.expect("plan");
    let script = fs::read(artifacts.out.join("boot").join(zcu102::SCRIPT_FILE)).expect("boot.scr");
    let text = uimage::script_text(&script).expect("boot.scr decodes");
    let fit_address = format!("{:#x}", plan.fit.base());
    let commands: Vec<&str> = text.lines().filter(|line| !line.starts_with('#')).collect();
    assert!(commands.contains(&format!("load ${{devtype}} ${{devnum}}:${{distro_bootpart}} {fit_address} bulkhead.itb").as_str()), "{text}");
    assert_eq!(commands.last().copied(), Some(format!("bootm {fit_address}#bulkhead").as_str()), "{text}");
    assert!(plan.fit.base() >= base + plan.hypervisor.size(), "the FIT is loaded over the hypervisor's reservation");
    assert_eq!(fat::list(&tools, &artifacts.card_image).expect("mdir"), ["boot.scr", "bulkhead.itb"]);

    // Planted: the kernel 512 KiB above the base the image is linked at.
    let its = fs::read_to_string(build.join(zcu102::ITS_FILE)).expect("its");
    let wrong = format!("load = <{:#x}>;", base + 0x8_0000);
    let planted = its.replacen(&format!("load = <{base:#x}>;"), &wrong, 1);
    assert_ne!(planted, its, "the .its names the load address as expected");
    fs::write(build.join("planted.its"), planted).expect("write");
    let status = Command::new(&tools.mkimage).current_dir(&build).args(["-f", "planted.its", "planted.itb"]).output().expect("mkimage");
    assert!(status.status.success(), "{}", String::from_utf8_lossy(&status.stderr));
    let planted_listing = verify::list_fit(&tools, &build.join("planted.itb")).expect("mkimage -l");
    let error = verify::check_fit_listing(&planted_listing, "hypervisor", base, zcu102::CONFIGURATION).expect_err("a wrong load address must fail");
    assert!(error.0.contains("loads at"), "{error}");

    // Planted: one flipped byte in boot.scr (U-Boot's CRC check refuses it, and so do we).
    let mut corrupted = script.clone();
    let last = corrupted.len() - 2;
    corrupted[last] ^= 0x20;
    assert!(verify::check_boot_script(&corrupted, &zcu102::boot_commands(&plan)).is_err());
    // Planted: a valid script with other commands.
    assert!(verify::check_boot_script(&script, &zcu102::boot_commands(&plan).replace("bootm", "booti")).is_err());
}

#[test]
fn rpi4_card_holds_the_kernel_at_the_config_txt_address_and_the_firmware_given() {
    let _turn = one_board_at_a_time();
    let tools = tools();
    let (system, artifacts, base) = make(FlashBoard::Rpi4, &tools, None);
    let kernel = fs::read(&artifacts.kernel_file).expect("kernel file");
    assert_kernel_is_objcopy_of(system.image(), &kernel, &artifacts.out.join("build").join("objcopy.bin"));
    assert_eq!(fat::list(&tools, &artifacts.card_image).expect("mdir"), ["bulkhead.bin", "config.txt"]);
    assert_eq!(fat::read(&tools, &artifacts.card_image, rpi4::KERNEL_FILE).expect("mcopy"), kernel);
    let config = String::from_utf8(fat::read(&tools, &artifacts.card_image, rpi4::CONFIG_FILE).expect("mcopy")).expect("text");
    assert!(config.lines().any(|line| line == format!("kernel_address={base:#x}")), "{config}");
    assert_eq!(verify::check_config_txt(&config, rpi4::KERNEL_FILE, base), Ok(()));

    // Planted: config.txt loading the kernel at the firmware's old default.
    let planted = config.replace(&format!("kernel_address={base:#x}"), "kernel_address=0x80000");
    assert!(verify::check_config_txt(&planted, rpi4::KERNEL_FILE, base).expect_err("wrong address").0.contains("kernel_address"));
    // Planted: a card missing config.txt.
    let partial = artifacts.out.join("build").join("partial.img");
    let kernel_only: Vec<CardFile> = artifacts.card_files.iter().filter(|file| file.name == rpi4::KERNEL_FILE).cloned().collect();
    fat::create(&tools, &partial, &kernel_only, &Progress::quiet()).expect("image");
    assert!(verify::check_card_image(&tools, &partial, &artifacts.card_files).is_err());

    // With --firmware, the vendor files go onto the card too (stand-in bytes: the real ones
    // are not redistributable).
    let firmware: PathBuf = artifacts.out.join("build").join("firmware");
    for name in &artifacts.missing_firmware {
        let path = firmware.join(name);
        fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        fs::write(&path, format!("stand-in for {name}")).expect("write");
    }
    let (_, with_firmware, _) = make(FlashBoard::Rpi4, &tools, Some(&firmware));
    assert!(with_firmware.missing_firmware.is_empty());
    let listed = fat::list(&tools, &with_firmware.card_image).expect("mdir");
    for name in ["start4.elf", "fixup4.dat", "bcm2711-rpi-4-b.dtb", "overlays/disable-bt.dtbo", "bulkhead.bin", "config.txt"] {
        assert!(listed.iter().any(|file| file == name), "{name} not in {listed:?}");
    }
}

/// U-Boot for QEMU `virt` (`include/configs/qemu-arm.h`) runs `boot.scr` from here.
const QEMU_UBOOT_SCRIPT: (u64, u64) = (0x4020_0000, 0x8_0000);

/// QEMU, killed when dropped.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The ZCU102's boot flow, end to end, on the only U-Boot that runs without the board:
/// Debian's U-Boot for QEMU `virt` finds `boot.scr` on the SD card image (attached as a
/// virtio disk; distro boot sets `devtype` to `virtio` instead of `mmc`), which loads the FIT;
/// `bootm` checks the hashes and enters the default system (`qemu-virt`, base 0x4000_0000)
/// at EL2, whose partitions then boot and beat. Same generator, same `bootm` path
/// (`os = "linux"` with a device tree) as on the ZCU102; only the board differs.
#[test]
fn zcu102_boot_files_boot_the_default_system_under_u_boot_on_qemu() {
    let tools = tools();
    let uboot = xtask::flash::tools::ensure_uboot_for_qemu(&Progress::quiet()).unwrap_or_else(|error| panic!("{error}"));
    let repository = Repository::locate();
    let system = TestSystem::demo();
    let handoff = bulkhead_qemu_tests::Handoff::from_environment();
    let spec = bulkhead_config::load(&handoff.manifest, repository.root()).unwrap_or_else(|diagnostics| panic!("{diagnostics:#}"));
    let board = spec.board();
    let elf = fs::read(system.image()).expect("image");
    let raw = xtask::flash::binary::flatten(&elf).expect("flat image");
    raw.check_against(board.hypervisor.base()).expect("entry at the base");
    let script = bulkhead_config::AddressRange::new(QEMU_UBOOT_SCRIPT.0, QEMU_UBOOT_SCRIPT.1).expect("range");
    let fit_size = raw.bytes.len() as u64 + board.dtb.len() as u64 + (64 << 10);
    let plan = zcu102::BootPlan::new(board.hypervisor, &board.ram, raw.bytes.len() as u64, fit_size, script).expect("plan");
    let out = repository.root().join("target").join("flash-test").join("uboot-qemu");
    let (build, boot) = (out.join("build"), out.join("boot"));
    for directory in [&build, &boot] {
        fs::create_dir_all(directory).expect("mkdir");
    }
    let contents = zcu102::FitContents { kernel: &raw.bytes, dtb: &board.dtb, system: system.name(), board: "QEMU virt" };
    let (fit, boot_script) = zcu102::write_boot_files(&tools, &build, &boot, &plan, contents).expect("FIT and boot.scr");
    let card = out.join("sdcard.img");
    let files = [
        CardFile { name: zcu102::FIT_FILE.to_owned(), source: fit },
        CardFile { name: zcu102::SCRIPT_FILE.to_owned(), source: boot_script },
    ];
    fat::create(&tools, &card, &files, &Progress::quiet()).expect("card image");

    let console_file = out.join("console.txt");
    let mut arguments = system.qemu().machine_arguments("");
    arguments.extend(["-bios".to_owned(), uboot.display().to_string()]);
    arguments.extend(["-display", "none", "-monitor", "none", "-no-reboot", "-audio", "none"].map(str::to_owned));
    arguments.extend(["-serial".to_owned(), format!("file:{}", console_file.display())]);
    for _ in 1..system.qemu().serial_ports {
        arguments.extend(["-serial".to_owned(), "null".to_owned()]);
    }
    arguments.extend(["-drive".to_owned(), format!("if=none,format=raw,id=card,file={}", card.display())]);
    arguments.extend(["-device".to_owned(), "virtio-blk-device,drive=card".to_owned()]);
    let _ = fs::remove_file(&console_file);
    let child = Command::new(xtask::host_tools::QEMU)
        .args(&arguments)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("QEMU starts");
    let _qemu = Running(child);
    let wanted = [
        "Found U-Boot script /boot.scr".to_owned(),
        format!("Bulkhead: loading bulkhead.itb from virtio 0:1 to {:#x}", plan.fit.base()),
        "Verifying Hash Integrity ... sha256+ OK".to_owned(),
        format!("Load Address: {:#010x}", board.hypervisor.base()),
        "Starting kernel ...".to_owned(),
        "[hv] Bulkhead hypervisor on qemu-virt".to_owned(),
        "heartbeat 3".to_owned(),
    ];
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let console = fs::read_to_string(&console_file).unwrap_or_default();
        let missing: Vec<&String> = wanted.iter().filter(|line| !console.contains(line.as_str())).collect();
        if missing.is_empty() {
            for partition in system.partitions() {
                assert!(console.contains(&format!("[{partition}] heartbeat")), "{partition} never beat:\n{console}");
            }
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "U-Boot did not boot Bulkhead from the card within 120 s; missing {missing:?}\nqemu-system-aarch64 {}\n{console}",
            arguments.join(" ")
        );
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
}
