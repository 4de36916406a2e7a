//! Where sources live in the repository and where a build puts its outputs.
//!
//! Every path the pipeline, `cargo xtask run` and the QEMU test harness use is computed here,
//! so the three agree on where a system's generated sources, hypervisor image and log file
//! are. Outputs of one manifest go to `target/bulkhead/<manifest stem>/`: building a second
//! manifest never overwrites the first one's image.

use std::path::{Path, PathBuf};

/// The target both the EL2 image and the guests are built for. Softfloat keeps FP/SIMD
/// registers out of the generated code, so no exception path has to save them.
pub const BARE_METAL_TARGET: &str = "aarch64-unknown-none-softfloat";

/// Binary name of the EL2 image crate in `hypervisor/image`.
pub const HYPERVISOR_BINARY: &str = "bulkhead-hypervisor";

/// Manifest built when none is named on the command line.
pub const DEFAULT_MANIFEST: &str = "partitions/demo.toml";

/// Environment variable through which `cargo xtask test` tells the QEMU test harness the
/// default system's manifest. The harness refuses to run without these variables (and says
/// to run `cargo xtask test`), because without them nothing guarantees the image is current.
pub const MANIFEST_VARIABLE: &str = "BULKHEAD_MANIFEST";

/// The default system's hypervisor ELF, for the test harness.
pub const IMAGE_VARIABLE: &str = "BULKHEAD_IMAGE";

/// The default system's generated sources (`system.rs`, `memory.x`, DTBs), for the harness.
pub const GEN_DIR_VARIABLE: &str = "BULKHEAD_GEN_DIR";

/// Names the board the QEMU tests build their own inline manifests for instead of
/// `qemu-virt` (`tests/README.md`); `cargo xtask test` sets it for its GICv2 board runs.
pub const TEST_BOARD_VARIABLE: &str = "BULKHEAD_TEST_BOARD";

/// The repository checkout xtask was compiled from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Repository {
    root: PathBuf,
}

impl Repository {
    /// The checkout containing this crate. xtask is always run from its own source tree (the
    /// `cargo xtask` alias compiles it there), so the compile-time manifest directory is the
    /// reliable anchor, whatever the current directory is.
    pub fn locate() -> Self {
        let xtask_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
        let root = xtask_dir.parent().unwrap_or(xtask_dir);
        Self::at(root)
    }

    /// A repository rooted at `root` (tests use temporary trees).
    pub fn at(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The repository root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The guest workspace.
    pub fn partitions_workspace(&self) -> PathBuf {
        self.root.join("partitions")
    }

    /// The EL2 image workspace; cargo must run with this as its working directory so that
    /// its `.cargo/config.toml` applies.
    pub fn hypervisor_workspace(&self) -> PathBuf {
        self.root.join("hypervisor").join("image")
    }

    /// The ELF cargo produces for guest crate `crate_name`.
    pub fn guest_elf(&self, crate_name: &str) -> PathBuf {
        release_output(&self.partitions_workspace(), crate_name)
    }

    /// The ELF cargo produces for the EL2 image (overwritten by every image build; the
    /// pipeline copies it into the system directory right after building).
    pub fn hypervisor_build_output(&self) -> PathBuf {
        release_output(&self.hypervisor_workspace(), HYPERVISOR_BINARY)
    }

    /// The source directory of board `board`.
    pub fn board_dir(&self, board: &str) -> PathBuf {
        self.root.join("board-configs").join(board)
    }

    /// The names of every board in `board-configs/` (directories with a `board.toml`), sorted.
    pub fn boards(&self) -> Vec<String> {
        let mut boards: Vec<String> = std::fs::read_dir(self.root.join("board-configs"))
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
            .filter(|entry| entry.path().join("board.toml").is_file())
            .map(|entry| entry.file_name().to_string_lossy().into_owned())
            .collect();
        boards.sort();
        boards
    }

    /// The checked-in device tree source of board `board`.
    pub fn board_dts(&self, board: &str) -> PathBuf {
        self.board_dir(board).join(format!("{board}.dts"))
    }

    /// The manifest built when none is named.
    pub fn default_manifest(&self) -> PathBuf {
        self.root.join(DEFAULT_MANIFEST)
    }

    /// Board `board`'s own demo manifest, `partitions/demo-<board>.toml` (it may not exist).
    pub fn board_demo_manifest(&self, board: &str) -> PathBuf {
        self.root.join("partitions").join(format!("demo-{board}.toml"))
    }

    /// Resolves a manifest path given by a user: relative to the current directory when it
    /// exists there, otherwise relative to the repository root (so `cargo xtask build
    /// --manifest partitions/demo.toml` works from any subdirectory).
    pub fn resolve_user_path(&self, path: &Path) -> PathBuf {
        if path.is_absolute() {
            return path.to_path_buf();
        }
        match std::env::current_dir() {
            Ok(current) if current.join(path).exists() => current.join(path),
            _ => self.root.join(path),
        }
    }

    /// The output directory of the system described by `manifest`.
    pub fn system_dir(&self, manifest: &Path) -> SystemDir {
        let stem = manifest.file_stem().map_or_else(
            || "system".into(),
            |stem| stem.to_string_lossy().into_owned(),
        );
        SystemDir {
            name: stem.clone(),
            dir: self.root.join("target").join("bulkhead").join(stem),
        }
    }
}

/// `<workspace>/target/<bare-metal target>/release/<binary>`.
fn release_output(workspace: &Path, binary: &str) -> PathBuf {
    workspace
        .join("target")
        .join(BARE_METAL_TARGET)
        .join("release")
        .join(binary)
}

/// The outputs of one system: `target/bulkhead/<name>/`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SystemDir {
    name: String,
    dir: PathBuf,
}

