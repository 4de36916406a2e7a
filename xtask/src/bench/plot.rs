//! `latency.svg`: the cost distributions of every sampled metric, platforms side by side, on
//! a logarithmic axis (costs span from a few instructions on the floor to thousands).
//!
//! Each platform gets a lane per metric: a line from the smallest to the largest cost, a dot
//! per distinct cost sized by how many samples had it, and a bar at the median. Written by
//! hand: the picture is a few dozen shapes.

use std::fmt::Write as _;

use super::report::{Cost, Platform, Report};

const WIDTH: f64 = 960.0;
const LEFT: f64 = 300.0;
const RIGHT: f64 = 30.0;
const TOP: f64 = 50.0;
const LANE: f64 = 14.0;
const GAP: f64 = 14.0;

fn colour(platform: Platform) -> &'static str {
    match platform {
        Platform::Floor => "#7f7f7f",
        Platform::Bulkhead => "#1f77b4",
        Platform::Xen => "#ff7f0e",
    }
}

/// Escapes text for SVG.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The SVG document for `report`'s operation and latency rows.
pub fn svg(report: &Report) -> String {
    let rows: Vec<_> = report
        .rows
        .iter()
        .filter(|row| row.kind != "since_reset")
        .filter(|row| row.costs.iter().any(|cell| cell.cost.median().is_some()))
        .collect();
    let platforms: Vec<Platform> = Platform::ALL
        .into_iter()
        .filter(|platform| report.platform(*platform).is_some())
        .collect();
    let largest = rows
        .iter()
        .flat_map(|row| row.costs.iter())
        .filter_map(|cell| match &cell.cost {
            Cost::Measured { maximum, .. } => Some(*maximum),
            _ => None,
        })
        .max()
        .unwrap_or(1)
        .max(10);
    let decades = (largest as f64).log10().ceil().max(1.0);
    let plot_width = WIDTH - LEFT - RIGHT;
    let x = |value: u64| LEFT + (value.max(1) as f64).log10() / decades * plot_width;
    let row_height = platforms.len() as f64 * LANE + GAP;
    let height = TOP + rows.len() as f64 * row_height + 50.0;

    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(out, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        out,
        r#"<text x="{LEFT}" y="20" font-size="14">Cost distributions (instructions, log scale), {} sample(s) per metric</text>"#,
        report.settings.samples
    );
    for (index, platform) in platforms.iter().enumerate() {
        let legend_x = LEFT + index as f64 * 140.0;
        let _ = writeln!(
            out,
            r#"<circle cx="{}" cy="36" r="5" fill="{}"/><text x="{}" y="40">{}</text>"#,
            legend_x + 5.0,
            colour(*platform),
            legend_x + 14.0,
            escape(platform.heading())
        );
    }
    let axis_bottom = TOP + rows.len() as f64 * row_height;
    for decade in 0..=(decades as u32) {
        let value = 10_u64.pow(decade);
        let position = x(value);
        let _ = writeln!(
            out,
            r##"<line x1="{position:.1}" y1="{TOP}" x2="{position:.1}" y2="{axis_bottom}" stroke="#dddddd"/><text x="{position:.1}" y="{:.1}" text-anchor="middle">{value}</text>"##,
            axis_bottom + 16.0
        );
    }
    for (row_index, row) in rows.iter().enumerate() {
        let row_top = TOP + row_index as f64 * row_height;
        let _ = writeln!(
            out,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            LEFT - 10.0,
            row_top + platforms.len() as f64 * LANE / 2.0 + 4.0,
            escape(&row.title)
        );
        for (lane, platform) in platforms.iter().enumerate() {
            let y = row_top + lane as f64 * LANE + LANE / 2.0;
            let Some(Cost::Measured {
                count,
                minimum,
                median,
                maximum,
                distribution,
            }) = row
                .costs
                .iter()
                .find(|cell| cell.platform == *platform)
                .map(|cell| &cell.cost)
            else {
                continue;
            };
            let fill = colour(*platform);
            let _ = writeln!(
                out,
                r#"<line x1="{:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="{fill}" stroke-width="1.5"/>"#,
                x(*minimum),
                x(*maximum)
            );
            for run in distribution {
                let share = run.count as f64 / (*count).max(1) as f64;
                let radius = 2.0 + 4.0 * share.sqrt();
                let _ = writeln!(
                    out,
                    r#"<circle cx="{:.1}" cy="{y:.1}" r="{radius:.1}" fill="{fill}" fill-opacity="0.7"><title>{}: {} × {}</title></circle>"#,
                    x(run.value),
                    escape(platform.heading()),
                    run.value,
                    run.count
                );
            }
            let _ = writeln!(
                out,
                r#"<line x1="{m:.1}" y1="{:.1}" x2="{m:.1}" y2="{:.1}" stroke="black" stroke-width="2"/>"#,
                y - 6.0,
                y + 6.0,
                m = x(*median)
            );
        }
    }
    let _ = writeln!(out, "</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::image_facts::{ImageSize, StaticMemory};
    use crate::bench::probe_output::Run;
    use crate::bench::report::{PlatformCost, PlatformOutcome, PlatformResult, Row, Settings};

    #[test]
    fn every_measured_value_gets_a_dot_inside_the_picture() {
        let report = Report {
            schema_version: 1,
            settings: Settings {
                samples: 3,
                quick: false,
                unit: String::new(),
                qemu_machine: String::new(),
                qemu_cpu: String::new(),
                qemu_smp: 1,
                qemu_memory: String::new(),
                qemu_arguments: vec![],
            },
            platforms: vec![PlatformResult {
                platform: Platform::Bulkhead,
                description: String::new(),
                outcome: PlatformOutcome::Unavailable {
                    reason: String::new(),
                },
            }],
            rows: vec![Row {
                metric: "m".to_owned(),
                title: "a <b> & c".to_owned(),
                kind: "operation".to_owned(),
                costs: vec![PlatformCost {
                    platform: Platform::Bulkhead,
                    cost: Cost::Measured {
                        count: 3,
                        minimum: 300,
                        median: 300,
                        maximum: 4000,
                        distribution: vec![
                            Run {
                                value: 300,
                                count: 2,
                            },
                            Run {
                                value: 4000,
                                count: 1,
                            },
                        ],
                    },
                }],
                target: None,
                xen_reference: None,
                xen_over_bulkhead: None,
                bulkhead_above_floor: None,
            }],
            image: ImageSize::default(),
            static_memory: StaticMemory::default(),
            lines_of_code: vec![],
            stage2: vec![],
            profile: vec![],
            notes: vec![],
            rt_neighbours: Vec::new(),
            display: None,
        };
        let picture = svg(&report);
        assert!(picture.starts_with("<svg "));
        assert!(picture.trim_end().ends_with("</svg>"));
        assert_eq!(picture.matches("<circle cx").count(), 1 + 2);
        assert!(picture.contains("a &lt;b&gt; &amp; c"));
        assert!(picture.contains(">10000</text>"));
    }
}
