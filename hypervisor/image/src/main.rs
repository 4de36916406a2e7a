//! The Bulkhead EL2 image.
//!
//! It wires three layers together: `bulkhead-arch-aarch64` (entry, vectors, system
//! registers), `bulkhead-drivers` (the GIC and UARTs the hypervisor owns) and
//! `bulkhead-core` (all decisions: stage-2 tables, device models, PSCI), driven by the
//! system tables `bulkhead-config` generated at build time. It allocates nothing: every
//! table and state object is a `static` sized by those tables.
//!
//! Boot: core 0 brings up the console, the EL2 identity map and the GIC, builds every
//! partition's stage-2 tables and checks where its images go, then starts the other cores;
//! each core then enters the vCPU pinned to it, the core of a vCPU 0 after copying its
//! partition's images (others wait for PSCI `CPU_ON` to start them).
//!
//! [impl->dsn~el2-static-state~1]
#![no_std]
#![no_main]
#![deny(unsafe_code)]

mod console;
mod containment;
mod context;
mod cores;
mod delivery;
mod deadline;
mod display;
mod entropy;
mod generated;
mod input;
mod interrupts;
mod lock;
mod partition;
mod physical_gic;
mod platform;
mod refusals;
mod routes;
mod secure_entry;
mod trap;
mod vcpu;

use bulkhead_arch_aarch64 as arch;
use bulkhead_arch_aarch64::vectors::TrapFrame;
use bulkhead_core::report_limit::ReportKind;
use bulkhead_drivers::gicv3::InterruptTrigger;
use bulkhead_core::system::SecondaryBoot;
use generated::SYSTEM;

/// Core 0's entry from the boot assembly (`core` is its index in the system tables;
/// `firmware_tree` is the loader's `x0`, the address of its device tree or 0, see
/// `arch::boot`): brings up the platform and every partition, starts the other cores, then
/// runs its own vCPU.
#[unsafe(no_mangle)]
#[expect(unsafe_code, reason = "entry point named by the boot assembly")]
extern "C" fn bulkhead_primary_entry(core: usize, firmware_tree: usize) -> ! {
    arch::cpu::set_core_index(core);
    // Vectors first, so even a fault during platform set-up is reported, not a silent loop.
    arch::vectors::install();
    if let Err(error) = platform::initialise_shared() {
        hv_println!("cannot start the platform: {:?}", error);
        arch::cpu::halt();
    }
    platform::initialise_core(core);
    hv_println!("Bulkhead hypervisor on {}: {} partitions, {} cores", SYSTEM.board.name, SYSTEM.partitions.len(), SYSTEM.cores.len());
    secure_entry::report();
    partition::note_loader_placement();
    entropy::draw_boot_seed(firmware_tree);
    if let Err((index, error)) = partition::set_up_all() {
        let name = SYSTEM.partitions.get(index).map_or("?", |p| p.name);
        hv_println!("{}: cannot be set up: {:?}", name, error);
        arch::cpu::halt();
    }
    // Before any vCPU runs: from here on each vPL011 publishes its UARTFR for the trap's
    // lock-free short path.
    context::attach_published_registers();
    for (index, description) in SYSTEM.partitions.iter().enumerate() {
        hv_println!(
            "{}: {} MiB at {:#x}, cores {:?}, VMID {}",
            description.name,
            description.ram.size >> 20,
            description.ram.phys.raw(),
            description.cores,
            index.saturating_add(1)
        );
    }
    display::initialise();
    routes::configure_forwarded_interrupts();
    input::initialise();
    enable_console_input();
    arch::boot::release_secondaries();
    start_secondary_cores();
    vcpu::run(core)
}

/// Every other core's entry from the boot assembly, once core 0 has released them.
#[unsafe(no_mangle)]
#[expect(unsafe_code, reason = "entry point named by the boot assembly")]
extern "C" fn bulkhead_secondary_entry(core: usize) -> ! {
    arch::cpu::set_core_index(core);
    platform::initialise_core(core);
    vcpu::run(core)
}

