//! Decoding checked against syndromes built field by field from the Arm ARM encodings.
//!
//! [utest->dsn~esr-decoding~1]

use super::*;

const IL: u64 = 1 << 25;
const ISV: u64 = 1 << 24;

fn class(class: u8) -> u64 {
    (class as u64) << 26
}

#[test]
fn a_32_bit_store_of_x3_to_an_unmapped_device_decodes_fully() {
    // STR w3, [x1]: EC 0x24, IL, ISV, SAS = word, SRT = 3, SF = 0, WnR, DFSC = translation
    // fault at level 3.
    let esr = class(0x24) | IL | ISV | (0b10 << 22) | (3 << 16) | (1 << 6) | 0b00_0111;
    assert_eq!(esr, 0x9383_0047);
    let Syndrome::DataAbort(abort) = decode(esr) else { panic!("{:?}", decode(esr)) };
    assert_eq!(
        abort.access,
        Some(DataAccess {
            size: AccessWidth::Word,
            sign_extend: false,
            register: Register::X(3),
            register_width: RegisterWidth::Bits32,
            acquire_release: false,
        })
    );
    assert!(abort.write_not_read);
    assert_eq!(abort.fault_status, FaultStatus::Translation { level: 3 });
    assert_eq!(abort.instruction_length.bytes(), 4);
    assert!(!abort.stage1_translation_table_walk && !abort.cache_maintenance);
    assert!(!abort.external_abort_type && !abort.far_not_valid);
}

#[test]
fn a_sign_extending_byte_load_decodes_size_sign_and_width() {
    // LDRSB x5, [x0]: SAS = byte, SSE, SRT = 5, SF = 1 (X register), read, level-2 fault.
    let esr = class(0x24) | IL | ISV | (1 << 21) | (5 << 16) | (1 << 15) | 0b00_0110;
    assert_eq!(esr, 0x9325_8006);
    let Syndrome::DataAbort(abort) = decode(esr) else { panic!("{:?}", decode(esr)) };
    let access = abort.access.unwrap();
    assert_eq!(access.size, AccessWidth::Byte);
    assert_eq!(access.size.bytes(), 1);
    assert!(access.sign_extend);
    assert_eq!(access.register, Register::X(5));
    assert_eq!(access.register_width, RegisterWidth::Bits64);
    assert!(!abort.write_not_read);
    assert_eq!(abort.fault_status, FaultStatus::Translation { level: 2 });
}

#[test]
fn a_store_release_of_xzr_names_the_zero_register() {
    // STLR xzr, [x2]: SAS = doubleword, SRT = 31, SF, AR, WnR.
    let esr = class(0x24)
        | IL
        | ISV
        | (0b11 << 22)
        | (31 << 16)
        | (1 << 15)
        | (1 << 14)
        | (1 << 6)
        | 0x07;
    let Syndrome::DataAbort(abort) = decode(esr) else { panic!("{:?}", decode(esr)) };
    let access = abort.access.unwrap();
    assert_eq!(access.register, Register::Zero);
    assert_eq!(access.size, AccessWidth::Doubleword);
    assert!(access.acquire_release);
}

#[test]
fn a_data_abort_without_a_valid_syndrome_has_no_access() {
    // LDP x0, x1, [x2] to a device: ISV = 0, but WnR and DFSC are still reported; the
    // bits that would be SAS/SRT are ignored.
    let esr = class(0x24) | IL | (0b11 << 22) | (7 << 16) | 0b00_0111;
    let Syndrome::DataAbort(abort) = decode(esr) else { panic!("{:?}", decode(esr)) };
    assert_eq!(abort.access, None);
    assert!(!abort.write_not_read);
    assert_eq!(abort.fault_status, FaultStatus::Translation { level: 3 });
}

#[test]
fn abort_flags_decode_from_their_bits() {
    // A synchronous external abort on a stage-2 walk for a stage-1 walk, FAR not valid.
    let esr = class(0x24) | IL | (1 << 10) | (1 << 9) | (1 << 8) | (1 << 7) | 0x10;
    let Syndrome::DataAbort(abort) = decode(esr) else { panic!("{:?}", decode(esr)) };
    assert!(abort.far_not_valid);
    assert!(abort.external_abort_type);
    assert!(abort.cache_maintenance);
    assert!(abort.stage1_translation_table_walk);
    assert_eq!(abort.fault_status, FaultStatus::SynchronousExternalAbort);
}

