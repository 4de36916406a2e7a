//! Making a guest take a synchronous exception at its own EL1, as if its hardware had
//! raised it: a synchronous external abort for an access the hypervisor refuses (what KVM
//! calls `inject_abt`), or an Undefined Instruction for a trapped instruction it does not
//! emulate.
//!
//! Pure functions: given the guest's state at the trap, they return the register values
//! the hypervisor writes before returning to the guest. They follow exception entry to
//! AArch64 EL1 (Arm ARM D1.10, "Exception entry", and its table of vector offsets):
//! `ELR_EL1` gets the preferred return address, `SPSR_EL1` the interrupted PSTATE,
//! `ESR_EL1` (and `FAR_EL1` for aborts) the syndrome, and execution resumes at the
//! `VBAR_EL1` vector for the "Synchronous" exception of the right origin, in EL1h with
//! D, A, I and F masked.
//!
//! PSTATE bits beyond those: N, Z, C, V, PAN (when `SCTLR_EL1.SPAN` = 1) and, from AArch64,
//! DIT carry over; PAN is set when `SCTLR_EL1.SPAN` = 0 and SSBS follows
//! `SCTLR_EL1.DSSBS`, as the architecture does. TCO is left clear: guests get no MTE, so
//! the bit has no effect. SS, IL, BTYPE, UAO, ALLINT and the AArch32 IT/T bits are cleared
//! on entry anyway.

use super::exception_class;
use super::{FaultStatus, INSTRUCTION_LENGTH_32};

/// `VBAR_EL1` bits [10:0] are RES0: the vector table is 2 KiB aligned.
const VBAR_ADDRESS_MASK: u64 = !0x7ff;

/// PSTATE.{N, Z, C, V} in `SPSR_ELx`.
const PSTATE_NZCV: u64 = 0xf << 28;
/// PSTATE.DIT in `SPSR_ELx` (AArch64 layout).
const PSTATE_DIT: u64 = 1 << 24;
/// PSTATE.PAN in `SPSR_ELx` (same bit in the AArch32 layout).
const PSTATE_PAN: u64 = 1 << 22;
/// PSTATE.SSBS in `SPSR_ELx` (AArch64 layout).
const PSTATE_SSBS: u64 = 1 << 12;
/// PSTATE.{D, A, I, F}.
const PSTATE_DAIF: u64 = 0xf << 6;
/// `M[3:0]` = 0b0101: EL1 using SP_EL1.
const PSTATE_EL1H: u64 = 0b0101;

/// `SCTLR_EL1.SPAN`: 0 sets PSTATE.PAN on exception entry to EL1.
const SCTLR_SPAN: u64 = 1 << 23;
/// `SCTLR_EL1.DSSBS`: the PSTATE.SSBS value on exception entry to EL1.
const SCTLR_DSSBS: u64 = 1 << 44;

/// The guest's registers at the trap that exception entry depends on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GuestState {
    /// `SPSR_EL2`: the guest's PSTATE when it trapped.
    pub spsr_el2: u64,
    /// `ELR_EL2`: the address of the instruction the exception is taken for.
    pub elr_el2: u64,
    /// The guest's `VBAR_EL1`.
    pub vbar_el1: u64,
    /// The guest's `SCTLR_EL1` (for SPAN and DSSBS).
    pub sctlr_el1: u64,
}

/// Which abort to inject.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AbortKind {
    /// A Data Abort: a load or store failed. [`inject_external_abort`] reports a load;
    /// [`inject_external_data_abort`] says which.
    Data,
    /// An Instruction Abort: an instruction fetch failed.
    Instruction,
}

/// `ESR_ELx.ISS.WnR` (bit 6) of a Data Abort: the access was a write.
const ISS_WRITE_NOT_READ: u64 = 1 << 6;

/// What the hypervisor writes so that the guest takes the exception on return.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExceptionEntry {
    /// Value for `ESR_EL1`.
    pub esr_el1: u64,
    /// Value for `FAR_EL1`, or `None` to leave it (its contents are UNKNOWN for this
    /// exception).
    pub far_el1: Option<u64>,
    /// Value for `ELR_EL1`: the faulting instruction.
    pub elr_el1: u64,
    /// Value for `SPSR_EL1`: the interrupted PSTATE.
    pub spsr_el1: u64,
    /// The guest's new PC: write it to `ELR_EL2` so the next ERET enters the vector.
    pub pc: u64,
    /// The guest's new PSTATE: write it to `SPSR_EL2`.
    pub pstate: u64,
}

