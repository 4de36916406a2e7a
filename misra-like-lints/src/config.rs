//! What to check and how: the repository root, the settings file, and the optional Clippy
//! and release-ELF stages.
//!
//! The settings (`misra-like-lints.toml`) hold everything that is a *design decision* rather
//! than a deviation: which crates get which rule profile, where the arch and MMIO layers are,
//! the stack-array limit, the reviewed intrinsic sites, the ELF symbol names, the Clippy
//! invocations and the crate-level attributes each crate root must declare. A copy is compiled in, so the tool also works on a tree without the file.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::Error;

/// The settings file compiled into the tool, used when the tree has none.
pub const DEFAULT_SETTINGS: &str = include_str!("../misra-like-lints.toml");

/// Where the settings file lives, relative to the repository root.
pub const SETTINGS_PATH: &str = "misra-like-lints/misra-like-lints.toml";

/// Which rule set a piece of code gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// EL2 code: the hypervisor image and its crates. Every rule.
    Strict,
    /// Example guests in `partitions/`: unsafe hygiene, recursion, shadowing, docs.
    Guest,
    /// Host tools and tests: unsafe hygiene, docs and the suppression rules.
    Host,
}

/// One entry of the `[[scope]]` table.
#[derive(Clone, Debug, Deserialize)]
pub struct ScopeEntry {
    /// Path prefix (repository-relative).
    pub path: String,
    /// The profile of crates under it.
    pub profile: Profile,
}

/// The `[layers]` table.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Layers {
    /// Where inline assembly may appear (MLR-20).
    #[serde(default)]
    pub arch: Vec<String>,
    /// Where volatile accesses and pointer/integer casts may appear (MLR-21, MLR-07).
    #[serde(default)]
    pub mmio: Vec<String>,
}

/// The `[stack]` table.
#[derive(Clone, Debug, Deserialize)]
pub struct StackSettings {
    /// Arrays larger than this many bytes must not live on the stack (MLR-19).
    pub array_limit_bytes: u64,
}

impl Default for StackSettings {
    fn default() -> Self {
        Self {
            array_limit_bytes: 4096,
        }
    }
}

/// One reviewed intrinsic site (MLR-22).
#[derive(Clone, Debug, Deserialize)]
pub struct ReviewedSite {
    /// File or directory prefix.
    pub path: String,
    /// Which of `transmute`, `transmute_copy`, `forget`, `assume_init`, `zeroed` are allowed.
    pub intrinsics: Vec<String>,
    /// The review argument.
    pub reason: String,
}

/// The `[elf]` table.
#[derive(Clone, Debug, Deserialize)]
pub struct ElfSettings {
    /// Symbols where exception handling starts; the first one present is used, all present
    /// ones are roots.
    pub vector_symbols: Vec<String>,
    /// Substrings of symbol names that count as panic machinery.
    pub panic_symbols: Vec<String>,
}

impl Default for ElfSettings {
    fn default() -> Self {
        Self {
            vector_symbols: vec![
                "exception_vectors".to_owned(),
                "__exception_vectors".to_owned(),
            ],
            panic_symbols: vec!["4core9panicking".to_owned(), "core::panicking::".to_owned()],
        }
    }
}

/// One `[[crate_attributes]]` entry (MLR-28): the crate-level attributes a crate root must
/// declare because the architecture relies on them.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CrateAttributes {
    /// The crate root, repository-relative (`hypervisor/core/src/lib.rs`).
    pub path: String,
    /// The inner attributes it must carry, as written inside `#![..]`: `no_std`,
    /// `forbid(unsafe_code)`, `deny(unsafe_code)`, ... A `forbid` also meets a required
    /// `deny` or `warn`, a `deny` a required `warn`.
    pub required: Vec<String>,
    /// Why the architecture relies on them (printed with a finding).
    pub reason: String,
}

impl CrateAttributes {
    /// The directory of the crate: the root's path up to its `src/`.
    pub fn crate_dir(&self) -> &str {
        self.path
            .split_once("/src/")
            .map_or(self.path.as_str(), |(dir, _)| dir)
    }
}

