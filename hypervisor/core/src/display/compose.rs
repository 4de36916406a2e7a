//! The clipping blitter: composes a rectangle of the screen from the background and the
//! layers, row by row, into the scan-out buffer.
//!
//! Each scan-out row of the clip is built in a small stack buffer (at most [`CHUNK_PIXELS`]
//! pixels at a time) and written once, so the display never shows a half-composed row
//! state such as background over a layer. Work is `clip area + Σ |layer ∩ clip|` pixel
//! operations ([`super::composition_cost`]), bounded by the clip; nothing outside the clip is
//! written, which is what keeps other layers' pixels (the critical one's above all) intact.
//!
//! Source pixels come through [`LayerSource`], because at EL2 they are guest memory the
//! guest may change at any time: the image reads it with copies that tolerate that, host
//! tests read slices.

use super::LayerConfig;
use super::format::PixelFormat;
use super::rect::Rect;

/// Pixels composed per step of a row; bounds the stack buffers (4 KiB of scan-out pixels and
/// 4 KiB of source bytes).
pub const CHUNK_PIXELS: usize = 1024;

/// Where a layer's framebuffer bytes come from.
pub trait LayerSource {
    /// Copies `out.len()` bytes starting `offset` bytes into the framebuffer into `out`.
    /// Bytes outside the framebuffer read as zero.
    fn read(&self, offset: u64, out: &mut [u8]);
}

impl LayerSource for &[u8] {
    fn read(&self, offset: u64, out: &mut [u8]) {
        out.fill(0);
        let Ok(start) = usize::try_from(offset) else {
            return;
        };
        if let Some(available) = self.get(start..) {
            let count = available.len().min(out.len());
            out[..count].copy_from_slice(&available[..count]);
        }
    }
}

/// The scan-out buffer: XRGB8888 words, `width × height`, `stride` words per row.
pub struct ScanOut<'a> {
    pixels: &'a mut [u32],
    width: u32,
    height: u32,
    stride: usize,
}

/// Why a buffer cannot be a scan-out buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScanOutTooSmall;

impl<'a> ScanOut<'a> {
    /// A scan-out buffer over `pixels`, which must hold `height` rows of `width` pixels.
    pub fn new(pixels: &'a mut [u32], width: u32, height: u32) -> Result<Self, ScanOutTooSmall> {
        let stride = usize::try_from(width).map_err(|_| ScanOutTooSmall)?;
        let rows = usize::try_from(height).map_err(|_| ScanOutTooSmall)?;
        if stride
            .checked_mul(rows)
            .is_none_or(|needed| pixels.len() < needed)
        {
            return Err(ScanOutTooSmall);
        }
        Ok(Self {
            pixels,
            width,
            height,
            stride,
        })
    }

    /// The whole screen.
    pub const fn bounds(&self) -> Rect {
        Rect::new(0, 0, self.width, self.height)
    }

    /// The pixel at `(x, y)`, if on screen.
    pub fn pixel(&self, x: u32, y: u32) -> Option<u32> {
        if !self.bounds().contains_point(x, y) {
            return None;
        }
        self.pixels
            .get(y as usize * self.stride + x as usize)
            .copied()
    }

    /// Every pixel, row after row.
    pub fn pixels(&self) -> &[u32] {
        self.pixels
    }

    /// Fills `rect` (clipped to the screen) with one colour; returns the pixels written.
    pub fn fill(&mut self, rect: Rect, colour: u32) -> u64 {
        let Some(rect) = rect.intersection(self.bounds()) else {
            return 0;
        };
        for row in rect.y..rect.y + rect.height {
            let start = row as usize * self.stride + rect.x as usize;
            if let Some(span) = self.pixels.get_mut(start..start + rect.width as usize) {
                span.fill(colour);
            }
        }
        rect.area()
    }

    /// Composes `clip` (clipped to the screen): the background, then each of `layers` whose
    /// destination meets the clip, in the order given (the caller sorts by z). Writes only
    /// pixels inside `clip`; returns the pixel operations spent.
    pub fn compose<S: LayerSource>(
        &mut self,
        clip: Rect,
        background: u32,
        layers: &[(&LayerConfig, &S)],
    ) -> u64 {
        let Some(clip) = clip.intersection(self.bounds()) else {
            return 0;
        };
        let mut cost = 0;
        let mut row_pixels = [0u32; CHUNK_PIXELS];
        let mut source_bytes = [0u8; CHUNK_PIXELS * 4];
        for row in clip.y..clip.y + clip.height {
            let mut column = clip.x;
            while u64::from(column) < clip.right() {
                let chunk_width = (clip.right() - u64::from(column)).min(CHUNK_PIXELS as u64);
                // At most CHUNK_PIXELS, so it fits every integer type used below.
                let chunk_width = chunk_width as u32;
                let chunk = Rect::new(column, row, chunk_width, 1);
                let buffer = &mut row_pixels[..chunk_width as usize];
                buffer.fill(background);
                for (layer, source) in layers {
                    cost += blit_span(layer, *source, chunk, buffer, &mut source_bytes);
                }
                let start = row as usize * self.stride + column as usize;
                if let Some(target) = self.pixels.get_mut(start..start + buffer.len()) {
                    target.copy_from_slice(buffer);
                }
                cost += u64::from(chunk_width);
                column += chunk_width;
            }
        }
        cost
    }
}

/// Converts the part of `layer` inside the one-row `chunk` into `buffer` (the chunk's
/// pixels); returns the source pixels read.
fn blit_span<S: LayerSource>(
    layer: &LayerConfig,
    source: &S,
    chunk: Rect,
    buffer: &mut [u32],
    source_bytes: &mut [u8],
) -> u64 {
    let visible = Rect::new(
        layer.destination.x,
        layer.destination.y,
        layer.destination.width.min(layer.width),
        layer.destination.height.min(layer.height),
    );
    let Some(span) = chunk.intersection(visible) else {
        return 0;
    };
    let format: PixelFormat = layer.format;
    let bytes_per_pixel = format.bytes_per_pixel() as usize;
    let source_row = u64::from(span.y - visible.y);
    let source_column = u64::from(span.x - visible.x);
    let offset = source_row * u64::from(layer.stride) + source_column * bytes_per_pixel as u64;
    let count = span.width as usize;
    let Some(bytes) = source_bytes.get_mut(..count * bytes_per_pixel) else {
        return 0;
    };
    source.read(offset, bytes);
    let first = (span.x - chunk.x) as usize;
    if let Some(targets) = buffer.get_mut(first..first + count) {
        for (target, pixel) in targets.iter_mut().zip(bytes.chunks_exact(bytes_per_pixel)) {
            *target = format.to_xrgb8888(pixel);
        }
    }
    span.area()
}

#[cfg(test)]
mod tests;
