//! The partition power state machine: the issue-14 scenarios one by one, then an exhaustive
//! enumeration of every interleaving of 2 to 4 vCPUs making requests, acknowledging kicks,
//! turning themselves off and being started, checking that no request is lost and that the
//! partition is only reloaded while every vCPU is parked.
//!
//! [utest->dsn~partition-power~1]

extern crate std;

use super::*;
use std::collections::HashSet;
use std::vec::Vec;

const RESTART_3: FaultPolicy = FaultPolicy::Restart { max_restarts: 3 };

/// A partition whose vCPUs `0..count` all run (the secondaries started by `CPU_ON`).
fn running(count: usize, policy: FaultPolicy) -> PartitionPower {
    let mut power = PartitionPower::new(count, policy).unwrap();
    for vcpu in 1..count {
        assert!(power.begin_run(vcpu).unwrap());
    }
    power
}

#[test]
fn system_reset_from_a_secondary_vcpu_restarts_the_partition() {
    // Issue 14: vCPU 1 calls SYSTEM_RESET; the image posted STOP and RESTART to vCPU 0's
    // core, which could take both at once and park on STOP. Here vCPU 0's core only learns
    // "look at the state", and the state says: acknowledge, and you are the last: reload.
    let mut power = running(2, FaultPolicy::InjectAbort);
    let outcome = power.request(Requester::Vcpu(1), Request::Reset).unwrap();
    assert_eq!(outcome.directive, Directive::Park);
    assert_eq!(outcome.kick, 0b01, "vCPU 0's core is kicked");
    assert!(power.stop_pending(0));
    assert_eq!(power.acknowledge(0), Ok(Directive::Complete(Outcome::Restart { fault: false })));
    assert_eq!(power.state(), PowerState::Reloading { queued: None });
    assert_eq!(power.reload_finished(true), Ok(AfterReload::StartVcpu0));
    assert_eq!(power.state(), PowerState::Running);
    assert_eq!(power.running(), 0b01);
    assert_eq!((power.restarts(), power.fault_restarts()), (1, 0), "SYSTEM_RESET is not a fault");
}

#[test]
fn a_second_kick_taken_late_does_not_park_the_restarted_partition() {
    let mut power = running(2, FaultPolicy::InjectAbort);
    let _ = power.request(Requester::Vcpu(1), Request::Reset).unwrap();
    assert_eq!(power.acknowledge(0), Ok(Directive::Complete(Outcome::Restart { fault: false })));
    assert_eq!(power.reload_finished(true), Ok(AfterReload::StartVcpu0));
    // The same kick seen again after the restart: vCPU 0 runs on.
    assert_eq!(power.acknowledge(0), Ok(Directive::Resume));
    assert_eq!(power.acknowledge(1), Ok(Directive::Park), "vCPU 1 is off after a restart");
}

#[test]
fn a_lone_vcpu_resetting_itself_completes_at_once() {
    let mut power = running(1, FaultPolicy::Halt);
    let outcome = power.request(Requester::Vcpu(0), Request::Reset).unwrap();
    assert_eq!(outcome.kick, 0);
    assert_eq!(outcome.directive, Directive::Complete(Outcome::Restart { fault: false }));
}

#[test]
fn concurrent_stop_and_restart_end_stopped_whoever_asks_first() {
    for off_first in [false, true] {
        let mut power = running(3, FaultPolicy::InjectAbort);
        let (first, second) = if off_first { (Request::Off, Request::Reset) } else { (Request::Reset, Request::Off) };
        let one = power.request(Requester::Vcpu(1), first).unwrap();
        assert_eq!(one.kick, 0b101);
        let two = power.request(Requester::Vcpu(2), second).unwrap();
        assert!(two.combined);
        assert_eq!(two.directive, Directive::Park);
        assert_eq!(power.acknowledge(0), Ok(Directive::Complete(Outcome::Off)), "off_first = {off_first}");
        assert_eq!(power.state(), PowerState::Off);
        assert_eq!(power.restarts(), 0);
    }
}

#[test]
fn precedence_is_stop_system_then_halt_then_off_then_restart() {
    let order = [
        Outcome::Restart { fault: false },
        Outcome::Restart { fault: true },
        Outcome::Off,
        Outcome::Halt,
        Outcome::StopSystem,
    ];
    for (i, &low) in order.iter().enumerate() {
        for &high in order.iter().skip(i) {
            assert_eq!(low.combine(high), high, "{low:?} + {high:?}");
            assert_eq!(high.combine(low), high, "{high:?} + {low:?}");
        }
    }
    let restart = Outcome::Restart { fault: false };
    assert_eq!(restart.combine(Outcome::Restart { fault: true }), Outcome::Restart { fault: true });
}

