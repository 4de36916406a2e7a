//! The manifest's key tree, checked before the typed parse so that every unknown or reserved
//! key in a file is reported in one run, each with a "did you mean" hint.
//!
//! serde's `deny_unknown_fields` stops at the first unknown key and cannot say which known
//! key was probably meant. This walk uses `toml`'s spanned document model instead; the typed
//! structs in [`crate::manifest`] keep `deny_unknown_fields` as a second line, and a test
//! checks that the complete example in `docs/manifest.md` uses every key listed here, so the
//! two lists cannot drift apart unnoticed.
//!
//! Design: [impl->dsn~config-manifest~1]

use toml::de::{DeTable, DeValue};

use crate::diagnostic::{Code, Diagnostic, Diagnostics, Source};

/// What a key's value may be.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Shape {
    /// A string, number, boolean or array of those: the typed parse checks it.
    Scalar,
    /// A table with these keys, or a scalar (e.g. `fault_policy = "halt"` or `{ restart = 3 }`).
    Table(&'static [Key]),
    /// An array whose table elements have these keys (`[[partition]]`, `interrupts = [...]`).
    Array(&'static [Key]),
    /// A table with free keys (`access = { alpha = "rw" }`).
    Map,
    /// Reserved for a later feature: any use is an error.
    Reserved(&'static str),
}

/// One allowed key.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Key {
    /// The key.
    pub name: &'static str,
    /// Its value.
    pub shape: Shape,
}

const fn key(name: &'static str, shape: Shape) -> Key {
    Key { name, shape }
}

const GPU_RESERVED: &str =
    "reserved for the 3D GPU mediator (display phase 2), which is not supported yet; screens are shared with `[display]`";

const SIZE_BASE: &[Key] = &[key("base", Shape::Scalar), key("size", Shape::Scalar)];

const SYSTEM: &[Key] = &[
    key("board", Shape::Scalar),
    key("console", Shape::Scalar),
    key("log", Shape::Scalar),
    key("hypervisor_memory", Shape::Table(SIZE_BASE)),
    key("dma_without_iommu", Shape::Scalar),
];

const IMAGE: &[Key] = &[key("crate", Shape::Scalar), key("file", Shape::Scalar)];

const MEMORY: &[Key] = &[
    key("size", Shape::Scalar),
    key("base", Shape::Scalar),
    key("colours", Shape::Scalar),
    key("identity", Shape::Scalar),
];

const REGION: &[Key] = &[
    key("name", Shape::Scalar),
    key("size", Shape::Scalar),
    key("base", Shape::Scalar),
    key("ipa", Shape::Scalar),
    key("access", Shape::Scalar),
    key("file", Shape::Scalar),
];

const INTERRUPT: &[Key] = &[key("intid", Shape::Scalar), key("trigger", Shape::Scalar)];
const FAULT_POLICY: &[Key] = &[key("restart", Shape::Scalar)];
const CONSOLE: &[Key] = &[key("passthrough", Shape::Scalar)];

const PARTITION: &[Key] = &[
    key("name", Shape::Scalar),
    key("criticality", Shape::Scalar),
    key("image", Shape::Table(IMAGE)),
    key("initrd", Shape::Scalar),
    key("bootargs", Shape::Scalar),
    key("memory", Shape::Table(MEMORY)),
    key("region", Shape::Array(REGION)),
    key("cpus", Shape::Scalar),
    key("vcpus", Shape::Scalar),
    key("devices", Shape::Scalar),
    key("interrupts", Shape::Array(INTERRUPT)),
    key("fault_policy", Shape::Table(FAULT_POLICY)),
    key("console", Shape::Table(CONSOLE)),
    key("gpu", Shape::Reserved(GPU_RESERVED)),
];

const CHANNEL: &[Key] = &[
    key("name", Shape::Scalar),
    key("size", Shape::Scalar),
    key("base", Shape::Scalar),
    key("access", Shape::Map),
    key("doorbell", Shape::Scalar),
];

const QEMU: &[Key] = &[key("virtio_blk", Shape::Scalar)];
const RESOLUTION: &[Key] = &[key("width", Shape::Scalar), key("height", Shape::Scalar)];
const FAIL_SAFE: &[Key] = &[key("colour", Shape::Scalar)];

const FRAMEBUFFER: &[Key] = &[
    key("ipa", Shape::Scalar),
    key("width", Shape::Scalar),
    key("height", Shape::Scalar),
    key("format", Shape::Scalar),
    key("stride", Shape::Scalar),
];

const DESTINATION: &[Key] = &[
    key("x", Shape::Scalar),
    key("y", Shape::Scalar),
    key("width", Shape::Scalar),
    key("height", Shape::Scalar),
];

const LAYER: &[Key] = &[
    key("partition", Shape::Scalar),
    key("framebuffer", Shape::Table(FRAMEBUFFER)),
    key("destination", Shape::Table(DESTINATION)),
    key("z", Shape::Scalar),
    key("critical", Shape::Scalar),
    key("freeze_threshold", Shape::Scalar),
];

const DISPLAY: &[Key] = &[
    key("backend", Shape::Scalar),
    key("resolution", Shape::Table(RESOLUTION)),
    key("frame_period_us", Shape::Scalar),
    key("compose_core", Shape::Scalar),
    key("compose_rate", Shape::Scalar),
    key("background", Shape::Scalar),
    key("fail_safe", Shape::Table(FAIL_SAFE)),
    key("statistics_every", Shape::Scalar),
    key("layer", Shape::Array(LAYER)),
];

/// The top level of a manifest.
pub(crate) const MANIFEST: &[Key] = &[
    key("system", Shape::Table(SYSTEM)),
    key("qemu", Shape::Table(QEMU)),
    key("partition", Shape::Array(PARTITION)),
    key("channel", Shape::Array(CHANNEL)),
    key("gpu", Shape::Reserved(GPU_RESERVED)),
    key("display", Shape::Table(DISPLAY)),
];

/// Every key path of the manifest language (`partition.memory.size`) and whether it is
/// reserved, for documentation tests. Keys below a free-key map (`channel.access`) are not
/// listed.
pub fn key_paths() -> Vec<(String, bool)> {
    fn walk(keys: &[Key], prefix: &str, out: &mut Vec<(String, bool)>) {
        for key in keys {
            let path = if prefix.is_empty() {
                key.name.to_owned()
            } else {
                format!("{prefix}.{}", key.name)
            };
            match key.shape {
                Shape::Table(inner) | Shape::Array(inner) => walk(inner, &path, out),
                Shape::Scalar | Shape::Map | Shape::Reserved(_) => {}
            }
            out.push((path, matches!(key.shape, Shape::Reserved(_))));
        }
    }
    let mut out = Vec::new();
    walk(MANIFEST, "", &mut out);
    out
}

/// Whether the value at `path` is a table with free keys (their names are data).
pub fn is_free_map(path: &str) -> bool {
    fn find(keys: &[Key], path: &str) -> Option<Shape> {
        let (head, rest) = path
            .split_once('.')
            .map_or((path, None), |(head, rest)| (head, Some(rest)));
        let key = keys.iter().find(|key| key.name == head)?;
        match (key.shape, rest) {
            (shape, None) => Some(shape),
            (Shape::Table(inner) | Shape::Array(inner), Some(rest)) => find(inner, rest),
            _ => None,
        }
    }
    matches!(find(MANIFEST, path), Some(Shape::Map))
}

/// Checks the TOML syntax and every key of the manifest in `source`; all problems at once.
pub fn check_manifest_keys(source: &Source) -> Result<(), Diagnostics> {
    let (document, syntax_errors) = DeTable::parse_recoverable(source.inner());
    let mut diagnostics = Diagnostics::new();
    for error in &syntax_errors {
        diagnostics.push(crate::manifest::schema_error(
            source,
            error,
            Code::ManifestInvalid,
        ));
    }
    if diagnostics.is_empty() {
        let mut walker = Walker {
            source,
            found: Vec::new(),
        };
        walker.table(document.get_ref(), MANIFEST, "");
        // The document model keeps keys sorted; report in file order.
        walker.found.sort_by_key(|(start, _)| *start);
        diagnostics.extend(walker.found.into_iter().map(|(_, diagnostic)| diagnostic));
    }
    diagnostics.into_result(())
}

struct Walker<'a> {
    source: &'a Source,
    found: Vec<(usize, Diagnostic)>,
}

