//! The GICv2 `GICD_*` frame (IHI 0048B 4.3, register map in Table 4-1), for partitions on a
//! GIC-400 board.
//!
//! What differs from the GICv3 distributor ([`super::distributor`]), all visible to the guest:
//! - There are no redistributors: the registers for INTIDs 0–31 (`IGROUPR0`, `ISENABLER0`,
//!   ... `IPRIORITYR0`–`7`, `ICFGR0`/`1`) are banked in the distributor, and an access reaches
//!   the bank of the vCPU that makes it (IHI 0048B 4.3: "banked" registers). The caller passes
//!   that vCPU.
//! - SPIs are targeted by CPU mask, one byte per interrupt in `GICD_ITARGETSR<n>`; the fields
//!   of INTIDs 0–31 are read-only and read as the accessing vCPU's own bit (IHI 0048B 4.3.12).
//!   Bits for CPUs the partition does not have are RAZ/WI. With several targets, the SPI goes
//!   to the lowest of them (see `VirtualGic::route_target`).
//! - SGIs are sent by writing `GICD_SGIR` (IHI 0048B 4.3.15), not through system registers;
//!   `GICD_CPENDSGIR<n>`/`GICD_SPENDSGIR<n>` clear and set their pending state, one byte per
//!   SGI with a bit per source CPU (4.3.16, 4.3.17). `NSATT` is ignored: the virtual GIC has
//!   no Security Extensions, so every SGI is raised whatever its group.
//! - No affinity routing: `GICD_CTLR` has only the two group enables (4.3.1, the layout
//!   without Security Extensions), `GICD_TYPER` states `CPUNumber` (the partition's vCPUs,
//!   minus one) and `ITLinesNumber`, no `SecurityExtn` (4.3.2), and `GICD_IROUTER<n>` does not
//!   exist.
//! - SGI and PPI enables stay writable and SGIs reset disabled: whether SGIs are permanently
//!   enabled is IMPLEMENTATION DEFINED (IHI 0048B 4.3.5), and a guest that enables them (as
//!   Linux's `gic_cpu_init` does) works either way. PPIs' `ICFGR1` is writable, `ICFGR0`
//!   (SGIs, always edge) read-only, as on the GICv3 model.
//!
//! Registers are 32 bits wide and take word accesses; `IPRIORITYR`, `ITARGETSR`,
//! `CPENDSGIR` and `SPENDSGIR` take byte accesses too (IHI 0048B 4.1.4). The architected map
//! ends at 4 KiB ([`DISTRIBUTOR_V2_REGISTER_MAP_SIZE`]); the rest of the guest's window is
//! reserved, read as zero and ignoring writes.
//!
//! [impl->dsn~vgic-frames~1]

use super::bank::{BANK_SIZE, BitRegister, take_lowest};
use super::mmio::{BYTE_OR_WORD, WORD};
use super::{
    AccessWidth, BankLocation, DISTRIBUTOR_FRAME_SIZE, DISTRIBUTOR_V2_REGISTER_MAP_SIZE, Disposition,
    IMPLEMENTATION_ID, MAX_VCPUS, PERIPHERAL_ID2_V2, PRIVATE_INTERRUPT_COUNT, ReadOutcome, SGI_COUNT,
    SGI_EDGE_MASK, VcpuSet, VgicError, VirtualGic, WriteOutcome,
};

/// `GICD_CTLR` offset (IHI 0048B Table 4-1, as the other offsets here).
const CTLR: u64 = 0x000;
/// `GICD_TYPER` offset.
const TYPER: u64 = 0x004;
/// `GICD_IIDR` offset.
const IIDR: u64 = 0x008;
/// `GICD_SGIR` offset.
const SGIR: u64 = 0xf00;
/// `ICPIDR2` offset, in the identification block (IHI 0048B 4.3.14).
const PIDR2: u64 = 0xfe8;

/// Position of `GICD_TYPER.CPUNumber` (bits [7:5]).
const TYPER_CPU_NUMBER_SHIFT: u32 = 5;

/// `GICD_SGIR.TargetListFilter` (bits [25:24]).
const SGIR_FILTER_SHIFT: u32 = 24;
/// `GICD_SGIR.CPUTargetList` (bits [23:16]).
const SGIR_TARGET_LIST_SHIFT: u32 = 16;
/// `GICD_SGIR.SGIINTID` (bits [3:0]).
const SGIR_INTID_MASK: u32 = 0xf;

