//! PSCI 1.1 (Arm DEN0022) and the SMCCC 1.1 discovery calls (Arm DEN0028), emulated for
//! one partition.
//!
//! A partition's PSCI never reaches the machine's firmware: `CPU_ON` wakes one of the
//! partition's own vCPUs, `SYSTEM_OFF` and `SYSTEM_RESET` stop or restart the partition,
//! not the board. This module keeps the vCPUs' power states and decides; the caller (the
//! EL2 trap handler) carries out what [`PsciOutcome`] says.
//!
//! The guest names vCPUs by virtual MPIDR: Aff0 is the vCPU index and Aff1–Aff3 are 0.
//!
//! Decisions where the specification leaves room:
//! - `CPU_SUSPEND` treats every requested state, powerdown included, as standby: the vCPU
//!   waits for an interrupt like WFI and the call returns `SUCCESS` with all registers
//!   kept, which DEN0022 allows for powerdown requests (KVM does the same). Its
//!   `PSCI_FEATURES` flags report the original `power_state` format without OS-initiated
//!   mode.
//! - `CPU_OFF` of the last running vCPU is allowed (DEN0022 reserves `DENIED` for a
//!   resident Trusted OS): the partition is then wholly off, which
//!   [`PsciPartition::is_all_off`] tells the caller.
//! - `MIGRATE_INFO_TYPE` returns 2 (no Trusted OS needing migration), so `MIGRATE` and
//!   `MIGRATE_INFO_UP_CPU` are not implemented.
//! - `AFFINITY_INFO` supports lowest affinity level 0 only, as DEN0022 permits from 1.0 on.
//! - `SMCCC_ARCH_FEATURES` reports only itself and `SMCCC_VERSION` (as Trusted Firmware-A
//!   does); no `SMCCC_ARCH_WORKAROUND_*` is offered.
//! - Anything else returns `NOT_SUPPORTED`, which is also SMCCC's "unknown function".

pub mod function_id;

#[cfg(test)]
mod tests;

use crate::addr::{Ipa, MemoryRegion};
use crate::layout::MAX_VCPUS_PER_PARTITION;

/// PSCI and SMCCC return codes (DEN0022 §5.2.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i32)]
pub enum ReturnCode {
    /// The call succeeded.
    Success = 0,
    /// The function is not implemented.
    NotSupported = -1,
    /// A parameter is invalid.
    InvalidParameters = -2,
    /// The call is not permitted.
    Denied = -3,
    /// `CPU_ON`: the target is already on.
    AlreadyOn = -4,
    /// `CPU_ON`: the target is already being turned on.
    OnPending = -5,
    /// The implementation failed.
    InternalFailure = -6,
    /// The target is not present.
    NotPresent = -7,
    /// The function is disabled.
    Disabled = -8,
    /// An address parameter is invalid.
    InvalidAddress = -9,
}

impl ReturnCode {
    /// The value to write to `x0`: the code sign-extended to 64 bits, which an SMC32 caller
    /// reads as the same negative 32-bit value in `w0`.
    pub const fn register_value(self) -> u64 {
        // Two's complement of the magnitude: the 64-bit pattern of the negative code.
        0_u64.wrapping_sub((self as i32).unsigned_abs() as u64)
    }
}

/// `PSCI_VERSION` result: major 1 in bits [30:16], minor 1 in bits [15:0].
pub const PSCI_VERSION_1_1: u64 = 0x0001_0001;
/// `SMCCC_VERSION` result for SMCCC 1.1, encoded the same way.
pub const SMCCC_VERSION_1_1: u64 = 0x0001_0001;
/// Size and alignment of an A64 instruction: what a `CPU_ON` entry point must be.
const INSTRUCTION_SIZE: u64 = 4;
/// `MIGRATE_INFO_TYPE` result: a Trusted OS is not present or needs no migration.
const MIGRATE_INFO_TYPE_NOT_PRESENT: u64 = 2;

/// Reserved bits of the original-format `power_state` of `CPU_SUSPEND`: [31:26] and
/// [23:17] (DEN0022 §5.4.2).
const POWER_STATE_RESERVED: u32 = (0x3f << 26) | (0x7f << 17);

/// A vCPU's power state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PowerState {
    /// Running (or suspended in standby).
    On,
    /// Off: its core is parked and only `CPU_ON` wakes it.
    Off,
    /// `CPU_ON` succeeded; the vCPU has not started running yet.
    OnPending,
}

impl PowerState {
    /// The `AFFINITY_INFO` result for this state.
    pub const fn affinity_info(self) -> u64 {
        match self {
            PowerState::On => 0,
            PowerState::Off => 1,
            PowerState::OnPending => 2,
        }
    }
}

