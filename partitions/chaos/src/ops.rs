//! The operations: each draws its target and arguments from the generator, runs one stub,
//! and records the outcome.

use core::arch::asm;
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use guest_rt::gic;
use guest_rt::timer::VirtualTimer;

use crate::rng::Rng;
use crate::stubs::{
    ACCESS_STUBS, CALL_STUBS, GIC_CPU_INTERFACE_STUBS, LOCAL_STUBS, PMU_STUBS, SGI_STUBS, STUB_FETCH, STUB_STRB, STUB_STR_W, STUB_WFI,
    STUBS, SYSREG_STUBS, WAIT_STUBS,
};
use crate::tally::{Category, Tally};
use crate::vectors::{self, Refusal, VIRTUAL_TIMER_INTID};

/// Size of the GICv3 distributor frame (GICv3 spec: 64 KiB).
pub const DISTRIBUTOR_SIZE: u64 = 0x1_0000;
/// Size of the PL011 register frame (4 KiB).
pub const UART_SIZE: u64 = 0x1000;
/// The 39-bit address space the guest's stage-1 map covers.
const ADDRESS_SPACE_END: u64 = 1 << 39;
/// Priority of the virtual timer interrupt that wakes `WFI`.
const TIMER_PRIORITY: u8 = 0x80;
/// How far ahead the wake-up deadline of a `WFI` is armed, in counter ticks.
const WFI_WAKE_TICKS: u64 = 500;
/// `CNTKCTL_EL1` with the event stream on (EVNTEN) from counter bit 6: `WFE` wakes at least
/// every 64 ticks on hardware that sleeps in it.
const EVENT_STREAM: u64 = (1 << 2) | (6 << 4);

/// `GICD_SGIR`, the GICv2 distributor's software-generated interrupt register.
const GICD_SGIR: u64 = 0xF00;
/// Offset of a redistributor's SGI/PPI frame from its base.
const REDISTRIBUTOR_SGI_FRAME: u64 = 0x1_0000;
/// `GICR_ICACTIVER0`, in the SGI/PPI frame.
const GICR_ICACTIVER0: u64 = 0x380;
/// `GICR_ICFGR1` (PPI trigger modes), in the SGI/PPI frame.
const GICR_ICFGR1: u64 = 0xC04;

/// Bytes of the guest's own scratch memory that operations on its own RAM use.
const SCRATCH_SIZE: usize = 64 * 1024;
/// Room left at the scratch end: `DC ZVA` zeroes up to 2 KiB around its address.
const SCRATCH_MARGIN: u64 = 4096;

/// Memory of the guest's own, for accesses that stay inside guest RAM (accepted locally).
#[repr(C, align(4096))]
struct Scratch(UnsafeCell<[u8; SCRATCH_SIZE]>);

// SAFETY: no Rust code reads or writes the scratch bytes; only the stubs touch them, from the
// one vCPU chaos runs on.
unsafe impl Sync for Scratch {}

/// The scratch area.
static SCRATCH: Scratch = Scratch(UnsafeCell::new([0; SCRATCH_SIZE]));

/// Whether raw bytes without a final newline went to the console since the last report line.
static CONSOLE_DIRTY: AtomicBool = AtomicBool::new(false);

/// PSCI function IDs (DEN0022) chaos may call with bad arguments: never `CPU_SUSPEND`,
/// `CPU_OFF`, `SYSTEM_OFF`, `SYSTEM_RESET`, `CPU_FREEZE`, `CPU_DEFAULT_SUSPEND`,
/// `SYSTEM_SUSPEND`, `SYSTEM_RESET2` or `SYSTEM_OFF2`, which would stop or reset it.
const PSCI_FUNCTIONS: [u32; 21] = [
    0x8400_0000, // PSCI_VERSION
    0x8400_0003, // CPU_ON (SMC32)
    0xC400_0003, // CPU_ON (SMC64)
    0xC400_0003,
    0xC400_0003,
    0x8400_0004, // AFFINITY_INFO
    0xC400_0004,
    0x8400_0005, // MIGRATE
    0xC400_0005,
    0x8400_0006, // MIGRATE_INFO_TYPE
    0x8400_0007, // MIGRATE_INFO_UP_CPU
    0xC400_0007,
    0x8400_000A, // PSCI_FEATURES
    0x8400_000D, // NODE_HW_STATE
    0xC400_000D,
    0x8400_0010, // PSCI_STAT_RESIDENCY
    0x8400_0011, // PSCI_STAT_COUNT
    0x8400_0013, // MEM_PROTECT
    0x8400_0014, // MEM_PROTECT_CHECK_RANGE
    0x8400_0016, // unassigned
    0x8400_001F, // unassigned
];

