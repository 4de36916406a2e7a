//! The EL1 virtual timer (Arm ARM, "The Generic Timer in AArch64 state"): deadlines that raise
//! the virtual timer PPI, and busy-wait delays.
//!
//! A guest uses the virtual timer rather than the physical one because it is the timer a
//! hypervisor gives each vCPU: it counts `CNTVCT_EL0`, which the hypervisor can offset per
//! partition, and its interrupt is delivered as a virtual interrupt without trapping.

use aarch64_cpu::asm::barrier;
use aarch64_cpu::registers::{
    CNTFRQ_EL0, CNTV_CTL_EL0, CNTV_CVAL_EL0, CNTVCT_EL0, Readable, Writeable,
};
use core::hint::spin_loop;

/// The calling vCPU's virtual timer. Every vCPU has its own; the handle has no state.
#[derive(Clone, Copy, Debug, Default)]
pub struct VirtualTimer;

const NANOSECONDS_PER_SECOND: u128 = 1_000_000_000;

impl VirtualTimer {
    /// Counter ticks per second (`CNTFRQ_EL0`, set by firmware).
    pub fn frequency(&self) -> u64 {
        CNTFRQ_EL0.get()
    }

    /// The current virtual count (`CNTVCT_EL0`).
    pub fn now(&self) -> u64 {
        // Without the ISB the counter may be read early, before instructions that precede it
        // in program order (Arm ARM, "Reading the Generic Timer counters").
        barrier::isb(barrier::SY);
        CNTVCT_EL0.get()
    }

    /// Counter ticks in `nanoseconds`, rounded up so that waiting that many ticks lasts at
    /// least that long.
    pub fn ticks_from_nanoseconds(&self, nanoseconds: u64) -> u64 {
        (u128::from(nanoseconds) * u128::from(self.frequency())).div_ceil(NANOSECONDS_PER_SECOND)
            as u64
    }

    /// Raises the virtual timer interrupt once the count reaches `deadline`, and keeps it
    /// raised (the interrupt is level-triggered) until the deadline moves or the timer stops.
    pub fn set_deadline(&self, deadline: u64) {
        CNTV_CVAL_EL0.set(deadline);
        CNTV_CTL_EL0.write(CNTV_CTL_EL0::ENABLE::SET + CNTV_CTL_EL0::IMASK::CLEAR);
    }

    /// The deadline last set (`CNTV_CVAL_EL0`). Adding a period to it, rather than to
    /// [`VirtualTimer::now`], keeps a periodic tick from drifting by the handler's latency.
    pub fn deadline(&self) -> u64 {
        CNTV_CVAL_EL0.get()
    }

    /// Stops the timer; its interrupt drops.
    pub fn stop(&self) {
        CNTV_CTL_EL0.write(CNTV_CTL_EL0::ENABLE::CLEAR);
    }
}

/// Busy-waits on the counter: for short waits where sleeping would cost more than it saves.
impl embedded_hal::delay::DelayNs for VirtualTimer {
    fn delay_ns(&mut self, nanoseconds: u32) {
        let end = self.now() + self.ticks_from_nanoseconds(u64::from(nanoseconds));
        while self.now() < end {
            spin_loop();
        }
    }
}
