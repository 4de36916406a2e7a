//! The host programs the build and tests run: QEMU (10 or newer) and `dtc`.
//!
//! QEMU 10 is the version the board device trees were dumped from and the integration tests
//! were written against (older `virt` machines lay devices out differently, and the board DTS
//! test would fail for a reason unrelated to Bulkhead). Debian 12 ships QEMU 7.2; its
//! `bookworm-backports` suite has QEMU 10, so that suite is enabled when needed.

use std::fmt;
use std::process::Command;

use crate::apt::{self, AptError, AptInstall};
use crate::progress::Progress;

/// The QEMU system emulator for AArch64.
pub const QEMU: &str = "qemu-system-aarch64";

/// The device tree compiler (decompiles the DTBs QEMU dumps).
pub const DTC: &str = "dtc";

/// The oldest QEMU the project supports.
pub const MINIMUM_QEMU: QemuVersion = QemuVersion {
    major: 10,
    minor: 0,
    patch: 0,
};

/// A QEMU release number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct QemuVersion {
    /// Major release.
    pub major: u32,
    /// Minor release.
    pub minor: u32,
    /// Patch level.
    pub patch: u32,
}

impl fmt::Display for QemuVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// Parses the first line of `qemu-system-aarch64 --version`:
/// `QEMU emulator version 10.0.2 (Debian 1:10.0.2+ds-2+deb13u1~bpo12+1)`.
pub fn parse_qemu_version(output: &str) -> Option<QemuVersion> {
    let rest = output
        .lines()
        .next()?
        .trim()
        .strip_prefix("QEMU emulator version ")?;
    let number = rest.split_whitespace().next()?;
    let mut parts = number.split('.').map(|part| {
        let digits: String = part.chars().take_while(char::is_ascii_digit).collect();
        digits.parse::<u32>().ok()
    });
    let major = parts.next().flatten()?;
    let minor = parts.next().flatten()?;
    let patch = parts.next().flatten().unwrap_or(0);
    Some(QemuVersion {
        major,
        minor,
        patch,
    })
}

/// The installed QEMU's version, `None` when it is not on `PATH` or prints something else.
pub fn installed_qemu() -> Option<QemuVersion> {
    let output = Command::new(QEMU).arg("--version").output().ok()?;
    output
        .status
        .success()
        .then(|| parse_qemu_version(&String::from_utf8_lossy(&output.stdout)))
        .flatten()
}

/// True when `dtc` runs.
pub fn dtc_installed() -> bool {
    Command::new(DTC)
        .arg("--version")
        .output()
        .is_ok_and(|output| output.status.success())
}

/// Which host tools a command needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    /// Building only compiles device trees.
    Dtc,
    /// Running and testing also boot QEMU.
    QemuAndDtc,
}

/// The checked host tools.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostTools {
    /// The QEMU that will run the images (`None` when it was not needed and is absent).
    pub qemu: Option<QemuVersion>,
}

/// What is present now, as input to [`install_plan`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Findings {
    /// Installed QEMU version, if any.
    pub qemu: Option<QemuVersion>,
    /// Whether `dtc` runs.
    pub dtc: bool,
}

impl Findings {
    /// Looks at the installed tools.
    pub fn probe() -> Self {
        Self {
            qemu: installed_qemu(),
            dtc: dtc_installed(),
        }
    }

    fn qemu_ok(&self) -> bool {
        self.qemu.is_some_and(|version| version >= MINIMUM_QEMU)
    }
}

/// The apt installation that provides what `need` asks for and `findings` lacks, on Debian
/// release `codename`; `None` when nothing is missing.
pub fn install_plan(need: Need, findings: &Findings, codename: Option<&str>) -> Option<AptInstall> {
    let qemu_missing = need == Need::QemuAndDtc && !findings.qemu_ok();
    let mut packages = Vec::new();
    if qemu_missing {
        packages.push("qemu-system-arm");
    }
    if !findings.dtc {
        packages.push("device-tree-compiler");
    }
    if packages.is_empty() {
        return None;
    }
    let mut install = AptInstall::packages(&packages);
    if qemu_missing && codename == Some("bookworm") {
        install.backports = Some(("bookworm".to_owned(), "bookworm-backports".to_owned()));
    }
    Some(install)
}

/// Checks the tools `need` names, installing them with apt when missing and allowed.
pub fn ensure(need: Need, progress: &Progress) -> Result<HostTools, HostToolsError> {
    let findings = Findings::probe();
    let Some(install) = install_plan(need, &findings, apt::debian_codename().as_deref()) else {
        return Ok(HostTools {
            qemu: findings.qemu,
        });
    };
    install.run(progress).map_err(HostToolsError::Install)?;
    let findings = Findings::probe();
    if need == Need::QemuAndDtc && !findings.qemu_ok() {
        return Err(HostToolsError::StillMissing {
            tool: QEMU,
            found: findings.qemu,
        });
    }
    if !findings.dtc {
        return Err(HostToolsError::StillMissing {
            tool: DTC,
            found: None,
        });
    }
    Ok(HostTools {
        qemu: findings.qemu,
    })
}

