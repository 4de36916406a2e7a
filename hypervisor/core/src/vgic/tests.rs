//! Register-level tests of the virtual GIC, driven the way a guest driver would.
//!
//! [utest->dsn~vgic-frames~1]

use super::*;

type Gic = VirtualGic<2>;
type EffectList = heapless::Vec<Effect, 64>;

const GICD_CTLR: u64 = 0x0000;
const GICD_TYPER: u64 = 0x0004;
const GICD_IIDR: u64 = 0x0008;
const GICD_TYPER2: u64 = 0x000c;
const GICD_IGROUPR: u64 = 0x0080;
const GICD_ISENABLER: u64 = 0x0100;
const GICD_ICENABLER: u64 = 0x0180;
const GICD_ISPENDR: u64 = 0x0200;
const GICD_ICPENDR: u64 = 0x0280;
const GICD_ISACTIVER: u64 = 0x0300;
const GICD_ICACTIVER: u64 = 0x0380;
const GICD_IPRIORITYR: u64 = 0x0400;
const GICD_ITARGETSR: u64 = 0x0800;
const GICD_ICFGR: u64 = 0x0c00;
const GICD_IROUTER: u64 = 0x6000;
const GICD_PIDR2: u64 = 0xffe8;

const GICR_CTLR: u64 = 0x0000;
const GICR_IIDR: u64 = 0x0004;
const GICR_TYPER: u64 = 0x0008;
const GICR_WAKER: u64 = 0x0014;
const GICR_PIDR2: u64 = 0xffe8;
const GICR_IGROUPR0: u64 = 0x1_0080;
const GICR_ISENABLER0: u64 = 0x1_0100;
const GICR_ICENABLER0: u64 = 0x1_0180;
const GICR_ISPENDR0: u64 = 0x1_0200;
const GICR_ICPENDR0: u64 = 0x1_0280;
const GICR_ISACTIVER0: u64 = 0x1_0300;
const GICR_ICACTIVER0: u64 = 0x1_0380;
const GICR_IPRIORITYR0: u64 = 0x1_0400;
const GICR_ICFGR0: u64 = 0x1_0c00;
const GICR_ICFGR1: u64 = 0x1_0c04;

const VTIMER: u32 = layout::timer_intid::VIRTUAL;
const UART: u32 = layout::VUART_INTID;

fn gic(vcpus: usize) -> Gic {
    Gic::new(vcpus).expect("valid vCPU count")
}

/// Offset of `register` in vCPU `vcpu`'s redistributor.
fn redistributor(vcpu: usize, register: u64) -> u64 {
    vcpu as u64 * REDISTRIBUTOR_STRIDE + register
}

fn distributor_read(gic: &Gic, offset: u64) -> u64 {
    let outcome = gic.distributor_read(offset, AccessWidth::Word).expect("word read");
    outcome.value
}

fn distributor_write(gic: &mut Gic, offset: u64, value: u64) -> WriteOutcome {
    gic.distributor_write(offset, AccessWidth::Word, value).expect("word write")
}

fn redistributor_read(gic: &Gic, vcpu: usize, register: u64) -> u64 {
    gic.redistributor_read(redistributor(vcpu, register), AccessWidth::Word).expect("word read").value
}

fn redistributor_write(gic: &mut Gic, vcpu: usize, register: u64, value: u64) -> WriteOutcome {
    gic.redistributor_write(redistributor(vcpu, register), AccessWidth::Word, value).expect("word write")
}

fn effects(outcome: WriteOutcome) -> EffectList {
    outcome.effects().collect()
}

/// A distributor and redistributors set up as Linux's `gic_dist_init` and `gic_cpu_init`
/// leave them: both groups enabled, everything Group 1 and disabled, priorities 0xa0.
fn booted(vcpus: usize) -> Gic {
    let mut gic = gic(vcpus);
    let _ = distributor_write(&mut gic, GICD_CTLR, 0);
    for block in 1..=2 {
        let _ = distributor_write(&mut gic, GICD_IGROUPR + 4 * block, 0xffff_ffff);
        let _ = distributor_write(&mut gic, GICD_ICACTIVER + 4 * block, 0xffff_ffff);
        let _ = distributor_write(&mut gic, GICD_ICENABLER + 4 * block, 0xffff_ffff);
    }
    for intid in (32..96).step_by(4) {
        let _ = distributor_write(&mut gic, GICD_IPRIORITYR + intid, 0xa0a0_a0a0);
    }
    let _ = distributor_write(&mut gic, GICD_CTLR, 0b11 | 1 << 4);
    for vcpu in 0..vcpus {
        let _ = redistributor_write(&mut gic, vcpu, GICR_WAKER, 0);
        let _ = redistributor_write(&mut gic, vcpu, GICR_IGROUPR0, 0xffff_ffff);
        let _ = redistributor_write(&mut gic, vcpu, GICR_ICACTIVER0, 0xffff_ffff);
        let _ = redistributor_write(&mut gic, vcpu, GICR_ICENABLER0, 0xffff_0000);
        let _ = redistributor_write(&mut gic, vcpu, GICR_ISENABLER0, 0x0000_ffff);
        for intid in (0..32).step_by(4) {
            let _ = redistributor_write(&mut gic, vcpu, GICR_IPRIORITYR0 + intid, 0xa0a0_a0a0);
        }
    }
    gic
}

// ---- construction ----

#[test]
fn vcpu_count_must_fit_the_redistributor_window() {
    assert_eq!(Gic::new(0).err(), Some(VgicError::InvalidVcpuCount { count: 0 }));
    assert_eq!(Gic::new(MAX_VCPUS + 1).err(), Some(VgicError::InvalidVcpuCount { count: MAX_VCPUS + 1 }));
    let gic = gic(MAX_VCPUS);
    assert_eq!(gic.vcpu_count(), MAX_VCPUS);
    assert_eq!(gic.redistributor_window_size(), MAX_VCPUS as u64 * 0x2_0000);
}

#[test]
fn spi_count_follows_the_const_parameter() {
    assert_eq!(VirtualGic::<1>::SPI_COUNT, 32);
    assert_eq!(Gic::SPI_COUNT, 64);
    assert!(Gic::is_implemented(95));
    assert!(!Gic::is_implemented(96));
}

