//! Guest image loading: an AArch64 ELF executable or a raw arm64 `Image`, flattened into the
//! bytes the hypervisor copies into partition RAM at (re)start.
//!
//! The hypervisor has no loader at EL2: it copies one contiguous blob to one IPA and zeroes a
//! tail. So every format is reduced here to (bytes, load IPA, zeroed tail, entry):
//! * ELF (System V gABI, ELF-64 Object File Format 1.5): only `PT_LOAD` segments count; they
//!   are laid out by `p_paddr` from the lowest one, gaps and inner `.bss` become explicit
//!   zeros, and the final segment's `p_memsz - p_filesz` becomes the zeroed tail.
//! * arm64 `Image` (Linux `Documentation/arch/arm64/booting.rst`): the file is placed at
//!   `RAM_BASE + text_offset` and entered at its first byte; `image_size` beyond the file is
//!   the zeroed tail.
//!
//! ELFs are tried first: the demo guests are ELFs whose first bytes also form an `Image`
//! header, and the ELF program headers are the precise description.
//!
//! Design: [impl->dsn~config-images~1]

use std::fmt;
use std::ops::Range;

use bulkhead_core::layout::RAM_BASE;

/// Which format an image was read as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageFormat {
    /// ELF executable.
    Elf,
    /// Raw arm64 Linux boot-protocol `Image`.
    LinuxImage,
}

impl fmt::Display for ImageFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Elf => "ELF",
            Self::LinuxImage => "arm64 Image",
        })
    }
}

/// A flattened guest image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GuestImage {
    /// Source format.
    pub format: ImageFormat,
    /// Bytes copied to `load_ipa`.
    pub bytes: Vec<u8>,
    /// IPA of the first byte.
    pub load_ipa: u64,
    /// Bytes after the image that must read as zero.
    pub zeroed_after_image: u64,
    /// Boot vCPU entry point.
    pub entry: u64,
}

impl GuestImage {
    /// IPA range the image occupies including the zeroed tail; `None` on overflow.
    pub fn footprint(&self) -> Option<Range<u64>> {
        let end = self
            .load_ipa
            .checked_add(self.bytes.len() as u64)?
            .checked_add(self.zeroed_after_image)?;
        Some(self.load_ipa..end)
    }
}

/// Why bytes are not a usable guest image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImageError {
    /// Neither an ELF nor an arm64 `Image`.
    UnknownFormat,
    /// An ELF that is not 64-bit little-endian.
    NotElf64LittleEndian,
    /// An ELF for another machine (`e_machine`).
    NotAarch64 {
        /// The `e_machine` found.
        machine: u16,
    },
    /// An ELF that is not `ET_EXEC` (`e_type`).
    NotExecutable {
        /// The `e_type` found.
        elf_type: u16,
    },
    /// A big-endian `Image` (header flags bit 0).
    BigEndianImage,
    /// Headers point outside the file or are inconsistent.
    Malformed(String),
    /// No `PT_LOAD` segment with any bytes.
    NoLoadableSegment,
    /// The loadable span is larger than the partition's RAM.
    TooLarge {
        /// Bytes from the lowest segment to the end of the highest.
        span: u64,
        /// The partition's RAM size.
        limit: u64,
    },
}

impl fmt::Display for ImageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownFormat => f.write_str("neither an ELF file nor an arm64 Image (no ELF magic, no \"ARM\\x64\" at offset 56)"),
            Self::NotElf64LittleEndian => f.write_str("the ELF is not 64-bit little-endian"),
            Self::NotAarch64 { machine } => write!(f, "the ELF is for machine {machine}, not AArch64 ({EM_AARCH64})"),
            Self::NotExecutable { elf_type } => write!(f, "the ELF has type {elf_type}, not an executable (ET_EXEC = {ET_EXEC})"),
            Self::BigEndianImage => f.write_str("the Image is big-endian (header flags bit 0)"),
            Self::Malformed(reason) => write!(f, "malformed image: {reason}"),
            Self::NoLoadableSegment => f.write_str("the ELF has no PT_LOAD segment"),
            Self::TooLarge { span, limit } => {
                write!(f, "the loadable segments span {span:#x} bytes, more than the partition's {limit:#x} bytes of RAM")
            }
        }
    }
}

