//! Code coverage of the host-tested hypervisor core (`target/test-results/coverage.json`).
//!
//! The file is optional: when it is absent the report says "not measured" instead of a
//! number. Schema (version 1):
//! ```json
//! { "schema_version": 1, "tool": "llvm-cov 22.1.8", "command": "…", "commit": "…",
//!   "dirty": false, "scope": "bulkhead-core",
//!   "totals": { "lines": {"covered": 10, "count": 12}, "regions": {…},
//!               "functions": {…}, "branches": {…} or null },
//!   "files": [ { "file": "hypervisor/core/src/addr.rs", "lines": {…}, "regions": {…},
//!                "functions": {…}, "branches": {…} or null } ] }
//! ```
//! Regions are LLVM's code regions, the closest measure to statement coverage;
//! `branches` is null when the compiler was not asked for branch coverage.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, read_text};

/// The coverage schema version.
pub const SCHEMA_VERSION: u64 = 1;

/// Covered of count.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counter {
    /// Covered.
    pub covered: u64,
    /// Total.
    pub count: u64,
}

impl Counter {
    /// The percentage, `None` when there is nothing to count.
    pub fn percent(self) -> Option<f64> {
        (self.count > 0).then(|| crate::display_f64(self.covered) * 100.0 / crate::display_f64(self.count))
    }
}

/// Counters of one file or of the total.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    /// Lines.
    pub lines: Counter,
    /// Code regions (statements).
    pub regions: Counter,
    /// Functions.
    pub functions: Counter,
    /// Branches, when measured.
    pub branches: Option<Counter>,
}

/// One file's coverage.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileCoverage {
    /// Repository-relative path.
    pub file: String,
    /// Its counters.
    #[serde(flatten)]
    pub counters: Counters,
}

/// `coverage.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Coverage {
    /// [`SCHEMA_VERSION`].
    pub schema_version: u64,
    /// The tool and version that measured.
    pub tool: String,
    /// The command that produced it.
    pub command: String,
    /// The commit measured.
    pub commit: String,
    /// Whether the tree was dirty.
    pub dirty: bool,
    /// What was measured (crate names).
    pub scope: String,
    /// Totals.
    pub totals: Counters,
    /// Per file.
    pub files: Vec<FileCoverage>,
}

impl Coverage {
    /// Reads the file; `None` when coverage was not measured.
    pub fn load(path: &Path) -> Result<Option<Coverage>, Error> {
        if !path.exists() {
            return Ok(None);
        }
        let text = read_text(path)?;
        let value: serde_json::Value = serde_json::from_str(&text)
            .map_err(|error| Error::Json { path: path.to_path_buf(), message: error.to_string() })?;
        let version = value.get("schema_version").and_then(serde_json::Value::as_u64).unwrap_or(0);
        if version != SCHEMA_VERSION {
            return Err(Error::SchemaVersion { path: path.to_path_buf(), found: version, supported: SCHEMA_VERSION });
        }
        serde_json::from_value(value)
            .map(Some)
            .map_err(|error| Error::Json { path: path.to_path_buf(), message: error.to_string() })
    }

    /// Writes the file.
    pub fn write(&self, path: &Path) -> Result<(), Error> {
        let text = serde_json::to_string_pretty(self)
            .map_err(|error| Error::Json { path: path.to_path_buf(), message: error.to_string() })?;
        std::fs::write(path, text + "\n").map_err(|error| Error::io(path, error))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coverage_round_trips_and_computes_percentages() {
        let counter = |covered, count| Counter { covered, count };
        let counters =
            Counters { lines: counter(3, 4), regions: counter(1, 2), functions: counter(0, 0), branches: None };
        let coverage = Coverage {
            schema_version: SCHEMA_VERSION,
            tool: "llvm-cov".to_owned(),
            command: "cargo xtask coverage".to_owned(),
            commit: "abc".to_owned(),
            dirty: false,
            scope: "bulkhead-core".to_owned(),
            totals: counters.clone(),
            files: vec![FileCoverage { file: "a.rs".to_owned(), counters }],
        };
        let path = crate::test_support::temp_dir("coverage").join("coverage.json");
        coverage.write(&path).unwrap();
        assert_eq!(Coverage::load(&path).unwrap(), Some(coverage));
        assert_eq!(counter(3, 4).percent(), Some(75.0));
        assert_eq!(counter(0, 0).percent(), None);
    }
}