/// Why an exception cannot be injected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InjectionError {
    /// `SPSR_EL2` shows a state a guest cannot be in here (EL2 or EL3, or AArch32 at EL1,
    /// which `HCR_EL2.RW` = 1 rules out): the saved state is corrupt.
    UnexpectedGuestState {
        /// The `SPSR_EL2` value.
        spsr_el2: u64,
    },
}

/// Where the exception comes from, which picks the vector (Arm ARM D1.10, "Exception
/// vectors").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Origin {
    /// EL1 using SP_EL0.
    CurrentElSpEl0,
    /// EL1 using SP_EL1.
    CurrentElSpElx,
    /// EL0 in AArch64.
    LowerElAArch64,
    /// EL0 in AArch32.
    LowerElAArch32,
}

impl Origin {
    /// The origin `SPSR_EL2.M[4:0]` shows, if a guest can be there.
    const fn from_spsr(spsr_el2: u64) -> Result<Self, InjectionError> {
        match spsr_el2 & 0b1_1111 {
            0b0_0100 => Ok(Origin::CurrentElSpEl0),
            0b0_0101 => Ok(Origin::CurrentElSpElx),
            0b0_0000 => Ok(Origin::LowerElAArch64),
            // AArch32 User mode.
            0b1_0000 => Ok(Origin::LowerElAArch32),
            _ => Err(InjectionError::UnexpectedGuestState { spsr_el2 }),
        }
    }

    /// Offset of the group of four vectors from `VBAR_EL1`; the synchronous one is first.
    const fn vector_offset(self) -> u64 {
        match self {
            Origin::CurrentElSpEl0 => 0x000,
            Origin::CurrentElSpElx => 0x200,
            Origin::LowerElAArch64 => 0x400,
            Origin::LowerElAArch32 => 0x600,
        }
    }

    /// Whether the exception comes from EL0 (a lower Exception level than EL1).
    const fn is_lower_el(self) -> bool {
        matches!(self, Origin::LowerElAArch64 | Origin::LowerElAArch32)
    }
}

/// Injects a synchronous external abort on `address` (a virtual address for the guest:
/// it goes to `FAR_EL1`); a Data Abort is reported as a load. For a trapped data access
/// use [`inject_external_data_abort`], which reports the access's direction.
///
/// `ESR_EL1` gets EC 0x24/0x25 (Data Abort from EL0/EL1) or 0x20/0x21 (Instruction Abort),
/// fault status 0x10 and IL = 1: the IL bit is 1 for every Instruction Abort and for Data
/// Aborts without a valid ISS, which an injected abort is (Arm ARM, `ESR_ELx.IL`).
// [impl->dsn~exception-injection~1]
pub const fn inject_external_abort(
    guest: &GuestState,
    kind: AbortKind,
    address: u64,
) -> Result<ExceptionEntry, InjectionError> {
    let origin = match Origin::from_spsr(guest.spsr_el2) {
        Ok(origin) => origin,
        Err(error) => return Err(error),
    };
    let class = match (kind, origin.is_lower_el()) {
        (AbortKind::Data, true) => exception_class::DATA_ABORT_LOWER_EL,
        (AbortKind::Data, false) => exception_class::DATA_ABORT_SAME_EL,
        (AbortKind::Instruction, true) => exception_class::INSTRUCTION_ABORT_LOWER_EL,
        (AbortKind::Instruction, false) => exception_class::INSTRUCTION_ABORT_SAME_EL,
    };
    let esr = syndrome(class) | FaultStatus::SYNCHRONOUS_EXTERNAL_ABORT_CODE as u64;
    Ok(enter(guest, origin, esr, Some(address)))
}

/// Injects a synchronous external Data Abort on `address` for an access whose
/// `ESR_EL2.ISS.WnR` was `write_not_read`: as [`inject_external_abort`] with
/// [`AbortKind::Data`], and `ESR_EL1.ISS.WnR` = 1 for a store, so the guest learns whether
/// its load or its store failed. WnR is meaningful for every synchronous Data Abort, with
/// or without a valid ISS (Arm ARM, `ESR_ELx.ISS` for a Data Abort: WnR).
// [impl->dsn~exception-injection~1]
pub const fn inject_external_data_abort(
    guest: &GuestState,
    address: u64,
    write_not_read: bool,
) -> Result<ExceptionEntry, InjectionError> {
    match inject_external_abort(guest, AbortKind::Data, address) {
        Ok(mut entry) => {
            if write_not_read {
                entry.esr_el1 |= ISS_WRITE_NOT_READ;
            }
            Ok(entry)
        }
        Err(error) => Err(error),
    }
}

