//! Getting `core` for the bare-metal target, and the one place cargo is invoked for the
//! bare-metal workspaces (`partitions/`, `hypervisor/image`).
//!
//! Two ways to get `core` for `aarch64-unknown-none-softfloat` are supported:
//!
//! * **prebuilt** — rustup's `rust-std` component for the target (`rustup target add`);
//!   plain `cargo build`.
//! * **build-std** — Debian's `rustc-web`/`cargo-web` with the matching `rust-web-src`
//!   library sources: `core` is compiled from source with `-Zbuild-std`. `/usr/bin/cargo`
//!   would run the first `rustc` on `PATH` (rustup's), so `RUSTC`/`RUSTDOC` are pinned and
//!   `RUSTUP_TOOLCHAIN` removed; `RUSTC_BOOTSTRAP=1` lets the stable compiler accept `-Z`
//!   flags, which must be on the command line because stable cargo ignores `[unstable]` in
//!   config files. Debian ships no `rust-lld` (the linker the target specification names), so
//!   LLD from `lld-22` (or any `ld.lld`) is named through `CARGO_TARGET_<TRIPLE>_LINKER`,
//!   which leaves the workspaces' own `rustflags` (linker scripts) in force.
//!
//! The prebuilt path is preferred; `BULKHEAD_CORE_LIBRARY=prebuilt|build-std` forces one (to
//! check the fallback on a machine that has both). Every bare-metal cargo command comes from
//! [`BareMetalCargo::release_build`], so the chosen path is applied in exactly one place.

use std::ffi::OsStr;
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::apt::{self, AptError, AptInstall};
use crate::paths::BARE_METAL_TARGET;
use crate::progress::Progress;

/// Debian's compiler used by the build-std path.
const DEBIAN_RUSTC: &str = "/usr/bin/rustc";
/// Debian's rustdoc, pinned alongside the compiler.
const DEBIAN_RUSTDOC: &str = "/usr/bin/rustdoc";
/// Debian's cargo.
const DEBIAN_CARGO: &str = "/usr/bin/cargo";
/// LLD under the names it may have, best first: `rust-lld` needs no override; `ld.lld-22`
/// comes with Debian's `lld-22`; a plain `ld.lld` (e.g. lld 14) links these images too.
const LLD_NAMES: &[&str] = &["rust-lld", "ld.lld-22", "ld.lld"];

/// Forces one way of getting `core` (`prebuilt` or `build-std`).
pub const CORE_LIBRARY_VARIABLE: &str = "BULKHEAD_CORE_LIBRARY";

/// Environment variables of the calling cargo that must not leak into a bare-metal build:
/// `RUSTFLAGS` would replace the workspace's own `rustflags` (linker scripts), and target
/// directory or target overrides would move the ELFs away from where the pipeline reads them.
const LEAKING_VARIABLES: &[&str] = &[
    "RUSTFLAGS",
    "CARGO_ENCODED_RUSTFLAGS",
    "CARGO_BUILD_RUSTFLAGS",
    "CARGO_TARGET_DIR",
    "CARGO_BUILD_TARGET_DIR",
    "CARGO_BUILD_TARGET",
];

/// How `core` for the bare-metal target is obtained.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CoreLibrary {
    /// rustup's precompiled `rust-std` for the target.
    Prebuilt,
    /// Compiled from Debian's `rust-web-src` with `-Zbuild-std`.
    BuildStd,
}

impl CoreLibrary {
    /// Reads [`CORE_LIBRARY_VARIABLE`]: `None` when unset (either path will do).
    pub fn forced() -> Result<Option<Self>, ToolchainError> {
        match std::env::var(CORE_LIBRARY_VARIABLE).ok().as_deref() {
            None | Some("") => Ok(None),
            Some("prebuilt") => Ok(Some(Self::Prebuilt)),
            Some("build-std") => Ok(Some(Self::BuildStd)),
            Some(other) => Err(ToolchainError::UnknownCoreLibrary(other.to_owned())),
        }
    }
}

