//! Analysis records (`certification/analyses.toml`): the evidence for items that declare
//! `verification = ["analysis", …]`.
//!
//! An analysis is something done to the design or the code that is not a test — a static
//! analysis, a calculation, an inspection against a checklist — and it is evidence only
//! through what it left behind. So a record names the items it speaks for (exact revisions),
//! what was done (`method`), the artefact that shows the result (`artefact`, a
//! repository-relative path that must exist) and the commit analysed. The generator reads the
//! records and checks that the artefact exists; it does not judge the artefact's content.
//! When the artefact is produced by a gate the trace also checks (the lint gate's
//! `target/lint/findings.json`, bound to the run by the `lint` check), that check judges it.
//!
//! ```toml
//! [[analysis]]
//! id = "ANA-0001"
//! items = ["dsn~el2-static-state~1"]
//! method = "what was analysed, how, and what the result means"
//! artefact = "target/lint/findings.json"
//! commit = "<analysed commit, or the commit that introduced the record for a gate that reruns>"
//! ```

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, read_text, toml_error};
use crate::id::SpecId;

/// One analysis record, with whether its artefact exists.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Analysis {
    /// `ANA-nnnn`.
    pub id: String,
    /// The item revisions it speaks for.
    pub items: Vec<SpecId>,
    /// What was done and what the result means.
    pub method: String,
    /// Repository-relative path of the result.
    pub artefact: String,
    /// The commit analysed.
    pub commit: String,
    /// Whether `artefact` exists (determined on loading, not written in the file).
    #[serde(default, skip_deserializing)]
    pub artefact_present: bool,
}

/// The file as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AnalysesFile {
    /// The records.
    #[serde(default)]
    analysis: Vec<Analysis>,
}

/// Reads the records at `path` and looks for each artefact under `repo_root`; no file means
/// no analyses. An artefact path that leaves the repository (absolute, or with `..`) is an
/// error: the evidence must be part of what is reviewed.
pub fn load(repo_root: &Path, path: &Path) -> Result<Vec<Analysis>, Error> {
    if !path.exists() {
        return Ok(Vec::new());
    }
    let text = read_text(path)?;
    let file: AnalysesFile = toml::from_str(&text).map_err(|error| toml_error(path, &text, &error))?;
    let mut analyses = file.analysis;
    for analysis in &mut analyses {
        let artefact = Path::new(&analysis.artefact);
        let escapes = artefact.is_absolute()
            || artefact.components().any(|component| matches!(component, std::path::Component::ParentDir));
        if escapes || analysis.artefact.is_empty() {
            return Err(Error::Toml {
                path: path.to_path_buf(),
                line: None,
                message: format!(
                    "{}: artefact `{}` must be a path inside the repository",
                    analysis.id, analysis.artefact
                ),
            });
        }
        analysis.artefact_present = repo_root.join(artefact).exists();
    }
    Ok(analyses)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_load_with_the_presence_of_their_artefact() {
        let root = crate::test_support::temp_dir("analyses");
        std::fs::write(root.join("report.txt"), "result").unwrap();
        let path = root.join("analyses.toml");
        let record = |artefact: &str| {
            format!(
                "[[analysis]]\nid = \"ANA-0001\"\nitems = [\"dsn~a~1\"]\nmethod = \"m\"\nartefact = \"{artefact}\"\ncommit = \"abc\"\n"
            )
        };
        std::fs::write(&path, record("report.txt")).unwrap();
        let analyses = load(&root, &path).unwrap();
        assert!(analyses[0].artefact_present);
        assert_eq!(analyses[0].items[0].to_string(), "dsn~a~1");
        std::fs::write(&path, record("absent.txt")).unwrap();
        assert!(!load(&root, &path).unwrap()[0].artefact_present);
        std::fs::write(&path, record("../outside.txt")).unwrap();
        assert!(load(&root, &path).unwrap_err().to_string().contains("inside the repository"));
        std::fs::write(&path, format!("{}signed = true\n", record("report.txt"))).unwrap();
        assert!(load(&root, &path).is_err(), "unknown fields are errors");
        assert!(load(&root, &root.join("none.toml")).unwrap().is_empty());
    }
}
