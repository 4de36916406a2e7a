//! `esr`: decoding `ESR_EL2` and `HPFAR_EL2`/`FAR_EL2`, and building injected exceptions.
//!
//! Input: records of four `u64` (ESR, HPFAR, FAR, SPSR). Invariants: decoding is total and
//! depends only on ESR bits [31:0]; every field decodes to exactly its bits (re-encoding
//! the decoded syndrome gives the ISS bits back); a register number is never 31 (that is
//! XZR); the fault IPA takes its page from HPFAR and its offset from FAR only; an injected
//! exception enters the guest's own vector table at a synchronous vector with its
//! exceptions masked, and its `ESR_EL1` decodes as the abort or UNDEF that was asked for.

use bulkhead_core::esr::injection::{AbortKind, GuestState, inject_external_abort, inject_undefined_instruction};
use bulkhead_core::mmio::AccessWidth as AccessSize;
use bulkhead_core::esr::{
    DataAbort, Direction, FaultStatus, InstructionLength, Register, RegisterWidth, Syndrome,
    WaitInstruction, decode, exception_class, fault_ipa,
};

use super::Input;

/// ISS, bits [24:0].
const ISS: u64 = (1 << 25) - 1;

/// Runs one input.
pub fn run(data: &[u8]) {
    let mut input = Input::new(data);
    // BOUND: each iteration consumes 32 bytes of the input.
    while let (Some(esr), Some(hpfar), Some(far), Some(spsr)) = (input.u64(), input.u64(), input.u64(), input.u64()) {
        check_decoding(esr);
        check_fault_ipa(hpfar, far);
        check_injection(esr, far, spsr, hpfar);
    }
}

/// The register number a decoded register field had.
fn number(register: Register) -> u64 {
    match register {
        Register::X(number) => {
            assert!(number <= 30, "X{number} decoded: 31 is XZR");
            u64::from(number)
        }
        Register::Zero => 31,
    }
}

fn bit(value: bool, position: u32) -> u64 {
    u64::from(value) << position
}

fn check_decoding(esr: u64) {
    let syndrome = decode(esr);
    assert_eq!(syndrome, decode(esr & 0xffff_ffff), "ESR bits [63:32] changed the decoding of {esr:#x}");
    let iss = esr & ISS;
    let class = exception_class(esr);
    assert_eq!(u64::from(class), (esr >> 26) & 0x3f);
    let il = esr & (1 << 25) != 0;
    match syndrome {
        Syndrome::WaitForInterruptOrEvent(trap) => {
            assert_eq!(class, exception_class::WAIT_FOR_INTERRUPT_OR_EVENT);
            assert_eq!(trap.instruction_length == InstructionLength::Bits32, il);
            let (ti, rn) = match trap.instruction {
                WaitInstruction::Wfi => (0, None),
                WaitInstruction::Wfe => (1, None),
                WaitInstruction::Wfit { timeout } => (2, Some(number(timeout))),
                WaitInstruction::Wfet { timeout } => (3, Some(number(timeout))),
            };
            assert_eq!(ti, iss & 3, "{esr:#x}: TI");
            if let Some(rn) = rn {
                assert_eq!(rn, (iss >> 5) & 0x1f, "{esr:#x}: RN");
            }
        }
        Syndrome::HypervisorCall { immediate } => {
            assert_eq!(class, exception_class::HYPERVISOR_CALL_64);
            assert_eq!(u64::from(immediate), iss & 0xffff);
        }
        Syndrome::SecureMonitorCall { immediate } => {
            assert_eq!(class, exception_class::SECURE_MONITOR_CALL_64);
            assert_eq!(u64::from(immediate), iss & 0xffff);
        }
        Syndrome::SystemRegisterAccess(access) => {
            assert_eq!(class, exception_class::SYSTEM_REGISTER);
            let register = access.register;
            assert!(register.op0 < 4 && register.op1 < 8 && register.op2 < 8 && register.crn < 16 && register.crm < 16);
            let encoded = u64::from(register.op0) << 20
                | u64::from(register.op2) << 17
                | u64::from(register.op1) << 14
                | u64::from(register.crn) << 10
                | number(access.transfer_register) << 5
                | u64::from(register.crm) << 1
                | bit(access.direction == Direction::Read, 0);
            assert_eq!(encoded, iss & 0x3f_ffff, "{esr:#x}: system register fields");
        }
        Syndrome::InstructionAbort(abort) => {
            assert_eq!(class, exception_class::INSTRUCTION_ABORT_LOWER_EL);
            check_fault_status(abort.fault_status, iss);
            let flags = bit(abort.stage1_translation_table_walk, 7)
                | bit(abort.external_abort_type, 9)
                | bit(abort.far_not_valid, 10);
            assert_eq!(flags, iss & (1 << 7 | 1 << 9 | 1 << 10), "{esr:#x}: abort flags");
        }
        Syndrome::DataAbort(abort) => {
            assert_eq!(class, exception_class::DATA_ABORT_LOWER_EL);
            check_data_abort(esr, &abort);
        }
        Syndrome::Other { class: other } => {
            assert_eq!(other, class);
            assert!(
                ![
                    exception_class::WAIT_FOR_INTERRUPT_OR_EVENT,
                    exception_class::HYPERVISOR_CALL_64,
                    exception_class::SECURE_MONITOR_CALL_64,
                    exception_class::SYSTEM_REGISTER,
                    exception_class::INSTRUCTION_ABORT_LOWER_EL,
                    exception_class::DATA_ABORT_LOWER_EL,
                ]
                .contains(&class),
                "handled class {class:#x} left undecoded"
            );
        }
    }
}

