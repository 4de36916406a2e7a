//! A validated system: the board plus every partition with its memory placed and its cores
//! checked, before any guest image is read.
//!
//! xtask loads a [`SystemSpec`] first to learn which guest crates to build, then calls
//! [`crate::compile()`] with the built images. Everything in here has passed the load-time
//! checks, so later stages rely on it (RAM inside board RAM and disjoint, cores valid).

use std::collections::BTreeSet;
use std::ops::Range;
use std::path::{Path, PathBuf};

use bulkhead_core::addr::{Ipa, MemoryRegion, PhysAddr};
use bulkhead_core::layout::{DTB_OFFSET_FROM_RAM_END, RAM_BASE};
use bulkhead_core::system::FaultPolicy;

use crate::board::Board;
use crate::diagnostic::{self, Code, Diagnostic, Diagnostics, Source};
use crate::manifest::{self, ConsoleKind};
use crate::units::AddressRange;
use crate::validate;

/// Where a partition's guest image comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImageSource {
    /// A guest crate in `partitions/`, built by xtask.
    Crate(String),
    /// A file, resolved against the manifest's directory.
    File(PathBuf),
}

/// How a partition's RAM base was chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placement {
    /// Written in the manifest.
    Fixed,
    /// Allocated after the hypervisor reservation.
    Allocated,
}

/// Manifest spans kept for reporting image problems at compile time.
#[derive(Clone, Debug)]
pub(crate) struct PartitionSpans {
    pub image: Range<usize>,
    pub memory: Range<usize>,
}

/// One validated partition.
#[derive(Clone, Debug)]
pub struct PartitionSpec {
    /// Name (console prefix, output file stem, guest device tree `model`).
    pub name: String,
    /// Guest image source.
    pub image: ImageSource,
    /// Host-physical RAM; the guest sees it at [`RAM_BASE`].
    pub ram: AddressRange,
    /// Whether the base was written or allocated.
    pub placement: Placement,
    /// Physical core of each vCPU.
    pub cpus: Vec<usize>,
    /// `/chosen/bootargs`.
    pub bootargs: Option<String>,
    /// What happens when it faults.
    pub fault_policy: FaultPolicy,
    /// Console connection.
    pub console: ConsoleKind,
    pub(crate) spans: PartitionSpans,
}

impl PartitionSpec {
    /// The RAM as stage 2 maps it.
    pub fn ram_region(&self) -> MemoryRegion {
        MemoryRegion {
            ipa: RAM_BASE,
            phys: PhysAddr(self.ram.base()),
            size: self.ram.size(),
        }
    }

    /// Where the guest device tree is placed (IPA).
    pub fn dtb_ipa(&self) -> Ipa {
        // Cannot underflow or overflow: load-time checks keep RAM larger than the offset and
        // RAM_BASE + size inside 64 bits.
        Ipa(RAM_BASE.raw() + self.ram.size() - DTB_OFFSET_FROM_RAM_END)
    }

    /// The IPA window a guest image (with its zeroed tail) may occupy: guest RAM below the
    /// device tree slot.
    pub fn image_window(&self) -> Range<u64> {
        RAM_BASE.raw()..self.dtb_ipa().raw()
    }
}

/// A validated system description.
#[derive(Clone, Debug)]
pub struct SystemSpec {
    pub(crate) manifest_path: PathBuf,
    pub(crate) manifest_name: String,
    pub(crate) source: Source,
    pub(crate) board: Board,
    pub(crate) partitions: Vec<PartitionSpec>,
    pub(crate) warnings: Diagnostics,
}

impl SystemSpec {
    /// The guest crates xtask must build.
    pub fn guest_crates(&self) -> BTreeSet<String> {
        self.partitions
            .iter()
            .filter_map(|partition| match &partition.image {
                ImageSource::Crate(name) => Some(name.clone()),
                ImageSource::File(_) => None,
            })
            .collect()
    }

    /// The board.
    pub fn board(&self) -> &Board {
        &self.board
    }

    /// Partitions in manifest order.
    pub fn partitions(&self) -> &[PartitionSpec] {
        &self.partitions
    }

    /// Warnings found while loading.
    pub fn warnings(&self) -> &Diagnostics {
        &self.warnings
    }

    /// The manifest file.
    pub fn manifest_path(&self) -> &Path {
        &self.manifest_path
    }

    /// The manifest as named in generated files (relative to the repository root when inside it).
    pub fn manifest_name(&self) -> &str {
        &self.manifest_name
    }
}

/// Parses the manifest, loads its board and runs every load-time check.
pub fn load(manifest_path: &Path, repo_root: &Path) -> Result<SystemSpec, Diagnostics> {
    let text = std::fs::read_to_string(manifest_path).map_err(|error| {
        Diagnostic::error(
            Code::Io,
            format!("cannot read manifest {}: {error}", manifest_path.display()),
        )
    })?;
    let canonical =
        |path: &Path| std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let manifest_name = canonical(manifest_path)
        .strip_prefix(canonical(repo_root))
        .map_or_else(|_| manifest_path.to_path_buf(), Path::to_path_buf)
        .to_string_lossy()
        .replace('\\', "/");
    let source = diagnostic::source(manifest_path.display().to_string(), text);
    let manifest = manifest::parse(&source)?;
    let mut diagnostics = Diagnostics::new();

    let board_key = &manifest.system.get_ref().board;
    let Some(directory) = Board::directory_of(repo_root, board_key.get_ref()) else {
        let available = Board::available(repo_root);
        diagnostics.push(
            Diagnostic::error(
                Code::BoardUnknown,
                format!("unknown board `{}`", board_key.get_ref()),
            )
            .with_label(
                &source,
                board_key.span(),
                "no such directory with a board.toml",
            )
            .with_help(format!(
                "boards under {}: {}",
                repo_root.join(crate::board::BOARDS_DIRECTORY).display(),
                if available.is_empty() {
                    "none".to_owned()
                } else {
                    available.join(", ")
                }
            )),
        );
        return Err(diagnostics);
    };
    let board = Board::load(&directory, &mut diagnostics);
    let Some(board) = board else {
        return Err(diagnostics);
    };
    let manifest_directory = manifest_path.parent().unwrap_or(Path::new("."));
    let partitions = validate::validate(
        &manifest,
        &board,
        &source,
        manifest_directory,
        &mut diagnostics,
    );
    match partitions {
        Some(partitions) if !diagnostics.has_errors() => Ok(SystemSpec {
            manifest_path: manifest_path.to_path_buf(),
            manifest_name,
            source,
            board,
            partitions,
            warnings: diagnostics,
        }),
        _ => Err(diagnostics),
    }
}

/// The repository root for `manifest`: the nearest ancestor directory holding `board-configs/`.
pub fn find_repo_root(manifest: &Path) -> Option<PathBuf> {
    let absolute = std::path::absolute(manifest).ok()?;
    absolute
        .ancestors()
        .skip(1)
        .find(|directory| directory.join(crate::board::BOARDS_DIRECTORY).is_dir())
        .map(Path::to_path_buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_repo_root_is_the_nearest_ancestor_with_board_configs() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("board-configs/qemu-virt")).unwrap();
        std::fs::create_dir_all(root.path().join("partitions/deep")).unwrap();
        let manifest = root.path().join("partitions/deep/demo.toml");
        assert_eq!(find_repo_root(&manifest), Some(root.path().to_path_buf()));
        assert_eq!(find_repo_root(Path::new("/")), None);
    }
}
