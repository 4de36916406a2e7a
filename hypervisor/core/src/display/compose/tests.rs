//! Verifies: [utest->dsn~display-core~1]

use proptest::prelude::*;

use super::*;

extern crate std;
use std::vec;
use std::vec::Vec;

fn layer(destination: Rect, width: u32, height: u32, format: PixelFormat) -> LayerConfig {
    LayerConfig {
        partition: 0,
        framebuffer_ipa: 0,
        framebuffer_phys: 0,
        width,
        height,
        stride: width * format.bytes_per_pixel(),
        format,
        destination,
        z: 0,
        critical: false,
        freeze_threshold: 0,
    }
}

/// A framebuffer whose pixel `(x, y)` is `0x00_xx_yy_07` (XRGB8888).
fn pattern(width: u32, height: u32) -> Vec<u8> {
    let mut bytes = Vec::new();
    for y in 0..height {
        for x in 0..width {
            bytes.extend_from_slice(&(((x & 0xff) << 16) | ((y & 0xff) << 8) | 7).to_le_bytes());
        }
    }
    bytes
}

#[test]
fn a_layer_lands_at_its_destination_over_the_background() {
    let mut pixels = vec![0u32; 16 * 8];
    let mut screen = ScanOut::new(&mut pixels, 16, 8).unwrap();
    let bytes = pattern(4, 3);
    let source: &[u8] = &bytes;
    let config = layer(Rect::new(10, 2, 4, 3), 4, 3, PixelFormat::Xrgb8888);
    let cost = screen.compose(screen.bounds(), 0x00aa_bbcc, &[(&config, &source)]);
    assert_eq!(cost, 16 * 8 + 12);
    assert_eq!(screen.pixel(10, 2), Some(0x0000_0007));
    assert_eq!(screen.pixel(13, 4), Some(0x0003_0207));
    assert_eq!(screen.pixel(9, 2), Some(0x00aa_bbcc));
    assert_eq!(screen.pixel(14, 4), Some(0x00aa_bbcc));
}

#[test]
fn rgb565_sources_are_converted() {
    let mut pixels = vec![0u32; 4];
    let mut screen = ScanOut::new(&mut pixels, 2, 2).unwrap();
    let bytes: Vec<u8> = [0xf800u16, 0x07e0, 0x001f, 0xffff]
        .iter()
        .flat_map(|pixel| pixel.to_le_bytes())
        .collect();
    let source: &[u8] = &bytes;
    let config = layer(Rect::new(0, 0, 2, 2), 2, 2, PixelFormat::Rgb565);
    screen.compose(screen.bounds(), 0, &[(&config, &source)]);
    assert_eq!(
        screen.pixels(),
        &[0x00ff_0000, 0x0000_ff00, 0x0000_00ff, 0x00ff_ffff]
    );
}

#[test]
fn later_layers_are_drawn_on_top() {
    let mut pixels = vec![0u32; 4];
    let mut screen = ScanOut::new(&mut pixels, 4, 1).unwrap();
    let low = [1u8, 0, 0, 0].repeat(3);
    let high = [2u8, 0, 0, 0].repeat(2);
    let (low_source, high_source): (&[u8], &[u8]) = (&low, &high);
    let low_layer = layer(Rect::new(0, 0, 3, 1), 3, 1, PixelFormat::Xrgb8888);
    let high_layer = layer(Rect::new(2, 0, 2, 1), 2, 1, PixelFormat::Xrgb8888);
    screen.compose(
        screen.bounds(),
        9,
        &[(&low_layer, &low_source), (&high_layer, &high_source)],
    );
    assert_eq!(screen.pixels(), &[1, 1, 2, 2]);
}