// ---- what a Linux GICv3 driver does at boot ----

#[test]
fn linux_probe_reads_identification_and_type() {
    let gic = gic(2);
    assert_eq!(distributor_read(&gic, GICD_PIDR2) & 0xf0, 0x30, "ArchRev 3 = GICv3");
    let typer = distributor_read(&gic, GICD_TYPER);
    assert_eq!(typer & 0x1f, 2, "ITLinesNumber: SPIs up to INTID 95");
    assert_eq!((typer >> 19) & 0x1f, 9, "IDbits: 10 INTID bits");
    assert_eq!(typer & (1 << 17), 0, "no LPIs");
    assert_eq!(typer & (1 << 16), 0, "no message-based SPIs");
    assert_eq!(typer & (1 << 10), 0, "no Security extensions");
    assert_ne!(typer & (1 << 25), 0, "No1N");
    assert_eq!(distributor_read(&gic, GICD_IIDR), u64::from(IMPLEMENTATION_ID));
    assert_eq!(distributor_read(&gic, GICD_TYPER2), 0);
    assert_eq!(VirtualGic::<30>::distributor_type() & 0x1f, 30);
}

#[test]
fn distributor_control_forces_affinity_routing_and_single_security_state() {
    let mut gic = gic(1);
    assert_eq!(distributor_read(&gic, GICD_CTLR), 1 << 4 | 1 << 6, "ARE and DS read as one");
    let outcome = distributor_write(&mut gic, GICD_CTLR, 0);
    assert_eq!(outcome.disposition, Disposition::Emulated);
    assert_eq!(distributor_read(&gic, GICD_CTLR) & (1 << 31), 0, "RWP never set");
    assert_eq!(distributor_read(&gic, GICD_CTLR) & (1 << 4), 1 << 4, "ARE is WI");
    let _ = distributor_write(&mut gic, GICD_CTLR, 0b10 | 1 << 4);
    assert_eq!(distributor_read(&gic, GICD_CTLR), 0b10 | 1 << 4 | 1 << 6);
    let _ = distributor_write(&mut gic, GICD_CTLR, 0xffff_ffff);
    assert_eq!(distributor_read(&gic, GICD_CTLR), 0b11 | 1 << 4 | 1 << 6, "only the enables are writable");
}

#[test]
fn linux_finds_every_redistributor_and_stops_at_last() {
    let gic = gic(3);
    for vcpu in 0..3 {
        assert_eq!(redistributor_read(&gic, vcpu, GICR_PIDR2) & 0xf0, 0x30);
        let typer = gic.redistributor_read(redistributor(vcpu, GICR_TYPER), AccessWidth::Doubleword).unwrap().value;
        assert_eq!(typer >> 32, vcpu as u64, "affinity 0.0.0.vcpu");
        assert_eq!((typer >> 8) & 0xffff, vcpu as u64, "Processor_Number");
        assert_eq!(typer & (1 << 4) != 0, vcpu == 2, "Last only on the final vCPU");
        assert_eq!(typer & 0b11, 0, "no physical or virtual LPIs");
        // Linux on AArch32 reads the 64-bit register as two words.
        let low = redistributor_read(&gic, vcpu, GICR_TYPER);
        let high = redistributor_read(&gic, vcpu, GICR_TYPER + 4);
        assert_eq!(high << 32 | low, typer);
        assert_eq!(redistributor_read(&gic, vcpu, GICR_IIDR), u64::from(IMPLEMENTATION_ID));
        assert_eq!(redistributor_read(&gic, vcpu, GICR_CTLR), 0);
    }
    assert_eq!(
        gic.redistributor_read(redistributor(3, GICR_PIDR2), AccessWidth::Word),
        Err(VgicError::OutsideWindow { offset: 3 * 0x2_0000 + GICR_PIDR2 })
    );
}

#[test]
fn waking_the_redistributor_clears_children_asleep() {
    let mut gic = gic(2);
    assert_eq!(redistributor_read(&gic, 1, GICR_WAKER), 0b110, "asleep out of reset");
    let outcome = redistributor_write(&mut gic, 1, GICR_WAKER, 0);
    assert_eq!(outcome.disposition, Disposition::Emulated);
    assert_eq!(redistributor_read(&gic, 1, GICR_WAKER) & 0b100, 0, "ChildrenAsleep follows at once");
    assert_eq!(redistributor_read(&gic, 0, GICR_WAKER), 0b110, "other vCPUs untouched");
    let _ = redistributor_write(&mut gic, 1, GICR_WAKER, 0b110);
    assert_eq!(redistributor_read(&gic, 1, GICR_WAKER), 0b110, "ChildrenAsleep is read-only but tracks");
}

#[test]
fn priorities_program_bytewise_and_read_back_as_words() {
    let mut gic = gic(2);
    for (index, priority) in [0x10_u64, 0x20, 0x30, 0x40].into_iter().enumerate() {
        let offset = redistributor(1, GICR_IPRIORITYR0 + 24 + index as u64);
        let outcome = gic.redistributor_write(offset, AccessWidth::Byte, priority).unwrap();
        assert_eq!(outcome.disposition, Disposition::Emulated);
    }
    assert_eq!(redistributor_read(&gic, 1, GICR_IPRIORITYR0 + 24), 0x4030_2010);
    assert_eq!(redistributor_read(&gic, 0, GICR_IPRIORITYR0 + 24), 0, "banked per vCPU");
    let byte = gic.redistributor_read(redistributor(1, GICR_IPRIORITYR0 + 27), AccessWidth::Byte).unwrap();
    assert_eq!(byte.value, 0x40);

    let _ = gic.distributor_write(GICD_IPRIORITYR + u64::from(UART), AccessWidth::Byte, 0x80).unwrap();
    assert_eq!(distributor_read(&gic, GICD_IPRIORITYR + 32), 0x8000);
    assert_eq!(gic.distributor_read(GICD_IPRIORITYR + 33, AccessWidth::Byte).unwrap().value, 0x80);
}

