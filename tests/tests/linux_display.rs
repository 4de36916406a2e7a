//! Linux draws on the shared screen beside a bare-metal critical layer, as
//! `partitions/linux-display.toml` describes them: Debian's arm64 kernel (the initramfs of the
//! Linux demo) owns a non-critical layer, the `painter` partition `cluster` the critical one.
//!
//! Checked: Debian's built-in `simplefb` binds to the layer's `simple-framebuffer` node and
//! makes `/dev/fb0` with the layer's geometry; `/init` fills it with its three-colour
//! pattern (`partitions/linux-initramfs/init`) without ever calling the present hypercall;
//! the scan-out buffer, read back from the hypervisor's memory with QMP `pmemsave`, then
//! shows Linux's pattern pixel-exact in Linux's layer, `cluster`'s pattern pixel-exact in the
//! critical layer, and the background elsewhere; once `cluster` presents, it is never
//! declared frozen while Linux boots and draws beside it.
//!
//! Time: one Linux boot (about 5 s of guest time; 20–60 s under TCG on a loaded host).
//!
//! Verifies: [itest->swr~display-safety-layer~1]

use std::time::Duration;

use bulkhead_qemu_tests::display::{self, boot_with_qmp};
use bulkhead_qemu_tests::{BootOptions, TestSystem};
use xtask::linux_guest::INIT_MARKER;

/// The committed manifest this test boots.
const MANIFEST: &str = "partitions/linux-display.toml";
const WIDTH: u32 = 640;
const HEIGHT: u32 = 480;
const BACKGROUND: u32 = 0x20_2020;
/// Linux's layer: 320×240 XRGB8888 at (320, 240), stride 1280.
const LINUX_ORIGIN: (u32, u32) = (320, 240);
const LINUX_WIDTH: u32 = 320;
/// The colours `/init` repeats, pixel after pixel, from the framebuffer's first byte.
const LINUX_PATTERN: [u32; 3] = [0x0010_80f0, 0x0080_f00f, 0x0033_aa55];
/// Bound for Linux's boot to its init marker.
const BOOT: Duration = Duration::from_secs(120);

/// `cluster`'s painter pattern for seed 3 (`partitions/painter`).
fn cluster_pixel(x: u32, y: u32) -> u32 {
    let seed = 3u32;
    ((x.wrapping_mul(seed) & 0xff) << 16) | ((y.wrapping_mul(seed) & 0xff) << 8) | seed
}

fn expected(x: u32, y: u32) -> u32 {
    if x < 320 && y < 240 {
        cluster_pixel(x, y)
    } else if x >= LINUX_ORIGIN.0 && y >= LINUX_ORIGIN.1 {
        let index = (y - LINUX_ORIGIN.1) * LINUX_WIDTH + (x - LINUX_ORIGIN.0);
        LINUX_PATTERN[(index % 3) as usize]
    } else {
        BACKGROUND
    }
}

// [itest->swr~display-safety-layer~1]
#[test]
fn linux_draws_through_simplefb_beside_a_pixel_exact_critical_layer() {
    let system = TestSystem::from_manifest_file(MANIFEST);
    let options = BootOptions { session_timeout: Duration::from_secs(170), ..BootOptions::default() };
    let (session, mut qmp, directory) = boot_with_qmp(&system, "linux-display", options);
    let drawn = session.wait_until("Linux's framebuffer line", BOOT, |transcript| {
        transcript.lines_of("linux").into_iter().find(|line| line.starts_with("linux-demo: fb0: ")).map(str::to_owned)
    });
    if drawn != "linux-demo: fb0: simple 320,240 stride 1280 drawn" {
        session.fail(&format!("Linux's framebuffer is not the layer: {drawn}"));
    }
    session.wait_for(&format!("[linux] {INIT_MARKER}"));
    // A frame period is 16.7 ms: a second of guest time composes Linux's whole layer dozens
    // of times. Wait for cluster's progress rather than for the host clock.
    let transcript = session.transcript();
    let presented = transcript.lines_of("cluster").iter().filter(|line| line.starts_with("presented ")).count();
    let next = (presented + 3) * 10;
    session.wait_for(&format!("[cluster] presented {next}"));
    let pixels = display::scan_out(&session, &mut qmp, directory.path(), WIDTH, HEIGHT);
    let mut wrong = Vec::new();
    let mut wrong_in_cluster = 0usize;
    for y in 0..HEIGHT {
        for x in 0..WIDTH {
            let seen = pixels[(y * WIDTH + x) as usize] & 0x00ff_ffff;
            let want = expected(x, y);
            if seen != want {
                if x < 320 && y < 240 {
                    wrong_in_cluster += 1;
                }
                if wrong.len() < 10 {
                    wrong.push((x, y, seen, want));
                }
            }
        }
    }
    if !wrong.is_empty() {
        session.fail(&format!(
            "pixels differ ({wrong_in_cluster} in the critical layer; first (x, y, seen, expected)): {wrong:x?}"
        ));
    }
    // Before its first present the critical layer has shown nothing yet, and a painter that
    // fills its 320×240 pixels under TCG beside a booting Linux may take longer than the
    // freeze threshold: the fail-safe image standing in then is the design. From the first
    // present on, it must never freeze.
    let transcript = session.transcript();
    let lines = transcript.complete_lines();
    let first_present = lines.iter().position(|line| line.starts_with("[cluster] presented ")).unwrap_or(0);
    if let Some(frozen) = lines.iter().skip(first_present).find(|line| line.contains("frozen")) {
        session.fail(&format!("the critical layer froze while Linux ran beside it: {frozen}"));
    }
}
