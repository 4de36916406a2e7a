//! Bringing the hypervisor's own hardware up: the EL2 identity map, the vector table, the
//! console and log UARTs and the physical GIC.
//!
//! The boot core builds the shared pieces (map, GIC distributor) before it releases the
//! others; every core then runs [`initialise_core`] for the per-core pieces.
//!
//! The interrupt controller's drivers are chosen at build time: the generated
//! `InterruptController` names the distributor driver of the board's GIC, and
//! [`CpuInterface`] pairs it with that GIC's per-core CPU interface and list registers
//! (GICv3: system registers, in `bulkhead-arch-aarch64`; GICv2: the GICC/GICH frames, in
//! `bulkhead-drivers`). The pairing is here, not generated, because the GICv3 half lives in
//! the aarch64-only crate the host type-check of the generated tables cannot build.
#![expect(unsafe_code, reason = "takes over the MMIO devices the board tables name")]

use crate::generated::{CORE_COUNT, ConsoleUart, InterruptController, LogUart, SYSTEM};
use crate::console;
use bulkhead_arch_aarch64 as arch;
use bulkhead_core::addr::PhysAddr;
use bulkhead_core::el2_map;
use bulkhead_core::system::Gic;
use bulkhead_core::vgic::GicArchitecture;
use bulkhead_core::vgic::delivery::PhysicalCpuInterface;
use bulkhead_drivers::uart::ConsoleDriver;
use crate::lock::{Mutex, MutexGuard};
use spin::Once;

/// Where the EL2 identity map is built: in place, so the 4 KiB table never sits on the boot
/// stack. The boot core takes the lock once and never gives it back (the map is read only by
/// the MMUs after that).
static EL2_MAP_STORAGE: Mutex<arch::mmu::Level1Table> = Mutex::new(arch::mmu::Level1Table([0; el2_map::ENTRIES]));

/// The finished EL2 identity map, shared by every core's MMU.
static EL2_MAP: Once<&'static arch::mmu::Level1Table> = Once::new();

/// A distributor driver's CPU-interface half.
pub trait CpuInterfaceOf {
    /// The per-core CPU interface and list registers of the same GIC.
    type CpuInterface: PhysicalCpuInterface;
}

impl CpuInterfaceOf for bulkhead_drivers::gicv3::PhysicalGic {
    type CpuInterface = arch::gic::Gicv3CpuInterface;
}

impl CpuInterfaceOf for bulkhead_drivers::gicv2::PhysicalGic {
    type CpuInterface = bulkhead_drivers::gicv2::Gicv2CpuInterface;
}

/// This board's per-core physical CPU interface and list registers.
pub type CpuInterface = <InterruptController as CpuInterfaceOf>::CpuInterface;

/// This board's list registers (the backend of `bulkhead_core::vgic::delivery`).
pub type ListRegisters = <CpuInterface as PhysicalCpuInterface>::ListRegisters;

/// The GIC architecture partitions see: the board's (their CPU interface is its virtual one).
pub const fn gic_architecture() -> GicArchitecture {
    match SYSTEM.board.gic {
        Gic::V3 { .. } => GicArchitecture::V3,
        Gic::V2 { .. } => GicArchitecture::V2,
    }
}

pub use crate::physical_gic::GIC;

/// Why the platform could not start.
#[derive(Clone, Copy, Debug)]
#[allow(dead_code, reason = "the fields are shown through Debug in boot error messages")]
pub enum PlatformError {
    /// The board's RAM and devices cannot share the 1 GiB-block identity map.
    IdentityMap(el2_map::MapError),
    /// The GIC driver refused the addresses.
    Gic(bulkhead_drivers::gicv3::GicError),
    /// A device address does not fit a pointer.
    DeviceAddress(PhysAddr),
    /// The identity map was already built (the shared set-up ran twice).
    AlreadyInitialised,
}

/// Boot-core set-up of everything shared: console first (so later failures can be
/// reported), then the identity map, then the GIC distributor.
pub fn initialise_shared() -> Result<(), PlatformError> {
    // The drivers are the ones the configuration compiler chose from the board's UART and
    // GIC models (`ConsoleUart`, `LogUart`, `InterruptController` in the generated tables).
    let console_base = device_address(SYSTEM.board.console.base)?;
    // SAFETY: the console UART's address comes from the validated board device tree; with
    // the MMU still off it is reached directly. The console drives its transmit side through
    // this handle under its drain lock only.
    let console_uart = unsafe { ConsoleUart::new(console_base) };
    // SAFETY: as above; this second handle only reads received bytes on the input core and
    // unmasks the receive interrupt once at boot (`console::enable_receive_interrupt`),
    // never touching the transmit side.
    let receiver = unsafe { ConsoleUart::new(console_base) };
    console::attach(console_uart, receiver);
    if let Some(log) = SYSTEM.board.log {
        let log_base = device_address(log.base)?;
        // SAFETY: as above, for the log UART, which no guest maps and only the logger drives.
        let mut log_uart = unsafe { LogUart::new(log_base) };
        log_uart.enable();
        bulkhead_drivers::log::attach(log_uart, arch::cpu::core_index);
    }

    let storage = EL2_MAP_STORAGE.try_lock().ok_or(PlatformError::AlreadyInitialised)?;
    let table = MutexGuard::leak(storage);
    el2_map::build(&mut table.0, SYSTEM.board.ram, SYSTEM.board.hypervisor_mmio).map_err(PlatformError::IdentityMap)?;
    let finished: &'static arch::mmu::Level1Table = table;
    EL2_MAP.call_once(|| finished);

    // SAFETY: the GIC frames come from the validated board device tree and are in the
    // identity map as Device memory; this is the only driver instance. The driver refuses a
    // board GIC of another architecture than its own.
    let gic = unsafe { InterruptController::from_board(&SYSTEM.board.gic, CORE_COUNT) }.map_err(PlatformError::Gic)?;
    *GIC.lock() = Some(gic);
    Ok(())
}

/// A device's physical address as the drivers take it (the identity map makes it the
/// address EL2 uses).
fn device_address(address: PhysAddr) -> Result<usize, PlatformError> {
    usize::try_from(address.raw()).map_err(|_| PlatformError::DeviceAddress(address))
}

/// Per-core set-up: MMU on, vectors installed, this core's redistributor and CPU interface
/// ready. `core` is the index in the system tables.
pub fn initialise_core(core: usize) {
    if let Some(&table) = EL2_MAP.get() {
        // SAFETY: the map covers all board RAM (image, stacks, statics) as Normal memory and
        // the hypervisor's devices as Device memory, and is never changed after boot.
        unsafe { arch::mmu::enable(table) };
    }
    arch::vectors::install();
    if let Some(gic) = GIC.lock().as_mut() {
        if core == 0 {
            gic.initialise(core);
        } else {
            gic.initialise_core(core);
        }
    }
    CpuInterface::initialise(core);
    defmt::info!("core {=usize} ready at EL2", core);
}
