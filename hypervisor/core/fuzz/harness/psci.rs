//! `psci`: PSCI and SMCCC calls with any function ID and arguments from any vCPU, and the
//! image's `vcpu_started`/`reset` calls, against one partition's power-state machine.
//!
//! Input: a setup (vCPU count, RAM placement), then records of an operation byte, the
//! calling vCPU, a 32-bit function selector and three 64-bit arguments. Invariants:
//! `x0` bits [63:32] never change a call, nor do argument bits [63:32] of an SMC32 call;
//! a caller the partition does not have gets `INTERNAL_FAILURE` and changes nothing; an
//! unknown function gets `NOT_SUPPORTED` and changes nothing; every returned value is a
//! PSCI return code or a defined result; `CPU_ON` starts only an off vCPU of the partition,
//! at an entry point inside its RAM, with the caller's context ID, and leaves it pending
//! until `vcpu_started`; `CPU_OFF` stops exactly the caller; `SYSTEM_OFF` stops all;
//! no other call changes a power state; `AFFINITY_INFO` reports the state the model holds.

use bulkhead_core::addr::{Ipa, MemoryRegion, PhysAddr};
use bulkhead_core::layout::MAX_VCPUS_PER_PARTITION;
use bulkhead_core::psci::function_id::*;
use bulkhead_core::psci::{PSCI_VERSION_1_1, PowerState, PsciOutcome, PsciPartition, ReturnCode, SMCCC_VERSION_1_1};

use super::Input;

/// Every function ID the partition implements or names.
const KNOWN: [u32; 19] = [
    PSCI_VERSION,
    CPU_SUSPEND_32,
    CPU_SUSPEND_64,
    CPU_OFF,
    CPU_ON_32,
    CPU_ON_64,
    AFFINITY_INFO_32,
    AFFINITY_INFO_64,
    MIGRATE_32,
    MIGRATE_INFO_TYPE,
    SYSTEM_OFF,
    SYSTEM_RESET,
    PSCI_FEATURES,
    SYSTEM_SUSPEND_64,
    SYSTEM_RESET2_64,
    SMCCC_VERSION,
    SMCCC_ARCH_FEATURES,
    SMCCC_ARCH_WORKAROUND_1,
    0x8400_0007,
];

/// The implemented ones: anything else must be `NOT_SUPPORTED`.
const IMPLEMENTED: &[u32] = &[
    PSCI_VERSION,
    CPU_SUSPEND_32,
    CPU_SUSPEND_64,
    CPU_OFF,
    CPU_ON_32,
    CPU_ON_64,
    AFFINITY_INFO_32,
    AFFINITY_INFO_64,
    MIGRATE_INFO_TYPE,
    SYSTEM_OFF,
    SYSTEM_RESET,
    PSCI_FEATURES,
    SMCCC_VERSION,
    SMCCC_ARCH_FEATURES,
];

/// Every value a `Return` may carry.
fn is_defined_result(value: u64) -> bool {
    let codes = [
        ReturnCode::Success,
        ReturnCode::NotSupported,
        ReturnCode::InvalidParameters,
        ReturnCode::Denied,
        ReturnCode::AlreadyOn,
        ReturnCode::OnPending,
        ReturnCode::InternalFailure,
        ReturnCode::NotPresent,
        ReturnCode::Disabled,
        ReturnCode::InvalidAddress,
    ];
    codes.iter().any(|code| code.register_value() == value) || [1, 2, PSCI_VERSION_1_1, SMCCC_VERSION_1_1].contains(&value)
}

fn states(partition: &PsciPartition) -> Vec<Option<PowerState>> {
    (0..=MAX_VCPUS_PER_PARTITION).map(|vcpu| partition.power_state(vcpu)).collect()
}

/// Runs one input.
pub fn run(data: &[u8]) {
    let mut input = Input::new(data);
    let (Some(count), Some(ram_page), Some(ram_size)) = (input.u8(), input.u32(), input.u16()) else { return };
    let vcpu_count = usize::from(count) % (MAX_VCPUS_PER_PARTITION + 2);
    let Ok(mut partition) = PsciPartition::new(vcpu_count) else {
        assert!(vcpu_count == 0 || vcpu_count > MAX_VCPUS_PER_PARTITION, "{vcpu_count} vCPUs refused");
        return;
    };
    let ram = MemoryRegion {
        ipa: Ipa(u64::from(ram_page) << 12),
        phys: PhysAddr(0x8000_0000),
        size: u64::from(ram_size) << 16,
    };
    // BOUND: each iteration consumes 30 bytes of the input.
    while let (Some(operation), Some(caller), Some(selector), Some(a), Some(b), Some(c)) =
        (input.u8(), input.u8(), input.u32(), input.u64(), input.u64(), input.u64())
    {
        let before = partition.clone();
        match operation & 0x0f {
            0x0e => {
                let vcpu = usize::from(caller) % (MAX_VCPUS_PER_PARTITION + 1);
                let started = partition.vcpu_started(vcpu);
                assert_eq!(started.is_ok(), before.power_state(vcpu) == Some(PowerState::OnPending));
                if started.is_ok() {
                    assert_eq!(partition.power_state(vcpu), Some(PowerState::On));
                } else {
                    assert_eq!(partition, before, "a refused vcpu_started changed the state");
                }
            }
            0x0f => {
                partition.reset();
                assert_eq!(partition, PsciPartition::new(vcpu_count).expect("valid count"), "reset state");
            }
            _ => {
                let function = if operation & 0x10 != 0 { KNOWN[selector as usize % KNOWN.len()] } else { selector };
                let upper = if operation & 0x20 != 0 { a & !0xffff_ffff } else { 0 };
                // Entry points near the RAM, so CPU_ON gets past its address check often.
                let entry = if operation & 0x40 != 0 { ram.ipa.raw().wrapping_add(b % (ram.size + 8)) } else { b };
                let target = if operation & 0x80 != 0 { a % 10 } else { a };
                call(&mut partition, &ram, usize::from(caller) % 10, u64::from(function) | upper, [target, entry, c]);
            }
        }
        assert_eq!(partition.vcpu_count(), vcpu_count);
        for vcpu in 0..=MAX_VCPUS_PER_PARTITION {
            assert_eq!(partition.power_state(vcpu).is_some(), vcpu < vcpu_count, "vCPU {vcpu} existence");
        }
    }
}

