//! `heartbeat`: the smallest partition that shows a Bulkhead system working.
//!
//! It proves, one line at a time, what a partition can rely on: the device tree (its name in
//! the banner), PSCI (secondary vCPUs come online), the virtual timer and GIC (a heartbeat
//! every 100 ms, counted in the timer's interrupt handler), console input (each byte typed
//! while the partition has the console's focus is echoed), and fault containment (an access
//! outside its memory comes back as a data abort it survives), and shared-memory channels (a
//! message written into a channel and its doorbell rung reaches the peer, which prints it from
//! its doorbell interrupt handler).
//!
//! Bootargs (space-separated tokens in `/chosen/bootargs`):
//! - `fault-after=<N>`: after heartbeat N, read once from an address outside any RAM window.
//! - `heartbeats=<N>`: after heartbeat N, print `done` and power the partition off.
//! - `fault-storm=<K>`: after every heartbeat, read outside RAM `K` times in a row (each
//!   abort caught silently), then print `storm: <total> faults`: the attacker of the
//!   temporal-isolation test, whose every fault the hypervisor must report or count.
//! - `count-at-ms=<T>`: once the virtual counter passes `T` ms, print
//!   `heartbeats at <T> ms: <count>` (the count the timer handler had reached then), so a
//!   test can compare a partition's progress at a fixed guest time across runs.
//! - `channel-write=<N>`: after heartbeat N, write `ping <N>` (NUL-terminated) at the start
//!   of the first channel's shared memory and ring its doorbell. The write is attempted even
//!   on a read-only end, to show that stage 2 refuses it: the hypervisor then reports the
//!   fault and applies the partition's fault policy.
//! - `checksum=<N>`: at boot, fill a 1 MiB region of the partition's own RAM with a fixed
//!   pattern; every N heartbeats (1: each one) print its checksum, so a test can check that
//!   nothing outside the partition ever changes its memory.
//!
//! - `reset-from-vcpu1-after=<N>`: vCPU 1 waits for heartbeat N (counted by vCPU 0's timer),
//!   prints `vCPU 1 resets the partition` and calls PSCI `SYSTEM_RESET`: a reset requested
//!   by a secondary vCPU, which must restart the partition every time.
//! - `garbage-vectors-after=<N>`: after heartbeat N, print `vectors moved to 0x<V>`, point
//!   `VBAR_EL1` at memory stage 2 does not map and read outside RAM: the injected abort's
//!   vector fetch faults again, a nested-fault loop the hypervisor must stop by the
//!   partition's fault policy with one report.
//! - `store-fault-after=<N>`: after heartbeat N, write once outside any RAM window (the
//!   injected abort must say it was a write: `ESR_EL1.ISS.WnR` = 1).
//! - `pmu-probe=1`: at start, enable the cycle counter (`PMCR_EL0.E`, `PMCNTENSET_EL0.C`),
//!   read `PMCCNTR_EL0` twice with work between and print
//!   `pmu: PMCCNTR_EL0 0x<first> then 0x<second>`, or `pmu: PMCCNTR_EL0 undefined` if an
//!   access was refused. Under Bulkhead both read 0: the guest cannot time EL2.
//! - `physical-timer=<N>`: also arm the EL1 physical timer (`CNTP_*`, PPI 30) and count its
//!   interrupts; prints `physical timer <K>` for its first N interrupts (100 ms apart).
//! - `sgi-ping=<N>`: vCPU 1 enables SGI 1 and vCPU 0 sends it to vCPU 1 (through
//!   `ICC_SGI1R_EL1` or `GICD_SGIR`, whichever GIC the device tree describes), N times, at a
//!   heartbeat once vCPU 1 has taken the previous one: an SGI sent again before it is
//!   acknowledged is the same pending interrupt, not a second one. vCPU 1 prints
//!   `SGI 1 on vCPU 1: <K>` for each one it takes.
//!
//! Every channel end with a doorbell has its interrupt enabled; its handler prints the text
//! at the start of the shared memory.
//!
//! Integration tests look for these exact lines:
//! `hello from <model> on vCPU <n> at EL<el>`, `vCPU <n> online at EL<el>`, `heartbeat <N>`,
//! `received '<c>'`, `caught data abort at 0x<FAR> (ESR 0x<ESR>)` (lowercase hex), `done`,
//! `SGI <n> on vCPU <k>: <K>`,
//! `storm: <N> faults`, `heartbeats at <T> ms: <N>`, `rang doorbell of <channel>` and
//! `doorbell from <channel>: <text>` (the text up to the first NUL, at most 32 bytes,
//! non-printable bytes escaped as `\xNN`), and with `checksum=`
//! `checksum 0x<16 hex digits> at heartbeat <N>, <M> ms` (right after `heartbeat <N>`; M is the
//! virtual counter in milliseconds when the line was printed).
#![no_std]
#![no_main]
#![forbid(unsafe_op_in_unsafe_fn)]

