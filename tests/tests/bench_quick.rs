//! `cargo xtask bench` is a benchmark, not a test; this only proves it runs and writes a
//! well-formed report for one short sample per metric (issue: "the test suite only checks that
//! the bench runs and produces well-formed output").

#[test]
fn quick_bench_writes_a_well_formed_report() {
    if let Err(error) = xtask::bench::quick_check(&xtask::paths::Repository::locate()) {
        panic!("the quick bench failed: {error}");
    }
}