impl fmt::Display for CoreLibrary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Prebuilt => write!(f, "prebuilt core for {BARE_METAL_TARGET} (rustup)"),
            Self::BuildStd => write!(
                f,
                "core built from source with Debian's rustc (-Zbuild-std)"
            ),
        }
    }
}

/// Runs cargo for the bare-metal workspaces with the chosen [`CoreLibrary`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BareMetalCargo {
    core: CoreLibrary,
    /// Linker replacing the target's `rust-lld` when that is not installed.
    linker: Option<PathBuf>,
}

impl BareMetalCargo {
    /// rustup's precompiled `core`.
    pub fn prebuilt() -> Self {
        Self {
            core: CoreLibrary::Prebuilt,
            linker: None,
        }
    }

    /// Debian's compiler building `core` from source, linking with `linker` when the target's
    /// own `rust-lld` is not installed.
    pub fn build_std(linker: Option<PathBuf>) -> Self {
        Self {
            core: CoreLibrary::BuildStd,
            linker,
        }
    }

    /// Which path is in use.
    pub fn core_library(&self) -> CoreLibrary {
        self.core
    }

    /// Finds a working path without installing anything (honouring a forced path).
    pub fn detect() -> Result<Option<Self>, ToolchainError> {
        let forced = CoreLibrary::forced()?;
        if forced != Some(CoreLibrary::BuildStd) && prebuilt_core_present() {
            return Ok(Some(Self::prebuilt()));
        }
        if forced != Some(CoreLibrary::Prebuilt) {
            return Ok(DebianToolchain::probe().ready());
        }
        Ok(None)
    }

    /// Finds a working path, installing the target with rustup or Debian's toolchain with
    /// apt (as root) when neither is present.
    pub fn ensure(progress: &Progress) -> Result<Self, ToolchainError> {
        if let Some(found) = Self::detect()? {
            return Ok(found);
        }
        let forced = CoreLibrary::forced()?;
        let rustup_failure = if forced == Some(CoreLibrary::BuildStd) {
            format!("not tried: {CORE_LIBRARY_VARIABLE}=build-std")
        } else {
            match add_target_with_rustup(progress) {
                Ok(()) if prebuilt_core_present() => return Ok(Self::prebuilt()),
                Ok(()) => {
                    "rustup reported success but the target's libcore is still missing".to_owned()
                }
                Err(reason) => reason,
            }
        };
        let install = AptInstall::packages(&DebianToolchain::probe().missing_packages());
        let apt_failure = if forced == Some(CoreLibrary::Prebuilt) {
            None
        } else {
            match install.run(progress) {
                Ok(()) => match DebianToolchain::probe().ready() {
                    Some(found) => return Ok(found),
                    None => None,
                },
                Err(AptError::NotRoot { .. }) => None,
                Err(error) => Some(Box::new(error)),
            }
        };
        Err(ToolchainError::NoCore {
            rustup_failure,
            apt_failure,
            debian_commands: install.commands(),
        })
    }

    /// `cargo build --release --target aarch64-unknown-none-softfloat -p <package>…` run in
    /// `workspace` (its `.cargo/config.toml` is only read from there).
    pub fn release_build<I, S>(&self, workspace: &Path, packages: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut command = match self.core {
            CoreLibrary::Prebuilt => {
                Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
            }
            CoreLibrary::BuildStd => {
                let mut command = Command::new(DEBIAN_CARGO);
                command
                    .env("RUSTC", DEBIAN_RUSTC)
                    .env("RUSTDOC", DEBIAN_RUSTDOC)
                    .env("RUSTC_BOOTSTRAP", "1")
                    .env_remove("RUSTUP_TOOLCHAIN");
                command
            }
        };
        for variable in LEAKING_VARIABLES {
            command.env_remove(variable);
        }
        if let Some(linker) = &self.linker {
            command.env(linker_variable(BARE_METAL_TARGET), linker);
        }
        command
            .current_dir(workspace)
            .args(["build", "--release", "--target", BARE_METAL_TARGET]);
        if self.core == CoreLibrary::BuildStd {
            command.args([
                "-Zbuild-std=core,compiler_builtins",
                "-Zbuild-std-features=compiler-builtins-mem",
            ]);
        }
        for package in packages {
            command.arg("-p").arg(package);
        }
        command
    }
}

