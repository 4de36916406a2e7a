//! Interrupt delivery: what goes into a vCPU's list registers, and which other vCPUs must be
//! kicked, decided once here for every GIC version.
//!
//! The virtual GIC model ([`VirtualGic`]) knows which interrupts are pending, enabled and
//! routed where; the hardware's virtual CPU interface knows only the few interrupts in its
//! list registers. [`synchronise`] brings the two together on the vCPU's own core: it
//! retires the entries the guest has finished (empty, or invalid with an EOI-maintenance
//! request), fills free registers with the most urgent deliverable interrupts, evicts a
//! lower-priority entry the guest has not acknowledged yet when a more urgent interrupt
//! finds no free register, and asks for the "no pending entry" maintenance interrupt while
//! anything deliverable still waits. [`deliver_hardware_private`] is the short path for a
//! hardware-backed PPI (the virtual timer) that just fired.
//!
//! The hardware is reached only through [`ListRegisters`], whose methods map one to one onto
//! both register maps:
//!
//! | [`ListRegisters`] | GICv3 (`ICH_*_EL2`, IHI 0069 12.4) | GICv2 / GIC-400 (`GICH_*`, IHI 0048B 5.3) |
//! |---|---|---|
//! | `count` | `ICH_VTR_EL2.ListRegs` + 1 (at most 16) | `GICH_VTR.ListRegs` + 1 (at most 64; GIC-400: 4) |
//! | `empty` | `ICH_ELRSR_EL2` | `GICH_ELRSR0`/`GICH_ELRSR1` |
//! | `end_of_interrupt_status` | `ICH_EISR_EL2` | `GICH_EISR0`/`GICH_EISR1` |
//! | `read`/`write`/`clear` | `ICH_LR<n>_EL2` ([`ListRegister::to_bits`]) | `GICH_LR<n>` ([`ListRegister::to_gicv2`]) |
//! | `set_refill_maintenance` | `ICH_HCR_EL2.NPIE` | `GICH_HCR.NPIE` |
//!
//! An entry is the abstract [`ListRegister`]; each backend encodes it. GICv2 has 10-bit
//! virtual and physical INTIDs and 5 priority bits, all of which every INTID and priority
//! this model produces fits (INTIDs stop below 1020; the low priority bits are ones a GIC-400
//! ignores anyway).
//!
//! The per-vCPU [`ListRegisterShadow`] records which virtual INTID each register holds, so
//! that retiring an entry needs no register read. It belongs to the vCPU and is only touched
//! on the vCPU's own core.
//!
//! Worst case per call: [`synchronise`] retires at most `count` entries, reads back at most
//! `count` entries the model flags (withdrawn, merged or acknowledged: `reconcile`) and places
//! or evicts at most `2 * count` interrupts, each placement one [`VirtualGic::next_pending`]
//! scan (one bank per vCPU plus `SPI_BLOCKS` banks); when something still waits, at most
//! `count` more reads decide `NPIE`. [`observe`] reads at most `count` entries.
//!
//! [impl->dsn~vgic-list-registers~1]

#[cfg(test)]
pub mod fake;
#[cfg(test)]
mod tests;

use super::{Backing, ListRegister, ListRegisterState, VcpuSet, VirtualGic};

/// List registers a shadow tracks. GICv3 implements at most 16; GICv2 allows up to 64, but
/// the GIC-400 implements 4, and a vCPU has no use for more than 16 at once.
pub const MAX_LIST_REGISTERS: usize = 16;

/// A vCPU's list registers, as one GIC version's virtual interface control registers reach
/// them. Only the vCPU's own core calls these, on its own registers.
pub trait ListRegisters {
    /// How many list registers the hardware implements.
    fn count(&self) -> usize;
    /// Bit `n` set: list register `n` holds no valid interrupt and needs no maintenance
    /// (`State` = 0b00 and `HW` = 1 or `EOI` = 0).
    fn empty(&self) -> u64;
    /// Bit `n` set: list register `n` is invalid with its `EOI` bit set: the guest
    /// deactivated a software interrupt that asked to be told.
    fn end_of_interrupt_status(&self) -> u64;
    /// The entry in list register `index` (an invalid entry for an index not implemented).
    fn read(&self, index: usize) -> ListRegister;
    /// Writes `entry` into list register `index` (ignored for an index not implemented).
    /// `sgi_source` is the vCPU that sent an SGI entry, which GICv2 encodes (`GICH_LR<n>.CPUID`,
    /// read by the guest from `GICC_IAR`); GICv3 has no such field and ignores it. Rewriting
    /// the SGI a register still holds (valid, same virtual INTID) keeps the source it has:
    /// the guest may have acknowledged it with that `CPUID` already, and a later sender of
    /// the same SGI (merged into this one) must not change it.
    fn write(&mut self, index: usize, entry: &ListRegister, sgi_source: u8);
    /// Empties list register `index`; this also clears its end-of-interrupt status.
    fn clear(&mut self, index: usize);
    /// Turns the "no pending entry" maintenance interrupt (`NPIE`) on or off.
    fn set_refill_maintenance(&mut self, enabled: bool);
    /// Deactivates physical interrupt `physical_intid` of this core (a PPI of its own or an
    /// SPI) whose hardware-backed entry was taken back out of a list register before the
    /// guest acknowledged it: no guest EOI will release it now (GICv3 `ICC_DIR_EL1`, GICv2
    /// `GICC_DIR`).
    fn deactivate_physical(&mut self, physical_intid: u32);
}

