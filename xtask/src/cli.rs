//! The command line of `cargo xtask`.

use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand};
use xtask::paths::{DEFAULT_MANIFEST, Repository};

/// Build, run and test Bulkhead. Every CI step runs locally through these commands.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub task: Task,
}

/// The commands.
#[derive(Debug, Subcommand, PartialEq, Eq)]
pub enum Task {
    /// Build the partitions, compile the manifest and build the hypervisor image.
    Build(SystemArgs),
    /// Build, then boot the system in QEMU on this terminal (quit with Ctrl-A x).
    Run(SystemArgs),
    /// Run the whole test suite: tools, host unit tests, image build, QEMU integration tests.
    Test,
    /// Validate a manifest against its board and print the system summary, without building.
    Check(SystemArgs),
    /// Measure trap, interrupt and boot costs under deterministic QEMU (target/bench/).
    Bench(BenchArgs),
    /// Check the code against the coding standard (misra-like-lints/RULES.md).
    Lint,
    /// Boot the attacker partition beside the heartbeat (partitions/chaos-demo.toml) for N
    /// seconds and check that nothing broke, stalled or leaked.
    Soak(SoakArgs),
    /// Build the traceability report from the last `cargo xtask test` run.
    Trace(TraceArgs),
    /// Print the Rust the config compiler generates for a manifest (system.rs).
    Expand(SystemArgs),
    /// Run every cargo-fuzz target for a bounded time from the in-tree corpus (stable Rust).
    Fuzz(FuzzArgs),
    /// Make the SD card files for a Raspberry Pi 4 or ZCU102 (target/flash/<board>/<system>/), check
    /// them, and write them to a card only with --device and a typed confirmation.
    Flash(FlashArgs),
    /// Regenerate board-configs/<BOARD>/<BOARD>.dts from the device tree QEMU builds.
    BoardDts {
        /// Board directory name under board-configs/.
        board: String,
    },
}

/// Options of `cargo xtask trace`.
#[derive(Debug, Args, PartialEq, Eq)]
pub struct TraceArgs {
    /// First add new item revisions to certification/requirements.lock (after adding an item
    /// or bumping a revision; entries are only ever added).
    #[arg(long)]
    pub update_lock: bool,
}

/// Options of `cargo xtask flash`.
#[derive(Debug, Args, PartialEq, Eq)]
pub struct FlashArgs {
    /// The board: rpi4 or zcu102.
    #[arg(long, value_name = "BOARD")]
    pub board: String,
    /// The system manifest (default: the board's demo, partitions/demo-<BOARD>.toml).
    #[arg(long, value_name = "FILE")]
    pub manifest: Option<PathBuf>,
    /// Where to put the files (default: target/flash/<board>/<system>/).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// A directory with the vendor firmware files to put on the card too (Raspberry Pi 4:
    /// start4.elf, fixup4.dat, bcm2711-rpi-4-b.dtb, overlays/disable-bt.dtbo; ZCU102: BOOT.BIN).
    #[arg(long, value_name = "DIR")]
    pub firmware: Option<PathBuf>,
    /// Write the card image to this whole-disk block device (asks for confirmation on the
    /// terminal; refuses mounted or partition devices).
    #[arg(long, value_name = "DEVICE")]
    pub device: Option<PathBuf>,
}

/// Options of `cargo xtask fuzz`.
#[derive(Debug, Args, PartialEq, Eq)]
pub struct FuzzArgs {
    /// Seconds per target.
    #[arg(long, default_value_t = crate::commands::fuzz::DEFAULT_SECONDS)]
    pub seconds: u64,
    /// Only this target (manifest, esr, vpl011, psci, console, vgic).
    #[arg(long, value_name = "NAME")]
    pub target: Option<String>,
    /// Merge the new inputs that add coverage into the in-tree corpus (fuzz/seeds/).
    #[arg(long)]
    pub keep: bool,
}

