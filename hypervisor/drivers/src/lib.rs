//! Drivers for the physical devices the hypervisor keeps for itself.
//!
//! Guests never reach these devices: their stage-2 maps do not contain them. Each driver
//! owns one register block through a single unsafe constructor whose contract is "this
//! address is that device, mapped as Device memory, and nobody else drives it".
//!
//! The UART drivers ([`pl011`], [`cadence`], behind [`uart::ConsoleDriver`]) and the GICv2
//! driver ([`gicv2`]: distributor, banked CPU interface and GICH list registers) hold
//! references to their `register_structs!` blocks, so their register-level logic is
//! unit-tested on the host against plain memory laid out like the device
//! (`cargo test -p bulkhead-drivers`). The GICv3 distributor goes through `arm-gic`
//! ([`gicv3`]); its CPU interface is system registers, in `bulkhead-arch-aarch64`.
//! [`iproc_rng200`] draws the boot seed from the Raspberry Pi 4's hardware RNG, every wait
//! bounded by a [`deadline::Deadline`].
//! The `defmt` logger needs the EL2 link (the `defmt` linker script) and is only built there.
#![cfg_attr(not(test), no_std)]

pub mod gicv2;
pub mod gicv2_secure;
pub mod gicv3;
#[cfg(target_os = "none")]
pub mod log;
pub mod cadence;
pub mod deadline;
pub mod mini_uart;
pub mod fw_cfg;
pub mod iproc_rng200;
pub mod videocore_mailbox;
pub mod pl011;
pub mod uart;
pub mod virtio_gpu;
pub mod virtio_mmio;
pub mod virtio_rng;

#[cfg(test)]
mod test_memory;