/// The calling core's physical GIC CPU interface and virtual interface control, one
/// implementation per GIC version, chosen at build time from the board (the generated
/// `CpuInterface` type): GICv3 through `ICC_*_EL1`/`ICH_*_EL2` system registers, GICv2
/// (GIC-400) through the memory-mapped GICC and GICH frames. Every function acts on the
/// calling core's own interface (GICv2 banks GICC and GICH per core at one address), so none
/// takes a lock. The hypervisor runs its own interrupts with `EOImode` = 1 (priority drop and
/// deactivation split), so a forwarded interrupt stays active until the guest's EOI through a
/// `HW` list register deactivates it.
pub trait PhysicalCpuInterface {
    /// This GIC version's list registers (and status registers) on the calling core.
    type ListRegisters: ListRegisters + Default;

    /// Opens the calling core's CPU interface (every priority, `EOImode` = 1, its groups on)
    /// and its virtual interface (`En`); `core` is its index in the system tables.
    fn initialise(core: usize);
    /// Acknowledges the highest-priority pending interrupt and returns the acknowledge
    /// register's value: its INTID ([`PhysicalCpuInterface::interrupt_id`]; 1020–1023: none)
    /// and, on GICv2, an SGI's source `CPUID` (`GICC_IAR` bits [12:10]), which the priority
    /// drop and deactivation must name again (IHI 0048B 4.4.5, 4.4.15).
    fn acknowledge() -> u32;
    /// The INTID in a value [`PhysicalCpuInterface::acknowledge`] returned.
    fn interrupt_id(acknowledged: u32) -> u32 {
        acknowledged
    }
    /// Drops the running priority of the interrupt `acknowledged` names (as
    /// [`PhysicalCpuInterface::acknowledge`] returned it) without deactivating it.
    fn priority_drop(acknowledged: u32);
    /// Deactivates the interrupt `acknowledged` names (after the priority drop); for an
    /// interrupt other than an SGI its INTID alone.
    fn deactivate(acknowledged: u32);
    /// Sends SGI `intid` to physical core `core`, whose MPIDR affinity is `affinity`.
    fn send_sgi(intid: u32, core: usize, affinity: u64);
    /// Clears the virtual CPU interface state (active priorities, `VMCR`) and every list
    /// register, for a vCPU's fresh start.
    fn reset_virtual_interface();

    /// Turns the "no pending entry" maintenance interrupt (`NPIE`) on or off.
    fn set_refill_maintenance(enabled: bool) {
        Self::ListRegisters::default().set_refill_maintenance(enabled);
    }

    /// Deactivates at the physical GIC every hardware interrupt a list register of the calling
    /// core still holds (`HW` = 1, not Invalid), then empties the list registers.
    ///
    /// A vCPU that stops (its partition halts, powers off or restarts) never deactivates them
    /// itself, and the physical interrupt behind such an entry (the virtual timer PPI) stays
    /// active, so it would never fire again for the vCPU's next life. Cost: one read and one
    /// write per list register.
    fn release_hardware_interrupts() {
        let mut list_registers = Self::ListRegisters::default();
        // BOUND: at most `count` (16 on GICv3, 64 on GICv2) list registers.
        for index in 0..list_registers.count() {
            let entry = list_registers.read(index);
            if let (Backing::Hardware { physical_intid }, false) = (entry.backing, entry.state == ListRegisterState::Invalid)
            {
                Self::deactivate(u32::from(physical_intid));
            }
            list_registers.clear(index);
        }
    }
}

