//! The default system (`partitions/demo.toml`) on QEMU `virt`: two partitions start on the
//! physical cores their manifest pins, run side by side, share the console without mixing
//! lines, and `beta`'s deliberate fault is contained to `beta`.
//!
//! Each test boots its own QEMU, so a failure in one never explains away another.

use std::time::Duration;

use bulkhead_qemu_tests::session::DEFAULT_WAIT;
use bulkhead_qemu_tests::transcript::{LineShapes, hex_after, parse_hex_prefix};
use bulkhead_qemu_tests::{Handoff, TestSystem, Transcript};
use xtask::paths::Repository;

/// What the `heartbeat` guest prints on its console in the demo (no `heartbeats=` or
/// `channel-write=` bootargs, so no `done` and no channel lines).
const HEARTBEAT_LINES: &[&str] = &[
    "hello from {name} on vCPU {n} at EL{n}",
    "vCPU {n} online at EL{n}",
    "heartbeat {n}",
    "received '{char}'",
];

/// The hypervisor's plain-text messages the demo may print: the boot summary, where the boot
/// seeds come from (`image/src/entropy.rs`: a board's RNG, or the Raspberry Pi 4's
/// iproc-rng200 left alone because QEMU passes no firmware device tree, then the fallback),
/// `beta`'s stage-2 fault and console focus changes. A halt or restart line has no place here:
/// both partitions run under `inject-abort`.
const HYPERVISOR_LINES: &[&str] = &[
    "Bulkhead hypervisor on {name}: {n} partitions, {n} cores",
    "boot seeds: from {name}, through a ChaCha20 generator per partition",
    "boot seeds: {name} not used: the firmware passed no device tree",
    "boot seeds: no hardware RNG: kaslr-seed from the counter (not secret), rng-seed withheld",
    "{name}: {n} MiB at {hex}, cores [{list}], VMID {n}",
    "{name}: stage-2 fault at IPA {hex} (pc {hex})",
    "console input now goes to {name}",
];

/// Every console line the demo may print, whole: each source's own line shapes.
fn demo_line_shapes() -> LineShapes {
    let beta: Vec<&str> = HEARTBEAT_LINES
        .iter()
        .copied()
        .chain(["caught data abort at {hex} (ESR {hex})"])
        .collect();
    LineShapes::new()
        .source("alpha", HEARTBEAT_LINES)
        .source("beta", &beta)
        .source("hv", HYPERVISOR_LINES)
}

/// Where one vCPU runs: the partition, the vCPU, the physical core (index into the board's
/// cores) and that core's MPIDR affinity.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Placement {
    partition: String,
    vcpu: usize,
    core: usize,
    mpidr: u64,
}

/// The pinning `partitions/demo.toml` asks for, with each core's MPIDR affinity from the
/// board's device tree (itself checked against QEMU by `board_dts_matches_qemu`), and how
/// many cores the board has.
fn manifest_pinning() -> (Vec<Placement>, usize) {
    let handoff = Handoff::from_environment();
    let repository = Repository::locate();
    let spec = match bulkhead_config::load(&handoff.manifest, repository.root()) {
        Ok(spec) => spec,
        Err(diagnostics) => panic!("{}: {diagnostics:#}", handoff.manifest.display()),
    };
    let cores = &spec.board().cores;
    let mut pinning: Vec<Placement> = spec
        .partitions()
        .iter()
        .flat_map(|partition| {
            partition
                .cpus
                .iter()
                .take(partition.vcpus)
                .enumerate()
                .map(|(vcpu, &core)| Placement {
                    partition: partition.name.clone(),
                    vcpu,
                    core,
                    mpidr: cores.get(core).map_or(u64::MAX, |info| info.mpidr),
                })
        })
        .collect();
    pinning.sort();
    (pinning, cores.len())
}

/// Reads the hypervisor's log line for a vCPU entry:
/// `<partition>: vCPU <v> entered on core <c> (MPIDR affinity 0x<m>)`.
fn entry_placement(message: &str) -> Option<Placement> {
    let (partition, rest) = message.split_once(": vCPU ")?;
    let (vcpu, rest) = rest.split_once(" entered on core ")?;
    let (core, rest) = rest.split_once(" (MPIDR affinity ")?;
    let mpidr = parse_hex_prefix(rest.strip_suffix(')')?)?;
    Some(Placement {
        partition: partition.to_owned(),
        vcpu: vcpu.parse().ok()?,
        core: core.parse().ok()?,
        mpidr,
    })
}

