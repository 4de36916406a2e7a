//! The display mediator on QEMU `virt` with the RAM-capture backend: two bare-metal
//! partitions (`partitions/painter`) draw distinct patterns into their own framebuffers,
//! and the scan-out buffer the hypervisor composes, read back from guest-physical memory
//! through QMP `pmemsave`, matches every pixel of both layers and of the background.
//!
//! `media` (not critical) misbehaves all along: it presents a rectangle outside its layer
//! (refused) and floods presents between its frames (coalesced); `cluster` (critical) must
//! still be composed pixel-exact and never be declared frozen. In the second system `cluster`
//! goes silent after 20 presents: the fail-safe colour must replace exactly its pixels and
//! the health event must be on the console; in the third both go silent, so only the
//! hypervisor's frame tick composes. The later ones show the same screen through a device,
//! QEMU's ramfb and a virtio-gpu (`media` misbehaving there too), and the Raspberry Pi 4's
//! (`raspi4b`) firmware framebuffer through the mailbox, and compare QMP `screendump`'s
//! picture instead.
//!
//! The first three run on any board (`BULKHEAD_TEST_BOARD` rebuilds their manifests for it;
//! `cargo xtask test` runs them on `zcu102` too); ramfb and virtio-gpu need QEMU `virt`, the
//! mailbox test names its own board.
//!
//! Verifies: [itest->swr~display-safety-layer~1]

use std::path::Path;

use bulkhead_core::display::PixelFormat;
use bulkhead_qemu_tests::display::{self, Directory, Qmp, TRACE_FILE};
use bulkhead_qemu_tests::session::{BootOptions, QemuSession};
use bulkhead_qemu_tests::{TestSystem, Transcript};

const WIDTH: u32 = 640;
const HEIGHT: u32 = 480;
const BACKGROUND: u32 = 0x20_2020;
const FAIL_SAFE: u32 = 0xff_0000;
/// Bound for `cluster`'s 300 presents: 5 s of guest time, but the guest's timer runs on the
/// host clock, and on a loaded 2-core host shared with other QEMUs the compose core (which
/// is `cluster`'s) took more than the default 30 s to get there.
const THREE_HUNDRED_PRESENTS: std::time::Duration = std::time::Duration::from_secs(120);

/// Two painters on one 640×480 screen shown by `backend`; `{cluster_args}` and
/// `{media_args}` are their bootargs.
fn manifest(backend: &str, cluster_args: &str, media_args: &str) -> String {
    format!(
        r#"
[system]
board = "qemu-virt"

[[partition]]
name = "cluster"
image = {{ crate = "painter" }}
memory = {{ size = "16MiB" }}
cpus = [0]
bootargs = "{cluster_args}"

[[partition]]
name = "media"
image = {{ crate = "painter" }}
memory = {{ size = "16MiB" }}
cpus = [1]
bootargs = "{media_args}"

[display]
backend = "{backend}"
resolution = {{ width = 640, height = 480 }}
frame_period_us = 16667
compose_core = 0
background = 0x202020
fail_safe = {{ colour = 0xff0000 }}

[[display.layer]]
partition = "cluster"
framebuffer = {{ ipa = 0x4080_0000, width = 320, height = 240, format = "xrgb8888" }}
destination = {{ x = 0, y = 0, width = 320, height = 240 }}
critical = true
freeze_threshold = 30

[[display.layer]]
partition = "media"
framebuffer = {{ ipa = 0x4080_0000, width = 320, height = 240, format = "rgb565", stride = 1024 }}
destination = {{ x = 320, y = 240, width = 320, height = 240 }}
z = 1
"#
    )
}

/// The painter's pattern (`partitions/painter/src/main.rs`) for `seed` at `(x, y)`, as the
/// scan-out format shows it.
fn painted(seed: u32, x: u32, y: u32, format: PixelFormat) -> u32 {
    let red = x.wrapping_mul(seed);
    let green = y.wrapping_mul(seed);
    match format {
        PixelFormat::Xrgb8888 => ((red & 0xff) << 16) | ((green & 0xff) << 8) | (seed & 0xff),
        PixelFormat::Rgb565 => {
            let pixel = (((red & 0x1f) << 11) | ((green & 0x3f) << 5) | (seed & 0x1f)) as u16;
            format.to_xrgb8888(&pixel.to_le_bytes())
        }
    }
}