#[test]
fn an_instruction_abort_from_the_guest_decodes() {
    // Fetch from a non-executable stage-2 page: permission fault at level 3, on a walk.
    let esr = class(0x20) | IL | (1 << 7) | 0b00_1111;
    assert_eq!(
        decode(esr),
        Syndrome::InstructionAbort(InstructionAbort {
            fault_status: FaultStatus::Permission { level: 3 },
            stage1_translation_table_walk: true,
            external_abort_type: false,
            far_not_valid: false,
        })
    );
}

#[test]
fn hvc_and_smc_carry_their_immediates() {
    assert_eq!(decode(0x5a00_0000), Syndrome::HypervisorCall { immediate: 0 });
    assert_eq!(decode(class(0x16) | IL | 0x1234), Syndrome::HypervisorCall { immediate: 0x1234 });
    assert_eq!(decode(0x5e00_0000), Syndrome::SecureMonitorCall { immediate: 0 });
    assert_eq!(
        decode(class(0x17) | IL | 0xffff),
        Syndrome::SecureMonitorCall { immediate: 0xffff }
    );
}

#[test]
fn a_write_to_icc_sgi1r_el1_decodes_its_encoding_and_register() {
    // MSR ICC_SGI1R_EL1, x5: Op0 = 3, Op2 = 5, Op1 = 0, CRn = 12, Rt = 5, CRm = 11, write.
    let iss = (3 << 20) | (5 << 17) | (12 << 10) | (5 << 5) | (11 << 1);
    let esr = class(0x18) | IL | iss;
    assert_eq!(esr, 0x623a_30b6);
    assert_eq!(
        decode(esr),
        Syndrome::SystemRegisterAccess(SystemRegisterAccess {
            register: SystemRegister::new(3, 0, 12, 11, 5),
            transfer_register: Register::X(5),
            direction: Direction::Write,
        })
    );
}

#[test]
fn a_read_into_xzr_decodes_as_a_read_into_the_zero_register() {
    // MRS xzr, CNTVCT_EL0 (3, 3, 14, 0, 2).
    let iss = (3 << 20) | (2 << 17) | (3 << 14) | (14 << 10) | (31 << 5) | 1;
    let Syndrome::SystemRegisterAccess(access) = decode(class(0x18) | IL | iss) else {
        panic!("not a system register access")
    };
    assert_eq!(access.register, SystemRegister::new(3, 3, 14, 0, 2));
    assert_eq!(access.transfer_register, Register::Zero);
    assert_eq!(access.direction, Direction::Read);
}

#[test]
fn wait_instructions_decode_with_their_length() {
    let wfi = WaitTrap {
        instruction: WaitInstruction::Wfi,
        instruction_length: InstructionLength::Bits32,
    };
    assert_eq!(decode(0x0600_0000), Syndrome::WaitForInterruptOrEvent(wfi));
    let Syndrome::WaitForInterruptOrEvent(wfe) = decode(0x0600_0001) else { panic!() };
    assert_eq!(wfe.instruction, WaitInstruction::Wfe);
    // A 16-bit T32 WFI from AArch32 EL0.
    let Syndrome::WaitForInterruptOrEvent(short) = decode(class(0x01)) else { panic!() };
    assert_eq!(short.instruction_length.bytes(), 2);
    // WFIT x7: TI = 0b10, RV, RN = 7.
    let Syndrome::WaitForInterruptOrEvent(wfit) =
        decode(class(0x01) | IL | (7 << 5) | (1 << 2) | 0b10)
    else {
        panic!()
    };
    assert_eq!(wfit.instruction, WaitInstruction::Wfit { timeout: Register::X(7) });
}

#[test]
fn other_classes_are_reported_by_number() {
    assert_eq!(decode(class(0x07) | IL), Syndrome::Other { class: 0x07 });
    assert_eq!(decode(class(0x25) | IL), Syndrome::Other { class: 0x25 });
    assert_eq!(decode(0), Syndrome::Other { class: 0 });
    assert_eq!(exception_class(u64::MAX), 0x3f);
}

#[test]
fn register_fields_keep_31_apart() {
    assert_eq!(Register::from_field(0), Register::X(0));
    assert_eq!(Register::from_field(30), Register::X(30));
    assert_eq!(Register::from_field(31), Register::Zero);
    assert_eq!(Register::from_field(0xff), Register::Zero, "only the low 5 bits count");
}

#[test]
fn the_fault_ipa_joins_hpfar_page_and_far_offset() {
    let ipa = 0x0900_0abc_u64;
    let hpfar = (ipa >> 12) << 4;
    let far = 0xffff_0000_1234_5abc;
    assert_eq!(fault_ipa(hpfar, far), Ipa(0x0900_0abc));
    // NS (bit 63) and the RES0 bits [3:0] are not address bits.
    assert_eq!(fault_ipa(hpfar | (1 << 63) | 0xf, far), Ipa(0x0900_0abc));
    // The highest IPA of the 39-bit space and a 48-bit one.
    assert_eq!(fault_ipa(((1u64 << 39) - 1) >> 12 << 4, 0xfff), Ipa((1 << 39) - 1));
    assert_eq!(fault_ipa(((1 << 36) - 1) << 4, 0), Ipa(0xffff_ffff_f000));
}

