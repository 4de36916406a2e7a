//! Temporal isolation of the console path (issue 14): a partition that faults continuously
//! does not slow its neighbour, and the hypervisor's reports of its faults are rate-limited
//! with an exact count of what was suppressed.
//!
//! Both runs use `-icount shift=0,sleep=off`: QEMU's virtual clock advances one nanosecond
//! per instruction, so guest time is deterministic and independent of the host's load.
//! `alpha` samples its heartbeat count at 2 s of guest time (`count-at-ms=2000`); `beta` is
//! quiet in the baseline and a fault storm in the attack (`fault-storm=400`: 400 stage-2
//! faults after each heartbeat, each reported or counted by the hypervisor, for 10
//! heartbeats, then `SYSTEM_OFF`). Before the rings and the rate limit, every fault printed a
//! line byte by byte under the global console lock, which `alpha`'s console path waited on.
//!
//! Every core runs a vCPU (`gamma` takes the two left over): a core the hypervisor parks
//! waits in a `WFE` loop, which QEMU's icount mode executes instruction by instruction, so
//! guest time would crawl; idle guests wait in `WFI`, which lets QEMU skip to the next
//! timer deadline (`sleep=off`).

use std::time::Duration;

use bulkhead_qemu_tests::{BootOptions, TestSystem, Transcript};

/// The system, with `beta`'s bootargs filled in.
fn manifest(beta_bootargs: &str) -> String {
    format!(
        r#"
[system]
board = "qemu-virt"

[[partition]]
name = "alpha"
image = {{ crate = "heartbeat" }}
memory = {{ size = "64MiB" }}
cpus = [0]
bootargs = "count-at-ms=2000"
fault_policy = "inject-abort"
console = "virtual"

[[partition]]
name = "beta"
image = {{ crate = "heartbeat" }}
memory = {{ size = "64MiB" }}
cpus = [2]
bootargs = "{beta_bootargs}"
fault_policy = "inject-abort"
console = "virtual"

[[partition]]
name = "gamma"
image = {{ crate = "heartbeat" }}
memory = {{ size = "64MiB" }}
cpus = [1, 3]
fault_policy = "inject-abort"
console = "virtual"
"#
    )
}

/// Guest time is instructions: deterministic, whatever else the host runs.
fn icount() -> BootOptions {
    BootOptions {
        extra_args: vec!["-icount".to_owned(), "shift=0,sleep=off".to_owned()],
        ..BootOptions::default()
    }
}

/// How long the emulation may take for a few seconds of guest time on a loaded machine.
const PATIENCE: Duration = Duration::from_secs(150);

/// `alpha`'s heartbeat count at 2 s of guest time, and the transcript up to it.
fn alpha_count_at_two_seconds(session: &bulkhead_qemu_tests::QemuSession) -> (u64, Transcript) {
    let transcript = session.wait_for_within("[alpha] heartbeats at 2000 ms: ", PATIENCE);
    let line = transcript
        .complete_lines()
        .into_iter()
        .find(|line| line.starts_with("[alpha] heartbeats at 2000 ms: "))
        .map(str::to_owned)
        .unwrap_or_default();
    let count = line
        .rsplit(": ")
        .next()
        .and_then(|number| number.parse().ok())
        .unwrap_or_else(|| session.fail(&format!("unreadable count line `{line}`")));
    (count, transcript)
}

/// `[hv] beta: stage-2 fault` lines, and the sum of `beta: N more stage-2 faults suppressed`.
fn reported_and_suppressed(transcript: &Transcript) -> (u64, u64) {
    let mut reported = 0;
    let mut suppressed = 0;
    for line in transcript.complete_lines() {
        if line.starts_with("[hv] beta: stage-2 fault at IPA ") {
            reported += 1;
        } else if let Some(rest) = line.strip_prefix("[hv] beta: ") {
            if let Some(number) = rest.strip_suffix(" more stage-2 faults suppressed") {
                suppressed += number.replace(' ', "").parse::<u64>().unwrap_or(0);
            }
        }
    }
    (reported, suppressed)
}

/// The last `storm: N faults` total `beta` printed.
fn storm_total(transcript: &Transcript) -> Option<u64> {
    transcript
        .complete_lines()
        .into_iter()
        .filter_map(|line| line.strip_prefix("[beta] storm: ")?.strip_suffix(" faults")?.parse().ok())
        .max()
}

// [itest->swr~other-partitions-continue~1] [itest->swr~stage2-fault-contained~1]
#[test]
fn a_fault_storm_leaves_the_neighbours_heartbeat_identical_and_its_reports_are_rate_limited() {
    let quiet = TestSystem::from_manifest_text("flood-baseline", &manifest(""));
    let baseline = quiet.boot_with(icount());
    let (expected, _) = alpha_count_at_two_seconds(&baseline);
    drop(baseline);
    assert!(expected >= 19, "the baseline itself is late: {expected} heartbeats by 2 s");

    let attacked = TestSystem::from_manifest_text("flood-attack", &manifest("fault-storm=400 heartbeats=10"));
    let session = attacked.boot_with(icount());
    let (count, _) = alpha_count_at_two_seconds(&session);
    assert_eq!(
        count, expected,
        "alpha's heartbeats at 2 s of guest time differ with beta's fault storm beside it:\n{}",
        session.report()
    );

    // Every fault beta took is either reported or counted in a summary; the summary of the
    // last burst comes once beta's report budget refills (one report per 100 ms).
    let (total, reported, suppressed) = session.wait_until(
        "beta's storm over and every fault accounted for",
        PATIENCE,
        |transcript| {
            transcript.line_index("[beta] done")?;
            let total = storm_total(transcript)?;
            let (reported, suppressed) = reported_and_suppressed(transcript);
            (reported + suppressed == total).then_some((total, reported, suppressed))
        },
    );
    assert_eq!(total, 4000, "beta's storm: 400 faults after each of 10 heartbeats");
    // A burst of 10 plus one per 100 ms for the ~1 s storm and the summaries after it.
    assert!(
        reported <= 40,
        "{reported} fault lines for {total} faults: not rate-limited\n{}",
        session.report()
    );
    assert!(suppressed >= total - 40, "{suppressed} suppressed of {total}");
}