/// Which virtual INTID each of a vCPU's list registers holds, as last written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListRegisterShadow {
    /// Per list register, the virtual INTID it holds (INTIDs stop below 1020).
    held: [Option<u16>; MAX_LIST_REGISTERS],
    /// One bit per list register that holds an interrupt (`held[n].is_some()`), kept with
    /// `held` so that the sync walks only occupied registers and finds a free one in one step.
    occupied: u64,
    /// Whether `NPIE` was last set, so an unchanged setting costs no register write.
    refill_maintenance: bool,
}

impl Default for ListRegisterShadow {
    fn default() -> Self {
        Self::EMPTY
    }
}

/// One bit for each of the first `count` list registers.
const fn first(count: usize) -> u64 {
    if count >= 64 { u64::MAX } else { (1_u64 << count).wrapping_sub(1) }
}

impl ListRegisterShadow {
    /// Nothing held, refill maintenance off: a vCPU that has just been (re)started, whose
    /// virtual interface was reset.
    pub const EMPTY: Self = Self { held: [None; MAX_LIST_REGISTERS], occupied: 0, refill_maintenance: false };

    /// The virtual INTID list register `index` holds.
    pub fn held(&self, index: usize) -> Option<u32> {
        self.held.get(index).copied().flatten().map(u32::from)
    }

    /// Whether any list register holds `intid`.
    pub fn holds(&self, intid: u32) -> bool {
        self.held.iter().flatten().any(|&held| u32::from(held) == intid)
    }

    /// One bit per list register below `count` that holds an interrupt.
    const fn occupied(&self, count: usize) -> u64 {
        self.occupied & first(count)
    }

    /// The first of the `count` usable list registers that holds nothing.
    fn free_slot(&self, count: usize) -> Option<usize> {
        let free = !self.occupied & first(count);
        (free != 0).then(|| free.trailing_zeros() as usize)
    }

    /// The list register holding `intid`, if any.
    fn slot_of(&self, intid: u32, count: usize) -> Option<usize> {
        let mut held = self.occupied(count);
        // BOUND: each turn clears one bit of `held`, which has at most `MAX_LIST_REGISTERS` set.
        for _ in 0..MAX_LIST_REGISTERS {
            let index = take_lowest_64(&mut held)?;
            if self.held(index) == Some(intid) {
                return Some(index);
            }
        }
        None
    }

    /// Records what list register `index` now holds.
    fn set(&mut self, index: usize, intid: Option<u32>) {
        if let Some(slot) = self.held.get_mut(index) {
            *slot = intid.and_then(|value| u16::try_from(value).ok());
            // `index` is below MAX_LIST_REGISTERS (16): the shift stays inside the mask.
            let bit = 1_u64 << index;
            if slot.is_some() {
                self.occupied |= bit;
            } else {
                self.occupied &= !bit;
            }
        }
    }
}

/// The list registers the shadow may use: what the hardware has, capped at the shadow.
fn usable<L: ListRegisters>(hardware: &L) -> usize {
    hardware.count().min(MAX_LIST_REGISTERS)
}

/// Sets `NPIE` if it is not already as wanted.
fn set_refill_maintenance<L: ListRegisters>(shadow: &mut ListRegisterShadow, hardware: &mut L, wanted: bool) {
    if shadow.refill_maintenance != wanted {
        hardware.set_refill_maintenance(wanted);
        shadow.refill_maintenance = wanted;
    }
}