/// Function numbers (low five bits) in the PSCI range that stop, suspend or reset the caller.
const PSCI_STOPPING: [u32; 10] = [0x01, 0x02, 0x08, 0x09, 0x0B, 0x0C, 0x0E, 0x0F, 0x12, 0x15];

/// Whether a function ID (its low 32 bits, as the hypervisor reads `w0`) is in a PSCI range.
pub const fn is_psci(function: u32) -> bool {
    function & 0xBFFF_FFE0 == 0x8400_0000
}

/// Where the attack surface lies, from the device tree.
#[derive(Clone, Copy, Debug)]
pub struct Surface {
    /// Guest RAM: base and end.
    pub ram: (u64, u64),
    /// Whether the vGIC is a GICv2 (no redistributors: the SGI/PPI registers are banked in
    /// the distributor at the same offsets as in a GICv3 SGI_base frame).
    pub gicv2: bool,
    /// vGIC distributor base.
    pub distributor: u64,
    /// vGIC redistributor window: base and size.
    pub redistributors: (u64, u64),
    /// vPL011 base.
    pub uart: u64,
    /// Whether the PMU exists (its registers are then legal at EL1).
    pub pmu: bool,
}

impl Surface {
    /// Whether `address` falls in one of the emulated device windows.
    pub fn is_emulated(&self, address: u64) -> bool {
        let inside = |base: u64, size: u64| address.wrapping_sub(base) < size;
        inside(self.distributor, DISTRIBUTOR_SIZE)
            || inside(self.redistributors.0, self.redistributors.1)
            || inside(self.uart, UART_SIZE)
    }

    /// Whether `address` is guest RAM.
    fn is_ram(&self, address: u64) -> bool {
        address >= self.ram.0 && address < self.ram.1
    }
}

/// An exception taken for an instruction EL1 refuses by itself is the guest's own refusal,
/// whatever its syndrome.
const fn local_refusal(refusal: Refusal) -> Refusal {
    match refusal {
        Refusal::None => Refusal::None,
        Refusal::Undefined | Refusal::ExternalAbort | Refusal::SystemError | Refusal::LocalFault => {
            Refusal::LocalFault
        }
    }
}

/// Calls stub `index` with `x0`..`x3`; returns `x0` after it.
fn call_stub(index: usize, x0: u64, x1: u64, x2: u64, x3: u64) -> u64 {
    let result: u64;
    // SAFETY: the dispatcher runs stub `index` (or returns for an index out of range). Every
    // stub follows the convention the operands declare: it reads x0-x3, may change x0-x17 and
    // x30 (all declared clobbered), keeps x18-x29 and sp, and touches only memory no Rust
    // object lives at: addresses outside guest RAM, the scratch area, or nothing. What it
    // writes with a store or `DC ZVA` to guest RAM lands in the scratch area only (operations
    // never aim other RAM addresses). A faulting instruction is skipped by the exception
    // handler, which restores every register; a fetch resumes at the branch's return address.
    unsafe {
        asm!(
            "bl chaos_dispatch",
            in("x9") index,
            inout("x0") x0 => result,
            inout("x1") x1 => _,
            inout("x2") x2 => _,
            inout("x3") x3 => _,
            out("x4") _, out("x5") _, out("x6") _, out("x7") _, out("x8") _,
            out("x10") _, out("x11") _, out("x12") _, out("x13") _, out("x14") _,
            out("x15") _, out("x16") _, out("x17") _, out("x30") _,
        )
    };
    result
}

