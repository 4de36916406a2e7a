//! The attacker partition (`partitions/chaos`) beside the heartbeat partition, as
//! `partitions/chaos-demo.toml` describes them: at least 200 000 hostile operations with a
//! fixed seed, and nothing may break, stall or leak.
//!
//! Checked from the console (the checks live in `xtask::chaos`, shared with
//! `cargo xtask soak`): chaos printed its seed first and its `done` line; the hypervisor
//! reported no fault of its own and did not stop chaos; `alpha`'s heartbeats are consecutive,
//! none is missing by its own counter, and the checksum of 1 MiB of its RAM never changed;
//! every console line comes from a known source and no raw control byte got through; and the
//! hypervisor's counter line (`xtask::chaos::HYPERVISOR_COUNTER_LINE`) matches chaos's
//! refused operations category by category. On failure the seed, the tallies and every
//! failed check are printed, followed by the console.

use std::fs;
use std::thread;
use std::time::{Duration, Instant};

use bulkhead_qemu_tests::{BootOptions, TestSystem, Transcript};
use xtask::chaos::{self, ATTACKER, CHAOS_MANIFEST, NEIGHBOUR, Verdict};
use xtask::paths::Repository;

/// The seed CI uses, so a failure replays exactly (`seed=` in chaos's bootargs).
const CI_SEED: u64 = 20_240_614;
/// Operations the attacker runs.
const OPERATIONS: u64 = 200_000;
/// Bound for the whole attack (about 12 s on an idle 2-core host).
const ATTACK_TIMEOUT: Duration = Duration::from_secs(120);
/// Heartbeats `alpha` must print after chaos stopped, to show it runs on.
const BEATS_AFTER: u64 = 10;
/// Bound for those.
const AFTER_TIMEOUT: Duration = Duration::from_secs(20);
/// How often the console is looked at (judging a multi-megabyte transcript on every byte
/// would take a host core away from QEMU).
const POLL: Duration = Duration::from_millis(500);

/// Whether the hypervisor stopped chaos: powered off by itself, or halted by its policy.
fn attacker_stopped(transcript: &Transcript) -> bool {
    transcript.lines_of("hv").iter().any(|line| {
        line.strip_prefix(ATTACKER).is_some_and(|rest| {
            rest.starts_with(": powered off")
                || rest.starts_with(": halted")
                || rest.starts_with(": restart limit")
        })
    })
}

/// The neighbour's last heartbeat number.
fn last_beat(transcript: &Transcript) -> u64 {
    transcript.heartbeats(NEIGHBOUR).last().copied().unwrap_or(0)
}

// [itest->swr~stage2-fault-contained~1] [itest->swr~other-partitions-continue~1]
#[test]
fn chaos_beside_the_heartbeat_breaks_nothing_and_every_refusal_is_counted() {
    let repository = Repository::locate();
    let path = repository.root().join(CHAOS_MANIFEST);
    let manifest = match fs::read_to_string(&path) {
        Ok(text) => text,
        Err(error) => panic!("cannot read {}: {error}", path.display()),
    };
    let text = match chaos::with_attacker_bootargs(&manifest, &chaos::bootargs(CI_SEED, OPERATIONS, 0)) {
        Ok(text) => text,
        Err(error) => panic!("{}: {error}", path.display()),
    };
    eprintln!("chaos seed {CI_SEED}, {OPERATIONS} operations");
    let system = TestSystem::from_manifest_text("chaos-ci", &text);
    let session = system.boot_with(BootOptions {
        session_timeout: ATTACK_TIMEOUT + AFTER_TIMEOUT + Duration::from_secs(10),
        ..BootOptions::default()
    });

    let started = Instant::now();
    let mut seed_seen = None;
    let mut done_seen = None;
    let mut transcript = session.transcript();
    while started.elapsed() < ATTACK_TIMEOUT && !attacker_stopped(&transcript) {
        thread::sleep(POLL);
        transcript = session.transcript();
        if seed_seen.is_none() && transcript.contains(chaos::SEED_PREFIX) {
            seed_seen = Some(started.elapsed());
        }
        if done_seen.is_none() && transcript.contains(chaos::DONE_PREFIX) {
            done_seen = Some(started.elapsed());
        }
    }
    let stopped_at = last_beat(&transcript);
    let after = Instant::now();
    while after.elapsed() < AFTER_TIMEOUT && last_beat(&transcript) < stopped_at + BEATS_AFTER {
        thread::sleep(POLL);
        transcript = session.transcript();
    }

    let verdict = Verdict::judge(transcript.text(), OPERATIONS);
    if let (Some(seed), Some(done)) = (seed_seen, done_seen) {
        eprintln!(
            "{OPERATIONS} operations took about {:.1} s of wall time (seed line to done line, \
             polled every {} ms)",
            done.saturating_sub(seed).as_secs_f32(),
            POLL.as_millis()
        );
    }
    eprintln!("{verdict}");
    let mut failures = verdict.failures.clone();
    if !attacker_stopped(&transcript) {
        failures.push(format!(
            "chaos did not power off within {} s",
            ATTACK_TIMEOUT.as_secs()
        ));
    }
    if last_beat(&transcript) < stopped_at + BEATS_AFTER {
        failures.push(format!(
            "{NEIGHBOUR} printed fewer than {BEATS_AFTER} heartbeats in {} s after chaos stopped",
            AFTER_TIMEOUT.as_secs()
        ));
    }
    if !failures.is_empty() {
        session.fail(&format!(
            "chaos run failed (seed {CI_SEED}):\n{verdict}\n{}",
            failures.join("\n")
        ));
    }
}
