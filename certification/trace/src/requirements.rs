//! The specification items of `certification/requirements/*.toml`: hazards, safety goals,
//! the requirements derived from them, design items and the assumptions of use.
//!
//! Each file may hold `[[hazard]]`, `[[requirement]]` and `[[assumption]]` tables (the
//! fields are documented in `certification/README.md`). Loading checks only what makes an
//! item unusable (a malformed ID, an unknown level or status, a `needs` entry that is not an
//! artifact type or evidence kind): those are errors. Everything about how items relate
//! (dangling, duplicate, outdated links) is judged by the checks, so one run reports all of it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, line_of_offset, read_text, toml_error};
use crate::id::SpecId;

/// Where an item sits in the safety argument, top to bottom. Each level has its own artifact
/// type, which is the first part of the item's ID.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Level {
    /// A hazardous event of the hazard analysis (`hzd`).
    Hazard,
    /// A safety goal: the top-level requirement that prevents or mitigates hazards (`sg`).
    SafetyGoal,
    /// A functional safety requirement derived from a safety goal (`fsr`).
    FunctionalSafetyRequirement,
    /// A technical/software safety requirement on the hypervisor (`swr`).
    SoftwareRequirement,
    /// A design item: how one module meets software requirements (`dsn`).
    Design,
    /// An assumption of use: what the integrator must guarantee (`aou`).
    AssumptionOfUse,
}

impl Level {
    /// Every level, top down.
    pub const ALL: [Level; 6] = [
        Level::Hazard,
        Level::SafetyGoal,
        Level::FunctionalSafetyRequirement,
        Level::SoftwareRequirement,
        Level::Design,
        Level::AssumptionOfUse,
    ];

    /// The artifact type the item's ID must start with.
    pub const fn artifact_type(self) -> &'static str {
        match self {
            Level::Hazard => "hzd",
            Level::SafetyGoal => "sg",
            Level::FunctionalSafetyRequirement => "fsr",
            Level::SoftwareRequirement => "swr",
            Level::Design => "dsn",
            Level::AssumptionOfUse => "aou",
        }
    }

    /// The level whose items carry `artifact` IDs.
    pub fn from_artifact_type(artifact: &str) -> Option<Level> {
        Level::ALL.into_iter().find(|level| level.artifact_type() == artifact)
    }

    /// Whether items of this level are requirements (a goal, FSR, SWR or design item), as
    /// opposed to a hazard or an assumption of use.
    pub const fn is_requirement(self) -> bool {
        !matches!(self, Level::Hazard | Level::AssumptionOfUse)
    }

    /// A human name for reports.
    pub const fn title(self) -> &'static str {
        match self {
            Level::Hazard => "hazard",
            Level::SafetyGoal => "safety goal",
            Level::FunctionalSafetyRequirement => "functional safety requirement",
            Level::SoftwareRequirement => "software safety requirement",
            Level::Design => "design item",
            Level::AssumptionOfUse => "assumption of use",
        }
    }
}

/// Whether an item is in force.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Written but not agreed, or describing something not built yet: shown, never required.
    Draft,
    /// Agreed and in force: every evidence kind it needs must be present and passing.
    Approved,
    /// Withdrawn. Kept so its ID is never reused; links to it are reported.
    Obsolete,
}

/// How an item is verified (ISO 26262-6 tables 7/10, IEC 61508-3 table A.9 vocabulary).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// Requirements-based test (host unit tests or QEMU integration tests).
    Test,
    /// Static analysis (the lint gate, the allocator-free ELF check, build-time validation).
    Analysis,
    /// Review or inspection by a person, recorded in `certification/reviews.toml`.
    Review,
    /// Fault injection: a test that makes something fail on purpose.
    FaultInjection,
}

impl Method {
    /// The name used in TOML and reports.
    pub const fn name(self) -> &'static str {
        match self {
            Method::Test => "test",
            Method::Analysis => "analysis",
            Method::Review => "review",
            Method::FaultInjection => "fault-injection",
        }
    }
}