/// Operation number from which every stub call is printed (`trace=`); `u64::MAX`: never.
static TRACE_FROM: AtomicU64 = AtomicU64::new(u64::MAX);
/// Operations started so far (for `trace=`).
static OPERATION_NUMBER: AtomicU64 = AtomicU64::new(0);

/// Prints every stub call from operation `from` on: `chaos: trace <op> stub <index> x0=… x1=…`.
pub fn trace_from(from: u64) {
    TRACE_FROM.store(from, Ordering::Relaxed);
}

/// Runs stub `index` as one operation; returns its `x0` and what refused it.
fn attempt(index: usize, x0: u64, x1: u64, x2: u64, x3: u64) -> (u64, Refusal) {
    let operation = OPERATION_NUMBER.load(Ordering::Relaxed);
    if operation >= TRACE_FROM.load(Ordering::Relaxed) {
        guest_rt::println!("\nchaos: trace {operation} stub {index} x0=0x{x0:x} x1=0x{x1:x} x2=0x{x2:x} x3=0x{x3:x}");
    }
    vectors::begin();
    let result = call_stub(index, x0, x1, x2, x3);
    (result, vectors::take())
}

/// Lets pending IRQs in for a moment (their handler acknowledges them), then masks again.
pub fn drain_interrupts() {
    // SAFETY: unmasking IRQs only lets the installed vectors take pending interrupts here;
    // the handler acknowledges and completes them and restores every register.
    unsafe { asm!("msr daifclr, #2", "isb", "msr daifset, #2", options(nostack)) };
}

/// Lets SErrors in (boot masks them): chaos wants to see every one.
pub fn unmask_system_errors() {
    // SAFETY: PSTATE.A only decides whether SErrors are taken; the vectors count them.
    unsafe { asm!("msr daifclr, #4", "isb", options(nostack)) };
}

/// Turns the counter event stream on, so `WFE` never sleeps for long.
fn enable_event_stream() {
    // SAFETY: CNTKCTL_EL1 only controls EL0 counter access and the event stream of this vCPU.
    unsafe { asm!("msr cntkctl_el1, {}", "isb", in(reg) EVENT_STREAM, options(nostack)) };
}

/// `UARTCR` offset, and the value that makes the PL011 transmit again: UARTEN, TXE, RXE
/// and, above all, loopback (LBE) off, which a random write may have switched on (the
/// vPL011 then loops every byte back into the receiver instead of printing it).
const UART_CONTROL: u64 = 0x30;
/// See [`UART_CONTROL`].
const UART_CONTROL_TRANSMIT: u64 = 0x301;

/// The attacker: generator, target facts and tallies.
pub struct Attacker {
    /// The generator.
    rng: Rng,
    /// Where to aim.
    surface: Surface,
    /// What happened.
    tally: Tally,
    /// Whether wait operations may pick `WFI`.
    wfi: bool,
}

impl Attacker {
    /// An attacker seeded with `seed`.
    pub fn new(seed: u64, surface: Surface) -> Self {
        enable_event_stream();
        Self {
            rng: Rng::new(seed),
            surface,
            tally: Tally::default(),
            wfi: true,
        }
    }

    /// Makes the console print again and starts a fresh line if a flood left one open, so
    /// that the next line is a whole line of its own.
    pub fn prepare_report(&self) {
        call_stub(STUB_STR_W, self.surface.uart.wrapping_add(UART_CONTROL), UART_CONTROL_TRANSMIT, 0, 0);
        if CONSOLE_DIRTY.swap(false, Ordering::Relaxed) {
            guest_rt::println!();
        }
    }

