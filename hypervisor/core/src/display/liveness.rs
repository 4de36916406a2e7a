//! Per-layer liveness: is a layer still being updated?
//!
//! Every present a partition makes bumps its layer's sequence number. At each frame tick the
//! mediator compares it with the number it saw last: unchanged means one more idle frame. A
//! critical layer idle for its freeze threshold is *frozen*: the mediator shows the
//! fail-safe image in its place and raises [`HealthEvent::Frozen`], once per episode. The
//! next present ends the episode ([`HealthEvent::Recovered`]).

/// What the frame tick reports about a layer's liveness.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HealthEvent {
    /// The critical layer `layer` has not been updated for `idle_frames` frames; the
    /// fail-safe image replaces it.
    Frozen {
        /// Index of the layer.
        layer: usize,
        /// Frames since its last update.
        idle_frames: u32,
    },
    /// The frozen layer `layer` presented again and is shown again.
    Recovered {
        /// Index of the layer.
        layer: usize,
    },
}

/// One layer's liveness state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Liveness {
    /// Presents counted (wrapping: only equality with `seen` matters).
    sequence: u64,
    /// `sequence` at the last frame tick.
    seen: u64,
    /// Frame ticks since `sequence` last changed.
    idle_frames: u32,
    /// Whether the fail-safe image stands in for the layer.
    frozen: bool,
}

impl Liveness {
    /// A layer that has not presented yet.
    pub const fn new() -> Self {
        Self {
            sequence: 0,
            seen: 0,
            idle_frames: 0,
            frozen: false,
        }
    }

    /// Counts one present.
    pub fn present(&mut self) {
        self.sequence = self.sequence.wrapping_add(1);
    }

    /// Presents counted so far.
    pub const fn sequence(&self) -> u64 {
        self.sequence
    }

    /// Whether the fail-safe image stands in for the layer.
    pub const fn is_frozen(&self) -> bool {
        self.frozen
    }

    /// Frames since the last present was seen.
    pub const fn idle_frames(&self) -> u32 {
        self.idle_frames
    }

    /// Advances one frame for layer `layer`. Only a `critical` layer freezes, after
    /// `threshold` idle frames (a threshold of 0 never freezes).
    pub fn frame(&mut self, layer: usize, critical: bool, threshold: u32) -> Option<HealthEvent> {
        if self.sequence != self.seen {
            self.seen = self.sequence;
            self.idle_frames = 0;
            if self.frozen {
                self.frozen = false;
                return Some(HealthEvent::Recovered { layer });
            }
            return None;
        }
        self.idle_frames = self.idle_frames.saturating_add(1);
        if critical && threshold != 0 && !self.frozen && self.idle_frames >= threshold {
            self.frozen = true;
            return Some(HealthEvent::Frozen {
                layer,
                idle_frames: self.idle_frames,
            });
        }
        None
    }
}

// [utest->dsn~display-core~1]
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_silent_critical_layer_freezes_exactly_at_its_threshold_once() {
        let mut liveness = Liveness::new();
        liveness.present();
        assert_eq!(liveness.frame(2, true, 3), None);
        assert_eq!(liveness.frame(2, true, 3), None);
        assert_eq!(liveness.frame(2, true, 3), None);
        assert_eq!(
            liveness.frame(2, true, 3),
            Some(HealthEvent::Frozen {
                layer: 2,
                idle_frames: 3
            })
        );
        assert!(liveness.is_frozen());
        assert_eq!(liveness.frame(2, true, 3), None);
    }

    #[test]
    fn a_present_ends_the_freeze() {
        let mut liveness = Liveness::new();
        assert!(liveness.frame(0, true, 1).is_some());
        liveness.present();
        assert_eq!(
            liveness.frame(0, true, 1),
            Some(HealthEvent::Recovered { layer: 0 })
        );
        assert!(!liveness.is_frozen());
    }

    #[test]
    fn non_critical_layers_never_freeze() {
        let mut liveness = Liveness::new();
        for _ in 0..1000 {
            assert_eq!(liveness.frame(1, false, 1), None);
        }
        assert_eq!(liveness.idle_frames(), 1000);
    }

    #[test]
    fn a_layer_presenting_every_frame_never_freezes() {
        let mut liveness = Liveness::new();
        for _ in 0..300 {
            liveness.present();
            assert_eq!(liveness.frame(0, true, 1), None);
        }
    }
}
