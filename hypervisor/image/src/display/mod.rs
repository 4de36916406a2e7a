//! The display mediator at EL2: the present hypercall, frame composition on the manifest's
//! compose core, and the scan-out buffer, which lives here, in hypervisor memory that no
//! partition's stage 2 maps.
//!
//! Every decision is `bulkhead_core::display`'s (clipping, damage, the frame plan, liveness);
//! this module only moves bytes and takes the locks:
//!
//! * `MEDIATOR` (every layer's damage and liveness) is taken by any core's present for one
//!   [`LayerState::present`] (O(`DAMAGE_CAPACITY`)), and by the compose core for one
//!   [`plan_frame`] (O(layers × damage)); never with another lock held, never around
//!   composition.
//! * `SCAN_OUT` is taken only by the composing core, around the composition of one frame plan
//!   and then around the backend's copy of it (`frame_composed_from`); no other core ever
//!   needs it, so composition never holds a lock another core waits for.
//!
//! Worst case of the new EL2 paths: a present is one lock and one damage-list insert, plus,
//! when a frame is due, one frame plan and its composition: at most the frame budget
//! (`DisplayConfig::budget` pixel operations, which the compiler proved covers the whole
//! screen) plus the fail-safe fills. Frames are composed on the compose core, by its frame
//! tick (the EL2 physical timer, PPI 26, once per period, taken in the interrupt path with no
//! lock held) and by a present there once a period has passed; the compose core's partition
//! owns a critical layer, or none runs there (the compiler checked). A present on any other
//! core composes only if two periods passed without any frame (no tick: a compose core
//! without a vCPU), and then on the presenting partition's own time. Presents coalesce, so a
//! flood of presents costs its sender one lock and one insert each and never more than one
//! frame per period for anyone.
//!
//! With `statistics_every` set, the compose core also keeps one window of frame statistics
//! (`STATISTICS`, O(1) per frame, one in-place sort of at most 128 samples per window) and
//! prints a line per window.
//!
//! The virtual vblank: after each composed frame, every partition whose layer has it on
//! (`DISPLAY_VBLANK`) gets PPI [`VBLANK_INTID`] latched pending on its vCPU 0, under that
//! partition's lock, taken after `PLAN` and `MEDIATOR` are released, one partition at a time;
//! a vCPU that can take it is kicked. At most `MAX_LAYERS` lock/latch/kick steps per frame.
//!
//! Backends sit behind one trait ([`backend::ScanOutBackend`]): RAM capture is the buffer
//! itself; ramfb is configured once at boot to scan the buffer out; virtio-gpu backs its
//! resource with the buffer and is sent each frame's damage after composition, never waited
//! for; the Raspberry Pi 4's mailbox framebuffer gets each frame's damage copied into it.
//! A ZCU102 DisplayPort backend is not built (`docs/display.md`).
#![expect(unsafe_code, reason = "reads partitions' framebuffers through the EL2 identity map")]

use crate::context::TrapContext;
use crate::generated::{DISPLAY, DISPLAY_SCAN_OUT_PIXELS};
use bulkhead_arch_aarch64 as arch;
use bulkhead_core::display::compose::{LayerSource, ScanOut};
use bulkhead_core::display::hypercall::{self, DisplayCall, INVALID_PARAMETERS, NOT_SUPPORTED, VBLANK_INTID};
use bulkhead_core::display::liveness::HealthEvent;
use bulkhead_core::display::schedule::{FramePlan, LayerState, PresentOutcome, WorkKind, drawing_order, plan_frame};
use bulkhead_core::display::statistics::{FrameSample, FrameStatistics, Spread, Summary};
use bulkhead_core::display::{DisplayConfig, FailSafe, LayerConfig, MAX_LAYERS, Rect};
use bulkhead_core::addr::PhysAddr;
use bulkhead_core::vgic::VcpuSet;
use crate::lock::Mutex;
use crate::partition::PARTITIONS;

mod backend;

/// Every layer's run-time state and the frame clock.
struct Mediator {
    /// One per layer, in manifest order.
    layers: [LayerState; MAX_LAYERS],
    /// Frames planned so far.
    frame: u64,
    /// Counter value at the last frame.
    last_frame: u64,
    /// Per layer, the counter value of its first present that no frame has shown yet.
    unshown_present: [Option<u64>; MAX_LAYERS],
}

/// The mediator's shared state (see the module documentation for who takes it and how long).
static MEDIATOR: Mutex<Mediator> = Mutex::new(Mediator {
    layers: [const { LayerState::new() }; MAX_LAYERS],
    frame: 0,
    last_frame: 0,
    unshown_present: [None; MAX_LAYERS],
});

/// The current window of frame statistics, taken only by the composing core, after `PLAN`
/// and never with `MEDIATOR` held.
static STATISTICS: Mutex<FrameStatistics> = Mutex::new(FrameStatistics::new());