#[test]
fn restart_limit_reached_halts() {
    let mut power = running(1, RESTART_3);
    for restart in 1..=3 {
        let outcome = power.request(Requester::Vcpu(0), Request::Fault).unwrap();
        assert_eq!(outcome.directive, Directive::Complete(Outcome::Restart { fault: true }), "restart {restart}");
        assert_eq!(power.reload_finished(true), Ok(AfterReload::StartVcpu0));
        assert_eq!(power.fault_restarts(), restart);
    }
    let outcome = power.request(Requester::Vcpu(0), Request::Fault).unwrap();
    assert_eq!(outcome.resolved, Outcome::Halt);
    assert_eq!(outcome.directive, Directive::Complete(Outcome::Halt));
    assert_eq!(power.state(), PowerState::Halted);
}

#[test]
fn guest_resets_do_not_use_up_the_fault_restart_budget() {
    let mut power = running(1, FaultPolicy::Restart { max_restarts: 1 });
    for _ in 0..5 {
        let _ = power.request(Requester::Vcpu(0), Request::Reset).unwrap();
        assert_eq!(power.reload_finished(true), Ok(AfterReload::StartVcpu0));
    }
    assert_eq!(power.resolve(Request::Fault), Outcome::Restart { fault: true });
}

#[test]
fn faults_on_two_vcpus_during_one_stop_restart_once_and_count_once() {
    let mut power = running(2, FaultPolicy::Restart { max_restarts: 1 });
    let first = power.request(Requester::Vcpu(0), Request::Fault).unwrap();
    assert_eq!(first.directive, Directive::Park);
    let second = power.request(Requester::Vcpu(1), Request::Fault).unwrap();
    assert!(second.combined);
    assert_eq!(second.directive, Directive::Complete(Outcome::Restart { fault: true }));
    assert_eq!(power.fault_restarts(), 1);
}

#[test]
fn fault_policies_resolve_as_the_manifest_says() {
    let cases = [
        (FaultPolicy::Halt, Outcome::Halt),
        (FaultPolicy::StopSystem, Outcome::StopSystem),
        (FaultPolicy::InjectAbort, Outcome::Halt),
        (FaultPolicy::Restart { max_restarts: 0 }, Outcome::Halt),
        (RESTART_3, Outcome::Restart { fault: true }),
    ];
    for (policy, expected) in cases {
        assert_eq!(running(1, policy).resolve(Request::Fault), expected, "{policy:?}");
    }
}

#[test]
fn a_request_during_the_reload_is_applied_when_it_ends() {
    let mut power = running(1, FaultPolicy::Halt);
    let _ = power.request(Requester::Vcpu(0), Request::Reset).unwrap();
    let during = power.request(Requester::Hypervisor, Request::Off).unwrap();
    assert!(during.combined);
    assert_eq!(power.reload_finished(true), Ok(AfterReload::Stop(Outcome::Off)));
    assert_eq!(power.state(), PowerState::Off);
}

#[test]
fn a_failed_reload_halts() {
    let mut power = running(1, FaultPolicy::InjectAbort);
    let _ = power.request(Requester::Vcpu(0), Request::Reset).unwrap();
    assert_eq!(power.reload_finished(false), Ok(AfterReload::Stop(Outcome::Halt)));
    assert_eq!(power.state(), PowerState::Halted);
    assert_eq!(power.reload_finished(true), Err(PowerError::NotReloading { state: PowerState::Halted }));
}

#[test]
fn cpu_on_racing_a_stop_cannot_enter_the_guest() {
    let mut power = PartitionPower::new(2, FaultPolicy::InjectAbort).unwrap();
    // vCPU 0 started vCPU 1 (CPU_ON), then asked to stop before vCPU 1's core entered.
    let _ = power.request(Requester::Vcpu(0), Request::Off).unwrap();
    assert_eq!(power.begin_run(1), Ok(false));
    assert_eq!(power.running(), 0);
}

#[test]
fn cpu_off_during_a_stop_counts_as_the_acknowledgement() {
    let mut power = running(2, FaultPolicy::InjectAbort);
    let _ = power.request(Requester::Vcpu(0), Request::Reset).unwrap();
    assert_eq!(power.vcpu_stopped(1), Ok(Directive::Complete(Outcome::Restart { fault: false })));
}

