//! A validated system: the board plus every partition and channel with its memory placed,
//! its cores, devices and interrupts checked and its guest-physical layout decided, before
//! any guest image is read.
//!
//! xtask loads a [`SystemSpec`] first to learn which guest crates to build, then calls
//! [`crate::compile()`] with the built images. Everything in here has passed the load-time
//! checks, so later stages rely on it: host memory inside board RAM and pairwise disjoint,
//! cores valid and pinned once, devices and interrupts owned by one partition each, every
//! partition's IPA map free of overlaps.
//!
//! Design: [impl->dsn~config-checks~1]

use std::collections::BTreeSet;
use std::ops::Range;
use std::path::{Path, PathBuf};

use bulkhead_core::addr::{Ipa, MemoryRegion, PhysAddr};
use bulkhead_core::layout::{DTB_OFFSET_FROM_RAM_END, RAM_BASE};
use bulkhead_core::system::{Access, FaultPolicy, Trigger};

use crate::board::Board;
use crate::devices::DeviceInfo;
use crate::diagnostic::{self, Code, Diagnostic, Diagnostics, Source};
use crate::manifest::{self, DmaPolicy};
use crate::units::{AddressRange, GRANULE_4KIB};
use crate::validate;

/// Where a partition's guest image comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImageSource {
    /// A guest crate in `partitions/`, built by xtask.
    Crate(String),
    /// A file, resolved against the manifest's directory.
    File(PathBuf),
}

/// How a host-physical range was chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placement {
    /// Written in the manifest.
    Fixed,
    /// Allocated by the compiler.
    Allocated,
    /// Partition RAM placed at the physical address equal to its guest-physical one
    /// (`memory = { identity = true }`), for DMA by pass-through devices.
    Identity,
}

/// Where a partition's console goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConsoleSpec {
    /// The emulated PL011, multiplexed onto the board console.
    Virtual,
    /// A board UART passed through; its node path (also in the partition's devices).
    Passthrough(String),
}

/// Manifest spans kept for reporting image problems at compile time.
#[derive(Clone, Debug)]
pub(crate) struct PartitionSpans {
    pub image: Range<usize>,
    pub memory: Range<usize>,
    pub initrd: Option<Range<usize>>,
}

/// A device passed through to a partition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AssignedDevice {
    /// The reference as written in the manifest (`serial1`, `&gem3`, `/axi/…`).
    pub reference: String,
    /// What the board's tree says about it.
    pub info: DeviceInfo,
}

/// Where a forwarded interrupt comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InterruptSource {
    /// A passed-through device (its node path).
    Device(String),
    /// The partition's `interrupts` list.
    Extra,
}

/// A physical interrupt forwarded to a partition, and the INTID its guest sees.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InterruptAssignment {
    /// Physical INTID.
    pub physical: u32,
    /// INTID at the partition's virtual GIC.
    pub guest: u32,
    /// Trigger.
    pub trigger: Trigger,
    /// Where it comes from.
    pub source: InterruptSource,
}

/// A memory region besides guest RAM.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegionSpec {
    /// Name, unique in the partition.
    pub name: String,
    /// Host-physical range.
    pub host: AddressRange,
    /// Guest-physical base.
    pub ipa: u64,
    /// Stage-2 access.
    pub access: Access,
    /// Initial contents.
    pub file: Option<PathBuf>,
    /// How `host` was chosen.
    pub placement: Placement,
}

/// A channel doorbell as one endpoint sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DoorbellSpec {
    /// IPA of the trapped register page this side writes to ring the others.
    pub register: u64,
    /// Virtual INTID raised here when another side rings.
    pub intid: u32,
}

/// One partition's end of a channel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndpointSpec {
    /// Index into [`SystemSpec::channels`].
    pub channel: usize,
    /// Where this partition sees the shared memory.
    pub ipa: u64,
    /// Stage-2 access of this side.
    pub access: Access,
    /// The doorbell, when the channel has one.
    pub doorbell: Option<DoorbellSpec>,
}

/// A validated shared-memory channel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChannelSpec {
    /// Name.
    pub name: String,
    /// The shared memory (host-physical).
    pub memory: AddressRange,
    /// How `memory` was chosen.
    pub placement: Placement,
    /// Whether endpoints get doorbells.
    pub doorbell: bool,
    /// Endpoints: partition index and access, in partition order.
    pub endpoints: Vec<(usize, Access)>,
}

