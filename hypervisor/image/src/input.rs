//! Console input: bytes from the physical UART go to the partition that has the focus
//! (`Ctrl-T` then `1`–`9` or `n` moves it; see `bulkhead_core::console`).

use crate::delivery;
use crate::generated::{PARTITION_COUNT, SYSTEM};
use crate::hv_println;
use crate::partition::{self, PARTITIONS};
use bulkhead_core::console::{HELP, InputAction, InputRouter};
use bulkhead_core::vgic::VcpuSet;
use crate::lock::Mutex;

/// Which partition has the focus, and the `Ctrl-T` command state (`None` before boot).
static ROUTER: Mutex<Option<InputRouter>> = Mutex::new(None);

/// Starts routing input; the first partition has the focus.
pub fn initialise() {
    *ROUTER.lock() = InputRouter::new(PARTITION_COUNT).ok();
}

/// The core that takes console input interrupts: the first core that runs a vCPU (a core
/// without one parks with interrupts masked).
pub fn input_core() -> Option<usize> {
    SYSTEM.cores.iter().position(|core| core.vcpu.is_some())
}

/// Reads every byte the console UART holds and routes it. Called with no partition lock held.
pub fn drain(current_core: usize) {
    crate::console::acknowledge_input();
    // BOUND: the UART's receive FIFO is finite and each iteration takes one byte from it.
    while let Some(byte) = crate::console::read_byte() {
        let action = ROUTER.lock().as_mut().map(|router| router.feed(byte));
        match action {
            Some(InputAction::Deliver { partition, byte: delivered }) => deliver(current_core, partition, delivered),
            Some(InputAction::FocusChanged { partition }) => {
                let name = SYSTEM.partitions.get(partition).map_or("?", |p| p.name);
                hv_println!("console input now goes to {}", name);
            }
            Some(InputAction::UnknownCommand(_)) => hv_println!("{}", HELP),
            Some(InputAction::Nothing) | None => {}
        }
    }
}

/// Feeds `byte` to the partition's console UART, which raises its receive interrupt (the
/// wiring is the device map's), kicking the vCPU's core if that is not this one. Dropped if
/// the partition is not running or its receive FIFO is full.
fn deliver(current_core: usize, partition: usize, byte: u8) {
    let (Some(slot), Some(map), Some(description)) =
        (PARTITIONS.get(partition), partition::device_map(partition), SYSTEM.partitions.get(partition))
    else {
        return;
    };
    let targets = {
        let mut guard = slot.lock();
        let Some(state) = guard.as_mut() else { return };
        if !partition::is_running(state) {
            return;
        }
        match state.devices.push_console_input(map, byte) {
            Ok(targets) => targets,
            Err(_) => {
                defmt::debug!("input byte dropped: partition {=usize} not accepting", partition);
                return;
            }
        }
    };
    let mut others = VcpuSet::EMPTY;
    for vcpu in targets.iter() {
        if description.cores.get(vcpu).is_some_and(|&core| core != current_core) {
            others = others.with(vcpu);
        }
    }
    delivery::kick_vcpus(description, others);
}