/// What can be asked for in `needs`: a lower artifact type that must cover the item, or a
/// kind of evidence.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Need {
    /// A safety goal covering (hazards need these).
    Sg,
    /// A functional safety requirement covering.
    Fsr,
    /// A software safety requirement covering.
    Swr,
    /// A design item covering.
    Dsn,
    /// Code tagged `[impl->…]`.
    Impl,
    /// A host unit test tagged `[utest->…]` that passed in the recorded run.
    Utest,
    /// A QEMU integration test tagged `[itest->…]` that passed in the recorded run.
    Itest,
    /// An accepted review record in `certification/reviews.toml`.
    Review,
}

impl Need {
    /// Every need, in report column order.
    pub const ALL: [Need; 8] =
        [Need::Sg, Need::Fsr, Need::Swr, Need::Dsn, Need::Impl, Need::Utest, Need::Itest, Need::Review];

    /// The name used in TOML, tags and reports.
    pub const fn name(self) -> &'static str {
        match self {
            Need::Sg => "sg",
            Need::Fsr => "fsr",
            Need::Swr => "swr",
            Need::Dsn => "dsn",
            Need::Impl => "impl",
            Need::Utest => "utest",
            Need::Itest => "itest",
            Need::Review => "review",
        }
    }

    /// The need named `name`.
    pub fn from_name(name: &str) -> Option<Need> {
        Need::ALL.into_iter().find(|need| need.name() == name)
    }

    /// The level of items that satisfy this need by covering, if it is an artifact type.
    pub const fn covering_level(self) -> Option<Level> {
        match self {
            Need::Sg => Some(Level::SafetyGoal),
            Need::Fsr => Some(Level::FunctionalSafetyRequirement),
            Need::Swr => Some(Level::SoftwareRequirement),
            Need::Dsn => Some(Level::Design),
            Need::Impl | Need::Utest | Need::Itest | Need::Review => None,
        }
    }

    /// Whether the evidence comes from a test result.
    pub const fn is_test(self) -> bool {
        matches!(self, Need::Utest | Need::Itest)
    }
}

/// One specification item, whatever its level.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Item {
    /// The ID, `type~name~revision`.
    pub id: SpecId,
    /// Where it sits in the argument.
    pub level: Level,
    /// Short title.
    pub title: String,
    /// The normative text ("The hypervisor shall …"), or the hazard / assumption statement.
    pub text: String,
    /// Why the item exists.
    pub rationale: String,
    /// ASIL or SIL label, when the item carries one.
    pub integrity: Option<String>,
    /// Draft, approved or obsolete.
    pub status: Status,
    /// How it is verified.
    pub verification: Vec<Method>,
    /// The items it refines (its parents).
    pub covers: Vec<SpecId>,
    /// What must cover it.
    pub needs: Vec<Need>,
    /// Assumptions of use it relies on.
    pub assumes: Vec<SpecId>,
    /// Further named fields, kept verbatim: a hazard's `cause`, `consequence`, `situation`.
    pub extra: BTreeMap<String, String>,
    /// Repository-relative file.
    pub file: String,
    /// 1-based line of the item's `id`.
    pub line: usize,
}

