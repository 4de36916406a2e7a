//! Hostile manifests (issue 14): a manifest is untrusted input. Each test here feeds the
//! compiler something a careless or malicious author could write — arithmetic that
//! overflows, a FIFO instead of an image, thousands of partitions, terminal escape sequences
//! in names — and asserts it is rejected with the right check code at the right line, in
//! bounded time and output, never with a panic or a hang.
//!
//! Fixtures live in `tests/fixtures/checks/` (with `# expect:` markers) next to the table of
//! `load_checks.rs`; the tests that need a file system object a fixture cannot hold (a FIFO)
//! or a generated manifest build it here.
//!
//! Verifies: [utest->dsn~config-checks~1]

mod common;

use std::fmt::Write as _;
use std::path::Path;
use std::sync::OnceLock;

use bulkhead_config::{Board, Code, Diagnostics, load_text};
use common::repo_root;

fn qemu_virt() -> &'static Board {
    static BOARD: OnceLock<Board> = OnceLock::new();
    BOARD.get_or_init(|| {
        let mut diagnostics = Diagnostics::new();
        let directory = Board::directory_of(&repo_root(), "qemu-virt").unwrap();
        Board::load(&directory, &mut diagnostics).expect("qemu-virt loads")
    })
}

/// 5000 partitions, each pinned to a core qemu-virt does not have: 5000 errors, of which the
/// rendering draws 20 and counts the rest. (Before the line index and the cap, rendering
/// these took tens of seconds and printed tens of megabytes; the time belongs to a
/// benchmark, so this asserts the counts and the bounded output.)
#[test]
fn thousands_of_errors_are_counted_and_the_rendering_is_capped() {
    const PARTITIONS: usize = 5000;
    let mut text = String::from("[system]\nboard = \"qemu-virt\"\n");
    for index in 0..PARTITIONS {
        write!(
            text,
            "\n[[partition]]\nname = \"p{index}\"\nimage = {{ crate = \"heartbeat\" }}\nmemory = {{ size = \"4MiB\", base = {} }}\ncpus = [9]\n",
            0x4200_0000u64 + ((index as u64 % 200) << 22)
        )
        .unwrap();
    }
    let diagnostics = load_text("many.toml", &text, qemu_virt(), Path::new("many.toml"))
        .expect_err("5000 partitions on missing cores accepted");
    let not_present = diagnostics
        .iter()
        .filter(|diagnostic| diagnostic.code() == Code::CoreNotPresent)
        .count();
    assert_eq!(not_present, PARTITIONS);
    let total = diagnostics.errors().count();
    // Every diagnostic still knows its line (the line index answers each in O(log n)).
    let last = diagnostics
        .iter()
        .filter(|diagnostic| diagnostic.code() == Code::CoreNotPresent)
        .next_back()
        .unwrap();
    assert_eq!(last.line(), Some(2 + 6 * PARTITIONS));
    let rendered = diagnostics.render(false);
    assert_eq!(
        rendered.matches("× ").count(),
        20,
        "exactly 20 errors drawn:\n{rendered}"
    );
    assert!(
        rendered.contains(&format!("... and {} more error(s) not shown", total - 20)),
        "{rendered}"
    );
    assert!(rendered.ends_with(&format!("{total} error(s), 0 warning(s)\n")));
    assert!(rendered.len() < 64 * 1024, "{} bytes rendered", rendered.len());
}

/// A hypervisor at the top of RAM leaves every free byte below it; placement uses it.
#[test]
fn partitions_are_placed_below_a_hypervisor_at_the_top_of_ram() {
    let spec = bulkhead_config::load(&common::fixture("hypervisor-at-top.toml"), &repo_root())
        .unwrap_or_else(|diagnostics| panic!("{diagnostics:#}"));
    assert_eq!(spec.board().hypervisor.base(), 0x7e00_0000);
    let ram: Vec<(u64, u64)> = spec
        .partitions()
        .iter()
        .map(|partition| (partition.ram.base(), partition.ram.size()))
        .collect();
    assert_eq!(ram, [(0x4000_0000, 512 << 20), (0x6000_0000, 256 << 20)]);
    assert_eq!(spec.channels()[0].memory.base(), 0x7000_0000);
}

/// The fuzz target's seeds (`fuzz/seeds/manifest/`) go through the same whole pipeline as the
/// fuzz target — load, render the diagnostics, or check (device trees, footprint, report,
/// picture) — on stable, in every test run.
#[test]
fn the_fuzz_seeds_run_through_the_whole_pipeline() {
    let seeds = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/manifest");
    let mut count = 0;
    for entry in std::fs::read_dir(&seeds).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        count += 1;
        let spec = match load_text("seed.toml", &text, qemu_virt(), Path::new("fuzz/seed.toml")) {
            Ok(spec) => spec,
            Err(diagnostics) => {
                let rendered = diagnostics.render(false);
                assert!(!rendered.contains('\u{1b}'), "{}: raw ESC", path.display());
                continue;
            }
        };
        for index in 0..spec.partitions().len() {
            bulkhead_config::guest_dtb::build(&spec, index)
                .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
        }
        let report = bulkhead_config::check_loaded(
            spec,
            &std::collections::BTreeMap::new(),
            None,
            std::time::Instant::now(),
        )
        .unwrap_or_else(|diagnostics| panic!("{}: {diagnostics:#}", path.display()));
        assert!(!report.to_string().is_empty());
    }
    assert!(count >= 10, "only {count} seeds");
}
