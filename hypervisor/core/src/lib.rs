//! The hardware-independent half of the Bulkhead hypervisor.
//!
//! Everything here is plain `no_std` Rust without `unsafe`: the EL2 image (`hypervisor/image`)
//! feeds it register values and memory it owns, and acts on the decisions it returns. Keeping
//! the logic here means it is unit-tested on the host with `cargo test`, and the arch glue
//! that cannot be tested off-target stays thin.
//!
//! Invariants kept by every module: no allocation (sizes are const generics or come from the
//! generated system tables), no panics on guest-controlled input (errors are values).
#![no_std]
#![forbid(unsafe_code)]

pub mod addr;
pub mod boot_seed;
pub mod console;
pub mod console_ring;
pub mod cpu_model;
pub mod devices;
pub mod display;
pub mod drbg;
pub mod el2_map;
pub mod esr;
pub mod fdt_scan;
pub mod fault_storm;
pub mod layout;
pub mod mmio;
pub mod partition_power;
pub mod psci;
pub mod report_limit;
pub mod stage2;
pub mod system;
pub mod vgic;
pub mod vpl011;
