//! The frame scheduler: what one frame composes, within a fixed budget.
//!
//! Partitions present (mark damage) whenever they like; presents of one frame coalesce into
//! their layer's [`DamageList`]. At each frame tick [`plan_frame`] advances every layer's
//! [`Liveness`] and turns the damage into a [`FramePlan`]:
//!
//! 1. critical layers first: a frozen one gets the fail-safe image over its destination (the
//!    frame it froze), a live one its damage;
//! 2. then the other layers, starting one further each frame (so no layer is always last),
//!    each taken whole (all its damage) only while the frame's cost stays within the budget;
//!    the rest keep their damage for the next frame and count as deferred.
//!
//! A layer that has never presented (a guest drawing through `simple-framebuffer` without
//! the present call, like Linux's simplefb or simpledrm) is refreshed whole every frame it
//! fits: the mediator cannot see a guest's stores, and the compiler already proved that
//! the whole screen, every layer included, fits one frame's budget (`BH1108`), so this
//! costs no more than a frame in which every layer presented everything. Such a layer
//! cannot freeze (only critical layers do, and a critical layer that never presents is
//! frozen after its threshold as any silent one): it is shown as its owner draws it.
//!
//! Each plan also lists the layers whose owners asked for a virtual vblank
//! ([`LayerState::set_vblank`]): one entry per such layer per frame, so a partition is sent
//! at most one vblank per composed frame by construction.
//!
//! Bounds: [`LayerState::present`] is O([`DAMAGE_CAPACITY`]); [`plan_frame`] is
//! O(layers × damage) and allocates nothing; the plan's composition work is at most the
//! budget plus the critical layers' share (which the compiler proved fits the budget).

use heapless::Vec;

use super::damage::{DAMAGE_CAPACITY, DamageList};
use super::liveness::{HealthEvent, Liveness};
use super::rect::Rect;
use super::{DisplayConfig, LayerConfig, MAX_LAYERS, composition_cost};

/// Work items one frame can hold: every damage rectangle of every layer.
pub const MAX_WORK_ITEMS: usize = MAX_LAYERS * DAMAGE_CAPACITY;

/// The mediator's run-time state of one layer.
#[derive(Clone, Debug, Default)]
pub struct LayerState {
    /// Screen rectangles to compose at the next frame it fits.
    damage: DamageList,
    /// Presents seen, for freeze detection.
    liveness: Liveness,
    /// Whether this frame already counted a present (later ones coalesce).
    presented_this_frame: bool,
    /// Whether the layer ever presented (if not, it is refreshed whole every frame).
    presented_ever: bool,
    /// Frames whose work for this layer the budget deferred.
    deferred_frames: u64,
    /// Presents accepted.
    presents: u64,
    /// Presents merged into an earlier one of the same frame.
    coalesced: u64,
    /// Whether the owner asked for a vblank interrupt at every composed frame.
    vblank: bool,
    /// Frames at which a vblank was planned for the owner.
    vblanks: u64,
}

/// Why a present was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PresentError {
    /// The rectangle shares no pixel with the layer (surface-local coordinates).
    OutsideLayer,
}

/// What a present did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PresentOutcome {
    /// The first present of this frame: the next frame composes it.
    Queued,
    /// A further present in the same frame, merged into the damage already queued.
    Coalesced,
}

impl LayerState {
    /// A layer before its first present.
    pub const fn new() -> Self {
        Self {
            damage: DamageList::new(),
            liveness: Liveness::new(),
            presented_this_frame: false,
            presented_ever: false,
            deferred_frames: 0,
            presents: 0,
            coalesced: 0,
            vblank: false,
            vblanks: 0,
        }
    }

    /// Turns the owner's vblank interrupt on or off (from the next planned frame).
    pub fn set_vblank(&mut self, on: bool) {
        self.vblank = on;
    }

    /// Whether the owner gets a vblank at every frame, and how many were planned so far.
    pub const fn vblank(&self) -> (bool, u64) {
        (self.vblank, self.vblanks)
    }