/// `beta` is the second partition of the demo manifest.
const BETA: u8 = 2;
/// `alpha` is the first.
const ALPHA: u8 = 1;

/// How long to wait for a few heartbeats (they come every 100 ms of guest time; emulation
/// can be much slower on a loaded CI machine).
const FEW_HEARTBEATS: Duration = Duration::from_secs(30);

// [itest->swr~arm64-boot-protocol~1]
#[test]
fn both_partitions_print_their_banner_at_el1() {
    let session = TestSystem::demo().boot();
    session.wait_for("[alpha] hello from alpha on vCPU 0 at EL1");
    session.wait_for("[beta] hello from beta on vCPU 0 at EL1");
}

// [itest->swr~vcpu-pinning~1]
#[test]
fn each_vcpu_runs_on_the_physical_core_the_manifest_pins() {
    let (expected, board_cores) = manifest_pinning();
    // The demo's pinning, stated here too: a manifest edit must not silently change what
    // this test proves.
    let demo: Vec<(&str, usize, usize)> = expected
        .iter()
        .map(|placement| (placement.partition.as_str(), placement.vcpu, placement.core))
        .collect();
    assert_eq!(demo, [("alpha", 0, 0), ("alpha", 1, 1), ("beta", 0, 2)]);
    // A core no partition owns runs no vCPU: it parks.
    let unowned: Vec<usize> = (0..board_cores)
        .filter(|core| expected.iter().all(|placement| placement.core != *core))
        .collect();
    let session = TestSystem::demo().boot();
    // vCPU 1 of alpha is entered only when alpha starts it with PSCI CPU_ON.
    session.wait_for("[alpha] vCPU 1 online at EL1");
    let entered = session.wait_for_log(
        "an entry line for every vCPU of the manifest and a parked line for every other core",
        DEFAULT_WAIT,
        |log| {
            let mut entered: Vec<Placement> = log
                .iter()
                .filter_map(|message| entry_placement(message))
                .collect();
            entered.sort();
            let all = expected.iter().all(|wanted| {
                entered.iter().any(|seen| {
                    (seen.partition.as_str(), seen.vcpu) == (wanted.partition.as_str(), wanted.vcpu)
                })
            });
            let parked = unowned.iter().all(|core| {
                log.iter()
                    .any(|message| message == &format!("core {core} has no vCPU: parked"))
            });
            (all && parked).then_some(entered)
        },
    );
    if entered != expected {
        session.fail(&format!(
            "vCPUs ran on other physical cores than the manifest pins them to:
               manifest (core, MPIDR from the board): {expected:?}
               hypervisor (core, MPIDR_EL1 read at EL2):  {entered:?}"
        ));
    }
}

// [itest->swr~psci-emulation~1]
#[test]
fn alpha_second_vcpu_comes_online_through_psci_cpu_on() {
    let session = TestSystem::demo().boot();
    session.wait_for("[alpha] vCPU 1 online at EL1");
    let transcript = session.transcript();
    let banner = transcript
        .line_index("[alpha] hello from alpha on vCPU 0")
        .expect("banner before secondary");
    let online = transcript
        .line_index("[alpha] vCPU 1 online")
        .expect("just waited for it");
    assert!(
        banner < online,
        "vCPU 1 came online before vCPU 0 started it:\n{}",
        session.report()
    );
}

// [itest->swr~virtual-timer-interrupt~1]
#[test]
fn heartbeats_advance_in_both_partitions() {
    let session = TestSystem::demo().boot();
    let transcript = session.wait_until(
        "three heartbeats from alpha and from beta",
        FEW_HEARTBEATS,
        |transcript| {
            (transcript.heartbeats("alpha").len() >= 3 && transcript.heartbeats("beta").len() >= 3)
                .then(|| transcript.clone())
        },
    );
    for partition in ["alpha", "beta"] {
        let beats = transcript.heartbeats(partition);
        assert!(
            beats.windows(2).all(|pair| pair[1] == pair[0] + 1) && beats.first() == Some(&1),
            "{partition}'s heartbeats are not 1, 2, 3, …: {beats:?}\n{}",
            session.report()
        );
    }
}

/// The line the hypervisor prints when `beta` reads outside its stage-2 map.
fn beta_fault_line(transcript: &Transcript) -> Option<usize> {
    transcript.line_index("[hv] beta: stage-2 fault at IPA 0x")
}

