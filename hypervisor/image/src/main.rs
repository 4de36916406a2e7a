//! The Bulkhead EL2 image.
//!
//! It wires three layers together: `bulkhead-arch-aarch64` (entry, vectors, system
//! registers), `bulkhead-drivers` (the GIC and UARTs the hypervisor owns) and
//! `bulkhead-core` (all decisions: stage-2 tables, device models, PSCI), driven by the
//! system tables `bulkhead-config` generated at build time. It allocates nothing: every
//! table and state object is a `static` sized by those tables.
#![no_std]
#![no_main]
#![deny(unsafe_code)]

mod console;
mod cores;
mod generated;

use bulkhead_arch_aarch64 as arch;
use generated::SYSTEM;

#[unsafe(no_mangle)]
#[expect(unsafe_code, reason = "entry point named by the boot assembly")]
extern "C" fn bulkhead_primary_entry(core: usize) -> ! {
    start_console();
    hv_println!("Bulkhead on {} (core {})", SYSTEM.board.name, core);
    arch::boot::release_secondaries();
    for (index, other) in SYSTEM.cores.iter().enumerate().skip(1) {
        if let Err(error) = arch::psci::cpu_on_smc(other.mpidr, arch::boot::entry_point(), 0) {
            hv_println!("core {} did not start: {:?}", index, error);
        }
    }
    arch::cpu::halt()
}

#[unsafe(no_mangle)]
#[expect(unsafe_code, reason = "entry point named by the boot assembly")]
extern "C" fn bulkhead_secondary_entry(core: usize) -> ! {
    hv_println!("core {} up", core);
    arch::cpu::halt()
}

fn start_console() {
    #[expect(unsafe_code, reason = "the one place the console UART is taken over")]
    // SAFETY: the board's console UART address comes from the validated device tree and the
    // hypervisor's identity map covers it; nothing else drives it.
    let uart = unsafe { bulkhead_drivers::pl011::Pl011::new(SYSTEM.board.console.base.raw() as usize) };
    console::attach(uart);
}

#[unsafe(no_mangle)]
#[expect(unsafe_code, reason = "handler named by the vector table")]
extern "C" fn bulkhead_hypervisor_fault(_frame: &mut arch::vectors::TrapFrame, _vector: u64) -> ! {
    arch::cpu::halt()
}

#[unsafe(no_mangle)]
#[expect(unsafe_code, reason = "handler named by the vector table")]
extern "C" fn bulkhead_lower_sync(_frame: &mut arch::vectors::TrapFrame) {}

#[unsafe(no_mangle)]
#[expect(unsafe_code, reason = "handler named by the vector table")]
extern "C" fn bulkhead_lower_irq(_frame: &mut arch::vectors::TrapFrame) {}

#[unsafe(no_mangle)]
#[expect(unsafe_code, reason = "handler named by the vector table")]
extern "C" fn bulkhead_lower_serror(_frame: &mut arch::vectors::TrapFrame) {}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    hv_println!("hypervisor panic: {}", info.message());
    arch::cpu::halt()
}

defmt::timestamp!("{=u64:us}", arch::cpu::counter() / (arch::cpu::counter_frequency() / 1_000_000).max(1));
