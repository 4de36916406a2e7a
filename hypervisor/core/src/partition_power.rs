//! Stopping, halting and restarting one partition: a state machine per partition that
//! combines every request, from any of its vCPUs or from the hypervisor, so none is lost.
//!
//! Why: a partition asks to stop or restart itself through PSCI (`SYSTEM_OFF`,
//! `SYSTEM_RESET`) and its fault policy asks the same (`halt`, `{ restart = N }`,
//! `stop-system`). Every vCPU of the partition runs on its own core, so a request made on
//! one core must make the others park before the partition is reloaded, and two requests
//! made at once on two cores must combine into one outcome. Posting "stop" and "restart" as
//! independent mailbox bits loses that: a core that takes both in one go and acts on "stop"
//! first parks for good, and the restart never happens (issue 14: PSCI `SYSTEM_RESET` from a
//! secondary vCPU left the partition stopped). Here a kick only means "look at the power
//! state"; what each core does follows from [`PartitionPower`] alone.
//!
//! The states:
//!
//! ```text
//!            request                 last running vCPU acknowledges
//! Running ───────────► Stopping{then} ─────────────────────────────► Reloading (then = Restart)
//!    ▲                    │  ▲ more requests combine into `then`     Halted / Off / SystemStopped
//!    │                    └──┘
//!    └───────────────── Reloading ── reload_finished(Ok) (and no stop request came meanwhile)
//! ```
//!
//! Combining rule (precedence, highest first): [`Outcome::StopSystem`] > [`Outcome::Halt`] >
//! [`Outcome::Off`] > [`Outcome::Restart`]. Any request to stop beats a restart; a halt
//! (abnormal end, the operator must see it) beats a clean `SYSTEM_OFF`, so a fault is never
//! hidden behind a concurrent shutdown and the "every partition is off" power-down does not
//! happen while one partition failed; stopping the system beats everything. Two restarts
//! combine into one, which counts against the fault policy's limit once if either was caused
//! by a fault.
//!
//! Restart limit: a fault under `{ restart = N }` restarts the partition while fewer than `N`
//! fault-caused restarts have happened, then halts it. PSCI `SYSTEM_RESET` is the guest's
//! own request, not a fault: it is counted in [`PartitionPower::restarts`] but not against
//! the limit.
//!
//! Invariants:
//! - the partition is reloaded only when no vCPU of it is running guest code (every vCPU that
//!   ran when the stop began has acknowledged, or left through `CPU_OFF`);
//! - every request is either carried out or combined with one of higher or equal precedence
//!   into the same stop; a request arriving while the partition is reloaded is kept and applied
//!   when the reload ends;
//! - a vCPU may enter guest code only after [`PartitionPower::begin_run`] allowed it, which
//!   it does in `Running` only, so a `CPU_ON` racing a stop cannot leave a vCPU running.
//!
//! Concurrency and cost: the caller holds the partition's own lock (never another
//! partition's) around each call. Every call is O(number of vCPUs), at most
//! [`MAX_VCPUS_PER_PARTITION`] = 8 bit operations on a `u32` mask, with no loop over
//! anything else; the lock is held for that and nothing more.
//!
//! Use by the image:
//! - PSCI `SYSTEM_RESET` / `SYSTEM_OFF`, a fault under a `halt`/`restart`/`stop-system`
//!   policy, a storm verdict of `fault_storm`: [`PartitionPower::request`]; kick the cores of
//!   [`RequestOutcome::kick`], then do what [`RequestOutcome::directive`] says.
//! - a core that takes the kick (and, to be robust against a lost kick, any exit to EL2 while
//!   [`PartitionPower::stop_pending`] is true): [`PartitionPower::acknowledge`].
//! - `CPU_OFF`: [`PartitionPower::vcpu_stopped`]; a core about to enter the guest:
//!   [`PartitionPower::begin_run`].
//! - [`Directive::Complete`] with [`Outcome::Restart`]: reload the image and device tree,
//!   then [`PartitionPower::reload_finished`], then start vCPU 0 on its core.
//!
//! [impl->dsn~partition-power~1]

use crate::layout::MAX_VCPUS_PER_PARTITION;
use crate::system::FaultPolicy;

/// What a request asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Request {
    /// PSCI `SYSTEM_RESET`, or an operator's restart: reload and boot the partition again.
    Reset,
    /// PSCI `SYSTEM_OFF`: stop the partition (the board stays on).
    Off,
    /// The partition broke a rule (a fault under a non-inject policy, a fault storm, an
    /// exception that could not be injected): apply its fault policy.
    Fault,
}

