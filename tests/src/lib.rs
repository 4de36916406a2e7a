//! The QEMU integration-test harness for Bulkhead, shared by the tests in `tests/tests/`.
//!
//! Tests get a built system ([`TestSystem::demo`], or [`TestSystem::from_manifest_text`] for
//! a variant), boot it headless ([`TestSystem::boot`]) and then wait for console lines
//! ([`QemuSession::wait_for`], [`QemuSession::wait_until`]), type into the console
//! ([`QemuSession::send_input`]) and inspect what was printed ([`Transcript`]). Any wait that
//! times out kills QEMU and fails the test with the console, the decoded hypervisor log and
//! QEMU's stderr, so a CI failure can be read without rerunning it.
//!
//! The systems are built by `cargo xtask test`, which hands them over through environment
//! variables; under plain `cargo test` the tests stop and say so. Building and booting use
//! the `xtask` library, so a test boots exactly what `cargo xtask run` boots.
#![forbid(unsafe_code)]

pub mod display;
pub mod session;
pub mod system;
pub mod transcript;

pub use session::{BootOptions, FOCUS_KEY, QemuSession};
pub use system::{DETERMINISTIC_ARGUMENTS, Handoff, TestSystem};
pub use transcript::Transcript;
