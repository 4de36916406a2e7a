//! The state of 32 consecutive interrupts, laid out like the GIC's bit-array registers.
//!
//! One bank is the unit every `GICD_`/`GICR_` bit-array register addresses (IHI 0069 12.9,
//! 12.11): a redistributor's SGIs and PPIs are one bank per vCPU, and SPIs come in banks of
//! 32. Keeping the state as bit masks makes a 32-bit register access one masked operation and
//! lets the caller see exactly which interrupts a write changed.
//!
//! [impl->dsn~vgic-frames~1]

use super::Group;

/// Interrupts per bank: one bit each in a 32-bit register.
pub(super) const BANK_SIZE: u32 = 32;

/// The bit-per-interrupt registers (`IGROUPR`, `ISENABLER`, ... `ICACTIVER`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum BitRegister {
    /// `IGROUPR<n>`: 1 = Group 1.
    Group,
    /// `ISENABLER<n>`: writing 1 enables, reads the enables.
    SetEnable,
    /// `ICENABLER<n>`: writing 1 disables, reads the enables.
    ClearEnable,
    /// `ISPENDR<n>`: writing 1 latches pending, reads the pending state.
    SetPending,
    /// `ICPENDR<n>`: writing 1 clears the latch, reads the pending state.
    ClearPending,
    /// `ISACTIVER<n>`: writing 1 activates, reads the active state.
    SetActive,
    /// `ICACTIVER<n>`: writing 1 deactivates, reads the active state.
    ClearActive,
}

impl BitRegister {
    /// The register at `offset` in the 0x0080–0x03FF area both frame types share, and the
    /// index `n` of the `<n>` instance (IHI 0069 Table 12-25 and Table 12-32).
    pub(super) const fn decode(offset: u64) -> Option<(Self, usize)> {
        let register = match offset & !0x7f {
            0x080 => Self::Group,
            0x100 => Self::SetEnable,
            0x180 => Self::ClearEnable,
            0x200 => Self::SetPending,
            0x280 => Self::ClearPending,
            0x300 => Self::SetActive,
            0x380 => Self::ClearActive,
            _ => return None,
        };
        Some((register, ((offset & 0x7f) / 4) as usize))
    }
}

/// Which interrupts of a bank a register write changed in ways the image must mirror.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct BankChange {
    /// Hardware-backed interrupts the write enabled.
    pub enabled: u32,
    /// Hardware-backed interrupts the write disabled.
    pub disabled: u32,
    /// Hardware-backed interrupts whose physical active state must be set.
    pub activated: u32,
    /// Hardware-backed interrupts whose physical active state must be cleared.
    pub deactivated: u32,
    /// Interrupts that may have become deliverable.
    pub touched: u32,
    /// Interrupts sitting unacknowledged in a list register that the write disabled or
    /// cleared: the vCPU holding them must take them back out (sync its list registers).
    pub withdraw: u32,
}

/// Which interrupt groups `GICD_CTLR` lets the distributor forward.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct GroupEnables {
    /// `GICD_CTLR.EnableGrp0`.
    pub group0: bool,
    /// `GICD_CTLR.EnableGrp1` (`EnableGrp1NS` with a single Security state).
    pub group1: bool,
}

impl GroupEnables {
    /// The interrupts of a bank whose group is enabled, given the bank's `IGROUPR` bits.
    pub(super) const fn mask(self, group_bits: u32) -> u32 {
        let group1 = if self.group1 { group_bits } else { 0 };
        let group0 = if self.group0 { !group_bits } else { 0 };
        group1 | group0
    }
}

/// State of 32 interrupts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct InterruptBank {
    /// `IGROUPR`: 1 = Group 1.
    pub group: u32,
    /// `ISENABLER`.
    pub enabled: u32,
    /// Pending state latched by an edge, an `ISPENDR` write or the image.
    pub pending_latch: u32,
    /// Input line level, counted as pending only for level-sensitive interrupts.
    pub line_level: u32,
    /// Active, or in a list register (the model treats an interrupt it put in a list
    /// register as taken; `listed` tells the two apart).
    pub active: u32,
    /// In a list register in the Pending state: put there by the image, its acknowledgement by
    /// the guest not yet observed. Reads as pending, not active (the guest has not taken it).
    pub listed: u32,
    /// Of `listed`, those whose pending state the guest cleared (`ICPENDR`) since: the holder
    /// takes them out at its next sync, unless the guest acknowledged them first.
    pub withdrawn: u32,
    /// `ICFGR` `Int_config[1]`: 1 = edge-triggered.
    pub edge: u32,
    /// Backed by a physical interrupt (whose INTID is in `physical`).
    pub hardware: u32,
    /// For each hardware-backed interrupt, the physical INTID behind it, stored when it is
    /// declared hardware-backed so that delivery never searches for it.
    pub physical: [u16; BANK_SIZE as usize],
    /// `IPRIORITYR`: lower values are higher priority.
    pub priority: [u8; BANK_SIZE as usize],
}