/// Brings `vcpu`'s list registers in line with the model and returns the other vCPUs whose
/// cores must be kicked to do the same for theirs.
///
/// `raised` is the set of vCPUs the caller's action may have given a newly deliverable
/// interrupt (an SGI, an SPI routed elsewhere, a guest register write); `vcpu` itself is
/// always brought up to date, the others are returned.
///
/// 1. Entries the guest has finished are cleared and reported to the model
///    ([`VirtualGic::end_of_interrupt`]); one deliverable again elsewhere adds its vCPU.
/// 2. Free registers receive the highest-priority deliverable interrupts.
/// 3. With no free register, an entry still only pending (not acknowledged) whose priority
///    is lower than the next interrupt's is evicted and given back to the model
///    ([`VirtualGic::requeue`]): the guest sees the most urgent interrupts first.
/// 4. If something deliverable still waits, `NPIE` asks for a maintenance interrupt once no
///    entry is pending any more, so it is placed without delay.
// [impl->dsn~vgic-list-registers~1]
pub fn synchronise<L: ListRegisters, const SPI_BLOCKS: usize>(
    vgic: &mut VirtualGic<SPI_BLOCKS>,
    shadow: &mut ListRegisterShadow,
    vcpu: usize,
    hardware: &mut L,
    raised: VcpuSet,
) -> VcpuSet {
    let count = usable(hardware);
    let mut kick = VcpuSet::EMPTY;
    for target in raised.iter() {
        if target != vcpu {
            kick = kick.with(target);
        }
    }

    retire(vgic, shadow, vcpu, hardware, count, &mut kick);
    reconcile(vgic, shadow, vcpu, hardware, count);

    let mut waiting = false;
    // BOUND: every turn fills a free register (at most `count`) or evicts an entry for one
    // of strictly higher priority (at most `count` more before none is lower); the last turn
    // finds nothing to place.
    for _ in 0..=count.saturating_mul(2) {
        let Some((pending, rivals)) = vgic.next_pending_with_rivals(vcpu) else { break };
        let mut requeued = false;
        let slot = match shadow.free_slot(count) {
            Some(slot) => slot,
            None => match evictable(shadow, hardware, count, pending.priority) {
                Some((slot, evicted)) => {
                    // Pending again in the model: it comes back once a register is free.
                    if vgic.requeue(vcpu, evicted).is_err() {
                        waiting = true;
                        break;
                    }
                    requeued = true;
                    shadow.set(slot, None);
                    slot
                }
                None => {
                    waiting = true;
                    break;
                }
            },
        };
        if vgic.mark_delivered(vcpu, pending.intid).is_err() {
            hardware.clear(slot);
            break;
        }
        hardware.write(slot, &pending.list_register(), pending.sgi_source);
        shadow.set(slot, Some(pending.intid));
        // Delivered, it is active and no longer deliverable: with no rival and nothing
        // evicted back into the model, another scan could only find nothing.
        if !rivals && !requeued {
            break;
        }
    }
    // NPIE fires while no entry is Pending. With every register holding an acknowledged
    // (Active) interrupt, as under EOImode = 1 between the guest's priority drop and its
    // deactivation, it would fire at once and forever: the sync it causes can place nothing
    // (issue 14: a maintenance-interrupt livelock). So it is asked for only while some entry
    // is Pending; otherwise the next free register is found by the EOI maintenance interrupt
    // of a software entry or the vCPU's next exit (its timer guarantees one).
    let refill = waiting && holds_pending_entry(shadow, hardware, count);
    set_refill_maintenance(shadow, hardware, refill);
    arm_end_of_interrupt(vgic, shadow, vcpu, hardware, count, waiting);
    kick
}

/// Edge-triggered software entries are written without an EOI maintenance request (see
/// [`PendingInterrupt::list_register`](super::PendingInterrupt::list_register)): the guest's
/// deactivation is found by the next sync. It must be reported at once when something waits
/// for it: the same interrupt raised again while the guest handles it (it can only be
/// delivered after the deactivation), or, with `waiting`, any interrupt waiting for a free
/// register. Those entries get their request armed here. Cost: one model look-up per held
/// entry, one register read and write per entry armed.
fn arm_end_of_interrupt<L: ListRegisters, const SPI_BLOCKS: usize>(
    vgic: &VirtualGic<SPI_BLOCKS>,
    shadow: &ListRegisterShadow,
    vcpu: usize,
    hardware: &mut L,
    count: usize,
    waiting: bool,
) {
    let mut held = shadow.occupied(count);
    // BOUND: each turn clears one bit of `held`, which has at most `MAX_LIST_REGISTERS` set.
    for _ in 0..MAX_LIST_REGISTERS {
        let Some(index) = take_lowest_64(&mut held) else { break };
        let Some(intid) = shadow.held(index) else { continue };
        if !waiting && !vgic.pending_again(vcpu, intid) {
            continue;
        }
        let mut entry = hardware.read(index);
        if entry.state != ListRegisterState::Invalid && entry.backing == (Backing::Software { maintenance_on_eoi: false }) {
            entry.backing = Backing::Software { maintenance_on_eoi: true };
            hardware.write(index, &entry, vgic.sgi_source(vcpu, intid));
        }
    }
}

/// Whether any held list register is in the Pending state (one register read per held
/// entry, at most `count`).
fn holds_pending_entry<L: ListRegisters>(shadow: &ListRegisterShadow, hardware: &L, count: usize) -> bool {
    (0..count).any(|index| shadow.held(index).is_some() && hardware.read(index).state == ListRegisterState::Pending)
}