/// Injects an Undefined Instruction exception for the instruction at `guest.elr_el2`.
///
/// `ESR_EL1` gets EC 0x00 with IL = 1, which the architecture fixes for that class.
// [impl->dsn~exception-injection~1]
pub const fn inject_undefined_instruction(
    guest: &GuestState,
) -> Result<ExceptionEntry, InjectionError> {
    match Origin::from_spsr(guest.spsr_el2) {
        Ok(origin) => Ok(enter(guest, origin, syndrome(exception_class::UNKNOWN), None)),
        Err(error) => Err(error),
    }
}

/// `ESR_EL1` with `class`, IL = 1 and an empty ISS.
const fn syndrome(class: u8) -> u64 {
    ((class as u64) << 26) | INSTRUCTION_LENGTH_32
}

/// Exception entry to EL1 from `origin` with the given syndrome.
const fn enter(
    guest: &GuestState,
    origin: Origin,
    esr_el1: u64,
    far_el1: Option<u64>,
) -> ExceptionEntry {
    // DIT sits elsewhere in the AArch32 layout of SPSR_EL2; from AArch32 EL0 it is not
    // carried over.
    let carried = match origin {
        Origin::LowerElAArch32 => PSTATE_NZCV | PSTATE_PAN,
        Origin::CurrentElSpEl0 | Origin::CurrentElSpElx | Origin::LowerElAArch64 => {
            PSTATE_NZCV | PSTATE_PAN | PSTATE_DIT
        }
    };
    let mut pstate = (guest.spsr_el2 & carried) | PSTATE_DAIF | PSTATE_EL1H;
    if guest.sctlr_el1 & SCTLR_SPAN == 0 {
        pstate |= PSTATE_PAN;
    }
    if guest.sctlr_el1 & SCTLR_DSSBS != 0 {
        pstate |= PSTATE_SSBS;
    }
    ExceptionEntry {
        esr_el1,
        far_el1,
        elr_el1: guest.elr_el2,
        spsr_el1: guest.spsr_el2,
        pc: (guest.vbar_el1 & VBAR_ADDRESS_MASK) | origin.vector_offset(),
        pstate,
    }
}

// [utest->dsn~exception-injection~1]
#[cfg(test)]
mod tests {
    use super::*;

    /// SPAN = 1 (PAN untouched on entry), DSSBS = 0.
    const SCTLR: u64 = SCTLR_SPAN;
    const VBAR: u64 = 0x4008_0000;
    const FAULTING_PC: u64 = 0x4001_2344;

    fn guest(spsr_el2: u64) -> GuestState {
        GuestState { spsr_el2, elr_el2: FAULTING_PC, vbar_el1: VBAR, sctlr_el1: SCTLR }
    }

    #[test]
    fn an_abort_from_el1h_enters_the_current_el_sp_elx_vector() {
        // EL1h with interrupts unmasked and Z set.
        let spsr = (1 << 30) | 0b0101;
        let entry =
            inject_external_abort(&guest(spsr), AbortKind::Data, 0xffff_0000_0900_0000).unwrap();
        assert_eq!(entry.pc, VBAR + 0x200);
        assert_eq!(entry.esr_el1, (0x25 << 26) | (1 << 25) | 0x10);
        assert_eq!(entry.far_el1, Some(0xffff_0000_0900_0000));
        assert_eq!(entry.elr_el1, FAULTING_PC);
        assert_eq!(entry.spsr_el1, spsr);
        assert_eq!(entry.pstate, (1 << 30) | (0xf << 6) | 0b0101, "flags kept, DAIF masked, EL1h");
    }

