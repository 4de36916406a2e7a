//! Built systems the tests boot: the default one `cargo xtask test` built, and variants a
//! test builds from its own manifest text with the same pipeline.
//!
//! `cargo xtask test` passes the default system through environment variables
//! (`BULKHEAD_MANIFEST`, `BULKHEAD_IMAGE`, `BULKHEAD_GEN_DIR`); their presence also means the
//! toolchain, QEMU and dtc were checked. Run without them (plain `cargo test`), every test
//! that needs a system stops with a message saying to run `cargo xtask test`.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock, PoisonError};

use xtask::paths::{GEN_DIR_VARIABLE, IMAGE_VARIABLE, MANIFEST_VARIABLE, Repository};
use xtask::pipeline::{BuildRequest, Pipeline};
use xtask::progress::Progress;
use xtask::qemu::QemuBoard;
use xtask::toolchain::BareMetalCargo;

use crate::session::{BootOptions, QemuSession};

/// Names the board the tests' own manifests are built for instead of `qemu-virt`
/// ([`TestSystem::from_manifest_text`]); unset, they run on `qemu-virt`.
pub use xtask::paths::TEST_BOARD_VARIABLE;

/// `manifest_text` with its `board = "qemu-virt"` line naming `board` instead.
pub fn for_board(manifest_text: &str, board: &str) -> String {
    manifest_text
        .lines()
        .map(|line| {
            if line.trim() == "board = \"qemu-virt\"" {
                format!("board = \"{board}\"")
            } else {
                line.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The default system as `cargo xtask test` handed it over.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Handoff {
    /// The default manifest.
    pub manifest: PathBuf,
    /// Its hypervisor ELF.
    pub image: PathBuf,
    /// Its generated sources.
    pub gen_dir: PathBuf,
}

impl Handoff {
    /// Reads the variables from `lookup` (the process environment in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let read = |name: &str| {
            lookup(name)
                .filter(|value| !value.is_empty())
                .map(PathBuf::from)
                .ok_or_else(|| name.to_owned())
        };
        let found = [
            read(MANIFEST_VARIABLE),
            read(IMAGE_VARIABLE),
            read(GEN_DIR_VARIABLE),
        ];
        let missing: Vec<String> = found
            .iter()
            .filter_map(|value| value.as_ref().err().cloned())
            .collect();
        match found {
            [Ok(manifest), Ok(image), Ok(gen_dir)] => Ok(Self {
                manifest,
                image,
                gen_dir,
            }),
            _ => Err(format!(
                "these tests boot images that `cargo xtask test` builds and describes through \
                 environment variables ({} not set): run `cargo xtask test` from the repository root",
                missing.join(", ")
            )),
        }
    }

    /// The handoff from `cargo xtask test`; panics with instructions when absent.
    pub fn from_environment() -> Self {
        match Self::from_lookup(|name| std::env::var(name).ok()) {
            Ok(handoff) => handoff,
            Err(message) => panic!("{message}"),
        }
    }
}

/// QEMU's deterministic mode: one counter tick per executed instruction, idle time skipped.
pub const DETERMINISTIC_ARGUMENTS: [&str; 2] = xtask::bench::machine::ICOUNT_ARGUMENTS;

/// The board named by [`TEST_BOARD_VARIABLE`], if any.
fn test_board() -> Option<String> {
    std::env::var(TEST_BOARD_VARIABLE).ok().filter(|board| !board.is_empty())
}

/// The name [`TestSystem::from_manifest_text`] saves the manifest `name` under (in
/// `target/bulkhead/test-manifests/<name>.toml`): `name`, or `<name>-<board>` with
/// [`TEST_BOARD_VARIABLE`] set. Tests that read the built manifest back use it.
pub fn test_manifest_name(name: &str) -> String {
    match test_board() {
        Some(board) => format!("{name}-{board}"),
        None => name.to_owned(),
    }
}

/// A built system: its image, its outputs and its board's QEMU settings.
#[derive(Clone, Debug)]
pub struct TestSystem {
    name: String,
    image: PathBuf,
    output_dir: PathBuf,
    qemu: QemuBoard,
    partitions: Vec<String>,
    /// QEMU's second `-serial` carries the hypervisor's log (`BuiltSystem::log_port`).
    log_port: bool,
}

impl TestSystem {
    /// The default system (`partitions/demo.toml`) built by `cargo xtask test`.
    pub fn demo() -> Self {
        static DEMO: OnceLock<TestSystem> = OnceLock::new();
        DEMO.get_or_init(|| {
            let handoff = Handoff::from_environment();
            let repository = Repository::locate();
            let spec = match bulkhead_config::load(&handoff.manifest, repository.root()) {
                Ok(spec) => spec,
                Err(diagnostics) => panic!("{}: {diagnostics:#}", handoff.manifest.display()),
            };
            let qemu = QemuBoard::for_board(spec.board());
            TestSystem {
                name: repository.system_dir(&handoff.manifest).name().to_owned(),
                image: handoff.image,
                output_dir: handoff.gen_dir,
                log_port: qemu.log_port(spec.board().log.is_some()),
                qemu,
                partitions: spec
                    .partitions()
                    .iter()
                    .map(|partition| partition.name.clone())
                    .collect(),
            }
        })
        .clone()
    }

    /// Builds the system described by `manifest_text` (a manifest as in `partitions/`), saved
    /// as `target/bulkhead/test-manifests/<name>.toml`; its outputs go to
    /// `target/bulkhead/<name>/`. Each name is built once per test process.
    ///
    /// With [`TEST_BOARD_VARIABLE`] set (e.g. `BULKHEAD_TEST_BOARD=qemu-virt-gicv2`), a
    /// manifest written for `qemu-virt` is built for that board instead, as
    /// `<name>-<board>`: the same tests then run on a board of the same machine with other
    /// hardware (the GICv2 variant).
    pub fn from_manifest_text(name: &str, manifest_text: &str) -> Self {
        match test_board() {
            Some(board) => Self::build_text(
                &test_manifest_name(name),
                &for_board(manifest_text, &board),
            ),
            None => Self::build_text(name, manifest_text),
        }
    }

    /// [`TestSystem::from_manifest_text`] without the board substitution.
    fn build_text(name: &str, manifest_text: &str) -> Self {
        static BUILT: Mutex<Option<HashMap<String, TestSystem>>> = Mutex::new(None);
        Handoff::from_environment();
        let mut built = BUILT.lock().unwrap_or_else(PoisonError::into_inner);
        let cache = built.get_or_insert_with(HashMap::new);
        if let Some(system) = cache.get(name) {
            return system.clone();
        }
        let repository = Repository::locate();
        let manifest = repository
            .root()
            .join("target")
            .join("bulkhead")
            .join("test-manifests")
            .join(format!("{name}.toml"));
        if let Some(directory) = manifest.parent() {
            if let Err(error) = fs::create_dir_all(directory) {
                panic!("cannot create {}: {error}", directory.display());
            }
        }
        if let Err(error) = fs::write(&manifest, manifest_text) {
            panic!("cannot write {}: {error}", manifest.display());
        }
        let system = Self::build(&repository, &manifest);
        cache.insert(name.to_owned(), system.clone());
        system
    }

    /// Builds a committed manifest where it is (`partitions/<name>.toml`, so that its
    /// relative file paths resolve as for `cargo xtask build`); its outputs go to
    /// `target/bulkhead/<stem>/`. Each manifest is built once per test process.
    pub fn from_manifest_file(repository_relative: &str) -> Self {
        static BUILT: Mutex<Option<HashMap<String, TestSystem>>> = Mutex::new(None);
        Handoff::from_environment();
        let mut built = BUILT.lock().unwrap_or_else(PoisonError::into_inner);
        let cache = built.get_or_insert_with(HashMap::new);
        if let Some(system) = cache.get(repository_relative) {
            return system.clone();
        }
        let repository = Repository::locate();
        let system = Self::build(&repository, &repository.root().join(repository_relative));
        cache.insert(repository_relative.to_owned(), system.clone());
        system
    }

    /// Builds `manifest` with the `cargo xtask build` pipeline (quietly).
    fn build(repository: &Repository, manifest: &Path) -> Self {
        let cargo = match BareMetalCargo::detect() {
            Ok(Some(cargo)) => cargo,
            Ok(None) => panic!(
                "no core library for the bare-metal target: run `cargo xtask test`, which installs it"
            ),
            Err(error) => panic!("{error}"),
        };
        let request = BuildRequest {
            manifest: manifest.to_path_buf(),
            board: None,
        };
        match Pipeline::new(repository, cargo, Progress::quiet()).denying_warnings().build(&request) {
            Ok(built) => TestSystem {
                name: built.output.name().to_owned(),
                image: built.hypervisor_elf(),
                output_dir: built.output.path().to_path_buf(),
                qemu: built.qemu.clone(),
                log_port: built.log_port(),
                partitions: built
                    .compiled
                    .partitions
                    .iter()
                    .map(|partition| partition.name.clone())
                    .collect(),
            },
            Err(error) => panic!("building {} failed:\n{error:#}", manifest.display()),
        }
    }

    /// Whether the hypervisor's log reaches a QEMU port the session can read.
    pub fn log_port(&self) -> bool {
        self.log_port
    }

    /// The manifest stem naming the system.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The hypervisor ELF.
    pub fn image(&self) -> &Path {
        &self.image
    }

    /// The directory holding the generated sources, DTBs and report.
    pub fn output_dir(&self) -> &Path {
        &self.output_dir
    }

    /// The board's QEMU settings.
    pub fn qemu(&self) -> &QemuBoard {
        &self.qemu
    }

    /// Partition names in manifest order (partition `n` of the focus key is entry `n - 1`).
    pub fn partitions(&self) -> &[String] {
        &self.partitions
    }

    /// The same system on its board's deterministic machine (the counter frequency QEMU's
    /// `-icount shift=0` mode needs, one tick per instruction); boot it with
    /// [`DETERMINISTIC_ARGUMENTS`] as extra arguments.
    pub fn deterministic(&self) -> Self {
        Self { qemu: xtask::bench::machine::deterministic_board(&self.qemu), ..self.clone() }
    }

    /// Boots the system headless with default options.
    pub fn boot(&self) -> QemuSession {
        QemuSession::boot(self, BootOptions::default())
    }

    /// Boots the system headless with `options`.
    pub fn boot_with(&self, options: BootOptions) -> QemuSession {
        QemuSession::boot(self, options)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_test_board_replaces_only_the_system_board_line() {
        let text = "[system]\nboard = \"qemu-virt\"\n\n[[partition]]\nname = \"qemu-virt\"\n";
        assert_eq!(
            for_board(text, "qemu-virt-gicv2"),
            "[system]\nboard = \"qemu-virt-gicv2\"\n\n[[partition]]\nname = \"qemu-virt\""
        );
    }

    #[test]
    fn handoff_is_read_from_the_three_variables() {
        let lookup = |name: &str| match name {
            "BULKHEAD_MANIFEST" => Some("/r/partitions/demo.toml".to_owned()),
            "BULKHEAD_IMAGE" => Some("/r/target/bulkhead/demo/bulkhead-hypervisor".to_owned()),
            "BULKHEAD_GEN_DIR" => Some("/r/target/bulkhead/demo".to_owned()),
            _ => None,
        };
        let handoff = Handoff::from_lookup(lookup).expect("all present");
        assert_eq!(
            handoff.image,
            Path::new("/r/target/bulkhead/demo/bulkhead-hypervisor")
        );
        assert_eq!(handoff.gen_dir, Path::new("/r/target/bulkhead/demo"));
    }

    #[test]
    fn missing_handoff_tells_the_user_to_run_xtask_test() {
        let message =
            Handoff::from_lookup(|name| (name == "BULKHEAD_IMAGE").then(|| "/x".to_owned()))
                .expect_err("incomplete");
        assert!(message.contains("cargo xtask test"), "{message}");
        assert!(
            message.contains("BULKHEAD_MANIFEST") && message.contains("BULKHEAD_GEN_DIR"),
            "{message}"
        );
        assert!(!message.contains("BULKHEAD_IMAGE"), "{message}");
    }
}