/// A decoded GICv2 distributor offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Register {
    /// `GICD_CTLR`.
    Control,
    /// `GICD_TYPER`.
    Type,
    /// `GICD_IIDR`.
    ImplementerId,
    /// `ICPIDR2`.
    PeripheralId2,
    /// `IGROUPR<n>` ... `ICACTIVER<n>`; `n` = 0 is the accessing vCPU's bank.
    Bits(BitRegister, usize),
    /// `IPRIORITYR<n>`, addressed per byte: the INTID of the first byte.
    Priority(u32),
    /// `ITARGETSR<n>`, addressed per byte: the INTID of the first byte.
    Targets(u32),
    /// `ICFGR<n>`.
    Config(usize),
    /// `GICD_SGIR` (write-only).
    SoftwareInterrupt,
    /// `CPENDSGIR<n>` (`false`) or `SPENDSGIR<n>` (`true`): the SGI of the first byte.
    SgiPending(u32, bool),
    /// Nothing implemented here.
    Reserved,
}

/// The register at `offset` and the access widths it accepts (IHI 0048B 4.1.4).
const fn decode(offset: u64) -> (Register, &'static [AccessWidth]) {
    match offset {
        CTLR => (Register::Control, WORD),
        TYPER => (Register::Type, WORD),
        IIDR => (Register::ImplementerId, WORD),
        PIDR2 => (Register::PeripheralId2, WORD),
        SGIR => (Register::SoftwareInterrupt, WORD),
        0x080..=0x3ff => match BitRegister::decode(offset) {
            Some((register, index)) => (Register::Bits(register, index), WORD),
            None => (Register::Reserved, WORD),
        },
        // In each block below, the offset from the block's base is the low bits of `offset`,
        // since every base is a multiple of the block's power-of-two size.
        0x400..=0x7ff => (Register::Priority((offset & 0x3ff) as u32), BYTE_OR_WORD),
        0x800..=0xbff => (Register::Targets((offset & 0x3ff) as u32), BYTE_OR_WORD),
        0xc00..=0xcff => (Register::Config(((offset & 0xff) / 4) as usize), WORD),
        0xf10..=0xf1f => (Register::SgiPending((offset & 0xf) as u32, false), BYTE_OR_WORD),
        0xf20..=0xf2f => (Register::SgiPending((offset & 0xf) as u32, true), BYTE_OR_WORD),
        _ => (Register::Reserved, WORD),
    }
}

/// Checks frame bounds, alignment and width; returns the decoded register (everything past
/// the 4 KiB register map is reserved).
fn check(offset: u64, width: AccessWidth) -> Result<Register, VgicError> {
    if offset >= DISTRIBUTOR_FRAME_SIZE {
        return Err(VgicError::OutsideWindow { offset });
    }
    if !width.is_aligned(offset) {
        return Err(VgicError::Misaligned { offset, width });
    }
    let (register, widths) =
        if offset < DISTRIBUTOR_V2_REGISTER_MAP_SIZE { decode(offset) } else { (Register::Reserved, WORD) };
    if !widths.contains(&width) {
        return Err(VgicError::UnsupportedWidth { offset, width });
    }
    Ok(register)
}

/// A word whose low `count` bytes (at most 4) are `byte`, the rest zero.
fn repeat_byte(byte: u8, count: u64) -> u32 {
    let mut bytes = [0_u8; 4];
    for slot in bytes.iter_mut().take(byte_count(count)) {
        *slot = byte;
    }
    u32::from_le_bytes(bytes)
}

/// An access width in bytes as an iterator bound (at most 4 are ever used).
fn byte_count(count: u64) -> usize {
    usize::try_from(count).unwrap_or(usize::MAX)
}

impl<const SPI_BLOCKS: usize> VirtualGic<SPI_BLOCKS> {
    /// `GICD_TYPER` of a GICv2 partition of `vcpu_count` vCPUs: `ITLinesNumber` =
    /// `SPI_BLOCKS`, `CPUNumber` = `vcpu_count - 1`, no Security Extensions, no LSPIs.
    pub fn distributor_v2_type(vcpu_count: usize) -> u32 {
        // ITLinesNumber is SPI_BLOCKS (at most 30 by SPI_COUNT's assertion); CPUNumber is
        // 3 bits, and a partition has 1 to 8 vCPUs.
        let cpus = u32::try_from(vcpu_count.saturating_sub(1) & 0x7).unwrap_or(0);
        Self::SPI_COUNT.checked_div(BANK_SIZE).unwrap_or(0) | cpus << TYPER_CPU_NUMBER_SHIFT
    }

