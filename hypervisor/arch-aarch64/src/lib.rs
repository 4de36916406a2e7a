//! The AArch64 half of the hypervisor: everything that touches system registers or needs
//! assembly.
//!
//! This crate is where the `unsafe` lives. The image crate and `bulkhead-core` above it only
//! call the safe functions exported here. Each module owns one piece of hardware state:
//! `boot` brings a core from reset to Rust at EL2, `vectors` saves a lower EL's registers into
//! a [`vectors::TrapFrame`] and restores them, `mmu` turns on the EL2 identity map, `guest`
//! programs the per-core virtualization registers and enters a vCPU, `gic` reaches the GICv3
//! CPU interface and list registers, and `cpu` holds the small primitives (core identity,
//! barriers, waiting).
//!
//! One system-register crate: `aarch64-cpu`. It is a direct dependency already, and its
//! typed fields (`HCR_EL2`, `ICH_HCR_EL2`, `ICH_VTR_EL2`, `ICH_LR<n>_EL2`) are what writes
//! here use instead of hand-encoded values. `arm-sysregs` (present only transitively, through
//! `arm-gic`) wraps a few registers `aarch64-cpu` lacks (`ICC_IAR1_EL1`, `ICC_DIR_EL1`,
//! `ICC_SGI1R_EL1`, `VPIDR_EL2`) but not `ICH_EISR_EL2`/`ICH_ELRSR_EL2` either, and adopting it
//! for those few would give the crate two register vocabularies and a second direct
//! dependency to audit. The registers neither wraps usefully keep one small `asm!` function
//! each (`gic.rs`, `guest.rs`), with its `// SAFETY:` argument.
#![no_std]

pub mod boot;
pub mod cpu;
pub mod el3;
pub mod gic;
pub mod guest;
pub mod memory;
pub mod mmu;
pub mod psci;
pub mod stack;
pub mod vectors;
