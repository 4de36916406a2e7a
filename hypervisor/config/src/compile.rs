//! The `compile` step: loads guest images, checks they fit, and writes every output file.
//!
//! Outputs go to one directory: `<partition>.bin` (flattened image), `<partition>.dtb`
//! (guest device tree), `<board>.board.dtb` (the board's device tree), `system.rs`,
//! `memory.x`, `report.md` and `memory-map.svg`. Partition names cannot contain `.`, so no
//! partition file can collide with the board blob. Files are rewritten only when their
//! content changes, so an unchanged configuration does not trigger a rebuild of the EL2 image.
//!
//! Design: [impl->dsn~config-codegen~1]

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use bulkhead_core::layout::{DTB_OFFSET_FROM_RAM_END, RAM_BASE};

use crate::board::Board;
use crate::codegen::{self, PartitionOutput};
use crate::diagnostic::{Code, Diagnostic, Diagnostics};
use crate::guest_dtb::{self, GuestDeviceTree};
use crate::image::{self, GuestImage, ImageError, ImageFormat, PlacementError};
use crate::input_file::{self, InputFileError};
use crate::report::{self, ReportPartition};
use crate::spec::{self, ImageSource, PartitionSpec, SystemSpec};
use crate::units::{AddressRange, BLOCK_2MIB, GRANULE_4KIB, align_up, hex, human_size};

/// What `compile` needs.
#[derive(Clone, Debug)]
pub struct Options {
    /// The manifest (e.g. `partitions/demo.toml`).
    pub manifest: PathBuf,
    /// Repository root: the directory holding `board-configs/`.
    pub repo_root: PathBuf,
    /// Where outputs are written (created if missing).
    pub out_dir: PathBuf,
    /// Built guest crates: crate name → ELF path.
    pub guest_images: BTreeMap<String, PathBuf>,
}

/// One partition's outputs.
#[derive(Clone, Debug)]
pub struct CompiledPartition {
    /// Partition name.
    pub name: String,
    /// The flattened image file.
    pub image: PathBuf,
    /// The guest device tree file.
    pub dtb: PathBuf,
    /// Host-physical RAM.
    pub ram: AddressRange,
    /// Physical core of each vCPU.
    pub cpus: Vec<usize>,
    /// Where the image is placed (IPA).
    pub image_ipa: u64,
    /// Entry point (IPA).
    pub entry: u64,
    /// Format the image was read as.
    pub image_format: ImageFormat,
}

/// Everything `compile` wrote.
#[derive(Clone, Debug)]
pub struct CompiledSystem {
    /// The output directory (absolute).
    pub out_dir: PathBuf,
    /// Rust source for the EL2 image to `include!`.
    pub system_rs: PathBuf,
    /// Linker script fragment with `HYPERVISOR_BASE`/`HYPERVISOR_SIZE`.
    pub memory_x: PathBuf,
    /// Human-readable summary.
    pub report: PathBuf,
    /// The memory map picture.
    pub memory_map_svg: PathBuf,
    /// The board's compiled device tree.
    pub board_dtb: PathBuf,
    /// The board (QEMU settings included).
    pub board: Board,
    /// Partitions in manifest order.
    pub partitions: Vec<CompiledPartition>,
    /// Warnings (the build succeeded).
    pub warnings: Diagnostics,
}

impl fmt::Display for CompiledSystem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "board {} — hypervisor at {}",
            self.board.name, self.board.hypervisor
        )?;
        for partition in &self.partitions {
            writeln!(
                f,
                "  {:<16} RAM {} ({}), cores {:?}, entry {}",
                partition.name,
                partition.ram,
                human_size(partition.ram.size()),
                partition.cpus,
                hex(partition.entry)
            )?;
        }
        write!(f, "  outputs in {}", self.out_dir.display())
    }
}

/// Loads and validates the manifest, then compiles it (see [`compile_loaded`]).
pub fn compile(options: &Options) -> Result<CompiledSystem, Diagnostics> {
    let spec = spec::load(&options.manifest, &options.repo_root)?;
    compile_loaded(&spec, &options.out_dir, &options.guest_images)
}

