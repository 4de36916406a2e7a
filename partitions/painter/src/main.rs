//! `painter`: a partition that draws into its display layer and presents it.
//!
//! It finds its framebuffer in its device tree (the `simple-framebuffer` node the
//! configuration compiler writes for its `[[display.layer]]`), asks the mediator for its
//! layer index (`DISPLAY_INFO`), fills every pixel with the pattern below, and then presents
//! the whole layer (`DISPLAY_PRESENT`) once per `period-ms` milliseconds.
//!
//! Pattern, for bootarg `seed=S` (default 1) and pixel `(x, y)` of its own surface:
//! - `x8r8g8b8`: `0x00RRGGBB` with `RR = (x·S) mod 256`, `GG = (y·S) mod 256`,
//!   `BB = S mod 256`;
//! - `r5g6b5`: red `(x·S) mod 32`, green `(y·S) mod 64`, blue `S mod 32`.
//!
//! Bootargs: `seed=S`; `period-ms=P` (default 16); `presents=N`: stop presenting after N
//! presents (then the partition keeps running but stays silent: a frozen layer);
//! `flood=1`: present a one-pixel rectangle in a tight loop between periods (a present
//! flood, which the mediator must coalesce); `bad-rect=1`: present one rectangle entirely
//! outside the layer first (the mediator must refuse it); `wait=wfi`: wait for the next
//! period in WFI on the virtual timer instead of spinning, so that the core is idle between
//! presents (the bench's display row measures composition with the other cores idle).
//! `vblank=1`: turn the virtual vblank on (`DISPLAY_VBLANK`), enable the PPI it names and pace
//! the presents on it instead of the timer: one present per vblank; every 60th vblank prints
//! `vblank paced: <V> vblanks in <T> ms` (virtual counter since the first wait).
//! `vblank=gic-only`: enable the vblank PPI (INTID 16, from the device tree node) in the GIC
//! but never make the call: every 10th present prints `vblanks taken: <V>`, which must stay 0.
//! `write-past=N`: after N presents, write one row past the end of the framebuffer (still
//! this partition's RAM: nothing is shown), print `wrote past the framebuffer`, then write
//! the first word past the partition's RAM (`writing past RAM at 0x<A>`): a stage-2 fault the
//! hypervisor contains by the partition's fault policy.
//!
//! Lines the tests look for: `layer <L>: <W>x<H> <format> at 0x<ipa>`, `painted`,
//! `presented <N>` (every 10th and the last), `bad rectangle refused`, `flood: <N> presents, <C> coalesced`,
//! `vblank on: INTID <I>`, `vblank paced: ...`, `vblanks taken: <V>`, `wrote past the framebuffer`,
//! `writing past RAM at 0x<A>`.
#![no_std]
#![no_main]
#![forbid(unsafe_op_in_unsafe_fn)]

use core::arch::asm;
use core::sync::atomic::{AtomicU64, Ordering};

use guest_rt::timer::VirtualTimer;
use guest_rt::{BootInfo, cpu, irq, println};

guest_rt::entry!(main);

/// `DISPLAY_INFO` (`bulkhead_core::display::hypercall`).
const DISPLAY_INFO: u64 = 0xC600_0D00;
/// `DISPLAY_PRESENT`.
const DISPLAY_PRESENT: u64 = 0xC600_0D01;
/// `DISPLAY_VBLANK`.
const DISPLAY_VBLANK: u64 = 0xC600_0D02;
/// The vblank PPI the device tree node names (`interrupts = <1 0 1>`: PPI 0).
const VBLANK_INTID: u32 = 16;
/// GIC priority of the vblank.
const VBLANK_PRIORITY: u8 = 0x80;

/// Vblank interrupts taken.
static VBLANKS: AtomicU64 = AtomicU64::new(0);

fn on_vblank(_intid: u32) {
    VBLANKS.fetch_add(1, Ordering::Relaxed);
}

/// The layer's framebuffer, from the device tree.
struct Framebuffer {
    address: usize,
    width: u32,
    height: u32,
    stride: u32,
    rgb565: bool,
}