    /// The guest's present of `rect` in its own surface coordinates (`None`: the whole
    /// layer). Clipped to the layer: a guest cannot name a pixel outside it.
    pub fn present(
        &mut self,
        layer: &LayerConfig,
        rect: Option<Rect>,
    ) -> Result<PresentOutcome, PresentError> {
        let whole = Rect::new(0, 0, layer.width, layer.height);
        let screen = rect
            .unwrap_or(whole)
            .intersection(whole)
            .and_then(|inside| inside.surface_to_screen(layer.destination))
            .ok_or(PresentError::OutsideLayer)?;
        self.damage.add(screen);
        self.presented_ever = true;
        self.presents = self.presents.saturating_add(1);
        if self.presented_this_frame {
            self.coalesced = self.coalesced.saturating_add(1);
            return Ok(PresentOutcome::Coalesced);
        }
        self.presented_this_frame = true;
        self.liveness.present();
        Ok(PresentOutcome::Queued)
    }

    /// The layer's liveness.
    pub const fn liveness(&self) -> &Liveness {
        &self.liveness
    }

    /// Frames in which the layer had work that the budget deferred.
    pub const fn deferred_frames(&self) -> u64 {
        self.deferred_frames
    }

    /// Presents accepted, and how many of them were coalesced into an earlier one.
    pub const fn presents(&self) -> (u64, u64) {
        (self.presents, self.coalesced)
    }
}

/// What a work item draws.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WorkKind {
    /// The background and every layer meeting the clip, by z-order.
    Compose,
    /// The fail-safe image over a frozen critical layer.
    FailSafe,
}

/// One rectangle to draw this frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WorkItem {
    /// The layer whose damage (or freeze) it is.
    pub layer: usize,
    /// The screen rectangle, inside the layer's destination.
    pub clip: Rect,
    /// What to draw there.
    pub kind: WorkKind,
    /// Pixel operations it costs.
    pub cost: u64,
}

/// One frame's work, health events and accounting.
#[derive(Clone, Debug, Default)]
pub struct FramePlan {
    /// Rectangles to draw, critical layers' first.
    pub items: Vec<WorkItem, MAX_WORK_ITEMS>,
    /// Liveness changes seen at this tick.
    pub events: Vec<HealthEvent, MAX_LAYERS>,
    /// Total cost of `items`.
    pub cost: u64,
    /// Layers whose work was deferred to a later frame.
    pub deferred: Vec<usize, MAX_LAYERS>,
    /// Layers whose owners get a vblank interrupt for this frame (each at most once).
    pub vblanks: Vec<usize, MAX_LAYERS>,
}

impl FramePlan {
    /// An empty plan (for a `static` the composing core reuses: plans are kilobytes, too
    /// large for an EL2 trap path's stack frame).
    pub const fn new() -> Self {
        Self {
            items: Vec::new(),
            events: Vec::new(),
            cost: 0,
            deferred: Vec::new(),
            vblanks: Vec::new(),
        }
    }
}