/// How a stop ends, in increasing precedence.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Outcome {
    /// Reload and boot again.
    Restart {
        /// At least one of the combined requests was a fault (counts against the limit).
        fault: bool,
    },
    /// Off by the guest's own request.
    Off,
    /// Halted by the fault policy.
    Halt,
    /// The fault policy stops the whole system.
    StopSystem,
}

impl Outcome {
    /// The outcome of two requests made during the same stop (see the module docs).
    pub const fn combine(self, other: Self) -> Self {
        match (self, other) {
            (Outcome::Restart { fault: first }, Outcome::Restart { fault: second }) => {
                Outcome::Restart { fault: first || second }
            }
            (Outcome::StopSystem, _) | (_, Outcome::StopSystem) => Outcome::StopSystem,
            (Outcome::Halt, _) | (_, Outcome::Halt) => Outcome::Halt,
            (Outcome::Off, _) | (_, Outcome::Off) => Outcome::Off,
        }
    }
}

/// Where the partition is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PowerState {
    /// Running (some vCPUs may be off through PSCI).
    Running,
    /// Stopping: the vCPUs in `waiting` still run guest code and have been kicked; when the
    /// last acknowledges, the stop ends in `then`.
    Stopping {
        /// What the stop ends in.
        then: Outcome,
        /// vCPUs still to acknowledge, bit `n` for vCPU `n`.
        waiting: u32,
    },
    /// Every vCPU is parked and one core reloads the partition. `queued` holds a request
    /// that arrived meanwhile.
    Reloading {
        /// A stop requested during the reload, applied when it ends.
        queued: Option<Outcome>,
    },
    /// Halted by the fault policy; only an operator's reset restarts it.
    Halted,
    /// Off by its own request.
    Off,
    /// The system is being stopped because of this partition.
    SystemStopped,
}

/// Who asks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Requester {
    /// vCPU `n` of the partition, on its own core, which will not return to the guest.
    Vcpu(usize),
    /// The hypervisor itself (an operator command, a watchdog): no vCPU of the partition is
    /// on the requesting core.
    Hypervisor,
}

/// What the calling core does next.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Directive {
    /// Return to the guest: nothing concerns this vCPU (a stale kick).
    Resume,
    /// Park this core; another core finishes the stop.
    Park,
    /// Every vCPU has stopped and this core finishes: for [`Outcome::Restart`] reload the
    /// partition and call [`PartitionPower::reload_finished`]; for [`Outcome::Off`] and
    /// [`Outcome::Halt`] report it and park (power the board off if every partition is off);
    /// for [`Outcome::StopSystem`] stop the system.
    Complete(Outcome),
}

/// The answer to [`PartitionPower::request`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RequestOutcome {
    /// What the requesting core does next.
    pub directive: Directive,
    /// vCPUs whose cores must be kicked (each then calls [`PartitionPower::acknowledge`]).
    pub kick: u32,
    /// How the request was resolved by the fault policy and the restart limit (for the
    /// `[hv]` message), before combining with requests already under way.
    pub resolved: Outcome,
    /// The request was combined into a stop already under way.
    pub combined: bool,
}

/// After the reload.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AfterReload {
    /// Start vCPU 0 at the image's entry; the partition runs again.
    StartVcpu0,
    /// A stop arrived during the reload, or the reload failed: the partition ends in this
    /// state instead (as for [`Directive::Complete`]).
    Stop(Outcome),
}

/// Why a call was refused: the image called it in a way the protocol does not allow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PowerError {
    /// A partition needs 1 to [`MAX_VCPUS_PER_PARTITION`] vCPUs.
    InvalidVcpuCount {
        /// The count asked for.
        count: usize,
    },
    /// The partition has no such vCPU.
    NoSuchVcpu {
        /// The index given.
        vcpu: usize,
    },
    /// `reload_finished` without a reload under way.
    NotReloading {
        /// The state found.
        state: PowerState,
    },
}

/// The power state of one partition.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PartitionPower {
    /// Number of vCPUs.
    vcpu_count: usize,
    /// The partition's fault policy.
    policy: FaultPolicy,
    /// The state.
    state: PowerState,
    /// vCPUs running guest code (or allowed to), bit `n` for vCPU `n`.
    running: u32,
    /// Restarts carried out, for any reason.
    restarts: u32,
    /// Restarts carried out because of a fault (counted against `{ restart = N }`).
    fault_restarts: u32,
}

impl PartitionPower {
    /// A partition of `vcpu_count` vCPUs with `policy`, booting: vCPU 0 runs.
    pub const fn new(vcpu_count: usize, policy: FaultPolicy) -> Result<Self, PowerError> {
        if vcpu_count == 0 || vcpu_count > MAX_VCPUS_PER_PARTITION {
            return Err(PowerError::InvalidVcpuCount { count: vcpu_count });
        }
        Ok(Self { vcpu_count, policy, state: PowerState::Running, running: 1, restarts: 0, fault_restarts: 0 })
    }