    /// The value of a GICv2 distributor register that never changes (`GICD_TYPER`,
    /// `GICD_IIDR`, `ICPIDR2`) for a valid word read at `offset` in a partition of
    /// `vcpu_count` vCPUs, or `None` for any other access: the lock-free short path, giving
    /// the value [`VirtualGic::distributor_read_by`] gives.
    pub fn distributor_v2_constant(offset: u64, width: AccessWidth, vcpu_count: usize) -> Option<u64> {
        if !matches!(width, AccessWidth::Word) || vcpu_count == 0 || vcpu_count > MAX_VCPUS {
            return None;
        }
        match offset {
            TYPER => Some(u64::from(Self::distributor_v2_type(vcpu_count))),
            IIDR => Some(u64::from(IMPLEMENTATION_ID)),
            PIDR2 => Some(u64::from(PERIPHERAL_ID2_V2)),
            _ => None,
        }
    }

    /// A read of the GICv2 distributor frame by `vcpu`.
    pub(super) fn distributor_v2_read(&self, vcpu: usize, offset: u64, width: AccessWidth) -> Result<ReadOutcome, VgicError> {
        let decoded = check(offset, width)?;
        if vcpu >= self.vcpu_count {
            return Err(VgicError::NoSuchVcpu { vcpu });
        }
        let value = match decoded {
            Register::Control => self.group_enable_bits(),
            Register::Type => Self::distributor_v2_type(self.vcpu_count),
            Register::ImplementerId => IMPLEMENTATION_ID,
            Register::PeripheralId2 => PERIPHERAL_ID2_V2,
            Register::Bits(register, index) => match self.v2_bank(vcpu, index) {
                Some(location) => self.bank(location).map_or(0, |bank| bank.read(register)),
                None => return Ok(ReadOutcome::read_as_zero()),
            },
            Register::Priority(intid) => match self.v2_location(vcpu, intid) {
                Some((location, bit)) => self.bank(location).map_or(0, |bank| bank.priorities(bit, width.bytes())),
                None => return Ok(ReadOutcome::read_as_zero()),
            },
            Register::Targets(intid) => self.targets(vcpu, intid, width.bytes()),
            Register::Config(index) => match index {
                0 | 1 => self.bank(BankLocation::Private(vcpu)).map_or(0, |bank| bank.config(u32::from(index == 1))),
                _ => match Self::spi_bank_of_config(index) {
                    Some(location) => self.bank(location).map_or(0, |bank| bank.config(u32::from(index % 2 == 1))),
                    None => return Ok(ReadOutcome::read_as_zero()),
                },
            },
            Register::SgiPending(first, _) => self.sgi_pending(vcpu, first, width.bytes()),
            // GICD_SGIR is write-only.
            Register::SoftwareInterrupt | Register::Reserved => return Ok(ReadOutcome::read_as_zero()),
        };
        Ok(ReadOutcome::emulated(u64::from(value)))
    }

    /// A write of `value` (its low `width` bytes) to the GICv2 distributor frame by `vcpu`.
    pub(super) fn distributor_v2_write(
        &mut self,
        vcpu: usize,
        offset: u64,
        width: AccessWidth,
        value: u64,
    ) -> Result<WriteOutcome, VgicError> {
        let register = check(offset, width)?;
        if vcpu >= self.vcpu_count {
            return Err(VgicError::NoSuchVcpu { vcpu });
        }
        let word = width.written_word(value);
        Ok(match register {
            Register::Control => self.write_group_enables(word),
            Register::Type | Register::ImplementerId | Register::PeripheralId2 => {
                WriteOutcome::plain(Disposition::ReadOnly)
            }
            Register::Bits(bit_register, index) => match self.v2_bank(vcpu, index) {
                Some(location) => self.write_bits(location, bit_register, word),
                None => WriteOutcome::plain(Disposition::RazWi),
            },
            Register::Priority(intid) => match self.v2_location(vcpu, intid) {
                Some((location, bit)) => self.write_priorities(location, bit, width.bytes(), word),
                None => WriteOutcome::plain(Disposition::RazWi),
            },
            Register::Targets(intid) if intid < PRIVATE_INTERRUPT_COUNT => WriteOutcome::plain(Disposition::ReadOnly),
            Register::Targets(intid) => self.write_targets(intid, width.bytes(), word),
            Register::Config(0) => WriteOutcome::plain(Disposition::ReadOnly),
            Register::Config(1) => self.write_config(BankLocation::Private(vcpu), 1, word, !SGI_EDGE_MASK),
            Register::Config(index) => match Self::spi_bank_of_config(index) {
                Some(location) => self.write_config(location, u32::from(index % 2 == 1), word, u32::MAX),
                None => WriteOutcome::plain(Disposition::RazWi),
            },
            Register::SoftwareInterrupt => self.write_software_interrupt(vcpu, word),
            Register::SgiPending(first, set) => self.write_sgi_pending(vcpu, first, width.bytes(), word, set),
            Register::Reserved => WriteOutcome::plain(Disposition::RazWi),
        })
    }

