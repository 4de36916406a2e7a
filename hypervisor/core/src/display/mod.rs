//! The display mediator's logic: partitions share one screen, and the critical layer can be
//! neither overwritten, nor starved, nor frozen unnoticed.
//!
//! Each partition that draws owns one *layer*: a framebuffer inside its own memory and a
//! destination rectangle on the screen, both fixed by the manifest (`[display]`,
//! `[[display.layer]]`, validated by `bulkhead-config`). The hypervisor composes the layers
//! into a scan-out buffer in its own memory, which no partition maps, and hands that to a
//! backend (ramfb, virtio-gpu, RAM capture, ...). This module is the hardware-independent part:
//!
//! * [`rect`]: rectangles and clipping; everything a guest names is clipped to its layer.
//! * [`format`]: source pixel formats and their conversion to the scan-out format (XRGB8888).
//! * [`damage`]: fixed-size damage lists (no allocation; a full list degrades to its bounding
//!   box, which is conservative, never lossy).
//! * [`compose`]: the row-wise clipping blitter. A composition confined to a rectangle writes
//!   only pixels inside it (host property test: pixels outside a layer's destination never
//!   change).
//! * [`schedule`]: the frame scheduler: critical layers first, then the others by z-order,
//!   within a fixed per-frame budget of pixel operations; non-critical work is what is
//!   deferred when the budget runs out.
//! * [`liveness`]: per-layer sequence numbers; a critical layer not updated for its freeze
//!   threshold is replaced by the fail-safe image and a health event is raised.
//! * [`statistics`]: composition time and critical present-to-screen latency per window of
//!   frames, for the console and `cargo xtask bench`.
//!
//! Why critical layers cannot be overwritten: the configuration compiler rejects any layer
//! whose destination overlaps a critical layer's (`BH1105`), and a layer's composition is
//! clipped to its own destination, so no other layer's work ever writes a critical pixel.
//! Why they cannot be starved: the compiler rejects systems whose full-screen composition
//! exceeds the budget (`BH1108`), and the scheduler spends the budget on critical layers
//! before any other.
//!
//! The cost unit everywhere (compiler and scheduler agree through [`composition_cost`]) is
//! one *pixel operation*: one pixel written to the scan-out buffer or one source pixel read
//! and converted.
//!
//! [impl->dsn~display-core~1]

pub mod compose;
pub mod damage;
pub mod format;
pub mod hypercall;
pub mod liveness;
pub mod rect;
pub mod schedule;
pub mod statistics;

pub use format::PixelFormat;
pub use rect::Rect;

/// Layers a system may declare (one per partition at most).
pub const MAX_LAYERS: usize = 8;

/// Widest and tallest screen the mediator composes (bounds the scan-out buffer and each
/// composition's work).
pub const MAX_DIMENSION: u32 = 4096;

/// Which device shows the scan-out buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// Nothing is shown: the scan-out buffer stays in RAM, where tests and debuggers read it.
    RamCapture,
    /// QEMU's ramfb (`-device ramfb`), configured through fw_cfg DMA (`etc/ramfb`).
    Ramfb,
    /// A virtio-gpu 2D device on a virtio-mmio transport (QEMU `virt`: `-device
    /// virtio-gpu-device`): the scan-out buffer is its resource's backing, and every frame's
    /// damage is transferred and flushed.
    VirtioGpu,
    /// The Raspberry Pi 4's firmware framebuffer, asked for through the VideoCore mailbox
    /// (property channel) at boot; each frame's damage is copied into it.
    Rpi4Mailbox,
}

/// What is shown in place of a frozen critical layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailSafe {
    /// The layer's destination filled with one XRGB8888 colour.
    Colour(u32),
}

/// One layer, as the generated tables describe it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LayerConfig {
    /// Index of the owning partition.
    pub partition: usize,
    /// Guest-physical address of the framebuffer's first byte.
    pub framebuffer_ipa: u64,
    /// Host-physical address of the same byte (inside the partition's own memory).
    pub framebuffer_phys: u64,
    /// Framebuffer width in pixels.
    pub width: u32,
    /// Framebuffer height in pixels.
    pub height: u32,
    /// Bytes from one framebuffer row to the next.
    pub stride: u32,
    /// The framebuffer's pixel format.
    pub format: PixelFormat,
    /// Where the framebuffer's top-left part appears on the screen (no scaling: at most the
    /// framebuffer's size).
    pub destination: Rect,
    /// Stacking order; higher is drawn later (on top).
    pub z: u32,
    /// Whether the layer is safety-critical (composed first, never overlapped, watched).
    pub critical: bool,
    /// Frames without an update after which a critical layer counts as frozen.
    pub freeze_threshold: u32,
}

impl LayerConfig {
    /// Bytes of the framebuffer: `stride * height`.
    pub fn framebuffer_bytes(&self) -> u64 {
        u64::from(self.stride).saturating_mul(u64::from(self.height))
    }
}

/// The whole display, as the generated tables describe it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DisplayConfig {
    /// Which device shows the frames.
    pub backend: Backend,
    /// Physical base of the backend's register block (ramfb: the fw_cfg device; virtio-gpu:
    /// its virtio-mmio transport), which the
    /// hypervisor maps at EL2; 0 when the backend has none.
    pub backend_registers: u64,
    /// Where the backend's firmware may place the framebuffer it hands out (`rpi4-mailbox`:
    /// the VideoCore's share of RAM, `board.toml`'s `firmware_framebuffer`), which no
    /// partition maps; empty (size 0) for the other backends.
    pub firmware_framebuffer: crate::system::PhysRange,
    /// Screen width in pixels.
    pub width: u32,
    /// Screen height in pixels.
    pub height: u32,
    /// Microseconds from one frame to the next.
    pub frame_period_us: u32,
    /// Pixel operations one frame may spend ([`composition_cost`]).
    pub budget: u64,
    /// The physical core whose frame tick composes.
    pub compose_core: usize,
    /// XRGB8888 colour of screen pixels no layer covers.
    pub background: u32,
    /// What replaces a frozen critical layer.
    pub fail_safe: FailSafe,
    /// Frames per statistics line on the console ([`statistics`]); 0: none.
    pub statistics_every: u32,
    /// The layers, in manifest order.
    pub layers: &'static [LayerConfig],
}

/// Pixel operations to compose `clip` of a screen whose layers have `destinations`: every
/// pixel of `clip` written once, plus every layer pixel inside `clip` read and converted.
pub fn composition_cost(clip: Rect, destinations: impl IntoIterator<Item = Rect>) -> u64 {
    destinations
        .into_iter()
        .fold(clip.area(), |cost, destination| {
            cost.saturating_add(clip.intersection(destination).map_or(0, Rect::area))
        })
}

// [utest->dsn~display-core~1]
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cost_counts_the_clip_once_and_each_covered_layer_pixel_once_more() {
        let screen = Rect::new(0, 0, 100, 100);
        let layers = [Rect::new(0, 0, 10, 10), Rect::new(95, 95, 10, 10)];
        assert_eq!(composition_cost(screen, layers), 10_000 + 100 + 25);
        assert_eq!(composition_cost(Rect::new(50, 50, 1, 1), layers), 1);
    }
}
