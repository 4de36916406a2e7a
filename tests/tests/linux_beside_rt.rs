//! Linux beside a real-time partition, as `partitions/linux-demo.toml` describes them: Debian's
//! arm64 kernel with the busybox initramfs xtask builds (`xtask::linux_guest`) on two vCPUs,
//! and the heartbeat guest `rt` on its own core.
//!
//! Checked from the console: Linux reaches its init marker; its `/proc/cpuinfo` shows two
//! CPUs and its `/proc/interrupts` counts architected-timer interrupts on both and IPIs
//! (so the virtual GIC delivers PPIs and SGIs to a real kernel); the pass-through disk (QEMU's
//! virtio-blk on the virtio-mmio transport the manifest gives `linux`, DMA into its
//! identity-mapped RAM) is mounted by `/init`, which prints the file xtask put on it, exactly,
//! at both boots, and `/proc/interrupts` counts the transport's forwarded SPI; Linux got a KASLR seed from
//! its device tree; `reboot` restarts only the Linux partition (the hypervisor says so and
//! Linux reaches its init marker again) and `poweroff` powers only it off, while `rt`'s
//! heartbeats run on, consecutive, from boot to the end; and no Linux console line was cut.
//!
//! Time: about 5 s of Linux boot per start on an idle 2-core host (twice), plus the
//! commands; the session is bounded by [`SESSION`].

use std::thread;
use std::time::{Duration, Instant};

use bulkhead_qemu_tests::{BootOptions, QemuSession, TestSystem, Transcript};
use xtask::linux_guest::block_device::{DISK_FILE_CONTENT, DISK_LINE_PREFIX};
use xtask::linux_guest::{self, INIT_MARKER};

/// The committed manifest this test boots on `qemu-virt`.
const MANIFEST: &str = "partitions/linux-demo.toml";

/// The manifest for the board under test: [`MANIFEST`], or with `BULKHEAD_TEST_BOARD=<board>`
/// its copy for that board, `partitions/linux-demo-<board>.toml` (the demo names Debian's files
/// by paths relative to itself, so it is committed per board rather than rewritten).
fn manifest() -> String {
    match std::env::var(bulkhead_qemu_tests::system::TEST_BOARD_VARIABLE).ok().filter(|board| !board.is_empty()) {
        Some(board) => format!("partitions/linux-demo-{board}.toml"),
        None => MANIFEST.to_owned(),
    }
}
/// Bound for one Linux boot to its init marker.
const BOOT: Duration = Duration::from_secs(60);
/// Bound for one shell command's output.
const COMMAND: Duration = Duration::from_secs(20);
/// How often an unanswered shell probe is typed again.
const PROBE_INTERVAL: Duration = Duration::from_secs(2);
/// Bytes typed at once (half the virtual PL011's receive FIFO).
const TYPE_CHUNK: usize = 16;
/// Pause after each typed chunk.
const TYPE_PAUSE: Duration = Duration::from_millis(50);
/// How often the console is looked at while probing.
const POLL: Duration = Duration::from_millis(100);
/// Bound for the whole session.
const SESSION: Duration = Duration::from_secs(200);
/// Heartbeats `rt` must print after Linux powered off.
const BEATS_AFTER: u64 = 10;
/// Linux's partition number on the console's focus key (manifest order, from 1).
const LINUX_FOCUS: u8 = 2;

/// Types `command` into Linux's shell, followed by `echo <tag>-$((6*7))`; waits for the
/// line `<tag>-42`, which only the shell's output (never the echoed command) contains, and
/// returns the Linux lines printed between the command and that line.
fn run_command(session: &QemuSession, command: &str, tag: &str) -> (Transcript, Vec<String>) {
    let before = session.transcript().complete_lines().len();
    type_text(session, &format!("{command}; echo {tag}-$((6*7))\n"));
    let done = format!("[linux] {tag}-42");
    let transcript = session.wait_until(&format!("the output of `{command}`"), COMMAND, |transcript| {
        transcript
            .complete_lines()
            .iter()
            .skip(before)
            .any(|line| *line == done)
            .then(|| transcript.clone())
    });
    let output: Vec<String> = transcript
        .complete_lines()
        .iter()
        .skip(before)
        .take_while(|line| **line != done)
        .filter_map(|line| line.strip_prefix("[linux] "))
        .map(str::to_owned)
        .collect();
    (transcript, output)
}

