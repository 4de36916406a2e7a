//! The guest-physical address map every partition sees.
//!
//! It mirrors QEMU `virt` so that guests (and a later Linux partition) find devices where
//! they expect them on any board: the board's real addresses never leak into a guest. The
//! generated guest device tree describes exactly this map.
//!
//! [impl->dsn~core-guest-layout~1]

use crate::addr::Ipa;

/// Virtual GICv3 distributor (64 KiB), emulated by trapping.
pub const VGICD_BASE: Ipa = Ipa(0x0800_0000);
/// Size of the virtual distributor frame.
pub const VGICD_SIZE: u64 = 0x1_0000;
/// Virtual GICv3 redistributors: one RD_base + SGI_base pair per vCPU.
pub const VGICR_BASE: Ipa = Ipa(0x080A_0000);
/// Stride between two vCPUs' redistributors (two 64 KiB frames).
pub const VGICR_STRIDE: u64 = 0x2_0000;
/// The guest's GICv2 CPU interface (`GICC`) on a GIC-400 board: not emulated but the board's
/// GICV frame, mapped here by stage 2 (where QEMU `virt` with `gic-version=2` has its GICC).
/// The guest's accesses reach the hardware's virtual CPU interface without a trap.
pub const VGICC_BASE: Ipa = Ipa(0x0801_0000);
/// Size of the GICV mapping: the 8 KiB GICv2 CPU interface register map (`GICC_DIR` is at
/// 0x1000, IHI 0048B Table 4-2).
pub const VGICC_SIZE: u64 = 0x2000;
/// Size of the GICv2 distributor register map the guest's device tree names (IHI 0048B
/// Table 4-1); the emulated window is [`VGICD_SIZE`], the rest of it reserved.
pub const VGICD_V2_SIZE: u64 = 0x1000;
/// Virtual PL011 console (4 KiB), emulated by trapping.
pub const VUART_BASE: Ipa = Ipa(0x0900_0000);
/// Size of the virtual PL011 frame.
pub const VUART_SIZE: u64 = 0x1000;
/// Interrupt ID of the virtual PL011 (SPI 1, as on QEMU `virt`).
pub const VUART_INTID: u32 = 33;
/// Default IPA of a partition's first RAM region.
pub const RAM_BASE: Ipa = Ipa(0x4000_0000);
/// Where the guest device tree is placed, counted back from the end of the first RAM region.
pub const DTB_OFFSET_FROM_RAM_END: u64 = 0x20_0000;
/// Largest guest device tree the hypervisor places.
pub const DTB_MAX_SIZE: u64 = 0x1_0000;

/// Generic timer PPIs as the guest sees them (INTIDs).
pub mod timer_intid {
    /// EL2 (hypervisor) physical timer: never delivered to guests.
    pub const HYP_PHYSICAL: u32 = 26;
    /// EL1 virtual timer: the guest's tick.
    pub const VIRTUAL: u32 = 27;
    /// EL3 / secure physical timer.
    pub const SECURE_PHYSICAL: u32 = 29;
    /// EL1 non-secure physical timer.
    pub const PHYSICAL: u32 = 30;
}

/// Maximum vCPUs per partition the virtual redistributor window has room for.
pub const MAX_VCPUS_PER_PARTITION: usize = 8;
