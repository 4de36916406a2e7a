//! The hypervisor ELF as the raw binary a board's firmware loads: the bytes of every loaded
//! section at its load address, gaps zero-filled, starting at the lowest one.
//!
//! Neither the Raspberry Pi firmware (`kernel=`) nor U-Boot's `bootm` of an uncompressed
//! kernel reads ELF: they copy a file to one address and jump to that address. So the flat
//! file is only correct when the image starts at its entry point and that address is the
//! board's `[hypervisor] base`; [`RawImage::check_against`] refuses anything else rather than
//! produce a card that hangs without a word on the serial line.
//!
//! Written here rather than running `objcopy -O binary`: Debian's host binutils is not
//! guaranteed to read an AArch64 ELF, `llvm-objcopy` comes and goes with LLVM versions, and
//! the flash checks compare this output with `objcopy`'s, which only means something when the
//! two are produced independently. The layout follows `objcopy -O binary`: allocated
//! sections with contents (`SHF_ALLOC`, not `SHT_NOBITS`), placed at their load (physical)
//! address; `.bss` and the stacks are not in the file, and the boot code zeroes `.bss`.

use std::fmt;

use object::read::elf::{ElfFile64, FileHeader, ProgramHeader, SectionHeader};
use object::{Endianness, elf};

/// The flat image and where it must be loaded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawImage {
    /// Physical address of the first byte.
    pub load_address: u64,
    /// The ELF entry point.
    pub entry: u64,
    /// The file contents.
    pub bytes: Vec<u8>,
}

/// Why an ELF cannot become the flat image a board boots.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BinaryError {
    /// Not a 64-bit little-endian ELF.
    NotElf(String),
    /// Not an AArch64 ELF.
    WrongMachine(u16),
    /// No allocated section has contents.
    Empty,
    /// A section lies in no `PT_LOAD` segment, so its load address is unknown.
    NotInSegment(String),
    /// The flat image would exceed this many bytes (sections far apart).
    TooLarge(u64),
    /// The entry point is not the first byte: the firmware jumps to the load address.
    EntryNotAtStart {
        /// The ELF entry point.
        entry: u64,
        /// The first loaded byte.
        load_address: u64,
    },
    /// The image does not start at the board's `[hypervisor] base`.
    WrongLoadAddress {
        /// `board.toml`'s `[hypervisor] base`.
        expected: u64,
        /// Where the ELF's first byte is linked.
        found: u64,
    },
}

impl fmt::Display for BinaryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotElf(error) => write!(f, "not a 64-bit little-endian ELF: {error}"),
            Self::WrongMachine(machine) => write!(f, "not an AArch64 ELF (e_machine {machine})"),
            Self::Empty => write!(f, "the ELF has no loaded section with contents"),
            Self::NotInSegment(name) => write!(f, "section {name} lies in no PT_LOAD segment"),
            Self::TooLarge(size) => write!(f, "the flat image would be {size} bytes: sections are too far apart"),
            Self::EntryNotAtStart { entry, load_address } => write!(
                f,
                "the entry point {entry:#x} is not the first byte {load_address:#x}; the firmware jumps to the load address"
            ),
            Self::WrongLoadAddress { expected, found } => write!(
                f,
                "the image starts at {found:#x} but board.toml's [hypervisor] base is {expected:#x}"
            ),
        }
    }
}

impl std::error::Error for BinaryError {}

/// Largest flat image accepted: a board's hypervisor reservation is far smaller, so a bigger
/// span means a section was linked somewhere unexpected.
pub const MAXIMUM_SIZE: u64 = 1 << 30;

/// One section's bytes at its load address.
struct Placed<'data> {
    load_address: u64,
    data: &'data [u8],
}

