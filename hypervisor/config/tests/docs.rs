//! `docs/manifest.md` stays true: its complete example uses every key of the language and is
//! accepted as written, and its table lists every diagnostic code.

mod common;

use std::collections::BTreeSet;

use bulkhead_config::{Code, schema};
use common::{debian_dtbs, repo_root};

fn document() -> String {
    std::fs::read_to_string(repo_root().join("docs/manifest.md")).expect("docs/manifest.md")
}

/// The TOML between the complete-example markers.
fn complete_example() -> String {
    marked_example("complete-example")
}

/// The TOML between the `<!-- <name>:begin -->` and `<!-- <name>:end -->` markers.
fn marked_example(name: &str) -> String {
    let text = document();
    let start = text
        .find(&format!("<!-- {name}:begin -->"))
        .expect("begin marker");
    let end = text
        .find(&format!("<!-- {name}:end -->"))
        .expect("end marker");
    let block = &text[start..end];
    let body = block.split_once("```toml\n").expect("toml block").1;
    body.split_once("```").expect("block end").0.to_owned()
}

fn collect_keys(value: &toml::Value, prefix: &str, out: &mut BTreeSet<String>) {
    match value {
        toml::Value::Table(table) => {
            for (key, inner) in table {
                let path = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                out.insert(path.clone());
                if !schema::is_free_map(&path) {
                    collect_keys(inner, &path, out);
                }
            }
        }
        toml::Value::Array(items) => {
            for item in items {
                collect_keys(item, prefix, out);
            }
        }
        _ => {}
    }
}

// [utest->dsn~config-manifest~1]
#[test]
fn the_complete_example_uses_every_key() {
    let example: toml::Value = toml::from_str(&complete_example()).expect("the example is TOML");
    let mut used = BTreeSet::new();
    collect_keys(&example, "", &mut used);
    // `[qemu]` is shown in its own example on the machine it emulates (QEMU `virt`: the ZCU102
    // model has no virtio-mmio transports).
    let qemu: toml::Value = toml::from_str(&marked_example("qemu-example")).expect("the [qemu] example is TOML");
    collect_keys(&qemu, "", &mut used);
    let known: BTreeSet<String> = schema::key_paths()
        .into_iter()
        .filter(|(_, reserved)| !reserved)
        .map(|(path, _)| path)
        .collect();
    let missing: Vec<&String> = known.difference(&used).collect();
    assert!(
        missing.is_empty(),
        "keys the complete example does not show: {missing:?}"
    );
    let unknown: Vec<&String> = used.difference(&known).collect();
    assert!(
        unknown.is_empty(),
        "keys the language does not have: {unknown:?}"
    );
}

// [utest->dsn~config-manifest~1]
#[test]
fn the_complete_example_is_accepted_as_written() {
    debian_dtbs::ensure("zcu102");
    let directory = tempfile::tempdir().unwrap();
    let manifest = directory.path().join("example.toml");
    std::fs::write(&manifest, complete_example()).unwrap();
    std::fs::create_dir_all(directory.path().join("linux")).unwrap();
    std::fs::write(directory.path().join("calibration.bin"), [0x5a; 256]).unwrap();
    std::fs::write(directory.path().join("linux/Image"), b"placeholder").unwrap();
    std::fs::write(directory.path().join("linux/rootfs.cpio.gz"), [0; 4096]).unwrap();
    let spec = bulkhead_config::load(&manifest, &repo_root())
        .unwrap_or_else(|diagnostics| panic!("{diagnostics:#}"));
    let codes: Vec<Code> = spec.warnings().iter().map(|item| item.code()).collect();
    assert_eq!(
        codes,
        [
            Code::DmaWithoutIommu,
            Code::CacheColouringNotEnforced,
            Code::CacheColouringNotEnforced
        ]
    );
    assert_eq!(
        spec.board().hypervisor.size(),
        64 << 20,
        "the override applies"
    );
    assert_eq!(spec.partitions()[0].regions[0].ipa, 0x10_0000_0000);
    assert_eq!(spec.channels().len(), 2);
}

// [utest->dsn~config-checks~1]
#[test]
fn every_code_is_documented() {
    let text = document();
    for code in Code::ALL {
        let row = format!("| {} | {} |", code.id(), code.name());
        assert!(text.contains(&row), "docs/manifest.md has no row `{row}`");
    }
}

// [utest->dsn~config-manifest~1]
#[test]
fn the_qemu_example_is_accepted_as_written() {
    let directory = tempfile::tempdir().unwrap();
    let manifest = directory.path().join("partitions/example.toml");
    std::fs::create_dir_all(directory.path().join("partitions")).unwrap();
    std::fs::create_dir_all(directory.path().join("target/linux-guest")).unwrap();
    std::fs::write(directory.path().join("target/linux-guest/disk.img"), [0; 4096]).unwrap();
    let text = format!(
        "[system]\nboard = \"qemu-virt\"\n\n[[partition]]\nname = \"alpha\"\nimage = {{ crate = \"heartbeat\" }}\nmemory = {{ size = \"16MiB\" }}\ncpus = [0]\n\n{}",
        marked_example("qemu-example")
    );
    std::fs::write(&manifest, text).unwrap();
    let spec = bulkhead_config::load(&manifest, &repo_root())
        .unwrap_or_else(|diagnostics| panic!("{diagnostics:#}"));
    assert_eq!(spec.qemu_disks(), [directory.path().join("partitions/../target/linux-guest/disk.img")]);
    // A disk that is not there is the input-file error, at the line naming it.
    std::fs::remove_file(directory.path().join("target/linux-guest/disk.img")).unwrap();
    let error = bulkhead_config::load(&manifest, &repo_root()).expect_err("a missing disk is an error");
    assert_eq!(error.errors().map(|item| item.code()).collect::<Vec<_>>(), [Code::Io]);
}
