//! The system tables `bulkhead-config` generated from the manifest and the board's device
//! tree (`cargo xtask expand` prints them). Every per-system size the hypervisor uses comes
//! from here.
//!
//! [impl->dsn~el2-static-state~1]

include!(concat!(env!("BULKHEAD_GEN_DIR"), "/system.rs"));

// The boot code collects a partition's stage-2 regions (RAM first, then its pass-through
// device pages) into a fixed-capacity list: the largest partition must fit.
const _: () = assert!(MAX_DEVICE_REGIONS < crate::partition::MAX_STAGE2_REGIONS);
// Every forwarded physical interrupt is given a virtual SPI, so the virtual distributor's SPI
// blocks must be able to name at least as many.
const _: () = assert!(MAX_INTERRUPT_ROUTES <= GUEST_SPI_BLOCKS * 32);
