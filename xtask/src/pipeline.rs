//! The build pipeline: manifest → guest ELFs → generated system description → EL2 image.
//!
//! 0. produce the Linux guest files (`target/linux-guest/`) the manifest names, if any
//!    ([`crate::linux_guest`]);
//! 1. load and check the manifest (`bulkhead_config::load`) to learn which guest crates it
//!    needs and which board it targets;
//! 2. build those crates in `partitions/` with one cargo invocation;
//! 3. compile the manifest with the guest ELFs into `target/bulkhead/<name>/` (`system.rs`,
//!    `memory.x`, one DTB per partition, `report.md`);
//! 4. build `hypervisor/image` with `BULKHEAD_GEN_DIR` pointing there, and copy the ELF into
//!    the same directory, so each system keeps its own image.
//!
//! Compiler warnings in the guest and EL2 builds are collected from cargo's output (cargo
//! replays cached warnings, so a warm build reports them too) and shown after the step; a
//! pipeline made with [`Pipeline::denying_warnings`] (the test suite's) fails on any.
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
use crate::progress::{CommandError, CommandOutput, Progress, Step};
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

    /// Whether QEMU's second `-serial` carries this system's `defmt` log: the system has a
    /// log UART (`board.toml` `log` or `[system] log`) and the board's QEMU settings create
    /// that port. A board may create the port for systems that take its spare UART as the
    /// log (ZCU102's UART1) while others pass that UART through to a partition.
    pub fn log_port(&self) -> bool {
        self.qemu.log_port(self.spec.board().log.is_some())
    }
}

/// Runs the pipeline's steps for one repository.
pub struct Pipeline<'a> {
    repository: &'a Repository,
    cargo: BareMetalCargo,
    progress: Progress,
    warnings: WarningPolicy,
}

/// What a compiler warning in the guest or EL2 build does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WarningPolicy {
    /// Shown after the step; the build goes on (`cargo xtask build`/`run`).
    Show,
    /// Fails the build (`cargo xtask test`: a newcomer's build prints no warnings).
    Deny,
}

impl<'a> Pipeline<'a> {
    /// A pipeline building with `cargo` and reporting through `progress`.
    pub fn new(repository: &'a Repository, cargo: BareMetalCargo, progress: Progress) -> Self {
        Self {
            repository,
            cargo,
            progress,
            warnings: WarningPolicy::Show,
        }
    }

    /// The same pipeline, failing on any compiler warning in the guest or EL2 builds.
    pub fn denying_warnings(self) -> Self {
        Self {
            warnings: WarningPolicy::Deny,
            ..self
        }
    }

    /// Runs one cargo build of `what` in `step`, then applies the warning policy; on either
    /// failure the step ends as failed, otherwise it is handed back to be finished.
    fn cargo_build(&self, step: Step, command: &mut std::process::Command, what: &'static str) -> Result<Step, PipelineError> {
        let checked = match step.run(command) {
            Ok(output) => self.check_warnings(what, &output).map_err(|error| ("compiler warnings", error)),
            Err(error) => Err(("", PipelineError::Build { what, error })),
        };
        match checked {
            Ok(()) => Ok(step),
            Err((outcome, error)) => {
                step.fail(outcome);
                Err(error)
            }
        }
    }

    /// Applies the warning policy to a successful cargo build's output.
    fn check_warnings(&self, what: &'static str, output: &CommandOutput) -> Result<(), PipelineError> {
        let warnings = compiler_warnings(&output.stderr);
        if warnings.is_empty() {
            return Ok(());
        }
        match self.warnings {
            WarningPolicy::Show => {
                self.progress.note(&format!("the {what} build printed warnings:\n{}", warnings.join("\n")));
                Ok(())
            }
            WarningPolicy::Deny => Err(PipelineError::Warnings { what, warnings }),
        }
    }