/// Cargo's per-target linker variable: `CARGO_TARGET_<TRIPLE>_LINKER`, triple upper-cased
/// with `-` and `.` as `_`.
pub fn linker_variable(target: &str) -> String {
    let triple: String = target
        .chars()
        .map(|c| {
            if c == '-' || c == '.' {
                '_'
            } else {
                c.to_ascii_uppercase()
            }
        })
        .collect();
    format!("CARGO_TARGET_{triple}_LINKER")
}

/// True when the default `rustc` has a precompiled `libcore` for the bare-metal target.
fn prebuilt_core_present() -> bool {
    let Ok(output) = Command::new("rustc")
        .args(["--print", "target-libdir", "--target", BARE_METAL_TARGET])
        .output()
    else {
        return false;
    };
    if !output.status.success() {
        return false;
    }
    let directory = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    let Ok(entries) = fs::read_dir(&directory) else {
        return false;
    };
    contains_core_rlib(
        entries
            .filter_map(Result::ok)
            .map(|entry| entry.file_name().to_string_lossy().into_owned()),
    )
}

/// True when one of `file_names` is `libcore-<hash>.rlib`.
pub fn contains_core_rlib(file_names: impl IntoIterator<Item = String>) -> bool {
    file_names
        .into_iter()
        .any(|name| name.starts_with("libcore-") && name.ends_with(".rlib"))
}

/// `rustup target add`, reporting why it did not work.
fn add_target_with_rustup(progress: &Progress) -> Result<(), String> {
    let step = progress.step(format!("adding the {BARE_METAL_TARGET} target with rustup"));
    match step.run(Command::new("rustup").args(["target", "add", BARE_METAL_TARGET])) {
        Ok(_) => {
            step.succeed("");
            Ok(())
        }
        Err(error) => {
            step.fail("");
            Err(error.to_string())
        }
    }
}

/// The first of `names` found in a directory of `path` (a `PATH`-style list).
pub fn find_program(path: &OsStr, names: &[&str]) -> Option<PathBuf> {
    names.iter().find_map(|name| {
        std::env::split_paths(path)
            .map(|directory| directory.join(name))
            .find(|candidate| candidate.is_file())
    })
}

/// What of Debian's build-std toolchain is installed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DebianToolchain {
    /// `/usr/bin/rustc` (package `rustc-web`).
    pub rustc: bool,
    /// `/usr/bin/cargo` (package `cargo-web`).
    pub cargo: bool,
    /// Library sources under the compiler's sysroot (package `rust-web-src`).
    pub library_source: bool,
    /// An LLD to link with (package `lld-22`).
    pub lld: Option<PathBuf>,
}

impl DebianToolchain {
    /// Looks at the installed files.
    pub fn probe() -> Self {
        let rustc = Path::new(DEBIAN_RUSTC).is_file();
        let search_path = std::env::var_os("PATH").unwrap_or_default();
        Self {
            rustc,
            cargo: Path::new(DEBIAN_CARGO).is_file(),
            library_source: rustc && debian_library_source_present(),
            lld: find_program(&search_path, LLD_NAMES),
        }
    }

    /// The cargo runner when everything is installed.
    pub fn ready(&self) -> Option<BareMetalCargo> {
        let lld = self.lld.as_ref()?;
        let complete = self.rustc && self.cargo && self.library_source;
        let linker = (lld.file_name() != Some(OsStr::new("rust-lld"))).then(|| lld.clone());
        complete.then(|| BareMetalCargo::build_std(linker))
    }

    /// The Debian packages still to install for the build-std path.
    pub fn missing_packages(&self) -> Vec<&'static str> {
        [
            (self.rustc, "rustc-web"),
            (self.cargo, "cargo-web"),
            (self.library_source, "rust-web-src"),
            (self.lld.is_some(), "lld-22"),
        ]
        .into_iter()
        .filter_map(|(present, package)| (!present).then_some(package))
        .collect()
    }
}