/// The per-CPU counts of the `/proc/interrupts` line whose description ends with `name`.
fn interrupt_counts(lines: &[String], cpus: usize, name: &str) -> Option<Vec<u64>> {
    let line = lines.iter().find(|line| line.trim_end().ends_with(name))?;
    let (_, rest) = line.split_once(':')?;
    let counts: Vec<u64> = rest
        .split_whitespace()
        .take(cpus)
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()?;
    (counts.len() == cpus).then_some(counts)
}

/// The sum over CPUs of every `IPI<n>:` line.
fn ipi_total(lines: &[String], cpus: usize) -> u64 {
    lines
        .iter()
        .filter(|line| line.trim_start().starts_with("IPI"))
        .filter_map(|line| line.split_once(':'))
        .flat_map(|(_, rest)| rest.split_whitespace().take(cpus).filter_map(|count| count.parse::<u64>().ok()))
        .sum()
}

/// Types `text` into Linux's console at most [`TYPE_CHUNK`] bytes at a time: the virtual
/// PL011's receive FIFO holds 32 bytes, and a whole command typed at once overruns it before
/// the kernel's interrupt handler drains it (Linux then reports "input overrun(s)").
fn type_text(session: &QemuSession, text: &str) {
    for chunk in text.as_bytes().chunks(TYPE_CHUNK) {
        session.send_input(chunk);
        thread::sleep(TYPE_PAUSE);
    }
}

/// Waits until Linux's shell answers: types a probe every [`PROBE_INTERVAL`] (input typed
/// before busybox init has started the shell is lost) until its answer appears.
fn wait_for_shell(session: &QemuSession, tag: &str) {
    let answer = format!("[linux] {tag}-42");
    let deadline = Instant::now() + COMMAND;
    // BOUND: one probe per PROBE_INTERVAL until the deadline.
    while Instant::now() < deadline {
        type_text(session, &format!("echo {tag}-$((6*7))\n"));
        let probe_sent = Instant::now();
        while probe_sent.elapsed() < PROBE_INTERVAL {
            if session.transcript().complete_lines().contains(&answer.as_str()) {
                return;
            }
            thread::sleep(POLL);
        }
    }
    session.fail(&format!("Linux's shell did not answer `{tag}` within {} s", COMMAND.as_secs()));
}

/// `rt`'s heartbeat numbers must be 1, 2, 3, … without a gap: `rt` never stopped.
fn assert_rt_consecutive(session: &QemuSession, transcript: &Transcript) -> u64 {
    let beats = transcript.heartbeats("rt");
    let expected: Vec<u64> = (1..=beats.len() as u64).collect();
    if beats.is_empty() || beats != expected {
        session.fail(&format!("rt's heartbeats are not consecutive: {beats:?}"));
    }
    beats.len() as u64
}

/// How many times `pattern` appears on complete lines.
fn count_lines(transcript: &Transcript, pattern: &str) -> usize {
    transcript
        .complete_lines()
        .iter()
        .filter(|line| line.contains(pattern))
        .count()
}

/// What the hypervisor prints once it has drawn the boot seed from the QEMU `virt` boards'
/// RNG (`hypervisor/image/src/entropy.rs`).
const HARDWARE_SEED_LINE: &str = "[hv] boot seeds: from virtio-rng,";
/// What Linux prints when `/chosen/rng-seed` alone made its CRNG ready: at time zero.
const SEEDED_CRNG_LINE: &str = "[linux] [    0.000000] random: crng init done";

