//! The `GICD_*` frame (IHI 0069 12.9, register map in Table 12-25).
//!
//! With affinity routing on, the distributor holds only SPI state: its registers for
//! INTIDs 0–31 are RAZ/WI because those live in each redistributor (IHI 0069 12.9, the
//! "when affinity routing is enabled" clauses of `GICD_ISENABLER0` and friends), and so are
//! the GICv2 leftovers (`GICD_ITARGETSR<n>`, `GICD_SGIR`, `GICD_[CS]PENDSGIR<n>`).
//!
//! [impl->dsn~vgic-frames~1]

use super::bank::{BANK_SIZE, BitRegister, GroupEnables};
use super::effects::PhysicalChanges;
use super::mmio::{BYTE_OR_WORD, WORD, WORD_OR_DOUBLEWORD};
use super::{
    AccessWidth, BankLocation, DISTRIBUTOR_FRAME_SIZE, Disposition, GicArchitecture, IMPLEMENTATION_ID, PERIPHERAL_ID2,
    ReadOutcome, VcpuSet, VgicError, VirtualGic, WriteOutcome,
};

/// `GICD_CTLR` offset (IHI 0069 Table 12-25, as the other offsets here).
const CTLR: u64 = 0x0000;
/// `GICD_TYPER` offset.
const TYPER: u64 = 0x0004;
/// `GICD_IIDR` offset.
const IIDR: u64 = 0x0008;
/// `GICD_TYPER2` offset.
const TYPER2: u64 = 0x000c;
/// `GICD_PIDR2` offset, in the IMPLEMENTATION DEFINED identification block.
const PIDR2: u64 = 0xffe8;

/// `GICD_CTLR.EnableGrp0` in the single-Security-state layout (IHI 0069 12.9.4, DS = 1).
const CTLR_ENABLE_GRP0: u32 = 1 << 0;
/// `GICD_CTLR.EnableGrp1`, same layout.
const CTLR_ENABLE_GRP1: u32 = 1 << 1;
/// `ARE`: affinity routing, RAO/WI here.
const CTLR_ARE: u32 = 1 << 4;
/// `DS`: Security disabled, RAO/WI.
const CTLR_DS: u32 = 1 << 6;

/// `GICD_TYPER.IDbits`: INTID bits minus one; 10 bits cover every SPI (IHI 0069 12.9.38).
const TYPER_IDBITS: u32 = (10 - 1) << 19;
/// `GICD_TYPER.No1N`: 1-of-N SPI routing not supported.
const TYPER_NO1N: u32 = 1 << 25;

/// `GICD_IROUTER<n>` fields kept: Aff2, Aff1, Aff0 (23:0). `IRM` (bit 31) is RES0 because
/// `No1N` is set, and Aff3 (39:32) is RES0 because `GICD_TYPER.A3V` is 0 (IHI 0069
/// 12.9.22: "If GICD_TYPER.A3V == 0, this field is RES0"; the model implements only Aff3 =
/// 0, as its vCPUs are `0.0.0.n`).
const IROUTER_AFFINITY: u64 = 0x00ff_ffff;

/// A decoded distributor offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Register {
    /// `GICD_CTLR`.
    Control,
    /// `GICD_TYPER`.
    Type,
    /// `GICD_IIDR`.
    ImplementerId,
    /// `GICD_TYPER2`.
    Type2,
    /// `GICD_PIDR2`.
    PeripheralId2,
    /// `IGROUPR<n>` ... `ICACTIVER<n>`.
    Bits(BitRegister, usize),
    /// `IPRIORITYR<n>`, addressed per byte: the INTID of the first byte.
    Priority(u32),
    /// `ICFGR<n>`.
    Config(usize),
    /// `IROUTER<n>`: the INTID, and whether the access starts at the upper word.
    Router(u32, bool),
    /// Nothing implemented here.
    Reserved,
}