    /// The bank bit-array register index `n` addresses for `vcpu`: its own SGIs and PPIs for
    /// `n` = 0, an SPI bank otherwise (`None` past the implemented SPIs).
    fn v2_bank(&self, vcpu: usize, index: usize) -> Option<BankLocation> {
        if index == 0 { (vcpu < self.vcpu_count).then_some(BankLocation::Private(vcpu)) } else { Self::spi_bank(index) }
    }

    /// The bank and bit of `intid` as `vcpu` addresses it.
    fn v2_location(&self, vcpu: usize, intid: u32) -> Option<(BankLocation, u32)> {
        if intid < PRIVATE_INTERRUPT_COUNT {
            return (vcpu < self.vcpu_count).then_some((BankLocation::Private(vcpu), intid));
        }
        let location = Self::spi_bank(usize::try_from(intid / BANK_SIZE).ok()?)?;
        Some((location, intid % BANK_SIZE))
    }

    /// The SPI bank `GICD_ICFGR<index>` covers (two registers per bank; 0 and 1 are private).
    fn spi_bank_of_config(index: usize) -> Option<BankLocation> {
        Self::spi_bank(index / 2)
    }

    /// `count` bytes of `GICD_ITARGETSR` from `intid`: the reading vCPU's own bit for INTIDs
    /// 0–31, the stored target mask for SPIs, zero for unimplemented INTIDs.
    fn targets(&self, vcpu: usize, intid: u32, count: u64) -> u32 {
        if intid < PRIVATE_INTERRUPT_COUNT {
            // A vCPU index below MAX_VCPUS (8) has its bit in the low byte.
            return repeat_byte(u8::try_from(VcpuSet::single(vcpu).bits()).unwrap_or(0), count);
        }
        let mut bytes = [0_u8; 4];
        // BOUND: zipped with at most four bytes (a word access).
        for (offset, slot) in (0_u32..).zip(bytes.iter_mut()).take(byte_count(count)) {
            if let Some((BankLocation::Shared(index), bit)) = self.v2_location(vcpu, intid.saturating_add(offset)) {
                let mask = self.routes.get(index).and_then(|bank| bank.get(bit as usize)).copied().unwrap_or(0);
                *slot = u8::try_from(mask & 0xff).unwrap_or(0);
            }
        }
        u32::from_le_bytes(bytes)
    }

    /// Stores `count` bytes of SPI target masks from `intid`. A new target may be able to
    /// take an interrupt now, and a hardware-backed SPI follows its (lowest) target's core.
    fn write_targets(&mut self, intid: u32, count: u64, value: u32) -> WriteOutcome {
        let implemented = self.all_vcpus().bits();
        let mut refill = VcpuSet::EMPTY;
        let mut routes: [Option<(u32, Option<usize>)>; 4] = [None; 4];
        // BOUND: zipped with at most four bytes (a word access).
        for ((offset, byte), route) in (0_u32..).zip(value.to_le_bytes()).zip(routes.iter_mut()).take(byte_count(count)) {
            let target_intid = intid.saturating_add(offset);
            let Some((location, bit)) = self.v2_location(0, target_intid) else { continue };
            let BankLocation::Shared(index) = location else { continue };
            if let Some(slot) = self.routes.get_mut(index).and_then(|bank| bank.get_mut(bit as usize)) {
                *slot = u32::from(byte) & implemented;
            }
            refill = refill.union(self.refill_targets(location, 1 << bit));
            if self.bank(location).is_some_and(|bank| bank.hardware & (1 << bit) != 0) {
                *route = Some((target_intid, self.route_target(index, bit)));
            }
        }
        let mut outcome = WriteOutcome::plain(Disposition::Emulated).with_refill(refill);
        for (route_intid, target) in routes.into_iter().flatten() {
            outcome = outcome.with_route(route_intid, target);
        }
        outcome
    }

