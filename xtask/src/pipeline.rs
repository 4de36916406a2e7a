//! The build pipeline: manifest → guest ELFs → generated system description → EL2 image.
//!
//! 1. load and check the manifest (`bulkhead_config::load`) to learn which guest crates it
//!    needs and which board it targets;
//! 2. build those crates in `partitions/` with one cargo invocation;
//! 3. compile the manifest with the guest ELFs into `target/bulkhead/<name>/` (`system.rs`,
//!    `memory.x`, one DTB per partition, `report.md`);
//! 4. build `hypervisor/image` with `BULKHEAD_GEN_DIR` pointing there, and copy the ELF into
//!    the same directory, so each system keeps its own image.
//!
//! The image workspace has one `target/` for every system (its dependencies are compiled
//! once); step 4 therefore holds a process-wide lock from the build until the copy, so two
//! test threads building different manifests never copy each other's image.

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use bulkhead_config::{CompiledSystem, Diagnostics, SystemSpec};

use crate::paths::{Repository, SystemDir};
use crate::progress::{CommandError, Progress};
use crate::qemu::QemuBoard;
use crate::toolchain::BareMetalCargo;

/// Serialises "build the image, copy it out" across threads of this process.
static IMAGE_BUILD: Mutex<()> = Mutex::new(());

/// What to build.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuildRequest {
    /// The system manifest (absolute, or relative to the current directory).
    pub manifest: PathBuf,
    /// When given, the manifest must target this board.
    pub board: Option<String>,
}

/// A built system, ready to boot.
#[derive(Debug)]
pub struct BuiltSystem {
    /// The validated manifest.
    pub spec: SystemSpec,
    /// What the config compiler produced.
    pub compiled: CompiledSystem,
    /// Where every output of this system is.
    pub output: SystemDir,
    /// How QEMU emulates the system's board.
    pub qemu: QemuBoard,
}

impl BuiltSystem {
    /// The hypervisor ELF to boot.
    pub fn hypervisor_elf(&self) -> PathBuf {
        self.output.hypervisor_elf()
    }
}

/// Runs the pipeline's steps for one repository.
pub struct Pipeline<'a> {
    repository: &'a Repository,
    cargo: BareMetalCargo,
    progress: Progress,
}

impl<'a> Pipeline<'a> {
    /// A pipeline building with `cargo` and reporting through `progress`.
    pub fn new(repository: &'a Repository, cargo: BareMetalCargo, progress: Progress) -> Self {
        Self {
            repository,
            cargo,
            progress,
        }
    }

    /// All four steps.
    pub fn build(&self, request: &BuildRequest) -> Result<BuiltSystem, PipelineError> {
        let (spec, compiled, output) = self.generate(request)?;
        self.build_hypervisor(&output)?;
        let qemu = QemuBoard::from(&compiled.board.qemu);
        Ok(BuiltSystem {
            spec,
            compiled,
            output,
            qemu,
        })
    }

    /// Steps 1–3: everything up to the generated sources (what `cargo xtask expand` shows).
    pub fn generate(
        &self,
        request: &BuildRequest,
    ) -> Result<(SystemSpec, CompiledSystem, SystemDir), PipelineError> {
        let manifest =
            std::path::absolute(&request.manifest).map_err(|source| PipelineError::Io {
                path: request.manifest.clone(),
                source,
            })?;
        let spec = self.load(&manifest, request.board.as_deref())?;
        let guest_images = self.build_guests(&spec)?;
        let output = self.repository.system_dir(&manifest);
        let compiled = self.compile(&spec, &output, &guest_images)?;
        Ok((spec, compiled, output))
    }

    /// Step 1: parse and check the manifest.
    pub fn load(&self, manifest: &Path, board: Option<&str>) -> Result<SystemSpec, PipelineError> {
        let spec = bulkhead_config::load(manifest, self.repository.root())
            .map_err(PipelineError::Config)?;
        if let Some(board) = board {
            if spec.board().name != board {
                return Err(PipelineError::BoardMismatch {
                    manifest: manifest.to_path_buf(),
                    requested: board.to_owned(),
                    manifest_board: spec.board().name.clone(),
                });
            }
        }
        Ok(spec)
    }

