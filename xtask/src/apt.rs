//! Installing missing Debian packages with apt, only when running as root.
//!
//! xtask installs what the build needs on the machines this project runs on (Debian, root in
//! CI), and tells anyone else the exact commands instead: it never escalates privileges. apt
//! runs only when a tool is missing, never to "refresh" a working setup.

use std::fmt;
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::progress::{CommandError, Progress};

/// The deb822 sources file of a stock Debian 12+ installation.
pub const DEBIAN_SOURCES: &str = "/etc/apt/sources.list.d/debian.sources";

/// True when this process runs as root (the owner of `/proc/self` is the effective user).
pub fn running_as_root() -> bool {
    fs::metadata("/proc/self").is_ok_and(|metadata| metadata.uid() == 0)
}

/// True when `apt-get` can be found on `PATH`.
pub fn apt_available() -> bool {
    Command::new("apt-get")
        .arg("--version")
        .output()
        .is_ok_and(|output| output.status.success())
}

/// The Debian release codename (`bookworm`) from `/etc/os-release`, when this is Debian.
pub fn debian_codename() -> Option<String> {
    let text = fs::read_to_string("/etc/os-release").ok()?;
    debian_codename_from_os_release(&text)
}

/// Parses `os-release(5)` text: `VERSION_CODENAME` of a system whose `ID` is `debian`.
/// Derivatives (`ID_LIKE=debian`) are not Debian: their suites are named differently.
pub fn debian_codename_from_os_release(text: &str) -> Option<String> {
    let value = |key: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(key)?.strip_prefix('='))
            .map(|value| value.trim().trim_matches('"').to_owned())
    };
    (value("ID")? == "debian")
        .then(|| value("VERSION_CODENAME"))
        .flatten()
        .filter(|codename| !codename.is_empty())
}

/// Outcome of adding a suite to a deb822 sources file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SuiteEdit {
    /// A `Suites:` line already lists the suite.
    AlreadyPresent,
    /// The new file text.
    Edited(String),
    /// No stanza lists the base suite, so there is no line to extend.
    NoStanzaFor(String),
}

/// Appends `suite` to the `Suites:` line that lists `base` (e.g. `bookworm-backports` next to
/// `bookworm`, leaving the `bookworm-security` stanza alone, whose URIs differ).
pub fn add_suite(sources: &str, base: &str, suite: &str) -> SuiteEdit {
    let suites_of = |line: &str| {
        line.strip_prefix("Suites:").map(|rest| {
            rest.split_whitespace()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
    };
    if sources
        .lines()
        .filter_map(suites_of)
        .any(|suites| suites.iter().any(|name| name == suite))
    {
        return SuiteEdit::AlreadyPresent;
    }
    let mut edited = false;
    let mut text = String::with_capacity(sources.len() + suite.len() + 1);
    for line in sources.split_inclusive('\n') {
        let content = line.trim_end_matches('\n');
        match suites_of(content) {
            Some(suites) if !edited && suites.iter().any(|name| name == base) => {
                text.push_str(content);
                text.push(' ');
                text.push_str(suite);
                text.push_str(&line[content.len()..]);
                edited = true;
            }
            _ => text.push_str(line),
        }
    }
    if edited {
        SuiteEdit::Edited(text)
    } else {
        SuiteEdit::NoStanzaFor(base.to_owned())
    }
}

/// Packages to install, optionally from a backports suite.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AptInstall {
    /// Debian package names.
    pub packages: Vec<String>,
    /// `Some(("bookworm", "bookworm-backports"))`: enable the suite next to the base suite and
    /// install with `-t` so the backported versions win.
    pub backports: Option<(String, String)>,
}

impl AptInstall {
    /// Plain install from the default suites.
    pub fn packages(packages: &[&str]) -> Self {
        Self {
            packages: packages.iter().map(|name| (*name).to_owned()).collect(),
            backports: None,
        }
    }

    /// The commands a root user would run, for printing to users who are not root.
    pub fn commands(&self) -> Vec<String> {
        let mut commands = Vec::new();
        let mut target = String::new();
        if let Some((base, suite)) = &self.backports {
            commands.push(format!(
                "sed -i 's/^Suites: {base}\\( .*\\)\\?$/& {suite}/' {DEBIAN_SOURCES}"
            ));
            target = format!(" -t {suite}");
        }
        commands.push("apt-get update".to_owned());
        commands.push(format!(
            "apt-get install -y{target} {}",
            self.packages.join(" ")
        ));
        commands
    }

    /// Installs the packages (root only), with a spinner while apt runs.
    pub fn run(&self, progress: &Progress) -> Result<(), AptError> {
        if !running_as_root() {
            return Err(AptError::NotRoot {
                commands: self.commands(),
            });
        }
        if !apt_available() {
            return Err(AptError::NoApt {
                packages: self.packages.clone(),
            });
        }
        if let Some((base, suite)) = &self.backports {
            enable_suite(Path::new(DEBIAN_SOURCES), base, suite)?;
        }
        let step = progress.step("updating apt package lists");
        match step.run(
            Command::new("apt-get")
                .arg("update")
                .env("DEBIAN_FRONTEND", "noninteractive"),
        ) {
            Ok(_) => step.succeed(""),
            Err(error) => {
                step.fail("");
                return Err(AptError::Command(error));
            }
        }
        let step = progress.step(format!("installing {} with apt", self.packages.join(" ")));
        let mut install = Command::new("apt-get");
        install.env("DEBIAN_FRONTEND", "noninteractive").args([
            "install",
            "-y",
            "--no-install-recommends",
        ]);
        if let Some((_, suite)) = &self.backports {
            install.args(["-t", suite]);
        }
        install.args(&self.packages);
        match step.run(&mut install) {
            Ok(_) => {
                step.succeed("");
                Ok(())
            }
            Err(error) => {
                step.fail("");
                Err(AptError::Command(error))
            }
        }
    }
}

/// Adds `suite` to the sources file at `path` unless it is listed already.
fn enable_suite(path: &Path, base: &str, suite: &str) -> Result<(), AptError> {
    let io_error = |source| AptError::Sources {
        path: path.to_path_buf(),
        source,
    };
    let text = fs::read_to_string(path).map_err(io_error)?;
    match add_suite(&text, base, suite) {
        SuiteEdit::AlreadyPresent => Ok(()),
        SuiteEdit::Edited(edited) => fs::write(path, edited).map_err(io_error),
        SuiteEdit::NoStanzaFor(base) => Err(AptError::NoStanza {
            path: path.to_path_buf(),
            base,
            suite: suite.to_owned(),
        }),
    }
}

/// Why packages could not be installed.
#[derive(Debug)]
pub enum AptError {
    /// Not root: these are the commands to run.
    NotRoot {
        /// Shell commands, one per entry.
        commands: Vec<String>,
    },
    /// This is not a Debian-like system with apt.
    NoApt {
        /// What would have been installed.
        packages: Vec<String>,
    },
    /// The sources file could not be read or written.
    Sources {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// The sources file has no stanza for the base suite to extend.
    NoStanza {
        /// The file.
        path: PathBuf,
        /// The suite that was looked for.
        base: String,
        /// The suite that should have been added.
        suite: String,
    },
    /// apt itself failed.
    Command(CommandError),
}

impl fmt::Display for AptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotRoot { commands } => {
                writeln!(f, "missing packages can only be installed as root; run:")?;
                for command in commands {
                    writeln!(f, "    sudo {command}")?;
                }
                Ok(())
            }
            Self::NoApt { packages } => {
                write!(
                    f,
                    "apt-get not found: install the equivalent of the Debian packages {} with your package manager",
                    packages.join(", ")
                )
            }
            Self::Sources { path, source } => write!(f, "{}: {source}", path.display()),
            Self::NoStanza { path, base, suite } => {
                write!(
                    f,
                    "{}: no `Suites:` line lists `{base}`; add a stanza for `{suite}` by hand",
                    path.display()
                )
            }
            Self::Command(error) => write!(f, "{error}"),
        }
    }
}