const ELF_MAGIC: &[u8; 4] = b"\x7fELF";
const ELFCLASS64: u8 = 2;
const ELFDATA2LSB: u8 = 1;
/// `e_type` of an executable file.
pub const ET_EXEC: u16 = 2;
/// `e_machine` of AArch64 (ELF for the Arm 64-bit Architecture, §5.1).
pub const EM_AARCH64: u16 = 183;
const PT_LOAD: u32 = 1;
const ELF64_HEADER_SIZE: usize = 64;
const ELF64_PROGRAM_HEADER_SIZE: usize = 56;
/// `e_phnum` value meaning "the count is in section header 0" (never produced for guests).
const PN_XNUM: u16 = 0xffff;

/// booting.rst: `magic` at byte 56 of the 64-byte header.
const IMAGE_MAGIC: &[u8; 4] = b"ARM\x64";
const IMAGE_HEADER_SIZE: usize = 64;
/// booting.rst: when `image_size` is zero (kernels before 3.17) `text_offset` is 0x80000.
const LEGACY_TEXT_OFFSET: u64 = 0x8_0000;

/// Reads `bytes` as an ELF or `Image`. `ram_size` bounds the flattened size so a bogus
/// `p_paddr` cannot make the compiler allocate gigabytes.
pub fn load(bytes: &[u8], ram_size: u64) -> Result<GuestImage, ImageError> {
    if bytes.starts_with(ELF_MAGIC) {
        load_elf(bytes, ram_size)
    } else if bytes.len() >= IMAGE_HEADER_SIZE && &bytes[56..60] == IMAGE_MAGIC {
        load_linux_image(bytes)
    } else {
        Err(ImageError::UnknownFormat)
    }
}

fn field<const N: usize>(bytes: &[u8], offset: usize, what: &str) -> Result<[u8; N], ImageError> {
    offset
        .checked_add(N)
        .and_then(|end| bytes.get(offset..end))
        .and_then(|slice| slice.try_into().ok())
        .ok_or_else(|| ImageError::Malformed(format!("{what} lies beyond the end of the file")))
}

fn u16_at(bytes: &[u8], offset: usize, what: &str) -> Result<u16, ImageError> {
    field(bytes, offset, what).map(u16::from_le_bytes)
}

fn u32_at(bytes: &[u8], offset: usize, what: &str) -> Result<u32, ImageError> {
    field(bytes, offset, what).map(u32::from_le_bytes)
}

fn u64_at(bytes: &[u8], offset: usize, what: &str) -> Result<u64, ImageError> {
    field(bytes, offset, what).map(u64::from_le_bytes)
}

/// One `PT_LOAD` segment.
struct Segment {
    physical_address: u64,
    file_bytes: Range<usize>,
    memory_size: u64,
}

