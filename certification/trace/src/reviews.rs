//! Review records (`certification/reviews.toml`): the evidence for items that need `review`.
//!
//! A review is a person's recorded judgement, so the generator only reads these records;
//! it never creates one. An accepted review satisfies `review` for exactly the item
//! revisions it lists (a later revision needs a new review).
//!
//! ```toml
//! [[review]]
//! id = "REV-0001"
//! items = ["dsn~stage2-builder~1"]
//! reviewer = "A. Person"
//! date = "2026-11-25"
//! commit = "<reviewed commit>"
//! outcome = "accepted"            # or "rejected"
//! record = "minutes, ticket or checklist reference"
//! ```

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, read_text, toml_error};
use crate::id::SpecId;

/// One review record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Review {
    /// `REV-nnnn`.
    pub id: String,
    /// The item revisions reviewed.
    pub items: Vec<SpecId>,
    /// Who reviewed.
    pub reviewer: String,
    /// When (ISO 8601 date).
    pub date: String,
    /// The commit reviewed.
    pub commit: String,
    /// `accepted` or `rejected`.
    pub outcome: String,
    /// Where the minutes or checklist are.
    #[serde(default)]
    pub record: String,
}

impl Review {
    /// Whether it is an acceptance.
    pub fn is_accepted(&self) -> bool {
        self.outcome == "accepted"
    }
}

/// The file as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReviewsFile {
    /// The records.
    #[serde(default)]
    review: Vec<Review>,
}

/// Reads the records; no file means no reviews.
pub fn load(path: &Path) -> Result<Vec<Review>, Error> {
    if !path.exists() {
        return Ok(Vec::new());
    }
    let text = read_text(path)?;
    let file: ReviewsFile = toml::from_str(&text).map_err(|error| toml_error(path, &text, &error))?;
    Ok(file.review)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reviews_load_and_unknown_fields_are_errors() {
        let directory = crate::test_support::temp_dir("reviews");
        let path = directory.join("reviews.toml");
        std::fs::write(&path, "[[review]]\nid = \"REV-0001\"\nitems = [\"dsn~a~1\"]\nreviewer = \"r\"\ndate = \"2026-11-25\"\ncommit = \"abc\"\noutcome = \"accepted\"\n").unwrap();
        let reviews = load(&path).unwrap();
        assert!(reviews[0].is_accepted());
        assert_eq!(reviews[0].items[0].to_string(), "dsn~a~1");
        std::fs::write(&path, "[[review]]\nid = \"REV-0001\"\nsigned = true\n").unwrap();
        assert!(load(&path).is_err());
        assert!(load(&directory.join("none.toml")).unwrap().is_empty());
    }
}