/// The register at `offset` and the access widths it accepts (IHI 0069 12.1.3: 32-bit
/// registers take word accesses, `IPRIORITYR`/`ITARGETSR`/`[CS]PENDSGIR` also bytes, 64-bit
/// registers either a doubleword or one of their words).
const fn decode(offset: u64) -> (Register, &'static [AccessWidth]) {
    match offset {
        CTLR => (Register::Control, WORD),
        TYPER => (Register::Type, WORD),
        IIDR => (Register::ImplementerId, WORD),
        TYPER2 => (Register::Type2, WORD),
        PIDR2 => (Register::PeripheralId2, WORD),
        0x0080..=0x03ff => match BitRegister::decode(offset) {
            Some((register, index)) => (Register::Bits(register, index), WORD),
            None => (Register::Reserved, WORD),
        },
        // In each block below, the offset from the block's base is the low bits of `offset`,
        // since every base is a multiple of the block's power-of-two size.
        0x0400..=0x07ff => (Register::Priority((offset & 0x3ff) as u32), BYTE_OR_WORD),
        // ITARGETSR (RAZ/WI with affinity routing), CPENDSGIR/SPENDSGIR (likewise).
        0x0800..=0x0bff | 0x0f10..=0x0f2f => (Register::Reserved, BYTE_OR_WORD),
        0x0c00..=0x0cff => (Register::Config(((offset & 0xff) / 4) as usize), WORD),
        0x6000..=0x7fdf => (Register::Router(((offset & 0x1fff) / 8) as u32, offset & 4 != 0), WORD_OR_DOUBLEWORD),
        _ => (Register::Reserved, WORD_OR_DOUBLEWORD),
    }
}

/// Checks frame bounds, alignment and width; returns the decoded register.
fn check(offset: u64, width: AccessWidth) -> Result<Register, VgicError> {
    if offset >= DISTRIBUTOR_FRAME_SIZE {
        return Err(VgicError::OutsideWindow { offset });
    }
    if !width.is_aligned(offset) {
        return Err(VgicError::Misaligned { offset, width });
    }
    let (register, widths) = decode(offset);
    if !widths.contains(&width) {
        return Err(VgicError::UnsupportedWidth { offset, width });
    }
    Ok(register)
}

impl<const SPI_BLOCKS: usize> VirtualGic<SPI_BLOCKS> {
    /// `GICD_TYPER`: `ITLinesNumber` = `SPI_BLOCKS`, 10 INTID bits, no LPIs, no
    /// message-based SPIs, no Security extensions, `No1N`.
    pub const fn distributor_type() -> u32 {
        // ITLinesNumber (bits [4:0]) is SPI_BLOCKS, here as a u32; SPI_COUNT's assertion
        // keeps it at most 30.
        (Self::SPI_COUNT / BANK_SIZE) | TYPER_IDBITS | TYPER_NO1N
    }

    /// The value of a distributor register that never changes (`GICD_TYPER`, `GICD_IIDR`,
    /// `GICD_TYPER2`, `GICD_PIDR2`) for a valid word read at `offset`, or `None` for any
    /// other access. The trap handler answers these without the partition's lock; the value
    /// is the one [`VirtualGic::distributor_read`] gives.
    pub const fn distributor_constant(offset: u64, width: AccessWidth) -> Option<u64> {
        if !matches!(width, AccessWidth::Word) {
            return None;
        }
        match offset {
            TYPER => Some(Self::distributor_type() as u64),
            IIDR => Some(IMPLEMENTATION_ID as u64),
            TYPER2 => Some(0),
            PIDR2 => Some(PERIPHERAL_ID2 as u64),
            _ => None,
        }
    }