/// Brings held entries the model flags ([`VirtualGic::needs_attention`]) in line with what
/// the guest did since they were written, reading only those registers:
/// - still Pending (not acknowledged) and disabled, cleared or of a group turned off: taken
///   back out ([`VirtualGic::withdraw`]), so the guest never takes an interrupt it disabled
///   and cleared (issue 14), software and hardware-backed alike;
/// - still Pending and raised again meanwhile: one pending state, the latch is dropped
///   ([`VirtualGic::merge_unacknowledged`]; issue 14: a masked SGI sent 10 000 times was
///   delivered twice);
/// - Active or Pending and Active: acknowledged ([`VirtualGic::note_acknowledged`]).
fn reconcile<L: ListRegisters, const SPI_BLOCKS: usize>(
    vgic: &mut VirtualGic<SPI_BLOCKS>,
    shadow: &mut ListRegisterShadow,
    vcpu: usize,
    hardware: &mut L,
    count: usize,
) {
    let mut held = shadow.occupied(count);
    // BOUND: each turn clears one bit of `held`, which has at most `MAX_LIST_REGISTERS` set.
    for _ in 0..MAX_LIST_REGISTERS {
        let Some(index) = take_lowest_64(&mut held) else { break };
        let Some(intid) = shadow.held(index) else { continue };
        if !vgic.needs_attention(vcpu, intid) {
            continue;
        }
        let entry = hardware.read(index);
        match entry.state {
            ListRegisterState::Pending => {
                // Hardware-backed entries too. One still pending in the model (disabled, or
                // its group off) keeps its physical twin active and goes back in, hardware-
                // backed, once the guest can take it again; one the guest cleared releases
                // its physical twin here, or it would never fire again.
                if vgic.must_withdraw(vcpu, intid) {
                    hardware.clear(index);
                    shadow.set(index, None);
                    let still_pending = vgic.withdraw(vcpu, intid).unwrap_or(false);
                    if let (Backing::Hardware { physical_intid }, false) = (entry.backing, still_pending) {
                        hardware.deactivate_physical(u32::from(physical_intid));
                    }
                } else {
                    let _merged = vgic.merge_unacknowledged(vcpu, intid);
                }
            }
            ListRegisterState::Active | ListRegisterState::PendingAndActive => {
                let _noted = vgic.note_acknowledged(vcpu, intid);
            }
            // Finished: retired by this sync or the next.
            ListRegisterState::Invalid => {}
        }
    }
}

/// Brings the model up to date with what the guest did since `vcpu`'s list registers were
/// written, before an emulated vGIC access reads or changes their state (so `ISACTIVER` and
/// `ISPENDR` answer from the registers' real state): entries the guest has finished are
/// retired (an edge-triggered entry ends silently, without an EOI maintenance interrupt),
/// and entries read back Active are noted as acknowledged. The image calls it on the
/// vCPU's own core. Returns the vCPUs that must sync because a retired interrupt is
/// deliverable again (`vcpu` itself included). Cost: two status reads, one register read per
/// held entry still listed as unacknowledged, one register write per entry retired.
pub fn observe<L: ListRegisters, const SPI_BLOCKS: usize>(
    vgic: &mut VirtualGic<SPI_BLOCKS>,
    shadow: &mut ListRegisterShadow,
    vcpu: usize,
    hardware: &mut L,
) -> VcpuSet {
    let count = usable(hardware);
    let mut refill = VcpuSet::EMPTY;
    if retire(vgic, shadow, vcpu, hardware, count, &mut refill) {
        refill = refill.with(vcpu);
    }
    for index in 0..count {
        let Some(intid) = shadow.held(index) else { continue };
        if !vgic.is_listed(vcpu, intid) {
            continue;
        }
        if matches!(hardware.read(index).state, ListRegisterState::Active | ListRegisterState::PendingAndActive) {
            let _noted = vgic.note_acknowledged(vcpu, intid);
        }
    }
    refill
}

