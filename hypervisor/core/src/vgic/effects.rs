//! What the image must do after a guest write to a virtual GIC frame.
//!
//! Most writes only change the emulated state. Two kinds reach beyond it: writes that touch a
//! hardware-backed interrupt (its physical twin must be enabled, deactivated or re-routed to
//! match) and writes that make an interrupt deliverable to a vCPU (that vCPU's list registers
//! need refilling, and if it runs on another core, that core must be told). One register write
//! covers at most one bank of 32 interrupts, so the effects fit in a few masks; [`Effects`]
//! expands them without allocating.
//!
//! [impl->dsn~vgic-list-registers~1] [impl->dsn~vgic-frames~1]

use super::bank::take_lowest;
use super::{Disposition, VcpuSet};

/// One action the image must take after a write.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Effect {
    /// Enable or disable the physical interrupt behind a hardware-backed virtual one.
    PhysicalEnable {
        /// The virtual INTID; the image maps it to the physical one stored at set-up.
        intid: u32,
        /// For a PPI, the vCPU whose core's redistributor holds it; `None` for an SPI, whose
        /// enable bit is in the shared distributor.
        vcpu: Option<usize>,
        /// The new enable state.
        enabled: bool,
    },
    /// Set or clear the physical interrupt's active state, mirroring a guest write to
    /// `ISPENDR`/`ICPENDR`/`ISACTIVER`/`ICACTIVER` of a hardware-backed interrupt.
    PhysicalActive {
        /// The virtual INTID; the image maps it to the physical one stored at set-up.
        intid: u32,
        /// As for [`Effect::PhysicalEnable`].
        vcpu: Option<usize>,
        /// The new physical active state.
        active: bool,
    },
    /// Route a hardware-backed SPI to the core running `target`.
    PhysicalRoute {
        /// INTID of the SPI.
        intid: u32,
        /// The vCPU `GICD_IROUTER<n>` now names, or `None` when it names no vCPU of the
        /// partition (the interrupt is then delivered nowhere; the image may leave the
        /// physical routing as it is).
        target: Option<usize>,
    },
    /// `vcpu` may have a newly deliverable interrupt: refill its list registers (through
    /// [`VirtualGic::next_pending`](super::VirtualGic::next_pending)), signalling its core
    /// first if it is not the current one.
    RefillListRegisters {
        /// The vCPU to update.
        vcpu: usize,
    },
}

/// Hardware-backed changes inside one bank of 32 interrupts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct PhysicalChanges {
    /// INTID of bit 0 of the bank.
    pub first_intid: u32,
    /// The vCPU whose private bank it is; `None` for an SPI bank.
    pub vcpu: Option<usize>,
    /// Interrupts whose physical twin must be enabled.
    pub enabled: u32,
    /// Interrupts whose physical twin must be disabled.
    pub disabled: u32,
    /// Interrupts whose physical twin must be made active.
    pub activated: u32,
    /// Interrupts whose physical twin must be deactivated.
    pub deactivated: u32,
}

/// Result of a write the model accepted.
#[must_use = "a write can require the image to update the physical GIC or other vCPUs"]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WriteOutcome {
    /// How the model handled the write.
    pub disposition: Disposition,
    /// Hardware-backed interrupts whose physical state must follow the write.
    physical: PhysicalChanges,
    /// Hardware-backed SPIs re-routed by the write: INTID and the vCPU each now names. One
    /// `GICD_IROUTER<n>` write re-routes one SPI; a word written to `GICD_ITARGETSR<n>`
    /// (GICv2) up to four.
    route: [Option<(u32, Option<usize>)>; MAX_ROUTES],
    /// The vCPUs that may have a newly deliverable interrupt.
    refill: VcpuSet,
}

/// Most SPIs one register write re-routes: the four byte fields of a `GICD_ITARGETSR<n>`.
const MAX_ROUTES: usize = 4;

impl WriteOutcome {
    /// A write that needs nothing from the image.
    pub(super) const fn plain(disposition: Disposition) -> Self {
        Self {
            disposition,
            physical: PhysicalChanges {
                first_intid: 0,
                vcpu: None,
                enabled: 0,
                disabled: 0,
                activated: 0,
                deactivated: 0,
            },
            route: [None; MAX_ROUTES],
            refill: VcpuSet::EMPTY,
        }
    }

