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
//! hypervisor's frame tick composes. The fourth shows the same screen through QEMU's ramfb
//! and compares QMP `screendump`'s picture instead; the fifth does the same on the Raspberry
//! Pi 4 (`raspi4b`) through the firmware's mailbox framebuffer.
//!
//! The first three run on any board (`BULKHEAD_TEST_BOARD` rebuilds their manifests for it;
//! `cargo xtask test` runs them on `zcu102` too); ramfb needs QEMU `virt`, the mailbox test
//! names its own board.
//!
//! Verifies: [itest->swr~display-safety-layer~1]

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bulkhead_core::display::PixelFormat;
use bulkhead_qemu_tests::session::{BootOptions, QemuSession};
use bulkhead_qemu_tests::transcript::hex_after;
use bulkhead_qemu_tests::TestSystem;

const WIDTH: u32 = 640;
const HEIGHT: u32 = 480;
const BACKGROUND: u32 = 0x20_2020;
const FAIL_SAFE: u32 = 0xff_0000;

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

/// A QMP connection (QEMU's JSON monitor) on a Unix socket.
struct Qmp {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

impl Qmp {
    fn connect(socket: &Path) -> Self {
        let started = Instant::now();
        let stream = loop {
            match UnixStream::connect(socket) {
                Ok(stream) => break stream,
                Err(error) if started.elapsed() > Duration::from_secs(30) => {
                    panic!("cannot connect to QMP at {}: {error}", socket.display())
                }
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        };
        stream.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        let mut qmp = Self { reader: BufReader::new(stream.try_clone().unwrap()), writer: stream };
        qmp.reply();
        qmp.execute(r#"{"execute":"qmp_capabilities"}"#);
        qmp
    }

    /// The next line that is not an asynchronous event.
    fn reply(&mut self) -> String {
        loop {
            let mut line = String::new();
            self.reader.read_line(&mut line).expect("QMP answers");
            assert!(!line.is_empty(), "QMP closed the connection");
            if !line.contains("\"event\"") {
                return line;
            }
        }
    }

    fn execute(&mut self, command: &str) -> String {
        writeln!(self.writer, "{command}").unwrap();
        let reply = self.reply();
        assert!(reply.contains("\"return\""), "QMP refused {command}: {reply}");
        reply
    }
}

/// The scan-out buffer, read from the hypervisor's memory at the address it announced.
fn scan_out(session: &QemuSession, qmp: &mut Qmp, directory: &Path) -> Vec<u32> {
    let transcript = session.wait_for("[hv] display: ");
    let address = transcript
        .complete_lines()
        .iter()
        .find_map(|line| hex_after(line, "scan-out at "))
        .unwrap_or_else(|| session.fail("no scan-out address announced"));
    let file = directory.join("scan-out.bin");
    let _ = std::fs::remove_file(&file);
    qmp.execute(&format!(
        r#"{{"execute":"pmemsave","arguments":{{"val":{address},"size":{},"filename":"{}"}}}}"#,
        WIDTH * HEIGHT * 4,
        file.display()
    ));
    let bytes = std::fs::read(&file).unwrap_or_else(|error| session.fail(&format!("pmemsave wrote nothing: {error}")));
    bytes.chunks_exact(4).map(|word| u32::from_le_bytes(word.try_into().unwrap())).collect()
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

/// Boots `text` with a QMP socket (xtask adds the backend's QEMU device, `-device ramfb`).
fn boot(name: &str, text: &str) -> (QemuSession, Qmp, tempfile_dir::Directory) {
    boot_system(name, &TestSystem::from_manifest_text(name, text))
}

/// Boots `system` with a QMP socket in a scratch directory called after `name`.
fn boot_system(name: &str, system: &TestSystem) -> (QemuSession, Qmp, tempfile_dir::Directory) {
    let directory = tempfile_dir::Directory::new(name);
    let socket = directory.path().join("qmp.sock");
    let extra_args = vec!["-qmp".to_owned(), format!("unix:{},server=on,wait=off", socket.display())];
    let session = system.boot_with(BootOptions { extra_args, ..BootOptions::default() });
    let qmp = Qmp::connect(&socket);
    (session, qmp, directory)
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
    // 300 frames' worth of cluster presents while media floods (a loaded host runs the
    // emulated ZCU102's A53s at a few dozen frames a second).
    session.wait_for_within("[cluster] presented 300", Duration::from_secs(120));
    let pixels = scan_out(&session, &mut qmp, directory.path());
    let wrong = differences(&pixels, false);
    if !wrong.is_empty() {
        session.fail(&format!("pixels differ (x, y, seen, expected): {wrong:x?}"));
    }
    // Before its first present a late-starting cluster (the emulated ZCU102 on a loaded host)
    // is rightly declared frozen and shown as the fail-safe; from then on it presents every
    // frame and must never be.
    let transcript = session.transcript();
    let lines = transcript.complete_lines();
    let presenting = lines.iter().position(|line| line.contains("[cluster] presented ")).unwrap_or(0);
    if lines.iter().skip(presenting).any(|line| line.contains("frozen")) {
        session.fail("the critical layer was declared frozen while it presented every frame");
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

// [itest->swr~display-safety-layer~1]
#[test]
fn a_silent_critical_layer_is_replaced_by_the_fail_safe_image() {
    let (session, mut qmp, directory) =
        boot("display-freeze", &manifest("ram-capture", "seed=3 period-ms=16 presents=20", "seed=5 period-ms=16"));
    wait_for_freeze_after(&session, "[cluster] presented 20");
    let pixels = scan_out(&session, &mut qmp, directory.path());
    let wrong = differences(&pixels, true);
    if !wrong.is_empty() {
        session.fail(&format!("pixels differ from the fail-safe screen (x, y, seen, expected): {wrong:x?}"));
    }
}

/// Waits for `cluster`'s freeze event on a line after the one containing `earlier`. A
/// critical partition that starts late (the emulated ZCU102 on a loaded host) is declared
/// frozen once at boot, before its first present, and shown again when it presents: that
/// earlier event is not the one the test waits for.
fn wait_for_freeze_after(session: &QemuSession, earlier: &str) {
    const FROZEN: &str = "[hv] display: cluster's critical layer frozen (30 frames without a present)";
    session.wait_for(earlier);
    session.wait_until(&format!("`{FROZEN}` after `{earlier}`"), Duration::from_secs(60), |transcript| {
        let lines = transcript.complete_lines();
        let start = lines.iter().position(|line| line.contains(earlier))?;
        lines.iter().skip(start).any(|line| line.contains(FROZEN)).then_some(())
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
    wait_for_freeze_after(&session, "[cluster] presented 20");
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

/// Waits until `backend` shows the scan-out buffer and both painters presented 30 frames,
/// then compares QMP `screendump` with both layers and the background, every pixel.
fn screen_shows_both_layers(session: &QemuSession, qmp: &mut Qmp, directory: &Path, backend: &str) {
    session.wait_for(&format!("[hv] display: {backend} shows the scan-out buffer"));
    session.wait_for("[cluster] presented 30");
    session.wait_for("[media] presented 30");
    let pixels = screendump(session, qmp, directory);
    let wrong = differences(&pixels, false);
    if !wrong.is_empty() {
        session.fail(&format!("screendump pixels differ (x, y, seen, expected): {wrong:x?}"));
    }
}

// [itest->swr~display-safety-layer~1]
#[test]
fn ramfb_shows_both_layers_and_the_background_pixel_exact() {
    let (session, mut qmp, directory) =
        boot("display-ramfb", &manifest("ramfb", "seed=3 period-ms=16", "seed=5 period-ms=16"));
    screen_shows_both_layers(&session, &mut qmp, directory.path(), "ramfb");
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
    screen_shows_both_layers(&session, &mut qmp, directory.path(), "rpi4-mailbox");
}

/// A scratch directory under `target/` for the QMP socket and the memory dump, removed when
/// dropped (a short path: Unix socket paths are limited to about 100 bytes).
mod tempfile_dir {
    use super::*;

    pub struct Directory(PathBuf);

    impl Directory {
        pub fn new(name: &str) -> Self {
            let path = std::env::temp_dir().join(format!("bulkhead-{name}-{}", std::process::id()));
            std::fs::create_dir_all(&path).unwrap();
            Self(path)
        }

        pub fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for Directory {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}
