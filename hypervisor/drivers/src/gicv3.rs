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
    match raw {
        0..16 => Ok(IntId::sgi(raw)),
        16..32 => Ok(IntId::ppi(raw - 16)),
        32..SPI_END => Ok(IntId::spi(raw - 32)),
        _ => Err(GicError::InvalidIntid(raw)),
    }
}

/// The physical distributor and redistributors.
pub struct PhysicalGic {
    gic: GicV3<'static>,
    distributor: usize,
    redistributors: usize,
    core_count: usize,
}

/// Distance between two cores' redistributors (RD_base + SGI_base frames, GICv3).
const REDISTRIBUTOR_STRIDE: usize = 0x2_0000;
/// SGI_base frame offset inside a redistributor.
const SGI_FRAME: usize = 0x1_0000;
const SET_ENABLE: usize = 0x100;
const CLEAR_ENABLE: usize = 0x180;
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
        let distributor_base = distributor;
        let redistributor_base = redistributors;
        let distributor = NonNull::new(distributor as *mut Gicd).ok_or(GicError::Driver)?;
        let redistributors = NonNull::new(redistributors as *mut GicrSgi).ok_or(GicError::Driver)?;
        // SAFETY: the caller guarantees the distributor frame is mapped and exclusively ours.
        let distributor = unsafe { UniqueMmioPointer::new(distributor) };
        // SAFETY: as above for the redistributor frames of `core_count` cores.
        let gic = unsafe { GicV3::new(distributor, redistributors, core_count) }.map_err(|_| GicError::Driver)?;
        Ok(Self { gic, distributor: distributor_base, redistributors: redistributor_base, core_count })
    }

    /// Global set-up, once, on the boot core (`core` is its redistributor index): affinity
    /// routing, every interrupt Group 1 Non-secure and disabled, Group 1 enabled.
    pub fn initialise(&mut self, core: usize) {
        self.gic.setup(core);
    }

    /// Per-core set-up on every other core: wakes its redistributor.
    pub fn initialise_core(&mut self, core: usize) {
        self.gic.init_cpu(core);
    }

    /// Configures and enables interrupt `raw` at [`PRIORITY`]; SGIs and PPIs on `core`'s
    /// redistributor, SPIs routed to the core with affinity `affinity`.
    pub fn enable(&mut self, raw: u32, core: usize, affinity: u64, trigger: Trigger) -> Result<(), GicError> {
        let id = intid(raw)?;
        let core = Some(core);
        self.gic.set_group(id, core, Group::Group1NS).map_err(|_| GicError::InvalidIntid(raw))?;
        self.gic.set_interrupt_priority(id, core, PRIORITY).map_err(|_| GicError::InvalidIntid(raw))?;
        if !id.is_sgi() {
            self.gic.set_trigger(id, core, trigger).map_err(|_| GicError::InvalidIntid(raw))?;
        }
        if id.is_spi() {
            self.gic.distributor().set_routing(id, Some(affinity)).map_err(|_| GicError::InvalidIntid(raw))?;
        }
        self.gic.enable_interrupt(id, core, true).map_err(|_| GicError::InvalidIntid(raw))
    }

    /// Routes SPI `raw` to the core with affinity `affinity` (`GICD_IROUTER<n>`).
    ///
    /// This and [`set_enabled`](Self::set_enabled) run on trap paths, where a panic must be
    /// impossible; `arm-gic` indexes its register arrays with `unwrap()`, so these two write
    /// the registers themselves after checking every index.
    pub fn route(&mut self, raw: u32, affinity: u64) -> Result<(), GicError> {
        if !(32..SPI_END).contains(&raw) {
            return Err(GicError::InvalidIntid(raw));
        }
        const IROUTER_AFFINITY: u64 = 0xff_00ff_ffff;
        let address = self.distributor + ROUTER + 8 * raw as usize;
        // SAFETY: `GICD_IROUTER<raw>` exists for every SPI below 1020 inside the distributor
        // frame the constructor's caller vouched for; a 64-bit device write has no other effect.
        unsafe { core::ptr::write_volatile(address as *mut u64, affinity & IROUTER_AFFINITY) };
        Ok(())
    }

    /// Enables or disables interrupt `raw`: SGIs and PPIs in `core`'s redistributor, SPIs in
    /// the distributor (`GICx_ISENABLER`/`GICx_ICENABLER`, write-one-to-change).
    pub fn set_enabled(&mut self, raw: u32, core: usize, enabled: bool) -> Result<(), GicError> {
        let register = if enabled { SET_ENABLE } else { CLEAR_ENABLE };
        let address = match raw {
            0..32 if core < self.core_count => self.redistributors + core * REDISTRIBUTOR_STRIDE + SGI_FRAME + register,
            32..SPI_END => self.distributor + register + 4 * (raw / 32) as usize,
            _ => return Err(GicError::InvalidIntid(raw)),
        };
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
