//! Verifies: [utest->dsn~display-core~1]

use proptest::prelude::*;

use super::*;
use crate::display::{Backend, FailSafe, PixelFormat};

extern crate std;
use std::boxed::Box;
use std::vec::Vec as StdVec;

fn layer(destination: Rect, critical: bool, z: u32) -> LayerConfig {
    LayerConfig {
        partition: 0,
        framebuffer_ipa: 0,
        framebuffer_phys: 0,
        width: destination.width,
        height: destination.height,
        stride: destination.width * 4,
        format: PixelFormat::Xrgb8888,
        destination,
        z,
        critical,
        freeze_threshold: if critical { 3 } else { 0 },
    }
}

fn planned(display: &DisplayConfig, states: &mut [LayerState], frame: u64) -> FramePlan {
    let mut plan = FramePlan::new();
    plan_frame(display, states, frame, &mut plan);
    plan
}

fn display(layers: StdVec<LayerConfig>, budget: u64) -> DisplayConfig {
    DisplayConfig {
        backend: Backend::RamCapture,
        backend_registers: 0,
        firmware_framebuffer: crate::system::PhysRange { base: crate::addr::PhysAddr(0), size: 0 },
        width: 100,
        height: 100,
        frame_period_us: 16_667,
        budget,
        compose_core: 0,
        background: 0,
        fail_safe: FailSafe::Colour(0x00ff_0000),
        statistics_every: 0,
        layers: Box::leak(layers.into_boxed_slice()),
    }
}

#[test]
fn presents_in_one_frame_coalesce_and_are_clipped_to_the_layer() {
    let config = layer(Rect::new(50, 50, 10, 10), false, 0);
    let mut state = LayerState::new();
    assert_eq!(
        state.present(&config, Some(Rect::new(0, 0, 2, 2))),
        Ok(PresentOutcome::Queued)
    );
    assert_eq!(
        state.present(&config, Some(Rect::new(8, 8, 100, 100))),
        Ok(PresentOutcome::Coalesced)
    );
    assert_eq!(
        state.present(&config, Some(Rect::new(10, 0, 5, 5))),
        Err(PresentError::OutsideLayer)
    );
    assert_eq!(state.liveness().sequence(), 1);
    assert_eq!(
        state.damage.rects(),
        &[Rect::new(50, 50, 2, 2), Rect::new(58, 58, 2, 2)]
    );
}

#[test]
fn critical_work_comes_first_and_others_are_deferred_when_over_budget() {
    let critical = Rect::new(0, 0, 10, 10);
    let big = Rect::new(20, 20, 50, 50);
    let system = display(
        StdVec::from([layer(big, false, 1), layer(critical, true, 0)]),
        1000,
    );
    let mut states = [LayerState::new(), LayerState::new()];
    states[0].present(&system.layers[0], None).unwrap();
    states[1].present(&system.layers[1], None).unwrap();
    let plan = planned(&system, &mut states, 0);
    assert_eq!(plan.items.len(), 1);
    assert_eq!(plan.items[0].layer, 1);
    assert_eq!(plan.items[0].cost, 200);
    assert_eq!(plan.deferred.as_slice(), &[0]);
    assert_eq!(states[0].deferred_frames(), 1);
    // The deferred damage is still there: a larger budget composes it.
    let roomy = DisplayConfig {
        budget: 10_000,
        ..system
    };
    let plan = planned(&roomy, &mut states, 1);
    assert_eq!(
        plan.items
            .iter()
            .map(|item| item.layer)
            .collect::<StdVec<_>>(),
        [0]
    );
}

#[test]
fn a_silent_critical_layer_gets_the_fail_safe_once_and_an_event() {
    let system = display(
        StdVec::from([layer(Rect::new(0, 0, 10, 10), true, 0)]),
        1000,
    );
    let mut states = [LayerState::new()];
    states[0].present(&system.layers[0], None).unwrap();
    assert!(planned(&system, &mut states, 0).events.is_empty());
    let mut frozen_at = None;
    for frame in 1..10 {
        let plan = planned(&system, &mut states, frame);
        if let Some(event) = plan.events.first() {
            assert_eq!(
                *event,
                HealthEvent::Frozen {
                    layer: 0,
                    idle_frames: 3
                }
            );
            assert_eq!(plan.items[0].kind, WorkKind::FailSafe);
            assert_eq!(plan.items[0].clip, Rect::new(0, 0, 10, 10));
            frozen_at = Some(frame);
        } else {
            assert!(plan.items.is_empty(), "frame {frame}: {:?}", plan.items);
        }
    }
    assert_eq!(frozen_at, Some(3));
    states[0].present(&system.layers[0], None).unwrap();
    let plan = planned(&system, &mut states, 10);
    assert_eq!(
        plan.events.as_slice(),
        &[HealthEvent::Recovered { layer: 0 }]
    );
    assert_eq!(plan.items[0].kind, WorkKind::Compose);
}

