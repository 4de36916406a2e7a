//! Reading U-Boot legacy images (`mkimage -T script` makes `boot.scr` one): the 64-byte
//! header, both CRCs, and the script text.
//!
//! The flash checks decode the `boot.scr` that `mkimage` wrote and compare its commands with
//! the ones xtask meant, so a script that U-Boot would reject (bad CRC) or that says
//! something else is caught on the host. Decoding is done here rather than with `dumpimage`
//! because `dumpimage` cannot extract a script's text without its multi-file length table,
//! and the header is a fixed layout (U-Boot `include/image.h`, `struct legacy_img_hdr`).
//! The CRC-32 is the IEEE one zlib uses; it is a dozen lines, not worth a dependency.

use std::fmt;

/// `ih_magic` of a legacy image.
pub const MAGIC: u32 = 0x2705_1956;

/// `ih_type` of a script (`IH_TYPE_SCRIPT`).
pub const TYPE_SCRIPT: u8 = 6;

/// `ih_arch` of 64-bit Arm (`IH_ARCH_ARM64`).
pub const ARCH_ARM64: u8 = 22;

/// Size of the header.
const HEADER_SIZE: usize = 64;

/// The fields of a legacy image header the checks use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LegacyImage {
    /// `ih_type`.
    pub image_type: u8,
    /// `ih_arch`.
    pub arch: u8,
    /// `ih_comp` (0: none).
    pub compression: u8,
    /// `ih_name`, up to the first NUL.
    pub name: String,
    /// The payload after the header.
    pub data: Vec<u8>,
}

/// Why bytes are not a valid legacy image or script.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LegacyImageError {
    /// Shorter than the header or than the size it states.
    Truncated,
    /// `ih_magic` is wrong.
    BadMagic(u32),
    /// The header CRC does not match.
    HeaderCrc,
    /// The data CRC does not match.
    DataCrc,
    /// Not a script image.
    NotScript(u8),
    /// The script's length table is malformed.
    BadLengthTable,
    /// The script is not UTF-8.
    NotText,
}

impl fmt::Display for LegacyImageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated => write!(f, "shorter than its header says"),
            Self::BadMagic(magic) => write!(f, "magic {magic:#010x}, not a U-Boot legacy image"),
            Self::HeaderCrc => write!(f, "header CRC mismatch (U-Boot would refuse it)"),
            Self::DataCrc => write!(f, "data CRC mismatch (U-Boot would refuse it)"),
            Self::NotScript(kind) => write!(f, "image type {kind}, not a script ({TYPE_SCRIPT})"),
            Self::BadLengthTable => write!(f, "the script's length table is malformed"),
            Self::NotText => write!(f, "the script is not UTF-8 text"),
        }
    }
}

impl std::error::Error for LegacyImageError {}

fn word(bytes: &[u8], offset: usize) -> u32 {
    let mut value = [0_u8; 4];
    value.copy_from_slice(&bytes[offset..offset + 4]);
    u32::from_be_bytes(value)
}

/// Parses a legacy image, checking magic and both CRCs.
pub fn parse(bytes: &[u8]) -> Result<LegacyImage, LegacyImageError> {
    if bytes.len() < HEADER_SIZE {
        return Err(LegacyImageError::Truncated);
    }
    let magic = word(bytes, 0);
    if magic != MAGIC {
        return Err(LegacyImageError::BadMagic(magic));
    }
    let mut header = bytes[..HEADER_SIZE].to_vec();
    header[4..8].fill(0);
    if crc32(&header) != word(bytes, 4) {
        return Err(LegacyImageError::HeaderCrc);
    }
    let size = word(bytes, 12) as usize;
    let data = bytes.get(HEADER_SIZE..HEADER_SIZE + size).ok_or(LegacyImageError::Truncated)?;
    if crc32(data) != word(bytes, 24) {
        return Err(LegacyImageError::DataCrc);
    }
    let name_bytes = &bytes[32..64];
    let name_end = name_bytes.iter().position(|byte| *byte == 0).unwrap_or(name_bytes.len());
    Ok(LegacyImage {
        image_type: bytes[30],
        arch: bytes[29],
        compression: bytes[31],
        name: String::from_utf8_lossy(&name_bytes[..name_end]).into_owned(),
        data: data.to_vec(),
    })
}

