//! Running the one vCPU pinned to this core: preparing the core, waiting for PSCI `CPU_ON`,
//! entering the guest, and carrying out what the partition's power state machine
//! (`bulkhead_core::partition_power`, in the partition state) decides when it stops or
//! restarts ([`Fate`], [`follow`]).
//!
//! Containment (`containment.rs`) and the PSCI handler return a [`Fate`]; this module makes
//! the request, kicks the partition's other running vCPUs (they acknowledge on their next
//! exit, `interrupts.rs`) and does what the state machine says: resume, park, or, on the
//! core whose vCPU left the guest last, finish the stop (reload the partition and boot its
//! vCPU 0, or park it for good). A core enters its guest only after
//! `PartitionPower::begin_run` allowed it, so a `CPU_ON` racing a stop never leaves a vCPU
//! running.
//!
//! Worst case: a request holds the partition lock for one `PartitionPower` call (O(vCPUs),
//! at most 8) and prints one `[hv]` line after releasing it; the reload copies the image and
//! device tree with no lock held (no vCPU of the partition runs), then takes the lock twice
//! for the in-place model reset and `reload_finished`.
//!
//! [impl->dsn~el2-trap-dispatch~1]

use crate::console;
use crate::context::TrapContext;
use crate::cores::{self, MAILBOXES, MAINTENANCE_INTID, KICK_SGI, request};
use crate::generated::SYSTEM;
use crate::hv_println;
use crate::partition::{self, HARDWARE_PRIVATE_INTERRUPTS, PARTITIONS};
use crate::platform::{CpuInterface, GIC};
use bulkhead_core::vgic::delivery::PhysicalCpuInterface;
use crate::refusals;
use bulkhead_arch_aarch64 as arch;
use bulkhead_core::partition_power::{AfterReload, Directive, Outcome, Request, RequestOutcome, Requester};
use bulkhead_core::report_limit::ReportKind;
use bulkhead_core::system::{FaultPolicy, Partition, VcpuRef};
use bulkhead_core::vgic::delivery::ListRegisterShadow;
use bulkhead_drivers::gicv3::InterruptTrigger;

/// What becomes of the trapping vCPU after containment or a PSCI call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fate {
    /// It resumes (with the trap frame as the handler left it).
    Resume,
    /// Its partition is asked to stop or restart (`bulkhead_core::partition_power`): PSCI
    /// `SYSTEM_OFF`/`SYSTEM_RESET`, or its fault policy. This vCPU does not resume.
    Power(Request),
    /// The partition's power state machine already decided what this core does (PSCI
    /// `CPU_OFF` during a stop may complete it).
    Follow(Directive),
}

/// Carries out `fate` for the vCPU of `context`; returns only when the vCPU resumes. The
/// common fate, resuming, costs one comparison at the call site; the rest is out of line.
#[inline(always)]
pub fn carry_out(context: &TrapContext, fate: Fate) {
    if !matches!(fate, Fate::Resume) {
        carry_out_stop(context, fate);
    }
}

/// [`carry_out`] for a fate other than resuming.
#[inline(never)]
fn carry_out_stop(context: &TrapContext, fate: Fate) {
    match fate {
        Fate::Resume => {}
        Fate::Power(request) => {
            let directive = request_power(context, request);
            follow(context.core, context.vcpu, directive);
        }
        Fate::Follow(directive) => follow(context.core, context.vcpu, directive),
    }
}

/// Makes `request` of the partition's power state machine for the vCPU of `context`, prints
/// the one `[hv]` line that says what happens (unless the request joined a stop already under
/// way), and kicks the partition's other running vCPUs. Returns what this core does next.
fn request_power(context: &TrapContext, request: Request) -> Directive {
    let partition = context.partition;
    let vcpu = context.vcpu.vcpu;
    let answer = context.state.lock().as_mut().map(|state| {
        let fault_restarts = state.power.fault_restarts();
        (state.power.request(Requester::Vcpu(vcpu), request), fault_restarts)
    });
    let Some((Ok(outcome), fault_restarts)) = answer else { return Directive::Park };
    if !outcome.combined {
        announce(context, request, &outcome, fault_restarts);
    }
    let mut waiting = outcome.kick;
    // BOUND: each turn clears one bit of a mask of at most `MAX_VCPUS_PER_PARTITION` bits.
    while waiting != 0 {
        let other = waiting.trailing_zeros();
        waiting &= waiting.wrapping_sub(1);
        if let Some(&core) = usize::try_from(other).ok().and_then(|index| partition.cores.get(index)) {
            cores::kick(core, request::POWER);
        }
    }
    outcome.directive
}