    /// Leaves `WFI` out of the wait operations (`wfi=0`): a `WFI` whose wake-up interrupt
    /// the platform lost stops the run, and this isolates that from everything else.
    pub fn without_wfi(&mut self) {
        self.wfi = false;
    }

    /// The tallies so far.
    pub fn tally(&self) -> &Tally {
        &self.tally
    }

    /// Runs one operation.
    pub fn step(&mut self) {
        OPERATION_NUMBER.fetch_add(1, Ordering::Relaxed);
        let roll = self.rng.below(1000);
        match roll {
            0..220 => self.mmio(),
            220..410 => self.stage2(),
            410..430 => self.own_memory(),
            430..580 => self.system_register(),
            580..640 => self.local_undefined(),
            640..730 => self.psci(),
            730..820 => self.smccc(),
            820..920 => self.sgi(),
            920..960 => self.wait(),
            960..980 => self.console(),
            _ => self.fetch(),
        }
        drain_interrupts();
    }

    /// Runs every stub that takes no address once (system registers, PMU when present,
    /// EL1-illegal instructions, SGI registers) and prints each outcome as
    /// `chaos: census <index> <category> <outcome>`: which instructions the platform refuses,
    /// stub by stub. Each counts as an operation.
    pub fn census(&mut self) {
        let pmu = if self.surface.pmu { PMU_STUBS } else { 0..0 };
        let groups = [
            (SYSREG_STUBS, Category::Sysreg),
            (pmu, Category::Sysreg),
            (LOCAL_STUBS, Category::Local),
            (SGI_STUBS, Category::Sgi),
        ];
        for (stubs, group) in groups {
            for index in stubs {
                let category = self.category_of(index, group);
                let (_, refusal) = attempt(index, 0, 0, 0, 0);
                let recorded = if category == Category::Local && refusal != Refusal::None {
                    Refusal::LocalFault
                } else {
                    refusal
                };
                self.tally.record(category, recorded, false);
                guest_rt::println!("chaos: census {index} {} {refusal:?}", category.key());
            }
        }
    }

    /// The category an attempt at stub `index` of `group` counts in: on a GICv2 the GICv3 CPU
    /// interface registers do not exist, so EL1 refuses them itself (`local`), without the
    /// hypervisor, which therefore counts nothing for them.
    fn category_of(&self, index: usize, group: Category) -> Category {
        if self.surface.gicv2 && GIC_CPU_INTERFACE_STUBS.contains(&index) {
            Category::Local
        } else {
            group
        }
    }

    /// An access stub other than `fetch`.
    fn access_stub(&mut self) -> usize {
        loop {
            let index = ACCESS_STUBS.start + self.rng.index(ACCESS_STUBS.len());
            if index != STUB_FETCH {
                return index;
            }
        }
    }

    /// `address` aligned down to `align`, or (rarely) deliberately misaligned.
    fn align(&mut self, address: u64, align: u64) -> u64 {
        let aligned = address & !(align.max(1) - 1);
        if self.rng.chance(1, 20) {
            aligned | self.rng.below(8).max(1)
        } else {
            aligned
        }
    }

    /// Runs access stub `index` at `address` and records it in the category the address
    /// falls in.
    fn access(&mut self, index: usize, address: u64) {
        let category = if self.surface.is_ram(address) {
            Category::Local
        } else if self.surface.is_emulated(address) {
            Category::Mmio
        } else {
            Category::Stage2
        };
        if address.wrapping_sub(self.surface.uart) < UART_SIZE {
            // Any access there may be a data-register store: the console line is open.
            CONSOLE_DIRTY.store(true, Ordering::Relaxed);
        }
        let value = self.rng.interesting();
        let second = self.rng.interesting();
        let (_, refusal) = attempt(index, address, value, second, 0);
        self.tally.record(category, refusal, false);
    }

