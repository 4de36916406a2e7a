//! The system tables `bulkhead-config` generated from the manifest and the board's device
//! tree (`cargo xtask expand` prints them). Every per-system size the hypervisor uses comes
//! from here.
//!
//! [impl->dsn~el2-static-state~1]

include!(concat!(env!("BULKHEAD_GEN_DIR"), "/system.rs"));

// The const assertions that bound the image's fixed-capacity lists by these sizes sit beside
// the lists (`partition.rs`), so this module depends on nothing else in the image.