// [itest->swr~psci-emulation~1] [itest->swr~other-partitions-continue~1]
#[test]
fn linux_boots_reboots_and_powers_off_alone_while_rt_keeps_its_heartbeat() {
    let system = TestSystem::from_manifest_file(&manifest());
    let session = system.boot_with(BootOptions {
        session_timeout: SESSION,
        ..BootOptions::default()
    });
    let marker = format!("[linux] {INIT_MARKER}");
    let transcript = session.wait_for_within(&marker, BOOT);
    if transcript.contains("KASLR disabled due to lack of seed") {
        session.fail("Linux found no /chosen/kaslr-seed in its device tree");
    }
    // The hypervisor drew its boot seed from the board's virtio-rng, and Linux credited the
    // `/chosen/rng-seed` it was given before its clock started (a CRNG left unseeded is
    // ready only seconds later).
    if !transcript.contains(HARDWARE_SEED_LINE) {
        session.fail(&format!("the hypervisor did not say `{HARDWARE_SEED_LINE}`"));
    }
    if count_lines(&transcript, SEEDED_CRNG_LINE) != 1 {
        session.fail(&format!("Linux did not print `{SEEDED_CRNG_LINE}`: its rng-seed was missing or withheld"));
    }
    // `/init` ran `linux-counter` (our static Linux program) before printing the marker.
    let marker_line = transcript
        .complete_lines()
        .into_iter()
        .find(|line| line.contains(&marker))
        .unwrap_or_default()
        .to_owned();
    if linux_guest::userspace_counter(&marker_line).is_none() {
        session.fail(&format!("the init marker carries no counter value: `{marker_line}`"));
    }
    eprintln!("{marker_line}");
    // The pass-through disk: /init mounted it and printed its file before the marker.
    let disk_line = format!("[linux] {DISK_LINE_PREFIX}{DISK_FILE_CONTENT}");
    if count_lines(&transcript, &disk_line) != 1 {
        let disk_lines: Vec<&str> = transcript
            .complete_lines()
            .into_iter()
            .filter(|line| line.contains("virtio") || line.contains("vda") || line.contains(DISK_LINE_PREFIX))
            .collect();
        session.fail(&format!("Linux did not print the disk's file `{DISK_FILE_CONTENT}`:\n{}", disk_lines.join("\n")));
    }
    session.focus_partition(LINUX_FOCUS);
    wait_for_shell(&session, "shell");

    let (_, cpuinfo) = run_command(&session, "grep -c ^processor /proc/cpuinfo", "cpuinfo");
    if cpuinfo.last().map(String::as_str) != Some("2") {
        session.fail(&format!("/proc/cpuinfo does not show 2 CPUs: {cpuinfo:?}"));
    }
    let (_, interrupts) = run_command(&session, "cat /proc/interrupts", "interrupts");
    let timer = interrupt_counts(&interrupts, 2, "arch_timer");
    if !timer.as_ref().is_some_and(|counts| counts.iter().all(|count| *count > 0)) {
        session.fail(&format!(
            "/proc/interrupts shows no architected-timer interrupts on both CPUs ({timer:?}):\n{}",
            interrupts.join("\n")
        ));
    }
    if ipi_total(&interrupts, 2) == 0 {
        session.fail(&format!("/proc/interrupts counts no IPI:\n{}", interrupts.join("\n")));
    }
    // The console is interrupt-driven (amba-pl011 with the virtual PL011's SPI), not polled.
    let uart = interrupt_counts(&interrupts, 2, "uart-pl011");
    if !uart.as_ref().is_some_and(|counts| counts.iter().sum::<u64>() > 0) {
        session.fail(&format!("/proc/interrupts counts no PL011 interrupt ({uart:?}):\n{}", interrupts.join("\n")));
    }
    // The disk's requests completed by the transport's SPI, forwarded to Linux.
    let virtio = interrupt_counts(&interrupts, 2, "virtio0");
    if !virtio.as_ref().is_some_and(|counts| counts.iter().sum::<u64>() > 0) {
        session.fail(&format!("/proc/interrupts counts no virtio interrupt ({virtio:?}):\n{}", interrupts.join("\n")));
    }
    eprintln!("Linux's /proc/interrupts:\n{}", interrupts.join("\n"));

    // `reboot`: only Linux restarts, from a fresh copy of its image.
    let transcript = session.transcript();
    let before_reboot = transcript.complete_lines().len();
    let beats_at_reboot = assert_rt_consecutive(&session, &transcript);
    type_text(&session, "reboot\n");
    let transcript = session.wait_until("Linux's second init marker", BOOT + COMMAND, |transcript| {
        (count_lines(transcript, &marker) >= 2).then(|| transcript.clone())
    });
    wait_for_shell(&session, "again");
    let hv_after: Vec<&str> = transcript.complete_lines()[before_reboot..]
        .iter()
        .filter_map(|line| line.strip_prefix("[hv] "))
        .collect();
    if !hv_after.contains(&"linux: reset (PSCI SYSTEM_RESET)") {
        session.fail(&format!("the hypervisor did not report Linux's reset: {hv_after:?}"));
    }
    if hv_after.iter().any(|line| line.starts_with("rt:")) {
        session.fail(&format!("Linux's reboot touched rt: {hv_after:?}"));
    }
    // The restart took fresh seeds from Linux's own generator, without the device.
    if count_lines(&transcript, SEEDED_CRNG_LINE) != 2 {
        session.fail("the restarted Linux's CRNG was not seeded by its rng-seed");
    }
    // The restarted Linux (fresh RAM, same identity placement) reads the disk again.
    if count_lines(&transcript, &disk_line) != 2 {
        session.fail("Linux did not read the pass-through disk again after its reboot");
    }
    let beats_after_reboot = assert_rt_consecutive(&session, &transcript);
    // Linux's second boot takes seconds; rt's 100 ms heartbeat must have gone on meanwhile.
    if beats_after_reboot < beats_at_reboot + 10 {
        session.fail(&format!(
            "rt printed {} heartbeats while Linux rebooted (at least 10 expected)",
            beats_after_reboot - beats_at_reboot
        ));
    }
    eprintln!("rt's heartbeats: {beats_at_reboot} before Linux's reboot, {beats_after_reboot} once Linux was back");

    // `poweroff`: only Linux stops; rt beats on.
    type_text(&session, "poweroff\n");
    let transcript = session.wait_for_within("[hv] linux: powered off (PSCI SYSTEM_OFF)", BOOT);
    let off = transcript
        .line_index("[hv] linux: powered off")
        .unwrap_or_default();
    let at_off = assert_rt_consecutive(&session, &transcript);
    let transcript = session.wait_until(
        &format!("{BEATS_AFTER} rt heartbeats after Linux powered off"),
        Duration::from_secs(BEATS_AFTER) + COMMAND,
        |transcript| {
            let latest = transcript.heartbeats("rt").last().copied()?;
            (latest >= at_off + BEATS_AFTER).then(|| transcript.clone())
        },
    );
    assert_rt_consecutive(&session, &transcript);
    let linux_after: Vec<&str> = transcript.complete_lines()[off + 1..]
        .iter()
        .copied()
        .filter(|line| line.starts_with("[linux] "))
        .collect();
    if !linux_after.is_empty() {
        session.fail(&format!("Linux printed after powering off: {linux_after:?}"));
    }
    let cut: Vec<&str> = transcript
        .lines_of("linux")
        .into_iter()
        .filter(|line| line.ends_with('\\'))
        .collect();
    if !cut.is_empty() {
        session.fail(&format!("Linux console lines were cut: {cut:?}"));
    }
}
