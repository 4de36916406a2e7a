//! What the EL2 image costs in bytes: its size by kind of section, and the RAM it occupies
//! statically (nothing is allocated at run time, so this is all the RAM it ever uses).
//!
//! Read from the linked ELF's section headers and symbol table with the `object` crate.
//! The image embeds each partition's image and device tree (copied into guest RAM at boot
//! and kept for restarts); those bytes sit in `.rodata` and are reported apart, from the
//! sizes of the files the config compiler wrote, so that the hypervisor's own read-only data
//! is not inflated by its guests.

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use bulkhead_config::codegen::preload;
use object::{Object, ObjectSection, ObjectSymbol, SectionKind, SymbolKind};
use serde::{Deserialize, Serialize};

/// Section-header sizes of the image, in bytes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageSize {
    /// Executable code.
    pub text: u64,
    /// Read-only data of the hypervisor itself (embedded partition bytes excluded).
    pub rodata: u64,
    /// Partition images and device trees embedded in `.rodata`.
    pub embedded_partitions: u64,
    /// Initialized writable data.
    pub data: u64,
    /// Zero-initialized data (`.bss`), stacks excluded.
    pub bss: u64,
    /// Per-core stacks (`.stacks`).
    pub stacks: u64,
}

impl ImageSize {
    /// What a loader must copy: code, read-only data (embedded partitions included) and data.
    pub fn loaded(&self) -> u64 {
        self.text + self.rodata + self.embedded_partitions + self.data
    }
}

/// The RAM the image occupies, split by purpose.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaticMemory {
    /// From the image's first to its last byte (`__image_start` to `__image_end`), alignment
    /// padding included.
    pub total: u64,
    /// Stage-2 and EL2 translation tables.
    pub translation_tables: u64,
    /// Run-time state of the partitions (device models, PSCI, console buffers).
    pub partition_state: u64,
    /// Per-core stacks.
    pub stacks: u64,
    /// Everything else in `.data` and `.bss`.
    pub other_data: u64,
    /// The largest statics, for finding where the rest goes.
    pub largest: Vec<StaticSymbol>,
}

/// One static of the image.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaticSymbol {
    /// Demangled path (without the hash).
    pub name: String,
    /// Section it lives in.
    pub section: String,
    /// Bytes.
    pub size: u64,
}

/// Why the image could not be read.
#[derive(Debug)]
pub enum ImageFactsError {
    /// The file could not be read.
    Io {
        /// The ELF.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// It is not an ELF `object` can parse.
    Parse {
        /// The ELF.
        path: PathBuf,
        /// The parser's message.
        reason: String,
    },
}

impl fmt::Display for ImageFactsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io { path, source } => write!(f, "{}: {source}", path.display()),
            Self::Parse { path, reason } => write!(f, "{}: {reason}", path.display()),
        }
    }
}

impl std::error::Error for ImageFactsError {}

/// Statics whose (demangled) path ends like this are translation tables.
const TRANSLATION_TABLE_STATICS: &[&str] = &["::STAGE2_POOL", "::EL2_MAP"];
/// Statics whose path ends like this hold partition run-time state.
const PARTITION_STATE_STATICS: &[&str] = &["partition::PARTITIONS"];
/// The section the image's stacks are linked into (`hypervisor/image/link.x`).
const STACKS_SECTION: &str = ".stacks";
/// How many of the largest statics are listed.
const LARGEST_LISTED: usize = 8;

/// Reads the image at `elf`, whose `.rodata` embeds `embedded_partitions` bytes of
/// partition images and device trees.
pub fn read(
    elf: &Path,
    embedded_partitions: u64,
) -> Result<(ImageSize, StaticMemory), ImageFactsError> {
    let bytes = fs::read(elf).map_err(|source| ImageFactsError::Io {
        path: elf.to_path_buf(),
        source,
    })?;
    let file = object::File::parse(&*bytes).map_err(|error| ImageFactsError::Parse {
        path: elf.to_path_buf(),
        reason: error.to_string(),
    })?;
    let mut size = ImageSize::default();
    let mut rodata = 0;
    for section in file.sections() {
        let name = section.name().unwrap_or("");
        let bytes = section.size();
        match section.kind() {
            _ if name == STACKS_SECTION => size.stacks += bytes,
            // First guest images a boot loader places in the partitions' RAM: not the
            // hypervisor's bytes (and not in its reservation).
            _ if name.starts_with(preload::SECTION_PREFIX) => {}
            SectionKind::Text => size.text += bytes,
            SectionKind::ReadOnlyData | SectionKind::ReadOnlyString => rodata += bytes,
            SectionKind::Data => size.data += bytes,
            SectionKind::UninitializedData => size.bss += bytes,
            _ => {}
        }
    }
    size.embedded_partitions = embedded_partitions.min(rodata);
    size.rodata = rodata - size.embedded_partitions;

    let section_name = |symbol: &object::Symbol<'_, '_>| {
        symbol
            .section_index()
            .and_then(|index| file.section_by_index(index).ok())
            .and_then(|section| section.name().ok().map(str::to_owned))
            .unwrap_or_default()
    };
    let address_of = |wanted: &str| {
        file.symbols()
            .find(|symbol| symbol.name() == Ok(wanted))
            .map(|symbol| symbol.address())
    };
    let mut memory = StaticMemory {
        total: match (address_of("__image_start"), address_of("__image_end")) {
            (Some(start), Some(end)) => end.saturating_sub(start),
            _ => size.loaded() + size.bss + size.stacks,
        },
        stacks: size.stacks,
        ..StaticMemory::default()
    };
    let mut statics: Vec<StaticSymbol> = file
        .symbols()
        .filter(|symbol| symbol.kind() == SymbolKind::Data && symbol.size() > 0)
        .map(|symbol| StaticSymbol {
            name: demangle(symbol.name().unwrap_or("?")),
            section: section_name(&symbol),
            size: symbol.size(),
        })
        .filter(|symbol| symbol.section == ".data" || symbol.section == ".bss")
        .collect();
    for symbol in &statics {
        if TRANSLATION_TABLE_STATICS
            .iter()
            .any(|end| symbol.name.ends_with(end))
        {
            memory.translation_tables += symbol.size;
        } else if PARTITION_STATE_STATICS
            .iter()
            .any(|end| symbol.name.ends_with(end))
        {
            memory.partition_state += symbol.size;
        }
    }
    memory.other_data =
        (size.data + size.bss).saturating_sub(memory.translation_tables + memory.partition_state);
    statics.sort_by(|a, b| b.size.cmp(&a.size).then_with(|| a.name.cmp(&b.name)));
    statics.truncate(LARGEST_LISTED);
    memory.largest = statics;
    Ok((size, memory))
}