impl Walker<'_> {
    fn table(&mut self, table: &DeTable<'_>, keys: &[Key], path: &str) {
        for (name, value) in table.iter() {
            let name_text: &str = name.get_ref();
            let key_path = if path.is_empty() {
                name_text.to_owned()
            } else {
                format!("{path}.{name_text}")
            };
            match keys.iter().find(|key| key.name == name_text) {
                Some(key) => self.value(value.get_ref(), key.shape, name.span(), &key_path),
                None => self.unknown(name_text, name.span(), keys, path),
            }
        }
    }

    fn value(
        &mut self,
        value: &DeValue<'_>,
        shape: Shape,
        key_span: std::ops::Range<usize>,
        path: &str,
    ) {
        match (shape, value) {
            (Shape::Reserved(reason), _) => self.found.push((
                key_span.start,
                Diagnostic::error(
                    Code::ReservedForGpuMediator,
                    format!("`{path}` is {reason}"),
                )
                .with_label(self.source, key_span.clone(), "reserved key")
                .with_help(
                    "remove it; GPU and display sharing will be configured here once the mediator exists",
                ),
            )),
            (Shape::Table(keys), DeValue::Table(table)) => self.table(table, keys, path),
            (Shape::Array(keys), DeValue::Array(items)) => {
                for item in items.iter() {
                    if let DeValue::Table(table) = item.get_ref() {
                        self.table(table, keys, path);
                    }
                }
            }
            // Wrong types and free-key maps are the typed parse's business.
            _ => {}
        }
    }

    fn unknown(&mut self, name: &str, span: std::ops::Range<usize>, keys: &[Key], path: &str) {
        let known: Vec<&str> = keys.iter().map(|key| key.name).collect();
        let closest = known
            .iter()
            .map(|candidate| (edit_distance(name, candidate), *candidate))
            .filter(|(distance, candidate)| *distance <= candidate.len().max(2) / 2)
            .min();
        let place = if path.is_empty() {
            "at the top level".to_owned()
        } else {
            format!("in `{path}`")
        };
        let help = match closest {
            Some((_, candidate)) => format!("did you mean `{candidate}`?"),
            None => format!("keys allowed {place}: {}", known.join(", ")),
        };
        self.found.push((
            span.start,
            Diagnostic::error(Code::UnknownKey, format!("unknown key `{name}` {place}"))
                .with_label(self.source, span, "not a manifest key")
                .with_help(help),
        ));
    }
}

