//! The system manifest (`partitions/*.toml`) as written, with the byte span of every value.
//!
//! This module only mirrors the file: it knows the keys and their types, rejects unknown keys
//! (a misspelt `fault_polcy` must not silently fall back to a default), and keeps spans so
//! later checks can point at the exact value. What the values mean is decided in
//! [`crate::validate`].

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde_spanned::Spanned;

use crate::diagnostic::{Code, Diagnostic, Source};
use crate::units::SizeValue;

/// The whole manifest.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// `[system]`.
    pub system: Spanned<SystemTable>,
    /// `[[partition]]`, in file order (a partition's index is its identity).
    #[serde(default, rename = "partition")]
    pub partitions: Vec<Spanned<PartitionTable>>,
}

/// `[system]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SystemTable {
    /// Directory name under `board-configs/`.
    pub board: Spanned<String>,
}

/// One `[[partition]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartitionTable {
    /// Console prefix, file name stem and guest device tree `model`.
    pub name: Spanned<String>,
    /// Where the guest image comes from.
    pub image: Spanned<ImageTable>,
    /// Guest RAM.
    pub memory: Spanned<MemoryTable>,
    /// Physical core of each vCPU.
    pub cpus: Spanned<Vec<Spanned<usize>>>,
    /// `/chosen/bootargs` of the guest device tree.
    #[serde(default)]
    pub bootargs: Option<Spanned<String>>,
    /// What the hypervisor does when the partition faults; `halt` when absent.
    #[serde(default)]
    pub fault_policy: Option<Spanned<FaultPolicyValue>>,
    /// How the partition's console reaches the physical UART; `virtual` when absent.
    #[serde(default)]
    pub console: Option<Spanned<ConsoleKind>>,
}

/// `image = { crate = "..." }` or `image = { file = "..." }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageTable {
    /// A guest crate in `partitions/` that xtask builds.
    #[serde(rename = "crate")]
    pub crate_name: Option<Spanned<String>>,
    /// An ELF or arm64 `Image`, relative to the manifest.
    pub file: Option<Spanned<String>>,
}

/// `memory = { size = ..., base = ... }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemoryTable {
    /// Bytes of guest RAM.
    pub size: Spanned<SizeValue>,
    /// Host-physical base; allocated after the hypervisor when absent.
    #[serde(default)]
    pub base: Option<Spanned<SizeValue>>,
}

/// `fault_policy = "inject-abort" | "halt" | { restart = N }`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultPolicyValue {
    /// `"inject-abort"`.
    InjectAbort,
    /// `"halt"`.
    Halt,
    /// `{ restart = N }`.
    Restart(u32),
}

impl<'de> Deserialize<'de> for FaultPolicyValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct PolicyVisitor;

        impl<'de> Visitor<'de> for PolicyVisitor {
            type Value = FaultPolicyValue;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("\"inject-abort\", \"halt\" or { restart = <count> }")
            }

            fn visit_str<E: de::Error>(self, value: &str) -> Result<FaultPolicyValue, E> {
                match value {
                    "inject-abort" => Ok(FaultPolicyValue::InjectAbort),
                    "halt" => Ok(FaultPolicyValue::Halt),
                    "restart" => Err(E::custom("`restart` needs a count: write { restart = 3 }")),
                    other => Err(E::invalid_value(de::Unexpected::Str(other), &self)),
                }
            }

            fn visit_map<M: MapAccess<'de>>(
                self,
                mut map: M,
            ) -> Result<FaultPolicyValue, M::Error> {
                let mut restarts = None;
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "restart" if restarts.is_none() => {
                            restarts = Some(map.next_value::<u32>()?)
                        }
                        "restart" => return Err(de::Error::duplicate_field("restart")),
                        other => return Err(de::Error::unknown_field(other, &["restart"])),
                    }
                }
                restarts
                    .map(FaultPolicyValue::Restart)
                    .ok_or_else(|| de::Error::missing_field("restart"))
            }
        }

        deserializer.deserialize_any(PolicyVisitor)
    }
}

/// How a partition's console is connected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConsoleKind {
    /// An emulated PL011 whose output the hypervisor prefixes with the partition name and
    /// multiplexes onto the board console.
    Virtual,
}

/// Parses the manifest text held by `source`.
pub fn parse(source: &Source) -> Result<Manifest, Diagnostic> {
    toml::from_str(source.inner())
        .map_err(|error| schema_error(source, &error, Code::ManifestInvalid))
}

/// Turns a TOML or schema error into a diagnostic pointing at its span.
pub(crate) fn schema_error(source: &Source, error: &toml::de::Error, code: Code) -> Diagnostic {
    let message = error.message().trim().to_owned();
    let diagnostic = Diagnostic::error(code, format!("{}: {message}", source.name()));
    let diagnostic = match error.span() {
        Some(span) => diagnostic.with_label(source, span, message),
        None => diagnostic,
    };
    diagnostic.with_help(match code {
        Code::BoardInvalid => "board.toml keys are described in board-configs/README.md",
        _ => "the manifest format is described in the bulkhead-config crate documentation (hypervisor/config/src/lib.rs)",
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostic::source;

    #[test]
    fn fault_policy_accepts_the_three_forms() {
        #[derive(Deserialize)]
        struct Holder {
            policy: FaultPolicyValue,
        }
        let parse = |text: &str| toml::from_str::<Holder>(text).map(|holder| holder.policy);
        assert_eq!(
            parse("policy = \"halt\"").ok(),
            Some(FaultPolicyValue::Halt)
        );
        assert_eq!(
            parse("policy = \"inject-abort\"").ok(),
            Some(FaultPolicyValue::InjectAbort)
        );
        assert_eq!(
            parse("policy = { restart = 3 }").ok(),
            Some(FaultPolicyValue::Restart(3))
        );
        assert!(parse("policy = \"reboot\"").is_err());
        assert!(parse("policy = { restart = 3, delay = 1 }").is_err());
        assert!(parse("policy = { restart = -1 }").is_err());
    }

    #[test]
    fn unknown_keys_are_errors_pointing_at_the_key() {
        let text = "[system]\nboard = \"qemu-virt\"\nboart = 1\n".to_owned();
        let file = source("m.toml", text);
        let error = parse(&file).expect_err("unknown key accepted");
        assert_eq!(error.code(), Code::ManifestInvalid);
        assert_eq!(error.line(), Some(3));
    }
}