/// What the caller must do after a PSCI or SMCCC call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PsciOutcome {
    /// Write this value to the caller's `x0` and resume it.
    Return(u64),
    /// `CPU_SUSPEND`: write `SUCCESS` (0) to `x0`, then hold the caller as for a trapped WFI
    /// until an interrupt is pending for it.
    WaitForInterrupt,
    /// `CPU_ON` accepted: write `SUCCESS` (0) to the caller's `x0`, resume it, and start
    /// `vcpu` on its core at `entry` with `x0 = context_id`, in the initial state DEN0022
    /// §6.4 describes (EL1h, DAIF masked, MMU and caches off). Call
    /// [`PsciPartition::vcpu_started`] when it runs.
    StartVcpu {
        /// Index of the vCPU to start.
        vcpu: usize,
        /// Where it starts.
        entry: Ipa,
        /// What it finds in `x0`.
        context_id: u64,
    },
    /// `CPU_OFF`: park the caller's core; the vCPU is off. Nothing returns to the caller.
    StopCaller,
    /// `SYSTEM_OFF`: stop every vCPU of the partition (the board stays on).
    PartitionOff,
    /// `SYSTEM_RESET`: restart the partition from its image, calling
    /// [`PsciPartition::reset`].
    PartitionReset,
}

/// Why a power-state operation was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PsciStateError {
    /// A partition needs 1 to [`MAX_VCPUS_PER_PARTITION`] vCPUs.
    InvalidVcpuCount {
        /// The count asked for.
        count: usize,
    },
    /// The partition has no vCPU with this index.
    NoSuchVcpu {
        /// The index given.
        vcpu: usize,
    },
    /// The vCPU was not waiting to start.
    NotPending {
        /// The vCPU.
        vcpu: usize,
        /// Its state.
        state: PowerState,
    },
}

/// The power states of one partition's vCPUs and the PSCI calls that change them.
// [impl->dsn~psci-partition~1]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PsciPartition {
    /// Power state of each vCPU; entries from `vcpu_count` on are unused and stay `Off`.
    states: [PowerState; MAX_VCPUS_PER_PARTITION],
    /// vCPUs the partition has.
    vcpu_count: usize,
}

impl PsciPartition {
    /// A partition of `vcpu_count` vCPUs, in the state [`reset`](Self::reset) gives.
    pub const fn new(vcpu_count: usize) -> Result<Self, PsciStateError> {
        if vcpu_count == 0 || vcpu_count > MAX_VCPUS_PER_PARTITION {
            return Err(PsciStateError::InvalidVcpuCount { count: vcpu_count });
        }
        let mut partition = Self { states: [PowerState::Off; MAX_VCPUS_PER_PARTITION], vcpu_count };
        partition.states[0] = PowerState::On;
        Ok(partition)
    }

    /// The state at partition (re)start: vCPU 0 on, the others off.
    pub fn reset(&mut self) {
        self.states = [PowerState::Off; MAX_VCPUS_PER_PARTITION];
        self.states[0] = PowerState::On;
    }

    /// Number of vCPUs.
    pub const fn vcpu_count(&self) -> usize {
        self.vcpu_count
    }

    /// The power state of `vcpu`, if it exists.
    pub fn power_state(&self, vcpu: usize) -> Option<PowerState> {
        self.vcpus().get(vcpu).copied()
    }

    /// Whether every vCPU is off.
    pub fn is_all_off(&self) -> bool {
        self.vcpus().iter().all(|state| *state == PowerState::Off)
    }

    /// Records that `vcpu`, started after [`PsciOutcome::StartVcpu`], now runs.
    pub fn vcpu_started(&mut self, vcpu: usize) -> Result<(), PsciStateError> {
        let state = self.state_mut(vcpu).ok_or(PsciStateError::NoSuchVcpu { vcpu })?;
        match *state {
            PowerState::OnPending => {
                *state = PowerState::On;
                Ok(())
            }
            found @ (PowerState::On | PowerState::Off) => {
                Err(PsciStateError::NotPending { vcpu, state: found })
            }
        }
    }

    /// [`Self::handle_in`] for a partition whose executable RAM is the one region `ram`.
    pub fn handle(
        &mut self,
        caller_vcpu: usize,
        function_id: u64,
        args: [u64; 3],
        ram: &MemoryRegion,
    ) -> PsciOutcome {
        self.handle_in(caller_vcpu, function_id, args, core::slice::from_ref(ram))
    }

