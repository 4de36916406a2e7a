//! One module per `cargo xtask` command, and the failure type they share.

pub mod board_dts;
pub mod build;
pub mod check;
pub mod expand;
pub mod flash;
pub mod fuzz;
pub mod lint;
pub mod run;
pub mod soak;
pub mod test;
pub mod trace;

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::process::ExitStatus;

use xtask::board_dts::BoardDtsError;
use xtask::defmt_log::DefmtLogError;
use xtask::host_tools::HostToolsError;
use xtask::pipeline::PipelineError;
use xtask::toolchain::ToolchainError;

/// Why a command failed; printed by `main` as `error: …`.
#[derive(Debug)]
pub enum Failure {
    /// No way to build for the bare-metal target.
    Toolchain(ToolchainError),
    /// QEMU or dtc missing.
    HostTools(HostToolsError),
    /// The system could not be built.
    Pipeline(PipelineError),
    /// QEMU cannot create the board's machine (a file it loads is missing).
    QemuPreflight(xtask::qemu_preflight::PreflightError),
    /// The board device tree could not be regenerated.
    BoardDts(BoardDtsError),
    /// The hypervisor's defmt table could not be read.
    DefmtLog(DefmtLogError),
    /// A file could not be read or written, or a program not started.
    Io {
        /// What was being accessed.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// QEMU ended unsuccessfully.
    Qemu(ExitStatus),
    /// `cargo xtask test`: these stages failed.
    Stages(Vec<String>),
    /// The benchmark failed.
    Bench(xtask::bench::BenchError),
    /// The coding-standard checker could not run.
    Lint(String),
    /// The traceability checker could not run.
    Trace(String),
    /// `cargo xtask fuzz`: a target crashed, or the fuzzer could not be installed or built.
    Fuzz(String),
    /// `cargo xtask soak` could not run, or its checks failed.
    Soak(String),
    /// `cargo xtask flash`: the SD card files could not be made, checked or written.
    Flash(String),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Toolchain(error) => write!(f, "{error}"),
            Self::HostTools(error) => write!(f, "{error}"),
            Self::Pipeline(error) => write!(f, "{error}"),
            Self::QemuPreflight(error) => write!(f, "{error}"),
            Self::BoardDts(error) => write!(f, "{error}"),
            Self::DefmtLog(error) => write!(f, "{error}"),
            Self::Io { path, source } => write!(f, "{}: {source}", path.display()),
            Self::Qemu(status) => write!(f, "QEMU exited with {status}"),
            Self::Stages(stages) => write!(f, "failed: {}", stages.join(", ")),
            Self::Lint(error) => write!(f, "misra-like-lints: {error}"),
            Self::Bench(error) => write!(f, "{error}"),
            Self::Trace(error) => write!(f, "bulkhead-trace: {error}"),
            Self::Soak(error) => write!(f, "soak: {error}"),
            Self::Fuzz(error) => write!(f, "{error}"),
            Self::Flash(error) => write!(f, "flash: {error}"),
        }
    }
}

impl From<ToolchainError> for Failure {
    fn from(error: ToolchainError) -> Self {
        Self::Toolchain(error)
    }
}

impl From<HostToolsError> for Failure {
    fn from(error: HostToolsError) -> Self {
        Self::HostTools(error)
    }
}

impl From<PipelineError> for Failure {
    fn from(error: PipelineError) -> Self {
        Self::Pipeline(error)
    }
}

impl From<xtask::qemu_preflight::PreflightError> for Failure {
    fn from(error: xtask::qemu_preflight::PreflightError) -> Self {
        Self::QemuPreflight(error)
    }
}

impl From<BoardDtsError> for Failure {
    fn from(error: BoardDtsError) -> Self {
        Self::BoardDts(error)
    }
}

impl From<DefmtLogError> for Failure {
    fn from(error: DefmtLogError) -> Self {
        Self::DefmtLog(error)
    }
}
