//! Draws the GSN goal tree as an SVG: left to right, one column per depth, leaves stacked
//! top to bottom, each parent level with its first child (like an outline, so the top goal
//! and the first branch are in view when the drawing opens, however tall it is). Shapes follow the GSN Community
//! Standard (goal rectangle, strategy parallelogram, solution circle — drawn as an ellipse to
//! hold its text — context rounded rectangle, assumption oval marked "A"); "supported by"
//! edges have filled arrowheads, "in context of" edges hollow ones. Colour is the support
//! state: green supported, red unsupported, grey dashed draft, blue context.

use crate::report::safety_case::{GsnKind, GsnNode, GsnState};

/// Node width.
const WIDTH: f64 = 240.0;
/// Node height.
const HEIGHT: f64 = 62.0;
/// Horizontal gap between columns.
const COLUMN_GAP: f64 = 46.0;
/// Vertical gap between leaves.
const ROW_GAP: f64 = 12.0;
/// Margin around the drawing.
const MARGIN: f64 = 12.0;
/// Characters per text line.
const LINE_CHARACTERS: usize = 38;
/// Characters of the bold heading line.
const HEADING_CHARACTERS: usize = 34;

/// Escapes text for XML.
pub fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            other => escaped.push(other),
        }
    }
    escaped
}

/// A node's place.
struct Placed<'a> {
    /// The node.
    node: &'a GsnNode,
    /// Left edge.
    x: f64,
    /// Vertical centre.
    y: f64,
    /// Index of the parent in the placed list.
    parent: Option<usize>,
}

/// Places `node` and its subtree; returns its vertical centre.
fn place<'a>(
    node: &'a GsnNode,
    depth: usize,
    parent: Option<usize>,
    next_row: &mut usize,
    placed: &mut Vec<Placed<'a>>,
) -> f64 {
    let index = placed.len();
    let x = MARGIN + crate::display_f64(u64::try_from(depth).unwrap_or(u64::MAX)) * (WIDTH + COLUMN_GAP);
    placed.push(Placed { node, x, y: 0.0, parent });
    let y = if node.children.is_empty() {
        let row = crate::display_f64(u64::try_from(*next_row).unwrap_or(u64::MAX));
        *next_row += 1;
        MARGIN + row * (HEIGHT + ROW_GAP) + HEIGHT / 2.0
    } else {
        let centres: Vec<f64> =
            node.children.iter().map(|child| place(child, depth + 1, Some(index), next_row, placed)).collect();
        centres.first().copied().unwrap_or_default()
    };
    placed[index].y = y;
    y
}

/// Splits `text` into at most `lines` lines of [`LINE_CHARACTERS`], ending with `…` when cut.
fn wrap(text: &str, lines: usize) -> Vec<String> {
    let mut result: Vec<String> = Vec::new();
    let mut current = String::new();
    for word in text.split_whitespace() {
        if !current.is_empty() && current.chars().count() + 1 + word.chars().count() > LINE_CHARACTERS {
            result.push(std::mem::take(&mut current));
            if result.len() == lines {
                break;
            }
        }
        if !current.is_empty() {
            current.push(' ');
        }
        current.push_str(word);
    }
    if result.len() < lines && !current.is_empty() {
        result.push(current);
    } else if result.len() == lines {
        if let Some(last) = result.last_mut() {
            let kept: String = last.chars().take(LINE_CHARACTERS - 1).collect();
            *last = format!("{kept}…");
        }
    }
    result
}

/// Fill and stroke colours and dash pattern for a state.
fn colours(state: GsnState) -> (&'static str, &'static str, &'static str) {
    match state {
        GsnState::Supported => ("#e4f4e1", "#2e7d32", ""),
        GsnState::Unsupported => ("#fde8e8", "#c62828", ""),
        GsnState::Draft => ("#f3f3f3", "#8a8a8a", " stroke-dasharray=\"5 3\""),
        GsnState::Neutral => ("#edf2fb", "#4f6fa3", ""),
    }
}

/// The shape of one node at (x, centre y).
fn shape(kind: GsnKind, x: f64, y: f64, style: &str) -> String {
    let top = y - HEIGHT / 2.0;
    match kind {
        GsnKind::Goal => format!("<rect x=\"{x:.1}\" y=\"{top:.1}\" width=\"{WIDTH}\" height=\"{HEIGHT}\"{style}/>"),
        GsnKind::Strategy => {
            let skew = 12.0;
            format!(
                "<polygon points=\"{:.1},{top:.1} {:.1},{top:.1} {:.1},{:.1} {x:.1},{:.1}\"{style}/>",
                x + skew,
                x + WIDTH,
                x + WIDTH - skew,
                top + HEIGHT,
                top + HEIGHT
            )
        }
        GsnKind::Solution | GsnKind::Assumption => {
            format!(
                "<ellipse cx=\"{:.1}\" cy=\"{y:.1}\" rx=\"{:.1}\" ry=\"{:.1}\"{style}/>",
                x + WIDTH / 2.0,
                WIDTH / 2.0,
                HEIGHT / 2.0
            )
        }
        GsnKind::Context => {
            format!(
                "<rect x=\"{x:.1}\" y=\"{top:.1}\" width=\"{WIDTH}\" height=\"{HEIGHT}\" rx=\"{:.1}\"{style}/>",
                HEIGHT / 2.0
            )
        }
    }
}