impl InterruptBank {
    /// Reset state: disabled, inactive, not pending, priority 0, configured as `edge`, in the
    /// groups `group` gives (`IGROUPR` bits).
    ///
    /// On GICv3 every interrupt resets to Group 1. The reset group is IMPLEMENTATION DEFINED
    /// when `GICD_CTLR.DS` is 1 (IHI 0069 12.9.14); Group 1 is what a guest of a
    /// Non-secure-only GIC expects, and what KVM's GICv3 model does too. On GICv2 they reset
    /// to Group 0 (`VirtualGic::with_architecture`).
    pub(super) const fn new(edge: u32, group: u32) -> Self {
        Self {
            group,
            enabled: 0,
            pending_latch: 0,
            line_level: 0,
            active: 0,
            listed: 0,
            withdrawn: 0,
            edge,
            hardware: 0,
            physical: [0; BANK_SIZE as usize],
            priority: [0; BANK_SIZE as usize],
        }
    }

    /// Pending state as `ISPENDR` reports it: the latch, plus the line of level-sensitive
    /// interrupts (IHI 0069 4.1.2: a level-sensitive interrupt is pending while asserted).
    pub(super) const fn pending(&self) -> u32 {
        self.pending_latch | (self.line_level & !self.edge)
    }

    /// Interrupts whose vCPU must sync: pending, enabled and of an enabled group, whether
    /// active or not. An active one counts too: the guest may have finished it silently in a
    /// list register (an edge-triggered entry asks for no EOI maintenance interrupt), so the
    /// sync retires that entry and delivers the interrupt again, or arms the request that
    /// reports its end.
    pub(super) const fn needs_sync(&self, enables: GroupEnables) -> u32 {
        self.pending() & self.enabled & enables.mask(self.group)
    }

    /// Interrupts the distributor would forward now: pending, enabled, not already active,
    /// and of an enabled group. An active-and-pending interrupt waits for its deactivation.
    pub(super) const fn deliverable(&self, enables: GroupEnables) -> u32 {
        self.pending() & self.enabled & !self.active & enables.mask(self.group)
    }

    /// The value a read of `register` returns.
    pub(super) const fn read(&self, register: BitRegister) -> u32 {
        match register {
            BitRegister::Group => self.group,
            BitRegister::SetEnable | BitRegister::ClearEnable => self.enabled,
            // An interrupt still unacknowledged in a list register is pending, not active
            // (issue 14: ISACTIVER read 1 before the guest acknowledged).
            BitRegister::SetPending | BitRegister::ClearPending => self.pending() | (self.listed & !self.withdrawn),
            BitRegister::SetActive | BitRegister::ClearActive => self.active & !self.listed,
        }
    }

    /// Applies a write of `value` to `register`, and reports what changed.
    ///
    /// For hardware-backed interrupts, pending and active writes are mirrored onto the
    /// physical active state, as KVM does: setting the virtual pending state marks the
    /// physical interrupt active, so that the guest's EOI through an `ICH_LR<n>_EL2.HW` entry
    /// deactivates an interrupt that really is active; clearing it releases the physical one
    /// unless the virtual interrupt is still active, so a guest cannot mask a device's line
    /// by setting and clearing pending.
    pub(super) fn write(&mut self, register: BitRegister, value: u32) -> BankChange {
        let mut change = BankChange::default();
        match register {
            BitRegister::Group => {
                change.touched = self.group ^ value;
                self.group = value;
            }
            BitRegister::SetEnable => {
                let newly = value & !self.enabled;
                self.enabled |= value;
                change.enabled = newly & self.hardware;
                change.touched = newly;
            }
            BitRegister::ClearEnable => {
                change.disabled = value & self.enabled & self.hardware;
                change.withdraw = value & self.enabled & self.listed;
                self.enabled &= !value;
            }
            BitRegister::SetPending => {
                self.pending_latch |= value;
                change.activated = value & self.hardware & !self.active;
                change.touched = value;
            }
            BitRegister::ClearPending => {
                self.pending_latch &= !value;
                change.deactivated = value & self.hardware & !self.active;
                self.withdrawn |= value & self.listed;
                change.withdraw = value & self.listed;
            }
            BitRegister::SetActive => {
                change.activated = value & self.hardware & !self.active;
                self.active |= value;
            }
            BitRegister::ClearActive => {
                change.deactivated = value & self.hardware & self.active;
                self.active &= !value;
                change.touched = value;
            }
        }
        change
    }