/// What the screen must show: `cluster` (seed 3, or the fail-safe colour when `frozen`) at
/// (0, 0), `media` (seed 5, RGB565) at (320, 240), the background elsewhere.
fn expected(x: u32, y: u32, frozen: bool) -> u32 {
    if x < 320 && y < 240 {
        if frozen { FAIL_SAFE } else { painted(3, x, y, PixelFormat::Xrgb8888) }
    } else if x >= 320 && y >= 240 {
        painted(5, x - 320, y - 240, PixelFormat::Rgb565)
    } else {
        BACKGROUND
    }
}

/// Every pixel that differs from [`expected`], as `(x, y, seen, expected)`, at most 10.
fn differences(pixels: &[u32], frozen: bool) -> Vec<(u32, u32, u32, u32)> {
    let mut found = Vec::new();
    for y in 0..HEIGHT {
        for x in 0..WIDTH {
            let seen = pixels[(y * WIDTH + x) as usize] & 0x00ff_ffff;
            let want = expected(x, y, frozen);
            if seen != want && found.len() < 10 {
                found.push((x, y, seen, want));
            }
        }
    }
    found
}

/// A freeze event after `cluster`'s first present. Before it the layer has shown nothing yet,
/// and on a loaded host the painter may fill its pixels for longer than the freeze
/// threshold: the fail-safe image standing in then is the design, not a missed frame.
fn frozen_after_the_first_present(transcript: &Transcript) -> Option<String> {
    let lines = transcript.complete_lines();
    let first_present = lines.iter().position(|line| line.starts_with("[cluster] presented "))?;
    lines.iter().skip(first_present).find(|line| line.contains("frozen")).map(|line| (*line).to_owned())
}

/// Boots `text` with a QMP socket (xtask adds the backend's QEMU device: `-device ramfb`,
/// or `-device virtio-gpu-device` on the GPU's transport).
fn boot(name: &str, text: &str) -> (QemuSession, Qmp, Directory) {
    boot_tracing(name, text, &[])
}

/// Boots `system` with a QMP socket in a scratch directory called after `name`.
fn boot_system(name: &str, system: &TestSystem) -> (QemuSession, Qmp, Directory) {
    display::boot_with_qmp_tracing(system, name, BootOptions::default(), &[])
}

/// [`boot`], with QEMU's trace events `events` written to [`TRACE_FILE`] in the directory.
fn boot_tracing(name: &str, text: &str, events: &[&str]) -> (QemuSession, Qmp, Directory) {
    display::boot_with_qmp_tracing(&TestSystem::from_manifest_text(name, text), name, BootOptions::default(), events)
}

/// The scan-out buffer of the 640×480 screen.
fn scan_out(session: &QemuSession, qmp: &mut Qmp, directory: &Path) -> Vec<u32> {
    display::scan_out(session, qmp, directory, WIDTH, HEIGHT)
}

// [itest->swr~display-safety-layer~1]
#[test]
fn both_layers_and_the_background_are_pixel_exact_while_media_misbehaves() {
    let (session, mut qmp, directory) = boot(
        "display-sharing",
        &manifest("ram-capture", "seed=3 period-ms=16", "seed=5 period-ms=16 flood=1 bad-rect=1"),
    );
    session.wait_for("[media] bad rectangle refused");
    session.wait_for("[media] flood: ");
    // 300 frames' worth of cluster presents while media floods.
    session.wait_for_within("[cluster] presented 300", THREE_HUNDRED_PRESENTS);
    let pixels = scan_out(&session, &mut qmp, directory.path());
    let wrong = differences(&pixels, false);
    if !wrong.is_empty() {
        session.fail(&format!("pixels differ (x, y, seen, expected): {wrong:x?}"));
    }
    // Before its first present a late-starting cluster (the emulated ZCU102 on a loaded host)
    // is rightly declared frozen and shown as the fail-safe; from then on it presents every
    // frame and must never be.
    let transcript = session.transcript();
    if let Some(frozen) = frozen_after_the_first_present(&transcript) {
        session.fail(&format!("the critical layer froze while it presented every frame: {frozen}"));
    }
    let flood = transcript
        .lines_of("media")
        .into_iter()
        .filter(|line| line.starts_with("flood: "))
        .next_back()
        .map(str::to_owned)
        .unwrap_or_default();
    println!("media's {flood}");
}