// [utest->dsn~vgic-list-registers~1]
#[test]
fn enabling_the_virtual_timer_enables_its_physical_ppi_on_that_core() {
    let mut gic = booted(2);
    gic.set_hardware_backed(VTIMER, VTIMER).unwrap();
    let outcome = redistributor_write(&mut gic, 1, GICR_ISENABLER0, 1 << VTIMER);
    assert_eq!(effects(outcome).as_slice(), &[Effect::PhysicalEnable { intid: VTIMER, vcpu: Some(1), enabled: true }]);
    assert_eq!(redistributor_read(&gic, 1, GICR_ISENABLER0) & (1 << VTIMER), 1 << VTIMER);
    assert_eq!(redistributor_read(&gic, 0, GICR_ISENABLER0) & (1 << VTIMER), 0);

    let again = redistributor_write(&mut gic, 1, GICR_ISENABLER0, 1 << VTIMER);
    assert!(effects(again).is_empty(), "already enabled: nothing changes");

    let outcome = redistributor_write(&mut gic, 1, GICR_ICENABLER0, 0xffff_ffff);
    assert_eq!(
        effects(outcome).as_slice(),
        &[Effect::PhysicalEnable { intid: VTIMER, vcpu: Some(1), enabled: false }],
        "only the hardware-backed interrupt reaches the physical GIC"
    );
    assert_eq!(redistributor_read(&gic, 1, GICR_ISENABLER0), 0);
}

#[test]
fn software_interrupts_need_no_physical_update() {
    let mut gic = booted(1);
    let outcome = distributor_write(&mut gic, GICD_ISENABLER + 4, 1 << (UART - 32));
    assert!(effects(outcome).is_empty());
    assert_eq!(distributor_read(&gic, GICD_ISENABLER + 4), 1 << (UART - 32));
}

#[test]
fn passed_through_spi_enable_is_reported_without_a_vcpu() {
    let mut gic = booted(2);
    gic.set_hardware_backed(40, 40).unwrap();
    let outcome = distributor_write(&mut gic, GICD_ISENABLER + 4, 0xffff_ffff);
    assert_eq!(effects(outcome).as_slice(), &[Effect::PhysicalEnable { intid: 40, vcpu: None, enabled: true }]);
}

#[test]
fn routing_an_spi_by_affinity() {
    let mut gic = booted(2);
    let router = GICD_IROUTER + 8 * u64::from(UART);
    assert_eq!(gic.distributor_read(router, AccessWidth::Doubleword).unwrap().value, 0, "resets to vCPU 0");
    let outcome = gic.distributor_write(router, AccessWidth::Doubleword, 1).unwrap();
    assert_eq!(outcome.disposition, Disposition::Emulated);
    assert_eq!(gic.distributor_read(router, AccessWidth::Doubleword).unwrap().value, 1);

    let _ = distributor_write(&mut gic, GICD_ISENABLER + 4, 1 << (UART - 32));
    assert_eq!(gic.set_spi_level(UART, true), Ok(Some(1)));
    assert_eq!(gic.next_pending(0), None);
    assert_eq!(gic.next_pending(1).map(|pending| pending.intid), Some(UART));

    // Moving a pending interrupt asks the new target to pick it up.
    let outcome = gic.distributor_write(router, AccessWidth::Doubleword, 0).unwrap();
    assert_eq!(effects(outcome).as_slice(), &[Effect::RefillListRegisters { vcpu: 0 }]);
    assert_eq!(gic.next_pending(1), None);
    assert_eq!(gic.next_pending(0).map(|pending| pending.intid), Some(UART));
}

#[test]
fn router_keeps_affinity_fields_and_drops_irm() {
    let mut gic = gic(1);
    let router = GICD_IROUTER + 8 * 40;
    let _ = gic.distributor_write(router, AccessWidth::Doubleword, 0xffff_ffff_ffff_ffff).unwrap();
    assert_eq!(
        gic.distributor_read(router, AccessWidth::Doubleword).unwrap().value,
        0x0000_0000_00ff_ffff,
        "Aff2, Aff1, Aff0 kept; Aff3 (A3V = 0), IRM (No1N) and RES0 bits dropped"
    );
    // Word halves, as an AArch32 guest writes them.
    let _ = gic.distributor_write(router, AccessWidth::Word, 0x0000_0002).unwrap();
    let _ = gic.distributor_write(router + 4, AccessWidth::Word, 0).unwrap();
    assert_eq!(gic.distributor_read(router, AccessWidth::Doubleword).unwrap().value, 2);
    assert_eq!(gic.distributor_read(router + 4, AccessWidth::Word).unwrap().value, 0);
}

#[test]
fn spi_routed_outside_the_partition_is_delivered_nowhere() {
    let mut gic = booted(2);
    let _ = distributor_write(&mut gic, GICD_ISENABLER + 4, 1 << 8);
    let _ = gic.distributor_write(GICD_IROUTER + 8 * 40, AccessWidth::Doubleword, 1 << 8).unwrap();
    assert_eq!(gic.set_spi_pending(40), Ok(None));
    assert_eq!(gic.next_pending(0), None);
    assert_eq!(gic.next_pending(1), None);
    let outcome = gic.distributor_write(GICD_IROUTER + 8 * 40, AccessWidth::Doubleword, 1).unwrap();
    assert_eq!(effects(outcome).as_slice(), &[Effect::RefillListRegisters { vcpu: 1 }]);
}

#[test]
fn rerouting_a_passed_through_spi_moves_its_physical_route() {
    let mut gic = booted(2);
    gic.set_hardware_backed(40, 40).unwrap();
    let outcome = gic.distributor_write(GICD_IROUTER + 8 * 40, AccessWidth::Doubleword, 1).unwrap();
    assert_eq!(effects(outcome).as_slice(), &[Effect::PhysicalRoute { intid: 40, target: Some(1) }]);
    let outcome = gic.distributor_write(GICD_IROUTER + 8 * 40, AccessWidth::Doubleword, 5).unwrap();
    assert_eq!(effects(outcome).as_slice(), &[Effect::PhysicalRoute { intid: 40, target: None }]);
}

// ---- arbitration ----