    /// `GICD_SGIR` written by `sender`: SGI `SGIINTID` becomes pending at the vCPUs the
    /// filter names (0: `CPUTargetList`; 1: every vCPU but the sender; 2: the sender alone;
    /// 3: reserved, nobody), with the sender recorded as its source. Targets outside the
    /// partition are dropped, as for a GICv3 SGI.
    fn write_software_interrupt(&mut self, sender: usize, value: u32) -> WriteOutcome {
        let intid = value & SGIR_INTID_MASK;
        let everyone = self.all_vcpus();
        let targets = match (value >> SGIR_FILTER_SHIFT) & 0b11 {
            0 => VcpuSet::from_bits(((value >> SGIR_TARGET_LIST_SHIFT) & 0xff) & everyone.bits()),
            1 => VcpuSet::from_bits(everyone.bits() & !VcpuSet::single(sender).bits()),
            2 => VcpuSet::single(sender),
            _ => VcpuSet::EMPTY,
        };
        let mut refill = VcpuSet::EMPTY;
        for target in targets.iter() {
            let Some(bank) = self.private.get_mut(target) else { continue };
            bank.pending_latch |= 1 << intid;
            self.record_sgi_source(target, intid, sender);
            if let Some(vcpu) = self.deliverable_target(BankLocation::Private(target), intid) {
                refill = refill.with(vcpu);
            }
        }
        WriteOutcome::plain(Disposition::Emulated).with_refill(refill)
    }

    /// `count` bytes of `GICD_[CS]PENDSGIR` from SGI `first` for `vcpu`: for each pending SGI
    /// the bit of its recorded source.
    fn sgi_pending(&self, vcpu: usize, first: u32, count: u64) -> u32 {
        let Some(bank) = self.bank(BankLocation::Private(vcpu)) else { return 0 };
        let pending = bank.read(BitRegister::SetPending);
        let mut bytes = [0_u8; 4];
        // BOUND: zipped with at most four bytes (a word access).
        for (offset, slot) in (0_u32..).zip(bytes.iter_mut()).take(byte_count(count)) {
            let intid = first.saturating_add(offset);
            if intid < SGI_COUNT && pending & (1 << intid) != 0 {
                *slot = 1_u8.checked_shl(u32::from(self.sgi_source(vcpu, intid))).unwrap_or(0);
            }
        }
        u32::from_le_bytes(bytes)
    }

    /// A write to `GICD_SPENDSGIR` (`set`) or `GICD_CPENDSGIR` by `vcpu`, `count` bytes from
    /// SGI `first`: a set byte makes its SGI pending from the lowest source it names; a
    /// cleared byte naming the recorded source clears it (one pending state per SGI here).
    fn write_sgi_pending(&mut self, vcpu: usize, first: u32, count: u64, value: u32, set: bool) -> WriteOutcome {
        let implemented = self.all_vcpus().bits();
        let mut mask = 0;
        // BOUND: zipped with at most four bytes (a word access).
        for (offset, byte) in (0_u32..).zip(value.to_le_bytes()).take(byte_count(count)) {
            let intid = first.saturating_add(offset);
            let mut sources = u32::from(byte) & implemented;
            if intid >= SGI_COUNT || sources == 0 {
                continue;
            }
            if set {
                if let Some(source) = take_lowest(&mut sources).and_then(|source| usize::try_from(source).ok()) {
                    self.record_sgi_source(vcpu, intid, source);
                }
                mask |= 1 << intid;
            } else if sources & (1 << self.sgi_source(vcpu, intid)) != 0 {
                mask |= 1 << intid;
            }
        }
        if mask == 0 {
            return WriteOutcome::plain(Disposition::Emulated);
        }
        let register = if set { BitRegister::SetPending } else { BitRegister::ClearPending };
        self.write_bits(BankLocation::Private(vcpu), register, mask)
    }
}

// [utest->dsn~vgic-frames~1] [utest->dsn~vgic-sgi~1]
#[cfg(test)]
mod tests {
    use super::super::{Effect, GicArchitecture, Group, ListRegisterState};
    use super::*;

    type Gic = VirtualGic<2>;
    type EffectList = heapless::Vec<Effect, 16>;