/// The SVG for `root`.
pub fn render(root: &GsnNode) -> String {
    let mut placed = Vec::new();
    let mut rows = 0usize;
    place(root, 0, None, &mut rows, &mut placed);
    let right = placed.iter().map(|node| node.x + WIDTH).fold(0.0, f64::max) + MARGIN;
    let bottom = MARGIN * 2.0 + crate::display_f64(u64::try_from(rows).unwrap_or(u64::MAX)) * (HEIGHT + ROW_GAP);
    let mut svg = format!(
        "<svg class=\"goal-tree\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{right:.0}\" height=\"{bottom:.0}\" viewBox=\"0 0 {right:.0} {bottom:.0}\" role=\"img\" aria-label=\"GSN goal tree\" font-family=\"sans-serif\" font-size=\"11\">\n"
    );
    svg.push_str(
        "<defs><marker id=\"supported\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"#333\"/></marker>\
<marker id=\"context\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"#fff\" stroke=\"#333\"/></marker></defs>\n",
    );
    for node in &placed {
        if let Some(parent) = node.parent.map(|index| &placed[index]) {
            let marker =
                if matches!(node.node.kind, GsnKind::Context | GsnKind::Assumption) { "context" } else { "supported" };
            let middle = parent.x + WIDTH + COLUMN_GAP / 2.0;
            svg.push_str(&format!(
                "<path class=\"gsn-edge\" d=\"M{:.1},{:.1} H{middle:.1} V{:.1} H{:.1}\" fill=\"none\" stroke=\"#333\" marker-end=\"url(#{marker})\"/>\n",
                parent.x + WIDTH,
                parent.y,
                node.y,
                node.x
            ));
        }
    }
    for node in &placed {
        let gsn = node.node;
        let (fill, stroke, dash) = colours(gsn.state);
        let kind = format!("{:?}", gsn.kind).to_lowercase();
        let state = format!("{:?}", gsn.state).to_lowercase();
        svg.push_str(&format!(
            "<g class=\"gsn-node gsn-{kind} {state}\"><title>{}: {} — {}</title>",
            escape(&gsn.id),
            escape(&gsn.title),
            escape(&gsn.text)
        ));
        let style = format!(" fill=\"{fill}\" stroke=\"{stroke}\" stroke-width=\"1.5\"{dash}");
        svg.push_str(&shape(gsn.kind, node.x, node.y, &style));
        let inset =
            if matches!(gsn.kind, GsnKind::Solution | GsnKind::Assumption | GsnKind::Context) { 22.0 } else { 8.0 };
        let heading = format!("{} {}", gsn.id, gsn.title);
        let heading = if heading.chars().count() > HEADING_CHARACTERS {
            format!("{}…", heading.chars().take(HEADING_CHARACTERS - 1).collect::<String>())
        } else {
            heading
        };
        let mut lines = vec![format!("<tspan font-weight=\"bold\">{}</tspan>", escape(&heading))];
        let text = if gsn.reference { format!("↑ {}", gsn.text) } else { gsn.text.clone() };
        lines.extend(wrap(&text, 2).iter().map(|line| escape(line)));
        let first = node.y - HEIGHT / 2.0 + 17.0;
        for (row, line) in lines.iter().enumerate() {
            let baseline = first + crate::display_f64(u64::try_from(row).unwrap_or(u64::MAX)) * 15.0;
            svg.push_str(&format!("<text x=\"{:.1}\" y=\"{baseline:.1}\" fill=\"#111\">{line}</text>", node.x + inset));
        }
        if gsn.kind == GsnKind::Assumption {
            svg.push_str(&format!(
                "<text x=\"{:.1}\" y=\"{:.1}\" font-weight=\"bold\">A</text>",
                node.x + WIDTH - 14.0,
                node.y + HEIGHT / 2.0 - 2.0
            ));
        }
        svg.push_str("</g>\n");
    }
    svg.push_str("</svg>\n");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf(id: &str, kind: GsnKind, state: GsnState) -> GsnNode {
        GsnNode {
            id: id.to_owned(),
            kind,
            title: "t".to_owned(),
            text: "x & <y>".to_owned(),
            state,
            reference: false,
            children: Vec::new(),
        }
    }

    #[test]
    fn parents_sit_level_with_their_first_child_and_text_is_escaped() {
        let mut root = leaf("G1", GsnKind::Goal, GsnState::Unsupported);
        root.children = vec![
            leaf("Sn1", GsnKind::Solution, GsnState::Supported),
            leaf("C1", GsnKind::Context, GsnState::Neutral),
            leaf("A1", GsnKind::Assumption, GsnState::Neutral),
        ];
        let svg = render(&root);
        assert!(svg.starts_with("<svg class=\"goal-tree\""));
        assert_eq!(svg.matches("class=\"gsn-node").count(), 4);
        assert_eq!(svg.matches("class=\"gsn-edge\"").count(), 3);
        assert_eq!(svg.matches("url(#context)").count(), 2, "context and assumption edges are hollow");
        assert!(svg.contains("x &amp; &lt;y&gt;") && !svg.contains("<y>"));
        let rows = 3.0;
        assert!(svg.contains(&format!("height=\"{:.0}\"", MARGIN * 2.0 + rows * (HEIGHT + ROW_GAP))));
        assert!(
            svg.contains(&format!("<rect x=\"{MARGIN:.1}\" y=\"{MARGIN:.1}\"")),
            "the goal sits level with its first child"
        );
    }

    #[test]
    fn long_text_wraps_and_is_cut_with_an_ellipsis() {
        let lines = wrap(&"word ".repeat(40), 2);
        assert_eq!(lines.len(), 2);
        assert!(lines[1].ends_with('…'));
        assert!(lines.iter().all(|line| line.chars().count() <= LINE_CHARACTERS));
        assert_eq!(wrap("short", 2), ["short"]);
    }
}
