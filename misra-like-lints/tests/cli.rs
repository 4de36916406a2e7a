//! The command line as CI uses it: exit status, rustc-style output and `findings.json`.

use std::path::{Path, PathBuf};
use std::process::Command;

fn tree(name: &str, files: &[(&str, &str)]) -> PathBuf {
    let root = std::env::temp_dir().join(format!(
        "misra-like-lints-cli-{name}-{}",
        std::process::id()
    ));
    let _ignored = std::fs::remove_dir_all(&root);
    for (path, text) in files {
        let full = root.join(path);
        if let Some(parent) = full.parent() {
            std::fs::create_dir_all(parent).unwrap_or_else(|error| panic!("{error}"));
        }
        std::fs::write(full, text).unwrap_or_else(|error| panic!("{error}"));
    }
    root
}

fn checker(root: &Path, extra: &[&str]) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_misra-like-lints"))
        .arg("--root")
        .arg(root)
        .args(extra)
        .output()
        .unwrap_or_else(|error| panic!("{error}"));
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

const MANIFEST: &str = "[package]\nname = \"core\"\nversion = \"0.1.0\"\nedition = \"2024\"\n";

#[test]
fn unjustified_finding_fails_with_rustc_style_output_and_json() {
    let root = tree(
        "fail",
        &[
            ("hypervisor/core/Cargo.toml", MANIFEST),
            (
                "hypervisor/core/src/lib.rs",
                "//! Core.\n#![no_std]\n#![forbid(unsafe_code)]\n\n/// Spins.\npub fn spin() {\n    loop {}\n}\n",
            ),
        ],
    );
    let findings = root.join("findings.json");
    let findings_arg = findings.display().to_string();
    let (status, stdout, stderr) = checker(&root, &["--findings", &findings_arg]);
    assert_eq!(status, 1, "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(
        stdout.contains("error[MLR-10]: `loop` without a `// BOUND:` argument"),
        "{stdout}"
    );
    assert!(
        stdout.contains(" --> hypervisor/core/src/lib.rs:7:5"),
        "{stdout}"
    );
    assert!(stdout.contains("= help: add `// BOUND:"), "{stdout}");

    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&findings).unwrap_or_default())
            .unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(json["schema"], "bulkhead/misra-like-lints/findings");
    assert_eq!(json["schema_version"], 1);
    let loop_finding = json["findings"]
        .as_array()
        .and_then(|all| all.iter().find(|f| f["rule"] == "MLR-10"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(loop_finding["file"], "hypervisor/core/src/lib.rs");
    assert_eq!(loop_finding["line"], 7);
    assert_eq!(loop_finding["column"], 5);
    assert_eq!(loop_finding["severity"], "error");
    assert!(loop_finding["suppressed_by"].is_null());
    assert_eq!(json["summary"]["by_rule"]["MLR-10"]["unjustified"], 1);
    let _ignored = std::fs::remove_dir_all(&root);
}

#[test]
fn justified_findings_pass_and_are_counted_by_rule() {
    let root = tree(
        "pass",
        &[
            ("hypervisor/core/Cargo.toml", MANIFEST),
            (
                "hypervisor/core/src/lib.rs",
                "//! Core.\n#![no_std]\n#![forbid(unsafe_code)]\n\n/// Spins.\npub fn spin() {\n    // DEVIATION(DEV-0001, MLR-10)\n    loop {}\n}\n",
            ),
            (
                "certification/deviations.toml",
                "schema_version = 1\n\n[[deviation]]\nid = \"DEV-0001\"\nrules = [\"MLR-10\"]\nkind = \"deliberate\"\nstatus = \"approved\"\nsummary = \"idle\"\njustification = \"j\"\nverification = \"v\"\npaths = [\"hypervisor/core/src/lib.rs\"]\n",
            ),
        ],
    );
    let findings = root.join("findings.json");
    let findings_arg = findings.display().to_string();
    let (status, stdout, _) = checker(&root, &["--findings", &findings_arg]);
    assert_eq!(status, 0, "{stdout}");
    assert!(
        stdout.contains("deviations used: DEV-0001 (MLR-10 ×1)"),
        "{stdout}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&findings).unwrap_or_default())
            .unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(json["summary"]["deviations_by_rule"]["MLR-10"], 1);
    assert_eq!(json["deviations"][0]["id"], "DEV-0001");
    assert_eq!(json["deviations"][0]["stale"], false);
    let _ignored = std::fs::remove_dir_all(&root);
}

#[test]
fn malformed_register_is_a_tool_error() {
    let root = tree(
        "broken",
        &[(
            "certification/deviations.toml",
            "schema_version = \"one\"\n",
        )],
    );
    let (status, _, stderr) = checker(&root, &[]);
    assert_eq!(status, 2);
    assert!(stderr.contains("deviation register"), "{stderr}");
    let _ignored = std::fs::remove_dir_all(&root);
}
