//! The `GICR_*` frames: one RD_base and one SGI_base frame per vCPU (IHI 0069 12.10,
//! 12.11; register maps in Tables 12-27 and 12-29).
//!
//! The guest's redistributor window holds the frames of vCPU 0, 1, ... back to back,
//! [`REDISTRIBUTOR_STRIDE`] apart, and `GICR_TYPER.Last` marks the final one, which is how
//! Linux's `gic_iterate_rdists` finds them all. RD_base carries identification and power
//! management (no LPIs here); SGI_base carries the vCPU's SGI and PPI state.
//!
//! [impl->dsn~vgic-frames~1]

use super::bank::BitRegister;
use super::mmio::{BYTE_OR_WORD, WORD, WORD_OR_DOUBLEWORD};
use super::{
    AccessWidth, BankLocation, Disposition, IMPLEMENTATION_ID, MAX_VCPUS, PERIPHERAL_ID2, REDISTRIBUTOR_STRIDE,
    ReadOutcome, SGI_EDGE_MASK, VgicError, VirtualGic, WriteOutcome,
};

/// Offset of the SGI_base frame inside a vCPU's redistributor.
const SGI_BASE: u64 = 0x1_0000;

/// `GICR_CTLR` offset in RD_base (IHI 0069 Table 12-27, as the RD_base offsets below).
const CTLR: u64 = 0x0000;
/// `GICR_IIDR` offset.
const IIDR: u64 = 0x0004;
/// `GICR_TYPER` offset (a 64-bit register).
const TYPER: u64 = 0x0008;
/// Offset of the upper word of `GICR_TYPER`.
const TYPER_UPPER: u64 = 0x000c;
/// `GICR_WAKER` offset.
const WAKER: u64 = 0x0014;
/// `GICR_PIDR2` offset, in the IMPLEMENTATION DEFINED identification block.
const PIDR2: u64 = 0xffe8;
/// `GICR_ICFGR0` offset in SGI_base (IHI 0069 Table 12-29, as the next one).
const ICFGR0: u64 = 0x0c00;
/// `GICR_ICFGR1` offset.
const ICFGR1: u64 = 0x0c04;

/// `GICR_TYPER.Last` (IHI 0069 12.10.35).
const TYPER_LAST: u64 = 1 << 4;
/// Position of `GICR_TYPER.Processor_Number`.
const TYPER_PROCESSOR_NUMBER_SHIFT: u32 = 8;
/// Position of `GICR_TYPER.Affinity_Value` (`Aff3.Aff2.Aff1.Aff0`, bits [63:32]).
const TYPER_AFFINITY_SHIFT: u32 = 32;

/// `GICR_WAKER.ProcessorSleep` (IHI 0069 12.10.38).
const WAKER_PROCESSOR_SLEEP: u32 = 1 << 1;
/// `GICR_WAKER.ChildrenAsleep`.
const WAKER_CHILDREN_ASLEEP: u32 = 1 << 2;

/// `GICR_TYPER` of `vcpu` in a partition of `vcpu_count` vCPUs.
const fn redistributor_type_of(vcpu: usize, vcpu_count: usize) -> u64 {
    let mut value = (vcpu as u64) << TYPER_AFFINITY_SHIFT | (vcpu as u64) << TYPER_PROCESSOR_NUMBER_SHIFT;
    if matches!(vcpu.checked_add(1), Some(next) if next == vcpu_count) {
        value |= TYPER_LAST;
    }
    value
}

/// A decoded redistributor register.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Register {
    /// `GICR_CTLR`.
    Control,
    /// `GICR_IIDR`.
    ImplementerId,
    /// `GICR_TYPER`, and whether the access starts at its upper word.
    Type(bool),
    /// `GICR_WAKER`.
    Waker,
    /// `GICR_PIDR2`.
    PeripheralId2,
    /// `GICR_IGROUPR0` ... `GICR_ICACTIVER0`.
    Bits(BitRegister),
    /// `GICR_IPRIORITYR<n>`, addressed per byte: the INTID of the first byte.
    Priority(u32),
    /// `GICR_ICFGR0` (SGIs, read-only) or `GICR_ICFGR1` (PPIs).
    Config(u32),
    /// Nothing implemented here.
    Reserved,
}