#[test]
fn rows_wider_than_one_chunk_are_composed_whole() {
    let width = CHUNK_PIXELS as u32 + 37;
    let mut pixels = vec![0u32; width as usize];
    let mut screen = ScanOut::new(&mut pixels, width, 1).unwrap();
    let bytes = pattern(width, 1);
    let source: &[u8] = &bytes;
    let config = layer(Rect::new(0, 0, width, 1), width, 1, PixelFormat::Xrgb8888);
    screen.compose(screen.bounds(), 0, &[(&config, &source)]);
    let last = width - 1;
    assert_eq!(screen.pixel(last, 0), Some(((last & 0xff) << 16) | 7));
}

#[test]
fn a_buffer_too_small_for_the_screen_is_refused() {
    let mut pixels = vec![0u32; 15];
    assert_eq!(ScanOut::new(&mut pixels, 4, 4).err(), Some(ScanOutTooSmall));
}

#[test]
fn a_short_source_reads_as_black_instead_of_failing() {
    let mut pixels = vec![5u32; 4];
    let mut screen = ScanOut::new(&mut pixels, 4, 1).unwrap();
    let bytes = [0xffu8; 6];
    let source: &[u8] = &bytes;
    let config = layer(Rect::new(0, 0, 4, 1), 4, 1, PixelFormat::Xrgb8888);
    screen.compose(screen.bounds(), 0, &[(&config, &source)]);
    assert_eq!(screen.pixels(), &[0x00ff_ffff, 0x0000_ffff, 0, 0]);
}

fn rect_strategy(limit: u32) -> impl Strategy<Value = Rect> {
    (0..limit + 8, 0..limit + 8, 0..limit, 0..limit)
        .prop_map(|(x, y, width, height)| Rect::new(x, y, width, height))
}

proptest! {
    /// The isolation property: composing a layer's destination (the only clip a layer's
    /// damage can name) changes no pixel outside that destination, whatever the other layers,
    /// formats and contents are.
    #[test]
    fn pixels_outside_a_layers_destination_never_change(
        destination in rect_strategy(40),
        other in rect_strategy(40),
        clip in rect_strategy(48),
        rgb565 in any::<bool>(),
        seed in any::<u32>(),
    ) {
        let (width, height) = (40u32, 30u32);
        let mut pixels: Vec<u32> = (0..width * height).map(|index| index ^ seed).collect();
        let before = pixels.clone();
        let format = if rgb565 { PixelFormat::Rgb565 } else { PixelFormat::Xrgb8888 };
        let config = layer(destination, destination.width, destination.height, format);
        let other_config = layer(other, other.width, other.height, PixelFormat::Xrgb8888);
        let bytes = pattern(64, 64);
        let source: &[u8] = &bytes;
        let mut screen = ScanOut::new(&mut pixels, width, height).unwrap();
        let clip = clip.intersection(destination).unwrap_or_default();
        screen.compose(clip, seed, &[(&other_config, &source), (&config, &source)]);
        for y in 0..height {
            for x in 0..width {
                if !destination.contains_point(x, y) {
                    let index = (y * width + x) as usize;
                    prop_assert_eq!(pixels[index], before[index], "pixel ({}, {}) changed", x, y);
                }
            }
        }
    }

    /// The cost a composition reports is the one the scheduler and the compiler predict.
    #[test]
    fn reported_cost_matches_the_cost_model(
        first in rect_strategy(40),
        second in rect_strategy(40),
        clip in rect_strategy(48),
    ) {
        let mut pixels = vec![0u32; 40 * 30];
        let mut screen = ScanOut::new(&mut pixels, 40, 30).unwrap();
        let bytes = pattern(64, 64);
        let source: &[u8] = &bytes;
        let layers = [
            layer(first, first.width, first.height, PixelFormat::Xrgb8888),
            layer(second, second.width, second.height, PixelFormat::Rgb565),
        ];
        let cost = screen.compose(clip, 0, &[(&layers[0], &source), (&layers[1], &source)]);
        let on_screen = clip.intersection(screen.bounds()).unwrap_or_default();
        let expected = if on_screen.is_empty() {
            0
        } else {
            super::super::composition_cost(on_screen, [first, second])
        };
        prop_assert_eq!(cost, expected);
    }
}
