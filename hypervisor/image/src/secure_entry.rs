//! The image's part of a core's start at EL3 (QEMU `raspi4b` enters every core of the ELF
//! there; on a Raspberry Pi the official `armstub8` does this work and enters at EL2): called
//! by the boot assembly (`bulkhead_arch_aarch64::boot`) on each core before it drops to EL2,
//! on the core's own stack, with `.bss` not zeroed yet — so nothing here reads or writes a
//! `.bss` static.
//!
//! It does what the board's tables call for: coherency on (`CPUECTLR_EL1.SMPEN`), the counter
//! frequency when the device tree states one, and, on a GICv2 board, the GIC's secure-side
//! hand-over (`bulkhead_drivers::gicv2_secure`: Group 1 for every interrupt and an open
//! priority mask when the GIC has Security Extensions). What core 0's hand-over found is kept
//! in `.data` and logged once the log UART works ([`report`]).
#![expect(unsafe_code, reason = "entry point named by the boot assembly; the GIC frames before the MMU is on")]

use crate::generated::SYSTEM;
use bulkhead_arch_aarch64 as arch;
use bulkhead_core::system::Gic;
use bulkhead_drivers::gicv2_secure::{self, HandOver};
use core::sync::atomic::{AtomicU8, Ordering};

/// Core 0 did not start at EL3.
const NOT_AT_EL3: u8 = 0;
/// Core 0 started at EL3 on a GICv3 board (the boot assembly set `ICC_SRE_EL3`).
const GICV3: u8 = 1;
/// Core 0 started at EL3; its GICv2 has no Security Extensions.
const GICV2_WITHOUT_SECURITY: u8 = 2;
/// Core 0 started at EL3 and handed its GICv2's interrupts to Group 1.
const GICV2_HANDED_OVER: u8 = 3;
/// Core 0 started at EL3, but a GICv2 frame address was unusable.
const GICV2_NO_FRAMES: u8 = 4;

/// What core 0's EL3 start found: in `.data`, not `.bss`, because it is written before core 0
/// zeroes `.bss`.
#[unsafe(link_section = ".data.bulkhead_el3_entry")]
static CORE0_AT_EL3: AtomicU8 = AtomicU8::new(NOT_AT_EL3);

/// Called by the boot assembly at EL3 (MMU and caches off) with the core's index.
#[unsafe(no_mangle)]
extern "C" fn bulkhead_el3_prepare(core: usize) {
    arch::el3::enable_coherency();
    if let Some(hertz) = SYSTEM.board.counter_frequency {
        arch::el3::set_counter_frequency(hertz);
    }
    let outcome = match SYSTEM.board.gic {
        Gic::V3 { .. } => GICV3,
        Gic::V2 { distributor, cpu_interface, .. } => {
            let frame = |address: bulkhead_core::addr::PhysAddr| usize::try_from(address.raw()).unwrap_or(0);
            // SAFETY: the frames come from the validated board device tree; with the MMU off
            // they are reached at their physical addresses. Every core runs this before the
            // hypervisor's own GIC driver exists, writing the same values.
            let handed = unsafe {
                gicv2_secure::hand_over_to_non_secure(frame(distributor), frame(cpu_interface))
            };
            match handed {
                HandOver::NoSecurityExtensions => GICV2_WITHOUT_SECURITY,
                HandOver::NonSecureGroup1 => GICV2_HANDED_OVER,
                HandOver::NoFrames => GICV2_NO_FRAMES,
            }
        }
    };
    if core == 0 {
        CORE0_AT_EL3.store(outcome, Ordering::Relaxed);
    }
}

/// Logs how the boot core started, when it started at EL3 (the defmt log, not the console:
/// partitions' consoles carry only what they and the hypervisor's fault reports print).
pub fn report() {
    match CORE0_AT_EL3.load(Ordering::Relaxed) {
        GICV3 => defmt::info!("entered at EL3: dropped to EL2 (GICv3 system registers enabled)"),
        GICV2_WITHOUT_SECURITY => defmt::info!("entered at EL3: dropped to EL2 (GIC without Security Extensions: nothing to hand over)"),
        GICV2_HANDED_OVER => defmt::info!("entered at EL3: dropped to EL2 (GIC interrupts handed to Group 1, Non-secure)"),
        GICV2_NO_FRAMES => defmt::info!("entered at EL3: dropped to EL2 (GIC frames unusable: not handed over)"),
        _ => {}
    }
}