/// The path of a legacy-mangled Rust symbol (`_ZN4core3fmt5write17h…E` → `core::fmt::write`),
/// without the hash; other names are returned as they are.
pub fn demangle(symbol: &str) -> String {
    let Some(mut rest) = symbol.strip_prefix("_ZN") else {
        return symbol.to_owned();
    };
    let mut parts = Vec::new();
    // BOUND: each iteration consumes at least one byte of `rest`.
    while let Some(digits) = rest
        .find(|c: char| !c.is_ascii_digit())
        .filter(|&end| end > 0)
    {
        let Ok(length) = rest[..digits].parse::<usize>() else {
            break;
        };
        let Some(part) = rest.get(digits..digits + length) else {
            break;
        };
        parts.push(part);
        rest = &rest[digits + length..];
    }
    if rest != "E" || parts.is_empty() {
        return symbol.to_owned();
    }
    let is_hash = |part: &str| {
        part.len() == 17
            && part.starts_with('h')
            && part[1..].chars().all(|c| c.is_ascii_hexdigit())
    };
    if parts.last().is_some_and(|part| is_hash(part)) {
        parts.pop();
    }
    parts
        .iter()
        .map(|part| unescape(part))
        .collect::<Vec<_>>()
        .join("::")
}

/// Undoes the escapes of legacy mangling inside one path segment (`$LT$` for `<`, `..` for
/// `::`, a leading `_` before `$`).
fn unescape(part: &str) -> String {
    const ESCAPES: &[(&str, &str)] = &[
        ("$LT$", "<"),
        ("$GT$", ">"),
        ("$RF$", "&"),
        ("$BP$", "*"),
        ("$C$", ","),
        ("$SP$", "@"),
        ("$u20$", " "),
        ("$u27$", "'"),
        ("$u5b$", "["),
        ("$u5d$", "]"),
        ("$u7b$", "{"),
        ("$u7d$", "}"),
        ("$u7e$", "~"),
        ("..", "::"),
    ];
    let mut text = part
        .strip_prefix("_$")
        .map_or_else(|| part.to_owned(), |rest| format!("${rest}"));
    for (escaped, plain) in ESCAPES {
        text = text.replace(escaped, plain);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_rust_symbols_lose_their_hash() {
        assert_eq!(
            demangle("_ZN19bulkhead_hypervisor9partition11STAGE2_POOL17h2a433233ba0022baE"),
            "bulkhead_hypervisor::partition::STAGE2_POOL"
        );
        assert_eq!(demangle("BULKHEAD_STACKS"), "BULKHEAD_STACKS");
        assert_eq!(demangle("_ZN3fooE"), "foo");
        assert_eq!(
            demangle(
                "_ZN13bulkhead_core4vgic19VirtualGic$LT$_$GT$13set_spi_level17h0123456789abcdefE"
            ),
            "bulkhead_core::vgic::VirtualGic<_>::set_spi_level"
        );
        assert_eq!(
            demangle("_ZN4core3ptr35drop_in_place$LT$$RF$mut$u20$u8$GT$17h0123456789abcdefE"),
            "core::ptr::drop_in_place<&mut u8>"
        );
        assert_eq!(
            demangle("_ZN42_$LT$$RF$T$u20$as$u20$core..fmt..Debug$GT$3fmt17h0123456789abcdefE"),
            "<&T as core::fmt::Debug>::fmt"
        );
        assert_eq!(demangle("_ZN3fo"), "_ZN3fo");
    }

    #[test]
    fn loaded_bytes_are_code_and_data() {
        let size = ImageSize {
            text: 10,
            rodata: 5,
            embedded_partitions: 100,
            data: 1,
            bss: 1000,
            stacks: 4000,
        };
        assert_eq!(size.loaded(), 116);
    }
}
