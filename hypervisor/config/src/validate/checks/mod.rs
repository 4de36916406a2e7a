//! The named checks, grouped by subject. Each `check_<name>` reports its own code only and
//! never assumes another check passed.
//!
//! Design: [impl->dsn~config-checks~1]

pub(super) mod channels;
pub(super) mod colours;
pub(super) mod cores;
pub(super) mod devices;
pub(super) mod display;
pub(super) mod interrupts;
pub(super) mod memory;
pub(super) mod names;
