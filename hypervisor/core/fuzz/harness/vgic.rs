//! `vgic`: the distributor and redistributor frames with any offset, width and value, mixed
//! with what the image does (interrupt lines, SGIs, list-register delivery and EOI).
//!
//! Input: a setup (vCPU count, hardware-backed INTIDs), then records of an operation byte,
//! a 32-bit offset and a 64-bit value. Invariants: an access outside the frame or window
//! and a misaligned one are refused as such; a read returns no bits beyond its width;
//! `GICD_TYPER`, `GICD_IIDR` and each `GICR_TYPER` read their documented values; SPI
//! priorities keep all 8 bits; `ISENABLER`/`ICENABLER` writes set/clear exactly the written
//! bits; every effect and refill names a vCPU of the partition and an implemented INTID,
//! and physical effects only hardware-backed ones; `next_pending` offers only implemented,
//! deliverable INTIDs to existing vCPUs, `mark_delivered` accepts what it offered and the
//! same INTID is not offered again to that vCPU before its EOI.
//!
//! The MMIO API is named in one place, [`access`], so the coming `core::mmio` device trait
//! changes only that function.

use bulkhead_core::vgic::{
    AccessWidth, DISTRIBUTOR_FRAME_SIZE, Effect, IMPLEMENTATION_ID, MAX_VCPUS, REDISTRIBUTOR_STRIDE, SgiRegister,
    VgicError, VirtualGic,
};

use super::Input;

/// The partition's vGIC: the default, 64 SPIs (INTIDs 32-95).
type Gic = VirtualGic;
/// One past the last implemented INTID.
const INTID_LIMIT: u32 = 96;

/// Which frame an access goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Frame {
    Distributor,
    Redistributor,
}

/// Why an access was refused, in the terms the invariants need.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Refused {
    OutsideWindow,
    Misaligned,
    Other,
}

/// What an accepted access did.
#[derive(Debug, Default)]
struct Accepted {
    /// The value read (0 for a write).
    value: u64,
    /// Every vCPU the write's effects and refill set name.
    vcpus: Vec<usize>,
    /// Every INTID its effects name, with whether the effect is a physical one.
    intids: Vec<(u32, bool)>,
}

/// The adapter: one MMIO access of `bytes` bytes (1, 2, 4 or 8) through today's API.
fn access(gic: &mut Gic, frame: Frame, offset: u64, bytes: u64, write: Option<u64>) -> Result<Accepted, Refused> {
    let width = AccessWidth::from_bytes(bytes).expect("1, 2, 4 or 8 bytes");
    let refused = |error: VgicError| match error {
        VgicError::OutsideWindow { .. } => Refused::OutsideWindow,
        VgicError::Misaligned { .. } => Refused::Misaligned,
        _ => Refused::Other,
    };
    let Some(value) = write else {
        let read = match frame {
            Frame::Distributor => gic.distributor_read(offset, width),
            Frame::Redistributor => gic.redistributor_read(offset, width),
        };
        return read.map(|outcome| Accepted { value: outcome.value, ..Accepted::default() }).map_err(refused);
    };
    let outcome = match frame {
        Frame::Distributor => gic.distributor_write(offset, width, value),
        Frame::Redistributor => gic.redistributor_write(offset, width, value),
    }
    .map_err(refused)?;
    let mut accepted = Accepted { vcpus: outcome.refill().iter().collect(), ..Accepted::default() };
    for effect in outcome.effects() {
        match effect {
            Effect::PhysicalEnable { intid, vcpu, .. } | Effect::PhysicalActive { intid, vcpu, .. } => {
                accepted.intids.push((intid, true));
                accepted.vcpus.extend(vcpu);
            }
            Effect::PhysicalRoute { intid, target } => {
                accepted.intids.push((intid, true));
                accepted.vcpus.extend(target);
            }
            Effect::RefillListRegisters { vcpu } => accepted.vcpus.push(vcpu),
        }
    }
    Ok(accepted)
}

/// Offsets the fuzzer picks from to hit registers often: the distributor's register blocks
/// and the redistributor's RD_base and SGI_base registers.
const DISTRIBUTOR: [u64; 16] =
    [0x0, 0x4, 0x8, 0xc, 0x80, 0x100, 0x180, 0x200, 0x280, 0x300, 0x380, 0x400, 0xc00, 0xd00, 0x6100, 0xffe8];
