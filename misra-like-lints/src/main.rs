//! `misra-like-lints`: the command-line face of the checker, for `cargo xtask lint` and CI.
//!
//! Exit status: 0 when every finding is justified by an approved deviation, 1 when any is
//! not (or, with `--deny-warnings`, when there are stale deviations), 2 when the checker
//! could not do its job (unreadable tree, malformed settings or register, bad ELF).
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

use misra_like_lints::{Config, Settings, run};

/// Checks a Bulkhead tree against the MLR coding standard (misra-like-lints/RULES.md).
#[derive(Debug, Parser)]
#[command(name = "misra-like-lints", version)]
struct Arguments {
    /// The repository root to check.
    #[arg(long, default_value = ".")]
    root: PathBuf,
    /// Write findings.json here.
    #[arg(long)]
    findings: Option<PathBuf>,
    /// A settings file other than <root>/misra-like-lints/misra-like-lints.toml.
    #[arg(long)]
    settings: Option<PathBuf>,
    /// Also run `cargo clippy` as configured and map its lints to rules.
    #[arg(long)]
    clippy: bool,
    /// Check this release ELF: no panic machinery reachable from the exception vectors.
    #[arg(long)]
    elf: Option<PathBuf>,
    /// Print justified findings too (as notes).
    #[arg(long)]
    show_suppressed: bool,
    /// Fail on warnings (stale deviations) as well.
    #[arg(long)]
    deny_warnings: bool,
    /// Print only the summary line(s).
    #[arg(long)]
    quiet: bool,
    /// The generated-system directory the EL2 image's Clippy run builds against
    /// (`target/bulkhead/<system>`, made by `cargo xtask build`).
    #[arg(long)]
    gen_dir: Option<PathBuf>,
}

fn main() -> ExitCode {
    let arguments = Arguments::parse();
    match check(&arguments) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(2)
        }
    }
}

fn check(arguments: &Arguments) -> Result<bool, misra_like_lints::Error> {
    let settings = match &arguments.settings {
        Some(path) => {
            let text =
                std::fs::read_to_string(path).map_err(|error| misra_like_lints::Error::Io {
                    path: path.clone(),
                    error,
                })?;
            Settings::parse(&text, &path.display().to_string())?
        }
        None => Settings::load(&arguments.root)?,
    };
    let config = Config {
        root: arguments.root.clone(),
        settings,
        clippy: arguments.clippy,
        elf: arguments.elf.clone(),
        clippy_environment: arguments
            .gen_dir
            .iter()
            .map(|dir| ("BULKHEAD_GEN_DIR".to_owned(), dir.display().to_string()))
            .collect(),
    };
    let report = run(&config)?;
    let rendered = report.render(&arguments.root, arguments.show_suppressed);
    if arguments.quiet {
        let summary: Vec<&str> = rendered
            .lines()
            .skip_while(|line| !line.starts_with("misra-like-lints:"))
            .collect();
        println!("{}", summary.join("\n"));
    } else {
        print!("{rendered}");
    }
    if let Some(path) = &arguments.findings {
        std::fs::write(path, report.to_json()).map_err(|error| misra_like_lints::Error::Io {
            path: path.clone(),
            error,
        })?;
    }
    Ok(report.passed(arguments.deny_warnings))
}