/// The current frame's plan, taken only by the composing core, before `MEDIATOR`.
static PLAN: Mutex<FramePlan> = Mutex::new(FramePlan::new());

/// The scan-out buffer (XRGB8888, row after row), taken only on the compose core.
static SCAN_OUT: Mutex<[u32; DISPLAY_SCAN_OUT_PIXELS]> = Mutex::new([0; DISPLAY_SCAN_OUT_PIXELS]);

/// Announces the display on the console (the scan-out address is what a debugger or a test
/// reads back) and composes the first frame: the background and every layer.
pub fn initialise() {
    let Some(display) = DISPLAY else {
        return;
    };
    let scan_out = SCAN_OUT.lock();
    let shown = backend::for_kind(display.backend);
    match shown.start(display, scan_out.as_slice()) {
        Ok(()) => crate::hv_println!("display: {} shows the scan-out buffer", shown.name()),
        Err(error) => crate::hv_println!("display: {} not started ({:?}): frames stay in RAM", shown.name(), error),
    }
    crate::hv_println!(
        "display: {}x{} {:?}, {} layers, scan-out at {:p}, compose core {}",
        display.width,
        display.height,
        display.backend,
        display.layers.len(),
        scan_out.as_ptr(),
        display.compose_core
    );
}

/// Whether `core` runs the display's frame tick: the compose core, when there is a display.
pub fn ticks_on(core: usize) -> bool {
    DISPLAY.is_some_and(|display| display.compose_core == core)
}

/// Counter ticks of one frame period of `display`.
fn period_ticks(display: &DisplayConfig) -> u64 {
    arch::cpu::counter_frequency()
        .saturating_mul(u64::from(display.frame_period_us))
        .checked_div(1_000_000)
        .unwrap_or(u64::MAX)
}

/// Starts the frame tick on `core` if it is the compose core (called as its vCPU enters).
pub fn start_tick(core: usize) {
    if let Some(display) = DISPLAY.filter(|_| ticks_on(core)) {
        arch::cpu::arm_hypervisor_timer(arch::cpu::counter().saturating_add(period_ticks(display)));
    }
}

/// The frame tick, on the compose core: composes a frame if one is due and re-arms the
/// timer one period on. Keeps frames (and so freeze detection) coming whether or not any
/// partition presents. Bounded like any frame (module documentation).
pub fn tick() {
    let Some(display) = DISPLAY else {
        return;
    };
    arch::cpu::arm_hypervisor_timer(arch::cpu::counter().saturating_add(period_ticks(display)));
    // The tick is the frame clock: it always composes (0 periods), so a present's frame in
    // between cannot make it skip one.
    frame_if_due(display, 0);
}

/// A display hypercall from this core's vCPU, or `None` when `function` is not one (the
/// caller then handles it as any other SMCCC call). Decoding comes first, so other calls pay
/// one comparison of the function ID.
pub fn hypercall(function: u64, arguments: [u64; 2]) -> Option<u64> {
    let call = hypercall::decode(function, arguments)?;
    let context = TrapContext::current();
    let answer = answer(context, call);
    // Refused display calls count like any refused SMCCC call (the chaos test's accounting).
    crate::refusals::count_call(context.vcpu.partition, function, answer);
    Some(answer)
}

/// What `call` from the vCPU of `context` returns in `x0`.
fn answer(context: &TrapContext, call: DisplayCall) -> u64 {
    let Some((display, index, layer)) = layer_of(context.vcpu.partition) else {
        return NOT_SUPPORTED;
    };
    let rect = match call {
        DisplayCall::Info => return u64::try_from(index).unwrap_or(NOT_SUPPORTED),
        DisplayCall::Vblank(None) => return INVALID_PARAMETERS,
        DisplayCall::Vblank(Some(on)) => {
            if let Some(state) = MEDIATOR.lock().layers.get_mut(index) {
                state.set_vblank(on);
            }
            return if on { u64::from(VBLANK_INTID) } else { 0 };
        }
        DisplayCall::Present(rect) => rect,
    };
    let outcome = {
        let mut mediator = MEDIATOR.lock();
        let outcome = mediator.layers.get_mut(index).map(|state| state.present(layer, rect));
        if let (Some(Ok(_)), Some(since @ None)) = (outcome.as_ref(), mediator.unshown_present.get_mut(index)) {
            *since = Some(arch::cpu::counter());
        }
        outcome
    };
    let answer = match outcome {
        Some(Ok(PresentOutcome::Queued)) => 0,
        Some(Ok(PresentOutcome::Coalesced)) => 1,
        Some(Err(_)) | None => INVALID_PARAMETERS,
    };
    // The compose core's presents drive the frames. Without an EL2 frame tick (not built
    // yet), a silent compose-core partition would stop them, and with them the freeze
    // detection that must notice exactly that partition: so a present on any other core runs
    // a frame itself once two periods have passed without one, on its own core's time.
    let periods = if context.core == display.compose_core { 1 } else { 2 };
    frame_if_due(display, periods);
    answer
}

