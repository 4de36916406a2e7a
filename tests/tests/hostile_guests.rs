//! Guests that do what issue 14's attacker did, one finding at a time, each on its own cores
//! beside the others:
//!
//! - `alpha` (2 vCPUs): vCPU 1 calls PSCI `SYSTEM_RESET` after every second heartbeat; the
//!   partition must restart every time (it used to end stopped). Each life it also probes
//!   the cycle counter (must read 0) and runs the EL1 physical timer (must fire).
//! - `beta` (`{ restart = 2 }`): faults after two heartbeats, every life: restarted twice,
//!   then halted.
//! - `gamma` (inject-abort): a store outside its RAM (the injected abort must carry WnR = 1),
//!   then its vectors moved to unmapped memory and a fault: a nested-fault loop the
//!   hypervisor must end with one report and the partition's policy.
//!
//! A second system powers two partitions off to check the refusal-counter line.

use std::time::Duration;

use bulkhead_qemu_tests::{TestSystem, Transcript};

const HOSTILE_GUESTS: &str = r#"
[system]
board = "qemu-virt"

[[partition]]
name = "alpha"
image = { crate = "heartbeat" }
memory = { size = "64MiB" }
cpus = [0, 1]
bootargs = "reset-from-vcpu1-after=2 pmu-probe=1 physical-timer=2"
fault_policy = "inject-abort"
console = "virtual"

[[partition]]
name = "beta"
image = { crate = "heartbeat" }
memory = { size = "64MiB" }
cpus = [2]
bootargs = "fault-after=2"
fault_policy = { restart = 2 }
console = "virtual"

[[partition]]
name = "gamma"
image = { crate = "heartbeat" }
memory = { size = "32MiB" }
cpus = [3]
bootargs = "store-fault-after=1 garbage-vectors-after=2"
fault_policy = "inject-abort"
console = "virtual"
"#;

/// The system above, built once per test process.
fn hostile_guests() -> TestSystem {
    TestSystem::from_manifest_text("hostile-guests", HOSTILE_GUESTS)
}

/// How many complete lines contain `pattern`.
fn count(transcript: &Transcript, pattern: &str) -> usize {
    transcript.complete_lines().iter().filter(|line| line.contains(pattern)).count()
}

/// The index of the line where alpha's fourth life begins.
fn fourth_life(transcript: &Transcript) -> Option<usize> {
    transcript
        .complete_lines()
        .iter()
        .enumerate()
        .filter(|(_, line)| line.starts_with("[alpha] hello from"))
        .nth(3)
        .map(|(index, _)| index)
}

// [itest->swr~psci-emulation~1] [itest->swr~restart-policy~1]
#[test]
fn system_reset_from_a_secondary_vcpu_restarts_the_partition_every_time() {
    let session = hostile_guests().boot();
    // Three resets by vCPU 1, then a fourth life that beats again.
    let transcript = session.wait_until("alpha's fourth life beating", Duration::from_secs(90), |transcript| {
        let resets = count(transcript, "[hv] alpha: reset (PSCI SYSTEM_RESET)");
        let lives = fourth_life(transcript)?;
        (resets >= 3 && !transcript.heartbeats_after("alpha", lives).is_empty()).then(|| transcript.clone())
    });
    assert!(
        count(&transcript, "[alpha] vCPU 1 resets the partition") >= 3,
        "vCPU 1 did not ask for the resets:\n{}",
        session.report()
    );
    let stopped: Vec<&str> = transcript
        .lines_of("hv")
        .into_iter()
        .filter(|line| line.starts_with("alpha: powered off") || line.starts_with("alpha: halted"))
        .collect();
    assert!(stopped.is_empty(), "alpha stopped instead of restarting: {stopped:?}\n{}", session.report());
    assert!(
        count(&transcript, "[alpha] vCPU 1 online at EL1") >= 4,
        "vCPU 1 did not come back in every life:\n{}",
        session.report()
    );
}

// [itest->swr~restart-policy~1] [itest->swr~other-partitions-continue~1]
#[test]
fn restart_policy_restarts_twice_then_halts() {
    let session = hostile_guests().boot();
    let transcript = session.wait_for_within("[hv] beta: restart limit 2 reached: halted", Duration::from_secs(60));
    for expected in ["[hv] beta: restarting (1 of 2)", "[hv] beta: restarting (2 of 2)"] {
        assert_eq!(count(&transcript, expected), 1, "expected `{expected}` once:\n{}", session.report());
    }
    assert_eq!(count(&transcript, "[beta] hello from"), 3, "beta should have lived three times:\n{}", session.report());
    let halted = transcript.line_index("[hv] beta: restart limit").expect("just waited for it");
    let gamma_or_alpha_beats = transcript.heartbeats("alpha").len();
    let transcript = session.wait_until("alpha beating on after beta halted", Duration::from_secs(30), |transcript| {
        (transcript.heartbeats("alpha").len() >= gamma_or_alpha_beats + 3).then(|| transcript.clone())
    });
    let beta_after: Vec<&str> =
        transcript.complete_lines()[halted + 1..].iter().copied().filter(|line| line.starts_with("[beta] ")).collect();
    assert!(beta_after.is_empty(), "beta printed after it was halted: {beta_after:?}\n{}", session.report());
}