fn main(boot: &'static BootInfo) -> ! {
    let Some(framebuffer) = framebuffer(boot) else {
        println!("no simple-framebuffer node");
        cpu::park();
    };
    let seed = number_bootarg(boot, "seed").unwrap_or(1);
    let period_ms = number_bootarg(boot, "period-ms").unwrap_or(16);
    let presents = number_bootarg(boot, "presents");
    let flood = number_bootarg(boot, "flood") == Some(1);
    let layer = hypercall(DISPLAY_INFO, 0, 0);
    println!(
        "layer {}: {}x{} {} at {:#x}",
        layer as i64,
        framebuffer.width,
        framebuffer.height,
        if framebuffer.rgb565 { "r5g6b5" } else { "x8r8g8b8" },
        framebuffer.address
    );
    draw(&framebuffer, seed);
    println!("painted");
    if number_bootarg(boot, "bad-rect") == Some(1) {
        let origin = u64::from(framebuffer.width) | (u64::from(framebuffer.height) << 32);
        if hypercall(DISPLAY_PRESENT, origin, 1 | (1 << 32)) as i64 == -2 {
            println!("bad rectangle refused");
        }
    }
    let vblank = boot.bootarg("vblank");
    let paced = vblank == Some("1");
    if paced {
        let intid = hypercall(DISPLAY_VBLANK, 1, 0);
        match irq::enable(intid as u32, VBLANK_PRIORITY, on_vblank) {
            Ok(()) => println!("vblank on: INTID {}", intid),
            Err(error) => println!("vblank INTID {} not enabled: {:?}", intid as i64, error),
        }
    } else if vblank == Some("gic-only") {
        if let Err(error) = irq::enable(VBLANK_INTID, VBLANK_PRIORITY, on_vblank) {
            println!("vblank INTID not enabled: {:?}", error);
        }
    }
    irq::unmask();
    let write_past = number_bootarg(boot, "write-past");
    let timer = VirtualTimer;
    let period = timer.ticks_from_nanoseconds(period_ms.saturating_mul(1_000_000));
    let sleep = boot.bootarg("wait") == Some("wfi") && enable_timer_wake(boot);
    let paced_since = timer.now();
    // Multiples of 60 vblanks already reported.
    let mut reported: u64 = 0;
    let mut count: u64 = 0;
    let (mut flooded, mut coalesced) = (0u64, 0u64);
    loop {
        if paced {
            let seen = VBLANKS.load(Ordering::Relaxed);
            irq::wait_while(|| VBLANKS.load(Ordering::Relaxed) == seen);
            let taken = VBLANKS.load(Ordering::Relaxed);
            if taken / 60 > reported {
                reported = taken / 60;
                let elapsed = timer.now().saturating_sub(paced_since);
                println!("vblank paced: {} vblanks in {} ms", taken, elapsed.saturating_mul(1000) / timer.frequency().max(1));
            }
        }
        if presents.is_none_or(|limit| count < limit) {
            hypercall(DISPLAY_PRESENT, 0, 0);
            count += 1;
            if count % 10 == 0 || Some(count) == presents {
                println!("presented {}", count);
                if vblank == Some("gic-only") {
                    println!("vblanks taken: {}", VBLANKS.load(Ordering::Relaxed));
                }
            }
            if flood && count % 10 == 0 {
                println!("flood: {} presents, {} coalesced", flooded, coalesced);
            }
            if write_past == Some(count) {
                write_past_the_end(boot, &framebuffer);
            }
        }
        if paced {
            continue;
        }
        let deadline = timer.now().saturating_add(period);
        if sleep {
            timer.set_deadline(deadline);
            irq::wait_while(|| timer.now() < deadline);
        }
        while timer.now() < deadline {
            if flood {
                flooded += 1;
                if hypercall(DISPLAY_PRESENT, 0, 1 | (1 << 32)) == 1 {
                    coalesced += 1;
                }
            } else {
                core::hint::spin_loop();
            }
        }
    }
}

/// Lets the virtual timer's interrupt end a WFI ([`on_timer`] only silences it); false, with
/// a line saying why, when the device tree names no timer interrupt (the painter then spins).
fn enable_timer_wake(boot: &'static BootInfo) -> bool {
    let Some(intid) = boot.virtual_timer_intid else {
        println!("no virtual timer interrupt: spinning between presents");
        return false;
    };
    if let Err(error) = irq::enable(intid, 0x80, on_timer) {
        println!("cannot enable the virtual timer interrupt {}: {:?}", intid, error);
        return false;
    }
    irq::unmask();
    true
}

/// The timer interrupt only wakes the WFI: stopping the timer lowers the level-triggered line.
fn on_timer(_intid: u32) {
    VirtualTimer.stop();
}

