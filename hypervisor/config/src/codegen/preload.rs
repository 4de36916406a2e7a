//! First images the boot loader places: on a board that loads the EL2 ELF segment by segment
//! (`[hypervisor] loader = "elf-segments"`, QEMU `-kernel`), the ELF carries every
//! partition's image, initrd and region contents a second time, each as a segment at its
//! physical address in the partition's memory. The loader then puts them in place without
//! executing an instruction, and the hypervisor skips copying them at the first start
//! (`FirstLoad::PlacedByLoader`); restarts still copy from the kept copies in `.rodata`.
//!
//! Two outputs must agree on every segment: `system.rs` assembles each file into a section of
//! its own ([`global_asm`]) and `preload.x` puts each section at its address ([`linker_script`]).
//! Both are generated from one list ([`preloads`]). The sections lie outside the hypervisor's
//! reservation, after `__image_end`'s computation, so the image's own size check is unchanged.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::PartitionOutput;
use crate::board::HypervisorLoader;
use crate::spec::SystemSpec;

/// The name every preload section starts with (size reports leave them out: they are
/// partition memory, not the hypervisor's).
pub const SECTION_PREFIX: &str = ".bulkhead_preload.";

/// One file the boot loader places.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Preload {
    /// The partition it belongs to (index into the system's partitions).
    pub partition: usize,
    /// The ELF section holding the bytes (and the output section `preload.x` places).
    pub section: String,
    /// The file whose bytes the section holds.
    pub file: PathBuf,
    /// Host-physical address of its first byte.
    pub physical: u64,
    /// Bytes after the file's that must read as zero (an ELF image's `.bss`, the rest of a
    /// region): a `NOLOAD` section right after the file's, so the loader zeroes them as it
    /// zeroes any segment's memory beyond its file bytes.
    pub zeroed: u64,
}