impl Item {
    /// SHA-256 (hex) over the item's meaning: level, title, text, rationale, integrity and the
    /// extra fields, each with runs of whitespace collapsed (re-wrapping a paragraph is not a
    /// change of meaning; changing a word is). Status, links and needs are not hashed: they
    /// record where the item stands, not what it says.
    pub fn text_hash(&self) -> String {
        let mut hasher = Sha256::new();
        let mut field = |name: &str, value: &str| {
            let normalised = value.split_whitespace().collect::<Vec<_>>().join(" ");
            hasher.update(name.as_bytes());
            hasher.update([0]);
            hasher.update(normalised.as_bytes());
            hasher.update([0]);
        };
        field("level", self.level.artifact_type());
        field("title", &self.title);
        field("text", &self.text);
        field("rationale", &self.rationale);
        field("integrity", self.integrity.as_deref().unwrap_or(""));
        for (name, value) in &self.extra {
            field(name, value);
        }
        hex(&hasher.finalize())
    }
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// A `[[requirement]]` table as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRequirement {
    /// The ID, with its span for line numbers.
    id: toml::Spanned<String>,
    /// `safety-goal`, `functional-safety-requirement`, `software-requirement` or `design`.
    level: Level,
    /// Short title.
    title: String,
    /// The "shall" text.
    text: String,
    /// Why.
    #[serde(default)]
    rationale: String,
    /// ASIL/SIL label.
    integrity: Option<String>,
    /// Draft, approved, obsolete.
    status: Status,
    /// Verification methods.
    #[serde(default)]
    verification: Vec<Method>,
    /// Parents.
    #[serde(default)]
    covers: Vec<String>,
    /// Needed coverage.
    #[serde(default)]
    needs: Vec<String>,
    /// Assumptions relied on.
    #[serde(default)]
    assumes: Vec<String>,
}

/// A `[[hazard]]` table as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHazard {
    /// The ID.
    id: toml::Spanned<String>,
    /// Short title.
    title: String,
    /// The hazardous event.
    text: String,
    /// The operational situation in which it matters.
    #[serde(default)]
    situation: String,
    /// What can cause it.
    #[serde(default)]
    cause: String,
    /// What happens if it is not prevented.
    #[serde(default)]
    consequence: String,
    /// Why it is on the list.
    #[serde(default)]
    rationale: String,
    /// The integrity level assigned to the goals that address it.
    integrity: Option<String>,
    /// Draft, approved, obsolete.
    status: Status,
    /// Needed coverage; hazards need safety goals unless stated otherwise.
    #[serde(default = "hazard_needs")]
    needs: Vec<String>,
}

/// The default `needs` of a hazard.
fn hazard_needs() -> Vec<String> {
    vec!["sg".to_owned()]
}

/// An `[[assumption]]` table as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAssumption {
    /// The ID.
    id: toml::Spanned<String>,
    /// Short title.
    title: String,
    /// What the integrator must guarantee.
    text: String,
    /// Why the hypervisor cannot guarantee it itself.
    #[serde(default)]
    rationale: String,
    /// Draft, approved, obsolete.
    status: Status,
    /// Needed coverage (usually none: the integrator discharges it).
    #[serde(default)]
    needs: Vec<String>,
}

/// One requirements file as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    /// Hazards.
    #[serde(default)]
    hazard: Vec<RawHazard>,
    /// Goals, requirements, design items.
    #[serde(default)]
    requirement: Vec<RawRequirement>,
    /// Assumptions of use.
    #[serde(default)]
    assumption: Vec<RawAssumption>,
}

/// Context for converting one file's raw tables.
struct FileContext<'a> {
    /// Absolute path, for errors.
    path: &'a Path,
    /// Repository-relative path, for items.
    relative: String,
    /// The text, for line numbers.
    text: &'a str,
}