/// The display, and the index and description of `partition`'s layer, if it has one.
fn layer_of(partition: usize) -> Option<(&'static DisplayConfig, usize, &'static LayerConfig)> {
    let display = DISPLAY?;
    let (index, layer) = display.layers.iter().enumerate().find(|(_, layer)| layer.partition == partition)?;
    Some((display, index, layer))
}

/// Plans and composes one frame if `periods` frame periods have passed since the last one
/// (0: now), then sends the frame's vblanks.
fn frame_if_due(display: &'static DisplayConfig, periods: u64) {
    let Some(vblanks) = compose_if_due(display, periods) else {
        return;
    };
    for index in &vblanks {
        if let Some(layer) = display.layers.get(*index) {
            raise_vblank(layer.partition);
        }
    }
}

/// [`frame_if_due`]'s frame: `None` if none was due, else the layers whose owners get a
/// vblank for it. Returns with `PLAN` and `MEDIATOR` released.
fn compose_if_due(display: &'static DisplayConfig, periods: u64) -> Option<heapless::Vec<usize, MAX_LAYERS>> {
    let now = arch::cpu::counter();
    let period = period_ticks(display).saturating_mul(periods);
    // Taken only by the composing core (see the module documentation), never waited for by
    // a present; planned into in place, since a plan is too large for the trap path's stack.
    let mut plan = PLAN.lock();
    let (frame, oldest_critical_present) = {
        let mut mediator = MEDIATOR.lock();
        if mediator.frame != 0 && now.saturating_sub(mediator.last_frame) < period {
            return None;
        }
        mediator.last_frame = now;
        let frame = mediator.frame;
        mediator.frame = frame.saturating_add(1);
        plan_frame(display, &mut mediator.layers, frame, &mut plan);
        if frame.saturating_add(1).checked_rem(ACCOUNTING_FRAMES) == Some(0) {
            log_layer_accounting(display, &mediator.layers, frame.saturating_add(1));
        }
        (frame, take_critical_presents(display, &mut mediator.unshown_present))
    };
    compose(display, &plan, frame == 0);
    let composed = arch::cpu::counter();
    backend::for_kind(display.backend).frame_composed_from(&plan, SCAN_OUT.lock().as_slice());
    for event in &plan.events {
        report(display, *event);
    }
    let every = usize::try_from(display.statistics_every).unwrap_or(0);
    if every != 0 {
        let sample = FrameSample {
            frame,
            compose_ticks: composed.saturating_sub(now),
            pixel_operations: plan.cost,
            critical_latency: oldest_critical_present.map(|since| composed.saturating_sub(since)),
            deferred_work: !plan.deferred.is_empty(),
        };
        if let Some(summary) = STATISTICS.lock().record(sample, every) {
            report_statistics(&summary);
        }
    }
    Some(plan.vblanks.clone())
}

/// Forgets every layer's unshown present and returns the oldest critical one, which this
/// frame shows: the scheduler composes critical work first, within a budget the compiler
/// proved covers the screen. (Non-critical latency is not reported: deferred work may wait.)
fn take_critical_presents(display: &DisplayConfig, unshown: &mut [Option<u64>; MAX_LAYERS]) -> Option<u64> {
    display
        .layers
        .iter()
        .zip(unshown.iter_mut())
        .filter_map(|(layer, since)| since.take().filter(|_| layer.critical))
        .min()
}

/// One statistics line (min/median/max each): `cargo xtask bench` parses it
/// (`xtask/src/bench/display.rs`), so its shape is part of the bench's contract. Latency is
/// `-` when no critical layer presented in the window.
fn report_statistics(summary: &Summary) {
    /// `min/median/max`, formatted without a buffer.
    struct Three(Option<Spread>);
    impl core::fmt::Display for Three {
        fn fmt(&self, out: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            match self.0 {
                Some(spread) => write!(out, "{}/{}/{}", spread.minimum, spread.median, spread.maximum),
                None => out.write_str("-"),
            }
        }
    }
    crate::hv_println!(
        "display: frames {}+{}: compose {} ticks, {} pixel ops, critical latency {} ticks, deferred {}",
        summary.first_frame,
        summary.frames,
        Three(Some(summary.compose_ticks)),
        Three(Some(summary.pixel_operations)),
        Three(summary.critical_latency),
        summary.frames_with_deferred_work
    );
}

/// Frames between two layer-accounting lines in the defmt log.
const ACCOUNTING_FRAMES: u64 = 300;

