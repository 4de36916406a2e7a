//! How a boot-time driver bounds its waits for a device.
//!
//! A driver that must wait for hardware (a virtio device answering a request, an RNG filling
//! its FIFO) polls, and between polls asks its caller's [`Deadline`] whether to give up. The
//! driver then returns an error value instead of waiting on: the boot goes on without the
//! device. The hypervisor's deadlines count the physical counter (`bulkhead-image`); the host
//! tests count polls, or answer for the fake device from inside [`Deadline::passed`].

/// When a boot-time wait gives up.
pub trait Deadline {
    /// Whether the wait should end now; called between polls (may also yield the core).
    fn passed(&mut self) -> bool;
}
