//! Where the partitions' boot seeds come from (`/chosen/kaslr-seed` and `/chosen/rng-seed`,
//! written at every start by `partition::fill_boot_seeds`; `bulkhead_core::boot_seed`).
//!
//! Once, on the boot core before any vCPU runs, [`draw_boot_seed`] reads [`SEED_BYTES`] from
//! the board's random-number generator: the device `board.toml`'s `[entropy]` names
//! (virtio-rng on QEMU `virt`, iproc-rng200 on the Raspberry Pi 4), else `RNDR` where the
//! core has it. That seed keys a ChaCha20 generator (`bulkhead_core::drbg`), which keys one
//! generator per partition. Every (re)start of a partition then takes its seeds from its own
//! generator ([`seeds_for_start`]), so no start waits on a device, and no partition's start
//! waits on another's: each generator's lock is only taken by the core loading its partition.
//!
//! Without a source, or when the device does not answer within [`DEVICE_WAIT_MS`], there are
//! no generators and the seeds come from the counter, as `partition` says.
//!
//! A device the board may lack is only touched when the firmware's own device tree says it is
//! there ([`firmware_lists`]): the Raspberry Pi 4's iproc-rng200 is, on a real board (its
//! firmware passes a tree with `rng@7e104000` in `x0`), but QEMU's `raspi4b` does not model it
//! (a read of its registers is an external abort at EL2) and passes no tree to an ELF kernel.
//! Without that word the boot falls back as when the device gives nothing. QEMU's own
//! virtio-rng needs no such check: its transport is always there to read.
//!
//! Worst case: the boot draw waits at most [`DEVICE_WAIT_MS`] on the boot core, before any
//! partition runs. A start's seeds cost two ChaCha20 blocks for 72 bytes (and one more block of
//! keystream for the next key, `Drbg::fill`), under that partition's own lock.

use crate::deadline::CounterDeadline;
use crate::generated::{PARTITION_COUNT, SYSTEM};
use crate::hv_println;
use crate::lock::Mutex;
use bulkhead_arch_aarch64 as arch;
use bulkhead_core::addr::PhysAddr;
use bulkhead_core::drbg::{Drbg, SEED_BYTES};
use bulkhead_core::fdt_scan;
use bulkhead_core::system::{Entropy, EntropyDevice, Partition};
use bulkhead_drivers::iproc_rng200::IprocRng200;
use bulkhead_drivers::virtio_mmio;
use bulkhead_drivers::virtio_rng::VirtioRng;

/// Milliseconds the boot waits for the board's RNG in all (QEMU's virtio-rng answers within
/// one; a real iproc-rng200 fills its FIFO within a few).
const DEVICE_WAIT_MS: u64 = 100;

/// Bytes of the firmware's device tree the boot reads at most (the Raspberry Pi 4's is about
/// 55 KiB): a larger `totalsize` is not believed.
const FIRMWARE_TREE_LIMIT: usize = 1 << 20;

/// Each partition's generator, by partition index; `None` when the boot drew no seed.
static GENERATORS: [Mutex<Option<Drbg>>; PARTITION_COUNT] = [const { Mutex::new(None) }; PARTITION_COUNT];

/// What the boot seed came from, for the per-start log line; empty when no seed was drawn.
static SOURCE: spin::Once<&'static str> = spin::Once::new();

/// The virtio-rng's queue: a `static`, because the device is told its address.
static VIRTIO_RNG: Mutex<VirtioRng> = Mutex::new(VirtioRng::new());

/// Draws the boot seed and keys every partition's generator; says on the console where the
/// seeds come from. `firmware_tree` is the loader's `x0` (`arch::boot`). Boot core only,
/// before any vCPU runs and before any partition is loaded.
pub fn draw_boot_seed(firmware_tree: usize) {
    let mut seed = [0u8; SEED_BYTES];
    let drawn_from = match SYSTEM.board.entropy {
        Some(entropy) if present(entropy.device, firmware_tree) && from_device(entropy, &mut seed) => Some(entropy.device.name()),
        Some(_) | None => from_rndr(&mut seed).then_some("RNDR"),
    };
    let Some(source) = drawn_from else {
        hv_println!("boot seeds: no hardware RNG: kaslr-seed from the counter (not secret), rng-seed withheld");
        return;
    };
    let mut master = Drbg::new(seed);
    for generator in &GENERATORS {
        *generator.lock() = Some(master.split());
    }
    SOURCE.call_once(|| source);
    hv_println!("boot seeds: from {}, through a ChaCha20 generator per partition", source);
}

/// Fills `bytes` from `partition`'s generator; the source's name, or `None` when the boot
/// drew no seed (the caller then falls back to the counter).
pub fn seeds_for_start(partition: &Partition, bytes: &mut [u8]) -> Option<&'static str> {
    let source = SOURCE.get()?;
    let index = SYSTEM.partitions.iter().position(|candidate| core::ptr::eq(candidate, partition))?;
    let mut generator = GENERATORS.get(index)?.lock();
    generator.as_mut()?.fill(bytes);
    Some(source)
}

/// Why the boot leaves a device alone that the firmware's device tree must vouch for.
#[derive(Clone, Copy, Debug)]
enum Unlisted {
    /// `x0` was 0.
    NoTree,
    /// The tree's header or body at this address is not in board RAM outside the hypervisor.
    OutsideFreeRam(u64),
    /// No valid device tree of at most [`FIRMWARE_TREE_LIMIT`] bytes at this address.
    NotATree(u64),
    /// The tree has no enabled node of the device's `compatible`.
    NotListed,
}