    const CTLR: u64 = 0x000;
    const IGROUPR: u64 = 0x080;
    const ISENABLER: u64 = 0x100;
    const ICPENDR: u64 = 0x280;
    const IPRIORITYR: u64 = 0x400;
    const ITARGETSR: u64 = 0x800;
    const ICFGR: u64 = 0xc00;
    const CPENDSGIR: u64 = 0xf10;
    const SPENDSGIR: u64 = 0xf20;

    fn gic(vcpus: usize) -> Gic {
        Gic::with_architecture(vcpus, GicArchitecture::V2).expect("valid vCPU count")
    }

    fn read(gic: &Gic, vcpu: usize, offset: u64) -> u64 {
        gic.distributor_read_by(vcpu, offset, AccessWidth::Word).expect("word read").value
    }

    fn read_byte(gic: &Gic, vcpu: usize, offset: u64) -> u64 {
        gic.distributor_read_by(vcpu, offset, AccessWidth::Byte).expect("byte read").value
    }

    fn write(gic: &mut Gic, vcpu: usize, offset: u64, value: u64) -> WriteOutcome {
        gic.distributor_write_by(vcpu, offset, AccessWidth::Word, value).expect("word write")
    }

    /// Distributor on, `intid` enabled on `vcpu` (its own bank for an SGI or PPI).
    fn enabled(vcpus: usize, vcpu: usize, intid: u32) -> Gic {
        let mut gic = gic(vcpus);
        let _on = write(&mut gic, vcpu, CTLR, 0b11);
        let _enabled = write(&mut gic, vcpu, ISENABLER + u64::from(intid / 32) * 4, 1 << (intid % 32));
        gic
    }

    #[test]
    fn typer_states_spi_blocks_and_cpu_number_and_no_security_extensions() {
        let gic = gic(3);
        // ITLinesNumber = 2 (96 INTIDs), CPUNumber = 2 (three CPUs), SecurityExtn = 0.
        assert_eq!(read(&gic, 0, TYPER), 2 | 2 << 5);
        assert_eq!(Gic::distributor_v2_constant(TYPER, AccessWidth::Word, 3), Some(2 | 2 << 5));
        assert_eq!(Gic::distributor_constant_of(GicArchitecture::V2, TYPER, AccessWidth::Word, 3), Some(2 | 2 << 5));
        assert_eq!(Gic::distributor_v2_constant(TYPER, AccessWidth::Byte, 3), None);
        assert_eq!(Gic::distributor_v2_constant(TYPER, AccessWidth::Word, 9), None, "no ninth CPU");
    }

    #[test]
    fn identification_reads_architecture_version_2() {
        let gic = gic(1);
        assert_eq!(read(&gic, 0, PIDR2), u64::from(PERIPHERAL_ID2_V2));
        assert_eq!(read(&gic, 0, PIDR2) >> 4 & 0xf, 2, "ArchRev");
        assert_eq!(read(&gic, 0, IIDR), u64::from(IMPLEMENTATION_ID));
        assert_eq!(Gic::distributor_v2_constant(PIDR2, AccessWidth::Word, 1), Some(0x20));
    }

    #[test]
    fn control_has_the_two_group_enables_and_no_affinity_routing() {
        let mut gic = gic(2);
        assert_eq!(read(&gic, 0, CTLR), 0);
        let outcome = write(&mut gic, 0, CTLR, u64::MAX);
        assert_eq!(read(&gic, 1, CTLR), 0b11, "ARE and DS do not exist on GICv2");
        assert_eq!(outcome.refill().bits(), 0b11, "a group turned on: every vCPU looks");
    }

    #[test]
    fn every_interrupt_resets_to_group_0_and_reset_restores_it() {
        let mut gic = gic(2);
        assert_eq!(read(&gic, 0, IGROUPR), 0);
        assert_eq!(read(&gic, 0, IGROUPR + 4), 0);
        let _group1 = write(&mut gic, 1, IGROUPR, u64::from(u32::MAX));
        assert_eq!(read(&gic, 1, IGROUPR), u64::from(u32::MAX));
        gic.reset();
        assert_eq!(read(&gic, 1, IGROUPR), 0);
        assert_eq!(gic.architecture(), GicArchitecture::V2);
    }

