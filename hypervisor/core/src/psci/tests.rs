//! Every implemented call and every error path, through [`PsciPartition::handle`].
//!
//! [utest->dsn~psci-partition~1]

use super::function_id::*;
use super::*;
use crate::addr::PhysAddr;

const RAM: MemoryRegion =
    MemoryRegion { ipa: Ipa(0x4000_0000), phys: PhysAddr(0x8000_0000), size: 0x0100_0000 };
const ENTRY: u64 = 0x4008_0000;

fn code(code: ReturnCode) -> PsciOutcome {
    PsciOutcome::Return(code.register_value())
}

fn call(
    partition: &mut PsciPartition,
    caller: usize,
    function: u32,
    args: [u64; 3],
) -> PsciOutcome {
    partition.handle(caller, function as u64, args, &RAM)
}

fn affinity_info(partition: &mut PsciPartition, vcpu: u64) -> PsciOutcome {
    call(partition, 0, AFFINITY_INFO_64, [vcpu, 0, 0])
}

#[test]
fn return_codes_have_the_values_of_the_specification() {
    let codes = [
        (ReturnCode::Success, 0),
        (ReturnCode::NotSupported, -1),
        (ReturnCode::InvalidParameters, -2),
        (ReturnCode::Denied, -3),
        (ReturnCode::AlreadyOn, -4),
        (ReturnCode::OnPending, -5),
        (ReturnCode::InternalFailure, -6),
        (ReturnCode::NotPresent, -7),
        (ReturnCode::Disabled, -8),
        (ReturnCode::InvalidAddress, -9),
    ];
    for (code, value) in codes {
        assert_eq!(code.register_value(), value as u64, "{code:?}");
        assert_eq!(code.register_value() as u32 as i32, value, "{code:?} as read from w0");
    }
}

#[test]
fn versions_are_psci_1_1_and_smccc_1_1() {
    let mut partition = PsciPartition::new(2).unwrap();
    assert_eq!(call(&mut partition, 0, PSCI_VERSION, [0; 3]), PsciOutcome::Return(0x0001_0001));
    assert_eq!(call(&mut partition, 1, SMCCC_VERSION, [0; 3]), PsciOutcome::Return(0x0001_0001));
}

#[test]
fn cpu_on_goes_through_on_pending_on_off_and_on_again() {
    let mut partition = PsciPartition::new(2).unwrap();
    assert_eq!(affinity_info(&mut partition, 1), PsciOutcome::Return(1), "OFF at start");

    let started = call(&mut partition, 0, CPU_ON_64, [1, ENTRY, 0xc0ffee]);
    assert_eq!(
        started,
        PsciOutcome::StartVcpu { vcpu: 1, entry: Ipa(ENTRY), context_id: 0xc0ffee }
    );
    assert_eq!(partition.power_state(1), Some(PowerState::OnPending));
    assert_eq!(affinity_info(&mut partition, 1), PsciOutcome::Return(2), "ON_PENDING");
    assert_eq!(call(&mut partition, 0, CPU_ON_64, [1, ENTRY, 0]), code(ReturnCode::OnPending));

    partition.vcpu_started(1).unwrap();
    assert_eq!(affinity_info(&mut partition, 1), PsciOutcome::Return(0), "ON");
    assert_eq!(call(&mut partition, 0, CPU_ON_64, [1, ENTRY, 0]), code(ReturnCode::AlreadyOn));

    assert_eq!(call(&mut partition, 1, CPU_OFF, [0; 3]), PsciOutcome::StopCaller);
    assert_eq!(affinity_info(&mut partition, 1), PsciOutcome::Return(1), "OFF again");
    assert!(!partition.is_all_off());

    let restarted = call(&mut partition, 0, CPU_ON_64, [1, ENTRY + 0x100, 7]);
    assert_eq!(
        restarted,
        PsciOutcome::StartVcpu { vcpu: 1, entry: Ipa(ENTRY + 0x100), context_id: 7 }
    );
}

#[test]
fn cpu_on_of_the_caller_itself_is_already_on() {
    let mut partition = PsciPartition::new(4).unwrap();
    assert_eq!(call(&mut partition, 0, CPU_ON_64, [0, ENTRY, 0]), code(ReturnCode::AlreadyOn));
}

#[test]
fn cpu_on_of_a_vcpu_the_partition_does_not_have_is_invalid() {
    let mut partition = PsciPartition::new(2).unwrap();
    // Aff0 beyond the vCPUs, Aff1 set, Aff3 set, a high bit set.
    for target in [2, 0x100, 0x1_0000_0001, 1 << 63] {
        assert_eq!(
            call(&mut partition, 0, CPU_ON_64, [target, ENTRY, 0]),
            code(ReturnCode::InvalidParameters),
            "target {target:#x}"
        );
    }
}

