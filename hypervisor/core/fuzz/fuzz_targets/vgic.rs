//! Fuzz target `vgic`: see [`bulkhead_core_fuzz::vgic`] for the invariants it asserts.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| bulkhead_core_fuzz::vgic::run(data));