    /// The outcome with the physical changes `physical`.
    pub(super) const fn with_physical(mut self, physical: PhysicalChanges) -> Self {
        self.physical = physical;
        self
    }

    /// The outcome with hardware-backed SPI `intid` re-routed to `target` as well (in the
    /// first free of the [`MAX_ROUTES`] slots; no register write re-routes more).
    pub(super) fn with_route(mut self, intid: u32, target: Option<usize>) -> Self {
        if let Some(slot) = self.route.iter_mut().find(|slot| slot.is_none()) {
            *slot = Some((intid, target));
        }
        self
    }

    /// The outcome with `refill` as the vCPUs to refill.
    pub(super) const fn with_refill(mut self, refill: VcpuSet) -> Self {
        self.refill = refill;
        self
    }

    /// The vCPUs whose list registers need refilling.
    pub const fn refill(&self) -> VcpuSet {
        self.refill
    }

    /// Every action the image must take, physical-GIC updates first.
    pub const fn effects(&self) -> Effects {
        Effects { physical: self.physical, route: self.route, refill: self.refill }
    }
}

/// Iterator over the [`Effect`]s of one write.
#[derive(Clone, Debug)]
pub struct Effects {
    /// Physical changes not yet returned; each returned one is cleared from its mask.
    physical: PhysicalChanges,
    /// The re-routes, each until returned.
    route: [Option<(u32, Option<usize>)>; MAX_ROUTES],
    /// vCPUs to refill not yet returned.
    refill: VcpuSet,
}

impl Iterator for Effects {
    type Item = Effect;

    fn next(&mut self) -> Option<Effect> {
        let physical = &mut self.physical;
        // A bank starts at most at INTID 992 and `bit` is below 32: no saturation.
        let intid_of = |bit: u32| physical.first_intid.saturating_add(bit);
        if let Some(bit) = take_lowest(&mut physical.enabled) {
            return Some(Effect::PhysicalEnable { intid: intid_of(bit), vcpu: physical.vcpu, enabled: true });
        }
        if let Some(bit) = take_lowest(&mut physical.disabled) {
            return Some(Effect::PhysicalEnable { intid: intid_of(bit), vcpu: physical.vcpu, enabled: false });
        }
        if let Some(bit) = take_lowest(&mut physical.activated) {
            return Some(Effect::PhysicalActive { intid: intid_of(bit), vcpu: physical.vcpu, active: true });
        }
        if let Some(bit) = take_lowest(&mut physical.deactivated) {
            return Some(Effect::PhysicalActive { intid: intid_of(bit), vcpu: physical.vcpu, active: false });
        }
        if let Some((intid, target)) = self.route.iter_mut().find_map(Option::take) {
            return Some(Effect::PhysicalRoute { intid, target });
        }
        self.refill.pop_first().map(|vcpu| Effect::RefillListRegisters { vcpu })
    }
}

// [utest->dsn~vgic-list-registers~1] [utest->dsn~vgic-frames~1]
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn effects_expand_masks_in_a_fixed_order() {
        let outcome = WriteOutcome::plain(Disposition::Emulated)
            .with_physical(PhysicalChanges {
                first_intid: 32,
                vcpu: None,
                enabled: 0b101,
                disabled: 0,
                activated: 0,
                deactivated: 1 << 4,
            })
            .with_route(40, Some(1))
            .with_refill(VcpuSet::single(0).with(2));
        let mut effects = outcome.effects();
        assert_eq!(effects.next(), Some(Effect::PhysicalEnable { intid: 32, vcpu: None, enabled: true }));
        assert_eq!(effects.next(), Some(Effect::PhysicalEnable { intid: 34, vcpu: None, enabled: true }));
        assert_eq!(effects.next(), Some(Effect::PhysicalActive { intid: 36, vcpu: None, active: false }));
        assert_eq!(effects.next(), Some(Effect::PhysicalRoute { intid: 40, target: Some(1) }));
        assert_eq!(effects.next(), Some(Effect::RefillListRegisters { vcpu: 0 }));
        assert_eq!(effects.next(), Some(Effect::RefillListRegisters { vcpu: 2 }));
        assert_eq!(effects.next(), None);
    }

    #[test]
    fn plain_write_has_no_effects() {
        assert_eq!(WriteOutcome::plain(Disposition::RazWi).effects().count(), 0);
    }
}
