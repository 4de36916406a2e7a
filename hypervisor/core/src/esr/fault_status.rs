//! The 6-bit fault status codes of Data and Instruction Aborts (ISS.DFSC / ISS.IFSC).
//!
//! Codes follow the Arm ARM's DFSC table. The level-(-1) and level-(-2) codes of FEAT_LPA2
//! and FEAT_D128 and the granule protection faults of FEAT_RME cannot occur in the stage-2
//! regime this hypervisor sets up; they, like reserved codes, decode as [`FaultStatus::Other`].

/// A decoded fault status code.
// [impl->dsn~esr-decoding~1]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultStatus {
    /// 0b0000LL: the output or table address exceeds the configured size.
    AddressSize {
        /// Lookup level 0–3.
        level: u8,
    },
    /// 0b0001LL: no valid descriptor; for stage 2, what an unmapped IPA (an emulated
    /// device) gives.
    Translation {
        /// Lookup level 0–3.
        level: u8,
    },
    /// 0b0010LL: access flag clear.
    AccessFlag {
        /// Lookup level 0–3.
        level: u8,
    },
    /// 0b0011LL: the access is not permitted (e.g. a write to a read-only mapping).
    Permission {
        /// Lookup level 0–3.
        level: u8,
    },
    /// 0b010000: synchronous external abort, not on a table walk.
    SynchronousExternalAbort,
    /// 0b010001: synchronous tag check fault (FEAT_MTE2).
    TagCheck,
    /// 0b0101LL: synchronous external abort on a table walk.
    SynchronousExternalAbortOnWalk {
        /// Lookup level 0–3.
        level: u8,
    },
    /// 0b011000: synchronous parity or ECC error, not on a table walk.
    SynchronousParityOrEccError,
    /// 0b0111LL: synchronous parity or ECC error on a table walk.
    SynchronousParityOrEccErrorOnWalk {
        /// Lookup level 0–3.
        level: u8,
    },
    /// 0b100001: alignment fault.
    Alignment,
    /// 0b110000: TLB conflict abort.
    TlbConflict,
    /// 0b110001: unsupported atomic hardware update (FEAT_HAFDBS).
    UnsupportedAtomicHardwareUpdate,
    /// Any other code, kept as is.
    Other {
        /// The 6-bit code.
        code: u8,
    },
}

impl FaultStatus {
    /// The code of a synchronous external abort, the fault status of injected aborts.
    pub const SYNCHRONOUS_EXTERNAL_ABORT_CODE: u8 = 0b01_0000;

    /// Decodes a 6-bit DFSC/IFSC value (higher bits are ignored).
    pub const fn from_code(value: u8) -> Self {
        let code = value & 0b11_1111;
        let level = code & 0b11;
        match code >> 2 {
            0b0000 => FaultStatus::AddressSize { level },
            0b0001 => FaultStatus::Translation { level },
            0b0010 => FaultStatus::AccessFlag { level },
            0b0011 => FaultStatus::Permission { level },
            0b0101 => FaultStatus::SynchronousExternalAbortOnWalk { level },
            0b0111 => FaultStatus::SynchronousParityOrEccErrorOnWalk { level },
            _ => match code {
                Self::SYNCHRONOUS_EXTERNAL_ABORT_CODE => FaultStatus::SynchronousExternalAbort,
                0b01_0001 => FaultStatus::TagCheck,
                0b01_1000 => FaultStatus::SynchronousParityOrEccError,
                0b10_0001 => FaultStatus::Alignment,
                0b11_0000 => FaultStatus::TlbConflict,
                0b11_0001 => FaultStatus::UnsupportedAtomicHardwareUpdate,
                _ => FaultStatus::Other { code },
            },
        }
    }

    /// The 6-bit code this status decodes from.
    pub const fn code(self) -> u8 {
        match self {
            FaultStatus::AddressSize { level } => level & 0b11,
            FaultStatus::Translation { level } => 0b00_0100 | (level & 0b11),
            FaultStatus::AccessFlag { level } => 0b00_1000 | (level & 0b11),
            FaultStatus::Permission { level } => 0b00_1100 | (level & 0b11),
            FaultStatus::SynchronousExternalAbort => Self::SYNCHRONOUS_EXTERNAL_ABORT_CODE,
            FaultStatus::TagCheck => 0b01_0001,
            FaultStatus::SynchronousExternalAbortOnWalk { level } => 0b01_0100 | (level & 0b11),
            FaultStatus::SynchronousParityOrEccError => 0b01_1000,
            FaultStatus::SynchronousParityOrEccErrorOnWalk { level } => 0b01_1100 | (level & 0b11),
            FaultStatus::Alignment => 0b10_0001,
            FaultStatus::TlbConflict => 0b11_0000,
            FaultStatus::UnsupportedAtomicHardwareUpdate => 0b11_0001,
            FaultStatus::Other { code } => code & 0b11_1111,
        }
    }

    /// The lookup level the fault is reported at, for faults that have one.
    pub const fn level(self) -> Option<u8> {
        match self {
            FaultStatus::AddressSize { level }
            | FaultStatus::Translation { level }
            | FaultStatus::AccessFlag { level }
            | FaultStatus::Permission { level }
            | FaultStatus::SynchronousExternalAbortOnWalk { level }
            | FaultStatus::SynchronousParityOrEccErrorOnWalk { level } => Some(level),
            FaultStatus::SynchronousExternalAbort
            | FaultStatus::TagCheck
            | FaultStatus::SynchronousParityOrEccError
            | FaultStatus::Alignment
            | FaultStatus::TlbConflict
            | FaultStatus::UnsupportedAtomicHardwareUpdate
            | FaultStatus::Other { .. } => None,
        }
    }
}

// [utest->dsn~esr-decoding~1]
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn translation_faults_decode_with_their_level() {
        for level in 0..4 {
            assert_eq!(
                FaultStatus::from_code(0b00_0100 | level),
                FaultStatus::Translation { level }
            );
        }
        assert_eq!(FaultStatus::from_code(0x07).level(), Some(3));
    }

    #[test]
    fn named_codes_decode_to_their_status() {
        assert_eq!(FaultStatus::from_code(0x0b), FaultStatus::AccessFlag { level: 3 });
        assert_eq!(FaultStatus::from_code(0x0f), FaultStatus::Permission { level: 3 });
        assert_eq!(FaultStatus::from_code(0x10), FaultStatus::SynchronousExternalAbort);
        assert_eq!(
            FaultStatus::from_code(0x15),
            FaultStatus::SynchronousExternalAbortOnWalk { level: 1 }
        );
        assert_eq!(FaultStatus::from_code(0x21), FaultStatus::Alignment);
        assert_eq!(FaultStatus::from_code(0x30), FaultStatus::TlbConflict);
        assert_eq!(FaultStatus::from_code(0x02), FaultStatus::AddressSize { level: 2 });
        assert_eq!(FaultStatus::SynchronousExternalAbort.level(), None);
    }

    #[test]
    fn lpa2_and_reserved_codes_stay_other() {
        // 0b101011: translation fault at level -1 (FEAT_LPA2); 0b111111: reserved.
        assert_eq!(FaultStatus::from_code(0b10_1011), FaultStatus::Other { code: 0b10_1011 });
        assert_eq!(FaultStatus::from_code(0b11_1111), FaultStatus::Other { code: 0b11_1111 });
    }

    #[test]
    fn every_code_round_trips() {
        for code in 0..64 {
            assert_eq!(FaultStatus::from_code(code).code(), code, "code {code:#08b}");
        }
    }
}