// [itest->swr~stage2-fault-contained~1]
#[test]
fn an_injected_abort_for_a_store_says_write() {
    let session = hostile_guests().boot();
    let transcript = session.wait_for("[gamma] caught data abort at 0x100000000");
    let line = transcript
        .lines_of("gamma")
        .into_iter()
        .find(|line| line.starts_with("caught data abort"))
        .expect("just waited for it");
    let esr = bulkhead_qemu_tests::transcript::hex_after(line, "(ESR ").expect("the line has an ESR");
    assert_eq!(esr >> 26, 0x25, "not a data abort from EL1: {line}");
    assert_eq!(esr & (1 << 6), 1 << 6, "WnR is 0 for a store: {line}");
    assert_eq!(esr & 0x3f, 0x10, "not a synchronous external abort: {line}");
}

// [itest->swr~stage2-fault-contained~1] [itest->swr~other-partitions-continue~1]
#[test]
fn a_nested_fault_loop_is_stopped_by_the_policy_with_one_report() {
    let session = hostile_guests().boot();
    let transcript = session.wait_for_within("[hv] gamma: halted by its fault policy", Duration::from_secs(60));
    let moved = transcript.line_index("[gamma] vectors moved to").unwrap_or_else(|| {
        session.fail("gamma was halted before it moved its vectors");
    });
    let alpha_beats = transcript.heartbeats("alpha").len();
    // Let the loop run on if it were not stopped: a second of alpha's heartbeats.
    let transcript = session.wait_until("alpha beating on after gamma halted", Duration::from_secs(30), |transcript| {
        (transcript.heartbeats("alpha").len() >= alpha_beats + 10).then(|| transcript.clone())
    });
    let gamma_reports: Vec<&str> = transcript.complete_lines()[moved + 1..]
        .iter()
        .copied()
        .filter(|line| line.starts_with("[hv] gamma:"))
        .collect();
    assert_eq!(
        gamma_reports.iter().filter(|line| line.contains("fault storm")).count(),
        1,
        "expected one fault-storm report, got: {gamma_reports:?}\n{}",
        session.report()
    );
    // The first fault's own report, the storm, the halt: nothing repeating.
    assert!(gamma_reports.len() <= 3, "the loop was reported line by line: {gamma_reports:?}\n{}", session.report());
}

// [itest->swr~virtual-timer-interrupt~1] [itest->swr~other-partitions-continue~1]
#[test]
fn the_guest_cycle_counter_reads_zero_and_the_physical_timer_fires() {
    let session = hostile_guests().boot();
    let transcript = session.wait_for("[alpha] physical timer 2");
    let pmu = transcript
        .lines_of("alpha")
        .into_iter()
        .find(|line| line.starts_with("pmu: "))
        .unwrap_or_else(|| session.fail("alpha did not report its PMU probe"));
    assert_eq!(pmu, "pmu: PMCCNTR_EL0 0x0 then 0x0", "the guest counts cycles:\n{}", session.report());
    assert!(
        transcript.lines_of("alpha").iter().all(|line| !line.starts_with("physical timer: ")),
        "the physical timer was unavailable:\n{}",
        session.report()
    );
}

const POWER_OFF_WITH_REFUSALS: &str = r#"
[system]
board = "qemu-virt"

[[partition]]
name = "alpha"
image = { crate = "heartbeat" }
memory = { size = "64MiB" }
cpus = [0, 1]
bootargs = "heartbeats=3"
fault_policy = "inject-abort"
console = "virtual"

[[partition]]
name = "beta"
image = { crate = "heartbeat" }
memory = { size = "64MiB" }
cpus = [2]
bootargs = "fault-after=1 store-fault-after=2 heartbeats=3"
fault_policy = "inject-abort"
console = "virtual"
"#;

// [itest->swr~psci-emulation~1] [itest->swr~stage2-fault-contained~1]
#[test]
fn system_off_reports_the_refusal_counters_once() {
    let system = TestSystem::from_manifest_text("power-off-with-refusals", POWER_OFF_WITH_REFUSALS);
    let session = system.boot();
    let transcript = session.wait_until("both partitions' counter lines", Duration::from_secs(60), |transcript| {
        (count(transcript, "[hv] alpha: refused ") >= 1 && count(transcript, "[hv] beta: refused ") >= 1)
            .then(|| transcript.clone())
    });
    let lines = transcript.lines_of("hv");
    let alpha: Vec<&&str> = lines.iter().filter(|line| line.starts_with("alpha: refused ")).collect();
    let beta: Vec<&&str> = lines.iter().filter(|line| line.starts_with("beta: refused ")).collect();
    assert_eq!(alpha, [&"alpha: refused sysreg=0 psci=0 mmio=0 stage2=0 sgi=0 smccc=0"], "{}", session.report());
    assert_eq!(beta, [&"beta: refused sysreg=0 psci=0 mmio=0 stage2=2 sgi=0 smccc=0"], "{}", session.report());
}
