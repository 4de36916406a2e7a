//! `heartbeat`: the smallest partition that shows a Bulkhead system working.
//!
//! It proves, one line at a time, what a partition can rely on: the device tree (its name in
//! the banner), PSCI (secondary vCPUs come online), the virtual timer and GIC (a heartbeat
//! every 100 ms, counted in the timer's interrupt handler), console input (each byte typed
//! while the partition has the console's focus is echoed), and fault containment (an access
//! outside its memory comes back as a data abort it survives).
//!
//! Bootargs (space-separated tokens in `/chosen/bootargs`):
//! - `fault-after=<N>`: after heartbeat N, read once from an address outside any RAM window.
//! - `heartbeats=<N>`: after heartbeat N, print `done` and power the partition off.
//!
//! Integration tests look for these exact lines:
//! `hello from <model> on vCPU <n> at EL<el>`, `vCPU <n> online at EL<el>`, `heartbeat <N>`,
//! `received '<c>'`, `caught data abort at 0x<FAR> (ESR 0x<ESR>)` (lowercase hex) and `done`.
#![no_std]
#![no_main]
#![forbid(unsafe_op_in_unsafe_fn)]

use core::arch::asm;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use guest_rt::exception::{self, Resolution, SynchronousException};
use guest_rt::timer::VirtualTimer;
use guest_rt::{BootInfo, console, cpu, irq, println, psci};

guest_rt::entry!(main, secondary_main);

const HEARTBEAT_PERIOD_NANOSECONDS: u64 = 100_000_000;
/// 4 GiB: above the RAM of QEMU `virt` guests up to 3 GiB and outside every partition's RAM
/// window at 0x4000_0000, so the hypervisor's stage 2 does not map it.
const OUTSIDE_RAM: u64 = 0x1_0000_0000;
/// One priority for every interrupt: none of them needs to preempt another.
const INTERRUPT_PRIORITY: u8 = 0x80;

/// Heartbeats so far; only the timer interrupt handler advances it.
static HEARTBEATS: AtomicU64 = AtomicU64::new(0);
/// The heartbeat period in counter ticks.
static PERIOD_TICKS: AtomicU64 = AtomicU64::new(0);
/// Set only around the deliberate bad read: any other data abort is a real bug.
static EXPECTING_DATA_ABORT: AtomicBool = AtomicBool::new(false);

fn main(boot: &'static BootInfo) -> ! {
    println!(
        "hello from {} on vCPU {} at EL{}",
        boot.model,
        cpu::current_index(),
        cpu::current_el()
    );
    let fault_after = number_bootarg(boot, "fault-after");
    let stop_after = number_bootarg(boot, "heartbeats");

    exception::set_synchronous_handler(on_synchronous_exception);
    start_secondary_vcpus(boot);
    listen_to_console(boot);
    start_heartbeat(boot);
    irq::unmask();

    let mut printed = 0;
    loop {
        irq::wait_while(|| HEARTBEATS.load(Ordering::Relaxed) == printed);
        // More than one beat may have passed if this vCPU was not scheduled for a while.
        while printed < HEARTBEATS.load(Ordering::Relaxed) {
            printed += 1;
            println!("heartbeat {printed}");
            if fault_after == Some(printed) {
                read_outside_ram();
            }
            if stop_after == Some(printed) {
                println!("done");
                psci::system_off();
            }
        }
    }
}

fn secondary_main(vcpu: usize, _boot: &'static BootInfo) -> ! {
    println!("vCPU {vcpu} online at EL{}", cpu::current_el());
    cpu::park()
}

/// A bootarg's number, or `None` when absent or not a number (which is reported).
fn number_bootarg(boot: &BootInfo, key: &str) -> Option<u64> {
    let value = boot.bootarg(key)?;
    let number = value.parse().ok();
    if number.is_none() {
        println!("ignoring {key}={value}: not a number");
    }
    number
}

fn start_secondary_vcpus(boot: &BootInfo) {
    let this_vcpu = cpu::current_affinity();
    for (vcpu, &mpidr) in boot.cpus.iter().enumerate() {
        if mpidr == this_vcpu {
            continue;
        }
        if let Err(error) = psci::start_vcpu(vcpu, mpidr) {
            println!("vCPU {vcpu}: CPU_ON failed: {error:?}");
        }
    }
}

fn listen_to_console(boot: &BootInfo) {
    let (Some(uart), Some(intid)) = (console::uart(), boot.console.and_then(|uart| uart.intid))
    else {
        println!("no console interrupt: input is ignored");
        return;
    };
    match irq::enable(intid, INTERRUPT_PRIORITY, on_console_input) {
        Ok(()) => uart.enable_receive_interrupt(),
        Err(error) => println!("console input unavailable: {error:?}"),
    }
}

fn on_console_input(_intid: u32) {
    let Some(uart) = console::uart() else { return };
    uart.clear_receive_interrupt();
    while let Some(byte) = uart.read_byte() {
        println!("received '{}'", byte.escape_ascii());
    }
}

fn start_heartbeat(boot: &BootInfo) {
    let Some(intid) = boot.virtual_timer_intid else {
        panic!("the device tree has no arm,armv8-timer node: no heartbeat without a timer");
    };
    let timer = VirtualTimer;
    let period = timer.ticks_from_nanoseconds(HEARTBEAT_PERIOD_NANOSECONDS);
    assert!(
        period > 0,
        "CNTFRQ_EL0 is 0: firmware did not set the counter frequency"
    );
    PERIOD_TICKS.store(period, Ordering::Relaxed);
    if let Err(error) = irq::enable(intid, INTERRUPT_PRIORITY, on_timer) {
        panic!("cannot enable the virtual timer interrupt {intid}: {error:?}");
    }
    timer.set_deadline(timer.now() + period);
}

fn on_timer(_intid: u32) {
    let timer = VirtualTimer;
    let period = PERIOD_TICKS.load(Ordering::Relaxed);
    // Counting from the previous deadline keeps the beat from drifting; after a long pause
    // (the partition was stopped), restart from now instead of firing a burst of catch-ups.
    let mut next = timer.deadline() + period;
    let now = timer.now();
    if next <= now {
        next = now + period;
    }
    // Moving the deadline is what lowers the level-triggered timer interrupt.
    timer.set_deadline(next);
    HEARTBEATS.fetch_add(1, Ordering::Relaxed);
}

/// Loads from [`OUTSIDE_RAM`] once. Under Bulkhead the hypervisor answers with a synchronous
/// external abort, which [`on_synchronous_exception`] reports and skips.
fn read_outside_ram() {
    EXPECTING_DATA_ABORT.store(true, Ordering::Relaxed);
    // SAFETY: the load reads no memory Rust knows about and writes only the discarded output
    // register. If it faults, the handler skips exactly this instruction, which leaves every
    // register Rust relies on as it was; if it does not fault, a value is read and dropped.
    unsafe {
        asm!(
            "ldr {value}, [{address}]",
            address = in(reg) OUTSIDE_RAM,
            value = out(reg) _,
            options(nostack, readonly),
        )
    };
    EXPECTING_DATA_ABORT.store(false, Ordering::Relaxed);
}

fn on_synchronous_exception(exception: &SynchronousException) -> Resolution {
    if !(exception.is_data_abort_from_current_el() && EXPECTING_DATA_ABORT.load(Ordering::Relaxed))
    {
        // The runtime prints ESR, FAR and ELR and powers the partition off.
        return Resolution::Fatal;
    }
    println!(
        "caught data abort at 0x{:x} (ESR 0x{:x})",
        exception.fault_address, exception.syndrome
    );
    Resolution::SkipInstruction
}
