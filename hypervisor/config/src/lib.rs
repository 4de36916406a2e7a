//! `bulkhead-config`: the build-time configuration compiler.
//!
//! It turns a system manifest (`partitions/*.toml`) and a board description
//! (`board-configs/<board>/board.toml` + device tree) into the static tables the EL2 image
//! compiles in. Nothing parses TOML or device trees at EL2: every decision about memory,
//! cores and devices is made and checked here, once, on the host, and emitted as Rust
//! (`system.rs`, `include!`d by the image), a linker fragment (`memory.x`), one device tree
//! per partition and a human-readable `report.md`.
//!
//! Flow: [`load`] parses and validates everything that does not need guest image bytes and
//! returns a [`SystemSpec`] (xtask asks it which guest crates to build); [`compile()`] loads
//! the built images, checks they fit, and writes the outputs. Both report every problem at
//! once as [`Diagnostics`], each with a stable code (`BH0101 memory-overlap`) and the exact
//! span of the offending value.
//!
//! # Manifest reference
//!
//! ```toml
//! [system]
//! board = "qemu-virt"            # a directory under board-configs/
//!
//! [[partition]]                  # one per partition, in order (index = identity, VMID = index + 1)
//! name = "alpha"                 # [a-z][a-z0-9_-]*, at most 32 characters
//! image = { crate = "heartbeat" }  # a guest crate in partitions/ built by xtask, or
//!                                  # { file = "guest.elf" } relative to the manifest (ELF or arm64 Image)
//! memory = { size = "64MiB" }    # optional base = 0x4800_0000 (host-physical, 2 MiB aligned);
//!                                # without base: allocated after the hypervisor, 2 MiB aligned
//! cpus = [0, 1]                  # physical cores; vCPU i runs on cpus[i]
//! bootargs = "heartbeats"        # optional: /chosen/bootargs of the guest device tree
//! fault_policy = "inject-abort"  # or "halt" (default), or { restart = 3 }
//! console = "virtual"            # optional, the only option for now
//! ```
//!
//! Sizes and addresses are integers or strings such as `"64MiB"`, `"2GiB"`, `"0x4800_0000"`.
//! Unknown keys are errors. Guest RAM always starts at IPA
//! `bulkhead_core::layout::RAM_BASE`; the guest device tree sits
//! `DTB_OFFSET_FROM_RAM_END` below its end.

pub mod board;
pub mod codegen;
pub mod compile;
pub mod diagnostic;
pub mod guest_dtb;
pub mod image;
pub mod manifest;
pub mod report;
pub mod spec;
pub mod units;
pub mod validate;

pub use board::{Board, CoreInfo, DeviceTreeBlob, QemuSettings, UartInfo};
pub use compile::{CompiledPartition, CompiledSystem, Options, compile, compile_loaded};
pub use diagnostic::{Code, Diagnostic, Diagnostics, Severity};
pub use spec::{ImageSource, PartitionSpec, Placement, SystemSpec, find_repo_root, load};
pub use units::AddressRange;