    /// Reads `width` bytes at `offset` inside the GICv3 distributor frame (a GICv2 model
    /// answers through [`VirtualGic::distributor_read_by`], which names the reading vCPU; here
    /// it answers as vCPU 0).
    pub fn distributor_read(&self, offset: u64, width: AccessWidth) -> Result<ReadOutcome, VgicError> {
        if self.architecture == GicArchitecture::V2 {
            return self.distributor_v2_read(0, offset, width);
        }
        let value = match check(offset, width)? {
            Register::Control => self.distributor_control(),
            Register::Type => Self::distributor_type(),
            Register::ImplementerId => IMPLEMENTATION_ID,
            Register::Type2 => 0,
            Register::PeripheralId2 => PERIPHERAL_ID2,
            Register::Bits(register, index) => match Self::spi_bank(index) {
                Some(location) => self.bank(location).map_or(0, |bank| bank.read(register)),
                None => return Ok(ReadOutcome::read_as_zero()),
            },
            Register::Priority(intid) => match Self::spi_location(intid) {
                Some((location, bit)) => self.bank(location).map_or(0, |bank| bank.priorities(bit, width.bytes())),
                None => return Ok(ReadOutcome::read_as_zero()),
            },
            Register::Config(index) => match Self::spi_bank(index / 2) {
                Some(location) => self.bank(location).map_or(0, |bank| bank.config(u32::from(index % 2 == 1))),
                None => return Ok(ReadOutcome::read_as_zero()),
            },
            Register::Router(intid, upper) => match Self::spi_location(intid) {
                Some((BankLocation::Shared(index), bit)) => {
                    let router = self.router(index, bit);
                    return Ok(ReadOutcome::emulated(match (width, upper) {
                        (AccessWidth::Doubleword, _) => router,
                        (_, false) => router & 0xffff_ffff,
                        (_, true) => router >> 32,
                    }));
                }
                // spi_location only yields shared banks.
                Some((BankLocation::Private(_), _)) | None => return Ok(ReadOutcome::read_as_zero()),
            },
            Register::Reserved => return Ok(ReadOutcome::read_as_zero()),
        };
        Ok(ReadOutcome::emulated(u64::from(value)))
    }

    /// Writes `value` (its low `width` bytes) at `offset` inside the GICv3 distributor frame
    /// (a GICv2 model: see [`VirtualGic::distributor_read`]).
    pub fn distributor_write(
        &mut self,
        offset: u64,
        width: AccessWidth,
        value: u64,
    ) -> Result<WriteOutcome, VgicError> {
        if self.architecture == GicArchitecture::V2 {
            return self.distributor_v2_write(0, offset, width, value);
        }
        let register = check(offset, width)?;
        let written = value & width.value_mask();
        let word = width.written_word(value);
        Ok(match register {
            Register::Control => self.write_group_enables(word),
            Register::Type | Register::ImplementerId | Register::Type2 | Register::PeripheralId2 => {
                WriteOutcome::plain(Disposition::ReadOnly)
            }
            Register::Bits(bit_register, index) => match Self::spi_bank(index) {
                Some(location) => self.write_bits(location, bit_register, word),
                None => WriteOutcome::plain(Disposition::RazWi),
            },
            Register::Priority(intid) => match Self::spi_location(intid) {
                Some((location, bit)) => self.write_priorities(location, bit, width.bytes(), word),
                None => WriteOutcome::plain(Disposition::RazWi),
            },
            Register::Config(index) => match Self::spi_bank(index / 2) {
                Some(location) => self.write_config(location, u32::from(index % 2 == 1), word, u32::MAX),
                None => WriteOutcome::plain(Disposition::RazWi),
            },
            Register::Router(intid, upper) => match Self::spi_location(intid) {
                Some((BankLocation::Shared(index), bit)) => {
                    let current = self.router(index, bit);
                    let router = match (width, upper) {
                        (AccessWidth::Doubleword, _) => written,
                        (_, false) => (current & !0xffff_ffff) | written,
                        (_, true) => (current & 0xffff_ffff) | written << 32,
                    };
                    self.write_router(index, bit, router)
                }
                Some((BankLocation::Private(_), _)) | None => WriteOutcome::plain(Disposition::RazWi),
            },
            Register::Reserved => WriteOutcome::plain(Disposition::RazWi),
        })
    }

    /// `GICD_CTLR`: the group enables, with `ARE` and `DS` reading as one.
    fn distributor_control(&self) -> u32 {
        CTLR_ARE | CTLR_DS | self.group_enable_bits()
    }