/// Plans frame number `frame` of `display` from the layers' `states` (one per layer, same
/// order; extra states are ignored, missing ones mean no work for those layers) into `plan`,
/// which is emptied first.
pub fn plan_frame(
    display: &DisplayConfig,
    states: &mut [LayerState],
    frame: u64,
    plan: &mut FramePlan,
) {
    plan.items.clear();
    plan.events.clear();
    plan.deferred.clear();
    plan.vblanks.clear();
    plan.cost = 0;
    let layers = display.layers;
    let destinations = || layers.iter().map(|layer| layer.destination);
    for (index, (layer, state)) in layers.iter().zip(states.iter_mut()).enumerate() {
        let was_frozen = state.liveness.is_frozen();
        if let Some(event) = state
            .liveness
            .frame(index, layer.critical, layer.freeze_threshold)
        {
            // One event per layer per tick and MAX_LAYERS slots: the push cannot fail.
            let _pushed: Result<(), HealthEvent> = plan.events.push(event);
        }
        state.presented_this_frame = false;
        if state.vblank {
            state.vblanks = state.vblanks.saturating_add(1);
            // One entry per layer and MAX_LAYERS slots: the push cannot fail.
            let _pushed: Result<(), usize> = plan.vblanks.push(index);
        }
        if !state.presented_ever {
            state.damage.clear();
            state.damage.add(layer.destination);
        }
        if state.liveness.is_frozen() {
            state.damage.clear();
            if !was_frozen {
                push(
                    plan,
                    index,
                    layer.destination,
                    WorkKind::FailSafe,
                    layer.destination.area(),
                );
            }
        }
    }
    // Critical layers: always, whatever the cost (the compiler proved they fit).
    for (index, (layer, state)) in layers.iter().zip(states.iter_mut()).enumerate() {
        if layer.critical {
            take_damage(plan, index, state, &destinations);
        }
    }
    // The others, rotating the starting point so that no layer is always the one deferred.
    let count = layers.len().min(states.len());
    if count == 0 {
        return;
    }
    let start = u64::try_from(count)
        .ok()
        .and_then(|layer_count| frame.checked_rem(layer_count))
        .and_then(|start| usize::try_from(start).ok())
        .unwrap_or(0);
    for offset in 0..count {
        let index = start.saturating_add(offset).checked_rem(count).unwrap_or(0);
        let (Some(layer), Some(state)) = (layers.get(index), states.get_mut(index)) else {
            continue;
        };
        if layer.critical || state.damage.is_empty() {
            continue;
        }
        let cost: u64 = state
            .damage
            .rects()
            .iter()
            .map(|clip| composition_cost(*clip, destinations()))
            .sum();
        if plan.cost.saturating_add(cost) > display.budget {
            state.deferred_frames = state.deferred_frames.saturating_add(1);
            // At most one entry per layer and MAX_LAYERS slots: the push cannot fail.
            let _pushed: Result<(), usize> = plan.deferred.push(index);
            continue;
        }
        take_damage(plan, index, state, &destinations);
    }
}

/// Moves `state`'s damage into `plan` as composition work of layer `index`.
fn take_damage<I: Iterator<Item = Rect>>(
    plan: &mut FramePlan,
    index: usize,
    state: &mut LayerState,
    destinations: &impl Fn() -> I,
) {
    for clip in state.damage.rects() {
        push(
            plan,
            index,
            *clip,
            WorkKind::Compose,
            composition_cost(*clip, destinations()),
        );
    }
    state.damage.clear();
}

/// Appends one work item to `plan` and counts its cost.
fn push(plan: &mut FramePlan, layer: usize, clip: Rect, kind: WorkKind, cost: u64) {
    // MAX_WORK_ITEMS holds every damage rectangle of every layer, and a layer contributes
    // either its damage or one fail-safe item, so the push cannot fail.
    if plan
        .items
        .push(WorkItem {
            layer,
            clip,
            kind,
            cost,
        })
        .is_ok()
    {
        plan.cost = plan.cost.saturating_add(cost);
    }
}

/// Layer indices of `display` in drawing order (ascending z, then manifest order).
///
/// A selection by hand (at most `MAX_LAYERS`² = 64 comparisons) rather than the slice sort:
/// `core`'s sort links a panic path (its ordering-violation check) into whatever calls it,
/// and this runs in the frame path at EL2 (MLR-27).
pub fn drawing_order(display: &DisplayConfig) -> Vec<usize, MAX_LAYERS> {
    let mut order: Vec<usize, MAX_LAYERS> = Vec::new();
    let mut taken = [false; MAX_LAYERS];
    for _ in 0..display.layers.len().min(MAX_LAYERS) {
        let next = display
            .layers
            .iter()
            .enumerate()
            .filter(|(index, _)| !taken.get(*index).copied().unwrap_or(true))
            .min_by_key(|(index, layer)| (layer.z, *index))
            .map(|(index, _)| index);
        let Some(index) = next else {
            break;
        };
        if let Some(flag) = taken.get_mut(index) {
            *flag = true;
        }
        // At most MAX_LAYERS indices, one per pass: the push cannot fail.
        let _pushed: Result<(), usize> = order.push(index);
    }
    order
}

#[cfg(test)]
mod tests;