/// The `[hv]` line for a request that starts a stop.
fn announce(context: &TrapContext, request: Request, outcome: &RequestOutcome, fault_restarts: u32) {
    let partition = context.partition;
    let name = partition.name;
    match (request, outcome.resolved) {
        // The two lines a partition can cause again and again draw on its lifecycle budget.
        (Request::Reset, _) => console::report(context.vcpu.partition, ReportKind::Restart, format_args!("reset (PSCI SYSTEM_RESET)")),
        (Request::Off, _) => {
            hv_println!("{}: powered off (PSCI SYSTEM_OFF)", name);
            refusals::report(context.vcpu.partition, name);
        }
        (Request::Fault, Outcome::Restart { .. }) => {
            let limit = match partition.fault_policy {
                FaultPolicy::Restart { max_restarts } => max_restarts,
                FaultPolicy::InjectAbort | FaultPolicy::Halt | FaultPolicy::StopSystem => 0,
            };
            let arguments = format_args!("restarting ({} of {})", fault_restarts.saturating_add(1), limit);
            console::report(context.vcpu.partition, ReportKind::Restart, arguments);
        }
        (Request::Fault, Outcome::Halt) => match partition.fault_policy {
            FaultPolicy::Restart { max_restarts } => hv_println!("{}: restart limit {} reached: halted", name, max_restarts),
            FaultPolicy::InjectAbort | FaultPolicy::Halt | FaultPolicy::StopSystem => {
                hv_println!("{}: halted by its fault policy", name);
            }
        },
        (Request::Fault, Outcome::StopSystem) => {
            hv_println!("{}: fault policy stops the system: powering the machine off", name);
        }
        (Request::Fault, Outcome::Off) => hv_println!("{}: powered off", name),
    }
}

/// Does what the partition's power state machine told this core; returns only for
/// [`Directive::Resume`].
pub fn follow(core: usize, vcpu: VcpuRef, directive: Directive) {
    match directive {
        Directive::Resume => {}
        Directive::Park => wait_for_start(core),
        Directive::Complete(outcome) => complete(core, vcpu, outcome),
    }
}

/// Takes this core from boot to its vCPU: configures the virtualization registers, then
/// loads the partition and enters vCPU 0 directly, or waits for PSCI `CPU_ON` for any other
/// vCPU.
pub fn run(core: usize) -> ! {
    let Some(vcpu) = SYSTEM.vcpu_on_core(core) else {
        defmt::info!("core {=usize} has no vCPU: parked", core);
        arch::cpu::halt_idle()
    };
    prepare_core(core, vcpu);
    let Some(found) = TrapContext::of_core(core) else { arch::cpu::halt() };
    let context = found.record();
    if vcpu.vcpu == 0 {
        // The partition's first load happens here, on its own core, so a partition with a
        // large image (Linux's 35 MiB) delays only itself: before, the boot core copied every
        // image before any vCPU started, and `rt` waited 9.8 M instructions for Linux's.
        // Its other vCPUs cannot start before vCPU 0 runs (PSCI `CPU_ON` comes from it).
        if let Err(error) = partition::load_images(context.partition, partition::Start::First) {
            hv_println!("{}: cannot be loaded: {:?}: halted", context.partition.name, error);
            arch::cpu::halt()
        }
        enter(core, context.partition.entry.raw(), context.partition.dtb_ipa.raw())
    }
    wait_for_start(core)
}

