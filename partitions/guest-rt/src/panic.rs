//! The panic handler: say why on the console, then power the partition off.
//!
//! Powering off (PSCI `SYSTEM_OFF`) rather than spinning lets the hypervisor apply the
//! partition's fault policy and lets a test on bare QEMU end instead of hanging.

use core::panic::PanicInfo;

use crate::{cpu, irq, println, psci};

#[panic_handler]
fn panic(info: &PanicInfo) -> ! {
    // Interrupt handlers must not run on a vCPU that is going down.
    irq::mask_for_good();
    println!("vCPU {} {info}", cpu::current_index());
    psci::system_off()
}
