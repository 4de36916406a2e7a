//! Frame statistics: what composing a frame cost and how late the critical layers' presents
//! reached the scan-out buffer, summarised every `statistics_every` frames (`[display]` in
//! the manifest) on the hypervisor console.
//!
//! The numbers exist so that the frame budget can be checked against measurement rather
//! than estimated: the compiler proves the budget (`compose_rate × frame_period_us` pixel
//! operations) covers the screen, and these lines say how many counter ticks a pixel
//! operation took on the compose core (`cargo xtask bench` reads them).
//!
//! A window holds at most [`MAX_WINDOW`] frames in fixed arrays (no allocation); the
//! summary sorts them in place, once per window, on the compose core, so the median costs
//! O(n log n) for n ≤ [`MAX_WINDOW`] and nothing in between.

/// The most frames one summary covers (the compiler limits `statistics_every` to it).
pub const MAX_WINDOW: usize = 128;

/// Minimum, median and maximum of a window's samples.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Spread {
    /// The smallest sample.
    pub minimum: u64,
    /// The middle sample (the upper one of the two middles for an even count).
    pub median: u64,
    /// The largest sample.
    pub maximum: u64,
}

impl Spread {
    /// The spread of `samples`, sorted in place; `None` when there are none.
    fn of(samples: &mut [u64]) -> Option<Self> {
        samples.sort_unstable();
        Some(Self {
            minimum: *samples.first()?,
            median: *samples.get(samples.len() / 2)?,
            maximum: *samples.last()?,
        })
    }
}

/// One window's summary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Summary {
    /// Number of the window's first frame.
    pub first_frame: u64,
    /// Frames in the window.
    pub frames: usize,
    /// Counter ticks from a frame's planning to the end of its composition.
    pub compose_ticks: Spread,
    /// Pixel operations the frames' plans cost.
    pub pixel_operations: Spread,
    /// Counter ticks from a critical layer's first unshown present to the end of the
    /// composition that showed it; `None` when no critical layer presented in the window.
    pub critical_latency: Option<Spread>,
    /// Frames whose plan deferred some layer's work (non-critical work over budget).
    pub frames_with_deferred_work: usize,
}

/// The current window's samples (kilobytes: kept in a `static`, never on a stack).
#[derive(Debug)]
pub struct FrameStatistics {
    /// Each frame's compose ticks, the first `frames` valid.
    compose_ticks: [u64; MAX_WINDOW],
    /// Each frame's pixel operations, the first `frames` valid.
    pixel_operations: [u64; MAX_WINDOW],
    /// Critical latencies, the first `latencies` valid.
    critical_latency: [u64; MAX_WINDOW],
    /// Frames recorded in this window.
    frames: usize,
    /// Latencies recorded in this window.
    latencies: usize,
    /// Frames that deferred work in this window.
    deferred: usize,
    /// The window's first frame number.
    first_frame: u64,
}

/// One composed frame, as [`FrameStatistics::record`] takes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameSample {
    /// The frame's number.
    pub frame: u64,
    /// Counter ticks its planning and composition took.
    pub compose_ticks: u64,
    /// Its plan's cost in pixel operations.
    pub pixel_operations: u64,
    /// The longest present-to-shown delay of a critical layer it showed, if any.
    pub critical_latency: Option<u64>,
    /// Whether its plan deferred work.
    pub deferred_work: bool,
}

impl FrameStatistics {
    /// An empty window.
    pub const fn new() -> Self {
        Self {
            compose_ticks: [0; MAX_WINDOW],
            pixel_operations: [0; MAX_WINDOW],
            critical_latency: [0; MAX_WINDOW],
            frames: 0,
            latencies: 0,
            deferred: 0,
            first_frame: 0,
        }
    }