#[test]
fn a_halted_partition_restarts_only_on_the_hypervisors_request() {
    let mut power = running(1, FaultPolicy::Halt);
    let _ = power.request(Requester::Vcpu(0), Request::Fault).unwrap();
    assert_eq!(power.state(), PowerState::Halted);
    let stale = power.request(Requester::Vcpu(0), Request::Reset).unwrap();
    assert_eq!(stale.directive, Directive::Park);
    assert_eq!(power.state(), PowerState::Halted);
    let off = power.request(Requester::Hypervisor, Request::Off).unwrap();
    assert_eq!((off.directive, power.state()), (Directive::Park, PowerState::Halted), "halt beats off");
    let operator = power.request(Requester::Hypervisor, Request::Reset).unwrap();
    assert_eq!(operator.directive, Directive::Complete(Outcome::Restart { fault: false }));
}

#[test]
fn vcpus_the_partition_lacks_are_refused() {
    let mut power = running(2, FaultPolicy::Halt);
    assert_eq!(power.acknowledge(2), Err(PowerError::NoSuchVcpu { vcpu: 2 }));
    assert_eq!(power.request(Requester::Vcpu(9), Request::Off), Err(PowerError::NoSuchVcpu { vcpu: 9 }));
    assert_eq!(PartitionPower::new(0, FaultPolicy::Halt), Err(PowerError::InvalidVcpuCount { count: 0 }));
    assert_eq!(PartitionPower::new(9, FaultPolicy::Halt), Err(PowerError::InvalidVcpuCount { count: 9 }));
}

// ---- exhaustive interleavings ----

/// What a vCPU's guest does next while it runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Act {
    /// A power request.
    Ask(Request),
    /// PSCI `CPU_OFF`.
    CpuOff,
}

/// Where a vCPU's core is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Place {
    Guest,
    Parked,
}

/// One state of the whole system: the state machine and every core.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct World {
    power: PartitionPower,
    count: usize,
    place: [Place; 4],
    kicked: [bool; 4],
    start_posted: [bool; 4],
    script: [&'static [Act]; 4],
    done: [usize; 4],
    /// Strongest stop-type outcome any accepted request resolved to.
    strongest_stop: Option<Outcome>,
    restart_asked: bool,
    reloads: u32,
}

