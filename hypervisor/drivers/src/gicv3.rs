//! The physical GICv3 distributor and redistributors, through the `arm-gic` crate.
//!
//! The hypervisor keeps every interrupt in Non-secure Group 1, routes each forwarded
//! interrupt to the core of the vCPU that owns it, and leaves priority drop and deactivation
//! split (`bulkhead_arch_aarch64::gic`), so a forwarded level interrupt stays active at the
//! physical GIC until the guest's EOI deactivates it.
//!
//! [impl->dsn~el2-gic-virtual-interface~1]

use arm_gic::gicv3::registers::{Gicd, GicrSgi};
use arm_gic::gicv3::{GicV3, Group};
use arm_gic::{IntId, Trigger, UniqueMmioPointer};
use core::ptr::NonNull;

/// Priority the hypervisor gives every physical interrupt it enables: all equal, so none
/// preempts another at EL2 (EL2 never unmasks interrupts anyway).
pub const PRIORITY: u8 = 0x80;

/// Why a GIC operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GicError {
    /// The INTID does not fit the operation (e.g. routing a PPI).
    InvalidIntid(u32),
    /// The driver rejected the request.
    Driver,
}

/// First INTID past the SPI range (1020–1023 are special, LPIs are not used).
const SPI_END: u32 = 1020;

/// Converts a raw SGI, PPI or SPI INTID to the `arm-gic` type. The range check comes first so
/// that `arm-gic`'s own assertions are provably never reached (no panic path on trap paths).
pub fn intid(raw: u32) -> Result<IntId, GicError> {
    let invalid = GicError::InvalidIntid(raw);
    match raw {
        0..16 => Ok(IntId::sgi(raw)),
        16..32 => raw.checked_sub(16).map(IntId::ppi).ok_or(invalid),
        32..SPI_END => raw.checked_sub(32).map(IntId::spi).ok_or(invalid),
        _ => Err(invalid),
    }
}

/// The physical distributor and redistributors.
pub struct PhysicalGic {
    /// The `arm-gic` driver, for set-up (boot and vCPU start, where its assertions are
    /// unreachable because every INTID is checked first).
    gic: GicV3<'static>,
    /// Address of the distributor frame (`GICD_*`).
    distributor: usize,
    /// Address of core 0's redistributor (`GICR_*`); the others follow at
    /// [`REDISTRIBUTOR_STRIDE`].
    redistributors: usize,
    /// How many redistributors the frames hold.
    core_count: usize,
}

/// Distance between two cores' redistributors (RD_base + SGI_base frames, GICv3).
const REDISTRIBUTOR_STRIDE: usize = 0x2_0000;
/// SGI_base frame offset inside a redistributor.
const SGI_FRAME: usize = 0x1_0000;
/// `GICD_ISENABLER<n>` / `GICR_ISENABLER0`: write one to enable.
const SET_ENABLE: usize = 0x100;
/// `GICD_ICENABLER<n>` / `GICR_ICENABLER0`: write one to disable.
const CLEAR_ENABLE: usize = 0x180;
/// `GICD_IROUTER<n>`: 64-bit affinity route of SPI `n`.
const ROUTER: usize = 0x6000;

// SAFETY: the GIC registers are MMIO reachable identically from every core; the hypervisor
// keeps the one `PhysicalGic` behind a lock, so accesses are serialised.
unsafe impl Send for PhysicalGic {}

impl PhysicalGic {
    /// Takes over the GICv3 with its distributor at `distributor` and the first of
    /// `core_count` redistributors at `redistributors`.
    ///
    /// # Safety
    /// Both addresses must be the GIC's register frames, mapped as Device memory for the
    /// rest of the program, and no other code may drive them.
    pub unsafe fn new(distributor: usize, redistributors: usize, core_count: usize) -> Result<Self, GicError> {
        let distributor_frame = NonNull::new(distributor as *mut Gicd).ok_or(GicError::Driver)?;
        let redistributor_frames = NonNull::new(redistributors as *mut GicrSgi).ok_or(GicError::Driver)?;
        // SAFETY: the caller guarantees the distributor frame is mapped and exclusively ours.
        let distributor_mmio = unsafe { UniqueMmioPointer::new(distributor_frame) };
        // SAFETY: as above for the redistributor frames of `core_count` cores.
        let gic = unsafe { GicV3::new(distributor_mmio, redistributor_frames, core_count) }.map_err(|_| GicError::Driver)?;
        Ok(Self { gic, distributor, redistributors, core_count })
    }

    /// Takes over the board's GICv3 (`Gic::V3`; any other GIC is refused with
    /// [`GicError::Driver`]) for `core_count` cores.
    ///
    /// # Safety
    /// As for [`PhysicalGic::new`], for the board's distributor and redistributor frames.
    pub unsafe fn from_board(gic: &bulkhead_core::system::Gic, core_count: usize) -> Result<Self, GicError> {
        let bulkhead_core::system::Gic::V3 { distributor, redistributors, .. } = *gic else {
            return Err(GicError::Driver);
        };
        let distributor_base = usize::try_from(distributor.raw()).map_err(|_| GicError::Driver)?;
        let redistributors_base = usize::try_from(redistributors.raw()).map_err(|_| GicError::Driver)?;
        // SAFETY: the caller's guarantee, for exactly these frames.
        unsafe { Self::new(distributor_base, redistributors_base, core_count) }
    }