impl SystemDir {
    /// The manifest stem naming this system.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The directory itself; the config compiler writes here and `BULKHEAD_GEN_DIR` points here.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Generated Rust describing the system (`include!`d by the EL2 image).
    pub fn system_rs(&self) -> PathBuf {
        self.dir.join("system.rs")
    }

    /// Generated linker memory map of the EL2 image.
    pub fn memory_x(&self) -> PathBuf {
        self.dir.join("memory.x")
    }

    /// The human-readable placement report.
    pub fn report(&self) -> PathBuf {
        self.dir.join("report.md")
    }

    /// This system's copy of the hypervisor ELF, the file QEMU boots.
    pub fn hypervisor_elf(&self) -> PathBuf {
        self.dir.join(HYPERVISOR_BINARY)
    }

    /// Where `cargo xtask run` has QEMU write the second UART (the binary defmt log).
    pub fn hypervisor_log(&self) -> PathBuf {
        self.dir.join("hv-log.bin")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn systems_are_kept_apart_by_manifest_stem() {
        let repository = Repository::at("/repo");
        let demo = repository.system_dir(Path::new("/repo/partitions/demo.toml"));
        let other = repository.system_dir(Path::new("/elsewhere/five-heartbeats.toml"));
        assert_eq!(demo.path(), Path::new("/repo/target/bulkhead/demo"));
        assert_eq!(
            demo.hypervisor_elf(),
            Path::new("/repo/target/bulkhead/demo/bulkhead-hypervisor")
        );
        assert_eq!(other.name(), "five-heartbeats");
        assert_eq!(
            other.hypervisor_log(),
            Path::new("/repo/target/bulkhead/five-heartbeats/hv-log.bin")
        );
    }

    #[test]
    fn cargo_outputs_are_release_builds_for_the_bare_metal_target() {
        let repository = Repository::at("/repo");
        assert_eq!(
            repository.guest_elf("heartbeat"),
            Path::new("/repo/partitions/target/aarch64-unknown-none-softfloat/release/heartbeat")
        );
        assert_eq!(
            repository.hypervisor_build_output(),
            Path::new(
                "/repo/hypervisor/image/target/aarch64-unknown-none-softfloat/release/bulkhead-hypervisor"
            )
        );
    }

    #[test]
    fn located_repository_contains_this_crate() {
        let repository = Repository::locate();
        assert!(repository.root().join("xtask").join("Cargo.toml").is_file());
        assert!(
            repository
                .default_manifest()
                .ends_with("partitions/demo.toml")
        );
    }

    #[test]
    fn absolute_user_paths_are_kept() {
        let repository = Repository::at("/repo");
        assert_eq!(
            repository.resolve_user_path(Path::new("/abs/m.toml")),
            Path::new("/abs/m.toml")
        );
        assert_eq!(
            repository.resolve_user_path(Path::new("does/not/exist.toml")),
            Path::new("/repo/does/not/exist.toml")
        );
    }
}
