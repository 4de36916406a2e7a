//! The system manifest (`partitions/*.toml`) as written, with the byte span of every value.
//!
//! This module only mirrors the file: it knows the keys and their types, rejects unknown keys
//! (a misspelt `fault_polcy` must not silently fall back to a default), and keeps spans so
//! later checks can point at the exact value. What the values mean is decided in
//! [`crate::validate`]. Before serde sees the text, [`crate::schema`] walks it once and
//! reports every unknown or reserved key at once (serde stops at the first).
//!
//! The language is documented in `docs/manifest.md`.
//!
//! Design: [impl->dsn~config-manifest~1]

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_spanned::Spanned;

use crate::diagnostic::{Code, Diagnostic, Diagnostics, Source};
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
    /// `[[channel]]`, in file order.
    #[serde(default, rename = "channel")]
    pub channels: Vec<Spanned<ChannelTable>>,
    /// `[qemu]`: how xtask and the tests emulate the system (ignored on hardware).
    #[serde(default)]
    pub qemu: Option<Spanned<QemuTable>>,
    /// `[[gpu]]`: reserved for the 3D GPU mediator (phase 2 of the display work); any use is
    /// reported by [`crate::schema`].
    #[serde(default)]
    pub gpu: Option<Spanned<IgnoredAny>>,
    /// `[display]`: the shared screen and its layers (`docs/display.md`).
    #[serde(default)]
    pub display: Option<Spanned<DisplayTable>>,
}

/// `[display]`: one screen shared by the partitions' layers.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DisplayTable {
    /// `"ram-capture"`, `"ramfb"` or `"virtio-gpu"`.
    pub backend: Spanned<String>,
    /// `{ width = .., height = .. }` in pixels.
    pub resolution: Spanned<ResolutionTable>,
    /// Microseconds per frame.
    pub frame_period_us: Spanned<i64>,
    /// The physical core whose frame tick composes.
    pub compose_core: Spanned<i64>,
    /// Pixel operations per microsecond the compose core sustains; the frame budget is this
    /// times the frame period.
    #[serde(default)]
    pub compose_rate: Option<Spanned<i64>>,
    /// XRGB8888 colour of pixels no layer covers; black when absent.
    #[serde(default)]
    pub background: Option<Spanned<i64>>,
    /// What replaces a frozen critical layer.
    pub fail_safe: Spanned<FailSafeTable>,
    /// Frames per statistics line on the console (composition time, critical latency);
    /// none when absent.
    #[serde(default)]
    pub statistics_every: Option<Spanned<i64>>,
    /// `[[display.layer]]`, in file order.
    #[serde(default, rename = "layer")]
    pub layers: Vec<Spanned<LayerTable>>,
}

/// `resolution = { width = 640, height = 480 }` (also a framebuffer's size).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResolutionTable {
    /// Pixels per row.
    pub width: Spanned<i64>,
    /// Rows.
    pub height: Spanned<i64>,
}

/// `fail_safe = { colour = 0xff0000 }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FailSafeTable {
    /// XRGB8888 colour filling a frozen critical layer's destination.
    pub colour: Spanned<i64>,
}

/// One `[[display.layer]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayerTable {
    /// The partition that draws it.
    pub partition: Spanned<String>,
    /// Where its pixels are in the partition's memory.
    pub framebuffer: Spanned<FramebufferTable>,
    /// Where they appear on the screen.
    pub destination: Spanned<DestinationTable>,
    /// Stacking order (higher on top); 0 when absent.
    #[serde(default)]
    pub z: Option<Spanned<i64>>,
    /// Safety-critical: composed first, never overlapped, watched for freezes.
    #[serde(default)]
    pub critical: Option<Spanned<bool>>,
    /// Frames without a present after which a critical layer is frozen.
    #[serde(default)]
    pub freeze_threshold: Option<Spanned<i64>>,
}