    #[test]
    fn sgi_and_ppi_registers_are_banked_per_accessing_vcpu() {
        let mut gic = gic(2);
        let _enable = write(&mut gic, 1, ISENABLER, 1 << 27);
        assert_eq!(read(&gic, 1, ISENABLER), 1 << 27);
        assert_eq!(read(&gic, 0, ISENABLER), 0, "vCPU 0's bank is untouched");
        let _priority = gic.distributor_write_by(0, IPRIORITYR + 27, AccessWidth::Byte, 0xa0).unwrap();
        assert_eq!(read_byte(&gic, 0, IPRIORITYR + 27), 0xa0);
        assert_eq!(read_byte(&gic, 1, IPRIORITYR + 27), 0);
        assert!(gic.distributor_read_by(2, ISENABLER, AccessWidth::Word).is_err(), "no vCPU 2");
    }

    #[test]
    fn targets_of_private_interrupts_read_the_own_cpu_and_ignore_writes() {
        let mut gic = gic(4);
        assert_eq!(read(&gic, 2, ITARGETSR), 0x0404_0404);
        assert_eq!(read_byte(&gic, 3, ITARGETSR + 31), 0x08);
        assert_eq!(write(&mut gic, 0, ITARGETSR + 28, 0xffff_ffff).disposition, Disposition::ReadOnly);
    }

    #[test]
    fn an_spi_goes_to_the_lowest_vcpu_of_its_target_mask() {
        let mut gic = enabled(4, 0, 40);
        // Byte 0 of ITARGETSR10 is INTID 40: vCPUs 2 and 3; bit 5 names no vCPU (RAZ/WI).
        let outcome = gic.distributor_write_by(0, ITARGETSR + 40, AccessWidth::Byte, 0x2c).unwrap();
        assert_eq!(outcome.disposition, Disposition::Emulated);
        assert_eq!(read_byte(&gic, 1, ITARGETSR + 40), 0x0c);
        gic.set_spi_pending(40).unwrap();
        assert_eq!(gic.next_pending(2).map(|pending| pending.intid), Some(40));
        assert_eq!(gic.next_pending(3), None);
        assert_eq!(gic.next_pending(0), None);
    }

    #[test]
    fn a_new_target_that_can_take_a_pending_spi_is_refilled() {
        let mut gic = enabled(2, 0, 33);
        gic.set_spi_level(33, true).unwrap();
        assert_eq!(gic.next_pending(1), None, "targeted nowhere at reset");
        let outcome = write(&mut gic, 0, ITARGETSR + 32, 0x0000_0200);
        assert_eq!(outcome.refill().bits(), 0b10);
        assert_eq!(gic.next_pending(1).map(|pending| pending.intid), Some(33));
    }

    #[test]
    fn retargeting_hardware_backed_spis_moves_each_physical_twin() {
        let mut gic = gic(2);
        gic.set_hardware_backed(48, 70).unwrap();
        gic.set_hardware_backed(50, 72).unwrap();
        // ITARGETSR12 covers INTIDs 48-51: 48 to vCPU 1, 49 (software) to vCPU 0, 50 to none.
        let outcome = write(&mut gic, 0, ITARGETSR + 48, 0x0000_0102);
        let effects: EffectList = outcome.effects().collect();
        assert!(effects.contains(&Effect::PhysicalRoute { intid: 48, target: Some(1) }), "{effects:?}");
        assert!(effects.contains(&Effect::PhysicalRoute { intid: 50, target: None }), "{effects:?}");
        assert_eq!(effects.iter().filter(|effect| matches!(effect, Effect::PhysicalRoute { .. })).count(), 2);
    }

    #[test]
    fn sgir_target_list_filters() {
        for (filter, list, expected) in [(0_u32, 0b0110_u32, 0b0110), (1, 0, 0b1110), (2, 0xff, 0b0001), (3, 0xff, 0)] {
            let mut gic = gic(4);
            let _on = write(&mut gic, 0, CTLR, 0b11);
            for vcpu in 0..4 {
                let _enabled = write(&mut gic, vcpu, ISENABLER, 1 << 5);
            }
            let value = filter << SGIR_FILTER_SHIFT | list << SGIR_TARGET_LIST_SHIFT | 5;
            let outcome = write(&mut gic, 0, SGIR, u64::from(value));
            assert_eq!(outcome.refill().bits(), expected, "filter {filter}");
            for vcpu in 0..4 {
                let pending = gic.next_pending(vcpu).map(|pending| pending.intid);
                assert_eq!(pending.is_some(), expected & (1 << vcpu) != 0, "filter {filter}, vCPU {vcpu}");
            }
        }
    }