fn call(partition: &mut PsciPartition, ram: &MemoryRegion, caller: usize, function_id: u64, args: [u64; 3]) {
    let before = partition.clone();
    let outcome = partition.handle(caller, function_id, args, ram);
    let function = (function_id & 0xffff_ffff) as u32;
    let smc64 = function & SMC64 != 0;
    let arguments = if smc64 { args } else { args.map(|arg| arg & 0xffff_ffff) };

    let mut twin = before.clone();
    assert_eq!(twin.handle(caller, u64::from(function), arguments, ram), outcome, "x0[63:32] or SMC32 argument bits [63:32] changed {function:#x}");
    assert_eq!(twin, *partition);

    if caller >= before.vcpu_count() {
        assert_eq!(outcome, PsciOutcome::Return(ReturnCode::InternalFailure.register_value()));
        assert_eq!(*partition, before, "a call from a missing vCPU changed the state");
        return;
    }
    if !IMPLEMENTED.contains(&function) {
        assert_eq!(outcome, PsciOutcome::Return(ReturnCode::NotSupported.register_value()), "{function:#x}");
        assert_eq!(*partition, before, "unknown function {function:#x} changed the state");
        return;
    }
    let [first, second, third] = arguments;
    match outcome {
        PsciOutcome::Return(value) => {
            assert!(is_defined_result(value), "{function:#x} returned {value:#x}");
            assert_eq!(*partition, before, "{function:#x} returned {value:#x} and changed the state");
            if matches!(function, AFFINITY_INFO_32 | AFFINITY_INFO_64) && second == 0 {
                if let Some(state) = usize::try_from(first).ok().and_then(|vcpu| before.power_state(vcpu)) {
                    assert_eq!(value, state.affinity_info(), "AFFINITY_INFO of vCPU {first}");
                }
            }
            if matches!(function, CPU_ON_32 | CPU_ON_64) {
                let target = usize::try_from(first).ok().and_then(|vcpu| before.power_state(vcpu));
                let good_entry = ram.contains_ipa(Ipa(second), 4) && second % 4 == 0;
                assert!(
                    !(target == Some(PowerState::Off) && good_entry),
                    "CPU_ON of off vCPU {first} at {second:#x} (aligned, in RAM) refused with {value:#x}"
                );
            }
        }
        PsciOutcome::StartVcpu { vcpu, entry, context_id } => {
            assert!(matches!(function, CPU_ON_32 | CPU_ON_64), "{function:#x} started a vCPU");
            assert_eq!(u64::try_from(vcpu).ok(), Some(first), "CPU_ON started another vCPU");
            assert_eq!(before.power_state(vcpu), Some(PowerState::Off), "CPU_ON started a vCPU that was not off");
            assert_eq!(partition.power_state(vcpu), Some(PowerState::OnPending));
            assert!(ram.contains_ipa(entry, 4), "CPU_ON entry {:#x} outside RAM", entry.raw());
            assert_eq!((entry.raw(), context_id), (second, third));
            only_changed(&before, partition, Some(vcpu));
        }
        PsciOutcome::StopCaller => {
            assert_eq!(function, CPU_OFF);
            assert_eq!(partition.power_state(caller), Some(PowerState::Off));
            only_changed(&before, partition, Some(caller));
        }
        PsciOutcome::PartitionOff => {
            assert_eq!(function, SYSTEM_OFF);
            assert!(partition.is_all_off());
        }
        PsciOutcome::PartitionReset => {
            assert_eq!(function, SYSTEM_RESET);
            assert_eq!(*partition, before);
        }
        PsciOutcome::WaitForInterrupt => {
            assert!(matches!(function, CPU_SUSPEND_32 | CPU_SUSPEND_64));
            assert_eq!(*partition, before);
        }
    }
}

/// Asserts that no vCPU but `changed` has a new power state.
fn only_changed(before: &PsciPartition, after: &PsciPartition, changed: Option<usize>) {
    for (vcpu, (old, new)) in states(before).into_iter().zip(states(after)).enumerate() {
        if Some(vcpu) != changed {
            assert_eq!(old, new, "vCPU {vcpu} changed state");
        }
    }
}
