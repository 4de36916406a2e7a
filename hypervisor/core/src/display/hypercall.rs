//! The display hypercalls a partition may make, as SMCCC calls (Arm DEN0028) in the vendor
//! specific hypervisor service range (owning entity 6), fast, SMC64 convention:
//!
//! | Function ID | Name | Arguments | Returns in `x0` |
//! | --- | --- | --- | --- |
//! | `0xC600_0D00` | `DISPLAY_INFO` | none | the caller's layer index, or `NOT_SUPPORTED` (−1) without a layer |
//! | `0xC600_0D01` | `DISPLAY_PRESENT` | `x1` = `x \| y << 32`, `x2` = `width \| height << 32` (surface-local; `x2 = 0`: the whole layer) | 0 queued, 1 coalesced into this frame's earlier present, `INVALID_PARAMETERS` (−2) for a rectangle outside the layer |
//! | `0xC600_0D02` | `DISPLAY_VBLANK` | `x1` = 1 on, 0 off | the vblank PPI's INTID ([`VBLANK_INTID`]) when on, 0 when off, `INVALID_PARAMETERS` for another `x1`; `NOT_SUPPORTED` without a layer |
//!
//! The virtual vblank is PPI [`VBLANK_INTID`] of the partition's vCPU 0, made pending once at
//! every composed frame while the partition has it on (and, as any interrupt, delivered once
//! the guest enables it in its virtual GIC). It is a latch: frames the guest has not
//! acknowledged yet merge into one pending interrupt, so a partition takes at most one
//! vblank per frame whatever it does. The layer's `simple-framebuffer` node names it in
//! `interrupts` (edge-triggered PPI).
//!
//! Coordinates are surface-local: a guest names pixels of its own layer only, and the
//! mediator clips them to it ([`super::schedule::LayerState::present`]). The calls are
//! decoded here, on the host-tested side; the EL2 image only routes them.

use super::rect::Rect;

/// `DISPLAY_INFO`.
pub const DISPLAY_INFO: u32 = 0xC600_0D00;
/// `DISPLAY_PRESENT`.
pub const DISPLAY_PRESENT: u32 = 0xC600_0D01;

/// `DISPLAY_VBLANK`.
pub const DISPLAY_VBLANK: u32 = 0xC600_0D02;

/// The virtual vblank interrupt: PPI 0 (INTID 16) of the partition's vCPU 0. No architected
/// or SBSA-assigned PPI is at 16 (the timers are 26–30, the maintenance interrupt 25, the
/// PMU 23), and guest PPIs are virtual: nothing physical backs this one.
pub const VBLANK_INTID: u32 = 16;

/// SMCCC `NOT_SUPPORTED`.
pub const NOT_SUPPORTED: u64 = u64::MAX;
/// SMCCC `INVALID_PARAMETER` (−2, as the PSCI calls answer it too).
pub const INVALID_PARAMETERS: u64 = u64::MAX - 1;

/// A decoded display hypercall.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DisplayCall {
    /// Which layer is mine?
    Info,
    /// These pixels of my layer changed (`None`: all of them).
    Present(Option<Rect>),
    /// Turn my vblank interrupt on (`Some(true)`) or off (`Some(false)`); `None`: an `x1`
    /// that is neither, refused.
    Vblank(Option<bool>),
}

/// The display call in `x0`..`x2`, or `None` when `x0` is not a display function ID (the
/// caller then treats the call as any other SMCCC call).
pub fn decode(function: u64, arguments: [u64; 2]) -> Option<DisplayCall> {
    let low = |value: u64| u32::try_from(value & 0xffff_ffff).unwrap_or(0);
    let high = |value: u64| u32::try_from(value.wrapping_shr(32)).unwrap_or(0);
    let id = u32::try_from(function).ok()?;
    if id == DISPLAY_INFO {
        return Some(DisplayCall::Info);
    }
    if id == DISPLAY_VBLANK {
        let [switch, _] = arguments;
        return Some(DisplayCall::Vblank(match switch {
            0 => Some(false),
            1 => Some(true),
            _ => None,
        }));
    }
    if id != DISPLAY_PRESENT {
        return None;
    }
    let [origin, size] = arguments;
    Some(DisplayCall::Present((size != 0).then(|| {
        Rect::new(low(origin), high(origin), low(size), high(size))
    })))
}

/// The registers a guest passes for `DISPLAY_PRESENT` of `rect` (for guests and tests).
pub fn present_arguments(rect: Rect) -> [u64; 2] {
    let pack = |low: u32, high: u32| u64::from(low) | u64::from(high).wrapping_shl(32);
    [pack(rect.x, rect.y), pack(rect.width, rect.height)]
}

// [utest->dsn~display-core~1]
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn present_round_trips_its_rectangle() {
        let rect = Rect::new(3, 70_000, 12, 9);
        assert_eq!(
            decode(u64::from(DISPLAY_PRESENT), present_arguments(rect)),
            Some(DisplayCall::Present(Some(rect)))
        );
        assert_eq!(
            decode(u64::from(DISPLAY_PRESENT), [5, 0]),
            Some(DisplayCall::Present(None))
        );
    }

    #[test]
    fn vblank_takes_only_on_or_off() {
        let vblank = u64::from(DISPLAY_VBLANK);
        assert_eq!(decode(vblank, [1, 0]), Some(DisplayCall::Vblank(Some(true))));
        assert_eq!(decode(vblank, [0, 7]), Some(DisplayCall::Vblank(Some(false))));
        assert_eq!(decode(vblank, [2, 0]), Some(DisplayCall::Vblank(None)));
        assert_eq!(decode(vblank, [1 << 32 | 1, 0]), Some(DisplayCall::Vblank(None)));
    }

    #[test]
    fn only_the_display_function_ids_are_display_calls() {
        assert_eq!(
            decode(u64::from(DISPLAY_INFO), [0, 0]),
            Some(DisplayCall::Info)
        );
        assert_eq!(decode(0xC600_0D03, [0, 0]), None);
        assert_eq!(decode(0x8400_0000, [0, 0]), None);
        // Bits above 31 must be zero for an SMC64 function ID.
        assert_eq!(decode(0x1_C600_0D00, [0, 0]), None);
    }
}
