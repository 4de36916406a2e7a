//! The shared screen in `report.md` and as a picture (`display.svg`): the backend, the frame
//! budget the compiler proved, where the scan-out buffer lives, and every layer with its
//! framebuffer, its destination and whether it is critical.
//!
//! The picture draws the screen to scale with each layer's destination rectangle, so a
//! reviewer sees at a glance that nothing overlaps a critical layer (the compiler's BH1105),
//! which is the property the table alone makes hard to check.
//!
//! Design: [impl->dsn~config-report~1]

use std::fmt::Write as _;

use bulkhead_core::display::FailSafe;

use super::row;
use super::svg::escape;
use crate::spec::{DisplaySpec, SystemSpec};
use crate::units::{hex, human_size};
use crate::validate::display::backend_name;

/// File name of the screen picture.
pub const DISPLAY_SVG: &str = "display.svg";

/// Widest the picture draws the screen, in SVG pixels.
const PICTURE_WIDTH: u32 = 640;
/// Room around the screen for the title and the legend.
const MARGIN: u32 = 20;
const TITLE_HEIGHT: u32 = 40;
const LEGEND_HEIGHT: u32 = 40;

/// The `## Display` section, when the system has a display.
pub(super) fn display_section(out: &mut String, spec: &SystemSpec) {
    let Some(display) = spec.display() else {
        return;
    };
    let name = |partition: usize| {
        spec.partitions()
            .get(partition)
            .map_or("?", |partition| partition.name.as_str())
    };
    let _ = writeln!(out, "\n## Display\n");
    let _ = writeln!(out, "The screen is drawn in `{DISPLAY_SVG}`.\n");
    let FailSafe::Colour(fail_safe) = display.fail_safe;
    let full_screen = display.full_screen_cost();
    let _ = writeln!(
        out,
        "- Backend `{}`, {}×{} pixels, a frame every {} µs, composed on core {}.",
        backend_name(display.backend),
        display.width,
        display.height,
        display.frame_period_us,
        display.compose_core
    );
    let _ = writeln!(
        out,
        "- Frame budget {} pixel operations; composing the whole screen costs {} ({}%), which the compiler checked fits.",
        display.budget,
        full_screen,
        full_screen.saturating_mul(100).checked_div(display.budget).unwrap_or(0)
    );
    let _ = writeln!(
        out,
        "- Scan-out buffer: {} (XRGB8888) in the hypervisor's own memory, which no partition maps.",
        human_size(display.scan_out_bytes())
    );
    let _ = writeln!(
        out,
        "- Background `#{:06x}`; a frozen critical layer is filled with `#{fail_safe:06x}`.",
        display.background
    );
    match display.statistics_every {
        0 => {}
        every => {
            let _ = writeln!(out, "- A statistics line on the console every {every} frames.");
        }
    }
    let _ = writeln!(out);
    row(
        out,
        &[
            "Layer", "Partition", "Framebuffer (IPA)", "Host-physical", "Size", "Format", "Stride", "Destination", "z",
            "Critical",
        ],
    );
    row(out, &["---", "---", "---", "---", "---", "---", "---:", "---", "---:", "---"]);
    for (index, layer) in display.layers.iter().enumerate() {
        let destination = layer.destination;
        let critical = if layer.critical {
            format!("yes, frozen after {} frames", layer.freeze_threshold)
        } else {
            "no".to_owned()
        };
        row(
            out,
            &[
                &index.to_string(),
                name(layer.partition),
                &hex(layer.framebuffer_ipa),
                &hex(layer.framebuffer_phys),
                &format!("{}×{} ({})", layer.width, layer.height, human_size(layer.framebuffer_bytes())),
                layer.format.name(),
                &layer.stride.to_string(),
                &format!("{}×{} at ({}, {})", destination.width, destination.height, destination.x, destination.y),
                &layer.z.to_string(),
                &critical,
            ],
        );
    }
}

/// The screen picture, when the system has a display.
pub fn display_svg(spec: &SystemSpec) -> Option<String> {
    let display = spec.display()?;
    Some(screen_picture(display, |partition| {
        spec.partitions()
            .get(partition)
            .map_or_else(|| "?".to_owned(), |partition| partition.name.clone())
    }))
}

