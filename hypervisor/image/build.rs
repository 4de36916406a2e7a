//! Links the image against the system the config compiler generated.
//!
//! `cargo xtask build` runs `bulkhead-config` first and points `BULKHEAD_GEN_DIR` at its
//! output (`system.rs`, `memory.x`, `preload.x`, guest images and device trees); this script only tells
//! the linker where those are. Nothing is parsed here.

use std::env;
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-env-changed=BULKHEAD_GEN_DIR");
    println!("cargo:rerun-if-changed=link.x");
    let Ok(generated) = env::var("BULKHEAD_GEN_DIR") else {
        eprintln!("error: BULKHEAD_GEN_DIR is not set: build the hypervisor with `cargo xtask build`");
        std::process::exit(1);
    };
    let generated = PathBuf::from(generated);
    for file in ["memory.x", "preload.x", "system.rs"] {
        let path = generated.join(file);
        if !path.is_file() {
            eprintln!("error: {} is missing: run `cargo xtask build`", path.display());
            std::process::exit(1);
        }
        println!("cargo:rerun-if-changed={}", path.display());
    }
    let here = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
    println!("cargo:rustc-link-search={}", generated.display());
    println!("cargo:rustc-link-search={}", here.display());
    println!("cargo:rustc-link-arg=-Tlink.x");
    println!("cargo:rustc-link-arg=-Tdefmt.x");
    println!("cargo:rustc-link-arg=--no-undefined");
}