/// The text of a script image: the data starts with big-endian lengths ending in a zero word
/// (one per file; U-Boot's `source` runs the first), then the files.
pub fn script_text(bytes: &[u8]) -> Result<String, LegacyImageError> {
    let image = parse(bytes)?;
    if image.image_type != TYPE_SCRIPT {
        return Err(LegacyImageError::NotScript(image.image_type));
    }
    let data = &image.data;
    let mut lengths = Vec::new();
    let mut offset = 0;
    loop {
        if offset + 4 > data.len() {
            return Err(LegacyImageError::BadLengthTable);
        }
        let length = word(data, offset) as usize;
        offset += 4;
        if length == 0 {
            break;
        }
        lengths.push(length);
    }
    let first = *lengths.first().ok_or(LegacyImageError::BadLengthTable)?;
    let text = data.get(offset..offset + first).ok_or(LegacyImageError::BadLengthTable)?;
    String::from_utf8(text.to_vec()).map_err(|_| LegacyImageError::NotText)
}

/// CRC-32 (IEEE 802.3, reflected, as zlib and U-Boot compute it).
pub fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0_u32;
    for byte in bytes {
        crc ^= u32::from(*byte);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xedb8_8320 & mask);
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A script image built the way `mkimage -A arm64 -T script -C none` lays it out.
    fn script_image(text: &str) -> Vec<u8> {
        let mut data = Vec::new();
        data.extend_from_slice(&(text.len() as u32).to_be_bytes());
        data.extend_from_slice(&0_u32.to_be_bytes());
        data.extend_from_slice(text.as_bytes());
        let mut header = vec![0_u8; HEADER_SIZE];
        header[0..4].copy_from_slice(&MAGIC.to_be_bytes());
        header[12..16].copy_from_slice(&(data.len() as u32).to_be_bytes());
        header[24..28].copy_from_slice(&crc32(&data).to_be_bytes());
        header[28] = 5;
        header[29] = ARCH_ARM64;
        header[30] = TYPE_SCRIPT;
        header[32..40].copy_from_slice(b"bulkhead");
        let header_crc = crc32(&header);
        header[4..8].copy_from_slice(&header_crc.to_be_bytes());
        header.extend_from_slice(&data);
        header
    }

    #[test]
    fn crc32_matches_the_standard_check_value() {
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
        assert_eq!(crc32(b""), 0);
    }

    #[test]
    fn a_script_image_decodes_to_its_text() {
        let image = script_image("echo hi\nbootm 0x12000000\n");
        assert_eq!(script_text(&image).as_deref(), Ok("echo hi\nbootm 0x12000000\n"));
        let parsed = parse(&image).expect("valid");
        assert_eq!(parsed.name, "bulkhead");
        assert_eq!(parsed.arch, ARCH_ARM64);
    }

    #[test]
    fn a_changed_byte_fails_the_data_crc() {
        let mut image = script_image("bootm 0x12000000\n");
        let last = image.len() - 2;
        image[last] ^= 1;
        assert_eq!(script_text(&image), Err(LegacyImageError::DataCrc));
    }

    #[test]
    fn a_changed_header_fails_the_header_crc() {
        let mut image = script_image("bootm 0x12000000\n");
        image[20] ^= 1;
        assert_eq!(parse(&image), Err(LegacyImageError::HeaderCrc));
    }

    #[test]
    fn other_files_are_not_scripts() {
        assert_eq!(parse(b"\x7fELF"), Err(LegacyImageError::Truncated));
        assert_eq!(parse(&[0_u8; 64]), Err(LegacyImageError::BadMagic(0)));
    }
}