/// `-Zbuild-std` reads the library from `<sysroot>/lib/rustlib/src/rust/library`.
fn debian_library_source_present() -> bool {
    let Ok(output) = Command::new(DEBIAN_RUSTC)
        .args(["--print", "sysroot"])
        .output()
    else {
        return false;
    };
    let sysroot = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    sysroot
        .join("lib/rustlib/src/rust/library/core/Cargo.toml")
        .is_file()
}

/// No way to get `core` for the bare-metal target.
#[derive(Debug)]
pub enum ToolchainError {
    /// Neither rustup nor apt could provide it.
    NoCore {
        /// Why `rustup target add` did not help.
        rustup_failure: String,
        /// Why apt did not help, when it was tried and failed (not when it was not allowed).
        apt_failure: Option<Box<AptError>>,
        /// The apt commands for the build-std path.
        debian_commands: Vec<String>,
    },
    /// `BULKHEAD_CORE_LIBRARY` has a value other than `prebuilt` or `build-std`.
    UnknownCoreLibrary(String),
}

impl fmt::Display for ToolchainError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (rustup_failure, apt_failure, debian_commands) = match self {
            Self::UnknownCoreLibrary(value) => {
                return write!(
                    f,
                    "{CORE_LIBRARY_VARIABLE}={value}: expected `prebuilt` or `build-std`"
                );
            }
            Self::NoCore {
                rustup_failure,
                apt_failure,
                debian_commands,
            } => (rustup_failure, apt_failure, debian_commands),
        };
        writeln!(f, "no `core` library for {BARE_METAL_TARGET}. Either:")?;
        writeln!(
            f,
            "  * with rustup and internet access:  rustup target add {BARE_METAL_TARGET}"
        )?;
        writeln!(
            f,
            "  * on Debian 12, as root (core is then built from source with -Zbuild-std):"
        )?;
        for command in debian_commands {
            writeln!(f, "        {command}")?;
        }
        writeln!(f, "rustup: {}", rustup_failure.trim())?;
        if let Some(error) = apt_failure {
            writeln!(f, "apt: {error}")?;
        }
        if !apt::running_as_root() {
            writeln!(f, "(not running as root, so nothing was installed)")?;
        }
        Ok(())
    }
}

impl std::error::Error for ToolchainError {}

#[cfg(test)]
mod tests {
    use super::*;

    fn environment_of(command: &Command) -> Vec<(String, Option<String>)> {
        command
            .get_envs()
            .map(|(key, value)| {
                (
                    key.to_string_lossy().into_owned(),
                    value.map(|value| value.to_string_lossy().into_owned()),
                )
            })
            .collect()
    }