    /// The state.
    pub const fn state(&self) -> PowerState {
        self.state
    }

    /// vCPUs running guest code, bit `n` for vCPU `n`.
    pub const fn running(&self) -> u32 {
        self.running
    }

    /// Restarts carried out, for any reason.
    pub const fn restarts(&self) -> u32 {
        self.restarts
    }

    /// Restarts carried out because of a fault.
    pub const fn fault_restarts(&self) -> u32 {
        self.fault_restarts
    }

    /// Whether `vcpu` must stop: the image checks this on exits to EL2 so that even a lost
    /// kick only delays the stop to the vCPU's next exit (the timer guarantees one).
    pub fn stop_pending(&self, vcpu: usize) -> bool {
        match self.state {
            PowerState::Stopping { waiting, .. } => self.vcpu_bit(vcpu).is_ok_and(|me| waiting & me != 0),
            PowerState::Running
            | PowerState::Reloading { .. }
            | PowerState::Halted
            | PowerState::Off
            | PowerState::SystemStopped => false,
        }
    }

    /// The outcome `request` asks for under this partition's policy and restart count.
    pub const fn resolve(&self, request: Request) -> Outcome {
        match request {
            Request::Reset => Outcome::Restart { fault: false },
            Request::Off => Outcome::Off,
            Request::Fault => match self.policy {
                FaultPolicy::Restart { max_restarts } if self.fault_restarts < max_restarts => {
                    Outcome::Restart { fault: true }
                }
                FaultPolicy::StopSystem => Outcome::StopSystem,
                // An inject-abort partition reaches here only when injecting is no answer
                // (a fault storm, an exception that cannot be injected): it is halted.
                FaultPolicy::Restart { .. } | FaultPolicy::Halt | FaultPolicy::InjectAbort => Outcome::Halt,
            },
        }
    }

    /// Asks for `request`. A requesting vCPU counts as acknowledged: it never returns to the
    /// guest unless the directive is [`Directive::Resume`].
    pub fn request(&mut self, requester: Requester, request: Request) -> Result<RequestOutcome, PowerError> {
        let me = match requester {
            Requester::Vcpu(vcpu) => self.vcpu_bit(vcpu)?,
            Requester::Hypervisor => 0,
        };
        let resolved = self.resolve(request);
        let mut outcome = RequestOutcome { directive: Directive::Park, kick: 0, resolved, combined: false };
        match self.state {
            PowerState::Running => {
                let waiting = self.running & !me;
                self.running = waiting;
                outcome.kick = waiting;
                self.state = PowerState::Stopping { then: resolved, waiting };
                outcome.directive = self.finish_if_stopped();
            }
            PowerState::Stopping { then, waiting } => {
                outcome.combined = true;
                let left = waiting & !me;
                self.running &= !me;
                self.state = PowerState::Stopping { then: then.combine(resolved), waiting: left };
                outcome.directive = self.finish_if_stopped();
            }
            PowerState::Reloading { queued } => {
                outcome.combined = true;
                let combined = match queued {
                    Some(earlier) => earlier.combine(resolved),
                    None => resolved,
                };
                self.state = PowerState::Reloading { queued: Some(combined) };
            }
            PowerState::Halted | PowerState::Off => {
                // Only the hypervisor can ask anything of a stopped partition (no vCPU runs):
                // a restart boots it again, a stricter stop replaces the state.
                let current = if self.state == PowerState::Halted { Outcome::Halt } else { Outcome::Off };
                outcome.directive = match resolved {
                    Outcome::Restart { .. } if requester == Requester::Hypervisor => {
                        self.state = PowerState::Stopping { then: resolved, waiting: 0 };
                        self.finish_if_stopped()
                    }
                    Outcome::Restart { .. } | Outcome::Off | Outcome::Halt | Outcome::StopSystem => {
                        let stricter = current.combine(resolved);
                        if stricter == current {
                            outcome.combined = true;
                            Directive::Park
                        } else {
                            self.state = PowerState::Stopping { then: stricter, waiting: 0 };
                            self.finish_if_stopped()
                        }
                    }
                };
            }
            PowerState::SystemStopped => outcome.combined = true,
        }
        Ok(outcome)
    }