/// `framebuffer = { ipa = .., width = .., height = .., format = "xrgb8888", stride = .. }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FramebufferTable {
    /// Guest-physical address of the first pixel: in the partition's RAM or one of its
    /// regions.
    pub ipa: Spanned<SizeValue>,
    /// Pixels per row.
    pub width: Spanned<i64>,
    /// Rows.
    pub height: Spanned<i64>,
    /// `"xrgb8888"` or `"rgb565"`.
    pub format: Spanned<String>,
    /// Bytes per row; `width` times the pixel size when absent.
    #[serde(default)]
    pub stride: Option<Spanned<i64>>,
}

/// `destination = { x = .., y = .., width = .., height = .. }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DestinationTable {
    /// Left column on the screen.
    pub x: Spanned<i64>,
    /// Top row on the screen.
    pub y: Spanned<i64>,
    /// Columns (at most the framebuffer's width: no scaling).
    pub width: Spanned<i64>,
    /// Rows (at most the framebuffer's height).
    pub height: Spanned<i64>,
}

/// `[system]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SystemTable {
    /// Directory name under `board-configs/`.
    pub board: Spanned<String>,
    /// Device tree path or alias of the hypervisor's console UART; `board.toml`'s when absent.
    #[serde(default)]
    pub console: Option<Spanned<String>>,
    /// Device tree path or alias of a UART for the hypervisor's binary `defmt` log;
    /// `board.toml`'s `log` when absent.
    #[serde(default)]
    pub log: Option<Spanned<String>>,
    /// Overrides `board.toml`'s `[hypervisor]` reservation.
    #[serde(default)]
    pub hypervisor_memory: Option<Spanned<HypervisorMemoryTable>>,
    /// What a DMA-capable pass-through device without IOMMU isolation is: `"warn"` (default)
    /// or `"error"`.
    #[serde(default)]
    pub dma_without_iommu: Option<Spanned<DmaPolicy>>,
}

/// `[qemu]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QemuTable {
    /// Raw disk image files (relative to the manifest), each attached as a
    /// `virtio-blk-device` on one of the machine's virtio-mmio transports.
    #[serde(default)]
    pub virtio_blk: Vec<Spanned<String>>,
}

/// `hypervisor_memory = { base = ..., size = ... }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HypervisorMemoryTable {
    /// Host-physical base; `board.toml`'s when absent.
    #[serde(default)]
    pub base: Option<Spanned<SizeValue>>,
    /// Bytes reserved for the hypervisor image, stacks and tables.
    pub size: Spanned<SizeValue>,
}

/// `dma_without_iommu`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DmaPolicy {
    /// A warning: the build goes on.
    #[default]
    Warn,
    /// An error: the system is not built.
    Error,
}

/// One `[[partition]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartitionTable {
    /// Console prefix, file name stem and guest device tree `model`.
    pub name: Spanned<String>,
    /// Free-text criticality label (`"ASIL-D"`, `"SIL 2"`, `"QM"`), kept for reports.
    #[serde(default)]
    pub criticality: Option<Spanned<String>>,
    /// Where the guest image comes from.
    pub image: Spanned<ImageTable>,
    /// An initial RAM disk file, relative to the manifest.
    #[serde(default)]
    pub initrd: Option<Spanned<String>>,
    /// `/chosen/bootargs` of the guest device tree.
    #[serde(default)]
    pub bootargs: Option<Spanned<String>>,
    /// Guest RAM.
    pub memory: Spanned<MemoryTable>,
    /// `[[partition.region]]`: further memory regions.
    #[serde(default, rename = "region")]
    pub regions: Vec<Spanned<RegionTable>>,
    /// Physical core of each vCPU.
    pub cpus: Spanned<Vec<Spanned<usize>>>,
    /// vCPU count; must not exceed the pinned cores (defaults to their number).
    #[serde(default)]
    pub vcpus: Option<Spanned<usize>>,
    /// Devices passed through, by device tree path, alias or `&label`.
    #[serde(default)]
    pub devices: Vec<Spanned<String>>,
    /// Further physical interrupts forwarded to the partition.
    #[serde(default)]
    pub interrupts: Vec<Spanned<InterruptValue>>,
    /// What the hypervisor does when the partition faults; `halt` when absent.
    #[serde(default)]
    pub fault_policy: Option<Spanned<FaultPolicyValue>>,
    /// Where the partition's console goes; `virtual` when absent.
    #[serde(default)]
    pub console: Option<Spanned<ConsoleValue>>,
    /// Reserved for the 3D GPU mediator.
    #[serde(default)]
    pub gpu: Option<Spanned<IgnoredAny>>,
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

