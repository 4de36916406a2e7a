//! `cargo xtask expand`: prints the generated `system.rs` (what the EL2 image `include!`s).

use std::fs;

use xtask::host_tools::{self, Need};
use xtask::paths::Repository;
use xtask::pipeline::Pipeline;
use xtask::progress::Progress;
use xtask::toolchain::BareMetalCargo;

use super::Failure;
use super::build::request;
use crate::cli::SystemArgs;

/// Builds the guests (the compiler reads their ELFs), compiles the manifest and prints the
/// generated Rust on stdout; progress goes to stderr, so the output can be redirected.
pub fn expand(repository: &Repository, arguments: &SystemArgs) -> Result<(), Failure> {
    let progress = Progress::terminal();
    let cargo = BareMetalCargo::ensure(&progress)?;
    host_tools::ensure(Need::Dtc, &progress)?;
    let (_, _, output) =
        Pipeline::new(repository, cargo, progress).generate(&request(repository, arguments))?;
    let path = output.system_rs();
    let text = fs::read_to_string(&path).map_err(|source| Failure::Io { path, source })?;
    print!("{text}");
    Ok(())
}