const REDISTRIBUTOR: [u64; 12] =
    [0x0, 0x4, 0x8, 0x14, 0xffe8, 0x10080, 0x10100, 0x10180, 0x10200, 0x10300, 0x10400, 0x10c04];
/// Access sizes by two bits of the operation byte.
const BYTES: [u64; 4] = [1, 2, 4, 8];

/// Runs one input.
pub fn run(data: &[u8]) {
    let mut input = Input::new(data);
    let (Some(count), Some(hardware)) = (input.u8(), input.u64()) else { return };
    let vcpu_count = usize::from(count) % (MAX_VCPUS + 2);
    let Ok(mut gic) = Gic::new(vcpu_count) else {
        assert!(vcpu_count == 0 || vcpu_count > MAX_VCPUS, "{vcpu_count} vCPUs refused");
        return;
    };
    // Hardware-backed: the PPIs and SPIs whose bit is set in `hardware` (INTID 16 + bit).
    let backed: Vec<u32> = (0..64).filter(|bit| hardware & (1 << bit) != 0).map(|bit| 16 + bit).collect();
    for &intid in &backed {
        gic.set_hardware_backed(intid, intid).expect("PPIs and implemented SPIs can be hardware-backed");
    }
    // BOUND: each iteration consumes 13 bytes of the input.
    while let (Some(operation), Some(raw), Some(value)) = (input.u8(), input.u32(), input.u64()) {
        let bytes = BYTES[usize::from(operation >> 3) & 3];
        let biased = operation & 0x80 != 0;
        let vcpu = usize::try_from(raw >> 24).unwrap_or(0) % (MAX_VCPUS + 1);
        match operation & 7 {
            0 | 1 => {
                let offset = if biased { DISTRIBUTOR[(raw as usize) % 16] + u64::from(raw >> 8 & 0x7f) } else { u64::from(raw) };
                mmio(&mut gic, &backed, Frame::Distributor, offset, bytes, (operation & 1 == 1).then_some(value));
            }
            2 | 3 => {
                let offset = if biased {
                    vcpu as u64 * REDISTRIBUTOR_STRIDE + REDISTRIBUTOR[(raw as usize) % 12] + u64::from(raw >> 8 & 0x7f)
                } else {
                    u64::from(raw)
                };
                mmio(&mut gic, &backed, Frame::Redistributor, offset, bytes, (operation & 1 == 1).then_some(value));
            }
            4 => {
                let intid = raw & 0x7f;
                let level = value & 1 != 0;
                let refill = match value >> 1 & 3 {
                    0 => gic.set_spi_level(intid, level),
                    1 => gic.set_spi_pending(intid),
                    2 => gic.set_private_level(vcpu, intid, level),
                    _ => gic.set_private_pending(vcpu, intid),
                };
                if let Ok(Some(target)) = refill {
                    assert!(target < vcpu_count, "refill of vCPU {target}");
                }
            }
            5 => {
                let register = [SgiRegister::Sgi1r, SgiRegister::Sgi0r, SgiRegister::Asgi1r][(raw % 3) as usize];
                match gic.send_sgi(vcpu, register, value) {
                    Ok(targets) => assert!(targets.iter().all(|target| target < vcpu_count), "SGI to a foreign vCPU"),
                    Err(_) => assert!(vcpu >= vcpu_count, "SGI from vCPU {vcpu} refused"),
                }
            }
            6 => deliver(&mut gic, vcpu, &backed),
            _ => {
                let intid = raw % 128;
                if let Ok(Some(target)) = gic.end_of_interrupt(vcpu, intid) {
                    assert!(target < vcpu_count, "EOI refill of vCPU {target}");
                }
            }
        }
    }
}

