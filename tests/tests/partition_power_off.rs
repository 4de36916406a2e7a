//! PSCI `SYSTEM_OFF` from a guest powers off its partition, not the machine: the other
//! partition keeps running. Uses a variant of the demo system in which `alpha` stops after
//! five heartbeats (`heartbeats=5`) and `beta` does not fault.

use std::time::Duration;

use bulkhead_qemu_tests::TestSystem;

const ALPHA_STOPS_AFTER_FIVE: &str = r#"
[system]
board = "qemu-virt"

[[partition]]
name = "alpha"
image = { crate = "heartbeat" }
memory = { size = "64MiB" }
cpus = [0, 1]
bootargs = "heartbeats=5"
fault_policy = "inject-abort"
console = "virtual"

[[partition]]
name = "beta"
image = { crate = "heartbeat" }
memory = { size = "64MiB" }
cpus = [2]
fault_policy = "inject-abort"
console = "virtual"
"#;

// [itest->swr~psci-emulation~1] [itest->swr~other-partitions-continue~1]
#[test]
fn powered_off_partition_stops_while_the_other_runs_on() {
    let system = TestSystem::from_manifest_text("alpha-stops-after-five", ALPHA_STOPS_AFTER_FIVE);
    let session = system.boot();
    let transcript = session.wait_for("[alpha] done");
    let done = transcript
        .line_index("[alpha] done")
        .expect("just waited for it");
    assert_eq!(
        transcript.heartbeats("alpha"),
        [1, 2, 3, 4, 5],
        "alpha did not stop after five:\n{}",
        session.report()
    );
    let beta_at_stop = transcript.heartbeats("beta").last().copied().unwrap_or(0);
    let transcript = session.wait_until(
        "five more beta heartbeats after alpha powered off",
        Duration::from_secs(60),
        |transcript| {
            let latest = transcript
                .heartbeats_after("beta", done)
                .into_iter()
                .max()?;
            (latest >= beta_at_stop + 5).then(|| transcript.clone())
        },
    );
    let alpha_after: Vec<&str> = transcript.complete_lines()[done + 1..]
        .iter()
        .copied()
        .filter(|line| line.starts_with("[alpha] "))
        .collect();
    assert!(
        alpha_after.is_empty(),
        "alpha printed after powering off: {alpha_after:?}\n{}",
        session.report()
    );
}
