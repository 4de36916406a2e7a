//! `cargo xtask check --manifest FILE`: every check and every output of the compiler, without
//! building the hypervisor or the guests.
//!
//! Guest images built earlier are checked like in a build (format, architecture, fit); a
//! guest crate that is not built yet is skipped, and the summary says which image checks
//! were skipped. Images given as files in the manifest are always checked. When an output
//! directory is given, the report, the memory map picture and the guest device trees are
//! written there (and `system.rs` too when every image was available), so a reviewer can look
//! at the system before an image exists.
//!
//! Design: [impl->dsn~config-checks~1]

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::codegen::{self, PartitionOutput};
use crate::compile::{self, MissingImages, Writer};
use crate::diagnostic::{Code, Diagnostic, Diagnostics};
use crate::image::ImageFormat;
use crate::report::{self, ReportPartition};
use crate::spec::{self, ImageSource, SystemSpec};
use crate::units::{hex, human_size};

/// What [`check`] needs.
#[derive(Clone, Debug)]
pub struct CheckOptions {
    /// The manifest.
    pub manifest: PathBuf,
    /// Repository root: the directory holding `board-configs/`.
    pub repo_root: PathBuf,
    /// Guest crates that may already be built: crate name → ELF path. Paths that do not exist
    /// (yet) are skipped, not errors.
    pub guest_images: BTreeMap<String, PathBuf>,
    /// Where to write the report, picture, device trees (and `system.rs` when complete);
    /// `None` checks only.
    pub out_dir: Option<PathBuf>,
}

/// What happened to one partition's image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImageCheck {
    /// Read and checked.
    Checked {
        /// Partition name.
        partition: String,
        /// Format it was read as.
        format: ImageFormat,
        /// Entry point (IPA).
        entry: u64,
        /// Bytes copied at (re)start.
        size: u64,
    },
    /// Not built yet: format, architecture and fit were not checked.
    Skipped {
        /// Partition name.
        partition: String,
        /// The guest crate to build.
        crate_name: String,
    },
}

/// The outcome of a successful check (warnings are allowed).
#[derive(Clone, Debug)]
pub struct CheckReport {
    /// The validated system.
    pub spec: SystemSpec,
    /// Per partition, what happened to its image.
    pub images: Vec<ImageCheck>,
    /// Files written (empty without an output directory).
    pub written: Vec<PathBuf>,
    /// Whether `system.rs` could be generated (every image was available).
    pub system_rs_generated: bool,
    /// Warnings.
    pub warnings: Diagnostics,
    /// Wall time of the whole check.
    pub elapsed: Duration,
}

impl CheckReport {
    /// The partitions whose image checks were skipped.
    pub fn skipped(&self) -> impl Iterator<Item = (&str, &str)> {
        self.images.iter().filter_map(|image| match image {
            ImageCheck::Skipped {
                partition,
                crate_name,
            } => Some((partition.as_str(), crate_name.as_str())),
            ImageCheck::Checked { .. } => None,
        })
    }
}

/// Loads, validates and checks the manifest and whatever images exist; writes the outputs
/// when asked. Errors (with any warnings) come back as [`Diagnostics`].
pub fn check(options: &CheckOptions) -> Result<CheckReport, Diagnostics> {
    let started = Instant::now();
    let spec = spec::load(&options.manifest, &options.repo_root)?;
    check_loaded(
        spec,
        &options.guest_images,
        options.out_dir.as_deref(),
        started,
    )
}