fn check_fault_status(status: FaultStatus, iss: u64) {
    assert_eq!(u64::from(status.code()), iss & 0x3f, "fault status code does not round-trip");
    assert_eq!(FaultStatus::from_code(status.code()), status);
    if let Some(level) = status.level() {
        assert!(level < 4, "lookup level {level}");
    }
}

fn check_data_abort(esr: u64, abort: &DataAbort) {
    let iss = esr & ISS;
    check_fault_status(abort.fault_status, iss);
    let flags = bit(abort.write_not_read, 6)
        | bit(abort.stage1_translation_table_walk, 7)
        | bit(abort.cache_maintenance, 8)
        | bit(abort.external_abort_type, 9)
        | bit(abort.far_not_valid, 10);
    assert_eq!(flags, iss & 0x7c0, "{esr:#x}: abort flags");
    assert_eq!(abort.instruction_length == InstructionLength::Bits32, esr & (1 << 25) != 0);
    match abort.access {
        None => assert_eq!(iss & (1 << 24), 0, "{esr:#x}: ISV set but no access decoded"),
        Some(access) => {
            let sas = match access.size {
                AccessSize::Byte => 0,
                AccessSize::Halfword => 1,
                AccessSize::Word => 2,
                AccessSize::Doubleword => 3,
            };
            assert_eq!(access.size.bytes(), 1 << sas);
            let encoded = 1 << 24
                | sas << 22
                | bit(access.sign_extend, 21)
                | number(access.register) << 16
                | bit(access.register_width == RegisterWidth::Bits64, 15)
                | bit(access.acquire_release, 14);
            assert_eq!(encoded, iss & 0x1ff_c000, "{esr:#x}: access fields");
        }
    }
}

fn check_fault_ipa(hpfar: u64, far: u64) {
    let ipa = fault_ipa(hpfar, far).raw();
    assert_eq!(ipa & 0xfff, far & 0xfff, "page offset comes from FAR");
    assert_eq!(ipa >> 12, (hpfar >> 4) & 0xfff_ffff_ffff, "page comes from HPFAR.FIPA");
    assert!(ipa < 1 << 56, "IPA {ipa:#x} beyond 56 bits");
    assert_eq!(fault_ipa(hpfar, far & 0xfff), fault_ipa(hpfar, far), "FAR above bit 11 leaked into the IPA");
}

fn check_injection(elr: u64, address: u64, spsr: u64, vbar: u64) {
    let guest = GuestState { spsr_el2: spsr, elr_el2: elr, vbar_el1: vbar, sctlr_el1: address };
    let mode = spsr & 0x1f;
    let valid = matches!(mode, 0b0_0000 | 0b0_0100 | 0b0_0101 | 0b1_0000);
    let from_el0 = matches!(mode, 0b0_0000 | 0b1_0000);
    for (kind, entry) in [
        (Some(AbortKind::Data), inject_external_abort(&guest, AbortKind::Data, address)),
        (Some(AbortKind::Instruction), inject_external_abort(&guest, AbortKind::Instruction, address)),
        (None, inject_undefined_instruction(&guest)),
    ] {
        let Ok(entry) = entry else {
            assert!(!valid, "SPSR {spsr:#x} (a guest mode) refused");
            continue;
        };
        assert!(valid, "SPSR {spsr:#x} (EL2/EL3 or AArch32 EL1) accepted");
        // The synchronous vector of one of the four groups of the guest's table (VBAR_EL1
        // bits [10:0] are RES0).
        let offset = entry.pc & 0x7ff;
        assert_eq!(entry.pc & !0x7ff, vbar & !0x7ff, "pc {:#x} outside the table at {vbar:#x}", entry.pc);
        assert!([0x000, 0x200, 0x400, 0x600].contains(&offset), "pc {:#x} is no synchronous vector", entry.pc);
        assert_eq!(offset >= 0x400, from_el0, "vector group does not match the origin");
        assert_eq!(entry.pstate & 0x1f, 0b0_0101, "the exception is not taken to EL1h");
        assert_eq!(entry.pstate & 0x3c0, 0x3c0, "DAIF not masked on entry");
        assert_eq!(entry.elr_el1, elr);
        assert_eq!(entry.spsr_el1, spsr);
        let syndrome = decode(entry.esr_el1);
        let class = exception_class(entry.esr_el1);
        assert_ne!(entry.esr_el1 & (1 << 25), 0, "IL must be 1");
        match kind {
            Some(AbortKind::Data) => {
                assert_eq!(entry.far_el1, Some(address));
                let expected =
                    if from_el0 { exception_class::DATA_ABORT_LOWER_EL } else { exception_class::DATA_ABORT_SAME_EL };
                assert_eq!(class, expected);
                if let Syndrome::DataAbort(abort) = syndrome {
                    assert_eq!(abort.fault_status, FaultStatus::SynchronousExternalAbort);
                    assert_eq!(abort.access, None);
                }
            }
            Some(AbortKind::Instruction) => {
                assert_eq!(entry.far_el1, Some(address));
                let expected = if from_el0 {
                    exception_class::INSTRUCTION_ABORT_LOWER_EL
                } else {
                    exception_class::INSTRUCTION_ABORT_SAME_EL
                };
                assert_eq!(class, expected);
            }
            None => {
                assert_eq!(class, exception_class::UNKNOWN);
                assert_eq!(entry.far_el1, None);
            }
        }
    }
}
