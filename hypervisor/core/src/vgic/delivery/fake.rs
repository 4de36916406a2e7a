//! A list-register file in memory that behaves as the GICv3 virtual CPU interface does
//! (IHI 0069 12.4): host tests drive delivery against it and play the guest's part
//! (acknowledge, end of interrupt) on it.

use super::ListRegisters;
use crate::vgic::{Backing, ListRegister, ListRegisterState};

/// The list registers of one simulated core.
#[derive(Clone, Debug)]
pub struct FakeListRegisters {
    /// The entries, as last written or changed by the simulated guest.
    registers: [u64; 16],
    /// How many exist.
    count: usize,
    /// `NPIE`.
    pub refill_maintenance: bool,
    /// Physical INTIDs deactivated, in order: by the guest's EOI of a `HW` entry, or by
    /// delivery withdrawing one the guest cleared.
    pub deactivated: heapless::Vec<u16, 16>,
}

impl FakeListRegisters {
    /// `count` empty list registers (at most 16).
    pub fn new(count: usize) -> Self {
        Self { registers: [0; 16], count: count.min(16), refill_maintenance: false, deactivated: heapless::Vec::new() }
    }

    /// The entry in register `index`, decoded.
    pub fn entry(&self, index: usize) -> ListRegister {
        ListRegister::from_bits(self.registers.get(index).copied().unwrap_or(0))
    }

    /// The virtual INTIDs of every valid entry, in register order.
    pub fn valid_intids(&self) -> heapless::Vec<u32, 16> {
        (0..self.count).map(|index| self.entry(index)).filter(|entry| !entry.is_free()).map(|entry| entry.virtual_intid).collect()
    }

    /// The guest acknowledges the highest-priority pending entry (reads `ICV_IAR1_EL1`):
    /// it becomes active. Returns its INTID, or `None` if nothing is pending.
    pub fn guest_acknowledge(&mut self) -> Option<u32> {
        let index = (0..self.count)
            .filter(|&index| self.entry(index).state == ListRegisterState::Pending)
            .min_by_key(|&index| self.entry(index).priority)?;
        let mut entry = self.entry(index);
        entry.state = ListRegisterState::Active;
        self.registers[index] = entry.to_bits();
        Some(entry.virtual_intid)
    }

    /// The guest ends `intid` (EOImode 0: priority drop and deactivation): its entry becomes
    /// invalid; a `HW` entry deactivates its physical interrupt.
    pub fn guest_end_of_interrupt(&mut self, intid: u32) {
        let Some(index) = (0..self.count).find(|&index| {
            let entry = self.entry(index);
            entry.virtual_intid == intid && matches!(entry.state, ListRegisterState::Active | ListRegisterState::PendingAndActive)
        }) else {
            return;
        };
        let mut entry = self.entry(index);
        entry.state = ListRegisterState::Invalid;
        if let Backing::Hardware { physical_intid } = entry.backing {
            let _ = self.deactivated.push(physical_intid);
        }
        self.registers[index] = entry.to_bits();
    }

    /// Whether the maintenance interrupt is asserted (`ICH_MISR_EL2.EOI` or `.NP`).
    pub fn maintenance_asserted(&self) -> bool {
        let no_pending = (0..self.count).all(|index| {
            !matches!(self.entry(index).state, ListRegisterState::Pending | ListRegisterState::PendingAndActive)
        });
        self.end_of_interrupt_status() != 0 || (self.refill_maintenance && no_pending)
    }
}

impl ListRegisters for FakeListRegisters {
    fn count(&self) -> usize {
        self.count
    }

    fn empty(&self) -> u64 {
        let mut empty = 0;
        for index in 0..self.count {
            let entry = self.entry(index);
            let needs_maintenance = matches!(entry.backing, Backing::Software { maintenance_on_eoi: true });
            if entry.is_free() && !needs_maintenance {
                empty |= 1 << index;
            }
        }
        empty
    }

    fn end_of_interrupt_status(&self) -> u64 {
        let mut status = 0;
        for index in 0..self.count {
            let entry = self.entry(index);
            if entry.is_free() && matches!(entry.backing, Backing::Software { maintenance_on_eoi: true }) {
                status |= 1 << index;
            }
        }
        status
    }

    fn read(&self, index: usize) -> ListRegister {
        self.entry(index)
    }

    fn write(&mut self, index: usize, entry: &ListRegister, _sgi_source: u8) {
        if index < self.count {
            self.registers[index] = entry.to_bits();
        }
    }

    fn clear(&mut self, index: usize) {
        if index < self.count {
            self.registers[index] = 0;
        }
    }

    fn set_refill_maintenance(&mut self, enabled: bool) {
        self.refill_maintenance = enabled;
    }

    fn deactivate_physical(&mut self, physical_intid: u32) {
        let _recorded = self.deactivated.push(u16::try_from(physical_intid).unwrap_or(u16::MAX));
    }
}