    #[test]
    fn an_sgi_carries_its_sender_into_the_gicv2_list_register() {
        let mut gic = enabled(4, 1, 3);
        // vCPU 2 sends SGI 3 to vCPU 1; bits for CPUs 4-7 name no vCPU.
        let _sent = write(&mut gic, 2, SGIR, u64::from(0xf2_u32 << SGIR_TARGET_LIST_SHIFT | 3));
        let pending = gic.next_pending(1).expect("SGI 3 pending at vCPU 1");
        assert_eq!((pending.intid, pending.sgi_source, pending.group), (3, 2, Group::Group0));
        let entry = pending.list_register();
        assert_eq!(entry.state, ListRegisterState::Pending);
        let bits = entry.to_gicv2(pending.sgi_source).unwrap();
        assert_eq!(bits >> 10 & 0x7, 2, "GICH_LR<n>.CPUID names the sender");
        assert_eq!(gic.private_entry(1, 3).map(|entry| entry.virtual_intid), Some(3));
    }

    #[test]
    fn sgir_ignores_byte_accesses_and_reads_as_zero() {
        let mut gic = gic(1);
        assert!(gic.distributor_write_by(0, SGIR, AccessWidth::Byte, 1).is_err());
        assert_eq!(read(&gic, 0, SGIR), 0, "write-only");
    }

    #[test]
    fn set_and_clear_sgi_pending_name_the_source_per_byte() {
        let mut gic = gic(4);
        // SPENDSGIR0 byte 1 is SGI 1: pending from CPU 3 (the lowest named source).
        let _set = gic.distributor_write_by(0, SPENDSGIR + 1, AccessWidth::Byte, 0b1000).unwrap();
        assert_eq!(read(&gic, 0, SPENDSGIR), 0b1000 << 8);
        assert_eq!(read(&gic, 0, CPENDSGIR), 0b1000 << 8, "both registers read the pending state");
        assert_eq!(read(&gic, 1, SPENDSGIR), 0, "banked per vCPU");
        // Clearing for another source leaves it; for the recorded one clears it.
        let _other = gic.distributor_write_by(0, CPENDSGIR + 1, AccessWidth::Byte, 0b0001).unwrap();
        assert_eq!(read(&gic, 0, SPENDSGIR), 0b1000 << 8);
        let _clear = write(&mut gic, 0, CPENDSGIR, 0b1000 << 8);
        assert_eq!(read(&gic, 0, SPENDSGIR), 0);
        assert_eq!(read(&gic, 0, ICPENDR) & 0xffff, 0);
    }

    #[test]
    fn sgi_configuration_is_read_only_and_ppi_configuration_is_banked() {
        let mut gic = gic(2);
        assert_eq!(read(&gic, 0, ICFGR), 0xaaaa_aaaa, "SGIs are edge-triggered");
        assert_eq!(write(&mut gic, 0, ICFGR, 0).disposition, Disposition::ReadOnly);
        let _edge = write(&mut gic, 1, ICFGR + 4, 0x0080_0000);
        assert_eq!(read(&gic, 1, ICFGR + 4), 0x0080_0000);
        assert_eq!(read(&gic, 0, ICFGR + 4), 0);
        let _spi = write(&mut gic, 0, ICFGR + 8, 0x2);
        assert_eq!(read(&gic, 1, ICFGR + 8), 0x2, "SPI configuration is shared");
    }

    #[test]
    fn gicv3_only_registers_are_reserved() {
        let mut gic = gic(1);
        // GICD_IROUTER<32> and GICD_PIDR2 of GICv3 lie past the 4 KiB GICv2 register map.
        assert_eq!(read(&gic, 0, 0x6100), 0);
        assert_eq!(write(&mut gic, 0, 0x6100, 1).disposition, Disposition::RazWi);
        assert_eq!(read(&gic, 0, 0xffe8), 0);
        assert!(gic.distributor_read_by(0, DISTRIBUTOR_FRAME_SIZE, AccessWidth::Word).is_err());
    }

    #[test]
    fn the_gicv3_entry_points_answer_as_vcpu_0_on_a_gicv2_model() {
        let mut gic = gic(2);
        let _enable = gic.distributor_write(ISENABLER, AccessWidth::Word, 1 << 27).unwrap();
        assert_eq!(read(&gic, 0, ISENABLER), 1 << 27);
        assert_eq!(gic.distributor_read(ITARGETSR, AccessWidth::Word).unwrap().value, 0x0101_0101);
    }
}