/// Why the host tools are not usable.
#[derive(Debug)]
pub enum HostToolsError {
    /// Installing failed or was not allowed.
    Install(AptError),
    /// After installing, the tool is still missing or too old.
    StillMissing {
        /// Which program.
        tool: &'static str,
        /// The QEMU version found, when the problem is its age.
        found: Option<QemuVersion>,
    },
}

impl fmt::Display for HostToolsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Install(error) => write!(
                f,
                "QEMU {MINIMUM_QEMU} or newer and dtc are needed. {error}"
            ),
            Self::StillMissing {
                tool,
                found: Some(found),
            } => write!(
                f,
                "{tool} {found} is installed but Bulkhead needs {MINIMUM_QEMU} or newer \
                 (on Debian 12 it comes from bookworm-backports; elsewhere build QEMU from source)"
            ),
            Self::StillMissing { tool, found: None } => {
                write!(f, "{tool} is still not runnable after installing it")
            }
        }
    }
}

impl std::error::Error for HostToolsError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debian_backport_version_line_parses() {
        let output = "QEMU emulator version 10.0.2 (Debian 1:10.0.2+ds-2+deb13u1~bpo12+1)\nCopyright (c) 2003-2025 Fabrice Bellard and the QEMU Project developers\n";
        assert_eq!(
            parse_qemu_version(output),
            Some(QemuVersion {
                major: 10,
                minor: 0,
                patch: 2
            })
        );
    }

    #[test]
    fn upstream_and_distribution_version_lines_parse() {
        assert_eq!(
            parse_qemu_version("QEMU emulator version 7.2.0"),
            Some(QemuVersion {
                major: 7,
                minor: 2,
                patch: 0
            })
        );
        assert_eq!(
            parse_qemu_version("QEMU emulator version 8.2.2 (Debian 1:8.2.2+ds-0ubuntu1.4)"),
            Some(QemuVersion {
                major: 8,
                minor: 2,
                patch: 2
            })
        );
        assert_eq!(
            parse_qemu_version("QEMU emulator version 10.1.50 (v10.1.0-1234-gdeadbeef)"),
            Some(QemuVersion {
                major: 10,
                minor: 1,
                patch: 50
            })
        );
        assert_eq!(
            parse_qemu_version("QEMU emulator version 9.2"),
            Some(QemuVersion {
                major: 9,
                minor: 2,
                patch: 0
            })
        );
    }

    #[test]
    fn unrelated_output_is_not_a_version() {
        assert_eq!(parse_qemu_version(""), None);
        assert_eq!(
            parse_qemu_version("qemu-system-aarch64: command not found"),
            None
        );
        assert_eq!(parse_qemu_version("QEMU emulator version banana"), None);
    }

    #[test]
    fn versions_order_numerically() {
        let nine = QemuVersion {
            major: 9,
            minor: 2,
            patch: 3,
        };
        let ten = QemuVersion {
            major: 10,
            minor: 0,
            patch: 0,
        };
        assert!(nine < MINIMUM_QEMU);
        assert!(ten >= MINIMUM_QEMU);
        assert_eq!(ten.to_string(), "10.0.0");
    }

    #[test]
    fn nothing_is_installed_when_everything_is_present() {
        let findings = Findings {
            qemu: Some(QemuVersion {
                major: 10,
                minor: 0,
                patch: 2,
            }),
            dtc: true,
        };
        assert_eq!(
            install_plan(Need::QemuAndDtc, &findings, Some("bookworm")),
            None
        );
    }

    #[test]
    fn old_qemu_on_bookworm_comes_from_backports() {
        let findings = Findings {
            qemu: Some(QemuVersion {
                major: 7,
                minor: 2,
                patch: 0,
            }),
            dtc: false,
        };
        let plan = install_plan(Need::QemuAndDtc, &findings, Some("bookworm"))
            .expect("something to install");
        assert_eq!(plan.packages, ["qemu-system-arm", "device-tree-compiler"]);
        assert_eq!(
            plan.backports,
            Some(("bookworm".to_owned(), "bookworm-backports".to_owned()))
        );
    }

    #[test]
    fn newer_debian_installs_from_its_own_suite() {
        let plan = install_plan(
            Need::QemuAndDtc,
            &Findings {
                qemu: None,
                dtc: true,
            },
            Some("trixie"),
        )
        .expect("qemu missing");
        assert_eq!(plan.packages, ["qemu-system-arm"]);
        assert_eq!(plan.backports, None);
    }

    #[test]
    fn building_alone_never_installs_qemu() {
        let findings = Findings {
            qemu: None,
            dtc: true,
        };
        assert_eq!(install_plan(Need::Dtc, &findings, Some("bookworm")), None);
        let plan = install_plan(
            Need::Dtc,
            &Findings {
                qemu: None,
                dtc: false,
            },
            Some("bookworm"),
        )
        .expect("dtc missing");
        assert_eq!(plan.packages, ["device-tree-compiler"]);
    }

    #[test]
    fn missing_dtc_alone_does_not_touch_suites() {
        let findings = Findings {
            qemu: Some(QemuVersion {
                major: 10,
                minor: 0,
                patch: 2,
            }),
            dtc: false,
        };
        let plan =
            install_plan(Need::QemuAndDtc, &findings, Some("bookworm")).expect("dtc missing");
        assert_eq!(plan.packages, ["device-tree-compiler"]);
        assert_eq!(plan.backports, None);
    }
}