    fn arguments_of(command: &Command) -> Vec<String> {
        command
            .get_args()
            .map(|argument| argument.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn core_rlib_is_recognised_among_sysroot_files() {
        let names = [
            "liballoc-3b02.rlib",
            "libcore-ff72.rmeta",
            "libcore-ff72.rlib",
        ]
        .map(str::to_owned);
        assert!(contains_core_rlib(names));
        let without = ["libcore-ff72.rmeta", "libcompiler_builtins-a865.rlib"].map(str::to_owned);
        assert!(!contains_core_rlib(without));
    }

    #[test]
    fn prebuilt_path_is_a_plain_release_build_for_the_target() {
        let command =
            BareMetalCargo::prebuilt().release_build(Path::new("/repo/partitions"), ["heartbeat"]);
        assert_eq!(
            arguments_of(&command),
            [
                "build",
                "--release",
                "--target",
                BARE_METAL_TARGET,
                "-p",
                "heartbeat"
            ]
        );
        assert_eq!(
            command.get_current_dir(),
            Some(Path::new("/repo/partitions"))
        );
        let environment = environment_of(&command);
        assert!(environment.contains(&("RUSTFLAGS".to_owned(), None)));
        assert!(environment.contains(&("CARGO_TARGET_DIR".to_owned(), None)));
        assert!(!environment.iter().any(|(key, _)| key.ends_with("_LINKER")));
    }

    #[test]
    fn build_std_path_pins_debian_compiler_and_passes_unstable_flags_on_the_command_line() {
        let cargo = BareMetalCargo::build_std(Some(PathBuf::from("/usr/bin/ld.lld-22")));
        let command = cargo.release_build(Path::new("/repo/hypervisor/image"), None::<&str>);
        assert_eq!(command.get_program(), DEBIAN_CARGO);
        let arguments = arguments_of(&command);
        assert!(arguments.contains(&"-Zbuild-std=core,compiler_builtins".to_owned()));
        assert!(arguments.contains(&"-Zbuild-std-features=compiler-builtins-mem".to_owned()));
        let environment = environment_of(&command);
        assert!(environment.contains(&("RUSTC".to_owned(), Some(DEBIAN_RUSTC.to_owned()))));
        assert!(environment.contains(&("RUSTDOC".to_owned(), Some(DEBIAN_RUSTDOC.to_owned()))));
        assert!(environment.contains(&("RUSTC_BOOTSTRAP".to_owned(), Some("1".to_owned()))));
        assert!(environment.contains(&("RUSTUP_TOOLCHAIN".to_owned(), None)));
        assert!(environment.contains(&(
            "CARGO_TARGET_AARCH64_UNKNOWN_NONE_SOFTFLOAT_LINKER".to_owned(),
            Some("/usr/bin/ld.lld-22".to_owned())
        )));
    }

    #[test]
    fn linker_variable_follows_cargo_naming() {
        assert_eq!(
            linker_variable("aarch64-unknown-none-softfloat"),
            "CARGO_TARGET_AARCH64_UNKNOWN_NONE_SOFTFLOAT_LINKER"
        );
        assert_eq!(
            linker_variable("thumbv7em-none-eabihf"),
            "CARGO_TARGET_THUMBV7EM_NONE_EABIHF_LINKER"
        );
    }

    #[test]
    fn missing_debian_pieces_map_to_their_packages() {
        let nothing = DebianToolchain {
            rustc: false,
            cargo: false,
            library_source: false,
            lld: None,
        };
        assert_eq!(
            nothing.missing_packages(),
            ["rustc-web", "cargo-web", "rust-web-src", "lld-22"]
        );
        assert_eq!(nothing.ready(), None);
        let without_lld = DebianToolchain {
            rustc: true,
            cargo: true,
            library_source: true,
            lld: None,
        };
        assert_eq!(without_lld.missing_packages(), ["lld-22"]);
        assert_eq!(without_lld.ready(), None);
    }

    #[test]
    fn rust_lld_needs_no_linker_override_but_other_lld_names_do() {
        let with = |lld: &str| DebianToolchain {
            rustc: true,
            cargo: true,
            library_source: true,
            lld: Some(PathBuf::from(lld)),
        };
        assert_eq!(
            with("/usr/bin/rust-lld").ready(),
            Some(BareMetalCargo::build_std(None))
        );
        assert_eq!(
            with("/usr/bin/ld.lld-22").ready(),
            Some(BareMetalCargo::build_std(Some(PathBuf::from(
                "/usr/bin/ld.lld-22"
            ))))
        );
    }

    #[test]
    fn programs_are_found_in_path_order_of_preference() {
        let directory =
            std::env::temp_dir().join(format!("bulkhead-find-program-{}", std::process::id()));
        fs::create_dir_all(&directory).expect("temp dir");
        fs::write(directory.join("ld.lld"), b"").expect("fake program");
        let path = std::env::join_paths([Path::new("/nonexistent"), directory.as_path()])
            .expect("valid PATH");
        assert_eq!(
            find_program(&path, LLD_NAMES),
            Some(directory.join("ld.lld"))
        );
        fs::write(directory.join("ld.lld-22"), b"").expect("fake program");
        assert_eq!(
            find_program(&path, LLD_NAMES),
            Some(directory.join("ld.lld-22"))
        );
        assert_eq!(find_program(&path, &["rustc-nonexistent"]), None);
        fs::remove_dir_all(&directory).expect("temp dir removed");
    }
}