    /// Handles a PSCI or SMCCC call from vCPU `caller_vcpu`: `function_id` is the caller's
    /// `x0` (only `w0` counts), `args` its `x1`–`x3`, `executable_ram` the partition's RAM
    /// regions that stage 2 maps executable (where `CPU_ON` entry points must lie).
    ///
    /// SMC32 calls (bit 30 of the ID clear) take 32-bit arguments: the upper halves of
    /// `x1`–`x3` are ignored (SMCCC, "SMC32/HVC32 argument passing").
    pub fn handle_in(
        &mut self,
        caller_vcpu: usize,
        function_id: u64,
        args: [u64; 3],
        executable_ram: &[MemoryRegion],
    ) -> PsciOutcome {
        use self::function_id::*;

        let function = (function_id & 0xffff_ffff) as u32;
        let arguments =
            if function & SMC64 != 0 { args } else { args.map(|arg| arg & 0xffff_ffff) };
        let [first, second, third] = arguments;
        if caller_vcpu >= self.vcpu_count {
            return returned(ReturnCode::InternalFailure);
        }
        if let Some(value) = constant_answer(function_id, first) {
            return PsciOutcome::Return(value);
        }
        match function {
            CPU_SUSPEND_32 | CPU_SUSPEND_64 => cpu_suspend((first & 0xffff_ffff) as u32),
            CPU_OFF => self.cpu_off(caller_vcpu),
            CPU_ON_32 | CPU_ON_64 => self.cpu_on(first, Ipa(second), third, executable_ram),
            AFFINITY_INFO_32 | AFFINITY_INFO_64 => self.affinity_info(first, second),
            SYSTEM_OFF => {
                self.states = [PowerState::Off; MAX_VCPUS_PER_PARTITION];
                PsciOutcome::PartitionOff
            }
            SYSTEM_RESET => PsciOutcome::PartitionReset,
            _ => returned(ReturnCode::NotSupported),
        }
    }

    /// The states of the vCPUs the partition has.
    fn vcpus(&self) -> &[PowerState] {
        self.states.get(..self.vcpu_count).unwrap_or(&[])
    }

    /// The state of `vcpu`, to change, if the partition has it.
    fn state_mut(&mut self, vcpu: usize) -> Option<&mut PowerState> {
        self.states.get_mut(..self.vcpu_count).and_then(|states| states.get_mut(vcpu))
    }

    /// The vCPU a PSCI `target_cpu` names: its Aff0 is the vCPU index and every other bit
    /// is 0, so the whole value is the index.
    fn vcpu_of(&self, target_cpu: u64) -> Option<usize> {
        let vcpu = usize::try_from(target_cpu).ok()?;
        (vcpu < self.vcpu_count).then_some(vcpu)
    }

    /// `CPU_OFF` from `caller_vcpu` (which the caller checked exists).
    fn cpu_off(&mut self, caller_vcpu: usize) -> PsciOutcome {
        match self.state_mut(caller_vcpu) {
            Some(state) => {
                *state = PowerState::Off;
                PsciOutcome::StopCaller
            }
            None => returned(ReturnCode::InternalFailure),
        }
    }

    /// `CPU_ON`: checks the target, its state and the entry point, in that order.
    ///
    /// The entry point must be a whole instruction the vCPU can execute: 4-byte aligned
    /// (A64 instructions are; DEN0022 §5.6: `INVALID_ADDRESS` for an invalid entry point)
    /// and inside one executable RAM region. A vCPU started anywhere else would only fault
    /// at once, with `VBAR_EL1` still 0: the nested-fault loop of issue 14.
    fn cpu_on(
        &mut self,
        target_cpu: u64,
        entry: Ipa,
        context_id: u64,
        executable_ram: &[MemoryRegion],
    ) -> PsciOutcome {
        let executable = entry.is_aligned(INSTRUCTION_SIZE)
            && executable_ram.iter().any(|region| region.contains_ipa(entry, INSTRUCTION_SIZE));
        let Some(vcpu) = self.vcpu_of(target_cpu) else {
            return returned(ReturnCode::InvalidParameters);
        };
        let Some(state) = self.state_mut(vcpu) else {
            return returned(ReturnCode::InvalidParameters);
        };
        match *state {
            PowerState::On => returned(ReturnCode::AlreadyOn),
            PowerState::OnPending => returned(ReturnCode::OnPending),
            PowerState::Off if !executable => returned(ReturnCode::InvalidAddress),
            PowerState::Off => {
                *state = PowerState::OnPending;
                PsciOutcome::StartVcpu { vcpu, entry, context_id }
            }
        }
    }