impl World {
    fn new(count: usize, policy: FaultPolicy, script: [&'static [Act]; 4]) -> Self {
        Self {
            power: running(count, policy),
            count,
            place: [Place::Guest; 4],
            kicked: [false; 4],
            start_posted: [false; 4],
            script,
            done: [0; 4],
            strongest_stop: None,
            restart_asked: false,
            reloads: 0,
        }
    }

    /// Applies what a core was told to do.
    fn obey(&mut self, vcpu: usize, directive: Directive) {
        match directive {
            Directive::Resume => assert_eq!(self.place[vcpu], Place::Guest, "only a running vCPU resumes"),
            Directive::Park => self.place[vcpu] = Place::Parked,
            Directive::Complete(outcome) => {
                self.place[vcpu] = Place::Parked;
                assert!(
                    self.place.iter().take(self.count).all(|place| *place == Place::Parked),
                    "stop completed while a vCPU runs guest code: {self:?}"
                );
                if let Outcome::Restart { .. } = outcome {
                    self.reloads += 1;
                    if self.power.reload_finished(true).unwrap() == AfterReload::StartVcpu0 {
                        self.start_posted[0] = true;
                    }
                }
            }
        }
    }

    /// Every world one step from here.
    fn successors(&self) -> Vec<World> {
        let mut next = Vec::new();
        for vcpu in 0..self.count {
            if self.kicked[vcpu] {
                let mut world = self.clone();
                world.kicked[vcpu] = false;
                let directive = world.power.acknowledge(vcpu).unwrap();
                if world.place[vcpu] == Place::Parked {
                    assert_ne!(directive, Directive::Resume, "a parked core never resumes a guest");
                } else {
                    world.obey(vcpu, directive);
                }
                next.push(world);
            }
            if self.place[vcpu] == Place::Parked && self.start_posted[vcpu] {
                let mut world = self.clone();
                world.start_posted[vcpu] = false;
                if world.power.begin_run(vcpu).unwrap() {
                    world.place[vcpu] = Place::Guest;
                }
                next.push(world);
            }
            let Some(&act) = self.script[vcpu].get(self.done[vcpu]) else { continue };
            // A guest acts only while it runs and has not been told to stop (it would take
            // the kick first: physical interrupts reach EL2 whatever the guest masks).
            if self.place[vcpu] != Place::Guest || self.kicked[vcpu] {
                continue;
            }
            let mut world = self.clone();
            world.done[vcpu] += 1;
            match act {
                Act::Ask(request) => {
                    let outcome = world.power.request(Requester::Vcpu(vcpu), request).unwrap();
                    match outcome.resolved {
                        Outcome::Restart { .. } => world.restart_asked = true,
                        stop @ (Outcome::Off | Outcome::Halt | Outcome::StopSystem) => {
                            world.strongest_stop = Some(world.strongest_stop.map_or(stop, |s| s.combine(stop)));
                        }
                    }
                    for target in 0..world.count {
                        if outcome.kick & (1 << target) != 0 {
                            world.kicked[target] = true;
                        }
                    }
                    world.obey(vcpu, outcome.directive);
                }
                Act::CpuOff => {
                    let directive = world.power.vcpu_stopped(vcpu).unwrap();
                    world.obey(vcpu, directive);
                }
            }
            next.push(world);
        }
        next
    }

    /// Checks a world where nothing can happen any more.
    fn check_quiescent(&self) {
        let state = self.power.state();
        assert!(
            !matches!(state, PowerState::Stopping { .. } | PowerState::Reloading { .. }),
            "stuck mid-stop: {self:?}"
        );
        match self.strongest_stop {
            Some(stop) => {
                let reached = match state {
                    PowerState::Off => Outcome::Off,
                    PowerState::Halted => Outcome::Halt,
                    PowerState::SystemStopped => Outcome::StopSystem,
                    PowerState::Running | PowerState::Stopping { .. } | PowerState::Reloading { .. } => {
                        panic!("a stop request was lost: {self:?}")
                    }
                };
                assert!(reached >= stop, "ended {reached:?} although {stop:?} was asked: {self:?}");
            }
            None => {
                assert_eq!(state, PowerState::Running, "{self:?}");
                if self.restart_asked {
                    assert!(self.reloads >= 1, "a restart was lost: {self:?}");
                    let turned_itself_off = self.script[0].contains(&Act::CpuOff);
                    assert!(
                        self.place[0] == Place::Guest || turned_itself_off,
                        "vCPU 0 runs after the restart: {self:?}"
                    );
                }
            }
        }
    }
}

/// Explores every interleaving from `start`; returns the number of distinct worlds.
fn explore(start: World) -> usize {
    let mut seen = HashSet::new();
    let mut stack = std::vec![start];
    while let Some(world) = stack.pop() {
        if !seen.insert(world.clone()) {
            continue;
        }
        let next = world.successors();
        if next.is_empty() {
            world.check_quiescent();
        }
        stack.extend(next);
    }
    seen.len()
}

const SCRIPTS: [&[Act]; 6] = [
    &[],
    &[Act::Ask(Request::Reset)],
    &[Act::Ask(Request::Off)],
    &[Act::Ask(Request::Fault)],
    &[Act::CpuOff],
    &[Act::Ask(Request::Reset), Act::Ask(Request::Fault)],
];

#[test]
fn no_request_is_lost_in_any_interleaving_of_two_and_three_vcpus() {
    let mut worlds = 0;
    for policy in [FaultPolicy::Halt, FaultPolicy::Restart { max_restarts: 1 }, FaultPolicy::StopSystem] {
        for a in SCRIPTS {
            for b in SCRIPTS {
                worlds += explore(World::new(2, policy, [a, b, &[], &[]]));
                for c in SCRIPTS {
                    worlds += explore(World::new(3, policy, [a, b, c, &[]]));
                }
            }
        }
    }
    assert!(worlds > 5_000, "the enumeration covered {worlds} worlds");
}

#[test]
fn no_request_is_lost_in_any_interleaving_of_four_vcpus() {
    let few: [&[Act]; 5] = [
        &[],
        &[Act::Ask(Request::Reset)],
        &[Act::Ask(Request::Off)],
        &[Act::Ask(Request::Fault)],
        &[Act::CpuOff],
    ];
    let mut worlds = 0;
    for a in few {
        for b in few {
            for c in few {
                for d in few {
                    worlds += explore(World::new(4, FaultPolicy::Restart { max_restarts: 2 }, [a, b, c, d]));
                }
            }
        }
    }
    assert!(worlds > 5_000, "the enumeration covered {worlds} worlds");
}