/// One `cargo clippy` invocation.
#[derive(Clone, Debug, Deserialize)]
pub struct ClippyRun {
    /// Directory to run cargo in (its workspace is used).
    pub dir: String,
    /// The profile whose lints are passed.
    pub profile: Profile,
    /// `-p` arguments; empty for the workspace's default members.
    #[serde(default)]
    pub packages: Vec<String>,
    /// Extra cargo arguments (e.g. `--target`).
    #[serde(default)]
    pub args: Vec<String>,
}

/// The settings file.
#[derive(Clone, Debug, Deserialize)]
pub struct Settings {
    /// Format version of this file.
    pub schema_version: u32,
    /// The deviation register, repository-relative.
    pub register: String,
    /// Path prefixes that are never analysed.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Profile per path prefix.
    #[serde(default)]
    pub scope: Vec<ScopeEntry>,
    /// The arch and MMIO layers.
    #[serde(default)]
    pub layers: Layers,
    /// Stack limits.
    #[serde(default)]
    pub stack: StackSettings,
    /// Reviewed intrinsic sites.
    #[serde(default)]
    pub reviewed: Vec<ReviewedSite>,
    /// The release-ELF check.
    #[serde(default)]
    pub elf: ElfSettings,
    /// Clippy invocations.
    #[serde(default)]
    pub clippy: Vec<ClippyRun>,
    /// Required crate-level attributes per crate root (MLR-28).
    #[serde(default)]
    pub crate_attributes: Vec<CrateAttributes>,
}

impl Settings {
    /// Parses a settings file.
    pub fn parse(text: &str, origin: &str) -> Result<Settings, Error> {
        let settings: Settings = toml::from_str(text).map_err(|error| Error::Settings {
            path: origin.to_owned(),
            message: error.to_string(),
        })?;
        if settings.schema_version != 1 {
            return Err(Error::Settings {
                path: origin.to_owned(),
                message: format!("unsupported schema_version {}", settings.schema_version),
            });
        }
        Ok(settings)
    }

    /// The compiled-in defaults.
    pub fn builtin() -> Settings {
        // The compiled-in file is checked by the unit test `builtin_settings_parse`.
        Settings::parse(DEFAULT_SETTINGS, "built-in settings").unwrap_or_else(|_| Settings {
            schema_version: 1,
            register: "certification/deviations.toml".to_owned(),
            exclude: Vec::new(),
            scope: Vec::new(),
            layers: Layers::default(),
            stack: StackSettings::default(),
            reviewed: Vec::new(),
            elf: ElfSettings::default(),
            clippy: Vec::new(),
            crate_attributes: Vec::new(),
        })
    }

    /// The crate-level attributes required of the crate root at `relative` (empty if none).
    pub fn required_crate_attributes(&self, relative: &str) -> Vec<&str> {
        self.crate_attributes
            .iter()
            .filter(|entry| entry.path == relative)
            .flat_map(|entry| entry.required.iter().map(String::as_str))
            .collect()
    }

    /// The settings of the tree at `root`: its settings file if it has one, else the defaults.
    pub fn load(root: &Path) -> Result<Settings, Error> {
        let path = root.join(SETTINGS_PATH);
        match std::fs::read_to_string(&path) {
            Ok(text) => Settings::parse(&text, SETTINGS_PATH),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(Settings::builtin()),
            Err(error) => Err(Error::Io { path, error }),
        }
    }

    /// The profile of a repository-relative path (longest matching `[[scope]]` prefix).
    pub fn profile_of(&self, relative: &str) -> Profile {
        self.scope
            .iter()
            .filter(|entry| path_has_prefix(relative, &entry.path))
            .max_by_key(|entry| entry.path.len())
            .map_or(Profile::Host, |entry| entry.profile)
    }

    /// Whether a repository-relative path is excluded from analysis. An entry matches by
    /// prefix; an entry starting with `**/` matches that sequence of components anywhere.
    pub fn is_excluded(&self, relative: &str) -> bool {
        self.exclude
            .iter()
            .any(|entry| match entry.strip_prefix("**/") {
                Some(anywhere) => {
                    path_has_prefix(relative, anywhere)
                        || relative.match_indices('/').any(|(index, _)| {
                            relative
                                .get(index.saturating_add(1)..)
                                .is_some_and(|rest| path_has_prefix(rest, anywhere))
                        })
                }
                None => path_has_prefix(relative, entry),
            })
    }
}

