//! `chaos`: a partition that attacks everything it can reach, and counts what happened.
//!
//! Driven by a seeded generator ([`rng`]), it runs a fixed number of operations, each one of:
//! hypercalls (HVC, SMC) with random SMCCC function IDs and arguments, PSCI with bad arguments
//! (`CPU_ON` of foreign and nonexistent MPIDRs with bad entry points; never a function that
//! stops, suspends or resets it); loads, stores, exclusives, pairs, writeback forms (stage-2
//! syndromes with ISV=0), `DC ZVA`/`DC CIVAC`, address translation and instruction fetches at
//! random IPAs outside its RAM; accesses of every width to the vGIC distributor and
//! redistributor and the vPL011, in range and out of it; SGI generation
//! (`ICC_SGI1R_EL1`, `ICC_SGI0R_EL1`, `ICC_ASGI1R_EL1`) to foreign targets; system registers
//! legal at EL1 that a hypervisor may trap (PMU, debug, physical timer, implementation
//! defined, set/way and TLB maintenance) and registers EL1 may never touch (EL2, EL3,
//! write-only, read-only); `WFI`/`WFE` storms; console floods (long lines, control
//! characters, escape sequences, spoofed prefixes). Its own exception vectors ([`vectors`])
//! count every exception and skip the faulting instruction. At the end it prints its tallies
//! and powers itself off with PSCI `SYSTEM_OFF`.
//!
//! Bootargs (space-separated `key=value` tokens in `/chosen/bootargs`):
//! - `seed=<N>`: the generator's seed (decimal, or hex with `0x`); default: the counter.
//! - `ops=<N>`: operations to run (default 200000).
//! - `seconds=<N>`: stop earlier, once N seconds of counter time have passed.
//! - `progress=<N>`: print a progress line every N operations (default 10000; 0: never).
//! - `census=1`: first run every system register, EL1-illegal and SGI stub once and print
//!   `chaos: census <index> <category> <outcome>` for each (which instructions the platform
//!   refuses; the stub names are in `src/stubs.rs`). These count as operations.
//! - `trace=<N>`: from operation N on (counted from 1), print every stub call first as
//!   `chaos: trace <op> stub <index> x0=0x… x1=0x… x2=0x… x3=0x…`, to find the operation a
//!   replayed run stops at.
//! - `wfi=0`: wait operations never pick `WFI` (they use `WFE` instead), to separate a lost
//!   wake-up interrupt from everything else.
//! - `nested=1`: after the `done` line, point `VBAR_EL1` at unmapped memory and fault, so the
//!   exception vectors themselves fault (a nested-fault loop the hypervisor must contain by
//!   the partition's fault policy). The partition then never powers itself off.
//!
//! # Console lines (the contract with `tests/` and `cargo xtask soak`)
//!
//! The first line chaos prints is always `chaos: seed <N>` (decimal), so any run can be
//! replayed. Then `chaos: plan ops=<N> seconds=<S> nested=<0|1>` (S = 0: no time limit),
//! `chaos: progress ops=<N>` every `progress` operations, and at the end one line:
//!
//! ```text
//! chaos: done ops=<N> sysreg=<A>/<R>/<C> psci=<A>/<R>/<C> mmio=<A>/<R>/<C> stage2=<A>/<R>/<C> sgi=<A>/<R>/<C> smccc=<A>/<R>/<C> local=<A>/<R>/<C> wfx=<A>/<R>/<C> console=<A>/<R>/<C> bytes=<N> undef=<N> abort=<N> fault=<N> serror=<N> irq=<N> stray=<N>
//! ```
//!
//! `<A>/<R>/<C>` are the operations attempted, refused and accepted in that category
//! ([`tally`] says which operation counts where); `bytes` the console bytes of floods;
//! `undef`, `abort`, `fault`, `serror` the Undefined Instruction exceptions, synchronous
//! external aborts, local faults and SErrors taken; `irq` the interrupts handled; `stray`
//! exceptions taken outside an operation (0 unless chaos itself is broken).
//!
//! # The hypervisor's counter line
//!
//! On this partition's power-off the hypervisor is to print one console line
//!
//! ```text
//! [hv] <partition>: refused sysreg=<N> psci=<N> mmio=<N> stage2=<N> sgi=<N> smccc=<N>
//! ```
//!
//! counting, since the partition's last (re)start, what it refused:
//! - `sysreg`: trapped instructions answered with an Undefined Instruction exception, except
//!   SGI register writes (`ESR_EL2.EC` 0x18 and any other class it injects UNDEF for);
//! - `psci`: HVC or SMC whose function ID (`w0`, low 32 bits) is in 0x8400_0000-0x8400_001F
//!   or 0xC400_0000-0xC400_001F and that returned a negative status in `w0` (or UNDEF);
//! - `smccc`: every other HVC or SMC returning a negative status in `w0` (or UNDEF);
//! - `mmio`: data aborts at IPAs inside the emulated windows (vGIC distributor 64 KiB,
//!   redistributors `stride x vCPUs`, vPL011 4 KiB) answered with an injected abort;
//! - `stage2`: stage-2 data and instruction aborts at any other IPA that the fault policy
//!   answered (here: an injected abort);
//! - `sgi`: writes of `ICC_SGI1R_EL1`, `ICC_SGI0R_EL1`, `ICC_ASGI1R_EL1` answered with an
//!   exception. An SGI whose targets are all outside the partition is *accepted* and dropped,
//!   as a GIC drops SGIs to nonexistent PEs: the guest cannot tell.
//!
//! Each must equal the `<R>` of the same key in the `done` line. The format lives in
//! `xtask/src/chaos.rs` (`HYPERVISOR_COUNTER_LINE`) for the checks.
#![no_std]
#![no_main]
#![forbid(unsafe_op_in_unsafe_fn)]

