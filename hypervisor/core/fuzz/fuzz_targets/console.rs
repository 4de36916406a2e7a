//! Fuzz target `console`: see [`bulkhead_core_fuzz::console`] for the invariants it asserts.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| bulkhead_core_fuzz::console::run(data));
