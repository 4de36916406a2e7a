//! `cargo xtask bench` is a benchmark, not a test; this proves it runs, writes a well-formed
//! report for one short sample per metric, and that every metric each platform can measure
//! was measured: a failed or unavailable timer, vGIC, MMIO or doorbell measurement fails here
//! (only `xtask::bench::NOT_APPLICABLE` lists exceptions, each with its reason).
//!
//! The Xen column is optional for users (`cargo xtask bench --against xen` reports it
//! unavailable when Xen cannot be fetched or booted). The suite asks for it by setting
//! `BULKHEAD_BENCH_REQUIRE=xen`: then a missing Xen column fails this test.

use xtask::bench::Platform;

/// Names extra platforms the quick bench must produce a column for (`xen`).
const REQUIRE_VARIABLE: &str = "BULKHEAD_BENCH_REQUIRE";

/// Bulkhead and the floor, plus what [`REQUIRE_VARIABLE`] names.
fn required_platforms() -> Vec<Platform> {
    let mut required = vec![Platform::Bulkhead, Platform::Floor];
    let requested = std::env::var(REQUIRE_VARIABLE).unwrap_or_default();
    for name in requested
        .split(',')
        .map(str::trim)
        .filter(|name| !name.is_empty())
    {
        match name {
            "xen" => required.push(Platform::Xen),
            other => panic!("{REQUIRE_VARIABLE}: unknown platform `{other}` (known: xen)"),
        }
    }
    required
}

#[test]
fn quick_bench_measures_every_metric_the_platforms_can_measure() {
    let required = required_platforms();
    match xtask::bench::quick_check(&xtask::paths::Repository::locate(), &required) {
        Ok(report) => {
            for platform in &required {
                assert!(
                    report.platform(*platform).is_some(),
                    "{} column missing after a passing check",
                    platform.heading()
                );
            }
        }
        Err(error) => panic!("the quick bench failed (platforms required: {required:?}): {error}"),
    }
}