// [itest->swr~stage2-exact-map~1] [itest->swr~stage2-fault-contained~1]
#[test]
fn beta_fault_is_reported_by_the_hypervisor_and_caught_by_beta() {
    let session = TestSystem::demo().boot();
    let transcript = session.wait_for("[beta] caught data abort at 0x");
    let Some(fault) = beta_fault_line(&transcript) else {
        session.fail("beta caught an abort but the hypervisor reported no stage-2 fault for it");
    };
    let caught = transcript
        .line_index("[beta] caught data abort at 0x")
        .expect("just waited for it");
    assert!(
        fault < caught,
        "the abort reached beta before the hypervisor reported the fault:\n{}",
        session.report()
    );
    let lines = transcript.complete_lines();
    let reported_ipa = hex_after(lines[fault], "at IPA ");
    let seen_address = hex_after(lines[caught], "caught data abort at ");
    assert!(
        reported_ipa.is_some() && reported_ipa == seen_address,
        "the hypervisor reported IPA {reported_ipa:x?}, beta saw a fault at {seen_address:x?}:\n{}",
        session.report()
    );
    assert_eq!(
        transcript.heartbeats("beta").first(),
        Some(&1),
        "beta did not run before faulting:\n{}",
        session.report()
    );
}

// [itest->swr~other-partitions-continue~1]
#[test]
fn alpha_keeps_running_after_beta_faults() {
    let session = TestSystem::demo().boot();
    let transcript = session.wait_until(
        "the hypervisor's report of beta's fault",
        FEW_HEARTBEATS,
        |transcript| beta_fault_line(transcript).map(|_| transcript.clone()),
    );
    let fault = beta_fault_line(&transcript).expect("just waited for it");
    let before = transcript.complete_lines()[..fault]
        .iter()
        .filter_map(|line| line.strip_prefix("[alpha] heartbeat ")?.parse::<u64>().ok())
        .max()
        .unwrap_or(0);
    session.wait_until(
        "five more alpha heartbeats after beta's fault",
        FEW_HEARTBEATS,
        |transcript| {
            transcript
                .heartbeats_after("alpha", fault)
                .into_iter()
                .max()
                .filter(|latest| *latest >= before + 5)
        },
    );
}

// [itest->swr~console-lines-prefixed~1]
#[test]
fn console_lines_are_never_interleaved() {
    let session = TestSystem::demo().boot();
    session.wait_for("[beta] caught data abort at 0x");
    let transcript = session.wait_until(
        "ten heartbeats from both partitions",
        FEW_HEARTBEATS,
        |transcript| {
            (transcript.heartbeats("alpha").len() >= 10
                && transcript.heartbeats("beta").len() >= 10)
                .then(|| transcript.clone())
        },
    );
    let foreign = transcript.lines_not_matching(&demo_line_shapes());
    assert!(
        foreign.is_empty(),
        "console lines that are not exactly one line of [alpha], [beta] or [hv] (mixed \
         output, or text nobody should print): {foreign:?}\n{}",
        session.report()
    );
}

// [itest->swr~console-input-focus~1]
#[test]
fn ctrl_t_moves_console_input_between_partitions() {
    let session = TestSystem::demo().boot();
    session.wait_until(
        "a heartbeat from both partitions (consoles listening)",
        FEW_HEARTBEATS,
        |transcript| {
            (!transcript.heartbeats("alpha").is_empty()
                && !transcript.heartbeats("beta").is_empty())
            .then_some(())
        },
    );
    session.focus_partition(BETA);
    session.send_input(b"x");
    session.wait_for("[beta] received 'x'");
    session.focus_partition(ALPHA);
    session.send_input(b"y");
    session.wait_for("[alpha] received 'y'");
    let transcript = session.transcript();
    assert!(
        !transcript.contains("[alpha] received 'x'") && !transcript.contains("[beta] received 'y'"),
        "input reached the partition without focus:\n{}",
        session.report()
    );
    // Both keep running after handling input (a finished input interrupt once left its
    // list register holding the maintenance interrupt asserted forever).
    let echoed = transcript.line_index("[alpha] received 'y'").unwrap_or(0);
    let transcript = session.wait_until(
        "two more heartbeats from each partition after the input",
        FEW_HEARTBEATS,
        |later| {
            (later.heartbeats_after("alpha", echoed).len() >= 2
                && later.heartbeats_after("beta", echoed).len() >= 2)
                .then(|| later.clone())
        },
    );
    let foreign = transcript.lines_not_matching(&demo_line_shapes());
    assert!(
        foreign.is_empty(),
        "console lines that are not exactly one known line (input echo mixed into output?): {foreign:?}\n{}",
        session.report()
    );
}