fn load_elf(bytes: &[u8], ram_size: u64) -> Result<GuestImage, ImageError> {
    if bytes.len() < ELF64_HEADER_SIZE {
        return Err(ImageError::Malformed("the ELF header is truncated".into()));
    }
    if bytes[4] != ELFCLASS64 || bytes[5] != ELFDATA2LSB {
        return Err(ImageError::NotElf64LittleEndian);
    }
    let elf_type = u16_at(bytes, 16, "e_type")?;
    let machine = u16_at(bytes, 18, "e_machine")?;
    if machine != EM_AARCH64 {
        return Err(ImageError::NotAarch64 { machine });
    }
    if elf_type != ET_EXEC {
        return Err(ImageError::NotExecutable { elf_type });
    }
    let entry = u64_at(bytes, 24, "e_entry")?;
    let program_headers = usize::try_from(u64_at(bytes, 32, "e_phoff")?)
        .map_err(|_| ImageError::Malformed("e_phoff does not fit in memory".into()))?;
    let entry_size = usize::from(u16_at(bytes, 54, "e_phentsize")?);
    let count = u16_at(bytes, 56, "e_phnum")?;
    if count == PN_XNUM || entry_size < ELF64_PROGRAM_HEADER_SIZE {
        return Err(ImageError::Malformed(
            "unsupported program header table".into(),
        ));
    }

    let mut segments = Vec::new();
    for index in 0..usize::from(count) {
        let header = index
            .checked_mul(entry_size)
            .and_then(|offset| offset.checked_add(program_headers))
            .ok_or_else(|| ImageError::Malformed("program header table overflows".into()))?;
        if u32_at(bytes, header, "p_type")? != PT_LOAD {
            continue;
        }
        let offset = u64_at(bytes, header + 8, "p_offset")?;
        let physical_address = u64_at(bytes, header + 24, "p_paddr")?;
        let file_size = u64_at(bytes, header + 32, "p_filesz")?;
        let memory_size = u64_at(bytes, header + 40, "p_memsz")?;
        if memory_size == 0 {
            continue;
        }
        if file_size > memory_size {
            return Err(ImageError::Malformed(format!(
                "segment {index} has p_filesz > p_memsz"
            )));
        }
        let file_bytes = offset
            .checked_add(file_size)
            .and_then(|end| Some(usize::try_from(offset).ok()?..usize::try_from(end).ok()?))
            .filter(|range| range.end <= bytes.len())
            .ok_or_else(|| {
                ImageError::Malformed(format!("segment {index} lies beyond the end of the file"))
            })?;
        physical_address.checked_add(memory_size).ok_or_else(|| {
            ImageError::Malformed(format!("segment {index} wraps the address space"))
        })?;
        segments.push(Segment {
            physical_address,
            file_bytes,
            memory_size,
        });
    }
    if segments.is_empty() {
        return Err(ImageError::NoLoadableSegment);
    }
    segments.sort_by_key(|segment| segment.physical_address);
    for pair in segments.windows(2) {
        if pair[0].physical_address + pair[0].memory_size > pair[1].physical_address {
            return Err(ImageError::Malformed("PT_LOAD segments overlap".into()));
        }
    }

    let base = segments[0].physical_address;
    let memory_end = segments
        .iter()
        .map(|segment| segment.physical_address + segment.memory_size)
        .max()
        .unwrap_or(base);
    let data_end = segments
        .iter()
        .filter(|segment| !segment.file_bytes.is_empty())
        .map(|segment| segment.physical_address + segment.file_bytes.len() as u64)
        .max()
        .unwrap_or(base);
    let span = memory_end - base;
    if span > ram_size {
        return Err(ImageError::TooLarge {
            span,
            limit: ram_size,
        });
    }
    // Bounded by `ram_size` above, which the manifest checks keep addressable.
    let mut flattened = vec![0u8; usize::try_from(data_end - base).unwrap_or(usize::MAX)];
    for segment in segments
        .iter()
        .filter(|segment| !segment.file_bytes.is_empty())
    {
        let start = (segment.physical_address - base) as usize;
        let length = segment.file_bytes.len();
        flattened[start..start + length].copy_from_slice(&bytes[segment.file_bytes.clone()]);
    }
    Ok(GuestImage {
        format: ImageFormat::Elf,
        bytes: flattened,
        load_ipa: base,
        zeroed_after_image: memory_end - data_end,
        entry,
    })
}

fn load_linux_image(bytes: &[u8]) -> Result<GuestImage, ImageError> {
    let text_offset = u64_at(bytes, 8, "text_offset")?;
    let image_size = u64_at(bytes, 16, "image_size")?;
    let flags = u64_at(bytes, 24, "flags")?;
    if flags & 1 != 0 {
        return Err(ImageError::BigEndianImage);
    }
    let text_offset = if image_size == 0 {
        LEGACY_TEXT_OFFSET
    } else {
        text_offset
    };
    let load_ipa = RAM_BASE
        .raw()
        .checked_add(text_offset)
        .ok_or_else(|| ImageError::Malformed("text_offset overflows the address space".into()))?;
    Ok(GuestImage {
        format: ImageFormat::LinuxImage,
        bytes: bytes.to_vec(),
        load_ipa,
        zeroed_after_image: image_size.saturating_sub(bytes.len() as u64),
        entry: load_ipa,
    })
}

/// Why a loaded image does not fit its partition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PlacementError {
    /// Part of the image or its entry point is outside guest RAM (wrong link address).
    OutsideRam {
        /// What lies outside.
        what: String,
    },
    /// The image runs into the device tree slot.
    TooLarge {
        /// IPA one past the image's zeroed tail.
        image_end: u64,
        /// Where the device tree slot starts.
        window_end: u64,
    },
}

