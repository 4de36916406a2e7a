//! Fuzz target `esr`: see [`bulkhead_core_fuzz::esr`] for the invariants it asserts.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| bulkhead_core_fuzz::esr::run(data));
