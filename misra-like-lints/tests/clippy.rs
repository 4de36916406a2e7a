//! `--clippy` end to end on a one-file crate: Clippy's type-aware finding replaces the syn
//! approximation, carries the lint name, and an `#[expect]` citing a deviation justifies it.

use misra_like_lints::{Config, Origin, Rule, Settings, run};

const SETTINGS_TAIL: &str = r#"
[[clippy]]
dir = "hypervisor/core"
profile = "strict"
"#;

fn write(root: &std::path::Path, path: &str, text: &str) {
    let full = root.join(path);
    if let Some(parent) = full.parent() {
        std::fs::create_dir_all(parent).unwrap_or_else(|error| panic!("{error}"));
    }
    std::fs::write(full, text).unwrap_or_else(|error| panic!("{error}"));
}

#[test]
fn clippy_findings_replace_approximations_and_honour_expect() {
    let root = std::env::temp_dir().join(format!("misra-like-lints-clippy-{}", std::process::id()));
    let _ignored = std::fs::remove_dir_all(&root);
    write(
        &root,
        "hypervisor/core/Cargo.toml",
        "[package]\nname = \"fixture-core\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n[workspace]\n",
    );
    // `values[0]` on an array of known length is in bounds: the syn pass reports it, Clippy
    // does not, so with Clippy it disappears; the `unwrap` is Clippy's finding, justified.
    write(
        &root,
        "hypervisor/core/src/lib.rs",
        r#"//! Fixture crate.
#![no_std]
#![forbid(unsafe_code)]

/// First of a fixed table.
pub fn first(values: [u32; 4]) -> u32 {
    values[0]
}

/// Unwraps with a deviation.
#[expect(clippy::unwrap_used, reason = "DEV-0001: fixture")]
pub fn unwrapped(value: Option<u32>) -> u32 {
    value.unwrap()
}
"#,
    );
    write(
        &root,
        "certification/deviations.toml",
        "schema_version = 1\n\n[[deviation]]\nid = \"DEV-0001\"\nrules = [\"MLR-03\"]\nkind = \"deliberate\"\nstatus = \"approved\"\nsummary = \"s\"\njustification = \"j\"\nverification = \"v\"\npaths = [\"hypervisor/core/src/lib.rs\"]\nitems = [\"unwrapped\"]\n",
    );
    let mut settings = Settings::builtin();
    settings.clippy.clear();
    let extra = Settings::parse(
        &format!("schema_version = 1\nregister = \"x\"\n{SETTINGS_TAIL}"),
        "test",
    )
    .unwrap_or_else(|error| panic!("{error}"));
    settings.clippy = extra.clippy;

    let syn_only = run(&Config {
        root: root.clone(),
        settings: settings.clone(),
        clippy: false,
        elf: None,
        clippy_environment: Vec::new(),
    })
    .unwrap_or_else(|error| panic!("{error}"));
    assert!(
        syn_only
            .findings
            .iter()
            .any(|f| f.rule == Rule::Indexing && f.start.line == 7)
    );

    let with_clippy = run(&Config {
        root: root.clone(),
        settings,
        clippy: true,
        elf: None,
        clippy_environment: Vec::new(),
    })
    .unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(
        with_clippy.clippy.covered,
        ["hypervisor/core"],
        "{:?}",
        with_clippy.clippy.notes
    );
    assert!(
        !with_clippy
            .findings
            .iter()
            .any(|f| f.rule == Rule::Indexing),
        "{}",
        with_clippy.render(&root, true)
    );
    let unwrap = with_clippy
        .findings
        .iter()
        .find(|f| f.rule == Rule::UnwrapExpect);
    assert_eq!(
        unwrap.and_then(|f| f.suppressed_by.as_deref()),
        Some("DEV-0001")
    );
    assert!(
        !with_clippy
            .findings
            .iter()
            .any(|f| f.origin == Origin::Clippy("unfulfilled_lint_expectations".to_owned())),
        "the expectation is fulfilled by the unwrap"
    );
    assert!(
        with_clippy.passed(false),
        "{}",
        with_clippy.render(&root, true)
    );
    let _ignored = std::fs::remove_dir_all(&root);
}
