//! `memory-map.svg`: the host-physical memory map as a picture.
//!
//! One box per range, top to bottom in address order, coloured by owner. Ranges differ in
//! size by up to eighteen powers of two (a 4 KiB UART page next to gigabytes of RAM), so box
//! heights grow with the logarithm of the size rather than linearly, every box keeps its
//! label readable, and gaps in the address space are drawn as a break. The picture is plain
//! SVG 1.1 text, deterministic, with no scripts or external references.
//!
//! Design: [impl->dsn~config-report~1]

use std::fmt::Write as _;

use super::{EntryKind, HostEntry, ReportPartition, host_entries};
use crate::spec::SystemSpec;
use crate::units::{hex, human_size};

const WIDTH: u32 = 880;
const ADDRESS_COLUMN: u32 = 130;
const BAR_WIDTH: u32 = 470;
const GAP_HEIGHT: u32 = 14;
const TITLE_HEIGHT: u32 = 48;

/// Fill colours for partitions, cycled by partition index.
const PARTITION_COLOURS: &[&str] = &[
    "#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#edc948", "#76b7b2", "#ff9da7", "#9c755f",
    "#e15759", "#bab0ac",
];

pub(super) fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Box height: 22 px for a page, plus 3 px per doubling, at most 90 px.
fn height(size: u64) -> u32 {
    let pages = (size / 4096).max(1);
    22 + (3 * (63 - pages.leading_zeros())).min(68)
}

fn fill(entry: &HostEntry) -> (&'static str, &'static str) {
    match entry.kind {
        EntryKind::Hypervisor => ("#3b3b3b", "#ffffff"),
        EntryKind::HypervisorDevice => ("#7a7a7a", "#ffffff"),
        EntryKind::Reserved => ("#c9c9c9", "#000000"),
        EntryKind::Free => ("#f4f4f4", "#555555"),
        EntryKind::PartitionRam
        | EntryKind::PartitionRamPart
        | EntryKind::Region
        | EntryKind::Channel
        | EntryKind::Device => (
            PARTITION_COLOURS[entry.partition.unwrap_or(0) % PARTITION_COLOURS.len()],
            "#000000",
        ),
    }
}

