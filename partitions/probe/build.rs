//! Links the probe with guest-rt's linker script plus `probe-entry.ld`, which puts the probe's
//! own `Image` header (and its first-instruction timestamp) in front of guest-rt's, and makes
//! it the ELF entry point. Host builds (the unit tests of the output format) link normally.

use std::env;

fn main() {
    let manifest_directory =
        env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR for build scripts");
    println!("cargo:rerun-if-changed=probe-entry.ld");
    println!("cargo:rerun-if-changed=build.rs");
    if env::var("CARGO_CFG_TARGET_ARCH").as_deref() != Ok("aarch64") {
        return;
    }
    println!("cargo:rustc-link-search={manifest_directory}");
    println!("cargo:rustc-link-arg-bins=-Tguest-rt.ld");
    println!("cargo:rustc-link-arg-bins=-Tprobe-entry.ld");
    println!("cargo:rustc-link-arg-bins=--entry=__probe_entry");
}