impl std::error::Error for AptError {}

#[cfg(test)]
mod tests {
    use super::*;

    const BOOKWORM_SOURCES: &str = "Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates\nComponents: main\n\nTypes: deb\nURIs: http://deb.debian.org/debian-security\nSuites: bookworm-security\nComponents: main\n";

    #[test]
    fn backports_is_added_to_the_main_stanza_only() {
        let SuiteEdit::Edited(text) = add_suite(BOOKWORM_SOURCES, "bookworm", "bookworm-backports")
        else {
            panic!("expected an edit");
        };
        assert!(
            text.contains("Suites: bookworm bookworm-updates bookworm-backports\n"),
            "{text}"
        );
        assert!(text.contains("Suites: bookworm-security\n"), "{text}");
        assert_eq!(
            text.len(),
            BOOKWORM_SOURCES.len() + " bookworm-backports".len()
        );
    }

    #[test]
    fn listed_suite_is_left_alone() {
        let sources =
            BOOKWORM_SOURCES.replace("bookworm-updates", "bookworm-updates bookworm-backports");
        assert_eq!(
            add_suite(&sources, "bookworm", "bookworm-backports"),
            SuiteEdit::AlreadyPresent
        );
    }

    #[test]
    fn missing_base_stanza_is_reported() {
        assert_eq!(
            add_suite(
                "Suites: bookworm-security\n",
                "bookworm",
                "bookworm-backports"
            ),
            SuiteEdit::NoStanzaFor("bookworm".to_owned())
        );
    }

    #[test]
    fn codename_is_read_from_debian_os_release_only() {
        let debian = "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_CODENAME=bookworm\n";
        assert_eq!(
            debian_codename_from_os_release(debian).as_deref(),
            Some("bookworm")
        );
        let ubuntu = "ID=ubuntu\nID_LIKE=debian\nVERSION_CODENAME=noble\n";
        assert_eq!(debian_codename_from_os_release(ubuntu), None);
        assert_eq!(debian_codename_from_os_release("ID=\"debian\"\n"), None);
    }

    #[test]
    fn commands_for_non_root_users_name_the_backports_target() {
        let install = AptInstall {
            packages: vec!["qemu-system-arm".to_owned()],
            backports: Some(("bookworm".to_owned(), "bookworm-backports".to_owned())),
        };
        let commands = install.commands();
        assert_eq!(commands.len(), 3);
        assert_eq!(
            commands[0],
            format!(
                "sed -i 's/^Suites: bookworm\\( .*\\)\\?$/& bookworm-backports/' {DEBIAN_SOURCES}"
            )
        );
        assert_eq!(
            commands[2],
            "apt-get install -y -t bookworm-backports qemu-system-arm"
        );
        assert_eq!(
            AptInstall::packages(&["device-tree-compiler"]).commands(),
            ["apt-get update", "apt-get install -y device-tree-compiler"]
        );
    }
}
