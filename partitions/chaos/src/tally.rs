//! What happened to every operation, by category, and the `done` line that reports it.
//!
//! Each operation is counted exactly once, in the category of whoever decided it:
//! - accepted (no exception, no error status) or refused *by the hypervisor* (an error status
//!   from a hypercall, an injected Undefined Instruction exception, an injected synchronous
//!   external abort, an SError): in the operation's own category;
//! - refused by the guest's own EL1 (a stage-1 alignment, translation or permission fault,
//!   PC alignment, any other exception class; or an Undefined Instruction exception for an
//!   instruction EL1 may never execute): in [`Category::Local`].
//!
//! So for every category but `local`, `wfx` and `console`, *refused* is what the hypervisor
//! refused, and must equal its own counter of the same name (see the crate documentation for
//! the counter line).

use core::fmt;

use crate::vectors::Refusal;

/// Who an operation was aimed at, which is also the hypervisor counter its refusal counts in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Category {
    /// System register accesses and maintenance instructions legal at EL1.
    Sysreg,
    /// HVC/SMC with a PSCI function ID (0x8400_0000-0x8400_001F, 0xC400_0000-0xC400_001F).
    Psci,
    /// Loads and stores in the emulated device windows (vGIC distributor, redistributors,
    /// vPL011).
    Mmio,
    /// Accesses and fetches at IPAs outside guest RAM and the emulated windows.
    Stage2,
    /// Writes of the SGI generation registers.
    Sgi,
    /// HVC/SMC with any other function ID.
    Smccc,
    /// Decided inside the guest: instructions EL1 may never execute, stage-1 faults, and
    /// accesses to the guest's own RAM.
    Local,
    /// WFI, WFE, SEV, YIELD.
    Wfx,
    /// Console floods through the vPL011 data register.
    Console,
}

/// Every category, in the order of the `done` line.
pub const CATEGORIES: [Category; 9] = [
    Category::Sysreg,
    Category::Psci,
    Category::Mmio,
    Category::Stage2,
    Category::Sgi,
    Category::Smccc,
    Category::Local,
    Category::Wfx,
    Category::Console,
];

impl Category {
    /// The key in the `done` line (and, for the first six, in the hypervisor's counter line).
    pub const fn key(self) -> &'static str {
        match self {
            Self::Sysreg => "sysreg",
            Self::Psci => "psci",
            Self::Mmio => "mmio",
            Self::Stage2 => "stage2",
            Self::Sgi => "sgi",
            Self::Smccc => "smccc",
            Self::Local => "local",
            Self::Wfx => "wfx",
            Self::Console => "console",
        }
    }

    /// Position in [`CATEGORIES`].
    const fn slot(self) -> usize {
        match self {
            Self::Sysreg => 0,
            Self::Psci => 1,
            Self::Mmio => 2,
            Self::Stage2 => 3,
            Self::Sgi => 4,
            Self::Smccc => 5,
            Self::Local => 6,
            Self::Wfx => 7,
            Self::Console => 8,
        }
    }
}

/// Attempted, refused and accepted operations of one category.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Operations counted in this category.
    pub attempted: u64,
    /// Of those, refused (exception taken or error status returned).
    pub refused: u64,
    /// Of those, accepted.
    pub accepted: u64,
}

/// The tallies of a run.
#[derive(Clone, Debug, Default)]
pub struct Tally {
    /// Per category, in [`CATEGORIES`] order.
    counts: [Counts; 9],
    /// Operations executed.
    operations: u64,
    /// Console bytes written by floods.
    console_bytes: u64,
}

impl Tally {
    /// Counts one operation aimed at `category` that ended with `refusal` and, for
    /// hypercalls, `error_status` (a negative SMCCC status in `w0`).
    pub fn record(&mut self, category: Category, refusal: Refusal, error_status: bool) {
        self.operations = self.operations.wrapping_add(1);
        let (decided_by, refused) = match refusal {
            Refusal::None => (category, error_status),
            Refusal::Undefined | Refusal::ExternalAbort | Refusal::SystemError => (category, true),
            Refusal::LocalFault => (Category::Local, true),
        };
        if let Some(counts) = self.counts.get_mut(decided_by.slot()) {
            counts.attempted = counts.attempted.wrapping_add(1);
            if refused {
                counts.refused = counts.refused.wrapping_add(1);
            } else {
                counts.accepted = counts.accepted.wrapping_add(1);
            }
        }
    }

    /// Adds `bytes` written to the console by a flood.
    pub fn add_console_bytes(&mut self, bytes: u64) {
        self.console_bytes = self.console_bytes.wrapping_add(bytes);
    }

    /// The counts of `category`.
    pub fn counts(&self, category: Category) -> Counts {
        self.counts.get(category.slot()).copied().unwrap_or_default()
    }
}

/// The `done` line's fields after `chaos: done `: `ops=N`, then `<category>=A/R/C` for
/// every category, then `bytes=N` (see the crate documentation).
impl fmt::Display for Tally {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "ops={}", self.operations)?;
        for category in CATEGORIES {
            let counts = self.counts(category);
            write!(
                formatter,
                " {}={}/{}/{}",
                category.key(),
                counts.attempted,
                counts.refused,
                counts.accepted
            )?;
        }
        write!(formatter, " bytes={}", self.console_bytes)
    }
}
