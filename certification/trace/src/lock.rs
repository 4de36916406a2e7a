//! `certification/requirements.lock`: the SHA-256 of every revision of every item ever
//! approved for tracing, so that a change of meaning cannot slip in without a revision bump.
//!
//! Rules (each a finding of the `lock` check):
//! - an item whose revision is locked with a different hash changed its text without a
//!   revision bump (fix: bump the revision, then update the lock);
//! - an item revision that is not locked yet is new or bumped (fix: update the lock, which
//!   is a reviewable diff);
//! - an item whose revision is lower than one already locked went backwards (revisions are
//!   never reused);
//! - a locked name with no item left was deleted (IDs are never reused: keep it as
//!   `status = "obsolete"`).
//!
//! Updating only ever adds entries. Old revisions stay, which is what lets the checks tell an
//! outdated link (to a revision that existed) from a dangling one (to one that never did).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, read_text, toml_error};
use crate::id::SpecId;
use crate::requirements::Item;

/// The lock file's schema version.
pub const SCHEMA_VERSION: u64 = 1;

/// The lock: item revision → hash of its text.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Lock {
    /// Every locked revision.
    pub entries: BTreeMap<SpecId, String>,
}

/// One `[[item]]` of the file.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    /// The item revision.
    id: SpecId,
    /// Hex SHA-256 of its text (see [`Item::text_hash`]).
    sha256: String,
}

/// The file as written.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct LockFile {
    /// [`SCHEMA_VERSION`].
    schema_version: u64,
    /// Entries sorted by ID.
    #[serde(default)]
    item: Vec<Entry>,
}

/// What is wrong between the items and the lock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LockProblem {
    /// The text of a locked revision changed.
    TextChanged {
        /// The item.
        id: SpecId,
        /// The locked hash.
        locked: String,
        /// The hash now.
        current: String,
    },
    /// The revision is not in the lock.
    NotLocked {
        /// The item.
        id: SpecId,
    },
    /// A higher revision of the same name is already locked.
    RevisionRegressed {
        /// The item.
        id: SpecId,
        /// The highest locked revision.
        locked_revision: u32,
    },
    /// A locked name has no item any more.
    Removed {
        /// The highest locked revision of the name.
        id: SpecId,
    },
}

impl std::fmt::Display for LockProblem {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::TextChanged { id, locked, current } => write!(
                formatter,
                "`{id}` changed its text without a revision bump (locked sha256 {}…, now {}…): bump the revision to {} and update the lock",
                &locked[..locked.len().min(12)],
                &current[..current.len().min(12)],
                id.revision.saturating_add(1)
            ),
            Self::NotLocked { id } => {
                write!(
                    formatter,
                    "`{id}` is not in the lock yet: run `cargo xtask trace --update-lock` and commit the lock"
                )
            }
            Self::RevisionRegressed { id, locked_revision } => write!(
                formatter,
                "`{id}` has a lower revision than the locked revision {locked_revision}: revisions are never reused"
            ),
            Self::Removed { id } => write!(
                formatter,
                "`{id}` is locked but no longer defined: IDs are never reused, keep the item with status = \"obsolete\""
            ),
        }
    }
}

impl Lock {
    /// Reads the lock; a missing file is an empty lock (every item is then "not locked").
    pub fn load(path: &Path) -> Result<Lock, Error> {
        if !path.exists() {
            return Ok(Lock::default());
        }
        let text = read_text(path)?;
        let file: LockFile = toml::from_str(&text).map_err(|error| toml_error(path, &text, &error))?;
        if file.schema_version != SCHEMA_VERSION {
            return Err(Error::SchemaVersion {
                path: path.to_path_buf(),
                found: file.schema_version,
                supported: SCHEMA_VERSION,
            });
        }
        Ok(Lock { entries: file.item.into_iter().map(|entry| (entry.id, entry.sha256)).collect() })
    }

    /// The file's text: a header, then one entry per revision in ID order.
    pub fn to_toml(&self) -> String {
        let mut text = String::from(
            "# Hashes of every revision of every specification item (certification/requirements/).\n\
             # Written by `cargo xtask trace --update-lock`; entries are only ever added. Review the\n\
             # diff: a new entry means a new item or a revision bump. See certification/README.md.\n\n",
        );
        text.push_str(&format!("schema_version = {SCHEMA_VERSION}\n"));
        for (id, sha256) in &self.entries {
            text.push_str(&format!("\n[[item]]\nid = \"{id}\"\nsha256 = \"{sha256}\"\n"));
        }
        text
    }

    /// Every revision ever locked for `unversioned` (`type~name`).
    pub fn revisions_of(&self, unversioned: &str) -> Vec<u32> {
        self.entries.keys().filter(|id| id.unversioned() == unversioned).map(|id| id.revision).collect()
    }

