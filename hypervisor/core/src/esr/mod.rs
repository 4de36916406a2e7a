//! Why a guest trapped to EL2: `ESR_EL2` decoded into the cases the hypervisor handles,
//! plus the faulting IPA from `HPFAR_EL2`, and the register values that make a guest take
//! an exception of its own ([`injection`]).
//!
//! Field positions are those of the Arm ARM's `ESR_EL2` page and its "ISS encoding for an
//! exception from …" sections (Data Abort, Instruction Abort, HVC or SVC, SMC, MSR/MRS/System
//! instruction, WF* instruction). Decoding is total: every 64-bit value gives a
//! [`Syndrome`], unknown classes included, so a guest can never make decoding fail.

mod fault_status;
pub mod injection;

#[cfg(test)]
mod tests;

pub use fault_status::FaultStatus;

use crate::addr::Ipa;
use crate::mmio::AccessWidth;

/// Exception class values (`ESR_ELx.EC`, bits [31:26]) this crate names.
pub mod exception_class {
    /// Unknown reason: also what an UNDEFINED instruction reports.
    pub const UNKNOWN: u8 = 0x00;
    /// Trapped WFI, WFE, WFIT or WFET.
    pub const WAIT_FOR_INTERRUPT_OR_EVENT: u8 = 0x01;
    /// HVC executed in AArch64 state.
    pub const HYPERVISOR_CALL_64: u8 = 0x16;
    /// SMC executed in AArch64 state (trapped by `HCR_EL2.TSC`).
    pub const SECURE_MONITOR_CALL_64: u8 = 0x17;
    /// Trapped MSR, MRS or System instruction in AArch64 state.
    pub const SYSTEM_REGISTER: u8 = 0x18;
    /// Instruction Abort from a lower Exception level.
    pub const INSTRUCTION_ABORT_LOWER_EL: u8 = 0x20;
    /// Instruction Abort taken without a change of Exception level.
    pub const INSTRUCTION_ABORT_SAME_EL: u8 = 0x21;
    /// Data Abort from a lower Exception level.
    pub const DATA_ABORT_LOWER_EL: u8 = 0x24;
    /// Data Abort taken without a change of Exception level.
    pub const DATA_ABORT_SAME_EL: u8 = 0x25;
}

/// `ESR_ELx.IL`, bit 25.
pub(crate) const INSTRUCTION_LENGTH_32: u64 = 1 << 25;
/// Position of `ESR_ELx.EC`, bits [31:26].
const EXCEPTION_CLASS_SHIFT: u32 = 26;
/// `ESR_ELx.ISS`, bits [24:0].
const ISS_MASK: u64 = (1 << 25) - 1;

/// A decoded `ESR_EL2` value.
// [impl->dsn~esr-decoding~1]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Syndrome {
    /// EC 0x01: a trapped WFI/WFE/WFIT/WFET. `ELR_EL2` points at the instruction.
    WaitForInterruptOrEvent(WaitTrap),
    /// EC 0x16: HVC from AArch64. `ELR_EL2` already points past the instruction.
    HypervisorCall {
        /// The instruction's 16-bit immediate (SMCCC calls use 0).
        immediate: u16,
    },
    /// EC 0x17: a trapped SMC from AArch64. `ELR_EL2` points at the instruction, which is
    /// always 4 bytes long.
    SecureMonitorCall {
        /// The instruction's 16-bit immediate (SMCCC calls use 0).
        immediate: u16,
    },
    /// EC 0x18: a trapped MSR, MRS or System instruction. `ELR_EL2` points at the
    /// instruction, which is always 4 bytes long.
    SystemRegisterAccess(SystemRegisterAccess),
    /// EC 0x20: an Instruction Abort from the guest.
    InstructionAbort(InstructionAbort),
    /// EC 0x24: a Data Abort from the guest.
    DataAbort(DataAbort),
    /// Any other exception class, undecoded.
    Other {
        /// `ESR_EL2.EC`.
        class: u8,
    },
}

/// `ESR_EL2.IL`: the length of the trapped instruction, where it matters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InstructionLength {
    /// A 16-bit T32 instruction (AArch32 EL0 only).
    Bits16,
    /// A 32-bit instruction; also reported for exceptions not caused by one instruction.
    Bits32,
}

impl InstructionLength {
    /// How far to advance `ELR_EL2` to skip the instruction.
    pub const fn bytes(self) -> u64 {
        match self {
            InstructionLength::Bits16 => 2,
            InstructionLength::Bits32 => 4,
        }
    }
}