/// `memory = { size = ..., base = ..., colours = [...] }`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemoryTable {
    /// Bytes of guest RAM.
    pub size: Spanned<SizeValue>,
    /// Host-physical base; allocated after the hypervisor when absent.
    #[serde(default)]
    pub base: Option<Spanned<SizeValue>>,
    /// Last-level cache colours (validated and reported; not enforced yet).
    #[serde(default)]
    pub colours: Option<Spanned<Vec<Spanned<u32>>>>,
    /// `true`: the RAM's host-physical base equals its guest-physical one
    /// ([`bulkhead_core::layout::RAM_BASE`]), so a pass-through device's DMA (which uses the
    /// addresses the guest gives it) reaches the partition's own RAM.
    #[serde(default)]
    pub identity: Option<Spanned<bool>>,
}

/// One `[[partition.region]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionTable {
    /// Name (unique in the partition; the guest device tree node's `bulkhead,name`).
    pub name: Spanned<String>,
    /// Bytes.
    pub size: Spanned<SizeValue>,
    /// Host-physical base; allocated when absent.
    #[serde(default)]
    pub base: Option<Spanned<SizeValue>>,
    /// Guest-physical base; allocated above RAM when absent.
    #[serde(default)]
    pub ipa: Option<Spanned<SizeValue>>,
    /// `"rw"` (default) or `"ro"`.
    #[serde(default)]
    pub access: Option<Spanned<AccessValue>>,
    /// Initial contents, relative to the manifest.
    #[serde(default)]
    pub file: Option<Spanned<String>>,
}

/// `"rw"` or `"ro"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
pub enum AccessValue {
    /// Read-write.
    #[serde(rename = "rw")]
    ReadWrite,
    /// Read-only.
    #[serde(rename = "ro")]
    ReadOnly,
}

/// One `[[channel]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelTable {
    /// Name (unique among channels).
    pub name: Spanned<String>,
    /// Bytes of shared memory.
    pub size: Spanned<SizeValue>,
    /// Host-physical base; allocated when absent.
    #[serde(default)]
    pub base: Option<Spanned<SizeValue>>,
    /// Partition name → `"rw"` or `"ro"`: the endpoints and what each may do.
    pub access: Spanned<BTreeMap<Spanned<String>, Spanned<AccessValue>>>,
    /// Whether each endpoint gets a doorbell interrupt.
    #[serde(default)]
    pub doorbell: Option<Spanned<bool>>,
}

/// Interrupt trigger as written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TriggerValue {
    /// Level-sensitive (default).
    Level,
    /// Edge-triggered.
    Edge,
}

/// `interrupts = [77, { intid = 78, trigger = "edge" }]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InterruptValue {
    /// Physical INTID (an SPI: 32 to 1019).
    pub intid: i64,
    /// Trigger; level when not written.
    pub trigger: TriggerValue,
}