    /// `AFFINITY_INFO` for one vCPU (lowest affinity level 0).
    fn affinity_info(&self, target_affinity: u64, lowest_affinity_level: u64) -> PsciOutcome {
        let state = self.vcpu_of(target_affinity).and_then(|vcpu| self.power_state(vcpu));
        match (lowest_affinity_level, state) {
            (0, Some(found)) => PsciOutcome::Return(found.affinity_info()),
            _ => returned(ReturnCode::InvalidParameters),
        }
    }
}

/// SMCCC owning entity of the vendor-specific hypervisor services (Arm DEN0028): Bulkhead's
/// own calls.
pub const VENDOR_HYPERVISOR_OWNER: u32 = 6;

/// The answer to a call whose result depends on no partition state (the version and
/// feature queries, and every function this model does not implement), or `None` for a call
/// that needs [`PsciPartition::handle`]. The trap handler answers these before taking any
/// lock; `handle` gives the same answers, so the two can never disagree.
///
/// `first_argument` is `x1`; the queries take a 32-bit function ID there.
// [impl->dsn~psci-partition~1]
pub const fn constant_answer(function_id: u64, first_argument: u64) -> Option<u64> {
    use self::function_id::*;
    let queried = (first_argument & 0xffff_ffff) as u32;
    let function = (function_id & 0xffff_ffff) as u32;
    // SMCCC owning entity (function ID bits 29:24, Arm DEN0028 "Function Identifier"): every
    // call served here belongs to the Arm Architecture (0) or the Standard Secure Service
    // (4, PSCI); the vendor hypervisor's (6) are Bulkhead's own services (the display
    // mediator), which need the caller's partition; any other owner (SiP, OEM, trusted OS) is
    // refused at once.
    if function == SMCCC_VERSION {
        // The discovery call every SMCCC 1.1 caller makes (Linux on every boot and CPU) first.
        return Some(SMCCC_VERSION_1_1);
    }
    let owner = (function >> 24) & 0x3f;
    if !matches!(owner, 0 | 4) {
        return if owner == VENDOR_HYPERVISOR_OWNER { None } else { Some(ReturnCode::NotSupported.register_value()) };
    }
    match function {
        PSCI_VERSION => Some(PSCI_VERSION_1_1),
        MIGRATE_INFO_TYPE => Some(MIGRATE_INFO_TYPE_NOT_PRESENT),
        PSCI_FEATURES => Some(psci_features(queried).register_value()),
        SMCCC_ARCH_FEATURES => Some(smccc_arch_features(queried).register_value()),
        CPU_SUSPEND_32 | CPU_SUSPEND_64 | CPU_OFF | CPU_ON_32 | CPU_ON_64 | AFFINITY_INFO_32 | AFFINITY_INFO_64
        | SYSTEM_OFF | SYSTEM_RESET => None,
        _ => Some(ReturnCode::NotSupported.register_value()),
    }
}

/// The outcome returning `code` to the caller.
fn returned(code: ReturnCode) -> PsciOutcome {
    PsciOutcome::Return(code.register_value())
}

/// `CPU_SUSPEND`: every valid `power_state` is handled as standby.
fn cpu_suspend(power_state: u32) -> PsciOutcome {
    if power_state & POWER_STATE_RESERVED != 0 {
        returned(ReturnCode::InvalidParameters)
    } else {
        PsciOutcome::WaitForInterrupt
    }
}

/// `PSCI_FEATURES`: `SUCCESS` for every implemented PSCI function and for `SMCCC_VERSION`
/// (SMCCC 1.1 callers look for it here first). For `CPU_SUSPEND` the result is its feature
/// flags, all 0: original `power_state` format, platform-coordinated mode only.
const fn psci_features(queried: u32) -> ReturnCode {
    use self::function_id::*;
    match queried {
        PSCI_VERSION | CPU_SUSPEND_32 | CPU_SUSPEND_64 | CPU_OFF | CPU_ON_32 | CPU_ON_64
        | AFFINITY_INFO_32 | AFFINITY_INFO_64 | MIGRATE_INFO_TYPE | SYSTEM_OFF | SYSTEM_RESET
        | PSCI_FEATURES | SMCCC_VERSION => ReturnCode::Success,
        _ => ReturnCode::NotSupported,
    }
}

/// `SMCCC_ARCH_FEATURES`: of the Arm Architecture Calls only the two discovery calls exist.
const fn smccc_arch_features(queried: u32) -> ReturnCode {
    match queried {
        function_id::SMCCC_VERSION | function_id::SMCCC_ARCH_FEATURES => ReturnCode::Success,
        _ => ReturnCode::NotSupported,
    }
}