/// A general-purpose register named by an ISS field (SRT, Rt, RN).
///
/// Number 31 in these fields is the zero register XZR/WZR, never SP: reads give zero and
/// writes are discarded. Keeping it a separate variant stops callers indexing a saved
/// register array with 31 and clobbering whatever lives there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Register {
    /// X0–X30 (or W0–W30); the number is always at most 30.
    X(u8),
    /// XZR/WZR.
    Zero,
}

impl Register {
    /// The register a 5-bit ISS register field names.
    pub const fn from_field(field: u8) -> Self {
        match field & 0b1_1111 {
            31 => Register::Zero,
            number => Register::X(number),
        }
    }
}

/// A trapped WF* instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WaitTrap {
    /// Which one.
    pub instruction: WaitInstruction,
    /// Its length.
    pub instruction_length: InstructionLength,
}

/// The WF* instructions (ISS.TI).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitInstruction {
    /// Wait For Interrupt.
    Wfi,
    /// Wait For Event.
    Wfe,
    /// Wait For Interrupt with Timeout (FEAT_WFxT).
    Wfit {
        /// Register holding the timeout (ISS.RN).
        timeout: Register,
    },
    /// Wait For Event with Timeout (FEAT_WFxT).
    Wfet {
        /// Register holding the timeout (ISS.RN).
        timeout: Register,
    },
}

/// A trapped system register access or System instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SystemRegisterAccess {
    /// The register's encoding.
    pub register: SystemRegister,
    /// ISS.Rt: the general-purpose register transferred.
    pub transfer_register: Register,
    /// ISS.Direction.
    pub direction: Direction,
}

/// A system register encoding `S<op0>_<op1>_C<CRn>_C<CRm>_<op2>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SystemRegister {
    /// op0 (2 bits).
    pub op0: u8,
    /// op1 (3 bits).
    pub op1: u8,
    /// CRn (4 bits).
    pub crn: u8,
    /// CRm (4 bits).
    pub crm: u8,
    /// op2 (3 bits).
    pub op2: u8,
}

impl SystemRegister {
    /// The encoding with these fields, e.g. `SystemRegister::new(3, 0, 12, 11, 5)` for
    /// `ICC_SGI1R_EL1`.
    pub const fn new(op0: u8, op1: u8, crn: u8, crm: u8, op2: u8) -> Self {
        Self { op0, op1, crn, crm, op2 }
    }

    /// Whether this is a Performance Monitors or self-hosted debug register an EL1 guest may
    /// name, which `MDCR_EL2.{TPM, TPMCR, TDA, TDOSA, TDRA}` trap: the hypervisor emulates
    /// these as read-as-zero, write-ignored (a PMU without counters that counts nothing,
    /// debug hardware that does nothing).
    ///
    /// Encodings (Arm ARM C5.3, "op0 = 0b10, debug and trace"; C5.5, "op0 = 0b11" with
    /// CRn = 9 and 14): the PMU is `S3_<op1>_C9_C12..C14_<op2>` (`PMCR_EL0` to
    /// `PMOVSSET_EL0`, `PMINTENSET_EL1`, `PMINTENCLR_EL1`, `PMMIR_EL1`) and
    /// `S3_3_C14_C8..C15_<op2>` (`PMEVCNTR<n>_EL0`, `PMEVTYPER<n>_EL0`, `PMCCFILTR_EL0`);
    /// debug is op0 = 2 with op1 = 0 (`MDSCR_EL1`, `OSLAR_EL1`, `OSDLR_EL1`, `MDRAR_EL1`,
    /// `DBGB*`/`DBGW*`, `DBGCLAIM*`, ...) or op1 = 3 (`MDCCSR_EL0`, `DBGDTR*_EL0`). Trace
    /// (op0 = 2, op1 = 1) and the EL2 registers (op1 = 4) are not included.
    pub const fn is_performance_monitor_or_debug(&self) -> bool {
        match (self.op0, self.op1, self.crn, self.crm) {
            (3, _, 9, 12..=14) => true,
            (3, 3, 14, 8..=15) => true,
            (2, 0 | 3, _, _) => true,
            _ => false,
        }
    }
}

/// Which way a trapped system register access goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// MRS (or SYSL): the guest reads into the transfer register; the hypervisor supplies
    /// the value.
    Read,
    /// MSR (or SYS): the guest writes the transfer register's value.
    Write,
}

/// An Instruction Abort from the guest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InstructionAbort {
    /// ISS.IFSC.
    pub fault_status: FaultStatus,
    /// ISS.S1PTW: the fault happened on the stage-2 translation of a stage-1 table walk.
    pub stage1_translation_table_walk: bool,
    /// ISS.EA: implementation-defined classification of an external abort.
    pub external_abort_type: bool,
    /// ISS.FnV: `FAR_EL2` does not hold the faulting address (external aborts only).
    pub far_not_valid: bool,
}