// [utest->dsn~vgic-list-registers~1]
#[test]
fn highest_priority_wins_and_ties_go_to_the_lowest_intid() {
    let mut gic = booted(1);
    let _ = distributor_write(&mut gic, GICD_ISENABLER + 4, 0xffff_ffff);
    let _ = redistributor_write(&mut gic, 0, GICR_ISENABLER0, 0xffff_ffff);
    let _ = gic.distributor_write(GICD_IPRIORITYR + 40, AccessWidth::Byte, 0x60).unwrap();
    let _ = gic.distributor_write(GICD_IPRIORITYR + 45, AccessWidth::Byte, 0x60).unwrap();
    let _ = gic.redistributor_write(redistributor(0, GICR_IPRIORITYR0 + 20), AccessWidth::Byte, 0x70).unwrap();
    for intid in [45, 40, 50] {
        let _ = gic.set_spi_pending(intid).unwrap();
    }
    let _ = gic.set_private_pending(0, 20).unwrap();

    let order: heapless::Vec<(u32, u8), 8> = core::iter::from_fn(|| {
        let next = gic.next_pending(0)?;
        gic.mark_delivered(0, next.intid).ok()?;
        Some((next.intid, next.priority))
    })
    .collect();
    assert_eq!(order.as_slice(), &[(40, 0x60), (45, 0x60), (20, 0x70), (50, 0xa0)]);
}

#[test]
fn the_scan_tells_whether_the_interrupt_it_chooses_has_rivals() {
    let mut gic = booted(1);
    let _ = distributor_write(&mut gic, GICD_ISENABLER + 4, 0xffff_ffff);
    let _ = redistributor_write(&mut gic, 0, GICR_ISENABLER0, 0xffff_ffff);
    for intid in [45, 40] {
        let _ = gic.set_spi_pending(intid).unwrap();
    }
    let _ = gic.set_private_pending(0, 20).unwrap();

    let mut seen: heapless::Vec<(u32, bool), 4> = heapless::Vec::new();
    while let Some((next, rivals)) = gic.next_pending_with_rivals(0) {
        seen.push((next.intid, rivals)).unwrap();
        gic.mark_delivered(0, next.intid).unwrap();
    }
    assert_eq!(seen.as_slice(), &[(20, true), (40, true), (45, false)], "the last one is alone");
    // A pending but disabled interrupt is no rival.
    let _ = distributor_write(&mut gic, GICD_ICENABLER + 4, 1 << 18);
    let _ = gic.set_spi_pending(50).unwrap();
    assert_eq!(gic.next_pending_with_rivals(0).map(|(next, rivals)| (next.intid, rivals)), None);
}

#[test]
fn private_interrupts_tie_below_spis_of_equal_priority() {
    let mut gic = booted(1);
    let _ = distributor_write(&mut gic, GICD_ISENABLER + 4, 0xffff_ffff);
    let _ = redistributor_write(&mut gic, 0, GICR_ISENABLER0, 0xffff_ffff);
    let _ = gic.set_spi_pending(33).unwrap();
    let _ = gic.set_private_pending(0, 30).unwrap();
    assert_eq!(gic.next_pending(0).map(|pending| pending.intid), Some(30));
}

#[test]
fn disabled_inactive_group_and_distributor_enables_gate_delivery() {
    let mut gic = booted(1);
    assert_eq!(gic.set_spi_pending(34), Ok(None), "disabled");
    assert_eq!(gic.next_pending(0), None);
    let outcome = distributor_write(&mut gic, GICD_ISENABLER + 4, 1 << 2);
    assert_eq!(effects(outcome).as_slice(), &[Effect::RefillListRegisters { vcpu: 0 }]);
    assert_eq!(gic.next_pending(0).map(|pending| pending.group), Some(Group::Group1));

    let _ = distributor_write(&mut gic, GICD_CTLR, 0b01);
    assert_eq!(gic.next_pending(0), None, "Group 1 disabled in GICD_CTLR");
    let outcome = distributor_write(&mut gic, GICD_CTLR, 0b11);
    assert_eq!(effects(outcome).as_slice(), &[Effect::RefillListRegisters { vcpu: 0 }]);

    let _ = distributor_write(&mut gic, GICD_IGROUPR + 4, 0);
    assert_eq!(gic.next_pending(0).map(|pending| pending.group), Some(Group::Group0));
    let _ = distributor_write(&mut gic, GICD_CTLR, 0b10);
    assert_eq!(gic.next_pending(0), None, "Group 0 disabled in GICD_CTLR");
}

#[test]
fn next_pending_ignores_vcpus_outside_the_partition() {
    let gic = booted(1);
    assert_eq!(gic.next_pending(1), None);
    assert_eq!(gic.next_pending(usize::MAX), None);
}

// ---- delivery life cycle ----

#[test]
fn edge_interrupt_is_delivered_once_per_edge() {
    let mut gic = booted(1);
    let _ = distributor_write(&mut gic, GICD_ICFGR + 8, 0b10 << 2); // INTID 33 edge
    let _ = distributor_write(&mut gic, GICD_ISENABLER + 4, 1 << 1);
    assert_eq!(gic.set_spi_level(33, true), Ok(Some(0)));
    gic.mark_delivered(0, 33).unwrap();
    // In a list register, not yet acknowledged by the guest: still pending, not active.
    assert_eq!(distributor_read(&gic, GICD_ISPENDR + 4) & 0b10, 0b10, "listed: still pending for the guest");
    assert_eq!(distributor_read(&gic, GICD_ISACTIVER + 4) & 0b10, 0, "listed: not active before the guest acknowledged");
    gic.note_acknowledged(0, 33).unwrap();
    assert_eq!(distributor_read(&gic, GICD_ISPENDR + 4) & 0b10, 0, "edge: pending moved to active");
    assert_eq!(distributor_read(&gic, GICD_ISACTIVER + 4) & 0b10, 0b10);
    assert_eq!(gic.end_of_interrupt(0, 33), Ok(None), "held line is no new edge");

    let _ = gic.set_spi_level(33, false).unwrap();
    let _ = gic.set_spi_level(33, true).unwrap();
    gic.mark_delivered(0, 33).unwrap();
    let _ = gic.set_spi_level(33, false).unwrap();
    let _ = gic.set_spi_level(33, true).unwrap();
    assert_eq!(gic.next_pending(0), None, "active and pending waits for deactivation");
    assert_eq!(gic.end_of_interrupt(0, 33), Ok(Some(0)), "second edge arrived while active");
}