#[test]
fn pmu_and_debug_registers_are_recognised_and_nothing_else() {
    let pmu_and_debug = [
        SystemRegister::new(3, 3, 9, 12, 0),  // PMCR_EL0
        SystemRegister::new(3, 3, 9, 13, 0),  // PMCCNTR_EL0
        SystemRegister::new(3, 3, 9, 12, 1),  // PMCNTENSET_EL0
        SystemRegister::new(3, 3, 9, 14, 0),  // PMUSERENR_EL0
        SystemRegister::new(3, 0, 9, 14, 1),  // PMINTENSET_EL1
        SystemRegister::new(3, 3, 14, 8, 0),  // PMEVCNTR0_EL0
        SystemRegister::new(3, 3, 14, 12, 0), // PMEVTYPER0_EL0
        SystemRegister::new(3, 3, 14, 15, 7), // PMCCFILTR_EL0
        SystemRegister::new(2, 0, 0, 2, 2),   // MDSCR_EL1
        SystemRegister::new(2, 0, 1, 0, 4),   // OSLAR_EL1
        SystemRegister::new(2, 0, 1, 0, 0),   // MDRAR_EL1
        SystemRegister::new(2, 0, 0, 0, 4),   // DBGBVR0_EL1
        SystemRegister::new(2, 3, 0, 1, 0),   // MDCCSR_EL0
    ];
    for register in pmu_and_debug {
        assert!(register.is_performance_monitor_or_debug(), "{register:?}");
    }
    let others = [
        SystemRegister::new(3, 0, 12, 11, 5), // ICC_SGI1R_EL1
        SystemRegister::new(3, 3, 14, 2, 1),  // CNTP_CTL_EL0
        SystemRegister::new(3, 3, 14, 3, 1),  // CNTV_CTL_EL0
        SystemRegister::new(3, 0, 1, 0, 0),   // SCTLR_EL1
        SystemRegister::new(3, 4, 1, 1, 0),   // HCR_EL2
        SystemRegister::new(2, 1, 0, 1, 0),   // a trace register (TRCPRGCTLR)
        SystemRegister::new(2, 4, 0, 7, 0),   // DBGVCR32_EL2
        SystemRegister::new(3, 0, 9, 9, 0),   // PMSCR_EL1 (statistical profiling)
        SystemRegister::new(1, 0, 7, 6, 1),   // DC IVAC
    ];
    for register in others {
        assert!(!register.is_performance_monitor_or_debug(), "{register:?}");
    }
}

// [utest->dsn~esr-decoding~1]
#[test]
fn data_load_agrees_with_the_full_decode() {
    let load = class(0x24) | IL | ISV | (1 << 21) | (5 << 16) | (1 << 15) | 0b00_0110;
    let store = class(0x24) | IL | ISV | (0b10 << 22) | (3 << 16) | (1 << 6) | 0b00_0111;
    let undescribed = class(0x24) | IL | (0b11 << 22) | (7 << 16) | 0b00_0111;
    let not_an_abort = class(0x16) | IL | ISV;
    for esr in [load, store, undescribed, not_an_abort] {
        let expected = match decode(esr) {
            Syndrome::DataAbort(DataAbort { access: Some(access), write_not_read: false, .. }) => Some(access),
            _ => None,
        };
        assert_eq!(data_load(esr), expected, "{esr:#x}");
    }
    assert!(data_load(load).is_some());
}

#[test]
fn field_accessors_agree_with_the_full_decode() {
    let load = class(0x24) | IL | ISV | (1 << 21) | (5 << 16) | (1 << 15) | 0b00_0110;
    let store = class(0x24) | IL | ISV | (0b10 << 22) | (3 << 16) | (1 << 6) | 0b00_0111;
    let undescribed = class(0x24) | (1 << 6) | 0b00_0111;
    for esr in [load, store, undescribed] {
        let Syndrome::DataAbort(abort) = decode(esr) else { panic!("{esr:#x} is a data abort") };
        assert_eq!(data_access(esr), abort.access, "{esr:#x}");
        assert_eq!(data_abort_is_write(esr), abort.write_not_read, "{esr:#x}");
        assert_eq!(instruction_length(esr), abort.instruction_length, "{esr:#x}");
        assert_eq!(decode_data_abort(esr), abort, "{esr:#x}");
    }
}
