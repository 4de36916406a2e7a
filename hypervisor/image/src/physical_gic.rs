//! The physical GIC's shared part (distributor and redistributors), behind one lock. A module
//! of its own, below both the platform set-up that fills it and the paths that re-route or
//! enable interrupts at run time (the console, the vGIC's hardware effects), so that none of
//! them has to import another.

use crate::generated::InterruptController;
use crate::lock::Mutex;

/// The physical GIC's distributor and redistributors (CPU interfaces are per core,
/// `platform::CpuInterface`). `None` until the platform takes the GIC over. Lock order:
/// taken with no partition lock held, or inside one; held for one register update at run
/// time.
pub static GIC: Mutex<Option<InterruptController>> = Mutex::new(None);
