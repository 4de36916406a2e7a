//! The minimal runtime every Bulkhead example guest shares.
//!
//! A guest is a bare-metal program that runs at EL1 inside a partition (or directly on QEMU
//! `virt`, which is how the examples are first tried). This crate gives it what Linux's early
//! boot code would: an arm64 `Image` header so that both QEMU's `-kernel` and the hypervisor
//! load it, a stack per vCPU, an identity-mapped MMU, exception vectors, the facts of the
//! device tree ([`BootInfo`]), and small drivers for exactly the devices a partition sees: a
//! PL011 console, a GICv3 or GICv2, the EL1 virtual timer and PSCI.
//!
//! A guest names its two entry functions with [`entry!`]:
//!
//! ```ignore
//! #![no_std]
//! #![no_main]
//! guest_rt::entry!(main, secondary_main);
//!
//! fn main(boot: &'static guest_rt::BootInfo) -> ! { /* boot vCPU */ }
//! fn secondary_main(vcpu: usize, boot: &'static guest_rt::BootInfo) -> ! { /* others */ }
//! ```
//!
//! and links with `guest-rt.ld` (see `heartbeat/build.rs`).
//!
//! Invariants the modules rely on: at most [`MAX_VCPUS`] vCPUs, numbered by `MPIDR_EL1.Aff0`;
//! the image runs where it is linked (0x4008_0000); the runtime is entered at EL1.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_op_in_unsafe_fn)]

// The device tree reader is portable and tested on the host
// (`cargo test -p guest-rt --target x86_64-unknown-linux-gnu`); everything else is aarch64 code.
#[cfg(target_arch = "aarch64")]
mod boot;
#[cfg(target_arch = "aarch64")]
pub mod console;
#[cfg(target_arch = "aarch64")]
pub mod cpu;
pub mod device_tree;
#[cfg(target_arch = "aarch64")]
pub mod exception;
#[cfg(target_arch = "aarch64")]
pub mod gic;
#[cfg(target_arch = "aarch64")]
pub mod irq;
#[cfg(target_arch = "aarch64")]
mod memory;
#[cfg(target_arch = "aarch64")]
mod panic;
#[cfg(target_arch = "aarch64")]
pub mod pl011;
#[cfg(target_arch = "aarch64")]
pub mod psci;
#[cfg(target_arch = "aarch64")]
pub mod timer;

pub use device_tree::BootInfo;

/// Largest number of vCPUs a guest supports: one stack each, and the virtual redistributor
/// window of a partition has room for eight.
pub const MAX_VCPUS: usize = 8;

/// The boot information, once the boot vCPU has read the device tree.
///
/// `None` only before the guest's `main` runs; a guest's own code can rely on `Some`.
#[cfg(target_arch = "aarch64")]
pub fn boot_info() -> Option<&'static BootInfo> {
    boot::BOOT_INFO.get()
}

/// Declares the guest's entry functions.
///
/// `entry!(main, secondary_main)` makes `main(&'static BootInfo) -> !` run on the boot vCPU
/// once the runtime is up, and `secondary_main(vcpu_index, &'static BootInfo) -> !` on every
/// vCPU started with [`psci::start_vcpu`]. `entry!(main)` parks secondary vCPUs instead.
#[macro_export]
macro_rules! entry {
    ($main:path) => {
        $crate::entry!($main, $crate::cpu::park_secondary);
    };
    ($main:path, $secondary:path) => {
        // The runtime calls these by name; the typed bindings make a wrong signature a compile
        // error in the guest rather than a crash at boot.
        // DEVIATION(DEV-0053, MLR-23) the macro exports the two entry symbols for the guest.
        #[unsafe(export_name = "__guest_rt_main")]
        fn __guest_rt_main(boot: &'static $crate::BootInfo) -> ! {
            let main: fn(&'static $crate::BootInfo) -> ! = $main;
            main(boot)
        }

        #[unsafe(export_name = "__guest_rt_secondary_main")]
        fn __guest_rt_secondary_main(vcpu: usize, boot: &'static $crate::BootInfo) -> ! {
            let secondary_main: fn(usize, &'static $crate::BootInfo) -> ! = $secondary;
            secondary_main(vcpu, boot)
        }
    };
}