/// What to do about a guest crate that has no built image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum MissingImages {
    /// An error (building needs every image).
    Error,
    /// Skip that partition's image checks (checking without building).
    Skip,
}

/// A partition's image, when it could be read.
pub(crate) struct LoadedImage {
    pub image: GuestImage,
    pub path: PathBuf,
}

/// Reads every partition's image and checks it fits; `None` for skipped ones.
pub(crate) fn load_images(
    spec: &SystemSpec,
    guest_images: &BTreeMap<String, PathBuf>,
    missing: MissingImages,
    diagnostics: &mut Diagnostics,
) -> Vec<Option<LoadedImage>> {
    spec.partitions()
        .iter()
        .map(|partition| load_image(spec, partition, guest_images, missing, diagnostics))
        .collect()
}

/// Builds every guest device tree.
pub(crate) fn build_device_trees(
    spec: &SystemSpec,
    diagnostics: &mut Diagnostics,
) -> Vec<Option<GuestDeviceTree>> {
    (0..spec.partitions().len())
        .map(|index| match guest_dtb::build(spec, index) {
            Ok(tree) => Some(tree),
            Err(error) => {
                let partition = &spec.partitions()[index];
                diagnostics.push(
                    Diagnostic::error(
                        Code::GuestDeviceTreeFailed,
                        format!("partition `{}`: {error}", partition.name),
                    )
                    .with_label(
                        &spec.source,
                        partition.spans.memory.clone(),
                        "for this partition",
                    )
                    .with_help("pass-through node names must be unique and the tree must fit its slot (bootargs are checked when the manifest loads)"),
                );
                None
            }
        })
        .collect()
}

/// The hypervisor's own share of its RAM reservation, besides the guest blobs and stage-2
/// tables: code, data, per-core stacks and per-partition state. The demo image (4 cores,
/// 2 partitions) uses about 0.4 MiB; 1 MiB plus one 64 KiB stack per core
/// ([`HYPERVISOR_STACK_SIZE`]) leaves room for growth.
pub const HYPERVISOR_OWN_BUDGET: u64 = 1 << 20;
/// One core's EL2 stack (`STACK_SIZE` in `hypervisor/image/src/cores.rs`).
pub const HYPERVISOR_STACK_SIZE: u64 = 64 << 10;

/// What the EL2 image will hold, in bytes, as far as the compiler knows it: every blob it
/// `include_bytes!`s (flattened image, device tree, initrd, region contents; unknown images
/// count zero), the stage-2 table pool, and [`HYPERVISOR_OWN_BUDGET`] plus the stacks.
fn hypervisor_footprint(
    spec: &SystemSpec,
    images: &[Option<LoadedImage>],
    trees: &[Option<GuestDeviceTree>],
) -> u64 {
    let blobs: u64 = spec
        .partitions()
        .iter()
        .zip(images)
        .zip(trees)
        .map(|((partition, image), tree)| {
            let image = image.as_ref().map_or(0, |loaded| loaded.image.bytes.len() as u64);
            let tree = tree.as_ref().map_or(0, |tree| tree.blob.len() as u64);
            let initrd = partition.initrd.as_ref().map_or(0, |(_, size)| *size);
            let regions: u64 = partition
                .regions
                .iter()
                .filter_map(|region| {
                    let path = region.file.as_ref()?;
                    crate::input_file::size(path).ok()
                })
                .sum();
            image
                .saturating_add(tree)
                .saturating_add(initrd)
                .saturating_add(regions)
        })
        .fold(0, u64::saturating_add);
    let tables: u64 = spec
        .partitions()
        .iter()
        .map(|partition| {
            bulkhead_core::stage2::tables_needed(&spec.partition_stage2_regions(partition)) as u64
        })
        .fold(0, u64::saturating_add)
        .saturating_mul(GRANULE_4KIB);
    let stacks = (spec.board().cores.len() as u64).saturating_mul(HYPERVISOR_STACK_SIZE);
    // The display's scan-out buffer is a static of the image (`DISPLAY_SCAN_OUT_PIXELS`).
    let scan_out = spec.display().map_or(0, crate::spec::DisplaySpec::scan_out_bytes);
    blobs
        .saturating_add(tables)
        .saturating_add(stacks)
        .saturating_add(scan_out)
        .saturating_add(HYPERVISOR_OWN_BUDGET)
}