/// Whether the boot may touch `device`: always for the virtio-rng; for the iproc-rng200 only
/// when [`firmware_lists`] it. Says why not on the console.
fn present(device: EntropyDevice, firmware_tree: usize) -> bool {
    let outcome = match device {
        EntropyDevice::VirtioRng => Ok(()),
        EntropyDevice::IprocRng200 => firmware_lists(device, firmware_tree),
    };
    let Err(reason) = outcome else { return true };
    let name = device.name();
    match reason {
        Unlisted::NoTree => hv_println!("boot seeds: {} not used: the firmware passed no device tree", name),
        Unlisted::OutsideFreeRam(address) => {
            hv_println!("boot seeds: {} not used: the firmware's device tree at {:#x} is not in board RAM outside the hypervisor", name, address);
        }
        Unlisted::NotATree(address) => {
            hv_println!("boot seeds: {} not used: no valid device tree of at most 1 MiB at {:#x}", name, address);
        }
        Unlisted::NotListed => hv_println!("boot seeds: {} not used: the firmware's device tree does not list it", name),
    }
    false
}

/// Whether the device tree the firmware passed at `firmware_tree` has an enabled node of
/// `device`'s `compatible`. Its header, then its `totalsize` (at most
/// [`FIRMWARE_TREE_LIMIT`]), must lie in one board RAM range outside the hypervisor's
/// reservation before a byte of it is read.
fn firmware_lists(device: EntropyDevice, firmware_tree: usize) -> Result<(), Unlisted> {
    let address = u64::try_from(firmware_tree).map_err(|_| Unlisted::NoTree)?;
    if address == 0 {
        return Err(Unlisted::NoTree);
    }
    let header = firmware_bytes(address, fdt_scan::HEADER_BYTES).ok_or(Unlisted::OutsideFreeRam(address))?;
    let size = fdt_scan::total_size(header)
        .filter(|&size| size <= FIRMWARE_TREE_LIMIT)
        .ok_or(Unlisted::NotATree(address))?;
    let tree = firmware_bytes(address, size).ok_or(Unlisted::OutsideFreeRam(address))?;
    match fdt_scan::has_enabled_compatible(tree, device.compatible()) {
        Some(true) => Ok(()),
        Some(false) => Err(Unlisted::NotListed),
        None => Err(Unlisted::NotATree(address)),
    }
}

/// The `length` bytes at `address`, when they lie inside one board RAM range and outside the
/// hypervisor's reservation.
fn firmware_bytes(address: u64, length: usize) -> Option<&'static [u8]> {
    let bytes = u64::try_from(length).ok()?;
    let in_ram = SYSTEM.board.ram.iter().any(|range| range.contains(address, bytes));
    if !in_ram || SYSTEM.board.hypervisor.overlaps(address, bytes) {
        return None;
    }
    // SAFETY: the range was just checked to lie inside one board RAM range, which the EL2
    // identity map holds as Normal memory (`platform`), and outside the hypervisor's
    // reservation, where every Rust object (image, stacks, statics) lives: no Rust object is
    // there. It is only read, on the boot core, before any partition is loaded into RAM or any
    // vCPU runs, so nothing writes it while the slice is used (within `draw_boot_seed`).
    #[expect(unsafe_code, reason = "the one read of the device tree the firmware passed in x0")]
    let tree = unsafe { arch::memory::ram_bytes(PhysAddr(address), length) };
    tree
}

/// Reads the seed from the board's RNG device; says why not on the console when it cannot.
fn from_device(entropy: Entropy, seed: &mut [u8; SEED_BYTES]) -> bool {
    let name = entropy.device.name();
    let Ok(base) = usize::try_from(entropy.registers.raw()) else {
        hv_println!("boot seeds: {} registers out of reach", name);
        return false;
    };
    let mut deadline = CounterDeadline::after_ms(DEVICE_WAIT_MS);
    let outcome = match entropy.device {
        EntropyDevice::VirtioRng => {
            // SAFETY: `[entropy]` names this virtio-mmio transport; the configuration compiler
            // put its page in the hypervisor's EL2 device map (`hypervisor_mmio`) and keeps it
            // from every partition, and only this function drives it, once, on the boot core.
            #[expect(unsafe_code, reason = "the one place the boot-seed virtio-rng is driven")]
            let registers = unsafe { virtio_mmio::registers_at(base) };
            VIRTIO_RNG.lock().fill(registers, seed, &mut deadline).map_err(|error| hv_println!("boot seeds: {} gave none ({:?})", name, error))
        }
        EntropyDevice::IprocRng200 => {
            // SAFETY: as above: the iproc-rng200 `[entropy]` names, mapped at EL2 as Device
            // memory, kept from every partition and driven only here.
            #[expect(unsafe_code, reason = "the one place the boot-seed iproc-rng200 is driven")]
            let mut rng = unsafe { IprocRng200::at(base) };
            rng.fill(seed, &mut deadline).map_err(|error| hv_println!("boot seeds: {} gave none ({:?})", name, error))
        }
    };
    outcome.is_ok()
}

/// Reads the seed from `RNDR`; `false` when the core has none or it ran dry.
fn from_rndr(seed: &mut [u8; SEED_BYTES]) -> bool {
    for chunk in seed.chunks_mut(8) {
        let Some(value) = arch::cpu::random_number() else { return false };
        for (target, byte) in chunk.iter_mut().zip(value.to_le_bytes()) {
            *target = byte;
        }
    }
    true
}