    /// Global set-up, once, on the boot core (`core` is its redistributor index): affinity
    /// routing, every interrupt Group 1 Non-secure and disabled, Group 1 enabled.
    ///
    /// `arm-gic` implements this and [`initialise_core`](Self::initialise_core) with
    /// system-register accesses, so they exist only on aarch64; the rest of the driver also
    /// builds on the host, where the generated tables naming this type are type-checked.
    #[cfg(target_arch = "aarch64")]
    pub fn initialise(&mut self, core: usize) {
        self.gic.setup(core);
    }

    /// Per-core set-up on every other core: wakes its redistributor.
    #[cfg(target_arch = "aarch64")]
    pub fn initialise_core(&mut self, core: usize) {
        self.gic.init_cpu(core);
    }

    /// Configures and enables interrupt `raw` at [`PRIORITY`]; SGIs and PPIs on `core`'s
    /// redistributor, SPIs routed to the core with affinity `affinity`.
    pub fn enable(&mut self, raw: u32, core: usize, affinity: u64, trigger: Trigger) -> Result<(), GicError> {
        let id = intid(raw)?;
        let redistributor = Some(core);
        self.gic.set_group(id, redistributor, Group::Group1NS).map_err(|_| GicError::InvalidIntid(raw))?;
        self.gic.set_interrupt_priority(id, redistributor, PRIORITY).map_err(|_| GicError::InvalidIntid(raw))?;
        if !id.is_sgi() {
            self.gic.set_trigger(id, redistributor, trigger).map_err(|_| GicError::InvalidIntid(raw))?;
        }
        if id.is_spi() {
            self.gic.distributor().set_routing(id, Some(affinity)).map_err(|_| GicError::InvalidIntid(raw))?;
        }
        self.gic.enable_interrupt(id, redistributor, true).map_err(|_| GicError::InvalidIntid(raw))
    }

    /// Routes SPI `raw` to core `_core`, whose affinity is `affinity` (`GICD_IROUTER<n>`).
    ///
    /// This and [`set_enabled`](Self::set_enabled) run on trap paths, where a panic must be
    /// impossible; `arm-gic` indexes its register arrays with `unwrap()`, so these two write
    /// the registers themselves after checking every index.
    pub fn route(&mut self, raw: u32, _core: usize, affinity: u64) -> Result<(), GicError> {
        if !(32..SPI_END).contains(&raw) {
            return Err(GicError::InvalidIntid(raw));
        }
        const IROUTER_AFFINITY: u64 = 0xff_00ff_ffff;
        let address = usize::try_from(raw)
            .ok()
            .and_then(|spi| spi.checked_mul(8))
            .and_then(|offset| offset.checked_add(ROUTER))
            .and_then(|offset| self.distributor.checked_add(offset))
            .ok_or(GicError::InvalidIntid(raw))?;
        // SAFETY: `GICD_IROUTER<raw>` exists for every SPI below 1020 inside the distributor
        // frame the constructor's caller vouched for; a 64-bit device write has no other effect.
        unsafe { core::ptr::write_volatile(address as *mut u64, affinity & IROUTER_AFFINITY) };
        Ok(())
    }

    /// Enables or disables interrupt `raw`: SGIs and PPIs in `core`'s redistributor, SPIs in
    /// the distributor (`GICx_ISENABLER`/`GICx_ICENABLER`, write-one-to-change).
    pub fn set_enabled(&mut self, raw: u32, core: usize, enabled: bool) -> Result<(), GicError> {
        let register = if enabled { SET_ENABLE } else { CLEAR_ENABLE };
        // The register bank of `raw`: SGIs and PPIs in `core`'s SGI_base frame, SPIs in the
        // distributor (one 32-bit register per 32 INTIDs).
        let bank = match raw {
            0..32 if core < self.core_count => core
                .checked_mul(REDISTRIBUTOR_STRIDE)
                .and_then(|frame| frame.checked_add(SGI_FRAME))
                .and_then(|frame| self.redistributors.checked_add(frame)),
            32..SPI_END => usize::try_from(raw / 32)
                .ok()
                .and_then(|word| word.checked_mul(4))
                .and_then(|word_offset| self.distributor.checked_add(word_offset)),
            _ => None,
        };
        let address = bank.and_then(|bank_base| bank_base.checked_add(register)).ok_or(GicError::InvalidIntid(raw))?;
        // SAFETY: the register is inside the distributor frame, or inside the redistributor of
        // a core below `core_count`, both vouched for by the constructor's caller; writing a
        // one sets or clears exactly this interrupt's enable bit.
        unsafe { core::ptr::write_volatile(address as *mut u32, 1 << (raw % 32)) };
        Ok(())
    }

    /// Disables interrupt `raw` (on `core`'s redistributor for SGIs and PPIs).
    pub fn disable(&mut self, raw: u32, core: usize) -> Result<(), GicError> {
        self.gic.enable_interrupt(intid(raw)?, Some(core), false).map_err(|_| GicError::InvalidIntid(raw))
    }
}

pub use arm_gic::Trigger as InterruptTrigger;
