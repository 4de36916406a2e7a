//! Property tests: whatever the compiler accepts is partitioned — host memory (partition RAM,
//! regions, channels, the hypervisor) pairwise disjoint, every core pinned at most once and
//! present, every device and interrupt owned by one partition, every partition's IPA map
//! free of overlaps — and no input makes it panic.
//!
//! Manifests are generated from plausible pieces (sizes that are sometimes misaligned, bases
//! that sometimes overlap, cores that sometimes repeat, real device nodes of `qemu-virt`,
//! channels between random partitions), so both acceptance and rejection are exercised.
//!
//! Verifies: [utest->dsn~config-checks~1]

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::OnceLock;

use bulkhead_config::devices::MmioMap;
use bulkhead_config::{AddressRange, Board, Diagnostics, SystemSpec, load_text};
use bulkhead_core::layout::{RAM_BASE, VGICD_BASE, VGICR_BASE, VUART_BASE};
use common::repo_root;
use proptest::prelude::*;

fn qemu_virt() -> &'static Board {
    static BOARD: OnceLock<Board> = OnceLock::new();
    BOARD.get_or_init(|| {
        let mut diagnostics = Diagnostics::new();
        let directory = Board::directory_of(&repo_root(), "qemu-virt").unwrap();
        Board::load(&directory, &mut diagnostics).expect("qemu-virt loads")
    })
}

/// Devices of qemu-virt: passable ones, ones sharing pages, hypervisor-owned, unsupported.
const DEVICES: &[&str] = &[
    "/pl061@9030000",
    "/pl031@9010000",
    "/fw-cfg@9020000",
    "/virtio_mmio@a000000",
    "/virtio_mmio@a000200",
    "/virtio_mmio@a001000",
    "serial1",
    "/flash@0",
    "/pmu",
];

/// Valid sizes first (`0x401000` only warns), then sizes some check rejects.
const SIZES: &[&str] = &[
    "4MiB", "16MiB", "64MiB", "0x401000", "2MiB", "1GiB", "0x123",
];
const VALID_SIZES: usize = 4;
const BASES: &[&str] = &[
    "0x4200_0000",
    "0x4400_0000",
    "0x4410_0000",
    "0x4000_0000",
    "0x7e00_0000",
    "0x5000_0000",
];

#[derive(Clone, Debug)]
struct PartitionPlan {
    size: usize,
    base: Option<usize>,
    /// How many cores to take from the system's shuffled cores, and an extra core number
    /// (maybe absent from the board, maybe another partition's).
    cores: usize,
    extra_core: Option<usize>,
    devices: Vec<usize>,
    interrupts: Vec<u32>,
    region: Option<(usize, Option<u64>)>,
}

#[derive(Clone, Debug)]
struct ChannelPlan {
    size: usize,
    base: Option<usize>,
    ends: Vec<(usize, bool)>,
    doorbell: bool,
}

fn size() -> impl Strategy<Value = usize> {
    prop_oneof![12 => 0..VALID_SIZES, 1 => VALID_SIZES..SIZES.len()]
}

fn partition_plan() -> impl Strategy<Value = PartitionPlan> {
    (
        (size(), prop::option::weighted(0.1, 0..BASES.len())),
        (1..3usize, prop::option::weighted(0.1, 0..5usize)),
        prop::collection::vec(prop_oneof![8 => 0..3usize, 1 => 3..DEVICES.len()], 0..2),
        prop::collection::vec(
            prop_oneof![8 => 41u32..48, 1 => Just(33u32), 1 => Just(39u32)],
            0..2,
        ),
        prop::option::weighted(
            0.3,
            (
                size(),
                prop::option::weighted(
                    0.2,
                    prop_oneof![Just(0x8000_0000u64), Just(0x0900_0000), Just(0x4000_0000)],
                ),
            ),
        ),
    )
        .prop_map(
            |((size, base), (cores, extra_core), devices, interrupts, region)| PartitionPlan {
                size,
                base,
                cores,
                extra_core,
                devices,
                interrupts,
                region,
            },
        )
}

fn channel_plan() -> impl Strategy<Value = ChannelPlan> {
    (
        size(),
        prop::option::weighted(0.1, 0..BASES.len()),
        prop::collection::vec((0..3usize, any::<bool>()), 1..4),
        any::<bool>(),
    )
        .prop_map(|(size, base, ends, doorbell)| ChannelPlan {
            size,
            base,
            ends,
            doorbell,
        })
}

