//! Calls to the firmware's PSCI (DEN0022) — used only to start the physical secondary cores.

use core::arch::asm;

/// PSCI `CPU_ON`, SMC64 function ID (DEN0022).
const CPU_ON_64: u64 = 0xC400_0003;

/// Why the firmware refused to start a core.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FirmwareError(pub i64);

/// Starts the core with affinity `mpidr` at `entry` through `smc` (the conduit QEMU and
/// Trusted Firmware use when the hypervisor owns EL2).
pub fn cpu_on_smc(mpidr: u64, entry: u64, context_id: u64) -> Result<(), FirmwareError> {
    let mut result = CPU_ON_64;
    // SAFETY: an SMC with PSCI CPU_ON only asks the firmware to power another core on at
    // `entry`; it returns here and follows the SMC Calling Convention (x0–x17 may be
    // clobbered, which the clobber list states). It touches no memory of ours.
    unsafe {
        asm!(
            "smc #0",
            inout("x0") result,
            inout("x1") mpidr => _,
            inout("x2") entry => _,
            inout("x3") context_id => _,
            out("x4") _, out("x5") _, out("x6") _, out("x7") _,
            out("x8") _, out("x9") _, out("x10") _, out("x11") _,
            out("x12") _, out("x13") _, out("x14") _, out("x15") _,
            out("x16") _, out("x17") _,
            options(nostack),
        );
    }
    // PSCI return codes are signed (DEN0022): x0 is reinterpreted bit for bit.
    match i64::from_ne_bytes(result.to_ne_bytes()) {
        0 => Ok(()),
        error => Err(FirmwareError(error)),
    }
}

/// PSCI `SYSTEM_OFF` function ID (DEN0022).
const SYSTEM_OFF: u64 = 0x8400_0008;

/// Asks the firmware to power the whole machine off (only when every partition has
/// powered itself off). Returns only if the firmware refused.
pub fn system_off_smc() {
    let mut function = SYSTEM_OFF;
    // SAFETY: PSCI SYSTEM_OFF either does not return or returns an error code in x0,
    // clobbering at most x0–x17 per the SMC Calling Convention.
    unsafe {
        asm!(
            "smc #0",
            inout("x0") function,
            out("x1") _, out("x2") _, out("x3") _,
            out("x4") _, out("x5") _, out("x6") _, out("x7") _,
            out("x8") _, out("x9") _, out("x10") _, out("x11") _,
            out("x12") _, out("x13") _, out("x14") _, out("x15") _,
            out("x16") _, out("x17") _,
            options(nostack),
        );
    }
    let _refused = function;
}