/// One MMIO access and the invariants every access keeps.
fn mmio(gic: &mut Gic, backed: &[u32], frame: Frame, offset: u64, bytes: u64, write: Option<u64>) {
    let vcpu_count = gic.vcpu_count();
    let size = match frame {
        Frame::Distributor => DISTRIBUTOR_FRAME_SIZE,
        Frame::Redistributor => gic.redistributor_window_size(),
    };
    let result = access(gic, frame, offset, bytes, write);
    if offset >= size {
        assert_eq!(result.err(), Some(Refused::OutsideWindow), "{frame:?} {offset:#x} outside the window");
        return;
    }
    if offset % bytes != 0 {
        assert_eq!(result.err(), Some(Refused::Misaligned), "{frame:?} {offset:#x} misaligned for {bytes}");
        return;
    }
    let Ok(accepted) = result else {
        assert_eq!(result.err(), Some(Refused::Other), "{frame:?} {offset:#x}: wrong refusal");
        return;
    };
    let mask = if bytes == 8 { u64::MAX } else { (1 << (8 * bytes)) - 1 };
    assert_eq!(accepted.value & !mask, 0, "{frame:?} {offset:#x} read {:#x} wider than {bytes}", accepted.value);
    assert!(accepted.vcpus.iter().all(|&vcpu| vcpu < vcpu_count), "{frame:?} {offset:#x}: effect on vCPU {:?}", accepted.vcpus);
    for &(intid, physical) in &accepted.intids {
        assert!(intid < INTID_LIMIT, "{frame:?} {offset:#x}: effect on INTID {intid}");
        assert!(!physical || backed.contains(&intid), "physical effect on software INTID {intid}");
    }
    match (frame, write) {
        (Frame::Distributor, None) if bytes == 4 && offset == 0x4 => {
            assert_eq!(accepted.value, u64::from(Gic::distributor_type()), "GICD_TYPER");
        }
        (Frame::Distributor, None) if bytes == 4 && offset == 0x8 => {
            assert_eq!(accepted.value, u64::from(IMPLEMENTATION_ID), "GICD_IIDR");
        }
        (Frame::Redistributor, None) if bytes == 8 && offset % REDISTRIBUTOR_STRIDE == 0x8 => {
            let vcpu = usize::try_from(offset / REDISTRIBUTOR_STRIDE).expect("inside the window");
            assert_eq!(accepted.value, gic.redistributor_type(vcpu), "GICR_TYPER of vCPU {vcpu}");
            assert_eq!(accepted.value & (1 << 4) != 0, vcpu + 1 == vcpu_count, "GICR_TYPER.Last of vCPU {vcpu}");
        }
        (Frame::Distributor, Some(value)) if bytes == 1 && (0x420..0x460).contains(&offset) => {
            let read = access(gic, frame, offset, 1, None).map(|read| read.value);
            assert_eq!(read, Ok(value & 0xff), "GICD_IPRIORITYR byte {offset:#x} lost bits");
        }
        (Frame::Distributor, Some(value)) if bytes == 4 && matches!(offset, 0x104 | 0x108 | 0x184 | 0x188) => {
            let enables = access(gic, frame, offset & !0x80, 4, None).map(|read| read.value).expect("ISENABLER read");
            let written = value & 0xffff_ffff;
            if offset & 0x80 == 0 {
                assert_eq!(enables & written, written, "ISENABLER {offset:#x} did not set {written:#x}");
            } else {
                assert_eq!(enables & written, 0, "ICENABLER {offset:#x} did not clear {written:#x}");
            }
        }
        _ => {}
    }
}

/// What the image does to fill a free list register of `vcpu`.
fn deliver(gic: &mut Gic, vcpu: usize, backed: &[u32]) {
    let Some(pending) = gic.next_pending(vcpu) else { return };
    assert!(vcpu < gic.vcpu_count(), "interrupt {} offered to missing vCPU {vcpu}", pending.intid);
    assert!(pending.intid < INTID_LIMIT, "unimplemented INTID {} offered", pending.intid);
    assert_eq!(pending.physical_intid.is_some(), backed.contains(&pending.intid), "INTID {} backing", pending.intid);
    assert_eq!(pending.list_register().to_bits() & 0xffff_ffff, u64::from(pending.intid), "list register vINTID");
    gic.mark_delivered(vcpu, pending.intid).expect("the offered interrupt can be delivered");
    let again = gic.next_pending(vcpu).map(|next| next.intid);
    assert_ne!(again, Some(pending.intid), "INTID {} offered again before its EOI", pending.intid);
}