/// Programs this core's virtualization registers for `vcpu` (virtual MPIDR, stage 2) and
/// enables its private interrupts at the GIC.
fn prepare_core(core: usize, vcpu: VcpuRef) {
    // A vCPU index is below `MAX_VCPUS_PER_PARTITION`, so it always fits; the fallback only
    // keeps the conversion total.
    arch::guest::configure_core(u64::try_from(vcpu.vcpu).unwrap_or(0));
    let vttbr = PARTITIONS
        .get(vcpu.partition)
        .and_then(|slot| slot.lock().as_ref().map(|state| state.vttbr))
        .unwrap_or(0);
    arch::guest::install_stage2(crate::partition::vtcr_el2(), vttbr);
    let affinity = SYSTEM.cores.get(core).map_or(0, |c| c.mpidr);
    if let Some(gic) = GIC.lock().as_mut() {
        let hardware = HARDWARE_PRIVATE_INTERRUPTS.iter().map(|&(_, physical)| (physical, InterruptTrigger::Level));
        let own = [(MAINTENANCE_INTID, InterruptTrigger::Level), (KICK_SGI, InterruptTrigger::Edge)];
        let tick = crate::display::ticks_on(core).then_some((arch::cpu::HYPERVISOR_TIMER_INTID, InterruptTrigger::Level));
        for (intid, trigger) in hardware.chain(own).chain(tick) {
            if gic.enable(intid, core, affinity, trigger).is_err() {
                defmt::error!("core {=usize}: cannot enable INTID {=u32}", core, intid);
            }
        }
    }
    crate::display::start_tick(core);
}

/// Parks this core until a start request arrives, then enters the vCPU. The parked loop runs
/// on a fresh stack, so parking from inside a trap handler never deepens the stack.
pub fn wait_for_start(core: usize) -> ! {
    let Some(stack_top) = cores::stack_top(core) else { arch::cpu::halt() };
    // `self::parked_loop` is written as a path so that the call-graph check (MLR-09) sees
    // this edge. Parking no longer closes a cycle (the restart is finished by whichever core
    // the power state machine names, and boots vCPU 0 through its mailbox), so DEV-0051 is
    // retired; the fresh stack still bounds the depth of every park.
    #[expect(unsafe_code, reason = "discarding the trap handler's stack while parking")]
    // SAFETY: `stack_top` is this core's EL2 stack top; everything on the stack belongs to the
    // trap being abandoned, and nothing refers to it afterwards.
    unsafe {
        arch::stack::continue_on_stack(core, stack_top, self::parked_loop)
    }
}

/// This core's parked state, on an empty stack: waits for a start request (PSCI `CPU_ON`,
/// or vCPU 0's boot after its partition was reloaded; everything else, e.g. refresh kicks,
/// only wakes it) and enters the vCPU once the partition's power state machine allows it.
extern "C" fn parked_loop(core: usize) -> ! {
    // BOUND: a parked core waits for as long as its vCPU is off; that is its job.
    loop {
        let Some(mailbox) = MAILBOXES.get(core) else { arch::cpu::halt() };
        let requests = mailbox.take();
        let Some(vcpu) = SYSTEM.vcpu_on_core(core) else { arch::cpu::halt() };
        if requests & request::BOOT != 0 {
            if let Some(description) = SYSTEM.partitions.get(vcpu.partition) {
                if vcpu.vcpu == 0 && may_enter(vcpu, false) {
                    enter(core, description.entry.raw(), description.dtb_ipa.raw());
                }
            }
        }
        if requests & request::START != 0 && may_enter(vcpu, true) {
            let (entry, context) = mailbox.start_arguments();
            enter(core, entry, context);
        }
        arch::cpu::wait_for_event();
    }
}

/// Whether `vcpu` may enter its guest now (the power state machine allows it and, for a
/// PSCI `CPU_ON` start, the PSCI model was waiting for it); if so its list-register shadow
/// starts empty, as the virtual interface `enter` resets.
fn may_enter(vcpu: VcpuRef, psci_start: bool) -> bool {
    let Some(slot) = PARTITIONS.get(vcpu.partition) else { return false };
    let mut guard = slot.lock();
    let Some(state) = guard.as_mut() else { return false };
    if psci_start && state.psci.vcpu_started(vcpu.vcpu).is_err() {
        return false;
    }
    if state.power.begin_run(vcpu.vcpu) != Ok(true) {
        return false;
    }
    if let Some(shadow) = state.list_registers.get_mut(vcpu.vcpu) {
        *shadow = ListRegisterShadow::EMPTY;
    }
    true
}