/// The memory map picture.
pub fn memory_map_svg(spec: &SystemSpec, partitions: &[ReportPartition<'_>]) -> String {
    // Parts of a partition's RAM are inside its box; the picture shows top-level ranges.
    let entries: Vec<HostEntry> = host_entries(spec, partitions)
        .into_iter()
        .filter(|entry| entry.kind != EntryKind::PartitionRamPart)
        .collect();
    let mut body = String::new();
    let mut y = TITLE_HEIGHT;
    let mut previous_end: Option<u64> = None;
    for entry in &entries {
        if let Some(end) = previous_end {
            if entry.range.base() > end {
                let _ = writeln!(
                    body,
                    "<line x1=\"{x}\" y1=\"{mid}\" x2=\"{x2}\" y2=\"{mid}\" stroke=\"#999\" stroke-dasharray=\"4 3\"/>\
                     <text x=\"{text_x}\" y=\"{text_y}\" font-size=\"10\" fill=\"#777\">gap of {gap}</text>",
                    x = ADDRESS_COLUMN,
                    x2 = ADDRESS_COLUMN + BAR_WIDTH,
                    mid = y + GAP_HEIGHT / 2,
                    text_x = ADDRESS_COLUMN + BAR_WIDTH + 8,
                    text_y = y + GAP_HEIGHT / 2 + 3,
                    gap = human_size(entry.range.base() - end),
                );
                y += GAP_HEIGHT;
            }
        }
        let box_height = height(entry.range.size());
        let (colour, text_colour) = fill(entry);
        let dashed = if entry.kind == EntryKind::Channel {
            " stroke-dasharray=\"6 3\" stroke-width=\"2\""
        } else {
            ""
        };
        let label = match entry.kind {
            EntryKind::Free
            | EntryKind::Hypervisor
            | EntryKind::HypervisorDevice
            | EntryKind::Reserved => {
                format!("{} · {}", entry.what, human_size(entry.range.size()))
            }
            _ => format!(
                "{} · {} · {} · {}",
                entry.owner,
                entry.what,
                entry.access,
                human_size(entry.range.size())
            ),
        };
        let _ = writeln!(
            body,
            "<g><title>{title}</title>\
             <rect x=\"{x}\" y=\"{y}\" width=\"{BAR_WIDTH}\" height=\"{box_height}\" fill=\"{colour}\" stroke=\"#222\"{dashed}/>\
             <text x=\"{label_x}\" y=\"{label_y}\" font-size=\"12\" fill=\"{text_colour}\">{label}</text>\
             <text x=\"{address_x}\" y=\"{address_y}\" font-size=\"11\" text-anchor=\"end\" font-family=\"monospace\">{base}</text></g>",
            title = escape(&format!(
                "{} — {} {}..{}",
                entry.owner,
                entry.what,
                hex(entry.range.base()),
                hex(entry.range.end())
            )),
            x = ADDRESS_COLUMN,
            label_x = ADDRESS_COLUMN + 8,
            label_y = y + box_height / 2 + 4,
            label = escape(&label),
            address_x = ADDRESS_COLUMN - 6,
            address_y = y + 11,
            base = hex(entry.range.base()),
        );
        y += box_height;
        previous_end = Some(entry.range.end());
    }
    if let Some(end) = previous_end {
        let _ = writeln!(
            body,
            "<text x=\"{}\" y=\"{}\" font-size=\"11\" text-anchor=\"end\" font-family=\"monospace\">{}</text>",
            ADDRESS_COLUMN - 6,
            y + 4,
            hex(end)
        );
    }
    y += 16;
    let legend_y = y;
    let mut legend = String::new();
    let mut x = 10;
    let mut items: Vec<(String, &str)> = vec![
        ("hypervisor".to_owned(), "#3b3b3b"),
        ("hypervisor MMIO".to_owned(), "#7a7a7a"),
        ("reserved".to_owned(), "#c9c9c9"),
        ("free".to_owned(), "#f4f4f4"),
    ];
    for (index, partition) in spec.partitions().iter().enumerate() {
        items.push((
            partition.name.clone(),
            PARTITION_COLOURS[index % PARTITION_COLOURS.len()],
        ));
    }
    let mut line = 0;
    for (name, colour) in items {
        let width = 24 + 7 * name.chars().count() as u32;
        if x + width > WIDTH - 10 {
            x = 10;
            line += 1;
        }
        let item_y = legend_y + line * 18;
        let _ = writeln!(
            legend,
            "<rect x=\"{x}\" y=\"{item_y}\" width=\"12\" height=\"12\" fill=\"{colour}\" stroke=\"#222\"/>\
             <text x=\"{}\" y=\"{}\" font-size=\"11\">{}</text>",
            x + 16,
            item_y + 10,
            escape(&name)
        );
        x += width;
    }
    let total_height = legend_y + (line + 1) * 18 + 10;
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"{WIDTH}\" height=\"{total_height}\" viewBox=\"0 0 {WIDTH} {total_height}\" font-family=\"sans-serif\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n\
         <text x=\"10\" y=\"22\" font-size=\"16\" font-weight=\"bold\">{title}</text>\n\
         <text x=\"10\" y=\"38\" font-size=\"11\" fill=\"#555\">host-physical, low addresses at the top; box height grows with log2(size); dashed boxes are shared channels</text>\n\
         {body}{legend}</svg>\n",
        title = escape(&format!(
            "Memory map: {} on {}",
            spec.manifest_name(),
            spec.board().name
        )),
    )
}

// [utest->dsn~config-report~1]
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heights_grow_logarithmically_and_stay_bounded() {
        assert_eq!(height(0x1000), 22);
        assert_eq!(height(0x2000), 25);
        assert!(height(1 << 30) > height(64 << 20));
        assert!(height(u64::MAX) <= 90);
        assert_eq!(escape("a<b & \"c\""), "a&lt;b &amp; &quot;c&quot;");
    }
}