    /// `EnableGrp0` (bit 0) and `EnableGrp1` (bit 1) of `GICD_CTLR`: the same bits in the
    /// GICv3 single-Security-state layout and the GICv2 layout without Security Extensions
    /// (IHI 0048B 4.3.1).
    pub(super) const fn group_enable_bits(&self) -> u32 {
        let mut value = 0;
        if self.group_enables.group0 {
            value |= CTLR_ENABLE_GRP0;
        }
        if self.group_enables.group1 {
            value |= CTLR_ENABLE_GRP1;
        }
        value
    }

    /// A `GICD_CTLR` write's group enables (both architectures).
    pub(super) fn write_group_enables(&mut self, word: u32) -> WriteOutcome {
        let before = self.group_enables;
        self.group_enables = GroupEnables { group0: word & CTLR_ENABLE_GRP0 != 0, group1: word & CTLR_ENABLE_GRP1 != 0 };
        let raised = (self.group_enables.group0 && !before.group0) || (self.group_enables.group1 && !before.group1);
        // A group turned off: every vCPU takes what it has not acknowledged of it out
        // of its list registers (issue 14: GICD_CTLR = 0 did not stop delivery).
        let lowered = (before.group0 && !self.group_enables.group0) || (before.group1 && !self.group_enables.group1);
        let refill = if raised || lowered { self.all_vcpus() } else { VcpuSet::EMPTY };
        WriteOutcome::plain(Disposition::Emulated).with_refill(refill)
    }

    /// The value of a distributor register that never changes, for the architecture
    /// `architecture` and a partition of `vcpu_count` vCPUs: [`VirtualGic::distributor_constant`]
    /// on GICv3, [`VirtualGic::distributor_v2_constant`] on GICv2.
    pub fn distributor_constant_of(
        architecture: GicArchitecture,
        offset: u64,
        width: AccessWidth,
        vcpu_count: usize,
    ) -> Option<u64> {
        match architecture {
            GicArchitecture::V3 => Self::distributor_constant(offset, width),
            GicArchitecture::V2 => Self::distributor_v2_constant(offset, width, vcpu_count),
        }
    }

    /// A read of the distributor frame by `vcpu`: the GICv3 frame (where no register depends
    /// on who reads) or the GICv2 frame (whose registers for INTIDs 0–31 are banked per vCPU).
    pub fn distributor_read_by(&self, vcpu: usize, offset: u64, width: AccessWidth) -> Result<ReadOutcome, VgicError> {
        match self.architecture {
            GicArchitecture::V3 => self.distributor_read(offset, width),
            GicArchitecture::V2 => self.distributor_v2_read(vcpu, offset, width),
        }
    }

    /// A write to the distributor frame by `vcpu` (see [`VirtualGic::distributor_read_by`]).
    pub fn distributor_write_by(
        &mut self,
        vcpu: usize,
        offset: u64,
        width: AccessWidth,
        value: u64,
    ) -> Result<WriteOutcome, VgicError> {
        match self.architecture {
            GicArchitecture::V3 => self.distributor_write(offset, width, value),
            GicArchitecture::V2 => self.distributor_v2_write(vcpu, offset, width, value),
        }
    }

    /// The SPI bank addressed by bit-array register index `n` (`n` = 0 is the private
    /// bank, RAZ/WI here; indices past the implemented SPIs are unimplemented INTIDs).
    pub(super) fn spi_bank(index: usize) -> Option<BankLocation> {
        let spi_block = index.checked_sub(1)?;
        (spi_block < SPI_BLOCKS).then_some(BankLocation::Shared(spi_block))
    }

    /// The bank and bit of SPI `intid`, if implemented.
    fn spi_location(intid: u32) -> Option<(BankLocation, u32)> {
        let location = Self::spi_bank(usize::try_from(intid / BANK_SIZE).ok()?)?;
        Some((location, intid % BANK_SIZE))
    }