/// Whether `path` equals `prefix` or lies below it (component-wise, '/'-separated).
pub fn path_has_prefix(path: &str, prefix: &str) -> bool {
    let prefix = prefix.trim_end_matches('/');
    if prefix.is_empty() {
        return true;
    }
    path == prefix
        || path
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// Everything one run needs.
#[derive(Clone, Debug)]
pub struct Config {
    /// The repository root.
    pub root: PathBuf,
    /// The settings (usually `Settings::load(&root)`).
    pub settings: Settings,
    /// Run `cargo clippy` as configured and merge its findings.
    pub clippy: bool,
    /// Check this release ELF for panic reachability (MLR-27).
    pub elf: Option<PathBuf>,
    /// Extra environment for the Clippy runs (e.g. `BULKHEAD_GEN_DIR`, without which the EL2
    /// image's build script refuses to build).
    pub clippy_environment: Vec<(String, String)>,
}

impl Config {
    /// A configuration for `root` with its settings file, without Clippy or ELF stages.
    pub fn for_root(root: impl Into<PathBuf>) -> Result<Config, Error> {
        let root = root.into();
        let settings = Settings::load(&root)?;
        Ok(Config {
            root,
            settings,
            clippy: false,
            elf: None,
            clippy_environment: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_settings_parse() {
        let settings = Settings::parse(DEFAULT_SETTINGS, "built-in").map_err(|e| e.to_string());
        assert!(settings.is_ok(), "{settings:?}");
    }

    /// The repository's own settings file (not the compiled-in copy) keeps the attributes the
    /// architecture relies on required: `bulkhead-core` is safe Rust without `std`, and the
    /// image is `no_std`/`no_main` and denies `unsafe_code` outside its argued sites.
    #[test]
    fn repository_settings_require_the_safety_attributes() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let settings = Settings::load(&root).map_err(|error| error.to_string());
        let Ok(settings) = settings else {
            panic!("{settings:?}")
        };
        let core = settings.required_crate_attributes("hypervisor/core/src/lib.rs");
        assert!(core.contains(&"forbid(unsafe_code)"), "{core:?}");
        assert!(core.contains(&"no_std"), "{core:?}");
        let image = settings.required_crate_attributes("hypervisor/image/src/main.rs");
        assert!(image.contains(&"deny(unsafe_code)"), "{image:?}");
        assert!(image.contains(&"no_std"), "{image:?}");
        for entry in &settings.crate_attributes {
            assert!(
                root.join(&entry.path).is_file(),
                "{} is listed but does not exist",
                entry.path
            );
        }
    }

    #[test]
    fn longest_scope_prefix_wins() {
        let settings = Settings::builtin();
        assert_eq!(
            settings.profile_of("hypervisor/core/src/lib.rs"),
            Profile::Strict
        );
        assert_eq!(
            settings.profile_of("hypervisor/image/src/main.rs"),
            Profile::Strict
        );
        assert_eq!(
            settings.profile_of("hypervisor/config/src/lib.rs"),
            Profile::Host
        );
        assert_eq!(
            settings.profile_of("partitions/heartbeat/src/main.rs"),
            Profile::Guest
        );
        assert_eq!(settings.profile_of("xtask/src/main.rs"), Profile::Host);
        assert_eq!(settings.profile_of("hypervisor-notes/x.rs"), Profile::Host);
    }

    #[test]
    fn exclusions_match_prefixes_and_anywhere_patterns() {
        let mut settings = Settings::builtin();
        settings.exclude = vec!["target".to_owned(), "**/tests/fixtures".to_owned()];
        assert!(settings.is_excluded("target/debug/x.rs"));
        assert!(settings.is_excluded("certification/trace/tests/fixtures/repo/src/lib.rs"));
        assert!(settings.is_excluded("tests/fixtures/a.rs"));
        assert!(!settings.is_excluded("tests/fixture.rs"));
        assert!(!settings.is_excluded("hypervisor/target-notes.rs"));
    }

    #[test]
    fn prefixes_match_whole_components() {
        assert!(path_has_prefix("a/b/c.rs", "a/b"));
        assert!(path_has_prefix("a/b", "a/b/"));
        assert!(!path_has_prefix("a/bc/c.rs", "a/b"));
        assert!(path_has_prefix("anything", ""));
    }
}