/// Enters the vCPU at `entry` with `x0`, in the state the arm64 boot protocol and PSCI
/// `CPU_ON` require (EL1h, DAIF masked, MMU and caches off, fresh virtual interface).
pub fn enter(core: usize, entry: u64, x0: u64) -> ! {
    // Which physical core runs which vCPU, with the affinity read from this core's own
    // MPIDR_EL1 (the guest only sees its virtual MPIDR): what the pinning tests check.
    if let Some(vcpu) = SYSTEM.vcpu_on_core(core) {
        let name = SYSTEM.partitions.get(vcpu.partition).map_or("?", |p| p.name);
        defmt::info!("{=str}: vCPU {=usize} entered on core {=usize} (MPIDR affinity {=u64:#x})", name, vcpu.vcpu, core, arch::cpu::affinity());
    }
    arch::guest::reset_el1_state();
    // A previous life's hardware-backed entries (the timers) are still active at the GIC.
    CpuInterface::release_hardware_interrupts();
    CpuInterface::reset_virtual_interface();
    CpuInterface::set_refill_maintenance(false);
    let frame = arch::vectors::TrapFrame::new_entry(entry, x0);
    let Some(stack_top) = cores::stack_top(core) else { arch::cpu::halt() };
    #[expect(unsafe_code, reason = "leaving EL2 for the guest")]
    // SAFETY: `stack_top` is this core's EL2 stack top, and nothing on the stack is needed
    // again: `enter` never returns and later traps start from the top.
    unsafe {
        arch::vectors::enter(&frame, stack_top)
    }
}

/// Every vCPU of the partition has left its guest and this core finishes the stop: reloads
/// and reboots the partition for a restart, or parks it for good (powering the machine off
/// when every partition has powered itself off, or when the fault policy stops the system).
pub fn complete(core: usize, vcpu: VcpuRef, outcome: Outcome) -> ! {
    let Some(description) = SYSTEM.partitions.get(vcpu.partition) else { wait_for_start(core) };
    let stop = match outcome {
        Outcome::Restart { .. } => match reload(vcpu.partition, description) {
            AfterReload::StartVcpu0 => {
                let first_core = description.cores.first().copied().unwrap_or(core);
                if first_core == core {
                    if may_enter(vcpu, false) {
                        enter(core, description.entry.raw(), description.dtb_ipa.raw());
                    }
                } else {
                    cores::kick(first_core, request::BOOT);
                }
                wait_for_start(core)
            }
            AfterReload::Stop(stop) => stop,
        },
        Outcome::Off | Outcome::Halt | Outcome::StopSystem => outcome,
    };
    let all_off = partition::flush_stopped(vcpu.partition);
    if stop == Outcome::StopSystem || all_off {
        if all_off {
            hv_println!("every partition is off: powering the machine off");
        }
        // Only firmware with PSCI can power the machine off; on a board started without it
        // (the Raspberry Pi's armstub, QEMU `raspi4b`) an SMC would trap to an EL3 nobody
        // set up, so the cores just stay parked.
        if SYSTEM.board.secondary_boot == bulkhead_core::system::SecondaryBoot::PsciSmc {
            arch::psci::system_off_smc();
        }
    }
    wait_for_start(core)
}

/// Reloads the partition (its vCPUs are all parked: the power state machine says so) and
/// tells the state machine; returns what follows.
fn reload(index: usize, description: &Partition) -> AfterReload {
    let Some(slot) = PARTITIONS.get(index) else { return AfterReload::Stop(Outcome::Halt) };
    let reset = slot.lock().as_mut().map(|state| state.reset(description));
    refusals::reset(index);
    let reloaded = matches!(reset, Some(Ok(()))) && partition::load_images(description, partition::Start::Restart).is_ok();
    if !reloaded {
        hv_println!("{}: cannot be reloaded: halted", description.name);
    }
    let finished = slot.lock().as_mut().map(|state| state.power.reload_finished(reloaded));
    match finished {
        Some(Ok(next)) => next,
        Some(Err(_)) | None => AfterReload::Stop(Outcome::Halt),
    }
}