/// Clears the registers among the first `count` whose interrupt the guest has finished (read
/// empty, or ended with an EOI request) and tells the model; adds to `kick` the other vCPUs an
/// end of interrupt made a target again. Returns whether it retired anything.
fn retire<L: ListRegisters, const SPI_BLOCKS: usize>(
    vgic: &mut VirtualGic<SPI_BLOCKS>,
    shadow: &mut ListRegisterShadow,
    vcpu: usize,
    hardware: &mut L,
    count: usize,
    kick: &mut VcpuSet,
) -> bool {
    let finished = (hardware.empty() | hardware.end_of_interrupt_status()) & shadow.occupied(count);
    let mut rest = finished;
    // BOUND: each turn clears one bit of `rest`, which has at most `MAX_LIST_REGISTERS` set.
    for _ in 0..MAX_LIST_REGISTERS {
        let Some(index) = take_lowest_64(&mut rest) else { break };
        let Some(intid) = shadow.held(index) else { continue };
        hardware.clear(index);
        shadow.set(index, None);
        if let Ok(Some(target)) = vgic.end_of_interrupt(vcpu, intid) {
            if target != vcpu {
                *kick = kick.with(target);
            }
        }
    }
    finished != 0
}

/// The register to evict for an interrupt of `priority`: among entries the guest has not
/// acknowledged (state Pending), the one of lowest priority (highest value), if lower than
/// `priority`. Returns it with the INTID it holds.
fn evictable<L: ListRegisters>(
    shadow: &ListRegisterShadow,
    hardware: &L,
    count: usize,
    priority: u8,
) -> Option<(usize, u32)> {
    let mut victim: Option<(usize, u32, u8)> = None;
    for index in 0..count {
        let Some(intid) = shadow.held(index) else { continue };
        let entry = hardware.read(index);
        if entry.state != ListRegisterState::Pending || entry.priority <= priority {
            continue;
        }
        if victim.is_none_or(|(_, _, lowest)| entry.priority > lowest) {
            victim = Some((index, intid, entry.priority));
        }
    }
    victim.map(|(index, intid, _)| (index, intid))
}

/// The lowest set bit of a 64-bit status mask, cleared (GICv2 has up to 64 list registers).
fn take_lowest_64(mask: &mut u64) -> Option<usize> {
    // Clearing the lowest set bit: `m & (m - 1)`; `m - 1` only fails for the empty mask.
    let below = mask.checked_sub(1)?;
    let bit = mask.trailing_zeros();
    *mask &= below;
    usize::try_from(bit).ok()
}

/// What [`deliver_hardware_private`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FastDelivery {
    /// The interrupt is in a list register, or the model keeps it pending because the guest
    /// cannot take it now (disabled, group off): nothing else to do.
    Done,
    /// The short path does not apply (no free register, or a previous instance still in
    /// flight): call [`synchronise`].
    NeedsSynchronise,
}

/// The short path for hardware-backed PPI `intid` of `vcpu` (the virtual timer) that has
/// just fired at the physical GIC: latches it pending and, when a register is free, writes
/// its `HW` entry at once, without retiring other entries or scanning for other interrupts.
///
/// Sound because the physical interrupt stays active until the guest's EOI of the previous
/// instance deactivates it (`HW` = 1), so a register still holding `intid` is one the guest
/// has finished with; and because placing an interrupt in a free register never hides a more
/// urgent one: the hardware presents the highest-priority entry first, and anything still
/// waiting for a register has `NPIE` set already.
///
/// Cost: one register status read, two bank updates and one list-register write; no bank
/// scan.
// [impl->dsn~vgic-list-registers~1]
pub fn deliver_hardware_private<L: ListRegisters, const SPI_BLOCKS: usize>(
    vgic: &mut VirtualGic<SPI_BLOCKS>,
    shadow: &mut ListRegisterShadow,
    vcpu: usize,
    intid: u32,
    hardware: &mut L,
) -> FastDelivery {
    let count = usable(hardware);
    let previous = shadow.slot_of(intid, count);
    let previous_in_flight = previous.is_some_and(|index| hardware.empty() & (1 << index) == 0);
    // The slot to use: the finished previous instance's, or the first free one.
    let candidate = if previous_in_flight { None } else { previous.or_else(|| shadow.free_slot(count)) };
    let Some(slot) = candidate else {
        // Latched for the full pass, which retires, finds room or evicts; a refused latch
        // (no such vCPU or INTID) leaves nothing to deliver either way.
        return match vgic.set_private_pending(vcpu, intid) {
            Ok(_) | Err(_) => FastDelivery::NeedsSynchronise,
        };
    };
    match vgic.fire_private(vcpu, intid, previous.is_some()) {
        Ok(Some(entry)) => {
            // A PPI: no source to encode.
            hardware.write(slot, &entry, 0);
            shadow.set(slot, Some(intid));
        }
        Ok(None) => {
            if previous.is_some() {
                hardware.clear(slot);
                shadow.set(slot, None);
            }
        }
        Err(_) => return FastDelivery::NeedsSynchronise,
    }
    FastDelivery::Done
}