/// `cluster` paces itself on the virtual vblank (one present per vblank, 300 of them) while
/// `media` floods presents, enables the vblank PPI in its GIC without asking for vblanks,
/// and after 30 presents writes one row past its framebuffer and then past its RAM: the
/// stage-2 fault halts `media` (its fault policy, the default), the critical layer stays
/// pixel-exact and misses no frame (the mediator's own accounting in the defmt log: 0
/// deferred frames at frame 300 and later), `cluster` never gets more vblanks than frames
/// passed, and `media` gets none.
// [itest->swr~display-safety-layer~1]
#[test]
fn vblank_paces_the_critical_layer_while_media_writes_past_its_memory() {
    let (session, mut qmp, directory) = boot(
        "display-vblank",
        &manifest("ram-capture", "seed=3 vblank=1", "seed=5 period-ms=16 flood=1 vblank=gic-only write-past=30"),
    );
    session.wait_for("[cluster] vblank on: INTID 16");
    session.wait_for("[media] wrote past the framebuffer");
    session.wait_for("[media] writing past RAM at 0x41000000");
    session.wait_for("[hv] media: stage-2 fault at IPA 0x41000000");
    session.wait_for_within("[cluster] presented 300", THREE_HUNDRED_PRESENTS);
    let statistics = session.wait_for_log("the display statistics of frame 300 or later", std::time::Duration::from_secs(60), |log| {
        log.iter().rev().find(|line| line.contains("display: frame ") && line.contains(": layer 0: ")).cloned()
    });
    let pixels = scan_out(&session, &mut qmp, directory.path());
    let wrong = differences(&pixels, false);
    if !wrong.is_empty() {
        session.fail(&format!("pixels differ (x, y, seen, expected): {wrong:x?}"));
    }
    if !statistics.contains(" 0 deferred frames") {
        session.fail(&format!("the critical layer missed frames: {statistics}"));
    }
    let transcript = session.transcript();
    if let Some(frozen) = frozen_after_the_first_present(&transcript) {
        session.fail(&format!("the critical layer froze while it presented every vblank: {frozen}"));
    }
    let media = transcript.lines_of("media");
    if media.iter().any(|line| line.contains("the write past RAM returned")) {
        session.fail("media's write past its RAM completed");
    }
    let unasked: Vec<&str> = media.iter().copied().filter(|line| line.starts_with("vblanks taken: ")).collect();
    if unasked.is_empty() || unasked.iter().any(|line| *line != "vblanks taken: 0") {
        session.fail(&format!("media took vblanks it never asked for: {unasked:?}"));
    }
    // One vblank per frame at most: V vblanks need at least V - 1 frame periods.
    let (vblanks, milliseconds) = session.wait_until("cluster's `vblank paced` line at 300 vblanks or more", std::time::Duration::from_secs(30), |transcript| {
        transcript.lines_of("cluster").iter().rev().find_map(|line| {
            let rest = line.strip_prefix("vblank paced: ")?;
            let (vblanks, rest) = rest.split_once(" vblanks in ")?;
            let pair: (u64, u64) = (vblanks.parse().ok()?, rest.strip_suffix(" ms")?.parse().ok()?);
            (pair.0 >= 300).then_some(pair)
        })
    });
    if (vblanks - 1) * 16_667 > milliseconds * 1000 + 1000 {
        session.fail(&format!("{vblanks} vblanks in {milliseconds} ms: more than one per 16.667 ms frame"));
    }
    println!("cluster: {vblanks} vblanks in {milliseconds} ms; {statistics}");
}

// [itest->swr~display-safety-layer~1]
#[test]
fn a_silent_critical_layer_is_replaced_by_the_fail_safe_image() {
    let (session, mut qmp, directory) =
        boot("display-freeze", &manifest("ram-capture", "seed=3 period-ms=16 presents=20", "seed=5 period-ms=16"));
    wait_for_the_freeze_after_the_last_present(&session);
    let pixels = scan_out(&session, &mut qmp, directory.path());
    let wrong = differences(&pixels, true);
    if !wrong.is_empty() {
        session.fail(&format!("pixels differ from the fail-safe screen (x, y, seen, expected): {wrong:x?}"));
    }
}