    /// `ICFGR<2n + half>` for this bank: bit `2i + 1` is 1 for an edge-triggered interrupt
    /// `16 * half + i`; the `Int_config[0]` bits are RES0 (IHI 0069 12.9.9).
    pub(super) const fn config(&self, half: u32) -> u32 {
        let edges = if half & 1 == 0 { self.edge } else { self.edge >> 16 };
        spread_to_even_bits(edges) << 1
    }

    /// Writes `ICFGR<2n + half>`, changing only interrupts in `writable` (a bank-wide mask).
    /// Returns the interrupts whose configuration changed.
    pub(super) fn write_config(&mut self, half: u32, value: u32, writable: u32) -> u32 {
        let edges = gather_even_bits(value >> 1);
        let (half_field, half_edges) = if half & 1 == 0 { (0x0000_ffff, edges) } else { (0xffff_0000, edges << 16) };
        let field = half_field & writable;
        let updated = (self.edge & !field) | (half_edges & field);
        let changed = updated ^ self.edge;
        self.edge = updated;
        changed
    }

    /// Bytes `first .. first + count` of `IPRIORITYR`, packed little-endian as the register
    /// reads them (at most 4). Out-of-bank bytes read as zero.
    pub(super) fn priorities(&self, first: u32, count: u64) -> u32 {
        let mut bytes = [0_u8; 4];
        let stored = usize::try_from(first).ok().and_then(|start| self.priority.get(start..)).unwrap_or_default();
        let byte_count = usize::try_from(count).unwrap_or(usize::MAX);
        for (byte, priority) in bytes.iter_mut().zip(stored).take(byte_count) {
            *byte = *priority;
        }
        u32::from_le_bytes(bytes)
    }

    /// Writes `count` priority bytes (at most 4) from `value`, least significant first,
    /// starting at interrupt `first`; returns the mask of interrupts written. Bytes past the
    /// bank are dropped.
    pub(super) fn write_priorities(&mut self, first: u32, count: u64, value: u32) -> u32 {
        let mut written = 0;
        // The mask bit of the slot being written; a `first` past the bank has no slots at all.
        let mut bit = 1_u32.checked_shl(first).unwrap_or(0);
        let slots = usize::try_from(first).ok().and_then(|start| self.priority.get_mut(start..)).unwrap_or_default();
        let byte_count = usize::try_from(count).unwrap_or(usize::MAX);
        for (slot, byte) in slots.iter_mut().zip(value.to_le_bytes()).take(byte_count) {
            *slot = byte;
            written |= bit;
            bit <<= 1;
        }
        written
    }

    /// The group of interrupt `bit`.
    pub(super) const fn group_of(&self, bit: u32) -> Group {
        if self.group & (1 << bit) != 0 { Group::Group1 } else { Group::Group0 }
    }

    /// Drives the input line of interrupt `bit`. A rising edge latches an edge-triggered
    /// interrupt pending; a level-sensitive one is pending for as long as the line is high.
    pub(super) fn set_line(&mut self, bit: u32, level: bool) {
        let mask = 1 << bit;
        let rising = level && self.line_level & mask == 0;
        if rising && self.edge & mask != 0 {
            self.pending_latch |= mask;
        }
        if level {
            self.line_level |= mask;
        } else {
            self.line_level &= !mask;
        }
    }

    /// Acknowledgement by the guest (the image put the interrupt in a list register):
    /// pending becomes active. The latch clears for both trigger modes; a level-sensitive
    /// interrupt whose line is still high stays pending (IHI 0069 4.1.2).
    pub(super) fn acknowledge(&mut self, bit: u32) {
        let mask = 1 << bit;
        self.pending_latch &= !mask;
        self.active |= mask;
        self.listed |= mask;
        self.withdrawn &= !mask;
    }

    /// The guest acknowledged interrupt `bit` (its list register was read back Active or
    /// Pending and Active): it is active, and a pending-state clear it raced no longer
    /// withdraws it.
    pub(super) fn note_acknowledged(&mut self, bit: u32) {
        let mask = 1 << bit;
        self.listed &= !mask;
        self.withdrawn &= !mask;
    }