/// Levenshtein distance, for "did you mean" hints on short keys.
fn edit_distance(left: &str, right: &str) -> usize {
    let right: Vec<char> = right.chars().collect();
    let mut previous: Vec<usize> = (0..=right.len()).collect();
    for (row, left_char) in left.chars().enumerate() {
        let mut current = vec![row + 1];
        for (column, right_char) in right.iter().enumerate() {
            let substitution = previous[column] + usize::from(left_char != *right_char);
            current.push(
                substitution
                    .min(previous[column + 1] + 1)
                    .min(current[column] + 1),
            );
        }
        previous = current;
    }
    previous[right.len()]
}

// [utest->dsn~config-manifest~1]
#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostic::source;

    fn codes_and_lines(text: &str) -> Vec<(Code, usize, Option<String>)> {
        let file = source("m.toml", text.to_owned());
        match check_manifest_keys(&file) {
            Ok(()) => Vec::new(),
            Err(diagnostics) => diagnostics
                .iter()
                .map(|item| {
                    (
                        item.code(),
                        item.line().unwrap_or(0),
                        item.help().map(str::to_owned),
                    )
                })
                .collect(),
        }
    }

    #[test]
    fn every_unknown_key_is_reported_with_a_suggestion() {
        let found = codes_and_lines(
            "[system]\nbord = \"x\"\n\n[[partition]]\nname = \"a\"\nfault_polcy = \"halt\"\nmemory = { size = 1, bas = 2 }\n",
        );
        assert_eq!(found.len(), 3, "{found:?}");
        assert_eq!(found[0].0, Code::UnknownKey);
        assert_eq!(found[0].1, 2);
        assert_eq!(found[0].2.as_deref(), Some("did you mean `board`?"));
        assert_eq!(found[1].2.as_deref(), Some("did you mean `fault_policy`?"));
        assert_eq!(found[2].1, 7);
    }

    #[test]
    fn gpu_keys_are_reserved_everywhere() {
        let found = codes_and_lines(
            "[system]\nboard = \"x\"\n[[gpu]]\nname = \"g\"\n[[partition]]\ngpu = true\n",
        );
        let codes: Vec<(Code, usize)> =
            found.iter().map(|(code, line, _)| (*code, *line)).collect();
        assert_eq!(
            codes,
            [
                (Code::ReservedForGpuMediator, 3),
                (Code::ReservedForGpuMediator, 6)
            ]
        );
    }

    #[test]
    fn display_keys_are_checked_like_any_other() {
        let found = codes_and_lines(
            "[system]\nboard = \"x\"\n[display]\nbackend = \"ramfb\"\n[[display.layer]]\npartition = \"a\"\nfreeze_treshold = 3\n",
        );
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].0, Code::UnknownKey);
        assert_eq!(found[0].1, 7);
        assert_eq!(found[0].2.as_deref(), Some("did you mean `freeze_threshold`?"));
    }

    #[test]
    fn syntax_errors_are_reported_before_keys() {
        let found = codes_and_lines("[system\nboard = \n");
        assert!(!found.is_empty());
        assert!(
            found
                .iter()
                .all(|(code, _, _)| *code == Code::ManifestInvalid)
        );
    }

    #[test]
    fn edit_distance_counts_single_edits() {
        assert_eq!(edit_distance("bord", "board"), 1);
        assert_eq!(edit_distance("cpus", "cpus"), 0);
        assert_eq!(edit_distance("", "abc"), 3);
    }
}