/// Options of `cargo xtask bench`.
#[derive(Debug, Args, PartialEq, Eq)]
pub struct BenchArgs {
    /// Also boot the probe under this hypervisor (Debian's Xen 4.17, dom0less).
    #[arg(long, value_name = "HYPERVISOR", value_parser = ["xen"])]
    pub against: Option<String>,
    /// Samples per metric (1 to 1001).
    #[arg(long, default_value_t = xtask::bench::DEFAULT_SAMPLES)]
    pub samples: usize,
    /// One sample per metric: checks that the bench works.
    #[arg(long)]
    pub quick: bool,
    /// Break Bulkhead's measured traps down by hypervisor function (QEMU exec trace).
    #[arg(long)]
    pub profile: bool,
    /// Build the probe's systems for this board (board-configs/<BOARD>) instead of qemu-virt.
    #[arg(long, value_name = "BOARD")]
    pub board: Option<String>,
    /// Measure only this row, as a full run would, and write nothing to the report.
    #[arg(long, value_name = "ROW", value_parser = xtask::bench::OnlyRow::NAMES,
          conflicts_with_all = ["against", "quick", "profile", "board"])]
    pub only: Option<String>,
}

/// Options of `cargo xtask soak`.
#[derive(Debug, Args, PartialEq, Eq)]
pub struct SoakArgs {
    /// How long chaos attacks, in seconds of its counter.
    #[arg(long)]
    pub seconds: u64,
    /// The attacker's seed (default: random; printed either way).
    #[arg(long)]
    pub seed: Option<u64>,
}

/// Which system to build.
#[derive(Debug, Args, PartialEq, Eq)]
pub struct SystemArgs {
    /// Fail unless the manifest targets this board (e.g. qemu-virt). Without `--manifest`,
    /// the board's demo `partitions/demo-<BOARD>.toml` is built when there is one.
    #[arg(long, value_name = "BOARD")]
    pub board: Option<String>,
    /// The system manifest.
    #[arg(long, value_name = "FILE", default_value = DEFAULT_MANIFEST)]
    pub manifest: PathBuf,
}

