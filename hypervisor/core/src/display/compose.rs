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

/// Pixels composed per step of a row; bounds the stack buffers (2 KiB of scan-out pixels and
/// 2 KiB of source bytes: with the rest of the frame under the 8 KiB a trap path may take of
/// a core's 64 KiB EL2 stack, MLR-19).
pub const CHUNK_PIXELS: usize = 512;

/// Where a layer's framebuffer bytes come from.
pub trait LayerSource {
    /// Copies `out.len()` bytes starting `offset` bytes into the framebuffer into `out`.
    /// Bytes outside the framebuffer read as zero.
    fn read(&self, offset: u64, out: &mut [u8]);
}

impl LayerSource for &[u8] {
    fn read(&self, offset: u64, out: &mut [u8]) {
        out.fill(0);
        let available = usize::try_from(offset)
            .ok()
            .and_then(|start| self.get(start..))
            .unwrap_or_default();
        for (target, byte) in out.iter_mut().zip(available) {
            *target = *byte;
        }
    }
}

/// A pixel coordinate or count as an index (a `u32` always fits `usize` on the 64-bit
/// targets the hypervisor and its host tests run on; saturation cannot happen there).
fn index(value: u32) -> usize {
    usize::try_from(value).unwrap_or(usize::MAX)
}

/// The scan-out buffer: XRGB8888 words, `width × height`, `stride` words per row.
pub struct ScanOut<'a> {
    /// The words, row after row.
    pixels: &'a mut [u32],
    /// Pixels per row shown.
    width: u32,
    /// Rows shown.
    height: u32,
    /// Words from one row to the next.
    stride: usize,
}

/// Why a buffer cannot be a scan-out buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScanOutTooSmall;

impl<'a> ScanOut<'a> {
    /// A scan-out buffer over `pixels`, which must hold `height` rows of `width` pixels.
    pub fn new(pixels: &'a mut [u32], width: u32, height: u32) -> Result<Self, ScanOutTooSmall> {
        let stride = index(width);
        if stride
            .checked_mul(index(height))
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

    /// Index of pixel `(x, y)` in the buffer (on screen, so no overflow: the buffer holds it).
    fn offset(&self, x: u32, y: u32) -> usize {
        index(y)
            .saturating_mul(self.stride)
            .saturating_add(index(x))
    }

    /// The pixel at `(x, y)`, if on screen.
    pub fn pixel(&self, x: u32, y: u32) -> Option<u32> {
        if !self.bounds().contains_point(x, y) {
            return None;
        }
        self.pixels.get(self.offset(x, y)).copied()
    }

    /// Every pixel, row after row.
    pub fn pixels(&self) -> &[u32] {
        self.pixels
    }

    /// The words of `span` (one row, on screen), if the buffer holds them.
    fn span_mut(&mut self, span: Rect) -> Option<&mut [u32]> {
        let start = self.offset(span.x, span.y);
        self.pixels
            .get_mut(start..start.saturating_add(index(span.width)))
    }

    /// Fills `rect` (clipped to the screen) with one colour; returns the pixels written.
    pub fn fill(&mut self, rect: Rect, colour: u32) -> u64 {
        let Some(visible) = rect.intersection(self.bounds()) else {
            return 0;
        };
        for row in visible.y..visible.y.saturating_add(visible.height) {
            if let Some(span) = self.span_mut(Rect::new(visible.x, row, visible.width, 1)) {
                span.fill(colour);
            }
        }
        visible.area()
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
        let Some(visible) = clip.intersection(self.bounds()) else {
            return 0;
        };
        let mut cost: u64 = 0;
        let mut row_pixels = [0u32; CHUNK_PIXELS];
        let mut source_bytes = [0u8; CHUNK_PIXELS * 4];
        let chunk_limit = u32::try_from(CHUNK_PIXELS).unwrap_or(u32::MAX);
        let right = visible.x.saturating_add(visible.width);
        for row in visible.y..visible.y.saturating_add(visible.height) {
            let mut column = visible.x;
            // BOUND: each pass advances `column` by the chunk's width, at least 1 while
            // `column < right`: at most ⌈width / CHUNK_PIXELS⌉ passes per row.
            while column < right {
                let chunk = Rect::new(
                    column,
                    row,
                    right.saturating_sub(column).min(chunk_limit),
                    1,
                );
                let Some(buffer) = row_pixels.get_mut(..index(chunk.width)) else {
                    break;
                };
                buffer.fill(background);
                for (layer, source) in layers {
                    cost = cost.saturating_add(blit_span(
                        layer,
                        *source,
                        chunk,
                        buffer,
                        &mut source_bytes,
                    ));
                }
                if let Some(target) = self.span_mut(chunk) {
                    // A zip, not `copy_from_slice`: equal lengths by construction, and no
                    // panic path linked into the trap path (MLR-27).
                    for (pixel, composed) in target.iter_mut().zip(buffer.iter()) {
                        *pixel = *composed;
                    }
                }
                cost = cost.saturating_add(u64::from(chunk.width));
                column = column.saturating_add(chunk.width);
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
    let bytes_per_pixel = format.bytes_per_pixel();
    // `span` lies inside `visible` and `chunk`, so these differences are non-negative.
    let source_row = u64::from(span.y.saturating_sub(visible.y));
    let source_column = u64::from(span.x.saturating_sub(visible.x));
    let offset = source_row
        .saturating_mul(u64::from(layer.stride))
        .saturating_add(source_column.saturating_mul(u64::from(bytes_per_pixel)));
    let byte_count = index(span.width).saturating_mul(index(bytes_per_pixel));
    let Some(bytes) = source_bytes.get_mut(..byte_count) else {
        return 0;
    };
    source.read(offset, bytes);
    let first = index(span.x.saturating_sub(chunk.x));
    if let Some(targets) = buffer.get_mut(first..first.saturating_add(index(span.width))) {
        for (target, pixel) in targets
            .iter_mut()
            .zip(bytes.chunks_exact(index(bytes_per_pixel)))
        {
            *target = format.to_xrgb8888(pixel);
        }
    }
    span.area()
}

#[cfg(test)]
mod tests;
