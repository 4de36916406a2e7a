//! Fuzz target `psci`: see [`bulkhead_core_fuzz::psci`] for the invariants it asserts.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| bulkhead_core_fuzz::psci::run(data));