/// The first `simple-framebuffer` node's `reg`, size and format.
fn framebuffer(boot: &'static BootInfo) -> Option<Framebuffer> {
    let node = boot.device_tree.find_compatible(&["simple-framebuffer"])?;
    let region = node.reg()?.next()?;
    let cell = |name: &str| -> Option<u32> {
        let value = node.property(name)?.value;
        Some(u32::from_be_bytes(value.get(..4)?.try_into().ok()?))
    };
    let format = node.property("format")?.value;
    Some(Framebuffer {
        address: region.starting_address as usize,
        width: cell("width")?,
        height: cell("height")?,
        stride: cell("stride")?,
        rgb565: format.starts_with(b"r5g6b5"),
    })
}

/// Fills every pixel with the pattern of `seed` (see the crate documentation).
fn draw(framebuffer: &Framebuffer, seed_value: u64) {
    let seed = seed_value as u32;
    for y in 0..framebuffer.height {
        let row = framebuffer.address + (y as usize) * (framebuffer.stride as usize);
        for x in 0..framebuffer.width {
            let red = x.wrapping_mul(seed);
            let green = y.wrapping_mul(seed);
            if framebuffer.rgb565 {
                let pixel = (((red & 0x1f) << 11) | ((green & 0x3f) << 5) | (seed & 0x1f)) as u16;
                // SAFETY: the pixel lies inside the framebuffer the device tree gives this
                // partition (row < height, x < width, 2 bytes each within the stride), in its
                // own RAM, which nothing else in this guest uses (a no-map reserved region).
                unsafe { core::ptr::write_volatile((row + 2 * x as usize) as *mut u16, pixel) };
            } else {
                let pixel = ((red & 0xff) << 16) | ((green & 0xff) << 8) | (seed & 0xff);
                // SAFETY: as above, 4 bytes per pixel.
                unsafe { core::ptr::write_volatile((row + 4 * x as usize) as *mut u32, pixel) };
            }
        }
    }
}

/// Writes one row past the framebuffer (this partition's own RAM), then one word past the
/// partition's RAM, which stage 2 does not map: the hypervisor takes the fault.
fn write_past_the_end(boot: &'static BootInfo, framebuffer: &Framebuffer) {
    let past_framebuffer = framebuffer.address + (framebuffer.height as usize) * (framebuffer.stride as usize);
    // SAFETY: the row after the framebuffer lies in this partition's RAM (the compiler keeps
    // the framebuffer below the device tree slot at the RAM's end), which nothing in this
    // guest uses; the write shows that nothing outside the layer is composed.
    unsafe { core::ptr::write_volatile(past_framebuffer as *mut u32, 0x00ff_00ff) };
    println!("wrote past the framebuffer");
    let Some(ram) = boot.device_tree.memory().regions().next() else {
        println!("no memory node");
        return;
    };
    let past_ram = ram.starting_address as usize + ram.size.unwrap_or(0);
    println!("writing past RAM at {:#x}", past_ram);
    // SAFETY: deliberately outside this partition's RAM: stage 2 maps nothing there, so the
    // store never completes; the hypervisor applies the fault policy (the write is the test).
    unsafe { core::ptr::write_volatile(past_ram as *mut u32, 0x00ff_00ff) };
    println!("the write past RAM returned");
}

/// One display hypercall (SMCCC, `hvc #0`): function in x0, arguments in x1-x2, result in x0.
fn hypercall(function: u64, argument1: u64, argument2: u64) -> u64 {
    let result: u64;
    // SAFETY: an SMCCC call touches no memory of the caller and preserves x18-x30 and sp;
    // SMCCC v1.1 lets it change x0-x17, all declared as outputs here.
    unsafe {
        asm!(
            "hvc #0",
            inout("x0") function => result,
            inout("x1") argument1 => _,
            inout("x2") argument2 => _,
            out("x3") _, out("x4") _, out("x5") _, out("x6") _, out("x7") _,
            out("x8") _, out("x9") _, out("x10") _, out("x11") _,
            out("x12") _, out("x13") _, out("x14") _, out("x15") _,
            out("x16") _, out("x17") _,
            options(nostack),
        )
    };
    result
}

/// The number in bootarg `key=<number>`.
fn number_bootarg(boot: &BootInfo, key: &str) -> Option<u64> {
    boot.bootarg(key)?.parse().ok()
}