#[test]
fn cpu_on_with_an_entry_point_outside_ram_is_an_invalid_address() {
    let mut partition = PsciPartition::new(2).unwrap();
    let ram_end = RAM.ipa.raw() + RAM.size;
    for entry in [0, RAM.ipa.raw() - 4, ram_end, ram_end - 2, 0x0900_0000] {
        assert_eq!(
            call(&mut partition, 0, CPU_ON_64, [1, entry, 0]),
            code(ReturnCode::InvalidAddress),
            "entry {entry:#x}"
        );
    }
    assert_eq!(partition.power_state(1), Some(PowerState::Off));
    assert!(matches!(
        call(&mut partition, 0, CPU_ON_64, [1, ram_end - 4, 0]),
        PsciOutcome::StartVcpu { .. }
    ));
}

#[test]
fn smc32_calls_ignore_the_upper_halves_of_their_arguments() {
    let mut partition = PsciPartition::new(2).unwrap();
    let args = [0xdead_beef_0000_0001, 0xffff_ffff_0000_0000 | ENTRY, 0x1234_5678_9abc_def0];
    assert_eq!(call(&mut partition, 0, CPU_ON_64, args), code(ReturnCode::InvalidParameters));
    assert_eq!(
        call(&mut partition, 0, CPU_ON_32, args),
        PsciOutcome::StartVcpu { vcpu: 1, entry: Ipa(ENTRY), context_id: 0x9abc_def0 }
    );
    assert_eq!(
        call(&mut partition, 0, AFFINITY_INFO_32, [0xffff_ffff_0000_0001, 0x1_0000_0000, 0]),
        PsciOutcome::Return(2)
    );
    assert_eq!(
        call(&mut partition, 0, PSCI_FEATURES, [0xffff_ffff_0000_0000 | CPU_OFF as u64, 0, 0]),
        code(ReturnCode::Success)
    );
}

#[test]
fn only_w0_selects_the_function() {
    let mut partition = PsciPartition::new(1).unwrap();
    let outcome = partition.handle(0, 0xffff_ffff_0000_0000 | PSCI_VERSION as u64, [0; 3], &RAM);
    assert_eq!(outcome, PsciOutcome::Return(PSCI_VERSION_1_1));
}

#[test]
fn cpu_off_of_the_last_running_vcpu_leaves_the_partition_all_off() {
    let mut partition = PsciPartition::new(2).unwrap();
    assert_eq!(call(&mut partition, 0, CPU_OFF, [0; 3]), PsciOutcome::StopCaller);
    assert_eq!(partition.power_state(0), Some(PowerState::Off));
    assert!(partition.is_all_off());
}

#[test]
fn affinity_info_supports_level_0_only_and_existing_vcpus() {
    let mut partition = PsciPartition::new(2).unwrap();
    assert_eq!(call(&mut partition, 0, AFFINITY_INFO_64, [0, 0, 0]), PsciOutcome::Return(0));
    assert_eq!(
        call(&mut partition, 0, AFFINITY_INFO_32, [0, 1, 0]),
        code(ReturnCode::InvalidParameters)
    );
    assert_eq!(
        call(&mut partition, 0, AFFINITY_INFO_64, [2, 0, 0]),
        code(ReturnCode::InvalidParameters)
    );
}

#[test]
fn cpu_suspend_waits_for_an_interrupt_for_standby_and_powerdown_alike() {
    let mut partition = PsciPartition::new(1).unwrap();
    let standby = 0x0000_0001;
    let powerdown = (1 << 16) | 0x0002;
    let cluster_powerdown = (1 << 24) | (1 << 16);
    for power_state in [standby, powerdown, cluster_powerdown] {
        assert_eq!(
            call(&mut partition, 0, CPU_SUSPEND_32, [power_state, ENTRY, 0]),
            PsciOutcome::WaitForInterrupt
        );
        assert_eq!(
            call(&mut partition, 0, CPU_SUSPEND_64, [power_state, ENTRY, 0]),
            PsciOutcome::WaitForInterrupt
        );
    }
    assert_eq!(partition.power_state(0), Some(PowerState::On));
}

#[test]
fn cpu_suspend_with_reserved_power_state_bits_is_invalid() {
    let mut partition = PsciPartition::new(1).unwrap();
    for power_state in [1 << 17, 1 << 23, 1 << 26, 1 << 31] {
        assert_eq!(
            call(&mut partition, 0, CPU_SUSPEND_64, [power_state, 0, 0]),
            code(ReturnCode::InvalidParameters),
            "power_state {power_state:#x}"
        );
    }
}

#[test]
fn migrate_info_type_says_no_trusted_os_needs_migrating() {
    let mut partition = PsciPartition::new(1).unwrap();
    assert_eq!(call(&mut partition, 0, MIGRATE_INFO_TYPE, [0; 3]), PsciOutcome::Return(2));
}