mod ops;
mod rng;
mod stubs;
mod tally;
mod translation;
mod vectors;

use core::arch::asm;
use core::sync::atomic::Ordering;

use guest_rt::timer::VirtualTimer;
use guest_rt::{BootInfo, println, psci};

use crate::ops::{Attacker, Surface};
use crate::vectors::COUNTS;

guest_rt::entry!(main);

/// Operations when `ops=` is absent.
const DEFAULT_OPERATIONS: u64 = 200_000;
/// Operations between progress lines when `progress=` is absent.
const DEFAULT_PROGRESS: u64 = 10_000;
/// Operations between two looks at the counter for `seconds=`.
const CLOCK_CHECK_INTERVAL: u64 = 256;
/// Where `nested=1` points `VBAR_EL1`: Normal executable memory in chaos's stage-1 map that
/// stage 2 does not map, so every vector fetch is a stage-2 instruction abort.
const GARBAGE_VECTORS: u64 = 0x8000_0000;
/// Guest RAM when the device tree has no memory node (every partition's RAM starts here).
const DEFAULT_RAM: (u64, u64) = (0x4000_0000, 0x4400_0000);

fn main(boot: &'static BootInfo) -> ! {
    let timer = VirtualTimer;
    let (seed, seed_problem) = match boot.bootarg("seed") {
        None => (timer.now(), None),
        Some(text) => match parse_number(text) {
            Some(number) => (number, None),
            None => (timer.now(), Some(text)),
        },
    };
    println!("chaos: seed {seed}");
    if let Some(text) = seed_problem {
        println!("chaos: ignoring seed={text}: not a number");
    }
    let operations = number_bootarg(boot, "ops").unwrap_or(DEFAULT_OPERATIONS);
    let seconds = number_bootarg(boot, "seconds").unwrap_or(0);
    let progress = number_bootarg(boot, "progress").unwrap_or(DEFAULT_PROGRESS);
    let nested = number_bootarg(boot, "nested").unwrap_or(0) != 0;
    let census = number_bootarg(boot, "census").unwrap_or(0) != 0;
    if let Some(from) = number_bootarg(boot, "trace") {
        ops::trace_from(from);
    }
    println!(
        "chaos: plan ops={operations} seconds={seconds} nested={}",
        u8::from(nested)
    );

    let surface = surface(boot);
    vectors::install();
    translation::install();
    ops::unmask_system_errors();
    let mut attacker = Attacker::new(seed, surface);
    if number_bootarg(boot, "wfi") == Some(0) {
        attacker.without_wfi();
    }
    if census {
        attacker.census();
    }
    let deadline = (seconds > 0).then(|| {
        timer
            .now()
            .saturating_add(seconds.saturating_mul(timer.frequency()))
    });
    for done in 1..=operations {
        attacker.step();
        if progress > 0 && done % progress == 0 {
            attacker.prepare_report();
            println!("chaos: progress ops={done}");
        }
        if done % CLOCK_CHECK_INTERVAL == 0 && deadline.is_some_and(|end| timer.now() >= end) {
            break;
        }
    }
    attacker.prepare_report();
    println!(
        "chaos: done {} undef={} abort={} fault={} serror={} irq={} stray={}",
        attacker.tally(),
        COUNTS.undefined.load(Ordering::Relaxed),
        COUNTS.external_aborts.load(Ordering::Relaxed),
        COUNTS.local_faults.load(Ordering::Relaxed),
        COUNTS.system_errors.load(Ordering::Relaxed),
        COUNTS.interrupts.load(Ordering::Relaxed),
        COUNTS.stray.load(Ordering::Relaxed),
    );
    if nested {
        nested_fault();
    }
    psci::system_off()
}

