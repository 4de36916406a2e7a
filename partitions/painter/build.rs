//! Links the guest with guest-rt's linker script (found through the search path guest-rt's
//! build script adds).

fn main() {
    println!("cargo:rustc-link-arg-bins=-Tguest-rt.ld");
    println!("cargo:rerun-if-changed=build.rs");
}