    /// An access in a vGIC or vPL011 window: known registers, random offsets, and offsets
    /// at and just past the window's end, with every width and form.
    fn mmio(&mut self) {
        let index = self.access_stub();
        let align = STUBS.get(index).map_or(1, |stub| stub.align);
        let (base, size, registers): (u64, u64, &[u64]) = match self.rng.below(11) {
            0..5 => (
                self.surface.distributor,
                DISTRIBUTOR_SIZE,
                &[0x0, 0x4, 0x8, 0x10, 0x40, 0x80, 0x100, 0x180, 0x200, 0x280, 0x300, 0x380, 0x400, 0xC00, 0xD00, 0xE00, 0xF00, 0xF10, 0xF20, 0x6100, 0x6108, 0x7FD8, 0xFFD0, 0xFFE8],
            ),
            5..9 => (
                self.surface.redistributors.0,
                self.surface.redistributors.1,
                &[0x0, 0x4, 0x8, 0x10, 0x14, 0x70, 0x78, 0xFFE8, 0x1_0080, 0x1_0100, 0x1_0180, 0x1_0200, 0x1_0280, 0x1_0300, 0x1_0380, 0x1_0400, 0x1_0C00, 0x1_0C04, 0x1_0D00],
            ),
            _ => (
                self.surface.uart,
                UART_SIZE,
                &[0x0, 0x4, 0x18, 0x20, 0x24, 0x28, 0x2C, 0x30, 0x34, 0x38, 0x3C, 0x40, 0x44, 0x48, 0xFE0, 0xFF0, 0xFFC],
            ),
        };
        let offset = match self.rng.below(10) {
            0..5 => self.rng.pick(registers, 0).wrapping_add(4 * self.rng.below(4)),
            5..8 => self.rng.below(size),
            _ => size.wrapping_sub(16).wrapping_add(self.rng.below(64)),
        };
        let address = self.align(base.wrapping_add(offset), align);
        self.access(index, address);
    }

    /// An IPA outside guest RAM: platform devices the partition was not given, the rest of
    /// the GIC, around guest RAM, Normal memory above it, and the top of the address space.
    fn target_outside(&mut self) -> u64 {
        let (ram_base, ram_end) = self.surface.ram;
        let (redistributors, redistributors_size) = self.surface.redistributors;
        let regions: [(u64, u64); 11] = [
            (0, 0x0800_0000),                                     // flash
            (0x0801_0000, 0x0009_0000),                           // GIC ITS and the rest
            (redistributors + redistributors_size, 0x0010_0000), // other vCPUs' frames
            (self.surface.uart + UART_SIZE, 0x00FF_F000),         // RTC, fw_cfg, GPIO, UART1
            (0x0A00_0000, 0x0600_0000),                           // virtio-mmio, platform bus
            (0x1000_0000, 0x2F00_0000),                           // PCIe MMIO and ECAM
            (ram_base.wrapping_sub(0x1000), 0x1000),              // just below RAM
            (ram_end, 0x8000_0000_u64.saturating_sub(ram_end)),   // rest of the RAM gigabyte
            (0x8000_0000, 0x8000_0000),                           // Normal, executable
            (0x1_0000_0000, ADDRESS_SPACE_END - 0x1_0000_0000),   // high
            (ADDRESS_SPACE_END - 0x1000, 0x1000),                 // top
        ];
        let (base, size) = self.rng.pick(&regions, (0x8000_0000, 0x1000));
        let address = base.wrapping_add(self.rng.below(size.max(1)));
        if self.surface.is_ram(address) {
            ram_end
        } else {
            address
        }
    }

    /// An access at an IPA stage 2 does not map for this partition.
    fn stage2(&mut self) {
        let index = self.access_stub();
        let align = STUBS.get(index).map_or(1, |stub| stub.align);
        let target = self.target_outside();
        let address = self.align(target, align);
        self.access(index, address);
    }

    /// A branch to an IPA outside guest RAM (an instruction fetch the hypervisor must refuse,
    /// or a stage-1 fault for Device memory and misaligned targets).
    fn fetch(&mut self) {
        let target = self.target_outside();
        let address = self.align(target, 4);
        self.access(STUB_FETCH, address);
    }

