//! Fixed-size damage lists: the screen rectangles a layer changed since it was last composed.
//!
//! A list holds at most `N` rectangles. Adding to a full list collapses it into the bounding
//! box of everything it held plus the new rectangle: composition then redraws more than
//! needed, never less, and the work per frame stays bounded by the layer's destination.

use heapless::Vec;

use super::rect::Rect;

/// Damage rectangles a layer keeps before collapsing them into one.
pub const DAMAGE_CAPACITY: usize = 8;

/// Up to `N` rectangles, each inside the screen, to be composed.
#[derive(Clone, Debug, Default)]
pub struct DamageList<const N: usize = DAMAGE_CAPACITY> {
    /// The damaged rectangles; none covers another.
    rects: Vec<Rect, N>,
}

impl<const N: usize> DamageList<N> {
    /// An empty list.
    pub const fn new() -> Self {
        Self { rects: Vec::new() }
    }

    /// Whether nothing is damaged.
    pub fn is_empty(&self) -> bool {
        self.rects.is_empty()
    }

    /// The rectangles, in no particular order.
    pub fn rects(&self) -> &[Rect] {
        &self.rects
    }

    /// Marks `rect` damaged. Empty rectangles and ones already covered are ignored; a full
    /// list becomes its bounding box.
    pub fn add(&mut self, rect: Rect) {
        if rect.is_empty() || self.rects.iter().any(|held| held.contains(rect)) {
            return;
        }
        self.rects.retain(|held| !rect.contains(*held));
        if self.rects.push(rect).is_err() {
            let bounding = self.rects.iter().fold(rect, |all, held| all.union(*held));
            self.rects.clear();
            // The list was just cleared, so this push cannot fail (N ≥ 1 for any list that
            // reached this point, having held a rectangle).
            let _pushed: Result<(), Rect> = self.rects.push(bounding);
        }
    }

    /// Empties the list.
    pub fn clear(&mut self) {
        self.rects.clear();
    }

    /// Pixels the list covers, counting overlaps twice (an upper bound of the work).
    pub fn area(&self) -> u64 {
        self.rects
            .iter()
            .fold(0, |total: u64, rect| total.saturating_add(rect.area()))
    }
}

// [utest->dsn~display-core~1]
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn covered_and_empty_rectangles_add_nothing() {
        let mut list = DamageList::<4>::new();
        list.add(Rect::new(0, 0, 10, 10));
        list.add(Rect::new(2, 2, 3, 3));
        list.add(Rect::new(50, 50, 0, 3));
        assert_eq!(list.rects(), &[Rect::new(0, 0, 10, 10)]);
    }

    #[test]
    fn a_covering_rectangle_replaces_what_it_covers() {
        let mut list = DamageList::<4>::new();
        list.add(Rect::new(1, 1, 1, 1));
        list.add(Rect::new(5, 5, 1, 1));
        list.add(Rect::new(0, 0, 10, 10));
        assert_eq!(list.rects(), &[Rect::new(0, 0, 10, 10)]);
    }

    #[test]
    fn a_full_list_collapses_to_its_bounding_box() {
        let mut list = DamageList::<2>::new();
        list.add(Rect::new(0, 0, 1, 1));
        list.add(Rect::new(10, 0, 1, 1));
        list.add(Rect::new(0, 20, 1, 1));
        assert_eq!(list.rects(), &[Rect::new(0, 0, 11, 21)]);
    }
}
