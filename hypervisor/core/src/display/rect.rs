//! Screen rectangles and clipping. Coordinates are unsigned pixels; every operation is
//! checked, so a guest-supplied rectangle near `u32::MAX` cannot wrap into the screen.

/// A rectangle `[x, x + width) × [y, y + height)`; empty when either size is zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Rect {
    /// Left column.
    pub x: u32,
    /// Top row.
    pub y: u32,
    /// Columns.
    pub width: u32,
    /// Rows.
    pub height: u32,
}

impl Rect {
    /// A rectangle from its corner and size.
    pub const fn new(x: u32, y: u32, width: u32, height: u32) -> Self {
        Self {
            x,
            y,
            width,
            height,
        }
    }

    /// Whether it covers no pixel.
    pub const fn is_empty(self) -> bool {
        self.width == 0 || self.height == 0
    }

    /// Pixels covered.
    pub fn area(self) -> u64 {
        // Two 32-bit factors: the product fits 64 bits, saturation never happens.
        u64::from(self.width).saturating_mul(u64::from(self.height))
    }

    /// One past the right column (two 32-bit terms: exact in 64 bits).
    pub fn right(self) -> u64 {
        u64::from(self.x).saturating_add(u64::from(self.width))
    }

    /// One past the bottom row (two 32-bit terms: exact in 64 bits).
    pub fn bottom(self) -> u64 {
        u64::from(self.y).saturating_add(u64::from(self.height))
    }

    /// Whether `other` lies entirely inside `self` (an empty `other` always does).
    pub fn contains(self, other: Self) -> bool {
        other.is_empty()
            || (other.x >= self.x
                && other.y >= self.y
                && other.right() <= self.right()
                && other.bottom() <= self.bottom())
    }

    /// Whether the pixel `(x, y)` is inside.
    pub fn contains_point(self, x: u32, y: u32) -> bool {
        x >= self.x && y >= self.y && u64::from(x) < self.right() && u64::from(y) < self.bottom()
    }

    /// The pixels both cover, or `None` when they share none.
    pub fn intersection(self, other: Self) -> Option<Self> {
        let left = self.x.max(other.x);
        let top = self.y.max(other.y);
        let right = self.right().min(other.right());
        let bottom = self.bottom().min(other.bottom());
        if u64::from(left) >= right || u64::from(top) >= bottom {
            return None;
        }
        // Both differences are positive (checked above) and below 2^32: each is at most one
        // of the input sizes.
        let width = u32::try_from(right.saturating_sub(u64::from(left))).ok()?;
        let height = u32::try_from(bottom.saturating_sub(u64::from(top))).ok()?;
        Some(Self::new(left, top, width, height))
    }

    /// Whether they share at least one pixel.
    pub fn overlaps(self, other: Self) -> bool {
        self.intersection(other).is_some()
    }

    /// The smallest rectangle covering both (an empty one contributes nothing).
    pub fn union(self, other: Self) -> Self {
        if self.is_empty() {
            return other;
        }
        if other.is_empty() {
            return self;
        }
        let left = self.x.min(other.x);
        let top = self.y.min(other.y);
        let right = self.right().max(other.right());
        let bottom = self.bottom().max(other.bottom());
        // Saturation cannot change a union of two rectangles of `u32` corners and sizes by
        // more than the screen can show; screens are at most `MAX_DIMENSION` wide.
        Self::new(
            left,
            top,
            u32::try_from(right.saturating_sub(u64::from(left))).unwrap_or(u32::MAX),
            u32::try_from(bottom.saturating_sub(u64::from(top))).unwrap_or(u32::MAX),
        )
    }

    /// `self` (in a layer's own coordinates) moved onto the screen at the layer's
    /// `destination` and clipped to it: what a guest's surface-local rectangle may touch.
    pub fn surface_to_screen(self, destination: Self) -> Option<Self> {
        let moved = Self::new(
            destination.x.checked_add(self.x)?,
            destination.y.checked_add(self.y)?,
            self.width,
            self.height,
        );
        moved.intersection(destination)
    }
}

// [utest->dsn~display-core~1]
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intersection_is_the_shared_part_or_none() {
        let a = Rect::new(0, 0, 10, 10);
        assert_eq!(
            a.intersection(Rect::new(5, 5, 10, 10)),
            Some(Rect::new(5, 5, 5, 5))
        );
        assert_eq!(a.intersection(Rect::new(10, 0, 5, 5)), None);
        assert_eq!(a.intersection(Rect::new(3, 3, 0, 5)), None);
    }

    #[test]
    fn coordinates_near_the_top_of_u32_do_not_wrap() {
        let huge = Rect::new(u32::MAX, u32::MAX, u32::MAX, u32::MAX);
        assert_eq!(huge.intersection(Rect::new(0, 0, 100, 100)), None);
        assert_eq!(
            Rect::new(1, 1, 4, 4).surface_to_screen(Rect::new(u32::MAX, 0, 8, 8)),
            None
        );
        assert!(!Rect::new(0, 0, 10, 10).contains(huge));
    }

    #[test]
    fn surface_rectangles_are_clipped_to_the_layer() {
        let destination = Rect::new(100, 50, 20, 10);
        assert_eq!(
            Rect::new(15, 5, 100, 100).surface_to_screen(destination),
            Some(Rect::new(115, 55, 5, 5))
        );
        assert_eq!(Rect::new(20, 0, 1, 1).surface_to_screen(destination), None);
    }

    #[test]
    fn union_covers_both_and_ignores_empty_ones() {
        assert_eq!(
            Rect::new(0, 0, 2, 2).union(Rect::new(5, 5, 1, 1)),
            Rect::new(0, 0, 6, 6)
        );
        assert_eq!(
            Rect::default().union(Rect::new(3, 4, 1, 1)),
            Rect::new(3, 4, 1, 1)
        );
    }
}