    /// `GICD_IROUTER<n>` of interrupt `bit` of SPI bank `index`: the stored affinity unpacked
    /// to the register layout, `IRM` = 0.
    fn router(&self, index: usize, bit: u32) -> u64 {
        let affinity = self.routes.get(index).and_then(|bank| bank.get(bit as usize)).copied().unwrap_or(0);
        u64::from(affinity) & IROUTER_AFFINITY
    }

    /// Stores a new `GICD_IROUTER<n>` value for interrupt `bit` of SPI bank `index`. The new
    /// target may be able to take the interrupt now, and a hardware-backed SPI must follow
    /// to the target's core.
    fn write_router(&mut self, index: usize, bit: u32, router: u64) -> WriteOutcome {
        let affinity = u32::try_from(router & IROUTER_AFFINITY).unwrap_or(0);
        if let Some(slot) = self.routes.get_mut(index).and_then(|bank| bank.get_mut(bit as usize)) {
            *slot = affinity;
        }
        let location = BankLocation::Shared(index);
        // A bank starts at most at INTID 992 and `bit` is below 32: no saturation.
        let intid = Self::first_intid(location).saturating_add(bit);
        let mut outcome =
            WriteOutcome::plain(Disposition::Emulated).with_refill(self.refill_targets(location, 1 << bit));
        let hardware = self.bank(location).is_some_and(|bank| bank.hardware & (1 << bit) != 0);
        if hardware {
            outcome = outcome.with_route(intid, self.route_target(index, bit));
        }
        outcome
    }

    /// Applies a bit-array register write to a bank; shared with the redistributor.
    pub(super) fn write_bits(&mut self, location: BankLocation, register: BitRegister, value: u32) -> WriteOutcome {
        let Some(bank) = self.bank_mut(location) else { return WriteOutcome::plain(Disposition::RazWi) };
        let change = bank.write(register, value);
        let physical = PhysicalChanges {
            first_intid: Self::first_intid(location),
            vcpu: match location {
                BankLocation::Private(vcpu) => Some(vcpu),
                BankLocation::Shared(_) => None,
            },
            enabled: change.enabled,
            disabled: change.disabled,
            activated: change.activated,
            deactivated: change.deactivated,
        };
        // Disabled or cleared interrupts still unacknowledged in a list register: their
        // holder syncs and takes them out. A private one is held by its own vCPU; an SPI by
        // the vCPU it was delivered to, which a later route change may have made another, so
        // every vCPU looks (each finds only its own entries).
        let holders = match (change.withdraw, location) {
            (0, _) => VcpuSet::EMPTY,
            (_, BankLocation::Private(vcpu)) => VcpuSet::single(vcpu),
            (_, BankLocation::Shared(_)) => self.all_vcpus(),
        };
        WriteOutcome::plain(Disposition::Emulated)
            .with_physical(physical)
            .with_refill(self.refill_targets(location, change.touched).union(holders))
    }

    /// Applies an `IPRIORITYR` write of `count` bytes from interrupt `bit` of a bank.
    pub(super) fn write_priorities(
        &mut self,
        location: BankLocation,
        bit: u32,
        count: u64,
        value: u32,
    ) -> WriteOutcome {
        let Some(bank) = self.bank_mut(location) else { return WriteOutcome::plain(Disposition::RazWi) };
        let written = bank.write_priorities(bit, count, value);
        // A new priority can reorder what is pending; the list registers may need redoing.
        WriteOutcome::plain(Disposition::Emulated).with_refill(self.refill_targets(location, written))
    }

    /// Applies an `ICFGR` write to half `half` of a bank, for the interrupts in `writable`.
    pub(super) fn write_config(
        &mut self,
        location: BankLocation,
        half: u32,
        value: u32,
        writable: u32,
    ) -> WriteOutcome {
        let Some(bank) = self.bank_mut(location) else { return WriteOutcome::plain(Disposition::RazWi) };
        let changed = bank.write_config(half, value, writable);
        WriteOutcome::plain(Disposition::Emulated).with_refill(self.refill_targets(location, changed))
    }
}