impl<'de> Deserialize<'de> for InterruptValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct InterruptVisitor;

        impl<'de> Visitor<'de> for InterruptVisitor {
            type Value = InterruptValue;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an INTID or { intid = <INTID>, trigger = \"level\" | \"edge\" }")
            }

            fn visit_i64<E: de::Error>(self, intid: i64) -> Result<InterruptValue, E> {
                Ok(InterruptValue {
                    intid,
                    trigger: TriggerValue::Level,
                })
            }

            fn visit_u64<E: de::Error>(self, intid: u64) -> Result<InterruptValue, E> {
                Ok(InterruptValue {
                    intid: i64::try_from(intid).unwrap_or(i64::MAX),
                    trigger: TriggerValue::Level,
                })
            }

            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<InterruptValue, M::Error> {
                let (mut intid, mut trigger) = (None, None);
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "intid" if intid.is_none() => intid = Some(map.next_value::<i64>()?),
                        "trigger" if trigger.is_none() => {
                            trigger = Some(map.next_value::<TriggerValue>()?)
                        }
                        "intid" | "trigger" => {
                            return Err(de::Error::custom(format!("duplicate key `{key}`")));
                        }
                        other => {
                            return Err(de::Error::unknown_field(other, &["intid", "trigger"]));
                        }
                    }
                }
                Ok(InterruptValue {
                    intid: intid.ok_or_else(|| de::Error::missing_field("intid"))?,
                    trigger: trigger.unwrap_or(TriggerValue::Level),
                })
            }
        }

        deserializer.deserialize_any(InterruptVisitor)
    }
}

/// `fault_policy = "inject-abort" | "halt" | "stop-system" | { restart = N }`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultPolicyValue {
    /// `"inject-abort"`.
    InjectAbort,
    /// `"halt"`.
    Halt,
    /// `"stop-system"`.
    StopSystem,
    /// `{ restart = N }`: at most N restarts, then halt.
    Restart(i64),
}

impl<'de> Deserialize<'de> for FaultPolicyValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct PolicyVisitor;

        impl<'de> Visitor<'de> for PolicyVisitor {
            type Value = FaultPolicyValue;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("\"inject-abort\", \"halt\", \"stop-system\" or { restart = <count> }")
            }

            fn visit_str<E: de::Error>(self, value: &str) -> Result<FaultPolicyValue, E> {
                match value {
                    "inject-abort" => Ok(FaultPolicyValue::InjectAbort),
                    "halt" => Ok(FaultPolicyValue::Halt),
                    "stop-system" => Ok(FaultPolicyValue::StopSystem),
                    "restart" => Err(E::custom("`restart` needs a count: write { restart = 3 }")),
                    other => Err(E::invalid_value(de::Unexpected::Str(other), &self)),
                }
            }

            fn visit_map<M: MapAccess<'de>>(self, map: M) -> Result<FaultPolicyValue, M::Error> {
                single_key_table(map, &["restart"]).map(FaultPolicyValue::Restart)
            }
        }

        deserializer.deserialize_any(PolicyVisitor)
    }
}

/// `console = "virtual" | { passthrough = "<device>" }`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConsoleValue {
    /// The emulated PL011, multiplexed by the hypervisor.
    Virtual,
    /// A UART of the board passed through (path, alias or `&label`).
    Passthrough(String),
}

impl<'de> Deserialize<'de> for ConsoleValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ConsoleVisitor;

        impl<'de> Visitor<'de> for ConsoleVisitor {
            type Value = ConsoleValue;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("\"virtual\" or { passthrough = \"<UART path or alias>\" }")
            }

            fn visit_str<E: de::Error>(self, value: &str) -> Result<ConsoleValue, E> {
                match value {
                    "virtual" => Ok(ConsoleValue::Virtual),
                    other => Err(E::invalid_value(de::Unexpected::Str(other), &self)),
                }
            }

            fn visit_map<M: MapAccess<'de>>(self, map: M) -> Result<ConsoleValue, M::Error> {
                single_key_table(map, &["passthrough"]).map(ConsoleValue::Passthrough)
            }
        }

        deserializer.deserialize_any(ConsoleVisitor)
    }
}