/// Points the exception vectors at unmapped memory and takes an exception: every vector
/// fetch is then a stage-2 instruction abort, which the hypervisor must not answer by
/// injecting the same abort forever.
fn nested_fault() {
    println!("chaos: nested fault: VBAR_EL1=0x{GARBAGE_VECTORS:x}");
    // SAFETY: from here on this vCPU only faults: the UDF vectors to GARBAGE_VECTORS, which
    // no stage-2 mapping backs. No Rust state is touched; if the hypervisor ever resumes the
    // vCPU after the UDF, execution continues below with every register as it was.
    unsafe {
        asm!(
            "msr vbar_el1, {vectors}",
            "isb",
            "udf #0",
            vectors = in(reg) GARBAGE_VECTORS,
            options(nostack),
        )
    };
    vectors::install();
    println!("chaos: the nested fault returned");
}

/// The attack surface, from the device tree.
fn surface(boot: &BootInfo) -> Surface {
    let ram = boot
        .device_tree
        .find_node("/memory")
        .and_then(|node| node.reg())
        .and_then(|mut regions| regions.next())
        .map_or(DEFAULT_RAM, |region| {
            let base = region.starting_address as u64;
            let size = region.size.unwrap_or(0) as u64;
            (base, base.saturating_add(size))
        });
    let (distributor, redistributors) = boot.gic.map_or((0x0800_0000, (0x080A_0000, 0x2_0000)), |gic| {
        (
            gic.distributor as u64,
            (gic.redistributors as u64, gic.redistributors_size as u64),
        )
    });
    let uart = boot.console.map_or(0x0900_0000, |console| console.base as u64);
    Surface {
        ram,
        gicv2: boot.gic.is_some_and(|gic| gic.cpu_interface.is_some()),
        distributor,
        redistributors,
        uart,
        pmu: pmu_present(),
    }
}

/// Whether `ID_AA64DFR0_EL1.PMUVer` names an architected PMU.
fn pmu_present() -> bool {
    let features: u64;
    // SAFETY: reading an ID register has no side effect and touches no memory.
    unsafe { asm!("mrs {}, id_aa64dfr0_el1", out(reg) features, options(nomem, nostack, preserves_flags)) };
    let version = (features >> 8) & 0xf;
    version != 0 && version != 0xf
}

/// A bootarg's number, or `None` when absent or not a number (which is reported).
fn number_bootarg(boot: &BootInfo, key: &str) -> Option<u64> {
    let value = boot.bootarg(key)?;
    let number = parse_number(value);
    if number.is_none() {
        println!("chaos: ignoring {key}={value}: not a number");
    }
    number
}

/// A decimal number, or a hexadecimal one with `0x`.
fn parse_number(text: &str) -> Option<u64> {
    match text.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}