impl FileContext<'_> {
    /// The item-level error at `line`.
    fn error(&self, line: usize, message: String) -> Error {
        Error::Item { path: self.path.to_path_buf(), line, message }
    }

    /// Parses the spanned ID and returns it with its line.
    fn id(&self, id: &toml::Spanned<String>) -> Result<(SpecId, usize), Error> {
        let line = line_of_offset(self.text, id.span().start);
        let parsed = id.get_ref().parse::<SpecId>().map_err(|error| self.error(line, error.to_string()))?;
        Ok((parsed, line))
    }

    /// Parses a list of linked IDs.
    fn ids(&self, line: usize, field: &str, ids: &[String]) -> Result<Vec<SpecId>, Error> {
        ids.iter()
            .map(|text| {
                text.parse().map_err(|error: crate::id::IdError| self.error(line, format!("`{field}`: {error}")))
            })
            .collect()
    }

    /// Parses `needs`.
    fn needs(&self, line: usize, needs: &[String]) -> Result<Vec<Need>, Error> {
        needs
            .iter()
            .map(|name| {
                Need::from_name(name).ok_or_else(|| {
                    self.error(
                        line,
                        format!("`needs` entry `{name}` is not one of sg, fsr, swr, dsn, impl, utest, itest, review"),
                    )
                })
            })
            .collect()
    }

    /// Checks that the ID's artifact type matches the level.
    fn check_type(&self, id: &SpecId, level: Level, line: usize) -> Result<(), Error> {
        if id.artifact == level.artifact_type() {
            Ok(())
        } else {
            Err(self.error(
                line,
                format!("`{id}` is a {} and must have the type `{}`", level.title(), level.artifact_type()),
            ))
        }
    }
}

/// Loads every `*.toml` under `directory` (sorted by file name), returning items in file
/// order. `repo_root` makes the recorded paths repository-relative.
pub fn load(repo_root: &Path, directory: &Path) -> Result<Vec<Item>, Error> {
    let entries = std::fs::read_dir(directory).map_err(|source| Error::io(directory, source))?;
    let mut files = Vec::new();
    for entry in entries {
        let path = entry.map_err(|source| Error::io(directory, source))?.path();
        if path.extension().is_some_and(|extension| extension == "toml") {
            files.push(path);
        }
    }
    files.sort();
    let mut items = Vec::new();
    for path in files {
        items.extend(load_file(repo_root, &path)?);
    }
    Ok(items)
}

/// Loads one requirements file.
pub fn load_file(repo_root: &Path, path: &Path) -> Result<Vec<Item>, Error> {
    let text = read_text(path)?;
    let raw: RawFile = toml::from_str(&text).map_err(|error| toml_error(path, &text, &error))?;
    let context = FileContext { path, relative: relative_path(repo_root, path), text: &text };
    let mut items = Vec::new();
    for hazard in raw.hazard {
        let (id, line) = context.id(&hazard.id)?;
        context.check_type(&id, Level::Hazard, line)?;
        let mut extra = BTreeMap::new();
        for (name, value) in
            [("situation", hazard.situation), ("cause", hazard.cause), ("consequence", hazard.consequence)]
        {
            if !value.is_empty() {
                extra.insert(name.to_owned(), value);
            }
        }
        items.push(Item {
            needs: context.needs(line, &hazard.needs)?,
            id,
            level: Level::Hazard,
            title: hazard.title,
            text: hazard.text,
            rationale: hazard.rationale,
            integrity: hazard.integrity,
            status: hazard.status,
            verification: Vec::new(),
            covers: Vec::new(),
            assumes: Vec::new(),
            extra,
            file: context.relative.clone(),
            line,
        });
    }
    for requirement in raw.requirement {
        let (id, line) = context.id(&requirement.id)?;
        if matches!(requirement.level, Level::Hazard | Level::AssumptionOfUse) {
            return Err(context
                .error(line, format!("`{id}`: hazards and assumptions are written as [[hazard]] and [[assumption]]")));
        }
        context.check_type(&id, requirement.level, line)?;
        items.push(Item {
            covers: context.ids(line, "covers", &requirement.covers)?,
            needs: context.needs(line, &requirement.needs)?,
            assumes: context.ids(line, "assumes", &requirement.assumes)?,
            id,
            level: requirement.level,
            title: requirement.title,
            text: requirement.text,
            rationale: requirement.rationale,
            integrity: requirement.integrity,
            status: requirement.status,
            verification: requirement.verification,
            extra: BTreeMap::new(),
            file: context.relative.clone(),
            line,
        });
    }
    for assumption in raw.assumption {
        let (id, line) = context.id(&assumption.id)?;
        context.check_type(&id, Level::AssumptionOfUse, line)?;
        items.push(Item {
            needs: context.needs(line, &assumption.needs)?,
            id,
            level: Level::AssumptionOfUse,
            title: assumption.title,
            text: assumption.text,
            rationale: assumption.rationale,
            integrity: None,
            status: assumption.status,
            verification: vec![Method::Review],
            covers: Vec::new(),
            assumes: Vec::new(),
            extra: BTreeMap::new(),
            file: context.relative.clone(),
            line,
        });
    }
    Ok(items)
}