    /// Whether unacknowledged listed interrupt `bit` must leave its list register: the guest
    /// cleared its pending state, disabled it, or its group is off in `GICD_CTLR`.
    pub(super) const fn must_withdraw(&self, bit: u32, enables: GroupEnables) -> bool {
        let mask = 1 << bit;
        self.listed & mask != 0
            && (self.withdrawn & mask != 0 || self.enabled & mask == 0 || enables.mask(self.group) & mask == 0)
    }

    /// Whether listed interrupt `bit` needs its list register looked at: it must be withdrawn,
    /// or it was latched pending again (an edge, an `ISPENDR` write, an SGI) after it was put
    /// there, which is the same pending state if the guest has not acknowledged it yet.
    pub(super) const fn needs_attention(&self, bit: u32, enables: GroupEnables) -> bool {
        let mask = 1 << bit;
        self.must_withdraw(bit, enables) || self.listed & self.pending_latch & mask != 0
    }

    /// Takes unacknowledged interrupt `bit` back out of its list register: it is no longer
    /// active; it stays pending unless the guest cleared its pending state (and no
    /// level-sensitive line holds it). Returns whether it is still pending.
    pub(super) fn withdraw(&mut self, bit: u32) -> bool {
        let mask = 1 << bit;
        let cleared = self.withdrawn & mask != 0;
        self.active &= !mask;
        self.listed &= !mask;
        self.withdrawn &= !mask;
        let held_by_line = self.line_level & !self.edge & mask != 0;
        if !cleared && !held_by_line {
            self.pending_latch |= mask;
        }
        !cleared || held_by_line
    }

    /// Undoes [`InterruptBank::acknowledge`] for an interrupt taken back out of a list
    /// register before the guest acknowledged it (a higher-priority interrupt needed the
    /// register): active again becomes pending. The latch is set unless a level-sensitive
    /// line still holds the interrupt pending by itself, so a line that drops later is not
    /// left latched.
    pub(super) fn requeue(&mut self, bit: u32) {
        let mask = 1 << bit;
        self.active &= !mask;
        self.listed &= !mask;
        self.withdrawn &= !mask;
        let held_by_line = self.line_level & !self.edge & mask != 0;
        if !held_by_line {
            self.pending_latch |= mask;
        }
    }

    /// Deactivation by the guest's EOI.
    pub(super) fn deactivate(&mut self, bit: u32) {
        let mask = 1 << bit;
        self.active &= !mask;
        self.listed &= !mask;
        self.withdrawn &= !mask;
    }
}

/// Removes the lowest set bit from `mask` and returns its index; `None` once `mask` is empty.
/// Loops over the interrupts of a bank use it, so each runs at most 32 times.
pub(super) fn take_lowest(mask: &mut u32) -> Option<u32> {
    // Clearing the lowest set bit: `m & (m - 1)`; `m - 1` only fails for the empty mask.
    let below = mask.checked_sub(1)?;
    let bit = mask.trailing_zeros();
    *mask &= below;
    Some(bit)
}

/// Moves bit `i` of the low half of `bits` to bit `2i` (the high half is ignored).
///
/// `ICFGR` registers hold two bits per interrupt, the bank one (IHI 0069 12.9.9). This is the
/// standard bit interleave: each step halves the distance the bits still have to move, so
/// there is no loop and no arithmetic that could overflow.
const fn spread_to_even_bits(bits: u32) -> u32 {
    let mut spread = bits & 0x0000_ffff;
    spread = (spread | (spread << 8)) & 0x00ff_00ff;
    spread = (spread | (spread << 4)) & 0x0f0f_0f0f;
    spread = (spread | (spread << 2)) & 0x3333_3333;
    (spread | (spread << 1)) & 0x5555_5555
}

/// The inverse of [`spread_to_even_bits`]: moves bit `2i` of `bits` to bit `i` and drops the
/// odd bits.
const fn gather_even_bits(bits: u32) -> u32 {
    let mut gathered = bits & 0x5555_5555;
    gathered = (gathered | (gathered >> 1)) & 0x3333_3333;
    gathered = (gathered | (gathered >> 2)) & 0x0f0f_0f0f;
    gathered = (gathered | (gathered >> 4)) & 0x00ff_00ff;
    (gathered | (gathered >> 8)) & 0x0000_ffff
}

// [utest->dsn~vgic-frames~1]
#[cfg(test)]
mod tests {
    use super::*;