/// One validated partition.
#[derive(Clone, Debug)]
pub struct PartitionSpec {
    /// Name (console prefix, output file stem, guest device tree `model`).
    pub name: String,
    /// Free-text criticality label.
    pub criticality: Option<String>,
    /// Guest image source.
    pub image: ImageSource,
    /// Initial RAM disk file and its size.
    pub initrd: Option<(PathBuf, u64)>,
    /// Host-physical RAM; the guest sees it at [`RAM_BASE`].
    pub ram: AddressRange,
    /// Whether the RAM base was written or allocated.
    pub placement: Placement,
    /// Physical core of each pinned core, in vCPU order.
    pub cpus: Vec<usize>,
    /// vCPU count (at most `cpus.len()`; vCPU `i` runs on `cpus[i]`).
    pub vcpus: usize,
    /// `/chosen/bootargs`.
    pub bootargs: Option<String>,
    /// What happens when it faults.
    pub fault_policy: FaultPolicy,
    /// Console connection.
    pub console: ConsoleSpec,
    /// Pass-through devices, in manifest order.
    pub devices: Vec<AssignedDevice>,
    /// The devices' pages, merged: stage 2 identity-maps them as device memory.
    pub device_pages: Vec<AddressRange>,
    /// Forwarded physical interrupts with their guest INTIDs, ascending guest INTID.
    pub interrupts: Vec<InterruptAssignment>,
    /// Further memory regions.
    pub regions: Vec<RegionSpec>,
    /// Channel ends.
    pub endpoints: Vec<EndpointSpec>,
    /// Requested cache colours (validated; not enforced).
    pub cache_colours: Vec<u32>,
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

    /// The host-physical address behind `ipa`, an address in the partition's RAM.
    pub fn host_of(&self, ipa: u64) -> u64 {
        self.ram.base() + ipa.saturating_sub(RAM_BASE.raw())
    }

    /// Where the guest device tree is placed (IPA).
    pub fn dtb_ipa(&self) -> Ipa {
        // Cannot underflow or overflow: load-time checks keep RAM larger than the offset and
        // RAM_BASE + size inside 64 bits.
        Ipa(RAM_BASE.raw() + self.ram.size() - DTB_OFFSET_FROM_RAM_END)
    }

    /// Where the initial RAM disk is placed: the highest 4 KiB-aligned IPA below the device
    /// tree slot that holds it.
    pub fn initrd_ipa(&self) -> Option<u64> {
        let (_, size) = self.initrd.as_ref()?;
        let top = self.dtb_ipa().raw().checked_sub(*size)?;
        Some(top & !(GRANULE_4KIB - 1))
    }

    /// The IPA window a guest image (with its zeroed tail) may occupy: guest RAM below the
    /// initial RAM disk, or below the device tree slot.
    pub fn image_window(&self) -> Range<u64> {
        RAM_BASE.raw()..self.initrd_ipa().unwrap_or(self.dtb_ipa().raw())
    }

    /// Stage-2 regions of the partition: RAM, device pages, regions, channel ends.
    pub fn stage2_regions(&self, channels: &[ChannelSpec]) -> Vec<MemoryRegion> {
        let mut regions = vec![self.ram_region()];
        regions.extend(self.device_pages.iter().map(|page| MemoryRegion {
            ipa: Ipa(page.base()),
            phys: PhysAddr(page.base()),
            size: page.size(),
        }));
        regions.extend(self.regions.iter().map(|region| MemoryRegion {
            ipa: Ipa(region.ipa),
            phys: PhysAddr(region.host.base()),
            size: region.host.size(),
        }));
        regions.extend(self.endpoints.iter().filter_map(|endpoint| {
            let channel = channels.get(endpoint.channel)?;
            Some(MemoryRegion {
                ipa: Ipa(endpoint.ipa),
                phys: PhysAddr(channel.memory.base()),
                size: channel.memory.size(),
            })
        }));
        regions
    }
}

/// A validated `[display]`: everything of [`bulkhead_core::display::DisplayConfig`], with
/// the layers owned (the generated tables make them a `static` slice).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DisplaySpec {
    /// Which device shows the frames.
    pub backend: bulkhead_core::display::Backend,
    /// The backend's register block (ramfb: the board's fw_cfg device; virtio-gpu: its
    /// virtio-mmio transport; rpi4-mailbox: the VideoCore mailbox); its pages are mapped at
    /// EL2 and kept from every partition.
    pub backend_registers: Option<AddressRange>,
    /// Where the backend's firmware places the framebuffer it hands out (rpi4-mailbox:
    /// the board's `firmware_framebuffer`), which no partition maps.
    pub firmware_framebuffer: Option<AddressRange>,
    /// Screen width in pixels.
    pub width: u32,
    /// Screen height in pixels.
    pub height: u32,
    /// Microseconds per frame.
    pub frame_period_us: u32,
    /// Pixel operations per frame.
    pub budget: u64,
    /// The physical core whose frame tick composes.
    pub compose_core: usize,
    /// XRGB8888 colour of uncovered pixels.
    pub background: u32,
    /// What replaces a frozen critical layer.
    pub fail_safe: bulkhead_core::display::FailSafe,
    /// Frames per console statistics line; 0: none.
    pub statistics_every: u32,
    /// The layers, in manifest order, their framebuffers' host addresses resolved.
    pub layers: Vec<bulkhead_core::display::LayerConfig>,
}

impl DisplaySpec {
    /// Bytes of the scan-out buffer the hypervisor keeps (XRGB8888).
    pub fn scan_out_bytes(&self) -> u64 {
        u64::from(self.width) * u64::from(self.height) * 4
    }

