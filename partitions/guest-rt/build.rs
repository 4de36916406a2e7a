//! Makes the guest linker script `guest-rt.ld` findable by the binaries that depend on this
//! crate. A library cannot pass `-T` for its dependents; each guest's own build script adds
//! `cargo:rustc-link-arg-bins=-Tguest-rt.ld`, and the search path set here lets the linker
//! find the file.

use std::env;

fn main() {
    let manifest_directory =
        env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR for build scripts");
    println!("cargo:rustc-link-search={manifest_directory}");
    println!("cargo:rerun-if-changed=guest-rt.ld");
    println!("cargo:rerun-if-changed=build.rs");
}