#[test]
fn level_interrupt_stays_pending_while_its_line_is_high() {
    let mut gic = booted(1);
    let _ = distributor_write(&mut gic, GICD_ISENABLER + 4, 1 << 1);
    let _ = gic.set_spi_level(UART, true).unwrap();
    let pending = gic.next_pending(0).unwrap();
    assert_eq!(pending.intid, UART);
    gic.mark_delivered(0, UART).unwrap();
    assert_eq!(distributor_read(&gic, GICD_ISPENDR + 4) & 0b10, 0b10, "still pending: line high");
    assert_eq!(gic.next_pending(0), None);
    assert_eq!(gic.end_of_interrupt(0, UART), Ok(Some(0)), "redelivered while the line is high");
    gic.mark_delivered(0, UART).unwrap();
    let _ = gic.set_spi_level(UART, false).unwrap();
    assert_eq!(gic.end_of_interrupt(0, UART), Ok(None));
    assert_eq!(distributor_read(&gic, GICD_ISPENDR + 4) & 0b10, 0);
}

#[test]
fn clearing_pending_of_a_level_interrupt_leaves_the_line() {
    let mut gic = booted(1);
    let _ = gic.set_spi_level(UART, true).unwrap();
    let _ = distributor_write(&mut gic, GICD_ICPENDR + 4, 1 << 1);
    assert_eq!(distributor_read(&gic, GICD_ISPENDR + 4) & 0b10, 0b10, "IHI 0069 4.1.2: the line still asserts");
    let _ = gic.set_spi_level(UART, false).unwrap();
    let _ = distributor_write(&mut gic, GICD_ISPENDR + 4, 1 << 1);
    assert_eq!(distributor_read(&gic, GICD_ISPENDR + 4) & 0b10, 0b10, "software latch");
    let _ = distributor_write(&mut gic, GICD_ICPENDR + 4, 1 << 1);
    assert_eq!(distributor_read(&gic, GICD_ISPENDR + 4) & 0b10, 0);
}

// [utest->dsn~vgic-list-registers~1]
#[test]
fn list_register_for_a_hardware_interrupt_uses_hw_and_the_physical_intid() {
    let mut gic = booted(1);
    gic.set_hardware_backed(VTIMER, VTIMER).unwrap();
    let _ = redistributor_write(&mut gic, 0, GICR_ISENABLER0, 1 << VTIMER);
    assert_eq!(gic.set_private_pending(0, VTIMER), Ok(Some(0)));
    let entry = gic.next_pending(0).unwrap().list_register();
    assert_eq!(entry.backing, Backing::Hardware { physical_intid: VTIMER as u16 });
    assert_eq!(entry.state, ListRegisterState::Pending);
    assert_eq!(entry.priority, 0xa0);
    assert_eq!(entry.group, Group::Group1);

    let _ = distributor_write(&mut gic, GICD_ISENABLER + 4, 1 << 1);
    let _ = gic.set_spi_level(UART, true).unwrap();
    gic.mark_delivered(0, VTIMER).unwrap();
    let entry = gic.next_pending(0).unwrap().list_register();
    assert_eq!(entry.virtual_intid, UART);
    assert_eq!(entry.backing, Backing::Software { maintenance_on_eoi: true });
}

#[test]
fn hardware_backed_lines_are_raised_by_pending_not_level() {
    let mut gic = booted(1);
    gic.set_hardware_backed(VTIMER, VTIMER).unwrap();
    gic.set_hardware_backed(40, 40).unwrap();
    assert_eq!(gic.set_private_level(0, VTIMER, true), Err(VgicError::HardwareBacked { intid: VTIMER }));
    assert_eq!(gic.set_spi_level(40, true), Err(VgicError::HardwareBacked { intid: 40 }));
    assert_eq!(gic.set_hardware_backed(3, 3), Err(VgicError::NoSuchInterrupt { intid: 3 }), "SGIs have no physical twin");
    assert_eq!(gic.set_hardware_backed(96, 96), Err(VgicError::NoSuchInterrupt { intid: 96 }));
}

#[test]
fn guest_pending_and_active_writes_mirror_onto_hardware_interrupts() {
    let mut gic = booted(1);
    gic.set_hardware_backed(VTIMER, VTIMER).unwrap();
    let outcome = redistributor_write(&mut gic, 0, GICR_ISPENDR0, 1 << VTIMER);
    assert!(
        effects(outcome).contains(&Effect::PhysicalActive { intid: VTIMER, vcpu: Some(0), active: true }),
        "the guest's EOI through an HW entry must find the physical interrupt active"
    );
    let outcome = redistributor_write(&mut gic, 0, GICR_ICPENDR0, 1 << VTIMER);
    assert_eq!(effects(outcome).as_slice(), &[Effect::PhysicalActive { intid: VTIMER, vcpu: Some(0), active: false }]);

    let outcome = redistributor_write(&mut gic, 0, GICR_ISACTIVER0, 1 << VTIMER);
    assert_eq!(effects(outcome).as_slice(), &[Effect::PhysicalActive { intid: VTIMER, vcpu: Some(0), active: true }]);
    let outcome = redistributor_write(&mut gic, 0, GICR_ICPENDR0, 1 << VTIMER);
    assert!(effects(outcome).is_empty(), "virtual still active: the physical one stays active");
    let outcome = redistributor_write(&mut gic, 0, GICR_ICACTIVER0, 1 << VTIMER);
    assert_eq!(effects(outcome).as_slice(), &[Effect::PhysicalActive { intid: VTIMER, vcpu: Some(0), active: false }]);
}