/// A Data Abort from the guest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DataAbort {
    /// The access, when the syndrome describes it (ISS.ISV = 1): a single load or store of
    /// one general-purpose register, which the hypervisor can emulate. `None` for pairs,
    /// SIMD/FP, writeback forms, and others the guest must not use on emulated devices.
    pub access: Option<DataAccess>,
    /// ISS.WnR: the access was a write.
    pub write_not_read: bool,
    /// ISS.DFSC.
    pub fault_status: FaultStatus,
    /// ISS.S1PTW: the fault happened on the stage-2 translation of a stage-1 table walk.
    pub stage1_translation_table_walk: bool,
    /// ISS.CM: caused by a cache maintenance or address translation instruction.
    pub cache_maintenance: bool,
    /// ISS.EA: implementation-defined classification of an external abort.
    pub external_abort_type: bool,
    /// ISS.FnV: `FAR_EL2` does not hold the faulting address (external aborts only).
    pub far_not_valid: bool,
    /// Length of the faulting instruction (meaningful with `access`; always 32 without).
    pub instruction_length: InstructionLength,
}

/// A load or store fully described by the syndrome (ISS.ISV = 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DataAccess {
    /// ISS.SAS.
    pub size: AccessWidth,
    /// ISS.SSE: a load sign-extends the value to the register's width.
    pub sign_extend: bool,
    /// ISS.SRT: the register loaded or stored.
    pub register: Register,
    /// ISS.SF: width of that register.
    pub register_width: RegisterWidth,
    /// ISS.AR: the instruction has acquire/release semantics.
    pub acquire_release: bool,
}

/// ISS.SF: whether the load/store register is a W or an X register.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegisterWidth {
    /// Wn: a load writes zero to bits [63:32] (after any sign extension to 32 bits).
    Bits32,
    /// Xn.
    Bits64,
}

/// Whether bit `bit` of `value` is set.
const fn flag(value: u64, bit: u32) -> bool {
    value & (1 << bit) != 0
}

/// `ESR_EL2.EC`.
pub const fn exception_class(esr: u64) -> u8 {
    ((esr >> EXCEPTION_CLASS_SHIFT) & 0x3f) as u8
}

/// `ESR_EL2.IL`.
pub const fn instruction_length(esr: u64) -> InstructionLength {
    if esr & INSTRUCTION_LENGTH_32 != 0 {
        InstructionLength::Bits32
    } else {
        InstructionLength::Bits16
    }
}

/// Decodes an `ESR_EL2` value read on a synchronous exception from the guest.
// [impl->dsn~esr-decoding~1]
pub const fn decode(esr: u64) -> Syndrome {
    let iss = esr & ISS_MASK;
    match exception_class(esr) {
        exception_class::WAIT_FOR_INTERRUPT_OR_EVENT => {
            Syndrome::WaitForInterruptOrEvent(WaitTrap {
                instruction: decode_wait_instruction(iss),
                instruction_length: instruction_length(esr),
            })
        }
        exception_class::HYPERVISOR_CALL_64 => {
            Syndrome::HypervisorCall { immediate: (iss & 0xffff) as u16 }
        }
        exception_class::SECURE_MONITOR_CALL_64 => {
            Syndrome::SecureMonitorCall { immediate: (iss & 0xffff) as u16 }
        }
        exception_class::SYSTEM_REGISTER => {
            Syndrome::SystemRegisterAccess(decode_system_register_access(iss))
        }
        exception_class::INSTRUCTION_ABORT_LOWER_EL => {
            Syndrome::InstructionAbort(InstructionAbort {
                fault_status: FaultStatus::from_code((iss & 0x3f) as u8),
                stage1_translation_table_walk: flag(iss, 7),
                external_abort_type: flag(iss, 9),
                far_not_valid: flag(iss, 10),
            })
        }
        exception_class::DATA_ABORT_LOWER_EL => Syndrome::DataAbort(decode_data_abort(esr)),
        class => Syndrome::Other { class },
    }
}

/// ISS for WF*: TI in bits [1:0], RN in bits [9:5].
const fn decode_wait_instruction(iss: u64) -> WaitInstruction {
    let timeout = Register::from_field(((iss >> 5) & 0x1f) as u8);
    match iss & 0x3 {
        0b00 => WaitInstruction::Wfi,
        0b01 => WaitInstruction::Wfe,
        0b10 => WaitInstruction::Wfit { timeout },
        _ => WaitInstruction::Wfet { timeout },
    }
}