    /// Compares `items` with the lock.
    pub fn check(&self, items: &[Item]) -> Vec<LockProblem> {
        let mut problems = Vec::new();
        let mut highest: BTreeMap<String, u32> = BTreeMap::new();
        for id in self.entries.keys() {
            let revision = highest.entry(id.unversioned()).or_insert(id.revision);
            *revision = (*revision).max(id.revision);
        }
        let mut defined = BTreeSet::new();
        for item in items {
            defined.insert(item.id.unversioned());
            let current = item.text_hash();
            match self.entries.get(&item.id) {
                Some(locked) if *locked != current => {
                    problems.push(LockProblem::TextChanged { id: item.id.clone(), locked: locked.clone(), current });
                }
                Some(_) => {}
                None => match highest.get(&item.id.unversioned()) {
                    Some(locked_revision) if *locked_revision > item.id.revision => {
                        problems.push(LockProblem::RevisionRegressed {
                            id: item.id.clone(),
                            locked_revision: *locked_revision,
                        });
                    }
                    _ => problems.push(LockProblem::NotLocked { id: item.id.clone() }),
                },
            }
        }
        for (name, revision) in &highest {
            if !defined.contains(name) {
                let id = self.entries.keys().find(|id| id.unversioned() == *name && id.revision == *revision);
                if let Some(id) = id {
                    problems.push(LockProblem::Removed { id: id.clone() });
                }
            }
        }
        problems
    }

    /// The lock with every item revision that is not locked yet added. Entries that exist are
    /// never changed, so a text change without a revision bump stays an error.
    pub fn updated(&self, items: &[Item]) -> Lock {
        let mut entries = self.entries.clone();
        for item in items {
            let regressed = self
                .entries
                .keys()
                .any(|id| id.unversioned() == item.id.unversioned() && id.revision > item.id.revision);
            if !regressed {
                entries.entry(item.id.clone()).or_insert_with(|| item.text_hash());
            }
        }
        Lock { entries }
    }

    /// Writes the lock to `path`.
    pub fn write(&self, path: &Path) -> Result<(), Error> {
        std::fs::write(path, self.to_toml()).map_err(|source| Error::io(path, source))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::requirements::{Level, Status};

    fn item(id: &str, text: &str) -> Item {
        Item {
            id: id.parse().unwrap(),
            level: Level::Design,
            title: "t".to_owned(),
            text: text.to_owned(),
            rationale: String::new(),
            integrity: None,
            status: Status::Approved,
            verification: Vec::new(),
            covers: Vec::new(),
            needs: Vec::new(),
            assumes: Vec::new(),
            extra: BTreeMap::new(),
            file: "f.toml".to_owned(),
            line: 1,
        }
    }

    #[test]
    fn a_fresh_item_is_not_locked_until_the_lock_is_updated() {
        let items = [item("dsn~a~1", "shall a")];
        let empty = Lock::default();
        assert_eq!(empty.check(&items), [LockProblem::NotLocked { id: items[0].id.clone() }]);
        let lock = empty.updated(&items);
        assert!(lock.check(&items).is_empty());
    }

    #[test]
    fn changed_text_without_bump_is_an_error_that_updating_does_not_hide() {
        let lock = Lock::default().updated(&[item("dsn~a~1", "shall a")]);
        let changed = [item("dsn~a~1", "shall b")];
        let problems = lock.check(&changed);
        assert!(matches!(&problems[..], [LockProblem::TextChanged { .. }]), "{problems:?}");
        assert!(problems[0].to_string().contains("bump the revision to 2"));
        assert_eq!(lock.updated(&changed).check(&changed), problems);
    }

    #[test]
    fn a_bump_is_locked_beside_the_old_revision() {
        let lock = Lock::default().updated(&[item("dsn~a~1", "shall a")]);
        let bumped = [item("dsn~a~2", "shall b")];
        assert_eq!(lock.check(&bumped), [LockProblem::NotLocked { id: bumped[0].id.clone() }]);
        let lock = lock.updated(&bumped);
        assert!(lock.check(&bumped).is_empty());
        assert_eq!(lock.revisions_of("dsn~a"), [1, 2]);
    }

    #[test]
    fn going_back_a_revision_or_deleting_an_item_is_reported() {
        let lock = Lock::default().updated(&[item("dsn~a~2", "shall a"), item("dsn~gone~1", "x")]);
        let items = [item("dsn~a~1", "shall a")];
        let problems = lock.check(&items);
        assert!(problems.contains(&LockProblem::RevisionRegressed { id: items[0].id.clone(), locked_revision: 2 }));
        assert!(problems.contains(&LockProblem::Removed { id: "dsn~gone~1".parse().unwrap() }));
        assert_eq!(lock.updated(&items), lock, "updating must not lock a regressed revision");
    }

    #[test]
    fn the_file_round_trips_and_rejects_other_schema_versions() {
        let lock = Lock::default().updated(&[item("dsn~b~1", "b"), item("dsn~a~1", "a")]);
        let directory = crate::test_support::temp_dir("lock");
        let path = directory.join("requirements.lock");
        lock.write(&path).unwrap();
        assert_eq!(Lock::load(&path).unwrap(), lock);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.find("dsn~a~1").unwrap() < text.find("dsn~b~1").unwrap(), "entries are sorted");
        std::fs::write(&path, text.replace("schema_version = 1", "schema_version = 9")).unwrap();
        assert!(matches!(Lock::load(&path), Err(Error::SchemaVersion { found: 9, .. })));
        assert_eq!(Lock::load(&directory.join("absent.lock")).unwrap(), Lock::default());
    }
}