#[test]
fn lifecycle_calls_check_their_arguments() {
    let mut gic = booted(2);
    assert_eq!(gic.mark_delivered(2, 27), Err(VgicError::NoSuchVcpu { vcpu: 2 }));
    assert_eq!(gic.mark_delivered(0, 96), Err(VgicError::NoSuchInterrupt { intid: 96 }));
    assert_eq!(gic.end_of_interrupt(0, 1023), Err(VgicError::NoSuchInterrupt { intid: 1023 }));
    assert_eq!(gic.set_private_pending(0, 32), Err(VgicError::NoSuchInterrupt { intid: 32 }));
    assert_eq!(gic.set_private_pending(5, 1), Err(VgicError::NoSuchVcpu { vcpu: 5 }));
    assert_eq!(gic.set_private_level(0, 2, true), Err(VgicError::NoSuchInterrupt { intid: 2 }));
    assert_eq!(gic.set_spi_pending(31), Err(VgicError::NoSuchInterrupt { intid: 31 }));
    assert_eq!(gic.set_spi_level(u32::MAX, true), Err(VgicError::NoSuchInterrupt { intid: u32::MAX }));
    assert_eq!(gic.send_sgi(2, SgiRegister::Sgi1r, 0), Err(VgicError::NoSuchVcpu { vcpu: 2 }));
}

// ---- SGIs ----

// [utest->dsn~vgic-sgi~1]
#[test]
fn broadcast_sgi_reaches_every_other_vcpu() {
    let mut gic = booted(3);
    let targets = gic.send_sgi(1, SgiRegister::Sgi1r, 1 << 40 | 5 << 24).unwrap();
    assert_eq!(targets.iter().collect::<heapless::Vec<usize, 4>>().as_slice(), &[0, 2]);
    for vcpu in [0, 2] {
        assert_eq!(gic.next_pending(vcpu).map(|pending| pending.intid), Some(5));
    }
    assert_eq!(gic.next_pending(1), None);
    assert_eq!(redistributor_read(&gic, 0, GICR_ISPENDR0), 1 << 5);
}

// [utest->dsn~vgic-sgi~1]
#[test]
fn targeted_sgi_with_range_selector_outside_the_partition_is_dropped() {
    let mut gic = booted(2);
    let targets = gic.send_sgi(0, SgiRegister::Sgi1r, 1 << 44 | 1 << 24 | 0b11).unwrap();
    assert!(targets.is_empty());
    assert_eq!(redistributor_read(&gic, 0, GICR_ISPENDR0) | redistributor_read(&gic, 1, GICR_ISPENDR0), 0);
}

#[test]
fn sgi_to_a_disabled_interrupt_is_pending_but_not_refilled() {
    let mut gic = booted(2);
    let _ = redistributor_write(&mut gic, 1, GICR_ICENABLER0, 1 << 7);
    let targets = gic.send_sgi(0, SgiRegister::Sgi1r, 7 << 24 | 0b10).unwrap();
    assert!(targets.is_empty());
    assert_eq!(redistributor_read(&gic, 1, GICR_ISPENDR0), 1 << 7);
    let outcome = redistributor_write(&mut gic, 1, GICR_ISENABLER0, 1 << 7);
    assert_eq!(effects(outcome).as_slice(), &[Effect::RefillListRegisters { vcpu: 1 }]);
}

#[test]
fn group0_sgi_registers_only_raise_group0_sgis() {
    let mut gic = booted(2);
    assert!(gic.send_sgi(0, SgiRegister::Sgi0r, 2 << 24 | 0b10).unwrap().is_empty(), "SGI 2 is Group 1");
    assert!(gic.send_sgi(0, SgiRegister::Asgi1r, 2 << 24 | 0b10).unwrap().is_empty());
    assert_eq!(redistributor_read(&gic, 1, GICR_ISPENDR0), 0);
    let _ = redistributor_write(&mut gic, 1, GICR_IGROUPR0, !(1 << 2));
    assert_eq!(gic.send_sgi(0, SgiRegister::Sgi0r, 2 << 24 | 0b10).unwrap(), VcpuSet::single(1));
    let _ = redistributor_write(&mut gic, 1, GICR_ICPENDR0, 1 << 2);
    assert_eq!(
        gic.send_sgi(0, SgiRegister::Sgi1r, 2 << 24 | 0b10).unwrap(),
        VcpuSet::single(1),
        "SGI1R raises either group"
    );
}

// ---- configuration registers ----

#[test]
fn sgi_configuration_is_read_only_and_ppis_are_writable() {
    let mut gic = gic(1);
    assert_eq!(redistributor_read(&gic, 0, GICR_ICFGR0), 0xaaaa_aaaa);
    let outcome = redistributor_write(&mut gic, 0, GICR_ICFGR0, 0);
    assert_eq!(outcome.disposition, Disposition::ReadOnly);
    assert_eq!(redistributor_read(&gic, 0, GICR_ICFGR0), 0xaaaa_aaaa);

    assert_eq!(redistributor_read(&gic, 0, GICR_ICFGR1), 0, "PPIs reset level-sensitive");
    let _ = redistributor_write(&mut gic, 0, GICR_ICFGR1, 0xffff_ffff);
    assert_eq!(redistributor_read(&gic, 0, GICR_ICFGR1), 0xaaaa_aaaa, "Int_config[0] is RES0");
}

#[test]
fn spi_configuration_round_trips() {
    let mut gic = gic(1);
    let _ = distributor_write(&mut gic, GICD_ICFGR + 8, 0x0000_0008);
    assert_eq!(distributor_read(&gic, GICD_ICFGR + 8), 0x0000_0008);
    assert_eq!(distributor_read(&gic, GICD_ICFGR + 12), 0);
    let _ = distributor_write(&mut gic, GICD_ICFGR + 20, 0xaaaa_aaaa);
    assert_eq!(distributor_read(&gic, GICD_ICFGR + 20), 0xaaaa_aaaa, "SPIs 80-95");
}

#[test]
fn groups_are_writable_and_reset_to_group1() {
    let mut gic = gic(2);
    assert_eq!(distributor_read(&gic, GICD_IGROUPR + 4), 0xffff_ffff);
    assert_eq!(redistributor_read(&gic, 1, GICR_IGROUPR0), 0xffff_ffff);
    let _ = redistributor_write(&mut gic, 1, GICR_IGROUPR0, 0x1234_5678);
    assert_eq!(redistributor_read(&gic, 1, GICR_IGROUPR0), 0x1234_5678);
    assert_eq!(redistributor_read(&gic, 0, GICR_IGROUPR0), 0xffff_ffff);
}

