//! GICv3 distributor and redistributor register frames (Arm IHI 0069, GICv3/v4 architecture
//! specification, chapter 12).
//!
//! Only the registers a guest needs to route and enable a few interrupts are declared. Under
//! Bulkhead every access here traps to the hypervisor's emulated distributor, so a guest that
//! touches little is also a guest that works with a small emulation.
//!
//! Bit names follow the Non-secure view with `GICD_CTLR.DS` = 0, whose bits 1 and 4 are the
//! same bits as `EnableGrp1` and `ARE` of the single-security-state view (DS = 1) that QEMU
//! and many hypervisors present: one value is right in both.

use tock_registers::register_bitfields;
use tock_registers::register_structs;
use tock_registers::registers::{ReadOnly, ReadWrite, WriteOnly};

register_bitfields! {u32,
    /// Distributor Control Register.
    pub GICD_CTLR [
        /// Register Write Pending: an earlier write to GICD_CTLR or GICD_ICENABLER<n> is still
        /// taking effect.
        RWP OFFSET(31) NUMBITS(1) [],
        /// Affinity Routing Enable (ARE_NS in the Non-secure view).
        ARE OFFSET(4) NUMBITS(1) [],
        /// Enable Non-secure Group 1 interrupts (EnableGrp1A in the Non-secure view).
        EnableGrp1 OFFSET(1) NUMBITS(1) [],
    ],
    /// Redistributor Control Register.
    pub GICR_CTLR [
        /// Register Write Pending for GICR_ICENABLER0.
        RWP OFFSET(3) NUMBITS(1) [],
    ],
    /// Redistributor Wake Register.
    pub GICR_WAKER [
        /// Read-only: 1 while the redistributor's interface to the PE is quiescent.
        ChildrenAsleep OFFSET(2) NUMBITS(1) [],
        /// 1 = the PE is asleep and no interrupt is forwarded to it.
        ProcessorSleep OFFSET(1) NUMBITS(1) [],
    ],
}

register_bitfields! {u64,
    /// Redistributor Type Register.
    pub GICR_TYPER [
        /// Aff3.Aff2.Aff1.Aff0 of the PE this redistributor serves.
        Affinity OFFSET(32) NUMBITS(32) [],
        /// This is the last redistributor of the region.
        Last OFFSET(4) NUMBITS(1) [],
    ],
    /// Interrupt Routing Register, one per SPI.
    pub GICD_IROUTER [
        Aff3 OFFSET(32) NUMBITS(8) [],
        /// 0: route to the PE named by the affinity fields; 1: to any participating PE.
        Interrupt_Routing_Mode OFFSET(31) NUMBITS(1) [],
        Aff2 OFFSET(16) NUMBITS(8) [],
        Aff1 OFFSET(8) NUMBITS(8) [],
        Aff0 OFFSET(0) NUMBITS(8) [],
    ],
}

register_structs! {
    /// The distributor frame (GICD_*), 64 KiB.
    pub DistributorRegisters {
        (0x0000 => pub ctlr: ReadWrite<u32, GICD_CTLR::Register>),
        (0x0004 => _reserved0),
        /// GICD_IGROUPR<n>: one bit per INTID, 1 = Group 1.
        (0x0080 => pub igroupr: [ReadWrite<u32>; 32]),
        /// GICD_ISENABLER<n>: write 1 to enable an INTID.
        (0x0100 => pub isenabler: [ReadWrite<u32>; 32]),
        /// GICD_ICENABLER<n>: write 1 to disable an INTID.
        (0x0180 => pub icenabler: [ReadWrite<u32>; 32]),
        (0x0200 => _reserved1),
        /// GICD_IPRIORITYR<n>: one byte per INTID, accessed as words.
        (0x0400 => pub ipriorityr: [ReadWrite<u32>; 255]),
        (0x07fc => _reserved2),
        /// GICD_IROUTER<n> for INTIDs 32..1019 (GICD_IROUTER<n> is at 0x6000 + 8n).
        (0x6100 => pub irouter: [ReadWrite<u64, GICD_IROUTER::Register>; 988]),
        (0x7fe0 => _reserved3),
        (0x1_0000 => @END),
    }
}

register_structs! {
    /// The GICv2 distributor frame (IHI 0048B Table 4-1), the registers a guest needs.
    pub DistributorV2Registers {
        (0x000 => pub ctlr: ReadWrite<u32>),
        (0x004 => _reserved0),
        /// GICD_ISENABLER<n>: write 1 to enable an INTID (n = 0: this CPU's SGIs and PPIs).
        (0x100 => pub isenabler: [ReadWrite<u32>; 32]),
        /// GICD_ICENABLER<n>: write 1 to disable an INTID.
        (0x180 => pub icenabler: [ReadWrite<u32>; 32]),
        (0x200 => _reserved1),
        /// GICD_IPRIORITYR<n>: one byte per INTID, accessed as words.
        (0x400 => pub ipriorityr: [ReadWrite<u32>; 255]),
        (0x7fc => _reserved2),
        /// GICD_ITARGETSR<n>: one CPU-mask byte per INTID, accessed as words.
        (0x800 => pub itargetsr: [ReadWrite<u32>; 255]),
        (0xbfc => _reserved3),
        /// GICD_SGIR: TargetListFilter [25:24], CPUTargetList [23:16], SGIINTID [3:0].
        (0xf00 => pub sgir: WriteOnly<u32>),
        (0xf04 => _reserved4),
        (0x1000 => @END),
    }
}

register_structs! {
    /// The GICv2 CPU interface frame (IHI 0048B Table 4-2); under Bulkhead the hardware's
    /// virtual CPU interface (GICV), mapped where the device tree says GICC is.
    pub CpuInterfaceV2Registers {
        (0x000 => pub ctlr: ReadWrite<u32>),
        (0x004 => pub pmr: ReadWrite<u32>),
        (0x008 => pub bpr: ReadWrite<u32>),
        (0x00c => pub iar: ReadOnly<u32>),
        (0x010 => pub eoir: WriteOnly<u32>),
        (0x014 => _reserved0),
        (0x1000 => @END),
    }
}

register_structs! {
    /// One redistributor: the RD_base frame, then the SGI_base frame 64 KiB above it, which
    /// holds the SGI and PPI (INTID 0-31) controls of this PE.
    pub RedistributorRegisters {
        (0x0000 => pub ctlr: ReadWrite<u32, GICR_CTLR::Register>),
        (0x0004 => _reserved0),
        (0x0008 => pub typer: ReadOnly<u64, GICR_TYPER::Register>),
        (0x0010 => _reserved1),
        (0x0014 => pub waker: ReadWrite<u32, GICR_WAKER::Register>),
        (0x0018 => _reserved2),
        /// GICR_IGROUPR0: INTIDs 0-31, 1 = Group 1.
        (0x1_0080 => pub igroupr0: ReadWrite<u32>),
        (0x1_0084 => _reserved3),
        /// GICR_ISENABLER0: write 1 to enable an SGI or PPI.
        (0x1_0100 => pub isenabler0: ReadWrite<u32>),
        (0x1_0104 => _reserved4),
        /// GICR_ICENABLER0: write 1 to disable an SGI or PPI.
        (0x1_0180 => pub icenabler0: ReadWrite<u32>),
        (0x1_0184 => _reserved5),
        /// GICR_IPRIORITYR<n>: one byte per SGI or PPI, accessed as words.
        (0x1_0400 => pub ipriorityr: [ReadWrite<u32>; 8]),
        (0x1_0420 => _reserved6),
        (0x2_0000 => @END),
    }
}