/// The EL2 image embeds every guest blob, so they must fit the hypervisor's reservation
/// together with its own code, stacks and tables; otherwise the link of the EL2 image fails
/// (`link.x` asserts it) long after `check` said yes. `check` and `compile` both run this on
/// the images they have, so they agree; the linker's assertion remains the final word on
/// the hypervisor's own size, which only the link knows exactly.
pub(crate) fn check_hypervisor_fits(
    spec: &SystemSpec,
    images: &[Option<LoadedImage>],
    trees: &[Option<GuestDeviceTree>],
    diagnostics: &mut Diagnostics,
) {
    let footprint = hypervisor_footprint(spec, images, trees);
    let reservation = spec.board().hypervisor;
    if footprint <= reservation.size() {
        return;
    }
    let needed = align_up(footprint, BLOCK_2MIB).unwrap_or(footprint);
    let needed_text = human_size(needed).replace(' ', "");
    let mut diagnostic = Diagnostic::error(
        Code::HypervisorImageTooLarge,
        format!(
            "the EL2 image would need about {} (guest images, initrds, device trees and region contents, which it keeps for restarts, plus stage-2 tables and the hypervisor itself) but the hypervisor's reservation {reservation} is {}",
            crate::units::approximate_size(footprint),
            human_size(reservation.size())
        ),
    );
    // The largest blobs first: the first label is the one the error points at, and the
    // likeliest thing to shrink.
    let mut blobs = embedded_blobs(spec, images);
    blobs.sort_by_key(|blob| std::cmp::Reverse(blob.bytes));
    // Blobs far smaller than the largest are not what to change: not labelled.
    let largest = blobs.first().map_or(0, |blob| blob.bytes);
    let worth_naming = blobs
        .iter()
        .take(MAX_BLOB_LABELS)
        .filter(|blob| blob.bytes.saturating_mul(MINOR_BLOB_FRACTION) >= largest);
    for blob in worth_naming {
        diagnostic = diagnostic.with_label(
            &spec.source,
            blob.span.clone(),
            format!("{} of `{}`: {}, embedded", blob.what, blob.partition, crate::units::approximate_size(blob.bytes)),
        );
    }
    let manifest = &spec.manifest_name;
    let help = match &spec.hypervisor_memory_span {
        Some(span) => {
            diagnostic = diagnostic.with_label(&spec.source, span.clone(), "the reservation");
            format!(
                "in {manifest}, raise [system] hypervisor_memory to size = \"{needed_text}\" (2 MiB aligned), or make the images or initrds smaller"
            )
        }
        None => format!(
            "add `hypervisor_memory = {{ size = \"{needed_text}\" }}` to [system] in {manifest} (board.toml reserves {} by default), or make the images or initrds smaller",
            human_size(reservation.size())
        ),
    };
    diagnostics.push(diagnostic.with_help(help));
}

/// At most this many embedded blobs are labelled in a BH0407 report.
const MAX_BLOB_LABELS: usize = 3;
/// Blobs smaller than the largest one divided by this are left unlabelled.
const MINOR_BLOB_FRACTION: u64 = 64;

/// A guest image or initrd the EL2 image embeds, with the manifest line naming it.
struct EmbeddedBlob<'a> {
    partition: &'a str,
    what: &'static str,
    bytes: u64,
    span: std::ops::Range<usize>,
}

/// Every partition's flattened image and initrd, with their `image`/`initrd` spans.
fn embedded_blobs<'a>(spec: &'a SystemSpec, images: &[Option<LoadedImage>]) -> Vec<EmbeddedBlob<'a>> {
    let mut blobs = Vec::new();
    for (partition, image) in spec.partitions().iter().zip(images) {
        if let Some(loaded) = image {
            blobs.push(EmbeddedBlob {
                partition: &partition.name,
                what: "image",
                bytes: loaded.image.bytes.len() as u64,
                span: partition.spans.image.clone(),
            });
        }
        if let (Some((_, bytes)), Some(span)) = (&partition.initrd, &partition.spans.initrd) {
            blobs.push(EmbeddedBlob {
                partition: &partition.name,
                what: "initrd",
                bytes: *bytes,
                span: span.clone(),
            });
        }
    }
    blobs
}

