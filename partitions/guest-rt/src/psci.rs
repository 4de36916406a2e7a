//! PSCI calls: start vCPUs, power the partition off (Arm DEN0022, Power State Coordination
//! Interface).
//!
//! Under Bulkhead the hypervisor answers these calls for the partition (a partition's
//! `SYSTEM_OFF` stops that partition only); on bare QEMU, QEMU's built-in firmware does. The
//! device tree's `/psci` `method` names the conduit: `hvc` when something runs at EL2 to
//! answer, `smc` when firmware at EL3 does.

use core::arch::asm;
use core::sync::atomic::{AtomicU8, Ordering};

pub use crate::device_tree::Conduit;
use crate::{boot, cpu};

/// A PSCI error return (DEN0022, 5.2.2), or the absence of a conduit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PsciError {
    /// The device tree named no PSCI conduit, so no call can be made.
    NoConduit,
    /// `NOT_SUPPORTED` (-1).
    NotSupported,
    /// `INVALID_PARAMETERS` (-2).
    InvalidParameters,
    /// `DENIED` (-3).
    Denied,
    /// `ALREADY_ON` (-4): the target vCPU is running.
    AlreadyOn,
    /// `ON_PENDING` (-5): the target vCPU is being started.
    OnPending,
    /// `INTERNAL_FAILURE` (-6).
    InternalFailure,
    /// `NOT_PRESENT` (-7): no such vCPU.
    NotPresent,
    /// `DISABLED` (-8).
    Disabled,
    /// `INVALID_ADDRESS` (-9): the entry point is not acceptable.
    InvalidAddress,
    /// A negative value the specification does not define.
    Unknown(i32),
}

/// A PSCI version, as returned by `PSCI_VERSION`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Version {
    /// Major revision.
    pub major: u16,
    /// Minor revision.
    pub minor: u16,
}

/// Function IDs (DEN0022, 5.1). `CPU_ON` uses the SMC64 ID so that 64-bit addresses pass.
mod function {
    pub(super) const PSCI_VERSION: u32 = 0x8400_0000;
    pub(super) const CPU_OFF: u32 = 0x8400_0002;
    pub(super) const CPU_ON_64: u32 = 0xC400_0003;
    pub(super) const SYSTEM_OFF: u32 = 0x8400_0008;
    pub(super) const SYSTEM_RESET: u32 = 0x8400_0009;
}

const NO_CONDUIT: u8 = 0;
const HVC: u8 = 1;
const SMC: u8 = 2;

/// The conduit, kept outside [`crate::BootInfo`] so that the panic handler can power off even
/// when it cannot trust anything else.
static CONDUIT: AtomicU8 = AtomicU8::new(NO_CONDUIT);

pub(crate) fn set_conduit(conduit: Option<Conduit>) {
    let value = match conduit {
        None => NO_CONDUIT,
        Some(Conduit::Hvc) => HVC,
        Some(Conduit::Smc) => SMC,
    };
    CONDUIT.store(value, Ordering::Relaxed);
}

/// The conduit in use, if the device tree named one.
pub fn conduit() -> Option<Conduit> {
    match CONDUIT.load(Ordering::Relaxed) {
        HVC => Some(Conduit::Hvc),
        SMC => Some(Conduit::Smc),
        _ => None,
    }
}

/// `PSCI_VERSION`.
pub fn version() -> Result<Version, PsciError> {
    let value = call(function::PSCI_VERSION, 0, 0, 0)?;
    Ok(Version {
        major: (value >> 16) as u16,
        minor: value as u16,
    })
}

/// `CPU_ON`: starts the vCPU whose `MPIDR_EL1` affinity is `target_mpidr` at `entry_point`
/// (a physical address, which the identity map makes equal to a code address), at EL1 with
/// `x0` = `context_id`.
pub fn cpu_on(target_mpidr: u64, entry_point: usize, context_id: u64) -> Result<(), PsciError> {
    call(
        function::CPU_ON_64,
        target_mpidr,
        entry_point as u64,
        context_id,
    )
    .map(|_| ())
}