/// `path` relative to `root`, '/'-separated; the path itself when it is not under `root`.
pub fn relative_path(root: &Path, path: &Path) -> String {
    let relative: PathBuf = path.strip_prefix(root).map_or_else(|_| path.to_path_buf(), Path::to_path_buf);
    relative.components().map(|component| component.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Vec<Item>, Error> {
        let directory = crate::test_support::temp_dir("requirements");
        let path = directory.join("items.toml");
        std::fs::write(&path, text).unwrap();
        load_file(&directory, &path)
    }

    const GOAL: &str = r#"
[[requirement]]
id = "sg~space~1"
level = "safety-goal"
title = "Space"
text = "The hypervisor shall   keep partitions apart."
integrity = "ASIL B"
status = "approved"
covers = ["hzd~corruption~1"]
needs = ["fsr"]
"#;

    #[test]
    fn every_table_kind_loads_with_its_line_and_defaults() {
        let text = format!(
            "{GOAL}\n[[hazard]]\nid = \"hzd~corruption~1\"\ntitle = \"t\"\ntext = \"x\"\ncause = \"c\"\nstatus = \"approved\"\n\n[[assumption]]\nid = \"aou~ram~1\"\ntitle = \"t\"\ntext = \"x\"\nstatus = \"draft\"\n"
        );
        let items = parse(&text).unwrap();
        let ids: Vec<String> = items.iter().map(|item| item.id.to_string()).collect();
        assert_eq!(ids, ["hzd~corruption~1", "sg~space~1", "aou~ram~1"]);
        assert_eq!(items[0].needs, [Need::Sg], "hazards need safety goals by default");
        assert_eq!(items[0].extra.get("cause").map(String::as_str), Some("c"));
        assert_eq!(items[1].line, 3);
        assert_eq!(items[1].covers[0].to_string(), "hzd~corruption~1");
        assert_eq!(items[2].level, Level::AssumptionOfUse);
    }

    #[test]
    fn hash_ignores_wrapping_and_status_but_not_words() {
        let items = parse(GOAL).unwrap();
        let mut item = items[0].clone();
        let original = item.text_hash();
        item.text = "The hypervisor shall\nkeep partitions apart.".to_owned();
        item.status = Status::Draft;
        item.needs.clear();
        assert_eq!(item.text_hash(), original);
        item.text = "The hypervisor shall keep partitions together.".to_owned();
        assert_ne!(item.text_hash(), original);
    }

    #[test]
    fn malformed_items_are_errors_with_their_line() {
        let wrong_type = GOAL.replace("sg~space~1", "dsn~space~1");
        let error = parse(&wrong_type).unwrap_err().to_string();
        assert!(error.contains(":3:") && error.contains("type `sg`"), "{error}");
        let bad_need = GOAL.replace("needs = [\"fsr\"]", "needs = [\"proof\"]");
        assert!(parse(&bad_need).unwrap_err().to_string().contains("`proof`"));
        let bad_link = GOAL.replace("hzd~corruption~1", "hzd~corruption");
        assert!(parse(&bad_link).unwrap_err().to_string().contains("`covers`"));
        let unknown_key = GOAL.replace("status =", "colour = \"red\"\nstatus =");
        assert!(matches!(parse(&unknown_key), Err(Error::Toml { line: Some(_), .. })));
    }
}
