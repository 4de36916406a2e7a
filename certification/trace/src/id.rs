//! Specification item IDs in OpenFastTrace's form, `type~name~revision`
//! (e.g. `dsn~stage2-builder~1`), so an independent OpenFastTrace run can re-check our links.
//!
//! The *type* says what kind of artifact the item is (`sg`, `fsr`, `swr`, `dsn`, `hzd`,
//! `aou`; `impl`, `utest`, `itest` for coverage created by source tags), the *name* is
//! stable and never reused, and the *revision* goes up whenever the item's meaning changes.
//! A link names one exact revision, so a link to an older revision is detectably outdated.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A parsed `type~name~revision`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SpecId {
    /// The artifact type, lowercase letters and digits.
    pub artifact: String,
    /// The stable name: a letter, then letters, digits, `_` and `-`, optionally in
    /// `.`-separated parts (OpenFastTrace's name rule).
    pub name: String,
    /// The revision.
    pub revision: u32,
}

/// Why a string is not a [`SpecId`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdError {
    /// The text that failed.
    pub text: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl fmt::Display for IdError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "`{}` is not an item ID of the form type~name~revision: {}", self.text, self.reason)
    }
}

impl std::error::Error for IdError {}

impl SpecId {
    /// The ID without its revision, `type~name`: what stays the same across revisions.
    pub fn unversioned(&self) -> String {
        format!("{}~{}", self.artifact, self.name)
    }

    /// The same item at another revision.
    pub fn with_revision(&self, revision: u32) -> Self {
        Self { artifact: self.artifact.clone(), name: self.name.clone(), revision }
    }
}

/// Whether `text` is a valid artifact type (`[a-z][a-z0-9]*`).
pub fn is_artifact_type(text: &str) -> bool {
    let mut characters = text.chars();
    characters.next().is_some_and(|first| first.is_ascii_lowercase())
        && characters.all(|character| character.is_ascii_lowercase() || character.is_ascii_digit())
}

/// Whether `text` is a valid item name (OpenFastTrace: `\p{Alpha}[\w-]*(\.[\w-]+)*`, ASCII here).
pub fn is_item_name(text: &str) -> bool {
    let is_word = |character: char| character.is_ascii_alphanumeric() || character == '_' || character == '-';
    let mut parts = text.split('.');
    let Some(first) = parts.next() else { return false };
    first.chars().next().is_some_and(|character| character.is_ascii_alphabetic())
        && first.chars().all(is_word)
        && parts.all(|part| !part.is_empty() && part.chars().all(is_word))
}

impl FromStr for SpecId {
    type Err = IdError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let error = |reason| IdError { text: text.to_owned(), reason };
        let mut parts = text.split('~');
        let (Some(artifact), Some(name), Some(revision), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(error("it needs exactly three `~`-separated parts"));
        };
        if !is_artifact_type(artifact) {
            return Err(error("the type must be lowercase letters and digits, starting with a letter"));
        }
        if !is_item_name(name) {
            return Err(error("the name must start with a letter and hold only letters, digits, `_`, `-` and `.`"));
        }
        if revision.is_empty() || !revision.chars().all(|character| character.is_ascii_digit()) {
            return Err(error("the revision must be a decimal number"));
        }
        let revision = revision.parse().map_err(|_| error("the revision is too large"))?;
        Ok(Self { artifact: artifact.to_owned(), name: name.to_owned(), revision })
    }
}

impl fmt::Display for SpecId {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}~{}~{}", self.artifact, self.name, self.revision)
    }
}

impl Serialize for SpecId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for SpecId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_formed_ids_parse_and_print_back() {
        for text in ["dsn~stage2-builder~1", "sg~ffi.space~12", "utest~a_b~0"] {
            let id: SpecId = text.parse().unwrap();
            assert_eq!(id.to_string(), text);
        }
        let id: SpecId = "swr~console-separation~3".parse().unwrap();
        assert_eq!((id.artifact.as_str(), id.name.as_str(), id.revision), ("swr", "console-separation", 3));
        assert_eq!(id.unversioned(), "swr~console-separation");
        assert_eq!(id.with_revision(4).to_string(), "swr~console-separation~4");
    }

    #[test]
    fn malformed_ids_say_what_is_wrong() {
        let cases = [
            ("dsn~x", "three"),
            ("dsn~x~1~2", "three"),
            ("Dsn~x~1", "type"),
            ("dsn~1x~1", "name"),
            ("dsn~x..y~1", "name"),
            ("dsn~x~", "revision"),
            ("dsn~x~v1", "revision"),
            ("dsn~x~99999999999", "too large"),
        ];
        for (text, reason) in cases {
            let error = text.parse::<SpecId>().unwrap_err();
            assert!(error.reason.contains(reason), "{text}: {}", error.reason);
        }
    }
}
