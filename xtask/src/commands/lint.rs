//! `cargo xtask lint`: the coding-standard gate (misra-like-lints/RULES.md).
//!
//! Builds the default system first, so Clippy can check the EL2 image against real generated
//! tables and the release ELF can be checked for panic paths reachable from the vectors.
//! Writes `target/lint/findings.json` for the traceability report.

use std::path::Path;

use misra_like_lints::{Config, Settings};
use xtask::paths::Repository;
use xtask::pipeline::BuiltSystem;
use xtask::progress::Progress;

use super::Failure;

/// Where the findings go (read by `cargo xtask trace`).
pub const FINDINGS: &str = bulkhead_trace::LINT_FINDINGS;

/// What one gate run found.
pub struct LintOutcome {
    /// No unjustified finding.
    pub passed: bool,
    /// The tool's summary line(s).
    pub summary: String,
}

/// Runs the gate on the repository with the image `built` produced; prints the findings.
pub fn gate(repository: &Repository, built: Option<&BuiltSystem>, progress: &Progress) -> Result<LintOutcome, Failure> {
    let root = repository.root();
    let step = progress.step("checking the coding standard (misra-like-lints, clippy, image)");
    let settings = Settings::load(root).map_err(|error| Failure::Lint(error.to_string()))?;
    let config = Config {
        root: root.to_path_buf(),
        settings,
        clippy: true,
        elf: built.map(BuiltSystem::hypervisor_elf),
        clippy_environment: built
            .map(|built| vec![("BULKHEAD_GEN_DIR".to_owned(), built.output.path().display().to_string())])
            .unwrap_or_default(),
    };
    let report = misra_like_lints::run(&config).map_err(|error| Failure::Lint(error.to_string()))?;
    write_findings(root, &report.to_json())?;
    let rendered = report.render(root, false);
    let summary = rendered
        .lines()
        .skip_while(|line| !line.starts_with("misra-like-lints:"))
        .collect::<Vec<_>>()
        .join("\n");
    let passed = report.passed(false);
    if passed {
        step.succeed(&summary);
    } else {
        step.fail(&summary);
        eprintln!("{rendered}");
    }
    Ok(LintOutcome { passed, summary })
}

fn write_findings(root: &Path, json: &str) -> Result<(), Failure> {
    let path = root.join(FINDINGS);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|source| Failure::Io { path: parent.to_path_buf(), source })?;
    }
    std::fs::write(&path, json).map_err(|source| Failure::Io { path, source })
}

/// `cargo xtask lint`: build the default system, run the gate, fail on unjustified findings.
pub fn lint(repository: &Repository) -> Result<(), Failure> {
    let arguments = crate::cli::SystemArgs { board: None, manifest: repository.default_manifest() };
    let built = super::build::build(repository, &arguments)?;
    let outcome = gate(repository, Some(&built), &Progress::terminal())?;
    if outcome.passed { Ok(()) } else { Err(Failure::Stages(vec!["lint".to_owned()])) }
}
