//! An OpenFastTrace export of the specification items (`oft/requirements.md`), so an
//! independent tool can re-trace the repository: run OpenFastTrace over this file and the
//! source roots (`oft trace target/trace/oft hypervisor partitions tests xtask`), and it
//! reads the same items and the same `[impl->…]` tags.
//!
//! The format is OpenFastTrace's Markdown importer: a heading, the ID in backticks on its
//! own line, the description, then `Rationale:`, `Covers:` and `Needs:` sections.

use std::fmt::Write as _;

use crate::report::TraceReport;
use crate::requirements::Status;

/// Renders the export. Obsolete items are left out (OpenFastTrace would report links to
/// them, as our checks do).
pub fn render(report: &TraceReport) -> String {
    let mut text =
        String::from("# Bulkhead specification items (generated from certification/requirements; do not edit)\n");
    for item in report.items.iter().filter(|item| item.status != Status::Obsolete) {
        let _ = write!(
            text,
            "\n## {}\n`{}`\n\n{}\n",
            item.title,
            item.id,
            item.text.split_whitespace().collect::<Vec<_>>().join(" ")
        );
        if !item.rationale.is_empty() {
            let _ = write!(text, "\nRationale:\n{}\n", item.rationale.split_whitespace().collect::<Vec<_>>().join(" "));
        }
        if !item.covers.is_empty() {
            text.push_str("\nCovers:\n");
            for covered in &item.covers {
                let _ = writeln!(text, "* `{covered}`");
            }
        }
        if !item.needs.is_empty() {
            let needs: Vec<&str> = item.needs.iter().map(|need| need.need.name()).collect();
            let _ = writeln!(text, "\nNeeds: {}", needs.join(", "));
        }
        if item.status == Status::Draft {
            text.push_str("\nStatus: draft\n");
        }
    }
    text
}