/// Whether a board the image has no driver for is an error (`build`) or a warning (`check`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DriverCheck {
    /// `build`: the EL2 image cannot be built for the board.
    Build,
    /// `check`: the manifest is valid for the board; building it is not possible yet.
    Check,
}

/// Reports every device of the board the EL2 image has no driver for (BH0510), pointing at
/// the `board.toml` key it comes from. The one difference between `check` and `build` on
/// purpose: the manifest is right for the board (so `check`, which reviews manifests, accepts
/// it with this warning), but the image cannot drive the board (so `build` refuses it rather
/// than producing an image that would stop at boot or drive the UART with another model's
/// registers).
pub(crate) fn check_platform_drivers(spec: &SystemSpec, stage: DriverCheck, diagnostics: &mut Diagnostics) {
    let board = spec.board();
    let Err(missing) = codegen::platform_types(board) else {
        return;
    };
    let toml = &board.spans;
    for device in missing {
        let (what, span, label) = match device {
            codegen::MissingDriver::InterruptController(model) => (
                format!("the interrupt controller ({model})"),
                toml.device_tree.clone(),
                "the device tree describing it",
            ),
            codegen::MissingDriver::ConsoleUart(model) => (
                format!("the console UART ({model}, `{}`)", board.console.path),
                toml.console.clone(),
                "this UART",
            ),
            codegen::MissingDriver::LogUart(model) => (
                format!(
                    "the log UART ({model}, `{}`)",
                    board.log.as_ref().map_or("", |log| log.path.as_str())
                ),
                toml.log.clone().unwrap_or_else(|| toml.console.clone()),
                "this UART",
            ),
        };
        let message = format!(
            "board `{}`: {what} has no EL2 driver in this hypervisor",
            board.name
        );
        let (diagnostic, help) = match stage {
            DriverCheck::Build => (
                Diagnostic::error(Code::NoEl2Driver, message),
                "the image is not built for a board it cannot drive; drivers exist for GICv3, GICv2 (GIC-400) and for PL011 and Cadence UARTs",
            ),
            DriverCheck::Check => (
                Diagnostic::warning(Code::NoEl2Driver, message),
                "the manifest is valid for this board, but `cargo xtask build` refuses it until the driver exists",
            ),
        };
        diagnostics.push(
            diagnostic
                .with_label(&toml.source, span, label)
                .with_help(help.to_owned()),
        );
    }
}

