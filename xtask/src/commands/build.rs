//! `cargo xtask build`: the pipeline, then a summary of what was built.

use std::path::Path;

use bulkhead_config::units::{hex, human_size};

use xtask::host_tools::{self, Need};
use xtask::paths::Repository;
use xtask::pipeline::{BuildRequest, BuiltSystem, Pipeline};
use xtask::progress::Progress;
use xtask::toolchain::BareMetalCargo;

use super::Failure;
use crate::cli::SystemArgs;

/// Builds the system `arguments` name and prints where the image is and what it contains.
pub fn build(repository: &Repository, arguments: &SystemArgs) -> Result<BuiltSystem, Failure> {
    let progress = Progress::terminal();
    let cargo = BareMetalCargo::ensure(&progress)?;
    host_tools::ensure(Need::Dtc, &progress)?;
    let built =
        Pipeline::new(repository, cargo, progress).build(&request(repository, arguments))?;
    print!("{}", summary(repository.root(), &built));
    Ok(built)
}

/// The pipeline request for `arguments`.
pub fn request(repository: &Repository, arguments: &SystemArgs) -> BuildRequest {
    BuildRequest {
        manifest: arguments.manifest_path(repository),
        board: arguments.board.clone(),
    }
}

/// Image path, then one line per partition (cores, memory) and the totals.
fn summary(root: &Path, built: &BuiltSystem) -> String {
    let shown = |path: &Path| {
        path.strip_prefix(root)
            .unwrap_or(path)
            .display()
            .to_string()
    };
    let compiled = &built.compiled;
    let partitions = &compiled.partitions;
    let mut text = format!(
        "system `{}` for board {} (hypervisor at {})\n  image   {}\n  report  {}\n",
        built.output.name(),
        compiled.board.name,
        compiled.board.hypervisor,
        shown(&built.hypervisor_elf()),
        shown(&compiled.report),
    );
    let width = partitions
        .iter()
        .map(|partition| partition.name.len())
        .max()
        .unwrap_or(0)
        .max("partition".len());
    text.push_str(&format!(
        "  {:width$}  {:10}  memory\n",
        "partition", "cores"
    ));
    for partition in partitions {
        let cores = partition
            .cpus
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        text.push_str(&format!(
            "  {:width$}  {cores:10}  {} at {}\n",
            partition.name,
            human_size(partition.ram.size()),
            hex(partition.ram.base())
        ));
    }
    let used_cores: usize = partitions
        .iter()
        .map(|partition| partition.cpus.len())
        .sum();
    let guest_memory: u64 = partitions
        .iter()
        .map(|partition| partition.ram.size())
        .sum();
    text.push_str(&format!(
        "  {} partitions on {used_cores} of {} cores, {} of guest memory\n",
        partitions.len(),
        compiled.board.cores.len(),
        human_size(guest_memory)
    ));
    text
}