    /// Pixel operations composing the whole screen costs.
    pub fn full_screen_cost(&self) -> u64 {
        bulkhead_core::display::composition_cost(
            bulkhead_core::display::Rect::new(0, 0, self.width, self.height),
            self.layers.iter().map(|layer| layer.destination),
        )
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
    pub(crate) channels: Vec<ChannelSpec>,
    pub(crate) dma_policy: DmaPolicy,
    /// `[display]`, validated, when the manifest has one.
    pub(crate) display: Option<DisplaySpec>,
    /// The manifest's `[system] hypervisor_memory` value, when it has one.
    pub(crate) hypervisor_memory_span: Option<Range<usize>>,
    /// `[qemu] virtio_blk`: disk image files, in manifest order.
    pub(crate) qemu_disks: Vec<PathBuf>,
    pub(crate) warnings: Diagnostics,
}

impl SystemSpec {
    /// Every stage-2 region of `partition` in the order the image maps them: its own
    /// ([`PartitionSpec::stage2_regions`]), then, on a GICv2 board, the board's GICV frame at
    /// the guest's GICC address ([`bulkhead_core::layout::VGICC_BASE`]): the guest's CPU
    /// interface is the hardware's virtual one.
    pub fn partition_stage2_regions(&self, partition: &PartitionSpec) -> Vec<MemoryRegion> {
        let mut regions = partition.stage2_regions(&self.channels);
        regions.extend(self.board.gic.guest_cpu_interface());
        regions
    }

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

    /// The board (with the manifest's console and hypervisor overrides applied).
    pub fn board(&self) -> &Board {
        &self.board
    }

    /// Partitions in manifest order.
    pub fn partitions(&self) -> &[PartitionSpec] {
        &self.partitions
    }

    /// Channels in manifest order.
    pub fn channels(&self) -> &[ChannelSpec] {
        &self.channels
    }

    /// The shared screen (`[display]`), when the system has one.
    pub fn display(&self) -> Option<&DisplaySpec> {
        self.display.as_ref()
    }

    /// The DMA policy in force.
    pub fn dma_policy(&self) -> DmaPolicy {
        self.dma_policy
    }

    /// `[qemu] virtio_blk`: the raw disk images QEMU attaches as virtio-blk devices, in
    /// manifest order (QEMU `virt` gives the first the highest virtio-mmio transport).
    pub fn qemu_disks(&self) -> &[PathBuf] {
        &self.qemu_disks
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
    let board_key = &manifest.system.get_ref().board;
    let Some(directory) = Board::directory_of(repo_root, board_key.get_ref()) else {
        let available = Board::available(repo_root);
        return Err(Diagnostic::error(
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
        ))
        .into());
    };
    let mut diagnostics = Diagnostics::new();
    let Some(board) = Board::load(&directory, &mut diagnostics) else {
        return Err(diagnostics);
    };
    let workspace = repo_root.join(validate::guest_crates::GUEST_WORKSPACE);
    let spec = match load_with_board(&source, &manifest, board, manifest_path, Some(&workspace)) {
        Ok(spec) => spec,
        Err(errors) => {
            diagnostics.append(errors);
            return Err(diagnostics);
        }
    };
    diagnostics.append(spec.warnings.clone());
    Ok(SystemSpec {
        manifest_name,
        warnings: diagnostics,
        ..spec
    })
}

/// Parses and validates manifest `text` against an already loaded `board`, without touching
/// the file system except for files the manifest names (images, initrds, region contents).
/// The board the manifest names is not looked up: `board` is used whatever it says, and there
/// is no repository, so guest crate names are not looked up either (`load` does both).
/// Fuzzing, property tests and benchmarks use this to leave `dtc` out of the loop.
pub fn load_text(
    name: &str,
    text: &str,
    board: &Board,
    manifest_path: &Path,
) -> Result<SystemSpec, Diagnostics> {
    let source = diagnostic::source(name, text.to_owned());
    let manifest = manifest::parse(&source)?;
    load_with_board(&source, &manifest, board.clone(), manifest_path, None)
}

fn load_with_board(
    source: &Source,
    manifest: &manifest::Manifest,
    board: Board,
    manifest_path: &Path,
    guest_workspace: Option<&Path>,
) -> Result<SystemSpec, Diagnostics> {
    let mut diagnostics = Diagnostics::new();
    let manifest_directory = manifest_path.parent().unwrap_or(Path::new("."));
    let validated = validate::validate(
        manifest,
        board,
        source,
        manifest_directory,
        guest_workspace,
        &mut diagnostics,
    );
    match validated {
        Some(validated) if !diagnostics.has_errors() => Ok(SystemSpec {
            manifest_path: manifest_path.to_path_buf(),
            manifest_name: manifest_path.display().to_string(),
            source: source.clone(),
            board: validated.board,
            partitions: validated.partitions,
            channels: validated.channels,
            dma_policy: validated.dma_policy,
            qemu_disks: validated.qemu_disks,
            display: validated.display,
            hypervisor_memory_span: manifest
                .system
                .get_ref()
                .hypervisor_memory
                .as_ref()
                .map(|memory| memory.span()),
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

// [utest->dsn~config-board~1]
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