/// Flattens `elf` (the bytes of the hypervisor ELF).
pub fn flatten(elf: &[u8]) -> Result<RawImage, BinaryError> {
    let file = ElfFile64::<Endianness>::parse(elf).map_err(|error| BinaryError::NotElf(error.to_string()))?;
    let endian = file.endian();
    let header = file.elf_header();
    let machine = header.e_machine(endian);
    if machine != elf::EM_AARCH64 {
        return Err(BinaryError::WrongMachine(machine));
    }
    let segments: Vec<(u64, u64, u64)> = file
        .elf_program_headers()
        .iter()
        .filter(|segment| segment.p_type(endian) == elf::PT_LOAD)
        .map(|segment| (segment.p_vaddr(endian), segment.p_memsz(endian), segment.p_paddr(endian)))
        .collect();
    let section_table = file.elf_section_table();
    let mut placed = Vec::new();
    for section in section_table.iter() {
        let flags = section.sh_flags(endian);
        let size = section.sh_size(endian);
        if flags & u64::from(elf::SHF_ALLOC) == 0 || section.sh_type(endian) == elf::SHT_NOBITS || size == 0 {
            continue;
        }
        let address = section.sh_addr(endian);
        let name = section_table
            .section_name(endian, section)
            .map(|name| String::from_utf8_lossy(name).into_owned())
            .unwrap_or_else(|_| format!("at {address:#x}"));
        // What only an ELF loader places (the partitions' first images and the marker that
        // says they were placed): a flat image leaves them out, and the hypervisor, finding
        // no marker, copies the partitions itself.
        if name.starts_with(bulkhead_config::codegen::preload::SECTION_PREFIX) {
            continue;
        }
        // The load address: the section's offset inside its segment, from the segment's
        // physical address (what `objcopy` calls the LMA).
        let load_address = segments
            .iter()
            .find(|(virtual_address, memory_size, _)| {
                address >= *virtual_address && address + size <= virtual_address + memory_size
            })
            .map(|(virtual_address, _, physical_address)| physical_address + (address - virtual_address))
            .ok_or_else(|| BinaryError::NotInSegment(name.clone()))?;
        let data = section
            .data(endian, elf)
            .map_err(|error| BinaryError::NotElf(format!("section {name}: {error}")))?;
        placed.push(Placed { load_address, data });
    }
    let start = placed.iter().map(|section| section.load_address).min().ok_or(BinaryError::Empty)?;
    let end = placed
        .iter()
        .map(|section| section.load_address + section.data.len() as u64)
        .max()
        .ok_or(BinaryError::Empty)?;
    let size = end - start;
    if size > MAXIMUM_SIZE {
        return Err(BinaryError::TooLarge(size));
    }
    let mut bytes = vec![0_u8; usize::try_from(size).map_err(|_| BinaryError::TooLarge(size))?];
    for section in &placed {
        let offset = usize::try_from(section.load_address - start).map_err(|_| BinaryError::TooLarge(size))?;
        bytes[offset..offset + section.data.len()].copy_from_slice(section.data);
    }
    Ok(RawImage {
        load_address: start,
        entry: header.e_entry(endian),
        bytes,
    })
}

