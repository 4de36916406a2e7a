//! Function identifiers of the calls a partition can make (PSCI 1.1, DEN0022, and the
//! SMCCC 1.1 Arm Architecture Calls, DEN0028).
//!
//! Bit 31 marks a Fast Call, bit 30 the SMC64/HVC64 convention (SMCCC, "Function
//! Identifier"); calls with both a 32- and a 64-bit form have an ID for each.

/// Bit 30 of a function ID: the call uses the SMC64/HVC64 convention (64-bit arguments).
pub const SMC64: u32 = 1 << 30;

/// `PSCI_VERSION`.
pub const PSCI_VERSION: u32 = 0x8400_0000;
/// `CPU_SUSPEND`, SMC32 form.
pub const CPU_SUSPEND_32: u32 = 0x8400_0001;
/// `CPU_SUSPEND`, SMC64 form.
pub const CPU_SUSPEND_64: u32 = 0xC400_0001;
/// `CPU_OFF`.
pub const CPU_OFF: u32 = 0x8400_0002;
/// `CPU_ON`, SMC32 form.
pub const CPU_ON_32: u32 = 0x8400_0003;
/// `CPU_ON`, SMC64 form.
pub const CPU_ON_64: u32 = 0xC400_0003;
/// `AFFINITY_INFO`, SMC32 form.
pub const AFFINITY_INFO_32: u32 = 0x8400_0004;
/// `AFFINITY_INFO`, SMC64 form.
pub const AFFINITY_INFO_64: u32 = 0xC400_0004;
/// `MIGRATE`, SMC32 form (not implemented: there is no Trusted OS to migrate).
pub const MIGRATE_32: u32 = 0x8400_0005;
/// `MIGRATE_INFO_TYPE`.
pub const MIGRATE_INFO_TYPE: u32 = 0x8400_0006;
/// `SYSTEM_OFF`.
pub const SYSTEM_OFF: u32 = 0x8400_0008;
/// `SYSTEM_RESET`.
pub const SYSTEM_RESET: u32 = 0x8400_0009;
/// `PSCI_FEATURES`.
pub const PSCI_FEATURES: u32 = 0x8400_000A;
/// `SYSTEM_SUSPEND`, SMC64 form (not implemented).
pub const SYSTEM_SUSPEND_64: u32 = 0xC400_000E;
/// `SYSTEM_RESET2`, SMC64 form (not implemented).
pub const SYSTEM_RESET2_64: u32 = 0xC400_0012;

/// `SMCCC_VERSION`.
pub const SMCCC_VERSION: u32 = 0x8000_0000;
/// `SMCCC_ARCH_FEATURES`.
pub const SMCCC_ARCH_FEATURES: u32 = 0x8000_0001;
/// `SMCCC_ARCH_WORKAROUND_1` (not implemented: reported as such to the guest).
pub const SMCCC_ARCH_WORKAROUND_1: u32 = 0x8000_8000;
