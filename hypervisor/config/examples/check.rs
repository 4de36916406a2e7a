//! `cargo run -p bulkhead-config --example check -- MANIFEST [OUT_DIR]`: what
//! `cargo xtask check --manifest MANIFEST` prints, without xtask (no guest images: their
//! checks are skipped and listed). Writes the report, the memory map picture and the guest
//! device trees to OUT_DIR when given.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use bulkhead_config::{CheckOptions, check, find_repo_root};

fn main() -> ExitCode {
    let mut arguments = std::env::args_os().skip(1).map(PathBuf::from);
    let Some(manifest) = arguments.next() else {
        eprintln!("usage: check MANIFEST [OUT_DIR]");
        return ExitCode::from(2);
    };
    let Some(repo_root) = find_repo_root(&manifest) else {
        eprintln!(
            "{}: no board-configs/ in any parent directory",
            manifest.display()
        );
        return ExitCode::from(2);
    };
    let options = CheckOptions {
        manifest,
        repo_root,
        guest_images: BTreeMap::new(),
        out_dir: arguments.next(),
    };
    match check(&options) {
        Ok(report) => {
            if !report.warnings.is_empty() {
                eprint!("{}", report.warnings);
            }
            println!("{report}");
            ExitCode::SUCCESS
        }
        Err(diagnostics) => {
            eprint!("{diagnostics}");
            ExitCode::FAILURE
        }
    }
}