/// Reads an inline table that must hold exactly the one key `key` (`{ restart = 3 }`,
/// `{ passthrough = "serial1" }`) and returns its value: a second key, a repeated key or a
/// missing key is an error, so a typo never falls back to a default.
/// `field` is the key as a one-element list because serde's unknown-field error wants the
/// expected keys as a `'static` slice.
fn single_key_table<'de, M, T>(mut map: M, field: &'static [&'static str; 1]) -> Result<T, M::Error>
where
    M: MapAccess<'de>,
    T: Deserialize<'de>,
{
    let key = field[0];
    let mut value = None;
    while let Some(name) = map.next_key::<String>()? {
        match name.as_str() {
            name if name == key && value.is_none() => value = Some(map.next_value::<T>()?),
            name if name == key => return Err(de::Error::duplicate_field(key)),
            other => return Err(de::Error::unknown_field(other, field)),
        }
    }
    value.ok_or_else(|| de::Error::missing_field(key))
}

/// Parses the manifest text held by `source`: first the key check of [`crate::schema`]
/// (every unknown or reserved key at once), then the typed model.
pub fn parse(source: &Source) -> Result<Manifest, Diagnostics> {
    crate::schema::check_manifest_keys(source)?;
    toml::from_str(source.inner())
        .map_err(|error| schema_error(source, &error, Code::ManifestInvalid).into())
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
        _ => "the manifest language is described in docs/manifest.md",
    })
}

// [utest->dsn~config-manifest~1]
#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostic::source;

    #[derive(Deserialize)]
    struct Holder<T> {
        value: T,
    }

    fn parse_value<T: for<'de> Deserialize<'de>>(text: &str) -> Option<T> {
        toml::from_str::<Holder<T>>(text)
            .ok()
            .map(|holder| holder.value)
    }

    #[test]
    fn fault_policy_accepts_the_four_forms() {
        assert_eq!(
            parse_value("value = \"halt\""),
            Some(FaultPolicyValue::Halt)
        );
        assert_eq!(
            parse_value("value = \"inject-abort\""),
            Some(FaultPolicyValue::InjectAbort)
        );
        assert_eq!(
            parse_value("value = \"stop-system\""),
            Some(FaultPolicyValue::StopSystem)
        );
        assert_eq!(
            parse_value("value = { restart = 3 }"),
            Some(FaultPolicyValue::Restart(3))
        );
        assert_eq!(parse_value::<FaultPolicyValue>("value = \"reboot\""), None);
        assert_eq!(
            parse_value::<FaultPolicyValue>("value = { restart = 3, delay = 1 }"),
            None
        );
    }

    #[test]
    fn interrupts_and_consoles_accept_their_short_and_long_forms() {
        assert_eq!(
            parse_value("value = 77"),
            Some(InterruptValue {
                intid: 77,
                trigger: TriggerValue::Level
            })
        );
        assert_eq!(
            parse_value("value = { intid = 78, trigger = \"edge\" }"),
            Some(InterruptValue {
                intid: 78,
                trigger: TriggerValue::Edge
            })
        );
        assert_eq!(
            parse_value::<InterruptValue>("value = { trigger = \"edge\" }"),
            None
        );
        assert_eq!(
            parse_value("value = \"virtual\""),
            Some(ConsoleValue::Virtual)
        );
        assert_eq!(
            parse_value("value = { passthrough = \"serial1\" }"),
            Some(ConsoleValue::Passthrough("serial1".into()))
        );
        assert_eq!(parse_value::<ConsoleValue>("value = \"uart\""), None);
    }

    #[test]
    fn unknown_keys_are_errors_pointing_at_the_key() {
        let text = "[system]\nboard = \"qemu-virt\"\nboart = 1\n".to_owned();
        let file = source("m.toml", text);
        let errors = parse(&file).expect_err("unknown key accepted");
        let error = errors.iter().next().unwrap();
        assert_eq!(error.code(), Code::UnknownKey);
        assert_eq!(error.line(), Some(3));
    }
}