/// Checks that the image, its zeroed tail and its entry lie in `window` (guest RAM below the
/// device tree slot); `ram_end` is the IPA one past guest RAM.
pub fn check_placement(
    image: &GuestImage,
    window: Range<u64>,
    ram_end: u64,
) -> Result<(), PlacementError> {
    let footprint = image
        .footprint()
        .ok_or_else(|| PlacementError::OutsideRam {
            what: "the image end overflows the address space".into(),
        })?;
    if footprint.start < window.start || footprint.start >= ram_end {
        return Err(PlacementError::OutsideRam {
            what: format!(
                "the image is linked at IPA {:#x}, outside guest RAM {:#x}..{ram_end:#x}",
                footprint.start, window.start
            ),
        });
    }
    if footprint.end > window.end {
        return Err(PlacementError::TooLarge {
            image_end: footprint.end,
            window_end: window.end,
        });
    }
    if !window.contains(&image.entry) {
        return Err(PlacementError::OutsideRam {
            what: format!(
                "the entry point {:#x} is outside guest RAM {:#x}..{:#x}",
                image.entry, window.start, window.end
            ),
        });
    }
    Ok(())
}

// [utest->dsn~config-images~1]
#[cfg(test)]
mod tests {
    use super::*;

    /// An ELF with the given (p_paddr, file bytes, p_memsz) PT_LOAD segments.
    fn elf(machine: u16, elf_type: u16, entry: u64, segments: &[(u64, &[u8], u64)]) -> Vec<u8> {
        let table = ELF64_HEADER_SIZE;
        let data_start = table + segments.len() * ELF64_PROGRAM_HEADER_SIZE;
        let mut out = vec![0u8; data_start];
        out[..4].copy_from_slice(ELF_MAGIC);
        out[4] = ELFCLASS64;
        out[5] = ELFDATA2LSB;
        out[16..18].copy_from_slice(&elf_type.to_le_bytes());
        out[18..20].copy_from_slice(&machine.to_le_bytes());
        out[24..32].copy_from_slice(&entry.to_le_bytes());
        out[32..40].copy_from_slice(&(table as u64).to_le_bytes());
        out[54..56].copy_from_slice(&(ELF64_PROGRAM_HEADER_SIZE as u16).to_le_bytes());
        out[56..58].copy_from_slice(&(segments.len() as u16).to_le_bytes());
        for (index, (address, data, memory_size)) in segments.iter().enumerate() {
            let header = table + index * ELF64_PROGRAM_HEADER_SIZE;
            let offset = out.len() as u64;
            out[header..header + 4].copy_from_slice(&PT_LOAD.to_le_bytes());
            out[header + 8..header + 16].copy_from_slice(&offset.to_le_bytes());
            out[header + 16..header + 24].copy_from_slice(&address.to_le_bytes());
            out[header + 24..header + 32].copy_from_slice(&address.to_le_bytes());
            out[header + 32..header + 40].copy_from_slice(&(data.len() as u64).to_le_bytes());
            out[header + 40..header + 48].copy_from_slice(&memory_size.to_le_bytes());
            out.extend_from_slice(data);
        }
        out
    }

    #[test]
    fn elf_segments_are_flattened_with_gaps_zeroed_and_bss_as_tail() {
        let bytes = elf(
            EM_AARCH64,
            ET_EXEC,
            0x4008_0000,
            &[
                (0x4009_0000, b"data", 8),
                (0x4008_0000, b"text", 4),
                (0x4009_0010, b"", 0x100),
            ],
        );
        let image = load(&bytes, 0x100_0000).unwrap();
        assert_eq!(image.format, ImageFormat::Elf);
        assert_eq!(image.load_ipa, 0x4008_0000);
        assert_eq!(image.entry, 0x4008_0000);
        assert_eq!(image.bytes.len(), 0x1_0004);
        assert_eq!(&image.bytes[..4], b"text");
        assert!(image.bytes[4..0x1_0000].iter().all(|byte| *byte == 0));
        assert_eq!(&image.bytes[0x1_0000..], b"data");
        assert_eq!(image.zeroed_after_image, 0x110 - 4);
        assert_eq!(image.footprint(), Some(0x4008_0000..0x4009_0110));
    }

