//! `bulkhead-config`: the build-time configuration compiler.
//!
//! It turns a system manifest (`partitions/*.toml`) and a board description
//! (`board-configs/<board>/board.toml` + device tree) into the static tables the EL2 image
//! compiles in. Nothing parses TOML or device trees at EL2: every decision about memory,
//! cores and devices is made and checked here, once, on the host, and emitted as Rust
//! (`system.rs`, `include!`d by the image), a linker fragment (`memory.x`), one device tree
//! per partition, a human-readable `report.md` and a `memory-map.svg` picture.
//!
//! Flow: [`load`] parses and validates everything that does not need guest image bytes and
//! returns a [`SystemSpec`] (xtask asks it which guest crates to build); [`compile()`] loads
//! the built images, checks they fit, and writes the outputs. Both report every problem at
//! once as [`Diagnostics`], each with a stable code (`BH0101 memory-overlap`) and the exact
//! span of the offending value.
//!
//! # Manifest language
//!
//! `docs/manifest.md` is the reference, with a complete example. In short: `[system]` names
//! the board (and may override its console and the hypervisor's RAM); each `[[partition]]`
//! gives name, criticality, image (guest crate or ELF/arm64 `Image` file), initrd, bootargs,
//! memory (size, base, cache colours) and `[[partition.region]]`s, cores and vCPUs, devices
//! passed through by device-tree path, alias or label, extra interrupts, console and fault
//! policy; each `[[channel]]` shares memory between named partitions with per-side access
//! and an optional doorbell. `[[gpu]]`/`display` are reserved. Unknown keys are errors.
//!
//! # Checking without building
//!
//! [`check()`] runs everything [`compile()`] does except requiring built guest images (it
//! skips the image checks of guests not built yet, and says so) and returns a printable
//! [`CheckReport`]; `cargo xtask check --manifest FILE` prints it.

#![forbid(unsafe_code)]

pub mod board;
pub mod check;
pub mod codegen;
pub mod compile;
pub mod devices;
pub mod diagnostic;
pub mod guest_dtb;
pub mod image;
pub mod input_file;
pub mod manifest;
pub mod report;
pub mod schema;
pub mod spec;
pub mod units;
pub mod validate;

pub use board::{Board, CoreInfo, DeviceTreeBlob, QemuSettings, UartInfo};
pub use check::{CheckOptions, CheckReport, ImageCheck, check, check_loaded};
pub use compile::{CompiledPartition, CompiledSystem, Options, compile, compile_loaded};
pub use diagnostic::{Code, Diagnostic, Diagnostics, Severity};
pub use spec::{
    ChannelSpec, ImageSource, PartitionSpec, Placement, SystemSpec, find_repo_root, load, load_text,
};
pub use units::AddressRange;
