//! Compiles a board's device tree source to a blob with `dtc`.
//!
//! The DTS is the committed, reviewable form of the board; `dtc` is the reference compiler
//! and the only external tool the configuration compiler runs. Output goes to a pipe, so
//! loading a system never writes files; `compile` writes the blob next to the other outputs.
//!
//! Design: [impl->dsn~config-board~1]

use std::fmt;
use std::io;
use std::path::Path;
use std::process::Command;

/// Why `dtc` gave no blob.
#[derive(Debug)]
pub enum DtcError {
    /// `dtc` is not on `PATH`.
    Missing,
    /// `dtc` could not be started for another reason.
    Spawn(io::Error),
    /// `dtc` ran and rejected the source; its standard error.
    Rejected(String),
}

impl fmt::Display for DtcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Missing => f.write_str("`dtc` was not found on PATH"),
            Self::Spawn(error) => write!(f, "`dtc` could not be started: {error}"),
            Self::Rejected(stderr) => write!(f, "`dtc` rejected the source:\n{stderr}"),
        }
    }
}

/// Runs `dtc -q -I dts -O dtb -o - <dts>` and returns the blob.
pub fn compile(dts: &Path) -> Result<Vec<u8>, DtcError> {
    compile_with(Path::new("dtc"), dts)
}

/// [`compile`] with another `dtc` executable.
pub fn compile_with(dtc: &Path, dts: &Path) -> Result<Vec<u8>, DtcError> {
    let output = Command::new(dtc)
        .args(["-q", "-I", "dts", "-O", "dtb", "-o", "-"])
        .arg(dts)
        .output()
        .map_err(|error| match error.kind() {
            io::ErrorKind::NotFound => DtcError::Missing,
            _ => DtcError::Spawn(error),
        })?;
    if output.status.success() {
        Ok(output.stdout)
    } else {
        Err(DtcError::Rejected(
            String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        ))
    }
}

// [utest->dsn~config-board~1]
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_compiler_is_reported_as_missing() {
        let result = compile_with(Path::new("/nonexistent/dtc"), Path::new("board.dts"));
        assert!(matches!(result, Err(DtcError::Missing)), "{result:?}");
    }

    #[test]
    fn rejected_source_carries_dtc_message() {
        let directory = tempfile::tempdir().unwrap();
        let dts = directory.path().join("broken.dts");
        std::fs::write(&dts, "/dts-v1/;\n/ { oops\n").unwrap();
        match compile(&dts) {
            Err(DtcError::Rejected(message)) => {
                assert!(message.contains("broken.dts"), "{message}")
            }
            other => panic!("expected a rejection, got {other:?}"),
        }
    }
}