/// Loads every guest image of an already validated system, checks it fits its partition, and
/// writes all outputs to `out_dir`.
pub fn compile_loaded(
    spec: &SystemSpec,
    out_dir: &Path,
    guest_images: &BTreeMap<String, PathBuf>,
) -> Result<CompiledSystem, Diagnostics> {
    let mut diagnostics = spec.warnings().clone();
    let out_dir = std::path::absolute(out_dir).unwrap_or_else(|_| out_dir.to_path_buf());
    if let Err(error) = std::fs::create_dir_all(&out_dir) {
        diagnostics.push(Diagnostic::error(
            Code::Io,
            format!("cannot create {}: {error}", out_dir.display()),
        ));
        return Err(diagnostics);
    }
    let images = load_images(spec, guest_images, MissingImages::Error, &mut diagnostics);
    let trees = build_device_trees(spec, &mut diagnostics);
    check_hypervisor_fits(spec, &images, &trees, &mut diagnostics);
    check_platform_drivers(spec, DriverCheck::Build, &mut diagnostics);
    if diagnostics.has_errors() {
        return Err(diagnostics);
    }
    let loaded: Vec<(&PartitionSpec, &LoadedImage, &GuestDeviceTree)> = spec
        .partitions()
        .iter()
        .zip(&images)
        .zip(&trees)
        .filter_map(|((partition, image), tree)| Some((partition, image.as_ref()?, tree.as_ref()?)))
        .collect();

    let mut writer = Writer {
        diagnostics: &mut diagnostics,
    };
    let board_dtb = out_dir.join(format!("{}.board.dtb", spec.board().name));
    writer.write(&board_dtb, &spec.board().dtb);
    let paths: Vec<(PathBuf, PathBuf)> = loaded
        .iter()
        .map(|(partition, image, tree)| {
            let image_path = out_dir.join(format!("{}.bin", partition.name));
            let dtb_path = out_dir.join(format!("{}.dtb", partition.name));
            writer.write(&image_path, &image.image.bytes);
            writer.write(&dtb_path, &tree.blob);
            (image_path, dtb_path)
        })
        .collect();
    let outputs: Vec<PartitionOutput<'_>> = loaded
        .iter()
        .zip(&paths)
        .map(
            |((partition, image, tree), (image_path, dtb_path))| PartitionOutput {
                spec: partition,
                image: &image.image,
                image_path,
                dtb_path,
                dtb_len: tree.blob.len(),
                boot_seeds: bulkhead_core::boot_seed::locate(&tree.blob),
            },
        )
        .collect();
    let report_inputs: Vec<ReportPartition<'_>> = loaded
        .iter()
        .map(|(partition, image, tree)| ReportPartition {
            spec: partition,
            image: Some((&image.image, image.path.as_path())),
            tree,
        })
        .collect();
    let system_rs = out_dir.join("system.rs");
    let memory_x = out_dir.join("memory.x");
    let report_path = out_dir.join("report.md");
    let svg_path = out_dir.join(report::MEMORY_MAP_SVG);
    writer.write(&system_rs, codegen::system_rs(spec, &outputs).as_bytes());
    writer.write(&memory_x, codegen::memory_x(spec).as_bytes());
    writer.write(&out_dir.join("preload.x"), codegen::preload_x(spec, &outputs).as_bytes());
    writer.write(
        &report_path,
        report::report_md(spec, &report_inputs).as_bytes(),
    );
    writer.write(
        &svg_path,
        report::memory_map_svg(spec, &report_inputs).as_bytes(),
    );
    if let Some(screen) = report::display_svg(spec) {
        writer.write(&out_dir.join(report::DISPLAY_SVG), screen.as_bytes());
    }
    if diagnostics.has_errors() {
        return Err(diagnostics);
    }

    let partitions = outputs
        .iter()
        .map(|output| CompiledPartition {
            name: output.spec.name.clone(),
            image: output.image_path.to_path_buf(),
            dtb: output.dtb_path.to_path_buf(),
            ram: output.spec.ram,
            cpus: output.spec.cpus.clone(),
            image_ipa: output.image.load_ipa,
            entry: output.image.entry,
            image_format: output.image.format,
        })
        .collect();
    Ok(CompiledSystem {
        out_dir,
        system_rs,
        memory_x,
        report: report_path,
        memory_map_svg: svg_path,
        board_dtb,
        board: spec.board().clone(),
        partitions,
        warnings: diagnostics,
    })
}