/// [`check`] for an already loaded system; `started` is when the caller began timing.
pub fn check_loaded(
    spec: SystemSpec,
    guest_images: &BTreeMap<String, PathBuf>,
    out_dir: Option<&Path>,
    started: Instant,
) -> Result<CheckReport, Diagnostics> {
    let mut diagnostics = spec.warnings().clone();
    let images = compile::load_images(&spec, guest_images, MissingImages::Skip, &mut diagnostics);
    let trees = compile::build_device_trees(&spec, &mut diagnostics);
    compile::check_hypervisor_fits(&spec, &images, &trees, &mut diagnostics);
    compile::check_platform_drivers(&spec, compile::DriverCheck::Check, &mut diagnostics);
    if diagnostics.has_errors() {
        return Err(diagnostics);
    }
    let image_checks: Vec<ImageCheck> = spec
        .partitions()
        .iter()
        .zip(&images)
        .map(|(partition, image)| match (image, &partition.image) {
            (Some(loaded), _) => ImageCheck::Checked {
                partition: partition.name.clone(),
                format: loaded.image.format,
                entry: loaded.image.entry,
                size: loaded.image.bytes.len() as u64,
            },
            (None, ImageSource::Crate(crate_name)) => ImageCheck::Skipped {
                partition: partition.name.clone(),
                crate_name: crate_name.clone(),
            },
            (None, ImageSource::File(path)) => ImageCheck::Skipped {
                partition: partition.name.clone(),
                crate_name: path.display().to_string(),
            },
        })
        .collect();
    let report_inputs: Vec<ReportPartition<'_>> = spec
        .partitions()
        .iter()
        .zip(&images)
        .zip(&trees)
        .filter_map(|((partition, image), tree)| {
            Some(ReportPartition {
                spec: partition,
                image: image
                    .as_ref()
                    .map(|loaded| (&loaded.image, loaded.path.as_path())),
                tree: tree.as_ref()?,
            })
        })
        .collect();
    let report_md = report::report_md(&spec, &report_inputs);
    let svg = report::memory_map_svg(&spec, &report_inputs);
    let complete = images.iter().all(Option::is_some);
    let mut written = Vec::new();
    let mut system_rs_generated = false;
    if let Some(out_dir) = out_dir {
        if let Err(error) = std::fs::create_dir_all(out_dir) {
            diagnostics.push(Diagnostic::error(
                Code::Io,
                format!("cannot create {}: {error}", out_dir.display()),
            ));
            return Err(diagnostics);
        }
        let mut writer = Writer {
            diagnostics: &mut diagnostics,
        };
        let mut write = |name: String, bytes: &[u8]| {
            let path = out_dir.join(name);
            writer.write(&path, bytes);
            written.push(path);
        };
        write("report.md".to_owned(), report_md.as_bytes());
        write(report::MEMORY_MAP_SVG.to_owned(), svg.as_bytes());
        write("memory.x".to_owned(), codegen::memory_x(&spec).as_bytes());
        for input in &report_inputs {
            write(format!("{}.dtb", input.spec.name), &input.tree.blob);
        }
        if complete {
            let paths: Vec<(PathBuf, PathBuf)> = report_inputs
                .iter()
                .map(|input| {
                    (
                        out_dir.join(format!("{}.bin", input.spec.name)),
                        out_dir.join(format!("{}.dtb", input.spec.name)),
                    )
                })
                .collect();
            for input in &report_inputs {
                if let Some((image, _)) = input.image {
                    write(format!("{}.bin", input.spec.name), &image.bytes);
                }
            }
            let outputs: Vec<PartitionOutput<'_>> = report_inputs
                .iter()
                .zip(&paths)
                .filter_map(|(input, (image_path, dtb_path))| {
                    Some(PartitionOutput {
                        spec: input.spec,
                        image: input.image?.0,
                        image_path,
                        dtb_path,
                        dtb_len: input.tree.blob.len(),
                        boot_seeds: bulkhead_core::boot_seed::locate(&input.tree.blob),
                    })
                })
                .collect();
            write(
                "system.rs".to_owned(),
                codegen::system_rs(&spec, &outputs).as_bytes(),
            );
            write("preload.x".to_owned(), codegen::preload_x(&spec, &outputs).as_bytes());
            system_rs_generated = true;
        }
        if diagnostics.has_errors() {
            return Err(diagnostics);
        }
    } else if complete {
        system_rs_generated = true;
    }
    Ok(CheckReport {
        spec,
        images: image_checks,
        written,
        system_rs_generated,
        warnings: diagnostics,
        elapsed: started.elapsed(),
    })
}

impl fmt::Display for CheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let spec = &self.spec;
        let board = spec.board();
        writeln!(
            f,
            "{}: board {} ({} cores, GIC{}), hypervisor at {}",
            spec.manifest_name(),
            board.name,
            board.cores.len(),
            match board.gic {
                bulkhead_core::system::Gic::V2 { .. } => "v2",
                bulkhead_core::system::Gic::V3 { .. } => "v3",
            },
            board.hypervisor
        )?;
        for (partition, image) in spec.partitions().iter().zip(&self.images) {
            let image_text = match image {
                ImageCheck::Checked {
                    format,
                    entry,
                    size,
                    ..
                } => format!("{format} {}, entry {}", human_size(*size), hex(*entry)),
                ImageCheck::Skipped { crate_name, .. } => {
                    format!("image `{crate_name}` not built: checks skipped")
                }
            };
            writeln!(
                f,
                "  {:<16} RAM {} ({}), cores {:?}, {} device(s), {} interrupt(s), {}",
                partition.name,
                partition.ram,
                human_size(partition.ram.size()),
                partition.cpus,
                partition.devices.len(),
                partition.interrupts.len(),
                image_text
            )?;
        }
        for channel in spec.channels() {
            let ends: Vec<String> = channel
                .endpoints
                .iter()
                .filter_map(|(index, access)| {
                    Some(format!(
                        "{} {}",
                        spec.partitions().get(*index)?.name,
                        report::access_text(*access)
                    ))
                })
                .collect();
            writeln!(
                f,
                "  channel {:<8} {} ({}) between {}{}",
                channel.name,
                channel.memory,
                human_size(channel.memory.size()),
                ends.join(", "),
                if channel.doorbell { ", doorbell" } else { "" }
            )?;
        }
        let skipped: Vec<String> = self
            .skipped()
            .map(|(partition, crate_name)| format!("{partition} ({crate_name})"))
            .collect();
        if !skipped.is_empty() {
            writeln!(
                f,
                "  image checks skipped (not built yet; `cargo xtask build` checks them): {}",
                skipped.join(", ")
            )?;
        }
        if !self.written.is_empty() {
            let directory = self
                .written
                .first()
                .and_then(|path| path.parent())
                .map(|path| path.display().to_string())
                .unwrap_or_default();
            writeln!(
                f,
                "  outputs in {directory} (report.md, {}{})",
                report::MEMORY_MAP_SVG,
                if self.system_rs_generated {
                    ", system.rs"
                } else {
                    "; no system.rs until every image is built"
                }
            )?;
        }
        write!(
            f,
            "  {} warning(s); checked in {:.1} ms",
            self.warnings.warnings().count(),
            self.elapsed.as_secs_f64() * 1000.0
        )
    }
}
