//! Fuzz target `vpl011`: see [`bulkhead_core_fuzz::vpl011`] for the invariants it asserts.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| bulkhead_core_fuzz::vpl011::run(data));