use core::arch::asm;
use core::cell::UnsafeCell;
use core::fmt::{self, Write};
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering, fence};

use guest_rt::device_tree::ChannelDescription;
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
/// Most bytes of a channel message the doorbell handler prints.
const MESSAGE_MAX_BYTES: usize = 32;

/// Bytes of the checksummed region (`checksum=`).
const CHECKSUM_REGION_BYTES: usize = 1024 * 1024;
/// Words of the checksummed region.
const CHECKSUM_REGION_WORDS: usize = CHECKSUM_REGION_BYTES / 8;

/// RAM of this partition's own that `checksum=` fills with a pattern and checksums. It is in
/// `.bss`, so it costs the image nothing and is zeroed at boot before the pattern is written.
#[repr(C, align(4096))]
struct ChecksumRegion(UnsafeCell<[u64; CHECKSUM_REGION_WORDS]>);

// SAFETY: only the boot vCPU's main loop touches the region (pattern at boot, reads after),
// always through volatile accesses of single words.
unsafe impl Sync for ChecksumRegion {}

/// The checksummed region.
static CHECKSUM_REGION: ChecksumRegion =
    ChecksumRegion(UnsafeCell::new([0; CHECKSUM_REGION_WORDS]));

/// Heartbeats so far; only the timer interrupt handler advances it.
static HEARTBEATS: AtomicU64 = AtomicU64::new(0);
/// The heartbeat period in counter ticks.
static PERIOD_TICKS: AtomicU64 = AtomicU64::new(0);
/// Set only around the deliberate bad read: any other data abort is a real bug.
static EXPECTING_DATA_ABORT: AtomicBool = AtomicBool::new(false);
/// Set during a fault storm: caught aborts are counted, not printed.
static STORM: AtomicBool = AtomicBool::new(false);
/// Data aborts caught during fault storms.
static STORM_FAULTS: AtomicU64 = AtomicU64::new(0);
/// The counter value at which `count-at-ms` samples the heartbeat count (0: never).
static COUNT_AT_TICKS: AtomicU64 = AtomicU64::new(0);
/// The heartbeat count when the counter passed `COUNT_AT_TICKS` (`u64::MAX` until then).
static COUNT_AT: AtomicU64 = AtomicU64::new(u64::MAX);