    const ALL: GroupEnables = GroupEnables { group0: true, group1: true };

    #[test]
    fn bit_registers_decode_with_their_index() {
        assert_eq!(BitRegister::decode(0x080), Some((BitRegister::Group, 0)));
        assert_eq!(BitRegister::decode(0x104), Some((BitRegister::SetEnable, 1)));
        assert_eq!(BitRegister::decode(0x3fc), Some((BitRegister::ClearActive, 31)));
        assert_eq!(BitRegister::decode(0x400), None);
        assert_eq!(BitRegister::decode(0x07c), None);
    }

    #[test]
    fn level_interrupt_stays_pending_while_the_line_is_high() {
        let mut bank = InterruptBank::new(0, u32::MAX);
        bank.enabled = 1 << 3;
        bank.set_line(3, true);
        assert_eq!(bank.deliverable(ALL), 1 << 3);
        bank.acknowledge(3);
        assert_eq!(bank.pending(), 1 << 3, "line still high");
        assert_eq!(bank.deliverable(ALL), 0, "active interrupts are not forwarded again");
        bank.deactivate(3);
        assert_eq!(bank.deliverable(ALL), 1 << 3);
        bank.set_line(3, false);
        assert_eq!(bank.pending(), 0);
    }

    #[test]
    fn edge_interrupt_latches_only_rising_edges() {
        let mut bank = InterruptBank::new(u32::MAX, u32::MAX);
        bank.set_line(5, true);
        bank.acknowledge(5);
        bank.set_line(5, true);
        assert_eq!(bank.pending(), 0, "a held line is not a new edge");
        bank.set_line(5, false);
        bank.set_line(5, true);
        assert_eq!(bank.pending(), 1 << 5);
    }

    #[test]
    fn config_register_packs_edge_bits_into_odd_positions() {
        let mut bank = InterruptBank::new(0x0000_ffff, u32::MAX);
        assert_eq!(bank.config(0), 0xaaaa_aaaa);
        assert_eq!(bank.config(1), 0);
        let changed = bank.write_config(1, 0b10 << 22, 0xffff_0000);
        assert_eq!(changed, 1 << 27);
        assert_eq!(bank.config(1), 0b10 << 22);
        assert_eq!(bank.write_config(0, 0, 0xffff_0000), 0, "field outside the writable mask");
        assert_eq!(bank.config(0), 0xaaaa_aaaa);
    }

    #[test]
    fn even_bit_spreading_matches_the_per_bit_definition_and_round_trips() {
        for bits in 0..=0xffff_u32 {
            let mut expected = 0;
            for bit in 0..16 {
                if bits & (1 << bit) != 0 {
                    expected |= 1 << (2 * bit);
                }
            }
            assert_eq!(spread_to_even_bits(bits), expected, "{bits:#x}");
            assert_eq!(gather_even_bits(expected | (expected << 1)), bits, "odd bits are dropped");
        }
        assert_eq!(spread_to_even_bits(0xffff_0000), 0, "the high half is ignored");
    }

    #[test]
    fn lowest_bits_are_taken_in_ascending_order() {
        let mut mask = 0x8000_0011_u32;
        assert_eq!(take_lowest(&mut mask), Some(0));
        assert_eq!(take_lowest(&mut mask), Some(4));
        assert_eq!(take_lowest(&mut mask), Some(31));
        assert_eq!(take_lowest(&mut mask), None);
        assert_eq!(mask, 0);
    }

    #[test]
    fn priorities_pack_little_endian() {
        let mut bank = InterruptBank::new(0, u32::MAX);
        assert_eq!(bank.write_priorities(4, 4, 0x4030_2010), 0xf0);
        assert_eq!(bank.priorities(4, 4), 0x4030_2010);
        assert_eq!(bank.priorities(6, 1), 0x30);
        assert_eq!(bank.write_priorities(31, 1, 0xa0), 1 << 31);
        assert_eq!(bank.priority[31], 0xa0);
    }

    #[test]
    fn disabled_group_is_not_forwarded() {
        let mut bank = InterruptBank::new(0, u32::MAX);
        bank.enabled = 0b11;
        bank.group = 0b01;
        bank.pending_latch = 0b11;
        assert_eq!(bank.deliverable(GroupEnables { group0: false, group1: true }), 0b01);
        assert_eq!(bank.deliverable(GroupEnables { group0: true, group1: false }), 0b10);
        assert_eq!(bank.deliverable(GroupEnables::default()), 0);
    }
}