#[test]
fn system_off_and_reset_concern_the_partition() {
    let mut partition = PsciPartition::new(2).unwrap();
    assert_eq!(call(&mut partition, 0, SYSTEM_RESET, [0; 3]), PsciOutcome::PartitionReset);
    assert_eq!(call(&mut partition, 0, SYSTEM_OFF, [0; 3]), PsciOutcome::PartitionOff);
    assert!(partition.is_all_off());
}

#[test]
fn psci_features_reports_exactly_the_implemented_functions() {
    let mut partition = PsciPartition::new(1).unwrap();
    let implemented = [
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
    ];
    for function in implemented {
        assert_eq!(
            call(&mut partition, 0, PSCI_FEATURES, [function as u64, 0, 0]),
            code(ReturnCode::Success),
            "{function:#x}"
        );
    }
    for function in
        [MIGRATE_32, SYSTEM_SUSPEND_64, SYSTEM_RESET2_64, SMCCC_ARCH_FEATURES, 0x8400_00ff]
    {
        assert_eq!(
            call(&mut partition, 0, PSCI_FEATURES, [function as u64, 0, 0]),
            code(ReturnCode::NotSupported),
            "{function:#x}"
        );
    }
}

#[test]
fn smccc_arch_features_offers_no_workarounds() {
    let mut partition = PsciPartition::new(1).unwrap();
    let features = |partition: &mut PsciPartition, function: u32| {
        call(partition, 0, SMCCC_ARCH_FEATURES, [function as u64, 0, 0])
    };
    assert_eq!(features(&mut partition, SMCCC_ARCH_WORKAROUND_1), code(ReturnCode::NotSupported));
    assert_eq!(features(&mut partition, PSCI_VERSION), code(ReturnCode::NotSupported));
    assert_eq!(features(&mut partition, SMCCC_VERSION), code(ReturnCode::Success));
    assert_eq!(features(&mut partition, SMCCC_ARCH_FEATURES), code(ReturnCode::Success));
}

#[test]
fn unknown_function_ids_are_not_supported() {
    let mut partition = PsciPartition::new(1).unwrap();
    // MIGRATE, SYSTEM_SUSPEND, SYSTEM_RESET2, the workaround call itself, a SiP call, an
    // OEM call, a yielding call, all ones.
    for function in [
        MIGRATE_32,
        SYSTEM_SUSPEND_64,
        SYSTEM_RESET2_64,
        SMCCC_ARCH_WORKAROUND_1,
        0xC200_0001,
        0x8300_0000,
        0x0400_0000,
        u32::MAX,
    ] {
        assert_eq!(
            call(&mut partition, 0, function, [0; 3]),
            PsciOutcome::Return(u64::MAX),
            "{function:#x}"
        );
    }
    assert_eq!(partition.power_state(0), Some(PowerState::On));
}

#[test]
fn reset_turns_vcpu_0_on_and_the_others_off() {
    let mut partition = PsciPartition::new(3).unwrap();
    call(&mut partition, 0, CPU_ON_64, [1, ENTRY, 0]);
    call(&mut partition, 0, CPU_ON_64, [2, ENTRY, 0]);
    partition.vcpu_started(2).unwrap();
    call(&mut partition, 0, CPU_OFF, [0; 3]);

    partition.reset();
    let states: [_; 3] = core::array::from_fn(|vcpu| partition.power_state(vcpu));
    assert_eq!(states, [Some(PowerState::On), Some(PowerState::Off), Some(PowerState::Off)]);
    assert_eq!(partition, PsciPartition::new(3).unwrap());
}

#[test]
fn partitions_have_1_to_the_maximum_vcpus() {
    assert_eq!(PsciPartition::new(0), Err(PsciStateError::InvalidVcpuCount { count: 0 }));
    let too_many = MAX_VCPUS_PER_PARTITION + 1;
    assert_eq!(
        PsciPartition::new(too_many),
        Err(PsciStateError::InvalidVcpuCount { count: too_many })
    );
    let largest = PsciPartition::new(MAX_VCPUS_PER_PARTITION).unwrap();
    assert_eq!(largest.vcpu_count(), MAX_VCPUS_PER_PARTITION);
    assert_eq!(largest.power_state(MAX_VCPUS_PER_PARTITION - 1), Some(PowerState::Off));
    assert_eq!(largest.power_state(MAX_VCPUS_PER_PARTITION), None);
}