fn main(boot: &'static BootInfo) -> ! {
    println!(
        "hello from {} on vCPU {} at EL{}",
        boot.model,
        cpu::current_index(),
        cpu::current_el()
    );
    let fault_after = number_bootarg(boot, "fault-after");
    let stop_after = number_bootarg(boot, "heartbeats");
    let channel_write_after = number_bootarg(boot, "channel-write");
    let checksum_every = number_bootarg(boot, "checksum").filter(|every| *every > 0);
    if checksum_every.is_some() {
        fill_checksum_region();
    }
    let storm = number_bootarg(boot, "fault-storm");
    let count_at_ms = number_bootarg(boot, "count-at-ms");
    let garbage_vectors_after = number_bootarg(boot, "garbage-vectors-after");
    let store_fault_after = number_bootarg(boot, "store-fault-after");
    RESET_FROM_VCPU1_AFTER.store(
        number_bootarg(boot, "reset-from-vcpu1-after").unwrap_or(0),
        Ordering::Relaxed,
    );

    exception::set_synchronous_handler(on_synchronous_exception);
    // Before the secondaries start: vCPU 1 reads it when it comes online.
    let sgi_ping = number_bootarg(boot, "sgi-ping").unwrap_or(0);
    SGI_PING.store(sgi_ping, Ordering::Relaxed);
    let mut sgis_sent = 0;
    start_secondary_vcpus(boot);
    listen_to_console(boot);
    listen_to_doorbells(boot);
    start_heartbeat(boot);
    if let Some(milliseconds) = count_at_ms {
        let timer = VirtualTimer;
        let ticks = timer.ticks_from_nanoseconds(milliseconds.saturating_mul(1_000_000));
        COUNT_AT_TICKS.store(ticks.max(1), Ordering::Relaxed);
    }
    if number_bootarg(boot, "pmu-probe").is_some_and(|probe| probe != 0) {
        probe_cycle_counter();
    }
    if let Some(count) = number_bootarg(boot, "physical-timer") {
        start_physical_timer(boot, count);
    }
    irq::unmask();

    let mut printed = 0;
    let mut count_printed = false;
    loop {
        irq::wait_while(|| {
            HEARTBEATS.load(Ordering::Relaxed) == printed
                && (count_printed || COUNT_AT.load(Ordering::Relaxed) == u64::MAX)
        });
        let count_at = COUNT_AT.load(Ordering::Relaxed);
        if !count_printed && count_at != u64::MAX {
            count_printed = true;
            println!(
                "heartbeats at {} ms: {count_at}",
                count_at_ms.unwrap_or(0)
            );
        }
        // More than one beat may have passed if this vCPU was not scheduled for a while.
        while printed < HEARTBEATS.load(Ordering::Relaxed) {
            printed += 1;
            println!("heartbeat {printed}");
            if checksum_every.is_some_and(|every| printed % every == 0) {
                let timer = VirtualTimer;
                let milliseconds = u128::from(timer.now()) * 1000
                    / u128::from(timer.frequency().max(1));
                println!(
                    "checksum 0x{:016x} at heartbeat {printed}, {milliseconds} ms",
                    checksum_region()
                );
            }
            if channel_write_after == Some(printed) {
                write_channel(boot, printed);
            }
            if fault_after == Some(printed) {
                read_outside_ram();
            }
            if let Some(faults) = storm {
                STORM.store(true, Ordering::Relaxed);
                for _ in 0..faults {
                    read_outside_ram();
                }
                STORM.store(false, Ordering::Relaxed);
                println!("storm: {} faults", STORM_FAULTS.load(Ordering::Relaxed));
            }
            if store_fault_after == Some(printed) {
                write_outside_ram();
            }
            if garbage_vectors_after == Some(printed) {
                fault_with_garbage_vectors();
            }
            if sgis_sent < sgi_ping
                && SGI_LISTENING.load(Ordering::Acquire)
                && SGIS_TAKEN.load(Ordering::Acquire) == sgis_sent
            {
                sgis_sent += 1;
                if let Some(Err(error)) = guest_rt::gic::get().map(|gic| gic.send_sgi(PING_SGI, 1)) {
                    println!("SGI {PING_SGI}: cannot send: {error:?}");
                }
            }
            if stop_after == Some(printed) {
                println!("done");
                psci::system_off();
            }
        }
    }
}

