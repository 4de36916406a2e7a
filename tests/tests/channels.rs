//! Shared-memory channels on QEMU `virt`: a message written into a channel and announced with
//! the doorbell reaches the peer (and only the peer), and the read-only end of a channel
//! cannot write it.
//!
//! Both systems have two `heartbeat` partitions on one channel: `writer` (read-write) and
//! `reader` (read-only), with a doorbell. `heartbeat`'s `channel-write=<N>` writes
//! `ping <N>` into the channel after heartbeat N and rings the doorbell; every end prints
//! `doorbell from <channel>: <text>` when its doorbell interrupt arrives.

use std::path::PathBuf;
use std::time::Duration;

use bulkhead_config::spec::EndpointSpec;
use bulkhead_qemu_tests::TestSystem;
use bulkhead_qemu_tests::transcript::hex_after;
use xtask::paths::Repository;

/// The channel both manifests declare.
const CHANNEL: &str = "telemetry";

/// How long to wait for a few heartbeats (they come every 100 ms of guest time; emulation
/// can be much slower on a loaded CI machine).
const FEW_HEARTBEATS: Duration = Duration::from_secs(30);

/// `writer` pings `reader` after its second heartbeat.
const WRITER_PINGS_READER: &str = r#"
[system]
board = "qemu-virt"

[[partition]]
name = "writer"
image = { crate = "heartbeat" }
memory = { size = "64MiB" }
cpus = [0]
bootargs = "channel-write=2"
console = "virtual"

[[partition]]
name = "reader"
image = { crate = "heartbeat" }
memory = { size = "64MiB" }
cpus = [1]
console = "virtual"

[[channel]]
name = "telemetry"
size = "64KiB"
access = { writer = "rw", reader = "ro" }
doorbell = true
"#;

/// The same system, but `reader` tries to write its read-only end after its second heartbeat.
const READER_WRITES_ITS_READ_ONLY_END: &str = r#"
[system]
board = "qemu-virt"

[[partition]]
name = "writer"
image = { crate = "heartbeat" }
memory = { size = "64MiB" }
cpus = [0]
console = "virtual"

[[partition]]
name = "reader"
image = { crate = "heartbeat" }
memory = { size = "64MiB" }
cpus = [1]
bootargs = "channel-write=2"
fault_policy = "halt"
console = "virtual"

[[channel]]
name = "telemetry"
size = "64KiB"
access = { writer = "rw", reader = "ro" }
doorbell = true
"#;

/// Where `partition` sees the channel, as the config compiler placed it: loaded again from
/// the manifest `TestSystem::from_manifest_text` saved for `system` (under the system's
/// name, which carries the board with `BULKHEAD_TEST_BOARD`: the manifest the image was
/// built from, never a stale one of another board).
fn channel_end(system: &TestSystem, partition: &str) -> EndpointSpec {
    let name = system.name();
    let repository = Repository::locate();
    let manifest: PathBuf = repository
        .root()
        .join("target")
        .join("bulkhead")
        .join("test-manifests")
        .join(format!("{name}.toml"));
    let spec = match bulkhead_config::load(&manifest, repository.root()) {
        Ok(spec) => spec,
        Err(diagnostics) => panic!("{}: {diagnostics:#}", manifest.display()),
    };
    let Some(channel) = spec
        .channels()
        .iter()
        .position(|channel| channel.name == CHANNEL)
    else {
        panic!("{} declares no channel {CHANNEL}", manifest.display());
    };
    let end = spec
        .partitions()
        .iter()
        .find(|candidate| candidate.name == partition)
        .and_then(|found| {
            found
                .endpoints
                .iter()
                .find(|endpoint| endpoint.channel == channel)
        });
    match end {
        Some(endpoint) => endpoint.clone(),
        None => panic!(
            "{partition} has no end of {CHANNEL} in {}",
            manifest.display()
        ),
    }
}