/// ISS for MSR/MRS/System: Op0 [21:20], Op2 [19:17], Op1 [16:14], CRn [13:10], Rt [9:5],
/// CRm [4:1], Direction [0].
const fn decode_system_register_access(iss: u64) -> SystemRegisterAccess {
    SystemRegisterAccess {
        register: SystemRegister {
            op0: ((iss >> 20) & 0x3) as u8,
            op1: ((iss >> 14) & 0x7) as u8,
            crn: ((iss >> 10) & 0xf) as u8,
            crm: ((iss >> 1) & 0xf) as u8,
            op2: ((iss >> 17) & 0x7) as u8,
        },
        transfer_register: Register::from_field(((iss >> 5) & 0x1f) as u8),
        direction: if flag(iss, 0) { Direction::Read } else { Direction::Write },
    }
}

/// ISS for Data Aborts: ISV [24], SAS [23:22], SSE [21], SRT [20:16], SF [15], AR [14],
/// FnV [10], EA [9], CM [8], S1PTW [7], WnR [6], DFSC [5:0]. Bits [23:14] mean something
/// only when ISV is set.
///
/// Public for the trap path, which has already checked the exception class
/// ([`exception_class`] = [`exception_class::DATA_ABORT_LOWER_EL`]): it is what [`decode`]
/// returns inside `Syndrome::DataAbort`.
pub const fn decode_data_abort(esr: u64) -> DataAbort {
    let iss = esr & ISS_MASK;
    DataAbort {
        access: data_access(esr),
        write_not_read: flag(iss, 6),
        fault_status: FaultStatus::from_code((iss & 0x3f) as u8),
        stage1_translation_table_walk: flag(iss, 7),
        cache_maintenance: flag(iss, 8),
        external_abort_type: flag(iss, 9),
        far_not_valid: flag(iss, 10),
        instruction_length: instruction_length(esr),
    }
}

/// The load a Data Abort syndrome describes, if it is one (ISS.ISV = 1, WnR = 0): what
/// [`decode`] reports as `DataAbort { access: Some(access), write_not_read: false, .. }`,
/// without decoding the rest. The trap path's short check for constant device registers.
/// `None` for anything else, including other exception classes.
// [impl->dsn~esr-decoding~1]
#[inline]
pub const fn data_load(esr: u64) -> Option<DataAccess> {
    if exception_class(esr) != exception_class::DATA_ABORT_LOWER_EL || flag(esr & ISS_MASK, 6) {
        return None;
    }
    data_access(esr)
}

/// ISS.WnR of a Data Abort syndrome: the access was a write (what [`decode`] reports as
/// `DataAbort::write_not_read`).
// [impl->dsn~esr-decoding~1]
#[inline]
pub const fn data_abort_is_write(esr: u64) -> bool {
    flag(esr & ISS_MASK, 6)
}

/// ISS.ISV and the fields it validates: the access of a Data Abort syndrome (what [`decode`]
/// reports as `DataAbort::access`), without decoding the rest.
// [impl->dsn~esr-decoding~1]
#[inline]
pub const fn data_access(esr: u64) -> Option<DataAccess> {
    let iss = esr & ISS_MASK;
    if flag(iss, 24) {
        Some(DataAccess {
            size: AccessWidth::from_sas(iss >> 22),
            sign_extend: flag(iss, 21),
            register: Register::from_field(((iss >> 16) & 0x1f) as u8),
            register_width: if flag(iss, 15) {
                RegisterWidth::Bits64
            } else {
                RegisterWidth::Bits32
            },
            acquire_release: flag(iss, 14),
        })
    } else {
        None
    }
}

/// The IPA of a stage-2 fault: page from `HPFAR_EL2.FIPA`, offset in the page from
/// `FAR_EL2`.
///
/// FIPA holds IPA bits [n:12] from bit 4 up: bits [39:4] for a 48-bit IPA, [43:4] with
/// FEAT_LPA, [47:4] with FEAT_D128. Bits [47:4] are taken, those beyond the implemented
/// size being RES0; bit 63 (NS) is not part of the address. The page offset is the same in
/// the guest's virtual address (`FAR_EL2`) as in its IPA, but only when `FAR_EL2` is valid:
/// not for a Data Abort with `far_not_valid`, nor for faults `HPFAR_EL2` does not report
/// (it is valid for stage-2 translation, access flag and permission faults).
// [impl->dsn~esr-decoding~1]
pub const fn fault_ipa(hpfar_el2: u64, far_el2: u64) -> Ipa {
    let page = ((hpfar_el2 >> 4) & 0xfffffffffff) << 12;
    Ipa(page | (far_el2 & 0xfff))
}