#[test]
fn vcpu_started_accepts_only_pending_vcpus() {
    let mut partition = PsciPartition::new(2).unwrap();
    assert_eq!(
        partition.vcpu_started(1),
        Err(PsciStateError::NotPending { vcpu: 1, state: PowerState::Off })
    );
    assert_eq!(
        partition.vcpu_started(0),
        Err(PsciStateError::NotPending { vcpu: 0, state: PowerState::On })
    );
    assert_eq!(partition.vcpu_started(2), Err(PsciStateError::NoSuchVcpu { vcpu: 2 }));
}

#[test]
fn a_call_from_a_vcpu_the_partition_does_not_have_is_an_internal_failure() {
    let mut partition = PsciPartition::new(2).unwrap();
    assert_eq!(call(&mut partition, 2, CPU_OFF, [0; 3]), code(ReturnCode::InternalFailure));
    assert_eq!(partition.power_state(0), Some(PowerState::On));
}

#[test]
fn cpu_on_with_a_misaligned_entry_point_is_an_invalid_address() {
    // Issue 14: CPU_ON accepted any entry in RAM. An A64 instruction is 4-byte aligned.
    for offset in [1, 2, 3, 0x101, 0x102] {
        let mut partition = PsciPartition::new(2).unwrap();
        let entry = ENTRY + offset;
        assert_eq!(call(&mut partition, 0, CPU_ON_64, [1, entry, 0]), code(ReturnCode::InvalidAddress), "{entry:#x}");
        assert_eq!(partition.power_state(1), Some(PowerState::Off), "a refused CPU_ON changes nothing");
    }
}

#[test]
fn cpu_on_entry_points_are_checked_against_every_executable_region() {
    const SECOND: MemoryRegion =
        MemoryRegion { ipa: Ipa(0x8000_0000), phys: PhysAddr(0x9000_0000), size: 0x1000 };
    let regions = [RAM, SECOND];
    let last_word = SECOND.ipa.raw() + SECOND.size - 4;
    for entry in [ENTRY, SECOND.ipa.raw(), last_word] {
        let mut partition = PsciPartition::new(2).unwrap();
        assert_eq!(
            partition.handle_in(0, CPU_ON_64.into(), [1, entry, 0], &regions),
            PsciOutcome::StartVcpu { vcpu: 1, entry: Ipa(entry), context_id: 0 },
            "{entry:#x}"
        );
    }
    for entry in [last_word + 4, last_word + 2, SECOND.ipa.raw() - 4, 0x4100_0000] {
        let mut partition = PsciPartition::new(2).unwrap();
        assert_eq!(
            partition.handle_in(0, CPU_ON_64.into(), [1, entry, 0], &regions),
            code(ReturnCode::InvalidAddress),
            "{entry:#x}"
        );
    }
    let mut partition = PsciPartition::new(2).unwrap();
    assert_eq!(
        partition.handle_in(0, CPU_ON_64.into(), [1, ENTRY, 0], &[]),
        code(ReturnCode::InvalidAddress),
        "no executable RAM: nowhere to start"
    );
}

#[test]
fn constant_answers_agree_with_the_partition_model() {
    let mut partition = PsciPartition::new(2).unwrap();
    let queries = [
        (PSCI_VERSION, 0),
        (MIGRATE_INFO_TYPE, 0),
        (PSCI_FEATURES, u64::from(CPU_ON_64)),
        (PSCI_FEATURES, 0x8400_00ff),
        (SMCCC_VERSION, 0),
        (SMCCC_ARCH_FEATURES, u64::from(SMCCC_VERSION)),
        (SMCCC_ARCH_FEATURES, 0x8000_7fff),
        (0xc200_0001, 0),
    ];
    for (function, argument) in queries {
        let constant = constant_answer(u64::from(function), argument).expect("a constant query");
        assert_eq!(partition.handle(0, u64::from(function), [argument, 0, 0], &RAM), PsciOutcome::Return(constant), "{function:#x}");
    }
    for stateful in [CPU_ON_64, CPU_OFF, AFFINITY_INFO_64, SYSTEM_OFF, SYSTEM_RESET, CPU_SUSPEND_64] {
        assert_eq!(constant_answer(u64::from(stateful), 0), None, "{stateful:#x} needs the partition");
    }
    assert_eq!(constant_answer(u64::from(SMCCC_VERSION), 0), Some(SMCCC_VERSION_1_1));
}

#[test]
fn vendor_hypervisor_calls_are_left_to_the_hypervisor_and_other_owners_refused() {
    // Owner 6: Bulkhead's own services (the display mediator) decide with the partition.
    assert_eq!(constant_answer(0xC600_0000, 0), None);
    assert_eq!(constant_answer(0x8600_0001, 0), None);
    // SiP (2), OEM (3), trusted OS (50): refused without a lock.
    for function in [0xC200_0001_u64, 0x8300_0000, 0xB200_0000] {
        assert_eq!(constant_answer(function, 0), Some(ReturnCode::NotSupported.register_value()), "{function:#x}");
    }
}