    #[test]
    fn an_abort_for_a_store_carries_wnr_and_one_for_a_load_does_not() {
        // Issue 14: an injected abort for a store carried WnR = 0.
        for spsr in [0b0101, 0b0000] {
            let store = inject_external_data_abort(&guest(spsr), 0x1000, true).unwrap();
            assert_eq!(store.esr_el1 & (1 << 6), 1 << 6, "store, SPSR {spsr:#x}");
            assert_eq!(store.esr_el1 & 0x3f, 0x10, "still a synchronous external abort");
            let load = inject_external_data_abort(&guest(spsr), 0x1000, false).unwrap();
            assert_eq!(Ok(load), inject_external_abort(&guest(spsr), AbortKind::Data, 0x1000));
            assert_eq!(load.esr_el1 & (1 << 6), 0, "load, SPSR {spsr:#x}");
            assert_eq!(store.esr_el1 & !(1 << 6), load.esr_el1, "nothing else differs");
        }
        let fetch = inject_external_abort(&guest(0b0101), AbortKind::Instruction, 0x1000).unwrap();
        assert_eq!(fetch.esr_el1 & (1 << 6), 0);
    }

    #[test]
    fn an_abort_from_el1t_enters_the_current_el_sp_el0_vector() {
        let entry = inject_external_abort(&guest(0b0100), AbortKind::Instruction, 0x1000).unwrap();
        assert_eq!(entry.pc, VBAR);
        assert_eq!(entry.esr_el1 >> 26, 0x21);
    }

    #[test]
    fn an_abort_from_el0_enters_the_lower_el_vector_with_lower_el_classes() {
        let data = inject_external_abort(&guest(0b0000), AbortKind::Data, 0x1000).unwrap();
        assert_eq!(data.pc, VBAR + 0x400);
        assert_eq!(data.esr_el1, (0x24 << 26) | (1 << 25) | 0x10);
        let instruction =
            inject_external_abort(&guest(0b0000), AbortKind::Instruction, 0x1000).unwrap();
        assert_eq!(instruction.esr_el1, (0x20 << 26) | (1 << 25) | 0x10);
        assert_eq!(instruction.pstate & 0b1_1111, 0b0101);
    }

    #[test]
    fn an_abort_from_aarch32_el0_enters_the_aarch32_lower_el_vector() {
        let entry = inject_external_abort(&guest(0b1_0000), AbortKind::Data, 0x1000).unwrap();
        assert_eq!(entry.pc, VBAR + 0x600);
        assert_eq!(entry.pstate & 0b1_1111, 0b0101, "AArch64 EL1h");
    }

    #[test]
    fn vbar_low_bits_are_ignored() {
        let state = GuestState { vbar_el1: VBAR | 0x7ff, ..guest(0b0101) };
        assert_eq!(inject_undefined_instruction(&state).unwrap().pc, VBAR + 0x200);
    }

    #[test]
    fn undefined_instruction_reports_class_0_with_il_and_leaves_far_alone() {
        let entry = inject_undefined_instruction(&guest(0b0000)).unwrap();
        assert_eq!(entry.esr_el1, 1 << 25);
        assert_eq!(entry.far_el1, None);
        assert_eq!(entry.pc, VBAR + 0x400);
        assert_eq!(entry.elr_el1, FAULTING_PC);
    }

    #[test]
    fn pan_and_ssbs_follow_sctlr_el1() {
        let pan_on_entry = GuestState { sctlr_el1: SCTLR_DSSBS, ..guest(0b0000) };
        let entry = inject_undefined_instruction(&pan_on_entry).unwrap();
        assert_ne!(entry.pstate & PSTATE_PAN, 0, "SPAN = 0 sets PAN");
        assert_ne!(entry.pstate & PSTATE_SSBS, 0, "DSSBS = 1 sets SSBS");
        let kept = inject_undefined_instruction(&guest(0b0101 | PSTATE_PAN | PSTATE_SSBS)).unwrap();
        assert_ne!(kept.pstate & PSTATE_PAN, 0, "SPAN = 1 keeps PAN");
        assert_eq!(kept.pstate & PSTATE_SSBS, 0, "DSSBS = 0 clears SSBS");
    }

    #[test]
    fn states_a_guest_cannot_be_in_are_refused() {
        for spsr in [0b0_1001, 0b0_1101, 0b1_0011, 0b0_0001] {
            assert_eq!(
                inject_external_abort(&guest(spsr), AbortKind::Data, 0),
                Err(InjectionError::UnexpectedGuestState { spsr_el2: spsr })
            );
            assert!(inject_undefined_instruction(&guest(spsr)).is_err());
        }
    }
}
