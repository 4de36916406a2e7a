//! Bulkhead's build, run and test automation (`cargo xtask <command>`), as a library.
//!
//! The `xtask` binary is a thin command-line front end over these modules; the QEMU
//! integration-test harness (`tests/`) uses the same modules to build extra systems and to
//! start QEMU, so a test boots exactly what `cargo xtask run` boots. Each module does one
//! job: [`paths`] says where things are, [`toolchain`] and [`host_tools`] make sure the
//! compilers and emulators exist (installing them with [`apt`] when allowed), [`pipeline`]
//! builds a system, [`qemu`] starts it, [`defmt_log`] decodes the hypervisor's binary log and
//! [`board_dts`] regenerates a board's device tree from QEMU; [`linux_guest`] fetches and builds
//! the Linux demo partition's kernel and initramfs; [`flash`] makes and checks the SD card
//! files of the Raspberry Pi 4 and ZCU102. [`progress`] shows spinners.
#![forbid(unsafe_code)]

pub mod apt;
pub mod bench;
pub mod board_dts;
pub mod chaos;
pub mod defmt_log;
pub mod flash;
pub mod host_tools;
pub mod linux_guest;
pub mod module_graph;
pub mod paths;
pub mod pipeline;
pub mod progress;
pub mod qemu;
pub mod qemu_preflight;
pub mod terminal_mux;
pub mod toolchain;
