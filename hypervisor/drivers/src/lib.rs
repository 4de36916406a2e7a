//! Drivers for the physical devices the hypervisor keeps for itself.
//!
//! Guests never reach these devices: their stage-2 maps do not contain them. Each driver
//! owns one register block through a single unsafe constructor whose contract is "this
//! address is that device, mapped as Device memory, and nobody else drives it".
#![no_std]

pub mod gicv3;
pub mod log;
pub mod pl011;