impl RawImage {
    /// Checks that the firmware, which loads the file at `base` and jumps there, starts this
    /// image at its entry point: the entry is the first byte and the first byte is `base`.
    pub fn check_against(&self, base: u64) -> Result<(), BinaryError> {
        if self.entry != self.load_address {
            return Err(BinaryError::EntryNotAtStart {
                entry: self.entry,
                load_address: self.load_address,
            });
        }
        if self.load_address != base {
            return Err(BinaryError::WrongLoadAddress {
                expected: base,
                found: self.load_address,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// One section of a test ELF: name, address, contents (`None`: `.bss`-like).
    pub(crate) struct TestSection<'a> {
        pub name: &'a str,
        pub address: u64,
        pub contents: Option<&'a [u8]>,
        pub size: u64,
    }

    /// A minimal AArch64 executable: one PT_LOAD covering every section at `physical_offset`
    /// from its virtual address, the given sections and a section-name table. Written by hand
    /// because `object`'s writer makes relocatable objects, not executables with segments.
    pub(crate) fn test_elf(entry: u64, sections: &[TestSection<'_>], physical_offset: u64) -> Vec<u8> {
        const HEADER: usize = 64;
        const PROGRAM_HEADER: usize = 56;
        const SECTION_HEADER: usize = 64;
        let mut names = vec![0_u8];
        let mut name_offsets = Vec::new();
        for section in sections {
            name_offsets.push(names.len() as u32);
            names.extend_from_slice(section.name.as_bytes());
            names.push(0);
        }
        let shstrtab_name = names.len() as u32;
        names.extend_from_slice(b".shstrtab\0");
        let mut data = Vec::new();
        let mut data_offsets = Vec::new();
        let data_start = HEADER + PROGRAM_HEADER;
        for section in sections {
            data_offsets.push((data_start + data.len()) as u64);
            if let Some(contents) = section.contents {
                data.extend_from_slice(contents);
            }
        }
        let names_offset = data_start + data.len();
        // The section header table must be 8-byte aligned (ELF64).
        let section_headers = (names_offset + names.len()).next_multiple_of(8);
        let low = sections.iter().map(|section| section.address).min().unwrap_or(0);
        let high = sections.iter().map(|section| section.address + section.size).max().unwrap_or(0);
        let mut out = Vec::new();
        out.extend_from_slice(&[0x7f, b'E', b'L', b'F', 2, 1, 1, 0]);
        out.extend_from_slice(&[0; 8]);
        out.extend_from_slice(&elf::ET_EXEC.to_le_bytes());
        out.extend_from_slice(&elf::EM_AARCH64.to_le_bytes());
        out.extend_from_slice(&1_u32.to_le_bytes());
        out.extend_from_slice(&entry.to_le_bytes());
        out.extend_from_slice(&(HEADER as u64).to_le_bytes());
        out.extend_from_slice(&(section_headers as u64).to_le_bytes());
        out.extend_from_slice(&0_u32.to_le_bytes());
        for value in [HEADER as u16, PROGRAM_HEADER as u16, 1, SECTION_HEADER as u16, sections.len() as u16 + 2, sections.len() as u16 + 1] {
            out.extend_from_slice(&value.to_le_bytes());
        }
        out.extend_from_slice(&elf::PT_LOAD.to_le_bytes());
        out.extend_from_slice(&(elf::PF_R | elf::PF_X).to_le_bytes());
        for value in [data_start as u64, low, low + physical_offset, data.len() as u64, high - low, 0x1000] {
            out.extend_from_slice(&value.to_le_bytes());
        }
        out.extend_from_slice(&data);
        out.extend_from_slice(&names);
        out.resize(section_headers, 0);
        out.extend_from_slice(&[0; SECTION_HEADER]);
        let mut header = |name: u32, kind: u32, flags: u64, address: u64, offset: u64, size: u64| {
            out.extend_from_slice(&name.to_le_bytes());
            out.extend_from_slice(&kind.to_le_bytes());
            for value in [flags, address, offset, size] {
                out.extend_from_slice(&value.to_le_bytes());
            }
            out.extend_from_slice(&[0; 8]);
            out.extend_from_slice(&1_u64.to_le_bytes());
            out.extend_from_slice(&0_u64.to_le_bytes());
        };
        for (index, section) in sections.iter().enumerate() {
            let kind = if section.contents.is_some() { elf::SHT_PROGBITS } else { elf::SHT_NOBITS };
            header(name_offsets[index], kind, u64::from(elf::SHF_ALLOC), section.address, data_offsets[index], section.size);
        }
        header(shstrtab_name, elf::SHT_STRTAB, 0, 0, names_offset as u64, names.len() as u64);
        out
    }

    fn image_of(sections: &[TestSection<'_>], entry: u64) -> Result<RawImage, BinaryError> {
        flatten(&test_elf(entry, sections, 0))
    }

    #[test]
    fn sections_are_laid_out_at_their_addresses_with_zero_filled_gaps() {
        let text = [0xaa_u8; 8];
        let data = [0xbb_u8; 4];
        let image = image_of(
            &[
                TestSection { name: ".text", address: 0x20_0000, contents: Some(&text), size: 8 },
                TestSection { name: ".data", address: 0x20_0010, contents: Some(&data), size: 4 },
                TestSection { name: ".bss", address: 0x20_1000, contents: None, size: 0x100 },
            ],
            0x20_0000,
        )
        .expect("flattens");
        assert_eq!(image.load_address, 0x20_0000);
        assert_eq!(image.bytes.len(), 0x14, ".bss is not in the file");
        assert_eq!(&image.bytes[..8], &text);
        assert_eq!(&image.bytes[8..16], &[0; 8]);
        assert_eq!(&image.bytes[16..], &data);
        assert_eq!(image.check_against(0x20_0000), Ok(()));
    }

    #[test]
    fn load_address_is_the_physical_one() {
        let text = [1_u8; 4];
        let elf = test_elf(0x20_0000, &[TestSection { name: ".text", address: 0x20_0000, contents: Some(&text), size: 4 }], 0x1000_0000);
        let image = flatten(&elf).expect("flattens");
        assert_eq!(image.load_address, 0x1020_0000);
    }

    #[test]
    fn an_image_linked_elsewhere_than_the_board_base_is_refused() {
        let text = [1_u8; 4];
        let image = image_of(&[TestSection { name: ".text", address: 0x4000_0000, contents: Some(&text), size: 4 }], 0x4000_0000)
            .expect("flattens");
        assert_eq!(
            image.check_against(0x20_0000),
            Err(BinaryError::WrongLoadAddress { expected: 0x20_0000, found: 0x4000_0000 })
        );
    }

    #[test]
    fn an_entry_point_past_the_first_byte_is_refused() {
        let text = [1_u8; 8];
        let image = image_of(&[TestSection { name: ".text", address: 0x20_0000, contents: Some(&text), size: 8 }], 0x20_0004)
            .expect("flattens");
        assert!(matches!(image.check_against(0x20_0000), Err(BinaryError::EntryNotAtStart { entry: 0x20_0004, .. })));
    }

    #[test]
    fn non_elf_input_is_an_error() {
        assert!(matches!(flatten(b"not an elf at all, just text"), Err(BinaryError::NotElf(_))));
    }
}
