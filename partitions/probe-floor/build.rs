//! Links the stub with its own linker script (`probe-floor.ld`).

use std::env;

fn main() {
    let manifest_directory =
        env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR for build scripts");
    println!("cargo:rustc-link-search={manifest_directory}");
    println!("cargo:rustc-link-arg-bins=-Tprobe-floor.ld");
    println!("cargo:rerun-if-changed=probe-floor.ld");
    println!("cargo:rerun-if-changed=build.rs");
}