    /// An access to the guest's own scratch memory: exclusives, pairs, `DC ZVA`, accepted
    /// without the hypervisor.
    fn own_memory(&mut self) {
        let index = self.access_stub();
        let align = STUBS.get(index).map_or(1, |stub| stub.align);
        let base = SCRATCH.0.get() as u64;
        let span = (SCRATCH_SIZE as u64).saturating_sub(SCRATCH_MARGIN);
        let offset = self.rng.below(span) & !(align.max(1) - 1);
        self.access(index, base.wrapping_add(SCRATCH_MARGIN / 2).wrapping_add(offset));
    }

    /// A system register access or maintenance instruction legal at EL1.
    fn system_register(&mut self) {
        let pmu = if self.surface.pmu { PMU_STUBS.len() } else { 0 };
        let pick = self.rng.index(SYSREG_STUBS.len() + pmu);
        let index = if pick < SYSREG_STUBS.len() {
            SYSREG_STUBS.start + pick
        } else {
            PMU_STUBS.start + (pick - SYSREG_STUBS.len())
        };
        let value = self.rng.interesting();
        let (_, refusal) = attempt(index, 0, value, 0, 0);
        match self.category_of(index, Category::Sysreg) {
            Category::Local => self.tally.record(Category::Local, local_refusal(refusal), false),
            category => self.tally.record(category, refusal, false),
        }
    }

    /// An instruction EL1 may never execute.
    fn local_undefined(&mut self) {
        let index = LOCAL_STUBS.start + self.rng.index(LOCAL_STUBS.len());
        let value = self.rng.interesting();
        let (_, refusal) = attempt(index, 0, value, 0, 0);
        self.tally.record(Category::Local, local_refusal(refusal), false);
    }

    /// A hypercall (HVC or SMC) with function ID `function` and arguments `arguments`.
    fn call(&mut self, function: u64, arguments: [u64; 3]) {
        let index = CALL_STUBS.start + self.rng.index(CALL_STUBS.len());
        let [first, second, third] = arguments;
        let (result, refusal) = attempt(index, function, first, second, third);
        // SMCCC statuses are signed 32-bit values in w0.
        let error_status = (result as u32 as i32) < 0;
        let category = if is_psci(function as u32) {
            Category::Psci
        } else {
            Category::Smccc
        };
        self.tally.record(category, refusal, error_status);
    }

    /// A PSCI call that must not stop the partition: `CPU_ON` of foreign and nonexistent
    /// MPIDRs with bad entry points, and every other harmless function with random arguments.
    fn psci(&mut self) {
        let function = u64::from(self.rng.pick(&PSCI_FUNCTIONS, 0x8400_0000));
        let (ram_base, ram_end) = self.surface.ram;
        let listed_target = self.rng.pick(
            &[0, 1, 2, 3, 7, 8, 0x100, 0x1_0000, 0xff_0000_0000, 0x8000_0000, u64::MAX],
            0,
        );
        let target = if self.rng.chance(1, 4) { self.rng.interesting() } else { listed_target };
        let entry = match self.rng.below(7) {
            0 => 0,
            1 => ram_base.wrapping_add(self.rng.below(ram_end.wrapping_sub(ram_base))),
            2 => ram_base.wrapping_add(0x8_0001),
            3 => ram_end,
            4 => 0x8000_0000,
            5 => u64::MAX,
            _ => self.rng.interesting(),
        };
        let context = self.rng.interesting();
        self.call(function, [target, entry, context]);
    }