/// Every file the boot loader places for the system's first start: none unless the board
/// loads ELF segments. Per partition in load order: image, initrd, regions with contents.
pub fn preloads(spec: &SystemSpec, partitions: &[PartitionOutput<'_>]) -> Vec<Preload> {
    if spec.board().hypervisor_loader != HypervisorLoader::ElfSegments {
        return Vec::new();
    }
    let mut out = Vec::new();
    for (index, partition) in partitions.iter().enumerate() {
        let owner = partition.spec;
        let mut add = |what: &str, file: &Path, physical: u64, zeroed: u64| {
            out.push(Preload {
                partition: index,
                section: format!("{SECTION_PREFIX}{index}.{what}"),
                file: super::absolute(file),
                physical,
                zeroed,
            });
        };
        if !partition.image.bytes.is_empty() {
            let physical = owner.host_of(partition.image.load_ipa);
            add("image", partition.image_path, physical, partition.image.zeroed_after_image);
        }
        if let (Some((file, _)), Some(ipa)) = (&owner.initrd, owner.initrd_ipa()) {
            add("initrd", file, owner.host_of(ipa), 0);
        }
        for (region_index, region) in owner.regions.iter().enumerate() {
            if let Some(file) = &region.file {
                // Validation checked the file fits the region; the rest reads as zero.
                let length = std::fs::metadata(file).map_or(0, |metadata| metadata.len());
                let rest = region.host.size().saturating_sub(length);
                add(&format!("region{region_index}"), file, region.host.base(), rest);
            }
        }
    }
    out
}

/// The section of the loader marker: a word in the hypervisor's reservation, right after
/// its stacks, that only a loader placing ELF segments writes (a flat image leaves it out
/// with every other preload section), so the hypervisor can tell at boot how it was loaded.
pub const MARKER_SECTION: &str = ".bulkhead_preload.marker";

/// The marker's value for this system: non-zero, and different between systems whose placed
/// files differ, so neither memory left as it was nor another build's marker matches.
/// 0 when nothing is placed.
pub fn marker_value(preloads: &[Preload]) -> u64 {
    if preloads.is_empty() {
        return 0;
    }
    // FNV-1a over what is placed where: not secret, only distinct.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for preload in preloads {
        let size = std::fs::metadata(&preload.file).map_or(0, |metadata| metadata.len());
        for byte in preload.section.bytes().chain(preload.physical.to_le_bytes()).chain(size.to_le_bytes()) {
            hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    hash | 1
}

/// The marker static the hypervisor reads at boot (`partition::note_loader_placement`):
/// in [`MARKER_SECTION`] with [`marker_value`] when files are placed, otherwise an ordinary
/// static holding 0, which the hypervisor never takes for a marker.
pub fn marker_items(preloads: &[Preload]) -> String {
    let raw = marker_value(preloads);
    let value = crate::units::hex(raw);
    let head = format!(
        "/// The word a boot loader that placed the ELF's preload segments leaves in the\n\
         /// hypervisor's reservation (`preload.x`); 0 when the board loads a flat image.\n\
         pub const LOADER_MARKER_VALUE: u64 = {value};\n"
    );
    if raw == 0 {
        return head
            + "/// Never a marker: nothing is placed by the loader on this board.\n\
               pub static LOADER_MARKER: ::core::sync::atomic::AtomicU64 = ::core::sync::atomic::AtomicU64::new(0);\n";
    }
    head + &format!(
        "/// Where that word is; cleared at boot once read.\n\
         pub use loader_marker::LOADER_MARKER;\n\
         /// The loader marker in a section of its own.\n\
         #[expect(unsafe_code, reason = \"places a static in a named section\")]\n\
         mod loader_marker {{\n\
         \x20   /// See `LOADER_MARKER_VALUE`.\n\
         \x20   #[unsafe(link_section = \"{MARKER_SECTION}\")]\n\
         \x20   pub static LOADER_MARKER: ::core::sync::atomic::AtomicU64 =\n\
         \x20       ::core::sync::atomic::AtomicU64::new(super::LOADER_MARKER_VALUE);\n\
         }}\n"
    )
}

/// Whether partition `index` has its first image placed by the loader.
pub fn placed_by_loader(preloads: &[Preload], index: usize) -> bool {
    preloads.iter().any(|preload| preload.partition == index)
}

/// The assembly that puts partition `index`'s files into their sections (`.incbin`), or
/// nothing when the loader places none of them.
pub fn global_asm(preloads: &[Preload], index: usize) -> String {
    let lines: Vec<String> = preloads
        .iter()
        .filter(|preload| preload.partition == index)
        .flat_map(|preload| {
            [
                format!(".pushsection {}, \"a\", %progbits", preload.section),
                format!(".incbin \"{}\"", preload.file.to_string_lossy()),
                ".popsection".to_owned(),
            ]
        })
        .collect();
    if lines.is_empty() {
        return String::new();
    }
    let mut out = format!(
        "/// The same files once more, as sections `preload.x` places in the partition's memory:\n\
         /// the boot loader puts them there and the first start does not copy them.\n\
         #[expect(unsafe_code, reason = \"emits data only: no code, no symbol\")]\n\
         mod partition_{index}_placed_by_loader {{\n    ::core::arch::global_asm!(\n",
    );
    for line in lines {
        // Braces are `global_asm!` template syntax; a path may contain them.
        let template = line.replace('{', "{{").replace('}', "}}");
        let _ = writeln!(out, "        {template:?},");
    }
    out.push_str("    );\n}\n");
    out
}

/// `preload.x`: included by the image's linker script after its own sections, placing each
/// preload section at its physical address (load address = link address). Empty of sections
/// on a board that loads a flat image.
pub fn linker_script(spec: &SystemSpec, preloads: &[Preload]) -> String {
    let mut out = format!(
        "/* generated by bulkhead-config from {} — do not edit. */\n",
        spec.manifest_name()
    );
    if preloads.is_empty() {
        out.push_str(
            "/* Board loads a flat image ([hypervisor] loader): the hypervisor copies every first image. */\n",
        );
        return out;
    }
    out.push_str(
        "/* First guest images the boot loader places ([hypervisor] loader = \"elf-segments\"),\n   \
         after the loader marker, which stays in the reservation. */\n\
         SECTIONS\n{\n",
    );
    let _ = writeln!(out, "    {MARKER_SECTION} : ALIGN(8) {{ KEEP(*({MARKER_SECTION})) }}");
    for preload in preloads {
        let address = format!("{:#x}", preload.physical);
        let _ = writeln!(
            out,
            "    {section} {address} : AT({address}) {{ KEEP(*({section})) }}",
            section = preload.section,
        );
        if preload.zeroed > 0 {
            let _ = writeln!(out, "    {}.zeroed (NOLOAD) : {{ . += {:#x}; }}", preload.section, preload.zeroed);
        }
    }
    out.push_str("}\n");
    let _ = writeln!(
        out,
        "ASSERT(ADDR({MARKER_SECTION}) + SIZEOF({MARKER_SECTION}) <= HYPERVISOR_BASE + HYPERVISOR_SIZE, \"the loader marker does not fit the hypervisor's reservation\")"
    );
    out
}