#[test]
fn set_and_clear_registers_act_only_on_written_ones() {
    let mut gic = gic(1);
    let _ = distributor_write(&mut gic, GICD_ISENABLER + 8, 0b1010);
    let _ = distributor_write(&mut gic, GICD_ISENABLER + 8, 0b0100);
    assert_eq!(distributor_read(&gic, GICD_ICENABLER + 8), 0b1110);
    let _ = distributor_write(&mut gic, GICD_ICENABLER + 8, 0b0010);
    assert_eq!(distributor_read(&gic, GICD_ISENABLER + 8), 0b1100);
    let _ = distributor_write(&mut gic, GICD_ISACTIVER + 8, 0b11);
    let _ = distributor_write(&mut gic, GICD_ICACTIVER + 8, 0b01);
    assert_eq!(distributor_read(&gic, GICD_ISACTIVER + 8), 0b10);
}

// ---- RAZ/WI, read-only and refused accesses ----

#[test]
fn private_registers_in_the_distributor_are_raz_wi_under_affinity_routing() {
    let mut gic = booted(1);
    for offset in [GICD_IGROUPR, GICD_ISENABLER, GICD_ISPENDR, GICD_ICFGR, GICD_ICFGR + 4, GICD_IPRIORITYR + 28] {
        let outcome = gic.distributor_write(offset, AccessWidth::Word, 0xffff_ffff).unwrap();
        assert_eq!(outcome.disposition, Disposition::RazWi, "{offset:#x}");
        assert_eq!(gic.distributor_read(offset, AccessWidth::Word), Ok(ReadOutcome::read_as_zero()), "{offset:#x}");
    }
    assert_eq!(redistributor_read(&gic, 0, GICR_ISENABLER0), 0xffff, "the write did not leak into vCPU 0");
}

#[test]
fn registers_of_unimplemented_spis_are_raz_wi() {
    let mut gic = gic(1);
    for offset in
        [GICD_ISENABLER + 12, GICD_IPRIORITYR + 96, GICD_ICFGR + 24, GICD_IROUTER + 8 * 96, GICD_IROUTER + 8 * 31]
    {
        let width = if offset >= GICD_IROUTER { AccessWidth::Doubleword } else { AccessWidth::Word };
        let outcome = gic.distributor_write(offset, width, u64::MAX).unwrap();
        assert_eq!(outcome.disposition, Disposition::RazWi, "{offset:#x}");
        assert_eq!(gic.distributor_read(offset, width), Ok(ReadOutcome::read_as_zero()), "{offset:#x}");
    }
}

#[test]
fn reserved_and_legacy_registers_report_raz_wi() {
    let mut gic = gic(1);
    for offset in [0x0010, 0x0040, GICD_ITARGETSR + 32, 0x0d00, 0x0e00, 0x0f00, 0x1000, 0x8000, 0xc000, 0xffd0] {
        let outcome = gic.distributor_write(offset, AccessWidth::Word, 0xffff_ffff).unwrap();
        assert_eq!(outcome.disposition, Disposition::RazWi, "{offset:#x}");
        assert_eq!(gic.distributor_read(offset, AccessWidth::Word), Ok(ReadOutcome::read_as_zero()), "{offset:#x}");
    }
    let itargets = gic.distributor_read(GICD_ITARGETSR + 33, AccessWidth::Byte).unwrap();
    assert_eq!(itargets, ReadOutcome::read_as_zero(), "ITARGETSR stays byte-accessible");
    for register in [0x0010, 0x0070, 0x1_0084, 0x1_0d00, 0x1_0e00, 0x1_0420] {
        let outcome = redistributor_write(&mut gic, 0, register, 0xffff_ffff);
        assert_eq!(outcome.disposition, Disposition::RazWi, "{register:#x}");
        assert_eq!(
            gic.redistributor_read(redistributor(0, register), AccessWidth::Word),
            Ok(ReadOutcome::read_as_zero()),
            "{register:#x}"
        );
    }
}

#[test]
fn writes_to_identification_registers_are_ignored_as_read_only() {
    let mut gic = gic(1);
    for offset in [GICD_TYPER, GICD_IIDR, GICD_TYPER2, GICD_PIDR2] {
        let before = distributor_read(&gic, offset);
        assert_eq!(distributor_write(&mut gic, offset, 0xffff_ffff).disposition, Disposition::ReadOnly);
        assert_eq!(distributor_read(&gic, offset), before);
    }
    for register in [GICR_IIDR, GICR_TYPER, GICR_PIDR2] {
        assert_eq!(redistributor_write(&mut gic, 0, register, 0).disposition, Disposition::ReadOnly);
    }
    let outcome = gic.redistributor_write(redistributor(0, GICR_TYPER), AccessWidth::Doubleword, 0).unwrap();
    assert_eq!(outcome.disposition, Disposition::ReadOnly);
}

#[test]
fn wrongly_sized_accesses_are_refused() {
    let mut gic = gic(2);
    let cases = [
        (GICD_CTLR, AccessWidth::Halfword),
        (GICD_CTLR, AccessWidth::Byte),
        (GICD_CTLR, AccessWidth::Doubleword),
        (GICD_ISENABLER + 4, AccessWidth::Byte),
        (GICD_IPRIORITYR + 32, AccessWidth::Halfword),
        (GICD_IPRIORITYR + 32, AccessWidth::Doubleword),
        (GICD_IROUTER + 8 * 33, AccessWidth::Byte),
        (GICD_IROUTER + 8 * 33, AccessWidth::Halfword),
        (GICD_ICFGR + 8, AccessWidth::Doubleword),
    ];
    for (offset, width) in cases {
        let refused = Err(VgicError::UnsupportedWidth { offset, width });
        assert_eq!(gic.distributor_read(offset, width).map(|_| ()), refused, "read {offset:#x} {width:?}");
        assert_eq!(gic.distributor_write(offset, width, 0).map(|_| ()), refused, "write {offset:#x} {width:?}");
    }
    let offset = redistributor(1, GICR_ISENABLER0);
    assert_eq!(
        gic.redistributor_write(offset, AccessWidth::Halfword, 0).map(|_| ()),
        Err(VgicError::UnsupportedWidth { offset, width: AccessWidth::Halfword })
    );
    let offset = redistributor(1, GICR_TYPER + 4);
    assert_eq!(
        gic.redistributor_read(offset, AccessWidth::Doubleword).map(|_| ()),
        Err(VgicError::Misaligned { offset, width: AccessWidth::Doubleword })
    );
    let offset = redistributor(0, GICR_WAKER);
    assert_eq!(
        gic.redistributor_read(offset, AccessWidth::Byte).map(|_| ()),
        Err(VgicError::UnsupportedWidth { offset, width: AccessWidth::Byte })
    );
}