#[test]
fn layers_that_never_present_are_refreshed_every_frame() {
    let system = display(StdVec::from([layer(Rect::new(0, 0, 4, 4), false, 0)]), 1000);
    let mut states = [LayerState::new()];
    for frame in 0..3 {
        let plan = planned(&system, &mut states, frame);
        assert_eq!(plan.items.len(), 1);
        assert_eq!(plan.items[0].clip, Rect::new(0, 0, 4, 4));
    }
}

#[test]
fn a_vblank_is_planned_once_per_frame_only_for_layers_that_turned_it_on() {
    let system = display(
        StdVec::from([layer(Rect::new(0, 0, 4, 4), true, 0), layer(Rect::new(4, 0, 4, 4), false, 0)]),
        1000,
    );
    let mut states = [LayerState::new(), LayerState::new()];
    states[0].set_vblank(true);
    for frame in 0..5 {
        // However often the owner presents in between, one vblank per frame.
        for _ in 0..3 {
            let _ = states[0].present(&system.layers[0], None);
        }
        let plan = planned(&system, &mut states, frame);
        assert_eq!(plan.vblanks.as_slice(), &[0]);
    }
    assert_eq!(states[0].vblank(), (true, 5));
    assert_eq!(states[1].vblank(), (false, 0));
    states[0].set_vblank(false);
    states[1].set_vblank(true);
    let plan = planned(&system, &mut states, 5);
    assert_eq!(plan.vblanks.as_slice(), &[1]);
    assert_eq!(states[0].vblank(), (false, 5));
}

#[test]
fn drawing_order_is_by_z_then_manifest_order() {
    let system = display(
        StdVec::from([
            layer(Rect::new(0, 0, 1, 1), false, 5),
            layer(Rect::new(1, 0, 1, 1), false, 1),
            layer(Rect::new(2, 0, 1, 1), false, 1),
        ]),
        100,
    );
    assert_eq!(drawing_order(&system).as_slice(), &[1, 2, 0]);
}

proptest! {
    /// Whatever the non-critical layers present and however small the budget, a live
    /// critical layer's damage is composed every frame it presents: it misses no frame.
    #[test]
    fn the_critical_layer_misses_no_frame(
        presents in proptest::collection::vec((0u32..120, 0u32..120, 0u32..60, 0u32..60), 0..40),
        budget in 0u64..20_000,
    ) {
        let system = display(
            StdVec::from([
                layer(Rect::new(60, 0, 40, 40), false, 2),
                layer(Rect::new(0, 0, 20, 20), true, 0),
                layer(Rect::new(0, 50, 50, 50), false, 1),
            ]),
            budget,
        );
        let mut states = [LayerState::new(), LayerState::new(), LayerState::new()];
        for (frame, (x, y, width, height)) in presents.into_iter().enumerate() {
            let _ = states[0].present(&system.layers[0], Some(Rect::new(x, y, width, height)));
            let _ = states[2].present(&system.layers[2], Some(Rect::new(y, x, height, width)));
            states[1].present(&system.layers[1], None).unwrap();
            if frame == 3 {
                states[2].set_vblank(true);
            }
            let plan = planned(&system, &mut states, frame as u64);
            prop_assert!(plan.items.iter().any(|item| item.layer == 1 && item.kind == WorkKind::Compose));
            // The vblank is one per frame, whatever the owner presents.
            prop_assert_eq!(plan.vblanks.as_slice(), if frame >= 3 { &[2][..] } else { &[][..] });
            prop_assert!(plan.events.is_empty());
            let non_critical: u64 = plan.items.iter().filter(|item| item.layer != 1).map(|item| item.cost).sum();
            prop_assert!(non_critical == 0 || plan.cost <= budget.max(800), "over budget: {:?}", plan);
            for item in &plan.items {
                prop_assert!(system.layers[item.layer].destination.contains(item.clip));
            }
        }
    }
}