impl SystemArgs {
    /// The manifest to build: the one named, or for `--board B` with the default manifest,
    /// the board's own demo (`partitions/demo-B.toml`, e.g. `demo-qemu-virt-gicv2.toml`) when
    /// it exists, so `cargo xtask run --board B` boots the demo on that board.
    pub fn manifest_path(&self, repository: &Repository) -> PathBuf {
        if self.manifest == Path::new(DEFAULT_MANIFEST) {
            if let Some(board) = &self.board {
                let demo = repository.board_demo_manifest(board);
                if demo.is_file() {
                    return demo;
                }
            }
        }
        repository.resolve_user_path(&self.manifest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn parse(words: &[&str]) -> Result<Task, clap::Error> {
        Cli::try_parse_from(std::iter::once("xtask").chain(words.iter().copied()))
            .map(|cli| cli.task)
    }

    #[test]
    fn command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn build_defaults_to_the_demo_manifest_on_any_board() {
        assert_eq!(
            parse(&["build"]).ok(),
            Some(Task::Build(SystemArgs {
                board: None,
                manifest: PathBuf::from("partitions/demo.toml")
            }))
        );
    }

    #[test]
    fn run_takes_board_and_manifest() {
        let task = parse(&["run", "--board", "qemu-virt", "--manifest", "m.toml"]).expect("valid");
        assert_eq!(
            task,
            Task::Run(SystemArgs {
                board: Some("qemu-virt".to_owned()),
                manifest: PathBuf::from("m.toml")
            })
        );
    }

    #[test]
    fn a_board_with_its_own_demo_builds_it_without_a_manifest() {
        let repository = Repository::locate();
        let Ok(Task::Run(gicv2)) = parse(&["run", "--board", "qemu-virt-gicv2"]) else { panic!("valid") };
        assert!(gicv2.manifest_path(&repository).ends_with("partitions/demo-qemu-virt-gicv2.toml"));
        let Ok(Task::Run(virt)) = parse(&["run", "--board", "qemu-virt"]) else { panic!("valid") };
        assert!(virt.manifest_path(&repository).ends_with("partitions/demo.toml"), "no demo-qemu-virt.toml");
        let Ok(Task::Run(named)) = parse(&["run", "--board", "qemu-virt-gicv2", "--manifest", "m.toml"]) else {
            panic!("valid")
        };
        assert!(named.manifest_path(&repository).ends_with("m.toml"));
    }

    #[test]
    fn flash_takes_a_board_and_optional_manifest_output_firmware_and_device() {
        assert_eq!(
            parse(&["flash", "--board", "rpi4"]).ok(),
            Some(Task::Flash(FlashArgs { board: "rpi4".to_owned(), manifest: None, out: None, firmware: None, device: None }))
        );
        assert_eq!(
            parse(&["flash", "--board", "zcu102", "--manifest", "m.toml", "--out", "o", "--firmware", "fw", "--device", "/dev/sdz"]).ok(),
            Some(Task::Flash(FlashArgs {
                board: "zcu102".to_owned(),
                manifest: Some(PathBuf::from("m.toml")),
                out: Some(PathBuf::from("o")),
                firmware: Some(PathBuf::from("fw")),
                device: Some(PathBuf::from("/dev/sdz")),
            }))
        );
    }

    #[test]
    fn board_dts_needs_a_board_name() {
        assert_eq!(
            parse(&["board-dts", "qemu-virt"]).ok(),
            Some(Task::BoardDts {
                board: "qemu-virt".to_owned()
            })
        );
        assert!(parse(&["board-dts"]).is_err());
    }

    #[test]
    fn trace_takes_update_lock() {
        assert_eq!(
            parse(&["trace"]).ok(),
            Some(Task::Trace(TraceArgs { update_lock: false }))
        );
        assert_eq!(
            parse(&["trace", "--update-lock"]).ok(),
            Some(Task::Trace(TraceArgs { update_lock: true }))
        );
        assert!(parse(&["trace", "--update"]).is_err());
    }

    #[test]
    fn fuzz_defaults_to_every_target_briefly() {
        assert_eq!(
            parse(&["fuzz"]).ok(),
            Some(Task::Fuzz(FuzzArgs { seconds: 20, target: None, keep: false }))
        );
        assert_eq!(
            parse(&["fuzz", "--target", "vgic", "--seconds", "600", "--keep"]).ok(),
            Some(Task::Fuzz(FuzzArgs { seconds: 600, target: Some("vgic".to_owned()), keep: true }))
        );
    }

    #[test]
    fn test_and_expand_parse_and_unknown_commands_do_not() {
        assert_eq!(parse(&["test"]).ok(), Some(Task::Test));
        assert!(matches!(
            parse(&["expand", "--manifest", "x.toml"]),
            Ok(Task::Expand(_))
        ));
        assert!(parse(&["flash"]).is_err(), "flash needs --board");
        assert!(parse(&["test", "--release"]).is_err());
    }

    #[test]
    fn bench_only_names_one_row_and_excludes_the_other_modes() {
        let Ok(Task::Bench(arguments)) = parse(&["bench", "--only", "linux"]) else { panic!("parsed") };
        assert_eq!(arguments.only.as_deref(), Some("linux"));
        assert_eq!(arguments.only.as_deref().and_then(xtask::bench::OnlyRow::from_name), Some(xtask::bench::OnlyRow::Linux));
        assert!(matches!(parse(&["bench", "--only", "rt-neighbours"]), Ok(Task::Bench(_))));
        assert!(parse(&["bench", "--only", "xen"]).is_err(), "not a row");
        for other in [&["--quick"][..], &["--profile"], &["--against", "xen"], &["--board", "rpi4"]] {
            let words: Vec<&str> = ["bench", "--only", "linux"].into_iter().chain(other.iter().copied()).collect();
            assert!(parse(&words).is_err(), "--only with {other:?}");
        }
        let Ok(Task::Bench(arguments)) = parse(&["bench"]) else { panic!("parsed") };
        assert_eq!(arguments.only, None);
    }
}
