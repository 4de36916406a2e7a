//! Links the program with its own linker script (`linux-counter.ld`).

use std::env;

fn main() {
    let manifest_directory =
        env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR for build scripts");
    println!("cargo:rustc-link-search={manifest_directory}");
    println!("cargo:rustc-link-arg-bins=-Tlinux-counter.ld");
    println!("cargo:rerun-if-changed=linux-counter.ld");
    println!("cargo:rerun-if-changed=build.rs");
}