/// Draws `display`'s screen to scale with its layers, named by `name`.
fn screen_picture(display: &DisplaySpec, name: impl Fn(usize) -> String) -> String {
    // Scaled so the screen is PICTURE_WIDTH wide (1000 = 1.0, integer arithmetic).
    let scale = u64::from(PICTURE_WIDTH) * 1000 / u64::from(display.width.max(1));
    let scaled = |value: u32| u64::from(value) * scale / 1000;
    let screen_height = scaled(display.height);
    let width = u64::from(PICTURE_WIDTH + 2 * MARGIN);
    let height = u64::from(TITLE_HEIGHT + LEGEND_HEIGHT + 2 * MARGIN) + screen_height;
    let top = u64::from(TITLE_HEIGHT + MARGIN);
    let left = u64::from(MARGIN);
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="13">"#
    );
    let _ = writeln!(
        svg,
        r#"<text x="{left}" y="{}" font-size="16" font-weight="bold">Screen {}×{}, backend {}, one frame every {} µs</text>"#,
        MARGIN + 10,
        display.width,
        display.height,
        escape(backend_name(display.backend)),
        display.frame_period_us
    );
    let _ = writeln!(
        svg,
        r##"<rect x="{left}" y="{top}" width="{}" height="{screen_height}" fill="#{:06x}" stroke="#000000"/>"##,
        PICTURE_WIDTH, display.background
    );
    let mut order: Vec<usize> = (0..display.layers.len()).collect();
    order.sort_by_key(|index| display.layers.get(*index).map(|layer| (layer.critical, layer.z)));
    for index in order {
        let Some(layer) = display.layers.get(index) else {
            continue;
        };
        let rect = layer.destination;
        let (fill, stroke, dash) = if layer.critical {
            ("#e15759", "#7a0000", "")
        } else {
            ("#4e79a7", "#1c3a5e", r#" stroke-dasharray="6 3""#)
        };
        let (x, y) = (left + scaled(rect.x), top + scaled(rect.y));
        let (w, h) = (scaled(rect.width), scaled(rect.height));
        let _ = writeln!(
            svg,
            r#"<rect x="{x}" y="{y}" width="{w}" height="{h}" fill="{fill}" fill-opacity="0.55" stroke="{stroke}" stroke-width="2"{dash}/>"#
        );
        let label = format!(
            "layer {index}: {}{} (z {})",
            name(layer.partition),
            if layer.critical { ", critical" } else { "" },
            layer.z
        );
        let _ = writeln!(svg, r#"<text x="{}" y="{}">{}</text>"#, x + 6, y + 18, escape(&label));
        let _ = writeln!(
            svg,
            r#"<text x="{}" y="{}">{}×{} at ({}, {})</text>"#,
            x + 6,
            y + 34,
            rect.width,
            rect.height,
            rect.x,
            rect.y
        );
    }
    let legend = top + screen_height + 28;
    let _ = writeln!(
        svg,
        r##"<rect x="{left}" y="{}" width="14" height="14" fill="#e15759" fill-opacity="0.55" stroke="#7a0000"/><text x="{}" y="{legend}">critical: composed first, never overlapped, replaced by the fail-safe colour when frozen</text>"##,
        legend - 12,
        left + 20
    );
    svg.push_str("</svg>\n");
    svg
}

#[cfg(test)]
mod tests {
    use bulkhead_core::display::{Backend, LayerConfig, PixelFormat, Rect};

    use super::*;

    fn layer(partition: usize, destination: Rect, critical: bool) -> LayerConfig {
        LayerConfig {
            partition,
            framebuffer_ipa: 0x4080_0000,
            framebuffer_phys: 0x4180_0000,
            width: destination.width,
            height: destination.height,
            stride: destination.width * 4,
            format: PixelFormat::Xrgb8888,
            destination,
            z: u32::from(!critical),
            critical,
            freeze_threshold: 30,
        }
    }

    fn display() -> DisplaySpec {
        DisplaySpec {
            backend: Backend::RamCapture,
            backend_registers: None,
            firmware_framebuffer: None,
            width: 640,
            height: 480,
            frame_period_us: 16_667,
            budget: 666_680,
            compose_core: 0,
            background: 0x20_2020,
            fail_safe: FailSafe::Colour(0xff_0000),
            statistics_every: 0,
            layers: vec![
                layer(0, Rect::new(0, 0, 320, 240), true),
                layer(1, Rect::new(320, 240, 320, 240), false),
            ],
        }
    }

    #[test]
    fn the_picture_draws_every_layer_to_scale_and_names_its_partition() {
        let picture = screen_picture(&display(), |partition| ["cluster", "media"][partition].to_owned());
        // 640 wide: scale 1, so destinations appear at their own size, offset by the margins.
        assert!(picture.contains(r##"<rect x="20" y="60" width="320" height="240" fill="#e15759""##), "{picture}");
        assert!(picture.contains(r##"<rect x="340" y="300" width="320" height="240" fill="#4e79a7""##), "{picture}");
        assert!(picture.contains("layer 0: cluster, critical (z 0)"), "{picture}");
        assert!(picture.contains("layer 1: media (z 1)"), "{picture}");
        assert!(picture.ends_with("</svg>\n"));
    }

    #[test]
    fn a_wider_screen_is_scaled_down() {
        let mut wide = display();
        wide.width = 1280;
        wide.height = 960;
        let picture = screen_picture(&wide, |_| "p".to_owned());
        // Half scale: the 320×240 layer at (320, 240) becomes 160×120 at (160, 120).
        assert!(picture.contains(r#"<rect x="180" y="180" width="160" height="120""#), "{picture}");
    }
}
