//! An image entered at Secure EL3 on a GICv2 with Security Extensions hands the GIC's
//! interrupts to Non-secure Group 1 before it drops to EL2 (`bulkhead_drivers::gicv2_secure`,
//! called from the image's `secure_entry` on every core), as the Raspberry Pi's `armstub8`
//! does on hardware. QEMU `raspi4b`'s GIC has no Security Extensions, so this runs on
//! `qemu-virt-gicv2-secure` (QEMU `virt` with `secure=on`: every core starts at EL3 and every
//! interrupt in Secure Group 0). Without the hand-over the hypervisor at Non-secure EL2 sees no
//! interrupt at all: no heartbeat (virtual timer through `GICH_LR<n>` `HW` entries) and no
//! SGI between vCPUs (the kick SGI and the banked `GICD_IGROUPR0` of the second core).
//! Checked by planting it: with the hand-over skipped, `alpha` printed its banner and nothing
//! more.

use std::time::Duration;

use bulkhead_qemu_tests::TestSystem;

const ALPHA_ON_TWO_CORES_AT_EL3: &str = r#"
[system]
board = "qemu-virt-gicv2-secure"

[[partition]]
name = "alpha"
image = { crate = "heartbeat" }
memory = { size = "64MiB" }
cpus = [0, 1]
bootargs = "sgi-ping=3"
fault_policy = "inject-abort"
console = "virtual"
"#;

#[test]
fn interrupts_reach_non_secure_el2_after_the_el3_hand_over() {
    let system = TestSystem::from_manifest_text("secure-gic-hand-over", ALPHA_ON_TWO_CORES_AT_EL3);
    let session = system.boot();
    let transcript = session.wait_for_within("[alpha] SGI 1 on vCPU 1: 3", Duration::from_secs(60));
    assert!(
        transcript.line_index("[alpha] vCPU 1 online at EL1").is_some(),
        "vCPU 1 never came online:\n{}",
        session.report()
    );
    session.wait_for_within("[alpha] heartbeat 8", Duration::from_secs(30));
}