    /// Step 2: build the guest crates the manifest names; returns crate name → ELF.
    pub fn build_guests(
        &self,
        spec: &SystemSpec,
    ) -> Result<BTreeMap<String, PathBuf>, PipelineError> {
        let crates = spec.guest_crates();
        if crates.is_empty() {
            return Ok(BTreeMap::new());
        }
        let step = self.progress.step("building partitions");
        let mut command = self
            .cargo
            .release_build(&self.repository.partitions_workspace(), &crates);
        if let Err(error) = step.run(&mut command) {
            step.fail("");
            return Err(PipelineError::Build {
                what: "partitions",
                error,
            });
        }
        let images: BTreeMap<String, PathBuf> = crates
            .iter()
            .map(|name| (name.clone(), self.repository.guest_elf(name)))
            .collect();
        if let Some(missing) = images.values().find(|path| !path.is_file()) {
            step.fail("");
            return Err(PipelineError::MissingOutput {
                path: missing.clone(),
            });
        }
        step.succeed(&crates.iter().cloned().collect::<Vec<_>>().join(", "));
        Ok(images)
    }

    /// Step 3: generate the system description into `output` (the spec is already loaded,
    /// so this is `compile_loaded`: the manifest and board are not parsed twice).
    pub fn compile(
        &self,
        spec: &SystemSpec,
        output: &SystemDir,
        guest_images: &BTreeMap<String, PathBuf>,
    ) -> Result<CompiledSystem, PipelineError> {
        let step = self.progress.step("compiling manifest");
        match bulkhead_config::compile_loaded(spec, output.path(), guest_images) {
            Ok(compiled) => {
                step.succeed(&output.path().display().to_string());
                if !compiled.warnings.is_empty() {
                    self.progress.note(&compiled.warnings.to_string());
                }
                Ok(compiled)
            }
            Err(diagnostics) => {
                step.fail("");
                Err(PipelineError::Config(diagnostics))
            }
        }
    }

    /// Step 4: build the EL2 image for the generated sources in `output` and copy it there.
    pub fn build_hypervisor(&self, output: &SystemDir) -> Result<PathBuf, PipelineError> {
        let _exclusive = IMAGE_BUILD
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let step = self.progress.step("building hypervisor");
        let mut command = self
            .cargo
            .release_build(&self.repository.hypervisor_workspace(), None::<&str>);
        command.env("BULKHEAD_GEN_DIR", output.path());
        if let Err(error) = step.run(&mut command) {
            step.fail("");
            return Err(PipelineError::Build {
                what: "hypervisor",
                error,
            });
        }
        let built = self.repository.hypervisor_build_output();
        let destination = output.hypervisor_elf();
        if let Err(source) = fs::copy(&built, &destination) {
            step.fail("");
            return Err(if built.is_file() {
                PipelineError::Io {
                    path: destination,
                    source,
                }
            } else {
                PipelineError::MissingOutput { path: built }
            });
        }
        step.succeed(&destination.display().to_string());
        Ok(destination)
    }
}

/// Why a system could not be built.
#[derive(Debug)]
pub enum PipelineError {
    /// The manifest, board or a guest image has problems (rendered diagnostics).
    Config(Diagnostics),
    /// `--board` names a different board than the manifest.
    BoardMismatch {
        /// The manifest.
        manifest: PathBuf,
        /// The board asked for.
        requested: String,
        /// The board the manifest targets.
        manifest_board: String,
    },
    /// A cargo build failed.
    Build {
        /// `partitions` or `hypervisor`.
        what: &'static str,
        /// The failed command and its output.
        error: CommandError,
    },
    /// cargo succeeded but the expected ELF is not there.
    MissingOutput {
        /// The expected file.
        path: PathBuf,
    },
    /// A file could not be read or written.
    Io {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
}

impl fmt::Display for PipelineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // `{:#}` asks for the report without colours (e.g. inside a test failure message).
            Self::Config(diagnostics) if f.alternate() => write!(f, "{diagnostics:#}"),
            Self::Config(diagnostics) => write!(f, "{diagnostics}"),
            Self::BoardMismatch {
                manifest,
                requested,
                manifest_board,
            } => write!(
                f,
                "{} targets board `{manifest_board}`, not `{requested}` (drop --board or pick a manifest for `{requested}`)",
                manifest.display()
            ),
            Self::Build { what, error } => write!(f, "building the {what} failed: {error}"),
            Self::MissingOutput { path } => write!(
                f,
                "the build succeeded but {} does not exist",
                path.display()
            ),
            Self::Io { path, source } => write!(f, "{}: {source}", path.display()),
        }
    }
}

impl std::error::Error for PipelineError {}