/// The pattern word at `index` of the checksummed region: distinct for every word, so a
/// moved, zeroed or overwritten word changes the checksum.
fn pattern_word(index: usize) -> u64 {
    (index as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x6865_6172_7462_6561
}

/// Writes the pattern into the checksummed region.
fn fill_checksum_region() {
    let words = CHECKSUM_REGION.0.get().cast::<u64>();
    for index in 0..CHECKSUM_REGION_WORDS {
        // SAFETY: `index` is inside the region, a static of this many words that no Rust
        // reference points into; only this vCPU accesses it.
        unsafe { core::ptr::write_volatile(words.wrapping_add(index), pattern_word(index)) };
    }
}

/// FNV-1a over the region's words: equal to the value at boot as long as nothing changed
/// the region.
fn checksum_region() -> u64 {
    let words = CHECKSUM_REGION.0.get().cast::<u64>();
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for index in 0..CHECKSUM_REGION_WORDS {
        // SAFETY: as in `fill_checksum_region`: inside the region, accessed by this vCPU only.
        let word = unsafe { core::ptr::read_volatile(words.wrapping_add(index)) };
        hash = (hash ^ word).wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

fn secondary_main(vcpu: usize, _boot: &'static BootInfo) -> ! {
    println!("vCPU {vcpu} online at EL{}", cpu::current_el());
    if vcpu == 1 && SGI_PING.load(Ordering::Relaxed) > 0 {
        listen_for_sgis();
    }
    let reset_after = RESET_FROM_VCPU1_AFTER.load(Ordering::Relaxed);
    if vcpu == 1 && reset_after > 0 {
        // vCPU 1 takes no interrupt here: it watches vCPU 0's count.
        while HEARTBEATS.load(Ordering::Relaxed) < reset_after {
            core::hint::spin_loop();
        }
        println!("vCPU 1 resets the partition");
        psci::system_reset();
    }
    cpu::park()
}

/// The SGI `sgi-ping` sends from vCPU 0 to vCPU 1.
const PING_SGI: u32 = 1;
/// `sgi-ping`: how many SGIs vCPU 0 sends (0: none).
static SGI_PING: AtomicU64 = AtomicU64::new(0);
/// Set by vCPU 1 once its SGI handler is registered and the SGI enabled.
static SGI_LISTENING: AtomicBool = AtomicBool::new(false);
/// SGIs vCPU 1 has taken.
static SGIS_TAKEN: AtomicU64 = AtomicU64::new(0);

/// vCPU 1's side of `sgi-ping`: enables [`PING_SGI`] here and takes the SGIs until all have
/// come, then parks.
fn listen_for_sgis() -> ! {
    if let Err(error) = irq::enable(PING_SGI, INTERRUPT_PRIORITY, on_ping) {
        println!("SGI {PING_SGI}: cannot enable: {error:?}");
        cpu::park()
    }
    SGI_LISTENING.store(true, Ordering::Release);
    irq::unmask();
    let expected = SGI_PING.load(Ordering::Relaxed);
    irq::wait_while(|| SGIS_TAKEN.load(Ordering::Relaxed) < expected);
    cpu::park()
}

fn on_ping(intid: u32) {
    let taken = SGIS_TAKEN.fetch_add(1, Ordering::AcqRel) + 1;
    println!("SGI {intid} on vCPU {}: {taken}", cpu::current_index());
}

/// `reset-from-vcpu1-after`, for vCPU 1 (0: never).
static RESET_FROM_VCPU1_AFTER: AtomicU64 = AtomicU64::new(0);

/// Where `garbage-vectors-after` points `VBAR_EL1`: inside the runtime's executable 1 GiB RAM
/// block at stage 1 (so the fetch reaches stage 2 instead of faulting at EL1 forever) but past
/// the RAM of any partition smaller than 1008 MiB, so stage 2 refuses every vector fetch.
const GARBAGE_VECTORS: u64 = 0x7f00_0000;

/// Moves the exception vectors to [`GARBAGE_VECTORS`] and faults: the nested-fault loop of
/// issue 14. Never returns: the hypervisor stops or restarts the partition.
fn fault_with_garbage_vectors() -> ! {
    println!("vectors moved to 0x{GARBAGE_VECTORS:x}");
    // SAFETY: changing VBAR_EL1 only decides where this vCPU's next exception goes; that it
    // goes nowhere usable is the point. The load reads no Rust object.
    unsafe {
        asm!(
            "msr vbar_el1, {vectors}",
            "isb",
            "ldr {value}, [{address}]",
            vectors = in(reg) GARBAGE_VECTORS,
            address = in(reg) OUTSIDE_RAM,
            value = out(reg) _,
            options(nostack, readonly),
        )
    };
    cpu::park()
}

/// Whether the last `MRS PMCCNTR_EL0` was refused with an Undefined Instruction exception.
static UNDEFINED_TAKEN: AtomicBool = AtomicBool::new(false);
/// Set only around the cycle-counter read.
static EXPECTING_UNDEFINED: AtomicBool = AtomicBool::new(false);

/// Enables the cycle counter, reads it twice and says what happened.
fn probe_cycle_counter() {
    UNDEFINED_TAKEN.store(false, Ordering::Relaxed);
    EXPECTING_UNDEFINED.store(true, Ordering::Relaxed);
    let first: u64;
    let second: u64;
    // SAFETY: the PMU registers only control performance counting; if an access traps, the
    // exception handler skips that one instruction and the outputs keep the zeros written
    // first. The loop only burns cycles.
    unsafe {
        asm!(
            "mov {first}, xzr",
            "mov {second}, xzr",
            "mov {scratch}, #1",
            "msr pmcr_el0, {scratch}",
            "mov {scratch}, #0x80000000",
            "msr pmcntenset_el0, {scratch}",
            "isb",
            "mrs {first}, pmccntr_el0",
            "mov {scratch}, #10000",
            "1:",
            "subs {scratch}, {scratch}, #1",
            "b.ne 1b",
            "mrs {second}, pmccntr_el0",
            first = out(reg) first,
            second = out(reg) second,
            scratch = out(reg) _,
            options(nostack, nomem),
        )
    };
    EXPECTING_UNDEFINED.store(false, Ordering::Relaxed);
    if UNDEFINED_TAKEN.load(Ordering::Relaxed) {
        println!("pmu: PMCCNTR_EL0 undefined");
    } else {
        println!("pmu: PMCCNTR_EL0 0x{first:x} then 0x{second:x}");
    }
}

/// `physical-timer` interrupts still to print.
static PHYSICAL_TIMER_LEFT: AtomicU64 = AtomicU64::new(0);
/// `physical-timer` interrupts so far.
static PHYSICAL_TIMER_COUNT: AtomicU64 = AtomicU64::new(0);

/// Arms the EL1 physical timer for `count` interrupts, 100 ms apart.
fn start_physical_timer(boot: &BootInfo, count: u64) {
    let Some(intid) = boot.physical_timer_intid else {
        println!("physical timer: not in the device tree");
        return;
    };
    PHYSICAL_TIMER_LEFT.store(count, Ordering::Relaxed);
    if let Err(error) = irq::enable(intid, INTERRUPT_PRIORITY, on_physical_timer) {
        println!("physical timer: cannot enable INTID {intid}: {error:?}");
        return;
    }
    let period = PERIOD_TICKS.load(Ordering::Relaxed);
    // SAFETY: the EL1 physical timer's registers only control its own interrupt; the counter
    // read has no side effect.
    unsafe {
        asm!(
            "mrs {now}, cntpct_el0",
            "add {now}, {now}, {period}",
            "msr cntp_cval_el0, {now}",
            "mov {now}, #1",
            "msr cntp_ctl_el0, {now}",
            "isb",
            now = out(reg) _,
            period = in(reg) period,
            options(nostack, nomem),
        )
    };
}

fn on_physical_timer(_intid: u32) {
    let count = PHYSICAL_TIMER_COUNT.fetch_add(1, Ordering::Relaxed) + 1;
    let period = PERIOD_TICKS.load(Ordering::Relaxed);
    let last = count >= PHYSICAL_TIMER_LEFT.load(Ordering::Relaxed);
    // SAFETY: as in `start_physical_timer`; disabling the timer lowers its interrupt.
    unsafe {
        asm!(
            "mrs {now}, cntpct_el0",
            "add {now}, {now}, {period}",
            "msr cntp_cval_el0, {now}",
            "cbz {last}, 1f",
            "msr cntp_ctl_el0, xzr",
            "1:",
            "isb",
            now = out(reg) _,
            period = in(reg) period,
            last = in(reg) u64::from(last),
            options(nostack, nomem),
        )
    };
    println!("physical timer {count}");
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

/// Enables the doorbell interrupt of every channel end that has one.
fn listen_to_doorbells(boot: &BootInfo) {
    for channel in &boot.channels {
        let Some(doorbell) = channel.doorbell else {
            continue;
        };
        if let Err(error) = irq::enable(doorbell.intid, INTERRUPT_PRIORITY, on_doorbell) {
            println!("doorbell of {} unavailable: {error:?}", channel.name);
        }
    }
}

/// A peer rang: prints the message at the start of every channel whose doorbell this is.
fn on_doorbell(intid: u32) {
    let Some(boot) = guest_rt::boot_info() else {
        return;
    };
    let rung = boot.channels.iter().filter(|channel| {
        channel
            .doorbell
            .is_some_and(|doorbell| doorbell.intid == intid)
    });
    for channel in rung {
        // Pairs with the writer's release fence before its doorbell store: the message loads
        // stay after the interrupt that announced them.
        fence(Ordering::Acquire);
        let mut message = [0_u8; MESSAGE_MAX_BYTES];
        let length = read_message(channel, &mut message);
        let text = message.get(..length).unwrap_or_default();
        println!("doorbell from {}: {}", channel.name, text.escape_ascii());
    }
}

/// Copies the text at the start of `channel`'s shared memory into `message`, up to the first
/// NUL, the end of `message` or the end of the memory; returns its length.
fn read_message(channel: &ChannelDescription, message: &mut [u8]) -> usize {
    let limit = message.len().min(channel.shared_memory_size);
    for (offset, slot) in message.iter_mut().take(limit).enumerate() {
        let address = channel.shared_memory + offset;
        // SAFETY: `offset` is inside the shared memory the device tree names for this end,
        // which the hypervisor maps (readable by every end) and the runtime's identity map
        // covers. No Rust object lives there; the volatile load only reads what a peer wrote.
        let byte = unsafe { core::ptr::read_volatile(address as *const u8) };
        if byte == 0 {
            return offset;
        }
        *slot = byte;
    }
    limit
}

/// Writes `ping <number>` into the first channel and rings its doorbell.
fn write_channel(boot: &BootInfo, number: u64) {
    let Some(channel) = boot.channels.first() else {
        println!("channel-write: the device tree describes no channel");
        return;
    };
    let mut writer = ChannelWriter {
        channel,
        written: 0,
    };
    if write!(writer, "ping {number}")
        .and_then(|()| writer.terminate())
        .is_err()
    {
        println!(
            "channel-write: {} is too small for the message",
            channel.name
        );
        return;
    }
    let Some(doorbell) = channel.doorbell else {
        println!("wrote channel {}, which has no doorbell", channel.name);
        return;
    };
    // The message stores come before the doorbell store, and so before everything the
    // hypervisor does when that store traps (raising the peers' interrupt included).
    fence(Ordering::Release);
    // SAFETY: the device tree names this address as the channel end's doorbell register, a
    // page the hypervisor leaves unmapped so that this store traps to it; it is no Rust
    // object, and the hypervisor skips the instruction after raising the peers' doorbell.
    unsafe { core::ptr::write_volatile(doorbell.register as *mut u32, 1) };
    println!("rang doorbell of {}", channel.name);
}

/// Writes text into a channel's shared memory from its start, one volatile byte store at a
/// time, keeping room for the NUL that ends it.
struct ChannelWriter<'a> {
    /// The channel end written.
    channel: &'a ChannelDescription,
    /// Bytes written so far.
    written: usize,
}

impl ChannelWriter<'_> {
    /// Stores `byte` at offset `written` if it fits in the shared memory.
    fn store(&mut self, byte: u8) -> fmt::Result {
        if self.written >= self.channel.shared_memory_size {
            return Err(fmt::Error);
        }
        let address = self.channel.shared_memory + self.written;
        // SAFETY: `written` is inside the shared memory the device tree names for this end,
        // which the runtime's identity map covers. No Rust object lives there. On a read-only
        // end the store is a stage-2 permission fault, handled by the hypervisor; this is
        // the demonstration `channel-write` asks for.
        unsafe { core::ptr::write_volatile(address as *mut u8, byte) };
        self.written += 1;
        Ok(())
    }

    /// Ends the text with a NUL.
    fn terminate(&mut self) -> fmt::Result {
        self.store(0)
    }
}

impl Write for ChannelWriter<'_> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        // One byte is always left for the terminating NUL.
        if self.written + text.len() >= self.channel.shared_memory_size {
            return Err(fmt::Error);
        }
        text.bytes().try_for_each(|byte| self.store(byte))
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
    let fired = timer.deadline();
    let mut next = fired + period;
    let now = timer.now();
    if next <= now {
        next = now + period;
    }
    // Moving the deadline is what lowers the level-triggered timer interrupt.
    timer.set_deadline(next);
    let beats = HEARTBEATS.fetch_add(1, Ordering::Relaxed) + 1;
    let sample_at = COUNT_AT_TICKS.load(Ordering::Relaxed);
    if sample_at != 0 && now >= sample_at && COUNT_AT.load(Ordering::Relaxed) == u64::MAX {
        // The beat that fired at or after the sample time is not counted: the count is that of
        // beats whose deadline came before it.
        let on_time = if fired <= sample_at { beats } else { beats - 1 };
        COUNT_AT.store(on_time, Ordering::Relaxed);
    }
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

/// Stores to [`OUTSIDE_RAM`] once; handled like [`read_outside_ram`].
fn write_outside_ram() {
    EXPECTING_DATA_ABORT.store(true, Ordering::Relaxed);
    // SAFETY: the store writes no memory Rust knows about (stage 2 refuses it); if it faults,
    // the handler skips exactly this instruction.
    unsafe {
        asm!(
            "str xzr, [{address}]",
            address = in(reg) OUTSIDE_RAM,
            options(nostack),
        )
    };
    EXPECTING_DATA_ABORT.store(false, Ordering::Relaxed);
}

fn on_synchronous_exception(exception: &SynchronousException) -> Resolution {
    if exception.exception_class() == 0 && EXPECTING_UNDEFINED.load(Ordering::Relaxed) {
        UNDEFINED_TAKEN.store(true, Ordering::Relaxed);
        return Resolution::SkipInstruction;
    }
    if !(exception.is_data_abort_from_current_el() && EXPECTING_DATA_ABORT.load(Ordering::Relaxed))
    {
        // The runtime prints ESR, FAR and ELR and powers the partition off.
        return Resolution::Fatal;
    }
    if STORM.load(Ordering::Relaxed) {
        STORM_FAULTS.fetch_add(1, Ordering::Relaxed);
    } else {
        println!(
            "caught data abort at 0x{:x} (ESR 0x{:x})",
            exception.fault_address, exception.syndrome
        );
    }
    Resolution::SkipInstruction
}