    /// A hypercall with a random function ID: every SMCCC owner and range, fast and
    /// yielding, SMC32 and SMC64, with random upper bits and arguments.
    fn smccc(&mut self) {
        let drawn = match self.rng.below(4) {
            0 => self.rng.next_u64(),
            1 => {
                let owner = self.rng.below(64) << 24;
                let convention = self.rng.pick(&[0, 1_u64 << 30], 0);
                let fast = self.rng.pick(&[0, 1_u64 << 31], 1 << 31);
                fast | convention | owner | self.rng.below(0x1_0000)
            }
            2 => u64::from(self.rng.pick(
                &[0x8000_0000_u32, 0x8000_0001, 0x8000_0002, 0x8000_3FFF, 0x8000_7FFF, 0x8000_8000, 0x8400_0050, 0x8400_0053, 0xC400_0053, 0x8500_0000, 0x8600_FF01, 0x8600_FF00, 0xBF00_FF01, 0xB200_0000],
                0x8000_0000,
            )),
            _ => self.rng.next_u64() | 0xFFFF_FFFF,
        };
        // Never a PSCI function that stops, suspends or resets the caller.
        let low = drawn as u32;
        let function = if is_psci(low) && PSCI_STOPPING.contains(&(low & 0x1F)) {
            0x8400_0000
        } else {
            drawn
        };
        let arguments = [self.rng.interesting(), self.rng.interesting(), self.rng.interesting()];
        self.call(function, arguments);
    }

    /// A write of an SGI generation register with a random target list, affinities, range
    /// selector, routing mode and INTID: mostly foreign or nonexistent targets.
    fn sgi(&mut self) {
        if self.surface.gicv2 {
            return self.sgi_through_distributor();
        }
        let index = SGI_STUBS.start + self.rng.index(SGI_STUBS.len());
        let intid = self.rng.below(16) << 24;
        let listed_targets = self.rng.pick(&[1, 2, 0xFFFF, 0xFFFE, 0x8000], 1);
        let target_list = if self.rng.chance(1, 3) { self.rng.below(0x1_0000) } else { listed_targets };
        let affinity1 = self.rng.pick(&[0, 0, 1, 0xFF], 0) << 16;
        let affinity2 = self.rng.pick(&[0, 0, 1, 0xFF], 0) << 32;
        let affinity3 = self.rng.pick(&[0, 0, 1, 0xFF], 0) << 48;
        let range_selector = self.rng.below(16) << 44;
        let routing_mode = self.rng.pick(&[0, 0, 0, 1_u64 << 40], 0);
        let value = if self.rng.chance(1, 8) {
            self.rng.next_u64()
        } else {
            intid | target_list | affinity1 | affinity2 | affinity3 | range_selector | routing_mode
        };
        let (_, refusal) = attempt(index, 0, value, 0, 0);
        self.tally.record(Category::Sgi, refusal, false);
    }

    /// The GICv2 form of [`Self::sgi`]: a word write of `GICD_SGIR` (the emulated
    /// distributor, trapped) with a random target filter, CPU target list, NSATT and SGI
    /// number: mostly foreign or nonexistent targets. Every value is a valid write, which the
    /// hypervisor accepts (and drops for targets outside the partition), so a refusal seen
    /// here is a discrepancy the verdict reports.
    fn sgi_through_distributor(&mut self) {
        let filter = self.rng.below(4) << 24;
        let targets = self.rng.pick(&[0x02, 0xFE, 0xFF, 0x80, 0x01], 0x02) << 16;
        let nsatt = self.rng.below(2) << 15;
        let value = if self.rng.chance(1, 8) {
            self.rng.next_u64() & 0xFFFF_FFFF
        } else {
            filter | targets | nsatt | self.rng.below(16)
        };
        let register = self.surface.distributor.wrapping_add(GICD_SGIR);
        let (_, refusal) = attempt(STUB_STR_W, register, value, 0, 0);
        self.tally.record(Category::Sgi, refusal, false);
    }

    /// A `WFI`, `WFE`, `SEV` or `YIELD`. Before a `WFI` the wake-up path is rebuilt (the
    /// attack may have switched off the distributor, the redistributor or the timer
    /// interrupt) and the virtual timer armed a few microseconds ahead.
    fn wait(&mut self) {
        let drawn = WAIT_STUBS.start + self.rng.index(WAIT_STUBS.len());
        let index = if drawn == STUB_WFI && !self.wfi { WAIT_STUBS.start } else { drawn };
        enable_event_stream();
        if index == STUB_WFI {
            self.arm_wake_up();
        }
        let (_, refusal) = attempt(index, 0, 0, 0, 0);
        self.tally.record(Category::Wfx, refusal, false);
    }