/// Starts the other cores on boards whose firmware keeps them waiting: PSCI `CPU_ON`, or the
/// spin table (`cpu-release-addr`).
#[expect(unsafe_code, reason = "writes the spin-table slots firmware polls")]
fn start_secondary_cores() {
    match SYSTEM.board.secondary_boot {
        SecondaryBoot::PsciSmc => {
            for (index, other) in SYSTEM.cores.iter().enumerate().skip(1) {
                if let Err(error) = arch::psci::cpu_on_smc(other.mpidr, arch::boot::entry_point(), 0) {
                    hv_println!("core {} did not start: firmware error {}", index, error.0);
                }
            }
        }
        SecondaryBoot::SpinTable => {
            for other in SYSTEM.cores.iter().skip(1) {
                if let Some(address) = other.release_address {
                    // SAFETY: the configuration compiler took the address from the core's
                    // `cpu-release-addr`, checked that its page is board RAM (so in the
                    // identity map) outside the hypervisor's reservation, and reserved the
                    // page from partition placement (`board::spin_table_pages`): no Rust
                    // object lives there. Firmware polls it until a non-zero entry appears.
                    unsafe { arch::boot::release_from_spin_table(address) };
                }
            }
        }
        SecondaryBoot::PsciHvc | SecondaryBoot::AllCoresEnter => {}
    }
}

/// Routes the console UART's receive interrupt to the core that handles input.
fn enable_console_input() {
    let Some(core) = input::input_core() else { return };
    console::enable_receive_interrupt();
    let affinity = SYSTEM.cores.get(core).map_or(0, |c| c.mpidr);
    if let Some(gic) = platform::GIC.lock().as_mut() {
        if gic.enable(SYSTEM.board.console.intid, core, affinity, InterruptTrigger::Level).is_err() {
            hv_println!("console input interrupt unavailable: input disabled");
        }
    }
}

/// Synchronous exception from the guest (vector table, lower EL).
// [impl->dsn~el2-trap-dispatch~1]
#[unsafe(no_mangle)]
#[expect(unsafe_code, reason = "handler named by the vector table")]
extern "C" fn bulkhead_lower_sync(frame: &mut TrapFrame) {
    trap::handle_synchronous(frame);
}

/// Physical IRQ or FIQ taken while the guest ran (vector table, lower EL).
// [impl->dsn~el2-trap-dispatch~1]
#[unsafe(no_mangle)]
#[expect(unsafe_code, reason = "handler named by the vector table")]
extern "C" fn bulkhead_lower_irq(_frame: &mut TrapFrame) {
    interrupts::handle();
}

/// SError taken while the guest ran (vector table, lower EL).
// [impl->dsn~el2-trap-dispatch~1]
#[unsafe(no_mangle)]
#[expect(unsafe_code, reason = "handler named by the vector table")]
extern "C" fn bulkhead_lower_serror(frame: &mut TrapFrame) {
    // An SError from a guest is an asynchronous external abort caused by that guest's own
    // accesses: its fault policy decides.
    let context = context::TrapContext::current();
    console::report(context.vcpu.partition, ReportKind::SystemError, format_args!("SError (pc {:#x})", frame.elr));
    let fault = containment::Fault { kind: bulkhead_core::esr::injection::AbortKind::Data, ipa: 0, address: 0, write_not_read: false };
    let fate = containment::fault(context, frame, fault);
    vcpu::carry_out(context, fate);
}

/// Any exception taken from EL2 itself: a hypervisor bug. Reports it and stops this core.
// [impl->dsn~el2-vectors~1]
#[unsafe(no_mangle)]
#[expect(unsafe_code, reason = "handler named by the vector table")]
extern "C" fn bulkhead_hypervisor_fault(frame: &mut TrapFrame, vector: u64) -> ! {
    let syndrome = arch::guest::trap_syndrome();
    console::fatal(format_args!(
        "hypervisor fault on core {}: vector {} ESR {:#x} FAR {:#x} ELR {:#x} LR {:#x}: core stopped",
        arch::cpu::core_index(),
        vector,
        syndrome.esr,
        syndrome.far,
        frame.elr,
        frame.register(30)
    ));
    arch::cpu::halt()
}

/// Reports a panic and stops this core. No panic is reachable from the exception vectors
/// (MLR-27); this handler serves boot code and is the last line of defence.
#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    console::fatal(format_args!("hypervisor panic on core {}: {}", arch::cpu::core_index(), info.message()));
    arch::cpu::halt()
}

defmt::timestamp!("{=u64:us}", arch::cpu::counter() / (arch::cpu::counter_frequency() / 1_000_000).max(1));
