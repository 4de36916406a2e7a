//! Source pixel formats and their conversion to the scan-out format, XRGB8888 (DRM
//! `DRM_FORMAT_XRGB8888`: one little-endian 32-bit word per pixel, blue in bits 0-7, green
//! 8-15, red 16-23, bits 24-31 ignored). The names and byte orders are those of Linux's
//! `simple-framebuffer` binding (`format = "x8r8g8b8"`, `"r5g6b5"`), so a guest driver and
//! the mediator agree on what the bytes mean.

/// A framebuffer's pixel format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PixelFormat {
    /// 32 bits per pixel, little-endian `0xXXRRGGBB`.
    Xrgb8888,
    /// 16 bits per pixel, little-endian `RRRRRGGGGGGBBBBB`.
    Rgb565,
}

impl PixelFormat {
    /// Every supported format.
    pub const ALL: &'static [Self] = &[Self::Xrgb8888, Self::Rgb565];

    /// Bytes one pixel occupies.
    pub const fn bytes_per_pixel(self) -> u32 {
        match self {
            Self::Xrgb8888 => 4,
            Self::Rgb565 => 2,
        }
    }

    /// The manifest's name (`"xrgb8888"`).
    pub const fn name(self) -> &'static str {
        match self {
            Self::Xrgb8888 => "xrgb8888",
            Self::Rgb565 => "rgb565",
        }
    }

    /// The `format` property of a Linux `simple-framebuffer` node.
    pub const fn simple_framebuffer_name(self) -> &'static str {
        match self {
            Self::Xrgb8888 => "x8r8g8b8",
            Self::Rgb565 => "r5g6b5",
        }
    }

    /// The format the manifest calls `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .iter()
            .copied()
            .find(|format| format.name() == name)
    }

    /// Converts one pixel's bytes (`bytes_per_pixel` of them, little-endian) to XRGB8888
    /// with the unused byte zero. Missing bytes read as zero.
    pub fn to_xrgb8888(self, bytes: &[u8]) -> u32 {
        let byte = |index: usize| bytes.get(index).copied().unwrap_or(0);
        match self {
            Self::Xrgb8888 => u32::from_le_bytes([byte(0), byte(1), byte(2), 0]),
            Self::Rgb565 => {
                let pixel = u32::from(u16::from_le_bytes([byte(0), byte(1)]));
                let red = expand(pixel.wrapping_shr(11) & 0x1f, 5);
                let green = expand(pixel.wrapping_shr(5) & 0x3f, 6);
                let blue = expand(pixel & 0x1f, 5);
                red.wrapping_shl(16) | green.wrapping_shl(8) | blue
            }
        }
    }
}

/// A `bits`-bit channel (5 or 6) widened to 8 bits by replicating its high bits into the low
/// ones, so full scale stays full scale (0x1f becomes 0xff, not 0xf8). Shift amounts are
/// below 8, so the wrapping shifts never wrap.
fn expand(channel: u32, bits: u32) -> u32 {
    let up = 8_u32.wrapping_sub(bits);
    channel.wrapping_shl(up) | channel.wrapping_shr(bits.wrapping_sub(up))
}

// [utest->dsn~display-core~1]
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xrgb8888_drops_the_unused_byte() {
        assert_eq!(
            PixelFormat::Xrgb8888.to_xrgb8888(&[0x33, 0x22, 0x11, 0xff]),
            0x0011_2233
        );
    }

    #[test]
    fn rgb565_extremes_map_to_full_and_zero_channels() {
        assert_eq!(
            PixelFormat::Rgb565.to_xrgb8888(&0xf800u16.to_le_bytes()),
            0x00ff_0000
        );
        assert_eq!(
            PixelFormat::Rgb565.to_xrgb8888(&0x07e0u16.to_le_bytes()),
            0x0000_ff00
        );
        assert_eq!(
            PixelFormat::Rgb565.to_xrgb8888(&0x001fu16.to_le_bytes()),
            0x0000_00ff
        );
        assert_eq!(PixelFormat::Rgb565.to_xrgb8888(&[0, 0]), 0);
        assert_eq!(PixelFormat::Rgb565.to_xrgb8888(&[0xff, 0xff]), 0x00ff_ffff);
    }

    #[test]
    fn names_round_trip_and_unknown_ones_are_refused() {
        for format in PixelFormat::ALL {
            assert_eq!(PixelFormat::from_name(format.name()), Some(*format));
        }
        assert_eq!(PixelFormat::from_name("argb2101010"), None);
    }
}
