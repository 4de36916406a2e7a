//! Decoding a guest's SGI request (`ICC_SGI1R_EL1` and its siblings).
//!
//! With affinity routing, a PE raises an SGI by writing a system register, which traps to
//! EL2 when `HCR_EL2.IMO` is set. The value names the targets by affinity (IHI 0069 12.2.22):
//!
//! | bits  | field        |
//! |-------|--------------|
//! | 15:0  | `TargetList` (one bit per Aff0 value `RS * 16 + bit`) |
//! | 23:16 | `Aff1`       |
//! | 27:24 | `INTID`      |
//! | 39:32 | `Aff2`       |
//! | 40    | `IRM`: 1 = every PE except the sender |
//! | 47:44 | `RS` (range selector) |
//! | 55:48 | `Aff3`       |
//!
//! Inside a partition, vCPU `n` has affinity `0.0.0.n` (the image programs `VMPIDR_EL2` so);
//! targets naming any other affinity are not in the partition and are dropped.
//!
//! [impl->dsn~vgic-sgi~1]

use super::VcpuSet;

/// Which system register the guest wrote.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SgiRegister {
    /// `ICC_SGI1R_EL1`. With `GICD_CTLR.DS` = 1 it raises SGIs of either group, whichever
    /// the target configured (IHI 0069 12.2.22 and Table 12-14).
    Sgi1r,
    /// `ICC_SGI0R_EL1`: raises only SGIs the target configured as Group 0.
    Sgi0r,
    /// `ICC_ASGI1R_EL1`: with a single Security state there is no other Group 1, so it acts
    /// as `ICC_SGI0R_EL1` (note to IHI 0069 Table 12-14; KVM does the same).
    Asgi1r,
}

/// How the targets are named.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SgiRouting {
    /// `IRM` = 0: the PEs in `target_list` at affinity `aff3.aff2.aff1.(RS * 16 + bit)`.
    Targeted {
        /// `TargetList`.
        target_list: u16,
        /// `RS`: which block of 16 Aff0 values `target_list` covers.
        range_selector: u8,
        /// `Aff1`.
        aff1: u8,
        /// `Aff2`.
        aff2: u8,
        /// `Aff3`.
        aff3: u8,
    },
    /// `IRM` = 1: every PE but the sender.
    AllButSelf,
}

/// A decoded SGI request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SgiRequest {
    /// The SGI's INTID, 0–15.
    pub intid: u32,
    /// Who receives it.
    pub routing: SgiRouting,
}

impl SgiRequest {
    /// Decodes a value written to any of the SGI registers (they share the layout).
    pub const fn from_bits(value: u64) -> Self {
        let routing = if value & (1 << 40) != 0 {
            SgiRouting::AllButSelf
        } else {
            SgiRouting::Targeted {
                target_list: (value & 0xffff) as u16,
                range_selector: ((value >> 44) & 0xf) as u8,
                aff1: ((value >> 16) & 0xff) as u8,
                aff2: ((value >> 32) & 0xff) as u8,
                aff3: ((value >> 48) & 0xff) as u8,
            }
        };
        Self { intid: ((value >> 24) & 0xf) as u32, routing }
    }

    /// The vCPUs of a partition with `vcpu_count` vCPUs that receive the SGI sent by vCPU
    /// `sender`.
    pub fn targets(&self, sender: usize, vcpu_count: usize) -> VcpuSet {
        let mut targets = VcpuSet::EMPTY;
        match self.routing {
            SgiRouting::AllButSelf => {
                for vcpu in (0..vcpu_count).filter(|&vcpu| vcpu != sender) {
                    targets = targets.with(vcpu);
                }
            }
            SgiRouting::Targeted { target_list, range_selector, aff1, aff2, aff3 } => {
                if aff1 != 0 || aff2 != 0 || aff3 != 0 {
                    return targets;
                }
                // `RS` is 4 bits, so nothing here saturates; a saturated value would still
                // name no vCPU of the partition.
                let base = usize::from(range_selector).saturating_mul(16);
                for bit in (0..16).filter(|bit| target_list & (1 << bit) != 0) {
                    let vcpu = base.saturating_add(bit);
                    if vcpu < vcpu_count {
                        targets = targets.with(vcpu);
                    }
                }
            }
        }
        targets
    }
}

// [utest->dsn~vgic-sgi~1]
#[cfg(test)]
mod tests {
    use super::*;

    fn collect(set: VcpuSet) -> heapless::Vec<usize, 32> {
        set.iter().collect()
    }

    #[test]
    fn targeted_sgi_decodes_every_field() {
        // INTID 5, Aff3 3, RS 2, Aff2 1, Aff1 7, TargetList 0b1010.
        let request = SgiRequest::from_bits(0x0003_2001_0507_000a);
        assert_eq!(request.intid, 5);
        assert_eq!(
            request.routing,
            SgiRouting::Targeted { target_list: 0b1010, range_selector: 2, aff1: 7, aff2: 1, aff3: 3 }
        );
    }

    #[test]
    fn target_list_selects_vcpus_by_aff0() {
        let request = SgiRequest::from_bits(0x0100_0005);
        assert_eq!(request.intid, 1);
        assert_eq!(collect(request.targets(0, 4)).as_slice(), &[0, 2]);
    }

    #[test]
    fn sender_may_target_itself_explicitly() {
        let request = SgiRequest::from_bits(0x0300_0002);
        assert_eq!(collect(request.targets(1, 2)).as_slice(), &[1]);
    }

    #[test]
    fn irm_targets_everyone_but_the_sender_and_ignores_the_list() {
        let request = SgiRequest::from_bits((1 << 40) | 0x0f00_0001);
        assert_eq!(request.intid, 15);
        assert_eq!(collect(request.targets(1, 4)).as_slice(), &[0, 2, 3]);
        assert!(request.targets(0, 1).is_empty(), "a lone vCPU broadcasts to nobody");
    }

    #[test]
    fn range_selector_shifts_the_target_list() {
        // RS = 1 names Aff0 16..31: outside an 8-vCPU partition.
        let request = SgiRequest::from_bits((1 << 44) | 0xffff);
        assert!(request.targets(0, 8).is_empty());
        let request = SgiRequest::from_bits(0xffff);
        assert_eq!(collect(request.targets(0, 3)).as_slice(), &[0, 1, 2]);
    }

    #[test]
    fn targets_in_other_clusters_are_dropped() {
        for value in [1 << 16, 1 << 32, 1 << 48] {
            assert!(SgiRequest::from_bits(value | 0x1).targets(0, 8).is_empty(), "{value:#x}");
        }
    }
}