    /// Adds one frame. Returns the window's summary, and starts a new window, when the
    /// window now holds `every` frames (clamped to 1..=[`MAX_WINDOW`]). O(1), except on the
    /// frame that closes a window: O(n log n) for n ≤ `MAX_WINDOW`.
    pub fn record(&mut self, sample: FrameSample, every: usize) -> Option<Summary> {
        if self.frames == 0 {
            self.first_frame = sample.frame;
        }
        if let (Some(ticks), Some(operations)) =
            (self.compose_ticks.get_mut(self.frames), self.pixel_operations.get_mut(self.frames))
        {
            *ticks = sample.compose_ticks;
            *operations = sample.pixel_operations;
            self.frames = self.frames.saturating_add(1);
        }
        if let Some(latency) = sample.critical_latency
            && let Some(slot) = self.critical_latency.get_mut(self.latencies)
        {
            *slot = latency;
            self.latencies = self.latencies.saturating_add(1);
        }
        if sample.deferred_work {
            self.deferred = self.deferred.saturating_add(1);
        }
        (self.frames >= every.clamp(1, MAX_WINDOW)).then(|| self.close())
    }

    /// Summarises the window and empties it.
    fn close(&mut self) -> Summary {
        let frames = self.frames;
        let spread = |samples: &mut [u64; MAX_WINDOW], count: usize| samples.get_mut(..count).and_then(Spread::of);
        let empty = Spread { minimum: 0, median: 0, maximum: 0 };
        let summary = Summary {
            first_frame: self.first_frame,
            frames,
            compose_ticks: spread(&mut self.compose_ticks, frames).unwrap_or(empty),
            pixel_operations: spread(&mut self.pixel_operations, frames).unwrap_or(empty),
            critical_latency: spread(&mut self.critical_latency, self.latencies),
            frames_with_deferred_work: self.deferred,
        };
        self.frames = 0;
        self.latencies = 0;
        self.deferred = 0;
        summary
    }
}


// [utest->dsn~display-core~1]
#[cfg(test)]
mod tests {
    use super::*;

    fn sample(frame: u64, compose_ticks: u64, critical_latency: Option<u64>) -> FrameSample {
        FrameSample {
            frame,
            compose_ticks,
            pixel_operations: compose_ticks / 10,
            critical_latency,
            deferred_work: frame % 2 == 1,
        }
    }

    #[test]
    fn a_window_closes_after_every_frames_with_minimum_median_and_maximum() {
        let mut statistics = FrameStatistics::new();
        let ticks = [500, 100, 300, 200, 400];
        for (frame, compose) in ticks.iter().enumerate().take(4) {
            let latency = (frame != 2).then_some(*compose * 2);
            assert_eq!(statistics.record(sample(frame as u64 + 7, *compose, latency), 5), None);
        }
        let summary = statistics.record(sample(11, ticks[4], None), 5).expect("fifth frame closes the window");
        assert_eq!(summary.first_frame, 7);
        assert_eq!(summary.frames, 5);
        assert_eq!(summary.compose_ticks, Spread { minimum: 100, median: 300, maximum: 500 });
        assert_eq!(summary.pixel_operations, Spread { minimum: 10, median: 30, maximum: 50 });
        // Frames 7, 8 and 10 carried latencies 1000, 200 and 400.
        assert_eq!(summary.critical_latency, Some(Spread { minimum: 200, median: 400, maximum: 1000 }));
        // The odd frames 7, 9 and 11 deferred work.
        assert_eq!(summary.frames_with_deferred_work, 3);
    }

    #[test]
    fn the_next_window_starts_empty() {
        let mut statistics = FrameStatistics::new();
        assert!(statistics.record(sample(0, 900, Some(5)), 1).is_some());
        let next = statistics.record(sample(1, 40, None), 1).expect("every = 1 closes each frame");
        assert_eq!(next.first_frame, 1);
        assert_eq!(next.compose_ticks, Spread { minimum: 40, median: 40, maximum: 40 });
        assert_eq!(next.critical_latency, None);
        assert_eq!(next.frames_with_deferred_work, 1);
    }

    #[test]
    fn a_window_never_exceeds_its_arrays() {
        let mut statistics = FrameStatistics::new();
        let mut summaries = 0;
        let mut last = None;
        for frame in 0..3 * MAX_WINDOW as u64 {
            if let Some(summary) = statistics.record(sample(frame, frame, Some(frame)), usize::MAX) {
                assert_eq!(summary.frames, MAX_WINDOW);
                summaries += 1;
                last = Some(summary);
            }
        }
        assert_eq!(summaries, 3);
        assert_eq!(last.map(|summary| summary.compose_ticks.maximum), Some(3 * MAX_WINDOW as u64 - 1));
    }
}