/// A system: partitions, channels, and the board's cores in the order they are handed out.
fn system_plan() -> impl Strategy<Value = (Vec<PartitionPlan>, Vec<ChannelPlan>, Vec<usize>)> {
    (
        prop::collection::vec(partition_plan(), 1..4),
        prop::collection::vec(channel_plan(), 0..3),
        Just(vec![0usize, 1, 2, 3]).prop_shuffle(),
    )
}

fn manifest_text(
    partitions: &[PartitionPlan],
    channels: &[ChannelPlan],
    cores: &[usize],
) -> String {
    let mut text = String::from("[system]\nboard = \"qemu-virt\"\n");
    let mut free_cores = cores.iter().copied();
    for (index, plan) in partitions.iter().enumerate() {
        let mut cpus: Vec<usize> = free_cores
            .by_ref()
            .take(
                plan.cores
                    .min(if index + 1 == partitions.len() { 4 } else { 1 }),
            )
            .collect();
        cpus.extend(plan.extra_core);
        text.push_str(&format!(
            "\n[[partition]]\nname = \"p{index}\"\nimage = {{ crate = \"guest\" }}\nmemory = {{ size = \"{}\"{} }}\ncpus = {:?}\n",
            SIZES[plan.size],
            plan.base.map_or_else(String::new, |base| format!(", base = \"{}\"", BASES[base])),
            cpus
        ));
        let devices: Vec<String> = plan
            .devices
            .iter()
            .map(|device| format!("{:?}", DEVICES[*device]))
            .collect();
        text.push_str(&format!(
            "devices = [{}]\ninterrupts = {:?}\n",
            devices.join(", "),
            plan.interrupts
        ));
        if let Some((size, ipa)) = plan.region {
            text.push_str(&format!(
                "\n[[partition.region]]\nname = \"r{index}\"\nsize = \"{}\"\n{}",
                SIZES[size],
                ipa.map_or_else(String::new, |ipa| format!("ipa = {ipa:#x}\n"))
            ));
        }
    }
    for (index, plan) in channels.iter().enumerate() {
        let ends: Vec<String> = plan
            .ends
            .iter()
            .map(|(partition, writes)| {
                format!("p{partition} = \"{}\"", if *writes { "rw" } else { "ro" })
            })
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        text.push_str(&format!(
            "\n[[channel]]\nname = \"c{index}\"\nsize = \"{}\"\n{}access = {{ {} }}\ndoorbell = {}\n",
            SIZES[plan.size],
            plan.base.map_or_else(String::new, |base| format!("base = \"{}\"\n", BASES[base])),
            ends.join(", "),
            plan.doorbell
        ));
    }
    text
}

/// Every host-physical range the system claims, with its owner.
fn host_claims(spec: &SystemSpec) -> Vec<(AddressRange, String)> {
    let mut claims = vec![(spec.board().hypervisor, "hypervisor".to_owned())];
    for partition in spec.partitions() {
        claims.push((partition.ram, format!("{} RAM", partition.name)));
        for region in &partition.regions {
            claims.push((
                region.host,
                format!("{} region {}", partition.name, region.name),
            ));
        }
    }
    for channel in spec.channels() {
        claims.push((channel.memory, format!("channel {}", channel.name)));
    }
    claims
}