/// Waits for `cluster`'s 20th (last) present and the freeze event after it. On a loaded host
/// the layer may also have been frozen before its first present (the painter fills its
/// pixels for longer than 30 frames): that event, and the recovery after it, do not count.
fn wait_for_the_freeze_after_the_last_present(session: &QemuSession) {
    session.wait_for("[cluster] presented 20");
    session.wait_until("the freeze after cluster's last present", std::time::Duration::from_secs(30), |transcript| {
        let lines = transcript.complete_lines();
        let last_present = lines.iter().position(|line| *line == "[cluster] presented 20")?;
        lines
            .iter()
            .skip(last_present)
            .any(|line| line.starts_with("[hv] display: cluster's critical layer frozen (30 frames without a present)"))
            .then_some(())
    });
}

/// With every partition silent, only the hypervisor's frame tick on the compose core keeps
/// frames coming: the freeze is still detected and the fail-safe shown.
// [itest->swr~display-safety-layer~1]
#[test]
fn the_frame_tick_shows_the_fail_safe_image_when_every_partition_is_silent() {
    let (session, mut qmp, directory) = boot(
        "display-all-silent",
        &manifest("ram-capture", "seed=3 period-ms=16 presents=20", "seed=5 period-ms=16 presents=20"),
    );
    session.wait_for("[media] presented 20");
    wait_for_the_freeze_after_the_last_present(&session);
    let pixels = scan_out(&session, &mut qmp, directory.path());
    let wrong = differences(&pixels, true);
    if !wrong.is_empty() {
        session.fail(&format!("pixels differ from the fail-safe screen (x, y, seen, expected): {wrong:x?}"));
    }
}

