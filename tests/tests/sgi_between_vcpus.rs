//! SGIs between two vCPUs of one partition: `alpha`'s vCPU 0 sends SGI 1 to its vCPU 1 three
//! times (`sgi-ping=3`), each at a heartbeat after vCPU 1 took the previous one (sent again
//! before it is acknowledged, an SGI is the same pending interrupt), and vCPU 1 takes each. On a GICv3 board the SGI is an
//! `ICC_SGI1R_EL1` write trapped to the hypervisor; on a GICv2 board
//! (`BULKHEAD_TEST_BOARD=qemu-virt-gicv2`) a `GICD_SGIR` write to the emulated distributor,
//! delivered through a `GICH_LR<n>` that names the sender.

use std::time::Duration;

use bulkhead_qemu_tests::TestSystem;

const ALPHA_PINGS_ITS_SECOND_VCPU: &str = r#"
[system]
board = "qemu-virt"

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
fn an_sgi_from_vcpu_0_reaches_vcpu_1_every_time() {
    let system = TestSystem::from_manifest_text("sgi-ping", ALPHA_PINGS_ITS_SECOND_VCPU);
    let session = system.boot();
    let transcript = session.wait_for_within("[alpha] SGI 1 on vCPU 1: 3", Duration::from_secs(60));
    for count in 1..=3 {
        let line = format!("[alpha] SGI 1 on vCPU 1: {count}");
        assert!(transcript.line_index(&line).is_some(), "missing `{line}`:\n{}", session.report());
    }
    // Three sent, three taken, none twice.
    let later = session.wait_for_within("[alpha] heartbeat 12", Duration::from_secs(30));
    assert!(
        later.line_index("[alpha] SGI 1 on vCPU 1: 4").is_none(),
        "an SGI was delivered twice:\n{}",
        session.report()
    );
}