    /// A kicked vCPU (or one that found [`Self::stop_pending`]) reports that it left the guest.
    pub fn acknowledge(&mut self, vcpu: usize) -> Result<Directive, PowerError> {
        let me = self.vcpu_bit(vcpu)?;
        Ok(match self.state {
            PowerState::Stopping { then, waiting } if waiting & me != 0 => {
                self.state = PowerState::Stopping { then, waiting: waiting & !me };
                self.running &= !me;
                self.finish_if_stopped()
            }
            PowerState::Running if self.running & me != 0 => Directive::Resume,
            // A stale kick to a vCPU that is not running, or one already counted: it parks
            // (if it runs, it was never allowed to by `begin_run`).
            PowerState::Running
            | PowerState::Stopping { .. }
            | PowerState::Reloading { .. }
            | PowerState::Halted
            | PowerState::Off
            | PowerState::SystemStopped => {
                if self.running & me != 0 {
                    Directive::Resume
                } else {
                    Directive::Park
                }
            }
        })
    }

    /// `vcpu` left the guest through PSCI `CPU_OFF` and parks. During a stop this counts as
    /// its acknowledgement.
    pub fn vcpu_stopped(&mut self, vcpu: usize) -> Result<Directive, PowerError> {
        let me = self.vcpu_bit(vcpu)?;
        self.running &= !me;
        Ok(match self.state {
            PowerState::Stopping { then, waiting } => {
                self.state = PowerState::Stopping { then, waiting: waiting & !me };
                self.finish_if_stopped()
            }
            PowerState::Running
            | PowerState::Reloading { .. }
            | PowerState::Halted
            | PowerState::Off
            | PowerState::SystemStopped => Directive::Park,
        })
    }

    /// A core is about to enter the guest for `vcpu` (vCPU 0 after a reload, or a vCPU
    /// started by `CPU_ON`). Returns whether it may; if not, the core parks.
    pub fn begin_run(&mut self, vcpu: usize) -> Result<bool, PowerError> {
        let me = self.vcpu_bit(vcpu)?;
        Ok(match self.state {
            PowerState::Running => {
                self.running |= me;
                true
            }
            PowerState::Stopping { .. }
            | PowerState::Reloading { .. }
            | PowerState::Halted
            | PowerState::Off
            | PowerState::SystemStopped => false,
        })
    }

    /// The core that got [`Directive::Complete`] with a restart finished reloading
    /// (`reloaded` is false if the image or device tree could not be reloaded).
    pub fn reload_finished(&mut self, reloaded: bool) -> Result<AfterReload, PowerError> {
        let PowerState::Reloading { queued } = self.state else {
            return Err(PowerError::NotReloading { state: self.state });
        };
        let stop = match (queued, reloaded) {
            (Some(Outcome::Restart { .. }) | None, true) => None,
            (Some(Outcome::Restart { .. }) | None, false) => Some(Outcome::Halt),
            (Some(outcome), _) => Some(outcome),
        };
        Ok(match stop {
            None => {
                // vCPU 0 is allowed to run before its core enters the guest: a request made
                // before then stops it like any running vCPU.
                self.state = PowerState::Running;
                self.running = 1;
                AfterReload::StartVcpu0
            }
            Some(outcome) => {
                self.state = Self::final_state(outcome).unwrap_or(PowerState::Halted);
                AfterReload::Stop(outcome)
            }
        })
    }

    /// Ends the stop if nobody is left to acknowledge.
    fn finish_if_stopped(&mut self) -> Directive {
        let PowerState::Stopping { then, waiting: 0 } = self.state else { return Directive::Park };
        match then {
            Outcome::Restart { fault } => {
                self.restarts = self.restarts.saturating_add(1);
                if fault {
                    self.fault_restarts = self.fault_restarts.saturating_add(1);
                }
                self.state = PowerState::Reloading { queued: None };
            }
            Outcome::Off | Outcome::Halt | Outcome::StopSystem => {
                self.state = Self::final_state(then).unwrap_or(PowerState::Halted);
            }
        }
        Directive::Complete(then)
    }

    /// The state a stop ending in `outcome` leaves (none for a restart).
    const fn final_state(outcome: Outcome) -> Option<PowerState> {
        match outcome {
            Outcome::Restart { .. } => None,
            Outcome::Off => Some(PowerState::Off),
            Outcome::Halt => Some(PowerState::Halted),
            Outcome::StopSystem => Some(PowerState::SystemStopped),
        }
    }

    /// The mask bit of `vcpu`, if the partition has it.
    fn vcpu_bit(&self, vcpu: usize) -> Result<u32, PowerError> {
        if vcpu >= self.vcpu_count {
            return Err(PowerError::NoSuchVcpu { vcpu });
        }
        u32::try_from(vcpu).ok().and_then(|shift| 1_u32.checked_shl(shift)).ok_or(PowerError::NoSuchVcpu { vcpu })
    }
}

#[cfg(test)]
mod tests;
