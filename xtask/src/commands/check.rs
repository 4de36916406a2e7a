//! `cargo xtask check`: validates a manifest against its board and prints the summary, without
//! building the hypervisor. Guest images already built are checked too; the others are listed
//! as skipped. Writes the report, memory-map picture and guest device trees to the system's
//! output directory.

use std::collections::BTreeMap;

use bulkhead_config::{CheckOptions, check as check_system};
use xtask::paths::Repository;

use super::Failure;
use crate::cli::SystemArgs;

/// Runs every check of the config compiler on `arguments.manifest`.
pub fn check(repository: &Repository, arguments: &SystemArgs) -> Result<(), Failure> {
    let manifest = repository.resolve_user_path(&arguments.manifest);
    if xtask::linux_guest::names_linux_guest(repository, &manifest) {
        let progress = xtask::progress::Progress::terminal();
        let cargo = xtask::toolchain::BareMetalCargo::ensure(&progress)?;
        xtask::linux_guest::prepare_inputs(repository, &manifest, &progress, &cargo)
            .map_err(xtask::pipeline::PipelineError::LinuxGuest)?;
    }
    let output = repository.system_dir(&manifest);
    let guest_images: BTreeMap<String, std::path::PathBuf> = std::fs::read_dir(repository.partitions_workspace())
        .into_iter()
        .flatten()
        .flatten()
        .filter(|entry| entry.path().join("Cargo.toml").is_file())
        .filter_map(|entry| entry.file_name().into_string().ok())
        .map(|name| {
            let elf = repository.guest_elf(&name);
            (name, elf)
        })
        .collect();
    let options = CheckOptions {
        manifest,
        repo_root: repository.root().to_path_buf(),
        guest_images,
        out_dir: Some(output.path().to_path_buf()),
    };
    match check_system(&options) {
        Ok(report) => {
            if !report.warnings.is_empty() {
                eprint!("{}", report.warnings);
            }
            println!("{report}");
            Ok(())
        }
        Err(diagnostics) => {
            eprint!("{diagnostics}");
            Err(Failure::Stages(vec!["check".to_owned()]))
        }
    }
}