    /// All four steps.
    pub fn build(&self, request: &BuildRequest) -> Result<BuiltSystem, PipelineError> {
        let (spec, compiled, output) = self.generate(request)?;
        self.build_hypervisor(&output)?;
        let mut qemu = QemuBoard::for_board(&compiled.board);
        qemu.extra_args
            .extend(crate::qemu::virtio_blk_arguments(spec.qemu_disks()));
        qemu.extra_args.extend(display_devices(&spec));
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
        crate::linux_guest::prepare_inputs(self.repository, &manifest, &self.progress, &self.cargo)
            .map_err(PipelineError::LinuxGuest)?;
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
        let step = self.cargo_build(step, &mut command, "partitions")?;
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
        let step = self.cargo_build(step, &mut command, "hypervisor")?;
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
    /// cargo succeeded with warnings, and the pipeline denies them.
    Warnings {
        /// `partitions` or `hypervisor`.
        what: &'static str,
        /// Each warning as the compiler rendered it.
        warnings: Vec<String>,
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
    /// The Linux guest's kernel or initramfs the manifest names could not be produced.
    LinuxGuest(crate::linux_guest::LinuxGuestError),
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
            Self::Warnings { what, warnings } => write!(
                f,
                "the {what} build printed {} warning(s), and the test suite allows none:\n{}",
                warnings.len(),
                warnings.join("\n")
            ),
            Self::MissingOutput { path } => write!(
                f,
                "the build succeeded but {} does not exist",
                path.display()
            ),
            Self::Io { path, source } => write!(f, "{}: {source}", path.display()),
            Self::LinuxGuest(error) => write!(f, "preparing the Linux guest: {error}"),
        }
    }
}

impl std::error::Error for PipelineError {}

/// The compiler warnings in cargo's standard error, each with its source excerpt (the
/// `warning:` line and the lines under it, up to the blank line that ends it). Cargo's per-crate summary ("`x` (bin
/// "y") generated 2 warnings") repeats what the warnings said and is left out, but it alone
/// still counts as one warning: it means warnings were printed.
pub fn compiler_warnings(stderr: &str) -> Vec<String> {
    let mut warnings: Vec<String> = Vec::new();
    let mut current: Option<String> = None;
    let mut summaries = Vec::new();
    for line in stderr.lines() {
        if let Some(message) = line.strip_prefix("warning: ") {
            warnings.extend(current.take());
            if message.contains(" generated ") && message.contains(" warning") {
                summaries.push(line.to_owned());
            } else {
                current = Some(line.to_owned());
            }
        } else if let Some(warning) = current.as_mut() {
            // rustc ends every diagnostic with a blank line.
            if line.trim().is_empty() {
                warnings.extend(current.take());
            } else {
                warning.push('\n');
                warning.push_str(line);
            }
        }
    }
    warnings.extend(current);
    if warnings.is_empty() {
        warnings = summaries;
    }
    warnings
}