/// Starts vCPU `vcpu` (affinity `mpidr`) in this runtime: it sets itself up and then runs the
/// guest's `secondary_main(vcpu, ...)`.
pub fn start_vcpu(vcpu: usize, mpidr: u64) -> Result<(), PsciError> {
    cpu_on(
        mpidr,
        boot::secondary_entry as *const () as usize,
        vcpu as u64,
    )
}

/// `CPU_OFF`: stops the calling vCPU. Parks it if the call fails.
pub fn cpu_off() -> ! {
    // The call returns only on failure: say so on the console, then park, the closest thing
    // to off.
    if let Err(error) = call(function::CPU_OFF, 0, 0, 0) {
        crate::println!("PSCI CPU_OFF failed ({error:?}): vCPU parked");
    }
    cpu::park()
}

/// `SYSTEM_OFF`: powers the partition (on bare QEMU: the machine) off. Parks the vCPU if the
/// call fails or no conduit is known.
pub fn system_off() -> ! {
    if let Err(error) = call(function::SYSTEM_OFF, 0, 0, 0) {
        crate::println!("PSCI SYSTEM_OFF failed ({error:?}): vCPU parked");
    }
    cpu::park()
}

/// `SYSTEM_RESET`: restarts the partition (on bare QEMU: the machine). Parks the vCPU if the
/// call fails or no conduit is known.
pub fn system_reset() -> ! {
    if let Err(error) = call(function::SYSTEM_RESET, 0, 0, 0) {
        crate::println!("PSCI SYSTEM_RESET failed ({error:?}): vCPU parked");
    }
    cpu::park()
}

/// One SMC Calling Convention call (Arm DEN0028): function ID in w0, arguments in x1-x3,
/// result in x0.
fn call(function: u32, argument1: u64, argument2: u64, argument3: u64) -> Result<u64, PsciError> {
    let result: u64;
    match conduit() {
        None => return Err(PsciError::NoConduit),
        // SAFETY: an SMCCC call touches no memory of the caller and preserves x18-x30 and sp;
        // SMCCC v1.0 lets it change x0-x17, all declared as outputs here. The PSCI functions
        // used either return or never return (SYSTEM_OFF, CPU_OFF), both of which Rust handles.
        Some(Conduit::Hvc) => unsafe {
            asm!(
                "hvc #0",
                inout("x0") u64::from(function) => result,
                inout("x1") argument1 => _,
                inout("x2") argument2 => _,
                inout("x3") argument3 => _,
                out("x4") _, out("x5") _, out("x6") _, out("x7") _,
                out("x8") _, out("x9") _, out("x10") _, out("x11") _,
                out("x12") _, out("x13") _, out("x14") _, out("x15") _,
                out("x16") _, out("x17") _,
                options(nostack),
            )
        },
        // SAFETY: as for the hvc arm above; only the instruction differs.
        Some(Conduit::Smc) => unsafe {
            asm!(
                "smc #0",
                inout("x0") u64::from(function) => result,
                inout("x1") argument1 => _,
                inout("x2") argument2 => _,
                inout("x3") argument3 => _,
                out("x4") _, out("x5") _, out("x6") _, out("x7") _,
                out("x8") _, out("x9") _, out("x10") _, out("x11") _,
                out("x12") _, out("x13") _, out("x14") _, out("x15") _,
                out("x16") _, out("x17") _,
                options(nostack),
            )
        },
    }
    // PSCI returns a signed 32-bit status in w0.
    match result as u32 as i32 {
        status if status >= 0 => Ok(result),
        -1 => Err(PsciError::NotSupported),
        -2 => Err(PsciError::InvalidParameters),
        -3 => Err(PsciError::Denied),
        -4 => Err(PsciError::AlreadyOn),
        -5 => Err(PsciError::OnPending),
        -6 => Err(PsciError::InternalFailure),
        -7 => Err(PsciError::NotPresent),
        -8 => Err(PsciError::Disabled),
        -9 => Err(PsciError::InvalidAddress),
        status => Err(PsciError::Unknown(status)),
    }
}
