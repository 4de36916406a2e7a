//! `cargo run --release -p bulkhead-config --example bench_check`: how long checking a
//! 64-partition system takes (the budget: well under 100 ms).
//!
//! It writes a synthetic 64-core GICv3 board (one pass-through device per partition) and a
//! manifest with 64 partitions — each with its own core, 64 MiB of RAM, a device, an extra
//! interrupt, a region and a channel with a doorbell to its neighbour — into a temporary
//! repository, then times [`bulkhead_config::check`] end to end (board DTS compiled with
//! `dtc`, manifest parsed, every check, 64 guest device trees, report and SVG written).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use bulkhead_config::{CheckOptions, check};

const PARTITIONS: usize = 64;
const RUNS: usize = 20;

fn board_dts() -> String {
    let mut dts = String::from(
        "/dts-v1/;\n/ {\n\t#address-cells = <2>;\n\t#size-cells = <2>;\n\tinterrupt-parent = <&gic>;\n\tcompatible = \"bulkhead,bench\";\n\n\tpsci {\n\t\tcompatible = \"arm,psci-1.0\";\n\t\tmethod = \"smc\";\n\t};\n\n\tmemory@40000000 {\n\t\tdevice_type = \"memory\";\n\t\treg = <0x0 0x40000000 0x2 0x0>;\n\t};\n\n\tcpus {\n\t\t#address-cells = <1>;\n\t\t#size-cells = <0>;\n",
    );
    for core in 0..PARTITIONS {
        let _ = write!(
            dts,
            "\t\tcpu@{core:x} {{\n\t\t\tdevice_type = \"cpu\";\n\t\t\tcompatible = \"arm,cortex-a72\";\n\t\t\treg = <{core:#x}>;\n\t\t\tenable-method = \"psci\";\n\t\t}};\n"
        );
    }
    dts.push_str(
        "\t};\n\n\tgic: intc@8000000 {\n\t\tcompatible = \"arm,gic-v3\";\n\t\t#interrupt-cells = <3>;\n\t\tinterrupt-controller;\n\t\treg = <0x0 0x8000000 0x0 0x10000>, <0x0 0x80a0000 0x0 0x800000>;\n\t\tinterrupts = <1 9 4>;\n\t};\n\n\ttimer {\n\t\tcompatible = \"arm,armv8-timer\";\n\t\tinterrupts = <1 13 4>, <1 14 4>, <1 11 4>, <1 10 4>;\n\t};\n\n\tserial@9000000 {\n\t\tcompatible = \"arm,pl011\", \"arm,primecell\";\n\t\treg = <0x0 0x9000000 0x0 0x1000>;\n\t\tinterrupts = <0 1 4>;\n\t};\n",
    );
    for device in 0..PARTITIONS {
        let address = 0x2000_0000 + device * 0x1000;
        let _ = write!(
            dts,
            "\n\tsensor@{address:x} {{\n\t\tcompatible = \"bulkhead,bench-sensor\";\n\t\treg = <0x0 {address:#x} 0x0 0x100>;\n\t\tinterrupts = <0 {} 4>;\n\t}};\n",
            100 + device
        );
    }
    dts.push_str("};\n");
    dts
}

const BOARD_TOML: &str = "name = \"bench64\"\ndts = \"bench64.dts\"\nconsole = \"/serial@9000000\"\nsecondary_boot = \"psci\"\n\n[hypervisor]\nbase = 0x4000_0000\nsize = \"32MiB\"\n\n[qemu]\nmachine = \"virt,virtualization=on,gic-version=3\"\ncpu = \"cortex-a72\"\nsmp = 64\nmemory = \"8G\"\n";

fn manifest_text() -> String {
    let mut text = String::from("[system]\nboard = \"bench64\"\n");
    for index in 0..PARTITIONS {
        let _ = write!(
            text,
            "\n[[partition]]\nname = \"p{index}\"\ncriticality = \"QM\"\nimage = {{ crate = \"guest\" }}\nmemory = {{ size = \"64MiB\" }}\ncpus = [{index}]\ndevices = [\"/sensor@{:x}\"]\ninterrupts = [{}]\nfault_policy = {{ restart = 3 }}\n\n[[partition.region]]\nname = \"calibration\"\nsize = \"64KiB\"\naccess = \"ro\"\n",
            0x2000_0000 + index * 0x1000,
            400 + index
        );
    }
    for index in 0..PARTITIONS {
        let next = (index + 1) % PARTITIONS;
        let _ = write!(
            text,
            "\n[[channel]]\nname = \"link{index}\"\nsize = \"64KiB\"\naccess = {{ p{index} = \"rw\", p{next} = \"ro\" }}\ndoorbell = true\n"
        );
    }
    text
}

fn main() {
    let root = tempfile::tempdir().expect("temporary directory");
    let board = root.path().join("board-configs/bench64");
    std::fs::create_dir_all(&board).expect("board directory");
    std::fs::write(board.join("bench64.dts"), board_dts()).expect("DTS");
    std::fs::write(board.join("board.toml"), BOARD_TOML).expect("board.toml");
    let manifest = root.path().join("bench64.toml");
    std::fs::write(&manifest, manifest_text()).expect("manifest");
    let options = CheckOptions {
        manifest,
        repo_root: root.path().to_path_buf(),
        guest_images: BTreeMap::new(),
        out_dir: Some(root.path().join("out")),
    };
    let mut times: Vec<Duration> = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let started = Instant::now();
        let report = check(&options).unwrap_or_else(|diagnostics| panic!("{diagnostics:#}"));
        times.push(started.elapsed());
        assert_eq!(report.spec.partitions().len(), PARTITIONS);
    }
    let first = times[0];
    times.sort();
    let median = times[RUNS / 2];
    println!(
        "check of {PARTITIONS} partitions, {PARTITIONS} channels, {PARTITIONS} devices ({RUNS} runs): first {:.1} ms, median {:.1} ms, fastest {:.1} ms, slowest {:.1} ms",
        first.as_secs_f64() * 1e3,
        median.as_secs_f64() * 1e3,
        times[0].as_secs_f64() * 1e3,
        times[RUNS - 1].as_secs_f64() * 1e3,
    );
}