    /// Rebuilds the path by which the virtual timer wakes a `WFI` (distributor and
    /// redistributor on, CPU interface open, the timer PPI a level-sensitive, inactive,
    /// enabled Group 1 interrupt), then arms the timer.
    fn arm_wake_up(&self) {
        if let Some(controller) = gic::get() {
            controller.enable_distributor();
            // Failures leave the path as it is; the `WFI` then waits for whatever comes.
            let _awake = controller.init_this_cpu();
            let _enabled = controller.enable_interrupt(VIRTUAL_TIMER_INTID, TIMER_PRIORITY);
        }
        // The only vCPU's SGI/PPI frame: clear the timer PPI's active state (a write of
        // GICR_ISACTIVER0 may have set it) and make every PPI level-sensitive again. On a
        // GICv2 the same registers are banked in the distributor, at the same offsets.
        let frame = if self.surface.gicv2 {
            self.surface.distributor
        } else {
            self.surface.redistributors.0.wrapping_add(REDISTRIBUTOR_SGI_FRAME)
        };
        call_stub(STUB_STR_W, frame.wrapping_add(GICR_ICACTIVER0), 1 << VIRTUAL_TIMER_INTID, 0, 0);
        call_stub(STUB_STR_W, frame.wrapping_add(GICR_ICFGR1), 0, 0, 0);
        let timer = VirtualTimer;
        timer.set_deadline(timer.now().wrapping_add(WFI_WAKE_TICKS));
    }

    /// A console flood through the vPL011 data register: long lines, control characters,
    /// escape sequences, spoofed prefixes, bytes above 0x7f, unterminated fragments.
    fn console(&mut self) {
        const SEQUENCES: [&[u8]; 8] = [
            b"\x1b[2J\x1b[H",
            b"\x1b]0;owned\x07",
            b"\x1b[31m",
            b"\r[alpha] heartbeat 999999\r",
            b"\n[hv] alpha: halted by its fault policy\n",
            b"\n[alpha] heartbeat 1\n",
            b"\x1b[1A\x1b[2K",
            b"\x00\x07\x08\x7f\x9b",
        ];
        let kind = self.rng.below(8);
        // One flood in sixteen is a long line, past the hypervisor's line buffer.
        let length = if kind == 0 && self.rng.chance(1, 2) {
            150 + self.rng.below(600)
        } else {
            1 + self.rng.below(120)
        };
        let mut refused = Refusal::None;
        let mut written = 0_u64;
        let mut sequence: &[u8] = &[];
        while written < length {
            let byte = if let Some((&first, rest)) = sequence.split_first() {
                sequence = rest;
                first
            } else {
                match kind {
                    0 | 1 => 0x20 + self.rng.below(0x5F) as u8,
                    2 => self.rng.below(0x20) as u8,
                    3 => 0x80 | self.rng.below(0x80) as u8,
                    4 => {
                        sequence = self.rng.pick(&SEQUENCES, b"\x1b[2J");
                        continue;
                    }
                    _ => self.rng.below(256) as u8,
                }
            };
            let (_, refusal) = attempt(STUB_STRB, self.surface.uart, u64::from(byte), 0, 0);
            if refused == Refusal::None {
                refused = refusal;
            }
            written += 1;
        }
        // Most floods end their line; some leave it open for the next writer.
        if self.rng.chance(3, 4) {
            let (_, refusal) = attempt(STUB_STRB, self.surface.uart, u64::from(b'\n'), 0, 0);
            if refused == Refusal::None {
                refused = refusal;
            }
            written += 1;
        } else {
            CONSOLE_DIRTY.store(true, Ordering::Relaxed);
        }
        self.tally.add_console_bytes(written);
        self.tally.record(Category::Console, refused, false);
    }
}