/// Each layer's accounting after `frames` frames, in the defmt log (a few bytes per layer:
/// what a test or an operator reads to see that the critical layer missed no frame).
fn log_layer_accounting(display: &DisplayConfig, layers: &[LayerState], frames: u64) {
    for (index, state) in layers.iter().enumerate().take(display.layers.len()) {
        let (presents, coalesced) = state.presents();
        let (_, vblanks) = state.vblank();
        defmt::info!(
            "display: frame {=u64}: layer {=usize}: {=u64} presents ({=u64} coalesced), {=u64} deferred frames, {=u64} vblanks",
            frames,
            index,
            presents,
            coalesced,
            state.deferred_frames(),
            vblanks
        );
    }
}

/// Latches the vblank PPI pending on vCPU 0 of `partition` and kicks that vCPU if it can
/// take it now (the guest enabled the PPI). A partition that is stopped (no state) is
/// skipped. One partition lock, O(1) vGIC work, at most one kick.
fn raise_vblank(partition: usize) {
    let (Some(description), Some(slot)) = (crate::generated::SYSTEM.partitions.get(partition), PARTITIONS.get(partition)) else {
        return;
    };
    let target = slot.lock().as_mut().map(|state| state.devices.vgic.set_private_pending(0, VBLANK_INTID));
    if let Some(Ok(Some(vcpu))) = target {
        crate::delivery::kick_vcpus(description, VcpuSet::single(vcpu));
    }
}

/// Carries out `plan` on the scan-out buffer; the `first` frame first composes the whole
/// screen, so the background is drawn once (no layer's damage ever covers it).
fn compose(display: &'static DisplayConfig, plan: &FramePlan, first: bool) {
    let mut pixels = SCAN_OUT.lock();
    let Ok(mut screen) = ScanOut::new(pixels.as_mut_slice(), display.width, display.height) else {
        return;
    };
    let order = drawing_order(display);
    let sources: heapless::Vec<GuestFramebuffer, MAX_LAYERS> =
        display.layers.iter().map(|layer| GuestFramebuffer { layer }).collect();
    let compose_clip = |target: &mut ScanOut<'_>, clip: Rect| {
        let mut layers: heapless::Vec<(&LayerConfig, &GuestFramebuffer), MAX_LAYERS> = heapless::Vec::new();
        for index in &order {
            if let (Some(layer), Some(source)) = (display.layers.get(*index), sources.get(*index))
                && layer.destination.overlaps(clip)
            {
                // At most MAX_LAYERS layers: the push cannot fail.
                let _pushed: Result<(), (&LayerConfig, &GuestFramebuffer)> = layers.push((layer, source));
            }
        }
        target.compose(clip, display.background, &layers);
    };
    if first {
        let whole = screen.bounds();
        compose_clip(&mut screen, whole);
    }
    for item in &plan.items {
        match item.kind {
            WorkKind::FailSafe => {
                let FailSafe::Colour(colour) = display.fail_safe;
                screen.fill(item.clip, colour);
            }
            WorkKind::Compose => compose_clip(&mut screen, item.clip),
        }
    }
}

/// A health event on the console: the operator must see a frozen critical layer.
fn report(display: &'static DisplayConfig, event: HealthEvent) {
    let name = |index: usize| {
        display
            .layers
            .get(index)
            .and_then(|layer| crate::generated::SYSTEM.partitions.get(layer.partition))
            .map_or("?", |partition| partition.name)
    };
    match event {
        HealthEvent::Frozen { layer, idle_frames } => crate::hv_println!(
            "display: {}'s critical layer frozen ({} frames without a present): fail-safe image shown",
            name(layer),
            idle_frames
        ),
        HealthEvent::Recovered { layer } => crate::hv_println!("display: {}'s layer presents again", name(layer)),
    }
}

/// A layer's framebuffer in its partition's RAM, read through the EL2 identity map.
struct GuestFramebuffer {
    /// The layer (its framebuffer's host address and size).
    layer: &'static LayerConfig,
}

impl LayerSource for GuestFramebuffer {
    fn read(&self, offset: u64, out: &mut [u8]) {
        out.fill(0);
        let size = self.layer.framebuffer_bytes();
        let available = size.saturating_sub(offset);
        let count = usize::try_from(available).unwrap_or(usize::MAX).min(out.len());
        let (Some(inside), Some(source)) = (out.get_mut(..count), self.layer.framebuffer_phys.checked_add(offset)) else {
            return;
        };
        // SAFETY: `offset + count <= size`, so the bytes lie inside the layer's framebuffer,
        // which the compiler proved is in the owning partition's RAM or one of its regions
        // (BH1106); the EL2 map covers all board RAM as Normal memory.
        let _read: bool = unsafe { arch::memory::read_guest(PhysAddr(source), inside) };
    }
}
