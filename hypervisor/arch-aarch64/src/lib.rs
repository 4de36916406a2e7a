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
#![no_std]

pub mod boot;
pub mod cpu;
pub mod gic;
pub mod guest;
pub mod memory;
pub mod mmu;
pub mod psci;
pub mod stack;
pub mod vectors;