/// The QEMU devices the system's display backend drives (`docs/display.md`): neither ramfb
/// nor a GPU is part of QEMU `virt` until asked for. The GPU goes on the transport the
/// configuration compiler gave the hypervisor (the lowest-addressed one, which QEMU names
/// `virtio-mmio-bus.0`; `bulkhead_config`'s `virtio_gpu_transport`), as a modern (version 2)
/// device, with the manifest's resolution as its preferred mode.
pub fn display_devices(spec: &bulkhead_config::spec::SystemSpec) -> Vec<String> {
    use bulkhead_core::display::Backend;
    match spec.display() {
        Some(display) => match display.backend {
            Backend::Ramfb => vec!["-device".to_owned(), "ramfb".to_owned()],
            Backend::VirtioGpu => crate::qemu::modern_virtio_device(format!(
                "virtio-gpu-device,bus=virtio-mmio-bus.0,xres={},yres={}",
                display.width, display.height
            )),
            // The Raspberry Pi 4's framebuffer is part of `raspi4b`: nothing to add.
            Backend::RamCapture | Backend::Rpi4Mailbox => Vec::new(),
        },
        None => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A qemu-virt system whose display is shown by `backend`.
    fn display_system(backend: &str) -> bulkhead_config::spec::SystemSpec {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf();
        let directory = root.join("target").join(format!("xtask-display-devices-{}-{backend}", std::process::id()));
        std::fs::create_dir_all(&directory).unwrap();
        let manifest = directory.join("display.toml");
        std::fs::write(
            &manifest,
            format!(
                "[system]\nboard = \"qemu-virt\"\n\n[[partition]]\nname = \"a\"\nimage = {{ crate = \"heartbeat\" }}\n\
                 memory = {{ size = \"16MiB\" }}\ncpus = [0]\n\n[display]\nbackend = \"{backend}\"\n\
                 resolution = {{ width = 320, height = 200 }}\nframe_period_us = 16667\ncompose_core = 3\n\
                 fail_safe = {{ colour = 0xff0000 }}\n"
            ),
        )
        .unwrap();
        let spec = bulkhead_config::load(&manifest, &root);
        let _ = std::fs::remove_dir_all(&directory);
        spec.unwrap_or_else(|diagnostics| panic!("{diagnostics:?}"))
    }

    #[test]
    fn a_virtio_gpu_system_gets_a_modern_gpu_on_the_transport_the_compiler_gave_the_hypervisor() {
        let spec = display_system("virtio-gpu");
        let display = spec.display().unwrap();
        assert_eq!(display.backend_registers.map(|range| range.base()), Some(0x0a00_0000), "the lowest transport: virtio-mmio-bus.0");
        assert_eq!(
            display_devices(&spec),
            [
                "-global",
                "virtio-mmio.force-legacy=false",
                "-device",
                "virtio-gpu-device,bus=virtio-mmio-bus.0,xres=320,yres=200"
            ]
        );
        assert_eq!(display_devices(&display_system("ramfb")), ["-device", "ramfb"]);
        assert!(display_devices(&display_system("ram-capture")).is_empty());
    }

    const UNUSED_CONSTANT: &str = "   Compiling bulkhead-image v0.1.0 (/repo/hypervisor/image)
warning: constant `MAX_DEVICE_REGIONS` is never used
  --> /repo/target/bulkhead/demo/system.rs:15:11
   |
15 | pub const MAX_DEVICE_REGIONS: usize = 0;
   |           ^^^^^^^^^^^^^^^^^^
   |
   = note: `#[warn(dead_code)]` on by default

warning: `bulkhead-image` (bin \"bulkhead-hypervisor\") generated 1 warning
    Finished `release` profile [optimized + debuginfo] target(s) in 9.10s
";

    #[test]
    fn a_warning_is_kept_with_its_excerpt_and_the_summary_is_not_counted_twice() {
        let warnings = compiler_warnings(UNUSED_CONSTANT);
        assert_eq!(warnings.len(), 1, "{warnings:#?}");
        assert!(warnings[0].starts_with("warning: constant `MAX_DEVICE_REGIONS` is never used\n  --> "));
        assert!(warnings[0].ends_with("on by default"));
    }

    #[test]
    fn a_clean_build_has_no_warnings() {
        let clean = "   Compiling heartbeat v0.1.0\n    Finished `release` profile [optimized] target(s) in 1.0s\n";
        assert!(compiler_warnings(clean).is_empty());
    }

    #[test]
    fn a_summary_alone_still_counts() {
        let summary = "warning: `heartbeat` (bin \"heartbeat\") generated 3 warnings\n";
        assert_eq!(compiler_warnings(summary).len(), 1);
    }

    #[test]
    fn several_warnings_are_each_reported() {
        let two = "warning: unused variable: `x`\n --> src/main.rs:3:9\n\nwarning: unused import: `y`\n --> src/main.rs:1:5\n";
        assert_eq!(compiler_warnings(two).len(), 2);
    }
}