// [itest->swr~channel-mappings~1]
#[test]
fn doorbell_delivers_the_channel_message_to_the_peer_only() {
    let system = TestSystem::from_manifest_text("channel-writer-pings-reader", WRITER_PINGS_READER);
    let session = system.boot();
    let received = format!("[reader] doorbell from {CHANNEL}: ping 2");
    let transcript = session.wait_for(&received);
    let received_at = transcript
        .line_index(&received)
        .expect("just waited for it");
    // The writer prints `rang` only once the trapped doorbell store returns, while the
    // reader may already be printing the message: the two lines come in either order. What
    // is ordered is the writer's second heartbeat, printed before it wrote the channel.
    let rang = format!("[writer] rang doorbell of {CHANNEL}");
    let transcript = session.wait_for(&rang);
    let wrote_after = transcript
        .line_index("[writer] heartbeat 2")
        .expect("writer writes the channel after printing heartbeat 2");
    assert!(
        wrote_after < received_at,
        "reader printed the message before writer wrote it:\n{}",
        session.report()
    );
    // The hypervisor raises the doorbell in every end but the one that rang: give a stray
    // interrupt to the writer a few heartbeats' time to show.
    let transcript = session.wait_until(
        "three more writer heartbeats after the doorbell",
        FEW_HEARTBEATS,
        |transcript| {
            (transcript.heartbeats_after("writer", received_at).len() >= 3)
                .then(|| transcript.clone())
        },
    );
    let echoed: Vec<&str> = transcript
        .lines_of("writer")
        .into_iter()
        .filter(|line| line.starts_with("doorbell from "))
        .collect();
    assert!(
        echoed.is_empty(),
        "the writer's own doorbell interrupted it: {echoed:?}\n{}",
        session.report()
    );
    let deliveries = transcript
        .lines_of("reader")
        .into_iter()
        .filter(|line| line.starts_with("doorbell from "))
        .count();
    assert_eq!(
        deliveries,
        1,
        "one ring, {deliveries} doorbell interrupts in reader:\n{}",
        session.report()
    );
}

// [itest->swr~channel-mappings~1]
#[test]
fn peer_keeps_running_after_its_doorbell() {
    let system = TestSystem::from_manifest_text("channel-writer-pings-reader", WRITER_PINGS_READER);
    let session = system.boot();
    let received = format!("[reader] doorbell from {CHANNEL}: ping 2");
    let transcript = session.wait_for(&received);
    let received_at = transcript
        .line_index(&received)
        .expect("just waited for it");
    let before = transcript.heartbeats("reader").last().copied().unwrap_or(0);
    session.wait_until(
        "three more reader heartbeats after its doorbell",
        FEW_HEARTBEATS,
        |transcript| {
            transcript
                .heartbeats_after("reader", received_at)
                .into_iter()
                .max()
                .filter(|latest| *latest >= before + 3)
        },
    );
}

// [itest->swr~channel-mappings~1] [itest->swr~other-partitions-continue~1]
#[test]
fn read_only_end_cannot_write_the_channel() {
    const NAME: &str = "channel-reader-writes-read-only-end";
    let system = TestSystem::from_manifest_text(NAME, READER_WRITES_ITS_READ_ONLY_END);
    let reader_end = channel_end(&system, "reader");
    let session = system.boot();
    let fault_pattern = "[hv] reader: stage-2 fault at IPA 0x";
    let transcript = session.wait_for(fault_pattern);
    let fault_at = transcript
        .line_index(fault_pattern)
        .expect("just waited for it");
    let lines = transcript.complete_lines();
    let fault_ipa = hex_after(lines[fault_at], "at IPA ");
    assert_eq!(
        fault_ipa,
        Some(reader_end.ipa),
        "the fault is not at the start of reader's end of {CHANNEL} (0x{:x}):\n{}",
        reader_end.ipa,
        session.report()
    );
    let reader_lines = transcript.lines_of("reader");
    assert!(
        reader_lines.contains(&"heartbeat 2"),
        "reader faulted before its second heartbeat:\n{}",
        session.report()
    );
    assert!(
        !reader_lines
            .iter()
            .any(|line| line.starts_with("rang doorbell")),
        "reader got past the refused write and rang:\n{}",
        session.report()
    );
    let before = transcript.heartbeats("writer").last().copied().unwrap_or(0);
    let transcript = session.wait_until(
        "five more writer heartbeats after reader's fault",
        FEW_HEARTBEATS,
        |transcript| {
            transcript
                .heartbeats_after("writer", fault_at)
                .into_iter()
                .max()
                .filter(|latest| *latest >= before + 5)
                .map(|_| transcript.clone())
        },
    );
    let reader_after: Vec<&str> = transcript.complete_lines()[fault_at + 1..]
        .iter()
        .copied()
        .filter(|line| line.starts_with("[reader] "))
        .collect();
    assert!(
        reader_after.is_empty(),
        "reader ran on after its fault under the halt policy: {reader_after:?}\n{}",
        session.report()
    );
    assert!(
        !transcript.contains("[writer] doorbell from"),
        "writer got a doorbell although reader's write was refused:\n{}",
        session.report()
    );
}