fn assert_partitioned(spec: &SystemSpec) {
    let board = spec.board();
    let claims = host_claims(spec);
    for (index, (range, owner)) in claims.iter().enumerate() {
        assert!(
            board.ram_containing(*range).is_some(),
            "{owner} {range} outside RAM"
        );
        for (other, other_owner) in &claims[..index] {
            assert!(
                !range.overlaps(*other),
                "{owner} {range} overlaps {other_owner} {other}"
            );
        }
        assert!(
            MmioMap::new(&board.tree).overlapping(*range).is_empty(),
            "{owner} overlaps a device"
        );
    }
    let mut cores = BTreeSet::new();
    let mut devices: Vec<(String, AddressRange)> = Vec::new();
    let mut interrupts = BTreeSet::new();
    for partition in spec.partitions() {
        for core in partition.cpus.iter() {
            assert!(*core < board.cores.len(), "core {core} does not exist");
            assert!(cores.insert(*core), "core {core} pinned twice");
        }
        assert!(partition.vcpus <= partition.cpus.len());
        for page in &partition.device_pages {
            for (owner, other) in &devices {
                assert!(
                    !page.overlaps(*other),
                    "{} device page {page} overlaps {owner}'s",
                    partition.name
                );
            }
            for hypervisor in board.hypervisor_mmio() {
                assert!(
                    !page.overlaps(hypervisor),
                    "device page {page} is the hypervisor's"
                );
            }
        }
        devices.extend(
            partition
                .device_pages
                .iter()
                .map(|page| (partition.name.clone(), *page)),
        );
        for interrupt in &partition.interrupts {
            assert!(
                interrupt.physical >= 32,
                "private interrupt {} forwarded",
                interrupt.physical
            );
            assert_ne!(interrupt.physical, board.console.uart.intid);
            assert!(
                interrupts.insert(interrupt.physical),
                "INTID {} forwarded twice",
                interrupt.physical
            );
        }
        let mut ipa: Vec<(u64, u64)> = vec![
            (VGICD_BASE.raw(), 0x1_0000),
            (VGICR_BASE.raw(), 0x2_0000 * partition.vcpus as u64),
            (VUART_BASE.raw(), 0x1000),
            (RAM_BASE.raw(), partition.ram.size()),
        ];
        ipa.extend(
            partition
                .device_pages
                .iter()
                .map(|page| (page.base(), page.size())),
        );
        ipa.extend(
            partition
                .regions
                .iter()
                .map(|region| (region.ipa, region.host.size())),
        );
        for endpoint in &partition.endpoints {
            let size = spec.channels()[endpoint.channel].memory.size();
            ipa.push((endpoint.ipa, size));
            if let Some(doorbell) = endpoint.doorbell {
                ipa.push((doorbell.register, 0x1000));
            }
        }
        ipa.sort();
        for pair in ipa.windows(2) {
            assert!(
                pair[0].0 + pair[0].1 <= pair[1].0,
                "{}: IPA overlap {pair:x?}",
                partition.name
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    // [utest->dsn~config-checks~1] [utest->dsn~config-devices~1]
    fn accepted_systems_are_partitioned((partitions, channels, cores) in system_plan()) {
        let text = manifest_text(&partitions, &channels, &cores);
        if let Ok(spec) = load_text("generated.toml", &text, qemu_virt(), Path::new("generated.toml")) {
            assert_partitioned(&spec);
        }
    }

    #[test]
    // [utest->dsn~config-checks~1]
    fn arbitrary_text_never_panics(text in "\\PC{0,400}") {
        let _ = load_text("noise.toml", &text, qemu_virt(), Path::new("noise.toml"));
    }

    #[test]
    // [utest->dsn~config-checks~1]
    fn mutated_manifests_never_panic(
        partitions in prop::collection::vec(partition_plan(), 1..3),
        cut in 0usize..2000,
        insert in "[\\[\\]{}=\",a-z0-9 \n]{0,12}",
    ) {
        let mut text = manifest_text(&partitions, &[], &[0, 1, 2, 3]);
        let at = cut.min(text.len());
        let at = (0..=at).rev().find(|index| text.is_char_boundary(*index)).unwrap_or(0);
        text.insert_str(at, &insert);
        let _ = load_text("mutated.toml", &text, qemu_virt(), Path::new("mutated.toml"));
    }
}

/// The generator must not only produce rejected systems.
#[test]
fn the_generator_reaches_accepted_systems() {
    let plan = PartitionPlan {
        size: 2,
        base: None,
        cores: 1,
        extra_core: None,
        devices: vec![0],
        interrupts: vec![42],
        region: Some((0, None)),
    };
    let other = PartitionPlan {
        devices: vec![1],
        interrupts: vec![],
        ..plan.clone()
    };
    let channel = ChannelPlan {
        size: 0,
        base: None,
        ends: vec![(0, true), (1, false)],
        doorbell: true,
    };
    let text = manifest_text(&[plan, other], &[channel], &[0, 1, 2, 3]);
    let spec = load_text(
        "generated.toml",
        &text,
        qemu_virt(),
        Path::new("generated.toml"),
    )
    .unwrap_or_else(|diagnostics| panic!("{text}\n{diagnostics:#}"));
    assert_partitioned(&spec);
}

/// A property over rejected inputs only would prove nothing: a fair share of generated
/// systems must be accepted (and some rejected).
#[test]
fn the_generator_mixes_accepted_and_rejected_systems() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let strategy = system_plan();
    let mut runner = TestRunner::deterministic();
    let mut accepted = 0;
    let total = 300;
    for _ in 0..total {
        let (partitions, channels, cores) = strategy.new_tree(&mut runner).unwrap().current();
        let text = manifest_text(&partitions, &channels, &cores);
        if load_text(
            "generated.toml",
            &text,
            qemu_virt(),
            Path::new("generated.toml"),
        )
        .is_ok()
        {
            accepted += 1;
        }
    }
    assert!(
        accepted * 10 >= total,
        "only {accepted} of {total} generated systems accepted"
    );
    assert!(accepted < total, "every generated system accepted");
}