#[test]
fn misaligned_and_out_of_frame_accesses_are_refused() {
    let mut gic = gic(1);
    assert_eq!(
        gic.distributor_read(0x0102, AccessWidth::Word).map(|_| ()),
        Err(VgicError::Misaligned { offset: 0x0102, width: AccessWidth::Word })
    );
    assert_eq!(
        gic.distributor_write(0x1_0000, AccessWidth::Word, 0).map(|_| ()),
        Err(VgicError::OutsideWindow { offset: 0x1_0000 })
    );
    assert_eq!(
        gic.redistributor_write(0x2_0000, AccessWidth::Word, 0).map(|_| ()),
        Err(VgicError::OutsideWindow { offset: 0x2_0000 })
    );
    assert_eq!(
        gic.redistributor_read(u64::MAX - 3, AccessWidth::Word).map(|_| ()),
        Err(VgicError::OutsideWindow { offset: u64::MAX - 3 })
    );
}

/// Every offset of both frames, every width, reads and writes of all-ones: the model
/// answers each one with a value or an error and RAZ/WI reads return zero.
#[test]
fn any_guest_access_is_answered_without_panicking() {
    let widths = [AccessWidth::Byte, AccessWidth::Halfword, AccessWidth::Word, AccessWidth::Doubleword];
    let mut gic = booted(2);
    let mut emulated = 0;
    for offset in 0..DISTRIBUTOR_FRAME_SIZE {
        for width in widths {
            if let Ok(read) = gic.distributor_read(offset, width) {
                assert!(read.disposition != Disposition::RazWi || read.value == 0, "{offset:#x}");
                emulated += usize::from(read.disposition == Disposition::Emulated);
            }
            let _ = gic.distributor_write(offset, width, u64::MAX);
        }
    }
    for offset in 0..gic.redistributor_window_size() + 8 {
        for width in widths {
            if let Ok(read) = gic.redistributor_read(offset, width) {
                assert!(read.disposition != Disposition::RazWi || read.value == 0, "{offset:#x}");
            }
            let _ = gic.redistributor_write(offset, width, u64::MAX);
        }
    }
    // CTLR, TYPER, IIDR, TYPER2, PIDR2, 7 bit arrays x 2 SPI banks, 64 priority bytes plus
    // 16 words, 4 ICFGRs, 64 IROUTERs (doubleword and both words).
    assert_eq!(emulated, 5 + 7 * 2 + 64 + 16 + 4 + 64 * 3);
}

#[test]
fn router_aff3_is_res0_while_typer_a3v_is_0() {
    // Issue 14: GICD_IROUTER.Aff3 was stored although GICD_TYPER.A3V is 0.
    let mut gic = booted(2);
    let typer = gic.distributor_read(GICD_TYPER, AccessWidth::Word).unwrap().value;
    assert_eq!(typer & (1 << 24), 0, "A3V = 0");
    let router = GICD_IROUTER + 8 * u64::from(UART);
    let _ = gic.distributor_write(router, AccessWidth::Doubleword, (0x5a << 32) | 1).unwrap();
    assert_eq!(gic.distributor_read(router, AccessWidth::Doubleword).unwrap().value, 1);
    // The upper word alone holds only Aff3 and RES0 bits: it reads back 0.
    let _ = gic.distributor_write(router + 4, AccessWidth::Word, 0xff).unwrap();
    assert_eq!(gic.distributor_read(router + 4, AccessWidth::Word).unwrap().value, 0);
    assert_eq!(gic.distributor_read(router, AccessWidth::Word).unwrap().value, 1, "lower word untouched");
    // The route is vCPU 1 (0.0.0.1), as the register reads.
    let _ = distributor_write(&mut gic, GICD_ISENABLER + 4, 1 << (UART - 32));
    assert_eq!(gic.set_spi_level(UART, true), Ok(Some(1)));
}

#[test]
fn constant_registers_read_as_the_model_reads_them() {
    let gic = booted(3);
    for offset in (0..0x1_0000).step_by(4) {
        if let Some(constant) = Gic::distributor_constant(offset, AccessWidth::Word) {
            assert_eq!(constant, distributor_read(&gic, offset), "GICD {offset:#x}");
        }
    }
    assert_eq!(Gic::distributor_constant(GICD_TYPER, AccessWidth::Word), Some(distributor_read(&gic, GICD_TYPER)));
    assert_eq!(Gic::distributor_constant(GICD_CTLR, AccessWidth::Word), None, "GICD_CTLR changes");
    assert_eq!(Gic::distributor_constant(GICD_TYPER, AccessWidth::Byte), None, "the model refuses it");
    let mut answered = 0;
    for vcpu in 0..4 {
        for register in [GICR_IIDR, GICR_TYPER, GICR_TYPER + 4, GICR_PIDR2, GICR_CTLR, GICR_WAKER] {
            for width in [AccessWidth::Word, AccessWidth::Doubleword] {
                let offset = redistributor(vcpu, register);
                let constant = Gic::redistributor_constant(offset, width, 3);
                match gic.redistributor_read(offset, width) {
                    Ok(outcome) if constant.is_some() => {
                        assert_eq!(constant, Some(outcome.value), "GICR {offset:#x} {width:?}");
                        answered += 1;
                    }
                    Ok(_) => assert!(!matches!(register, GICR_IIDR | GICR_PIDR2) || width != AccessWidth::Word),
                    Err(_) => assert_eq!(constant, None, "GICR {offset:#x} {width:?} is refused"),
                }
            }
        }
    }
    assert_eq!(answered, 3 * 5, "IIDR, PIDR2, TYPER (word, doubleword) and TYPER's upper word per vCPU");
}
