//! The HTML report in a real browser: headless Chromium opens it, takes a screenshot that is
//! not blank, and its render check reports every table and the goal tree laid out.
//!
//! Chromium is Debian's `chromium` package; `browser::ensure_chromium` installs it with apt
//! when it is missing and the tests run as root (as in CI). Without root and without the
//! browser the test fails and says what to install: a report check that silently does not
//! run is no check.

mod common;

use bulkhead_trace::browser;
use common::Fixture;

#[test]
fn the_report_renders_in_headless_chromium() {
    let chromium =
        browser::ensure_chromium().unwrap_or_else(|error| panic!("the browser test needs Chromium: {error}"));
    let fixture = Fixture::new("browser");
    fixture.trace();
    let seen =
        browser::check_html(&chromium, &fixture.path("target/trace/trace.html"), &fixture.path("target/browser"))
            .unwrap();
    println!("{seen:#?}");
    assert_eq!(seen.size, browser::WINDOW, "the screenshot has the window's size");
    assert!(seen.distinct_colours > 16, "the screenshot looks blank: {} colours", seen.distinct_colours);
    assert!(seen.foreground_fraction > 0.02, "the screenshot is nearly all background: {}", seen.foreground_fraction);
    assert!(seen.render.tables >= 10, "report tables in the DOM: {}", seen.render.tables);
    assert_eq!(seen.render.laid_out_tables, seen.render.tables, "every table is laid out with a height");
    let expected_nodes = std::fs::read_to_string(fixture.path("target/trace/goal-tree.svg"))
        .unwrap()
        .matches("class=\"gsn-node")
        .count();
    assert_eq!(seen.render.goal_tree_nodes as usize, expected_nodes, "every goal-tree node is in the rendered DOM");
    assert!(
        seen.render.goal_tree_width > 200 && seen.render.goal_tree_height > 50,
        "the goal tree has a size: {:?}",
        seen.render
    );
}