/// Reads, parses and places one partition's image, reporting against its `image` key.
// [impl->dsn~config-images~1]
fn load_image(
    spec: &SystemSpec,
    partition: &PartitionSpec,
    guest_images: &BTreeMap<String, PathBuf>,
    missing: MissingImages,
    diagnostics: &mut Diagnostics,
) -> Option<LoadedImage> {
    let span = partition.spans.image.clone();
    let report =
        |diagnostics: &mut Diagnostics, code: Code, message: String, label: &str, help: String| {
            diagnostics.push(
                Diagnostic::error(code, format!("partition `{}`: {message}", partition.name))
                    .with_label(&spec.source, span.clone(), label)
                    .with_help(help),
            );
        };
    let path = match &partition.image {
        ImageSource::File(path) => path.clone(),
        ImageSource::Crate(name) => match guest_images.get(name) {
            Some(path) if missing == MissingImages::Error || path.is_file() => path.clone(),
            _ if missing == MissingImages::Skip => return None,
            _ => {
                let built: Vec<&str> = guest_images.keys().map(String::as_str).collect();
                report(
                    diagnostics,
                    Code::GuestImageMissing,
                    format!("guest crate `{name}` was not built"),
                    "this crate",
                    format!(
                        "build it with `cargo xtask build`; images passed for: {}",
                        if built.is_empty() {
                            "none".to_owned()
                        } else {
                            built.join(", ")
                        }
                    ),
                );
                return None;
            }
        },
    };
    // Built crates come from xtask, files were checked when the manifest loaded; both are
    // checked again here (regular file, bounded size) because reading a FIFO never returns.
    let bytes = match input_file::read(&path) {
        Ok(bytes) => bytes,
        Err(error) => {
            let code = match error {
                InputFileError::Unreadable(_) => Code::Io,
                InputFileError::NotRegular(_) | InputFileError::TooLarge(_) => {
                    Code::InputFileInvalid
                }
            };
            report(
                diagnostics,
                code,
                format!("image {} {error}", path.display()),
                "this image",
                format!(
                    "file paths are relative to the manifest's directory; images must be regular files of at most {}",
                    human_size(input_file::MAX_INPUT_FILE_SIZE)
                ),
            );
            return None;
        }
    };
    let image = match image::load(&bytes, partition.ram.size()) {
        Ok(image) => image,
        Err(error) => {
            let (code, help) = match error {
                ImageError::NotAarch64 { .. } => (
                    Code::ElfNotAarch64,
                    "build the guest for aarch64-unknown-none",
                ),
                ImageError::NotExecutable { .. } => (
                    Code::ElfNotExecutable,
                    "link the guest as a static executable",
                ),
                ImageError::TooLarge { .. } => (
                    Code::ImageTooLarge,
                    "check the guest's link addresses and memory.size",
                ),
                _ => (
                    Code::ImageFormat,
                    "give an AArch64 ELF executable or an arm64 Image",
                ),
            };
            report(
                diagnostics,
                code,
                format!("{}: {error}", path.display()),
                "this image",
                help.to_owned(),
            );
            return None;
        }
    };
    let ram_end = RAM_BASE.raw() + partition.ram.size();
    match image::check_placement(&image, partition.image_window(), ram_end) {
        Ok(()) => Some(LoadedImage { image, path }),
        Err(PlacementError::OutsideRam { what }) => {
            report(
                diagnostics,
                Code::ImageOutsideRam,
                what,
                "this image",
                format!(
                    "link the guest inside guest RAM, which starts at IPA {}",
                    hex(RAM_BASE.raw())
                ),
            );
            None
        }
        Err(PlacementError::TooLarge {
            image_end,
            window_end,
        }) if image_end <= partition.dtb_ipa().raw() => {
            // The image fits below the device tree; it is the initrd that takes its room.
            let span = partition.spans.initrd.clone().unwrap_or(span.clone());
            diagnostics.push(
                Diagnostic::error(
                    Code::InitrdTooLarge,
                    format!(
                        "partition `{}`: the image ends at IPA {} but the initrd starts at {}",
                        partition.name,
                        hex(image_end),
                        hex(window_end)
                    ),
                )
                .with_label(&spec.source, span, "no room for the initrd")
                .with_help("raise memory.size: the initrd sits right below the device tree slot"),
            );
            None
        }
        Err(PlacementError::TooLarge {
            image_end,
            window_end,
        }) => {
            let needed = (image_end - RAM_BASE.raw())
                .checked_add(DTB_OFFSET_FROM_RAM_END)
                .and_then(|size| align_up(size, BLOCK_2MIB));
            report(
                diagnostics,
                Code::ImageTooLarge,
                format!(
                    "the image (with .bss) ends at IPA {} but the device tree slot starts at {}",
                    hex(image_end),
                    hex(window_end)
                ),
                "does not fit",
                match needed {
                    Some(size) => format!(
                        "raise memory.size to at least \"{}\"",
                        human_size(size).replace(' ', "")
                    ),
                    None => "the image is larger than any partition can be".to_owned(),
                },
            );
            None
        }
    }
}

/// Writes files only when their content differs, recording failures.
pub(crate) struct Writer<'a> {
    pub diagnostics: &'a mut Diagnostics,
}

impl Writer<'_> {
    pub fn write(&mut self, path: &Path, contents: &[u8]) {
        if std::fs::read(path).is_ok_and(|existing| existing == contents) {
            return;
        }
        if let Err(error) = std::fs::write(path, contents) {
            self.diagnostics.push(Diagnostic::error(
                Code::Io,
                format!("cannot write {}: {error}", path.display()),
            ));
        }
    }
}