/// The RD_base register at `offset` and the access widths it accepts (IHI 0069 12.1.3).
const fn decode_rd_base(offset: u64) -> (Register, &'static [AccessWidth]) {
    match offset {
        CTLR => (Register::Control, WORD),
        IIDR => (Register::ImplementerId, WORD),
        TYPER => (Register::Type(false), WORD_OR_DOUBLEWORD),
        TYPER_UPPER => (Register::Type(true), WORD),
        WAKER => (Register::Waker, WORD),
        PIDR2 => (Register::PeripheralId2, WORD),
        _ => (Register::Reserved, WORD_OR_DOUBLEWORD),
    }
}

/// The SGI_base register at `offset` into the SGI_base frame and the widths it accepts.
const fn decode_sgi_base(offset: u64) -> (Register, &'static [AccessWidth]) {
    match offset {
        // Only instance 0 exists; the others are the GICv3.1 extended PPI range, absent here.
        0x0080..=0x03ff if offset & 0x7f == 0 => match BitRegister::decode(offset) {
            Some((register, _)) => (Register::Bits(register), WORD),
            None => (Register::Reserved, WORD),
        },
        // The block's base is a multiple of its size: the low bits are the INTID.
        0x0400..=0x041f => (Register::Priority((offset & 0x1f) as u32), BYTE_OR_WORD),
        ICFGR0 => (Register::Config(0), WORD),
        ICFGR1 => (Register::Config(1), WORD),
        _ => (Register::Reserved, WORD_OR_DOUBLEWORD),
    }
}

impl<const SPI_BLOCKS: usize> VirtualGic<SPI_BLOCKS> {
    /// Splits a window offset into vCPU and register, checking bounds, alignment, width.
    fn locate(&self, offset: u64, width: AccessWidth) -> Result<(usize, Register), VgicError> {
        let vcpu = usize::try_from(offset / REDISTRIBUTOR_STRIDE).map_err(|_| VgicError::OutsideWindow { offset })?;
        if vcpu >= self.vcpu_count {
            return Err(VgicError::OutsideWindow { offset });
        }
        if !width.is_aligned(offset) {
            return Err(VgicError::Misaligned { offset, width });
        }
        let inside = offset % REDISTRIBUTOR_STRIDE;
        let (register, widths) = match inside.checked_sub(SGI_BASE) {
            Some(sgi_offset) => decode_sgi_base(sgi_offset),
            None => decode_rd_base(inside),
        };
        if !widths.contains(&width) {
            return Err(VgicError::UnsupportedWidth { offset, width });
        }
        Ok((vcpu, register))
    }

    /// `GICR_TYPER` of `vcpu`: affinity `0.0.0.vcpu`, `Processor_Number` = `vcpu`, `Last` on
    /// the partition's final vCPU, no LPIs (`PLPIS` = `VLPIS` = 0).
    pub const fn redistributor_type(&self, vcpu: usize) -> u64 {
        redistributor_type_of(vcpu, self.vcpu_count)
    }

    /// The value of a redistributor register that never changes (`GICR_IIDR`, `GICR_TYPER`,
    /// `GICR_PIDR2`) for a valid read at window `offset` of a partition with `vcpu_count`
    /// vCPUs, or `None` for any other access. The trap handler answers these without the
    /// partition's lock; the value is the one [`VirtualGic::redistributor_read`] gives.
    pub const fn redistributor_constant(offset: u64, width: AccessWidth, vcpu_count: usize) -> Option<u64> {
        let vcpu = (offset / REDISTRIBUTOR_STRIDE) as usize;
        if vcpu >= vcpu_count || vcpu_count > MAX_VCPUS || !width.is_aligned(offset) {
            return None;
        }
        let typer = redistributor_type_of(vcpu, vcpu_count);
        match (offset % REDISTRIBUTOR_STRIDE, width) {
            (IIDR, AccessWidth::Word) => Some(IMPLEMENTATION_ID as u64),
            (PIDR2, AccessWidth::Word) => Some(PERIPHERAL_ID2 as u64),
            (TYPER, AccessWidth::Doubleword) => Some(typer),
            (TYPER, AccessWidth::Word) => Some(typer & 0xffff_ffff),
            (TYPER_UPPER, AccessWidth::Word) => Some(typer >> 32),
            _ => None,
        }
    }