    #[test]
    fn elf_for_another_machine_or_not_executable_is_rejected() {
        let x86 = elf(62, ET_EXEC, 0, &[(0x4008_0000, b"x", 1)]);
        assert_eq!(
            load(&x86, 0x100_0000),
            Err(ImageError::NotAarch64 { machine: 62 })
        );
        let object = elf(EM_AARCH64, 1, 0, &[(0x4008_0000, b"x", 1)]);
        assert_eq!(
            load(&object, 0x100_0000),
            Err(ImageError::NotExecutable { elf_type: 1 })
        );
        let empty = elf(EM_AARCH64, ET_EXEC, 0, &[]);
        assert_eq!(load(&empty, 0x100_0000), Err(ImageError::NoLoadableSegment));
    }

    #[test]
    fn huge_or_truncated_elves_fail_without_allocating() {
        let spread = elf(
            EM_AARCH64,
            ET_EXEC,
            0,
            &[(0x4000_0000, b"a", 1), (0x8000_0000_0000, b"b", 1)],
        );
        assert!(matches!(
            load(&spread, 0x400_0000),
            Err(ImageError::TooLarge { .. })
        ));
        let mut truncated = elf(EM_AARCH64, ET_EXEC, 0, &[(0x4008_0000, b"abcd", 4)]);
        truncated.truncate(truncated.len() - 2);
        assert!(matches!(
            load(&truncated, 0x400_0000),
            Err(ImageError::Malformed(_))
        ));
        assert!(matches!(
            load(b"\x7fELF", 0x400_0000),
            Err(ImageError::Malformed(_))
        ));
        let mut elf32 = elf(EM_AARCH64, ET_EXEC, 0, &[(0x4008_0000, b"x", 1)]);
        elf32[4] = 1;
        assert_eq!(
            load(&elf32, 0x400_0000),
            Err(ImageError::NotElf64LittleEndian)
        );
        assert_eq!(
            load(b"plain text", 0x400_0000),
            Err(ImageError::UnknownFormat)
        );
    }

    fn linux_image(text_offset: u64, image_size: u64, flags: u64, length: usize) -> Vec<u8> {
        let mut bytes = vec![0u8; length];
        bytes[8..16].copy_from_slice(&text_offset.to_le_bytes());
        bytes[16..24].copy_from_slice(&image_size.to_le_bytes());
        bytes[24..32].copy_from_slice(&flags.to_le_bytes());
        bytes[56..60].copy_from_slice(IMAGE_MAGIC);
        bytes
    }

    #[test]
    fn linux_images_load_at_text_offset_with_image_size_as_extent() {
        let image = load(&linux_image(0x1_0000, 0x2000, 0b1010, 0x1000), 0x400_0000).unwrap();
        assert_eq!(image.format, ImageFormat::LinuxImage);
        assert_eq!(image.load_ipa, 0x4001_0000);
        assert_eq!(image.entry, 0x4001_0000);
        assert_eq!(image.zeroed_after_image, 0x1000);
        let legacy = load(&linux_image(0x1234, 0, 0, 0x100), 0x400_0000).unwrap();
        assert_eq!(legacy.load_ipa, 0x4008_0000);
        assert_eq!(
            load(&linux_image(0, 0x100, 1, 0x100), 0x400_0000),
            Err(ImageError::BigEndianImage)
        );
    }

    #[test]
    fn placement_distinguishes_wrong_link_address_from_too_large() {
        let window = 0x4000_0000..0x4380_0000;
        let ram_end = 0x43a0_0000;
        let image = |load_ipa: u64, length: usize, zeroed: u64| GuestImage {
            format: ImageFormat::Elf,
            bytes: vec![0; length],
            load_ipa,
            zeroed_after_image: zeroed,
            entry: load_ipa,
        };
        assert_eq!(
            check_placement(&image(0x4008_0000, 0x1000, 0x1000), window.clone(), ram_end),
            Ok(())
        );
        assert!(matches!(
            check_placement(&image(0x8_0000, 0x1000, 0), window.clone(), ram_end),
            Err(PlacementError::OutsideRam { .. })
        ));
        assert_eq!(
            check_placement(
                &image(0x4008_0000, 0x1000, 0x400_0000),
                window.clone(),
                ram_end
            ),
            Err(PlacementError::TooLarge {
                image_end: 0x4408_1000,
                window_end: 0x4380_0000
            })
        );
        let mut stray_entry = image(0x4008_0000, 0x1000, 0);
        stray_entry.entry = 0x1000;
        assert!(matches!(
            check_placement(&stray_entry, window, ram_end),
            Err(PlacementError::OutsideRam { .. })
        ));
    }
}