/// The screen as QEMU shows it: QMP `screendump` (a binary PPM, `P6`), as XRGB8888 words.
fn screendump(session: &QemuSession, qmp: &mut Qmp, directory: &Path) -> Vec<u32> {
    let file = directory.join("screen.ppm");
    qmp.execute(&format!(r#"{{"execute":"screendump","arguments":{{"filename":"{}"}}}}"#, file.display()));
    let bytes = std::fs::read(&file).unwrap_or_else(|error| session.fail(&format!("screendump wrote nothing: {error}")));
    // Header: "P6", width, height, maximum value, each followed by one whitespace byte.
    let mut fields = Vec::new();
    let mut position = 0;
    while fields.len() < 4 {
        let start = position;
        while !bytes[position].is_ascii_whitespace() {
            position += 1;
        }
        fields.push(String::from_utf8_lossy(&bytes[start..position]).into_owned());
        position += 1;
    }
    if fields != ["P6", &WIDTH.to_string(), &HEIGHT.to_string(), "255"] {
        session.fail(&format!("screendump is not a {WIDTH}x{HEIGHT} P6 image: {fields:?}"));
    }
    bytes[position..]
        .chunks_exact(3)
        .map(|rgb| u32::from(rgb[0]) << 16 | u32::from(rgb[1]) << 8 | u32::from(rgb[2]))
        .collect()
}

/// QEMU's trace log, in the test's directory.

/// Boots the two painters on a screen shown by `backend` (its manifest name), `media` with
/// `media_args`, with QEMU tracing `events`; waits for `presents` presents of both, and
/// compares what QEMU's display shows (QMP `screendump`) with the expected screen, pixel for
/// pixel. Returns the running session and its directory for further checks.
fn device_shows_both_layers_and_the_background(
    name: &str,
    backend: &str,
    media_args: &str,
    presents: u32,
    events: &[&str],
) -> (QemuSession, Directory) {
    let (session, mut qmp, directory) =
        boot_tracing(name, &manifest(backend, "seed=3 period-ms=16", media_args), events);
    if media_args.contains("bad-rect=1") {
        session.wait_for("[media] bad rectangle refused");
    }
    screen_shows_both_layers(&session, &mut qmp, directory.path(), backend, presents);
    // (Not a freeze check: on a loaded machine `cluster` can take longer than its freeze
    // threshold to paint its first frame, which the mediator then rightly reports.)
    if session.transcript().contains("refused a frame command") {
        session.fail(&format!("{backend}: the device refused a frame command"));
    }
    (session, directory)
}

/// Waits until `backend` shows the scan-out buffer and both painters presented `presents`
/// frames, then compares QMP `screendump` with both layers and the background, every pixel.
fn screen_shows_both_layers(session: &QemuSession, qmp: &mut Qmp, directory: &Path, backend: &str, presents: u32) {
    session.wait_for(&format!("[hv] display: {backend} shows the scan-out buffer"));
    session.wait_for(&format!("[cluster] presented {presents}"));
    session.wait_for(&format!("[media] presented {presents}"));
    let pixels = screendump(session, qmp, directory);
    let wrong = differences(&pixels, false);
    if !wrong.is_empty() {
        session.fail(&format!("{backend}: screendump pixels differ (x, y, seen, expected): {wrong:x?}"));
    }
}

/// The Raspberry Pi 4 (QEMU 10 `raspi4b`, whatever `BULKHEAD_TEST_BOARD` says): the
/// firmware's framebuffer, asked for through the VideoCore mailbox, shows the same screen
/// after the hypervisor copied each frame's damage into it (`partitions/display-rpi4.toml`).
/// `cargo xtask test` runs it in the rpi4 stage only (`BOARD_VARIANTS`).
// [itest->swr~display-safety-layer~1]
#[test]
fn rpi4_mailbox_framebuffer_shows_both_layers_and_the_background_pixel_exact() {
    let system = TestSystem::from_manifest_file("partitions/display-rpi4.toml");
    let (session, mut qmp, directory) = boot_system("display-rpi4", &system);
    screen_shows_both_layers(&session, &mut qmp, directory.path(), "rpi4-mailbox", 30);
}

// [itest->swr~display-safety-layer~1]
#[test]
fn ramfb_shows_both_layers_and_the_background_pixel_exact() {
    device_shows_both_layers_and_the_background("display-ramfb", "ramfb", "seed=5 period-ms=16", 30, &[]);
}

/// The rectangles (`x, y, width, height`) of QEMU's `virtio_gpu_cmd_res_flush` trace lines
/// (`virtio_gpu_cmd_res_flush res 0x1, w 320, h 240, x 0, y 0`).
fn flushed_rectangles(trace: &str) -> Vec<[u32; 4]> {
    trace
        .lines()
        .filter(|line| line.contains("virtio_gpu_cmd_res_flush"))
        .filter_map(|line| {
            let field = |name: &str| -> Option<u32> {
                line.split(", ").find_map(|part| part.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            };
            Some([field("x")?, field("y")?, field("w")?, field("h")?])
        })
        .collect()
}

// [itest->swr~display-safety-layer~1]
#[test]
fn virtio_gpu_shows_both_layers_and_the_background_pixel_exact_while_media_misbehaves() {
    let (session, directory) = device_shows_both_layers_and_the_background(
        "display-virtio-gpu",
        "virtio-gpu",
        "seed=5 period-ms=16 flood=1 bad-rect=1",
        60,
        &["virtio_gpu_cmd_res_flush"],
    );
    // QEMU's screendump reads the resource, which a transfer alone updates: a flush only
    // tells the display. So the flushes are checked in QEMU's own trace: the whole screen
    // once (the first frame), then each layer's rectangle again and again.
    let trace = std::fs::read_to_string(directory.path().join(TRACE_FILE)).unwrap_or_default();
    let flushes = flushed_rectangles(&trace);
    let count = |rect: [u32; 4]| flushes.iter().filter(|flushed| **flushed == rect).count();
    let (screen, cluster, media) = (count([0, 0, 640, 480]), count([0, 0, 320, 240]), count([320, 240, 320, 240]));
    if screen == 0 || cluster < 10 || media < 10 {
        session.fail(&format!(
            "flushes: whole screen {screen}, cluster's layer {cluster}, media's layer {media} (want 1+, 10+, 10+) of {} traced; first lines: {:?}",
            flushes.len(),
            trace.lines().take(5).collect::<Vec<_>>()
        ));
    }
    println!("flushes: whole screen {screen}, cluster's layer {cluster}, media's layer {media}, {} in all", flushes.len());
}