    /// Reads `width` bytes at `offset` inside the redistributor window (vCPU `n`'s RD_base
    /// frame starts at `n * REDISTRIBUTOR_STRIDE`, its SGI_base frame 64 KiB later).
    pub fn redistributor_read(&self, offset: u64, width: AccessWidth) -> Result<ReadOutcome, VgicError> {
        let (vcpu, register) = self.locate(offset, width)?;
        let location = BankLocation::Private(vcpu);
        let value: u64 = match register {
            // EnableLPIs RAZ/WI without LPIs; RWP and UWP never set.
            Register::Control => 0,
            Register::ImplementerId => u64::from(IMPLEMENTATION_ID),
            Register::Type(upper) => {
                let typer = self.redistributor_type(vcpu);
                match (width, upper) {
                    (AccessWidth::Doubleword, _) => typer,
                    (_, false) => typer & 0xffff_ffff,
                    (_, true) => typer >> 32,
                }
            }
            Register::Waker => u64::from(self.waker(vcpu)),
            Register::PeripheralId2 => u64::from(PERIPHERAL_ID2),
            Register::Bits(bit_register) => u64::from(self.bank(location).map_or(0, |bank| bank.read(bit_register))),
            Register::Priority(intid) => {
                u64::from(self.bank(location).map_or(0, |bank| bank.priorities(intid, width.bytes())))
            }
            Register::Config(half) => u64::from(self.bank(location).map_or(0, |bank| bank.config(half))),
            Register::Reserved => return Ok(ReadOutcome::read_as_zero()),
        };
        Ok(ReadOutcome::emulated(value))
    }

    /// Writes `value` (its low `width` bytes) at `offset` inside the redistributor window.
    pub fn redistributor_write(
        &mut self,
        offset: u64,
        width: AccessWidth,
        value: u64,
    ) -> Result<WriteOutcome, VgicError> {
        let (vcpu, register) = self.locate(offset, width)?;
        let location = BankLocation::Private(vcpu);
        let word = width.written_word(value);
        Ok(match register {
            // Every GICR_CTLR bit is RAZ/WI or read-only without LPIs or GICv4.
            Register::Control => WriteOutcome::plain(Disposition::Emulated),
            Register::ImplementerId | Register::Type(_) | Register::PeripheralId2 => {
                WriteOutcome::plain(Disposition::ReadOnly)
            }
            Register::Waker => {
                let bit = 1 << vcpu;
                if word & WAKER_PROCESSOR_SLEEP != 0 {
                    self.processor_sleep |= bit;
                } else {
                    self.processor_sleep &= !bit;
                }
                WriteOutcome::plain(Disposition::Emulated)
            }
            Register::Bits(bit_register) => self.write_bits(location, bit_register, word),
            Register::Priority(intid) => self.write_priorities(location, intid, width.bytes(), word),
            Register::Config(0) => WriteOutcome::plain(Disposition::ReadOnly),
            Register::Config(half) => self.write_config(location, half, word, !SGI_EDGE_MASK),
            Register::Reserved => WriteOutcome::plain(Disposition::RazWi),
        })
    }

    /// `GICR_WAKER`: `ChildrenAsleep` mirrors `ProcessorSleep` at once, since there is no
    /// interface to quiesce.
    fn waker(&self, vcpu: usize) -> u32 {
        if self.processor_sleep & (1 << vcpu) != 0 { WAKER_PROCESSOR_SLEEP | WAKER_CHILDREN_ASLEEP } else { 0 }
    }
}
