//! Facts about a core model read from its `MIDR_EL1`, for boot code that must touch
//! IMPLEMENTATION DEFINED registers only on the cores that define them.
//!
//! Host-tested here; `bulkhead-arch-aarch64` (`el3`) reads the register and acts.

/// `MIDR_EL1.Implementer` of Arm Ltd.
const IMPLEMENTER_ARM: u64 = 0x41;
/// `MIDR_EL1.PartNum` of the cores whose `CPUECTLR_EL1` (`S3_1_C15_C2_1`) has `SMPEN` at bit
/// 6: Cortex-A53, Cortex-A57, Cortex-A72 (their Technical Reference Manuals).
const PARTS_WITH_SMPEN: [u64; 3] = [0xd03, 0xd07, 0xd08];

/// `CPUECTLR_EL1.SMPEN` on the cores [`has_smpen`] accepts.
pub const CPUECTLR_SMPEN: u64 = 1 << 6;

/// Whether the core `midr` names has `CPUECTLR_EL1.SMPEN`, which must be set before its
/// caches and MMU are enabled for it to take part in coherency.
pub fn has_smpen(midr: u64) -> bool {
    let implementer = (midr >> 24) & 0xff;
    let part = (midr >> 4) & 0xfff;
    implementer == IMPLEMENTER_ARM && PARTS_WITH_SMPEN.contains(&part)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smpen_exists_only_on_the_arm_cores_that_define_it() {
        assert!(has_smpen(0x410f_d083), "Cortex-A72 r0p3 (Raspberry Pi 4)");
        assert!(has_smpen(0x410f_d034), "Cortex-A53 r0p4 (ZCU102)");
        assert!(has_smpen(0x411f_d070), "Cortex-A57");
        assert!(!has_smpen(0x410f_d0c0), "Neoverse N1: no SMPEN in its CPUECTLR");
        assert!(!has_smpen(0x420f_d083), "another implementer with the same part number");
    }
}
